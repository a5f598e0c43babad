"""``nmapx run --workers N`` / ``--scheduler``: the same bytes as one process, and its faults.

Every cluster here is Dask's own, on 127.0.0.1 (or inside a private network namespace the
test made) with ephemeral ports: a ``LocalCluster`` of two worker processes started by nmapx
itself, or a ``dask scheduler`` and two ``dask worker`` processes the test starts and stops
by PID. Each run is compared byte for byte with the same run in one process.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, corpus_files, nmapx_main

from nmapx.cluster.registry import Change, apply, change, portable

pytest.importorskip("distributed")

#: Two workers, small batches so that every input is spread over several of them.
CLUSTER = ("--workers", "2", "--batch-size", "2", "--worker-threads", "2")

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    '<nmaprun scanner="nmap" args="nmap -sT 10.0.0.0/24" start="1700000000" version="7.93"'
    ' xmloutputversion="1.05">\n<scaninfo type="connect" protocol="tcp" numservices="3"'
    ' services="{services}"/>\n<verbose level="0"/>\n<debugging level="0"/>\n'
)
HOST = (
    '<host starttime="1700000000" endtime="1700000001"><status state="up" reason="user-set"'
    ' reason_ttl="0"/>\n<address addr="{address}" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n'
    '<ports>{ports}</ports>\n<times srtt="100" rttvar="50" to="100000"/>\n</host>\n'
)
PORT = (
    '<port protocol="{protocol}" portid="{port}"><state state="open" reason="syn-ack"'
    ' reason_ttl="0"/><service name="{service}" method="table" conf="3"/></port>\n'
)
TAIL = (
    '<runstats><finished time="1700000002" timestr="x" summary="y" elapsed="2.00"'
    ' exit="success"/><hosts up="{count}" down="0" total="{count}"/>\n</runstats>\n</nmaprun>\n'
)


def scan(path: Path, hosts: list[tuple[str, list[tuple[int, str]]]], protocol: str = "tcp") -> Path:
    """A plain ``-sT`` scan of ``hosts``: (address, [(port, service), ...])."""
    services = sorted({port for _, ports in hosts for port, _ in ports})
    body = "".join(
        HOST.format(
            address=address,
            ports="".join(PORT.format(protocol=protocol, port=p, service=s) for p, s in ports),
        )
        for address, ports in hosts
    )
    text = HEAD.format(services=",".join(map(str, services)) or "1") + body
    path.write_text(text + TAIL.format(count=len(hosts)))
    return path


def script(path: Path, source: str) -> str:
    path.write_text(textwrap.dedent(source))
    return str(path)


#: An offline script with every rule kind: the registry crosses hosts (pre-rules fill it,
#: hosts add to it, post-rules report it), new targets are offered, sockets are refused.
CROSSHOST = '''
    """Crosses hosts through the registry and new targets (test script)."""
    from nmapx.nse import nmap, stdnse, target

    categories = ["safe"]


    def prerule():
        return True


    def hostrule(host):
        return True


    def portrule(host, port):
        return port.state == "open"


    def postrule():
        return True


    async def action(host=None, port=None):
        if host is None and "crosshost" not in nmap.registry:
            nmap.registry["crosshost"] = {"pre": "set before the first host", "hosts": []}
            return "registry made"
        if host is None:
            seen = nmap.registry["crosshost"]
            table = stdnse.output_table()
            table["hosts"] = seen["hosts"]
            table["ports"] = sorted(nmap.registry.get("crosshost-ports", set()))
            table["last"] = nmap.registry.get("crosshost-last")
            return table
        if port is not None:
            nmap.registry.setdefault("crosshost-ports", set()).add(port.number)
            return f"{port.number}/{port.protocol} {port.service}"
        nmap.registry["crosshost"]["hosts"].append(host.ip)
        nmap.registry["crosshost-last"] = host.ip
        last = int(host.ip.rsplit(".", 1)[1])
        if host.ip.startswith("10.0.0.") and last % 2:
            target.add(f"10.99.0.{last}", [(22, "tcp")])
        try:
            await nmap.new_socket().connect(host.ip, 1)
            contact = "connected"
        except Exception as exc:
            contact = type(exc).__name__
        return f"pre said: {nmap.registry['crosshost']['pre']}; contact: {contact}"
'''

#: Kills the worker process it runs in, on one host: once (a marker file says it happened)
#: or, with ``killer.always``, every time.
KILLER = '''
    """Kills its own process on 10.0.0.4 (test script)."""
    import os
    import signal

    from nmapx.nse import stdnse

    categories = ["safe"]


    def hostrule(host):
        return True


    def action(host):
        marker = stdnse.get_script_args("killer.marker")
        always = stdnse.get_script_args("killer.always")
        if host.ip == "10.0.0.4" and (always or (marker and not os.path.exists(marker))):
            if marker:
                open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return f"ran on {host.ip}"
'''

#: Which network namespace the script ran in.
WHEREAMI = '''
    """Names the network namespace it runs in (test script)."""
    import os

    categories = ["safe"]


    def hostrule(host):
        return True


    def action(host):
        return os.readlink("/proc/thread-self/ns/net")
'''

#: Reads one line from every open TCP port, waiting up to a minute.
GRAB = '''
    """Reads one line from every open TCP port (test script)."""
    from nmapx.nse import nmap

    categories = ["safe"]


    def portrule(host, port):
        return port.protocol == "tcp" and port.state == "open"


    async def action(host, port):
        sock = nmap.new_socket()
        sock.set_timeout(60000)
        await sock.connect(host, port)
        line = await sock.receive_lines(1)
        sock.close()
        return "got " + line.decode().strip()
'''


def outputs(tmp_path: Path, name: str) -> list[str]:
    return ["-oX", str(tmp_path / f"{name}.xml"), "-oN", str(tmp_path / f"{name}.nmap")]


def same_files(tmp_path: Path, one: str, two: str) -> None:
    for suffix in (".xml", ".nmap"):
        first = (tmp_path / (one + suffix)).read_bytes()
        assert first == (tmp_path / (two + suffix)).read_bytes(), suffix


# ====================================================================== byte-identical output
def test_corpus_sample_is_byte_identical_to_one_process(tmp_path: Path) -> None:
    files = corpus_files()
    if not files:
        pytest.skip("the shared corpus is not here")
    sample, names = [], set()
    for path in files[::9]:
        if path.name not in names:
            names.add(path.name)
            sample.append(str(path))
    crosshost = script(tmp_path / "crosshost.py", CROSSHOST)
    common = ["run", *sample, "--script", crosshost, "--no-network", "-oN", "-"]
    one = nmapx_main(*common, "--outdir", str(tmp_path / "one"))
    two = nmapx_main(*common, "--outdir", str(tmp_path / "two"), *CLUSTER)
    assert (two.returncode, two.stderr) == (one.returncode, one.stderr)
    assert two.stdout == one.stdout
    assert b"pre said: set before the first host; contact: ScopeError" in one.stdout
    for path in sample:
        name = Path(path).name
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()


def test_prerules_postrules_registry_and_new_targets(tmp_path: Path) -> None:
    """Pre-rules run once before the first batch, post-rules once after the last; the
    workers' registries merge in input order; new targets (one of them excluded) run after
    the input's hosts; --no-network holds on every worker."""
    hosts = [(f"10.0.0.{n}", [(22, "ssh"), (80 + n, "http")]) for n in range(1, 10)]
    source = scan(tmp_path / "scan.xml", hosts)
    crosshost = script(tmp_path / "crosshost.py", CROSSHOST)
    common = [
        "run", str(source), "--script", crosshost, "--script-args", "newtargets",
        "--exclude", "10.99.0.5", "--no-network", "-v",
    ]  # fmt: skip
    one = nmapx_main(*common, *outputs(tmp_path, "one"))
    two = nmapx_main(*common, *outputs(tmp_path, "two"), *CLUSTER)
    assert one.returncode == two.returncode == 0
    same_files(tmp_path, "one", "two")
    normal = (tmp_path / "two.nmap").read_text()
    post = normal[normal.index("Post-scan script results:") :]
    assert post.startswith(
        "Post-scan script results:\n| crosshost: \n|   hosts: \n|     10.0.0.1\n"
    )
    ips = re.findall(r"^\|     (10\.\S+)$", post, re.M)
    assert ips == [h for h, _ in hosts] + ["10.99.0.1", "10.99.0.3", "10.99.0.7", "10.99.0.9"]
    assert "|   ports: \n|     22\n|     81\n" in post
    assert "|_  last: 10.99.0.9" in post
    assert normal.count("Pre-scan script results:\n|_crosshost: registry made") == 1
    assert "contact: ScopeError" in normal and "contact: connected" not in normal
    # NSE's -v messages: the same lines (their order among hosts is timing's, in both runs)
    assert sorted(_untimed(one.stderr)) == sorted(_untimed(two.stderr))
    assert _untimed(two.stderr)[:3] == [
        "NSE: Loaded 1 scripts for scanning.",
        "NSE: Script Pre-scanning.",
        "Initiating NSE at T",
    ]


