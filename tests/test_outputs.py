"""Where output goes, and what survives when it cannot: ``--in-place``, ``--outdir``, SIGKILL
at random moments, disk full, read-only and other unwritable paths, many files at once.

Everything runs the real command line. The disk-full and read-only cases mount a real small
tmpfs inside a private mount namespace (``unshare -m`` as root, ``unshare -Urm`` otherwise).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT, nmapx_main
from lxml import etree

from nmapx.output.atomic import STALE_AFTER

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    '<nmaprun scanner="nmap" args="nmap -sT 127.0.0.1" start="1700000000" version="7.93"'
    ' xmloutputversion="1.05">\n<scaninfo type="connect" protocol="tcp" numservices="65535"'
    ' services="1-65535"/>\n<verbose level="0"/>\n<debugging level="0"/>\n'
)
HOST = (
    '<host starttime="1700000000" endtime="1700000001"><status state="up" reason="user-set"'
    ' reason_ttl="0"/>\n<address addr="127.0.0.{n}" addrtype="ipv4"/>\n<hostnames>\n'
    '</hostnames>\n<ports><port protocol="tcp" portid="{port}"><state state="open"'
    ' reason="syn-ack" reason_ttl="0"/><service name="x" method="table" conf="3"/></port>\n'
    '</ports>\n<times srtt="100" rttvar="50" to="100000"/>\n</host>\n'
)
TAIL = (
    '<runstats><finished time="1700000002" timestr="x" summary="y" elapsed="2.00"'
    ' exit="success"/><hosts up="2" down="0" total="2"/>\n</runstats>\n</nmaprun>\n'
)
#: Marks every host that is up, offline (it never touches the network): enrichment that is
#: deterministic and costs a little time per host.
MARK = '''
    """Marks every host (test script; offline)."""

    categories = ["safe"]


    def hostrule(host):
        return True


    def action(host):
        return "marked " + host.ip
'''
#: Reads one line from every open TCP port (test script).
GRAB = '''
    """Reads one line from every open TCP port (test script)."""
    from nmapx.nse import nmap

    categories = ["safe"]


    def portrule(host, port):
        return port.protocol == "tcp" and port.state == "open"


    async def action(host, port):
        sock = nmap.new_socket()
        sock.set_timeout(10000)
        try:
            await sock.connect(host, port)
            line = await sock.receive_lines(1)
        finally:
            sock.close()
        return "got " + line.decode().strip()
'''
TEMP_NAME = re.compile(r"\.(.+)\.nmapx-[a-z0-9_]{8}\.tmp")


def document(*hosts: int, port: int = 22) -> str:
    return HEAD + "".join(HOST.format(n=n, port=port) for n in hosts) + TAIL


def marked(*hosts: int, port: int = 22) -> str:
    """``document(*hosts)`` as nmapx writes it after MARK."""
    return (
        HEAD
        + "".join(
            HOST.format(n=n, port=port).replace(
                "<times ",
                f'<hostscript><script id="mark" output="marked 127.0.0.{n}"/></hostscript><times ',
            )
            for n in hosts
        )
        + TAIL
    )


@pytest.fixture
def mark(tmp_path: Path) -> str:
    path = tmp_path / "scripts" / "mark.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(MARK))
    return str(path)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_marked_document_is_what_nmapx_writes(tmp_path: Path, mark: str) -> None:
    """The expectations below rest on this: MARK's output, spelled out byte for byte."""
    source = tmp_path / "scan.xml"
    source.write_text(document(1, 2))
    result = nmapx_main("run", str(source), "--script", mark, "-oX", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == marked(1, 2)


# ---------------------------------------------------------------------------------------------
# --in-place


def test_in_place_rewrites_plain_gzip_and_bzip2_files_keeping_backups(
    tmp_path: Path, mark: str
) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    original = document(1, 2).encode()
    plain, packed, bzipped = archive / "a.xml", archive / "b.xml.gz", archive / "c.xml.bz2"
    plain.write_bytes(original)
    packed.write_bytes(gzip.compress(original))
    bzipped.write_bytes(bz2.compress(original))
    for path in (plain, packed, bzipped):
        path.chmod(0o640)
    link = archive / "latest.xml"
    link.symlink_to("a.xml")
    before = {path: path.read_bytes() for path in (plain, packed, bzipped)}

    result = nmapx_main(
        "run", str(plain), str(packed), str(bzipped), "--script", mark, "--in-place=.orig"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"" and result.stderr == b""  # no normal output by default
    assert plain.read_bytes() == marked(1, 2).encode()
    assert packed.read_bytes()[:2] == b"\x1f\x8b"  # still gzip
    assert gzip.decompress(packed.read_bytes()) == marked(1, 2).encode()
    assert bzipped.read_bytes()[:3] == b"BZh"  # still bzip2
    assert bz2.decompress(bzipped.read_bytes()) == marked(1, 2).encode()
    for path, data in before.items():
        assert Path(f"{path}.orig").read_bytes() == data  # the backup is the old file
        assert path.stat().st_mode & 0o777 == 0o640  # the rewritten file keeps its mode

    # Through a symbolic link: the file it points to is rewritten, the link stays a link.
    plain.write_bytes(document(3).encode())
    result = nmapx_main("run", str(link), "--script", mark, "--in-place")
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == "a.xml"
    assert plain.read_bytes() == marked(3).encode()
    assert sorted(p.name for p in archive.iterdir()) == [
        "a.xml",
        "a.xml.orig",
        "b.xml.gz",
        "b.xml.gz.orig",
        "c.xml.bz2",
        "c.xml.bz2.orig",
        "latest.xml",
    ]


def test_in_place_takes_its_suffix_only_after_an_equals_sign(tmp_path: Path, mark: str) -> None:
    """Like sed's ``--in-place[=SUFFIX]``: the word after a bare ``--in-place`` is an INPUT."""
    first, second = tmp_path / "first.xml", tmp_path / "second.xml"
    first.write_text(document(1))
    second.write_text(document(2))
    result = nmapx_main("run", "--script", mark, "--in-place", str(first), str(second))
    assert result.returncode == 0, result.stderr
    assert first.read_text() == marked(1)
    assert second.read_text() == marked(2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.xml", "scripts", "second.xml"]


def test_in_place_never_rewrites_a_damaged_or_truncated_input(tmp_path: Path, mark: str) -> None:
    """Rewriting would drop the damaged parts' bytes from the only copy of the scan: such an
    input is left byte for byte as it was, with one line saying why, and its own status."""
    cut = tmp_path / "cut.xml"
    cut.write_text(document(1, 2)[:-60])
    damaged = tmp_path / "damaged.xml"
    damaged.write_text(document(1, 2).replace("127.0.0.2", "&xxe;", 1))
    good = tmp_path / "good.xml"
    good.write_text(document(3))
    before = {path: path.read_bytes() for path in (cut, damaged)}
    for path, status in ((cut, 3), (damaged, 4)):
        result = nmapx_main("run", str(path), "--script", mark, "--in-place=.bak")
        assert result.returncode == status
        assert result.stderr.decode().splitlines()[-1] == (
            f"nmapx: {path}: left as it was: --in-place rewrites only inputs read without"
            " damage (-oX writes a repaired copy)"
        )
        assert path.read_bytes() == before[path]
    result = nmapx_main("run", str(cut), str(good), "--script", mark, "--in-place")
    assert result.returncode == 3
    assert good.read_text() == marked(3)  # the others are rewritten all the same
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cut.xml",
        "damaged.xml",
        "good.xml",
        "scripts",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-", "--in-place"],
            "--in-place writes one file per INPUT file; stdin cannot be one (use -oX)",
        ),
        (
            ["{a}", "--in-place", "-oX", "{b}"],
            "--in-place writes the XML of each INPUT; -oX cannot be given too",
        ),
        (["{a}", "--in-place", "--outdir", "{d}"], "--in-place and --outdir exclude each other"),
        (["{a}", "{a}", "--in-place"], "--in-place: {a} and {a} are the same file"),
        (["{a}", "--in-place=old/x"], "--in-place=SUFFIX: the suffix cannot contain '/'"),
        (
            ["{a}", "{b}", "-oN", "{d}/n.nmap", "--in-place"],
            "several inputs: -oX and -oN FILE take one input"
            " (use --outdir DIR or --in-place for the XML of each)",
        ),
        (
            ["-", "--outdir", "{d}"],
            "--outdir writes one file per INPUT file; stdin cannot be one (use -oX)",
        ),
        (
            ["{a}", "--outdir", "{d}", "-oX", "-"],
            "--outdir writes the XML of each INPUT; -oX cannot be given too",
        ),
        (["{a}", "--outdir", "{t}"], "--outdir: {t}/a.xml is the INPUT itself (use --in-place)"),
        (
            ["{a}", "{d}/sub/a.xml", "--outdir", "{o}"],
            "--outdir: {a} and {d}/sub/a.xml would both be written to {o}/a.xml",
        ),
    ],
)
def test_conflicting_outputs_are_refused_before_anything_is_read(
    tmp_path: Path, args: list[str], message: str
) -> None:
    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    a.write_text(document(1))
    b.write_text(document(2))
    names = {"a": a, "b": b, "d": tmp_path / "d", "t": tmp_path, "o": tmp_path / "o"}
    argv = [arg.format(**names) for arg in args]
    result = nmapx_main("run", *argv, input=document(3).encode())
    assert result.returncode == 2
    assert result.stderr.decode().splitlines()[-1] == f"nmapx run: error: {message.format(**names)}"
    assert a.read_text() == document(1) and b.read_text() == document(2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.xml", "b.xml"]


def test_in_place_survives_sigkill_at_random_moments(tmp_path: Path, mark: str) -> None:
    """SIGKILL anywhere in a ~1 s in-place run, at random moments and often right where the
    new file is synced and renamed: the archive is always either byte for byte the old file
    or the complete new one, the backup (when there is one) is the old file, and the only
    other files are nmapx's own temporary files, which the next run removes."""
    work = tmp_path / "work"
    work.mkdir()
    archive = work / "archive.xml"
    subprocess.run(
        [sys.executable, "bench/gen_nmap_xml.py", "--hosts", "300", "-o", str(archive)],
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    old = archive.read_bytes()
    started = time.monotonic()  # an uninterrupted run: the complete new file, and its time
    result = nmapx_main("run", str(archive), "--script", mark, "--in-place=.bak")
    duration = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    new = archive.read_bytes()
    assert new != old
    assert Path(f"{archive}.bak").read_bytes() == old
    etree.fromstring(new)  # the complete new file parses
    hashes = {digest(old): "old", digest(new): "new"}

    command = [
        sys.executable,
        "-m",
        "nmapx",
        "run",
        str(archive),
        "--script",
        mark,
        "--in-place=.bak",
    ]
    rng = random.Random(20240611)
    durations = [duration]  # every run left to finish adds its time: the estimate follows load
    seen = {"old": 0, "new": 0}
    killed_while_running = 0
    for attempt in range(24):
        archive.write_bytes(old)
        backup = Path(f"{archive}.bak")
        backup.unlink(missing_ok=True)
        estimate = statistics.median(durations)
        if attempt % 6 == 5:
            delay = None  # left to finish
        elif attempt % 2:  # near the end, where the file is synced and renamed
            delay = rng.uniform(0.85, 1.05) * estimate
        else:
            delay = rng.uniform(0.05, 1.0) * estimate
        started = time.monotonic()
        proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        if delay is None:
            assert proc.wait(timeout=60) == 0
            durations.append(time.monotonic() - started)
        else:
            time.sleep(delay)
            if proc.poll() is None:
                killed_while_running += 1
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        state = hashes.get(digest(archive.read_bytes()))
        assert state is not None, f"attempt {attempt} (after {delay} s): archive damaged"
        seen[state] += 1
        if backup.exists():
            assert backup.read_bytes() == old, f"attempt {attempt}: backup is not the old file"
        for name in os.listdir(work):
            if name not in ("archive.xml", "archive.xml.bak"):
                match = TEMP_NAME.fullmatch(name)
                assert match and match[1] in ("archive.xml", "archive.xml.bak"), name
    print(f"SIGKILL outcomes: {seen}, {killed_while_running} of 20 killed while running")
    assert seen["old"] >= 1 and seen["new"] >= 4
    assert killed_while_running >= 10

    # Leftovers of killed runs are removed by the next run on the same file, once they are
    # older than STALE_AFTER (younger ones may belong to a run that is just starting).
    leftovers = [work / n for n in os.listdir(work) if TEMP_NAME.fullmatch(n)]
    past = time.time() - STALE_AFTER - 1
    for path in leftovers:
        os.utime(path, (past, past))
    archive.write_bytes(old)
    result = nmapx_main("run", str(archive), "--script", mark, "--in-place=.bak")
    assert result.returncode == 0, result.stderr
    assert archive.read_bytes() == new
    assert sorted(os.listdir(work)) == ["archive.xml", "archive.xml.bak"]


def test_a_temporary_file_in_use_is_never_taken_for_a_leftover(tmp_path: Path) -> None:
    """A second run on the same target leaves a live run's temporary file alone (its lock is
    held), however old it looks."""
    import fcntl

    out = tmp_path / "out.xml"
    live = tmp_path / ".out.xml.nmapx-abcd1234.tmp"
    dead = tmp_path / ".out.xml.nmapx-dead0000.tmp"
    other = tmp_path / ".out.xml.someone-else.tmp"
    for path in (live, dead, other):
        path.write_bytes(b"partial")
        past = time.time() - STALE_AFTER - 60
        os.utime(path, (past, past))
    with open(live, "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        source = tmp_path / "scan.xml"
        source.write_text(document(1))
        result = nmapx_main("run", str(source), "-oX", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, other.name, "out.xml", "scan.xml"]
    )


# ---------------------------------------------------------------------------------------------
# Many files: --outdir


def test_outdir_writes_each_input_and_skips_bad_ones(tmp_path: Path, mark: str) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = inputs / "good.xml"
    good.write_text(document(1, 2))
    packed = inputs / "packed.xml.gz"
    packed.write_bytes(gzip.compress(document(3).encode()))
    not_xml = inputs / "notes.xml"
    not_xml.write_text("not XML at all\n")
    cut = inputs / "cut.xml"
    whole = document(4, 5)
    second = whole.index("<host ", whole.index("</host>"))
    cut_at = whole.index("<hostnames>", second)  # inside the second host
    cut.write_text(whole[:cut_at])
    missing = inputs / "missing.xml"
    outdir = tmp_path / "enriched" / "2024"  # made as needed
    result = nmapx_main(
        "run",
        *map(str, (good, not_xml, missing, cut, packed)),
        "--script",
        mark,
        "--outdir",
        str(outdir),
    )
    assert result.returncode == 1  # the worst: an input gave nothing at all
    assert result.stdout == b""
    cut_line = whole[:cut_at].count("\n") + 1
    cut_column = cut_at - whole[:cut_at].rindex("\n")
    host_line = whole[:second].count("\n") + 1
    assert result.stderr.decode().splitlines() == [
        f"nmapx: {not_xml}:1:1: text before the root element: not Nmap XML (byte 0)",
        f"nmapx: {missing}: No such file or directory",
        f"nmapx: {cut}:{cut_line}:{cut_column}: error: input ended early inside <host> (started"
        f" at line {host_line}): 1 complete host(s) kept (byte {cut_at})",
    ]
    assert sorted(p.name for p in outdir.iterdir()) == ["cut.xml", "good.xml", "packed.xml.gz"]
    assert (outdir / "good.xml").read_text() == marked(1, 2)
    assert gzip.decompress((outdir / "packed.xml.gz").read_bytes()).decode() == marked(3)
    # the truncated file yields exactly what it yields alone
    alone = nmapx_main("run", str(cut), "--script", mark, "-oX", "-")
    assert alone.returncode == 3
    assert (outdir / "cut.xml").read_bytes() == alone.stdout
    assert (outdir / "cut.xml").read_text().startswith(marked(4)[: marked(4).index("</host>")])


def test_the_worst_status_of_several_inputs_wins(tmp_path: Path) -> None:
    """1 (an input gave nothing) > 3 (ended early) > 4 (malformed parts skipped) > 0."""
    good = tmp_path / "good.xml"
    good.write_text(document(1))
    cut = tmp_path / "cut.xml"
    cut.write_text(document(1)[:-40])
    damaged = tmp_path / "damaged.xml"
    damaged.write_text(document(1, 2).replace("127.0.0.2", "&xxe;", 1))
    missing = tmp_path / "missing.xml"
    outdir = tmp_path / "out"
    for names, status in [
        ([good], 0),
        ([good, damaged], 4),
        ([damaged, cut, good], 3),
        ([cut, missing, damaged], 1),
    ]:
        result = nmapx_main("run", *map(str, names), "--outdir", str(outdir))
        assert result.returncode == status, (names, result.stderr)


def test_outdir_with_normal_output_on_stdout(tmp_path: Path) -> None:
    """``-oN -`` keeps printing each input's normal output in turn; --outdir writes XML only."""
    demo = ROOT / "fixtures" / "demo" / "scan.xml"
    copy = tmp_path / "copy.xml"
    shutil.copyfile(demo, copy)
    result = nmapx_main("run", str(demo), str(copy), "--outdir", str(tmp_path / "o"), "-oN", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "fixtures" / "demo" / "scan.nmap").read_bytes() * 2
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["copy.xml", "scan.xml"]
    assert (tmp_path / "o" / "scan.xml").read_bytes() == demo.read_bytes()


def test_each_input_gets_its_own_engine(tmp_path: Path, listener_factory) -> None:
    """Scripts over several files with --max-parallelism 1 (NSE's socket lock contended):
    every file gets every result. (nmapx used to share one engine between the event loops
    of consecutive inputs, and the second file's probes failed with 'bound to a different
    event loop'.)"""
    listener = listener_factory(banner=b"hello\r\n")
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "grab.py").write_text(textwrap.dedent(GRAB))
    names = []
    for name in ("one.xml", "two.xml"):
        path = tmp_path / name
        path.write_text(document(1, 1, 1, port=listener.port))
        names.append(str(path))
    outdir = tmp_path / "out"
    result = nmapx_main(
        "run",
        *names,
        "--script",
        str(scripts / "grab.py"),
        "--max-parallelism",
        "1",
        "--outdir",
        str(outdir),
    )
    assert result.returncode == 0, result.stderr
    for name in ("one.xml", "two.xml"):
        text = (outdir / name).read_text()
        assert text.count('<script id="grab" output="got hello"/>') == 3, text
    assert listener.connections == 6


# ---------------------------------------------------------------------------------------------
# Unwritable outputs


def test_an_output_path_that_is_a_directory_or_under_a_file(tmp_path: Path) -> None:
    source = tmp_path / "scan.xml"
    source.write_text(document(1))
    (tmp_path / "taken").mkdir()
    result = nmapx_main("run", str(source), "-oX", str(tmp_path / "taken"))
    assert result.returncode == 1
    assert result.stderr.decode() == f"nmapx: {tmp_path / 'taken'}: cannot write: Is a directory\n"
    target = tmp_path / "scan.xml" / "out.xml"
    result = nmapx_main("run", str(source), "-oN", str(target))
    assert result.returncode == 1
    assert result.stderr.decode() == f"nmapx: {target}: cannot write: Not a directory\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.xml", "taken"]


