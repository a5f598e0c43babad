"""HTML report at scale: render time and memory of ``nmapx report``, then Chromium's times.

For N generated -sV hosts (10,000; 500 in quick mode): ``nmapx report`` wall/CPU/peak RSS and
the file size, next to a bare ``nmapx run -oX`` pass over the same file (the baseline: the
cost of reading it); then, where Debian's chromium and playwright are installed, the time to
open the report, filter the host table, sort it, clear the filter and open one host.
"""

from __future__ import annotations

import re
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
            ("query s", lambda: _query(page, "service:http")),
            ("sort s", lambda: page.click("#host-table th button[data-sort=openCount]")),
            ("unquery s", lambda: _query(page, "")),
            ("open host s", lambda: page.click("#host-table tbody tr a")),
        ):
            start = time.monotonic()
            action()
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
            times[name] = time.monotonic() - start
        browser.close()
    return times


def _query(page: object, text: str) -> None:
    """Type a query and wait until the page applied it (it writes the query to the URL)."""
    page.fill("#q", text)  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "q => (new URLSearchParams(location.hash.slice(1)).get('q') || '') === q", arg=text
    )


def _outputs_times(xml: bytes, factor: int) -> bytes:
    """The same scan with every script's output ``factor`` times as long."""
    return re.sub(
        rb'(<script id="[^"]*" output=")([^"]*)"',
        lambda m: m[1] + m[2] * factor + b'"',
        xml,
    )


def _script_output_bytes(xml: bytes) -> int:
    return sum(len(m[1]) for m in re.finditer(rb'<script id="[^"]*" output="([^"]*)"', xml))


def _size_rows(workdir: Path, hosts: int) -> list[dict[str, object]]:
    """HTML bytes per host at several sizes, and per byte of script output."""
    rows: list[dict[str, object]] = []
    for count in (hosts // 4, hosts // 2, hosts):
        source, out = workdir / f"size-{count}.xml", workdir / f"size-{count}.html"
        measure(
            [
                sys.executable,
                str(HERE / "gen_nmap_xml.py"),
                "--hosts",
                str(count),
                "-o",
                str(source),
            ]
        )
        result = measure([sys.executable, "-m", "nmapx", "report", str(source), "-o", str(out)])
        size = out.stat().st_size if result.ok else 0
        rows.append({
            "table": "html size", "hosts": count, "input MB": source.stat().st_size / 1e6,
            "output MB": size / 1e6, "bytes per host": size / count, "seconds": result.wall,
            "peak RSS MiB": result.maxrss_mib,
        })  # fmt: skip
    base = workdir / f"size-{hosts // 4}.xml"
    xml = base.read_bytes()
    first = None
    for factor in (1, 2, 4):
        source, out = workdir / f"out-x{factor}.xml", workdir / f"out-x{factor}.html"
        data = _outputs_times(xml, factor)
        source.write_bytes(data)
        result = measure([sys.executable, "-m", "nmapx", "report", str(source), "-o", str(out)])
        size = out.stat().st_size if result.ok else 0
        output = _script_output_bytes(data)
        if first is None:
            first = (size, output)
        rows.append({
            "table": "html size", "hosts": hosts // 4, "script output x": factor,
            "script output MB (XML)": output / 1e6, "output MB": size / 1e6,
            "HTML bytes per added output byte": (size - first[0]) / (output - first[1])
            if output > first[1] else None,
        })  # fmt: skip
    return rows


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
    rows.extend(_size_rows(workdir, hosts))
    shutil.rmtree(workdir, ignore_errors=True)
    return rows
