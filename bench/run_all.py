#!/usr/bin/env python3
"""Run every nmapx benchmark and print its tables.

Why a registry and one tiny contract: benchmarks are added by different people over time
(pass-through today; probe engine vs Nmap NSE and the HTML report later). Each is a module
with ``run(quick: bool) -> list[Row]`` (rows as documented in ``bench/report.py``), so this
runner never needs to know what a benchmark measures, and ``--quick`` gives CI one cheap
pass over all of them. Benchmarks print ratios measured side by side; nothing here asserts
a speed.

To add a benchmark: create ``bench/<name>.py`` with ``run(quick: bool) -> list[Row]`` and
append ``"bench.<name>"`` to ``BENCHMARKS``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run_all.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCHMARKS: tuple[str, ...] = (
    "bench.passthrough",
    "bench.probes",
    "bench.scripts",
    "bench.html_report",
    "bench.markup",
    "bench.cluster",
)


def main(argv: Sequence[str] | None = None) -> int:
    from bench.report import format_tables

    ap = argparse.ArgumentParser(description="Run all nmapx benchmarks.")
    ap.add_argument("--quick", action="store_true", help="small sizes only (CI)")
    ap.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this benchmark (module name without 'bench.'); repeatable",
    )
    ap.add_argument("--json", type=Path, help="also write all raw rows to this file")
    a = ap.parse_args(argv)

    selected = [m for m in BENCHMARKS if not a.only or m.removeprefix("bench.") in a.only]
    if a.only and len(selected) != len(set(a.only)):
        known = ", ".join(m.removeprefix("bench.") for m in BENCHMARKS)
        ap.error(f"unknown benchmark in --only (known: {known})")
    all_rows: dict[str, list[dict[str, object]]] = {}
    for name in selected:
        module = importlib.import_module(name)
        t0 = time.perf_counter()
        print(f"== {name} ({'quick' if a.quick else 'full'})", file=sys.stderr, flush=True)
        rows = module.run(quick=a.quick)
        print(f"== {name} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        all_rows[name] = rows
        print(format_tables(rows, default_title=name.removeprefix("bench.")))
        print()
    if a.json:
        a.json.write_text(json.dumps(all_rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