def _untimed(stderr: bytes) -> list[str]:
    text = re.sub(r"at \d\d:\d\d", "at T", stderr.decode())
    return re.sub(r"\d+\.\d\ds elapsed", "Ns elapsed", text).splitlines()


def test_seed_scripts_against_the_emulators_in_a_private_network(
    tmp_path: Path, in_private_network: Any
) -> None:
    """auth-owners, daytime and banner against the emulators, the workers started inside the
    namespace the test made (WHEREAMI proves where they ran)."""
    from fixtures.emulators import DEMO_CLOCK, EmulatorGroup, default_emulators

    demo = (ROOT / "fixtures" / "demo" / "scan.xml").read_text()
    head, rest = demo.split("<host ", 1)
    body, tail = rest.rsplit("</host>", 1)
    ports = {
        re.search(r'protocol="\w+" portid="\d+"', element)[0]: element  # type: ignore[index]
        for element in re.findall(r"<port protocol=.*?</port>\n?", body, re.S)
    }
    start, end = body.split("<ports>", 1)[0], body.rsplit("</ports>", 1)[1]

    def host(*keys: str) -> str:
        return f"<host {start}<ports>{''.join(ports[k] for k in keys)}</ports>{end}</host>\n"

    # daytime's 13/tcp on hosts of their own, without 113: auth-owners asks identd about a
    # connection the daytime service may already have closed (a race, in Nmap too), so it
    # is asked only where the answer is certain (113 and 4242).
    daytime = host('protocol="tcp" portid="13"', 'protocol="udp" portid="13"')
    ident = host('protocol="tcp" portid="113"', 'protocol="tcp" portid="4242"')
    (tmp_path / "scan.xml").write_text(head + (daytime + ident) + tail.lstrip("\n"))
    whereami = script(tmp_path / "whereami.py", WHEREAMI)
    group = EmulatorGroup(default_emulators(clock=DEMO_CLOCK, maxcube_discovery_port=None))
    group.start()
    try:
        select = ["--script", f"auth-owners,daytime,banner,{whereami}"]
        select += ["--script-args", "banner.timeout=1s"]  # identd (113) says nothing first
        common = ["run", str(tmp_path / "scan.xml"), *select]
        one = nmapx_main(*common, *outputs(tmp_path, "one"))
        two = nmapx_main(*common, *outputs(tmp_path, "two"), "--workers", "2", "--batch-size", "1")
    finally:
        group.stop()
    assert one.returncode == two.returncode == 0, two.stderr
    same_files(tmp_path, "one", "two")
    normal = (tmp_path / "two.nmap").read_text()
    here = os.readlink("/proc/thread-self/ns/net")
    assert normal.count(f"|_whereami: {here}") == 2
    assert normal.count("|_daytime: Sun Nov 22 22:01:21 2026\\x0D") == 2  # TCP and UDP
    assert normal.count("|_auth-owners: root") == 2  # 113 and 4242


