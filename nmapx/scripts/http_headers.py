"""Performs a HEAD request for the root folder ("/") of a web server and displays the HTTP
headers returned.

A port of Nmap 7.93's ``http-headers.nse``, rules kept because they are the output: HEAD
first (through ``http.can_use_head``: a 200 with no body), else GET (also when
``http-headers.useget`` is given, whatever its value); the header lines exactly as received
(``rawheader``: no reordering, no case change), then ``(Request type: HEAD)`` or ``GET``,
each as one ``stdnse.format_output`` line; no status at all gives the failure text, shown only
when debugging. Verbosity changes nothing.

@usage nmapx run scan.xml --script http-headers
@args http-headers.path The path to request, such as ``/index.php``. Default ``/``.
@args http-headers.useget Request with a GET instead of a HEAD.
@output
    80/tcp open  http
    | http-headers:
    |   Date: Fri, 25 Jan 2013 17:39:08 GMT
    |   Server: Apache/2.2.14 (Ubuntu)
    |   Connection: close
    |   Content-Type: text/html
    |
    |_  (Request type: HEAD)
"""

from __future__ import annotations

from nmapx.nse import NseHost, Port, http, shortport, stdnse

description = """
Performs a HEAD request for the root folder ("/") of a web server and displays the HTTP
headers returned.
"""
author = "Ron Bowes (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["discovery", "safe"]

SCRIPT_NAME = "http-headers"

portrule = shortport.http


def _fail(err: str) -> str | None:
    return stdnse.format_output(False, err)


async def action(host: NseHost, port: Port) -> str | None:
    path = stdnse.get_script_args(SCRIPT_NAME + ".path") or "/"
    useget = stdnse.get_script_args(SCRIPT_NAME + ".useget")
    request_type = "HEAD"
    status = False
    result: http.Response | None = None

    if useget is None:
        status, result = await http.can_use_head(host, port, None, str(path))

    if not status:
        stdnse.debug(1, "HEAD request failed, falling back to GET")
        result = await http.get(host, port, str(path))
        request_type = "GET"

    if result is None or result.status is None:
        return _fail("Header request failed")

    lines = [*result.rawheader, f"(Request type: {request_type})"]
    return stdnse.format_output(True, lines)
