"""Every HTTP and TLS script against real nginx, byte for byte against real Nmap 7.93.

One private network namespace holds Debian's nginx (``fixtures/nginx_server.py``: HTTP on 80
and 8080, HTTPS with ALPN/HTTP2 on 443, HTTPS with an expired EC certificate and Basic auth on
8443). Inside it, real Nmap runs the scripts of :data:`SCRIPTS` on 127.0.0.1, once with ``-sT``
only (service names from the port table: ``http-proxy`` and ``https-alt`` go through
shortport's lists and its SSL probe) and once with ``-sT -sV`` (Nmap then runs
http-server-header as a version script too, and the service is nginx's), at -v0 and -v (and
-vv for -sT). nmapx runs in-process in the same namespace on the input Nmap would hand it:
for ``-sT`` a plain ``nmap -sT`` of the ports at the same verbosity, for ``-sV`` Nmap's own
output with every script result removed; and for ``-sV`` also on Nmap's whole output, where
each result must be replaced in place (one element per script and port, equal again).

Compared: each ``<script>`` element (output attribute and children) byte for byte, the set of
(port, script id) pairs, the port rows of ``-oN`` and its ``|`` blocks (as a set per port:
Nmap writes them in completion order), and the ``<service>`` elements, equal: with -sT
http-server-header rewrites them on both sides (``nmap.set_port_version``: product from the
Server header, ``method="probed" conf="10"``). As sets, what Nmap
writes in Lua ``pairs()`` order: http-auth's table members (``test_nse_http_scripts``'s
``canonical``). By pattern, the values that differ between two runs of Nmap
itself:

* http-headers' ``Date:`` line (nginx's clock at the moment of the request);
* ssl-date's reading: nginx's OpenSSL sends a random ``gmt_unix_time``, so both say ``TLS
  randomness does not represent time``, unless the random value happens to fall within 90
  minutes of the clock (about 2.5e-6 per handshake), when one side shows a clock reading
  instead; a reading is compared by its form, and may stand against the randomness text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import needs_nmap, nmapx_main
from test_conformance_live import normal_blocks
from test_nse_http_scripts import canonical as http_canonical
from test_nse_http_scripts import script_elements

from fixtures import netns, nginx_server
from fixtures.netns import PrivateNetwork
from fixtures.nginx_server import Nginx

pytestmark = [
    needs_nmap,
    pytest.mark.skipif(netns.unavailable() is not None, reason=str(netns.unavailable())),
    pytest.mark.skipif(
        nginx_server.unavailable() is not None, reason=str(nginx_server.unavailable())
    ),
]

SCRIPTS = (
    "http-title,http-server-header,http-headers,http-methods,http-robots.txt,"
    "http-generator,http-auth,ssl-cert,ssl-date,tls-alpn"
)
PORTS = "80,443,8080,8443"

_HTTP = {
    80: ("server-header", "headers", "methods", "robots.txt", "title", "generator"),
    443: ("server-header", "headers", "methods", "title"),
    8080: ("server-header", "headers", "methods", "robots.txt", "title"),
    8443: ("server-header", "headers", "title", "auth"),
}
_SEEN = {(port, "http-" + name) for port, names in _HTTP.items() for name in names} | {
    (443, "ssl-cert"), (443, "ssl-date"), (443, "tls-alpn"), (8443, "ssl-cert"), (8443, "ssl-date"),
}  # fmt: skip
#: What Nmap 7.93 reports on this site (the comparison must have covered all of it): a title
#: with entities, a generator, robots.txt and a risky method on 80; the RSA certificate, h2
#: and http/1.1 by ALPN and a UTF-8 title on 443; a redirect to another host on 8080; the
#: expired EC certificate and a Basic challenge on 8443. Not there, in Nmap as in nmapx:
#: http-generator on 443 (``content`` before ``name``), robots.txt on 443 (404) and 8443
#: (401), tls-alpn on 8443 (nginx answers its TLS 1.2 ClientHello, which names no curve for
#: the EC key, with an alert; openssl s_client gets http/1.1 there), ssl-* on 80 and 8080
#: (shortport.ssl's probe finds no TLS); with -sV, http-server-header on 8080 (-sV found the
#: product ``nginx``, which is the whole Server header).
Key = tuple[int, str]
EXPECTED = {"sT": _SEEN, "sV": _SEEN - {(8080, "http-server-header")}}

_HTTP_DATE = rb"Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT"
_CLOCK = re.compile(
    rb'<script id="ssl-date" output="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00; '
    rb'(?:0s|[+-][0-9ydhms]+) from scanner time\.">'
    rb'(?:<elem key="(?:date|delta)">[^<]*</elem>\n){2}</script>\Z'
)
CLOCK_READING = b"<ssl-date: a clock reading>"
_NORMAL_SSL_DATE = re.compile(
    rb"\|_ssl-date: (?:TLS randomness does not represent time|\d{4}-\S+; \S+ from scanner time\.)"
)


def canonical(script_id: str, element: bytes) -> bytes:
    """The element with the values that move between two Nmap runs replaced by their form,
    and the parts Nmap writes in ``pairs()`` order (http-auth's table) as sets, as
    test_nse_http_scripts compares them."""
    if script_id == "http-headers":
        dated, count = re.subn(_HTTP_DATE, b"Date: <http-date>", element)
        assert count == 1, element  # one Date header: in the output attribute only
        return dated
    if script_id == "ssl-date" and _CLOCK.match(element):
        return CLOCK_READING
    return http_canonical(script_id, element)


def without_scripts(nmap_xml: Path, into: Path) -> Path:
    """Nmap's XML minus its script results: the scan nmapx starts from."""
    text = re.sub(rb"<script .*?(?:/>|</script>)", b"", nmap_xml.read_bytes(), flags=re.S)
    into.write_bytes(text)
    return into


def services(xml: bytes) -> dict[int, bytes]:
    """Port -> its ``<service>`` element as written."""
    return {
        int(m[1]): m[2]
        for m in re.finditer(rb'<port protocol="tcp" portid="(\d+)">.*?(<service [^>]*>)', xml)
    }


def normal_parts(path: Path) -> tuple[list[bytes], dict[str, set[bytes]]]:
    """The port rows of ``-oN`` output at ``path``, and per port its ``|`` blocks, the
    patterns applied (written beside it as ``.canon``, which :func:`normal_blocks` reads)."""
    text = re.sub(rb"\|   " + _HTTP_DATE, b"|   Date: <http-date>", path.read_bytes())
    text = _NORMAL_SSL_DATE.sub(b"|_ssl-date: <time or randomness>", text)
    canon = path.with_suffix(".canon")
    canon.write_bytes(text)
    return re.findall(rb"^\d+/tcp .*$", text, re.M), normal_blocks(canon)


def same_scripts(nmap: bytes, nmapx: bytes, expected: set[tuple[int, str]]) -> dict[Key, bytes]:
    """Assert that both XML documents hold the same ``<script>`` elements, once each, on the
    (port, script id) pairs ``expected``, equal but for :func:`canonical`'s patterns; return
    nmapx's, as written."""
    theirs_raw, ours_raw = script_elements(nmap), script_elements(nmapx)
    assert nmapx.count(b"<script id=") == len(ours_raw)  # no result written twice
    assert set(ours_raw) == set(theirs_raw) == expected
    theirs = {key: canonical(key[1], element) for key, element in theirs_raw.items()}
    ours = {key: canonical(key[1], element) for key, element in ours_raw.items()}
    differing = {
        key: (ours[key], theirs[key])
        for key in theirs
        if ours[key] != theirs[key]
        and not (key[1] == "ssl-date" and CLOCK_READING in (ours[key], theirs[key]))
    }
    assert not differing
    return ours_raw


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateNetwork]:
    """nginx in a namespace of its own for this module."""
    with PrivateNetwork(lifetime=600) as ns, Nginx(ns, tmp_path_factory.mktemp("nginx")):
        yield ns


