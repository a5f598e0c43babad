"""NSE's ``redis`` library (nselib/redis.lua, Nmap 7.93): requests and replies of the Redis
protocol (RESP), as minimal as the original.

Ported with its reading rules, which decide what ``redis-info`` prints:

* every line is read with ``match.pattern_limit("\\r\\n", 2048)``: a line without CRLF is cut
  after 2047 bytes (the 2048th is dropped) and the rest stays buffered for the next read, so
  a reply that never ends costs a bounded read per request;
* a bulk reply (``$N``) reads exactly N bytes, then one more line (the CRLF); ``$-1`` is no
  reply at all (None); a length that is not digits is a Lua error in Nmap (``match.numbytes``
  compares nil), here :class:`ProtocolError`, failing the script alike;
* a multi-bulk reply (``*N``) reads two *lines* per element (the ``$len`` line, ignored, then
  the data line), whatever the elements' types; a count that is not digits fails the script
  (Lua's ``for`` limit; ``*-1`` too);
* anything else is ``"Unsupported response"``.

Failures come back as ``(False, message)`` as in Lua; bytes stay bytes.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from nmapx.nse import nmap
from nmapx.nse.errors import SocketError
from nmapx.nse.match import pattern_limit, receive_numbytes
from nmapx.nse.sockets import NseSocket

__all__ = ["Helper", "ProtocolError", "Request", "Response", "ResponseType", "receive"]

log = logging.getLogger(__name__)

_LINE = pattern_limit(re.compile(rb"\r\n"), 2048)
_DIGITS = re.compile(rb"\d*")


class ProtocolError(ValueError):
    """A reply redis.lua cannot handle without a Lua error (the script fails in Nmap)."""


class ResponseType(IntEnum):
    STATUS = 0
    ERROR = 1
    INTEGER = 2
    BULK = 3
    MULTIBULK = 4


@dataclass
class Response:
    """One reply: ``data`` is the line (status, error, integer: with its type character),
    the bytes of a bulk reply, or the list of lines of a multi-bulk one."""

    data: Any
    type: ResponseType


class Request:
    """``Request:new(cmd, ...)``; ``bytes(request)`` is its RESP form (an array of bulk
    strings; arguments go through Lua's ``tostring``)."""

    def __init__(self, cmd: str | bytes, *args: Any) -> None:
        self.cmd = cmd.encode() if isinstance(cmd, str) else cmd
        self.args = [a if isinstance(a, bytes) else str(a).encode() for a in args]

    def __bytes__(self) -> bytes:
        out = b"*%d\r\n$%d\r\n%s\r\n" % (len(self.args) + 1, len(self.cmd), self.cmd)
        for arg in self.args:
            out += b"$%d\r\n%s\r\n" % (len(arg), arg)
        return out


async def _line(sock: NseSocket) -> bytes | None:
    try:
        return await sock.receive_buf(_LINE, False)
    except SocketError as err:
        log.debug("redis: receive failed: %s", err)
        return None


async def receive(sock: NseSocket) -> tuple[bool, Response | str | None]:
    """``Response:new(socket):receive()``: ``(True, Response or None)`` or ``(False, why)``."""
    failed = (False, "Failed to receive data from server")
    data = await _line(sock)
    if data is None:
        return failed
    first = data[:1]
    if first in (b"-", b"+", b":"):
        kind = {b"-": ResponseType.ERROR, b"+": ResponseType.STATUS}.get(first)
        return True, Response(data, kind if kind is not None else ResponseType.INTEGER)
    if first == b"$":
        if data == b"$-1":
            return True, None
        digits = _DIGITS.match(data, 1)
        assert digits is not None
        if not digits[0]:
            raise ProtocolError("attempt to compare nil with number (bulk length)")
        try:
            bulk = await receive_numbytes(sock, int(digits[0]))
        except SocketError as err:
            log.debug("redis: bulk receive failed: %s", err)
            return failed
        await _line(sock)  # the terminal CRLF; its status is not checked
        return True, Response(bulk, ResponseType.BULK)
    if first == b"*":
        digits = _DIGITS.match(data, 1)
        assert digits is not None
        if not digits[0]:
            raise ProtocolError("'for' limit must be a number (multi-bulk count)")
        results: list[bytes] = []
        for _ in range(int(digits[0])):
            if await _line(sock) is None:  # the element's length, ignored
                return failed
            element = await _line(sock)
            if element is None:
                return failed
            results.append(element)
        return True, Response(results, ResponseType.MULTIBULK)
    return False, "Unsupported response"


class Helper:
    """``redis.Helper``: one connection, one request at a time."""

    def __init__(self, host: Any, port: Any) -> None:
        self.host = host
        self.port = port
        self.socket: NseSocket | None = None

    async def connect(self, sock: NseSocket | None = None) -> bool:
        self.socket = sock or nmap.new_socket()
        try:
            await self.socket.connect(self.host, self.port)
        except SocketError as err:
            log.debug("redis: connect failed: %s", err)
            return False
        return True

    async def req_cmd(self, cmd: str | bytes, *args: Any) -> tuple[bool, Response | str | None]:
        """``reqCmd``: send the request, read one reply."""
        assert self.socket is not None, "connect first"
        try:
            await self.socket.send(bytes(Request(cmd, *args)))
        except SocketError:
            return False, "Failed to send command to server"
        return await receive(self.socket)

    def close(self) -> bool:
        return self.socket.close() if self.socket is not None else False
