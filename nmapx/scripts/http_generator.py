"""Displays the contents of the "generator" meta tag of a web page (default: /) if there is
one.

A port of Nmap 7.93's ``http-generator.nse``: the first ``<meta name=generator
content="...">`` in the body, matched with the original's pattern made case-insensitive by
``stringaux.ipattern`` (quotes optional around the name, required around the content, one
optional space and ``/`` before ``>``); the content is printed as raw bytes, not
entity-decoded. Up to ``http-generator.redirects`` redirects (3) are followed. Verbosity
changes nothing.

@usage nmapx run scan.xml --script http-generator
@args http-generator.path Specify the path you want to check for a generator meta tag
    (default to '/').
@args http-generator.redirects Specify the maximum number of redirects to follow (defaults
    to 3).
@output
    80/tcp open  http
    |_http-generator: TYPO3 4.2 CMS
"""

from __future__ import annotations

import re

from nmapx.nse import NseHost, Port, http, shortport, stdnse, stringaux

description = """
Displays the contents of the "generator" meta tag of a web page (default: /)
if there is one.
"""
author = "Michael Kohl (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "discovery", "safe"]

portrule = shortport.http

# Worst case: <meta name=Generator content="Microsoft Word 11">
_PATTERN = re.compile(
    stringaux.ipattern(rb"<meta name=[\"']?generator[\"']? content=[\"']([^\"']*)[\"'] ?/?>")
)


def _number(value: object) -> int | float | None:
    """Lua's ``tonumber`` for a script argument (None when it is not a number)."""
    if not isinstance(value, str):
        return None
    try:
        return int(value, 0) if value.strip().lower().startswith("0x") else float(value)
    except ValueError:
        return None


async def action(host: NseHost, port: Port) -> bytes | None:
    path = stdnse.get_script_args("http-generator.path") or "/"
    redirects = _number(stdnse.get_script_args("http-generator.redirects"))
    response = await http.get(
        host, port, str(path), redirect_ok=redirects if redirects is not None else 3
    )
    if response.body:
        found = _PATTERN.search(response.body)
        return found[1] if found else None
    return None