def test_http_title_and_ssh_hostkey_in_a_private_network(
    tmp_path: Path, in_private_network: Any
) -> None:
    """Two protocol scripts on real servers: http-title on four sites (port 80 of 127.0.0.11
    to .14) and ssh-hostkey on one sshd answering on two addresses, whose post-rule reports
    the key the two hosts share: it needs the registries of two batches merged."""
    from fixtures.http_servers import HttpServers, response
    from fixtures.ssh_servers import MODERN, Sshd, sshd_unavailable

    if sshd_unavailable():
        pytest.skip(str(sshd_unavailable()))
    titles = {f"site{n}": f"<title>Site {n} &amp; more</title>" for n in range(1, 5)}
    handlers = {name: _site(response(body=body.encode())) for name, body in titles.items()}
    places: dict[str, int | tuple[str, int]] = {
        name: (f"127.0.0.{10 + n}", 80) for n, name in enumerate(handlers, start=1)
    }
    twin = ("127.0.0.7", "127.0.0.8")
    hosts = [(place[0], [(80, "http")]) for place in places.values() if isinstance(place, tuple)]
    hosts += [(address, [(22, "ssh")]) for address in twin]
    source = scan(tmp_path / "scan.xml", hosts)
    common = ["run", str(source), "--script", "http-title,ssh-hostkey"]
    with (
        HttpServers(handlers, lifetime=60, places=places),
        Sshd(MODERN, in_private_network, lifetime=120, addresses=twin),
    ):
        one = nmapx_main(*common, *outputs(tmp_path, "one"))
        two = nmapx_main(*common, *outputs(tmp_path, "two"), "--workers", "2", "--batch-size", "1")
    assert one.returncode == two.returncode == 0, two.stderr
    same_files(tmp_path, "one", "two")
    normal = (tmp_path / "two.nmap").read_text()
    assert normal.count("|_http-title: Site ") == 4
    assert "Post-scan script results:\n| ssh-hostkey: Possible duplicate hosts" in normal
    assert (
        "127.0.0.7" in normal.split("Post-scan")[1] and "127.0.0.8" in normal.split("Post-scan")[1]
    )


