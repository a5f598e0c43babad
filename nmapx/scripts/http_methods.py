"""Finds out what options are supported by an HTTP server by sending an OPTIONS request.
Lists potentially risky methods. It tests those methods not mentioned in the OPTIONS headers
individually and sees if they are implemented. Any output other than 501/405 suggests that
the method is if not in the range 400 to 600. If the response falls under that range then it
is compared to the response from a randomly generated method.

In this script, "potentially risky" methods are anything except GET, HEAD, POST, and OPTIONS.
If the script reports potentially risky methods, they may not all be security risks, but you
should check to make sure.

The list of supported methods comes from the contents of the Allow and Public header fields.
In verbose mode, a list of all methods is printed, followed by the list of potentially risky
methods. Without verbose mode, only the potentially risky methods are shown.

A port of Nmap 7.93's ``http-methods.nse``, with its rules kept because they are the output:
the methods of ``Allow`` then ``Public`` split on ``,\\s*`` (empty names kept, duplicates
dropped), then each of GET, HEAD, POST, OPTIONS (and with ``test-all`` DELETE, PUT, CONNECT,
TRACE) the headers did not name, tried and kept unless answered 405, 501, or the same 4xx/5xx
status as a random four-letter method (``rand.random_alpha``, upper-cased). The lists print
space-joined (Lua's ``__tostring``); ``Supported Methods`` only at -v and above.

@usage nmapx run scan.xml --script http-methods
@args http-methods.url-path The path to request. Defaults to ``/``.
@args http-methods.retest If defined, do a request using each method individually and show
    the response code. Use of this argument can make this script unsafe; for example
    ``DELETE /`` is possible.
@args http-methods.test-all If set to true tries all the unsafe methods as well.
@output
    80/tcp open  http
    | http-methods:
    |   Supported Methods: GET HEAD POST OPTIONS TRACE
    |_  Potentially risky methods: TRACE
@xmloutput
    <table key="Supported Methods">
      <elem>GET</elem>
      <elem>HEAD</elem>
    </table>
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from nmapx.nse import NseHost, Port, http, nmap, rand, shortport, stdnse, stringaux

description = """
Finds out what options are supported by an HTTP server by sending an OPTIONS request. Lists
potentially risky methods.
"""
author = (
    "Bernd Stroessenreuther <berny1@users.sourceforge.net>, Gyanendra Mishra (NSE original);"
    " nmapx port"
)
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "safe"]

SCRIPT_NAME = "http-methods"
SAFE_METHODS = ("GET", "HEAD", "POST", "OPTIONS")
UNSAFE_METHODS = ("DELETE", "PUT", "CONNECT", "TRACE")
_SEPARATOR = re.compile(r",\s*")

portrule = shortport.http


class SpaceSeparated(list[str]):
    """A method list whose text is its items joined by spaces (the original's ``spacesep``
    ``__tostring``); its XML stays one ``<elem>`` per method."""

    def __str__(self) -> str:
        return " ".join(self)


def _check_allowed(random_resp: http.Response, response: http.Response) -> bool:
    status = response.status
    if status in (405, 501):
        return False
    return not (status is not None and 400 <= status < 600 and status == random_resp.status)


def _merge_headers(headers: Mapping[str, str], names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    result: list[str] = []
    for name in names:
        value = headers.get(name.lower())
        if value is not None:
            for method in stringaux.strsplit(_SEPARATOR, value):
                if method not in seen:
                    result.append(method)
                seen.add(method)
    return result


async def action(host: NseHost, port: Port) -> Any:
    output = stdnse.output_table()
    options_status = True

    path = str(stdnse.get_script_args(SCRIPT_NAME + ".url-path") or "/")
    retest_http_methods = stdnse.get_script_args(SCRIPT_NAME + ".retest") or False
    test_all_unsafe = stdnse.get_script_args(SCRIPT_NAME + ".test-all") or False

    response = await http.generic_request(host, port, "OPTIONS", path)
    options_status_line = None
    if response.status is None:
        options_status = False
        stdnse.debug(1, "OPTIONS %s failed.", path)
    if options_status:
        options_status_line = response.status_line
        stdnse.debug(1, "HTTP Status for OPTIONS is %s", response.status)
        if "allow" not in response.header and "public" not in response.header:
            stdnse.debug(
                1, "No Allow or Public header in OPTIONS response (status code %d)",
                response.status,
            )  # fmt: skip

    methods = _merge_headers(response.header, ("Allow", "Public"))

    to_test = [method for method in SAFE_METHODS if method not in methods]
    if test_all_unsafe:
        to_test += [method for method in UNSAFE_METHODS if method not in methods]
    status_lines: dict[str, str | None] = {}

    random_resp = await http.generic_request(host, port, rand.random_alpha(4).upper(), path)
    if random_resp.status is not None:
        stdnse.debug(1, "Response Code to Random Method is %d", random_resp.status)
    else:
        stdnse.debug(1, "Random Method %s failed.", path)

    for method in to_test:
        response = await http.generic_request(host, port, method, path)
        if response.status is not None and _check_allowed(random_resp, response):
            stdnse.debug(
                2, "Method %s not in OPTIONS found to exist. STATUS %d", method, response.status
            )
            methods.append(method)
            status_lines[method] = response.status_line

    if nmap.verbosity() > 0 and methods:
        output["Supported Methods"] = SpaceSeparated(methods)

    interesting = [method for method in methods if method not in SAFE_METHODS]
    if interesting:
        output["Potentially risky methods"] = SpaceSeparated(interesting)

    if path != "/":
        output["Path tested"] = path

    if retest_http_methods:
        lines: dict[str, str] = {}
        output["Status Lines"] = lines
        for method in methods:
            if method == "OPTIONS":
                text = options_status_line
            elif method in to_test:
                text = status_lines.get(method)
            else:
                response = await http.generic_request(host, port, method, path)
                text = response.status_line if response.status is not None else None
                if response.status is None:
                    text = "Error getting response"
            lines[method] = re.sub(r"[\r\n]", "", text or "")
    return output if output else None