def test_a_device_or_a_fifo_is_written_through_never_replaced(tmp_path: Path) -> None:
    """``-oX /dev/null``, ``-oN /dev/stdout``, a FIFO: there is no file to replace, so the
    output goes straight to them. Renaming a temporary file over such a path (what atomic
    output does for files) once turned the machine's /dev/null into a regular file."""
    import stat
    import threading

    source = tmp_path / "scan.xml"
    source.write_text(document(2))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = nmapx_main("run", str(source), "-oX", str(fifo))
    reader.join(timeout=30)
    assert result.returncode == 0, result.stderr
    assert received == [source.read_bytes()]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    devices = [Path("/dev/null")]
    if os.geteuid() == 0:  # a device of the test's own as well, so /dev/null is not the only one
        own = tmp_path / "null"
        os.mknod(own, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        devices.insert(0, own)
    for device in devices:
        for option in ("-oX", "-oN"):
            result = nmapx_main("run", str(source), option, str(device))
            assert (result.returncode, result.stderr) == (0, b"")
            assert stat.S_ISCHR(os.lstat(device).st_mode), f"{device} was replaced by {option}"
        result = nmapx_main("report", str(source), "-o", str(device))
        assert (result.returncode, result.stderr) == (0, b"")
        assert stat.S_ISCHR(os.lstat(device).st_mode)
    expected = ["fifo", "scan.xml"] + (["null"] if os.geteuid() == 0 else [])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)  # no temporaries


