"""Ctrl-C and SIGTERM during ``nmapx run``: real processes, real signals, real loopback probes.

Each test starts the real command line, waits for a precise moment (a probe connected to a
listener that never answers, a pre-rule running, a host written), sends a real signal with
``os.kill`` (or to a whole process group, as a terminal does) and checks the exit status, the
exact stderr lines and the exact bytes written. Every wait is bounded.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import ROOT, dtd_errors, needs_nmap, needs_xmllint
from lxml import etree

from nmapx.interrupt import GRACE_SECONDS

NOTICE = (
    "nmapx: {sig}: no new probes; finishing those in flight (at most 2 s) and passing the rest"
    " through (interrupt again to quit at once)"
)
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    '<nmaprun scanner="nmap" args="nmap -sT 127.0.0.1" start="1700000000" version="7.93"'
    ' xmloutputversion="1.05">\n<scaninfo type="connect" protocol="tcp" numservices="65535"'
    ' services="1-65535"/>\n<verbose level="0"/>\n<debugging level="0"/>\n'
)
HOST = (
    '<host starttime="1700000000" endtime="1700000001"><status state="up" reason="user-set"'
    ' reason_ttl="0"/>\n<address addr="127.0.0.1" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n'
    '<ports><port protocol="tcp" portid="{port}"><state state="open" reason="syn-ack"'
    ' reason_ttl="0"/><service name="x" method="table" conf="3"/></port>\n</ports>\n'
    '<times srtt="100" rttvar="50" to="100000"/>\n</host>\n'
)
TAIL = (
    '<runstats><finished time="1700000002" timestr="x" summary="y" elapsed="2.00"'
    ' exit="success"/><hosts up="1" down="0" total="1"/>\n</runstats>\n</nmaprun>\n'
)
#: A port script that reads one line, waiting up to a minute: against a silent listener its
#: probe is in flight for as long as the test wants.
GRAB = '''
    """Reads one line from every open TCP port (test script)."""
    from nmapx.nse import nmap

    categories = ["safe"]


    def portrule(host, port):
        return port.protocol == "tcp" and port.state == "open"


    async def action(host, port):
        sock = nmap.new_socket()
        sock.set_timeout(60000)
        try:
            await sock.connect(host, port)
            line = await sock.receive_lines(1)
        finally:
            sock.close()
        return "got " + line.decode().strip()
'''
#: A pre-rule that says it has started (a file) and then sleeps for a minute.
SLOW_PRERULE = '''
    """Sleeps in the pre-scanning phase (test script)."""
    import os
    from pathlib import Path

    from nmapx.nse import stdnse

    categories = ["safe"]


    def prerule():
        return True


    async def action():
        Path(os.environ["NMAPX_TEST_MARK"]).write_text("started")
        await stdnse.sleep(60)
        return "never"
'''


def host(port: int) -> str:
    return HOST.format(port=port)


def end_of(sent: str) -> tuple[int, int]:
    """(line, byte offset) of the end of the last ``</host>`` in ``sent``: where a cut pipe
    stopped (the newline after a piece travels with the next one)."""
    complete = sent.rstrip("\n")
    return complete.count("\n") + 1, len(complete.encode())


def enriched(port: int) -> str:
    """What nmapx writes for ``host(port)`` once GRAB has read "hello" there."""
    return host(port).replace(
        'conf="3"/></port>', 'conf="3"/><script id="grab" output="got hello"/></port>'
    )


class Service:
    """A loopback TCP listener: sends ``banner`` and closes, or (b"") accepts and holds the
    connection open without a word until the test ends. Counts connections."""

    def __init__(self, banner: bytes = b"", address: str = "127.0.0.1", port: int = 0) -> None:
        self.banner = banner
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
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
            if not self.banner:
                self.held.append(conn)
                continue
            with conn:
                try:
                    conn.sendall(self.banner)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def services() -> Iterator[Callable[..., Service]]:
    made: list[Service] = []

    def make(banner: bytes = b"", address: str = "127.0.0.1", port: int = 0) -> Service:
        service = Service(banner, address, port)
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Nmapx:
    """The real command line in a child process, its output collected by two threads."""

    def __init__(
        self,
        *args: str,
        stdin: int | None = subprocess.DEVNULL,
        env: dict[str, str] | None = None,
        collect_stdout: bool = True,
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nmapx", *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=env,
        )
        self.out = bytearray()
        self.err = bytearray()
        self._threads = [threading.Thread(target=self._drain, args=(self.proc.stderr, self.err))]
        if collect_stdout:
            self._threads.append(
                threading.Thread(target=self._drain, args=(self.proc.stdout, self.out))
            )
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    @staticmethod
    def _drain(stream: object, into: bytearray) -> None:
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]
            into.extend(chunk)

    def send(self, data: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data.encode())
        self.proc.stdin.flush()

    def signal(self, signum: int) -> None:
        os.kill(self.proc.pid, signum)

    def finish(self, timeout: float = 30) -> tuple[int, bytes, list[str]]:
        try:
            status = self.proc.wait(timeout=timeout)
        finally:
            self.proc.kill()
            self.proc.wait(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        return status, bytes(self.out), self.err.decode().splitlines()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=5)


@pytest.fixture
def grab(tmp_path: Path) -> str:
    path = tmp_path / "scripts" / "grab.py"
    path.parent.mkdir()
    path.write_text(textwrap.dedent(GRAB))
    return str(path)


def test_sigint_cancels_probes_in_flight_and_probes_nothing_new(
    services: Callable[..., Service], grab: str
) -> None:
    """A pipe: host 1 answers, host 2's probe hangs when SIGINT comes, hosts 3-4 come after."""
    fast, silent = services(b"hello\r\n"), services()
    run = Nmapx("run", "-", "--script", grab, "-oX", "-", stdin=subprocess.PIPE)
    try:
        run.send(HEAD + host(fast.port) + host(silent.port))
        wait_for(lambda: silent.connections == 1, "the probe of host 2")
        wait_for(lambda: enriched(fast.port).rstrip("\n").encode() in run.out, "host 1")
        run.signal(signal.SIGINT)
        run.send(host(fast.port) + host(fast.port) + TAIL)
        run.proc.stdin.close()  # type: ignore[union-attr]
        status, out, err = run.finish()
    finally:
        run.kill()
    assert status == 130
    assert out.decode() == (
        HEAD + enriched(fast.port) + host(silent.port) + host(fast.port) * 2 + TAIL
    )
    assert err == [
        NOTICE.format(sig="SIGINT"),
        "nmapx: interrupted by SIGINT: 1 host enriched, 3 passed through unchanged"
        " (1 of them cut off mid-probe)",
    ]
    assert fast.connections == 1  # hosts 3 and 4 were never probed
    assert silent.connections == 1


