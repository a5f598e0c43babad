"""Tests of the loopback service emulators (fixtures/emulators.py), with real sockets.

Everything talks over loopback only (127.0.0.0/8 and ::1). Tests that need a wildcard bind
(0.0.0.0 or ::, to check the UDP reply's source address) run in a private network namespace
(``unshare -n``) whose only interface is ``lo``, so nothing listens on a real interface, not
even briefly. Every socket and subprocess has a timeout, so a broken emulator fails a test
instead of hanging the run.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

try:  # installed: the fixtures/ directory is the package nmapx.fixtures (setup.cfg)
    from nmapx.fixtures import emulators
except ImportError:  # a plain checkout
    sys.path.insert(0, str(REPO))
    from fixtures import emulators

DEMO_LINE = b"Sun Nov 22 22:01:21 2026\r\n"
CUBE_H_LINE = b"H:KMD1016788,099c3e,0113,00000000,7ee2b5d7,00,32,100408,002c,03,0000\r\n"
CUBE_CLOCK = datetime(2016, 4, 8, 0, 44)  # the H line above: date 10 04 08, time 00 2c
DISCOVERY_REQUEST = b"eQ3Max*\x00**********I"
TIMEOUT = 5.0
USER = pwd.getpwuid(os.getuid()).pw_name


def connect(host: str, port: int, timeout: float = TIMEOUT) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def read_to_eof(sock: socket.socket, timeout: float = TIMEOUT) -> bytes:
    """Everything until the peer closes; fails (socket timeout) if it does not."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def read_exactly(sock: socket.socket, size: int, timeout: float = TIMEOUT) -> bytes:
    deadline = time.monotonic() + timeout
    data = b""
    while len(data) < size:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def ident_query(port: int, request: bytes, host: str = "127.0.0.1") -> bytes:
    with connect(host, port) as sock:
        sock.sendall(request)
        return read_to_eof(sock)


