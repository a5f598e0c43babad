#!/usr/bin/env python3
"""Pass-through benchmark: nmapx doing nothing, next to the fastest and the usual reader.

Why this benchmark: before nmapx runs a single probe it must read a scan and write it back
unchanged. That floor decides whether nmapx can sit in a pipeline after ``nmap -oX -`` on
a large network. It is measured against

* **lxml iterparse** (``tag="host"``, clear each element, delete earlier siblings): the
  fastest plausible streaming reader in Python -- it writes nothing, so it bounds from
  above what any lxml-based pass-through can reach;
* **python-libnmap** ``NmapParser.parse_fromfile``: what most Python users run today; it
  reads the whole file into one string and builds a full DOM;
* **nmapx** ``python -m nmapx run INPUT -oX OUTPUT`` with nothing to run, whose output must
  be byte-identical to its input (checked with ``cmp``).

All candidates run in the same invocation, on the same generated file (page cache warmed
first), each in its own process so that peak RSS is per candidate: the harness spawns the
child and reaps it with ``os.wait4``, whose rusage belongs to that child alone
(``RUSAGE_CHILDREN`` deltas would only report the largest child so far). Sizes at or
above ``--pipe-threshold`` (default 1,000,000 hosts) are never written to disk: the
generator streams into the candidate through a pipe, and libnmap is skipped because it
needs the whole document in memory (and a file). No thresholds and no assertions: the
output is numbers and ratios measured side by side.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GENERATOR = HERE / "gen_nmap_xml.py"
LAUNCHER = HERE / "spawn_measured.py"
DEFAULT_SIZES = (10_000, 100_000)
QUICK_SIZES = (2_000,)
PIPE_THRESHOLD = 1_000_000
# Measured on the generator's output (README); used only for disk and memory estimates
# made before a file exists.
BYTES_PER_HOST_EST = 7_000
# python-libnmap's peak RSS is about 7.3x the file size (str + ElementTree + objects).
LIBNMAP_RSS_FACTOR = 8

TABLE = "pass-through: read Nmap XML (and, for nmapx, write it back)"
RATIO_TABLE = "pass-through ratios (same input, same run)"

LXML_CODE = r"""
import sys
from lxml import etree
src = sys.stdin.buffer if sys.argv[1] == "-" else sys.argv[1]
n = 0
for _, el in etree.iterparse(src, events=("end",), tag="host"):
    n += 1
    el.clear()
    while el.getprevious() is not None:
        del el.getparent()[0]
print(n)
"""
LIBNMAP_CODE = r"""
import sys
from libnmap.parser import NmapParser
print(len(NmapParser.parse_fromfile(sys.argv[1]).hosts))
"""

C_GEN = "generator (producer)"
C_LXML = "lxml iterparse (baseline)"
C_LIBNMAP = "python-libnmap parse_fromfile"
C_NMAPX = "nmapx run (pass-through)"


@dataclass
class Run:
    """One reaped child: wall clock, CPU and peak RSS from its own rusage."""

    wall: float
    cpu: float
    maxrss_mib: float
    returncode: int
    stdout: str = ""
    stderr_tail: str = ""
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def why(self) -> str:
        """The last stderr line, which for a Python child is the exception message."""
        if self.timed_out:
            return "timed out"
        lines = [x.strip() for x in self.stderr_tail.splitlines() if x.strip()]
        return (lines[-1] if lines else f"exit status {self.returncode}")[:160]


@dataclass
class Options:
    """Knobs shared by ``run()`` and the command line."""

    sizes: Sequence[int] = DEFAULT_SIZES
    seed: int = 1
    repeat: int = 1
    workdir: Path = HERE / "out"
    keep: bool = False
    pipe_threshold: int = PIPE_THRESHOLD
    timeout: float = 3 * 3600
    nmapx_cmd: list[str] = field(default_factory=lambda: [sys.executable, "-m", "nmapx"])
    log: IO[str] = sys.stderr


def _env() -> dict[str, str]:
    """Children import nmapx from this checkout, whatever the caller's cwd."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def measure(
    argv: Sequence[str],
    *,
    stdin: Any = subprocess.DEVNULL,
    stdout: Any = None,
    timeout: float = 0,
    before_wait: Any = None,
) -> Run:
    """Run ``argv`` under ``spawn_measured.py`` and return the child's own rusage.

    The launcher, not this harness, spawns and reaps the candidate: a child spawned from
    here would inherit this process's peak RSS as its own floor (see spawn_measured.py).
    ``stdout=None`` captures a small stdout (a host count) through a temporary file;
    ``before_wait`` runs right after the spawn (e.g. to close the parent's pipe end)."""
    fd, name = tempfile.mkstemp(suffix=".json", prefix="rusage-")
    os.close(fd)
    result = Path(name)
    try:
        with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(
                [sys.executable, str(LAUNCHER), str(result), str(timeout or 0), "--", *argv],
                stdin=stdin,
                stdout=out if stdout is None else stdout,
                stderr=err,
                cwd=REPO,
                env=_env(),
            )
            if before_wait is not None:
                before_wait(proc)
            proc.wait()
            err.seek(0)
            out.seek(0)
            stdout_text = out.read(4096).decode(errors="replace").strip()
            stderr_tail = err.read()[-4000:].decode(errors="replace")
        try:
            r = json.loads(result.read_text())
        except (OSError, ValueError):
            return Run(
                0.0, 0.0, 0.0, proc.returncode or 1, stdout_text, stderr_tail or "launcher failed"
            )
        return Run(
            wall=r["wall"],
            cpu=r["cpu"],
            maxrss_mib=r["maxrss_mib"],
            returncode=r["returncode"],
            stdout=stdout_text,
            stderr_tail=stderr_tail,
            timed_out=r["timed_out"],
        )
    finally:
        result.unlink(missing_ok=True)


