"""NSE's ``smtp`` library (nselib/smtp.lua, Nmap 7.93): the commands smtp-commands and
sslcert's STARTTLS use.

Python form: a command returns ``(ok, text)`` as the Lua functions return ``status, reply``
(text is the server's reply, or smtp.lua's error message); :func:`connect` raises
SocketError where Lua returns ``nil, message``.

Kept from the Lua library because output depends on it: a reply is *one* ``receive_lines(1)``,
whatever arrived by then (a multi-line reply split across reads is cut where the read ended,
and its rest is read as the answer to the next command); a failed command check sends QUIT and
closes the socket; the failure text is ``SMTP: <CMD> <reply>`` with the reply as received.

:func:`prepare_tls` is sslcert.lua's SMTP (and LMTP) STARTTLS dance, which
:mod:`nmapx.nse.sslcert` calls.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from nmapx.nse import comm, stdnse
from nmapx.nse.errors import SocketError, StartTlsRefused
from nmapx.nse.sockets import NseSocket

__all__ = [
    "ERROR_MESSAGES",
    "NSOCK_READ_CHUNK",
    "SUCCESS",
    "check_reply",
    "connect",
    "ehlo",
    "get_domain",
    "help",
    "prepare_tls",
    "query",
    "quit",
    "starttls",
]

log = logging.getLogger(__name__)

#: smtp.lua ``ERROR_MESSAGES``.
ERROR_MESSAGES = {
    "EOF": "connection closed",
    "TIMEOUT": "connection timeout",
    "ERROR": "failed to receive data",
}

#: The success codes of smtp.lua's ``SMTP_CMD`` table (its error codes only document).
SUCCESS: dict[str, frozenset[int]] = {
    "EHLO": frozenset({250}),
    "HELP": frozenset({211, 214}),
    "AUTH": frozenset({334}),
    "MAIL": frozenset({250}),
    "RCPT": frozenset({250, 251}),
    "DATA": frozenset({250, 354}),
    "STARTTLS": frozenset({220}),
    "RSET": frozenset({200, 250}),
    "VRFY": frozenset({250, 251}),
    "EXPN": frozenset({250}),
}

#: nsock's ``NSOCK_READ_CHUNK_SIZE``: once one read has gathered more than this without the
#: lines it waits for, Nmap 7.93 reads no further and returns what it has when the socket's
#: timeout expires (observed on a 1 MB one-line EHLO reply: 604 160 bytes after 20 s). How many
#: bytes that is depends on how they arrived, so what Nmap shows of a longer reply cannot be
#: reproduced; scripts print nothing for such a reply rather than something Nmap would not.
NSOCK_READ_CHUNK = 0x8FFFF

_CODE = re.compile(rb"[0-9]+")


def get_domain(host: Any) -> str:
    """smtp.lua ``get_domain``: ``smtp.domain``, the target name, the PTR name, or Nmap's."""
    argument = stdnse.get_script_args("smtp.domain")
    if argument:
        return str(argument)
    targetname = _field(host, "targetname")
    name = _field(host, "name")
    if targetname:
        return str(targetname)
    if name:
        return str(name)
    return "nmap.scanme.org"


def _field(table: Any, key: str) -> Any:
    if isinstance(table, dict):
        return table.get(key)
    return getattr(table, key, None)


def check_reply(cmd: str, reply: bytes) -> tuple[bool, bytes]:
    """smtp.lua ``check_reply``: is the reply's leading number a success code of ``cmd``?

    ``(True, reply)``, or ``(False, b"SMTP: CMD reply")``.
    """
    cmd = cmd.upper()
    found = _CODE.match(reply)
    if found is not None and cmd in SUCCESS and int(found[0]) in SUCCESS[cmd]:
        return True, reply
    stdnse.debug(3, "SMTP: check_smtp_reply failed: %s %s", cmd, reply)
    return False, b"SMTP: " + cmd.encode() + b" " + reply


async def query(
    sock: NseSocket, cmd: str, data: str | None = None, lines: int = 1
) -> tuple[bool, bytes]:
    """smtp.lua ``query``: send ``cmd [data]``, return what one ``receive_lines`` gives.

    A failure closes the socket and gives smtp.lua's message.
    """
    if data:
        cmd = f"{cmd} {data}"
    try:
        await sock.send(f"{cmd}\r\n")
    except SocketError:
        sock.close()
        stdnse.debug(3, "SMTP: failed to send %s request.", cmd)
        return False, f"SMTP failed to send {cmd} request.".encode()
    try:
        return True, await sock.receive_lines(lines)
    except SocketError as error:
        sock.close()
        reason = ERROR_MESSAGES.get(error.status, "unspecified error")
        stdnse.debug(3, "SMTP %s: failed to receive data: %s.", cmd, reason)
        return False, f"SMTP {cmd}: failed to receive data: {reason}".encode()


