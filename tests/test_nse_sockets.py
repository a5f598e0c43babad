"""NSE sockets, comm and --script-trace, on real loopback sockets and against real Nmap 7.93.

Every server here is started by the test on 127.0.0.1 (ephemeral ports), lives only for the
test's coroutine, and every wait is bounded. The comparisons with Nmap run a small prerule
script (no targets, so Nmap scans nothing) that talks only to those servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import re
import shutil
import socket
import subprocess
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import in_script_thread

from nmapx.engine import thread as context
from nmapx.engine.thread import RunContext, RunSettings, ScopeError, ScriptThread
from nmapx.model.host import NseHost
from nmapx.model.ports import Port, Version
from nmapx.nse import comm
from nmapx.nse.errors import CommError, NotConnectedError, NseError, Oops, SocketError
from nmapx.nse.sockets import DEFAULT_TIMEOUT, MAX_READ, NseSocket
from nmapx.nse.trace import hexify

needs_nmap = pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
LOOP = "127.0.0.1"


# =============================================================================== harness
def run_thread(
    body: Callable[[], Awaitable[Any]],
    *,
    script_trace: bool = False,
    no_network: bool = False,
    allowed: Callable[[str], bool] | None = None,
    verbosity: int = 0,
    debugging: int = 0,
    limit: float = 60,
) -> tuple[Any, str]:
    """Run ``body`` as a script thread; returns (result, engine messages)."""
    return in_script_thread(
        body,
        script_trace=script_trace,
        no_network=no_network,
        allowed=allowed,
        verbosity=verbosity,
        debugging=debugging,
        limit=limit,
    )


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def tcp_server(handler: Handler, lifetime: float = 20):
    """A loopback TCP server; each connection is handled for at most ``lifetime`` seconds."""

    async def bounded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(handler(reader, writer), lifetime)
        except (TimeoutError, OSError, asyncio.CancelledError):
            pass  # a handler task ends quietly, also when the test's loop shuts down
        finally:
            writer.close()

    server = await asyncio.start_server(bounded, LOOP, 0)
    server.connections = 0  # type: ignore[attr-defined]
    try:
        yield server, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)


async def banner_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"hello\r\nworld\r\n")
    await writer.drain()
    await asyncio.sleep(1)


async def echo_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await asyncio.wait_for(reader.read(65536), 10):
        writer.write(data)
        await writer.drain()


async def lines_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"one\ntwo\nthree\nfour")
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.write(b"\nfive\n")
    await writer.drain()
    await asyncio.sleep(0.7)


async def silent_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(10)


class UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(b"U:" + data, addr)


@contextlib.asynccontextmanager
async def udp_echo():
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(UdpEcho, local_addr=(LOOP, 0))
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


@contextlib.contextmanager
def silent_udp():
    """A bound UDP port that never answers (and so causes no ICMP unreachable)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOP, 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def closed_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port nobody listens on (bound and released)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOOP, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def full_backlog():
    """A listener whose accept queue is full: new SYNs are dropped, a connect times out."""
    listener = socket.socket()
    listener.bind((LOOP, 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        client = socket.socket()
        client.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            client.connect((LOOP, port))
        fillers.append(client)
    time.sleep(0.1)
    try:
        yield port
    finally:
        for client in fillers:
            client.close()
        listener.close()


# =============================================================================== hexify
# Expected strings are copied from real Nmap 7.93 --script-trace output.
def test_hexify_hex_dump_as_nmap() -> None:
    assert hexify(b"hello\r\nworld\r\n") == (
        "00000000: 68 65 6c 6c 6f 0d 0a 77 6f 72 6c 64 0d 0a       hello  world  \n"
    )
    assert hexify(b"one\ntwo\nthree\nfour") == (
        "00000000: 6f 6e 65 0a 74 77 6f 0a 74 68 72 65 65 0a 66 6f one two three fo\n"
        "00000010: 75 72                                           ur\n"
    )


def test_hexify_printable_and_empty() -> None:
    assert hexify(b"hi") == "hi"
    assert hexify(b"") == ""
    # One non-printable byte in 40: raw, the byte as a right-aligned "\ddd" field.
    assert hexify(b"abcdefghij\x01klmnopqrstuvwxyz0123456789 ABC") == (
        "abcdefghij  \\1klmnopqrstuvwxyz0123456789 ABC"
    )
    assert hexify(b"x" * 30 + b"\xf6") == "x" * 30 + "  \\246"
    # Whitespace is kept raw but does not count as printable.
    assert hexify(b"a" * 19 + b"\n") == "a" * 19 + "\n"
    assert hexify(b"a" * 18 + b"\r\n").startswith("00000000: ")


# =============================================================================== basics
def test_connect_send_receive_get_info_close() -> None:
    async def body() -> Any:
        async with tcp_server(echo_handler) as (_, port):
            sock = NseSocket()
            assert sock.timeout == DEFAULT_TIMEOUT
            await sock.connect(LOOP, port)
            await sock.send("h\u00e9llo \udcff")  # str: UTF-8, surrogateescape
            data = await sock.receive()
            info = sock.get_info()
            assert sock.close() is True
            assert sock.close() is False  # NSE: false, "socket already closed"
            return data, info, port

    (data, info, port), _ = run_thread(body)
    assert data == "h\u00e9llo ".encode() + b"\xff"
    assert info[0] == LOOP and info[2:] == (LOOP, port) and info[1] > 0


def test_connect_with_host_and_port_tables() -> None:
    async def body() -> Any:
        async with tcp_server(banner_handler) as (_, port):
            host = NseHost(
                ip=LOOP,
                name="",
                targetname=None,
                reason="",
                reason_ttl=0,
                mac_addr=None,
                bin_ip=None,
                times={},
                traceroute=[],
                os_fp=None,
                os=None,
            )
            sock = NseSocket()
            await sock.connect(host, Port(number=port, protocol="tcp", state="open"))
            first = await sock.receive_lines(1)
            sock2 = NseSocket()
            await sock2.connect({"ip": LOOP}, {"number": port, "protocol": "tcp"})
            sock2.close()
            return first

    first, _ = run_thread(body)
    assert first == b"hello\r\nworld\r\n"


def test_refused_connect_is_error_and_socket_stays_open() -> None:
    port = closed_port()

    async def body() -> Any:
        sock = NseSocket()
        with pytest.raises(SocketError) as refused:
            await sock.connect(LOOP, port)
        # A failed connect leaves the socket "open" as in NSE: send fails, receive sees EOF.
        with pytest.raises(SocketError) as send_error:
            await sock.send("x")
        with pytest.raises(SocketError) as receive_error:
            await sock.receive()
        info = sock.get_info()
        return refused.value.status, send_error.value.status, receive_error.value, info, sock

    (refused, sent, received, info, sock), _ = run_thread(body)
    assert refused == "ERROR" and str(SocketError("ERROR")) == "ERROR"
    assert sent == "ERROR" and received.status == "EOF"
    assert info[2:] == (LOOP, port)
    assert not sock._open  # closed by the engine at thread end


def test_receive_timeout_and_eof() -> None:
    async def body() -> Any:
        async with tcp_server(silent_handler) as (_, port):
            sock = NseSocket()
            sock.set_timeout(300.9)
            assert sock.timeout == 300  # floored like nseU_checkinteger
            await sock.connect(LOOP, port)
            started = time.monotonic()
            with pytest.raises(SocketError) as timed_out:
                await sock.receive()
            elapsed = time.monotonic() - started
        async with tcp_server(banner_handler) as (_, port):
            sock = NseSocket()
            sock.set_timeout(5000)
            await sock.connect(LOOP, port)
            assert await sock.receive() == b"hello\r\nworld\r\n"
            with pytest.raises(SocketError) as eof:
                await sock.receive()
        return timed_out.value.status, elapsed, eof.value.status

    timed_out, elapsed, eof = run_thread(body)[0]
    assert timed_out == "TIMEOUT" and 0.25 < elapsed < 2
    assert eof == "EOF"


def test_set_timeout_rejects_below_minus_one() -> None:
    sock = NseSocket()
    sock.set_timeout(-1)  # no timeout
    with pytest.raises(ValueError):
        sock.set_timeout(-2)


def test_connect_timeout() -> None:
    with full_backlog() as port:

        async def body() -> Any:
            sock = NseSocket()
            sock.set_timeout(400)
            started = time.monotonic()
            with pytest.raises(SocketError) as error:
                await sock.connect(LOOP, port)
            return error.value.status, time.monotonic() - started

        status, elapsed = run_thread(body)[0]
    assert status == "TIMEOUT" and 0.35 < elapsed < 3


def test_receive_lines_returns_more_than_asked_and_partial_at_eof() -> None:
    async def body() -> Any:
        async with tcp_server(lines_handler) as (_, port):
            sock = NseSocket()
            sock.set_timeout(5000)
            await sock.connect(LOOP, port)
            first = await sock.receive_lines(1)
            second = await sock.receive_lines(1)
            with pytest.raises(SocketError) as eof:
                await sock.receive_lines(1)
        async with tcp_server(lines_handler) as (_, port):
            sock = NseSocket()
            sock.set_timeout(5000)
            await sock.connect(LOOP, port)
            many = await sock.receive_lines(10)  # never 10 lines: all data before EOF
        return first, second, eof.value.status, many

    first, second, eof, many = run_thread(body)[0]
    assert first == b"one\ntwo\nthree\nfour"  # 3 lines and a partial one, from one read
    assert second == b"\nfive\n"
    assert eof == "EOF"
    assert many == b"one\ntwo\nthree\nfour\nfive\n"


def test_receive_lines_partial_data_at_timeout_is_success() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"no newline yet")
        await writer.drain()
        await asyncio.sleep(5)

    async def body() -> Any:
        async with tcp_server(handler) as (_, port):
            sock = NseSocket()
            sock.set_timeout(300)
            await sock.connect(LOOP, port)
            return await sock.receive_lines(1)

    assert run_thread(body)[0] == b"no newline yet"


def test_receive_bytes() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for piece in (b"ab", b"cd", b"efgh"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.1)

    async def body() -> Any:
        async with tcp_server(handler) as (_, port):
            sock = NseSocket()
            sock.set_timeout(3000)
            await sock.connect(LOOP, port)
            four = await sock.receive_bytes(3)
            rest = await sock.receive_bytes(100)  # EOF after 4 bytes: success with those
            with pytest.raises(SocketError) as eof:
                await sock.receive_bytes(1)
            return four, rest, eof.value.status

    four, rest, eof = run_thread(body)[0]
    assert four == b"abcd" and rest == b"efgh" and eof == "EOF"


def test_receive_buf_regex_keep_and_leftover() -> None:
    async def body() -> Any:
        async with tcp_server(echo_handler) as (_, port):
            sock = NseSocket()
            sock.set_timeout(400)
            await sock.connect(LOOP, port)
            await sock.send(b"key: value\r\nkey2: v2\r\n\r\nrest")
            got = [
                await sock.receive_buf("\r\n", False),
                await sock.receive_buf(re.compile(rb"\r?\n"), True),
            ]
            with pytest.raises(SocketError) as timeout:
                await sock.receive_buf(b"\r\n\r\n", True)  # the buffer is "\r\nrest"
            got.append(await sock.receive_buf("\r\n", False))  # buffer kept after the error
            with pytest.raises(SocketError) as plain:
                await sock.receive()  # the buffered "rest" belongs to receive_buf only
            await sock.connect(LOOP, port)  # reconnect keeps the buffer, as in NSE
            await sock.send("zz\r\n")
            got.append(await sock.receive_buf(re.compile("\r\n"), False))
            await sock.send("a5b8c")
            got.append(await sock.receive_buf(lambda b: re.search(rb"5", b), True))
            got.append(await sock.receive_buf(lambda b: (b.find(b"8"), b.find(b"8") + 1), False))
            with pytest.raises(ValueError, match="invalid indices"):
                await sock.receive_buf(lambda b: (0, 0), False)  # empty match, as Lua's 1,0
            with pytest.raises(TypeError):
                await sock.receive_buf("x", 1)
            sock.close()
            await sock.connect(LOOP, port)
            await sock.send("q\n")
            got.append(await sock.receive_buf("\n", True))  # close() emptied the buffer
            return got, timeout.value.status, plain.value.status

    got, timeout, plain = run_thread(body)[0]
    assert got == [b"key: value", b"key2: v2\r\n", b"", b"restzz", b"a5", b"b", b"q\n"]
    assert timeout == "TIMEOUT" and plain == "TIMEOUT"


def test_not_connected_is_a_script_error_not_a_socket_error() -> None:
    async def body() -> Any:
        sock = NseSocket()
        with pytest.raises(NotConnectedError, match="socket must be connected") as error:
            await sock.send("x")
        with pytest.raises(NotConnectedError):
            await sock.receive()
        with pytest.raises(NotConnectedError):
            sock.get_info()
        return error.value, sock.close()

    error, closed = run_thread(body)[0]
    assert isinstance(error, NseError) and not isinstance(error, SocketError)
    assert closed is False


def test_unconnected_udp_socket_is_set_up_implicitly() -> None:
    async def body() -> Any:
        sock = NseSocket("udp")
        sock.set_timeout(200)
        with pytest.raises(SocketError) as sent:
            await sock.send("x")
        with pytest.raises(SocketError) as received:
            await sock.receive()
        return sent.value.status, received.value.status, sock.close()

    sent, received, closed = run_thread(body)[0]
    assert (sent, received, closed) == ("ERROR", "TIMEOUT", True)


def test_hostile_flood_without_newline_is_capped() -> None:
    total = 100 * 1024 * 1024
    sent = {"bytes": 0}

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        chunk = b"A" * 65536
        while sent["bytes"] < total:
            writer.write(chunk)
            await writer.drain()
            sent["bytes"] += len(chunk)

    async def body() -> Any:
        async with tcp_server(flood, lifetime=15) as (_, port):
            sock = NseSocket()
            sock.set_timeout(5000)
            await sock.connect(LOOP, port)
            tracemalloc.start()
            started = time.monotonic()
            try:
                line = await sock.receive_lines(1)
                with pytest.raises(SocketError) as no_delimiter:
                    await sock.receive_buf("\n", False)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            elapsed = time.monotonic() - started
            sock.close()
            return len(line), no_delimiter.value.status, peak, elapsed, sock._buffer

    length, status, peak, elapsed, buffer = run_thread(body)[0]
    assert MAX_READ <= length < MAX_READ + 2 * 65536
    assert status == "ERROR" and buffer == b""
    assert peak < 24 * 1024 * 1024
    assert elapsed < 5
    assert sent["bytes"] < total  # the server was stopped by back-pressure, not drained


def test_async_context_manager_closes() -> None:
    async def body() -> Any:
        async with tcp_server(banner_handler) as (_, port):
            async with NseSocket() as sock:
                await sock.connect(LOOP, port)
            return sock.close()

    assert run_thread(body)[0] is False


def test_socket_registered_and_closed_at_thread_end() -> None:
    async def body() -> Any:
        async with tcp_server(echo_handler) as (_, port):
            sock = NseSocket()
            await sock.connect(LOOP, port)
            thread = context.current()
            assert sock in thread.sockets and thread.holds_slot
            return sock

    sock, _ = run_thread(body)
    assert sock.close() is False
    sock.abort()  # idempotent, never raises


# =============================================================================== UDP
def test_udp_connect_send_receive() -> None:
    async def body() -> Any:
        async with udp_echo() as port:
            sock = NseSocket("udp")
            sock.set_timeout(2000)
            await sock.connect(LOOP, port)
            await sock.send("ping")
            reply = await sock.receive()
            sock.close()
            return reply

    assert run_thread(body)[0] == b"U:ping"


def test_udp_closed_port_icmp_unreachable_is_error() -> None:
    port = closed_port(socket.SOCK_DGRAM)

    async def body() -> Any:
        sock = NseSocket("udp")
        sock.set_timeout(500)
        await sock.connect(LOOP, port)  # UDP connect always succeeds
        await sock.send("ping")
        with pytest.raises(SocketError) as error:
            await sock.receive()
        sock.close()
        return error.value.status

    assert run_thread(body)[0] == "ERROR"


def test_comm_exchange_udp_reply_and_closed_port() -> None:
    udp_port = closed_port(socket.SOCK_DGRAM)

    async def body() -> Any:
        async with udp_echo() as port:
            reply = await comm.exchange(
                LOOP, Port(number=port, protocol="udp", state="open"), "q", timeout=1000
            )
        with pytest.raises(CommError) as error:
            await comm.exchange(LOOP, {"number": udp_port, "protocol": "udp"}, "q", timeout=500)
        return reply, error.value

    reply, error = run_thread(body)[0]
    assert reply == b"U:q"
    assert error.messages == ["Failed to read", "receive failed", "ERROR"]
    assert error.status == "ERROR" and isinstance(error, SocketError)


# =============================================================================== scope
def test_scope_refusal_sends_nothing(listener_factory: Any) -> None:
    listener = listener_factory(b"x")

    async def body() -> Any:
        sock = NseSocket()
        with pytest.raises(ScopeError):
            await sock.connect(LOOP, listener.port)
        with pytest.raises(ScopeError):
            await comm.exchange(LOOP, listener.port, "x", timeout=300)
        return context.current().holds_slot

    held, _ = run_thread(body, allowed=lambda ip: ip == "127.0.0.2")
    time.sleep(0.3)
    assert listener.connections == 0
    assert held is False  # refused before taking a socket slot


def test_no_network_refuses_addresses_and_names(listener_factory: Any) -> None:
    listener = listener_factory(b"x")

    async def body() -> None:
        for host in (LOOP, "localhost"):
            with pytest.raises(ScopeError):
                await NseSocket().connect(host, listener.port)
        with pytest.raises(ScopeError):
            await NseSocket("udp").connect(LOOP, 53)

    run_thread(body, no_network=True)
    time.sleep(0.3)
    assert listener.connections == 0


def test_names_are_resolved_then_checked() -> None:
    async def body() -> Any:
        async with tcp_server(banner_handler) as (_, port):
            sock = NseSocket()
            await sock.connect("localhost", port)  # /etc/hosts: no DNS traffic
            data = await sock.receive()
            sock.close()
            return data

    assert run_thread(body, allowed=lambda ip: ip == LOOP)[0] == b"hello\r\nworld\r\n"

    async def refused_name() -> None:
        await NseSocket().connect("localhost", 9)

    with pytest.raises(ScopeError):
        run_thread(refused_name, allowed=lambda ip: ip == "127.0.0.2")


def test_resolver_failure_is_gai_text(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def body() -> str:
        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fail)
        with pytest.raises(SocketError) as error:
            await NseSocket().connect("nonexistent.example", 80)
        return error.value.status

    assert run_thread(body)[0] == "Name or service not known"


# =============================================================================== trace
def _ports_to_names(text: str, names: dict[int, str] | None = None) -> str:
    """Replace each local (client) port of trace lines by L1, L2, ... in order of appearance."""
    names = {} if names is None else names
    seen: dict[str, str] = {}

    def local(match: re.Match[str]) -> str:
        port = match[2]
        if port not in seen:
            seen[port] = f"L{len(seen) + 1}"
        remote = int(match[4])
        return f"NSE: {match[1]} {seen[port]} {match[3]} {names.get(remote, match[4])} |"

    return re.sub(r"NSE: (TCP|UDP) 127\.0\.0\.1:(\d+) ([<>]) 127\.0\.0\.1:(\d+) \|", local, text)


def test_trace_lines_exact() -> None:
    async def body() -> Any:
        async with tcp_server(echo_handler) as (_, port):
            sock = NseSocket()
            sock.set_timeout(2000)
            await sock.connect(LOOP, port)
            await sock.send("hi")
            await sock.receive()
            await sock.send(b"hello\r\nworld\r\n")
            await sock.receive()
            local_port = sock.get_info()[1]
            sock.close()
            return port, local_port

    (port, local_port), out = run_thread(body, script_trace=True)
    peer = f"TCP 127.0.0.1:{local_port} %s 127.0.0.1:{port} | "
    dump = "00000000: 68 65 6c 6c 6f 0d 0a 77 6f 72 6c 64 0d 0a       hello  world  \n"
    assert out == "".join(
        f"NSE: {peer % d}{m}\n"
        for d, m in [
            (">", "CONNECT"),
            (">", "hi"),
            (">", "SEND"),
            ("<", "hi"),
            (">", dump),
            (">", "SEND"),
            ("<", dump),
            (">", "CLOSE"),
        ]
    )


def test_no_trace_without_script_trace() -> None:
    async def body() -> None:
        async with tcp_server(banner_handler) as (_, port):
            sock = NseSocket()
            await sock.connect(LOOP, port)
            await sock.receive()
            sock.close()

    assert run_thread(body)[1] == ""


def _lua(data: bytes) -> str:
    return '"' + "".join(f"\\{byte:03d}" for byte in data) + '"'


P_TEXT = b"printable text\twith tab\r\n"
P_MOSTLY = b"abcdefghij\x01klmnopqrstuvwxyz0123456789 ABCDEFGHIJ"
P_HIGH = b"hello w\xf6rld, this line is long enough to stay raw!"
P_BIN = bytes(range(21)) + b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
P_HDRS = b"key: value\r\nkey2: v2\r\n\r\nrest"

LUA_SCENARIO = r"""
local nmap = require "nmap"
local comm = require "comm"
local stdnse = require "stdnse"
description = "nmapx socket conformance"
categories = {"safe"}
prerule = function() return true end
local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
local function show(tag, ok, val)
  if type(val) == "string" and ok then val = hex(val) end
  nmap.log_write("stdout", ("%s => %s %s"):format(tag, ok and "true" or "fail", tostring(val)))
end
local function showc(tag, st, e)
  if st then show(tag, true, e) else show(tag, false, table.concat(e, "|")) end
end
local function arg(n) return tonumber(stdnse.get_script_args("p." .. n)) end
action = function()
  local L = "127.0.0.1"
  local s = nmap.new_socket()
  show("refused", s:connect(L, arg("closed")))
  show("close", s:close())
  show("close-again", s:close())
  s = nmap.new_socket()
  s:connect(L, arg("closed"))
  show("send-after-refused", s:send("x"))
  show("recv-after-refused", s:receive())
  s:close()
  s = nmap.new_socket()
  s:set_timeout(5000)
  show("lines-conn", s:connect(L, arg("lines")))
  show("lines1", s:receive_lines(1))
  show("lines2", s:receive_lines(1))
  show("lines-eof", s:receive_lines(1))
  s:close()
  s = nmap.new_socket()
  s:set_timeout(700)
  show("conn", s:connect(L, arg("echo")))
  for i, p in ipairs({P_TEXT, P_MOSTLY, P_HIGH, "", P_BIN}) do
    show("send" .. i, s:send(p))
    if #p > 0 then show("recv" .. i, s:receive()) end
  end
  s:send(P_HDRS)
  show("buf1", s:receive_buf("\r\n", false))
  show("buf2", s:receive_buf("\r\n", true))
  show("buf3", s:receive_buf("\r\n\r\n", true))
  show("buf4", s:receive_buf("\r\n", false))
  show("recv-timeout", s:receive())
  show("reconnect", s:connect(L, arg("echo")))
  s:send("zz\r\n")
  show("buf5", s:receive_buf("\r\n", false))
  s:send("0123456789")
  show("bytes", s:receive_bytes(4))
  s:send("a5b8c")
  show("fbuf1", s:receive_buf(function(b) return b:find("5") end, true))
  show("fbuf2", s:receive_buf(function(b) return b:find("8") end, false))
  show("close", s:close())
  show("send-closed", pcall(s.send, s, "x"))
  show("close-closed", s:close())
  local u = nmap.new_socket("udp")
  u:set_timeout(1500)
  show("uconn", u:connect(L, arg("uecho")))
  show("usend", u:send("ping"))
  show("urecv", u:receive())
  u:close()
  u = nmap.new_socket("udp")
  u:set_timeout(500)
  show("uconn-closed", u:connect(L, arg("uclosed")))
  show("usend", u:send("ping"))
  show("urecv-unreach", u:receive())
  u:close()
  local v = nmap.new_socket("udp")
  show("unset-udp-send", v:send("x"))
  show("unset-udp-close", v:close())
  local w = nmap.new_socket()
  show("unset-tcp-send", pcall(w.send, w, "x"))
  show("unset-tcp-close", w:close())
  s = nmap.new_socket()
  s:set_timeout(400)
  show("conn-timeout", s:connect(L, arg("full")))
  s:close()
  showc("ex-refused", comm.exchange(L, arg("closed"), "x", {timeout=500}))
  showc("ex-udp-closed", comm.exchange(L, {number=arg("uclosed"), protocol="udp"}, "x", {timeout=500}))
  showc("ex-lines", comm.exchange(L, arg("echo"), "x", {timeout=300, lines=2}))
  showc("ex-udp", comm.exchange(L, {number=arg("uecho"), protocol="udp"}, "q", {timeout=1000}))
  showc("banner-refused", comm.get_banner(L, arg("closed"), {timeout=300}))
  showc("banner", comm.get_banner(L, arg("banner"), {timeout=1000}))
  local sd, resp, best, early = comm.tryssl(L, arg("echo"), "hi", {timeout=500})
  show("tryssl-echo", sd and true, best .. " " .. hex(resp) .. " " .. tostring(early))
  sd:close()
  showc("banner-silent", comm.get_banner(L, arg("silent"), {timeout=300}))
  local leak = nmap.new_socket()
  show("leak", leak:connect(L, arg("echo")))
  return "done"
end
"""
for _name, _value in {
    "P_TEXT": P_TEXT,
    "P_MOSTLY": P_MOSTLY,
    "P_HIGH": P_HIGH,
    "P_BIN": P_BIN,
    "P_HDRS": P_HDRS,
}.items():
    LUA_SCENARIO = LUA_SCENARIO.replace(_name, _lua(_value))


async def python_scenario(ports: dict[str, int]) -> None:
    """The same steps as LUA_SCENARIO, with the same ``show`` lines."""
    emit = context.current().engine.message

    def show(tag: str, ok: bool, value: Any) -> None:
        if isinstance(value, bytes) and ok:
            value = value.hex()
        elif value is None:
            value = "nil"
        elif value is True:
            value = "true"
        emit(f"NSE: {tag} => {'true' if ok else 'fail'} {value}")

    async def call(tag: str, awaitable: Awaitable[Any]) -> None:
        try:
            value = await awaitable
        except SocketError as error:
            show(tag, False, error.status)
        except NotConnectedError as error:
            show(tag, False, str(error))
        else:
            show(tag, True, value)

    async def callc(tag: str, awaitable: Awaitable[Any]) -> None:
        try:
            value = await awaitable
        except CommError as error:
            show(tag, False, "|".join(error.messages))
        else:
            show(tag, True, value)

    def closed(tag: str, sock: NseSocket) -> None:
        if sock.close():
            show(tag, True, None)
        else:
            show(tag, False, "socket already closed")

    L = LOOP
    s = NseSocket()
    await call("refused", s.connect(L, ports["closed"]))
    closed("close", s)
    closed("close-again", s)
    s = NseSocket()
    with contextlib.suppress(SocketError):
        await s.connect(L, ports["closed"])
    await call("send-after-refused", s.send("x"))
    await call("recv-after-refused", s.receive())
    s.close()
    s = NseSocket()
    s.set_timeout(5000)
    await call("lines-conn", s.connect(L, ports["lines"]))
    await call("lines1", s.receive_lines(1))
    await call("lines2", s.receive_lines(1))
    await call("lines-eof", s.receive_lines(1))
    s.close()
    s = NseSocket()
    s.set_timeout(700)
    await call("conn", s.connect(L, ports["echo"]))
    for i, payload in enumerate([P_TEXT, P_MOSTLY, P_HIGH, b"", P_BIN], start=1):
        await call(f"send{i}", s.send(payload))
        if payload:
            await call(f"recv{i}", s.receive())
    await s.send(P_HDRS)
    await call("buf1", s.receive_buf("\r\n", False))
    await call("buf2", s.receive_buf("\r\n", True))
    await call("buf3", s.receive_buf("\r\n\r\n", True))
    await call("buf4", s.receive_buf("\r\n", False))
    await call("recv-timeout", s.receive())
    await call("reconnect", s.connect(L, ports["echo"]))
    await s.send("zz\r\n")
    await call("buf5", s.receive_buf("\r\n", False))
    await s.send("0123456789")
    await call("bytes", s.receive_bytes(4))
    await s.send("a5b8c")
    await call("fbuf1", s.receive_buf(lambda b: re.search(rb"5", b), True))
    await call("fbuf2", s.receive_buf(lambda b: re.search(rb"8", b), False))
    closed("close", s)
    await call("send-closed", s.send("x"))
    closed("close-closed", s)
    u = NseSocket("udp")
    u.set_timeout(1500)
    await call("uconn", u.connect(L, ports["uecho"]))
    await call("usend", u.send("ping"))
    await call("urecv", u.receive())
    u.close()
    u = NseSocket("udp")
    u.set_timeout(500)
    await call("uconn-closed", u.connect(L, ports["uclosed"]))
    await call("usend", u.send("ping"))
    await call("urecv-unreach", u.receive())
    u.close()
    v = NseSocket("udp")
    await call("unset-udp-send", v.send("x"))
    closed("unset-udp-close", v)
    w = NseSocket()
    await call("unset-tcp-send", w.send("x"))
    closed("unset-tcp-close", w)
    s = NseSocket()
    s.set_timeout(400)
    await call("conn-timeout", s.connect(L, ports["full"]))
    s.close()
    await callc("ex-refused", comm.exchange(L, ports["closed"], "x", timeout=500))
    await callc(
        "ex-udp-closed",
        comm.exchange(L, {"number": ports["uclosed"], "protocol": "udp"}, "x", timeout=500),
    )
    await callc("ex-lines", comm.exchange(L, ports["echo"], "x", timeout=300, lines=2))
    await callc(
        "ex-udp",
        comm.exchange(L, {"number": ports["uecho"], "protocol": "udp"}, "q", timeout=1000),
    )
    await callc("banner-refused", comm.get_banner(L, ports["closed"], timeout=300))
    await callc("banner", comm.get_banner(L, ports["banner"], timeout=1000))
    sd, resp, best, early = await comm.tryssl(L, ports["echo"], "hi", timeout=500)
    summary = f"{best} {resp.hex()} {'nil' if early is None else early.hex()}"
    show("tryssl-echo", True, summary.encode())
    sd.close()
    await callc("banner-silent", comm.get_banner(L, ports["silent"], timeout=300))
    leak = NseSocket()
    await call("leak", leak.connect(L, ports["echo"]))


@contextlib.asynccontextmanager
async def scenario_servers():
    async with contextlib.AsyncExitStack() as stack:
        ports: dict[str, int] = {}
        for name, handler in (
            ("banner", banner_handler),
            ("echo", echo_handler),
            ("lines", lines_handler),
            ("silent", silent_handler),
        ):
            _, ports[name] = await stack.enter_async_context(tcp_server(handler))
        ports["uecho"] = await stack.enter_async_context(udp_echo())
        ports["closed"] = closed_port()
        ports["uclosed"] = closed_port(socket.SOCK_DGRAM)
        ports["full"] = stack.enter_context(full_backlog())
        yield ports


async def run_nmap(*args: str, cwd: Path, limit: float = 120) -> str:
    process = await asyncio.create_subprocess_exec(
        "nmap", *args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), limit)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return out.decode("latin-1")


