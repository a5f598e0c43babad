"""Hostile services and scope safety, end to end through the real CLI (issue 6).

Every service here runs in a private network namespace (``unshare -n``: its only interface is
``lo``), and Nmap and nmapx are run inside it with ``nsenter``, so nothing can leave the
machine even if a scope check regresses (a DNS lookup, say). The namespace holds:

* well-behaved services on 127.0.0.2 (nmapx's emulators: daytime, identd, a banner service, a
  MAX! Cube), scanned next to every hostile host: its results must come out exactly the same;
* hostile services on 127.0.0.1x, one behaviour per address on the ports the seed scripts probe
  (13 daytime, 113 identd, 4242 banner, 62910 MAX! Cube): a byte per second forever, 100 MB
  without a newline, binary and NUL bytes, silence, a reset in the middle of the reply, identd
  replies that are huge, malformed, partial or binary, and a Cube that another client holds;
* for the scope tests, counting listeners (TCP accepts and UDP datagrams) on further
  addresses.

The scripts are the real built-in ones (``banner``, ``daytime``, ``auth-owners``,
``maxcube-info``), run by ``python -m nmapx run`` on a scan XML that real ``nmap -n -sT`` made
of these services. Every test bounds its wall time by what the scripts' own timeouts allow,
and the flood test measures the nmapx process's peak RSS (``os.wait4``). Where it is cheap,
the ``<script>`` elements are compared with real Nmap 7.93 running the same scripts against
the same services.

Run as a program (``python tests/test_hostile_services.py serve`` inside ``unshare -n``) this
file is the namespace's server process; the tests start it themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import json
import os
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":  # the server process: the checkout's fixtures must be importable
    sys.path.insert(0, str(ROOT))

from conftest import dtd_errors, needs_xmllint  # noqa: E402

from nmapx.nse.sockets import MAX_READ  # noqa: E402

# ============================================================================ the services
GOOD = "127.0.0.2"
DAYTIME, IDENT, BANNER, CUBE = 13, 113, 4242, 62910
SEED_PORTS = (DAYTIME, IDENT, BANNER, CUBE)
#: What the well-behaved banner service says (a real OpenSSH greeting).
GOOD_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
#: Fixed identd answers of the well-behaved host, by server port (None: NO-USER).
GOOD_OWNERS: dict[int, str | None] = {DAYTIME: None, IDENT: "identd", BANNER: "sshd", CUBE: "cube"}

#: The trickle service's stream: one byte of it per second.
TRICKLE = b"trickle, one byte per second "
#: The flood: this many bytes of "A", never a newline.
FLOOD_BYTES = 100 * 1024 * 1024
FLOOD_CHUNK = b"A" * 65536
#: Control bytes, NUL, bytes >= 0x80, XML metacharacters, Nmap's "--" and a CRLF.
BINARY = (
    b"\x00\x01\x02NUL\x00in the middle \x1b[0m\xff\xfe\x80 <&> 'q' \"dq\" a--b caf\xc3\xa9\x7f"
    b"\r\nsecond\x00line\r\n"
)
#: What the resetting service sends before its RST (no newline: line readers keep waiting).
PARTIAL = b"partial reply, then a reset"
#: How long the resetting service waits between its data and the RST.
RESET_AFTER = 0.3
#: How long any one connection may live in the server process, whatever the client does.
LIFETIME = 60.0


@dataclass
class Stats:
    """What one listener saw; the tests read it back as JSON."""

    accepted: int = 0
    datagrams: int = 0
    active: int = 0
    max_active: int = 0
    max_sent: int = 0


def _ident_ports(request: bytes) -> tuple[str, str]:
    """The two numbers of an identd request, echoed back as identd does (or 0, 0)."""
    found = re.match(rb"\s*(\d+)\s*,\s*(\d+)", request)
    return (found[1].decode(), found[2].decode()) if found else ("0", "0")


#: identd replies, each built from the request's two port numbers.
IDENT_REPLIES = {
    # a 10 KB owner: auth-owners prints all of it, as Nmap does
    "ident-long": lambda a, b: f"{a},{b}:USERID:UNIX:".encode() + b"u" * 10240 + b"\r\n",
    # no line has the USERID shape
    "ident-malformed": lambda a, b: (
        b"this is not identd\r\n"
        + f"{a},{b}:USERID\r\n".encode()
        + f"{a},{b}:USERID:UNIX:\r\n".encode()
        + f"USERID:UNIX:{a},{b}:nobody\r\n".encode()
    ),
    # one reply broken over two lines: Lua's %s (and the port's \s) match the line break
    "ident-split": lambda a, b: f"{a},{b}:USERID\r\n:UNIX:split-owner\r\n".encode(),
    # the line ends before its newline, then the connection closes
    "ident-partial": lambda a, b: f"{a} , {b} : USERID : UNIX : half-an-own".encode(),
    # an owner made of control bytes, NUL, high bytes and XML metacharacters
    "ident-binary": lambda a, b: (
        f"{a},{b}:USERID:UNIX:".encode() + b"\x00\x01\xff<&>'\"\x7f bin\x00ary\tuser" + b"\r\n"
    ),
}


class Server:
    """The namespace's services, on one asyncio loop; driven by lines on stdin.

    Commands: ``stats`` (answers the per-listener :class:`Stats` as one JSON line),
    ``hold ADDR PORT`` (connect to the Cube there, read its first line, keep the connection:
    answers ``{"held": <line>}``), ``release`` (close it). EOF on stdin, or ``LIFETIME`` * 5
    seconds, ends the process.
    """

    def __init__(self, spec: list[dict[str, Any]]) -> None:
        self.spec = spec
        self.stats: dict[str, Stats] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.holder: socket.socket | None = None

    # ------------------------------------------------------------------ TCP behaviours
    async def _trickle(self, sock: socket.socket, stats: Stats) -> None:
        loop = asyncio.get_running_loop()
        index = 0
        while True:
            await loop.sock_sendall(sock, TRICKLE[index % len(TRICKLE) :][:1])
            stats.max_sent = max(stats.max_sent, index + 1)
            index += 1
            await asyncio.sleep(1)

    async def _flood(self, sock: socket.socket, stats: Stats) -> None:
        loop = asyncio.get_running_loop()
        sent = 0
        while sent < FLOOD_BYTES:  # streamed: never more than one chunk in memory
            await loop.sock_sendall(sock, FLOOD_CHUNK)
            sent += len(FLOOD_CHUNK)
            stats.max_sent = max(stats.max_sent, sent)

    async def _binary(self, sock: socket.socket, stats: Stats) -> None:
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, BINARY)
        stats.max_sent = len(BINARY)
        while await loop.sock_recv(sock, 65536):  # then hold, like a real service
            pass

    async def _silent(self, sock: socket.socket, stats: Stats) -> None:
        loop = asyncio.get_running_loop()
        while await loop.sock_recv(sock, 65536):
            pass

    async def _reset(self, sock: socket.socket, stats: Stats) -> None:
        await asyncio.get_running_loop().sock_sendall(sock, PARTIAL)
        stats.max_sent = len(PARTIAL)
        await asyncio.sleep(RESET_AFTER)
        # SO_LINGER 0: close() sends RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    async def _hello(self, sock: socket.socket, stats: Stats) -> None:
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, b"220 hello\r\n")
        while await loop.sock_recv(sock, 65536):
            pass

    async def _count(self, sock: socket.socket, stats: Stats) -> None:
        await asyncio.get_running_loop().sock_sendall(sock, b"hi\r\n")

    async def _ident(self, sock: socket.socket, stats: Stats, kind: str) -> None:
        loop = asyncio.get_running_loop()
        request = b""
        while b"\n" not in request and len(request) < 127:
            chunk = await loop.sock_recv(sock, 127 - len(request))
            if not chunk:
                break
            request += chunk
        reply = IDENT_REPLIES[kind](*_ident_ports(request))
        await loop.sock_sendall(sock, reply)
        stats.max_sent = max(stats.max_sent, len(reply))

    async def _connection(self, sock: socket.socket, behaviour: str, stats: Stats) -> None:
        stats.active += 1
        stats.max_active = max(stats.max_active, stats.active)
        try:
            async with asyncio.timeout(LIFETIME):
                if behaviour.startswith("ident-"):
                    await self._ident(sock, stats, behaviour)
                else:
                    await getattr(self, f"_{behaviour}")(sock, stats)
        except (OSError, TimeoutError):
            pass  # the client left (or the lifetime ended): that is the point of these tests
        finally:
            stats.active -= 1
            sock.close()

    async def _accept_loop(self, listener: socket.socket, behaviour: str, stats: Stats) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sock, _ = await loop.sock_accept(listener)
            sock.setblocking(False)
            stats.accepted += 1
            task = asyncio.create_task(self._connection(sock, behaviour, stats))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _datagrams(self, sock: socket.socket, stats: Stats) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await loop.sock_recv(sock, 65535)
            stats.datagrams += 1

    # ------------------------------------------------------------------ the whole process
    async def _emulators(self, stack: contextlib.AsyncExitStack, item: dict[str, Any]) -> None:
        from fixtures.emulators import (
            DEMO_CLOCK,
            BannerEmulator,
            DaytimeEmulator,
            IdentdEmulator,
            MaxCubeEmulator,
        )

        host = item["addr"]
        if item["kind"] == "good":
            await stack.enter_async_context(
                DaytimeEmulator(host=host, port=DAYTIME, clock=DEMO_CLOCK, udp=False)
            )
            await stack.enter_async_context(
                IdentdEmulator(host=host, port=IDENT, users=GOOD_OWNERS)
            )
            await stack.enter_async_context(BannerEmulator(GOOD_BANNER, host=host, port=BANNER))
        else:  # "cube": a Cube and an identd that looks connections up in the kernel
            await stack.enter_async_context(IdentdEmulator(host=host, port=IDENT))
        await stack.enter_async_context(
            MaxCubeEmulator(host=host, port=CUBE, discovery_port=None, clock=DEMO_CLOCK)
        )

    async def _command(self, line: str) -> dict[str, Any]:
        words = line.split()
        if words == ["stats"]:
            return {key: vars(value) for key, value in self.stats.items()}
        if words[:1] == ["hold"] and len(words) == 3:
            loop = asyncio.get_running_loop()
            sock = socket.socket()
            sock.setblocking(False)
            async with asyncio.timeout(10):
                await loop.sock_connect(sock, (words[1], int(words[2])))
                first = await loop.sock_recv(sock, 4096)
            self.holder = sock
            return {"held": first.split(b"\r\n", 1)[0].decode("latin-1")}
        if words == ["release"] and self.holder is not None:
            self.holder.close()
            self.holder = None
            return {"released": True}
        return {"error": f"unknown command {line!r}"}

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        async with contextlib.AsyncExitStack() as stack:
            for item in self.spec:
                if item["kind"] in ("good", "cube"):
                    await self._emulators(stack, item)
                    continue
                key = f"{item['addr']}:{item['port']}/{item['proto']}"
                stats = self.stats[key] = Stats()
                kind = socket.SOCK_DGRAM if item["proto"] == "udp" else socket.SOCK_STREAM
                sock = socket.socket(socket.AF_INET, kind)
                stack.callback(sock.close)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((item["addr"], item["port"]))
                sock.setblocking(False)
                if kind == socket.SOCK_DGRAM:
                    coro = self._datagrams(sock, stats)
                else:
                    sock.listen(64)
                    coro = self._accept_loop(sock, item["kind"], stats)
                task = asyncio.create_task(coro)
                stack.callback(task.cancel)
            print(json.dumps({"ready": os.getpid()}), flush=True)  # the test waits for this
            async with asyncio.timeout(LIFETIME * 5):
                while line := (await reader.readline()).decode():
                    print(json.dumps(await self._command(line)), flush=True)
            for task in list(self.tasks):
                task.cancel()
            if self.holder is not None:
                self.holder.close()


def serve_main(spec_json: str) -> None:
    """The server process's entry point (``serve SPEC``, SPEC being the listeners as JSON)."""
    with contextlib.suppress(TimeoutError):
        asyncio.run(Server(json.loads(spec_json)).run())


