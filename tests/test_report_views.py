"""The HTML report built around findings (issue 14), in real headless Chromium.

One test (or more) per point of the issue, on real corpus scans rich in scripts
(``webmap/std_cve.xml``, ``scans2any/goad-light.xml``, the ndiff ``random-1``/``random-2`` pair)
and on nmapx-enriched output. Reports are made with ``SOURCE_DATE_EPOCH`` fixed at
2026-12-06 00:00 UTC, so certificate expiry is the same whenever the tests run. Printing is
tested by printing to PDF and reading the text back with ``pdftotext``; accessibility with
axe-core (from the ``axe-playwright-python`` package) run inside the page.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT, run_nmapx
from test_report import SCREENSHOTS, Opened, browser, needs_browser, open_report

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with test_report

REPORT_DAY = 1796515200  # 2026-12-06 00:00:00 UTC
STD_CVE = CORPUS / "webmap" / "std_cve.xml"
GOAD = CORPUS / "scans2any" / "goad-light.xml"
RANDOM_1 = CORPUS / "nmap-ndiff-test-scans" / "random-1.xml"
RANDOM_2 = CORPUS / "nmap-ndiff-test-scans" / "random-2.xml"

pytestmark = [
    needs_browser,
    pytest.mark.skipif(not STD_CVE.is_file(), reason="corpus missing"),
]


def make(tmp_path: Path, *inputs: Path, name: str = "report.html") -> Path:
    out = tmp_path / name
    env_before = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(REPORT_DAY)
    try:
        result = run_nmapx("report", *map(str, inputs), "-o", str(out))
    finally:
        if env_before is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = env_before
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def std_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make(tmp_path_factory.mktemp("std"), STD_CVE)


@pytest.fixture(scope="module")
def pair_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make(tmp_path_factory.mktemp("pair"), RANDOM_1, RANDOM_2)


@pytest.fixture
def std(browser, std_report: Path) -> Iterator[Opened]:  # type: ignore[no-untyped-def]
    opened = open_report(browser, std_report)
    yield opened
    assert opened.problems == []
    assert [u for u in opened.requests if not u.startswith("file:")] == []
    opened.page.close()


def visible_hosts(opened: Opened) -> list[str]:
    return opened.page.eval_on_selector_all(
        "#host-list > article.host",
        "els => els.filter(e => e.offsetParent !== null).map(e => e.dataset.address)",
    )


def query(opened: Opened, text: str) -> list[str]:
    """Type a query; the addresses the host list then shows, in order."""
    opened.page.fill("#q", text)
    opened.page.wait_for_function(
        "q => new URLSearchParams(location.hash.slice(1)).get('q') === q || (!q && !location.hash.slice(1))",
        arg=text.strip(),
    )
    return opened.page.locator("#host-table tbody tr td:first-child").all_inner_texts()


# ------------------------------------------------------------ 1. output visible, findable
def test_script_output_is_in_the_page_as_nmap_prints_it(std: Opened, std_report: Path) -> None:
    page = std.page
    # on the page from the start: the browser's find sees it without a click
    for text in ("WDMyCloud", "TRACE", "Not valid after", "Potentially risky methods"):
        assert page.evaluate("t => window.find(t, false, false, true)", text), text
    cert = page.locator("#host-list article[data-address='192.168.1.130'] [data-script=ssl-cert]")
    assert cert.locator("pre.out").first.inner_text() == (
        "Subject: commonName=WDMyCloud\n"
        "Not valid before: 2025-10-17T07:37:41\n"
        "Not valid after:  2035-10-15T07:37:41"
    )
    # no modulus, no PEM until the structured view is asked for, and the text stays
    assert "BEGIN CERTIFICATE" not in page.inner_text("#host-list")
    cert.locator("button.structured").click()
    assert cert.locator("table.nested th").first.inner_text() == "subject"
    assert cert.locator("pre.out").first.is_visible()
    assert cert.locator("button.structured").get_attribute("aria-expanded") == "true"
    # long output folds after five lines; "show all" and the browser's find unfold it
    rpc = page.locator("#host-list article[data-address='192.168.1.130'] [data-script=rpcinfo]")
    assert rpc.locator("pre.out").first.inner_text().splitlines() == [
        "  program version    port/proto  service",
        "  100000  2,3,4        111/tcp   rpcbind",
        "  100000  2,3,4        111/udp   rpcbind",
        "  100000  3,4          111/tcp6  rpcbind",
        "  100000  3,4          111/udp6  rpcbind",
    ]
    more = rpc.locator("button.more-button")
    assert more.inner_text() == "show all (17 more lines)"
    assert not rpc.locator("pre.rest").is_visible()
    more.click()
    assert rpc.locator("pre.rest").is_visible() and more.inner_text() == "show fewer"
    assert (
        rpc.locator("pre.rest").inner_text().splitlines()[-1]
        == "  100227  2,3         2049/udp6  nfs_acl"
    )


def test_script_output_sits_under_its_port_row(std: Opened) -> None:
    rows = std.page.locator(
        "#host-list article[data-address='192.168.1.130'] table.ports > tbody > tr"
    )
    classes = rows.evaluate_all(
        "rs => rs.map(r => r.className.split(' ')[0] + ':'"
        " + (r.dataset.port || r.querySelector('.script').dataset.script))"
    )
    assert classes[:6] == [
        "port:21/tcp", "port:22/tcp", "scripts:ssh-hostkey", "port:80/tcp", "scripts:http-methods", "port:111/tcp",
    ]  # fmt: skip


# ------------------------------------------------------------ 2. findings per script
def test_findings_per_script_across_hosts(std: Opened) -> None:
    page = std.page
    index = page.locator("#findings-list > p").first.inner_text()
    assert index.startswith(
        "http-title on 11, fingerprint-strings on 10, ssl-cert on 9, ssl-date on 9,"
    )
    ssl = page.locator("#finding-ssl-cert")
    assert ssl.locator("h3").inner_text() == "ssl-cert on 9 hosts"
    assert ssl.locator("tbody tr").count() == 11
    first = ssl.locator("tbody tr").first.locator("td").all_inner_texts()
    assert first[:3] == [
        "192.168.1.1 (Core-Router.core.mumpitz-local.de)",
        "443/tcp",
        "Subject: commonName=NewMedia-NET GmbH/organizationName=NewMedia-NET GmbH/stateOrProvinceName=Saxon/countryName=DE\n"
        "Not valid before: 2020-11-03T05:53:46\nNot valid after:  2030-11-01T05:53:46",
    ]
    # the findings follow the query
    query(std, "host:192.168.1.130")
    assert page.locator("#finding-ssl-cert h3").inner_text() == "ssl-cert on 1 host"


def test_findings_mark_what_nmapx_added(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scripts = tmp_path / "s"
    scripts.mkdir()
    (scripts / "inventory.py").write_text(
        'categories = ["safe"]\n\ndef portrule(host, port):\n    return port.number == 62910\n\n'
        'def action(host, port):\n    return "MAX! Cube\\nfirmware 1.4"\n'
    )
    out = tmp_path / "enriched.html"
    result = run_nmapx(
        "run", str(ROOT / "fixtures" / "demo" / "scan.xml"), "--script", f"{scripts}/",
        "--html", str(out), "-oX", str(tmp_path / "enriched.xml"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    opened = open_report(browser, out)
    page = opened.page
    finding = page.locator("#finding-inventory")
    assert finding.locator("h3").inner_text() == "inventory on 1 host (1 added by nmapx)"
    assert finding.locator("tbody tr td").all_inner_texts() == [
        "127.0.0.1", "62910/tcp", "MAX! Cube\nfirmware 1.4", "added by nmapx",
    ]  # fmt: skip
    block = page.locator("#host-list [data-script=inventory]")
    assert block.locator("pre.out").inner_text() == "MAX! Cube\nfirmware 1.4"
    assert block.locator(".badge.added").inner_text() == "added by nmapx"
    assert query(opened, "added:yes") == ["127.0.0.1"]
    assert opened.problems == []


# ------------------------------------------------------------ 3. certificates
def test_certificates_at_a_glance(std: Opened) -> None:
    page = std.page
    assert page.inner_text("[data-testid=cert-summary]") == (
        "11 certificates (ssl-cert): 6 expired and 0 expiring within 30 days on 2026-12-06,"
        " the day of this report."
    )
    head = page.locator("#cert-list thead th").all_inner_texts()
    assert head == ["Host", "Port", "Subject", "Issuer", "Not valid after",
                    "On 2026-12-06 (report)", "On the scan date"]  # fmt: skip
    rows = page.locator("#cert-list tbody tr")
    assert rows.count() == 11
    assert rows.first.locator("td").all_inner_texts() == [
        "192.168.1.58 (LGwebOSTV.core.mumpitz-local.de)", "8009/tcp",
        "e2d29a9c-918c-8291-9608-0729e295afa0", "e2d29a9c-918c-8291-9608-0729e295afa0",
        "2025-11-16T21:54:18", "expired", "expires within 30 days (2025-11-16)",
    ]  # fmt: skip
    states = rows.evaluate_all("rs => rs.map(r => r.dataset.state)")
    assert states == ["expired"] * 6 + ["valid"] * 5
    assert query(std, "cert:expired") == [
        "192.168.1.57", "192.168.1.58", "192.168.1.65", "192.168.1.96", "192.168.1.141", "192.168.2.1",
    ]  # fmt: skip


# ------------------------------------------------------------ 4. counts and charts
def test_counts_and_charts_link_to_filters(std: Opened) -> None:
    page = std.page
    services = page.locator(".chart[data-chart=Services] li")
    assert [t.split("\n") for t in services.all_inner_texts()[:3]] == [
        ["ssh", "12"], ["http", "11"], ["upnp", "4"],
    ]  # fmt: skip
    assert page.locator(".chart svg rect").count() == page.locator(".chart li").count() == 42
    titles = page.locator(".chart h4").all_inner_texts()
    assert titles == ["Services", "Products and versions", "Open ports", "OS families", "Scripts"]
    products = page.locator(".chart[data-chart='Products and versions'] li a").first
    assert products.inner_text() == "OpenSSH 10.0p2 Debian 7"
    services.first.locator("a").click()
    page.wait_for_function("() => location.hash === '#q=service%3Assh'")
    assert page.input_value("#q") == "service:ssh"
    assert page.inner_text("#match-count") == "12 of 18 hosts"
    products.click()
    assert page.input_value("#q") == 'product:OpenSSH version:="10.0p2 Debian 7"'
    assert page.inner_text("#match-count") == "6 of 18 hosts"


def test_charts_read_in_the_dark_theme(browser, std_report: Path) -> None:  # type: ignore[no-untyped-def]
    opened = open_report(browser, std_report, "dark")
    fill = opened.page.eval_on_selector(".chart svg rect", "r => getComputedStyle(r).fill")
    assert fill == "rgb(108, 182, 255)"
    opened.page.close()


# ------------------------------------------------------------ 5. queries
def test_queries_not_substrings(std: Opened) -> None:
    assert len(query(std, "port:22")) == 12
    assert query(std, "product:OpenSSH version:<7.4") == ["192.168.1.130"]
    assert query(std, "product:openssh version:<7") == ["192.168.1.130"]
    assert query(std, "version:>=10 product:OpenSSH") == query(std, "product:OpenSSH -version:<10")
    assert query(std, "service:ssh -product:openssh") == [
        "192.168.1.1",
        "192.168.2.1",
        "192.168.2.100",
    ]
    assert query(std, "script:ssl-cert os:linux port:443") == query(
        std, "port:443 os:linux script:ssl-cert"
    )
    assert query(std, "western digital") == ["192.168.1.130"]
    assert query(std, '"protocol 2.0"') == query(std, "protocol 2.0")
    assert len(query(std, "protocol 2.0")) == 12
    assert (
        query(std, "cpe:/o:mikrotik")
        == query(std, "os:routeros")
        == ["192.168.1.57", "192.168.2.112", "192.168.2.227"]
    )
    # the query lives in the URL
    query(std, "port:22,443 service:ssh")
    assert std.page.evaluate("location.hash") == "#q=port%3A22%2C443+service%3Assh"


def test_query_from_the_url(browser, std_report: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(std_report.as_uri() + "#q=" + "product%3AOpenSSH+version%3A%3C7.4")
    page.wait_for_selector("html[data-ready=true]")
    assert page.input_value("#q") == "product:OpenSSH version:<7.4"
    assert page.locator("#host-table tbody tr td:first-child").all_inner_texts() == [
        "192.168.1.130"
    ]
    assert page.locator("#service-table tbody tr td").all_inner_texts()[:6] == [
        "192.168.1.130", "22", "tcp", "ssh", "OpenSSH", "6.0p1 Debian 4",
    ]  # fmt: skip
    page.close()


# ------------------------------------------------------------ 6. deep links
def test_deep_link_back_and_escape(browser, std_report: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(std_report.as_uri() + "#host=192.168.1.130")
    page.wait_for_selector("html[data-ready=true]")
    assert page.evaluate("document.body.dataset.view") == "host"
    shown = page.eval_on_selector_all(
        "article.host", "els => els.filter(e => e.offsetParent).map(e => e.dataset.address)"
    )
    assert shown == ["192.168.1.130"]
    assert not page.locator("#host-table").is_visible()
    page.keyboard.press("Escape")
    assert page.evaluate("document.body.dataset.view") == "list"
    assert page.locator("#host-table").is_visible()
    # opening a host from the list updates the URL; Back returns to the list (with its query)
    page.fill("#q", "service:ssh")
    page.wait_for_function("() => location.hash === '#q=service%3Assh'")
    page.click("#host-table tbody tr[data-address='192.168.1.130'] a")
    page.wait_for_function("() => document.body.dataset.view === 'host'")
    assert page.evaluate("location.hash") == "#q=service%3Assh&host=192.168.1.130"
    assert page.evaluate("document.activeElement.dataset.address") == "192.168.1.130"
    page.go_back()
    page.wait_for_function("() => document.body.dataset.view === 'list'")
    assert page.evaluate("location.hash") == "#q=service%3Assh"
    assert page.input_value("#q") == "service:ssh"
    page.click("#host-table tbody tr[data-address='192.168.1.130'] a")
    page.wait_for_function("() => document.body.dataset.view === 'host'")
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.body.dataset.view === 'list'")
    assert page.evaluate("location.hash") == "#q=service%3Assh"
    page.close()


# ------------------------------------------------------------ 7. several scans
def test_several_scans_count_hosts_once_and_show_what_changed(
    browser, pair_report: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    opened = open_report(browser, pair_report)
    page = opened.page
    assert page.inner_text("[data-testid=hosts-total]") == "69"
    assert page.inner_text("#match-count") == "69 of 69 hosts"
    head = page.locator("#host-table thead th").all_inner_texts()
    assert head[-2:] == ["random-1.xml", "random-2.xml"]
    assert page.locator("#host-table tbody tr").count() == 69
    change = page.locator("article.change")
    assert change.locator("dd").all_inner_texts() == ["14", "8", "15"]
    # the same comparison as `nmapx diff`: every changed host's block, line for line
    diff = run_nmapx("diff", str(RANDOM_1), str(RANDOM_2))
    assert diff.returncode == 1
    blocks = diff.stdout.decode().split("\n\n")[1:]
    shown = change.locator("tbody tr").evaluate_all(
        "rs => rs.map(r => Array.from(r.querySelectorAll('td:last-child pre')).map(p => p.textContent).join('\\n'))"
    )
    assert sorted(shown) == sorted(b.rstrip("\n") for b in blocks if b.strip())
    kinds = change.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.kind)")
    assert kinds.count("new") == 14 and kinds.count("gone") == 8 and kinds.count("changed") == 15
    assert opened.problems == []
    opened.page.close()


# ------------------------------------------------------------ 8. print
def pdf_text(page, tmp_path: Path, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    pdf = tmp_path / f"{name}.pdf"
    page.pdf(path=str(pdf), format="A4")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True
    ).stdout
    return text.split("\f")


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_print_prints_every_host_with_its_output(browser, std_report: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(std_report.as_uri())
    page.wait_for_selector("html[data-ready=true]")
    pages = pdf_text(page, tmp_path, "all")
    text = "\n".join(pages)
    addresses = page.eval_on_selector_all(
        "#host-list > article", "els => els.map(e => e.dataset.address)"
    )
    first_host = next(i for i, p in enumerate(pages) if p.split() and p.split()[0] in addresses)
    hosts_text = "\n".join(pages[first_host:])
    assert hosts_text.count("Not valid after:") == 11  # every certificate, as Nmap prints it
    assert re.search(r"2049/udp6\s+nfs_acl", text)  # folded output prints whole
    for control in ("Query syntax", "Back to the list", "show all", "Previous", "structured"):
        assert control not in text, control
    starts = [p.split()[0] for p in pages if p.strip()]
    assert len(addresses) == 18
    assert [a for a in starts if a in addresses] == addresses  # a page break before each host
    assert "Printed:" not in text
    # a filtered print says so
    page.fill("#q", "port:22")
    page.wait_for_function("() => location.hash.includes('port')")
    pages = pdf_text(page, tmp_path, "filtered")
    text = "\n".join(pages)
    assert "Printed: 12 of 18 hosts, those matching the query \u201cport:22\u201d" in " ".join(
        text.split()
    )
    matching = page.locator("#host-table tbody tr td:first-child").all_inner_texts()
    assert len(matching) == 12
    starts = [p.split()[0] for p in pages if p.strip()]
    assert [a for a in starts if a in addresses] == [a for a in addresses if a in matching]
    page.close()


# ------------------------------------------------------------ 9. readable host view
@pytest.mark.parametrize("scan", [STD_CVE, GOAD], ids=["std_cve", "goad-light"])
def test_port_columns_never_scroll_out_of_view(browser, scan: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = make(tmp_path, scan)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(out.as_uri())
    page.wait_for_selector("html[data-ready=true]")
    addresses = page.eval_on_selector_all(
        "#host-list > article:has(table.ports)", "els => els.map(e => e.dataset.address)"
    )
    assert addresses
    for address in addresses:  # each host as its deep link opens it
        page.evaluate("a => { location.hash = 'host=' + a; }", address)
        page.wait_for_function(
            "a => document.body.dataset.view === 'host' && document.querySelector('article.current').dataset.address === a",
            arg=address,
        )
        fits = page.eval_on_selector(
            "article.current table.ports",
            """t => {
                const art = t.closest('article').getBoundingClientRect();
                const last = t.querySelector('thead th:last-child').getBoundingClientRect();
                return t.scrollWidth <= t.clientWidth + 1 && last.width > 0
                    && last.right <= art.right && last.right <= window.innerWidth;
            }""",
        )
        assert fits, address
        heads = page.locator("article.current table.ports thead th").all_inner_texts()
        assert heads == ["Port", "State", "Service", "Product", "Version", "Extra info"]
    page.close()


# ------------------------------------------------------------ 10. accessibility


def axe_source() -> str:
    from importlib.resources import files

    return (files("axe_playwright_python") / "axe.min.js").read_text()


def serious_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    page.add_script_tag(content=axe_source())
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}) x{len(v['nodes'])}"
        for v in result["violations"]
        if v["impact"] in ("critical", "serious")
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious(browser, std_report: Path, scheme: str) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("axe_playwright_python")
    context = browser.new_context(
        bypass_csp=True, color_scheme=scheme, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto(std_report.as_uri())
    page.wait_for_selector("html[data-ready=true]")
    assert serious_violations(page) == []
    page.goto(std_report.as_uri() + "#host=192.168.1.130")
    page.reload()
    page.wait_for_selector("html[data-ready=true]")
    page.click(
        "#host-view article[data-address='192.168.1.130'] [data-script=ssl-cert] button.structured"
    )
    assert serious_violations(page) == []
    context.close()


def test_sort_state_on_the_header_and_scroll_regions_reachable(std: Opened) -> None:
    page = std.page
    sorts = page.eval_on_selector_all(
        "#host-table th", "ths => ths.map(th => th.getAttribute('aria-sort'))"
    )
    assert sorts == ["ascending", "none", "none", "none", "none", "none"]
    page.click("#host-table th button[data-sort=openCount]")
    sorts = page.eval_on_selector_all(
        "#host-table th", "ths => ths.map(th => th.getAttribute('aria-sort'))"
    )
    assert sorts == ["none", "none", "none", "none", "ascending", "none"]
    assert page.locator("#host-table th button[aria-sort]").count() == 0
    regions = page.eval_on_selector_all(
        "*",
        "els => els.filter(e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX) && e.scrollWidth > e.clientWidth && e.tabIndex < 0).map(e => e.outerHTML.slice(0, 80))",
    )
    assert regions == []
    assert page.eval_on_selector_all(".scroll", "els => els.every(e => e.tabIndex === 0)")


# ------------------------------------------------------------ hostile values in the new views
def test_hostile_query_and_link_stay_text(browser, std_report: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(std_report.as_uri() + "#q=%3Cimg+src%3Dx+onerror%3Dalert(1)%3E&host=%3Cscript%3E")
    page.wait_for_selector("html[data-ready=true]")
    page.wait_for_timeout(200)
    assert dialogs == [] and page.locator("img").count() == 0
    assert page.input_value("#q") == "<img src=x onerror=alert(1)>"
    page.close()


# ------------------------------------------------------------ screenshots for the README
def test_screenshots_of_the_new_views(browser, std_report: Path, pair_report: Path) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    shots = [
        (std_report, "", "#summary h3:has-text('Counts')", "report-counts.png"),
        (std_report, "", "#findings", "report-findings.png"),
        (std_report, "", "#certificates", "report-certificates.png"),
        (std_report, "#host=192.168.1.130", None, "report-host.png"),
        (std_report, "#q=product%3AOpenSSH+version%3A%3C7.4", "#hosts", "report-query.png"),
        (pair_report, "", "#changes", "report-changes.png"),
    ]
    for report, fragment, anchor, name in shots:
        page.goto("about:blank")
        page.goto(report.as_uri() + fragment)
        page.wait_for_selector("html[data-ready=true]")
        if anchor:
            page.locator(anchor).first.scroll_into_view_if_needed()
            page.eval_on_selector(anchor, "e => e.scrollIntoView()")
        page.screenshot(path=str(SCREENSHOTS / name))
        assert (SCREENSHOTS / name).stat().st_size > 10_000
    page.close()
