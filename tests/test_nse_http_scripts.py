"""http-server-header, http-headers, http-methods, http-robots.txt, http-generator and
http-auth, byte for byte against Nmap 7.93's own scripts on the same loopback servers.

Every server is a listener this module starts (``fixtures/http_servers.py``, 30 s connection
lifetime, stopped when the test ends) that answers by method, path and HTTP version with fixed
bytes, on 127.0.0.1 of a private network namespace made for the test (the
``in_private_network`` fixture; Nmap and nmapx run inside it too), each on a port shortport.http
names (:data:`SITE_PORTS`: by service name, 80 http, 631 ipp, 8080 http-proxy ...; by number
only, 7080 and 8180), so both sides choose the scripts by their real portrules. Each test runs
real ``nmap -sT`` with the six scripts, and nmapx on Nmap's own plain ``-sT`` scan of the same
ports (the service names of Nmap's table), then compares the ``<script>`` elements, output
attribute and children, and the ``|`` lines of normal output, byte for byte, at -v0, -v and
-vv (http-methods shows ``Supported Methods`` from -v, and http-robots.txt shows 40 entries
instead of 15; nothing changes from -v to -vv, which the third run shows). One test forces a
script with ``+`` on purpose: http-server-header with -sV at intensity 6, below its rule.

Compared by pattern or as sets, with the reason:

* http-auth's challenge parameters: Nmap lists them in Lua's ``pairs()`` order, which changes
  from run to run of Nmap itself; both the `` name=value`` words of a challenge line (in the
  output attribute and in normal output) and the ``<elem>`` lines of a ``params`` table are
  compared as sets (the heading, the schemes and their order are compared exactly);
* http-methods' ``Status Lines`` (with retest): a plain Lua table, its lines as a set too.
* The random method of http-methods never appears in the output (only its status does), so
  nothing needs a pattern there; the servers send no ``Date`` header, so http-headers needs
  none either.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from conftest import loopback_scan, needs_nmap, nmapx_main, normal_script_blocks

from fixtures.http_servers import Exchange, HttpServers, response
from nmapx.nse import lpeg_utility, stringaux

LOOP = "127.0.0.1"
SCRIPTS = (
    "http-server-header",
    "http-headers",
    "http-methods",
    "http-robots.txt",
    "http-generator",
    "http-auth",
)

ROBOTS_MANY = (
    b"User-agent: *\n"
    + b"".join(b"Disallow: /private/dir%02d/   # comment %d\r\n" % (i, i) for i in range(45))
    + b"Disallow: /private/dir03/\nDisallow: private/dir04/\nDisallow:\n"
    + b"disallow: /lower\nNoise Disallow: /inline\n"
)
ROBOTS_ONE = b"User-agent: *\nDisallow: /only\n"
ROBOTS_FEW = b"Disallow: /a\nDisallow: /b #x\nDisallow: /c\n"

GENERATOR_PAGE = (
    b"<html><head><META NAME=\"Generator\" CONTENT='WordPress 6.1 &amp; more'/>"
    b'<meta name=generator content="second"></head></html>'
)


def _head_of(data: bytes) -> bytes:
    """A response without its body: what a HEAD answer is (Content-Length kept)."""
    return data[: data.index(b"\r\n\r\n") + 4]


class Site:
    """One port's answers, chosen by method, path and the request's HTTP version."""

    def __init__(
        self,
        *,
        server: dict[str, str | None],
        page: bytes = b"<html>hello</html>",
        status: str = "HTTP/1.1 200 OK",
        options: bytes | None = None,
        methods: dict[str, str] | None = None,
        unknown: str = "HTTP/1.1 501 Not Implemented",
        robots: bytes | None = None,
        head_status: str | None = None,
        extra: tuple[tuple[str, str], ...] = (),
        routes: dict[str, bytes] | None = None,
    ) -> None:
        self.server = server
        #: path -> the whole answer to GET and HEAD of that path (redirects)
        self.routes = routes or {}
        self.page, self.status, self.options = page, status, options
        self.methods = methods or {}
        self.unknown, self.robots, self.head_status, self.extra = (
            unknown,
            robots,
            head_status,
            extra,
        )

    def __call__(self, exchange: Exchange) -> None:
        line = exchange.request.split(b"\r\n", 1)[0]
        value = self.server.get("1.0" if line.endswith(b"HTTP/1.0") else "1.1")
        headers = ([("Server", value)] if value is not None else []) + list(self.extra)
        method, path = exchange.method, exchange.path
        get = response(self.status, [*headers, ("Content-Type", "text/html")], self.page)
        if not re.fullmatch(rb"[A-Za-z]+ \S+ HTTP/1\.[01]", line):
            exchange.send(response("HTTP/1.1 400 Bad Request", headers, b"bad request"))
        elif method == "OPTIONS" and self.options is not None:
            exchange.send(self.options)
        elif method in ("GET", "HEAD") and path in self.routes:
            answer = self.routes[path]
            exchange.send(answer if method == "GET" else _head_of(answer))
        elif method == "GET" and path == "/robots.txt":
            if self.robots is None:
                exchange.send(response("HTTP/1.1 404 Not Found", headers, b"no robots"))
            else:
                exchange.send(response("HTTP/1.1 200 OK", headers, self.robots))
        elif method == "GET":
            exchange.send(get)
        elif method == "HEAD":
            status = self.head_status or self.status
            exchange.send(
                _head_of(response(status, [*headers, ("Content-Type", "text/html")], self.page))
            )
        elif method in self.methods:
            exchange.send(response(self.methods[method], headers, b"method answer"))
        else:
            exchange.send(response(self.unknown, headers, b"unknown method"))


AUTH_CHALLENGES = 'Basic realm="Test Realm", Digest realm="d", nonce="abc", qop=auth'

SITES: dict[str, Site] = {
    # Server header, HEAD works, Allow lists a risky method, generator tag, many entries
    "basic": Site(
        server={"1.0": "nmapx-test/1.0", "1.1": "nmapx-test/1.0"},
        page=GENERATOR_PAGE,
        options=response(
            "HTTP/1.1 200 OK", [("Allow", "GET, HEAD, POST, OPTIONS, TRACE,PROPFIND")]
        ),
        robots=ROBOTS_MANY,
        extra=(("X-Custom", "a  b"),),
    ),
    # no Server header; HEAD gets 404 (http-headers falls back to GET); OPTIONS
    # refused; GET/POST work; PUT answers 403 like the random method (not counted), DELETE 200
    "strict": Site(
        server={},
        page=b'<meta name=generator content="Hugo 0.1" >',
        head_status="HTTP/1.1 404 Not Found",
        options=response("HTTP/1.1 405 Method Not Allowed", []),
        methods={"POST": "HTTP/1.1 200 OK", "DELETE": "HTTP/1.1 200 OK", "PUT": "HTTP/1.1 403 No"},
        unknown="HTTP/1.1 403 Forbidden",
        robots=ROBOTS_ONE,
    ),
    # different Server headers for HTTP/1.0 and 1.1 (two values, sorted); Public and Allow merged
    "versions": Site(
        server={"1.0": "Zeta/1.0", "1.1": "Alpha/2.0"},
        options=response(
            "HTTP/1.1 200 OK", [("Allow", "GET,PUT"), ("Public", "OPTIONS, GET, DELETE")]
        ),
        robots=ROBOTS_FEW,
        page=b'<meta name="generator" content="">',
    ),
    # 401 with two challenges; an empty Server header (<empty>); every method gets 401
    "auth": Site(
        server={"1.0": "", "1.1": ""},
        status="HTTP/1.1 401 Unauthorized",
        unknown="HTTP/1.1 401 Unauthorized",
        extra=(("WWW-Authenticate", AUTH_CHALLENGES),),
    ),
    "auth-none": Site(server={}, status="HTTP/1.0 401 Nope"),
    "auth-bad": Site(
        server={"1.1": "only-1.1"},
        status="HTTP/1.1 401 Unauthorized",
        extra=(("WWW-Authenticate", 'Basic realm="unterminated'),),
    ),
    "auth-noparams": Site(
        server={},
        status="HTTP/1.1 401 Unauthorized",
        extra=(("WWW-Authenticate", "Negotiate, NTLM"),),
    ),
    # / redirects twice before the page: http-generator follows up to 3 (0 with its
    # script-arg), http-headers falls back to GET (HEAD met a redirect) and follows it
    "redirect": Site(
        server={"1.0": "Redir/1", "1.1": "Redir/1"},
        routes={
            "/": response("HTTP/1.1 302 Found", [("Location", "/step")], b"moved"),
            "/step": response("HTTP/1.1 301 Moved", [("Location", "/gen")], b"moved"),
            "/gen": response(
                "HTTP/1.1 200 OK", [], b"<meta name='GENERATOR' content='Joomla! 4' />"
            ),
        },
    ),
}


#: Each site's port: ports shortport.http takes, by the service name of Nmap's table (80
#: http, 631 ipp, 8080 http-proxy, 8000 http-alt, 5800 vnc-http, 3872 oem-agent) or by number
#: only (7080 is empowerid, 8180 unknown in the table).
SITE_PORTS = {
    "basic": 80,
    "strict": 8080,
    "versions": 631,
    "auth": 8000,
    "auth-none": 7080,
    "auth-bad": 5800,
    "auth-noparams": 3872,
    "redirect": 8180,
}


@contextlib.contextmanager
def servers(
    names: tuple[str, ...] = tuple(SITES), partial_head_timeout: float = 5.0
) -> Iterator[HttpServers]:
    """The sites on their :data:`SITE_PORTS` (the caller runs inside a private network)."""
    with HttpServers(
        {name: SITES[name] for name in names},
        lifetime=30,
        partial_head_timeout=partial_head_timeout,
        places={name: SITE_PORTS[name] for name in names},
    ) as running:
        yield running


def write_scan(path: Path, ports: list[int]) -> Path:
    return loopback_scan(path, ports)


_SCRIPT = re.compile(rb'<script id="([^"]+)" output="([^"]*)"(/>|>(.*?)</script>)', re.S)


def script_elements(xml: bytes) -> dict[tuple[int, str], bytes]:
    """(port, script id) -> its ``<script>`` element as written."""
    found = {}
    for port in re.finditer(rb'<port protocol="tcp" portid="(\d+)">(.*?)</port>', xml, re.S):
        for script in _SCRIPT.finditer(port[2]):
            found[int(port[1]), script[1].decode()] = script[0]
    return found


def _keyed_as_sets(node: ElementTree.Element) -> str:
    """A ``<table>``/``<elem>`` tree as text, each keyed table's members sorted by key (Lua's
    ``pairs()`` order is random); arrays keep their order."""
    parts = [_keyed_as_sets(child) for child in node]
    if all(child.get("key") is not None for child in node):
        parts.sort()
    return f"<{node.tag} key={node.get('key')!r}>{node.text or ''}" + "".join(parts) + ">"


def _auth_words_as_sets(lines: list[bytes], indent: bytes) -> list[bytes]:
    """http-auth's challenge lines (``indent`` + ``Scheme name=value ...``) with their
    `` name=value`` words sorted; other lines untouched."""
    depth = indent.count(b" ") + 1
    return [
        b" ".join([*line.split(b" ")[:depth], *sorted(line.split(b" ")[depth:])])
        if line.startswith(indent) and b"=" in line
        else line
        for line in lines
    ]


def canonical_normal(script_id: str, lines: bytes) -> bytes:
    """A script's ``|`` lines of normal output with what Nmap prints in random order as sets,
    as :func:`canonical` does for the element."""
    split = lines.split(b"\n")
    if script_id == "http-methods":
        # the nested lines sorted in their places, each line's "| " or "|_" kept in its place
        nested = [i for i, line in enumerate(split) if line[2:].startswith(b"    ")]
        contents = sorted(split[i][2:] for i in nested)
        for i, content in zip(nested, contents, strict=True):
            split[i] = split[i][:2] + content
        return b"\n".join(split)
    if script_id == "http-auth":
        # "|   Scheme ..." and the last, "|_  Scheme ...": the same words after the 4 bytes
        return b"\n".join(
            line[:4] + _auth_words_as_sets([line[4:]], b"")[0]
            if line.startswith((b"|   ", b"|_  "))
            else line
            for line in split
        )
    return lines


def canonical(script_id: str, element: bytes) -> bytes:
    """The element with the parts Nmap itself prints in random order (http-auth\'s challenge
    parameters and table keys, from Lua\'s ``pairs()``) as sets; everything else untouched."""
    match = _SCRIPT.match(element)
    assert match is not None
    if script_id == "http-methods":
        # "Status Lines" (with retest) is a plain Lua table: its lines and keys as sets
        lines = match[2].split(b"&#xa;")
        nested = sorted(line for line in lines if line.startswith(b"    "))
        flat = [line for line in lines if not line.startswith(b"    ")]
        children = ElementTree.fromstring(b"<script>" + (match[4] or b"") + b"</script>")
        return b"&#xa;".join([*flat, *nested]) + b"|" + _keyed_as_sets(children).encode()
    if script_id != "http-auth":
        return element
    # "  Scheme" kept in place, then its " name=value" words as a set
    lines = _auth_words_as_sets(match[2].split(b"&#xa;"), b"  ")
    children = ElementTree.fromstring(b"<script>" + (match[4] or b"") + b"</script>")
    return b"&#xa;".join(lines) + b"|" + _keyed_as_sets(children).encode()


def run_both(
    tmp_path: Path,
    verbosity: list[str],
    ports: dict[str, int],
    args: tuple[str, ...] = (),
    scripts: str = ",".join(SCRIPTS),
) -> tuple[dict[tuple[str, str], bytes], dict[tuple[str, str], bytes]]:
    """Nmap's and nmapx's script elements, keyed by (site, script id), after checking that
    their ``|`` lines of normal output are the same (but for :func:`canonical_normal`)."""
    spec = ",".join(map(str, sorted(ports.values())))
    scan, nmap_xml, nmap_normal = (
        tmp_path / "scan.xml",
        tmp_path / "nmap.xml",
        tmp_path / "nmap.nmap",
    )
    base = ["nmap", "-n", "-Pn", "-sT", "-p", spec]
    subprocess.run([*base, "-oX", str(scan), LOOP], capture_output=True, timeout=120, check=True)
    subprocess.run(
        [*base, "--script", scripts, *verbosity, *args, "-oX", str(nmap_xml),
         "-oN", str(nmap_normal), LOOP],
        capture_output=True, timeout=300, check=True,
    )  # fmt: skip
    ours_xml, ours_normal = tmp_path / "nmapx.xml", tmp_path / "nmapx.nmap"
    result = nmapx_main(
        "run", str(scan), "--script", scripts, *verbosity, *args, "-oX", str(ours_xml),
        "-oN", str(ours_normal),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    by_port = {port: name for name, port in ports.items()}

    def keyed(xml: bytes) -> dict[tuple[str, str], bytes]:
        return {
            (by_port[port], sid): canonical(sid, element)
            for (port, sid), element in script_elements(xml).items()
            if sid in SCRIPTS
        }

    def normal(text: bytes) -> dict[tuple[str, str], bytes]:
        return {
            (by_port[port], sid): canonical_normal(sid, lines)
            for (_, port, sid), lines in normal_script_blocks(text, SCRIPTS).items()
        }

    theirs, ours = keyed(nmap_xml.read_bytes()), keyed(ours_xml.read_bytes())
    theirs_normal = normal(nmap_normal.read_bytes())
    assert normal(ours_normal.read_bytes()) == theirs_normal
    # normal output leaves out a script whose output is empty (http-generator's empty tag)
    for site, sid in set(theirs) - set(theirs_normal):
        assert theirs[site, sid].startswith(f'<script id="{sid}" output=""'.encode())
    assert set(theirs_normal) <= set(theirs)
    return theirs, ours


@needs_nmap
@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"], ["-d2"]], ids=["v0", "v1", "v2", "d2"])
def test_http_scripts_output_is_nmaps(
    tmp_path: Path, in_private_network: Any, verbosity: list[str]
) -> None:
    with servers() as running:
        theirs, ours = run_both(tmp_path, verbosity, running.ports)
    assert sorted(ours) == sorted(theirs)
    differing = {key: (ours[key], theirs[key]) for key in theirs if ours[key] != theirs[key]}
    assert not differing
    # the cases the comparison must have covered
    assert {sid for _site, sid in ours} == set(SCRIPTS)
    assert b"(Request type: HEAD)" in ours["basic", "http-headers"]
    assert b"(Request type: GET)" in ours["strict", "http-headers"]
    assert b"&#xa;  Alpha/2.0&#xa;  Zeta/1.0" in ours["versions", "http-server-header"]
    assert b"&lt;empty&gt;" in ours["auth", "http-server-header"]
    # detail: verbosity (one up, chosen by name) + 2 x debugging: 15, 40 from 2, all from 5
    shown = {(): b"(15 shown)", ("-d2",): b""}.get(tuple(verbosity), b"(40 shown)")
    assert b"47 disallowed entries " + shown + b"&#xa;" in ours["basic", "http-robots.txt"]
    # a script chosen by name runs one verbosity level up (NSE): Supported Methods shows
    assert b"Supported Methods" in ours["basic", "http-methods"]
    assert b"Joomla! 4" in ours["redirect", "http-generator"]
    assert ours["strict", "http-robots.txt"].startswith(
        b'<script id="http-robots.txt" output="1 disallowed entry &#xa;/only"'
    )


SCRIPT_ARGS = (
    "http-methods.test-all=1,http-methods.retest=1,http-methods.url-path=/p,"
    "http-headers.useget=1,http-headers.path=/robots.txt,http-generator.redirects=0,"
    "http-auth.path=/robots.txt"
)


@needs_nmap
def test_http_scripts_with_script_args_are_nmaps(tmp_path: Path, in_private_network: Any) -> None:
    """The script-args: http-methods tries the unsafe methods too and shows each status line
    (a plain Lua table: compared as a set), on another path; http-headers uses GET on
    another path; http-generator follows no redirect; http-auth asks another path."""
    with servers() as running:
        theirs, ours = run_both(tmp_path, ["-v"], running.ports, ("--script-args", SCRIPT_ARGS))
    assert sorted(ours) == sorted(theirs)
    differing = {key: (ours[key], theirs[key]) for key in theirs if ours[key] != theirs[key]}
    assert not differing
    assert b"Status Lines" in ours["basic", "http-methods"]
    assert b"Path tested: /p" in ours["basic", "http-methods"]
    assert b"(Request type: GET)" in ours["basic", "http-headers"]
    assert ("redirect", "http-generator") not in ours


@needs_nmap
def test_http_server_header_with_version_detection_is_nmaps(
    tmp_path: Path, in_private_network: Any
) -> None:
    """With -sV data: the replies come from the service fingerprint (eight probes), then one
    request of its own. The input is real ``nmap -sV`` output; the expected output is real
    ``nmap -sV --script +http-server-header`` on the same servers. Both use
    ``--version-intensity 6`` so that the plain -sV run does not run http-server-header
    itself (its rule wants intensity 7 unless chosen by name), which would rewrite the
    ``<service>`` the input must hold as version detection left it."""
    names = ("basic", "versions", "auth", "auth-bad", "strict")
    with servers(names, partial_head_timeout=0.3) as running:
        spec = ",".join(map(str, sorted(running.ports.values())))
        base = ["nmap", "-n", "-Pn", "-sV", "--version-intensity", "6", "-p", spec]
        scan, nmap_xml = tmp_path / "sv.xml", tmp_path / "nmap.xml"
        subprocess.run(
            [*base, "-oX", str(scan), LOOP], capture_output=True, timeout=300, check=True
        )
        subprocess.run(
            [*base, "--script", "+http-server-header", "-oX", str(nmap_xml), LOOP],
            capture_output=True, timeout=300, check=True,
        )  # fmt: skip
        ours_xml = tmp_path / "nmapx.xml"
        result = nmapx_main(
            "run", str(scan), "--script", "+http-server-header", "-oX", str(ours_xml)
        )
        assert result.returncode == 0, result.stderr
    assert scan.read_bytes().count(b"servicefp=") == len(names)
    by_port = {port: name for name, port in running.ports.items()}

    def keyed(xml: bytes) -> dict[str, bytes]:
        return {
            by_port[port]: element
            for (port, sid), element in script_elements(xml).items()
            if sid == "http-server-header"
        }

    theirs, ours = keyed(nmap_xml.read_bytes()), keyed(ours_xml.read_bytes())
    assert ours == theirs
    assert set(ours) == {"basic", "versions", "auth", "auth-bad"}
    # the 400 answers to non-HTTP probes carry the other Server value: both are listed
    assert b"&#xa;  Alpha/2.0&#xa;  Zeta/1.0" in ours["versions"]


# =============================================================================== helpers
def test_get_response_reads_a_fingerprint() -> None:
    fp = (
        'SF-Port80-TCP:V=7.93%I=7%D=1/1%Time=0%P=x%r(NULL,5,"a\\x20\\"b")%r(GetR'
        '\nSF:equest,8,"HTTP/1\\.0\\r\\n\\0\\xff");'
    )
    assert lpeg_utility.get_response(fp, "NULL") == b'a\x20"b'.replace(b"\\x20", b" ")
    assert lpeg_utility.get_response(fp, "GetRequest") == b"HTTP/1.0\r\n\0\xff"
    assert lpeg_utility.get_response(fp, "Help") is None


def test_stringaux_ipattern_and_strsplit() -> None:
    assert stringaux.ipattern("ab[cd]\\s1") == "[aA][bB][cd]\\s1"
    assert stringaux.ipattern(b"x") == b"[xX]"
    assert stringaux.strsplit(r",\s*", "GET, HEAD,,POST") == ["GET", "HEAD", "", "POST"]
    assert stringaux.strsplit(",", "") == [""]
    with pytest.raises(ValueError):
        stringaux.strsplit(r"\s*", "a b")


#: http-methods chosen by category, with few other scripts (a glob such as ``http-*`` counts
#: as chosen by name), each by its real portrule
BY_CATEGORY = "default and safe and not (discovery or auth)"


@needs_nmap
def test_http_methods_chosen_by_category_is_nmaps(tmp_path: Path, in_private_network: Any) -> None:
    """Chosen by category (:data:`BY_CATEGORY`), a script runs at the real verbosity: at -v0
    http-methods leaves out Supported Methods. Of the scripts it
    chooses, only http-methods is one of these six."""
    with servers() as running:
        theirs, ours = run_both(tmp_path, [], running.ports, scripts=BY_CATEGORY)
    assert sorted(ours) == sorted(theirs)
    differing = {key: (ours[key], theirs[key]) for key in theirs if ours[key] != theirs[key]}
    assert not differing
    assert {sid for _site, sid in ours} == {"http-methods"}
    assert b"Supported Methods" not in ours["basic", "http-methods"]
    assert b"Potentially risky methods: TRACE PROPFIND" in ours["basic", "http-methods"]


def test_http_robots_txt_many_entries_stay_fast(tmp_path: Path, in_private_network: Any) -> None:
    """A robots.txt near the 2 MB body limit (about 80,000 entries): the duplicate check is a
    set, not the original's scan of every entry so far, so this ends in seconds."""
    robots = b"".join(b"Disallow: /d%d\n" % i for i in range(80_000))
    site = {"big": Site(server={}, robots=robots)}
    with HttpServers(site, lifetime=30, places={"big": 80}) as running:
        scan = write_scan(tmp_path / "scan.xml", [running.ports["big"]])
        started = time.monotonic()
        result = nmapx_main(
            "run", str(scan), "--script", "http-robots.txt", "-oX", str(tmp_path / "out.xml")
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert b"80000 disallowed entries (15 shown)" in (tmp_path / "out.xml").read_bytes()
    assert elapsed < 30
