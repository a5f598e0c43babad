"""NSE's ``http`` library (nselib/http.lua, Nmap 7.93) for Python scripts.

What a script sees is http.lua's, in Python form::

    from nmapx.nse import http

    response = await http.get(host, port, "/")             # redirects, cache, TLS as Nmap
    if response.status == 200 and response.body:
        ...response.header["content-type"], response.rawheader, response.location...

``get``, ``head``, ``post``, ``put``, ``get_url`` and ``generic_request`` return a
:class:`Response` and never raise for network trouble: a failed request is a response whose
``status`` is None and whose ``status_line`` says what went wrong (http.lua's ``http_error``),
with ``incomplete`` holding what had been parsed. Options are http.lua's option table, given
as keyword arguments (``http.get(host, port, "/", redirect_ok=False)``), an :class:`Options`
or a mapping with the Lua names. ``pipeline_add``/``pipeline_go`` batch requests on keep-alive
connections as http.lua does.

Behaviour kept from http.lua because it shows in scripts' output:

* requests: ``Host`` is ``stdnse.get_hostname(host)``, plus ``:port`` unless the port is the
  scheme's default (``http.host`` overrides it); ``User-Agent`` is Nmap's
  (``http.useragent`` overrides it); ``Connection: close``. http.lua sends its header fields in
  Lua's random ``pairs()`` order; nmapx sends ``Host``, ``User-Agent``, ``Connection``, then
  the others, and a script's ``header`` option replaces a field whose name matches exactly
  (case-sensitively, as in Lua) and adds the rest;
* responses are parsed as tolerantly: no reason phrase, several spaces, any status number,
  ``\\n`` line ends, folded header lines, lines that are no ``name: value`` field (kept in
  ``rawheader``, left out of ``header``), ``Transfer-Encoding`` other than ``identity`` (and
  Citrix's ``Transfer-Coding``) read as chunked, a missing CRLF after the last chunk;
* ``header`` keys are lower case, repeated fields joined with ``", "``, values with their
  white space folded to single spaces; ``rawheader`` is every header line as received, plus the
  empty string that http.lua's split leaves after the last one (http-headers prints it);
* ``status_line`` keeps its line end (``"HTTP/1.1 200 OK\\r\\n"``), which http-auth's output
  shows as ``\\x0D``;
* bodies: chunked, ``Content-Length``, or read until the peer closes (or a read times out);
  ``http.max-body-size`` (2 MiB) cuts a body, which is an error unless ``http.truncated-ok``
  (or the ``truncated_ok`` option) says so; ``Content-Encoding: gzip`` is decoded and
  ``Content-Length`` set to the decoded size;
* a short body (the peer closes before ``Content-Length`` bytes) is an error, and so are
  chunk trailers, as in http.lua;
* ``get`` and ``head`` follow up to 5 redirects that pass ``redirect_ok``'s rules (no user
  info, same host or domain, same port, a path other than ``/`` on the same host), resolved
  against the *first* requested path; ``location`` lists every ``Location`` value met;
* ``get`` and ``head`` share a cache per run keyed by host name, port and path (``bypass_cache``,
  ``no_cache``, ``no_cache_body``); 401, 206, truncated and failed responses are not cached;
  concurrent requests for one key wait for the first;
* TLS: :func:`nmapx.nse.comm.tryssl` (SSL first on likely-SSL ports), or exactly SSL or TCP
  when the ``scheme`` option (or a redirect's scheme) is ``https`` or ``http``;
  ``response.ssl`` is True only for the tryssl path, as in http.lua.

What nmapx adds, because a hostile server must not hold a probe or fill memory (http.lua has
none of these limits):

* the whole of one response must arrive within ``http.response-timeout`` (a timespec, default
  30 s; the ``response_timeout`` option in ms), counted from the first byte (1xx responses
  included); each read also has comm's request timeout, as in Nmap (a read timeout still ends
  a body read until close, as in Nmap). A response not complete at the deadline is an error;
  a body read until close that is still arriving is cut there and handled like an oversized
  one (``truncated``, accepted with ``truncated_ok``);
* the status line and header block may hold at most :data:`MAX_HEADER_SIZE` bytes, a chunk-size
  line as much; a body without a limit (``max_body_size=-1``) stops at :data:`HARD_BODY_LIMIT`,
  and a gzip body inflates to at most the same limit; a chunked body may have at most
  :data:`MAX_CHUNKS` chunks (cut there, like an oversized body) and a request at most
  :data:`MAX_INTERIM` ``1xx`` responses before its final one;
* the cache counts header bytes as well as bodies against ``http.max-cache-size`` and evicts
  whole entries (http.lua blanks the bodies of old entries and keeps them, so a later hit
  returns an empty body);
* a redirect chain stops after :data:`MAX_HOPS` hops whatever ``redirect_ok`` says (a
  redirect loop with ``redirect_ok=-1`` spins forever in Nmap), and a redirect to an address
  outside the scan's scope is not followed (the 30x response is returned, as when
  ``redirect_ok`` refuses).

One http.lua failure is kept on purpose: a relative redirect (not starting with ``/``) whose
path holds a ``%`` escape makes url.lua raise (see :class:`nmapx.nse.url.LuaReplacementError`),
so the script fails with ``ERROR: Script execution failed``, as in Nmap.

All of this is checked field by field against Nmap 7.93's own http.lua on recorded responses
(``tests/test_nse_http.py``): status, status line, header table, rawheader, cookies, bodies,
truncation, decoding, redirects, TLS and the text of every error.

Not implemented: Digest and NTLM authentication (``auth={"digest": True}``/``"ntlm"`` send the
request without credentials and log why), ``identify_404``/``page_exists``, form and date
helpers, ``response_contains``, ``save_path``.

Why not h11
-----------
h11 0.16 (a sans-IO HTTP/1.1 state machine) was tried on the responses http.lua accepts. It
accepts a status line without reason phrase, ``\\n`` line ends and folded lines, but it raises
``RemoteProtocolError`` on: a header line that is no field (``this is junk``, ``Server : x``,
``: x``), which http.lua skips; a status line with several spaces (``HTTP/1.1   200   OK``) or
a four-digit status; ``Transfer-Encoding: gzip, chunked`` and ``identity`` (only ``chunked`` is
supported), where http.lua reads chunked or until close; and chunked framing with bare ``\\n``.
It does not dechunk Citrix's ``Transfer-Coding: chunked``, it joins folded lines and strips
white space, so the ``rawheader`` lines that http-headers prints cannot be rebuilt from its
events, and a client may not send the next request before the previous response ended
(``can't handle event type Request when role=CLIENT and state=DONE``), which ``pipeline_go``
does. Each is a server Nmap reports on and nmapx would not, so the framing is
hand-written here after http.lua's ``recv_*`` functions, on nmapx's sockets (scope checks,
``--script-trace``, read caps).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import logging
import math
import re
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from nmapx.engine.thread import ScopeError, current
from nmapx.model.ports import Port
from nmapx.nse import comm, shortport, stdnse, url
from nmapx.nse.errors import CommError, SocketError
from nmapx.nse.sockets import MAX_READ_BYTES, NseSocket

__all__ = [
    "DEFAULT_USER_AGENT",
    "HARD_BODY_LIMIT",
    "MAX_BODY_SIZE",
    "MAX_CACHE_SIZE",
    "MAX_CHUNKS",
    "MAX_HEADER_SIZE",
    "MAX_HOPS",
    "MAX_INTERIM",
    "MAX_REDIRECT_COUNT",
    "RESPONSE_TIMEOUT",
    "Cookie",
    "Headers",
    "Options",
    "PendingRequest",
    "Response",
    "build_request",
    "can_use_head",
    "generic_request",
    "get",
    "get_status_string",
    "get_url",
    "head",
    "parse_redirect",
    "parse_set_cookie",
    "parse_www_authenticate",
    "pipeline_add",
    "pipeline_go",
    "post",
    "put",
    "redirect_ok",
]

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"
)
#: http.lua ``MAX_REDIRECT_COUNT``: redirects ``get``/``head`` follow by default.
MAX_REDIRECT_COUNT = 5
#: ``http.max-body-size``'s default, in bytes.
MAX_BODY_SIZE = 2 * 1024 * 1024
#: ``http.max-cache-size``'s default, in bytes.
MAX_CACHE_SIZE = 1_000_000
#: nmapx: the status line plus the header block, and one chunk-size line, at most.
MAX_HEADER_SIZE = 256 * 1024
#: nmapx: a body read with no size limit (``max_body_size=-1``) stops here.
HARD_BODY_LIMIT = MAX_READ_BYTES
#: nmapx: requests one ``get``/``head`` makes at most, whatever ``redirect_ok`` allows.
MAX_HOPS = 64
#: nmapx: chunks of one chunked body, and interim (1xx) responses before the final one.
MAX_CHUNKS = 65536
MAX_INTERIM = 100
#: Parsing yields to the other scripts' probes after this many chunks or responses.
_YIELD_EVERY = 1024
#: nmapx: default of ``http.response-timeout``, in seconds.
RESPONSE_TIMEOUT = 30.0
#: pipeline_go's comm options (http.lua ``pipeline_comm_opts``), in ms.
PIPELINE_TIMEOUT = 10_000

_SE = "surrogateescape"
_ERR_OVERSIZED_BODY = "response body too large"
#: nmapx: a body read until close that was still coming at the response deadline.
_ERR_DEADLINE = "response body still arriving at http.response-timeout (nmapx limit)"
_DEADLINE_DETAIL = "nmapx: http.response-timeout expired"
_ERR_CHUNKS = f"more than {MAX_CHUNKS} chunks (nmapx limit)"
#: Failures that leave a usable, truncated body (``truncated_ok`` accepts it).
_CUT = (_ERR_OVERSIZED_BODY, _ERR_DEADLINE, _ERR_CHUNKS)
_HEADER_TOO_LONG = f"status line and header longer than {MAX_HEADER_SIZE} bytes (nmapx limit)"
_CHUNK_LINE_TOO_LONG = f"chunk line longer than {MAX_HEADER_SIZE} bytes (nmapx limit)"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

#: A cookie as http.lua's ``parse_set_cookie`` returns it: ``name``, ``value`` and the
#: attributes by lower-case name (``path``, ``domain``, ``expires``, ``httponly`` ...).
Cookie = dict[str, str]
RedirectCheck = Callable[[url.ParsedUrl], bool]


def _text(data: bytes) -> str:
    return data.decode("utf-8", _SE)


def _bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8", _SE)


def _lower(name: str) -> str:
    """Lua's ``string.lower`` in the C locale: ASCII letters only."""
    return name.translate(_ASCII_LOWER)


