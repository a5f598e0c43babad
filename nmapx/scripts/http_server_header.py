"""Uses the HTTP Server header for missing version info. This is currently infeasible with
version probes because of the need to match non-HTTP services correctly.

A port of Nmap 7.93's ``http-server-header.nse`` (a ``version`` script), rules kept because
they are the output: the replies come from the ``-sV`` fingerprint (``port.version.service_fp``,
through ``lpeg_utility.get_response``, eight probes in the original's order) or, without one,
from ``GET / HTTP/1.0``; then one ``GET / HTTP/1.1`` with a Host header is always added. Each
reply that starts like an HTTP status line gives its first ``Server:`` value (any case,
searched in the whole reply); when version detection named no product with confidence above 3
the first such value becomes the port's product (``nmap.set_port_version``, softmatched) and
later replies with the same value are skipped. The distinct values print sorted, an empty one
as ``<empty>``, on a line of their own each when there are several.

@usage nmapx run scan.xml --script http-server-header
@output
    80/tcp open  http
    |_http-server-header: Apache/2.2.22 (Ubuntu)
@xmloutput
    <elem>Apache/2.2.22 (Ubuntu)</elem>
"""

from __future__ import annotations

import re

from nmapx.nse import NseHost, Port, comm, lpeg_utility, nmap, shortport, stdnse

description = """
Uses the HTTP Server header for missing version info. This is currently
infeasible with version probes because of the need to match non-HTTP services
correctly.
"""
author = "Daniel Miller (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["version"]
dependencies = ["https-redirect"]

_PROBES = (
    "GetRequest", "GenericLines", "HTTPOptions", "FourOhFourRequest", "NULL", "RTSPRequest",
    "Help", "SIPOptions",
)  # fmt: skip
_STATUS = re.compile(rb"HTTP/1.[01] \d\d\d")
_SERVER = re.compile(rb"\n[Ss][Ee][Rr][Vv][Ee][Rr]:[ \t]*(.*?)\r?\n", re.S)


def portrule(host: NseHost, port: Port) -> bool:
    return bool(shortport.http(host, port)) and nmap.version_intensity() >= 7


async def _exchange(host: NseHost, port: Port, request: str) -> tuple[bool, bytes | None]:
    """comm.tryssl's reply to ``request``: (False, None) when no connection worked, as the
    original's nil socket; a reply can still be None (Lua's nil, which adds nothing)."""
    try:
        socket, result, _method, _early = await comm.tryssl(host, port, request)
    except comm.CommError:
        return False, None
    socket.close()
    return True, result


async def action(host: NseHost, port: Port) -> tuple[list[bytes], bytes] | None:
    responses: list[bytes] = []
    if port.version.service_fp:
        for probe in _PROBES:
            reply = lpeg_utility.get_response(port.version.service_fp, probe)
            if reply is not None:
                responses.append(reply)
    if not responses:
        connected, result = await _exchange(host, port, "GET / HTTP/1.0\r\n\r\n")
        if not connected:
            return None
        if result is not None:
            responses.append(result)

    request = f"GET / HTTP/1.1\r\nHost: {stdnse.get_hostname(host)}\r\n\r\n"
    connected, result = await _exchange(host, port, request)
    if connected and result is not None:
        responses.append(result)

    version = port.version
    headers: dict[bytes, bool] = {}
    for reply in responses:
        if _STATUS.match(reply):
            found = _SERVER.search(reply)
            http_server = found[1] if found else None
            product = (
                version.product.encode("utf-8", "surrogateescape") if version.product else None
            )
            if version.product is None and (version.name_confidence or 0) <= 3:
                # The original also sets port.version.service = "http", a field that
                # set_port_version does not read.
                version.product = (
                    http_server.decode("utf-8", "surrogateescape")
                    if http_server is not None
                    else None
                )
                nmap.set_port_version(host, port, "softmatched")
            elif product == http_server:
                http_server = None
            if http_server is not None:
                headers[http_server] = True

    if not headers:
        return None
    out = sorted(headers)
    out_s = sorted(b"<empty>" if name == b"" else name for name in out)
    return out, (b"\n  " if len(out) > 1 else b"") + b"\n  ".join(out_s)
