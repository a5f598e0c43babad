#!/usr/bin/env python3
"""Cluster benchmark: ``nmapx run --workers N`` next to one process, same input, same run.

Why: ``--workers`` exists to use more than one core (and, with ``--scheduler``, more than one
machine). Two questions, each answered side by side in one run on this machine:

(a) **CPU-bound**: an offline script (pure Python arithmetic over each up host, ~5 ms a
    host with the default rounds; ``bench/cluster.py`` writes it) over a generated 3,000-host
    ``-sV`` scan (``gen_nmap_xml.py``, seed 1: 1,935 hosts up). One process, then
    ``--workers 1, 2, 4`` (the scaling curve), each ``-oX`` compared byte for byte with the
    one-process output. ``--repeat`` keeps the best wall time of each.
(c) **Reports**: ``nmapx report`` of a generated 10,000-host ``-sV`` scan (seed 2) to HTML and
    to JSON Lines, one process and ``--workers 1, 2, 4``; each output is compared with the
    one-process output (HTML with its random CSP nonce blanked, the date fixed).
(b) **Probes**: ``bench/probes.py``'s testbed (a private network namespace, identd, daytime
    and banner services on every 127.0.x.y; auth-owners, daytime, banner) on 1,000 hosts:
    Nmap NSE with its defaults and tuned for speed, nmapx in one process and with
    ``--workers 2``, every nmapx output compared with Nmap's results (0 lost is the goal).

The machine's load average is printed before and after: other work on the machine (the
benchmark cannot stop it) shows in the ratios, and the curve is only meaningful with it.

    python bench/cluster.py                 # (a) and (b); (b) takes ~12 min (Nmap's defaults)
    python bench/cluster.py --no-probes     # (a) only
    python bench/cluster.py --quick         # 300 hosts, 1 process vs --workers 2 (CI, seconds)
    python -m bench --quick --only cluster
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if __package__ in (None, ""):  # `python bench/cluster.py`: make `bench` importable
    sys.path.insert(0, str(REPO))

CPU_TABLE = "cluster: CPU-bound offline script, one process vs --workers N (seconds)"
REPORT_TABLE = "cluster: nmapx report, one process vs --workers N (seconds)"
REPORT_HOSTS = 10_000
QUICK_REPORT_HOSTS = 1_000
PROBE_TABLE = "cluster: probes on loopback hosts, --workers 2 vs one process vs Nmap NSE"
FULL_HOSTS = 3000
QUICK_HOSTS = 300
FULL_WORKERS = (1, 2, 4)
QUICK_WORKERS = (2,)
#: Rounds of the script's loop per host: ~5 ms of pure Python on this machine's cores.
ROUNDS = 50_000
QUICK_ROUNDS = 20_000
PROBE_HOSTS = 1000

CPU_SCRIPT = '''
    """CPU-bound offline analysis of each host (benchmark script): pure Python, no I/O."""
    from nmapx.nse import stdnse

    categories = ["safe"]


    def hostrule(host):
        return True


    def action(host):
        rounds = int(stdnse.get_script_args("cpuwork.rounds") or 50000)
        seed = host.ip.encode()
        digest = 0
        for i in range(rounds):
            digest = (digest * 1000003 ^ seed[i % len(seed)] ^ i) & 0xFFFFFFFFFFFF
        return f"digest {digest:012x}"
'''


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def generated(base: Path, hosts: int, seed: int) -> Path:
    """A generated ``-sV`` scan of ``hosts`` hosts (``gen_nmap_xml.py``) in ``base``."""
    from bench.passthrough import GENERATOR

    scan = base / "scan.xml"
    argv = [sys.executable, str(GENERATOR), "--hosts", str(hosts), "--seed", str(seed)]
    subprocess.run([*argv, "-o", str(scan)], check=True, timeout=600)
    return scan


def cpu_rows(quick: bool, repeat: int, workers: Sequence[int]) -> list[dict[str, object]]:
    """(a): one process, then each worker count, on the same generated scan."""
    from bench.passthrough import measure

    hosts = QUICK_HOSTS if quick else FULL_HOSTS
    rounds = QUICK_ROUNDS if quick else ROUNDS
    workdir = HERE / "out"
    workdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(dir=workdir, prefix="cluster-") as tmp:
        base = Path(tmp)
        scan = generated(base, hosts, seed=1)
        script = base / "cpuwork.py"
        script.write_text(textwrap.dedent(CPU_SCRIPT))
        argv = [sys.executable, "-m", "nmapx", "run", str(scan), "--script", str(script),
                "--script-args", f"cpuwork.rounds={rounds}"]  # fmt: skip
        settings: list[tuple[str, list[str]]] = [("one process", [])]
        settings += [(f"--workers {n}", ["--workers", str(n)]) for n in workers]
        reference = base / "one.xml"
        single: float | None = None
        for label, extra in settings:
            out = reference if not extra else base / f"out-{extra[-1]}.xml"
            before = load()
            best = None
            for _ in range(repeat):
                r = measure([*argv, *extra, "-oX", str(out)], timeout=1800)
                if r.ok and (best is None or r.wall < best.wall):
                    best = r
                last = r
            after = load()
            wall = best.wall if best is not None else None
            if not extra:
                single = wall
            same = out.read_bytes() == reference.read_bytes() if out.exists() else False
            print(f"[cluster] {label}: {wall} s (load {before} -> {after})", file=sys.stderr)
            rows.append(
                {
                    "table": CPU_TABLE,
                    "hosts": hosts,
                    "setting": label,
                    "wall s": wall,
                    "CPU s": best.cpu if best is not None else None,
                    "one process / this": single / wall if single and wall else None,
                    "output identical": same,
                    "load before": before,
                    "load after": after,
                    "note": "" if best is not None else last.why(),
                }
            )
    return rows


def report_rows(quick: bool, repeat: int, workers: Sequence[int]) -> list[dict[str, object]]:
    """(c): ``nmapx report`` one process, then each worker count, on one generated scan."""
    import re

    hosts = QUICK_REPORT_HOSTS if quick else REPORT_HOSTS
    nonce = re.compile(rb'nonce="[^"]*"|nonce-[A-Za-z0-9_-]+')
    workdir = HERE / "out"
    workdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    saved = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = "1796000000"  # the page's date: the same in every run
    try:
        rows = _report_rows(hosts, nonce, workdir, repeat, workers)
    finally:
        if saved is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = saved
    return rows


def _report_rows(
    hosts: int, nonce: Any, workdir: Path, repeat: int, workers: Sequence[int]
) -> list[dict[str, object]]:
    from bench.passthrough import measure

    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(dir=workdir, prefix="cluster-report-") as tmp:
        base = Path(tmp)
        scan = generated(base, hosts, seed=2)
        for fmt in ("html", "jsonl"):
            settings: list[tuple[str, list[str]]] = [("one process", [])]
            settings += [(f"--workers {n}", ["--workers", str(n)]) for n in workers]
            reference = base / f"one.{fmt}"
            single: float | None = None
            for label, extra in settings:
                out = reference if not extra else base / f"out-{extra[-1]}.{fmt}"
                argv = [sys.executable, "-m", "nmapx", "report", str(scan), "--format", fmt,
                        "-o", str(out), *extra]  # fmt: skip
                best = last = None
                for _ in range(repeat):
                    last = measure(argv, timeout=1800)
                    if last.ok and (best is None or last.wall < best.wall):
                        best = last
                wall = best.wall if best is not None else None
                if not extra:
                    single = wall
                same = out.exists() and nonce.sub(b"", out.read_bytes()) == nonce.sub(
                    b"", reference.read_bytes()
                )
                print(f"[cluster] report {fmt} {label}: {wall} s", file=sys.stderr)
                rows.append(
                    {
                        "table": REPORT_TABLE,
                        "hosts": hosts,
                        "format": fmt,
                        "setting": label,
                        "wall s": wall,
                        "CPU s": best.cpu if best is not None else None,
                        "peak RSS MiB": best.maxrss_mib if best is not None else None,
                        "one process / this": single / wall if single and wall else None,
                        "output identical": same,
                        "note": "" if best is not None or last is None else last.why(),
                    }
                )
    return rows


def probe_rows(hosts: int) -> list[dict[str, object]]:
    """(b): bench/probes.py with two nmapx settings against the same Nmap baselines."""
    from bench import probes

    plan = probes.Plan(
        settings=[("one process", []), ("--workers 2", ["--workers", "2"])],
        tuned=True,
        pipeline=False,
    )
    before = load()
    measured = probes.run(sizes=(hosts,), plan=plan)
    after = load()
    rows: list[dict[str, object]] = []
    main = next((r for r in measured if r.get("table") == probes.TABLE), {})
    nse = main.get("Nmap NSE phase")
    tuned = main.get("Nmap tuned NSE")
    for row in measured:
        if row.get("table") != probes.KEPT_TABLE:
            continue
        wall = row.get("wall s")
        ratio = {}
        for name, base in (("Nmap defaults / this", nse), ("Nmap tuned / this", tuned)):
            ok = isinstance(base, float) and isinstance(wall, float) and wall
            ratio[name] = base / wall if ok else None  # type: ignore[operator]
        rows.append(
            {
                "table": PROBE_TABLE,
                "hosts": hosts,
                "setting": row.get("setting"),
                "wall s": wall,
                **ratio,
                "kept": row.get("kept"),
                "of Nmap's": row.get("of Nmap's"),
                "lost": row.get("lost"),
                "CPU s": row.get("nmapx CPU s"),
                "load before/after": f"{before} / {after}",
            }
        )
    if not rows:
        rows.append({"table": PROBE_TABLE, "hosts": hosts, "note": str(main.get("note"))})
    return [*rows, *measured]


def run(
    quick: bool = False,
    repeat: int = 1,
    workers: Sequence[int] | None = None,
    probes: bool = True,
    probe_hosts: int = PROBE_HOSTS,
) -> list[dict[str, object]]:
    """Entry point for ``bench/run_all.py``: (a), and (b) unless ``quick``."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        note = "skipped: Dask distributed is not installed (pip install '.[cluster]')"
        return [{"table": CPU_TABLE, "note": note}]
    chosen = tuple(workers or (QUICK_WORKERS if quick else FULL_WORKERS))
    rows = cpu_rows(quick, repeat, chosen)
    rows += report_rows(quick, repeat, chosen)
    if probes and not quick:
        rows += probe_rows(probe_hosts)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    from bench.report import format_tables

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="300 hosts, --workers 2 only (CI)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per setting (best kept)")
    ap.add_argument(
        "--workers",
        type=lambda t: [int(x) for x in t.split(",")],
        default=None,
        help="worker counts for the curve (default 1,2,4)",
    )
    ap.add_argument("--no-probes", action="store_true", help="skip the probe comparison (b)")
    ap.add_argument("--only-reports", action="store_true", help="(c) only")
    ap.add_argument("--probe-hosts", type=int, default=PROBE_HOSTS)
    ap.add_argument("--json", type=Path, help="also write the raw rows here")
    a = ap.parse_args(argv)
    if a.only_reports:
        rows = report_rows(a.quick, a.repeat, tuple(a.workers or FULL_WORKERS))
    else:
        rows = run(a.quick, a.repeat, a.workers, not a.no_probes, a.probe_hosts)
    print(format_tables(rows))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
