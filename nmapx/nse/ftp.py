"""NSE's ``ftp`` library (nselib/ftp.lua, Nmap 7.93): connect, read replies, log in, PASV.

Shaped like the Lua library so that ftp-anon and ftp-syst port line by line, with Python's
forms: :func:`connect` raises :class:`~nmapx.nse.errors.SocketError` where Lua returns
``nil, message``, and replies are ``(code, message)`` tuples whose code is None on failure
(the message is then the error), exactly as ``read_reply``'s two results.

Kept from the Lua library because output depends on it:

* :func:`connect` hands the banner to :func:`read_reply` line by line from the first read and
  then continues on a fresh line buffer over the socket; whatever the first read held after
  the banner's reply is dropped, and so is a single byte left after its last line end (the
  Lua closure's ``pos >= #ret`` test);
* the line buffer is ``stdnse.make_buffer`` (:class:`~nmapx.nse.lineproto.LineBuffer`): a
  failed read hands out the partial line first, then the failure;
* :func:`auth` retries over ``AUTH TLS`` when a refusal mentions SSL, TLS or security;
* :func:`pasv` uses EPSV on IPv6 only, and refuses a PASV address other than the target's or
  0.0.0.0.

Bounds (Nmap has none): a reply line longer than :data:`~nmapx.nse.lineproto.MAX_LINE` bytes,
or a reply of more than :data:`MAX_REPLY_LINES` lines, is a failure, so a hostile server cannot
grow memory without end.

:func:`prepare_tls` is sslcert.lua's FTP ``AUTH TLS`` dance, which :mod:`nmapx.nse.sslcert`
calls.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from nmapx.nse import comm, nmap, stdnse
from nmapx.nse.errors import SocketError, StartTlsRefused
from nmapx.nse.lineproto import LineBuffer, lua_quote
from nmapx.nse.sockets import NseSocket

__all__ = [
    "ERROR_MESSAGES",
    "MAX_REPLY_LINES",
    "LineBuffer",
    "auth",
    "close",
    "connect",
    "pasv",
    "prepare_tls",
    "read_reply",
    "starttls",
]

log = logging.getLogger(__name__)

#: ftp.lua ``ERROR_MESSAGES``: what a failed connect says for each socket status.
ERROR_MESSAGES = {
    "EOF": "connection closed",
    "TIMEOUT": "connection timeout",
    "ERROR": "failed to receive data",
}
#: The most lines one multi-line reply may have (nmapx bound).
MAX_REPLY_LINES = 100_000

_CRLF = re.compile(rb"\r?\n")

#: Something that gives the next line (without its end) or None; ``error`` says why not.
ReadLine = Callable[[], Awaitable[bytes | None]]


async def read_reply(buffer: ReadLine) -> tuple[int | None, bytes]:
    """ftp.lua ``read_reply``: ``(code, message)`` of the next reply (RFC 959, 4.2).

    A multi-line reply's lines are joined with ``\\n``, the last one without its code. On a
    read failure the code is None and the message the socket status; an unparsable line gives
    None and ``Unparseable response: "<line>"``.
    """
    line = await buffer()
    if line is None:
        return None, _status(buffer).encode()
    single = re.match(rb"(\d\d\d) (.*)\Z", line, re.S)
    if single:
        return int(single[1]), single[2]
    multi = re.match(rb"(\d\d\d)-(.*)\Z", line, re.S)
    if multi is None:
        return None, b"Unparseable response: " + lua_quote(line)
    parts = [multi[2]]
    while True:
        line = await buffer()
        if line is None:
            return None, _status(buffer).encode()
        last = re.match(rb"\d\d\d (.*)\Z", line, re.S)
        if last:
            parts.append(last[1])
            return int(multi[1]), b"\n".join(parts)
        parts.append(line)
        if len(parts) > MAX_REPLY_LINES:
            return None, b"ERROR"


def _status(buffer: Any) -> str:
    error = getattr(buffer, "error", None)
    return error if isinstance(error, str) else "ERROR"


class _BannerLines:
    """ftp.lua ``connect``'s closure: the first read's lines, then the socket's buffer."""

    def __init__(self, first: bytes, buffer: LineBuffer) -> None:
        self.first = first
        self.buffer = buffer
        self.pos = 0
        self.usebuf = False
        self.error: str | None = None

    async def __call__(self) -> bytes | None:
        if self.usebuf:
            line = await self.buffer()
            self.error = self.buffer.error
            return line
        found = _CRLF.search(self.first, self.pos)
        if found is None:
            self.usebuf = True
            chunk = await self.buffer()
            self.error = self.buffer.error
            if chunk is None:  # Lua concatenates nil here and the script dies: no reply
                return None
            return self.first[self.pos :] + chunk
        line = self.first[self.pos : found.start()]
        self.pos = found.end()
        if self.pos >= len(self.first) - 1:  # Lua: pos (1-based, after CRLF) >= #ret
            self.usebuf = True
        return line


