"""tls-alpn and ssl-date, and nmapx.nse.datetime, against real Nmap 7.93 on loopback servers.

Servers (fixtures/tls_servers.py) run on 127.0.0.1 of a private network namespace made for
the test (the ``in_private_network`` fixture), from a thread, bounded in time, and stop in
teardown: Python ``ssl`` servers with and without ALPN (``h2``, ``http/1.1``), a server that
answers every ALPN offer with a fatal ``no_application_protocol`` alert, hand-made
ServerHellos that force one ALPN protocol or name two (an RFC 7301 violation), that carry this
machine's clock (right, an hour off, years off) or a constant, a record with half a
ServerHello, garbage instead of a ServerHello, and SMTP and IMAP STARTTLS. Every server sits
on a port Nmap's tables name (443, 8443, ... for TLS, 25 and 143 for STARTTLS; the namespace
holds them all, so nothing can be in the way), so both sides choose the scripts by their real
portrules, with no ``+``. Each script runs through the command line in-process and through
real Nmap on the same servers in the same test; the ``<script>`` elements and the ``|`` lines
of normal output must be byte-identical, except the clock readings of ssl-date listed in
:data:`CLOCK_FIELDS`.
"""

from __future__ import annotations

import calendar
import html
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import needs_nmap, nmapx_main, normal_script_blocks

from fixtures.tls_servers import (
    LEGACY_CIPHERS,
    TLSServer,
    rsa_cert,
    server_hello,
)
from nmapx.model.host import NseHost
from nmapx.nse import datetime, tls
from nmapx.scripts import tls_alpn

LOOP = "127.0.0.1"


@pytest.fixture
def servers(in_private_network: Any) -> Iterator[Callable[..., TLSServer]]:
    """Makes servers inside the test's private network (the test runs in it too)."""
    made: list[TLSServer] = []

    def make(*args: Any, **kwargs: Any) -> TLSServer:
        kwargs.setdefault("lifetime", 180)
        server = TLSServer(*args, **kwargs)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


# =============================================================================== datetime
def test_format_time_and_difftime_follow_datetime_lua() -> None:
    """The forms datetime.lua documents, and its year rule (a leap year is still ``1y``)."""
    assert datetime.format_time(0) == "0s"
    assert datetime.format_time(-4) == "-4s"
    assert datetime.format_time(158) == "2m38s"
    assert datetime.format_time(9 * 3600 + 12 * 60 + 34) == "9h12m34s"
    assert datetime.format_time(5 * 86400 + 17 * 3600 + 5 * 60 + 6) == "5d17h05m06s"
    assert datetime.format_time(1500, 1000) == "1.500s"
    assert datetime.format_time(0.0, 1000) == "0.000s"
    assert datetime.format_time(10.0) == "10s"

    def diff(t2: int, t1: int) -> str:
        return datetime.format_difftime(datetime.utc_table(t2), datetime.utc_table(t1))

    start = 1202601600  # 2008-02-10 00:00:00 UTC; 2008 is a leap year
    assert diff(start, start) == "0s"
    assert diff(start + 366 * 86400, start) == "+1y0s"  # a leap year is one year
    assert diff(start, start + 366 * 86400) == "-1y0s"
    assert diff(start + 4, start) == "+4s"
    assert diff(start, start + 3723) == "-1h02m03s"
    later = start + 2 * 366 * 86400 + 177 * 86400 + 10 * 3600 + 13 * 60 + 20
    assert diff(start, later) == "-2y178d10h13m20s"  # 2009 has 365 days: one day left over


def test_format_timestamp() -> None:
    assert datetime.format_timestamp(0, 0) == "1970-01-01T00:00:00+00:00"
    assert datetime.format_timestamp(1346960262, 0) == "2012-09-06T19:37:42+00:00"
    assert datetime.format_timestamp(1346960262, 2 * 3600) == "2012-09-06T21:37:42+02:00"
    assert datetime.format_timestamp(1346960262, -5400) == "2012-09-06T18:07:42-01:30"
    assert datetime.format_timestamp(1346960262) == "2012-09-06T19:37:42"
    assert datetime.format_timestamp(0xFFFFFFFF, 0) == "2106-02-07T06:28:15+00:00"
    date = {"year": 2024, "month": 1, "day": 2, "hour": 3, "min": 4, "sec": 5}
    assert datetime.format_timestamp(date, 0) == "2024-01-02T03:04:05"