@contextlib.contextmanager
def tcp_pair(host: str = "127.0.0.1") -> Iterator[tuple[int, int]]:
    """A real, accepted connection owned by this process: (server port, client port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((host, 0))
        listener.listen(1)
        listener.settimeout(TIMEOUT)
        with connect(host, listener.getsockname()[1]) as client:
            accepted, _ = listener.accept()
            with accepted:
                yield listener.getsockname()[1], client.getsockname()[1]


# --- pure helpers -------------------------------------------------------------------------------


def test_ctime_line_is_inetd_format() -> None:
    assert emulators.ctime_line(emulators.DEMO_CLOCK) == DEMO_LINE
    # ctime pads the day of month with a space and is English whatever the locale
    assert emulators.ctime_line(datetime(2026, 3, 2, 1, 2, 3)) == b"Mon Mar  2 01:02:03 2026\r\n"


# --- identd --------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_identd_names_owner_of_real_connection(host: str) -> None:
    with emulators.IdentdEmulator(host=host, port=0) as identd, tcp_pair(host) as (sport, cport):
        reply = ident_query(identd.port, f"{sport}, {cport}\r\n".encode(), host)
    assert reply == f"{sport},{cport}:USERID:UNIX:{USER}\r\n".encode()
    if os.getuid() == 0:
        assert reply.endswith(b":USERID:UNIX:root\r\n")


def test_identd_tolerates_whitespace_and_trailing_text_like_sscanf() -> None:
    with emulators.IdentdEmulator(port=0) as identd, tcp_pair() as (sport, cport):
        reply = ident_query(identd.port, f" \t{sport} ,\t {cport} trailing junk\r\n".encode())
    assert reply == f"{sport},{cport}:USERID:UNIX:{USER}\r\n".encode()


def test_identd_unknown_connection_is_no_user() -> None:
    with emulators.IdentdEmulator(port=0) as identd:
        # a pair of ports that no connection between these two addresses uses
        assert ident_query(identd.port, b"1,1\r\n") == b"1,1:ERROR:NO-USER\r\n"


def test_identd_connection_nobody_accepted_yet_is_no_user() -> None:
    """In the accept queue the socket has inode 0 and uid 0: oidentd says NO-USER."""
    with (
        emulators.IdentdEmulator(port=0) as identd,
        socket.socket() as listener,
    ):
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        sport = listener.getsockname()[1]
        with connect("127.0.0.1", sport) as client:
            cport = client.getsockname()[1]
            reply = ident_query(identd.port, f"{sport},{cport}\r\n".encode())
    assert reply == f"{sport},{cport}:ERROR:NO-USER\r\n".encode()


def test_identd_fixed_users_override_the_kernel() -> None:
    users = {8080: "www-data", 2222: None}
    with emulators.IdentdEmulator(port=0, users=users) as identd:
        reply = ident_query(identd.port, b"8080, 40000\r\n")
        assert reply == b"8080,40000:USERID:UNIX:www-data\r\n"
        assert ident_query(identd.port, b"2222, 40000\r\n") == b"2222,40000:ERROR:NO-USER\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "reply"),
    [
        (b"0, 40000\r\n", b"0,40000:ERROR:INVALID-PORT\r\n"),
        (b"22, 70000\r\n", b"22,70000:ERROR:INVALID-PORT\r\n"),
        (b"-5,22\r\n", b"-5,22:ERROR:INVALID-PORT\r\n"),
        (b"hello\r\n", b"0,0:ERROR:INVALID-PORT\r\n"),
        (b"\r\n", b"0,0:ERROR:INVALID-PORT\r\n"),
        (b"22\x00, 40000\r\n", b"0,0:ERROR:INVALID-PORT\r\n"),
        (b"22\r\n", b"0,0:ERROR:INVALID-PORT\r\n"),
        (b"\x00\xff\xfe, 22\r\n", b"0,0:ERROR:INVALID-PORT\r\n"),
        (b"99999999999999999999, 22\r\n", b"0,0:ERROR:INVALID-PORT\r\n"),
        # oversized and no newline: answered after 127 bytes, without waiting for more
        (b"A" * 4000, b"0,0:ERROR:INVALID-PORT\r\n"),
        (b"22," + b" " * 200 + b"40000\r\n", b"0,0:ERROR:INVALID-PORT\r\n"),
    ],
)
def test_identd_malformed_or_invalid_requests(request_bytes: bytes, reply: bytes) -> None:
    with emulators.IdentdEmulator(port=0) as identd:
        assert ident_query(identd.port, request_bytes) == reply


def test_identd_can_stay_silent_on_garbage_like_oidentd() -> None:
    with emulators.IdentdEmulator(port=0, answer_malformed=False) as identd:
        assert ident_query(identd.port, b"hello\r\n") == b""
        assert ident_query(identd.port, b"0,22\r\n") == b"0,22:ERROR:INVALID-PORT\r\n"


def test_identd_says_nothing_to_a_client_that_sends_nothing() -> None:
    with emulators.IdentdEmulator(port=0) as identd, connect("127.0.0.1", identd.port) as sock:
        sock.shutdown(socket.SHUT_WR)
        assert read_to_eof(sock) == b""


def test_identd_times_out_idle_clients() -> None:
    with (
        emulators.IdentdEmulator(port=0, timeout=0.3) as identd,
        connect("127.0.0.1", identd.port) as sock,
    ):
        started = time.monotonic()
        assert read_to_eof(sock, timeout=3.0) == b""
        assert time.monotonic() - started < 2.5


# --- daytime -------------------------------------------------------------------------------------


def test_daytime_tcp_sends_one_line_and_closes() -> None:
    with (
        emulators.DaytimeEmulator(port=0, clock=emulators.DEMO_CLOCK) as daytime,
        connect("127.0.0.1", daytime.tcp_port) as sock,
    ):
        assert read_to_eof(sock) == DEMO_LINE


def test_daytime_udp_answers_any_datagram() -> None:
    with (
        emulators.DaytimeEmulator(port=0, clock=emulators.DEMO_CLOCK) as daytime,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client,
    ):
        client.settimeout(TIMEOUT)
        for payload in (b"", b"dummy", b"\x00" * 512):
            client.sendto(payload, ("127.0.0.1", daytime.udp_port))
            data, source = client.recvfrom(1024)
            assert data == DEMO_LINE
            assert source == ("127.0.0.1", daytime.udp_port)


def test_daytime_clock_is_live_by_default() -> None:
    with (
        emulators.DaytimeEmulator(port=0, udp=False) as daytime,
        connect("127.0.0.1", daytime.port) as sock,
    ):
        line = read_to_eof(sock)
    parsed = datetime.strptime(line.decode("ascii").strip(), "%a %b %d %H:%M:%S %Y")
    assert abs((parsed - datetime.now()).total_seconds()) < 60


NAMESPACE_SCRIPT = textwrap.dedent(
    """
    import json, socket, subprocess, sys
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    sys.path.insert(0, sys.argv[1])
    emulators = __import__(sys.argv[2], fromlist=["x"])
    out = {}
    for bind in ("0.0.0.0", "::"):
        daytime = emulators.DaytimeEmulator(host=bind, port=0, clock=emulators.DEMO_CLOCK)
        cube = emulators.MaxCubeEmulator(host=bind, port=0, discovery_port=0,
                                         reply_to_source_port=True)
        with emulators.EmulatorGroup([daytime, cube]):
            for target in ("127.0.0.2", "127.0.0.3"):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
                    c.settimeout(5)
                    c.sendto(b"", (target, daytime.udp_port))
                    data, source = c.recvfrom(1024)
                    out[f"{bind} daytime {target}"] = [data.decode("latin-1"), list(source)]
                    c.sendto(b"eQ3Max*\\x00**********I", (target, cube.discovery_port))
                    data, source = c.recvfrom(1024)
                    out[f"{bind} discovery {target}"] = [data.hex(), list(source)]
                with socket.create_connection((target, daytime.tcp_port), timeout=5) as t:
                    out[f"{bind} tcp {target}"] = t.recv(100).decode("latin-1")
            out[f"{bind} ports"] = [daytime.udp_port, cube.discovery_port]
    print(json.dumps(out))
    """
)


def test_udp_replies_come_from_the_destination_address_of_a_wildcard_bind() -> None:
    """0.0.0.0 and :: serve every 127.x.y.z; the reply must leave from the address asked."""
    if os.getuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs root, unshare and ip for a private network namespace")
    result = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", NAMESPACE_SCRIPT, str(REPO), emulators.__name__],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    if result.returncode != 0 and "unshare failed" in result.stderr:
        pytest.skip(f"cannot create a network namespace: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    answer = emulators.max_discovery_answer("KMD1016788", "099c3e", "0113").hex()
    for bind in ("0.0.0.0", "::"):
        udp_port, discovery_port = out[f"{bind} ports"]
        for target in ("127.0.0.2", "127.0.0.3"):
            assert out[f"{bind} daytime {target}"] == [DEMO_LINE.decode(), [target, udp_port]]
            assert out[f"{bind} discovery {target}"] == [answer, [target, discovery_port]]
            assert out[f"{bind} tcp {target}"] == DEMO_LINE.decode()


# --- MAX! Cube -----------------------------------------------------------------------------------


def cube(**kwargs: object) -> emulators.MaxCubeEmulator:
    options: dict[str, object] = {"port": 0, "discovery_port": None, "clock": CUBE_CLOCK}
    options.update(kwargs)
    return emulators.MaxCubeEmulator(**options)  # type: ignore[arg-type]


def read_greeting(sock: socket.socket, timeout: float = TIMEOUT) -> bytes:
    """The greeting ends with the L: line; read until it is complete."""
    deadline = time.monotonic() + timeout
    data = b""
    while not (b"\r\nL:" in data and data.endswith(b"\r\n")):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_cube_greeting_lines() -> None:
    with cube() as emulator, connect("127.0.0.1", emulator.port) as sock:
        greeting = read_greeting(sock)
    assert greeting == emulators.max_greeting("KMD1016788", "099c3e", "0113", CUBE_CLOCK)
    lines = greeting.split(b"\r\n")
    assert lines[-1] == b""
    assert [line[:2] for line in lines[:-1]] == [b"H:", b"M:", b"C:", b"C:", b"L:"]
    assert lines[0] + b"\r\n" == CUBE_H_LINE
    assert lines[1].startswith(b"M:00,01,")
    metadata = base64.b64decode(lines[1][8:])
    assert metadata[:3] == b"V\x02\x01"  # one room
    assert b"Living room" in metadata and b"KEQ1234567" in metadata
    cube_rf, cube_config = lines[2][2:].split(b",")
    assert cube_rf == b"099c3e"
    config = base64.b64decode(cube_config)
    assert config[0] == len(config) - 1 == 0xED
    assert config[1:5] == bytes.fromhex("099c3e") + b"\x00"  # RF address, device type 0 = Cube
    assert config[8:18] == b"KMD1016788"
    device_rf, device_config = lines[3][2:].split(b",")
    config = base64.b64decode(device_config)
    assert device_rf == b"1a2b3c"
    assert config[0] == len(config) - 1 == 0xD2
    assert config[4] == 1  # heating thermostat
    live = base64.b64decode(lines[4][2:])
    assert live[:4] == b"\x0b" + bytes.fromhex("1a2b3c")


def test_cube_identity_is_configurable() -> None:
    with (
        cube(serial="LEQ0000042", rf_address="ABCDEF", firmware="0109") as emulator,
        connect("127.0.0.1", emulator.port) as sock,
    ):
        greeting = read_greeting(sock)
    assert greeting.startswith(b"H:LEQ0000042,abcdef,0109,00000000,7ee2b5d7,00,32,100408,002c,")
    assert emulators.max_discovery_answer("LEQ0000042", "ABCDEF", "0109") == (
        b"eQ3MaxApLEQ0000042>I\x00\xab\xcd\xef\x01\x09"
    )
    with pytest.raises(ValueError, match="RF address"):
        emulators.MaxCubeEmulator(rf_address="xyz")


def test_cube_commands_after_greeting() -> None:
    with cube() as emulator, connect("127.0.0.1", emulator.port) as sock:
        read_greeting(sock)
        sock.sendall(b"l:\r\n")
        expected = emulators.max_l_line((emulators.MaxThermostat(),))
        assert read_exactly(sock, len(expected)) == expected
        sock.sendall(b"q:\r\n")
        assert read_to_eof(sock) == b""


def test_cube_serves_one_client_at_a_time() -> None:
    with cube() as emulator:
        first = connect("127.0.0.1", emulator.port)
        try:
            greeting = read_greeting(first)
            assert greeting.startswith(CUBE_H_LINE)
            # the second connect completes (listen backlog) but nothing arrives
            with connect("127.0.0.1", emulator.port) as second:
                second.settimeout(1.0)
                with pytest.raises(TimeoutError):
                    second.recv(1)
                first.close()
                assert read_greeting(second) == greeting
        finally:
            first.close()


def test_cube_discovery_answers_to_port_23272_semantics() -> None:
    """The answer goes to the requester's address on the Cube's own discovery port.

    The real ports are 23272 to 23272; with an ephemeral port P the emulator answers from P to
    the requester's P, so the client binds P on another loopback address to receive it.
    """
    with cube(host="127.0.0.2", discovery_port=0) as emulator:
        port = emulator.discovery_port
        assert port is not None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.bind(("127.0.0.3", port))
            client.settimeout(TIMEOUT)
            client.sendto(DISCOVERY_REQUEST, ("127.0.0.2", port))
            data, source = client.recvfrom(1024)
            assert data == b"eQ3MaxApKMD1016788>I\x00\x09\x9c\x3e\x01\x13"
            assert len(data) == 26
            assert source == ("127.0.0.2", port)
            # a request naming this Cube's serial is answered too, another serial is not
            client.sendto(b"eQ3Max*\x00KMD1016788I", ("127.0.0.2", port))
            assert client.recvfrom(1024) == (data, source)
            client.sendto(b"eQ3Max*\x00KEQ9999999I", ("127.0.0.2", port))
            client.sendto(b"eQ3MaxApKMD1016788>I\x00\x09\x9c\x3e\x01\x13", ("127.0.0.2", port))
            client.settimeout(0.5)
            with pytest.raises(TimeoutError):
                client.recvfrom(1024)


def test_cube_discovery_reply_to_source_port() -> None:
    with (
        cube(discovery_port=0, reply_to_source_port=True) as emulator,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client,
    ):
        assert emulator.discovery_port is not None
        client.settimeout(TIMEOUT)
        client.sendto(DISCOVERY_REQUEST, ("127.0.0.1", emulator.discovery_port))
        data, source = client.recvfrom(1024)
    assert data == emulators.max_discovery_answer("KMD1016788", "099c3e", "0113")
    assert source == ("127.0.0.1", emulator.discovery_port)


# --- banner --------------------------------------------------------------------------------------


def test_banner_sends_exact_bytes_and_holds_the_connection() -> None:
    banner = b"\x00\x01\x1b[0m\xff\xfe caf\xc3\xa9 <&>\r\n"
    with (
        emulators.BannerEmulator(banner, port=0) as server,
        connect("127.0.0.1", server.port) as sock,
    ):
        assert read_exactly(sock, len(banner)) == banner
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # still open, nothing more


def test_banner_silent_and_close_after_banner() -> None:
    with emulators.BannerEmulator(b"", port=0) as silent, connect("127.0.0.1", silent.port) as sock:
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(1)
    with (
        emulators.BannerEmulator(b"bye\n", port=0, close_after_banner=True) as server,
        connect("127.0.0.1", server.port) as sock,
    ):
        assert read_to_eof(sock) == b"bye\n"


# --- lifecycle and CLI ---------------------------------------------------------------------------


def closed_by_peer(sock: socket.socket, timeout: float) -> bytes:
    """What arrives until the peer closes (EOF, or a reset for a never-accepted connection)."""
    try:
        return read_to_eof(sock, timeout)
    except ConnectionResetError:
        return b""


def test_stop_is_bounded_while_clients_hold_connections() -> None:
    group = emulators.EmulatorGroup([cube(), emulators.BannerEmulator(b"x", port=0)])
    group.start()
    cube_port, banner_port = (item.port for item in group.listeners)
    holders = [connect("127.0.0.1", cube_port), connect("127.0.0.1", banner_port)]
    try:
        read_greeting(holders[0])
        assert read_exactly(holders[1], 1) == b"x"  # both handlers are now holding
        # and two more: one queued behind the Cube's client, one perhaps not accepted yet
        holders += [connect("127.0.0.1", cube_port), connect("127.0.0.1", banner_port)]
        started = time.monotonic()
        group.stop(timeout=3.0)
        assert time.monotonic() - started < 3.0
        assert read_to_eof(holders[0], timeout=2.0) == b""
        assert read_to_eof(holders[1], timeout=2.0) == b""
        assert closed_by_peer(holders[2], timeout=2.0) == b""
        assert closed_by_peer(holders[3], timeout=2.0) in (b"", b"x")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", cube_port), timeout=TIMEOUT).close()
    finally:
        for holder in holders:
            holder.close()


def test_async_context_manager_on_the_callers_loop() -> None:
    async def scenario() -> bytes:
        async with emulators.DaytimeEmulator(port=0, clock=emulators.DEMO_CLOCK) as daytime:
            reader, writer = await asyncio.open_connection("127.0.0.1", daytime.tcp_port)
            try:
                async with asyncio.timeout(TIMEOUT):
                    return await reader.read()
            finally:
                writer.close()

    assert asyncio.run(scenario()) == DEMO_LINE


def test_bind_conflict_is_reported_to_the_caller() -> None:
    with emulators.BannerEmulator(port=0) as first:
        with pytest.raises(OSError):
            emulators.BannerEmulator(port=first.port).start()


def run_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", emulators.__name__, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_runs_for_duration_and_prints_one_line_per_listener() -> None:
    process = run_cli("--all", "--ephemeral", "--duration", "1")
    try:
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    lines = stdout.splitlines()
    names = [(line.split()[0], line.split()[1]) for line in lines]
    assert names == [
        ("identd", "tcp"),
        ("daytime", "tcp"),
        ("daytime", "udp"),
        ("maxcube", "tcp"),
        ("maxcube-discovery", "udp"),
        ("banner", "tcp"),
    ]
    assert all(line.split()[2].startswith("127.0.0.1:") for line in lines)


def test_cli_stops_on_sigint() -> None:
    process = run_cli("--daytime", "--ephemeral")
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # printed once the sockets are bound
        port = int(first.split()[2].rsplit(":", 1)[1])
        with connect("127.0.0.1", port) as sock:
            assert read_to_eof(sock) == DEMO_LINE
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.communicate(timeout=10)


# --- real Nmap -----------------------------------------------------------------------------------


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def script_outputs(xml_text: str) -> dict[str, dict[str, str]]:
    """portid -> {script id: output}; order-free, since Nmap writes scripts in completion order."""
    root = ET.fromstring(xml_text)
    return {
        port.get("portid", ""): {s.get("id", ""): s.get("output", "") for s in port.iter("script")}
        for port in root.iter("port")
    }


def test_real_nmap_scripts_against_the_emulators() -> None:
    nmap = shutil.which("nmap")
    if nmap is None:
        pytest.skip("nmap is not installed")
    busy = [port for port in (13, 113, 62910) if not port_is_free(port)]
    if busy:
        pytest.skip(f"ports already in use on 127.0.0.1: {busy}")
    group = emulators.EmulatorGroup(
        emulators.default_emulators(banner_port=0, maxcube_discovery_port=None)
    )
    try:
        group.start()
    except PermissionError as exc:
        pytest.skip(f"cannot bind the privileged ports: {exc}")
    try:
        banner_port = group.emulators[-1].listeners[0].port
        result = subprocess.run(
            [
                nmap,
                "-n",
                "-Pn",
                "-sT",
                "-p",
                f"13,113,{banner_port},62910",
                "127.0.0.1",
                "--script",
                "daytime,auth-owners,banner",
                "-oX",
                "-",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        group.stop()
    assert result.returncode == 0, result.stderr
    xml_text = result.stdout
    outputs = script_outputs(xml_text)

    # daytime keeps the line ending, which Nmap escapes in XML as character references
    assert 'id="daytime" output="Sun Nov 22 22:01:21 2026&#xd;&#xa;"' in xml_text
    assert outputs["13"]["daytime"] == "Sun Nov 22 22:01:21 2026\r\n"
    # banner trims whitespace and writes other non-printable bytes as \xHH
    assert outputs["13"]["banner"] == "Sun Nov 22 22:01:21 2026"
    assert outputs[str(banner_port)]["banner"] == "nmapx demo banner <&> caf\\xC3\\xA9 \\x01\\x7F"
    assert 'output="nmapx demo banner &lt;&amp;&gt; caf\\xC3\\xA9 \\x01\\x7F"' in xml_text
    # the Cube greeting, cut and wrapped by banner.nse (134 characters at the +1 verbosity)
    assert outputs["62910"]["banner"] == (
        "H:KMD1016788,099c3e,0113,00000000,7ee2b5d7,00,32,1a0b16,1601,03\n"
        ",0000\\x0D\\x0AM:00,01,VgIBAQtMaXZpbmcgcm9vbRorPAEBGis8S0VRMTIzNDU2Nwp...\n"
    )
    # identd answers for a connection that the banner service holds open
    assert outputs[str(banner_port)]["auth-owners"] == USER
    # the real races (testing-notes.md): identd asked about its own connection, the daytime
    # connection already closed, the Cube busy with banner's connection: owner or nothing
    for port in ("13", "113", "62910"):
        assert outputs[port].get("auth-owners", USER) == USER


NMAP_UDP_SCRIPT = textwrap.dedent(
    """
    import subprocess, sys
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    sys.path.insert(0, sys.argv[1])
    emulators = __import__(sys.argv[2], fromlist=["x"])
    daytime = emulators.DaytimeEmulator(host="0.0.0.0", port=13, clock=emulators.DEMO_CLOCK)
    with daytime:
        result = subprocess.run(
            [sys.argv[3], "-n", "-Pn", "-sU", "-p", "13", "127.0.0.2", "--script", "daytime",
             "-oN", sys.argv[4], "-oX", "-"],
            capture_output=True, text=True, timeout=120,
        )
    sys.stderr.write(result.stderr)
    sys.stdout.write(result.stdout)
    sys.exit(result.returncode)
    """
)


def test_real_nmap_udp_daytime_on_another_loopback_address(tmp_path: Path) -> None:
    """Nmap -sU sees 13/udp on 127.0.0.2 as open only if the reply comes from 127.0.0.2."""
    nmap = shutil.which("nmap")
    if nmap is None:
        pytest.skip("nmap is not installed")
    if os.getuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs root (for -sU), unshare and ip for a private network namespace")
    normal = tmp_path / "scan.nmap"
    result = subprocess.run(
        [
            "unshare",
            "-n",
            sys.executable,
            "-c",
            NMAP_UDP_SCRIPT,
            str(REPO),
            emulators.__name__,
            nmap,
            str(normal),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    if result.returncode != 0 and "unshare failed" in result.stderr:
        pytest.skip(f"cannot create a network namespace: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    root = ET.fromstring(result.stdout)
    port = root.find(".//port[@protocol='udp'][@portid='13']")
    assert port is not None
    state = port.find("state")
    assert state is not None and state.get("state") == "open"
    assert script_outputs(result.stdout)["13"]["daytime"] == "Sun Nov 22 22:01:21 2026\r\n"
    assert "|_daytime: Sun Nov 22 22:01:21 2026\\x0D\n" in normal.read_text()
