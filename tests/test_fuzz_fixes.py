"""Focused tests for the bugs the fuzz targets found outside the reader (fuzz/README.md).

Each input is also in the regression corpus (``fuzz/regressions/<target>/``); these tests
pin the exact behaviour the fix chose.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_nmapx

SCAN = (
    '<?xml version="1.0"?>\n<nmaprun scanner="nmap" args="nmap -p 22 10.0.0.1" start="1700000000"'
    ' version="7.93" xmloutputversion="1.05">\n'
    '<scaninfo type="connect" protocol="tcp" numservices="1" services="22"/>\n'
    '<verbose level="{verbose}"/>\n<debugging level="{debugging}"/>\n'
    '<host><status state="up" reason="user-set" reason_ttl="0"/>'
    '<address addr="10.0.0.1" addrtype="ipv4"/><ports>'
    '<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="0"/>'
    '<service name="ssh" method="table" conf="3"/></port></ports></host>\n'
    '<runstats><finished time="1700000002" timestr="Tue Nov 14 22:13:22 2023" elapsed="2.00"'
    ' summary="x" exit="success"/><hosts up="1" down="0" total="1"/></runstats>\n</nmaprun>\n'
)


@pytest.mark.parametrize(
    ("verbose", "debugging"), [("x", "0"), ("0", "x"), ("", ""), ("high", "-")]
)
def test_normal_output_reads_a_damaged_level_as_zero(
    verbose: str, debugging: str, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.xml"
    damaged.write_text(SCAN.format(verbose=verbose, debugging=debugging))
    plain = tmp_path / "plain.xml"
    plain.write_text(SCAN.format(verbose="0", debugging="0"))
    result = run_nmapx("run", str(damaged), "-oN", str(tmp_path / "damaged.nmap"))
    assert (result.returncode, result.stderr) == (0, b"")
    result = run_nmapx("run", str(plain), "-oN", str(tmp_path / "plain.nmap"))
    assert (result.returncode, result.stderr) == (0, b"")
    assert (tmp_path / "damaged.nmap").read_bytes() == (tmp_path / "plain.nmap").read_bytes()


def test_normal_output_numbers_beyond_float_range_are_zero() -> None:
    from nmapx.model.values import truncated_int as _int
    from nmapx.output.normal import _msecs

    assert [_int("1e999"), _int("-1e999"), _int("nan"), _int("7"), _int("7.9")] == [0, 0, 0, 7, 7]
    assert [_msecs("9" * 400), _msecs("9" * 400 + "ms"), _msecs("1.5s")] == [0, 0, 1500]


def test_normal_output_leaves_out_a_scan_time_beyond_any_date(tmp_path: Path) -> None:
    scan = SCAN.format(verbose="2", debugging="0").replace("<host>", '<host starttime="%s">')
    huge, plain = tmp_path / "huge.xml", tmp_path / "plain.xml"
    huge.write_text(scan % "99999999999999999999")
    plain.write_text(scan % "0")  # no starttime: no "Scanned at" line either
    for path in (huge, plain):
        result = run_nmapx("run", str(path), "-oN", str(path.with_suffix(".nmap")))
        assert (result.returncode, result.stderr) == (0, b"")
    assert huge.with_suffix(".nmap").read_bytes() == plain.with_suffix(".nmap").read_bytes()


@pytest.mark.parametrize("start", ["99999999999999999999", "-99999999999", "x"])
def test_diff_takes_a_start_time_beyond_any_date_as_absent(start: str, tmp_path: Path) -> None:
    from nmapx.output.ndiff import load_scan

    path = tmp_path / "scan.xml"
    path.write_text(f'<?xml version="1.0"?><nmaprun scanner="nmap" start="{start}"></nmaprun>')
    assert load_scan(str(path)).start is None
    result = run_nmapx("diff", str(path), str(path))
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


def test_report_numbers_are_finite_json() -> None:
    from nmapx.model.values import finite_float_or_none as _float
    from nmapx.output.report.page import _ctime

    assert [_float("nan"), _float("inf"), _float("-1e999"), _float("1.5")] == [
        None,
        None,
        None,
        1.5,
    ]
    assert [_ctime(10**20), _ctime(-(10**20)), _ctime(None), _ctime(0)] == ["", "", "", ""]


def test_report_of_a_nan_round_trip_time_is_strict_json(tmp_path: Path) -> None:
    import json

    path = tmp_path / "scan.xml"
    path.write_text(
        '<?xml version="1.0"?><nmaprun><host><status state="up"/>'
        '<address addr="10.0.0.1" addrtype="ipv4"/><trace><hop ttl="1" ipaddr="10.0.0.1"'
        ' rtt="nan"/></trace></host><runstats><finished time="1" elapsed="inf"/></runstats>'
        "</nmaprun>"
    )
    result = run_nmapx("report", str(path), "--format", "jsonl")
    assert (result.returncode, result.stderr) == (0, b"")

    def refuse(name: str) -> None:
        raise ValueError(name)

    host = json.loads(result.stdout, parse_constant=refuse)
    assert host["trace"] == [{"ttl": 1, "ipaddr": "10.0.0.1", "rtt": None, "host": None}]


def test_plan_reads_a_damaged_extraports_count_as_zero() -> None:
    from nmapx.engine.plan import _count

    assert [_count("1e999"), _count(""), _count(None), _count("993")] == [0, 0, 0, 993]