# ============================================================================ the harness
@dataclass
class Run:
    """One finished process run inside the namespace."""

    returncode: int
    stdout: bytes
    stderr: str
    #: Seconds from start to exit.
    wall: float
    #: Peak resident set size of the program, in bytes (``ru_maxrss`` from ``wait4``).
    maxrss: int


#: Runs argv[2:] as its child and writes the child's ``ru_maxrss`` (``os.wait4``) to argv[1].
#: The child must be forked from this small process: a forked child starts with its parent's
#: resident size as its high-water mark, and pytest's would hide the program's own.
MEASURE = """
import json, os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"maxrss": usage.ru_maxrss * 1024}, out)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


class Namespace:
    """A private network namespace holding :class:`Server`; run programs inside it."""

    def __init__(self, spec: list[dict[str, Any]]) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Namespace:
        # Listeners outside 127/8 (the resolver's address, see resolver_listeners) live on lo
        # too: inside this namespace that address is ours.
        aliases = sorted(
            {str(ipaddress.IPv4Address(i["addr"])) for i in self.spec if "port" in i}
            - {a for a in (i["addr"] for i in self.spec) if a.startswith("127.")}
        )
        prelude = "".join(f" && ip addr add {a}/32 dev lo" for a in aliases)
        self.proc = subprocess.Popen(
            [
                "unshare", "-n", "sh", "-c", f'ip link set lo up{prelude} && exec "$0" "$@"',
                sys.executable, __file__, "serve", json.dumps(self.spec),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            cwd=ROOT,
        )  # fmt: skip
        try:
            self.pid = int(self._reply(timeout=15)["ready"])
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        assert proc.stdin is not None and proc.stdout is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()  # EOF: the server stops
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()

    def _reply(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise TimeoutError("the namespace's server did not answer")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the namespace's server ended (status {self.proc.wait(5)})")
        return json.loads(line)

    def command(self, text: str, timeout: float = 15) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        return self._reply(timeout)

    def stats(self) -> dict[str, dict[str, int]]:
        return self.command("stats")

    def run(self, *args: str, limit: float) -> Run:
        """Run ``args`` in the namespace; fail if it has not ended after ``limit`` seconds."""
        with TemporaryDirectory() as tmp:
            out_path, err_path = Path(tmp) / "out", Path(tmp) / "err"
            rss_path = Path(tmp) / "rss"
            with out_path.open("wb") as out, err_path.open("wb") as err:
                started = time.monotonic()
                proc = subprocess.Popen(
                    [
                        "nsenter", f"--net=/proc/{self.pid}/ns/net",
                        sys.executable, "-c", MEASURE, str(rss_path), *args,
                    ],
                    stdout=out,
                    stderr=err,
                    cwd=ROOT,
                    start_new_session=True,  # one process group: a timeout ends all of it
                )  # fmt: skip
                try:
                    proc.wait(timeout=limit)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
                    raise AssertionError(f"{args[:4]} still running after {limit:.1f}s") from None
                wall = time.monotonic() - started
            return Run(
                proc.returncode,
                out_path.read_bytes(),
                err_path.read_text("utf-8", "replace"),
                wall,
                json.loads(rss_path.read_text())["maxrss"],
            )

    def nmap(self, path: Path, ports: str, *hosts: str, extra: tuple[str, ...] = ()) -> Run:
        """Real ``nmap -n -Pn -sT`` of ``hosts`` into ``path`` (the scan nmapx enriches)."""
        result = self.run(
            "nmap", "-n", "-Pn", "-sT", "-p", ports, *extra, *hosts, "-oX", str(path), limit=120
        )
        assert result.returncode == 0, result.stderr
        return result

    def nmapx(self, *args: str, limit: float) -> Run:
        return self.run(sys.executable, "-m", "nmapx", "run", *args, limit=limit)


def host_scripts(xml: bytes) -> dict[str, dict[tuple[int, str], bytes]]:
    """``{address: {(port, script id): the <script> element's exact bytes}}``."""
    found: dict[str, dict[tuple[int, str], bytes]] = {}
    for host in re.finditer(rb"<host[ >].*?</host>", xml, re.S):
        address = re.search(rb'<address addr="([^"]+)" addrtype="ipv4"', host[0])
        assert address is not None
        scripts = found.setdefault(address[1].decode(), {})
        for port in re.finditer(
            rb'<port protocol="tcp" portid="(\d+)">(.*?)</port>', host[0], re.S
        ):
            for element in re.finditer(rb'<script id="([^"]+)".*?(?:"/>|</script>)', port[2], re.S):
                scripts[(int(port[1]), element[1].decode())] = element[0]
    return found


# ============================================================================ bounds
#: Script arguments of every run: short waits, so that the tests stay quick.
BANNER_TIMEOUT = 1.0
CUBE_TIMEOUT = 1.0
SCRIPT_ARGS = f"banner.timeout={BANNER_TIMEOUT:g}s,maxcube-info.timeout={CUBE_TIMEOUT:g}s"
#: ``--script-timeout``: auth-owners has no timeout argument (30 s per socket operation).
SCRIPT_TIMEOUT = 4.0
SEED_SCRIPTS = "auth-owners,banner,daytime,maxcube-info"
#: nse_nsock.cc's default socket timeout, which auth-owners keeps.
SOCKET_TIMEOUT = 30.0
#: Interpreter start, reading and writing the XML: generous; this bounds, it does not time.
STARTUP = 10.0


def own_worst_case(script: str, to_seconds: float) -> float:
    """The longest ``script`` can take against a service that never cooperates, from its own
    timeouts (each socket operation waits at most its timeout; they run one after another).

    ``to_seconds`` is the host's ``<times to>``, which comm.lua scales into its timeouts.
    """
    if script == "banner":  # comm.get_banner: plain TCP, then SSL; each a connect and a read
        connect, read = BANNER_TIMEOUT, 2 * BANNER_TIMEOUT  # comm adds connect to request
        return 2 * (connect + read)
    if script == "daytime":  # comm.exchange: connect, send "dummy", read a line
        connect = min(max(to_seconds * (8000 + 6000) / 7, 1000), 8000) / 1000
        request = 6.0 + connect
        return connect + 2 * request
    if script == "auth-owners":  # two connects, a send and a read, 30 s each
        return 4 * SOCKET_TIMEOUT
    if script == "maxcube-info":  # a connect and one read, each maxcube-info.timeout
        return 2 * CUBE_TIMEOUT
    raise ValueError(script)


def probes(port: int, open_ports: set[int], scripts: str) -> list[str]:
    """The seed scripts whose port rule matches this open TCP port."""
    rules = {
        "banner": True,
        "daytime": port == DAYTIME,
        "auth-owners": IDENT in open_ports,
        "maxcube-info": port == CUBE,
    }
    return [name for name in scripts.split(",") if rules[name]]


def wall_bound(scan: Path, scripts: str = SEED_SCRIPTS, timeout: float = SCRIPT_TIMEOUT) -> float:
    """How long nmapx may take on ``scan``: hosts and ports run at once, except that the
    scripts on the single-connection Cube port run one after another."""
    longest = 0.0
    for host in re.finditer(rb"<host[ >].*?</host>", scan.read_bytes(), re.S):
        times = re.search(rb'<times [^>]*to="(\d+)"', host[0])
        to_seconds = int(times[1]) / 1e6 if times else 0.0
        ports = {
            int(number)
            for number in re.findall(
                rb'<port protocol="tcp" portid="(\d+)"><state state="open"', host[0]
            )
        }
        for port in ports:
            each = [
                min(own_worst_case(s, to_seconds), timeout) for s in probes(port, ports, scripts)
            ]
            if each:
                longest = max(longest, sum(each) if port == CUBE else max(each))
    return STARTUP + longest


# ============================================================================ expectations
#: The well-behaved host's results, byte for byte, whatever its neighbours do (at -d, which
#: raises the verbosity too, so banner wraps its line in two as Nmap does).
GOOD_EXPECTED = {
    (DAYTIME, "banner"): b'<script id="banner" output="Sun Nov 22 22:01:21 2026"/>',
    (DAYTIME, "daytime"): b'<script id="daytime" output="Sun Nov 22 22:01:21 2026&#xd;&#xa;"/>',
    (IDENT, "auth-owners"): b'<script id="auth-owners" output="identd"/>',
    (BANNER, "auth-owners"): b'<script id="auth-owners" output="sshd"/>',
    (BANNER, "banner"): b'<script id="banner" output="SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"/>',
    (CUBE, "auth-owners"): b'<script id="auth-owners" output="cube"/>',
    (CUBE, "banner"): b'<script id="banner" output="H:KMD1016788,099c3e,0113,00000000,7ee2b5d7,'
    b"00,32,1a0b16,1601,03&#xa;,0000\\x0D\\x0AM:00,01,VgIBAQtMaXZpbmcgcm9vbRorPAEBGis8S0VRMTIzNDU2"
    b'Nwp...&#xa;"/>',
    (CUBE, "maxcube-info"): b'<script id="maxcube-info" output="&#xa;  MAX Serial:: KMD1016788'
    b'&#xa;  RF Address: 099c3e&#xa;  Firmware Version: 0113"><elem key="MAX Serial:">KMD1016788'
    b'</elem>\n<elem key="RF Address">099c3e</elem>\n<elem key="Firmware Version">0113</elem>\n'
    b"</script>",
}


def hostile(kind: str, address: str, ports: tuple[int, ...] = SEED_PORTS) -> list[dict[str, Any]]:
    return [{"kind": kind, "addr": address, "port": p, "proto": "tcp"} for p in ports]


def scan_and_enrich(
    ns: Namespace,
    tmp_path: Path,
    hosts: tuple[str, ...],
    *extra: str,
    ports: str = "13,113,4242,62910",
    scripts: str = SEED_SCRIPTS,
) -> tuple[Run, Path, float]:
    """Real nmap scans ``hosts``; nmapx enriches the scan with the seed scripts at -d.

    Returns the nmapx run, its XML output and the wall-time bound it was held to.
    """
    tmp_path.mkdir(exist_ok=True)
    scan = tmp_path / "scan.xml"
    ns.nmap(scan, ports, *hosts)
    limit = wall_bound(scan, scripts)
    out = tmp_path / "out.xml"
    run = ns.nmapx(
        str(scan),
        "--script", scripts,
        "--script-args", SCRIPT_ARGS,
        "--script-timeout", f"{SCRIPT_TIMEOUT:g}s",
        "-d", "-oX", str(out),
        *extra,
        limit=limit,
    )  # fmt: skip
    print(f"nmapx: {run.wall:.2f}s (bound {limit:.1f}s), peak RSS {run.maxrss / 2**20:.1f} MiB")
    assert run.returncode == 0, run.stderr
    assert run.wall < limit
    assert dtd_errors(out) == ""
    return run, out, limit


def check_good_host(out: Path) -> None:
    """The well-behaved neighbour's results are exactly what they are on their own."""
    assert host_scripts(out.read_bytes())[GOOD] == GOOD_EXPECTED


def all_closed(ns: Namespace, address: str) -> dict[str, dict[str, int]]:
    """The server's counters once every connection nmapx made to ``address`` has ended."""
    deadline = time.monotonic() + 5
    while True:
        stats = {k: v for k, v in ns.stats().items() if k.startswith(address + ":")}
        if all(v["active"] == 0 for v in stats.values()) or time.monotonic() > deadline:
            return stats
        time.sleep(0.1)


def nmap_reference(
    ns: Namespace, tmp_path: Path, address: str, ports: str, scripts: str
) -> dict[tuple[int, str], bytes]:
    """Real Nmap 7.93 running the same scripts (same arguments, -d) on the same services."""
    ref = tmp_path / "nmap-ref.xml"
    ns.nmap(
        ref,
        ports,
        address,
        extra=("--script", scripts, "--script-args", f"banner.timeout={BANNER_TIMEOUT:g}s", "-d"),
    )
    return host_scripts(ref.read_bytes())[address]


needs_netns = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("unshare", "nsenter", "ip", "nmap")),
    reason="needs root, unshare, nsenter, ip and nmap for a private network namespace",
)
pytestmark = [needs_netns, needs_xmllint]