def _gen_argv(hosts: int, seed: int, output: str, stats: Path) -> list[str]:
    return [
        sys.executable,
        str(GENERATOR),
        "--hosts",
        str(hosts),
        "--seed",
        str(seed),
        "-o",
        output,
        "--stats",
        str(stats),
    ]


def _mem_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cmp(a: Path, b: Path) -> str:
    """``cmp``'s verdict (the tool when installed, the same check in Python if not)."""
    if shutil.which("cmp"):
        r = subprocess.run(["cmp", str(a), str(b)], capture_output=True, text=True)
        if r.returncode == 0:
            return "identical (cmp)"
        return "DIFFERS: " + (r.stdout or r.stderr).strip().replace(str(a), "input").replace(
            str(b), "output"
        )
    with open(a, "rb") as fa, open(b, "rb") as fb:
        offset = 0
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                n = next(
                    (i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q),
                    min(len(x), len(y)),
                )
                return f"DIFFERS at byte {offset + n + 1}"
            if not x:
                return "identical (byte compare)"
            offset += len(x)


@dataclass
class NmapxProbe:
    """Whether nmapx can run at all, and whether ``-oX -`` writes to stdout."""

    available: bool
    reason: str = ""
    stdout_ok: bool = False


def probe_nmapx(opts: Options) -> NmapxProbe:
    """Run nmapx on a tiny document first: while nmapx is being written, the benchmark
    should say "unavailable (why)" in a second instead of failing after minutes of
    generating input."""
    opts.workdir.mkdir(parents=True, exist_ok=True)
    small = opts.workdir / "nmapx-probe.xml"
    out = opts.workdir / "nmapx-probe.out.xml"
    stats = opts.workdir / "nmapx-probe.json"
    subprocess.run(_gen_argv(50, opts.seed, str(small), stats), check=True, cwd=REPO)
    try:
        r = subprocess.run(
            [*opts.nmapx_cmd, "run", str(small), "-oX", str(out)],
            capture_output=True,
            timeout=300,
            cwd=REPO,
            env=_env(),
        )
        if r.returncode != 0 or not out.exists():
            lines = [x for x in r.stderr.decode(errors="replace").splitlines() if x.strip()]
            why = lines[-1].strip() if lines else f"exit status {r.returncode}, no output"
            return NmapxProbe(False, why[:160])
        with open(small, "rb") as fh:
            r2 = subprocess.run(
                [*opts.nmapx_cmd, "run", "-", "-oX", "-"],
                stdin=fh,
                capture_output=True,
                timeout=300,
                cwd=REPO,
                env=_env(),
            )
        return NmapxProbe(True, stdout_ok=r2.returncode == 0 and len(r2.stdout) > 0)
    except (OSError, subprocess.TimeoutExpired) as e:
        return NmapxProbe(False, str(e)[:160])
    finally:
        for p in (small, out, stats):
            p.unlink(missing_ok=True)


def _row(
    candidate: str, hosts: int, nbytes: int | None, run: Run | None, note: str = ""
) -> dict[str, object]:
    """A measurement row. A run that finished with an error still shows its figures (its
    note says why it failed); only successful runs feed the ratio table."""
    done = run is not None and not run.timed_out and run.wall > 0
    secs = run.wall if done and run else None
    return {
        "table": TABLE,
        "candidate": candidate,
        "hosts": hosts,
        "MB": nbytes / 1e6 if nbytes else None,
        "seconds": secs,
        "MB/s": nbytes / 1e6 / secs if secs and nbytes else None,
        "hosts/s": hosts / secs if secs else None,
        "peak RSS MiB": run.maxrss_mib if done and run else None,
        "CPU s": run.cpu if done and run else None,
        "note": note,
    }


