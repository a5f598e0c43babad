"""Retrieves information (including system architecture, process ID, and
server time) from distributed memory object caching system memcached.

A port of Nmap 7.93's ``memcached-info.nse``, over TCP and UDP (the script's own ``Comm``:
``stats``, then ``stats settings``). Its reading rules are kept because they shape the output:

* over TCP a reply is read up to a line ``END``/``ERROR`` (``match.pattern_limit(..., 2048)``):
  the delimiter is searched in all that has arrived, but when 2048 bytes or more have arrived
  without one, the first 2048 are taken as the reply and the rest stays buffered, to be read
  as the *next* request's reply (memcached 1.6's ``stats`` is about 2.2 KB: over loopback it
  arrives in one piece, END included; a peer that never ends its reply costs 2048 bytes a
  request);
* over UDP each datagram has memcached's 8-byte frame header; datagrams are collected by
  sequence number until as many as the first matching one announced have arrived (one whose
  request id differs ends the wait at once, with nothing);
* ``uptime`` is printed with ``%d`` and ``time`` as a timestamp, both from the text the server
  sent (Lua converts the strings; a value that is not a number fails the script, as it does
  in Nmap). The server's clock is recorded for ``clock-skew``.

@usage nmapx run scan.xml --script memcached-info
@output
    11211/udp open  unknown
    | memcached-info:
    |   Process ID: 18568
    |   Uptime: 6950 seconds
    |   Server time: 2018-03-02T03:35:09
    |   Architecture: 64 bit
    |   Used CPU (user): 0.172010
    |   Used CPU (system): 0.200012
    |   Current connections: 10
    |   Total connections: 78
    |   Maximum connections: 1024
    |   TCP Port: 11211
    |   UDP Port: 11211
    |_  Authentication: no
"""

from __future__ import annotations

import random
import re
import struct
import time
from collections.abc import Callable
from typing import Any

from nmapx.nse import datetime, nmap, shortport, stdnse
from nmapx.nse.errors import SocketError
from nmapx.nse.lineproto import pattern_limit
from nmapx.nse.sockets import NseSocket

author = "Patrik Karlsson (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["discovery", "safe"]

portrule = shortport.port_or_service(11211, "memcached", ("tcp", "udp"))

#: ``%f[^\n\0]E[NR][DR]O?R?\r\n`` (END or ERROR at the start of a line) within 2048 bytes.
_END = pattern_limit(re.compile(rb"(?:(?<=[\n\x00])|^)E[NR][DR]O?R?\r\n"), 2048)
#: ``%f[^\n\0]STAT ([^%s]*) (.-)\r\n``
_STAT = re.compile(rb"(?:(?<=[\n\x00])|^)STAT ([^\s]*) (.*?)\r\n", re.S)
_LUA_NUMBER = re.compile(rb"\s*[-+]?(?:0[xX][0-9A-Fa-f]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*")


def lua_number(text: bytes) -> int | float:
    """Lua's string-to-number coercion (decimal or hex); ValueError where Lua raises."""
    if not _LUA_NUMBER.fullmatch(text):
        raise ValueError(f"attempt to perform arithmetic on a string value ({text!r})")
    stripped = text.strip()
    if stripped.lstrip(b"+-").lower().startswith(b"0x"):
        return int(stripped, 16)
    if re.fullmatch(rb"[-+]?\d+", stripped):
        return int(stripped)
    return float(stripped)


def lua_integer(text: bytes) -> int:
    """``%d`` of a string: its number, which must have an integer value."""
    number = lua_number(text)
    if isinstance(number, float):
        if not number.is_integer():
            raise ValueError("bad argument #2 to 'format' (number has no integer representation)")
        return int(number)
    return number