def _site(page: bytes) -> Any:
    return lambda exchange: exchange.send(page)


def test_from_python_with_workers(tmp_path: Path) -> None:
    """``nmapx.run(..., workers=2)`` on a document held in memory: same bytes, same counts."""
    import nmapx

    hosts = [(f"10.0.0.{n}", [(22, "ssh")]) for n in range(1, 6)]
    data = scan(tmp_path / "scan.xml", hosts).read_bytes()
    crosshost = script(tmp_path / "crosshost.py", CROSSHOST)
    results = []
    for name, extra in (("one", {}), ("two", {"workers": 2, "batch_size": 2})):
        results.append(
            nmapx.run(
                data,
                scripts=[crosshost],
                no_network=True,
                outputs=nmapx.Outputs(xml=str(tmp_path / f"{name}.xml")),
                **extra,
            )
        )
    one, two = results
    assert (two.status, two.enriched, two.unchanged) == (one.status, 5, 0)
    assert (tmp_path / "two.xml").read_bytes() == (tmp_path / "one.xml").read_bytes()


def test_a_live_pipe_still_streams(tmp_path: Path) -> None:
    """``nmap -oX - | nmapx run --workers 2 -oX -``: a host is written while the producer is
    still scanning (a batch leaves 0.1 s after its first host, full or not)."""
    hosts = [(f"10.0.0.{n}", [(22, "ssh")]) for n in range(1, 4)]
    text = scan(tmp_path / "scan.xml", hosts).read_bytes()
    first_end = text.index(b"</host>") + len(b"</host>\n")
    crosshost = script(tmp_path / "crosshost.py", CROSSHOST)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nmapx", "run", "--script", crosshost, "--no-network",
         "-oX", "-", *CLUSTER],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    out = bytearray()

    def drain() -> None:
        assert proc.stdout is not None
        while chunk := proc.stdout.read1():
            out.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        proc.stdin.write(text[:first_end])
        proc.stdin.flush()
        deadline = time.monotonic() + 30
        while b"pre said" not in out:
            assert time.monotonic() < deadline, "the first host was not written"
            time.sleep(0.05)
        assert b"10.0.0.2" not in out  # the rest has not been sent yet
        proc.stdin.write(text[first_end:])
        proc.stdin.close()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        reader.join(5)
    assert out.count(b"pre said: set before the first host; contact: ScopeError") == 3


# ====================================================================== faults
def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    hosts = [(f"10.0.0.{n}", [(22, "ssh")]) for n in range(1, 9)]
    source = scan(tmp_path / "scan.xml", hosts)
    killer = script(tmp_path / "killer.py", KILLER)
    common = ["run", str(source), "--script", killer]
    one = nmapx_main(*common, *outputs(tmp_path, "one"))
    marker = tmp_path / "killed"
    two = nmapx_main(
        *common, *outputs(tmp_path, "two"), "--script-args", f"killer.marker={marker}", *CLUSTER
    )
    assert marker.exists()  # a worker did die
    assert one.returncode == two.returncode == 0
    same_files(tmp_path, "one", "two")
    # the batch of 10.0.0.3 and .4, and any batch that ran beside it in that process, again
    lines = two.stderr.decode().splitlines()
    assert any(re.fullmatch(AGAIN % "23, up to line 31", line) for line in lines), lines
    assert all(re.fullmatch(AGAIN % r"\d+, up to line \d+", line) for line in lines), lines


