"""The HTTP library (nmapx.nse.http, nmapx.nse.url) and http-title, against recorded responses.

Every server here is a loopback listener started by the test (``fixtures/http_servers.py``,
127.0.0.1, ephemeral ports) that answers with fixed bytes, and every wait is bounded. Three
kinds of checks:

* field by field: each recorded response goes through ``http.get`` (or ``head``,
  ``generic_request``) in nmapx *and* through Nmap 7.93's own http.lua (a prerule script that
  dumps the response table), and the two dumps must be identical: status, status line,
  header table, rawheader, cookies, body, truncation, redirects, error texts;
* hostile servers (endless header, endless chunked body, malformed status lines, a server
  trickling a byte a second) must end within their bounds, with no traceback;
* http-title through the CLI, compared byte for byte with real Nmap's http-title on the same
  servers: each one a host of its own (127.0.0.1, .2, ...) on port 80 (443 for TLS) inside a
  private network namespace made for the test, so both sides choose http-title by its real
  portrule.

The library's own tests (recorded responses, hostile servers) keep ephemeral ports on the
host's loopback: they name the port they call, and no port number changes what they test.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import html
import re
import subprocess
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import in_script_thread, loopback_scan, needs_nmap, nmapx_main, normal_script_blocks

from fixtures.http_servers import Exchange, HttpServers, response
from nmapx.nse import http, url
from nmapx.nse.http import Headers, Response

LOOP = "127.0.0.1"


# =============================================================================== harness
def run_thread(
    body: Callable[[], Awaitable[Any]],
    *,
    script_args: str = "",
    debugging: int = 0,
    script_trace: bool = False,
    allowed: Callable[[str], bool] | None = None,
    limit: float = 60,
) -> tuple[Any, str]:
    """Run ``body`` as a script thread of a fresh run; returns (result, NSE messages)."""
    return in_script_thread(
        body,
        script_args=script_args,
        debugging=debugging,
        script_trace=script_trace,
        allowed=allowed,
        limit=limit,
    )


def fetch(port: int, path: str = "/", method: str = "GET", **options: Any) -> Response:
    async def body() -> Response:
        if method == "GET":
            return await http.get(LOOP, port, path, **options)
        if method == "HEAD":
            return await http.head(LOOP, port, path, **options)
        return await http.generic_request(LOOP, port, method, path, **options)

    result, _messages = run_thread(body)
    assert isinstance(result, Response)
    return result


# =============================================================================== recorded responses
def fixed(data: bytes) -> Callable[[Exchange], None]:
    """A server that answers every request with ``data`` and closes."""

    def handler(exchange: Exchange) -> None:
        exchange.send(data)

    return handler


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


GZ = _gzip(b"<title>compressed</title>")
BIG = b"x" * (3 * 1024 * 1024)

#: name -> raw response bytes (one connection, then close).
RECORDED: dict[str, bytes] = {
    "ok": response(
        "HTTP/1.1 200 OK", [("Server", "Test/1.0"), ("Content-Type", "text/html")], b"hello"
    ),
    "noreason": b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nhi",
    "spaces": b"HTTP/1.1   404   Not  Found  \r\nContent-Length: 2\r\n\r\nhi",
    "status4": b"HTTP/1.0 2000 Weird\r\n\r\nbody until close",
    "lfonly": b"HTTP/1.0 200 OK\nServer: lf\nX-A: 1\n\nbody",
    "folding": b"HTTP/1.1 200 OK\r\nX-Long: one\r\n  two\r\n\tthree\r\nContent-Length: 2\r\n\r\nhi",
    "junk": (
        b"HTTP/1.1 200 OK\r\nthis is junk\r\nServer : spaced\r\n: empty\r\nX-Ok: yes\r\n"
        b"Content-Length: 2\r\n\r\nhi"
    ),
    "junklf": b"HTTP/1.0 200 OK\njunk\nServer: swallowed\nX-After: kept\n\nbody",
    "junklast": b"HTTP/1.0 200 OK\nServer: x\njunk\n\nbody",
    "cookies": (
        b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/x; Secure\r\n"
        b"Set-Cookie: b = 2 ;path=/;HttpOnly;Max-Age=10; name=n; =v\r\n"
        b"set-cookie: =bad\r\nSet-Cookie: noequals\r\nX-D: 1\r\nx-d: 2\r\n"
        b"Content-Length: 0\r\n\r\n"
    ),
    "values": (
        b"HTTP/1.1 200 OK\r\nX-Ws:    a   b\t\tc   \r\nX-Empty:\r\nX-Ctl: a\x01b\r\n"
        b"X-Hi: caf\xc3\xa9\xff\r\nX-Cr: a\rb\r\nContent-Length: 0\r\n\r\n"
    ),
    "chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n  6\r\n world\r\n0\r\n\r\n"
    ),
    "chunkedlf": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
    "chunkednoend": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n",
    "chunkedtrailer": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-T: 1\r\n\r\n"
    ),
    "chunkedbadhex": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n  zz top\r\n",
    "chunkednocrlf": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiXX\r\n0\r\n\r\n"
    ),
    "chunkedshort": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort",
    "tegzipchunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    ),
    "teidentity": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 2\r\n\r\nhi-and-more"
    ),
    "citrix": b"HTTP/1.1 200 OK\r\nTransfer-Coding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    "short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
    "badcl": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhi",
    "twocl": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
    "hexcl": b"HTTP/1.1 200 OK\r\nContent-Length:  0x2 \r\n\r\nhi-ignored",
    "negcl": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhi",
    "continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    "close10": b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\n<html>until close</html>",
    "badstatus": b"HTTP/1.1 OK\r\n\r\n",
    "nostatus": b"<html>no status line at all</html>",
    "binary": b"\x00\x01\x02garbage\x7f\n\r\n",
    "http09": b"<html>\n<title>old</title>\n</html>\n",
    "gzip": response("HTTP/1.1 200 OK", [("Content-Encoding", "gzip")], GZ),
    "gzipbad": response("HTTP/1.1 200 OK", [("Content-Encoding", "gzip")], b"not gzip at all"),
    "gziptrunc": response("HTTP/1.1 200 OK", [("Content-Encoding", "gzip")], GZ[:-12]),
    "deflate": response("HTTP/1.1 200 OK", [("Content-Encoding", "deflate")], b"raw"),
    "xgzip": response("HTTP/1.1 200 OK", [("Content-Encoding", "x-gzip")], GZ),
    "gzipid": response("HTTP/1.1 200 OK", [("Content-Encoding", "identity, gzip")], GZ),
    "big": response("HTTP/1.1 200 OK", [], BIG),
    "bigclose": b"HTTP/1.0 200 OK\r\n\r\n" + BIG,
    "head10": b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nbody",
    "head11": b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody",
    "head11close": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbody",
    "head10ka": b"HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n\r\nbody",
    "s204": b"HTTP/1.1 204 No Content\r\nConnection: keep-alive,close\r\n\r\nbody",
    "s304": b"HTTP/1.1 304 Not Modified\r\n\r\nbody",
    "auth": response(
        "HTTP/1.1 401 Unauthorized",
        [("WWW-Authenticate", 'Basic realm="a b", Digest realm="x", nonce="1", qop=auth')],
        b"<title>401</title>",
    ),
    "r308": response("HTTP/1.1 308 Permanent", [("Location", "/elsewhere")], b"x"),
    "r301noloc": response("HTTP/1.1 301 Moved", [], b"x"),
}


def redirects(exchange: Exchange) -> None:
    """Redirect scenarios chosen by path, on one port (absolute ones name this port)."""
    port = exchange.conn.getsockname()[1]
    here = f"http://127.0.0.1:{port}"
    table = {
        "/rel": "/target",
        "/abs": f"{here}/target?q=1",
        "/other": "http://example.com/",
        "/otherport": "http://127.0.0.1:1/x",
        "/slash": "/",
        "/creds": f"http://user:pw@127.0.0.1:{port}/target",
        "/dir/page": "sibling",
        "/dots": "../a/./b/../c%7e%2f%41 d;jsessionid=1?x=%20y",
        "/noslash": f"{here}",
        "/query": "?only=query",
        "/https": f"https://127.0.0.1:{port}/target",
        "/httpsdefault": "https://127.0.0.1/target",
        "/r303": "/target",
        "/r307": "/target",
        "/outside": f"http://127.0.0.2:{port}/target",
        "/loop-a": "/loop-b",
        "/loop-b": "/loop-a",
    }
    path = exchange.path
    chain = re.fullmatch(r"/chain(\d+)", path)
    if chain:
        location = f"/chain{int(chain[1]) + 1}"
    elif path in table:
        location = table[path]
    else:
        exchange.send(response("HTTP/1.1 200 OK", [], f"<title>at {path}</title>".encode()))
        return
    status = {"/r303": "303 See Other", "/r307": "307 Temporary Redirect"}.get(path, "302 Found")
    exchange.send(response(f"HTTP/1.1 {status}", [("Location", location)], b"moved"))


def keepalive(exchange: Exchange) -> None:
    """A keep-alive server answering each request on the connection with its path."""
    while True:
        path = exchange.path.encode()
        close = b"connection: close" in exchange.request.lower()
        headers = [("Connection", "close" if close else "keep-alive")]
        data = response("HTTP/1.1 200 OK", headers, b"<title>" + path + b"</title>")
        if exchange.method == "HEAD":
            data = data[: data.index(b"\r\n\r\n") + 4]
        exchange.send(data)
        if close or exchange.next_request() is None:
            return


#: (scenario, method, path, options spec): what both http.lua and nmapx are asked to do.
CASES: list[tuple[str, str, str, str]] = [
    *[(name, "GET", "/", "-") for name in RECORDED if not name.startswith("head")],
    ("bigclose", "GET", "/", "tok"),
    ("big", "GET", "/", "max=100,tok"),
    ("chunked", "GET", "/", "max=7,tok"),
    ("chunked", "GET", "/", "max=7"),
    ("gzip", "GET", "/", "max=5,tok"),
    ("ok", "HEAD", "/", "-"),
    ("head10", "HEAD", "/", "-"),
    ("head11", "HEAD", "/", "-"),
    ("head11close", "HEAD", "/", "-"),
    ("head10ka", "HEAD", "/", "-"),
    ("ok", "OPTIONS", "/", "-"),
    *[
        ("redirects", "GET", path, "-")
        for path in (
            "/rel",
            "/abs",
            "/other",
            "/otherport",
            "/slash",
            "/creds",
            "/dir/page",
            "/dots",
            "/noslash",
            "/query",
            "/https",
            "/httpsdefault",
            "/r303",
            "/r307",
            "/chain1",
        )
    ],
    ("redirects", "GET", "/rel", "noredir"),
    ("redirects", "GET", "/chain1", "redir=2"),
    ("redirects", "HEAD", "/rel", "-"),
    ("tls", "GET", "/", "-"),
]

DUMP_LUA = r"""
local http = require "http"
local stdnse = require "stdnse"
local string = require "string"
local table = require "table"
local io = require "io"

