"""HTML report at scale: render time and memory of ``nmapx report``, then Chromium's times.

For N generated -sV hosts (10,000; 500 in quick mode): ``nmapx report`` wall/CPU/peak RSS and
the file size, next to a bare ``nmapx run -oX`` pass over the same file (the baseline: the
cost of reading it); then, where Debian's chromium and playwright are installed, the time to
open the report, filter the host table, sort it, clear the filter and open one host.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from bench.passthrough import HERE, measure

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _browser_times(report: Path) -> dict[str, object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"note": "playwright not installed: browser times skipped"}
    if not Path(CHROMIUM).exists():
        return {"note": "no /usr/bin/chromium: browser times skipped"}
    times: dict[str, object] = {}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        start = time.monotonic()
        page.goto(report.as_uri(), timeout=300_000)
        page.wait_for_selector("html[data-ready=true]", timeout=300_000)
        times["open s"] = time.monotonic() - start
        for name, action in (
            ("filter s", lambda: page.fill("#host-filter", "http")),
            ("sort s", lambda: page.click("#host-table th button[data-sort=open_tcp]")),
            ("unfilter s", lambda: page.fill("#host-filter", "")),
            ("open host s", lambda: page.click("#host-table tbody tr button")),
        ):
            start = time.monotonic()
            action()
            page.evaluate("new Promise(r => requestAnimationFrame(() => r()))")
            times[name] = time.monotonic() - start
        browser.close()
    return times


def run(quick: bool = False) -> list[dict[str, object]]:
    hosts = 500 if quick else 10_000
    workdir = HERE / "out" / "html"
    workdir.mkdir(parents=True, exist_ok=True)
    source, report, passed = (
        workdir / f"scan-{hosts}.xml",
        workdir / "report.html",
        workdir / "pass.xml",
    )
    gen = measure(
        [sys.executable, str(HERE / "gen_nmap_xml.py"), "--hosts", str(hosts), "-o", str(source)]
    )
    if not gen.ok:
        return [{"table": "html report", "note": f"generator failed: {gen.why()}"}]
    rows: list[dict[str, object]] = []
    for label, argv, out in (
        (
            "nmapx run -oX (read + write, baseline)",
            ["-m", "nmapx", "run", str(source), "-oX", str(passed)],
            passed,
        ),
        (
            "nmapx report -o report.html",
            ["-m", "nmapx", "report", str(source), "-o", str(report)],
            report,
        ),
    ):
        result = measure([sys.executable, *argv])
        rows.append({
            "table": "html report", "candidate": label, "hosts": hosts,
            "input MB": source.stat().st_size / 1e6, "seconds": result.wall, "CPU s": result.cpu,
            "peak RSS MiB": result.maxrss_mib,
            "output MB": out.stat().st_size / 1e6 if out.exists() else None,
            "note": "" if result.ok else result.why(),
        })  # fmt: skip
    browser = {"table": "report in Chromium", "hosts": hosts, **_browser_times(report)}
    rows.append(browser)
    shutil.rmtree(workdir, ignore_errors=True)
    return rows
