"""broadcast-maxcube-discover against MAX! Cube emulators in private network namespaces.

Topology (created here, torn down in ``finally``; nothing touches the host's interfaces):
the client namespace holds a bridge ``mxbr`` (10.233.7.1/24) with two veth ports, whose peers
are ``eth0`` in two Cube namespaces (10.233.7.2 and 10.233.7.3). The veth pairs are created
directly inside the namespaces (``ip -n NS link add ... peer ... netns NS2``), so they never
exist in the root namespace. Cube 1 runs the real emulator (``python -m fixtures.emulators
--maxcube``: discovery on UDP 23272, greeting on TCP 62910) for the whole module; the second
namespace gets whatever a test needs (a second Cube, a malformed responder, or nothing).
``nmapx run`` runs in the client namespace, as a user would run it.

Skipped, with the reason, when not root or when ``ip netns`` is not permitted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.emulators import max_discovery_answer
from nmapx.engine.scriptargs import parse_script_args
from nmapx.engine.thread import RunContext, RunSettings, ScopeError, ScriptThread
from nmapx.nse.sockets import UdpCapture, check_discovery_target
from nmapx.scripts.broadcast_maxcube_discover import parse_reply, request
from tests.conftest import ROOT, dtd_errors, needs_xmllint

S = "broadcast-maxcube-discover"
NET = "10.233.7"
TAG = f"mx{os.getpid() % 100000}"
CLI, CUBE1, CUBE2 = f"{TAG}c", f"{TAG}k1", f"{TAG}k2"
BRIDGE = "mxbr"  # not "br": ip link would read that as its "broadcast" keyword
RUN_TIMEOUT = 60
EXCLUDE_THE_TARGET = ("--exclude", "127.0.0.1", "127.0.0.1")


# ------------------------------------------------------------------- reply format, offline
#: Bouni/max-cube-protocol Cube_Discovery.md: the documented request and a captured reply.
DOC_REQUEST = bytes.fromhex("65 51 33 4D 61 78 2A 00 2A 2A 2A 2A 2A 2A 2A 2A 2A 2A 49")
DOC_REPLY = bytes.fromhex(
    "65 51 33 4D 61 78 41 70 4B 45 51 30 35 32 33 38 36 34 3E 49 00 09 7F 2C 01 13"
)


def test_request_and_reply_match_the_published_capture() -> None:
    """The script's request, its parser and the emulator's answer agree with the capture
    published in max-cube-protocol (serial KEQ0523864, RF 097f2c, firmware 1.1.3)."""
    assert request() == DOC_REQUEST
    assert request("KEQ0523864") == b"eQ3Max*\x00KEQ0523864I"
    cube = parse_reply(DOC_REPLY)
    assert cube is not None
    assert (cube.serial, cube.rf_address, cube.firmware) == ("KEQ0523864", "097f2c", "0113")
    assert max_discovery_answer("KEQ0523864", "097f2c", "0113") == DOC_REPLY


@pytest.mark.parametrize(
    "data",
    [
        DOC_REPLY[:25],  # truncated
        DOC_REPLY + b"\x00",  # too long
        b"eQ3MaxXX" + DOC_REPLY[8:],  # wrong magic
        DOC_REPLY[:19] + b"N" + DOC_REPLY[20:],  # not an identify reply
        DOC_REPLY[:8] + b"KEQ05\x00\x0138" + DOC_REPLY[18:],  # control bytes in the serial
        DOC_REQUEST,  # our own request, looped back
    ],
)
def test_malformed_replies_are_rejected(data: bytes) -> None:
    assert parse_reply(data) is None


def test_capture_parses_ipv4_udp() -> None:
    """UdpCapture.parse reads a real IPv4/UDP header (built here by hand, RFC 791/768)."""
    payload = DOC_REPLY
    udp = (23272).to_bytes(2, "big") * 2 + (8 + len(payload)).to_bytes(2, "big") + b"\0\0"
    total = 20 + len(udp) + len(payload)
    ip = (
        bytes([0x45, 0])
        + total.to_bytes(2, "big")
        + bytes(4)
        + bytes([64, 17])
        + bytes(2)
        + bytes([10, 233, 7, 2, 10, 233, 7, 1])
    )
    assert UdpCapture.parse(ip + udp + payload) == (
        "10.233.7.2",
        23272,
        "10.233.7.1",
        23272,
        payload,
    )
    fragment = ip[:6] + b"\x20\x00" + ip[8:]
    assert UdpCapture.parse(fragment + udp + payload) is None


# ------------------------------------------------------------------- scope rule, offline
def _thread(args: str, *, by_name: bool = True, no_network: bool = False) -> ScriptThread:
    settings = RunSettings(script_args=parse_script_args(args), no_network=no_network)
    engine = RunContext(
        settings=settings,
        allowed=lambda ip: ip == "192.0.2.10",
        excluded=lambda ip: ip == "192.0.2.99",
    )
    return ScriptThread(script_id=S, phase="prerule", engine=engine, by_name=by_name)


@pytest.mark.parametrize(
    ("args", "ip", "interface", "by_name", "refusal"),
    [
        ("", "192.0.2.10", None, False, None),  # a host of the input: always fine
        (f"{S}.interface=lo", "224.0.0.1", "lo", True, None),
        (f"{S}.interface=lo", "255.255.255.255", "lo", True, None),
        (f"{S}.address=192.0.2.20", "192.0.2.20", None, True, None),
        (f"{S}.interface=lo", "224.0.0.1", "lo", False, "selected by name"),
        (f"{S}.interface=lo", "224.0.0.1", None, True, "multicast/broadcast"),
        (f"{S}.interface=eth0", "224.0.0.1", "lo", True, "multicast/broadcast"),
        (f"{S}.address=224.0.0.1", "224.0.0.1", "lo", True, "multicast/broadcast"),
        (f"{S}.interface=lo", "192.0.2.20", "lo", True, "not the broadcast-maxcube"),
        (f"{S}.address=192.0.2.20", "192.0.2.21", None, True, "not the broadcast-maxcube"),
        (f"{S}.address=192.0.2.99", "192.0.2.99", None, True, "excluded"),
    ],
)
def test_discovery_scope_rule(
    args: str, ip: str, interface: str | None, by_name: bool, refusal: str | None
) -> None:
    thread = _thread(args, by_name=by_name)
    if refusal is None:
        check_discovery_target(thread, ip, interface)
    else:
        with pytest.raises(ScopeError, match=refusal):
            check_discovery_target(thread, ip, interface)


def test_no_network_refuses_discovery() -> None:
    with pytest.raises(ScopeError, match="no-network"):
        check_discovery_target(_thread("", no_network=True), "192.0.2.10", None)


# ------------------------------------------------------------------- the namespaces
def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


def _in(ns: str, *command: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *command]


def _teardown() -> None:
    for ns in (CLI, CUBE1, CUBE2):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20, check=False)


def _build() -> None:
    for ns in (CLI, CUBE1, CUBE2):
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "set", "lo", "up")
        subprocess.run(
            _in(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"),
            capture_output=True,
            timeout=20,
            check=False,
        )
    _ip("-n", CLI, "link", "add", BRIDGE, "type", "bridge")
    _ip("-n", CLI, "addr", "add", f"{NET}.1/24", "brd", "+", "dev", BRIDGE)
    for index, ns in ((1, CUBE1), (2, CUBE2)):
        port = f"p{index}"
        _ip("-n", CLI, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("-n", CLI, "link", "set", port, "master", BRIDGE)
        _ip("-n", CLI, "link", "set", port, "up")
        _ip("-n", ns, "addr", "add", f"{NET}.{index + 1}/24", "brd", "+", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
    _ip("-n", CLI, "link", "set", BRIDGE, "up")


class Background:
    """A process in a namespace that prints one line per listener when it is ready."""

    def __init__(self, ns: str, *command: str, ready_lines: int) -> None:
        self.proc = subprocess.Popen(
            _in(ns, *command),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        lines = [self.proc.stdout.readline() for _ in range(ready_lines)]
        if not all(lines):
            self.stop()
            raise RuntimeError(f"{command} did not start: {self.proc.stderr.read()!r}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def cube(ns: str, serial: str = "KMD1016788", rf: str = "099c3e", fw: str = "0113") -> Background:
    return Background(
        ns,
        sys.executable,
        "-m",
        "fixtures.emulators",
        "--maxcube",
        "--bind",
        "0.0.0.0",
        "--serial",
        serial,
        "--rf-address",
        rf,
        "--firmware",
        fw,
        "--duration",
        "120",
        ready_lines=2,
    )


#: Answers every datagram on 23272 with ``REPLY`` to the sender's port 23272, like a Cube.
MALFORMED_RESPONDER = """
import socket, sys, select, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind(("0.0.0.0", 23272))
print("ready", flush=True)
end = time.monotonic() + 60
while time.monotonic() < end:
    if select.select([s], [], [], 0.5)[0]:
        data, peer = s.recvfrom(2048)
        if data.startswith(b"eQ3Max*"):
            s.sendto(bytes.fromhex(sys.argv[1]), (peer[0], 23272))