#: Fields shown, in order: (stat, label, how the value is shown).
FILTER: list[tuple[bytes, str, Callable[[bytes], Any] | None]] = [
    (b"pid", "Process ID", None),
    (b"uptime", "Uptime", lambda v: f"{lua_integer(v)} seconds"),
    (b"time", "Server time", lambda v: datetime.format_timestamp(lua_number(v))),
    (b"pointer_size", "Architecture", lambda v: v + b" bit"),
    (b"rusage_user", "Used CPU (user)", None),
    (b"rusage_system", "Used CPU (system)", None),
    (b"curr_connections", "Current connections", None),
    (b"total_connections", "Total connections", None),
    (b"maxconns", "Maximum connections", None),
    (b"tcpport", "TCP Port", None),
    (b"udpport", "UDP Port", None),
    (b"auth_enabled_sasl", "Authentication", None),
]


def fail(err: str) -> str | None:
    return stdnse.format_output(False, err)


class Comm:
    """The script's ``Comm``: one connection, TCP or UDP (memcached's frame header)."""

    def __init__(self, host: Any, port: Any, timeout: float | None = None) -> None:
        self.host = host
        self.port = port
        self.protocol: str = port.protocol
        self.timeout = timeout
        self.req_id = random.randint(0, 0xFFF)
        self.socket: NseSocket | None = None

    async def connect(self) -> bool:
        self.socket = nmap.new_socket(self.protocol)
        self.socket.set_timeout(self.timeout or stdnse.get_timeout(self.host))
        try:
            await self.socket.connect(self.host, self.port)
        except SocketError:
            return False
        return True

    async def exchange(self, data: bytes) -> tuple[bool, bytes | str]:
        assert self.socket is not None
        req_id = self.req_id
        self.req_id = req_id + 1
        if self.protocol == "udp":
            data = struct.pack(">HHHH", req_id & 0xFFFF, 0, 1, 0) + data
        try:
            await self.socket.send(data)
        except SocketError:
            return False, "Failed to send request to server"
        if self.protocol == "udp":
            return await self._receive_datagrams(req_id)
        try:
            return True, await self.socket.receive_buf(_END, True)
        except SocketError as err:
            return False, err.status

    async def _receive_datagrams(self, req_id: int) -> tuple[bool, bytes | str]:
        assert self.socket is not None
        msgs: dict[int, bytes] = {}
        dgrams = 0
        while True:
            try:
                response = await self.socket.receive_bytes(8)
            except SocketError:
                return False, "Failed to receive entire response"
            if len(response) < 8:
                raise ValueError("data string too short")  # string.unpack's error
            resp_id, seq, ndgrams = struct.unpack_from(">HHH", response)
            if resp_id == req_id:
                dgrams = ndgrams
                msgs[seq + 1] = response[8:]
            if _border(msgs) >= dgrams:
                break
        return True, b"".join(msgs[i] for i in range(1, _border(msgs) + 1))


def _border(table: dict[int, Any]) -> int:
    """Lua's ``#t`` for the datagrams collected: the length of the run from 1."""
    count = 0
    while count + 1 in table:
        count += 1
    return count


def parse_response(response: bytes) -> dict[bytes, bytes]:
    kvs: dict[bytes, bytes] = {}
    for found in _STAT.finditer(response):
        stdnse.debug1("k=%s, v=%s", found[1].decode("latin-1"), found[2].decode("latin-1"))
        kvs[found[1]] = found[2]
    return kvs


async def action(host: Any, port: Any) -> Any:
    client = Comm(host, port)
    if not await client.connect():
        return fail("Failed to connect to server")

    request_time = int(time.time())
    status, response = await client.exchange(b"stats\r\n")
    if not status or not isinstance(response, bytes):
        return fail(f"Failed to send request to server: {response!s}")

    kvs = parse_response(response)
    if b"time" in kvs:
        datetime.record_skew(host, lua_number(kvs[b"time"]), request_time)

    status, response = await client.exchange(b"stats settings\r\n")
    if not status or not isinstance(response, bytes):
        return fail(f"Failed to send request to server: {response!s}")

    kvs.update(parse_response(response))

    result = stdnse.output_table()
    for field, name, shown in FILTER:
        if field in kvs:
            result[name] = shown(kvs[field]) if shown else kvs[field]
    return result