def _nse_lines(text: str) -> str:
    """Nmap's stdout reduced to what nmapx prints: ``NSE:`` lines and the rest of hex dumps.

    A hex dump continues with ``%08x: `` lines and ends with an empty line; everything else
    (``NSOCK INFO`` lines, the scan report, warnings) is Nmap's, not the script engine's.
    """
    kept: list[str] = []
    in_dump = False
    for line in text.splitlines(keepends=True):
        if line.startswith("NSE: "):
            kept.append(line)
            in_dump = re.search(r"\| [0-9a-f]{8}: ", line) is not None
        elif in_dump and re.match(r"[0-9a-f]{8}: ", line):
            kept.append(line)
        elif in_dump and line == "\n":
            kept.append(line)
            in_dump = False
        else:
            in_dump = False
    return "".join(kept)


@needs_nmap
def test_trace_and_results_match_real_nmap(tmp_path: Path) -> None:
    """Run the same socket and comm steps in Nmap 7.93 and in nmapx; compare every line.

    Covers the trace format (CONNECT/SEND/CLOSE, raw and hex-dump data, the "N/A unknown
    protocol" line of an unconnected UDP socket, the CLOSE of a leaked socket at thread end)
    and the results (statuses, data, Oops stacks) of each call.
    """
    script = tmp_path / "conformance.nse"
    script.write_text(LUA_SCENARIO)

    async def both() -> tuple[str, str, dict[str, int]]:
        async with scenario_servers() as ports:
            args = ",".join(f"p.{name}={port}" for name, port in ports.items())
            nmap_out = await run_nmap(
                "-n",
                "--script",
                str(script),
                "--script-args",
                args,
                "--script-trace",
                cwd=tmp_path,
            )

            async def ours() -> None:
                await python_scenario(ports)

            stream = io.StringIO()
            engine = RunContext(RunSettings(script_trace=True, stream=stream))
            thread = ScriptThread(script_id="conformance", phase="prerule", engine=engine)
            token = context.CURRENT.set(thread)
            try:
                await asyncio.wait_for(ours(), 90)
            finally:
                thread.release_resources()
                context.CURRENT.reset(token)
            return nmap_out, stream.getvalue(), ports

    nmap_out, ours, ports = asyncio.run(both())
    names = {port: f"<{name}>" for name, port in ports.items()}
    expected = _ports_to_names(_nse_lines(nmap_out), names)
    got = _ports_to_names(ours, names)
    assert "|_conformance: done" in nmap_out
    assert got.splitlines() == expected.splitlines()
    assert got == expected


