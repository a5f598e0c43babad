"""Checks if an FTP server allows anonymous logins.

If anonymous is allowed, gets a directory listing of the root directory and highlights
writeable files.

A port of Nmap 7.93's ``ftp-anon.nse`` with its rules kept exactly, because the output shows
them: the login is ``anonymous`` / ``IEUser@`` (over ``AUTH TLS`` when the server asks for
security); the listing is ``LIST`` over a PASV (EPSV on IPv6) data connection, one line per
entry as the server sent it (a line whose end has not arrived within 2048 bytes is cut to
2047, the 2048th byte dropped, as Lua's ``match.pattern_limit`` does), an empty line ends it;
the writable check is only Nmap's passive one, a world-writable mode (``^[d-].......w.``)
earns ``[NSE: writeable]``, nothing is written. At -v0 at most 20 entries are shown (then
``Only 20 shown. ...``), unlimited at -v and above (a script selected by name runs one level
higher). A refusal other than 421 or 530 is shown as
``got code N "message".`` (the message in Lua's ``%q`` form).

Bound (Nmap has none): a listing longer than :data:`MAX_LISTING` bytes is taken for a hostile
server that never ends it, and the script ends without output (Nmap 7.93 reads such a listing
for ever, ``--script-timeout`` notwithstanding, and so never prints anything for it).

@usage nmapx run scan.xml --script ftp-anon
@args ftp-anon.maxlist The maximum number of files to return in the directory listing. By
    default it is 20, or unlimited if verbosity is enabled. Use a negative number to disable
    the limit, or 0 to disable the listing entirely.
@output
    21/tcp open  ftp
    | ftp-anon: Anonymous FTP login allowed (FTP code 230)
    | -rw-r--r--   1 1170     924            31 Mar 28  2001 .banner
    | drwxr-srwt   2 1170     924          2048 Jul 19 18:48 incoming [NSE: writeable]
    |_Only 2 shown. Use --script-args ftp-anon.maxlist=-1 to see all.
"""

from __future__ import annotations

import re

from nmapx.nse import NseHost, Port, ftp, nmap, shortport, stdnse
from nmapx.nse.errors import SocketError
from nmapx.nse.lineproto import LineBuffer, lua_quote, pattern_limit
from nmapx.nse.sockets import NseSocket

author = "Eddie Bell, Rob Nicholls, Ange Gutek, David Fifield (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "auth", "safe"]

SCRIPT_NAME = "ftp-anon"
#: The most listing bytes read before the server is taken for one that never ends (nmapx bound).
MAX_LISTING = 4 << 20

portrule = shortport.port_or_service((21, 990), ("ftp", "ftps"))

_LINE_END = re.compile(rb"\r?\n")
_WRITEABLE = re.compile(rb"[d-].......w.", re.S)


class _EndlessListing(Exception):
    """The listing passed :data:`MAX_LISTING` bytes."""


async def _list(sock: NseSocket, buffer: LineBuffer, max_lines: float | None) -> list[bytes]:
    """ftp-anon's ``list``: the listing's lines; SocketError with the message Nmap shows."""
    data = await ftp.pasv(sock, buffer)
    # "Fire and forget": the replies to LIST on the command connection are never read.
    await sock.send("LIST\r\n")
    delimiter = pattern_limit(_LINE_END, 2048)
    listing: list[bytes] = []
    total = 0
    while max_lines is None or len(listing) < max_lines:
        try:
            line = await data.receive_buf(delimiter, False)
        except SocketError as error:
            if error.status == "EOF":
                break
            raise
        if line == b"":
            break
        listing.append(line)
        total += len(line) + 1
        if total > MAX_LISTING:
            raise _EndlessListing
    return listing


def _max_list() -> float | None:
    """``ftp-anon.maxlist``, or 20 at -v0 and unlimited above; None for unlimited."""
    given = stdnse.get_script_args(SCRIPT_NAME + ".maxlist")
    if not given:
        return 20 if nmap.verbosity() == 0 else None
    try:
        number = float(given)
    except (TypeError, ValueError) as error:  # Lua: comparing nil with a number
        raise TypeError("attempt to compare nil with number") from error
    return None if number < 0 else number


async def action(host: NseHost, port: Port) -> bytes | None:
    max_list = _max_list()
    try:
        sock, code, message, buffer = await ftp.connect(host, port, request_timeout=8000)
    except SocketError as error:
        stdnse.debug(1, "Couldn't connect: %s", error)
        return None
    if code is not None and code != 220:
        stdnse.debug(1, "banner code %d %s.", code, lua_quote(message))
        return None
    ok, code, message = await ftp.auth(sock, buffer, "anonymous", "IEUser@")
    if not ok:
        if code is None:
            stdnse.debug(1, "got socket error %s.", lua_quote(message))
        elif code not in (421, 530):  # service not available, not logged in: not worth a line
            stdnse.debug(1, "got code %d %s.", code, lua_quote(message))
            return b"got code %d %s." % (code, lua_quote(message))
        return None
    result = [b"Anonymous FTP login allowed (FTP code %d)" % (code or 0)]
    if max_list is None or max_list > 0:
        try:
            listing: list[bytes] | None = await _list(sock, buffer, max_list)
            failure = b""
        except _EndlessListing:
            stdnse.debug(1, "listing longer than %d bytes: given up", MAX_LISTING)
            sock.close()
            return None
        except SocketError as error:
            listing, failure = None, str(error).encode("utf-8", "surrogateescape")
        await ftp.close(sock)
        if listing is None:
            result.append(b"Can't get directory listing: " + failure)
        else:
            for item in listing:
                if _WRITEABLE.match(item):  # just a quick passive check on user rights
                    item += b" [NSE: writeable]"
                result.append(item)
            if max_list is not None and len(listing) == max_list:
                result.append(
                    b"Only %d shown. Use --script-args %s.maxlist=-1 to see all."
                    % (len(listing), SCRIPT_NAME.encode())
                )
    return b"\n".join(result)
