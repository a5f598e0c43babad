"""NSE's ``url`` library (nselib/url.lua, Nmap 7.93): parsing, building and resolving URLs.

http.lua leans on it for redirects (``parse_redirect`` parses the ``Location`` header and
resolves it against the requested path), for ``get_url``, and for the default port of a
scheme, so its quirks show in what a script requests and reports. They are kept:

* :func:`parse` first rewrites every ``%XX`` escape in normal form: an unreserved character
  (``A-Z a-z 0-9 _ . ~ -``) is decoded, anything else re-escaped in upper case (``%7e`` ->
  ``~``, ``%2f`` -> ``%2F``);
* the scheme is anything matching ``^[A-Za-z0-9][A-Za-z0-9.+-]*:``, so ``localhost:8080/x`` has
  the scheme ``localhost``;
* ``path`` is always a string (``""`` when the URL has none), never None;
* ``;params`` are split off the path (and http.lua's redirect handling then drops them);
* :func:`absolute` rebuilds the result with :func:`build`, which unescapes each path segment
  and escapes it again.

Text is ``str`` holding the URL's bytes as UTF-8 with ``surrogateescape`` (nmapx's convention
for network text), and escaping works on those bytes, as Lua's does on its byte strings.

Not ported: ``ascii_host`` is Python's IDNA 2003 encoding of a non-ASCII host (Nmap's idna
library implements IDNA 2008); nothing in the HTTP library reads it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "LuaReplacementError",
    "ParsedUrl",
    "absolute",
    "build",
    "build_path",
    "build_query",
    "escape",
    "get_default_port",
    "get_default_scheme",
    "parse",
    "parse_path",
    "parse_query",
    "unescape",
]

_SE = "surrogateescape"
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-")
#: url.lua ``segment_set``: also kept unescaped inside a path segment.
_SEGMENT = _UNRESERVED | frozenset(b"-_.!~*'():@&=+$,")
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9.+-]*):")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_DEFAULT_SCHEMES = {port: scheme for scheme, port in _DEFAULT_PORTS.items()}


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", _SE)


def _text(data: bytes) -> str:
    return data.decode("utf-8", _SE)


def _escape_bytes(data: bytes, keep: frozenset[int]) -> str:
    return "".join(chr(b) if b in keep else f"%{b:02X}" for b in data)


def escape(text: str) -> str:
    """``url.escape``: every byte but ``A-Z a-z 0-9 _ . ~ -`` as ``%XX`` (upper-case hex)."""
    return _escape_bytes(_bytes(text), _UNRESERVED)


def unescape(text: str) -> str:
    """``url.unescape``: every ``%XX`` (two hex digits) becomes its byte."""
    return _text(_ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), _bytes(text)))


def _normalize_escapes(text: str) -> str:
    """url.lua ``normalize_escape`` on every ``%XX``: ``escape(unescape(x))``."""
    data = _ESCAPE.sub(
        lambda m: _escape_bytes(bytes([int(m[1], 16)]), _UNRESERVED).encode(), _bytes(text)
    )
    return _text(data)


@dataclass
class ParsedUrl:
    """What ``url.parse`` returns; a field the URL lacks is None (``path`` is always a str).

    ``port`` is an int; ``host`` is None for a relative URL. ``is_folder`` and ``extension``
    are Nmap's additions (the path ends with ``/``; the last segment's extension).
    """

    scheme: str | None = None
    authority: str | None = None
    userinfo: str | None = None
    user: str | None = None
    password: str | None = None
    host: str | None = None
    ascii_host: str | None = None
    port: int | None = None
    path: str = ""
    params: str | None = None
    query: str | None = None
    fragment: str | None = None
    is_folder: bool = False
    extension: str | None = None


def _ascii_host(host: str) -> str | None:
    """``idna.toASCII`` stand-in: the host itself when it is ASCII, else Python's IDNA."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def parse(url: str, default: Mapping[str, object] | None = None) -> ParsedUrl:
    """``url.parse``: split ``scheme://userinfo@host:port/path;params?query#fragment``.

    ``default`` pre-sets fields (by name), as the Lua ``default`` table does.
    """
    parsed = ParsedUrl()
    for key, value in (default or {}).items():
        if hasattr(parsed, key):
            setattr(parsed, key, value)
    url = _normalize_escapes(url)
    hash_at = url.find("#")
    if hash_at >= 0:
        parsed.fragment, url = url[hash_at + 1 :], url[:hash_at]
    match = _SCHEME.match(url)
    if match:
        parsed.scheme = match[1].translate(_ASCII_LOWER)
        url = url[match.end() :]
    if url.startswith("//"):
        end = url.find("/", 2)
        end = len(url) if end < 0 else end
        parsed.authority, url = url[2:end], url[end:]
    query_at = url.find("?")
    if query_at >= 0:
        parsed.query, url = url[query_at + 1 :], url[:query_at]
    params_at = url.find(";")
    if params_at >= 0:
        parsed.params, url = url[params_at + 1 :], url[:params_at]
    parsed.path = url
    if url.endswith("/"):
        parsed.is_folder = True
    else:
        parsed.is_folder = False
        ext = re.search(r"\.([^/.;]+)(?=;|\x00|\Z)[^/]*\Z", url)
        parsed.extension = ext[1] if ext else None
    authority = parsed.authority
    if authority is None:
        return parsed
    at = authority.find("@")
    if at >= 0:
        parsed.userinfo, authority = authority[:at], authority[at + 1 :]
    port = re.search(r":([0-9]+)\Z", authority)
    if port:
        parsed.port = int(port[1])
        authority = authority[: port.start()]
    if authority:
        parsed.host = authority
        parsed.ascii_host = _ascii_host(authority)
    if parsed.userinfo is None:
        return parsed
    userinfo = parsed.userinfo
    password = re.search(r":([^:]*)\Z", userinfo)
    if password:
        parsed.password = password[1]
        userinfo = userinfo[: password.start()]
    parsed.user = userinfo
    return parsed


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass
class ParsedPath:
    """``url.parse_path``: the unescaped segments, and whether the path is absolute/a folder."""

    segments: list[str]
    is_absolute: bool = False
    is_directory: bool = False