def _mount_namespace() -> list[str] | None:
    """``unshare`` options for a private mount namespace where tmpfs can be mounted."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    for options in (["-m"], ["-U", "-r", "-m"]) if os.geteuid() == 0 else (["-U", "-r", "-m"],):
        probe = subprocess.run(
            [unshare, *options, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if probe.returncode == 0:
            return [unshare, *options]
    return None


#: Runs inside the namespace, on a fresh 256 KiB tmpfs: each case writes an old file, runs
#: nmapx, and reports its status, its stderr, whether the old file is intact and the listing.
NAMESPACE_DRIVER = """
import hashlib, json, os, shutil, subprocess, sys

fs, big, small, mark, root = sys.argv[1:6]


def nmapx(*args):
    run = subprocess.run([sys.executable, "-m", "nmapx", "run", *args], capture_output=True,
                         cwd=root, timeout=120)
    return run.returncode, run.stderr.decode()


def digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


report = {}
# -oX onto a full file system: the previous file survives
out = os.path.join(fs, "out.xml")
with open(out, "wb") as handle:
    handle.write(b"previous output")
status, err = nmapx(big, "-oX", out)
report["full"] = [status, err, digest(out) == hashlib.sha256(b"previous output").hexdigest(),
                  sorted(os.listdir(fs))]