@pytest.mark.parametrize(
    "mode, verbosity",
    [("sT", []), ("sT", ["-v"]), ("sT", ["-vv"]), ("sV", []), ("sV", ["-v"])],
    ids=["sT-v0", "sT-v1", "sT-v2", "sV-v0", "sV-v1"],
)
def test_nginx_scripts_are_nmaps(
    site: PrivateNetwork, tmp_path: Path, mode: str, verbosity: list[str]
) -> None:
    ns = site
    scan = ["-n", "-Pn", "-sT", *(["-sV"] if mode == "sV" else []), "-p", PORTS]
    nmap_xml, nmap_normal = tmp_path / "nmap.xml", tmp_path / "nmap.nmap"
    ns.run(
        ["nmap", *scan, *verbosity, "--script", SCRIPTS, "-oX", nmap_xml, "-oN", nmap_normal,
         "127.0.0.1"],
        timeout=120, check=True,
    )  # fmt: skip
    if mode == "sT":  # the plain scan, at the same verbosity (-oN's columns follow it)
        given = tmp_path / "plain.xml"
        ns.run(["nmap", *scan, *verbosity, "-oX", given, "127.0.0.1"], timeout=60, check=True)
    else:
        given = without_scripts(nmap_xml, tmp_path / "input.xml")
    ours_xml, ours_normal = tmp_path / "nmapx.xml", tmp_path / "nmapx.nmap"
    with ns.entered():
        result = nmapx_main(
            "run", str(given), "--script", SCRIPTS, *verbosity,
            "-oX", str(ours_xml), "-oN", str(ours_normal),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr

    ours_raw = same_scripts(nmap_xml.read_bytes(), ours_xml.read_bytes(), EXPECTED[mode])
    # With -sT, http-server-header rewrites the services (set_port_version): on both sides.
    assert services(ours_xml.read_bytes()) == services(nmap_xml.read_bytes())
    if mode == "sT":
        assert services(given.read_bytes())[8080] == (
            b'<service name="http-proxy" method="table" conf="3"/>'
        )
        assert services(ours_xml.read_bytes())[8080] == (
            b'<service name="http-proxy" product="nginx" method="probed" conf="10"/>'
        )

    their_rows, their_blocks = normal_parts(nmap_normal)
    our_rows, our_blocks = normal_parts(ours_normal)
    assert our_rows == their_rows
    assert our_blocks == their_blocks
    if mode == "sV":  # Nmap's whole output as the input: each result replaced where it stands
        again = tmp_path / "again.xml"
        with ns.entered():
            result = nmapx_main(
                "run", str(nmap_xml), "--script", SCRIPTS, *verbosity, "-oX", str(again)
            )
        assert result.returncode == 0, result.stderr
        same_scripts(nmap_xml.read_bytes(), again.read_bytes(), EXPECTED[mode])

    # what the comparison covered, as Nmap shows it
    assert (
        b"Did not follow redirect to http://other.example/landing" in ours_raw[8080, "http-title"]
    )
    assert b"Basic realm=nmapx test realm" in ours_raw[8443, "http-auth"]
    assert b"<elem>h2</elem>\n<elem>http/1.1</elem>" in ours_raw[443, "tls-alpn"]
    assert b"M\\xC3\\xBCller" in ours_raw[443, "ssl-cert"]
    assert b"Not valid after:  2021-01-01T12:00:00" in ours_raw[8443, "ssl-cert"]


def test_every_loopback_address_answers(site: PrivateNetwork) -> None:
    """nginx listens on the wildcard address: one server is 254 hosts for a many-host scan."""
    for host in ("127.0.0.2", "127.1.2.3", "127.255.255.254"):
        for port in nginx_server.PORTS:
            site.wait_for_port(port, host=host, timeout=5)