# ============================================================================ hostile services
def test_trickle_one_byte_per_second(tmp_path: Path) -> None:
    """A service that sends one byte a second, forever: every script ends within its bound.

    banner returns the first byte (one read returns whatever has arrived, as in NSE);
    daytime's and auth-owners' line reads are cut by --script-timeout; maxcube-info ends on
    its own timeout (it once waited for a whole line a byte at a time: until a megabyte).
    """
    address = "127.0.0.10"
    with Namespace([{"kind": "good", "addr": GOOD}, *hostile("trickle", address)]) as ns:
        run, out, _ = scan_and_enrich(ns, tmp_path, (GOOD, address))
        check_good_host(out)
        mine = host_scripts(out.read_bytes())[address]
        assert sorted(mine) == [(p, "banner") for p in SEED_PORTS]
        for element in mine.values():
            text = re.fullmatch(rb'<script id="banner" output="([^"]+)"/>', element)
            assert text is not None and TRICKLE.startswith(text[1]) and len(text[1]) <= 2
        for who in ("daytime against 127.0.0.10:13", "auth-owners against 127.0.0.10:4242"):
            assert f"NSE: {who} timed out\n" in run.stderr
        assert (
            "NSE: [maxcube-info 127.0.0.10:62910] no complete greeting line from "
            "127.0.0.10:62910 in " in run.stderr
        )
        stats = all_closed(ns, address)
        assert all(v["active"] == 0 for v in stats.values()), stats  # nmapx closed them all

        # maxcube-info alone, no --script-timeout: its own timeout ends it (2 s, 2 bytes)
        scan = tmp_path / "cube.xml"
        ns.nmap(scan, str(CUBE), address)
        alone = ns.nmapx(
            str(scan), "--script", "maxcube-info", "--script-args", "maxcube-info.timeout=2s",
            "-d", "-oX", str(tmp_path / "cube-out.xml"),
            limit=STARTUP + 2 * 2.0,
        )  # fmt: skip
        assert alone.returncode == 0, alone.stderr
        assert "no complete greeting line from 127.0.0.10:62910" in alone.stderr
        assert (tmp_path / "cube-out.xml").read_bytes() == scan.read_bytes()  # no result