def _host(times: dict[str, float]) -> NseHost:
    return NseHost(
        ip=LOOP, name="", targetname=None, reason="", reason_ttl=0, mac_addr=None,
        bin_ip=None, times=times, traceroute=[], os_fp=None, os=None,
    )  # fmt: skip


def test_record_skew_appends_for_clock_skew(monkeypatch: pytest.MonkeyPatch) -> None:
    """Floats in ``registry["datetime_skew"]``, less half the smoothed RTT (seconds)."""
    monkeypatch.setattr("nmapx.nse.stdnse.debug", lambda *args: None)  # no script thread here
    host = _host({"srtt": 0.5, "rttvar": 0.1})
    datetime.record_skew(host, 1000.9, 996.2)
    datetime.record_skew(host, 1000, 1000)
    assert host.registry["datetime_skew"] == [3.75, -0.25]
    bare = _host({})
    datetime.record_skew(bare, 10, 14)
    assert bare.registry["datetime_skew"] == [-4.0]


# =============================================================================== tls-alpn parts
def _hello_record(extensions: bytes | None) -> bytes:
    return tls.record_write("handshake", "TLSv1.2", server_hello(0, extensions))


def _alpn_extension(*names: bytes) -> bytes:
    listed = b"".join(bytes([len(n)]) + n for n in names)
    data = len(listed).to_bytes(2, "big") + listed
    return b"\x00\x10" + len(data).to_bytes(2, "big") + data


def test_check_alpn_reads_what_tls_alpn_nse_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("nmapx.nse.stdnse.debug", lambda *args: None)  # no script thread here
    assert tls_alpn.check_alpn(_hello_record(_alpn_extension(b"h2"))) == [b"h2"]
    assert tls_alpn.check_alpn(_hello_record(_alpn_extension(b"spdy/3", b"h2"))) == [
        b"spdy/3",
        b"h2",
    ]
    assert tls_alpn.check_alpn(_hello_record(_alpn_extension())) is None
    assert tls_alpn.check_alpn(_hello_record(None)) is None
    assert tls_alpn.check_alpn(_hello_record(b"\x00\x17\x00\x00")) is None  # other extension
    assert tls_alpn.check_alpn(b"\x15\x03\x03\x00\x02\x02\x78") is None  # an alert
    assert tls_alpn.check_alpn(b"HTTP/1.1 400 Bad Request\r\n") is None
    # lengths that run past the data: a Lua error in tls-alpn.nse (string.unpack), here too
    with pytest.raises(ValueError, match="data string too short"):
        tls_alpn.check_alpn(_hello_record(b"\x00\x10\x00\x03\x00\x05\x02"))


# =============================================================================== against Nmap
def _script_elements(xml: bytes, script: str) -> dict[int, bytes]:
    """portid -> the port's ``<script>`` element of ``script``, exactly as written."""
    found = {}
    for port in re.finditer(rb'<port protocol="tcp" portid="(\d+)">(.*?)</port>', xml, re.S):
        element = re.search(
            rb'<script id="' + script.encode() + rb'" output="[^"]*"(?:/>|>.*?</script>)',
            port[2],
            re.S,
        )
        if element:
            found[int(port[1])] = element[0]
    return found


#: Far enough off that ssl-date samples twice (more than 90 minutes), and years off.
YEARS_OFF = -(2 * 365 + 177) * 86400 - (10 * 3600 + 13 * 60 + 20)
HOUR_OFF = 3723


