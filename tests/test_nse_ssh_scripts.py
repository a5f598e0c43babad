"""ssh2-enum-algos and ssh-auth-methods, each run by nmapx and by real Nmap 7.93 against the
same servers in the same test, ``<script>`` elements compared byte for byte.

* Servers: real OpenSSH daemons from ``fixtures/ssh_servers.py`` (modern and legacy algorithm
  sets; one with only 3des-cbc and hmac-md5-96; one offering only chacha20-poly1305, AES-GCM and ``-etm`` MACs, which Nmap's libssh2
  1.10 lacks; one where the ``none`` authentication succeeds for a user only that daemon
  sees), on port 22 of a 127.77.x.y address so that ``shortport.ssh`` matches without -sV
  (an ephemeral port with -sV when port 22 is taken everywhere); and fakes on port 22 of such
  an address (KEXINITs with split or empty lists, a NEWKEYS instead of a KEXINIT, a peer that
  closes, one that talks HTTP). Daemons are stopped by PID; every wait is bounded.
* Each case: Nmap writes its XML; its script results are removed and the rest is the scan
  nmapx starts from (through the CLI, in-process: ``conftest.nmapx_main``); the whole
  ``<script ...>...</script>`` element of each file is compared as bytes, at -v0 and -v, and
  for ssh2-enum-algos also -vv and selected by category (see :data:`NMAPX_BY_CATEGORY`: a
  script selected by name runs one verbosity level higher, so "(N)" alone needs a category). Both scripts' results
  are arrays in order, so nothing is compared by pattern: no value differs between two runs of
  Nmap (ssh-auth-methods' random username is not part of its output).
* Hostile peers end within bounds, and never with a traceback at -d0.
"""

from __future__ import annotations

import asyncio
import re
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import needs_nmap, nmapx_main

from fixtures.ssh_servers import (
    AEAD_ONLY,
    LEGACY,
    MODERN,
    NONE_AUTH,
    OLDEST,
    FakeSshServer,
    ServerProfile,
    Sshd,
    free_port_22_address,
    sshd_unavailable,
)
from nmapx.nse import ssh2

pytestmark = [needs_nmap]


# =============================================================================== harness
#: How to select ssh2-enum-algos by category alone: NSE raises a script's verbosity by one
#: when it was selected by name (even through a wildcard), so ``--script ssh2-enum-algos``
#: at -v0 lists the names; only a category selection shows 7.93's "(N)" alone. Nmap gets a
#: ``--datadir`` whose script.db holds only this script (its scripts and libraries still come
#: from the installation); nmapx an expression its built-in scripts answer with it and only
#: harmless others (banner, daytime, ...), whose results are not compared.
NMAPX_BY_CATEGORY = "discovery and safe and not default and not broadcast"


def nmap_datadir(tmp_path: Path) -> Path:
    directory = tmp_path / "datadir"
    (directory / "scripts").mkdir(parents=True)
    (directory / "scripts" / "script.db").write_text(
        'Entry { filename = "ssh2-enum-algos.nse", categories = { "discovery", "safe", } }\n'
    )
    return directory


def run_nmap(address: str, port: int, select: list[str], extra: list[str], out: Path) -> None:
    """Real Nmap against one loopback service (``-sV`` only when it is not on port 22)."""
    command = ["nmap", "-n", "-Pn", "-sT", "-p", str(port), *select]
    if port != 22:
        command += ["-sV", "--version-intensity", "0"]
    command += [*extra, address, "-oX", str(out)]
    subprocess.run(command, check=True, timeout=180, capture_output=True)


def script_bytes(path: Path, script: str) -> bytes | None:
    """``script``'s whole ``<script>`` element as the file has it, None when absent."""
    found = re.search(
        rb'<script id="' + script.encode() + rb'" .*?(?:/>|</script>)', path.read_bytes(), re.S
    )
    return found[0] if found else None


