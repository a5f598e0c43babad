"""Shows the title of the default page of a web server.

The script will follow up to 5 HTTP redirects, using the default rules in the http library.

A port of Nmap 7.93's ``http-title.nse``, with its rules kept exactly, because they are what
the output shows: the title is the text of the first ``<title ...>...</title>`` (any case) that
holds no ``<``, taken as bytes and *not* entity-decoded (``&amp;`` stays ``&amp;``); the line
shown drops every CR, LF and TAB (spaces stay) and is cut to 62 bytes plus ``...`` when it is
longer than 65 bytes (a multi-byte character may be cut, as in Nmap); the structured ``title``
is the raw text. A redirect the http library did not follow gives only ``Did not follow
redirect to <Location>``; one it followed adds ``Requested resource was <Location>`` (the last
``Location`` value as the server sent it). Verbosity changes nothing.

@usage nmapx run scan.xml --script http-title
@args http-title.url The url to fetch. Default: /
@output
    80/tcp open  http
    |_http-title: Go ahead and ScanMe!
@xmloutput
    <elem key="title">Go ahead and ScanMe!</elem>
    <elem key="redirect_url">http://en.wikipedia.org/wiki/Main_Page</elem>
"""

from __future__ import annotations

import re
from typing import Any

from nmapx.nse import NseHost, Port, http, shortport, stdnse

description = """
Shows the title of the default page of a web server.

The script will follow up to 5 HTTP redirects, using the default rules in the
http library.
"""
author = "Diman Todorov (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "discovery", "safe"]

SCRIPT_NAME = "http-title"
_TITLE = re.compile(rb"<[Tt][Ii][Tt][Ll][Ee][^>]*>([^<]*)</[Tt][Ii][Tt][Ll][Ee]>")

portrule = shortport.http


def _raw(text: str) -> bytes:
    """The bytes behind the http library's text (UTF-8 with surrogateescape)."""
    return text.encode("utf-8", "surrogateescape")


async def action(host: NseHost, port: Port) -> tuple[dict[str, Any], bytes] | None:
    path = stdnse.get_script_args(SCRIPT_NAME + ".url")
    resp = await http.get(host, port, path if isinstance(path, str) else "/")

    redirect_url: str | None = None
    if resp.location:
        redirect_url = resp.location[-1]
        if resp.status is not None and re.search("30[0-9]", str(resp.status)):
            return {"redirect_url": redirect_url}, b"Did not follow redirect to " + _raw(
                redirect_url
            )

    if resp.body is None:
        return None

    found = _TITLE.search(resp.body)
    title = found[1] if found else None

    if title:
        display_title = re.sub(rb"[\n\r\t]", b"", title)
        if len(display_title) > 65:
            display_title = display_title[:62] + b"..."
    else:
        display_title = b"Site doesn't have a title"
        content_type = resp.header.get("content-type")
        if content_type is not None:
            display_title += b" (" + _raw(content_type) + b")."
        else:
            display_title += b"."

    output_tab = stdnse.output_table()
    output_tab["title"] = title
    output_tab["redirect_url"] = redirect_url

    output_str = display_title
    if redirect_url is not None:
        output_str += b"\nRequested resource was " + _raw(redirect_url)

    return output_tab, output_str