def parse_path(path: str | None) -> ParsedPath:
    """``url.parse_path``: non-empty segments between slashes, each unescaped."""
    path = path or ""
    segments = [unescape(s) for s in path.split("/") if s]
    return ParsedPath(segments, path.startswith("/"), path.endswith("/"))


def build_path(parsed: ParsedPath, unsafe: bool = False) -> str:
    """``url.build_path``: join the segments, escaping each unless ``unsafe``."""

    def protect(segment: str) -> str:
        return segment if unsafe else _escape_bytes(_bytes(segment), _SEGMENT)

    out = "/" if parsed.is_absolute else ""
    if parsed.segments:
        out += "".join(protect(s) + "/" for s in parsed.segments[:-1])
        out += protect(parsed.segments[-1])
        if parsed.is_directory:
            out += "/"
    return out


def build(parsed: ParsedUrl) -> str:
    """``url.build``: the URL of a parsed table (the path re-escaped segment by segment)."""
    url = build_path(parse_path(parsed.path))
    if parsed.params is not None:
        url += ";" + parsed.params
    if parsed.query is not None:
        url += "?" + parsed.query
    authority = parsed.authority
    if parsed.host is not None:
        authority = parsed.host
        if parsed.port is not None:
            authority += f":{parsed.port}"
        userinfo = parsed.userinfo
        if parsed.user is not None:
            userinfo = parsed.user
            if parsed.password is not None:
                userinfo += ":" + parsed.password
        if userinfo is not None:
            authority = userinfo + "@" + authority
    if authority is not None:
        url = "//" + authority + url
    if parsed.scheme is not None:
        url = parsed.scheme + ":" + url
    if parsed.fragment is not None:
        url += "#" + parsed.fragment
    return url


def _fixdots(path: str) -> str:
    """A trailing ``.`` or ``..`` segment gets its slash (``a/..`` -> ``a/../``)."""
    path = re.sub(r"(?<![^/])\.\Z", "./", path)
    return re.sub(r"(?<![^/])\.\.\Z", "../", path)


