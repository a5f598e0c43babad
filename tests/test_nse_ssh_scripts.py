"""ssh2-enum-algos, ssh-auth-methods and ssh-hostkey, each run by nmapx and by real Nmap 7.93
against the same servers in the same test, compared byte for byte.

* Servers: real OpenSSH daemons from ``fixtures/ssh_servers.py`` (modern and legacy algorithm
  sets; one with only 3des-cbc and hmac-md5-96; one offering only chacha20-poly1305, AES-GCM
  and ``-etm`` MACs, which Nmap's libssh2 1.10 lacks; one where the ``none`` authentication
  succeeds for a user only that daemon sees), and fakes (KEXINITs with split or empty lists, a
  NEWKEYS instead of a KEXINIT, a peer that closes, one that talks HTTP), all on port 22 inside
  one private network namespace for the module (each daemon on its profile's fixed address,
  fakes on 127.0.0.1), so that ``shortport.ssh`` matches without -sV and nothing outside is
  reached or collided with. Daemons are stopped by PID; every wait is bounded.
* Each case (``tests/ssh_compare.py``): Nmap writes its XML and normal output; its script
  results are removed from the XML and the rest is the scan nmapx starts from (through the
  CLI, in-process, inside the namespace); the whole ``<script ...>...</script>`` element of
  each host is compared as bytes, and so is the script's block of ``|`` lines in ``-oN``. On
  plain ``-sT`` input at -v0 and -v, and for ssh2-enum-algos also -vv and selected by
  category (see :data:`NMAPX_BY_CATEGORY`: a script selected by name runs one verbosity level
  higher, so "(N)" alone needs a category); and on ``-sT -sV`` input (a service Nmap
  identified by probing, ``conf="10"``) for all three scripts, with each of ssh-hostkey's
  formats, at -v0 and -v. Both enum-algos' and auth-methods' results are arrays in order, so
  nothing is compared by pattern: no value differs between two runs of Nmap (ssh-auth-methods'
  random username is not part of its output); ssh-hostkey's key tables are Lua hash tables,
  their ``<elem>`` lines compared as a set (``ssh_compare.canonical``).
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
from ssh_compare import (
    NMAP_HOST_KEY_TYPES,
    Outputs,
    all_host_keys,
    compare,
    module_network,
    run_nmap,
    run_nmapx,
    without_scripts,
)

from fixtures.netns import PrivateNetwork
from fixtures.ssh_servers import (
    AEAD_ONLY,
    LEGACY,
    MODERN,
    NONE_AUTH,
    OLDEST,
    FakeSshServer,
    ServerProfile,
    Sshd,
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

#: Where the fakes listen (port 22), inside the module's namespace.
FAKE = "127.0.0.1"


def nmap_datadir(tmp_path: Path) -> Path:
    directory = tmp_path / "datadir"
    (directory / "scripts").mkdir(parents=True)
    (directory / "scripts" / "script.db").write_text(
        'Entry { filename = "ssh2-enum-algos.nse", categories = { "discovery", "safe", } }\n'
    )
    return directory


def compare_one(
    network: PrivateNetwork,
    address: str,
    script: str,
    tmp_path: Path,
    flags: list[str],
    args: str = "",
    by_category: bool = False,
) -> bytes | None:
    """Nmap then nmapx on one service on port 22 (``-sT`` input); asserts identical elements
    and ``|`` lines, returns Nmap's element."""
    nmap_select: list[str] = []
    nmapx_select: list[str] = []
    if by_category:
        nmap_select = ["--datadir", str(nmap_datadir(tmp_path)), "--script", "safe"]
        nmapx_select = ["--script", NMAPX_BY_CATEGORY]
    found = compare(
        network, [address], script, tmp_path, flags, args,
        nmap_select=nmap_select, nmapx_select=nmapx_select,
    )  # fmt: skip
    return found[address]


@pytest.fixture(scope="module")
def network() -> Iterator[PrivateNetwork]:
    yield from module_network()


@pytest.fixture(scope="module")
def daemons(network: PrivateNetwork) -> Iterator[dict[str, Sshd]]:
    """Started on first use, each on its profile's address; all stopped (by PID) at the end
    of the module."""
    started: dict[str, Sshd] = {}
    yield started
    for server in started.values():
        server.stop()