def _lua_quote(data: bytes | str) -> str:
    """Lua 5.3's ``%q``: quotes; ``"``, ``\\`` and newline escaped; control bytes as ``\\N``."""
    raw = _bytes(data)
    out = ['"']
    for index, byte in enumerate(raw):
        char = chr(byte)
        if char in '"\\\n':
            out.append("\\" + char)
        elif byte < 32 or byte == 127:
            following = raw[index + 1 : index + 2]
            out.append(f"\\{byte:03d}" if following.isdigit() else f"\\{byte}")
        else:
            out.append(_text(bytes([byte])))
    out.append('"')
    return "".join(out)


_LUA_NUMBER = re.compile(
    r"[ \t\n\v\f\r]*([+-]?)"
    r"(?:0[xX]([0-9A-Fa-f]+)|((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?))"
    r"[ \t\n\v\f\r]*\Z"
)


def _tonumber(value: object) -> int | float | None:
    """Lua's ``tonumber`` of a string or number (decimal, ``0x`` hex, exponents; no inf/nan)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if not isinstance(value, str | bytes):
        return None
    match = _LUA_NUMBER.match(_text(value) if isinstance(value, bytes) else value)
    if match is None:
        return None
    sign = -1 if match[1] == "-" else 1
    if match[2] is not None:
        return sign * int(match[2], 16)
    text = match[3]
    if re.fullmatch(r"[0-9]+", text):
        return sign * int(text)
    return sign * float(text)


# ---------------------------------------------------------------------------- data types
class Headers(MutableMapping[str, str]):
    """A response's ``header`` table: keys lower case, in the order first received.

    Lookups ignore the case of ASCII letters (``h["Content-Type"]`` is ``h["content-type"]``),
    which http.lua's plain table, keyed by ``string.lower(name)``, gives scripts that use
    lower-case names; iteration yields the lower-case names.
    """

    def __init__(self, items: Mapping[str, str] | Sequence[tuple[str, str]] = ()) -> None:
        self._items: dict[str, str] = {}
        pairs = items.items() if isinstance(items, Mapping) else items
        for key, value in pairs:
            self[key] = value

    def __getitem__(self, key: str) -> str:
        return self._items[_lower(key)]

    def __setitem__(self, key: str, value: str) -> None:
        self._items[_lower(key)] = value

    def __delitem__(self, key: str) -> None:
        del self._items[_lower(key)]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and _lower(key) in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def copy(self) -> Headers:
        clone = Headers()
        clone._items = dict(self._items)
        return clone


@dataclass
class Response:
    """http.lua's response table, field for field (``status-line`` is :attr:`status_line`).

    Text fields hold the received bytes as UTF-8 with ``surrogateescape`` (nmapx's convention:
    returned in a script result they give back exactly those bytes); ``body`` and ``rawbody``
    are bytes. ``location`` is empty when no redirect was met (http.lua leaves it nil).
    ``response["status-line"]`` and the other Lua names work too, for line-by-line ports.
    """

    #: The status code, or None when the request failed.
    status: int | None = None
    #: ``"HTTP/1.1 200 OK\\r\\n"``, line end included; on failure, what went wrong.
    status_line: str | None = None
    #: ``"1.1"``: the protocol version of the status line.
    version: str | None = None
    header: Headers = field(default_factory=Headers)
    rawheader: list[str] = field(default_factory=list)
    cookies: list[Cookie] = field(default_factory=list)
    #: The body as received (chunked framing removed); None on failure.
    rawbody: bytes | None = b""
    #: The body after Content-Encoding decoding; None on failure.
    body: bytes | None = b""
    #: True when the body was cut at the size limit.
    truncated: bool | None = None
    #: On failure: the part of the response parsed before it.
    incomplete: Response | None = None
    #: Every ``Location`` value met while following redirects, in order.
    location: list[str] = field(default_factory=list)
    #: True when the request went through ``comm.tryssl`` and SSL won.
    ssl: bool | None = None
    #: Content encodings applied (``["gzip"]``), and those that could not be (None: no
    #: Content-Encoding header).
    decoded: list[str] | None = None
    undecoded: list[str] | None = None

    def __getitem__(self, key: str) -> Any:
        """``response["status-line"]`` and the other Lua field names."""
        name = key.replace("-", "_")
        if name not in _RESPONSE_FIELDS:
            raise KeyError(key)
        return getattr(self, name)

    def copy(self) -> Response:
        """A copy whose containers are its own (what a cache hit hands out)."""
        clone = copy.copy(self)
        clone.header = self.header.copy()
        clone.rawheader = list(self.rawheader)
        clone.cookies = [dict(c) for c in self.cookies]
        clone.location = list(self.location)
        clone.decoded = None if self.decoded is None else list(self.decoded)
        clone.undecoded = None if self.undecoded is None else list(self.undecoded)
        clone.incomplete = None if self.incomplete is None else self.incomplete.copy()
        return clone


_RESPONSE_FIELDS = {f.name for f in fields(Response)}


@dataclass
class Options:
    """http.lua's options table (see the module docstring of http.lua for each).

    ``timeout`` is comm's (ms: connect timeout T, request timeout 2T); ``response_timeout``
    (ms) is nmapx's deadline for a whole response. ``redirect_ok`` is False (never), a number
    of redirects, or a function ``(host, port) -> (ParsedUrl -> bool)``.
    """

    header: Mapping[str, Any] | None = None
    content: str | bytes | Mapping[str, str] | None = None
    cookies: str | Sequence[Cookie] | None = None
    auth: Mapping[str, Any] | None = None
    timeout: float | None = None
    bypass_cache: bool = False
    no_cache: bool = False
    no_cache_body: bool = False
    max_body_size: float | None = None
    truncated_ok: bool | None = None
    any_af: bool = False
    redirect_ok: bool | int | Callable[[Any, Any], RedirectCheck] | None = None
    scheme: str | None = None
    response_timeout: float | None = None


_OPTION_NAMES = {f.name for f in fields(Options)}
OptionsArg = Options | Mapping[str, Any] | None


def _validate(values: Mapping[str, Any]) -> bool:
    """http.lua ``validate_options``: debug messages for bad values; False if any is bad."""
    bad = False

    def complain(message: str, *args: Any) -> None:
        nonlocal bad
        stdnse.debug(1, message, *args)
        bad = True

    for key, value in values.items():
        if value is None:
            continue
        if key in ("timeout", "response_timeout"):
            if _tonumber(value) is None:
                complain(f"http: options.{key} contains a non-numeric value")
        elif key == "header":
            if not isinstance(value, Mapping):
                complain("http: options.header should be a table")
        elif key == "content":
            if not isinstance(value, str | bytes | Mapping):
                complain("http: options.content should be a string or a table")
        elif key == "cookies":
            if isinstance(value, str | bytes):
                continue
            if not isinstance(value, Sequence):
                complain("http: options.cookies should be a table or a string")
                continue
            for cookie in value:
                for name, item in dict(cookie).items():
                    if name in ("name", "value", "path", "expires", "max-age"):
                        if not isinstance(item, str):
                            complain("http: options.cookies[i].%s should be a string", name)
                    elif name not in ("httponly", "secure"):
                        stdnse.debug(1, "http: Unknown field in cookie table: %s", name)
        elif key == "auth":
            if not isinstance(value, Mapping):
                complain("http: options.auth should be a table")
            elif value.get("username") is None or value.get("password") is None:
                complain("http: options.auth should contain both a 'username' and a 'password' key")
        elif key in ("bypass_cache", "no_cache", "no_cache_body", "any_af", "truncated_ok"):
            if not isinstance(value, bool):
                complain("http: options.%s must be a boolean value", key)
        elif key == "redirect_ok":
            if not (callable(value) or isinstance(value, bool | int | float)):
                complain("http: options.redirect_ok must be a function or boolean or number")
        elif key == "scheme":
            if not isinstance(value, str):
                complain("http: options.scheme must be a string")
        elif key == "max_body_size":
            if isinstance(value, bool) or not isinstance(value, int | float):
                complain("http: options.max_body_size must be a number")
        elif key not in _OPTION_NAMES:
            stdnse.debug(1, "http: Unknown key in the options table: %s", key)
    return not bad


def _options(options: OptionsArg, extra: Mapping[str, Any]) -> Options | None:
    """A private :class:`Options` from the caller's options and keyword arguments.

    None when they fail http.lua's validation. The copy is the request's own: redirects set
    its ``scheme`` without touching the caller's table (http.lua changes the caller's).
    """
    values: dict[str, Any] = {}
    if isinstance(options, Options):
        values.update((f.name, getattr(options, f.name)) for f in fields(Options))
    elif options is not None:
        values.update(options)
    values.update(extra)
    if not _validate(values):
        return None
    known = {k: v for k, v in values.items() if k in _OPTION_NAMES and v is not None}
    for key in ("timeout", "response_timeout"):
        if key in known:
            known[key] = float(_tonumber(known[key]) or 0)
    return Options(**known)


def _error(status_line: str, incomplete: Response | None = None) -> Response:
    """http.lua ``http_error``: a response with no status, saying what went wrong."""
    stdnse.debug(2, "HTTP response error: %s", status_line)
    return Response(
        status=None,
        status_line=status_line,
        rawbody=None,
        body=None,
        incomplete=incomplete,
    )


# ---------------------------------------------------------------------------- script args
def _arg(*names: str) -> Any:
    """The first of ``names`` given in --script-args (stdnse's lookup rules), else None."""
    return stdnse.get_script_args(names)


def _user_agent() -> str:
    value = _arg("http.useragent")
    return value if isinstance(value, str) else DEFAULT_USER_AGENT


def _max_body_size() -> float:
    number = _tonumber(_arg("http.max-body-size"))
    return MAX_BODY_SIZE if number is None else number


def _truncated_ok() -> bool:
    value = _arg("http.truncated-ok")
    if value is None or not isinstance(value, str | int):
        return False
    return _lower(str(value)) != "false"  # a bare flag is 1, which is not "false"


def _response_timeout(opts: Options) -> float:
    """Seconds one response may take (option in ms, else ``http.response-timeout``)."""
    if opts.response_timeout is not None:
        return max(0.0, opts.response_timeout / 1000)
    spec = _arg("http.response-timeout")
    seconds = stdnse.parse_timespec(spec) if isinstance(spec, str) else None
    return RESPONSE_TIMEOUT if seconds is None else seconds


# ---------------------------------------------------------------------------- host and port
def _field(table: Any, key: str) -> Any:
    if isinstance(table, Mapping):
        return table.get(key)
    return getattr(table, key, None)


def _hostname(host: Any) -> str:
    """``stdnse.get_hostname``: target name, else a non-empty reverse name, else the address."""
    if isinstance(host, str):
        return host
    name = _field(host, "targetname") or _field(host, "name") or _field(host, "ip")
    return str(name) if name is not None else ""


def _port_number(port: Any) -> int:
    if isinstance(port, int) and not isinstance(port, bool):
        return port
    if isinstance(port, str):
        number = _tonumber(port)
        if not isinstance(number, int):
            raise ValueError("Invalid port: not a number or table")
        return number
    number = _field(port, "number")
    if not isinstance(number, int):
        raise ValueError("Invalid port: not a number or table")
    return number


def _port_table(port: Any) -> Port:
    """A :class:`Port` for shortport's rules from a port table, a mapping or a number."""
    if isinstance(port, Port):
        return port
    number = _port_number(port)
    if isinstance(port, int | str):
        return Port(number=number, protocol="tcp", state="open")
    return Port(
        number=number,
        protocol=_field(port, "protocol") or "tcp",
        state=_field(port, "state") or "open",
        service=_field(port, "service"),
    )


def _host_field(host: Any, port: Any, scheme: str | None) -> str | None:
    """http.lua ``get_host_field``: the Host header value (RFC 2616 14.23)."""
    override = _arg("http.host")
    if isinstance(override, str):
        return override
    if host is None:
        return None
    if port is None:
        return _hostname(host)
    number = _port_number(port)
    if scheme:
        if number == url.get_default_port(scheme):
            return _hostname(host)
    else:
        default = url.get_default_scheme(number)
        if default:
            ssl_port = shortport.ssl(host, _port_table(port))
            if (ssl_port and default == "https") or (not ssl_port and default == "http"):
                return _hostname(host)
    return f"{_hostname(host)}:{number}"


# ---------------------------------------------------------------------------- parsing
_STATUS_LINE = re.compile(rb"HTTP/([0-9]+\.[0-9]+) +([0-9]+)(?=[ \r\n]) *(.*?)\r?\n\Z", re.S)
_TOKEN = re.compile(rb'[^()<>@,;:\\"/\[\]?={} \x00-\x1f\x7f]+')
_LWS = re.compile(rb"(?:[ \t]|\r?\n[ \t])*")
_WORD = re.compile(rb"(?:[^ \t\r\n]|\r(?!\n))+")
_EOL = re.compile(rb"\r?\n")


class _Failure(Exception):
    """A response could not be read: http.lua's ``nil, message`` from ``next_response``."""

    def __init__(self, message: str, fragment: bytes | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: The part of the body received before the failure.
        self.fragment = fragment


def _parse_status_line(line: bytes, response: Response) -> None:
    """Sets ``status_line``, ``version`` and ``status``; http.lua's pattern, as tolerant."""
    response.status_line = _text(line)
    match = _STATUS_LINE.match(line)
    if match is None:
        raise _Failure(f"Error parsing status-line {_lua_quote(line)}.")
    response.version = match[1].decode("ascii")
    response.status = int(match[2])


def _parse_header(block: bytes, response: Response) -> None:
    """http.lua ``parse_header``: ``header``, ``rawheader`` and ``cookies`` from the block.

    The block is the header lines as received, each with its line end. A line is a field
    when it starts with a token directly followed by ``:``; other lines are consumed but not
    recorded (http.lua also skips the character after such a token, so a field-less line
    ending in a bare ``\\n`` swallows the line after it: kept, since Nmap reports so).
    """
    response.header = Headers()
    response.rawheader = [_text(line) for line in _EOL.split(block)]
    values: dict[bytes, list[bytes]] = {}
    try:
        _parse_fields(block, values)
    finally:  # what was parsed before an error stays in the incomplete response, as in Lua
        for key, items in values.items():
            response.header[_text(key)] = _text(b", ".join(items))
            if key == b"set-cookie":
                for item in items:
                    cookie = parse_set_cookie(_text(item))
                    if cookie is not None:
                        response.cookies.append(cookie)


def _parse_fields(block: bytes, values: dict[bytes, list[bytes]]) -> None:
    """The field loop of http.lua ``parse_header``: values by lower-case name, in order."""
    pos, end = 0, len(block)
    while pos < end:
        name: bytes | None = None
        token = _TOKEN.match(block, pos)
        if token:
            name = token[0] if block[token.end() : token.end() + 1] == b":" else None
            pos = token.end() + 1
        lws = _LWS.match(block, pos)
        pos = lws.end() if lws else pos
        words: list[bytes] = []
        while pos < end and not _EOL.match(block, pos):
            word = _WORD.match(block, pos)
            if word is None:  # cannot happen after _LWS; guards against a stuck loop
                break
            words.append(word[0])
            lws = _LWS.match(block, word.end())
            pos = lws.end() if lws else word.end()
        if name is not None:
            values.setdefault(name.lower(), []).append(b" ".join(words))
        eol = _EOL.match(block, pos)
        if eol is None:
            shown = _lua_quote(name) if name is not None else "nil"
            raise _Failure(f"Header field named {shown} didn't end with CRLF")
        pos = eol.end()


_COOKIE_PAIR = re.compile(r"^[ \t]*(.*?)[ \t]*=[ \t]*(.*?)[ \t]*(?<![;\x00])(?=[;\x00]|\Z)", re.S)
_COOKIE_NAME = re.compile(r"[ \t]*(.*?)[ \t]*(?<![=;\x00])(?=[=;\x00]|\Z)", re.S)
_COOKIE_VALUE = re.compile(r"[ \t]*(.*?)[ \t]*(?<![;\x00])(?=[;\x00]|\Z)", re.S)


def parse_set_cookie(text: str) -> Cookie | None:
    """http.lua ``parse_set_cookie`` (RFC 6265 section 5.2 style): a Set-Cookie value.

    ``{"name": ..., "value": ..., <attribute>: ...}`` with attribute names in lower case
    (``httponly`` and ``secure`` have the value ``""``); None when there is no name.
    """
    text = text.replace(";", "; ")
    match = _COOKIE_PAIR.match(text)
    if match is None or not re.fullmatch(r"[^;]+", match[1], re.S):
        return None
    cookie: Cookie = {"name": match[1], "value": match[2]}
    pos = match.end()
    while text[pos : pos + 1] == ";":
        found = _COOKIE_NAME.match(text, pos + 1)
        if found is None:  # pragma: no cover - the pattern always matches
            break
        name, pos = found[1], found.end()
        value = ""
        if text[pos : pos + 1] == "=":
            found = _COOKIE_VALUE.match(text, pos + 1)
            if found is None:  # pragma: no cover
                break
            value, pos = found[1], found.end()
        name = _lower(name)
        if name not in ("", "name", "value"):
            cookie[name] = value
    return cookie


def _connection_tokens(value: str | None) -> tuple[bool, bool]:
    """``(close, keep-alive)`` among the Connection header's tokens, read as http.lua does.

    http.lua steps over one separator after each token, so ``keep-alive, close`` yields only
    ``keep-alive`` (the space stops it) while ``keep-alive,close`` yields both.
    """
    close = keepalive = False
    if value is None:
        return close, keepalive
    raw = _bytes(value)
    offset = 0
    while True:
        token = _TOKEN.match(raw, offset)
        if token is None:
            break
        word = token[0].lower()
        if word == b"close":
            close = True
        elif word == b"keep-alive":
            keepalive = True
        offset = token.end() + 1
    return close, keepalive


# ---------------------------------------------------------------------------- receiving
class _Stream:
    """A connection being read: the socket, http.lua's ``partial`` and the deadline.

    Every read is one ``socket.receive()`` (so ``--script-trace`` shows what Nmap shows) whose
    timeout is the socket's, shortened to what is left of the response deadline.
    """

    def __init__(self, sock: NseSocket, partial: bytes) -> None:
        self.sock = sock
        self.buffer = bytearray(partial)
        self.pos = 0
        self.read_timeout = sock.timeout
        self.deadline: float | None = None

    def start(self, seconds: float) -> None:
        """Start the deadline of one response."""
        self.deadline = asyncio.get_running_loop().time() + seconds

    async def receive(self) -> bytes:
        """One read; raises SocketError (``TIMEOUT`` also when the deadline has passed)."""
        timeout = self.read_timeout
        deadline_bound = False
        if self.deadline is not None:
            left = math.floor((self.deadline - asyncio.get_running_loop().time()) * 1000)
            if left <= 0:
                raise SocketError("TIMEOUT", _DEADLINE_DETAIL)
            deadline_bound = timeout < 0 or left < timeout
            timeout = left if deadline_bound else timeout
        self.sock.set_timeout(timeout)
        try:
            data = await self.sock.receive()
        except SocketError as failure:
            if failure.status == "TIMEOUT" and deadline_bound:
                raise SocketError("TIMEOUT", _DEADLINE_DETAIL) from failure
            raise
        finally:
            self.sock.set_timeout(self.read_timeout)
        return data

    async def fill(self) -> None:
        """Append one read to the buffer, dropping what was consumed."""
        if self.pos:
            del self.buffer[: self.pos]
            self.pos = 0
        self.buffer += await self.receive()

    def available(self) -> int:
        return len(self.buffer) - self.pos

    def take(self, count: int) -> bytes:
        data = bytes(self.buffer[self.pos : self.pos + count])
        self.pos += len(data)
        return data

    def rest(self) -> bytes:
        """What was read but not parsed (http.lua's ``partial`` after a response)."""
        return self.take(self.available())

    async def line(self, limit: int, too_long: str = _HEADER_TOO_LONG) -> bytes:
        """http.lua ``recv_line``: up to and including the next ``\\n``.

        Raises SocketError (the read's status), or :class:`_Failure` with ``too_long`` when
        ``limit`` bytes hold no line end.
        """
        scanned = self.pos
        while True:
            found = self.buffer.find(b"\n", scanned)
            if found >= 0:
                return self.take(found + 1 - self.pos)
            if self.available() > limit:
                raise _Failure(too_long)
            scanned = len(self.buffer)
            before = self.pos
            await self.fill()
            scanned -= before

    async def header_block(self, limit: int) -> bytes:
        """http.lua ``recv_header``: the lines up to the first empty line, which is dropped."""
        lines: list[bytes] = []
        size = 0
        while True:
            line = await self.line(limit - size)
            if line in (b"\r\n", b"\n"):
                return b"".join(lines)
            size += len(line)
            if size > limit:
                raise _Failure(_HEADER_TOO_LONG)
            lines.append(line)

    async def until_close(self, maxlen: int) -> bytes:
        """http.lua ``recv_all``: everything until the peer closes (or a read fails).

        A read timeout ends the body as in http.lua; the response deadline cuts it
        (:data:`_ERR_DEADLINE`, handled like an oversized body).
        """
        body = bytearray()
        part = self.rest()
        while True:
            maxlen -= len(part)
            if maxlen < 0:
                body += part[: len(part) + maxlen]
                raise _Failure(_ERR_OVERSIZED_BODY, bytes(body))
            body += part
            try:
                part = await self.receive()
            except SocketError as failure:
                if failure.detail == _DEADLINE_DETAIL:
                    raise _Failure(_ERR_DEADLINE, bytes(body)) from None
                return bytes(body)

    async def length(self, count: int, maxlen: int) -> bytes:
        """http.lua ``recv_length``: exactly ``count`` bytes; the rest stays buffered."""
        body = bytearray()
        while True:
            part = self.take(min(self.available(), count))
            maxlen -= len(part)
            if maxlen < 0:
                body += part[: len(part) + maxlen]
                raise _Failure(_ERR_OVERSIZED_BODY, bytes(body))
            body += part
            count -= len(part)
            if count == 0:
                return bytes(body)
            try:
                await self.fill()
            except SocketError as failure:
                raise _Failure(failure.status, bytes(body)) from failure

    async def drain_failing(self, maxlen: int, prefix: str = "") -> bytes:
        """A length http.lua can never complete (negative or fractional): read until the
        connection ends, then fail with the read's status, as recv_length does."""
        body = await self.until_close(maxlen)  # an oversized body fails there, unprefixed
        raise _Failure(prefix + "EOF", body)

    async def chunked(self, maxlen: int) -> bytes:
        """http.lua ``recv_chunked``: the dechunked body (at most :data:`MAX_CHUNKS` chunks)."""
        chunks = bytearray()
        for count in itertools.count(1):
            if count > MAX_CHUNKS:
                raise _Failure(_ERR_CHUNKS, bytes(chunks))
            if count % _YIELD_EVERY == 0:
                await asyncio.sleep(0)  # many tiny chunks must not hold up the other probes
            try:
                line = await self.line(MAX_HEADER_SIZE, _CHUNK_LINE_TOO_LONG)
            except SocketError as failure:
                raise _Failure(
                    f"Chunk size not received; {failure.status}", bytes(chunks)
                ) from None
            digits = re.match(rb"[ \t]*([0-9A-Fa-f]+)", line)
            if digits is None:
                start = len(line) - len(line.lstrip(b" \t"))
                shown = _lua_quote(line[start : start + 11])
                raise _Failure(f"Chunked encoding didn't find hex; got {shown}.", bytes(chunks))
            # tonumber(x, 16) accumulates in a 64-bit integer that wraps around.
            size = int(digits[1], 16) & 0xFFFFFFFFFFFFFFFF
            if size >= 1 << 63:
                size -= 1 << 64
            if size < 0:
                try:
                    await self.drain_failing(maxlen, "Incomplete chunk; ")
                except _Failure as failure:
                    fragment = bytes(chunks) + (failure.fragment or b"")
                    raise _Failure(failure.message, fragment) from None
            try:
                chunk = await self.length(size, maxlen)
            except _Failure as failure:
                message = failure.message
                if message not in _CUT:
                    message = "Incomplete chunk; " + message
                raise _Failure(message, bytes(chunks) + (failure.fragment or b"")) from None
            chunks += chunk
            maxlen -= size
            try:
                line = await self.line(MAX_HEADER_SIZE, _CHUNK_LINE_TOO_LONG)
            except SocketError:
                # http.lua tolerates this for broken servers such as the Citrix XML Service
                stdnse.debug(2, "Didn't find CRLF after chunk-data.")
            else:
                if not _EOL.match(line):
                    shown = _lua_quote(line)
                    raise _Failure(
                        f"Didn't find CRLF after chunk-data; got {shown}.", bytes(chunks)
                    )
            if size == 0:
                return bytes(chunks)
        raise AssertionError("unreachable")  # pragma: no cover


async def _recv_body(stream: _Stream, response: Response, method: str, maxlen: int) -> bytes:
    """http.lua ``recv_body``: the message length rules of RFC 2616 section 4.4."""
    close, keepalive = _connection_tokens(response.header.get("connection"))
    status = response.status or 0
    if method.upper() == "HEAD" or 100 <= status <= 199 or status in (204, 304):
        # Some servers send a body anyway: read what is left when the server will close.
        if close or (response.version == "1.0" and not keepalive):
            return await stream.until_close(maxlen)
        return b""
    encoding = response.header.get("transfer-encoding")
    if encoding is not None and encoding != "identity":
        return await stream.chunked(maxlen)
    coding = response.header.get("transfer-coding")  # the Citrix XML Service's misspelling
    if coding is not None and coding != "identity":
        return await stream.chunked(maxlen)
    length_field = response.header.get("content-length")
    if length_field is not None and encoding is None:
        length = _tonumber(length_field)
        if length is None:
            raise _Failure(f"Content-Length {_lua_quote(length_field)} is non-numeric")
        if length < 0 or length != math.floor(length):
            return await stream.drain_failing(maxlen)
        return await stream.length(int(length), maxlen)
    return await stream.until_close(maxlen)


def _decode_body(
    body: bytes, encodings: str, maxlen: int
) -> tuple[bytes | None, list[str], list[str], str | None, bytes | None]:
    """http.lua ``decode_body``: apply the named encodings in the order listed.

    Returns ``(body or None, decoded, undecoded, error, partial body)``. ``gzip`` is
    inflated (zlib or gzip framing, as Nmap's zlib binding detects), ``identity`` skipped;
    anything else stops decoding.
    """
    undecoded = [e for e in re.split(r"[^A-Za-z0-9]+", encodings)]
    decoded: list[str] = []
    while undecoded:
        name = _lower(undecoded[0])
        if name == "identity":
            decoded.append(undecoded.pop(0))
        elif name == "gzip":
            inflater = zlib.decompressobj(32 + zlib.MAX_WBITS)
            try:
                new_body = inflater.decompress(body, maxlen + 1)
            except zlib.error:
                return None, decoded, undecoded, "Corrupted Content-Encoding: " + name, body
            decoded.append(undecoded.pop(0))
            if len(new_body) > maxlen:
                return None, decoded, undecoded, _ERR_OVERSIZED_BODY, new_body[:maxlen]
            body = new_body
        else:
            stdnse.debug(1, "Unsupported Content-Encoding: %s", name)
            break
    return body, decoded, undecoded, None, None


async def _next_response(
    stream: _Stream, method: str, opts: Options, *, start: bool = True
) -> Response:
    """http.lua ``next_response``: read and parse one response.

    Its deadline starts now, unless ``start`` is False (the caller started one for several
    responses). Raises :class:`_IncompleteError` with the message and the incomplete response.
    """
    response = Response()
    if start:
        stream.start(_response_timeout(opts))
    try:
        line = await stream.line(MAX_HEADER_SIZE)
        _parse_status_line(line, response)
        block = await stream.header_block(MAX_HEADER_SIZE - len(line))
        _parse_header(block, response)
    except SocketError as failure:
        raise _IncompleteError(failure.status, response) from None
    except _Failure as failure:
        raise _IncompleteError(failure.message, response) from None

    size = math.floor(opts.max_body_size if opts.max_body_size is not None else _max_body_size())
    maxlen = HARD_BODY_LIMIT if size < 0 else min(size, HARD_BODY_LIMIT)
    truncated_ok = opts.truncated_ok if opts.truncated_ok is not None else _truncated_ok()
    body: bytes | None
    try:
        body = await _recv_body(stream, response, method, maxlen)
        response.rawbody = response.body = body
    except _Failure as failure:
        body = None
        response.rawbody = response.body = failure.fragment
        if failure.message not in _CUT:
            raise _IncompleteError(failure.message, response) from None
        response.truncated = True
        if not truncated_ok:
            message = failure.message
            if message == _ERR_OVERSIZED_BODY:
                message = "Received " + message
            raise _IncompleteError(message, response) from None

    encodings = response.header.get("content-encoding")
    if encodings is not None:
        source = body if body is not None else response.rawbody or b""
        decoded_body, done, left, error, partial = _decode_body(source, encodings, maxlen)
        response.body = decoded_body if decoded_body is not None else partial
        response.decoded, response.undecoded = done, left
        if decoded_body is None:
            if error != _ERR_OVERSIZED_BODY:
                raise _IncompleteError(error or "decoding failed", response)
            response.truncated = True
            if not truncated_ok:
                raise _IncompleteError("Decoded " + _ERR_OVERSIZED_BODY, response)
        elif "content-length" in response.header:
            response.header["content-length"] = str(len(decoded_body))
        if left:
            response.header["content-encoding"] = ", ".join(left)
        else:
            del response.header["content-encoding"]
    return response


class _IncompleteError(Exception):
    """``next_response`` failed: the message and the response parsed so far."""

    def __init__(self, message: str, response: Response) -> None:
        super().__init__(message)
        self.message = message
        self.response = response


# ---------------------------------------------------------------------------- requests
def _build_cookies(cookies: str | Sequence[Cookie] | None, path: str | None) -> str:
    """http.lua ``buildCookies``: ``a=1; b=2`` of the cookies whose path covers ``path``."""
    if isinstance(cookies, str):
        return cookies
    out = []
    for cookie in cookies or ():
        cookie_path = cookie.get("path")
        if (
            not path
            or cookie_path is None
            or cookie_path == path
            or (cookie_path.endswith("/") and cookie_path == path[: len(cookie_path)])
            or cookie_path + "/" == path[: len(cookie_path) + 1]
        ):
            out.append(f"{cookie['name']}={cookie['value']}")
    return "; ".join(out)


def _header_value(value: Any) -> bytes:
    if isinstance(value, bytes | str):
        return _bytes(value)
    if isinstance(value, float) and value == math.floor(value) and abs(value) < 1e15:
        return f"{value:.1f}".encode()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value).encode()
    raise TypeError(f"http: header value must be a string or a number, not {type(value)}")


def build_request(host: Any, port: Any, method: str, path: str, opts: Options) -> bytes:
    """http.lua ``build_request``: the request's bytes."""
    headers: dict[str, Any] = {}
    host_value = _host_field(host, port, opts.scheme)
    if host_value is not None:
        headers["Host"] = host_value
    headers["User-Agent"] = _user_agent()
    headers["Connection"] = "close"
    if opts.cookies:
        cookies = _build_cookies(opts.cookies, path)
        if cookies:
            headers["Cookie"] = cookies
    auth = opts.auth
    if auth is not None and not (auth.get("digest") or auth.get("ntlm")):
        credentials = f"{auth['username']}:{auth['password']}".encode("utf-8", _SE)
        headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode()
    body: bytes | None = None
    if isinstance(opts.content, Mapping):
        body = "&".join(
            f"{url.escape(str(k))}={url.escape(str(v))}" for k, v in opts.content.items()
        ).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif opts.content is not None:
        body = _bytes(opts.content)
    elif method == "POST":
        body = b""
    if body is not None:
        headers["Content-Length"] = len(body)
    # table_augment: the script's fields replace same-named ones (exact case) or are added
    headers.update((k, v) for k, v in (opts.header or {}).items() if v is not None)
    lines = [_bytes(method) + b" " + _bytes(path) + b" HTTP/1.1"]
    lines += [_bytes(name) + b": " + _header_value(value) for name, value in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


async def _connect(
    host: Any, port: Any, data: bytes, opts: Options
) -> tuple[NseSocket, bytes, str | None]:
    """http.lua ``do_connect``: ``(socket, first data, "ssl"/"tcp" or None)``.

    An explicit ``http``/``https`` scheme connects that way only (comm.opencon); otherwise
    comm.tryssl picks. Raises CommError.
    """
    if opts.scheme in ("http", "https"):
        proto = "ssl" if opts.scheme == "https" else "tcp"
        sock, response, _early = await comm.opencon(
            host, port, data, timeout=opts.timeout, any_af=opts.any_af, proto=proto
        )
        return sock, response or b"", None  # http.lua reads opencon's third value: never "ssl"
    sock, response, method, _early = await comm.tryssl(
        host, port, data, timeout=opts.timeout, any_af=opts.any_af
    )
    return sock, response or b"", method


async def _request(host: Any, port: Any, data: bytes, opts: Options) -> Response:
    """http.lua ``request``: send ready-made request bytes, read the (non-1xx) response."""
    if not isinstance(port, int | str) and _field(port, "protocol") not in (None, "tcp"):
        stdnse.debug(
            1,
            "http.request() supports the TCP protocol only, your request to %s cannot be"
            " completed.",
            _hostname(host),
        )
        return _error("Unsupported protocol.")
    first = re.match(rb"[^ \t\n\v\f\r]+", data)
    method = _text(first[0]) if first else ""
    try:
        sock, partial, used = await _connect(host, port, data, opts)
    except CommError as failure:
        stdnse.debug(1, "http.request socket error: %s", str(failure.oops))
        return _error("Error creating socket.")
    stream = _Stream(sock, partial)
    stream.start(_response_timeout(opts))  # one deadline, however many 1xx responses come
    try:
        for interim in itertools.count():
            try:
                response = await _next_response(stream, method, opts, start=False)
            except _IncompleteError as failure:
                return _error(
                    "Error in next_response function; " + failure.message, failure.response
                )
            if not 100 <= (response.status or 0) <= 199:
                break
            if interim >= MAX_INTERIM:
                message = f"more than {MAX_INTERIM} interim (1xx) responses (nmapx limit)"
                return _error("Error in next_response function; " + message, response)
    finally:
        sock.close()
    response.ssl = used == "ssl"
    return response


async def generic_request(
    host: Any, port: Any, method: str, path: str, options: OptionsArg = None, /, **kwargs: Any
) -> Response:
    """One request with any method; 1xx responses are skipped (http.lua ``generic_request``).

    No cache and no redirects: see :func:`get`. ``host`` is a host table or a name/address,
    ``port`` a port table or a number.
    """
    opts = _options(options, kwargs)
    if opts is None:
        return _error("Options failed to validate.")
    return await _generic(host, port, method, path, opts)


async def _generic(host: Any, port: Any, method: str, path: str, opts: Options) -> Response:
    auth = opts.auth
    if auth is not None and (auth.get("digest") or auth.get("ntlm")):
        stdnse.debug(1, "http: digest and ntlm auth are not implemented in nmapx.")
    return await _request(host, port, build_request(host, port, method, path, opts), opts)


async def post(
    host: Any,
    port: Any,
    path: str,
    options: OptionsArg = None,
    ignored: Any = None,
    postdata: str | bytes | Mapping[str, str] | None = None,
    /,
    **kwargs: Any,
) -> Response:
    """``http.post``: POST ``postdata`` (a string, or a mapping sent as a form)."""
    opts = _options(options, kwargs)
    if opts is None:
        return _error("Options failed to validate.")
    if opts.content is None:
        opts.content = postdata
    return await _generic(host, port, "POST", path, opts)


async def put(
    host: Any,
    port: Any,
    path: str,
    options: OptionsArg = None,
    putdata: str | bytes | None = None,
    /,
    **kwargs: Any,
) -> Response:
    """``http.put``: upload ``putdata`` with PUT."""
    opts = _options(options, kwargs)
    if opts is None:
        return _error("Options failed to validate.")
    if putdata is None:
        return _error("No file to PUT.")
    if opts.content is None:
        opts.content = putdata
    return await _generic(host, port, "PUT", path, opts)


# ---------------------------------------------------------------------------- redirects
def _domain(name: str) -> str:
    """http.lua ``domain``: from the first dot on when the name has two dots, lower case."""
    match = re.search(r"\..+\..+", name, re.S)
    return _lower(match[0] if match else name)


def _redirect_rules(location: url.ParsedUrl, host: Any, port: Any) -> bool:
    """http.lua ``redirect_ok_rules``, all of which must pass."""
    if location.userinfo is not None:
        return False
    hostname = _hostname(host)
    ip = None if isinstance(host, str) else _field(host, "ip")
    if hostname == ip:
        if location.host != hostname:
            return False
    elif _domain(hostname) != _domain(location.host or ""):
        return False
    location_port = location.port or url.get_default_port(location.scheme)
    if location_port and location_port != _field(port, "number"):
        return False
    if location.scheme and not location.port and location.scheme != _field(port, "service"):
        return False
    own = None if isinstance(host, str) else (_field(host, "targetname") or ip)
    return not (location.path == "/" and location.host == own)


def redirect_ok(host: Any, port: Any, counter: float) -> RedirectCheck:
    """``http.redirect_ok``: the default check, allowing ``counter`` redirects.

    Refused: user info in the URL; another host (for an address) or domain (for a name);
    another port; another scheme on the same port; ``/`` on the same host.
    """
    if isinstance(port, int):
        port = {"number": port}
    left = counter

    def check(location: url.ParsedUrl) -> bool:
        nonlocal left
        if left == 0:
            return False
        left -= 1
        return _redirect_rules(location, host, port)

    return check


def _never(_location: url.ParsedUrl) -> bool:
    return False


def _redirect_check(host: Any, port: Any, opts: Options) -> RedirectCheck:
    """http.lua ``get_redirect_ok``: False, a count, a factory, or the default of 5."""
    choice = opts.redirect_ok
    if choice is False:
        return _never
    if callable(choice):
        return choice(host, port)
    if isinstance(choice, int | float) and not isinstance(choice, bool):
        return redirect_ok(host, port, choice)
    return redirect_ok(host, port, MAX_REDIRECT_COUNT)


def parse_redirect(host: Any, port: Any, path: str, response: Response) -> url.ParsedUrl | None:
    """``http.parse_redirect``: where a 301/302/303/307 (or 300) response points, or None.

    A relative location gets the host's name and is resolved against ``path``; the port is
    the URL's, else its scheme's default, else ``port``'s; the query is appended to ``path``.
    """
    if response.status not in (300, 301, 302, 303, 307) or "location" not in response.header:
        return None
    if isinstance(port, int):
        port = {"number": port}
    location = url.parse(response.header["location"])
    if location.host is None:
        location.host = _hostname(host)
    location.port = location.port or url.get_default_port(location.scheme) or _field(port, "number")
    location.path = url.absolute(path, location.path)
    if location.query is not None:
        location.path = f"{location.path}?{location.query}"
    return location


# ---------------------------------------------------------------------------- the cache
@dataclass
class _Record:
    result: Response
    method: str
    size: int
    last_used: float = field(default_factory=time.monotonic)


@dataclass
class _Pending:
    """A cache key being fetched: its lock is held until :meth:`_Cache.insert`."""

    key: str
    lock: asyncio.Lock | None
    method: str
    no_cache: bool
    no_cache_body: bool


class _Cache:
    """http.lua's cache of GET and HEAD results, one per run (see the module docstring)."""

    def __init__(self) -> None:
        self.records: dict[str, _Record] = {}
        self.size = 0
        self.locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @staticmethod
    def _limit() -> float:
        value = _tonumber(_arg("http.max-cache-size", "http-max-cache-size"))
        return MAX_CACHE_SIZE if value is None else value

    async def _acquire(self, key: str) -> asyncio.Lock:
        """The key's lock, held; locks exist only while someone holds or awaits them."""
        lock, users = self.locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self.locks[key] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:  # cancelled while waiting (script timeout)
            self._forget(key, lock)
            raise
        return lock

    def _release(self, key: str, lock: asyncio.Lock) -> None:
        lock.release()
        self._forget(key, lock)

    def _forget(self, key: str, lock: asyncio.Lock) -> None:
        _lock, users = self.locks.get(key, (lock, 1))
        if users <= 1:
            self.locks.pop(key, None)
        else:
            self.locks[key] = (lock, users - 1)

    async def lookup(
        self, method: str, host: Any, port: Any, path: str, opts: Options
    ) -> tuple[Response | None, _Pending]:
        """A copy of the cached result, or None and a pending entry that holds the key."""
        key = f"{_hostname(host)}:{_port_number(port)}:{path}"
        lock = await self._acquire(key)
        record = self.records.get(key)
        if opts.bypass_cache or record is None or record.method != method:
            return None, _Pending(key, lock, method, opts.no_cache, opts.no_cache_body)
        self._release(key, lock)
        record.last_used = time.monotonic()
        return record.result.copy(), _Pending(key, None, method, True, False)

    def insert(self, pending: _Pending, response: Response | None) -> None:
        """Store ``response`` if it may be cached; release the key either way."""
        try:
            if response is not None and not pending.no_cache and _cacheable(response):
                result = response.copy()
                if pending.no_cache_body:
                    result.body = b""
                size = len(result.body or b"") + sum(len(h) + 2 for h in result.rawheader)
                old = self.records.pop(pending.key, None)
                if old is not None:
                    self.size -= old.size
                self.records[pending.key] = _Record(result, pending.method, size)
                self.size += size
                self._shrink()
        finally:
            if pending.lock is not None:
                self._release(pending.key, pending.lock)

    def _shrink(self) -> None:
        limit = self._limit()
        if self.size <= limit:
            return
        stdnse.debug(
            1, "Current http cache size (%d bytes) exceeds max size of %d", self.size, limit
        )
        for key in sorted(self.records, key=lambda k: self.records[k].last_used):
            if self.size <= limit:
                break
            self.size -= self.records.pop(key).size
        stdnse.debug(2, "Final http cache size (%d bytes) of max size of %d", self.size, limit)


def _cacheable(response: Response) -> bool:
    """http.lua ``response_is_cacheable``: not failed, 206, 401 or truncated."""
    return (
        response.status is not None and response.status not in (206, 401) and not response.truncated
    )


def _cache() -> _Cache:
    """This run's cache (http.lua's is module state, which lives as long as Nmap's run)."""
    libraries = current().engine.libraries
    cache = libraries.get("http")
    if not isinstance(cache, _Cache):
        cache = libraries["http"] = _Cache()
    return cache


# ---------------------------------------------------------------------------- get and head
async def _fetch(method: str, host: Any, port: Any, path: str, opts: Options) -> Response:
    """http.lua ``get``/``head``: cache lookups and redirects around ``generic_request``."""
    check = _redirect_check(host, port, opts)
    cache = _cache()
    location: list[str] = []
    target_host, target_port, target_path = host, port, path
    previous: Response | None = None
    for hop in range(MAX_HOPS):
        response, pending = await cache.lookup(method, target_host, target_port, target_path, opts)
        if response is None:
            fetched: Response | None = None
            try:
                fetched = await _generic(target_host, target_port, method, target_path, opts)
            except ScopeError as refused:
                if previous is None:
                    raise
                stdnse.debug(1, "http: not following the redirect: %s", refused)
                break
            finally:
                cache.insert(pending, fetched)
            response = fetched
        previous = response
        target = parse_redirect(host, port, path, response)
        if target is None:
            break
        opts.scheme = target.scheme or opts.scheme
        location.append(response.header["location"])
        if not check(target) or hop == MAX_HOPS - 1:
            break
        target_host, target_port, target_path = target.host, target.port, target.path
    assert previous is not None
    previous.location = location
    return previous


async def get(
    host: Any, port: Any, path: str, options: OptionsArg = None, /, **kwargs: Any
) -> Response:
    """``http.get``: GET ``path``, through the cache, following redirects ``redirect_ok``
    allows (5 by default)."""
    opts = _options(options, kwargs)
    if opts is None:
        return _error("Options failed to validate.")
    return await _fetch("GET", host, port, path, opts)


async def head(
    host: Any, port: Any, path: str, options: OptionsArg = None, /, **kwargs: Any
) -> Response:
    """``http.head``: like :func:`get` with HEAD."""
    opts = _options(options, kwargs)
    if opts is None:
        return _error("Options failed to validate.")
    return await _fetch("HEAD", host, port, path, opts)


async def get_url(address: str, options: OptionsArg = None, /, **kwargs: Any) -> Response:
    """``http.get_url``: GET a full URL (``http://name:port/path?query``).

    The host is the URL's (in a scan it must be a host of the input: names are not
    resolved); the scheme, unless an option says otherwise, decides between TLS and TCP.
    """
    opts = _options(options, kwargs)
    if opts is None:
        return _error("Options failed to validate.")
    parsed = url.parse(address)
    port = {
        "service": parsed.scheme,
        "number": parsed.port or url.get_default_port(parsed.scheme) or 80,
    }
    opts.scheme = opts.scheme or parsed.scheme
    path = parsed.path or "/"
    if parsed.query is not None:
        path += "?" + parsed.query
    return await _fetch("GET", parsed.host, port, path, opts)


# ---------------------------------------------------------------------------- pipelining
@dataclass
class PendingRequest:
    """One request queued by :func:`pipeline_add`."""

    method: str
    path: str
    options: Options


def pipeline_add(
    path: str,
    options: OptionsArg = None,
    all_requests: list[PendingRequest] | None = None,
    method: str = "GET",
) -> list[PendingRequest] | None:
    """``http.pipeline_add``: queue a request; returns the queue (None on bad options)."""
    opts = _options(options, {})
    if opts is None:
        return None
    queue = all_requests if all_requests is not None else []
    queue.append(PendingRequest(method, path, opts))
    return queue


def _force_header(opts: Options, name: str, value: str) -> None:
    """http.lua ``force_header``: set ``name``, dropping any field of that name in any case."""
    headers = {k: v for k, v in (opts.header or {}).items() if _lower(k) != _lower(name)}
    headers[name] = value
    opts.header = headers


def _pipeline_limit(response: Response | None) -> int:
    """http.lua ``get_pipeline_limit``: requests to send on one connection."""
    forced = _tonumber(_arg("http.pipeline", "pipeline"))
    if forced is not None:
        return int(forced)
    if response is not None:
        tokens = re.split(r"[,\s]+", _lower(response.header.get("connection", "")))
        if "close" in tokens:
            return 1
        if (response.version or "") >= "1.1" or "keep-alive" in tokens:
            found = re.search(r"max=(\d+)", response.header.get("keep-alive", ""))
            return 1 + (int(found[1]) if found else 39)
    return 1


async def pipeline_go(
    host: Any, port: Any, all_requests: list[PendingRequest] | None
) -> list[Response] | None:
    """``http.pipeline_go``: send the queued requests, as many per connection and per batch
    as the server allows (``http.pipeline``, ``http.max-pipeline``); the responses in order.

    The list may be shorter than the queue when the server stops answering, and is None when
    the first connection fails. Pipelined responses are not cached and not redirected.
    """
    responses: list[Response] = []
    if not all_requests:
        stdnse.debug(1, "Warning: empty set of requests passed to http.pipeline_go()")
        return responses
    stdnse.debug(1, "HTTP pipeline: Total number of requests: %d", len(all_requests))
    first = all_requests[0]
    _force_header(first.options, "Connection", "keep-alive")
    data = build_request(host, port, first.method, first.path, first.options)
    try:
        sock, partial, method, _early = await comm.tryssl(
            host, port, data, request_timeout=PIPELINE_TIMEOUT
        )
    except CommError:
        return None
    stream = _Stream(sock, partial or b"")
    try:
        try:
            response = await _next_response(stream, first.method, first.options)
        except _IncompleteError:
            return responses
        responses.append(response)
        connsent = 1
        connlimit = _pipeline_limit(response)
        batch_arg = _tonumber(_arg("http.max-pipeline"))
        batchlimit = int(batch_arg) if batch_arg is not None else connlimit
        stdnse.debug(3, "HTTP pipeline: connlimit=%d, batchlimit=%d", connlimit, batchlimit)
        while len(responses) < len(all_requests):
            if connsent >= connlimit or response.truncated:
                sock.close()
                stdnse.debug(3, "HTTP pipeline: reconnecting")
                try:
                    await sock.connect(host, port, method)
                except SocketError:
                    pass  # http.lua does not check; the send and read below fail
                sock.set_timeout(PIPELINE_TIMEOUT)
                stream = _Stream(sock, b"")
                connsent = 0
            connlimit = min(connlimit, connsent + len(all_requests) - len(responses))
            batchsize = min(connlimit - connsent, batchlimit)
            stdnse.debug(
                3,
                "HTTP pipeline: batch=%d, conn=%d/%d, resp=%d/%d",
                batchsize, connsent, connlimit, len(responses), len(all_requests),
            )  # fmt: skip
            requests = []
            for i in range(1, batchsize + 1):
                request = all_requests[len(responses) + i - 1]
                mode = "keep-alive" if connsent + i < connlimit else "close"
                _force_header(request.options, "Connection", mode)
                requests.append(
                    build_request(host, port, request.method, request.path, request.options)
                )
            try:
                await sock.send(b"".join(requests))
            except (SocketError, OSError):
                pass  # http.lua does not check the send either
            for i in range(1, batchsize + 1):
                request = all_requests[len(responses)]
                try:
                    response = await _next_response(stream, request.method, request.options)
                except (_IncompleteError, SocketError) as failure:
                    stdnse.debug(3, "HTTP pipeline: response[%d]: %s", len(responses) + 1, failure)
                    connlimit = connsent + i - 1
                    if connlimit == 0:
                        stdnse.debug(
                            1, "HTTP pipeline: First request on a new connection failed; giving up."
                        )
                        return responses
                    stdnse.debug(
                        1,
                        "HTTP pipeline: Received only %d of %d batch responses.\n"
                        "Decreasing connection limit to %d.",
                        i - 1, batchsize, connlimit,
                    )  # fmt: skip
                    break
                responses.append(response)
                if response.truncated:
                    break
            connsent += batchsize
    finally:
        sock.close()
    stdnse.debug(1, "HTTP pipeline: Number of received responses: %d", len(responses))
    return responses


# ---------------------------------------------------------------------------- helpers
def get_status_string(data: Response | None) -> str:
    """``http.get_status_string``: the status line after the version (``200 OK``)."""
    if data is None:
        return "<unknown status>"
    if data.status_line is None:
        return str(data.status) if data.status is not None else "<unknown status>"
    space = data.status_line.find(" ")
    if space < 0:
        return data.status_line
    return re.sub(r"\r?\n", "", data.status_line[space + 1 :])


async def can_use_head(
    host: Any, port: Any, result_404: int | None = None, path: str | None = None
) -> tuple[bool, Response | None]:
    """``http.can_use_head``: whether HEAD works on ``path`` (200, no body), and its result."""
    if result_404 == 200:
        return False, None
    data = await head(host, port, path or "/")
    if data.status == 302 and "location" in data.header:
        stdnse.debug(1, "HTTP: Warning: Host returned 302 and not 200 when performing HEAD.")
        return False, None
    if data.status == 200:
        if data.body:
            stdnse.debug(1, "HTTP: Warning: Host returned data when performing HEAD.")
            return False, None
        stdnse.debug(1, "HTTP: Host supports HEAD.")
        return True, data
    stdnse.debug(
        1,
        "HTTP: Didn't receive expected response to HEAD request (got %s).",
        get_status_string(data),
    )
    return False, None


_AUTH_TOKEN = re.compile(rb'[^\x00-\x1f()<>@,;:\\"/?={} \t\[\]\x7f-\xff]+')


def _skip_space(data: bytes, pos: int) -> int:
    while data[pos : pos + 1] in (b" ", b"\t"):
        pos += 1
    return pos


def _read_token(data: bytes, pos: int) -> tuple[int, bytes] | None:
    pos = _skip_space(data, pos)
    match = _AUTH_TOKEN.match(data, pos)
    return (match.end(), match[0]) if match else None


def _read_quoted(data: bytes, pos: int) -> tuple[int, bytes] | None:
    if data[pos : pos + 1] != b'"':
        return None
    pos = _skip_space(data, pos + 1)
    chars = bytearray()
    while pos < len(data) and data[pos : pos + 1] != b'"':
        if data[pos : pos + 1] == b"\\":
            if pos + 1 < len(data):
                pos += 1
            else:
                return None
        chars += data[pos : pos + 1]
        pos += 1
    if pos >= len(data):
        return None
    return pos + 1, bytes(chars)


def _read_auth_challenge(data: bytes, pos: int) -> tuple[int, dict[str, Any]] | None:
    found = _read_token(data, pos)
    if found is None:
        return None
    pos, scheme = found
    params: dict[str, str] = {}
    pos = _skip_space(data, pos)
    while pos < len(data) - 1:
        peek = _read_token(data, pos)
        if peek is None:
            pos = _skip_space(data, pos + 1)
            return pos, {"scheme": _text(scheme), "params": None}
        after, name = peek
        after = _skip_space(data, after)
        if data[after : after + 1] != b"=":
            break
        pos = _skip_space(data, after + 1)
        value = _read_quoted(data, pos) if data[pos : pos + 1] == b'"' else _read_token(data, pos)
        if value is None:
            return None
        pos, raw = value
        key = _text(name)
        if key in params:
            return None
        params[key] = _text(raw)
        pos = _skip_space(data, pos)
        if data[pos : pos + 1] == b",":
            pos = _skip_space(data, pos + 1)
            if pos >= len(data):
                return None
    return pos, {"scheme": _text(scheme), "params": params}


def parse_www_authenticate(text: str) -> list[dict[str, Any]] | None:
    """``http.parse_www_authenticate`` (RFC 2617 section 1.2): the challenges of a
    WWW-Authenticate value, each ``{"scheme": ..., "params": {name: value} or None}``; None
    when it cannot be parsed."""
    data = _bytes(text)
    challenges = []
    pos = 0
    while pos < len(data):
        found = _read_auth_challenge(data, pos)
        if found is None:
            return None
        pos, challenge = found
        challenges.append(challenge)
    return challenges
