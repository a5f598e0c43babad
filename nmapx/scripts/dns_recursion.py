"""Checks if a DNS server allows queries for third-party names. It is expected that
recursion will be enabled on your own internal nameservers.

A port of Nmap 7.93's ``dns-recursion.nse``: one query for ``www.wikipedia.org`` (id 0xdead,
recursion desired) over UDP; recursion "appears to be enabled" when the reply is a response
with RA set and rcode bits 0x4 and 0x1 clear. A port that answers is marked
``open`` (``nmap.set_port_state``), as Nmap does.

@usage nmapx run scan.xml --script dns-recursion
@output
    53/udp open  domain  udp-response
    |_dns-recursion: Recursion appears to be enabled
"""

from __future__ import annotations

from typing import Any

from nmapx.nse import comm, nmap, shortport

author = "Felix Groebert (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "safe"]

portrule = shortport.portnumber(53, "udp")

REQUEST = (
    b"\xde\xad"  # transaction id
    b"\x01\x00"  # flags: recursion desired
    b"\x00\x01\x00\x00\x00\x00\x00\x00"  # one question
    b"\x03www\x09wikipedia\x03org\x00"
    b"\x00\x01\x00\x01"  # type A, class IN
)


async def action(host: Any, port: Any) -> str | None:
    try:
        result = await comm.exchange(host, port, REQUEST, proto="udp")
    except comm.CommError:
        return None
    nmap.set_port_state(host, port, "open")
    if len(result) < 4:  # string.byte beyond the reply is nil: arithmetic on it fails
        raise TypeError("attempt to perform bitwise operation on a nil value")
    if result[2] & 0x80 == 0x80 and result[3] & 0x85 == 0x80:
        return "Recursion appears to be enabled"
    return None
