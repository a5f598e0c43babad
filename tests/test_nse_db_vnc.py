"""mysql-info, redis-info, memcached-info and vnc-info, run by nmapx and by real Nmap 7.93
against the same servers in the same test, compared; and the mysql, redis and vnc libraries
on recorded bytes.

* Servers (``fixtures/db_servers.py``), all inside one private network namespace for the
  module, on their real ports, so that the portrules match without -sV: MariaDB (3306),
  Redis (6379, with a client subscribed to 25 channels; a second one wanting a password on
  127.0.0.2, a third in cluster mode on 127.0.0.3), memcached (11211 over TCP and UDP) and three TigerVNC servers (5900 with
  ``None``, 5901 with VeNCrypt/TLSNone/TLSVnc/VncAuth, 5902 with VncAuth). Hostile fakes
  (Python, bounded per connection) on addresses of their own: MySQL greetings whose lengths
  lie, an error packet, a version without its NUL; a Redis and a memcached whose replies never
  end; VNC servers speaking RFB 3.3, an unknown version, a refusal with a reason, Tight with
  tunnels and auth types, an ATEN KVM, Tight together with VeNCrypt, TLS (type 18, with a
  list of types inside), a non-VNC banner (all
  compared at -v0, -v and -d); a UDP memcached whose datagrams come out of order.
* Each case: Nmap writes ``-oX`` and ``-oN`` with the scripts; its script results are removed
  from the XML and the rest is the scan nmapx starts from (the CLI in-process, inside the
  namespace); then every ``<script>`` element (per host, protocol and port) is compared as
  bytes and so are its ``|`` lines of ``-oN``. On ``-sT -sU`` input at -v0, -v and -vv and on
  ``-sT -sU -sV`` input at -v0 and -v (``-sV`` identifies the services by probing; the names
  then come from ``nmap-service-probes`` rather than ``nmap-services``).
* Compared by pattern, because they differ between two runs of Nmap itself on the same
  servers (each value must match its pattern in both outputs, then is masked, see
  :data:`VOLATILE`):

  - mysql-info ``Thread ID`` (MariaDB numbers each connection) and ``Salt`` (20 random
    printable bytes per connection);
  - redis-info ``Used CPU (sys)``, ``Used CPU (user)`` (the server's CPU time so far),
    ``Used memory`` (the allocator's count, which moves with every client) and ``Connected
    clients`` (the previous run's connection counts until Redis has handled its close);
  - memcached-info ``Uptime``, ``Server time`` (clocks), ``Used CPU (user)``, ``Used CPU
    (system)``, ``Current connections`` and ``Total connections`` (counters that every
    connection, Nmap's UDP probe and the previous script run included, moves on).

  Compared as sets (:func:`canonical`), because Nmap prints them from an unordered Lua table
  whose order changes from one run to the next (Lua seeds its string hash at random):
  mysql-info's ``Some Capabilities`` (the set bits, listed by ``pairs`` over mysql.lua's
  capability table; its text line is compared with its names sorted) and the ``name``/``type``
  (and Tight's ``code``/``vendor``/``signature``) ``<elem>`` lines of vnc-info's tables.
  Everything else, the order of the output tables' keys above all, is compared byte for byte.
"""

from __future__ import annotations

import asyncio
import re
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import in_script_thread, needs_nmap, nmapx_main
from ssh_compare import module_network, without_scripts

from fixtures import db_servers
from fixtures.db_servers import (
    REAL,
    REDIS_AUTH,
    REDIS_CLUSTER,
    REDIS_PASSWORD,
    Daemons,
    FakeServer,
    FakeUdpServer,
)
from fixtures.netns import PrivateNetwork
from fixtures.tls_servers import rsa_cert, server_context
from nmapx.nse import mysql, redis, vnc

SCRIPTS = ("mysql-info", "redis-info", "memcached-info", "vnc-info")
PORTS = "T:3306,5900-5902,6379,11211,U:11211"