async def connect(
    host: Any, port: Any, *, request_timeout: float | None = None, timeout: float | None = None
) -> tuple[NseSocket, int | None, bytes, LineBuffer]:
    """ftp.lua ``connect``: ``(socket, code, message, buffer)`` after reading the banner.

    SSL or plain TCP as :func:`comm.tryssl` chooses. ``code`` is the banner's reply code (None
    when it could not be read or parsed; ``message`` then says why). Raises SocketError whose
    message is ftp.lua's (``"connection closed"``, ...) when no connection could be made.
    """
    try:
        sock, _response, _proto, early = await comm.tryssl(
            host, port, "", recv_before=True, request_timeout=request_timeout, timeout=timeout
        )
    except comm.CommError as error:
        last = error.oops.messages[-1] if error.oops.messages else ""
        raise SocketError(ERROR_MESSAGES.get(last, "unspecified error")) from error
    buffer = LineBuffer(sock)
    code, message = await read_reply(_BannerLines(early or b"", buffer))
    return sock, code, message, buffer


async def close(sock: NseSocket) -> None:
    """ftp.lua ``close``: QUIT (unchecked), then close."""
    try:
        await sock.send("QUIT\r\n")
    except SocketError:
        pass
    sock.close()


async def starttls(sock: NseSocket, buffer: ReadLine) -> tuple[bool, bytes]:
    """ftp.lua ``starttls``: send ``AUTH TLS``; ``(True, message)`` on 234, else False and the
    reply (or the send's failure) as message. The TLS handshake is the caller's."""
    try:
        await sock.send("AUTH TLS\r\n")
    except SocketError as error:
        return False, error.status.encode()
    code, message = await read_reply(buffer)
    return code == 234, message


def _is_ssl(sock: NseSocket) -> bool:
    try:
        sock.get_ssl_certificate()
    except ValueError:
        return False
    return True


def _should_try_ssl(code: int | None, message: bytes) -> bool:
    return (
        code is not None
        and code >= 400
        and re.search(rb"[Ss][Ss][Ll]|[Tt][Ll][Ss]|[Ss][Ee][Cc][Uu][Rr]", message) is not None
    )


async def _reconnect_ssl(sock: NseSocket, buffer: ReadLine) -> bool:
    ok, _message = await starttls(sock, buffer)
    if not ok:
        return False
    try:
        await sock.reconnect_ssl()
    except SocketError:
        return False
    return True


async def _command(sock: NseSocket, buffer: ReadLine, line: str) -> tuple[int | None, bytes]:
    """Send one command line, read its reply; a failed send is ``(None, status)``."""
    try:
        await sock.send(line + "\r\n")
    except SocketError as error:
        return None, error.status.encode()
    return await read_reply(buffer)