def test_flood_of_100_mb_without_newline(tmp_path: Path) -> None:
    """100 MB of "A" and never a newline, on every port: reads are capped, memory stays flat.

    nmapx's peak RSS is compared with the same run against the well-behaved host alone: the
    difference must stay far below what the service sends (the caps are 1 MiB per line read).
    """
    address = "127.0.0.11"
    with Namespace([{"kind": "good", "addr": GOOD}, *hostile("flood", address)]) as ns:
        base, base_out, _ = scan_and_enrich(ns, tmp_path / "base", (GOOD,))
        run, out, _ = scan_and_enrich(ns, tmp_path, (GOOD, address))
        growth = run.maxrss - base.maxrss
        print(f"peak RSS {base.maxrss / 2**20:.1f} MiB alone, {run.maxrss / 2**20:.1f} MiB "
              f"with the flood (+{growth / 2**20:.1f} MiB)")  # fmt: skip
        assert growth < FLOOD_BYTES / 4
        assert run.maxrss < FLOOD_BYTES
        check_good_host(out)
        check_good_host(base_out)
        mine = host_scripts(out.read_bytes())[address]
        assert sorted(mine) == sorted([(p, "banner") for p in SEED_PORTS] + [(DAYTIME, "daytime")])
        daytime = re.fullmatch(rb'<script id="daytime" output="(A+)"/>', mine[(DAYTIME, "daytime")])
        assert daytime is not None
        assert MAX_READ <= len(daytime[1]) < MAX_READ + 2 * 65536  # receive_lines' cap
        assert re.search(
            r"no complete greeting line from 127\.0\.0\.11:62910 in (\d+) bytes", run.stderr
        )
        stats = all_closed(ns, address)
        sent = max(v["max_sent"] for v in stats.values())
        print(f"most bytes the flood got into one nmapx connection: {sent / 2**20:.1f} MiB")
        assert sent < FLOOD_BYTES / 4  # nmapx stopped reading; the kernel pushed back
        assert all(v["active"] == 0 for v in stats.values()), stats
        # Nmap's banner reads the same first chunk and prints the same line
        theirs = nmap_reference(ns, tmp_path, address, str(BANNER), "banner")
        assert theirs == {(BANNER, "banner"): mine[(BANNER, "banner")]}