#: What nmapx says of a batch (of 2 hosts) whose worker died, as a pattern.
AGAIN = (
    r"nmapx: batch \d+ \(2 hosts from line %s\) failed \(KilledWorker: its worker process died"
    r" while running it\); running it again"
)


def test_a_batch_that_always_kills_its_worker_is_passed_through(tmp_path: Path) -> None:
    hosts = [(f"10.0.0.{n}", [(22, "ssh")]) for n in range(1, 9)]
    source = scan(tmp_path / "scan.xml", hosts)
    killer = script(tmp_path / "killer.py", KILLER)
    common = ["run", str(source), "--script", killer]
    one = nmapx_main(*common, *outputs(tmp_path, "one"))
    two = nmapx_main(*common, *outputs(tmp_path, "two"), "--script-args", "killer.always", *CLUSTER)
    assert (one.returncode, two.returncode) == (0, 4)
    *again, last = two.stderr.decode().splitlines()
    assert any(re.fullmatch(AGAIN % "23, up to line 31", line) for line in again), again
    assert all(re.fullmatch(AGAIN % r"\d+, up to line \d+", line) for line in again), again
    assert re.fullmatch(
        r"nmapx: batch \d+ \(2 hosts from line 23, up to line 31\) failed twice \(KilledWorker:"
        r" its worker process died while running it\): its hosts are passed through unchanged",
        last,
    ), last
    # 10.0.0.3 and .4 (one batch) as they were read, every other host as in one process
    theirs = (tmp_path / "one.xml").read_text()
    for n in (3, 4):
        theirs = theirs.replace(
            f'<hostscript><script id="killer" output="ran on 10.0.0.{n}"/></hostscript>', ""
        )
    assert (tmp_path / "two.xml").read_text() == theirs
    assert theirs.count('<script id="killer"') == 6


def test_ctrl_c_on_the_process_group(tmp_path: Path) -> None:
    """Ctrl-C in a terminal signals nmapx and its worker processes: the workers let their
    batches finish as nmapx asks (probes in flight get the grace period, then the hosts are
    passed through), nmapx writes a valid document and exits 130, and no process is left."""
    silent = _Silent()
    try:
        hosts = [("127.0.0.1", [(silent.port, "x")])] * 4
        source = scan(tmp_path / "scan.xml", hosts)
        grab = script(tmp_path / "grab.py", GRAB)
        proc = subprocess.Popen(
            [sys.executable, "-m", "nmapx", "run", str(source), "--script", grab,
             "-oX", str(tmp_path / "out.xml"), *CLUSTER],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while silent.connections < 4:
                assert time.monotonic() < deadline, "the probes never connected"
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.05)
            started = time.monotonic()
            os.killpg(proc.pid, signal.SIGINT)
            _, err = proc.communicate(timeout=30)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
    finally:
        silent.close()
    assert proc.returncode == 130, err
    assert err.decode().splitlines()[-2:] == [
        "nmapx: SIGINT: no new probes; finishing those in flight (at most 2 s) and passing the"
        " rest through (interrupt again to quit at once)",
        "nmapx: interrupted by SIGINT: 0 hosts enriched, 4 passed through unchanged"
        " (4 of them cut off mid-probe)",
    ]
    assert (tmp_path / "out.xml").read_bytes() == source.read_bytes()
    # the batches came back after the workers' grace period (2 s), not given up (5 s after)
    assert took < 4.5, took
    deadline = time.monotonic() + 15
    while _group_alive(proc.pid):
        assert time.monotonic() < deadline, "worker processes outlived nmapx"
        time.sleep(0.1)