def daemon(daemons: dict[str, Sshd], network: PrivateNetwork, profile: ServerProfile) -> Sshd:
    reason = sshd_unavailable(profile)
    if reason:
        pytest.skip(reason)
    if profile.name not in daemons:
        daemons[profile.name] = Sshd(profile, network, lifetime=1800).start()
    return daemons[profile.name]


# =============================================================================== ssh2-enum-algos
#: (flags, selected by category): the script's verbosity is 0, 1, 1, 2, 3.
VERBOSITIES = [([], True), ([], False), (["-v"], True), (["-v"], False), (["-vv"], False)]
VERBOSITY_IDS = ["v0-category", "v0-name", "v-category", "v-name", "vv-name"]


@pytest.mark.parametrize(("flags", "by_category"), VERBOSITIES, ids=VERBOSITY_IDS)
@pytest.mark.parametrize("profile", [MODERN, LEGACY, AEAD_ONLY], ids=lambda p: p.name)
def test_ssh2_enum_algos_matches_nmap_on_openssh(
    network: PrivateNetwork,
    daemons: dict[str, Sshd],
    profile: ServerProfile,
    flags: list[str],
    by_category: bool,
    tmp_path: Path,
) -> None:
    server = daemon(daemons, network, profile)
    element = compare_one(
        network, server.address, "ssh2-enum-algos", tmp_path, flags, by_category=by_category
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
    network: PrivateNetwork, payload: bytes, flags: list[str], by_category: bool, tmp_path: Path
) -> None:
    with FakeSshServer(answering(payload), network, address=FAKE, lifetime=15):
        element = compare_one(
            network, FAKE, "ssh2-enum-algos", tmp_path, flags, by_category=by_category
        )
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
    network: PrivateNetwork, handler: Any, nmap_says: bytes | None, tmp_path: Path
) -> None:
    with FakeSshServer(handler, network, address=FAKE, lifetime=15):
        element = compare_one(network, FAKE, "ssh2-enum-algos", tmp_path, [], by_category=True)
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
    ids=lambda value: (
        value.name
        if isinstance(value, ServerProfile)
        else (" ".join(value) if isinstance(value, list) else value) or "-"
    ),
)
def test_ssh_auth_methods_matches_nmap_on_openssh(
    network: PrivateNetwork,
    daemons: dict[str, Sshd],
    profile: ServerProfile,
    flags: list[str],
    args: str,
    tmp_path: Path,
) -> None:
    server = daemon(daemons, network, profile)
    element = compare_one(network, server.address, "ssh-auth-methods", tmp_path, flags, args)
    assert element is not None
    if profile is AEAD_ONLY:
        assert b"ERROR: Script execution failed" in element
    elif args == "ssh.user=nmapxnone":
        assert b">none_auth</elem>" in element
    else:
        assert b"<elem>publickey</elem>" in element


@pytest.mark.parametrize("handler", [close_now, http_banner, banner_then_close, newkeys_first])
def test_ssh_auth_methods_fails_like_nmap_on_hostile_peers(
    network: PrivateNetwork, handler: Any, tmp_path: Path
) -> None:
    with FakeSshServer(handler, network, address=FAKE, lifetime=15):
        element = compare_one(network, FAKE, "ssh-auth-methods", tmp_path, [])
    assert element is not None and b"ERROR: Script execution failed" in element