"""

#: Holds UDP 23272 in the client namespace, as openHAB's binding would.
PORT_HOLDER = """
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 23272))
print("holding", flush=True)
time.sleep(60)
"""


@pytest.fixture(scope="module")
def net() -> Iterator[None]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to create network namespaces")
    probe = subprocess.run(
        ["ip", "netns", "add", f"{TAG}p"], capture_output=True, text=True, timeout=20
    )
    if probe.returncode != 0:
        pytest.skip(f"ip netns is not permitted here: {probe.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", f"{TAG}p"], capture_output=True, timeout=20)
    cube1 = None
    try:
        _build()
        cube1 = cube(CUBE1)
        yield
    finally:
        if cube1 is not None:
            cube1.stop()
        _teardown()


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real Nmap XML of a TCP scan of port 62910 with no hosts (the one target is excluded,
    so Nmap sends nothing at all)."""
    if shutil.which("nmap") is None:
        pytest.skip("nmap is not installed")
    path = tmp_path_factory.mktemp("mx") / "empty.xml"
    subprocess.run(
        ["nmap", "-n", "-sT", "-p", "62910", "-oX", str(path), *EXCLUDE_THE_TARGET],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert b"<host " not in path.read_bytes()
    return path


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[bytes], xml: Path, normal: Path):
        self.proc = proc
        self.xml = xml.read_bytes()
        self.normal = normal.read_text()
        self.stderr = proc.stderr.decode()
        self.xml_path = xml