def _best(runs: list[Run]) -> Run:
    """Fastest successful run (timeit's convention: the minimum is the least disturbed
    estimate), with the highest peak RSS seen across repeats."""
    good = [r for r in runs if r.ok]
    if not good:
        return runs[-1]
    best = min(good, key=lambda r: r.wall)
    best.maxrss_mib = max(r.maxrss_mib for r in good)
    return best


def _count_note(run: Run, hosts: int) -> str:
    if not run.ok:
        return f"failed: {run.why()}"
    return "" if run.stdout == str(hosts) else f"counted {run.stdout!r} hosts"


def _ratios(
    hosts: int, runs: dict[str, Run], identity: str, basis: str = "wall"
) -> dict[str, object]:
    """Side-by-side ratios from the successful runs only (``-`` where one is missing).
    ``basis="cpu"`` for pipes, where every reader's wall clock is the producer's."""

    def ratio(a: str, b: str, attr: str) -> float | None:
        ra, rb = runs.get(a), runs.get(b)
        if ra is None or rb is None or not (ra.ok and rb.ok):
            return None
        x, y = getattr(ra, attr), getattr(rb, attr)
        return x / y if y else None

    return {
        "table": RATIO_TABLE,
        "hosts": hosts,
        "time basis": "CPU s (pipe)" if basis == "cpu" else "wall s",
        # Same bytes in, so the throughput ratio is the inverse time ratio.
        "nmapx/lxml throughput": ratio(C_LXML, C_NMAPX, basis),
        "libnmap/nmapx time": ratio(C_LIBNMAP, C_NMAPX, basis),
        "libnmap/nmapx RSS": ratio(C_LIBNMAP, C_NMAPX, "maxrss_mib"),
        "nmapx output = input": identity,
    }


def _generator_sha() -> str:
    return hashlib.sha256(GENERATOR.read_bytes()).hexdigest()


def _repeat(argv: list[str], opts: Options, before: Any = None) -> Run:
    runs = []
    for _ in range(opts.repeat):
        if before is not None:
            before()
        runs.append(measure(argv, timeout=opts.timeout))
    return _best(runs)


def bench_file(hosts: int, opts: Options, nmapx: NmapxProbe) -> list[dict[str, object]]:
    """Generate one file (or reuse a ``--keep`` one), then time every candidate on it."""
    log = opts.log
    path = opts.workdir / f"nmap-{hosts}h-seed{opts.seed}.xml"
    stats_path = path.with_suffix(".json")
    out_path = path.with_suffix(".nmapx.xml")
    rows: list[dict[str, object]] = []
    runs: dict[str, Run] = {}
    info: dict[str, Any] = {}
    if opts.keep and path.exists() and stats_path.exists():
        info = json.loads(stats_path.read_text())
        if (
            info.get("generator_sha256") != _generator_sha()
            or info.get("bytes") != path.stat().st_size
        ):
            info = {}
    if info:
        nbytes = int(info["bytes"])
        rows.append(_row(C_GEN, hosts, nbytes, None, f"reused {path.name} (--keep)"))
    else:
        print(f"[passthrough] {hosts:,} hosts: generating {path.name}", file=log, flush=True)
        gen = measure(_gen_argv(hosts, opts.seed, str(path), stats_path), timeout=opts.timeout)
        if not gen.ok:
            rows.append(_row(C_GEN, hosts, None, gen, f"failed: {gen.why()}"))
            return rows
        info = json.loads(stats_path.read_text())
        info["generator_sha256"] = _generator_sha()
        stats_path.write_text(json.dumps(info))
        nbytes = int(info["bytes"])
        rows.append(_row(C_GEN, hosts, nbytes, gen, "writes the file (not a reader)"))
    try:
        with open(path, "rb") as fh:  # warm the page cache: nobody pays for the first read
            while fh.read(1 << 22):
                pass

        print(f"[passthrough] {hosts:,} hosts: lxml", file=log, flush=True)
        run = runs[C_LXML] = _repeat([sys.executable, "-c", LXML_CODE, str(path)], opts)
        rows.append(_row(C_LXML, hosts, nbytes, run, _count_note(run, hosts)))

        avail = _mem_available()
        need = nbytes * LIBNMAP_RSS_FACTOR
        if avail is not None and need > 0.8 * avail:
            rows.append(
                _row(
                    C_LIBNMAP,
                    hosts,
                    nbytes,
                    None,
                    f"skipped: whole-file DOM needs ~{need / 2**30:.1f} GiB, "
                    f"{avail / 2**30:.1f} GiB available",
                )
            )
        else:
            print(f"[passthrough] {hosts:,} hosts: libnmap", file=log, flush=True)
            run = runs[C_LIBNMAP] = _repeat([sys.executable, "-c", LIBNMAP_CODE, str(path)], opts)
            rows.append(_row(C_LIBNMAP, hosts, nbytes, run, _count_note(run, hosts)))

        identity = "-"
        if not nmapx.available:
            rows.append(_row(C_NMAPX, hosts, nbytes, None, f"nmapx: unavailable ({nmapx.reason})"))
        else:
            print(f"[passthrough] {hosts:,} hosts: nmapx", file=log, flush=True)
            run = runs[C_NMAPX] = _repeat(
                [*opts.nmapx_cmd, "run", str(path), "-oX", str(out_path)],
                opts,
                before=lambda: out_path.unlink(missing_ok=True),
            )
            identity = _cmp(path, out_path) if out_path.exists() else "no output"
            note = "" if run.ok else f"failed (exit {run.returncode}): {run.why()}"
            if run.ok and not identity.startswith("identical"):
                note = "output differs from input"
            rows.append(_row(C_NMAPX, hosts, nbytes, run, note))
        rows.append(_ratios(hosts, runs, identity))
        return rows
    finally:
        out_path.unlink(missing_ok=True)
        if not opts.keep:
            path.unlink(missing_ok=True)
            stats_path.unlink(missing_ok=True)


