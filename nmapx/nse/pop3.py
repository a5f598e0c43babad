"""NSE's ``pop3`` library (nselib/pop3.lua, Nmap 7.93): CAPA, and sslcert's STLS dance.

:func:`capabilities` is pop3.lua's, with its quirks kept because Nmap's output shows them:

* ``+OK`` is looked for anywhere in a line (Lua's ``string.match(line, "+OK")``);
* the CAPA answer is read up to the *first* ``.`` anywhere (``match.pattern_limit("%.",
  2048)``), not up to the terminating line: a capability holding a dot is cut there;
* each line's capability is its first ``[A-Za-z0-9-]+`` word and its arguments are what follows
  one character after the word's *length*, split on single spaces;
* ``APOP`` is reported when the greeting holds a ``<...>`` timestamp.

Capabilities keep the order they were read in (Nmap's is a Lua table walk, which differs between
runs). A line with no word at all, or a CAPA answer without ``+OK``, crashes pop3.lua or
pop3-capabilities; here they raise :class:`MalformedCapa` so the script ends as Nmap's does.

Login functions (USER/PASS, SASL, APOP; for brute-force scripts) are not ported.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from nmapx.nse import comm, stdnse
from nmapx.nse.errors import NseError, SocketError, StartTlsRefused
from nmapx.nse.lineproto import exchange_line, pattern_limit
from nmapx.nse.sockets import NseSocket

__all__ = ["MalformedCapa", "capabilities", "prepare_tls", "stat"]

log = logging.getLogger(__name__)

_DOT = re.compile(rb"\.")
_WORD = re.compile(rb"[A-Za-z0-9-]+")
_TIMESTAMP = re.compile(rb"<[!-/:-@\[-`{-~A-Za-z0-9]+>")  # Lua's <[%p%w]+>


class MalformedCapa(NseError):
    """pop3.lua (or the script) would die with a Lua error on this answer."""


def _text(data: bytes) -> str:
    """Bytes as text that encodes back to the same bytes (how nmapx writes a str result)."""
    return data.decode("utf-8", "surrogateescape")


def stat(line: bytes) -> bool:
    """pop3.lua ``stat``: ``+OK`` anywhere in the line."""
    return b"+OK" in line


async def capabilities(host: Any, port: Any) -> tuple[dict[str, list[str]] | None, str | None]:
    """pop3.lua ``capabilities``: ``(capas, None)`` or ``(None, error)``.

    ``capas`` maps each capability to its arguments (``{"SASL": ["PLAIN"], "USER": []}``); a
    CAPA answer without ``+OK`` gives ``{"capa": False}`` in Lua, raised here as
    :class:`MalformedCapa` (the script would die on it).
    """
    try:
        sock, _line, _proto, first_line = await comm.tryssl(
            host, port, "", request_timeout=10000, recv_before=True
        )
    except comm.CommError:
        return None, "Could Not Connect"
    first_line = first_line or b""
    if not stat(first_line):
        sock.close()
        return None, "No Response"
    capas: dict[str, list[str]] = {}
    if _TIMESTAMP.search(first_line):
        capas["APOP"] = []
    try:
        await sock.send("CAPA\r\n")
    except SocketError:
        sock.close()
        return None, "Failed to send"
    try:
        answer = await sock.receive_buf(pattern_limit(_DOT, 2048), False)
    except SocketError:
        sock.close()
        return None, "Failed to receive"
    sock.close()
    lines = answer.split(b"\r\n")
    if not stat(lines.pop(0)):
        raise MalformedCapa("attempt to get length of a boolean value (capa = false)")
    for line in lines:
        if not line:
            continue
        found = _WORD.search(line)
        if found is None:
            raise MalformedCapa("bad argument #1 to 'sub' (number expected, got nil)")
        capability = found[0]
        rest = line[len(capability) + 1 :]
        args = rest.split(b" ") if rest else []
        capas[_text(capability)] = [_text(part) for part in args]
    return capas, None


async def prepare_tls(host: Any, port: Any) -> NseSocket:
    """sslcert.lua ``pop3_prepare_tls_without_reconnect``: greeting, ``STLS``; the socket is
    then ready for a TLS handshake.

    Raises :class:`StartTlsRefused` when STLS is refused, SocketError with sslcert.lua's
    message when the server cannot be reached or is not POP3.
    """
    try:
        sock, _response, early = await comm.opencon(host, port, "", lines=1, recv_before=True)
    except comm.CommError as error:
        raise SocketError(f"Failed to connect to POP3 server: {error}") from error
    if not (early or b"").startswith(b"+OK"):
        sock.close()
        raise SocketError("POP3 protocol mismatch")
    result = await exchange_line(sock, "STLS\r\n")
    if not result.startswith(b"+OK"):
        stdnse.debug(1, "Error: %s", result.decode("latin-1"))
        try:
            await sock.send("QUIT\r\n")
        except SocketError:
            pass
        sock.close()
        raise StartTlsRefused("Failed to connect to POP3 server")
    return sock