def compare(
    address: str,
    port: int,
    script: str,
    tmp_path: Path,
    flags: list[str],
    args: str = "",
    by_category: bool = False,
) -> bytes | None:
    """Nmap then nmapx on the same service; asserts identical elements, returns Nmap's."""
    extra = [*flags, *(["--script-args", args] if args else [])]
    if by_category:
        nmap_select = ["--datadir", str(nmap_datadir(tmp_path)), "--script", "safe"]
        nmapx_select = ["--script", NMAPX_BY_CATEGORY]
    else:
        nmap_select = nmapx_select = ["--script", script]
    nmap_out, scan, ours = tmp_path / "nmap.xml", tmp_path / "scan.xml", tmp_path / "nmapx.xml"
    run_nmap(address, port, nmap_select, extra, nmap_out)
    text = re.sub(r"<script .*?(/>|</script>)", "", nmap_out.read_text(), flags=re.S)
    scan.write_text(text)
    started = time.monotonic()
    result = nmapx_main("run", str(scan), *nmapx_select, *extra, "-oX", str(ours))
    assert time.monotonic() - started < 60
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    expected = script_bytes(nmap_out, script)
    assert script_bytes(ours, script) == expected
    return expected


@pytest.fixture(scope="module")
def daemons() -> Iterator[dict[str, Sshd]]:
    """Started on first use, all stopped (by PID) at the end of the module."""
    started: dict[str, Sshd] = {}
    yield started
    for server in started.values():
        server.stop()


def daemon(daemons: dict[str, Sshd], profile: ServerProfile) -> Sshd:
    reason = sshd_unavailable(profile)
    if reason:
        pytest.skip(reason)
    if profile.name not in daemons:
        daemons[profile.name] = Sshd(profile, lifetime=900).start()
    return daemons[profile.name]


def port_22() -> str:
    address = free_port_22_address()
    if address is None:
        pytest.skip("no 127.77.x.y address with a free port 22")
    return address


# =============================================================================== ssh2-enum-algos
#: (flags, selected by category): the script's verbosity is 0, 1, 1, 2, 3.
VERBOSITIES = [([], True), ([], False), (["-v"], True), (["-v"], False), (["-vv"], False)]
VERBOSITY_IDS = ["v0-category", "v0-name", "v-category", "v-name", "vv-name"]


@pytest.mark.parametrize(("flags", "by_category"), VERBOSITIES, ids=VERBOSITY_IDS)
@pytest.mark.parametrize("profile", [MODERN, LEGACY, AEAD_ONLY], ids=lambda p: p.name)
def test_ssh2_enum_algos_matches_nmap_on_openssh(
    daemons: dict[str, Sshd],
    profile: ServerProfile,
    flags: list[str],
    by_category: bool,
    tmp_path: Path,
) -> None:
    server = daemon(daemons, profile)
    element = compare(
        server.address, server.port, "ssh2-enum-algos", tmp_path, flags, by_category=by_category
    )
    assert element is not None and b'<table key="kex_algorithms">' in element
    listed = re.search(rb"compression_algorithms: \(\d\)&#xa;      none", element)
    assert bool(listed) == bool(flags or not by_category)  # the names: at verbosity > 0


def kexinit(*lists: str) -> bytes:
    """A KEXINIT payload with exactly these ten lists (empty ones allowed)."""
    body = b"".join(struct.pack(">I", len(item)) + item.encode() for item in lists)
    return bytes([ssh2.SSH_MSG_KEXINIT]) + bytes(16) + body + bytes(5)


