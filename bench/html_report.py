"""HTML report at scale: render time and memory of ``nmapx report``, then Chromium's times.

For N generated -sV hosts (10,000; 500 in quick mode): ``nmapx report`` wall/CPU/peak RSS and
the file size, next to a bare ``nmapx run -oX`` pass over the same file (the baseline: the
cost of reading it); then, where Debian's chromium and playwright are installed, the time to
open the report, filter the host table, sort it, clear the filter and open one host.

``--baseline DIR`` (another checkout, e.g. ``git worktree add /tmp/old HEAD~3``) renders the
same scan with that checkout's nmapx too and opens both reports in turns in one browser, so
the two are measured side by side, and adds a row of ratios (this checkout / baseline).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.passthrough import HERE, measure

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _nmapx(checkout: Path | None) -> list[str]:
    """Interpreter arguments that run nmapx from this checkout, or from ``checkout``."""
    if checkout is None:
        return ["-m", "nmapx"]
    code = (
        f"import runpy, sys; sys.path.insert(0, {str(checkout)!r}); "
        "runpy.run_module('nmapx', run_name='__main__')"
    )
    return ["-c", code]


def _open_once(browser: object, report: Path) -> dict[str, float]:
    """One report opened in a fresh page: open time (until the page's script is ready), the
    page's DOM-interactive time and element count, then each interaction, each until the next
    frame."""
    page = browser.new_page()  # type: ignore[attr-defined]
    times: dict[str, float] = {}
    start = time.monotonic()
    page.goto(report.as_uri(), timeout=300_000)
    page.wait_for_selector("html[data-ready=true]", timeout=300_000)
    times["open s"] = time.monotonic() - start
    times["DOM interactive s"] = (
        page.evaluate("performance.getEntriesByType('navigation')[0].domInteractive") / 1000
    )
    times["elements"] = page.evaluate("document.getElementsByTagName('*').length")
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
    page.close()
    return times


def _browser_times(reports: Sequence[Path], repeat: int = 1) -> list[dict[str, object]]:
    """Each report's best times over ``repeat`` rounds, opened in turns in one browser."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return [{"note": "playwright not installed: browser times skipped"} for _ in reports]
    if not Path(CHROMIUM).exists():
        return [{"note": "no /usr/bin/chromium: browser times skipped"} for _ in reports]
    best: list[dict[str, float]] = [{} for _ in reports]
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(repeat):
            for kept, report in zip(best, reports, strict=True):
                for name, value in _open_once(browser, report).items():
                    kept[name] = min(kept.get(name, value), value)
        browser.close()
    return [dict(times) for times in best]


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


def run(
    quick: bool = False, baseline: Path | None = None, repeat: int = 1
) -> list[dict[str, object]]:
    hosts = 500 if quick else 10_000
    workdir = HERE / "out" / "html"
    workdir.mkdir(parents=True, exist_ok=True)
    source, report, passed, old = (
        workdir / f"scan-{hosts}.xml",
        workdir / "report.html",
        workdir / "pass.xml",
        workdir / "report-baseline.html",
    )
    gen = measure(
        [sys.executable, str(HERE / "gen_nmap_xml.py"), "--hosts", str(hosts), "-o", str(source)]
    )
    if not gen.ok:
        return [{"table": "html report", "note": f"generator failed: {gen.why()}"}]
    rows: list[dict[str, object]] = []
    candidates = [
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
    ]
    if baseline is not None:
        candidates.append(
            (
                f"nmapx report of {baseline}",
                [*_nmapx(baseline), "report", str(source), "-o", str(old)],
                old,
            )
        )
    for label, argv, out in candidates:
        result = measure([sys.executable, *argv])
        rows.append({
            "table": "html report", "candidate": label, "hosts": hosts,
            "input MB": source.stat().st_size / 1e6, "seconds": result.wall, "CPU s": result.cpu,
            "peak RSS MiB": result.maxrss_mib,
            "output MB": out.stat().st_size / 1e6 if out.exists() else None,
            "note": "" if result.ok else result.why(),
        })  # fmt: skip
    reports = [report] if baseline is None else [report, old]
    labels = ["this checkout"] if baseline is None else ["this checkout", str(baseline)]
    opened = _browser_times(reports, repeat)
    for label, times in zip(labels, opened, strict=True):
        rows.append({"table": "report in Chromium", "report": label, "hosts": hosts, **times})
    if baseline is not None:
        rows.append(_ratios(rows[1], rows[2], opened[0], opened[1]))
    rows.extend(_size_rows(workdir, hosts))
    shutil.rmtree(workdir, ignore_errors=True)
    return rows


Row = dict[str, object]


def _ratios(new: Row, old: Row, opened: Row, was: Row) -> Row:
    """This checkout's figures divided by the baseline's (< 1: this checkout does better)."""
    row: dict[str, object] = {"table": "this checkout / baseline"}
    for key in ("seconds", "peak RSS MiB", "output MB"):
        a, b = new.get(key), old.get(key)
        if isinstance(a, int | float) and isinstance(b, int | float) and b:
            row[key] = a / b
    for key, value in opened.items():
        before = was.get(key)
        if isinstance(value, int | float) and isinstance(before, int | float) and before:
            row[key] = value / before
    return row


def main(argv: Sequence[str] | None = None) -> int:
    from bench.report import format_tables

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="500 hosts instead of 10,000")
    ap.add_argument("--baseline", type=Path, help="another checkout to compare with")
    ap.add_argument("--repeat", type=int, default=1, help="browser rounds (best is shown)")
    a = ap.parse_args(argv)
    print(format_tables(run(a.quick, a.baseline, a.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
