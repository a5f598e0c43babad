"""Sends FTP SYST and STAT commands and returns the result.

The canonical SYST response of "UNIX Type: L8" is stripped or ignored, since it is
meaningless. Typical FTP response codes (215 for SYST and 211 for STAT) are also hidden.

A port of Nmap 7.93's ``ftp-syst.nse``, the same commands in the same order: SYST (logging in
as ``anonymous`` once and asking again when the server wants a login first: 503, 521 or any
x3x code), then STAT; a 2xx answer other than 215/211 is shown with its code. The structured
output is ``SYST`` and ``STAT`` (the STAT text after a line break, as Nmap prints it).

References:
* https://cr.yp.to/ftp/syst.html

@usage nmapx run scan.xml --script ftp-syst
@output
    | ftp-syst:
    |   STAT:
    | FTP server status:
    |      Connected to 192.0.2.13
    |      Logged in as ftp
    |      TYPE: ASCII
    |      vsFTPd 2.0.5 - secure, fast, stable
    |_End of status
@xmloutput
    <elem key="STAT">&#xa;FTP server status:&#xa;     Connected to 192.0.2.13 ...</elem>
"""

from __future__ import annotations

import re

from nmapx.nse import NseHost, Port, ftp, shortport, stdnse
from nmapx.nse.errors import SocketError
from nmapx.nse.lineproto import lua_quote

author = "Daniel Miller (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "discovery", "safe"]

portrule = shortport.port_or_service((21, 990), ("ftp", "ftps"))

_UNIX_L8 = re.compile(rb"^UNIX Type: L8 *")


async def action(host: NseHost, port: Port) -> stdnse.OutputTable | None:
    try:
        sock, code, message, buffer = await ftp.connect(host, port)
    except SocketError as error:
        stdnse.debug(1, "Couldn't connect: %s", error)
        return None
    if code is not None and code != 220:
        stdnse.debug(1, "banner code %d %s.", code, lua_quote(message))
        return None

    syst: bytes | None = None
    auth_done = False
    while True:  # Lua: repeat ... until not auth_done
        try:
            await sock.send("SYST\r\n")
        except SocketError:
            return None
        code, message = await ftp.read_reply(buffer)
        if code is None:
            stdnse.debug(1, "SYST error: %s", message)
            break
        if code == 215:
            stripped = _UNIX_L8.sub(b"", message, count=1)
            if stripped:
                syst = stripped
            break
        if code < 300:
            syst = b"%d %s" % (code, message)
            break
        if not auth_done and (code in (503, 521) or (code % 100) // 10 == 3):
            # the command wants a login first: log in and ask again, once
            ok, _code, _message = await ftp.auth(sock, buffer, "anonymous", "IEUser@")
            if ok:
                auth_done = True
        else:
            stdnse.debug(1, "SYST error: %d %s", code, message)
            break
        if not auth_done:
            break

    out = stdnse.output_table()
    try:
        await sock.send("STAT\r\n")
    except SocketError:
        if syst is not None:
            out["SYST"] = syst
            return out
        return None
    out["SYST"] = syst
    code, stat = await ftp.read_reply(buffer)
    if code is not None:
        if code == 211:
            out["STAT"] = b"\n" + stat
        elif code < 300:
            out["STAT"] = b"%d\n%s" % (code, stat)
    await ftp.close(sock)
    return out if len(out) > 0 else None
