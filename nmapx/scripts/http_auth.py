"""Retrieves the authentication scheme and realm of a web service that requires
authentication.

A port of Nmap 7.93's ``http-auth.nse``. Only a 401 answer gives output: a heading made of
the status line (its CR kept, as the original's ``^(.*)\\r?\\n$`` keeps it), then one line per
challenge of ``WWW-Authenticate`` (``http.parse_www_authenticate``): the scheme and each
parameter as `` name=value``. Nmap lists the parameters in Lua's ``pairs()`` order, which is
random from run to run; nmapx lists them in the order the server sent them (the set is the
same). The structured result is the list of challenges. Verbosity changes nothing.

@usage nmapx run scan.xml --script http-auth
@args http-auth.path Define the request path
@output
    80/tcp open  http
    | http-auth:
    | HTTP/1.1 401 Unauthorized\\x0D
    |   Basic realm=WebAdmin
    |_  Digest realm=WebAdmin nonce=abc qop=auth
@xmloutput
    <table>
      <elem key="scheme">Basic</elem>
      <table key="params">
        <elem key="realm">WebAdmin</elem>
      </table>
    </table>
"""

from __future__ import annotations

import re
from typing import Any

from nmapx.nse import NseHost, Port, http, shortport, stdnse

description = """
Retrieves the authentication scheme and realm of a web service that requires
authentication.
"""
author = "Thomas Buchanan (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "auth", "safe"]

SCRIPT_NAME = "http-auth"
_STATUS_LINE = re.compile(r"^(.*)\r?\n$", re.S)

portrule = shortport.http


async def action(host: NseHost, port: Port) -> Any:
    path = stdnse.get_script_args(SCRIPT_NAME + ".path")
    answer = await http.get(host, port, str(path) if path else "/", bypass_cache=True)

    # check for 401 response code
    if answer.status != 401:
        return None

    found = _STATUS_LINE.match(answer.status_line or "")
    result = stdnse.NamedList(name=found[1] if found else None)

    www_authenticate = answer.header.get("www-authenticate")
    if www_authenticate is None:
        result.append(f"Server returned status {answer.status} but no WWW-Authenticate header.")
        return stdnse.format_output(True, result)
    challenges = http.parse_www_authenticate(www_authenticate)
    if challenges is None:
        result.append(
            f"Server returned status {answer.status} but the WWW-Authenticate header could"
            " not be parsed."
        )
        result.append(f"WWW-Authenticate: {www_authenticate}")
        return stdnse.format_output(True, result)

    structured = []
    for challenge in challenges:
        line = challenge["scheme"]
        params = challenge["params"]
        if params is not None:
            for name, value in params.items():
                line += f" {name}={value}"
        result.append(line)
        structured.append({k: v for k, v in challenge.items() if v is not None})

    return structured, stdnse.format_output(True, result)
