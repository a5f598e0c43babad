"""Retrieves IMAP email server capabilities.

IMAP4rev1 capabilities are defined in RFC 3501. The CAPABILITY command allows a client to ask
a server what commands it supports and possibly any site-specific policy.

A port of Nmap 7.93's ``imap-capabilities.nse`` with imap.lua's reading kept, because the
output shows it: every word of the CAPABILITY response up to the tagged status line counts,
so the status line's words appear too (``OK``, ``Pre-login``, ``listed``, ...) and the last
capability runs into the tag (``AUTH=PLAINA0001``); each word once. Nmap lists them in a Lua
table walk's order, which changes from run to run; nmapx lists them as the server sent them.

@usage nmapx run scan.xml --script imap-capabilities
@output
    143/tcp open  imap
    |_imap-capabilities: LOGINDISABLED IDLE IMAP4 LITERAL+ STARTTLS NAMESPACE IMAP4rev1
"""

from __future__ import annotations

from nmapx.nse import NseHost, Port, imap, shortport, stdnse

author = "Brandon Enright (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "safe"]

portrule = shortport.port_or_service((143, 993), ("imap", "imaps"))


async def action(host: NseHost, port: Port) -> str | None:
    helper = imap.Helper(host, port)
    ok, _banner = await helper.connect()
    if not ok:
        return stdnse.format_output(False, "Failed to connect to server")
    ok, capa = await helper.capabilities()
    if not ok:
        return stdnse.format_output(False, "Failed to retrieve capabilities")
    helper.close()
    return " ".join(capa)