@needs_xmllint
def test_sigterm_stops_reading_a_pipe_that_does_not_end(
    services: Callable[..., Service], grab: str, tmp_path: Path
) -> None:
    """Only nmapx gets SIGTERM; its producer stays alive: after the grace period nmapx
    closes the document after the last complete host, validly, and exits 143."""
    fast, silent = services(b"hello\r\n"), services()
    out_file = tmp_path / "out.xml"
    run = Nmapx("run", "--script", grab, "-oX", str(out_file), stdin=subprocess.PIPE)
    try:
        run.send(HEAD + host(fast.port) + host(silent.port))
        wait_for(lambda: silent.connections == 1 and fast.connections == 1, "both probes")
        run.signal(signal.SIGTERM)
        status, _, err = run.finish()  # stdin stays open: the "scan" never ends
    finally:
        run.kill()
    assert status == 143
    prefix = HEAD + enriched(fast.port) + host(silent.port).rstrip("\n")
    line, offset = end_of(HEAD + host(fast.port) + host(silent.port))
    assert err == [
        NOTICE.format(sig="SIGTERM"),
        f"nmapx: <stdin>:{line}: warning: reading stopped after the interrupt (the input had"
        f" not ended); the output ends after the last complete piece (byte {offset})",
        "nmapx: interrupted by SIGTERM: 1 host enriched, 1 passed through unchanged"
        " (1 of them cut off mid-probe)",
    ]
    written = out_file.read_text()
    assert written.startswith(prefix)
    runstats = etree.fromstring(written.encode()).find("runstats/finished")
    assert runstats.get("exit") == "error"
    assert runstats.get("errormsg") == (
        f"nmapx: input ended early (line {line}, byte {offset}); 2 complete host(s) kept"
    )
    assert dtd_errors(out_file) == ""
    assert sorted(os.listdir(tmp_path)) == ["out.xml", "scripts"]