#: script -> {key: the pattern its value must match}: masked after the check (docstring).
VOLATILE: dict[str, dict[str, str]] = {
    "mysql-info": {"Thread ID": r"\d+", "Salt": r"[\x21-\x7e]{20}"},
    "redis-info": {
        "Used CPU (sys)": r"\d+\.\d+",
        "Used CPU (user)": r"\d+\.\d+",
        "Used memory": r"\d+(\.\d+)?[BKMG]?",
        "Connected clients": r"\d+",
    },
    "memcached-info": {
        "Uptime": r"\d+ seconds",
        "Server time": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d",
        "Used CPU (user)": r"\d+\.\d{6}",
        "Used CPU (system)": r"\d+\.\d{6}",
        "Current connections": r"\d+",
        "Total connections": r"\d+",
    },
}
#: script -> keys whose value is a comma-separated set in text (``Some Capabilities``).
SETS: dict[str, tuple[str, ...]] = {"mysql-info": ("Some Capabilities",)}


# =============================================================================== comparison
Key = tuple[str, str, int, str]  # address, protocol, port, script


@dataclass(frozen=True)
class Outputs:
    xml: Path
    normal: Path

    def elements(self) -> dict[Key, bytes]:
        """Every ``<script>`` element of every port, by (address, protocol, port, script)."""
        found: dict[Key, bytes] = {}
        data = self.xml.read_bytes()
        for host in re.findall(rb"<host[ >].*?</host>", data, re.S):
            address = re.search(rb'<address addr="([^"]+)"', host)
            assert address is not None
            for port in re.findall(rb"<port .*?</port>", host, re.S):
                head = re.match(rb'<port protocol="(\w+)" portid="(\d+)"', port)
                assert head is not None
                for script in re.findall(rb'<script id="[^"]+" .*?(?:/>|</script>)', port, re.S):
                    name = re.match(rb'<script id="([^"]+)"', script)
                    assert name is not None
                    if name[1].decode() not in SCRIPTS:  # -sV's fingerprint-strings
                        continue
                    key = (address[1].decode(), head[1].decode(), int(head[2]), name[1].decode())
                    found[key] = script
        return found

    def blocks(self) -> dict[Key, str]:
        """The ``|`` lines of normal output per (address, protocol, port, script)."""
        found: dict[Key, str] = {}
        host, proto, port, script = "", "", 0, ""
        for line in self.normal.read_text(errors="surrogateescape").splitlines():
            report = re.match(r"Nmap scan report for (\S+)", line)
            row = re.match(r"(\d+)/(tcp|udp) ", line)
            if report:
                host, port = report[1], 0
            elif row:
                port, proto, script = int(row[1]), row[2], ""
            elif line.startswith("|") and port:
                if not script:
                    script = line[2:].split(":", 1)[0]
                key = (host, proto, port, script)
                if script in SCRIPTS:
                    found[key] = found.get(key, "") + line + "\n"
                if line.startswith("|_"):
                    script = ""
            else:
                port = 0
        return found


def canonical(element: bytes) -> bytes:
    """The element with each run of ``<elem>`` lines *inside a table* sorted (see the
    module docstring); top-level keys keep their order."""
    out: list[bytes] = []
    run: list[bytes] = []
    depth = 0
    for line in element.split(b"\n"):
        if depth > 0 and line.startswith(b"<elem"):
            run.append(line)
            continue
        out += sorted(run)
        run = []
        out.append(line)
        if line.startswith(b"<table"):
            depth += 1
        elif line.startswith(b"</table>"):
            depth -= 1
    out += sorted(run)
    return b"\n".join(out)


def _check(script: str, key: str, value: str, where: str) -> None:
    pattern = VOLATILE[script][key]
    assert re.fullmatch(pattern, value), f"{where}: {script} {key}={value!r} !~ {pattern}"


def masked_element(script: str, element: bytes, where: str, volatile: bool = True) -> bytes:
    """The element with :data:`VOLATILE` values checked and masked (real servers only),
    :data:`SETS` sorted."""
    for key in VOLATILE.get(script, {}) if volatile else {}:
        k = re.escape(key.encode())
        for value in re.findall(rb'<elem key="' + k + rb'">([^<]*)</elem>', element):
            _check(script, key, _unxml(value), where)
        element = re.sub(rb'(<elem key="' + k + rb'">)[^<]*(</elem>)', rb"\1*\2", element)
        element = re.sub(rb"(&#xa;  " + k + rb": )(?:(?!&#xa;)[^\"])*", rb"\1*", element)
    for key in SETS.get(script, ()):
        k = re.escape(key.encode())

        def sort_items(found: re.Match[bytes]) -> bytes:
            return found[1] + b", ".join(sorted(found[2].split(b", ")))

        element = re.sub(rb"(&#xa;  " + k + rb": )((?:(?!&#xa;)[^\"])*)", sort_items, element)
    return canonical(element)


