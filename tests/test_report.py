"""Reports: HTML in real headless Chromium, JSON Lines against the shipped schema, CSV."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS, ROOT, corpus_files, corpus_id, run_nmapx

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = ROOT / "docs" / "screenshots"

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the CI installs it
    sync_playwright = None  # type: ignore[assignment]

needs_browser = pytest.mark.skipif(
    sync_playwright is None or not Path(CHROMIUM).exists(),
    reason="needs Debian chromium and the playwright package (bash .ci/run installs both)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Opened:
    """A report open in a page, with everything the page complained about."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"error: {e}"))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: self.requests.append(r.url))


def open_report(browser: Browser, path: Path, scheme: str = "light") -> Opened:
    page = browser.new_page(color_scheme=scheme, viewport={"width": 1280, "height": 900})
    opened = Opened(page)
    page.goto(path.as_uri())
    page.wait_for_selector("html[data-ready=true]", timeout=30000)
    return opened


def report(
    tmp_path: Path, *inputs: Path, name: str = "report.html", extra: tuple[str, ...] = ()
) -> Path:
    out = tmp_path / name
    result = run_nmapx("report", *map(str, inputs), "-o", str(out), *extra)
    assert result.returncode == 0, result.stderr
    return out


def texts(opened: Opened, selector: str) -> list[str]:
    return opened.page.locator(selector).all_inner_texts()


# ------------------------------------------------------------------ HTML in Chromium
@needs_browser
def test_every_corpus_file_renders_without_errors_or_requests(
    browser: Browser, tmp_path: Path
) -> None:
    from nmapx.cli.report import make_report

    for path in corpus_files():
        out = report(tmp_path, path, name=f"{path.stem}.html")
        opened = open_report(browser, out)
        shown = int(
            opened.page.get_attribute("[data-testid=hosts-total]", "data-testid")
            and opened.page.inner_text("[data-testid=hosts-total]")
        )
        lines = tmp_path / f"{path.stem}.jsonl"
        make_report([str(path)], "jsonl", str(lines))
        hosts = [json.loads(line) for line in lines.read_text().splitlines()]
        assert len(hosts) == len(re.findall(rb"<host[\s>]", path.read_bytes())), corpus_id(path)
        distinct = {h["address"] or f"#{i}" for i, h in enumerate(hosts)}  # counted once
        assert shown == len(distinct), corpus_id(path)
        assert opened.problems == [], corpus_id(path)
        assert [u for u in opened.requests if not u.startswith("file:")] == [], corpus_id(path)
        opened.page.close()


@needs_browser
def test_what_a_person_sees(browser: Browser, tmp_path: Path) -> None:
    goad = CORPUS / "scans2any" / "goad-light.xml"
    scanme = CORPUS / "logstash-codec-nmap" / "scanme_A.xml"
    out = report(tmp_path, goad, scanme)
    opened = open_report(browser, out)
    page = opened.page
    assert page.inner_text("[data-testid=hosts-up]") == "4"
    assert page.inner_text("[data-testid=hosts-total]") == "4"
    assert page.inner_text("[data-testid=open-ports]") == "41"
    addresses = texts(opened, "#host-table tbody tr td:first-child")
    assert addresses == ["45.33.32.156", "192.168.56.10", "192.168.56.11", "192.168.56.22"]
    # sort: the address header twice gives descending order
    page.click("#host-table th button[data-sort=address]")
    assert texts(opened, "#host-table tbody tr td:first-child") == list(reversed(addresses))
    page.click("#host-table th button[data-sort=openCount]")
    counts = texts(opened, "#host-table tbody tr td:nth-child(4)")
    assert [len(c.split(", ")) for c in counts] == [4, 8, 14, 15]
    # a query: only hosts whose text matches stay
    page.fill("#q", "scanme")
    page.wait_for_function("() => location.hash === '#q=scanme'")
    assert texts(opened, "#host-table tbody tr td:first-child") == ["45.33.32.156"]
    assert page.inner_text("#match-count") == "1 of 4 hosts"
    page.fill("#q", "")
    page.wait_for_function("() => location.hash === ''")
    # a host: closed ports hidden until toggled
    page.click("#host-table tbody tr[data-address='45.33.32.156'] a")
    ports = "article.current tr[data-port]:visible"
    assert texts(opened, f"{ports} td:first-child") == ["22/tcp", "80/tcp", "9929/tcp", "31337/tcp"]
    page.check("#show-closed")
    assert texts(opened, f"{ports} td:first-child") == ["22/tcp", "80/tcp", "9929/tcp", "31337/tcp"]
    # structured output one toggle away: goad's http-methods table
    page.keyboard.press("Escape")
    page.click("#host-table tbody tr[data-address='192.168.56.10'] a")
    block = page.locator("article.current [data-script=http-methods]").first
    assert block.locator("pre.out").inner_text() == "  Potentially risky methods: TRACE"
    block.locator("button.structured").click()
    methods = block.locator("table.nested").first
    assert methods.locator("th").first.inner_text() == "Potentially risky methods"
    assert methods.locator("table.nested td").first.inner_text() == "TRACE"
    # open services follow the query
    page.keyboard.press("Escape")
    page.fill("#q", "product:openssh")
    page.wait_for_function("() => location.hash === '#q=product%3Aopenssh'")
    assert page.inner_text("#service-count") == "1 open services"
    assert set(texts(opened, "#service-table tbody tr td:nth-child(4)")) == {"ssh"}
    assert opened.problems == []