def run(scan: Path, tmp_path: Path, scripts: str, args: str, *extra: str) -> Run:
    xml, normal = tmp_path / "out.xml", tmp_path / "out.nmap"
    command = [sys.executable, "-m", "nmapx", "run", str(scan), "--script", scripts]
    command += ["--script-args", args, "-oX", str(xml), "-oN", str(normal), *extra]
    proc = subprocess.run(
        _in(CLI, *command), cwd=ROOT, capture_output=True, timeout=RUN_TIMEOUT, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return Run(proc, xml, normal)


def prescript_xml(*cubes: tuple[str, str, str, str]) -> bytes:
    text = "".join(
        f"&#xa;  {ip}: &#xa;    Serial: {serial}&#xa;    RF address: {rf}&#xa;    Firmware: {fw}"
        for ip, serial, rf, fw in cubes
    )
    tables = "".join(
        f'<table key="{ip}">\n<elem key="Serial">{serial}</elem>\n'
        f'<elem key="RF address">{rf}</elem>\n<elem key="Firmware">{fw}</elem>\n</table>\n'
        for ip, serial, rf, fw in cubes
    )
    return (f'<prescript><script id="{S}" output="{text}">{tables}</script></prescript>').encode()


def prescript_normal(*cubes: tuple[str, str, str, str]) -> str:
    lines = ["Pre-scan script results:", f"| {S}: "]
    for ip, serial, rf, fw in cubes:
        lines += [f"|   {ip}: ", f"|     Serial: {serial}", f"|     RF address: {rf}"]
        lines.append(f"|     Firmware: {fw}")
    lines[-1] = "|_" + lines[-1][2:]
    return "\n".join(lines) + "\n"


CUBE_1 = (f"{NET}.2", "KMD1016788", "099c3e", "0113")
CUBE_2 = (f"{NET}.3", "KMD2000002", "0a0b0c", "0109")


def expected_xml(scan: Path, prescript: bytes, hosts: bytes = b"") -> bytes:
    """The input's own bytes with the prescript (and new hosts) where Nmap puts them."""
    original = scan.read_bytes()
    assert original.count(b"\n<runstats>") == 1
    # The writer puts a pending <prescript> right before the first piece after <debugging>
    # (here a new host, or <runstats>), after that piece's leading newline.
    tail = hosts + b"\n" if hosts else b""
    return original.replace(b"\n<runstats>", b"\n" + prescript + tail + b"<runstats>")


def normal_body(run: Run) -> str:
    """-oN without its first and last line (those carry the input's times)."""
    lines = run.normal.splitlines(keepends=True)
    assert lines[0].startswith("# Nmap 7.93 scan initiated")
    assert lines[-1].startswith("# Nmap done at")
    return "".join(lines[1:-1])


# ------------------------------------------------------------------- the three paths
@pytest.mark.parametrize(
    ("address", "needs_interface"),
    [
        (f"{NET}.2", False),  # unicast
        ("224.0.0.1", True),  # multicast (all hosts)
        ("255.255.255.255", True),  # limited broadcast
        (f"{NET}.255", True),  # the bridge's directed broadcast
    ],
)
def test_discovery_paths(
    net: None, scan: Path, tmp_path: Path, address: str, needs_interface: bool
) -> None:
    """Each path finds the Cube, from its port 23272 to ours, and reports it exactly."""
    args = f"{S}.address={address},{S}.timeout=1s"
    if needs_interface:
        args += f",{S}.interface={BRIDGE}"
    result = run(scan, tmp_path, S, args, "--script-trace")
    assert result.xml == expected_xml(scan, prescript_xml(CUBE_1))
    assert normal_body(result) == (
        prescript_normal(CUBE_1) + "WARNING: No targets were specified, so 0 hosts scanned.\n"
    )
    trace = result.stderr.splitlines()
    assert f"NSE: UDP 0.0.0.0:23272 > {address}:23272 | SEND" in trace
    assert any(line.startswith(f"NSE: UDP 0.0.0.0:23272 < {NET}.2:23272 | ") for line in trace)


def test_default_destinations_two_cubes(net: None, scan: Path, tmp_path: Path) -> None:
    """With only the interface, both defaults (224.0.0.1, 255.255.255.255) go out; two Cubes
    answer each (four replies), and each Cube is reported once, in address order."""
    second = cube(CUBE2, "KMD2000002", "0a0b0c", "0109")
    try:
        result = run(scan, tmp_path, S, f"{S}.interface={BRIDGE},{S}.timeout=1s", "--script-trace")
    finally:
        second.stop()
    assert result.xml == expected_xml(scan, prescript_xml(CUBE_1, CUBE_2))
    assert normal_body(result).startswith(prescript_normal(CUBE_1, CUBE_2))
    sends = [line for line in result.stderr.splitlines() if line.endswith("| SEND")]
    assert sends == [
        "NSE: UDP 0.0.0.0:23272 > 224.0.0.1:23272 | SEND",
        "NSE: UDP 0.0.0.0:23272 > 255.255.255.255:23272 | SEND",
    ]
    lines = result.stderr.splitlines()
    for ip in (f"{NET}.2", f"{NET}.3"):  # one reply per request from each Cube
        assert (
            len([line for line in lines if f"NSE: UDP 0.0.0.0:23272 < {ip}:23272 | " in line]) == 2
        )
    # our own multicast and broadcast came back to 23272 too, and were not taken for Cubes
    assert len([line for line in lines if f"< {NET}.1:23272 | 00000000: 65 51 33 4d" in line]) == 2


def test_no_cube_times_out_quietly(net: None, scan: Path, tmp_path: Path) -> None:
    """Nobody at the address: no result at all (the input's bytes), a debug message at -d."""
    result = run(scan, tmp_path, S, f"{S}.address={NET}.3,{S}.timeout=1s", "-d")
    assert result.xml == scan.read_bytes()
    assert "Pre-scan script results" not in result.normal
    assert f"NSE: [{S}] no MAX! Cube answered within 1s" in result.stderr.splitlines()


def test_serial_that_no_cube_has(net: None, scan: Path, tmp_path: Path) -> None:
    """A request for another serial is not answered (the emulator, like the Cube, answers
    only ``**********`` or its own serial): the multicast path times out."""
    args = f"{S}.interface={BRIDGE},{S}.address=224.0.0.1,{S}.serial=KMD9999999,{S}.timeout=1s"
    result = run(scan, tmp_path, S, args, "-d")
    assert result.xml == scan.read_bytes()
    args = args.replace("KMD9999999", "KMD1016788")
    assert run(scan, tmp_path, S, args).xml == expected_xml(scan, prescript_xml(CUBE_1))


@pytest.mark.parametrize(
    "reply",
    [
        DOC_REPLY[:20],
        b"eQ3MaxXX" + DOC_REPLY[8:],
        DOC_REPLY + b"tail",
    ],
    ids=["truncated", "bad-magic", "too-long"],
)
def test_malformed_reply_is_ignored(net: None, scan: Path, tmp_path: Path, reply: bytes) -> None:
    """A malformed answer from one device does not hide the real Cube, and never becomes
    output; -d names the sender and shows the bytes."""
    responder = Background(
        CUBE2, sys.executable, "-c", MALFORMED_RESPONDER, reply.hex(), ready_lines=1
    )
    try:
        args = f"{S}.interface={BRIDGE},{S}.address=224.0.0.1,{S}.timeout=1s"
        result = run(scan, tmp_path, S, args, "-d")
    finally:
        responder.stop()
    assert result.xml == expected_xml(scan, prescript_xml(CUBE_1))
    message = f"NSE: [{S}] malformed reply from {NET}.3:23272 ({len(reply)} bytes): {reply.hex()}"
    assert message in result.stderr.splitlines()


# ------------------------------------------------------------------- new targets
NEW_HOST = (
    b'<host><status state="up" reason="nmapx-newtarget" reason_ttl="0"/>\n'
    b'<address addr="10.233.7.2" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n'
    b'<ports><port protocol="tcp" portid="62910"><state state="open|filtered"'
    b' reason="nmapx-newtarget" reason_ttl="0"/>'
    b'<script id="maxcube-info" output="&#xa;  MAX Serial:: KMD1016788&#xa;'
    b'  RF Address: 099c3e&#xa;  Firmware Version: 0113">'
    b'<elem key="MAX Serial:">KMD1016788</elem>\n<elem key="RF Address">099c3e</elem>\n'
    b'<elem key="Firmware Version">0113</elem>\n</script></port>\n</ports>\n</host>'
)


@needs_xmllint
def test_newtargets_feed_maxcube_info(net: None, scan: Path, tmp_path: Path) -> None:
    """With ``newtargets`` the Cube becomes a host after the input's hosts, and maxcube-info
    reads its greeting over TCP 62910; the document stays valid against Nmap's DTD."""
    args = f"{S}.interface={BRIDGE},{S}.timeout=1s,newtargets"
    result = run(scan, tmp_path, f"{S},maxcube-info", args)
    assert result.xml == expected_xml(scan, prescript_xml(CUBE_1), NEW_HOST)
    assert dtd_errors(result.xml_path) == ""
    assert normal_body(result) == (
        prescript_normal(CUBE_1)
        + f"Nmap scan report for {NET}.2\nHost is up.\n\n"
        + "PORT      STATE         SERVICE\n"
        + "62910/tcp open|filtered unknown\n"
        + "| maxcube-info: \n|   MAX Serial:: KMD1016788\n|   RF Address: 099c3e\n"
        + "|_  Firmware Version: 0113\n\n"
        + "WARNING: No targets were specified, so 0 hosts scanned.\n"
    )


def test_without_newtargets_no_host_is_added(net: None, scan: Path, tmp_path: Path) -> None:
    result = run(scan, tmp_path, f"{S},maxcube-info", f"{S}.address={NET}.2,{S}.timeout=1s")
    assert result.xml == expected_xml(scan, prescript_xml(CUBE_1))


def test_excluded_cube_is_not_a_new_target(net: None, scan: Path, tmp_path: Path) -> None:
    """--exclude holds for new targets: the Cube is reported, but never contacted on TCP."""
    args = f"{S}.interface={BRIDGE},{S}.timeout=1s,newtargets"
    result = run(scan, tmp_path, f"{S},maxcube-info", args, "--exclude", f"{NET}.2", "-d")
    assert result.xml == expected_xml(scan, prescript_xml(CUBE_1))
    assert "maxcube-info" not in result.stderr


# ------------------------------------------------------------------- scope, for real
@pytest.mark.parametrize(
    ("scripts", "args", "extra", "warning"),
    [
        (
            "broadcast",  # by category: never sends discovery
            f"{S}.interface={BRIDGE},{S}.timeout=1s",
            (),
            f"nmapx: {S}: 224.0.0.1 is not a host of the input; discovery traffic is sent only"
            f" by a script selected by name (--script {S})",
        ),
        (
            S,  # multicast without the user's interface
            f"{S}.address=224.0.0.1,{S}.timeout=1s",
            (),
            f"nmapx: {S}: 224.0.0.1 is a multicast/broadcast address: it is sent to only"
            f" through the interface the user names with {S}.interface (socket interface: none)",
        ),
        (
            S,
            f"{S}.address={NET}.2,{S}.timeout=1s",
            ("--exclude", f"{NET}.0/24"),
            f"nmapx: {S}: {NET}.2 is excluded",
        ),
    ],
    ids=["by-category", "no-interface", "excluded"],
)
def test_scope_refusals_send_nothing(
    net: None,
    scan: Path,
    tmp_path: Path,
    scripts: str,
    args: str,
    extra: tuple[str, ...],
    warning: str,
) -> None:
    result = run(scan, tmp_path, scripts, args, "--script-trace", *extra)
    assert result.xml == scan.read_bytes()
    lines = result.stderr.splitlines()
    assert warning in lines
    assert not [line for line in lines if "| SEND" in line]


def test_no_arguments_no_traffic(net: None, scan: Path, tmp_path: Path) -> None:
    """Selected by name but pointed nowhere: the pre-rule declines, nothing is sent."""
    result = run(scan, tmp_path, S, f"{S}.timeout=1s", "-d", "--script-trace")
    assert result.xml == scan.read_bytes()
    assert f"NSE: [{S}] no {S}.interface or {S}.address given: nmapx sends discovery only" in (
        result.stderr
    )
    assert "| SEND" not in result.stderr


# ------------------------------------------------------------------- port 23272 taken
def test_capture_when_the_port_is_taken(net: None, scan: Path, tmp_path: Path) -> None:
    """Another program holds UDP 23272 (as openHAB would): nmapx sends from an ephemeral
    port and reads the Cube's reply, addressed to 23272, from a packet capture."""
    holder = Background(CLI, sys.executable, "-c", PORT_HOLDER, ready_lines=1)
    try:
        args = f"{S}.interface={BRIDGE},{S}.address=224.0.0.1,{S}.timeout=1s"
        result = run(scan, tmp_path, S, args, "-d", "--script-trace")
    finally:
        holder.stop()
    assert result.xml == expected_xml(scan, prescript_xml(CUBE_1))
    lines = result.stderr.splitlines()
    assert f"NSE: [{S}] UDP port 23272 is in use: capturing replies on {BRIDGE}" in lines
    sends = [line for line in lines if line.endswith("> 224.0.0.1:23272 | SEND")]
    assert len(sends) == 1 and not sends[0].startswith("NSE: UDP 0.0.0.0:23272 ")


def test_port_taken_without_interface_says_so(net: None, scan: Path, tmp_path: Path) -> None:
    holder = Background(CLI, sys.executable, "-c", PORT_HOLDER, ready_lines=1)
    try:
        result = run(scan, tmp_path, S, f"{S}.address={NET}.2,{S}.timeout=1s", "-d")
    finally:
        holder.stop()
    assert result.xml == scan.read_bytes()
    assert (
        f"NSE: [{S}] UDP port 23272 is in use and a capture needs {S}.interface: not sending"
        in result.stderr.splitlines()
    )
