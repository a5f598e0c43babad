"""Streaming: hosts leave nmapx while the producer is still writing; inputs may be compressed."""

from __future__ import annotations

import bz2
import gzip
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, corpus_files, run_nmapx

HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    b'<nmaprun scanner="nmap" args="nmap -sT 127.0.0.1" start="1700000000" version="7.93"'
    b' xmloutputversion="1.05">\n<scaninfo type="connect" protocol="tcp" numservices="1"'
    b' services="22"/>\n<verbose level="0"/>\n<debugging level="0"/>\n'
)
HOST = (
    b'<host starttime="1700000000" endtime="1700000001"><status state="up" reason="user-set"'
    b' reason_ttl="0"/>\n<address addr="127.0.0.%d" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n'
    b'<ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="0"/>'
    b'<service name="ssh" method="table" conf="3"/></port>\n</ports>\n'
    b'<times srtt="100" rttvar="50" to="100000"/>\n</host>\n'
)
TAIL = (
    b'<runstats><finished time="1700000002" timestr="x" summary="y" elapsed="2.00" exit="success"/>'
    b'<hosts up="2" down="0" total="2"/>\n</runstats>\n</nmaprun>\n'
)


def _read_until(proc: subprocess.Popen[bytes], marker: bytes, deadline: float) -> bytes:
    """Read proc's stdout until ``marker`` shows up or the deadline passes."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while marker not in seen and time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                seen += chunk
    return seen


def test_a_host_is_written_before_the_document_ends() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nmapx", "run", "-", "-oX", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write(HEAD + HOST % 1)
        proc.stdin.flush()
        early = _read_until(proc, b"</host>", time.monotonic() + 20)
        assert proc.poll() is None, "nmapx must still be waiting for the rest of the document"
        # everything up to </host>; the newline after it travels with the next piece
        assert early == HEAD + (HOST % 1).rstrip(b"\n")
        proc.stdin.write(HOST % 2 + TAIL)
        proc.stdin.close()
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), True)
        rest = proc.stdout.read()
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        proc.wait(timeout=5)
    assert early + rest == HEAD + HOST % 1 + HOST % 2 + TAIL


def test_stdin_is_the_default_input() -> None:
    document = HEAD + HOST % 1 + TAIL
    result = run_nmapx("run", "-oX", "-", input=document)
    assert result.returncode == 0, result.stderr
    assert result.stdout == document


def test_gzip_and_bzip2_are_read_transparently(tmp_path: Path) -> None:
    source = next(p for p in corpus_files() if p.name == "scanme_A.xml")
    original = source.read_bytes()
    gz = tmp_path / "scan.xml.gz"
    # two gzip members, as `cat a.gz b.gz` makes: still one document
    gz.write_bytes(gzip.compress(original[:1000]) + gzip.compress(original[1000:]))
    bz = tmp_path / "scan.bz2"
    bz.write_bytes(bz2.compress(original))
    renamed = tmp_path / "scan.xml"  # compressed content under a plain name
    renamed.write_bytes(gzip.compress(original))
    for path in (gz, bz, renamed):
        result = run_nmapx("run", str(path), "-oX", "-")
        assert result.returncode == 0, result.stderr
        assert result.stdout == original
    result = run_nmapx("run", "-oX", "-", input=bz2.compress(original))
    assert result.stdout == original


def test_truncated_gzip_keeps_complete_hosts(tmp_path: Path) -> None:
    document = HEAD + HOST % 1 + HOST % 2 + TAIL
    packed = gzip.compress(document)
    cut = tmp_path / "cut.xml.gz"
    cut.write_bytes(packed[: len(packed) - 30])
    result = run_nmapx("run", str(cut), "-oX", "-")
    assert result.returncode == 3
    assert b"error: input ended early" in result.stderr
    assert result.stdout.startswith(HEAD + HOST % 1 + HOST % 2)