def test_binary_and_nul_bytes_are_escaped_as_nmap_does(tmp_path: Path) -> None:
    """Control bytes, NUL, bytes >= 0x80 and XML metacharacters, on every port: nmapx's
    ``<script>`` elements are Nmap's, byte for byte (banner, daytime, auth-owners)."""
    address = "127.0.0.12"
    with Namespace([{"kind": "good", "addr": GOOD}, *hostile("binary", address)]) as ns:
        _run, out, _ = scan_and_enrich(ns, tmp_path, (GOOD, address))
        check_good_host(out)
        mine = host_scripts(out.read_bytes())[address]
        theirs = nmap_reference(ns, tmp_path, address, "13,113,4242", "banner,daytime,auth-owners")
        assert {k: v for k, v in mine.items() if k[0] != CUBE} == theirs
        assert (
            b"\\x00in the middle \\x1B[0m\\xFF\\xFE\\x80 &lt;&amp;&gt;" in theirs[(13, "daytime")]
        )
        assert (CUBE, "maxcube-info") not in mine  # not an H: line


def test_silent_service_accepts_and_never_answers(tmp_path: Path) -> None:
    """Connects succeed, nothing ever arrives: banner and maxcube-info give up on their own
    timeouts, daytime and auth-owners at --script-timeout; no results, no connection left."""
    address = "127.0.0.13"
    with Namespace([{"kind": "good", "addr": GOOD}, *hostile("silent", address)]) as ns:
        run, out, _ = scan_and_enrich(ns, tmp_path, (GOOD, address))
        check_good_host(out)
        assert host_scripts(out.read_bytes())[address] == {}
        for port in SEED_PORTS:
            assert f"NSE: Finished banner against {address}:{port}.\n" in run.stderr
            assert f"NSE: auth-owners against {address}:{port} timed out\n" in run.stderr
        assert f"NSE: daytime against {address}:13 timed out\n" in run.stderr
        assert (
            f"NSE: [maxcube-info {address}:62910] no greeting from {address}:62910 (TIMEOUT): "
            "another client may hold the Cube\n" in run.stderr
        )
        stats = all_closed(ns, address)
        assert all(v["active"] == 0 for v in stats.values()), stats