def answering(payload: bytes) -> Any:
    """A fake server: banner, then ``payload`` in a packet once the client's banner and first
    packet have arrived (Nmap's script reads one banner line and discards what follows it)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-Fake_1.0\r\n")
        await writer.drain()
        await asyncio.wait_for(reader.readline(), 10)
        length = struct.unpack(">I", await asyncio.wait_for(reader.readexactly(4), 10))[0]
        await asyncio.wait_for(reader.readexactly(min(length, 65536)), 10)
        writer.write(ssh2.build(payload))
        await writer.drain()
        await asyncio.sleep(2)

    return handler


SPLIT = kexinit(
    "curve25519-sha256",
    "ssh-ed25519,rsa-sha2-256",
    "aes128-ctr,aes256-ctr",
    "aes256-ctr,aes128-ctr",  # the same names in another order: not merged
    "hmac-sha1",
    "hmac-sha1",
    "",  # no compression at all, in both directions: "(0)"
    "",
    "en",
    "de",  # languages are never shown
)
ODD_NAMES = kexinit("a,,b,", "x", "c", "c", "m1,m2", "m2,m1", "none", "zlib", "", "")


@pytest.mark.parametrize(("flags", "by_category"), VERBOSITIES, ids=VERBOSITY_IDS)
@pytest.mark.parametrize("payload", [SPLIT, ODD_NAMES], ids=["split", "odd-names"])
def test_ssh2_enum_algos_matches_nmap_on_split_and_empty_lists(
    payload: bytes, flags: list[str], by_category: bool, tmp_path: Path
) -> None:
    address = port_22()
    with FakeSshServer(answering(payload), address=address, port=22, lifetime=15):
        element = compare(address, 22, "ssh2-enum-algos", tmp_path, flags, by_category=by_category)
    assert element is not None
    if payload is SPLIT:
        assert b'<table key="encryption_algorithms_server_to_client">' in element
        assert b'<table key="mac_algorithms">' in element
        assert b'<table key="compression_algorithms">\n</table>' in element


async def newkeys_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await answering(bytes([ssh2.SSH_MSG_NEWKEYS]))(reader, writer)


async def close_now(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept, then close at once."""


async def http_banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(1)


async def banner_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
    await writer.drain()
    await asyncio.wait_for(reader.read(100), 10)


async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await answering(kexinit("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")[:40])(reader, writer)


@pytest.mark.parametrize(
    ("handler", "nmap_says"),
    [
        (newkeys_first, b"ERROR: Script execution failed (use -d to debug)"),
        (truncated, b"ERROR: Script execution failed (use -d to debug)"),
        (close_now, None),
        (http_banner, None),
        (banner_then_close, None),
    ],
    ids=lambda value: getattr(value, "__name__", "")[:20],
)
def test_ssh2_enum_algos_fails_like_nmap_on_hostile_peers(
    handler: Any, nmap_says: bytes | None, tmp_path: Path
) -> None:
    address = port_22()
    with FakeSshServer(handler, address=address, port=22, lifetime=15):
        element = compare(address, 22, "ssh2-enum-algos", tmp_path, [], by_category=True)
    assert (element is None) == (nmap_says is None)
    assert nmap_says is None or (element is not None and nmap_says in element)


# =============================================================================== ssh-auth-methods
@pytest.mark.parametrize(
    ("profile", "flags", "args"),
    [
        (MODERN, [], ""),
        (MODERN, ["-v"], "ssh.user=root"),
        (LEGACY, [], ""),
        (LEGACY, ["-vv"], ""),
        (OLDEST, [], ""),
        (NONE_AUTH, [], "ssh.user=nmapxnone"),
        (NONE_AUTH, ["-v"], "ssh.user=somebody"),
        # libssh2 1.10 cannot talk to it: the handshake fails, a Lua error in Nmap
        (AEAD_ONLY, [], ""),
    ],
    ids=lambda value: value.name if isinstance(value, ServerProfile) else " ".join(value) or "-",
)
def test_ssh_auth_methods_matches_nmap_on_openssh(
    daemons: dict[str, Sshd],
    profile: ServerProfile,
    flags: list[str],
    args: str,
    tmp_path: Path,
) -> None:
    server = daemon(daemons, profile)
    element = compare(server.address, server.port, "ssh-auth-methods", tmp_path, flags, args)
    assert element is not None
    if profile is AEAD_ONLY:
        assert b"ERROR: Script execution failed" in element
    elif args == "ssh.user=nmapxnone":
        assert b">none_auth</elem>" in element
    else:
        assert b"<elem>publickey</elem>" in element


