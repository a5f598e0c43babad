"""Attempts to use EHLO and HELP to gather the Extended commands supported by an SMTP server.

A port of Nmap 7.93's ``smtp-commands.nse``: EHLO with ``smtp-commands.domain``,
``smtp.domain``, the target's name or ``nmap.scanme.org``, then HELP; each reply is what one
read returned (smtp.lua's ``receive_lines(1)``), reshaped as Nmap does it: CRs dropped, trimmed,
the ``250``/``214`` line prefixes removed, EHLO's lines joined with ``, ``, runs of white space
made one space. The two parts are joined with a line break and a space. When EHLO fails, the
output is smtp.lua's error (``SMTP: EHLO <reply>``); a failed HELP just leaves its part out.

A reply longer than nsock's read chunk (:data:`nmapx.nse.smtp.NSOCK_READ_CHUNK`, 576 KiB)
gives no output: Nmap stops reading such a reply part-way, at a point that depends on how the
bytes arrived, and waits for the timeout, so its output there cannot be reproduced.

@usage nmapx run scan.xml --script smtp-commands --script-args smtp-commands.domain=example.org
@args smtp.domain or smtp-commands.domain Define the domain to be used in the SMTP commands.
@output
    25/tcp open  smtp
    | smtp-commands: mail.example.org Hello [192.0.2.1], SIZE 52428800, 8BITMIME, STARTTLS, HELP
    |_ Commands supported: AUTH STARTTLS HELO EHLO MAIL RCPT DATA BDAT NOOP QUIT RSET HELP
"""

from __future__ import annotations

import re

from nmapx.nse import NseHost, Port, shortport, smtp, stdnse
from nmapx.nse.errors import SocketError

author = "Jasey DePriest (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "discovery", "safe"]

portrule = shortport.port_or_service((25, 465, 587), ("smtp", "smtps", "submission"))

_LUA_SPACE = b" \t\n\v\f\r"
_SPACES = re.compile(rb"\s+")


def _prefix(code: bytes) -> re.Pattern[bytes]:
    """``%f[^\\0\\n]CODE[-%s]+``: the code where a line (or the text, or a NUL) starts."""
    return re.compile(rb"(?:(?<=[\0\n])|\A)" + code + rb"[-\s]+")


_EHLO_PREFIX = _prefix(b"250")
_HELP_PREFIX = _prefix(b"214")


def reshape_ehlo(response: bytes) -> bytes:
    """The EHLO reply as smtp-commands shows it."""
    text = response.replace(b"\r", b"").strip(_LUA_SPACE)
    text = _EHLO_PREFIX.sub(b"", text).replace(b"\n", b", ")
    return _SPACES.sub(b" ", text)


def reshape_help(response: bytes) -> bytes:
    """The HELP reply as smtp-commands shows it."""
    text = response.replace(b"\r", b"").strip(_LUA_SPACE)
    return _SPACES.sub(b" ", _HELP_PREFIX.sub(b"", text))


class _TooLong(Exception):
    """A reply longer than nsock reads in one go (see the module docstring)."""


async def _go(host: NseHost, port: Port) -> tuple[bool, bytes | list[bytes]]:
    domain = stdnse.get_script_args("smtp-commands.domain") or smtp.get_domain(host)
    try:
        sock, _greeting = await smtp.connect(host, port, ssl=True, timeout=10000)
    except SocketError:
        return False, b"Couldn't establish connection on port %d" % port.number
    ok, response = await smtp.ehlo(sock, str(domain))
    if not ok:
        return False, response
    if len(response) > smtp.NSOCK_READ_CHUNK:
        raise _TooLong
    result = [reshape_ehlo(response)]
    ok, response = await smtp.help(sock)
    if len(response) > smtp.NSOCK_READ_CHUNK:
        raise _TooLong
    if ok:
        result.append(reshape_help(response))
        await smtp.quit(sock)
    return True, result


async def action(host: NseHost, port: Port) -> bytes | None:
    try:
        ok, result = await _go(host, port)
    except _TooLong:
        stdnse.debug(1, "a reply longer than %d bytes: no output", smtp.NSOCK_READ_CHUNK)
        return None
    if not ok or isinstance(result, bytes):
        return result if isinstance(result, bytes) else None
    return b"\n ".join(result) if result else None
