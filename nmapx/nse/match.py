"""NSE's ``match`` (nselib/match.lua): delimiters for ``socket.receive_buf``.

``pattern_limit`` is :func:`nmapx.nse.lineproto.pattern_limit` (shared with the line-based
protocols). ``numbytes`` is here, with :func:`receive_numbytes`, because of one edge: Lua's
``numbytes(0)`` answers ``0, 0``, which nse_nsock.cc accepts (``l > r`` is false) and turns
into an empty string *without reading*, while nmapx's ``receive_buf`` refuses an empty match;
binary protocols (redis's ``$0``, a VNC error of length 0) meet exactly that.
"""

from __future__ import annotations

from collections.abc import Callable

from nmapx.nse.lineproto import pattern_limit
from nmapx.nse.sockets import NseSocket

__all__ = ["numbytes", "pattern_limit", "receive_numbytes"]


def numbytes(count: int) -> Callable[[bytes], tuple[int, int] | None]:
    """``match.numbytes(n)`` (n >= 1): a delimiter ending after exactly n bytes (use it with
    ``keep=True``; :func:`receive_numbytes` also handles n = 0)."""

    def find(buffer: bytes) -> tuple[int, int] | None:
        if len(buffer) >= count:
            return count - 1, count
        return None

    return find


async def receive_numbytes(sock: NseSocket, count: int) -> bytes:
    """``sock:receive_buf(match.numbytes(count), true)``: exactly ``count`` bytes (the rest
    stays buffered), raising :class:`~nmapx.nse.errors.SocketError` as ``receive_buf`` does;
    ``b""`` at once for 0, as NSE."""
    if count <= 0:
        return b""
    return await sock.receive_buf(numbytes(count), True)