@needs_browser
def test_closed_and_filtered_toggles(browser: Browser, tmp_path: Path) -> None:
    """Closed and filtered ports are hidden until their toggle is switched on (like nmap.xsl)."""
    out = report(
        tmp_path,
        CORPUS / "logstash-codec-nmap" / "scanme_traceroute.xml",
        CORPUS / "natlas" / "scanme-1479446542.xml",
    )
    opened = open_report(browser, out)
    page = opened.page
    rows = "article.current tr[data-port]:visible td:first-child"
    page.goto(out.as_uri() + "#host=207.148.248.143")
    page.wait_for_function("() => document.body.dataset.view === 'host'")
    assert texts(opened, rows) == ["80/tcp"]
    page.check("#show-closed")
    assert texts(opened, rows) == ["43/tcp", "80/tcp", "443/tcp"]
    assert texts(opened, "article.current tr[data-port]:visible td.state-closed") == [
        "closed",
        "closed",
    ]
    page.keyboard.press("Escape")
    page.click("#host-table tbody tr[data-address='45.33.32.156'] a")
    page.wait_for_function("() => document.body.dataset.view === 'host'")
    assert "25/tcp" not in texts(opened, rows)
    page.check("#show-filtered")
    assert texts(opened, rows) == ["22/tcp", "25/tcp", "80/tcp", "9929/tcp", "31337/tcp"]
    assert opened.problems == []


HOSTILE = "<script>alert(1)</script>"


def _hostile_scan(tmp_path: Path) -> Path:
    evil = (
        "&quot;&gt;&lt;img src=x onerror=alert(2)&gt; javascript:alert(3) \u2028 "
        "&lt;script&gt;alert(4)&lt;/script&gt;"
    )
    xml = f"""<?xml version="1.0"?>
<nmaprun scanner="nmap" args="nmap {evil}" start="1" version="7.93" xmloutputversion="1.05">
<scaninfo type="connect" protocol="tcp" numservices="1" services="80"/>
<verbose level="0"/>
<debugging level="0"/>
<host starttime="1" endtime="2"><status state="up" reason="syn-ack" reason_ttl="0"/>
<address addr="10.0.0.1" addrtype="ipv4"/>
<hostnames><hostname name="{evil}" type="PTR"/></hostnames>
<ports><port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="0"/><service name="{evil}" product="{evil}" method="probed" conf="10"><cpe>{evil}</cpe></service><script id="{evil}" output="{evil}"><elem key="{evil}">{evil}</elem>
<table key="javascript:alert(5)">
<elem>{evil}</elem>
</table>
</script></port>
</ports>
<hostscript><script id="banner" output="{evil}"/></hostscript><times srtt="1" rttvar="1" to="1"/>
</host>
<runstats><finished time="2" timestr="{evil}" elapsed="1.00" exit="success"/><hosts up="1" down="0" total="1"/>
</runstats>
</nmaprun>
"""
    path = tmp_path / "hostile.xml"
    path.write_text(xml)
    return path