os.unlink(out)
# --in-place on a file that fits, whose enriched version does not fit beside it
archive = os.path.join(fs, "archive.xml")
shutil.copyfile(small, archive)
status, err = nmapx(archive, "--script", mark, "--in-place=.bak")
report["in_place"] = [status, err, digest(archive) == digest(small), sorted(os.listdir(fs))]
# a read-only file system
subprocess.run(["mount", "-o", "remount,ro", fs], check=True)
status, err = nmapx(big, "-oX", out)
report["read_only"] = [status, err, sorted(os.listdir(fs))]
print(json.dumps(report))
"""


def test_disk_full_and_read_only_file_systems(tmp_path: Path, mark: str) -> None:
    """A real 256 KiB tmpfs: -oX that does not fit, --in-place whose new file does not fit
    beside the old one, then the same file system read-only. Each time: one line naming the
    file, status 1, the previous file intact, no temporary file left."""
    unshare = _mount_namespace()
    if unshare is None:
        pytest.skip("no private mount namespace (needs root, or unprivileged user namespaces)")
    big = tmp_path / "big.xml"  # 430 KB: more than the file system holds
    subprocess.run(
        [sys.executable, "bench/gen_nmap_xml.py", "--hosts", "60", "-o", str(big)],
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    # a complete document of about 190 KB: it fits, its enriched copy does not fit beside it
    text = big.read_text()
    small = tmp_path / "small.xml"
    small.write_text(text[: text.index("<host ", 180_000)] + text[text.index("<runstats>") :])
    fs = tmp_path / "fs"
    fs.mkdir()
    driver = tmp_path / "driver.py"
    driver.write_text(NAMESPACE_DRIVER)
    result = subprocess.run(
        [
            *unshare,
            "sh",
            "-c",
            'mount -t tmpfs -o size=256k tmpfs "$1" && shift && exec "$@"',
            "sh",
            str(fs),
            sys.executable,
            str(driver),
            str(fs),
            str(big),
            str(small),
            mark,
            str(ROOT),
        ],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["full"] == [
        1,
        f"nmapx: {fs}/out.xml: cannot write: No space left on device\n",
        True,
        ["out.xml"],  # no temporary file left
    ]
    assert report["in_place"] == [
        1,
        f"nmapx: {fs}/archive.xml: cannot write: No space left on device\n",
        True,
        ["archive.xml"],  # neither a temporary file nor a backup
    ]
    assert report["read_only"] == [
        1,
        f"nmapx: {fs}/out.xml: cannot write: Read-only file system\n",
        ["archive.xml"],
    ]
