"""What the line-based protocols (FTP, SMTP, IMAP, POP3) share, from stdnse.lua and match.lua.

* :class:`LineBuffer` is ``stdnse.make_buffer(socket, "\\r?\\n")``;
* :func:`pattern_limit` is ``match.pattern_limit``, a ``receive_buf`` delimiter with a bound;
* :func:`exchange_line` is what sslcert.lua's STARTTLS dances do, unchecked: send one command,
  take one ``receive_lines(1)``;
* :func:`lua_quote` is Lua 5.3's ``%q``, which ftp.lua and ftp-anon put in their messages.

Bounds (Nmap has none): a line longer than :data:`MAX_LINE` bytes ends a :class:`LineBuffer`
with ``"ERROR"``, so a hostile server cannot grow memory without end.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from nmapx.nse.errors import SocketError
from nmapx.nse.sockets import NseSocket

__all__ = ["MAX_LINE", "LineBuffer", "exchange_line", "lua_quote", "pattern_limit"]

log = logging.getLogger(__name__)

#: The longest line a :class:`LineBuffer` keeps (nmapx bound; Lua's grows without limit).
MAX_LINE = 1 << 20

_CRLF = re.compile(rb"\r?\n")


def pattern_limit(
    pattern: re.Pattern[bytes], within: int
) -> Callable[[bytes], tuple[int, int] | None]:
    """match.lua ``pattern_limit`` as a ``receive_buf`` delimiter: the pattern, or else the
    position ``within`` once the buffer holds that much.

    Lua's delimiter then starts and ends at byte ``within``: ``receive_buf(..., false)`` hands
    out the first ``within - 1`` bytes and *drops* byte ``within``, which is reproduced.
    """

    def find(buffer: bytes) -> tuple[int, int] | None:
        found = pattern.search(buffer)
        if found is not None and found.end() > found.start():
            return found.start(), found.end()
        if len(buffer) >= within:
            return within - 1, within
        return None

    return find


def lua_quote(data: bytes) -> bytes:
    """Lua 5.3's ``%q``: quotes; ``"``, ``\\`` and newline escaped; control bytes as ``\\N``."""
    out = bytearray(b'"')
    for index, byte in enumerate(data):
        if byte in b'"\\\n':
            out += b"\\" + bytes([byte])
        elif byte < 0x20 or byte == 0x7F:
            following = data[index + 1 : index + 2]
            out += (b"\\%03d" if following.isdigit() else b"\\%d") % byte
        else:
            out.append(byte)
    out += b'"'
    return bytes(out)


class LineBuffer:
    """``stdnse.make_buffer(socket, "\\r?\\n")``: each call gives the next line, or None.

    As in Lua, data before a failure is handed out as a last (partial) line; the failure
    (``"EOF"``, ``"TIMEOUT"``, ``"ERROR"``) is then in :attr:`error` and every later call gives
    None. A failure with nothing pending is not final: the next call reads again.
    """

    def __init__(self, sock: NseSocket, initial: bytes = b"") -> None:
        self.sock = sock
        self._pending = initial
        self._done = False
        #: The status of the last failed read, or None.
        self.error: str | None = None

    async def __call__(self) -> bytes | None:
        if self._done:
            return None
        while True:
            found = _CRLF.search(self._pending)
            if found is not None:
                line = self._pending[: found.start()]
                self._pending = self._pending[found.end() :]
                return line
            if len(self._pending) > MAX_LINE:
                self._pending, self._done, self.error = b"", True, "ERROR"
                log.debug("line longer than %d bytes: giving up", MAX_LINE)
                return None
            try:
                self._pending += await self.sock.receive()
            except SocketError as error:
                self.error = error.status
                if self._pending:
                    line, self._pending, self._done = self._pending, b"", True
                    return line
                return None


async def exchange_line(sock: NseSocket, command: str) -> bytes:
    """Send a command and read one ``receive_lines(1)``; the failure status in its place.

    sslcert.lua does not check these sends and receives: a failed read leaves the status
    string ("TIMEOUT") where the answer would be, which then fails the caller's check.
    """
    try:
        await sock.send(command)
        return await sock.receive_lines(1)
    except SocketError as error:
        return str(error).encode()