class LuaReplacementError(ValueError):
    """What Lua's ``string.gsub`` raises for a ``%`` it cannot use in a replacement string.

    url.lua merges a relative path into its base with ``gsub("[^/]*$", path)``, so the path
    is read as a *replacement string*: ``%%`` is ``%``, ``%0`` and ``%1`` are the base's last
    segment, and any other ``%`` raises. A redirect to ``a%20b`` (relative, not starting with
    ``/``) therefore makes http.get raise in Nmap 7.93, and the script fails with ``ERROR:
    Script execution failed``; nmapx raises the same error so that the output is the same.
    """


def _lua_replacement(replacement: str, match: str) -> str:
    """Lua 5.3 ``add_s``: expand ``replacement`` for a pattern without captures."""
    out = []
    index = 0
    while index < len(replacement):
        char = replacement[index]
        if char != "%":
            out.append(char)
            index += 1
            continue
        following = replacement[index + 1 : index + 2]
        if following == "%":
            out.append("%")
        elif following in ("0", "1"):
            out.append(match)
        elif following.isdigit() and following.isascii():
            raise LuaReplacementError(f"invalid capture index %{following}")
        else:
            raise LuaReplacementError("invalid use of '%' in replacement string")
        index += 2
    return "".join(out)


def _absolute_path(base_path: str, relative_path: str) -> str:
    """url.lua ``absolute_path``: RFC 3986 section 5.2 merge and dot-segment removal.

    Raises :class:`LuaReplacementError` as url.lua does (see there).
    """
    path = relative_path
    if not path.startswith("/"):
        base = _fixdots(base_path)
        cut = base.rfind("/") + 1
        path = base[:cut] + _lua_replacement(path, base[cut:])
    segments: list[str] = []
    for segment in _fixdots(path).split("/"):
        if segment == ".":
            continue
        if segment == "..":
            if len(segments) > 1 or (len(segments) == 1 and segments[0] != ""):
                segments.pop()
        else:
            segments.append(segment)
    return "/".join(segments)


def absolute(base_url: str | ParsedUrl, relative_url: str) -> str:
    """``url.absolute``: resolve ``relative_url`` against ``base_url`` (RFC 2396 style).

    A relative URL with a scheme comes back unchanged; otherwise the result is rebuilt with
    :func:`build`.
    """
    base = base_url if isinstance(base_url, ParsedUrl) else parse(base_url)
    relative = parse(relative_url)
    if relative.scheme is not None:
        return relative_url
    relative.scheme = base.scheme
    if relative.authority is None:
        relative.authority = base.authority
        # url.lua's "no path" branch never runs: parse always gives a path string.
        relative.path = _absolute_path(base.path or "", relative.path)
    return build(relative)


_QUERY_ENTITIES = re.compile(r"&([ampltg]+);")
_ENTITY_VALUES = {"amp": "&", "lt": "<", "gt": ">"}


def parse_query(query: str) -> dict[str, str]:
    """``url.parse_query``: ``a=1&b=2`` as a dict, names and values unescaped.

    ``&amp;``, ``&lt;`` and ``&gt;`` are decoded first, as url.lua does.
    """
    query = _QUERY_ENTITIES.sub(lambda m: _ENTITY_VALUES.get(m[1], m[0]), query)
    parsed: dict[str, str] = {}
    for item in query.split("&"):
        name, equals, value = item.partition("=")
        parsed[unescape(name)] = unescape(value) if equals else ""
    return parsed


def build_query(query: Mapping[str, str]) -> str:
    """``url.build_query``: the inverse of :func:`parse_query` (names and values escaped)."""
    return "&".join(f"{escape(k)}={escape(v)}" for k, v in query.items())


def get_default_port(scheme: str | None) -> int | None:
    """80 for ``http``, 443 for ``https`` (any case), else None."""
    return _DEFAULT_PORTS.get((scheme or "").translate(_ASCII_LOWER))


def get_default_scheme(port: object) -> str | None:
    """``http`` for port 80, ``https`` for 443 (a number or a port table), else None."""
    number = port if isinstance(port, int) else getattr(port, "number", None)
    if number is None and isinstance(port, Mapping):
        number = port.get("number")
    return _DEFAULT_SCHEMES.get(number) if isinstance(number, int) else None