def test_reset_in_the_middle_of_a_reply(tmp_path: Path) -> None:
    """Partial data, then an RST (SO_LINGER 0): a single read keeps the data, a line read
    fails with ERROR, exactly as in Nmap; nothing else is disturbed."""
    address = "127.0.0.14"
    with Namespace([{"kind": "good", "addr": GOOD}, *hostile("reset", address)]) as ns:
        _run, out, _ = scan_and_enrich(ns, tmp_path, (GOOD, address))
        check_good_host(out)
        mine = host_scripts(out.read_bytes())[address]
        theirs = nmap_reference(ns, tmp_path, address, "13,113,4242", "banner,daytime,auth-owners")
        assert {k: v for k, v in mine.items() if k[0] != CUBE} == theirs
        assert theirs[(BANNER, "banner")] == (
            b'<script id="banner" output="partial reply, then a reset"/>'
        )
        assert b"<elem>receive_lines failed</elem>" in theirs[(DAYTIME, "daytime")]
        assert (CUBE, "maxcube-info") not in mine


IDENT_HOSTS = {kind: f"127.0.0.{20 + i}" for i, kind in enumerate(IDENT_REPLIES)}


def test_identd_replies_huge_malformed_partial_and_binary(tmp_path: Path) -> None:
    """auth-owners against identds answering 10 KB owners, lines of the wrong shape, a reply
    broken over two lines, half a line and binary owners: Nmap's results, byte for byte."""
    spec: list[dict[str, Any]] = [{"kind": "good", "addr": GOOD}]
    for kind, address in IDENT_HOSTS.items():
        spec += hostile(kind, address, (IDENT,)) + hostile("hello", address, (BANNER,))
    with Namespace(spec) as ns:
        _run, out, _ = scan_and_enrich(
            ns, tmp_path, (GOOD, *IDENT_HOSTS.values()), scripts="auth-owners,banner"
        )
        assert host_scripts(out.read_bytes())[GOOD] == {
            k: v for k, v in GOOD_EXPECTED.items() if k[1] in ("auth-owners", "banner")
        }
        found = host_scripts(out.read_bytes())
        # Nmap itself waits out its 30 s read on the half line when it scans these hosts
        # together (it returns at EOF alone), so the reference leaves that host out.
        compared = [a for kind, a in IDENT_HOSTS.items() if kind != "ident-partial"]
        ref = tmp_path / "nmap-ref.xml"
        ns.nmap(ref, "113,4242", *compared, extra=("--script", "auth-owners", "-d"))
        theirs = host_scripts(ref.read_bytes())
        for address in compared:
            mine = {k: v for k, v in found[address].items() if k[1] == "auth-owners"}
            assert mine == theirs[address], address
        long = found[IDENT_HOSTS["ident-long"]]
        assert long[(BANNER, "auth-owners")] == (
            b'<script id="auth-owners" output="' + b"u" * 10240 + b'"/>'
        )
        split = found[IDENT_HOSTS["ident-split"]][(BANNER, "auth-owners")]
        assert split == b'<script id="auth-owners" output="split-owner"/>'
        binary = found[IDENT_HOSTS["ident-binary"]][(BANNER, "auth-owners")]
        assert binary == (
            b'<script id="auth-owners" output="\\x00\\x01\\xFF&lt;&amp;&gt;&apos;&quot;\\x7F'
            b' bin\\x00ary&#x9;user"/>'
        )
        for kind in ("ident-malformed", "ident-partial"):
            assert (BANNER, "auth-owners") not in found[IDENT_HOSTS[kind]]
            assert (BANNER, "banner") in found[IDENT_HOSTS[kind]]  # the service itself answers


def test_single_connection_device_held_by_another_client(tmp_path: Path) -> None:
    """Another client holds the MAX! Cube's only connection: nmapx's probes queue behind it
    and give up cleanly within maxcube-info's timeout; once it lets go, a waiting probe is
    served and the Cube answers normally."""
    address = "127.0.0.30"
    with Namespace([{"kind": "good", "addr": GOOD}, {"kind": "cube", "addr": address}]) as ns:
        assert ns.command(f"hold {address} {CUBE}")["held"].startswith("H:KMD1016788,")
        held, out, _ = scan_and_enrich(ns, tmp_path, (GOOD, address))
        check_good_host(out)
        mine = host_scripts(out.read_bytes())[address]
        assert [k for k in mine if k[0] == CUBE] == []  # nothing from behind the holder
        assert (
            f"NSE: [maxcube-info {address}:62910] no greeting from {address}:62910 (TIMEOUT): "
            "another client may hold the Cube\n" in held.stderr
        )

        # a probe that waits longer than the holder stays: it is served once the Cube is free
        release_after = 2.0
        scan, waiting = tmp_path / "scan.xml", tmp_path / "waiting.xml"
        timer = threading.Timer(release_after, lambda: ns.command("release"))
        timer.start()
        try:
            served = ns.nmapx(
                str(scan), "--script", "maxcube-info", "--script-args", "maxcube-info.timeout=8s",
                "-oX", str(waiting), "-d",
                limit=STARTUP + 2 * 8.0,
            )  # fmt: skip
        finally:
            timer.join()
        assert served.returncode == 0, served.stderr
        assert served.wall >= release_after  # it could not have been served before
        assert host_scripts(waiting.read_bytes())[address] == {
            (CUBE, "maxcube-info"): GOOD_EXPECTED[(CUBE, "maxcube-info")]
        }