async def connect(
    host: Any,
    port: Any,
    *,
    ssl: bool = False,
    recv_before: bool = True,
    lines: int | None = None,
    timeout: float | None = None,
) -> tuple[NseSocket, bytes]:
    """smtp.lua ``connect``: ``(socket, greeting)``; SSL or TCP by :func:`comm.tryssl` when
    ``ssl``, else plain TCP. Raises SocketError with smtp.lua's message on failure."""
    try:
        if ssl:
            sock, _response, _proto, early = await comm.tryssl(
                host, port, "", recv_before=recv_before, lines=lines, timeout=timeout
            )
        else:
            sock, _response, early = await comm.opencon(
                host, port, None, recv_before=recv_before, lines=lines, timeout=timeout
            )
    except comm.CommError as error:
        last = error.oops.messages[-1] if error.oops.messages else ""
        raise SocketError(ERROR_MESSAGES.get(last, "unspecified error")) from error
    return sock, early or b""


async def quit(sock: NseSocket) -> None:
    """smtp.lua ``quit``: QUIT (unchecked), then close."""
    stdnse.debug(3, "SMTP: sending 'QUIT'.")
    try:
        await sock.send("QUIT\r\n")
    except SocketError:
        pass
    sock.close()


async def _checked(sock: NseSocket, cmd: str, data: str | None = None) -> tuple[bool, bytes]:
    """A query whose reply must be a success code, else QUIT (smtp.lua's command shape)."""
    ok, response = await query(sock, cmd, data)
    if not ok:
        return ok, response
    ok, text = check_reply(cmd, response)
    if not ok:
        await quit(sock)
        return False, text
    return True, response


async def ehlo(sock: NseSocket, domain: str) -> tuple[bool, bytes]:
    """smtp.lua ``ehlo``."""
    return await _checked(sock, "EHLO", domain)


async def help(sock: NseSocket) -> tuple[bool, bytes]:
    """smtp.lua ``help``."""
    return await _checked(sock, "HELP")


async def starttls(sock: NseSocket) -> tuple[bool, bytes]:
    """smtp.lua ``starttls``: STARTTLS, then the TLS handshake on the same socket."""
    ok, reply = await query(sock, "STARTTLS")
    if not ok:
        return ok, reply
    ok, text = check_reply("STARTTLS", reply)
    if not ok:
        await quit(sock)
        return False, text
    try:
        await sock.reconnect_ssl()
    except SocketError as error:
        sock.close()
        return False, error.status.encode()
    return True, reply


async def prepare_tls(host: Any, port: Any, hello: str = "EHLO") -> NseSocket:
    """sslcert.lua ``smtp_prepare_tls_without_reconnect`` (``hello="LHLO"``: the LMTP one):
    greeting, EHLO, STARTTLS; the socket is then ready for a TLS handshake.

    Raises :class:`StartTlsRefused` when STARTTLS is refused or unanswered, SocketError with
    sslcert.lua's message when the server cannot be reached or refuses the greeting.
    """
    what = "LMTP" if hello == "LHLO" else "SMTP"
    try:
        sock, _greeting = await connect(host, port, ssl=False, lines=1)
    except SocketError as error:
        raise SocketError(f"Failed to connect to {what} server: {error}") from error
    if hello == "EHLO":
        ok, result = await ehlo(sock, get_domain(host))
        if not ok:
            stdnse.debug(1, "EHLO with errors or timeout.")
            raise SocketError(f"Failed to connect to SMTP server: {result.decode('latin-1')}")
    else:
        ok, result = await query(sock, hello, get_domain(host))
        if not ok:
            stdnse.debug(1, "LHLO with errors or timeout.")
            raise SocketError(f"Failed to LHLO: {result.decode('latin-1')}")
        ok, result = check_reply("EHLO", result)  # LHLO's semantics are EHLO's
        if not ok:
            sock.close()
            raise SocketError(f"Received LHLO error: {result.decode('latin-1')}")
    ok, result = await query(sock, "STARTTLS")
    if ok:
        ok, result = check_reply("STARTTLS", result)
    if not ok:
        stdnse.debug(1, "STARTTLS failed or unavailable.")
        await quit(sock)
        raise StartTlsRefused(f"Failed to connect to SMTP server: {result.decode('latin-1')}")
    return sock