def _pipeline(
    hosts: int, opts: Options, consumer: list[str] | None, hash_stdout: bool = False
) -> tuple[Run, dict[str, Any], str | None]:
    """``generator | consumer`` (or the generator alone into /dev/null); returns the
    consumer's own rusage, the generator's stats (size, sha256 of what it wrote) and the
    sha256 of the consumer's stdout when asked for. The consumer's wall clock includes
    waiting for the producer; its CPU seconds do not."""
    with tempfile.TemporaryDirectory(dir=opts.workdir) as tmp:
        stats = Path(tmp) / "gen.json"
        argv = _gen_argv(hosts, opts.seed, "-", stats)
        if consumer is None:
            run = measure(argv, stdout=subprocess.DEVNULL, timeout=opts.timeout)
            info = json.loads(stats.read_text()) if stats.exists() else {}
            return run, info, None
        gen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO)
        digest = hashlib.sha256()
        reader: threading.Thread | None = None

        def _drain(stream: IO[bytes]) -> None:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)

        def _after_spawn(proc: subprocess.Popen[bytes]) -> None:
            nonlocal reader
            assert gen.stdout is not None
            gen.stdout.close()  # the consumer holds the only read end now
            if hash_stdout and proc.stdout is not None:
                reader = threading.Thread(target=_drain, args=(proc.stdout,), daemon=True)
                reader.start()

        run = measure(
            consumer,
            stdin=gen.stdout,
            stdout=subprocess.PIPE if hash_stdout else None,
            timeout=opts.timeout,
            before_wait=_after_spawn,
        )
        if reader is not None:
            reader.join()
        try:
            gen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            gen.kill()
            gen.wait()
        info = json.loads(stats.read_text()) if stats.exists() else {}
        return run, info, digest.hexdigest() if hash_stdout else None