description = "nmapx: dump http.lua's response tables"
categories = {"safe"}
prerule = function() return true end

local function hex(s) if s == nil then return "nil" end return stdnse.tohex(s) end
local function sorted_keys(t)
  local k = {}
  for key in pairs(t) do k[#k + 1] = key end
  table.sort(k)
  return k
end
local function list(t, f)
  if t == nil then return "nil" end
  local out = {}
  for _, v in ipairs(t) do out[#out + 1] = f(v) end
  return table.concat(out, ",")
end
local dump
dump = function(r)
  if r == nil then return "nil" end
  local parts = {tostring(r.status), hex(r["status-line"]), tostring(r.version)}
  local h = {}
  for _, k in ipairs(sorted_keys(r.header or {})) do h[#h + 1] = hex(k) .. "=" .. hex(r.header[k]) end
  parts[#parts + 1] = table.concat(h, ",")
  parts[#parts + 1] = list(r.rawheader or {}, hex)
  parts[#parts + 1] = list(r.cookies or {}, function(c)
    local f = {}
    for _, k in ipairs(sorted_keys(c)) do f[#f + 1] = hex(k) .. "=" .. hex(c[k]) end
    return table.concat(f, ";")
  end)
  parts[#parts + 1] = hex(r.body)
  parts[#parts + 1] = hex(r.rawbody)
  parts[#parts + 1] = tostring(r.truncated)
  parts[#parts + 1] = list(r.location, hex)
  parts[#parts + 1] = tostring(r.ssl)
  parts[#parts + 1] = list(r.decoded, function(x) return x end)
  parts[#parts + 1] = list(r.undecoded, function(x) return x end)
  if r.incomplete then parts[#parts + 1] = "INCOMPLETE:" .. dump(r.incomplete) end
  return table.concat(parts, "|")
end

action = function()
  local out = {}
  for line in io.lines(stdnse.get_script_args("dump.file")) do
    local id, port, method, path, spec = line:match("^(%S+) (%d+) (%S+) (%S+) (%S+)$")
    local options = {}
    for item in spec:gmatch("[^,]+") do
      local key, value = item:match("^(%w+)=?(.*)$")
      if key == "max" then options.max_body_size = tonumber(value)
      elseif key == "tok" then options.truncated_ok = true
      elseif key == "noredir" then options.redirect_ok = false
      elseif key == "redir" then options.redirect_ok = tonumber(value)
      end
    end
    local ok, r
    if method == "GET" then ok, r = pcall(http.get, "127.0.0.1", tonumber(port), path, options)
    elseif method == "HEAD" then ok, r = pcall(http.head, "127.0.0.1", tonumber(port), path, options)
    else ok, r = pcall(http.generic_request, "127.0.0.1", tonumber(port), method, path, options) end
    if ok then
      out[#out + 1] = id .. "=" .. dump(r)
    else
      out[#out + 1] = id .. "=ERROR:" .. tostring(r):gsub("^.-:%d+: ", "")
    end
  end
  return table.concat(out, "\n")
end
"""


def _options(spec: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in spec.split(","):
        key, _, value = item.partition("=")
        if key == "max":
            options["max_body_size"] = int(value)
        elif key == "tok":
            options["truncated_ok"] = True
        elif key == "noredir":
            options["redirect_ok"] = False
        elif key == "redir":
            options["redirect_ok"] = int(value)
    return options


def _hex(value: str | bytes | None) -> str:
    if value is None:
        return "nil"
    return (value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value).hex()


def _lua(value: object) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def dump(r: Response | None, lua_location: bool = True) -> str:
    """The same text as DUMP_LUA's ``dump`` for an nmapx response."""
    if r is None:
        return "nil"

    def raw(key: str) -> bytes:
        return key.encode("utf-8", "surrogateescape")

    parts = [_lua(r.status), _hex(r.status_line), _lua(r.version)]
    parts.append(",".join(f"{_hex(k)}={_hex(r.header[k])}" for k in sorted(r.header, key=raw)))
    parts.append(",".join(_hex(line) for line in r.rawheader))
    parts.append(
        ",".join(";".join(f"{_hex(k)}={_hex(c[k])}" for k in sorted(c, key=raw)) for c in r.cookies)
    )
    parts += [_hex(r.body), _hex(r.rawbody), _lua(r.truncated)]
    # http.lua leaves location nil without redirects (and generic_request never sets it)
    parts.append(",".join(_hex(x) for x in r.location) if r.location or not lua_location else "nil")
    parts.append(_lua(r.ssl))
    parts.append("nil" if r.decoded is None else ",".join(r.decoded))
    parts.append("nil" if r.undecoded is None else ",".join(r.undecoded))
    if r.incomplete is not None:
        parts.append("INCOMPLETE:" + dump(r.incomplete))
    return "|".join(parts)


@contextlib.contextmanager
def recorded_servers() -> Iterator[HttpServers]:
    handlers: dict[str, Callable[[Exchange], None]] = {k: fixed(v) for k, v in RECORDED.items()}
    handlers["redirects"] = redirects
    handlers["tls"] = fixed(response("HTTP/1.1 200 OK", [], b"<title>over TLS</title>"))
    handlers["keepalive"] = keepalive
    with HttpServers(handlers, tls={"tls"}, lifetime=30) as servers:
        yield servers


def nmapx_dumps(servers: HttpServers) -> dict[str, str]:
    async def body() -> dict[str, str]:
        out = {}
        for index, (name, method, path, spec) in enumerate(CASES):
            port = servers.ports[name]
            options = _options(spec)
            key = _case_key(index, name, method, path, spec)
            try:
                if method == "GET":
                    r = await http.get(LOOP, port, path, **options)
                elif method == "HEAD":
                    r = await http.head(LOOP, port, path, **options)
                else:
                    r = await http.generic_request(LOOP, port, method, path, **options)
            except url.LuaReplacementError as error:
                out[key] = f"ERROR:{error}"
                continue
            out[key] = dump(r)
        return out

    result, _messages = run_thread(body, limit=120)
    assert isinstance(result, dict)
    return result


def nmap_dumps(servers: HttpServers, directory: Path) -> dict[str, str]:
    script = directory / "http-dump.nse"
    script.write_text(DUMP_LUA)
    spec = directory / "cases.txt"
    spec.write_text(
        "".join(
            f"{index} {servers.ports[name]} {method} {path} {opts}\n"
            for index, (name, method, path, opts) in enumerate(CASES)
        )
    )
    out = directory / "nmap.xml"
    subprocess.run(
        [
            "nmap",
            "-n",
            "--script",
            str(script),
            "--script-args",
            f"dump.file={spec}",
            "-oX",
            str(out),
        ],
        capture_output=True,
        timeout=300,
        check=True,
        cwd=directory,
    )
    found = re.search(rb'<script id="http-dump" output="([^"]*)"', out.read_bytes())
    assert found, out.read_text()
    text = html.unescape(found[1].decode())
    dumps = dict(line.split("=", 1) for line in text.split("\n"))
    return {_case_key(int(index), *CASES[int(index)]): value for index, value in dumps.items()}


def _case_key(index: int, name: str, method: str, path: str, spec: str) -> str:
    return f"{index}:{name}:{method}:{path}:{spec}"


@pytest.fixture(scope="module")
def servers() -> Iterator[HttpServers]:
    with recorded_servers() as running:
        yield running


# =============================================================================== against http.lua
@needs_nmap
def test_every_recorded_response_parses_as_in_http_lua(
    servers: HttpServers, tmp_path: Path
) -> None:
    """Status, status line, header table, rawheader, cookies, body, truncation, redirects and
    the error texts of failed requests are those of Nmap 7.93's http.lua, for every case."""
    theirs = nmap_dumps(servers, tmp_path)
    ours = nmapx_dumps(servers)
    assert list(ours) == list(theirs)
    different = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
    assert different == {}


# =============================================================================== http-title
def page(body: bytes, *headers: tuple[str, str], status: str = "HTTP/1.1 200 OK") -> bytes:
    return response(status, headers, body)


HTML = ("Content-Type", "text/html")

#: name -> what the server at that port answers (fixed bytes, or a handler by path).
TITLE_PAGES: dict[str, bytes | Callable[[Exchange], None]] = {
    "plain": page(b"<html><title>Go ahead and ScanMe!</title></html>", HTML),
    "whitespace": page(b"<title>\n  Hello\tWorld \r\n</title>", HTML),
    "entities": page(b"<title>Tom &amp; Jerry &lt;3 &#233; &nbsp;</title>", HTML),
    "long": page(b"<title>" + b"0123456789" * 8 + b"</title>", HTML),
    "exactly65": page(b"<title>" + b"x" * 65 + b"</title>", HTML),
    "utf8cut": page(b"<title>" + "é".encode() * 40 + b"</title>", HTML),
    "control": page(b'<title>a\x01b\xffc\x00d "q" <</title><title>\x1b[1m&</title>', HTML),
    "notitle": page(b"<html>no title here</html>", ("Content-Type", "text/html; charset=utf-8")),
    "notype": page(b"<html>no title, no type</html>"),
    "empty": page(b"<title></title>", HTML),
    "upper": page(b"<TITLE lang='en'>Upper Case</TiTlE>", HTML),
    "nested": page(b"<title>a<b>x</b></title> <title>second</title>", HTML),
    "notfound": page(b"<title>404 Not Found</title>", HTML, status="HTTP/1.1 404 Not Found"),
    "unauthorized": RECORDED["auth"],
    "malformed": b"HTTP/1.1 OK\r\n\r\n<title>never</title>",
    "http09": RECORDED["http09"],
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"7\r\n<title>\r\n8\r\nChunked!\r\n8\r\n</title>\r\n0\r\n\r\n",
    "gzip": page(_gzip(b"<title>Compressed title</title>"), ("Content-Encoding", "gzip")),
    "lf": b"HTTP/1.0 200 OK\nContent-Type: text/html;\n charset=latin1\nServer : x\n\n<title>LF</title>",
    "http10": b"HTTP/1.0 200 OK\r\n\r\n<title>Until close</title>",
    "short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<title>cut</title>",
    "big": page(b"<title>big</title>" + BIG),
}


def title_redirects(exchange: Exchange) -> None:
    """``/`` redirects somewhere (chosen by the listener's role, see TITLE_REDIRECTS)."""
    role = TITLE_REDIRECT_ROLE[exchange.conn.getsockname()]
    path = exchange.path
    if role == "chain":
        step = int(path.strip("/") or 0)
        exchange.send(page(b"moved", ("Location", f"/{step + 1}"), status="HTTP/1.1 302 Found"))
        return
    location = TITLE_REDIRECTS[role]
    if path == "/":
        exchange.send(page(b"moved", ("Location", location), status="HTTP/1.1 301 Moved"))
    elif role == "plaintarget":
        exchange.send(page(b"no title", ("Content-Type", "text/plain")))
    else:
        exchange.send(page(f"<title>Now at {path}</title>".encode(), HTML))


TITLE_REDIRECTS = {
    "relative": "/next",
    "other": "http://example.com/",
    "slash": "/",
    "plaintarget": "/x",
    "query": "/search?q=nmap&x=1",
    "percent": "a%20b",
    "chain": "",
}
TITLE_REDIRECT_ROLE: dict[tuple[str, int], str] = {}


@contextlib.contextmanager
def title_servers() -> Iterator[HttpServers]:
    """Every http-title case as a host of its own, 127.0.0.1 and up, on port 80 (the TLS one
    on 443): the caller runs inside a private network, where all of 127.0.0.0/8 is its own."""
    handlers: dict[str, Callable[[Exchange], None]] = {
        name: (fixed(data) if isinstance(data, bytes) else data)
        for name, data in TITLE_PAGES.items()
    }
    handlers.update({f"redirect-{role}": title_redirects for role in TITLE_REDIRECTS})
    handlers["tls"] = fixed(page(b"<title>Secure</title>", HTML))
    places: dict[str, int | tuple[str, int]] = {
        name: (f"127.0.0.{index}", 443 if name == "tls" else 80)
        for index, name in enumerate(handlers, start=1)
    }
    with HttpServers(handlers, tls={"tls"}, lifetime=30, places=places) as servers:
        for role in TITLE_REDIRECTS:
            TITLE_REDIRECT_ROLE[servers.addresses[f"redirect-{role}"]] = role
        yield servers


def write_scan(path: Path, ports: list[int]) -> Path:
    return loopback_scan(path, ports)


def script_elements(xml: bytes) -> dict[str, bytes]:
    """port -> its http-title ``<script>`` element, as written."""
    found = {}
    for port in re.finditer(rb'<port protocol="tcp" portid="(\d+)">(.*?)</port>', xml, re.S):
        script = re.search(rb'<script id="http-title".*?(?:/>|</script>)', port[2], re.S)
        if script:
            found[port[1].decode()] = script[0]
    return found


def host_script_elements(xml: bytes) -> dict[tuple[str, int], bytes]:
    """(address, port) -> its http-title ``<script>`` element, as written, for every host."""
    found = {}
    for host in re.finditer(rb"<host[ >].*?</host>", xml, re.S):
        address = re.search(rb'<address addr="([^"]+)" addrtype="ipv4"', host[0])
        assert address is not None
        for port, element in script_elements(host[0]).items():
            found[address[1].decode(), int(port)] = element
    return found


def normal_blocks(text: bytes) -> dict[str, bytes]:
    """port -> its http-title lines of normal output."""
    found: dict[str, bytes] = {}
    current = None
    for line in text.split(b"\n"):
        port = re.match(rb"(\d+)/tcp ", line)
        if port:
            current = port[1].decode()
        elif current and re.match(rb"\|[_ ]", line):
            found[current] = found.get(current, b"") + line + b"\n"
        else:
            current = None
    return found


@needs_nmap
@pytest.mark.parametrize("verbosity", [[], ["-v"]], ids=["v0", "v1"])
def test_http_title_output_is_nmaps(
    tmp_path: Path, in_private_network: Any, verbosity: list[str]
) -> None:
    """http-title's ``<script>`` elements and normal-output lines are byte-identical to those
    of Nmap 7.93's http-title on the same servers (titles, truncation, escaping, redirects
    followed or not, errors), chosen by its portrule on port 80 and 443 of 30 hosts; nmapx
    reads Nmap's own plain ``-sT`` scan of them."""
    with title_servers() as servers:
        hosts = f"127.0.0.1-{len(servers.addresses)}"
        base = ["nmap", "-n", "-Pn", "-sT", "-p", "80,443"]
        scan = tmp_path / "scan.xml"
        subprocess.run(
            [*base, "-oX", str(scan), hosts], capture_output=True, timeout=120, check=True
        )
        nmap_xml, nmap_normal = tmp_path / "nmap.xml", tmp_path / "nmap.nmap"
        subprocess.run(
            [*base, "--script", "http-title", *verbosity, "-oX", str(nmap_xml),
             "-oN", str(nmap_normal), hosts],
            capture_output=True, timeout=300, check=True,
        )  # fmt: skip
        ours_xml, ours_normal = tmp_path / "nmapx.xml", tmp_path / "nmapx.nmap"
        result = nmapx_main(
            "run", str(scan), "--script", "http-title", *verbosity,
            "-oX", str(ours_xml), "-oN", str(ours_normal),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    by_name = {place: name for name, place in servers.addresses.items()}
    theirs = host_script_elements(nmap_xml.read_bytes())
    ours = host_script_elements(ours_xml.read_bytes())
    assert {by_name[p]: v for p, v in ours.items()} == {by_name[p]: v for p, v in theirs.items()}
    theirs_n = normal_script_blocks(nmap_normal.read_bytes(), ["http-title"])
    ours_n = normal_script_blocks(ours_normal.read_bytes(), ["http-title"])
    assert {by_name[a, p]: v for (a, p, _), v in ours_n.items()} == {
        by_name[a, p]: v for (a, p, _), v in theirs_n.items()
    }
    # the cases the comparison must have covered
    shown = {by_name[p]: v for p, v in ours.items()}
    assert shown["tls"].startswith(b'<script id="http-title" output="Secure"')
    assert b"Did not follow redirect to http://example.com/" in shown["redirect-other"]
    assert b"Requested resource was /next" in shown["redirect-relative"]
    assert b"ERROR: Script execution failed" in shown["redirect-percent"]
    assert "malformed" not in shown and "short" not in shown and "big" not in shown


# =============================================================================== pure functions
def test_url_parse_as_url_lua_unit_tests() -> None:
    """The cases of url.lua's own test suite."""
    u = url.parse("https://dummy:pass@example.com:9999/example.ext?k1=v1&k2=v2#fragment=/")
    assert (u.scheme, u.authority, u.userinfo, u.user, u.password) == (
        "https", "dummy:pass@example.com:9999", "dummy:pass", "dummy", "pass",
    )  # fmt: skip
    assert (u.host, u.port, u.path, u.query, u.fragment) == (
        "example.com", 9999, "/example.ext", "k1=v1&k2=v2", "fragment=/",
    )  # fmt: skip
    assert (u.params, u.is_folder, u.extension) == (None, False, "ext")
    u = url.parse("http://dummy@example.com:1234/example.ext/another.php;k1=v1?k2=v2#k3=v3")
    assert (u.user, u.password, u.path, u.params, u.query, u.extension) == (
        "dummy", None, "/example.ext/another.php", "k1=v1", "k2=v2", "php",
    )  # fmt: skip
    u = url.parse("//example/example.folder/?k1=v1&k2=v2#k3/v3.bar")
    assert (u.scheme, u.host, u.port, u.path, u.is_folder, u.extension) == (
        None, "example", None, "/example.folder/", True, None,
    )  # fmt: skip
    for base, relative, expected in [
        ("a", ".", ""), ("a", "./", ""), ("..", "b", "b"), ("../", "b", "b"), ("/", "..", "/"),
        ("/", "../", "/"), ("/../", "..", "/"), ("/../", "../", "/"), ("a/..", "b", "b"),
        ("a/../", "b", "b"), ("/a/..", "", "/"), ("", "/a/..", "/"), ("", "/a//..", "/a/"),
    ]:  # fmt: skip
        assert url._absolute_path(base, relative) == expected, (base, relative)


def test_url_quirks_kept() -> None:
    assert url.parse("localhost:8080/x").scheme == "localhost"
    assert url.parse("/a%7e%2fb%41").path == "/a~%2FbA"
    assert url.parse("").path == ""
    assert url.absolute("/dir/page", "sibling") == "/dir/sibling"
    assert url.absolute("/", "/a b/%41") == "/a%20b/A"
    assert url.absolute("/x", "http://other/y") == "http://other/y"
    assert url.absolute("/x/", "100%%") == "/x/100%25"
    with pytest.raises(url.LuaReplacementError, match="invalid capture index %2"):
        url.absolute("/", "a%20b")
    assert url.escape("a b/é") == "a%20b%2F%C3%A9"
    assert url.unescape("a%20b%2F%C3%A9") == "a b/é"
    assert url.parse_query("a=1&amp;b=%20&c") == {"a": "1", "b": " ", "c": ""}
    assert url.get_default_port("HTTPS") == 443 and url.get_default_scheme(80) == "http"


def test_set_cookie_parsing() -> None:
    parse = http.parse_set_cookie
    assert parse("a=1; Path=/x; Secure") == {"name": "a", "value": "1", "path": "/x", "secure": ""}
    assert parse(" b = 2 ;path=/;HttpOnly;Max-Age=10; name=n; =v") == {
        "name": "b", "value": "2", "path": "/", "httponly": "", "max-age": "10",
    }  # fmt: skip
    assert parse("=bad") is None and parse("noequals") is None
    assert parse("sid=a=b; Domain=Example.COM") == {
        "name": "sid", "value": "a=b", "domain": "Example.COM",
    }  # fmt: skip


def test_www_authenticate_parsing() -> None:
    parse = http.parse_www_authenticate
    assert parse('Basic realm="a b", Digest realm="x", nonce="1", qop=auth') == [
        {"scheme": "Basic", "params": {"realm": "a b"}},
        {"scheme": "Digest", "params": {"realm": "x", "nonce": "1", "qop": "auth"}},
    ]
    assert parse("Negotiate, NTLM") == [
        {"scheme": "Negotiate", "params": None},
        {"scheme": "NTLM", "params": {}},
    ]
    assert parse('Basic realm="unterminated') is None
    assert parse('Basic realm="a", realm="b"') is None


def test_headers_are_case_insensitive_and_ordered() -> None:
    headers = Headers([("Server", "x"), ("content-TYPE", "text/html")])
    headers["X-New"] = "1"
    assert list(headers) == ["server", "content-type", "x-new"]
    assert headers["CONTENT-type"] == "text/html" and "SERVER" in headers
    headers["Server"] = "y"
    assert next(iter(headers.items())) == ("server", "y")
    del headers["server"]
    assert list(headers) == ["content-type", "x-new"]


def test_host_header_rules() -> None:
    async def body() -> list[str | None]:
        field = http._host_field
        return [
            field("10.0.0.1", 80, None),
            field("10.0.0.1", 443, None),
            field("10.0.0.1", 8080, None),
            field("10.0.0.1", 443, "http"),
            field("10.0.0.1", 80, "https"),
            field({"ip": "10.0.0.1", "targetname": "www.example"}, {"number": 80}, None),
            field({"ip": "10.0.0.1", "name": "", "targetname": None}, 8443, "https"),
            field(None, 80, None),
        ]

    fields, _ = run_thread(body)
    assert fields == [
        "10.0.0.1", "10.0.0.1", "10.0.0.1:8080", "10.0.0.1:443", "10.0.0.1:80", "www.example",
        "10.0.0.1:8443", None,
    ]  # fmt: skip
    (override,), _ = run_thread(
        lambda: _gather(http._host_field("10.0.0.1", 8080, None)), script_args="http.host=vhost"
    )
    assert override == "vhost"


async def _gather(*values: Any) -> list[Any]:
    return list(values)


def test_build_request_bytes() -> None:
    async def body() -> list[bytes]:
        build, options = http.build_request, http.Options
        return [
            build("10.0.0.1", 8080, "GET", "/", options()),
            build(
                "10.0.0.1",
                80,
                "POST",
                "/login",
                options(
                    header={"Connection": "keep-alive", "X-Extra": 7, "host": "dup"},
                    cookies=[{"name": "a", "value": "1", "path": "/login"},
                             {"name": "b", "value": "2", "path": "/other"}],
                    auth={"username": "u", "password": "p"},
                    content={"user": "a b", "x": "&"},
                ),
            ),
            build("10.0.0.1", 80, "POST", "/", options()),
        ]  # fmt: skip

    (plain, post, empty_post), _ = run_thread(body)
    ua = b"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"
    assert plain == (
        b"GET / HTTP/1.1\r\nHost: 10.0.0.1:8080\r\nUser-Agent: " + ua + b"\r\n"
        b"Connection: close\r\n\r\n"
    )
    assert post == (
        b"POST /login HTTP/1.1\r\nHost: 10.0.0.1\r\nUser-Agent: " + ua + b"\r\n"
        b"Connection: keep-alive\r\nCookie: a=1\r\nAuthorization: Basic dTpw\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 16\r\n"
        b"X-Extra: 7\r\nhost: dup\r\n\r\nuser=a%20b&x=%26"
    )
    assert empty_post.endswith(b"Content-Length: 0\r\n\r\n")


def test_bad_options_fail_like_http_lua() -> None:
    async def body() -> Response:
        return await http.get(LOOP, 1, "/", {"header": "not a table"})

    response, messages = run_thread(body, debugging=2)
    assert response.status is None and response.status_line == "Options failed to validate."
    assert "http: options.header should be a table" in messages


def test_status_string_and_lua_names() -> None:
    ok = Response(status=200, status_line="HTTP/1.1 200 OK\r\n")
    assert http.get_status_string(ok) == "200 OK"
    assert http.get_status_string(Response(status=None, status_line=None)) == "<unknown status>"
    assert ok["status-line"] == "HTTP/1.1 200 OK\r\n" and ok["status"] == 200
    with pytest.raises(KeyError):
        ok["nonsense"]


# =============================================================================== on the wire
def test_request_sent_and_response_fields(servers: HttpServers) -> None:
    before = len(servers.requests["cookies"])
    r = fetch(servers.ports["cookies"], "/p?q=1", bypass_cache=True)
    request = servers.requests["cookies"][before]
    port = servers.ports["cookies"]
    assert request == (
        b"GET /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: Mozilla/5.0 (compatible; Nmap"
        b" Scripting Engine; https://nmap.org/book/nse.html)\r\nConnection: close\r\n\r\n" % port
    )
    assert (r.status, r.status_line, r.version) == (200, "HTTP/1.1 200 OK\r\n", "1.1")
    assert list(r.header) == ["set-cookie", "x-d", "content-length"]
    assert r.header["X-D"] == "1, 2"
    assert r.rawheader[-1] == "" and r.rawheader[0] == "Set-Cookie: a=1; Path=/x; Secure"
    assert [c["name"] for c in r.cookies] == ["a", "b"]
    assert (r.body, r.ssl, r.truncated, r.location) == (b"", False, None, [])


def test_user_agent_and_body_size_script_args(servers: HttpServers) -> None:
    async def body() -> Response:
        return await http.get(LOOP, servers.ports["big"], "/", bypass_cache=True)

    before = len(servers.requests["big"])
    r, _ = run_thread(
        body, script_args="http.useragent=probe/1,http.max-body-size=10,http.truncated-ok=true"
    )
    assert b"\r\nUser-Agent: probe/1\r\n" in servers.requests["big"][before]
    assert (r.status, r.truncated, r.body) == (200, True, b"x" * 10)


def test_cache_shared_per_run_and_its_options(servers: HttpServers) -> None:
    port = servers.ports["ok"]

    async def body() -> list[Response]:
        first = await http.get(LOOP, port, "/cached")
        first.rawheader.append("(changed by the script)")  # must not reach the cache
        second = await http.get(LOOP, port, "/cached")
        head = await http.head(LOOP, port, "/cached")  # another method: fetched
        bypass = await http.get(LOOP, port, "/cached", bypass_cache=True)
        together = await asyncio.gather(*(http.get(LOOP, port, "/other") for _ in range(5)))
        return [first, second, head, bypass, *together]

    before = servers.connections["ok"]
    responses, _ = run_thread(body)
    assert servers.connections["ok"] - before == 4  # /cached, HEAD, bypass, one /other
    assert responses[1].rawheader[-1] == "" and responses[1].body == b"hello"
    assert all(r.body == b"hello" for r in responses[4:])


def test_unauthorized_is_not_cached(servers: HttpServers) -> None:
    async def body() -> None:
        for _ in range(2):
            await http.get(LOOP, servers.ports["auth"], "/private")

    before = servers.connections["auth"]
    run_thread(body)
    assert servers.connections["auth"] - before == 2


def test_tls_through_tryssl(servers: HttpServers) -> None:
    r = fetch(servers.ports["tls"], "/secure")
    assert (r.status, r.body, r.ssl) == (200, b"<title>over TLS</title>", True)


def test_pipeline_go_keeps_order_on_keepalive_connections(servers: HttpServers) -> None:
    port = servers.ports["keepalive"]

    async def body() -> list[Response] | None:
        queue = None
        for n in range(7):
            queue = http.pipeline_add(f"/{n}", None, queue, "HEAD" if n == 3 else "GET")
        return await http.pipeline_go(LOOP, port, queue)

    before = servers.connections["keepalive"]
    responses, _ = run_thread(body, script_args="http.pipeline=3")
    assert responses is not None
    assert [r.body for r in responses] == [
        b"<title>/0</title>", b"<title>/1</title>", b"<title>/2</title>", b"",
        b"<title>/4</title>", b"<title>/5</title>", b"<title>/6</title>",
    ]  # fmt: skip
    assert servers.connections["keepalive"] - before == 3  # 3 + 3 + 1 requests


def test_script_trace_shows_the_exchange(servers: HttpServers) -> None:
    async def body() -> Response:
        return await http.get(LOOP, servers.ports["ok"], "/traced")

    _r, messages = run_thread(body, script_trace=True)
    assert re.search(r"NSE: TCP 127\.0\.0\.1:\d+ > 127\.0\.0\.1:\d+ \| CONNECT", messages)
    assert "47 45 54 20 2f 74 72 61 63 65 64" in messages  # GET /traced
    assert "48 54 54 50 2f 31 2e 31 20 32 30 30 20 4f 4b" in messages  # HTTP/1.1 200 OK
    assert re.search(r"\| CLOSE", messages)


# =============================================================================== hostile servers
def _bomb() -> bytes:
    """gzip of 256 MiB of zeros (about 250 KB): a decompression bomb."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(256)) + packer.flush()


def _streamer(head: bytes, chunk: bytes, interval: float = 0.0) -> Callable[[Exchange], None]:
    def handler(exchange: Exchange) -> None:
        exchange.send(head)
        exchange.forever(chunk, interval)

    return handler


def _trickler(data: bytes, interval: float = 1.0) -> Callable[[Exchange], None]:
    def handler(exchange: Exchange) -> None:
        exchange.trickle(data, interval)

    return handler


def _silent(exchange: Exchange) -> None:
    exchange.sleep(60)


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
#: name -> (handler, options, what must come back). Bounds: response_timeout 2 s, comm's
#: timeout 2 s (connect 2 s, each read 4 s: a byte a second never trips it, only the response
#: deadline does), bodies 2 MiB; the silent server gets comm timeout 0.5 s (two connection
#: attempts: TCP with a 1 s read, then TLS whose handshake has the 0.5 s connect timeout).
HOSTILE: dict[str, tuple[Callable[[Exchange], None], dict[str, Any], str]] = {
    "endless-header": (
        _streamer(b"HTTP/1.1 200 OK\r\nX-Endless: ", b"a" * 65536), {},
        "Error in next_response function; status line and header longer than 262144 bytes",
    ),
    "endless-header-lines": (
        _streamer(b"HTTP/1.1 200 OK\r\n", b"X-Line: yes\r\n" * 4096), {},
        "Error in next_response function; status line and header longer than 262144 bytes",
    ),
    "endless-status-line": (
        _streamer(b"HTTP/1.1 200 ", b"A" * 65536), {},
        "Error in next_response function; status line and header longer than 262144 bytes",
    ),
    "endless-chunked": (
        _streamer(CHUNKED_HEAD, b"1000\r\n" + b"c" * 4096 + b"\r\n"), {},
        "Error in next_response function; Received response body too large",
    ),
    "endless-chunked-ok": (
        _streamer(CHUNKED_HEAD, b"1000\r\n" + b"c" * 4096 + b"\r\n"), {"truncated_ok": True},
        "HTTP/1.1 200 OK\r\n",
    ),
    "endless-tiny-chunks": (
        _streamer(CHUNKED_HEAD, b"1\r\nc\r\n" * 8192), {},
        "Error in next_response function; more than 65536 chunks (nmapx limit)",
    ),
    "endless-body": (
        _streamer(b"HTTP/1.0 200 OK\r\n\r\n", b"b" * 65536), {},
        "Error in next_response function; Received response body too large",
    ),
    "endless-continue": (
        _streamer(b"", b"HTTP/1.1 100 Continue\r\n\r\n" * 1000), {},
        "Error in next_response function; more than 100 interim (1xx) responses (nmapx limit)",
    ),
    "gzip-bomb": (
        fixed(response("HTTP/1.1 200 OK", [("Content-Encoding", "gzip")], _bomb())), {},
        "Error in next_response function; Decoded response body too large",
    ),
    "binary-junk": (
        _streamer(b"", bytes(range(256)) * 256), {},
        'Error in next_response function; Error parsing status-line "\\0\\1\\2\\3\\4\\5\\6\\7\\8\\9\\\n".',
    ),
    "malformed-status": (
        fixed(b"HTTP/1.1 OK 200\r\nContent-Length: 0\r\n\r\n"), {},
        'Error in next_response function; Error parsing status-line "HTTP/1.1 OK 200\\13\\\n".',
    ),
    "trickle-status": (
        _trickler(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), {},
        "Error in next_response function; TIMEOUT",
    ),
    "trickle-status-fast": (
        _trickler(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"s" * 100, 0.1), {},
        "Error in next_response function; TIMEOUT",
    ),
    "trickle-body": (
        _streamer(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", b"t", 1.0), {},
        "Error in next_response function; TIMEOUT",
    ),
    "trickle-until-close": (
        _streamer(b"HTTP/1.0 200 OK\r\n\r\n", b"t", 1.0), {},
        "Error in next_response function; response body still arriving at http.response-timeout",
    ),
    "trickle-until-close-ok": (
        _streamer(b"HTTP/1.0 200 OK\r\n\r\n", b"t", 1.0), {"truncated_ok": True},
        "HTTP/1.0 200 OK\r\n",
    ),
    "trickle-chunks": (
        _streamer(CHUNKED_HEAD, b"1\r\nc\r\n", 0.5), {},
        "Error in next_response function; Chunk size not received; TIMEOUT",
    ),
    "silent": (_silent, {"timeout": 500}, "Error creating socket."),
}  # fmt: skip


@pytest.fixture(scope="module")
def hostile() -> Iterator[HttpServers]:
    with HttpServers({name: case[0] for name, case in HOSTILE.items()}, lifetime=20) as running:
        yield running


def test_hostile_servers_end_within_their_bounds(hostile: HttpServers) -> None:
    """Every hostile server, all at once: each request ends by its deadline (2 s for a
    response, 1.5 s for the silent one's two connection attempts) plus scheduling slack,
    with the error http.lua would give (or nmapx's limit), and never raises."""

    async def one(name: str) -> tuple[str, Response, float]:
        _handler, options, _expected = HOSTILE[name]
        start = time.monotonic()
        options = {"timeout": 2000, "response_timeout": 2000, **options}
        r = await http.get(LOOP, hostile.ports[name], "/", **options)
        return name, r, time.monotonic() - start

    async def body() -> list[tuple[str, Response, float]]:
        return await asyncio.gather(*(one(name) for name in HOSTILE))

    started = time.monotonic()
    results, _messages = run_thread(body, limit=30)
    assert time.monotonic() - started < 10
    for name, r, elapsed in results:
        assert r.status_line is not None and r.status_line.startswith(HOSTILE[name][2]), name
        assert elapsed < 6, (name, elapsed)
    by_name = {name: r for name, r, _ in results}
    ok = by_name["endless-chunked-ok"]
    assert (ok.status, ok.truncated, len(ok.body or b"")) == (200, True, http.MAX_BODY_SIZE)
    cut = by_name["endless-chunked"].incomplete
    assert cut is not None and cut.truncated and len(cut.body or b"") == http.MAX_BODY_SIZE
    bomb = by_name["gzip-bomb"].incomplete
    assert bomb is not None and len(bomb.body or b"") == http.MAX_BODY_SIZE
    slow = by_name["trickle-until-close-ok"]
    assert slow.status == 200 and slow.truncated and 1 <= len(slow.body or b"") <= 4
    trickled = {name: elapsed for name, _r, elapsed in results if "trickle" in name}
    assert len(trickled) == 6 and all(1.9 < t < 4 for t in trickled.values()), trickled


def test_no_body_limit_still_stops_at_the_hard_limit(
    hostile: HttpServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``max_body_size=-1`` lifts http.max-body-size, not nmapx's HARD_BODY_LIMIT (64 MiB,
    lowered here so that the test is quick)."""
    monkeypatch.setattr(http, "HARD_BODY_LIMIT", 3 * 1024 * 1024)

    async def body() -> Response:
        port = hostile.ports["endless-body"]
        return await http.get(LOOP, port, "/", max_body_size=-1, truncated_ok=True)

    r, _ = run_thread(body, limit=30)
    assert (r.status, r.truncated, len(r.body or b"")) == (200, True, 3 * 1024 * 1024)


def test_hostile_memory_stays_bounded(hostile: HttpServers) -> None:
    """A flood is held to the body limit: the peak stays within a few times 2 MiB."""
    import tracemalloc

    async def body() -> None:
        for name in ("endless-chunked", "endless-body", "endless-header", "gzip-bomb"):
            await http.get(LOOP, hostile.ports[name], "/", timeout=2000, response_timeout=3000)

    tracemalloc.start()
    try:
        run_thread(body, limit=30)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, peak


def test_http_title_on_hostile_servers_ends_without_error(
    hostile: HttpServers, tmp_path: Path
) -> None:
    """http-title through the CLI at -d: no script error, no traceback, bounded time."""
    scan = write_scan(tmp_path / "scan.xml", sorted(hostile.ports.values()))
    started = time.monotonic()
    result = nmapx_main(
        "run", str(scan), "--script", "http-title", "-d", "-oN", str(tmp_path / "out.nmap"),
        "--script-args", "http.response-timeout=2s",
    )  # fmt: skip
    elapsed = time.monotonic() - started
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert "threw an error" not in stderr and "Traceback" not in stderr
    assert elapsed < 30, elapsed
    blocks = normal_blocks((tmp_path / "out.nmap").read_bytes())
    shown = {name: blocks.get(str(port)) for name, port in hostile.ports.items()}
    assert shown["trickle-until-close"] is None and shown["endless-chunked"] is None
    assert shown["silent"] is None


def test_redirect_outside_the_scope_is_not_followed(servers: HttpServers) -> None:
    """A redirect_ok that allows anything still cannot take the probe off the input's hosts."""

    async def body() -> Response:
        anything = lambda host, port: lambda location: True  # noqa: E731
        return await http.get(LOOP, servers.ports["redirects"], "/outside", redirect_ok=anything)

    r, messages = run_thread(body, allowed=lambda ip: ip == LOOP, debugging=1)
    assert r.status == 302 and r.location == [
        f"http://127.0.0.2:{servers.ports['redirects']}/target"
    ]
    assert "not following the redirect" in messages


def test_redirect_loop_stops_at_max_hops(servers: HttpServers) -> None:
    async def body() -> Response:
        return await http.get(LOOP, servers.ports["redirects"], "/loop-a", redirect_ok=-1)

    r, _ = run_thread(body, limit=30)
    assert r.status == 302 and len(r.location) == http.MAX_HOPS


def test_get_url_post_and_can_use_head(servers: HttpServers) -> None:
    port = servers.ports["redirects"]

    async def body() -> tuple[Response, Response, tuple[bool, Response | None]]:
        by_url = await http.get_url(f"http://127.0.0.1:{port}/by-url?x=1")
        posted = await http.post(LOOP, servers.ports["ok"], "/form", None, None, {"a": "1"})
        return by_url, posted, await http.can_use_head(LOOP, servers.ports["ok"], None, "/h")

    before = len(servers.requests["ok"])
    (by_url, posted, (usable, head)), _ = run_thread(body)
    assert by_url.body == b"<title>at /by-url?x=1</title>" and by_url.ssl is False
    assert servers.requests["ok"][before].startswith(b"POST /form HTTP/1.1\r\n")
    assert servers.requests["ok"][before].endswith(
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=1"
    )
    assert posted.status == 200 and usable and head is not None and head.body == b""
