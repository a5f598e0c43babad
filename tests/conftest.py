"""Shared test fixtures: the corpus, running the real CLI, and loopback listeners."""

from __future__ import annotations

import asyncio
import functools
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("NMAPX_CORPUS", ROOT.parent / "shared" / "corpus" / "nmap-xml"))
NMAP_DTD = Path("/usr/share/nmap/nmap.dtd")

#: Files that were re-indented or re-saved by tools other than Nmap (SOURCES.md).
RESAVED = {"xml_test3.xml", "xml_test10.xml", "xml_test16.xml", "xml_test17.xml"}


def corpus_files(broken: bool = False) -> list[Path]:
    if not CORPUS.is_dir():
        return []
    files = sorted(CORPUS.rglob("*.xml"))
    return [f for f in files if ("broken" in f.parts) == broken]


def corpus_id(path: Path) -> str:
    return str(path.relative_to(CORPUS))


def run_nmapx(
    *args: str, input: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """Run the real command line, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "nmapx", *args],
        input=input,
        capture_output=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def nmapx_main(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """The command line run in-process (:func:`nmapx.cli.main`), as :func:`run_nmapx` runs it
    in a subprocess: the same arguments, and back the same stdout, stderr and exit status.

    Faster (no interpreter start, no imports per call), and a debugger or a traceback reaches
    the code under test. Process-level behaviour (signals, pipes, the console script) stays
    with :func:`run_nmapx`.
    """
    from nmapx.cli import main

    out, err = io.BytesIO(), io.BytesIO()
    stdin = io.TextIOWrapper(io.BytesIO(input or b""), encoding="utf-8")
    stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
    try:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors and --help
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        stdout.flush()
        stderr.flush()
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    return subprocess.CompletedProcess(["nmapx", *args], code, out.getvalue(), err.getvalue())


def in_script_thread(
    body: Callable[[], Awaitable[Any]],
    *,
    script_args: str = "",
    verbosity: int = 0,
    debugging: int = 0,
    script_trace: bool = False,
    no_network: bool = False,
    allowed: Callable[[str], bool] | None = None,
    phase: str = "prerule",
    limit: float = 60,
) -> tuple[Any, str]:
    """Run ``body`` as a script thread of a fresh run, bounded by ``limit`` seconds; returns
    (its result, the NSE messages it printed). The library's unit tests need a script thread
    (the library reads settings, scope and the trace switch from it), not a whole run."""
    from nmapx.engine.scriptargs import parse_script_args
    from nmapx.engine.thread import CURRENT, RunContext, RunSettings, ScriptThread

    stream = io.StringIO()
    settings = RunSettings(
        verbosity=verbosity,
        debugging=debugging,
        script_trace=script_trace,
        script_args=parse_script_args(script_args),
        no_network=no_network,
        stream=stream,
    )
    thread = ScriptThread(script_id="t", phase=phase, engine=RunContext(settings, allowed=allowed))

    async def main() -> Any:
        CURRENT.set(thread)
        try:
            return await asyncio.wait_for(body(), limit)
        finally:
            thread.release_resources()

    return asyncio.run(main()), stream.getvalue()


_SCAN_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    '<nmaprun scanner="nmap" args="nmap -sT 127.0.0.1" start="1700000000" version="7.93"'
    ' xmloutputversion="1.05">\n'
    '<scaninfo type="connect" protocol="tcp" numservices="{count}" services="{services}"/>\n'
    '<verbose level="0"/>\n<debugging level="0"/>\n'
    '<host starttime="1700000000" endtime="1700000001">'
    '<status state="up" reason="user-set" reason_ttl="0"/>\n'
    '<address addr="127.0.0.1" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n<ports>'
)
_SCAN_PORT = (
    '<port protocol="tcp" portid="{port}"><state state="open" reason="syn-ack" reason_ttl="0"/>'
    '<service name="{service}" method="table" conf="3"/></port>\n'
)
_SCAN_TAIL = (
    '</ports>\n<times srtt="100" rttvar="50" to="100000"/>\n</host>\n'
    '<runstats><finished time="1700000002" timestr="x" summary="y" elapsed="2.00"'
    ' exit="success"/><hosts up="1" down="0" total="1"/>\n</runstats>\n</nmaprun>\n'
)


def loopback_scan(path: Path, ports: list[int], service: str = "http") -> Path:
    """A plain ``nmap -sT`` scan of 127.0.0.1 listing ``ports`` as open, the service named by
    the port table (no -sV): the input a test hands nmapx for servers it started itself."""
    body = "".join(_SCAN_PORT.format(port=p, service=service) for p in ports)
    head = _SCAN_HEAD.format(count=len(ports), services=",".join(map(str, ports)))
    path.write_text(head + body + _SCAN_TAIL)
    return path


def dtd_errors(path: Path) -> str:
    """xmllint's complaints about ``path`` against Nmap's DTD ('' when valid)."""
    result = subprocess.run(
        ["xmllint", "--noout", "--nonet", "--dtdvalid", str(NMAP_DTD), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return "" if result.returncode == 0 else result.stderr


needs_nmap = pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
needs_xmllint = pytest.mark.skipif(
    shutil.which("xmllint") is None or not NMAP_DTD.exists(),
    reason="xmllint or /usr/share/nmap/nmap.dtd missing (apt-get install libxml2-utils nmap)",
)


class Listener:
    """A TCP listener on loopback that accepts, optionally sends a banner, and closes.

    Every accepted connection is handled within a bounded time; ``connections`` counts them
    so tests can prove that nothing connected.
    """

    def __init__(self, banner: bytes = b"", host: str = "127.0.0.1", port: int = 0) -> None:
        self.banner = banner
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(1)
                try:
                    if self.banner:
                        conn.sendall(self.banner)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener_factory() -> Iterator[type[Listener]]:
    made: list[Listener] = []

    def make(*args: object, **kwargs: object) -> Listener:
        listener = Listener(*args, **kwargs)  # type: ignore[arg-type]
        made.append(listener)
        return listener

    yield make  # type: ignore[misc]
    for listener in made:
        listener.close()


# =============================================================================== private network
@functools.cache
def _private_network_unavailable() -> str | None:
    from fixtures.netns import unavailable

    return unavailable()


@pytest.fixture
def private_network() -> Iterator[Any]:
    """A fresh :class:`fixtures.netns.PrivateNetwork` (``lo`` up), closed after the test.

    Servers made under ``with private_network.entered():`` live in it on any port (443, 25,
    80: nothing else can hold them, so no test skips because a port is taken), and so does
    everything started in that block: nmapx in-process, and real Nmap as a subprocess (a
    child inherits the namespace of the thread that forks it). Skips only where namespaces
    cannot be made at all (not root, no util-linux), never by chance.
    """
    reason = _private_network_unavailable()
    if reason is not None:
        pytest.skip(reason)
    from fixtures.netns import PrivateNetwork

    with PrivateNetwork(lifetime=600) as network:
        yield network


@pytest.fixture
def in_private_network(private_network: Any) -> Iterator[Any]:
    """The test itself runs inside :func:`private_network` (its fixtures that depend on this
    one too): servers it makes, nmapx in-process and Nmap as a subprocess all share the
    namespace, and the test's thread leaves it before the namespace is closed."""
    with private_network.entered():
        yield private_network


_REPORT = re.compile(rb"Nmap scan report for (\S+)")
_PORT_LINE = re.compile(rb"(\d+)/(tcp|udp|sctp) ")


def normal_script_blocks(
    text: bytes, ids: Iterable[str] | None = None
) -> dict[tuple[str, int, str], bytes]:
    """(address, port, script id) -> that script's ``|`` lines of Nmap's normal output (-oN),
    in the order written, for the scripts in ``ids`` (every script when None).

    A port's script blocks follow its port line; each block ends with its one ``|_`` line,
    so the line after it (or after the port line) starts the next block, ``| ID: ...`` or
    ``|_ID: ...``. Host script results (after no port line) are left out.
    """
    wanted = None if ids is None else set(ids)
    found: dict[tuple[str, int, str], bytes] = {}
    host, port, script = "", 0, ""
    for line in text.split(b"\n"):
        report = _REPORT.match(line)
        if report:
            host, port, script = report[1].decode(), 0, ""
            continue
        number = _PORT_LINE.match(line)
        if number:
            port, script = int(number[1]), ""
            continue
        if not line.startswith(b"|"):  # the end of the port's lines
            port, script = 0, ""
            continue
        if not port:  # host script results
            continue
        if not script:
            script = line[2:].split(b":", 1)[0].decode(errors="replace")
        if wanted is None or script in wanted:
            key = (host, port, script)
            found[key] = found.get(key, b"") + line + b"\n"
        if line.startswith(b"|_"):
            script = ""
    return found