@needs_nmap
@pytest.mark.parametrize(
    "banner", [b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", b"\x00\x01binary\xff\r\n" * 3]
)
def test_banner_script_trace_matches_real_nmap(tmp_path: Path, banner: bytes) -> None:
    """``nmap -sT --script banner --script-trace`` vs comm.get_banner, as banner.nse calls it."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(banner)
        await writer.drain()
        await asyncio.sleep(1)

    async def both() -> tuple[str, str, int]:
        async with tcp_server(handler) as (_, port):
            nmap_out = await run_nmap(
                "-n",
                "-Pn",
                "-sT",
                "-p",
                str(port),
                "--script",
                "banner",
                "--script-trace",
                LOOP,
                cwd=tmp_path,
            )
            stream = io.StringIO()
            engine = RunContext(RunSettings(script_trace=True, stream=stream))
            thread = ScriptThread(
                script_id="banner",
                phase="portrule",
                engine=engine,
                port=Port(number=port, protocol="tcp", state="open"),
            )
            token = context.CURRENT.set(thread)
            try:
                got = await comm.get_banner({"ip": LOOP}, thread.port, timeout=5000)
            finally:
                thread.release_resources()
                context.CURRENT.reset(token)
            assert got == banner
            return nmap_out, stream.getvalue(), port

    nmap_out, ours, port = asyncio.run(both())
    names = {port: "<service>"}
    assert "banner: " in nmap_out
    expected = _ports_to_names(_nse_lines(nmap_out), names)
    assert expected.count("\n") >= 3
    assert _ports_to_names(ours, names) == expected


_DUMP = re.compile(r"(NSE: [^\n]*\| )(00000000: [^\n]*\n(?:[0-9a-f]{8}: [^\n]*\n)*)")


def _canonical_ports(text: str) -> str:
    """Hide local port numbers inside traced data (identd requests and replies carry them).

    Hex dumps are decoded, the port digits replaced, and the dump rendered again, so the
    comparison still checks the rendering byte for byte. The ``ip:port`` headers are left for
    :func:`_ports_to_names`.
    """
    ports = sorted(set(re.findall(r"127\.0\.0\.1:(\d+) [<>]", text)), key=len, reverse=True)

    def canon(data: bytes) -> bytes:
        for number in ports:
            data = data.replace(number.encode(), b"P" * len(number))
        return data

    def redump(match: re.Match[str]) -> str:
        data = b"".join(
            bytes.fromhex(line[10:58].replace(" ", "")) for line in match[2].splitlines()
        )
        return match[1] + hexify(canon(data))

    def raw(match: re.Match[str]) -> str:
        return match[1] + canon(match[2].encode("latin-1")).decode("latin-1")

    text = _DUMP.sub(redump, text)
    return re.sub(r"(NSE: [^\n|]*\| )(?!00000000: )([^\n]*)", raw, text)


async def _auth_owners(host: Any, port: Port) -> str | None:
    """scripts/auth-owners.nse's action, step for step."""
    client_ident, client_service = NseSocket(), NseSocket()
    try:
        await client_ident.connect(host, 113)
        await client_service.connect(host, port)
        _, local_port, _, _ = client_service.get_info()
        await client_ident.send(f"{port.number}, {local_port}\r\n")
        owner = await client_ident.receive_lines(1)
    except SocketError:
        client_ident.close()
        client_service.close()
        raise
    client_ident.close()
    client_service.close()
    if b"ERROR" in owner:
        return None
    found = re.search(rb"\d+\s*,\s*\d+\s*:\s*USERID\s*:\s*[^:]+\s*:[ \t]*([^\r\n]+)\r?\n", owner)
    return found[1].decode() if found else None


async def _namespace_checks() -> dict[str, list[str]]:
    """Run inside a private network namespace: real scripts vs nmapx on ports 13 and 113."""
    import datetime

    from fixtures.emulators import DaytimeEmulator, IdentdEmulator

    when = datetime.datetime(2010, 3, 31, 14, 48, 58)
    results: dict[str, list[str]] = {}
    host = {"ip": LOOP}
    async with IdentdEmulator(users={113: "root"}), DaytimeEmulator(clock=when):
        cases = [
            (
                "daytime-tcp",
                ["-sT", "-p", "13", "--script", "daytime"],
                Port(number=13, protocol="tcp", state="open"),
                lambda port: comm.exchange(host, port, "dummy", lines=1),
            ),
            (
                "daytime-udp",
                ["-sU", "-p", "13", "--script", "daytime"],
                Port(number=13, protocol="udp", state="open"),
                lambda port: comm.exchange(host, port, "dummy", lines=1),
            ),
            (
                "auth-owners",
                ["-sT", "-p", "113", "--script", "auth-owners"],
                Port(number=113, protocol="tcp", state="open"),
                lambda port: _auth_owners(host, port),
            ),
        ]
        for name, args, port, action in cases:
            nmap_out = await run_nmap("-n", "-Pn", *args, "--script-trace", LOOP, cwd=Path.cwd())
            stream = io.StringIO()
            engine = RunContext(RunSettings(script_trace=True, stream=stream))
            thread = ScriptThread(script_id=name, phase="portrule", engine=engine, port=port)
            token = context.CURRENT.set(thread)
            try:
                value = await action(port)
            finally:
                thread.release_resources()
                context.CURRENT.reset(token)
            results[name] = [
                _ports_to_names(_canonical_ports(_nse_lines(nmap_out))),
                _ports_to_names(_canonical_ports(stream.getvalue())),
                repr(value),
                nmap_out,
            ]
    return results


def _namespace_main() -> None:
    """Entry point in the namespace: print the comparison as JSON on stdout."""
    import json

    print(json.dumps(asyncio.run(_namespace_checks())))  # the parent test reads it


@needs_nmap
def test_daytime_and_auth_owners_traces_match_real_nmap() -> None:
    """The brief's check: the real daytime (TCP, UDP) and auth-owners scripts, traced.

    Ports 13 and 113 need a network namespace of our own (root): nothing else on the machine
    sees or disturbs these services, and nothing leaves it (only ``lo`` exists in it).
    """
    import json
    import os
    import sys

    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs root, unshare and ip for a private network namespace")
    root = Path(__file__).resolve().parent.parent
    code = (
        "import sys; sys.path[:0] = ['tests', '.']; "
        "import test_nse_sockets as t; t._namespace_main()"
    )
    result = subprocess.run(
        ["unshare", "-n", "sh", "-c", f'ip link set lo up && exec "{sys.executable}" -c "{code}"'],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if result.returncode != 0 and "unshare" in result.stderr:
        pytest.skip(f"cannot create a network namespace: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    checks = json.loads(result.stdout)
    for name, (expected, got, _value, nmap_out) in checks.items():
        assert expected.count("NSE: ") >= 5, (name, nmap_out)
        assert got == expected, name
    assert checks["auth-owners"][2] == "'root'"
    assert checks["daytime-tcp"][2] == repr(b"Wed Mar 31 14:48:58 2010\r\n")
    assert "|_auth-owners: root" in checks["auth-owners"][3]


@needs_nmap
def test_comm_request_timeouts_match_real_nmap(tmp_path: Path) -> None:
    """comm.lua's timeout arithmetic, read back from nsock's "Read request ... (timeout: N)"."""
    cases = [
        ("{ip='127.0.0.1', times={timeout=1.3}}", "{}", {"times": {"timeout": 1.3}}, {}),
        ("'127.0.0.1'", "{}", None, {}),
        ("{ip='127.0.0.1', times={timeout=0.05}}", "{}", {"times": {"timeout": 0.05}}, {}),
        ("{ip='127.0.0.1', times={timeout=9}}", "{}", {"times": {"timeout": 9}}, {}),
        ("'127.0.0.1'", "{timeout=700}", None, {"timeout": 700}),
        (
            "'127.0.0.1'",
            "{connect_timeout=300, request_timeout=250}",
            None,
            {"connect_timeout": 300, "request_timeout": 250},
        ),
        ("'127.0.0.1'", "{request_timeout=1234.9}", None, {"request_timeout": 1234.9}),
    ]
    calls = "\n".join(f"  comm.exchange({host}, arg, 'x', {opts})" for host, opts, _, _ in cases)
    script = tmp_path / "timeouts.nse"
    script.write_text(
        'local comm = require "comm"\nlocal stdnse = require "stdnse"\n'
        'description = "t"\ncategories = {"safe"}\n'
        "prerule = function() return true end\n"
        "action = function()\n"
        '  local arg = tonumber(stdnse.get_script_args("port"))\n'
        f"{calls}\n  return 'ok'\nend\n"
    )

    async def run() -> str:
        async with tcp_server(echo_handler) as (_, port):
            return await run_nmap(
                "-n",
                "--script",
                str(script),
                "--script-args",
                f"port={port}",
                "--script-trace",
                cwd=tmp_path,
            )

    out = asyncio.run(run())
    seen = [int(t) for t in re.findall(r"Read request from IOD #\d+ .*\(timeout: (\d+)ms\)", out)]
    ours = []
    for _, _, host, opts in cases:
        table = {"ip": LOOP, **host} if host is not None else LOOP
        _, request = comm.get_timeouts(table, **opts)
        ours.append(int(request // 1))
    assert seen == ours


def test_comm_timeout_arithmetic() -> None:
    host = {"ip": LOOP, "times": {"timeout": 1.3}}
    assert comm.get_timeout(host) == 2600.0
    assert comm.get_timeout(LOOP) == 8000
    assert comm.get_timeout({"times": {}}) == 8000
    assert comm.get_timeout({"times": {"timeout": 0}}) == 1000  # 0 is "true" in Lua
    assert comm.get_timeout({"times": {"timeout": 0.1}}) == 1000
    assert comm.get_timeout({"times": {"timeout": 10}}) == 8000
    assert comm.get_timeout({"times": {"timeout": 1.3}}, 10000, 3000) == 3000
    assert comm.get_timeout(None, 5000) == 5000
    assert comm.get_timeouts(host) == (2600.0, 8600.0)
    assert comm.get_timeouts(LOOP) == (8000, 14000)
    assert comm.get_timeouts(host, timeout=700) == (700, 1400)
    assert comm.get_timeouts(host, connect_timeout=300, request_timeout=250) == (300, 550)
    assert comm.get_timeouts(host, timeout=700, request_timeout=100) == (700, 800)
    assert comm.get_timeouts(host, timeout=700, connect_timeout=100) == (100, 800)
    nse_host = NseHost(
        ip=LOOP,
        name="",
        targetname=None,
        reason="",
        reason_ttl=0,
        mac_addr=None,
        bin_ip=None,
        times={"timeout": 1.3},
        traceroute=[],
        os_fp=None,
        os=None,
    )
    assert comm.get_timeout(nse_host) == 2600.0


def test_comm_request_timeout_is_applied() -> None:
    with silent_udp() as port:

        async def body() -> Any:
            started = time.monotonic()
            with pytest.raises(CommError) as error:
                await comm.exchange(LOOP, {"number": port, "protocol": "udp"}, "", timeout=300)
            return error.value, time.monotonic() - started

        error, elapsed = run_thread(body)[0]
    assert error.messages == ["Failed to read", "receive failed", "TIMEOUT"]
    assert 0.55 < elapsed < 2  # 2T: the request timeout includes the connect timeout


def test_comm_exchange_lines_bytes_and_errors() -> None:
    async def body() -> Any:
        async with tcp_server(lines_handler) as (_, port):
            lines = await comm.exchange(LOOP, port, "x", lines=4, timeout=2000)
        async with tcp_server(lines_handler) as (_, port):
            nbytes = await comm.exchange(LOOP, port, "x", bytes=3, lines=None, timeout=2000)
        async with tcp_server(silent_handler) as (_, port):
            with pytest.raises(CommError) as read_error:
                await comm.exchange(LOOP, port, "x", lines=1, timeout=200)
            with pytest.raises(CommError) as bytes_error:
                await comm.exchange(LOOP, port, "x", bytes=1, timeout=200)
        with pytest.raises(CommError) as refused:
            await comm.exchange(LOOP, closed_port(), "x", timeout=200)
        return lines, nbytes, read_error.value, bytes_error.value, refused.value

    lines, nbytes, read_error, bytes_error, refused = run_thread(body)[0]
    assert lines == b"one\ntwo\nthree\nfour\nfive\n"
    assert nbytes == b"one\ntwo\nthree\nfour"
    assert read_error.messages == ["Failed to read", "receive_lines failed", "TIMEOUT"]
    assert bytes_error.messages == ["Failed to read", "receive_bytes failed", "TIMEOUT"]
    assert refused.messages == ["Failed to connect", "Could not connect", "ERROR"]


def test_opencon_and_tryssl_and_get_banner() -> None:
    async def body() -> Any:
        async with tcp_server(banner_handler) as (_, port):
            sock, response, early = await comm.opencon(LOOP, port, None, recv_before=True)
            sock.close()
            banner = await comm.get_banner(LOOP, port, timeout=1000)
        async with tcp_server(echo_handler) as (_, port):
            sock, response2, early2 = await comm.opencon(LOOP, port, "ping", timeout=1000)
            sock.close()
            # recv_before fails (nothing is sent first), the send+receive still succeeds.
            sock, response3, early3 = await comm.opencon(
                LOOP, port, "x", recv_before=True, timeout=200
            )
            sock.close()
            with pytest.raises(CommError) as early_error:
                await comm.opencon(LOOP, port, None, recv_before=True, timeout=200)
        return response, early, banner, response2, early2, response3, early3, early_error.value

    response, early, banner, response2, early2, response3, early3, early_error = run_thread(body)[0]
    assert response == early == banner == b"hello\r\nworld\r\n"
    assert (response2, early2) == (b"ping", None)
    assert (response3, early3) == (b"x", None)
    assert early_error.messages == ["read failed", "receive failed", "TIMEOUT"]


def test_bestoption_order() -> None:
    assert comm._bestoption(443) == ("ssl", "tcp")
    assert comm._bestoption(80) == ("tcp", "ssl")
    assert comm._bestoption(Port(number=8443, protocol="tcp", state="open")) == ("ssl", "tcp")
    assert comm._bestoption(Port(number=1234, protocol="tcp", state="open")) == ("tcp", "ssl")
    tunnel = Port(number=1234, protocol="tcp", state="open", version=Version(service_tunnel="ssl"))
    assert comm._bestoption(tunnel) == ("ssl", "tcp")
    sure = Port(number=443, protocol="tcp", state="open", version=Version(name_confidence=10.0))
    assert comm._bestoption(sure) == ("tcp", "ssl")
    assert comm._bestoption(Port(number=53, protocol="udp", state="open")) == ("udp", "udp")


# =============================================================================== SSL
@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    where = tmp_path_factory.mktemp("tls")
    key, cert = where / "key.pem", where / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=nmapx.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_ssl_connect_tryssl_and_sni(certificate: tuple[Path, Path]) -> None:
    import ssl

    cert, key = certificate
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_context.sni_callback = lambda obj, name, ctx: names.append(name)

    async def body() -> Any:
        server = await asyncio.start_server(
            lambda r, w: asyncio.wait_for(tls_echo(r, w), 10), LOOP, 0, ssl=server_context
        )
        port = server.sockets[0].getsockname()[1]
        try:
            sock = NseSocket()
            sock.set_timeout(3000)
            await sock.connect({"ip": LOOP, "targetname": "victim.test"}, port, "ssl")
            await sock.send("hello tls\n")
            reply = await sock.receive_lines(1)
            sock.close()
            tunnel = Port(
                number=port, protocol="tcp", state="open", version=Version(service_tunnel="ssl")
            )
            sd, response, best, _ = await comm.tryssl(LOOP, tunnel, "x\n", timeout=2000)
            sd.close()
            plain = Port(number=port, protocol="tcp", state="open")
            sd, response2, best2, _ = await comm.tryssl(LOOP, plain, "y\n", timeout=500)
            sd.close()
            return reply, response, best, response2, best2
        finally:
            server.close()

    async def tls_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(line)
                await writer.drain()
        except (OSError, ssl.SSLError):
            pass
        finally:
            writer.close()

    reply, response, best, response2, best2 = run_thread(body)[0]
    assert reply == b"hello tls\n"
    assert (response, best) == (b"x\n", "ssl")
    assert (response2, best2) == (b"y\n", "ssl")  # plain TCP first failed, then SSL
    assert names[0] == "victim.test"  # SNI from targetname; none for a bare IP
    assert None in names[1:]


# =============================================================================== Oops
def test_oops_text_and_table() -> None:
    oops = Oops("Failed to read", Oops("receive failed", "TIMEOUT"))
    error = CommError(oops)
    assert comm.oops_output_table(error) == ["Failed to read", "receive failed", "TIMEOUT"]
    assert comm.oops_text(error, 0, 0) == ""
    assert comm.oops_text(error, 1, 0) == "The script encountered an error: Failed to read"
    assert comm.oops_text(error, 0, 1) == (
        "The script encountered an error:\n- Failed to read:\n- receive failed:\n- TIMEOUT"
    )
    assert error.status == "TIMEOUT" and list(oops) == error.messages

    async def body() -> str:
        return str(error)

    assert run_thread(body, debugging=1)[0] == comm.oops_text(error, 0, 1)
    assert run_thread(body, verbosity=1)[0] == comm.oops_text(error, 1, 0)


OOPS_SCRIPT = """
local comm = require "comm"
local oops = require "oops"
local stdnse = require "stdnse"
description = "t"
categories = {"safe"}
prerule = function() return true end
action = function()
  local port = tonumber(stdnse.get_script_args("port"))
  return oops.output(comm.exchange("127.0.0.1", {number=port, protocol="udp"}, "", {timeout=200}))
end
"""

TRY_SCRIPT = """
local comm = require "comm"
local nmap = require "nmap"
local stdnse = require "stdnse"
description = "t"
categories = {"safe"}
prerule = function() return true end
action = function()
  local port = tonumber(stdnse.get_script_args("port"))
  local try = nmap.new_try()
  return try(comm.exchange("127.0.0.1", {number=port, protocol="udp"}, "", {timeout=200}))
end
"""


@needs_nmap
@pytest.mark.parametrize(
    ("flag", "verbosity", "debugging"), [("", 0, 0), ("-v", 1, 0), ("-d", 0, 1)]
)
def test_oops_rendering_matches_real_nmap(
    tmp_path: Path, flag: str, verbosity: int, debugging: int
) -> None:
    script = tmp_path / "oopsy.nse"
    script.write_text(OOPS_SCRIPT)
    with silent_udp() as port:

        async def ours() -> CommError:
            with pytest.raises(CommError) as error:
                await comm.exchange(LOOP, {"number": port, "protocol": "udp"}, "", timeout=200)
            return error.value

        error = run_thread(ours)[0]
        xml = tmp_path / "out.xml"
        args = ["-n", "--script", str(script), "--script-args", f"port={port}", "-oX", str(xml)]
        asyncio.run(run_nmap(*args, *([flag] if flag else []), cwd=tmp_path))
        out = xml.read_text()
    match = re.search(r'<script id="oopsy" output="([^"]*)"(.*?)</script>', out, re.S)
    assert match, out
    output = html.unescape(match[1])
    elems = [html.unescape(e) for e in re.findall(r"<elem>([^<]*)</elem>", match[2])]
    assert comm.oops_text(error, verbosity, debugging) == output
    assert (
        comm.oops_output_table(error)
        == elems
        == [
            "Failed to read",
            "receive failed",
            "TIMEOUT",
        ]
    )


@needs_nmap
def test_uncaught_comm_error_reason_matches_real_nmap(tmp_path: Path) -> None:
    """A comm failure through new_try: Nmap's -d "Reason:" text is ``str(error)``."""
    script = tmp_path / "tried.nse"
    script.write_text(TRY_SCRIPT)
    with silent_udp() as port:

        async def ours() -> str:
            with pytest.raises(CommError) as error:
                await comm.exchange(LOOP, {"number": port, "protocol": "udp"}, "", timeout=200)
            return f"NSE: Finished tried. Reason: {error.value}\n\n"

        expected = run_thread(ours, debugging=1)[0]
        args = ["-n", "-d", "--script", str(script), "--script-args", f"port={port}"]
        out = asyncio.run(run_nmap(*args, cwd=tmp_path))
    assert expected in out, out
