"""Attempts to find the owner of an open TCP port by querying an auth
daemon which must also be open on the target system. The auth service,
also known as identd, normally runs on port 113.

A port of Nmap's ``auth-owners.nse`` (RFC 1413): its rule, request and reply parsing, and
therefore its output, are the same.

@usage nmapx run scan.xml --script auth-owners
@output
    22/tcp   open     ssh
    |_auth-owners: root
    113/tcp  open     ident
    |_auth-owners: oidentd
"""

from __future__ import annotations

import re
from typing import Any

from nmapx.nse import nmap

author = "Diman Todorov (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "safe"]

# string.match(owner, "%d+%s*,%s*%d+%s*:%s*USERID%s*:%s*[^:]+%s*:[ \t]*([^\r\n]+)\r?\n")
_USERID = re.compile(rb"\d+\s*,\s*\d+\s*:\s*USERID\s*:\s*[^:]+\s*:[ \t]*([^\r\n]+)\r?\n")


def portrule(host: Any, port: Any) -> bool:
    identd = nmap.get_port_state(host, {"number": 113, "protocol": "tcp"})
    return (
        identd is not None
        and identd.state == "open"
        and port.protocol == "tcp"
        and port.state == "open"
    )


async def action(host: Any, port: Any) -> bytes | None:
    client_ident = nmap.new_socket()
    client_service = nmap.new_socket()
    try:
        await client_ident.connect(host, 113)
        await client_service.connect(host, port)
        _local_ip, local_port, _remote_ip, _remote_port = client_service.get_info()
        await client_ident.send(f"{port.number}, {local_port}\r\n")
        owner = await client_ident.receive_lines(1)
    finally:
        client_ident.abort()
        client_service.abort()
    if b"ERROR" in owner:
        return None
    match = _USERID.search(owner)
    return match[1] if match else None
