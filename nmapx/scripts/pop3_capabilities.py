"""Retrieves POP3 email server capabilities.

POP3 capabilities are defined in RFC 2449. The CAPA command allows a client to ask a server
what commands it supports and possibly any site-specific policy. Besides the list of supported
commands, the IMPLEMENTATION string giving the server version may be available.

A port of Nmap 7.93's ``pop3-capabilities.nse`` on pop3.lua's reading (see
:mod:`nmapx.nse.pop3`: the answer ends at its first ``.``), each capability shown as
``NAME`` or ``NAME(arg arg)``. Nmap lists them in a Lua table walk's order, which changes from
run to run; nmapx lists them as the server sent them (``APOP`` first when the greeting has a
timestamp).

@usage nmapx run scan.xml --script pop3-capabilities
@output
    110/tcp open  pop3
    |_pop3-capabilities: USER CAPA RESP-CODES UIDL PIPELINING STLS TOP SASL(PLAIN)
"""

from __future__ import annotations

from nmapx.nse import NseHost, Port, pop3, shortport, stdnse

author = "Philip Pickering (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "discovery", "safe"]

portrule = shortport.port_or_service((110, 995), ("pop3", "pop3s"))


async def action(host: NseHost, port: Port) -> str | None:
    capa, err = await pop3.capabilities(host, port)
    if capa is None:
        stdnse.debug(1, "'%s' for %s", err, host.ip)
        return None
    return " ".join(f"{cap}({' '.join(args)})" if args else cap for cap, args in capa.items())