def _unxml(value: bytes) -> str:
    text = value.decode()
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'")):
        text = text.replace(entity, char)
    return text.replace("&#45;", "-").replace("&amp;", "&")


def masked_block(script: str, block: str, where: str, volatile: bool = True) -> str:
    lines = []
    for line in block.splitlines():
        found = re.match(r"(\|[ _]  ([^:]+): )(.*)$", line)
        if found and volatile and found[2] in VOLATILE.get(script, {}):
            _check(script, found[2], found[3], where)
            line = found[1] + "*"
        elif found and found[2] in SETS.get(script, ()):
            line = found[1] + ", ".join(sorted(found[3].split(", ")))
        lines.append(line)
    return "\n".join(lines)


def run_nmap(
    network: PrivateNetwork, targets: list[str], ports: str, flags: list[str], into: Path
) -> Outputs:
    into.mkdir(parents=True, exist_ok=True)
    out = Outputs(into / "nmap.xml", into / "nmap.nmap")
    scans = ["-sT", "-sU"] if "U:" in ports else ["-sT"]
    command = ["nmap", "-n", "-Pn", *scans, "-p", ports, "--script", ",".join(SCRIPTS)]
    command += [*flags, *targets, "-oX", str(out.xml), "-oN", str(out.normal)]
    result = network.run(command, timeout=120, text=True)
    assert result.returncode == 0, result.stderr
    return out


def run_nmapx(network: PrivateNetwork, scan: Path, flags: list[str], into: Path) -> Outputs:
    out = Outputs(into / "nmapx.xml", into / "nmapx.nmap")
    started = time.monotonic()
    with network.entered():
        result = nmapx_main(
            "run", str(scan), "--script", ",".join(SCRIPTS), *flags,
            "-oX", str(out.xml), "-oN", str(out.normal),
        )  # fmt: skip
    assert time.monotonic() - started < 60
    assert result.returncode == 0, result.stderr
    if "-d" not in flags:  # at -d a failing script's traceback is printed, as NSE prints it
        assert b"Traceback" not in result.stderr, result.stderr
    return out


def compare(
    network: PrivateNetwork,
    targets: list[str],
    into: Path,
    flags: list[str],
    nmapx_flags: list[str] | None = None,
    ports: str = PORTS,
    volatile: bool = True,
) -> dict[Key, bytes]:
    """Nmap, then nmapx on Nmap's scan; asserts the same elements and ``|`` lines for every
    (host, protocol, port, script) (masked as the module docstring says; the fakes'
    values do not move, ``volatile=False``). Returns Nmap's elements."""
    theirs = run_nmap(network, targets, ports, flags, into)
    scan = without_scripts(theirs.xml, into / "scan.xml")
    nmapx_flags = [f for f in flags if f != "-sV"] if nmapx_flags is None else nmapx_flags
    ours = run_nmapx(network, scan, nmapx_flags, into)
    expected, got = theirs.elements(), ours.elements()
    assert set(got) == set(expected)
    for key, element in expected.items():
        script = key[3]
        assert masked_element(script, got[key], f"nmapx {key}", volatile) == masked_element(
            script, element, f"nmap {key}", volatile
        ), key
    their_blocks, our_blocks = theirs.blocks(), ours.blocks()
    assert set(our_blocks) == set(their_blocks)
    for key, block in their_blocks.items():
        assert masked_block(key[3], our_blocks[key], f"nmapx {key}", volatile) == masked_block(
            key[3], block, f"nmap {key}", volatile
        ), key
    return expected


# =============================================================================== fixtures
@pytest.fixture(scope="module")
def network() -> Iterator[PrivateNetwork]:
    yield from module_network()


@pytest.fixture(scope="module")
def daemons(network: PrivateNetwork) -> Iterator[Daemons]:
    reason = db_servers.unavailable()
    if reason:
        pytest.skip(reason)
    with Daemons(network, lifetime=900) as started:
        yield started


# =============================================================================== real servers
LEVELS = [([], "v0"), (["-v"], "v"), (["-vv"], "vv"), (["-sV"], "sV-v0"), (["-sV", "-v"], "sV-v")]