class _Silent:
    """A loopback listener that accepts and never says a word (ephemeral port)."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.held: list[Any] = []
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
            self.held.append(conn)
            self.connections += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        for conn in self.held:
            conn.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


# ====================================================================== an existing cluster
@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, ephemeral ports,
    stopped by PID (each bounded: 60 s at most)."""
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip("the dask command is not installed")
    env = dict(os.environ, PYTHONPATH=str(ROOT), DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0")
    info = tmp_path / "scheduler.json"
    started: list[subprocess.Popen[bytes]] = []

    def start(*argv: str) -> None:
        started.append(
            subprocess.Popen(
                ["timeout", "-s", "KILL", "60", str(dask), *argv], cwd=ROOT, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )
        )  # fmt: skip

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", str(info))  # fmt: skip
        (tmp_path / "scheduler.pid").write_text(str(started[0].pid))
        deadline = time.monotonic() + 30
        while not info.exists():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.05)
        for _ in range(2):
            start("worker", "--scheduler-file", str(info), "--host", "127.0.0.1",
                  "--nthreads", "2", "--no-dashboard", "--no-nanny")  # fmt: skip
        import json

        from distributed import Client

        address = json.loads(info.read_text())["address"]
        with Client(address, timeout="20s") as client:
            client.wait_for_workers(2, timeout=30)
        yield address
    finally:
        for proc in reversed(started):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)


def test_an_existing_scheduler_and_two_workers(tmp_path: Path, dask_cluster: str) -> None:
    hosts = [(f"10.0.0.{n}", [(22, "ssh"), (80, "http")]) for n in range(1, 8)]
    source = scan(tmp_path / "scan.xml", hosts)
    crosshost = script(tmp_path / "crosshost.py", CROSSHOST)
    common = ["run", str(source), "--script", crosshost, "--no-network"]
    one = nmapx_main(*common, *outputs(tmp_path, "one"))
    two = nmapx_main(
        *common, *outputs(tmp_path, "two"), "--scheduler", dask_cluster, "--batch-size", "2"
    )
    assert one.returncode == two.returncode == 0, two.stderr
    same_files(tmp_path, "one", "two")


ARGS_ECHO = '''
    """Says its script arguments (test script)."""
    from nmapx.nse import stdnse

    categories = ["safe"]


    def hostrule(host):
        return True


    def action(host):
        return f"{stdnse.get_script_args('echo.word')} {stdnse.get_script_args('echo.other')}"
'''