# ============================================================================ scope
SCOPE_PORT = 7000
#: The input's hosts; 127.0.0.6 is listed twice (Nmap scans a target named twice twice), the
#: second time without its name, and 127.0.0.9 (listening too) is not in the input at all.
SCOPE_HOSTS = [f"127.0.0.{n}" for n in range(2, 8)]
OUTSIDER = "127.0.0.9"
NAMES = {"127.0.0.6": ("victim.test", "user"), "127.0.0.7": ("ptr.example", "PTR")}
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    '<nmaprun scanner="nmap" args="nmap -sT -p 7000 127.0.0.2-7 victim.test" start="1700000000" '
    'version="7.93" xmloutputversion="1.05">\n'
    '<scaninfo type="connect" protocol="tcp" numservices="1" services="7000"/>\n'
    '<verbose level="0"/>\n<debugging level="0"/>\n'
)
HOST = (
    '<host starttime="1700000000" endtime="1700000001"><status state="up" reason="user-set" '
    'reason_ttl="0"/>\n<address addr="{addr}" addrtype="ipv4"/>\n<hostnames>\n{names}</hostnames>\n'
    '<ports><port protocol="tcp" portid="7000"><state state="open" reason="syn-ack" reason_ttl="0"/>'
    '<service name="afs3-fileserver" method="table" conf="3"/></port>\n</ports>\n'
    '<times srtt="100" rttvar="50" to="100000"/>\n</host>\n'
)
TAIL = (
    '<runstats><finished time="1700000002" timestr="x" summary="y" elapsed="2.00" exit="success"/>'
    '<hosts up="7" down="0" total="7"/>\n</runstats>\n</nmaprun>\n'
)
#: What the probe script tries: every address, the input's names and a name that is not one.
TARGETS = [*SCOPE_HOSTS, OUTSIDER, "victim.test", "ptr.example", "elsewhere.test"]

PROBE = f"""
\"\"\"Tries every target by TCP, UDP and comm (names with any_af); reports each outcome.\"\"\"
from nmapx.nse import comm, nmap, stdnse
from nmapx.engine.thread import ScopeError
from nmapx.nse.errors import SocketError

categories = ["safe"]
TARGETS = {TARGETS!r}


def postrule():
    return True


async def attempt(how, target):
    try:
        if how == "comm":
            return (await comm.exchange(target, {SCOPE_PORT}, "x", timeout=2000, any_af=True)).decode()
        sock = nmap.new_socket(how)
        sock.set_timeout(2000)
        try:
            await sock.connect(target, {SCOPE_PORT})
            if how == "udp":
                await sock.send("x")
        finally:
            sock.close()
        return "reached"
    except ScopeError as refusal:
        return f"refused: {{refusal}}"
    except SocketError as failure:
        return f"failed: {{failure}}"


async def action():
    out = stdnse.output_table()
    for target in TARGETS:
        for how in ("tcp", "udp", "comm"):
            out[f"{{target}} {{how}}"] = await attempt(how, target)
    return out
"""
#: The probe's longest wait per target: a TCP connect (2 s), a UDP send (2 s), and comm's
#: connect, send and read (2 s, then 4 s each: comm adds the connect timeout).
PROBE_WORST_CASE = 2.0 + 2.0 + (2.0 + 2 * 4.0)
#: A host script that lets the refusal propagate: the engine reports it on stderr.
WANDER = f"""
from nmapx.nse import nmap

categories = ["safe"]


def hostrule(host):
    return True


async def action(host):
    await nmap.new_socket().connect("{OUTSIDER}", {SCOPE_PORT})
    return "reached the outsider"
"""


def scope_scan(path: Path) -> Path:
    hosts = []
    for address in [*SCOPE_HOSTS, "127.0.0.6"]:  # the second 127.0.0.6 has no name
        name = NAMES.get(address) if len(hosts) < len(SCOPE_HOSTS) else None
        names = f'<hostname name="{name[0]}" type="{name[1]}"/>\n' if name else ""
        hosts.append(HOST.format(addr=address, names=names))
    path.write_text(HEAD + "".join(hosts) + TAIL)
    return path


def resolvers() -> list[str]:
    """The IPv4 name servers the C library would ask (127.0.0.1 when none is configured)."""
    try:
        text = Path("/etc/resolv.conf").read_text()
    except OSError:
        text = ""
    found = re.findall(r"^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$", text, re.M)
    return sorted(set(found) or {"127.0.0.1"})


def resolver_listeners() -> list[dict[str, Any]]:
    """Counting DNS listeners on the configured name servers' addresses, inside the namespace:
    any name lookup a script causes shows up as a datagram (or connection) there."""
    return [
        {"kind": "count", "addr": address, "port": 53, "proto": proto}
        for address in resolvers()
        for proto in ("tcp", "udp")
    ]


def lookups(stats: dict[str, dict[str, int]]) -> int:
    return sum(v["accepted"] + v["datagrams"] for k, v in stats.items() if ":53/" in k)


def scope_listeners() -> list[dict[str, Any]]:
    return [
        *(
            {"kind": "count", "addr": address, "port": SCOPE_PORT, "proto": proto}
            for address in [*SCOPE_HOSTS, OUTSIDER]
            for proto in ("tcp", "udp")
        ),
        *resolver_listeners(),
    ]


def postscript_table(xml: bytes) -> dict[str, str]:
    found = re.search(rb"<postscript>(.*?)</postscript>", xml, re.S)
    assert found is not None, xml[-2000:]
    return {
        html.unescape(key.decode()): html.unescape(value.decode())
        for key, value in re.findall(rb'<elem key="([^"]+)">([^<]*)</elem>', found[1])
    }


EXCLUDE_FILE = "# hosts we must never touch\n127.0.0.3 # the printer\n127.0.0.5-\n"
EXCLUSIONS = {
    # case: (nmapx options, Nmap's spelling or None, addresses excluded)
    "none": ((), (), set()),
    "cidr": (("--exclude", "127.0.0.4/31"), ("--exclude", "127.0.0.4/31"), {4, 5}),
    "octet-range": (("--exclude", "127.0.0.2-5"), ("--exclude", "127.0.0.2-5"), {2, 3, 4, 5}),
    "names": (("--exclude", "VICTIM.test.", "--exclude", "ptr.example"), None, {6, 7}),
    "file": (("--exclude-file", "{file}"), ("--excludefile", "{file}"), {3, 5, 6, 7}),
}


