"""Attempts to find the owner of an open TCP port by querying an auth
daemon which must also be open on the target system. The auth service,
also known as identd, normally runs on port 113.

A port of Nmap's ``auth-owners.nse`` (RFC 1413): its rule, request and reply parsing, and
therefore its output, are the same. One difference changes what is found, never how it is
printed: when identd answers NO-USER, it is asked again after a short wait (3.75 s at most),
since a busy service may not have accepted the probe's connection yet.

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

from nmapx.nse import nmap, stdnse

author = "Diman Todorov (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "safe"]

# string.match(owner, "%d+%s*,%s*%d+%s*:%s*USERID%s*:%s*[^:]+%s*:[ \t]*([^\r\n]+)\r?\n")
_USERID = re.compile(rb"\d+\s*,\s*\d+\s*:\s*USERID\s*:\s*[^:]+\s*:[ \t]*([^\r\n]+)\r?\n")
_NO_USER = re.compile(rb":\s*ERROR\s*:\s*NO-USER")

#: Waits (seconds) before asking identd again after it answered ``NO-USER``. Why: identd
#: names the owner of a connection only once the service has ``accept()``ed it, and the
#: query goes out the moment the connection is established. A service that is busy (a
#: burst of probes from many script threads, a loaded machine) may still hold the
#: connection in its accept queue, and identd then answers ``NO-USER`` for a connection
#: that will have an owner a moment later: the result would depend on load (Nmap loses it
#: too, more rarely, since NSE lets only 20 threads hold sockets). The service connection
#: stays open meanwhile; each retry is a new identd connection (identd answers one query per
#: connection). Other errors (``HIDDEN-USER``, ``INVALID-PORT``) are final. A port whose
#: owner is truly unknown costs the sum of the waits (3.75 s) and gives no result, as in Nmap.
NO_USER_RETRY_WAITS = (0.25, 0.5, 1.0, 2.0)


def portrule(host: Any, port: Any) -> bool:
    identd = nmap.get_port_state(host, {"number": 113, "protocol": "tcp"})
    return (
        identd is not None
        and identd.state == "open"
        and port.protocol == "tcp"
        and port.state == "open"
    )


async def action(host: Any, port: Any) -> bytes | None:
    # As auth-owners.nse: identd is connected first, then the service, then the query sent.
    client_ident = nmap.new_socket()
    client_service = nmap.new_socket()
    try:
        await client_ident.connect(host, 113)
        await client_service.connect(host, port)
        _local_ip, local_port, _remote_ip, _remote_port = client_service.get_info()
        request = f"{port.number}, {local_port}\r\n"
        await client_ident.send(request)
        owner = await client_ident.receive_lines(1)
        for wait in NO_USER_RETRY_WAITS:
            if not _NO_USER.search(owner):
                break
            client_ident.abort()
            await stdnse.sleep(wait)
            client_ident = nmap.new_socket()
            await client_ident.connect(host, 113)
            await client_ident.send(request)
            owner = await client_ident.receive_lines(1)
    finally:
        client_ident.abort()
        client_service.abort()
    if b"ERROR" in owner:
        return None
    match = _USERID.search(owner)
    return match[1] if match else None