@pytest.mark.parametrize("handler", [close_now, http_banner, banner_then_close, newkeys_first])
def test_ssh_auth_methods_fails_like_nmap_on_hostile_peers(handler: Any, tmp_path: Path) -> None:
    address = port_22()
    with FakeSshServer(handler, address=address, port=22, lifetime=15):
        element = compare(address, 22, "ssh-auth-methods", tmp_path, [])
    assert element is not None and b"ERROR: Script execution failed" in element


def test_ssh_auth_methods_false_when_listing_fails(
    daemons: dict[str, Sshd], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the handshake is caught (``pcall`` in libssh2-utility's ``list``):
    the value is ``false``, rendered as NSE renders a boolean. No Nmap to compare with: a
    real server cannot be made to fail there on demand."""
    server = daemon(daemons, MODERN)

    async def refuse(self: ssh2.Transport, username: str) -> ssh2.AuthResult:
        raise ssh2.TransportError("disconnected by the server (2): test", "EOF")

    monkeypatch.setattr(ssh2.Transport, "userauth_none", refuse)
    scan = tmp_path / "scan.xml"
    scan.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
        '<nmaprun scanner="nmap" args="nmap" start="1" version="7.93" xmloutputversion="1.05">\n'
        f'<host><status state="up" reason="user-set" reason_ttl="0"/>\n'
        f'<address addr="{server.address}" addrtype="ipv4"/>\n'
        f'<ports><port protocol="tcp" portid="{server.port}"><state state="open"'
        ' reason="syn-ack" reason_ttl="0"/><service name="ssh" method="table" conf="3"/>'
        "</port>\n</ports>\n</host>\n</nmaprun>\n"
    )
    ours = tmp_path / "nmapx.xml"
    result = nmapx_main("run", str(scan), "--script", "ssh-auth-methods", "-oX", str(ours))
    assert result.returncode == 0, result.stderr
    assert script_bytes(ours, "ssh-auth-methods") == (
        b'<script id="ssh-auth-methods" output="&#xa;  Supported authentication methods: false">'
        b'<elem key="Supported authentication methods">false</elem>\n</script>'
    )


async def banner_then_silence(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
    await writer.drain()
    await asyncio.sleep(90)


def test_both_scripts_give_up_like_nmap_on_a_silent_peer(tmp_path: Path) -> None:
    """A banner, then nothing: both wait one socket timeout (30 s in Nmap and nmapx, run
    together here), then ssh2-enum-algos prints nothing and ssh-auth-methods fails."""
    address = port_22()
    scripts = "ssh2-enum-algos,ssh-auth-methods"
    nmap_out, scan, ours = tmp_path / "nmap.xml", tmp_path / "scan.xml", tmp_path / "nmapx.xml"
    with FakeSshServer(banner_then_silence, address=address, port=22, lifetime=90):
        run_nmap(address, 22, ["--script", scripts], [], nmap_out)
        scan.write_text(re.sub(r"<script .*?(/>|</script>)", "", nmap_out.read_text(), flags=re.S))
        started = time.monotonic()
        result = nmapx_main("run", str(scan), "--script", scripts, "-oX", str(ours))
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    assert 25 < elapsed < 60
    assert (
        script_bytes(ours, "ssh2-enum-algos") is script_bytes(nmap_out, "ssh2-enum-algos") is None
    )
    failed = script_bytes(nmap_out, "ssh-auth-methods")
    assert failed is not None and b"ERROR: Script execution failed" in failed
    assert script_bytes(ours, "ssh-auth-methods") == failed
