"""NSE's ``mysql`` library (nselib/mysql.lua, Nmap 7.93): the server greeting.

Only what ``mysql-info`` needs, ported with the Lua library's quirks, because they decide what
Nmap prints:

* a packet header's length is read as its *low byte* only (``tmp & 255``), so a greeting
  longer than 255 bytes is read short -- harmless, since ``receive_bytes`` returns what has
  arrived, which is usually the whole packet;
* socket failures go through ``nmap.new_try`` (a silent end of the script: here
  :class:`~nmapx.nse.errors.SocketError` propagates, which the engine treats the same way);
* fields are taken with ``string.unpack``, which raises on a truncated packet, a version
  without its NUL or a plugin-data length that points past the end; :func:`receive_greeting`
  raises :class:`GreetingError` there, which fails the script (``ERROR: Script execution
  failed``) exactly where Nmap's fails;
* an error packet (``0xff``) returns its message, which is everything after the error code,
  whatever the header said.

The capability tables are dicts in Lua's declaration order; ``mysql-info`` lists the set bits
in ``pairs`` order, which in Lua is hash order (see the script).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Awaitable
from dataclasses import dataclass

from nmapx.nse import stdnse
from nmapx.nse.errors import SocketError
from nmapx.nse.sockets import NseSocket

__all__ = [
    "HEADER_SIZE",
    "Capabilities",
    "ExtCapabilities",
    "Greeting",
    "GreetingError",
    "ServerStatus",
    "parse_greeting",
    "receive_greeting",
]

log = logging.getLogger(__name__)

HEADER_SIZE = 4

Capabilities: dict[str, int] = {
    "LongPassword": 0x1,
    "FoundRows": 0x2,
    "LongColumnFlag": 0x4,
    "ConnectWithDatabase": 0x8,
    "DontAllowDatabaseTableColumn": 0x10,
    "SupportsCompression": 0x20,
    "ODBCClient": 0x40,
    "SupportsLoadDataLocal": 0x80,
    "IgnoreSpaceBeforeParenthesis": 0x100,
    "Speaks41ProtocolNew": 0x200,
    "InteractiveClient": 0x400,
    "SwitchToSSLAfterHandshake": 0x800,
    "IgnoreSigpipes": 0x1000,
    "SupportsTransactions": 0x2000,
    "Speaks41ProtocolOld": 0x4000,
    "Support41Auth": 0x8000,
}

ExtCapabilities: dict[str, int] = {
    "SupportsMultipleStatments": 0x1,
    "SupportsMultipleResults": 0x2,
    "SupportsAuthPlugins": 0x8,
}

ServerStatus: dict[str, int] = {
    "InTransaction": 0x1,
    "AutoCommit": 0x2,
    "MoreResults": 0x4,
    "MultiQuery": 0x8,
    "BadIndexUsed": 0x10,
    "NoIndexUsed": 0x20,
    "CursorExists": 0x40,
    "LastRowSebd": 0x80,
    "DatabaseDropped": 0x100,
    "NoBackslashEscapes": 0x200,
}


class GreetingError(ValueError):
    """A greeting that ``string.unpack`` could not read: a Lua error in Nmap, so the script
    fails (not a silent socket failure)."""


@dataclass
class Greeting:
    """What ``receiveGreeting`` returns on success (fields nil in Lua are None here)."""

    proto: int
    version: bytes
    threadid: int
    salt: bytes | None = None
    capabilities: int | None = None
    charset: int | None = None
    status: int | None = None
    extcapabilities: int | None = None
    auth_plugin_name: bytes | None = None
    auth_plugin_data: bytes | None = None
    errorcode: int = 0


class _Reader:
    """``string.unpack`` over one buffer: each read raises :class:`GreetingError` where Lua's
    raises ("data string too short", "unfinished string for format 'z'")."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise GreetingError("data string too short")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "little")

    def zstring(self) -> bytes:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise GreetingError("unfinished string for format 'z'")
        text = self.data[self.pos : end]
        self.pos = end + 1
        return text


def decode_header(data: bytes, pos: int = 0) -> tuple[int, int, int]:
    """``decodeHeader``: (position after it, length, packet number); the length is the low
    byte of the 3-byte field, as mysql.lua reads it."""
    if pos + HEADER_SIZE > len(data):
        raise GreetingError("data string too short")
    (tmp,) = struct.unpack_from("<I", data, pos)
    return pos + HEADER_SIZE, tmp & 255, tmp >> 24


def parse_greeting(data: bytes) -> tuple[bool, Greeting | bytes]:
    """The greeting in ``data`` (header included): ``(True, Greeting)``, or ``(False,
    error message)`` for an error packet; raises :class:`GreetingError` where Lua raises."""
    pos, _length, _number = decode_header(data)
    reader = _Reader(data, pos)
    is_error = reader.uint(1)
    if is_error == 0xFF:
        reader.uint(2)  # the error code
        return False, data[reader.pos :]
    greeting = Greeting(proto=is_error, version=reader.zstring(), threadid=reader.uint(4))
    if greeting.proto == 10:
        greeting.salt = reader.take(8)
        reader.take(1)
        greeting.capabilities = reader.uint(2)
        # Lua: ``if pos < #data`` with 1-based positions, i.e. two bytes or more remain
        if reader.pos + 1 < len(data):
            greeting.charset = reader.uint(1)
            greeting.status = reader.uint(2)
            greeting.extcapabilities = reader.uint(2)
            auth_plugin_len = reader.uint(1)
            if reader.take(10) != b"\0" * 10:
                stdnse.debug2("reserved bytes are not nulls")
            if greeting.capabilities & Capabilities["Support41Auth"]:
                greeting.salt += reader.take(max(13, auth_plugin_len - 8) - 1)
                reader.take(1)
            if greeting.extcapabilities & ExtCapabilities["SupportsAuthPlugins"]:
                greeting.auth_plugin_name = reader.zstring()
    elif greeting.proto == 9:
        greeting.auth_plugin_data = reader.zstring()
    else:
        stdnse.debug2("Unknown MySQL protocol version: %d", greeting.proto)
    return True, greeting


async def receive_greeting(socket: NseSocket) -> tuple[bool, Greeting | bytes]:
    """``receiveGreeting(socket)``: read the server's first packet and parse it.

    A socket failure closes the socket and raises (``try`` in Lua: the script ends silently);
    the rest is :func:`parse_greeting`.
    """
    data = await _try(socket, socket.receive_bytes(HEADER_SIZE))
    _pos, length, _number = decode_header(data)
    if len(data) - HEADER_SIZE < length:
        data += await _try(socket, socket.receive_bytes(length - len(data) + HEADER_SIZE))
    return parse_greeting(data)


async def _try(socket: NseSocket, read: Awaitable[bytes]) -> bytes:
    """``try(socket:receive_bytes(n))`` with mysql.lua's catch: close, note, raise on."""
    try:
        return await read
    except SocketError:
        socket.close()
        stdnse.debug1("receiveGreeting(): failed")
        raise