def test_sigint_without_scripts_cuts_a_silent_pipe_after_the_grace_period() -> None:
    """The synchronous path blocks in a read of the pipe; SIGINT still ends it in bounded
    time, with every host read so far and a valid end."""
    run = Nmapx("run", "-oX", "-", stdin=subprocess.PIPE)
    try:
        run.send(HEAD + host(1) + host(2))
        wait_for(lambda: host(2).rstrip("\n").encode() in run.out, "host 2 to be written")
        started = time.monotonic()
        run.signal(signal.SIGINT)
        status, out, err = run.finish()
        waited = time.monotonic() - started
    finally:
        run.kill()
    assert status == 130
    assert waited >= GRACE_SECONDS * 0.9  # the pipe was given its grace period
    text = out.decode()
    assert text.startswith(HEAD + host(1) + host(2).rstrip("\n") + "\n<runstats>")
    assert text.endswith("</runstats>\n</nmaprun>\n")
    etree.fromstring(out)  # well-formed
    assert err[0] == NOTICE.format(sig="SIGINT")
    line, offset = end_of(HEAD + host(1) + host(2))
    assert err[1] == (
        f"nmapx: <stdin>:{line}: warning: reading stopped after the interrupt (the input had"
        f" not ended); the output ends after the last complete piece (byte {offset})"
    )
    assert err[2] == "nmapx: interrupted by SIGINT: 0 hosts enriched, 2 passed through unchanged"