def test_ssh_auth_methods_false_when_listing_fails(
    network: PrivateNetwork,
    daemons: dict[str, Sshd],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failure after the handshake is caught (``pcall`` in libssh2-utility's ``list``):
    the value is ``false``, rendered as NSE renders a boolean. No Nmap to compare with: a
    real server cannot be made to fail there on demand."""
    server = daemon(daemons, network, MODERN)

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
    with network.entered():
        result = nmapx_main("run", str(scan), "--script", "ssh-auth-methods", "-oX", str(ours))
    assert result.returncode == 0, result.stderr
    found = re.search(rb'<script id="ssh-auth-methods" .*?</script>', ours.read_bytes(), re.S)
    assert found is not None and found[0] == (
        b'<script id="ssh-auth-methods" output="&#xa;  Supported authentication methods: false">'
        b'<elem key="Supported authentication methods">false</elem>\n</script>'
    )


async def banner_then_silence(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
    await writer.drain()
    await asyncio.sleep(90)


def test_both_scripts_give_up_like_nmap_on_a_silent_peer(
    network: PrivateNetwork, tmp_path: Path
) -> None:
    """A banner, then nothing: both wait one socket timeout (30 s in Nmap and nmapx), then
    ssh2-enum-algos prints nothing and ssh-auth-methods fails. Nmap (with the scripts) and
    nmapx run at the same time, on the scan of a plain ``nmap -sT`` run just before: the
    test lasts one timeout, not two."""
    scripts = ["--script", "ssh2-enum-algos,ssh-auth-methods"]
    with FakeSshServer(banner_then_silence, network, address=FAKE, lifetime=90):
        plain = run_nmap(network, [FAKE], [], [], tmp_path / "plain")
        scan = without_scripts(plain.xml, tmp_path / "scan.xml")
        theirs = tmp_path / "nmap"
        theirs.mkdir()
        command = ["nmap", "-n", "-Pn", "-sT", "-p", "22", *scripts, FAKE]
        command += ["-oX", str(theirs / "nmap.xml"), "-oN", str(theirs / "nmap.nmap")]
        nmap = network.popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            started = time.monotonic()
            ours = run_nmapx(network, scan, scripts, [], tmp_path)
            elapsed = time.monotonic() - started
            _, errors = nmap.communicate(timeout=90)
        finally:
            network.stop(nmap)
    assert nmap.returncode == 0, errors
    assert 25 < elapsed < 60
    nmap_out = Outputs(theirs / "nmap.xml", theirs / "nmap.nmap")
    assert (
        ours.element(FAKE, "ssh2-enum-algos") is nmap_out.element(FAKE, "ssh2-enum-algos") is None
    )
    failed = nmap_out.element(FAKE, "ssh-auth-methods")
    assert failed is not None and b"ERROR: Script execution failed" in failed
    assert ours.element(FAKE, "ssh-auth-methods") == failed
    assert ours.blocks() == nmap_out.blocks()


# =============================================================================== -sV input
#: (script, --script-args): each script, and ssh-hostkey in each of its formats.
VERSION_CASES = [
    ("ssh-hostkey", ""),
    ("ssh-hostkey", "ssh_hostkey=full"),
    ("ssh-hostkey", "ssh_hostkey=bubble"),
    ("ssh-hostkey", "ssh_hostkey=visual"),
    ("ssh-hostkey", "ssh_hostkey=all"),
    ("ssh2-enum-algos", ""),
    ("ssh-auth-methods", ""),
]


@pytest.mark.parametrize("flags", [[], ["-v"]], ids=["v0", "v"])
@pytest.mark.parametrize(("script", "args"), VERSION_CASES, ids=lambda v: v or "-")
def test_scripts_match_nmap_on_version_scan_input(
    network: PrivateNetwork,
    daemons: dict[str, Sshd],
    script: str,
    args: str,
    flags: list[str],
    tmp_path: Path,
) -> None:
    """``nmap -sT -sV --script SCRIPT`` against the modern and the legacy daemon, one run;
    nmapx on its XML without the script results, where each port is a service Nmap
    identified by probing (product, version, CPEs) rather than named from the port table."""
    servers = [daemon(daemons, network, profile) for profile in (MODERN, LEGACY)]
    targets = [server.address for server in servers]
    keys = {server.address: NMAP_HOST_KEY_TYPES[server.profile.name] for server in servers}
    elements = compare(
        network, targets, script, tmp_path, flags, args, version=True,
        unordered=script == "ssh-hostkey",
        complete=all_host_keys(keys) if script == "ssh-hostkey" else None,
    )  # fmt: skip
    assert all(elements.values()), elements
    scan = (tmp_path / "scan.xml").read_text()
    assert scan.count('<service name="ssh" product="OpenSSH"') == 2
    assert scan.count('method="probed" conf="10"') == 2
    if script == "ssh-hostkey":
        # Nmap 7.93 asks for ssh-rsa, which OpenSSH 9 no longer signs with: no RSA key there
        modern, legacy = (elements[address] or b"" for address in targets)
        types = [
            set(re.findall(rb'<elem key="type">([^<]+)</elem>', element))
            for element in (modern, legacy)
        ]
        assert types == [
            {b"ecdsa-sha2-nistp256", b"ssh-ed25519"},
            {b"ssh-rsa", b"ssh-dss", b"ecdsa-sha2-nistp521"},
        ]
