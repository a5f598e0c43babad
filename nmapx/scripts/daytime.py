"""Retrieves the day and time from the Daytime service.

A port of Nmap's ``daytime.nse``: the raw first line is the result, so a server ending its
line with CRLF shows ``\\x0D`` in normal output, exactly as Nmap prints it. UDP too.

@usage nmapx run scan.xml --script daytime
@output
    13/tcp open  daytime
    |_daytime: Wed Mar 31 14:48:58 2010\\x0D
"""

from __future__ import annotations

from typing import Any

from nmapx.nse import comm, shortport

author = "Diman Todorov (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["discovery", "safe"]

portrule = shortport.port_or_service(13, "daytime", ("tcp", "udp"))


async def action(host: Any, port: Any) -> Any:
    try:
        return await comm.exchange(host, port, "dummy", lines=1)
    except comm.CommError as error:
        return error  # oops.output: the error itself is the result