@needs_nmap
@pytest.mark.parametrize("flags", [f for f, _ in LEVELS], ids=[i for _, i in LEVELS])
def test_scripts_match_nmap_on_real_servers(
    network: PrivateNetwork, daemons: Daemons, flags: list[str], tmp_path: Path
) -> None:
    """All four scripts on every real server at once; with -sV over TCP only (Nmap's UDP
    version probes of memcached find no match and take 100 s), so memcached's UDP result is
    compared on -sT -sU input."""
    version = "-sV" in flags
    ports = PORTS.replace(",U:11211", "") if version else PORTS
    expected = compare(network, [REAL, REDIS_AUTH, REDIS_CLUSTER], tmp_path, flags, ports=ports)
    # every real service answered its script (so the comparison is not vacuous)
    for proto, port, script in [
        ("tcp", 3306, "mysql-info"), ("tcp", 6379, "redis-info"),
        ("tcp", 11211, "memcached-info"), ("udp", 11211, "memcached-info"),
        ("tcp", 5900, "vnc-info"), ("tcp", 5901, "vnc-info"), ("tcp", 5902, "vnc-info"),
    ]:  # fmt: skip
        assert (REAL, proto, port, script) in expected or (version and proto == "udp")
    # the Redis with a password says nothing without -d (stdnse.format_output(false, ...))
    assert (REDIS_AUTH, "tcp", 6379, "redis-info") not in expected
    mysql_info = expected[REAL, "tcp", 3306, "mysql-info"]
    assert b'<elem key="Auth Plugin Name">mysql_native_password</elem>' in mysql_info
    redis_info = expected[REAL, "tcp", 6379, "redis-info"]
    assert b"Active channels: &#xa;    nmapx-" in redis_info
    # selected by name, the script's verbosity is one more than Nmap's: -v shows them all
    omitted = b"(omitted 5 item(s), use verbose mode -v to show them)" in redis_info
    assert omitted == (not any(f in flags for f in ("-v", "-vv")))
    assert b"VeNCrypt auth subtypes" in expected[REAL, "tcp", 5901, "vnc-info"]
    cluster = expected[REDIS_CLUSTER, "tcp", 6379, "redis-info"]
    # a node that has met no other knows no address of its own: ":6379@16379"
    assert b"Cluster nodes: &#xa;    :6379 (myself,master)" in cluster


@needs_nmap
@pytest.mark.parametrize(
    "extra",
    [["-d"], ["--script-args", f"creds.redis=:{REDIS_PASSWORD}"],
     ["--script-args", "creds.global=wrong:password", "-d"]],
    ids=["debug", "creds-redis", "wrong-password-debug"],
)  # fmt: skip
def test_redis_password(
    network: PrivateNetwork, daemons: Daemons, extra: list[str], tmp_path: Path
) -> None:
    """The Redis that wants a password: ``ERROR: Authentication required`` at -d, the full
    output with the right ``creds.redis``."""
    expected = compare(network, [REDIS_AUTH], tmp_path, extra, ports="T:6379")
    element = expected[REDIS_AUTH, "tcp", 6379, "redis-info"]
    if "creds.redis" in extra[-1]:
        assert b'<elem key="Version">' in element
    else:
        assert b"ERROR: Authentication required" in element


# =============================================================================== hostile peers
def greeting(body: bytes, length: int | None = None, number: int = 0) -> bytes:
    """A MySQL packet: a 3-byte length (``length``, else the body's), a number, the body."""
    size = len(body) if length is None else length
    return struct.pack("<I", size | number << 24)[:3] + bytes([number]) + body


#: MariaDB 10.11's greeting, as recorded from the fixture's server.
MARIADB_GREETING = bytes.fromhex(
    "640000000a352e352e352d31302e31312e31392d4d6172696144422d302b6465623132753100040000005"
    "37d3f5e3c505c5f00fef7080200ff81150000000000001d000000482b3e36313557343f7d7967006d7973"
    "716c5f6e61746976655f70617373776f726400"
)