@needs_browser
def test_hostile_content_never_runs(browser: Browser, tmp_path: Path) -> None:
    out = report(tmp_path, _hostile_scan(tmp_path))
    html = out.read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    opened = open_report(browser, out)
    page = opened.page
    page.check("#show-down")
    page.fill("#q", "onerror")  # the hostile text is searchable, as text
    page.wait_for_function("() => location.hash === '#q=onerror'")
    page.click("#host-table tbody tr a")
    page.wait_for_function("() => document.body.dataset.view === 'host'")
    for button in page.locator("article.current button.structured").all():
        button.click()
    page.wait_for_timeout(300)
    assert opened.dialogs == []
    assert opened.problems == []
    assert page.locator("img").count() == 0
    assert page.locator("a[href^=javascript]").count() == 0
    shown = page.inner_text("article.current")
    assert "<img src=x onerror=alert(2)>" in shown  # shown as text, inert
    assert "<img src=x onerror=alert(2)>" in page.inner_text("#findings")
    # ours only: the data, the structure (both JSON, never run) and the code
    assert page.evaluate("Array.from(document.scripts, s => s.id || s.type)") == [
        "report-data",
        "report-structure",
        "",
    ]


# ------------------------------------------------------------------ screenshots
@needs_browser
def test_screenshots_for_the_readme(browser: Browser, tmp_path: Path) -> None:
    """Light and dark screenshots of a real report, saved where the README shows them."""
    out = report(
        tmp_path,
        CORPUS / "scans2any" / "goad-light.xml",
        CORPUS / "logstash-codec-nmap" / "scanme_A.xml",
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        opened = open_report(browser, out, scheme)
        opened.page.screenshot(path=str(SCREENSHOTS / f"report-{scheme}.png"))
        opened.page.click("#host-table tbody tr[data-address='192.168.56.10'] a")
        # the host opens on hashchange, after the click returns: shoot the host, not the list
        opened.page.wait_for_function("() => document.body.dataset.view === 'host'")
        opened.page.screenshot(path=str(SCREENSHOTS / f"host-{scheme}.png"))
        assert (SCREENSHOTS / f"report-{scheme}.png").stat().st_size > 10_000
        opened.page.close()


# ------------------------------------------------------------------ JSON Lines, CSV
@pytest.mark.parametrize("path", corpus_files(), ids=corpus_id)
def test_json_lines_follow_the_shipped_schema(path: Path, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from nmapx.cli.report import make_report
    from nmapx.output.report.jsonl import schema

    out = tmp_path / "hosts.jsonl"
    assert make_report([str(path)], "jsonl", str(out)) == 0
    lines = out.read_text("ascii").splitlines()
    assert len(lines) == len(re.findall(rb"<host[\s>]", path.read_bytes()))
    validator = jsonschema.Draft202012Validator(schema())
    for line in lines:
        validator.validate(json.loads(line))


def test_json_lines_keep_structured_output() -> None:
    result = run_nmapx("report", str(CORPUS / "scans2any" / "goad-light.xml"), "--format", "jsonl")
    first = json.loads(result.stdout.splitlines()[0])
    port80 = next(p for p in first["ports"] if p["portid"] == 80)
    methods = next(s for s in port80["scripts"] if s["id"] == "http-methods")
    assert methods["elements"] == [
        {"key": "Potentially risky methods", "table": [{"key": None, "value": "TRACE"}]}
    ]
    assert methods["output"] == "\n  Potentially risky methods: TRACE"


def test_csv_round_trips_and_neutralises_formulas(tmp_path: Path) -> None:
    source = _hostile_scan(tmp_path)
    text = source.read_text().replace('product="', 'product="=HYPERLINK(&quot;x&quot;)')
    source.write_text(text.replace('<hostname name="', '<hostname name="@SUM(1) '))
    result = run_nmapx("report", str(source), "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout.decode())))
    assert rows[0] == [
        "scan",
        "address",
        "hostname",
        "port",
        "protocol",
        "state",
        "service",
        "product",
        "version",
        "script_ids",
        "script_outputs",
    ]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["product"].startswith("'=HYPERLINK")
    assert row["hostname"].startswith("'@SUM(1)")
    assert row["port"] == "80" and row["address"] == "10.0.0.1"
    for cell in rows[1]:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_run_html_marks_what_nmapx_added(tmp_path: Path) -> None:
    """The same pass that probes writes the report; added results are flagged."""
    scripts = tmp_path / "s"
    scripts.mkdir()
    (scripts / "note.py").write_text(
        'categories = ["safe"]\n\ndef hostrule(host):\n    return True\n\n'
        'def action(host):\n    return {"seen": host.ip}\n'
    )
    out = tmp_path / "r.html"
    result = run_nmapx(
        "run",
        str(ROOT / "fixtures" / "demo" / "scan.xml"),
        "--script",
        f"{scripts}/",
        "--html",
        str(out),
        "-oX",
        str(tmp_path / "x.xml"),
    )
    assert result.returncode == 0, result.stderr
    html = out.read_text()

    def block(name: str) -> Any:
        found = re.search(
            rf'<script type="application/json" id="{name}">(.*?)</script>', html, re.S
        )
        assert found is not None, name
        return json.loads(found[1])

    # the page's data says which result was added; the output is in the host's section and
    # the structure in its own block, by the reference the section's script block carries
    (host,) = block("report-data")["hosts"]
    assert host["hostscripts"] == [{"id": "note", "added": True}]
    assert block("report-structure") == [{"h.0": [["seen", "127.0.0.1"]]}]
    assert (
        '<div class="script" data-script="note" data-ref="h.0"><span class="script-id">note</span>'
        '<span class="badge added">added by nmapx</span>'
        '<button class="structured" aria-expanded="false">structured</button>'
        '<pre class="out">  seen: 127.0.0.1</pre></div>'
    ) in html
    assert '<dd data-testid="added">1</dd>' in out.read_text()


@needs_browser
def test_enriched_report_shows_added_results(browser: Browser, tmp_path: Path) -> None:
    """A report of nmapx-enriched output, made in the same pass, in Chromium."""
    scripts = tmp_path / "s"
    scripts.mkdir()
    (scripts / "inventory.py").write_text(
        "from nmapx.nse import stdnse\n\n"
        'categories = ["safe"]\n\n'
        "def portrule(host, port):\n    return port.number == 62910\n\n"
        "def action(host, port):\n"
        "    t = stdnse.output_table()\n"
        '    t["device"] = "MAX! Cube"\n'
        '    t["ports"] = [port.number, "tcp"]\n'
        "    return t\n"
    )
    out = tmp_path / "enriched.html"
    result = run_nmapx(
        "run",
        str(ROOT / "fixtures" / "demo" / "scan.xml"),
        "--script",
        f"{scripts}/",
        "--html",
        str(out),
        "-oX",
        str(tmp_path / "enriched.xml"),
    )
    assert result.returncode == 0, result.stderr
    opened = open_report(browser, out)
    page = opened.page
    assert page.inner_text("[data-testid=added]") == "1"
    page.click("#host-table tbody tr[data-address='127.0.0.1'] a")
    block = page.locator("article.current [data-script=inventory]")
    assert block.locator(".badge.added").inner_text() == "added by nmapx"
    assert (
        block.locator("pre.out").inner_text()
        == "  device: MAX! Cube\n  ports: \n    62910\n    tcp"
    )
    block.locator("button.structured").click()
    assert block.locator(
        "table.nested > tbody > tr > th, table.nested > tr > th"
    ).all_inner_texts()[:2] == ["device", "ports"]
    assert block.locator("table.nested table.nested td").all_inner_texts() == ["62910", "tcp"]
    assert opened.problems == []