def test_a_script_args_file_reaches_workers_without_it(
    tmp_path: Path, dask_cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--script-args-file is read where nmapx runs and its text sent with the batches: the
    workers (here: in another directory, where the relative name finds nothing) need no copy.
    --script-args still wins over the file, as in Nmap."""
    hosts = [(f"10.0.0.{n}", [(22, "ssh")]) for n in range(1, 6)]
    source = scan(tmp_path / "scan.xml", hosts)
    echo = script(tmp_path / "echo.py", ARGS_ECHO)
    (tmp_path / "args.txt").write_text("echo.word=from-file\necho.other=file\n")
    monkeypatch.chdir(tmp_path)
    common = ["run", str(source), "--script", echo, "--script-args-file", "args.txt",
              "--script-args", "echo.other=cli", "--no-network"]  # fmt: skip
    one = nmapx_main(*common, *outputs(tmp_path, "one"))
    two = nmapx_main(
        *common, *outputs(tmp_path, "two"), "--scheduler", dask_cluster, "--batch-size", "2"
    )
    assert one.returncode == two.returncode == 0, two.stderr
    same_files(tmp_path, "one", "two")
    assert (tmp_path / "two.nmap").read_text().count("|_echo: from-file cli\n") == 5


SLOW = '''
    """Takes its time on every host (test script)."""
    import asyncio

    categories = ["safe"]


    def hostrule(host):
        return True


    async def action(host):
        await asyncio.sleep(4)
        return "slept"
'''


AGAIN_LOST = (
    r"nmapx: batch \d+ \(2 hosts from line \d+, up to line \d+\) failed \(FutureCancelledError:"
    r" nmapx-batch-\d+-1-\w+ cancelled for reason: scheduler-connection-lost\.\); running it again"
)


def test_a_scheduler_that_goes_away_ends_the_run(tmp_path: Path, dask_cluster: str) -> None:
    """The scheduler dies mid-run: nmapx does not wait for it forever. The hosts whose batch
    came back are written enriched, every other host as it was read, and the run ends with
    exit status 4 and a line that says so."""
    hosts = [(f"10.0.0.{n}", [(22, "ssh")]) for n in range(1, 9)]
    source = scan(tmp_path / "scan.xml", hosts)
    slow = script(tmp_path / "slow.py", SLOW)
    scheduler_pid = int((tmp_path / "scheduler.pid").read_text())
    killer = threading.Timer(2.0, os.killpg, (scheduler_pid, signal.SIGKILL))
    killer.start()
    started = time.monotonic()
    try:
        two = nmapx_main(
            "run", str(source), "--script", slow, "--no-network", *outputs(tmp_path, "two"),
            "--scheduler", dask_cluster, "--batch-size", "2",
        )  # fmt: skip
    finally:
        killer.cancel()
    took = time.monotonic() - started
    assert two.returncode == 4, two.stderr
    assert took < 120
    lines = two.stderr.decode().splitlines()
    *lost, gone = lines
    assert re.fullmatch(
        r"nmapx: the cluster is gone \(no answer from tcp://127\.0\.0\.1:\d+ for 20 s\): the"
        r" hosts of every batch not back yet are passed through unchanged",
        gone,
    ), lines
    # Dask's client cancels what was out when it lost the scheduler; sent again, they wait
    assert all(re.fullmatch(AGAIN_LOST, line) for line in lost), lines
    written = (tmp_path / "two.xml").read_text()
    assert written.count("<host ") == 8
    assert written.count('output="slept"') == 0  # killed at 2 s, each batch takes 4 s


# ====================================================================== no Dask unless asked
def test_a_run_without_workers_never_imports_dask(tmp_path: Path) -> None:
    source = scan(tmp_path / "scan.xml", [("10.0.0.1", [(22, "ssh")])])
    crosshost = script(tmp_path / "crosshost.py", CROSSHOST)
    code = (
        "import sys\nfrom nmapx.cli import main\n"
        f"status = main(['run', {str(source)!r}, '--script', {crosshost!r}, '--no-network',"
        " '-oN', '/dev/null'])\n"
        "print(status, sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=60, check=False
    )
    assert done.stdout == b"0 []\n", done.stderr


def test_usage_errors() -> None:
    both_given = nmapx_main("run", "x.xml", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1")
    assert both_given.returncode == 2
    assert (
        b"--workers starts a local cluster; --scheduler uses an existing one" in both_given.stderr
    )
    unusable = b"nmapx: --scheduler tcp://: missing port number in address ''\nnmapx: QUITTING!\n"
    for command in (("run", "--script", "banner"), ("report",)):
        bad = nmapx_main(*command, "x.xml", "--scheduler", "tcp://")
        assert (bad.returncode, bad.stderr) == (1, unusable)
    zero = nmapx_main("run", "x.xml", "--workers", "0")
    assert zero.returncode == 2 and b"must be at least 1: 0" in zero.stderr


# ====================================================================== the registry merge
def test_registry_changes_merge_in_input_order() -> None:
    start = {"pre": "x", "list": [1], "table": {"a": 1}, "set": {1}}
    first = {"pre": "x", "list": [1, 2], "table": {"a": 1, "b": [1]}, "set": {1, 2}, "new": [1]}
    second = {"pre": "y", "list": [1, 3], "table": {"a": 2, "b": [2]}, "set": {1, 3}, "new": [2]}
    merged = {"pre": "x", "list": [1], "table": {"a": 1}, "set": {1}}
    for end in (first, second):
        apply(merged, change(start, end))
    assert merged == {
        "pre": "y",
        "list": [1, 2, 3],
        "table": {"a": 2, "b": [1, 2]},
        "set": {1, 2, 3},
        "new": [1, 2],
    }
    assert change(start, dict(start)) is None
    rewritten = change({"list": [1, 2]}, {"list": [3]})
    assert rewritten == Change("merge", {"list": Change("replace", [3])})


def test_registry_entries_that_cannot_travel_stay_home() -> None:
    import logging

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("nmapx.cluster.registry")
    logger.addHandler(handler)
    try:
        kept = portable({"a": [1], ("nmapx", "mutexes"): {}, "lock": threading.Lock()})
    finally:
        logger.removeHandler(handler)
    assert kept == {"a": [1]}
    assert seen == [
        "registry entry 'lock' cannot be sent between processes"
        " (cannot pickle '_thread.lock' object): left out"
    ]
