"""The HTML report's data streamed from disk: what templates see is what they always saw.

The renderer keeps hosts in a spill file and streams them into the page (flat memory); these
tests hold it to the template contract: ``data | tojson`` is the whole data object (every
time it is used) with each host in its page form (``page_host`` of its JSON Lines line),
``structure | tojson`` the hosts' structured script output (``page_structure``),
``data.hosts`` iterates the whole hosts, ``totals`` counts script results.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import CORPUS, nmapx_main

from nmapx.output.report.data import page_host, page_structure

SCANS = [
    CORPUS / "nmap-ndiff-test-scans" / "complex.xml",
    CORPUS / "python-libnmap" / "2_hosts.xml",
]
TEMPLATE = """\
{% for host in data.hosts %}host {{ host.address }} {{ host.ports | length }}
{% endfor %}findings {{ totals.findings }} added {{ totals.added }}
<one>{{ data | tojson }}</one>
<two>{{ data | tojson }}</two>
<scans>{{ data.scans | tojson }}</scans>
<structure>{{ structure | tojson }}</structure>
"""


@pytest.mark.skipif(not all(p.is_file() for p in SCANS), reason="corpus missing")
def test_custom_template_sees_every_host_and_the_whole_data(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "report.html.j2").write_text(TEMPLATE)
    page = tmp_path / "report.html"
    lines = tmp_path / "hosts.jsonl"
    result = nmapx_main("report", *map(str, SCANS), "--template", str(templates), "-o", str(page))
    assert result.returncode == 0, result.stderr.decode()
    assert (
        nmapx_main("report", *map(str, SCANS), "--format", "jsonl", "-o", str(lines)).returncode
        == 0
    )
    hosts = [json.loads(line) for line in lines.read_text().splitlines()]
    assert len(hosts) > 2

    text = page.read_text()
    listed = re.findall(r"^host (\S+) (\d+)$", text, re.M)
    assert listed == [(h["address"], str(len(h["ports"]))) for h in hosts]
    scripts = [
        s for h in hosts for s in h["hostscripts"] + [x for p in h["ports"] for x in p["scripts"]]
    ]
    assert f"findings {len(scripts)} added 0" in text

    one = re.search(r"<one>(.*)</one>", text, re.S)[1]
    two = re.search(r"<two>(.*)</two>", text, re.S)[1]
    assert one == two
    data = json.loads(one)
    assert data["hosts"] == [page_host(h) for h in hosts]
    structure = json.loads(re.search(r"<structure>(.*)</structure>", text, re.S)[1])
    assert structure == [page_structure(h) for h in hosts]
    assert json.loads(re.search(r"<scans>(.*)</scans>", text, re.S)[1]) == data["scans"]
    assert [s["label"] for s in data["scans"]] == [p.name for p in SCANS]
    # HTML-safe and ASCII-only, as jinja2's tojson writes it
    assert one.isascii() and "<" not in one and "&" not in one