#: Each case's server and its port: ports shortport.ssl names (LIKELY_SSL_PORTS), so the
#: scripts' portrules hold by port number, as they do for a real scan without -sV.
CASES: dict[str, tuple[int, str, dict[str, Any]]] = {
    "alpn": (443, "tls", {"alpn": ["h2", "http/1.1"], "ciphers": LEGACY_CIPHERS}),
    "no-alpn": (8443, "tls", {"ciphers": LEGACY_CIPHERS}),
    "alert": (4433, "alert", {}),
    "forced": (993, "alpn-forced", {"alpn": ["h2"]}),
    "two": (995, "alpn-forced", {"alpn": ["spdy/3", "h2"]}),
    "garbage": (465, "garbage", {}),
    "hour": (563, "clock", {"clock_offset": HOUR_OFF}),
    "years": (636, "clock", {"clock_offset": YEARS_OFF}),
    "stagnant": (5061, "stagnant", {}),
    "fragment": (6697, "fragment", {}),
}


def _start(servers: Callable[..., TLSServer]) -> dict[str, int]:
    """Every server of both scripts' cases (:data:`CASES`): name -> port."""
    for port, mode, kwargs in CASES.values():
        servers(mode, rsa_cert(), port=port, **kwargs)
    return {name: case[0] for name, case in CASES.items()}


def _both(
    tmp_path: Path, ports: dict[str, int], script: str, verbosity: list[str]
) -> tuple[dict[int, bytes], dict[int, bytes], dict[int, bytes], dict[int, bytes]]:
    """Nmap's and nmapx's ``<script>`` elements of ``script`` on every port, then their
    ``|`` lines of normal output (port -> lines), both run inside the private network."""
    listed = ",".join(str(p) for p in ports.values())
    scan = tmp_path / "scan.xml"
    subprocess.run(
        ["nmap", "-n", "-Pn", "-sT", "-p", listed, LOOP, "-oX", str(scan)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    started = time.monotonic()
    nmap_normal, ours_normal = tmp_path / "nmap.nmap", tmp_path / "nmapx.nmap"
    nmap_run = subprocess.run(
        ["nmap", "-n", "-Pn", "-sT", "-p", listed, *verbosity, "--script", script, LOOP,
         "-oX", "-", "-oN", str(nmap_normal)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    out = tmp_path / "nmapx.xml"
    result = nmapx_main(
        "run", str(scan), *verbosity, "--script", script, "-oX", str(out), "-oN", str(ours_normal)
    )
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    assert time.monotonic() - started < 120
    return (
        _script_elements(nmap_run.stdout, script),
        _script_elements(out.read_bytes(), script),
        _normal_lines(nmap_normal.read_bytes(), script),
        _normal_lines(ours_normal.read_bytes(), script),
    )


def _normal_lines(text: bytes, script: str) -> dict[int, bytes]:
    """port -> the ``|`` lines of ``script`` in normal output."""
    return {port: lines for (_, port, _), lines in normal_script_blocks(text, [script]).items()}


VERBOSITIES = pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]], ids=["v0", "v1", "v2"])


@needs_nmap
@VERBOSITIES
def test_tls_alpn_is_byte_identical_to_nmap(
    tmp_path: Path, servers: Callable[..., TLSServer], verbosity: list[str]
) -> None:
    """Every case byte for byte: no clock is read, so nothing differs between runs."""
    ports = _start(servers)
    expected, got, expected_normal, got_normal = _both(tmp_path, ports, "tls-alpn", verbosity)
    assert got == expected
    assert got_normal == expected_normal and set(got_normal) == set(expected)
    by_port = {port: name for name, port in ports.items()}
    assert {by_port[p] for p in expected} == {"alpn", "forced", "two", "fragment"}
    # a handshake record with no whole message: record.body[1].type fails in tls-alpn.nse
    assert expected[ports["fragment"]] == (
        b'<script id="tls-alpn" output="ERROR: Script execution failed (use -d to debug)"/>'
    )
    assert expected[ports["alpn"]] == (
        b'<script id="tls-alpn" output="&#xa;  h2&#xa;  http/1.1"><elem>h2</elem>\n'
        b"<elem>http/1.1</elem>\n</script>"
    )
    assert b"<elem>spdy/3</elem>\n</script>" in expected[ports["two"]]


#: ssl-date's fields that hold clock readings, compared by pattern, not byte for byte:
#: * ``date`` (the ``date`` element and the text before ``;``): the target's clock when it
#:   answered, which differs between the Nmap run and the nmapx run;
#: * ``delta`` (the ``delta`` element) and the difference in the text (``+1h02m03s from
#:   scanner time``): the target's time minus ours, each read in whole seconds at slightly
#:   different moments, so a second boundary between them makes it 1 s less in one run;
#: * the order of the ``date`` and ``delta`` elements: ssl-date.nse returns a plain Lua table,
#:   which Nmap writes in hash-walk order, random per run (seen 15 times ``date`` first and 5
#:   times ``delta`` first in 20 runs of Nmap 7.93); nmapx writes ``date``, ``delta``.
CLOCK_FIELDS = ("date", "delta", "difference in the text", "order of date and delta")

_DATE = rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00)"
_DIFF = rb"(0s|[+-](?:(\d+)y)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(\d+)s)"
_CLOCK_ELEMENT = re.compile(
    rb'<script id="ssl-date" output="' + _DATE + rb"; " + _DIFF + rb' from scanner time\.">'
    rb'(?:<elem key="date">' + _DATE + rb'</elem>\n<elem key="delta">(-?\d+\.0)</elem>\n'
    rb'|<elem key="delta">(-?\d+\.0)</elem>\n<elem key="date">' + _DATE + rb"</elem>\n)"
    rb"</script>\Z"
)