#: address -> what the fake MySQL server sends, then it closes (127.0.1.x, port 3306).
MYSQL_FAKES = {
    "127.0.1.1": greeting(b"\x0a5.5"),  # the version has no NUL
    "127.0.1.2": greeting(b"\x0a5.5\x00\x01\x00"),  # the thread id is cut
    "127.0.1.3": greeting(b"", length=0),  # a header and nothing else
    "127.0.1.4": greeting(b"\x0a8.0.1\x00", length=200),  # claims 200 bytes, sends 7
    "127.0.1.5": greeting(
        b"\xff\x6a\x04Host '127.0.0.1' is not allowed to connect to this MariaDB server"
    ),
    "127.0.1.6": greeting(  # a plugin-data length pointing past the end
        b"\x0a5.7\x00\x01\x00\x00\x00abcdefgh\x00\x00\x80\x21\x02\x00\x08\x00\xff" + bytes(10)
    ),
    "127.0.1.7": greeting(b"\x09old-4.0\x00\x07\x00\x00\x00salt\x00"),  # protocol 9
    "127.0.1.8": greeting(b"\x0a5.0.1\x00\x07\x00\x00\x00abcdefgh\x00\x08\xa0"),  # no extras
    "127.0.1.9": MARIADB_GREETING[:40] + b"\x00" * 3,  # a real one, truncated
}


