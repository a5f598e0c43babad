"""NSE's ``imap`` library (nselib/imap.lua, Nmap 7.93): connect, CAPABILITY and STARTTLS.

:class:`Helper` is imap.lua's ``Helper``/``IMAP`` pair as far as imap-capabilities and
sslcert need it (connect, capabilities, close; :func:`prepare_tls` is sslcert.lua's IMAP dance).
Login and SASL authentication (brute-force scripts) are not ported.

Kept from imap.lua because Nmap's output shows it: :meth:`Helper.receive` joins the lines of a
response *without* separators up to the tagged line, and :meth:`Helper.capabilities` takes
every ``[A-Za-z0-9+=-]+`` word of that joined text as a capability, so the tagged status line
(``A0001 OK Pre-login capabilities listed, ...``) contributes words too, and the last
capability runs into the tag (``AUTH=PLAINA0001``). Capabilities keep the order they were
read in; Nmap's order is a Lua table walk (``pairs``), which differs between runs.

Bounds (Nmap has none): a line is cut at 1024 bytes (``match.pattern_limit`` as imap.lua
reads), a response may hold at most :data:`MAX_RESPONSE` bytes, and the search for the
CAPABILITY line reads at most that much more.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from nmapx.nse import comm, stdnse
from nmapx.nse.errors import SocketError, StartTlsRefused
from nmapx.nse.lineproto import exchange_line, pattern_limit
from nmapx.nse.sockets import NseSocket

__all__ = ["MAX_RESPONSE", "Helper", "prepare_tls"]

log = logging.getLogger(__name__)

#: The most bytes one response (or the search for the CAPABILITY line) may take.
MAX_RESPONSE = 1 << 20

_CRLF = re.compile(rb"\r\n")
_WORD = re.compile(rb"[A-Za-z0-9+=-]+")


class Helper:
    """imap.lua ``Helper``: one IMAP client connection with tagged commands ``A0001``, ..."""

    def __init__(self, host: Any, port: Any, timeout: float = 10000) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.counter = 1
        self.socket: NseSocket | None = None

    async def connect(self) -> tuple[bool, bytes]:
        """``(True, banner)`` once connected (SSL or TCP, as comm.tryssl chooses)."""
        try:
            sock, banner, _proto, _early = await comm.tryssl(
                self.host, self.port, "", request_timeout=self.timeout, recv_before=True
            )
        except comm.CommError:
            return False, b"ERROR: Failed to connect to server"
        if not banner:
            sock.close()
            return False, b"ERROR: Failed to connect to server"
        self.socket = sock
        return True, banner

    async def send(self, cmd: str, params: str | None = None) -> None:
        """A tagged command; the tag counts up only when the send succeeded."""
        assert self.socket is not None
        line = f"A{self.counter:04d} {cmd}" + (f" {params}" if params else "")
        await self.socket.send(line + "\r\n")
        self.counter += 1

    async def receive(self) -> bytes:
        """Lines (ends dropped, joined with nothing) up to the last command's tagged line or a
        continuation (``+``); SocketError on failure."""
        assert self.socket is not None
        tag = b"A%04d" % (self.counter - 1)
        limit = pattern_limit(_CRLF, 1024)
        data = bytearray()
        while True:
            line = await self.socket.receive_buf(limit, False)
            data += line
            if line.startswith(tag) or line.startswith(b"+"):
                return bytes(data)
            if len(data) > MAX_RESPONSE:
                raise SocketError("ERROR", f"IMAP response over {MAX_RESPONSE} bytes")

    async def capabilities(self) -> tuple[bool, dict[str, bool]]:
        """imap.lua ``capabilities``: ``(True, {capability: True, ...})``.

        A failed send is ``(False, {})``; a failed first read gives ``{"CAPABILITY": False}``
        as in Lua. When the joined response does not start with ``* CAPABILITY``, raw reads
        follow until one does (or the socket fails).
        """
        capas: dict[str, bool] = {}
        try:
            await self.send("CAPABILITY")
        except SocketError:
            return False, capas
        assert self.socket is not None
        try:
            line = await self.receive()
        except SocketError:
            capas["CAPABILITY"] = False
            return True, capas
        read = len(line)
        while True:
            found = re.match(rb"\*\s+CAPABILITY", line)
            if found is not None:
                for word in _WORD.findall(line[found.end() :]):
                    capas[word.decode("utf-8", "surrogateescape")] = True
                break
            if read > MAX_RESPONSE:
                break
            try:
                line = await self.socket.receive()
            except SocketError:
                break
            read += len(line)
        return True, capas

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()


async def prepare_tls(host: Any, port: Any) -> NseSocket:
    """sslcert.lua ``imap_prepare_tls_without_reconnect``'s dance, without the registry: the
    banner, ``A001 CAPABILITY``, ``A002 STARTTLS``; the socket is then ready for TLS.

    Raises :class:`StartTlsRefused` when the server does not offer or refuses STARTTLS,
    SocketError (sslcert.lua's message) when it is not IMAP or cannot be reached.
    """
    try:
        sock, _response, early = await comm.opencon(host, port, "", lines=1, recv_before=True)
    except comm.CommError as error:
        raise SocketError(f"Failed to connect to IMAP server: {error}") from error
    if not (early or b"").startswith(b"* OK"):
        sock.close()
        raise SocketError("IMAP protocol mismatch")
    if b"STARTTLS" not in await exchange_line(sock, "A001 CAPABILITY\r\n"):
        stdnse.debug(1, "Server doesn't support STARTTLS")
        sock.close()
        raise StartTlsRefused("Failed to connect to IMAP server")
    result = await exchange_line(sock, "A002 STARTTLS\r\n")
    if not result.startswith(b"A002 OK"):
        stdnse.debug(1, "Error: %s", result.decode("latin-1"))
        sock.close()
        raise StartTlsRefused("Failed to connect to IMAP server")
    return sock