def _clock_reading(element: bytes) -> tuple[int, int, float]:
    """(target time, the text's difference, delta) of a time result; the difference's years
    count as 1000 days, so two readings a second apart stay a second apart."""
    match = _CLOCK_ELEMENT.match(element)
    assert match, element
    text_date, diff = match[1], match[2]
    elem_date = match[8] or match[11]
    delta = float(match[9] or match[10])
    assert text_date == elem_date
    target = calendar.timegm(time.strptime(text_date.decode()[:19], "%Y-%m-%dT%H:%M:%S"))
    years = int(match[3] or 0)
    seconds = sum(int(match[i] or 0) * unit for i, unit in ((4, 86400), (5, 3600), (6, 60), (7, 1)))
    sign = -1 if diff.startswith(b"-") else 1
    assert (years == 0 and sign * seconds == delta) or years > 0
    return target, sign * (years * 1000 * 86400 + seconds), delta


_CLOCK_LINE = re.compile(rb"\|_ssl-date: " + _DATE + rb"; " + _DIFF + rb" from scanner time\.\n\Z")


def _normal_clock_reading(lines: bytes) -> tuple[int, int]:
    """(target time, the text's difference) of a time result's normal-output line, the
    difference's years counted as in :func:`_clock_reading`."""
    match = _CLOCK_LINE.match(lines)
    assert match, lines
    target = calendar.timegm(time.strptime(match[1].decode()[:19], "%Y-%m-%dT%H:%M:%S"))
    seconds = sum(int(match[i] or 0) * unit for i, unit in ((4, 86400), (5, 3600), (6, 60), (7, 1)))
    sign = -1 if match[2].startswith(b"-") else 1
    return target, sign * (int(match[3] or 0) * 1000 * 86400 + seconds)