def bench_pipe(hosts: int, opts: Options, nmapx: NmapxProbe) -> list[dict[str, object]]:
    """Large sizes: no file at all; every reader consumes the generator through a pipe,
    so the generator's own rate is measured first (it caps the readers' wall clock --
    compare their CPU seconds when it does)."""
    log = opts.log
    opts.workdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    print(f"[passthrough] {hosts:,} hosts (pipe): generator alone", file=log, flush=True)
    gen, info, _ = _pipeline(hosts, opts, None)
    nbytes = int(info.get("bytes", 0)) or None
    rows.append(
        _row(
            C_GEN,
            hosts,
            nbytes,
            gen,
            "-> /dev/null; caps the readers below" if gen.ok else f"failed: {gen.why()}",
        )
    )
    if not gen.ok:
        return rows
    runs: dict[str, Run] = {}
    print(f"[passthrough] {hosts:,} hosts (pipe): lxml", file=log, flush=True)
    run, _, _ = _pipeline(hosts, opts, [sys.executable, "-c", LXML_CODE, "-"])
    runs[C_LXML] = run
    rows.append(
        _row(
            C_LXML,
            hosts,
            nbytes,
            run,
            "; ".join(filter(None, ("from a pipe", _count_note(run, hosts)))),
        )
    )
    est = (nbytes or hosts * BYTES_PER_HOST_EST) * LIBNMAP_RSS_FACTOR
    rows.append(
        _row(
            C_LIBNMAP,
            hosts,
            nbytes,
            None,
            "skipped: parse_fromfile needs a file and the whole document in memory "
            f"(str + DOM, ~{est / 2**30:.1f} GiB here)",
        )
    )
    identity = "-"
    if not nmapx.available:
        rows.append(_row(C_NMAPX, hosts, nbytes, None, f"nmapx: unavailable ({nmapx.reason})"))
    else:
        print(f"[passthrough] {hosts:,} hosts (pipe): nmapx", file=log, flush=True)
        if nmapx.stdout_ok:
            # Output to stdout, hashed on the fly: identity is checked without any disk.
            run, fed, out_digest = _pipeline(
                hosts, opts, [*opts.nmapx_cmd, "run", "-", "-oX", "-"], hash_stdout=True
            )
            identity = (
                "identical (sha256)" if out_digest == fed.get("sha256") else "DIFFERS (sha256)"
            )
        else:
            run, _, _ = _pipeline(hosts, opts, [*opts.nmapx_cmd, "run", "-", "-oX", "/dev/null"])
            identity = "not checked (-oX - unsupported)"
        runs[C_NMAPX] = run
        rows.append(
            _row(
                C_NMAPX,
                hosts,
                nbytes,
                run,
                "from a pipe" if run.ok else f"failed (exit {run.returncode}): {run.why()}",
            )
        )
    rows.append(_ratios(hosts, runs, identity, basis="cpu"))
    return rows


def run(
    quick: bool = False, sizes: Sequence[int] | None = None, options: Options | None = None
) -> list[dict[str, object]]:
    """Benchmark entry point used by ``bench/run_all.py``: ``quick`` means one small size
    (2,000 hosts) suitable for CI."""
    opts = options or Options()
    if sizes is not None:
        opts.sizes = sizes
    elif quick:
        opts.sizes = QUICK_SIZES
    opts.workdir.mkdir(parents=True, exist_ok=True)
    nmapx = probe_nmapx(opts)
    if not nmapx.available:
        print(f"[passthrough] nmapx: unavailable ({nmapx.reason})", file=opts.log, flush=True)
    rows: list[dict[str, object]] = []
    for hosts in opts.sizes:
        pipe = hosts >= opts.pipe_threshold
        if not pipe:
            free = shutil.disk_usage(opts.workdir).free
            if free < 2.2 * hosts * BYTES_PER_HOST_EST:
                print(
                    f"[passthrough] {hosts:,} hosts: not enough disk for input + output, "
                    "using a pipe",
                    file=opts.log,
                    flush=True,
                )
                pipe = True
        rows.extend(bench_pipe(hosts, opts, nmapx) if pipe else bench_file(hosts, opts, nmapx))
    return rows


def _sizes(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    if __package__ in (None, ""):
        sys.path.insert(0, str(REPO))
    from bench.report import format_tables

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help="comma-separated host counts (default 10000,100000)",
    )
    ap.add_argument("--quick", action="store_true", help="2,000 hosts only (CI)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per file-mode candidate; the fastest is reported",
    )
    ap.add_argument("--workdir", type=Path, default=HERE / "out")
    ap.add_argument("--keep", action="store_true", help="keep generated input files")
    ap.add_argument(
        "--pipe-threshold",
        type=int,
        default=PIPE_THRESHOLD,
        help="sizes >= this stream through a pipe, never touching disk",
    )
    ap.add_argument(
        "--timeout", type=float, default=3 * 3600, help="seconds before a candidate is killed"
    )
    ap.add_argument(
        "--nmapx-cmd", default=None, help="how to invoke nmapx (default: '<python> -m nmapx')"
    )
    ap.add_argument("--json", type=Path, help="also write the raw rows here")
    a = ap.parse_args(argv)
    opts = Options(
        seed=a.seed,
        repeat=max(1, a.repeat),
        workdir=a.workdir,
        keep=a.keep,
        pipe_threshold=a.pipe_threshold,
        timeout=a.timeout,
    )
    if a.nmapx_cmd:
        opts.nmapx_cmd = shlex.split(a.nmapx_cmd)
    rows = run(quick=a.quick, sizes=a.sizes, options=opts)
    print(format_tables(rows))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