async def _send_and_close(data: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(data)
    await writer.drain()
    await asyncio.sleep(0.05)


async def _endless(writer: asyncio.StreamWriter, head: bytes, chunk: bytes) -> None:
    """``head``, then ``chunk`` again and again until the client goes (or the server's
    per-connection bound cuts it)."""
    writer.write(head)
    while True:
        writer.write(chunk * 64)
        await writer.drain()
        await asyncio.sleep(0.001)


def _vnc(*parts: bytes) -> Any:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(parts[0])
        await writer.drain()
        for part in parts[1:]:
            await reader.read(64)
            writer.write(part)
            await writer.drain()
        await reader.read(64)
        await asyncio.sleep(0.05)

    return serve


def _tight_entry(code: int, vendor: bytes, signature: bytes) -> bytes:
    return struct.pack(">I", code) + vendor + signature


#: address -> the VNC fake (port 5900): its messages, one per client message.
VNC_FAKES: dict[str, Any] = {
    "127.0.2.1": _vnc(b"RFB 003.003\n", b"\x00\x00\x00\x02"),  # 3.3: one type, VNC auth
    "127.0.2.2": _vnc(b"RFB 003.005\n", b"\x00\x00\x00\x01"),  # unknown version: 3.3
    "127.0.2.3": _vnc(b"RFB 003.008\n", b"\x00\x00\x00\x00\x0bToo many se"),  # refusal
    "127.0.2.4": _vnc(  # Tight: one tunnel, two auth types
        b"RFB 003.008\n",
        b"\x01\x10",
        b"\x00\x00\x00\x01" + _tight_entry(0, b"TGHT", b"NOTUNNEL"),
        b"\x00\x00\x00\x02"
        + _tight_entry(1, b"STDV", b"NOAUTH__")
        + _tight_entry(2, b"STDV", b"VNCAUTH_"),
    ),
    "127.0.2.5": _vnc(b"RFB 003.008\n", b"\x01\x10", bytes(range(1, 25))),  # ATEN: 24 bytes
    "127.0.2.6": _vnc(b"RFB 003.008\n", b"\x02\x10\x13", b"\x00\x00\x00\x00\x00\x00\x00\x00"),
    "127.0.2.7": _vnc(b"SSH-2.0-OpenSSH_9.2\r\n"),  # not VNC
    "127.0.2.8": _vnc(b"RFB 003.008\n", b"\x01\x13", b"\x00\x03"),  # VeNCrypt 0.3
}


async def _vnc_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The TLS security type (18, GNOME's Vino): TLS after the client picks it, then a new
    list of types inside (None)."""
    writer.write(b"RFB 003.008\n")
    await reader.read(64)
    writer.write(b"\x01\x12")
    await writer.drain()
    if await reader.read(1) != b"\x12":
        return
    await writer.start_tls(server_context(rsa_cert()))
    writer.write(b"\x01\x01")
    await writer.drain()
    await reader.read(64)


VNC_FAKES["127.0.2.9"] = _vnc_tls


async def _redis_endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(64)
    await _endless(writer, b"+", b"A" * 512)


async def _memcached_endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(64)
    await _endless(writer, b"STAT pid 4242\r\n", b"STAT curr_items 7\r\n")


@pytest.fixture(scope="module")
def fakes(network: PrivateNetwork) -> Iterator[list[FakeServer]]:
    started: list[FakeServer] = []

    def mysql_handler(data: bytes) -> Any:
        async def serve(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _send_and_close(data, writer)

        return serve

    try:
        for address, data in MYSQL_FAKES.items():
            started.append(FakeServer(mysql_handler(data), network, address, 3306).start())
        for address, handler in VNC_FAKES.items():
            started.append(FakeServer(handler, network, address, 5900, lifetime=10).start())
        started.append(FakeServer(_redis_endless, network, "127.0.3.1", 6379, lifetime=5).start())
        started.append(
            FakeServer(_memcached_endless, network, "127.0.3.2", 11211, lifetime=5).start()
        )
        started.append(FakeUdpServer(_memcached_udp, network, MEMCACHED_UDP, 11211).start())
        yield started
    finally:
        for server in started:
            server.stop()


@needs_nmap
@pytest.mark.parametrize("flags", [[], ["-v"], ["-d"]], ids=["v0", "v", "d"])
def test_hostile_peers_match_nmap(
    network: PrivateNetwork, fakes: list[FakeServer], flags: list[str], tmp_path: Path
) -> None:
    """Lying lengths, truncations, refusals and replies that never end: the same output as
    Nmap's (``ERROR: Script execution failed`` where Lua's ``string.unpack`` raises), bounded
    in time, no traceback."""
    targets = [*MYSQL_FAKES, *VNC_FAKES, "127.0.3.1", "127.0.3.2"]
    started = time.monotonic()
    ports = "T:3306,5900,6379,11211"
    expected = compare(network, targets, tmp_path, flags, ports=ports, volatile=False)
    assert time.monotonic() - started < 60
    if flags == ["-d"]:  # failures are debug messages, errors have no result at all
        assert ("127.0.1.1", "tcp", 3306, "mysql-info") not in expected
        assert b"ERROR: Too many se" in expected["127.0.2.3", "tcp", 5900, "vnc-info"]
        return
    failed = b'output="ERROR: Script execution failed (use -d to debug)"'
    assert failed in expected["127.0.1.1", "tcp", 3306, "mysql-info"]
    assert failed in expected["127.0.1.6", "tcp", 3306, "mysql-info"]
    assert ("127.0.1.4", "tcp", 3306, "mysql-info") not in expected  # EOF: a silent try
    error = ("127.0.1.5", "tcp", 3306, "mysql-info")
    assert (error in expected) == (flags == ["-v"])  # "MySQL Error" above verbosity 1
    assert b"Tight auth subtypes" in expected["127.0.2.4", "tcp", 5900, "vnc-info"]
    assert b"ATEN KVM VNC" in expected["127.0.2.5", "tcp", 5900, "vnc-info"]
    assert failed in expected["127.0.2.6", "tcp", 5900, "vnc-info"]  # 7.93's get_info
    assert b"TLS auth subtypes: &#xa;    None (1)" in expected["127.0.2.9", "tcp", 5900, "vnc-info"]


#: The UDP memcached fake (port 11211).
MEMCACHED_UDP = "127.0.3.3"


def _memcached_udp(datagram: bytes) -> list[bytes]:
    """``stats``: two datagrams, the second first; ``stats settings``: a reply to another
    request id (which ends memcached-info's wait with nothing); anything else (Nmap's -sU
    payload): nothing."""
    if len(datagram) < 8:
        return []
    req_id = struct.unpack(">H", datagram[:2])[0]
    if datagram[8:] == b"stats\r\n":
        first = b"STAT pid 77\r\nSTAT uptime 12.0\r\n"
        second = b"STAT time 1700000000\r\nSTAT pointer_size 32\r\nEND\r\n"
        return [
            struct.pack(">HHHH", req_id, 1, 2, 0) + second,
            struct.pack(">HHHH", req_id, 0, 2, 0) + first,
        ]
    if datagram[8:] == b"stats settings\r\n":
        return [struct.pack(">HHHH", (req_id + 1) & 0xFFFF, 0, 1, 0) + b"STAT maxconns 9\r\n"]
    return []


@needs_nmap
@pytest.mark.parametrize("flags", [[], ["-v"]], ids=["v0", "v"])
def test_memcached_udp_datagrams_out_of_order(
    network: PrivateNetwork, fakes: list[FakeServer], flags: list[str], tmp_path: Path
) -> None:
    """Datagrams put together by sequence number; a reply to another request id ends the
    wait with nothing; ``uptime 12.0`` printed with ``%d``; the timestamp formatted."""
    expected = compare(network, [MEMCACHED_UDP], tmp_path, flags, ports="U:11211", volatile=False)
    element = expected[MEMCACHED_UDP, "udp", 11211, "memcached-info"]
    assert b'<elem key="Uptime">12 seconds</elem>' in element
    assert b"Maximum connections" not in element


# =============================================================================== libraries
class RecordedSocket:
    """Replays recorded server bytes, ``chunk`` bytes a read, with NSE's read semantics:
    ``receive_bytes(n)`` returns at least n bytes (fewer only at the end), ``receive_buf``
    splits at the delimiter and keeps the rest buffered; at the end, ``SocketError("EOF")``."""

    def __init__(self, data: bytes, chunk: int = 1 << 20) -> None:
        self.data = data
        self.chunk = chunk
        self.buffer = b""
        self.sent: list[bytes] = []
        self.closed = False

    def _more(self) -> bytes:
        from nmapx.nse.errors import SocketError

        if not self.data:
            raise SocketError("EOF")
        piece, self.data = self.data[: self.chunk], self.data[self.chunk :]
        return piece

    async def receive_bytes(self, n: int) -> bytes:
        data = self._more()
        while len(data) < n and self.data:
            data += self._more()
        return data

    async def receive_buf(self, delim: Any, keep: bool) -> bytes:
        while True:
            found = delim(self.buffer)
            if found is not None:
                start, end = found
                data, self.buffer = self.buffer, self.buffer[end:]
                return data[:end] if keep else data[:start]
            self.buffer += self._more()

    async def send(self, data: bytes) -> None:
        self.sent.append(bytes(data))

    def set_timeout(self, ms: float) -> None:
        self.timeout = ms

    def close(self) -> bool:
        self.closed = True
        return True


def run(body: Any) -> Any:
    result, _messages = in_script_thread(body)
    return result


def test_mysql_greeting_of_mariadb() -> None:
    ok, greeting = mysql.parse_greeting(MARIADB_GREETING)
    assert ok and isinstance(greeting, mysql.Greeting)
    assert greeting.proto == 10
    assert greeting.version == b"5.5.5-10.11.19-MariaDB-0+deb12u1"
    assert greeting.threadid == 4
    assert greeting.salt == b"S}?^<P\\_H+>615W4?}yg"
    assert greeting.capabilities == 0xF7FE
    assert (greeting.charset, greeting.status, greeting.extcapabilities) == (8, 2, 0x81FF)
    assert greeting.auth_plugin_name == b"mysql_native_password"


def test_mysql_greeting_quirks() -> None:
    # the length is the header's low byte only; an error packet's message is all the rest
    ok, message = mysql.parse_greeting(greeting(b"\xff\x10\x04denied", length=0x102))
    assert (ok, message) == (False, b"denied")
    with pytest.raises(mysql.GreetingError):
        mysql.parse_greeting(MYSQL_FAKES["127.0.1.1"])
    with pytest.raises(mysql.GreetingError):
        mysql.parse_greeting(MYSQL_FAKES["127.0.1.6"])
    ok, old = mysql.parse_greeting(MYSQL_FAKES["127.0.1.7"])
    assert isinstance(old, mysql.Greeting) and old.auth_plugin_data == b"salt"
    ok, short = mysql.parse_greeting(MYSQL_FAKES["127.0.1.8"])
    assert isinstance(short, mysql.Greeting)
    assert (short.capabilities, short.status, short.salt) == (0xA008, None, b"abcdefgh")


def test_mysql_receive_greeting_reads_the_rest() -> None:
    sock = RecordedSocket(MARIADB_GREETING, chunk=10)
    ok, found = run(lambda: mysql.receive_greeting(sock))
    assert ok and found.auth_plugin_name == b"mysql_native_password"


def test_redis_replies() -> None:
    recorded = (
        b"+OK\r\n"
        b"$13\r\nversion:7.0\r\n\r\n"
        b"*2\r\n$4\r\nbind\r\n$9\r\n127.0.0.1\r\n"
        b"$-1\r\n"
        b"-NOAUTH Authentication required.\r\n" + b"x" * 3000
    )
    sock = RecordedSocket(recorded, chunk=7)

    async def body() -> list[Any]:
        return [await redis.receive(sock) for _ in range(7)]

    replies = run(body)
    assert replies[0] == (True, redis.Response(b"+OK", redis.ResponseType.STATUS))
    assert replies[1] == (True, redis.Response(b"version:7.0\r\n", redis.ResponseType.BULK))
    assert replies[2] == (
        True,
        redis.Response([b"bind", b"127.0.0.1"], redis.ResponseType.MULTIBULK),
    )
    assert replies[3] == (True, None)
    assert replies[4][1].type == redis.ResponseType.ERROR
    assert replies[5] == (False, "Unsupported response")  # 2047 bytes of the 3000
    # the other 952 bytes hold no CRLF: receive_buf fails at the end of the data
    assert replies[6] == (False, "Failed to receive data from server")
    assert bytes(redis.Request("CONFIG", "GET", "bind")) == (
        b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nbind\r\n"
    )


def test_redis_bad_lengths_fail_like_lua() -> None:
    for recorded in (b"$abc\r\n", b"*x\r\n"):
        sock = RecordedSocket(recorded)
        with pytest.raises(redis.ProtocolError):
            run(lambda sock=sock: redis.receive(sock))


def test_vnc_handshakes_on_recorded_bytes() -> None:
    async def handshake(recorded: bytes) -> vnc.VNC:
        v = vnc.VNC("127.0.0.1", 5900, RecordedSocket(recorded))
        ok, why = await v.handshake()
        assert ok, why
        return v

    v = run(lambda: handshake(b"RFB 003.008\n\x02\x01\x13"))
    assert v.get_protocol_version() == "3.8"
    assert [str(t) for t in v.get_sec_types_as_table()] == ["None (1)", "VeNCrypt (19)"]
    assert v.socket.sent == [b"RFB 003.008\n"]
    old = run(lambda: handshake(b"RFB 003.005\n\x00\x00\x00\x02"))
    assert old.get_protocol_version() == "003.005" and old.client_version == "3.3"
    assert old.socket.sent == [b"RFB 003.003\n"]
    tight = run(lambda: handshake(b"RFB 003.008\n\x01\x10"))

    async def tight_types() -> tuple[bool, str | None]:
        tight.socket = RecordedSocket(
            b"\x00\x00\x00\x01" + _tight_entry(0, b"TGHT", b"NOTUNNEL") + b"\x00\x00\x00\x00"
        )
        return await tight.handshake_tight()

    assert run(tight_types) == (True, None)
    assert [str(t) for t in tight.tight.tunnels] == ["TGHT NOTUNNEL (0)"]
    assert tight.tight.types == []


def test_vnc_refusal_reason() -> None:
    v = vnc.VNC("127.0.0.1", 5900, RecordedSocket(b"RFB 003.008\n\x00\x00\x00\x00\x04busy"))
    assert run(v.handshake) == (False, b"busy")
    v = vnc.VNC("127.0.0.1", 5900, RecordedSocket(b"HTTP/1.0 400\r\n"))
    assert run(v.handshake) == (False, "Not a VNC port.")


@needs_nmap
def test_mysql_info_skips_a_server_that_refuses_us_after_version_scan(
    network: PrivateNetwork, fakes: list[FakeServer], tmp_path: Path
) -> None:
    """-sV names the refusal (``extrainfo="unauthorized"``), so the portrule declines: no
    result from either, at -v where the error would otherwise show."""
    expected = compare(network, ["127.0.1.5"], tmp_path, ["-sV", "-v"], ports="T:3306")
    assert expected == {}
    assert b'extrainfo="unauthorized"' in (tmp_path / "scan.xml").read_bytes()


def test_memcached_stats_parsing() -> None:
    from nmapx.scripts import memcached_info

    reply = b"STAT pid 77\r\nSTAT version 1.6.18\r\nXSTAT no 1\r\nSTAT multi word value\r\nEND\r\n"
    assert memcached_info.lua_number(b" 12.0 ") == 12.0
    assert memcached_info.lua_integer(b"12.0") == 12
    assert memcached_info.lua_number(b"0x10") == 16
    with pytest.raises(ValueError):
        memcached_info.lua_integer(b"12.5")
    with pytest.raises(ValueError):
        memcached_info.lua_number(b"soon")
    kvs, _messages = in_script_thread(lambda: _parse(memcached_info, reply))
    assert kvs == {b"pid": b"77", b"version": b"1.6.18", b"multi": b"word value"}


async def _parse(module: Any, reply: bytes) -> Any:
    return module.parse_response(reply)