@needs_nmap
@VERBOSITIES
def test_ssl_date_is_identical_to_nmap_but_the_clock(
    tmp_path: Path, servers: Callable[..., TLSServer], verbosity: list[str]
) -> None:
    """Byte for byte where no clock is read (OpenSSL's random ``gmt_unix_time`` and a
    constant one: ``TLS randomness does not represent time``; garbage and an alert: no
    output at -d0, as ``stdnse.format_output(false, ...)`` gives none); the clock readings
    (:data:`CLOCK_FIELDS`) by pattern: same form, within a second of each other."""
    ports = _start(servers)
    started = time.time()
    expected, got, expected_normal, got_normal = _both(tmp_path, ports, "ssl-date", verbosity)
    by_port = {port: name for name, port in ports.items()}
    assert set(got) == set(expected)
    assert set(got_normal) == set(expected_normal) == set(expected)
    assert {by_port[p] for p in expected} == {
        "alpn", "no-alpn", "forced", "two", "hour", "years", "stagnant",
    }  # fmt: skip
    randomness = b'<script id="ssl-date" output="TLS randomness does not represent time"></script>'
    randomness_line = b"|_ssl-date: TLS randomness does not represent time\n"
    for name in ("alpn", "no-alpn", "stagnant"):
        assert expected[ports[name]] == got[ports[name]] == randomness
        assert expected_normal[ports[name]] == got_normal[ports[name]] == randomness_line
    for name, offset in (("forced", 0), ("two", 0), ("hour", HOUR_OFF), ("years", YEARS_OFF)):
        nmap_target, nmap_diff, nmap_delta = _clock_reading(expected[ports[name]])
        ours_target, ours_diff, ours_delta = _clock_reading(got[ports[name]])
        for target, delta in ((nmap_target, nmap_delta), (ours_target, ours_delta)):
            assert offset - 1 <= delta <= offset  # the target answered before we read our clock
            assert started + offset - 2 <= target <= time.time() + offset
        assert abs(nmap_delta - ours_delta) <= 1
        assert abs(nmap_diff - ours_diff) <= 1
        assert (ours_delta < 0) == (ours_diff < 0) and (nmap_delta < 0) == (nmap_diff < 0)
        # normal output: the same text as the output attribute, so the same readings
        assert _normal_clock_reading(expected_normal[ports[name]]) == (nmap_target, nmap_diff)
        assert _normal_clock_reading(got_normal[ports[name]]) == (ours_target, ours_diff)
    assert b"; -2y" in got[ports["years"]] and b"; -2y" in expected[ports["years"]]
    assert got[ports["hour"]].index(b'key="date"') < got[ports["hour"]].index(b'key="delta"')