def test_sigint_during_prerules_passes_a_file_through_to_its_end(tmp_path: Path) -> None:
    """The file is read to its end and written whole, unenriched; the pre-rule is cancelled."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "slow_start.py").write_text(textwrap.dedent(SLOW_PRERULE))
    source = tmp_path / "scan.xml"
    source.write_text(HEAD + host(7) + host(8) + host(9) + TAIL)
    mark = tmp_path / "mark"
    out_file = tmp_path / "out.xml"
    out_file.write_bytes(b"previous")
    env = dict(os.environ, NMAPX_TEST_MARK=str(mark))
    run = Nmapx("run", str(source), "--script", f"{scripts}/", "-oX", str(out_file), env=env)
    try:
        wait_for(mark.exists, "the pre-rule to start")
        run.signal(signal.SIGINT)
        status, _, err = run.finish()
    finally:
        run.kill()
    assert status == 130
    assert out_file.read_bytes() == source.read_bytes()  # no <prescript>, every host
    assert err == [
        NOTICE.format(sig="SIGINT"),
        "nmapx: interrupted by SIGINT: 0 hosts enriched, 3 passed through unchanged",
    ]


def test_sigint_on_a_file_keeps_every_finished_host(
    services: Callable[..., Service], grab: str, tmp_path: Path
) -> None:
    """All hosts of a file start at once; those whose probes finished stay enriched, even
    after the one still in flight, which is written unchanged."""
    fast, silent = services(b"hello\r\n"), services()
    order = [fast.port, fast.port, silent.port, fast.port]
    source = tmp_path / "scan.xml"
    source.write_text(HEAD + "".join(host(port) for port in order) + TAIL)
    out_file = tmp_path / "out.xml"
    normal_file = tmp_path / "out.nmap"
    run = Nmapx("run", str(source), "--script", grab, "-oX", str(out_file), "-oN", str(normal_file))
    try:
        wait_for(lambda: fast.connections == 3 and silent.connections == 1, "all four probes")
        run.signal(signal.SIGINT)
        status, _, err = run.finish()
    finally:
        run.kill()
    assert status == 130
    expected = "".join(host(port) if port == silent.port else enriched(port) for port in order)
    assert out_file.read_text() == HEAD + expected + TAIL
    assert normal_file.read_text().count("|_grab: got hello") == 3
    assert err == [
        NOTICE.format(sig="SIGINT"),
        "nmapx: interrupted by SIGINT: 3 hosts enriched, 1 passed through unchanged"
        " (1 of them cut off mid-probe)",
    ]


def test_a_second_sigint_quits_at_once_and_leaves_the_old_output(
    services: Callable[..., Service], grab: str, tmp_path: Path
) -> None:
    silent = services()
    source = tmp_path / "scan.xml"
    source.write_text(HEAD + host(silent.port) + TAIL)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out_file = out_dir / "scan.xml"
    out_file.write_bytes(b"the previous enrichment")
    run = Nmapx("run", str(source), "--script", grab, "-oX", str(out_file))
    try:
        wait_for(lambda: silent.connections == 1, "the probe")
        assert len(os.listdir(out_dir)) == 2  # the temporary file is being written
        run.signal(signal.SIGINT)
        wait_for(lambda: b"interrupt again" in run.err, "the first notice")
        run.signal(signal.SIGINT)
        status, _, err = run.finish()
    finally:
        run.kill()
    assert status == 130
    assert err == [
        NOTICE.format(sig="SIGINT"),
        "nmapx: SIGINT again: quitting at once; outputs being written were discarded (files"
        " they would have replaced are untouched)",
    ]
    assert out_file.read_bytes() == b"the previous enrichment"
    assert os.listdir(out_dir) == ["scan.xml"]


def test_sigint_without_scripts_reads_a_file_to_its_end(tmp_path: Path) -> None:
    """The synchronous path, interrupted while it is blocked writing to a full pipe: the
    whole file still comes out, byte for byte."""
    source = tmp_path / "big.xml"
    subprocess.run(
        [sys.executable, "bench/gen_nmap_xml.py", "--hosts", "400", "-o", str(source)],
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    run = Nmapx("run", str(source), "-oX", "-", collect_stdout=False)
    try:
        assert run.proc.stdout is not None
        head = run.proc.stdout.read(1 << 16)  # nmapx now fills the pipe and blocks
        run.signal(signal.SIGINT)
        rest = run.proc.stdout.read()
        status, _, err = run.finish()
    finally:
        run.kill()
    assert status == 130
    assert head + rest == source.read_bytes()
    assert err == [
        NOTICE.format(sig="SIGINT"),
        "nmapx: interrupted by SIGINT: 0 hosts enriched, 400 passed through unchanged",
    ]


@needs_nmap
@needs_xmllint
def test_ctrl_c_reaches_a_live_nmap_and_nmapx_alike(
    services: Callable[..., Service], grab: str, tmp_path: Path
) -> None:
    """``nmap -oX - | nmapx run``, Ctrl-C to the whole process group as a terminal sends it:
    Nmap dies mid-scan, nmapx keeps every host it got, enriched, and closes the file validly."""
    service = services(b"hello\r\n")
    out_file = tmp_path / "live.xml"
    nmap = subprocess.Popen(
        [
            *("nmap", "-n", "-Pn", "-sT", "-p", str(service.port), "--max-hostgroup", "1"),
            *("--scan-delay", "300ms", "-oX", "-", "127.0.0.1-60"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        process_group=0,  # a group of its own, which nmapx joins: the terminal's job
    )
    assert nmap.stdout is not None
    nmapx = subprocess.Popen(
        [sys.executable, "-m", "nmapx", "run", "--script", grab, "-oX", str(out_file)],
        stdin=nmap.stdout,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        process_group=nmap.pid,
    )
    nmap.stdout.close()
    try:
        # Nmap's own connect scan of the port, then nmapx's probe
        wait_for(lambda: service.connections == 2, "the probe of 127.0.0.1")
        time.sleep(0.7)  # Nmap goes on to the next hosts (one every 300 ms)
        os.killpg(nmap.pid, signal.SIGINT)
        status = nmapx.wait(timeout=30)
        assert nmap.wait(timeout=30) != 0
        err = nmapx.stderr.read().decode().splitlines()  # type: ignore[union-attr]
    finally:
        for proc in (nmap, nmapx):
            proc.kill()
            proc.wait(timeout=5)
    assert status == 130
    assert dtd_errors(out_file) == ""
    document = etree.parse(str(out_file)).getroot()
    hosts = document.findall("host")
    assert 2 <= len(hosts) < 60
    assert [h.find("address").get("addr") for h in hosts] == [
        f"127.0.0.{n}" for n in range(1, len(hosts) + 1)
    ]
    scripts = document.findall("host/ports/port/script")
    assert [(s.get("id"), s.get("output")) for s in scripts] == [("grab", "got hello")]
    assert document.find("runstats/finished").get("exit") == "error"
    # Nmap's end of file races with the notice: the two lines may come in either order
    notice, ended = sorted(err[:2], key=lambda line: "input ended early" in line)
    assert notice == NOTICE.format(sig="SIGINT")
    assert re.fullmatch(
        rf"nmapx: <stdin>:\d+:\d+: error: input ended early( inside <\w+> \(started at line"
        rf" \d+\))?: {len(hosts)} complete host\(s\) kept \(byte \d+\)",
        ended,
    ), ended
    assert err[2] == (
        f"nmapx: interrupted by SIGINT: {len(hosts)} hosts enriched, 0 passed through unchanged"
    )