async def auth(
    sock: NseSocket, buffer: ReadLine, username: str, password: str, acct: str | None = None
) -> tuple[bool, int | None, bytes]:
    """ftp.lua ``auth``: USER/PASS (and ACCT), ``(success, code, message)``.

    Success is a 2xx code at the end. A 4xx/5xx answer mentioning SSL, TLS or security on a
    plain connection switches to TLS (``AUTH TLS``) and starts over, once. A failed send gives
    ``(False, None, status)``; a failed switch to TLS ``(False, None, b"")``.
    """
    already_ssl = _is_ssl(sock)
    while True:
        code, message = await _command(sock, buffer, f"USER {username}")
        if code == 331:
            code, message = await _command(sock, buffer, f"PASS {password}")
        elif not already_ssl and _should_try_ssl(code, message):
            if not await _reconnect_ssl(sock, buffer):
                return False, None, b""
            already_ssl = True
            continue
        if code == 332:
            code, message = await _command(sock, buffer, f"ACCT {acct or username}")
            if code == 331:
                code, message = await _command(sock, buffer, f"PASS {password}")
            elif not already_ssl and _should_try_ssl(code, message):
                if not await _reconnect_ssl(sock, buffer):
                    return False, None, b""
                already_ssl = True
                continue
        if code is not None and 200 <= code < 300:
            return True, code, message
        if code is not None and not already_ssl and _should_try_ssl(code, message):
            if not await _reconnect_ssl(sock, buffer):
                return False, None, b""
            already_ssl = True
            continue
        return False, code, message


def _same_ip(left: str, right: str) -> bool:
    try:
        return ipaddress.ip_address(left) == ipaddress.ip_address(right)
    except ValueError:
        return False


async def pasv(sock: NseSocket, buffer: ReadLine) -> NseSocket:
    """ftp.lua ``pasv``: a data connection, connected; SocketError with ftp.lua's message.

    EPSV (RFC 2428) on IPv6 with a fall back to PASV; the PASV address must be the target's
    own or 0.0.0.0 (a server pointing elsewhere is refused, as in Nmap).
    """
    try:
        _lhost, _lport, rhost, _rport = sock.get_info()
    except SocketError as error:
        raise SocketError(f"Can't determine remote host IP: {error.status}") from error
    try:
        epsv = ipaddress.ip_address(rhost.partition("%")[0]).version == 6
    except ValueError:
        epsv = False
    while True:
        code, message = await _command(sock, buffer, "EPSV" if epsv else "PASV")
        if epsv:
            if code is None:
                raise SocketError(f"EPSV failed: socket {message.decode('latin-1')}")
            if code != 229:
                stdnse.debug(2, "Falling back to PASV. EPSV: %d %s", code, message)
                epsv = False
                continue
            found = re.search(rb"\((.)\1\1(\d+)\1\)", message, re.S)
            if found is None:
                stdnse.debug(2, "Can't parse EPSV response: %s", message)
                epsv = False
                continue
            data_port = int(found[2])
            break
        if code is None or code >= 300:
            raise SocketError(
                f"PASV failed: {code if code is not None else 'socket'} {message.decode('latin-1')}"
            )
        found = re.search(rb"\((\d+,\d+,\d+,\d+),(\d+),(\d+)\)", message)
        if found is None:
            raise SocketError("Can't parse PASV response: " + lua_quote(message).decode("latin-1"))
        ip = found[1].replace(b",", b".").decode("ascii")
        if not (_same_ip(ip, rhost) or _same_ip(ip, "0.0.0.0")):
            raise SocketError(f"PASV IP {ip} is not the same as {rhost}")
        data_port = int(found[2]) * 256 + int(found[3])
        break
    data = nmap.new_socket()
    await data.connect(rhost, data_port, "tcp")  # a number over 65535 wraps, as in nsock
    return data


async def prepare_tls(host: Any, port: Any) -> NseSocket:
    """sslcert.lua ``ftp_prepare_tls_without_reconnect``: banner, ``AUTH TLS``; the socket is
    then ready for a TLS handshake.

    Raises :class:`StartTlsRefused` when the server refuses AUTH TLS, SocketError with
    sslcert.lua's message when it cannot be reached or is not FTP.
    """
    try:
        sock, code, message, buffer = await connect(host, port)
    except SocketError as error:
        raise SocketError(f"Failed to connect to FTP server: {error}") from error
    if code != 220:
        sock.close()
        shown = str(code) if code is not None else message.decode("latin-1")
        raise SocketError(f"FTP protocol error: {shown}")
    ok, message = await starttls(sock, buffer)
    if not ok:
        await close(sock)
        raise StartTlsRefused(f"FTP AUTH TLS error: {message.decode('latin-1')}")
    return sock