@needs_nmap
def test_hostile_peers_end_quietly(tmp_path: Path, servers: Callable[..., TLSServer]) -> None:
    """Garbage, an alert and a server that never answers: bounded, no traceback, and at -d
    the same elements as Nmap's (ssl-date's ``stdnse.format_output(false, ...)`` shows
    ``ERROR: Unable to obtain data from the target`` there; tls-alpn says nothing)."""
    garbage = servers("garbage", port=465)
    alert = servers("alert", port=4433)
    silent = socket.socket()
    silent.bind((LOOP, 9001))
    silent.listen(16)  # never accepts: the kernel completes the connections, nothing answers
    try:
        listed = "465,4433,9001"
        scan = tmp_path / "scan.xml"
        subprocess.run(
            ["nmap", "-n", "-Pn", "-sT", "-p", listed, LOOP, "-oX", str(scan)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        nmap_normal, ours_normal = tmp_path / "nmap.nmap", tmp_path / "nmapx.nmap"
        nmap_run = subprocess.run(
            ["nmap", "-n", "-Pn", "-sT", "-p", listed, "-d", "--script", "tls-alpn,ssl-date",
             LOOP, "-oX", "-", "-oN", str(nmap_normal)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        started = time.monotonic()
        out = tmp_path / "out.xml"
        result = nmapx_main(
            "run", str(scan), "-d", "--script", "tls-alpn,ssl-date", "-oX", str(out),
            "-oN", str(ours_normal),
        )  # fmt: skip
        assert time.monotonic() - started < 30
        assert result.returncode == 0
        assert b"Traceback" not in result.stderr and b"threw an error" not in result.stderr
        xml = out.read_bytes()
        assert _script_elements(xml, "tls-alpn") == {}
        assert _script_elements(nmap_run.stdout, "tls-alpn") == {}
        failures = _script_elements(xml, "ssl-date")
        assert failures == _script_elements(nmap_run.stdout, "ssl-date")
        assert set(failures) == {garbage.port, alert.port, 9001}
        assert all(b"ERROR: Unable to obtain data from the target" in e for e in failures.values())
        ids = ["tls-alpn", "ssl-date"]
        normal = normal_script_blocks(ours_normal.read_bytes(), ids)
        assert normal == normal_script_blocks(nmap_normal.read_bytes(), ids)
        assert {port for _, port, _ in normal} == {465, 4433, 9001}
    finally:
        silent.close()


@needs_nmap
def test_starttls_is_byte_identical_to_nmap(
    tmp_path: Path, servers: Callable[..., TLSServer]
) -> None:
    """Both scripts through sslcert's STARTTLS dance (SMTP on 25, IMAP on 143: Nmap picks the
    dance by port number without -sV); OpenSSL's random time gives ssl-date's refusal."""
    servers("smtp", rsa_cert(), port=25, alpn=["h2", "http/1.1"], ciphers=LEGACY_CIPHERS)
    servers("imap", rsa_cert(), port=143, alpn=["imap"], ciphers=LEGACY_CIPHERS)
    ports = {"smtp": 25, "imap": 143}
    for script in ("tls-alpn", "ssl-date"):
        expected, got, expected_normal, got_normal = _both(tmp_path, ports, script, [])
        assert got == expected
        assert got_normal == expected_normal
        assert set(expected) == set(expected_normal) == {25, 143}
    assert expected[25] == (
        b'<script id="ssl-date" output="TLS randomness does not represent time"></script>'
    )


# =============================================================================== datetime vs Lua
_SECONDS = [0, 1, -1, 59, 60, 3599, 3600, 86399, 86400, 158, -3723, 5 * 86400 + 61, 10**9]
_STAMPS = [0, 86400, 951782400, 1202601600, 1700000000, 1796621530, 0xFFFFFFFF]
_DIFF_PAIRS = [(a + d, a) for a in _STAMPS[1:] for d in (0, 4, -4, 3723, 366 * 86400, YEARS_OFF)]
_ZONES = ["nil", "0", "7200", "-5400", "19800", "-1"]


def _lua_cases() -> list[tuple[str, str]]:
    """(Lua expression, the same call in Python) for datetime.lua's formatting functions."""
    cases: list[tuple[str, str]] = []
    for value in [*_SECONDS, 1.5, -0.25, 3723.9]:
        cases.append((f"datetime.format_time({value})", datetime.format_time(value)))
    for value in (0, 1500, 61001, -2500):
        cases.append((f"datetime.format_time({value}, 1000)", datetime.format_time(value, 1000)))
    for t2, t1 in _DIFF_PAIRS:
        lua = f'datetime.format_difftime(os.date("!*t", {t2}), os.date("!*t", {t1}))'
        ours = datetime.format_difftime(datetime.utc_table(t2), datetime.utc_table(t1))
        cases.append((lua, ours))
    for stamp in _STAMPS:
        for zone in _ZONES:
            offset = None if zone == "nil" else int(zone)
            cases.append(
                (
                    f"datetime.format_timestamp({stamp}, {zone})",
                    datetime.format_timestamp(stamp, offset),
                )
            )
    return cases


@needs_nmap
def test_datetime_formatting_matches_nmaps_datetime_lua(tmp_path: Path) -> None:
    """The same calls in Nmap 7.93's own datetime.lua (a pre-rule script that only formats:
    nothing is scanned) and in nmapx.nse.datetime give the same strings."""
    cases = _lua_cases()
    calls = ",\n".join(f"    {lua}" for lua, _ in cases)
    script = tmp_path / "datetime-probe.nse"
    script.write_text(
        'local datetime = require "datetime"\n'
        'description = "Formats dates with datetime.lua for nmapx\'s tests."\n'
        'categories = {"safe"}\n'
        "prerule = function() return true end\n"
        "action = function()\n"
        "  local out = {\n" + calls + "\n  }\n"
        '  return table.concat(out, "|")\n'
        "end\n"
    )
    run = subprocess.run(
        ["nmap", "-n", "--script", str(script), "-oX", "-"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    found = re.search(rb'<script id="datetime-probe" output="([^"]*)"', run.stdout)
    assert found, run.stdout + run.stderr
    lua = html.unescape(found[1].decode()).split("|")
    assert len(lua) == len(cases) > 90
    wrong = [(call, got, ours) for (call, ours), got in zip(cases, lua, strict=True) if got != ours]
    assert wrong == []