@pytest.mark.parametrize("case", EXCLUSIONS)
def test_scripts_reach_only_hosts_of_the_input_minus_exclusions(tmp_path: Path, case: str) -> None:
    """A script aiming at an address outside the input, at an excluded host (CIDR, octet
    range, the input's names, an exclude file with comments) or at a name nobody in the input
    carries is refused before any packet: those listeners count zero connections and zero
    datagrams, and the refusal is the script's result (caught) or on stderr (uncaught).

    The addresses left reachable are exactly those ``nmap -sL`` keeps with the same
    exclusions (names aside: Nmap would resolve them).
    """
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "probe.py").write_text(PROBE)
    (scripts / "wander.py").write_text(WANDER)
    exclude_file = tmp_path / "exclude.txt"
    exclude_file.write_text(EXCLUDE_FILE)
    ours, nmaps, numbers = EXCLUSIONS[case]
    ours = tuple(arg.format(file=exclude_file) for arg in ours)
    excluded = {f"127.0.0.{n}" for n in numbers}
    allowed = [a for a in SCOPE_HOSTS if a not in excluded]
    out = tmp_path / "out.xml"
    with Namespace(scope_listeners()) as ns:
        run = ns.nmapx(
            str(scope_scan(tmp_path / "scan.xml")), "--script", f"{scripts}/", "-oX", str(out),
            *ours, limit=STARTUP + len(TARGETS) * PROBE_WORST_CASE,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        stats = ns.stats()
        if nmaps is not None:
            listed = ns.run(
                "nmap", "-n", "-sL", "127.0.0.2-7", *(a.format(file=exclude_file) for a in nmaps),
                limit=60,
            )  # fmt: skip
            assert re.findall(r"Nmap scan report for (\S+)", listed.stdout.decode()) == allowed
    assert dtd_errors(out) == ""
    names = {name: address for address, (name, _) in NAMES.items()}
    expected: dict[str, str] = {}
    for target in TARGETS:
        address = names.get(target, target)
        if target == "elsewhere.test":
            refusal = f"{target} is not a name of a host of the input (nmapx never resolves names)"
        elif address in allowed:
            refusal = None
        else:
            refusal = f"{address} is not a host of the input (or is excluded)"
        for how, reached in (("tcp", "reached"), ("udp", "reached"), ("comm", "hi\r\n")):
            expected[f"{target} {how}"] = reached if refusal is None else f"refused: {refusal}"
    assert postscript_table(out.read_bytes()) == expected
    assert lookups(stats) == 0  # no name was ever resolved, not even the unknown one
    for address in [*SCOPE_HOSTS, OUTSIDER]:
        tries = 0 if address not in allowed else 1 + (address in names.values())
        assert stats[f"{address}:{SCOPE_PORT}/tcp"]["accepted"] == 2 * tries, address
        assert stats[f"{address}:{SCOPE_PORT}/udp"]["datagrams"] == tries, address
    for address in SCOPE_HOSTS:
        name = NAMES.get(address, ("", ""))[0]
        who = f"{name} ({address})" if name and NAMES[address][1] == "user" else address
        assert f"nmapx: wander against {who}: {OUTSIDER} is not a host of the input" in run.stderr
    assert "reached the outsider" not in out.read_text()


OFFLINE = """
\"\"\"An offline action: it only reads the scan.\"\"\"
from nmapx.nse import nmap

categories = ["safe"]


def hostrule(host):
    return True


def action(host):
    states = [
        f"{n}/tcp {nmap.get_port_state(host, {'number': n, 'protocol': 'tcp'}).state}"
        for n in (13, 113, 4242, 62910)
    ]
    return f"{host.ip}: " + ", ".join(states)
"""
NETUSER = """
\"\"\"Every way of touching the network, each refusal caught and reported.\"\"\"
from nmapx.nse import comm, nmap, stdnse
from nmapx.engine.thread import ScopeError

categories = ["safe"]


def hostrule(host):
    return True


async def action(host):
    out = stdnse.output_table()
    tries = {
        "tcp": lambda: nmap.new_socket().connect(host, 13),
        "udp": lambda: nmap.new_socket("udp").connect(host, 13),
        "name": lambda: nmap.new_socket().connect("localhost", 13),
        "comm": lambda: comm.exchange(host, 13, "x", timeout=1000),
    }
    for how, attempt in tries.items():
        try:
            await attempt()
            out[how] = "reached"
        except ScopeError as refusal:
            out[how] = str(refusal)
    return out
"""


def test_no_network_refuses_every_socket_but_runs_rules_and_offline_actions(
    tmp_path: Path,
) -> None:
    """``--no-network``: rules are evaluated and offline actions produce their results; every
    connect (TCP, UDP, by name, through comm) is refused with a message naming the target,
    and the listeners see nothing after the scan that produced the input."""
    address = "127.0.0.3"
    spec = [
        *hostile("count", address),
        {"kind": "count", "addr": address, "port": DAYTIME, "proto": "udp"},
        *resolver_listeners(),
    ]
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "offline.py").write_text(OFFLINE)
    (scripts / "netuser.py").write_text(NETUSER)
    out = tmp_path / "out.xml"
    with Namespace(spec) as ns:
        scan = tmp_path / "scan.xml"
        ns.nmap(scan, "13,113,4242,62910", address)
        before = ns.stats()
        run = ns.nmapx(
            str(scan), "--script", f"{SEED_SCRIPTS},{scripts}/", "--no-network", "-d",
            "-oX", str(out), limit=STARTUP,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert ns.stats() == before  # not one connection, not one datagram
    assert dtd_errors(out) == ""
    xml = out.read_bytes()
    assert host_scripts(xml)[address] == {}  # the seed scripts all need the network
    hostscript = re.search(rb"<hostscript>(.*?)</hostscript>", xml, re.S)
    assert hostscript is not None
    assert re.findall(rb'<script id="offline" output="([^"]*)"', hostscript[1]) == [
        b"127.0.0.3: 13/tcp open, 113/tcp open, 4242/tcp open, 62910/tcp open"
    ]
    refused = f"network access refused (--no-network): {address}"
    netuser = {
        key: html.unescape(value)  # Nmap writes "--" as "-&#45;"
        for key, value in re.findall(r'<elem key="(\w+)">([^<]*)</elem>', hostscript[1].decode())
    }
    assert netuser == {
        "tcp": refused,
        "udp": refused,
        "name": "network access refused (--no-network): localhost",
        "comm": refused,
    }
    for port, script in [
        (13, "daytime"),
        (4242, "banner"),
        (4242, "auth-owners"),
        (62910, "maxcube-info"),
    ]:
        who = f"{script} against {address}:{port}"
        assert f"NSE: Starting {who}.\n" in run.stderr  # the rule ran, and matched
        assert f"nmapx: {who}: {refused}\n" in run.stderr


if __name__ == "__main__":
    serve_main(sys.argv[2])
    sys.exit(0)
