#!/usr/bin/env python3
"""Probe benchmark: real Nmap's NSE next to ``nmapx run`` on the same loopback services.

Why this benchmark: nmapx's claim is that it runs Nmap's scripts with NSE semantics and the
same output, so the question is what the script phase costs against Nmap's own NSE on the
same hosts, measured in the same run on the same machine, and how close both get to the
floor set by the scripts' own timeouts.

Network rule: everything happens on loopback inside a **private network namespace** this
module creates (``unshare -n``; the measuring child checks that ``lo`` is its only interface
and brings it up). Inside it, identd (Debian's ``oidentd`` when installed, else nmapx's
emulator), daytime (TCP and UDP) and two banner services (21: FTP-like, 2222: SSH) listen on
0.0.0.0, so every 127.0.x.y is a "host" with the same services. Targets are N hosts from
127.0.1.1 (254 per /24, .0 and .255 skipped). Every server and every child has a time limit.

Per N, in one run (``PORTS`` with ``-sT -sU -n -Pn``, scripts auth-owners,daytime,banner):

(a) ``nmap --script ... -v -oX nse.xml``: Nmap's defaults; total wall time and the NSE phase
    (sum of the ``Completed NSE at HH:MM, X.XXs elapsed`` lines of the script scan, pre- and
    post-scan excluded);
(b) the same tuned for speed: ``--max-parallelism 1000 --min-hostgroup N``;
(c) ``nmap`` without scripts ``-oX plain.xml``, then ``nmapx run plain.xml --script ...``
    (wall, CPU, peak RSS through ``spawn_measured.py``);
(d) ``nmap -oX - | nmapx run --script ... -oX out.xml`` end to end, next to (a) end to end;

the floor (the longest single wait any of the scripts makes on a silent port, computed from
comm's timeouts, plus measured loopback set-up), and a conformance check: the ``<script>``
elements per (host, protocol, port) of nse.xml and each candidate's XML, every element
counted (one present on one side only is a mismatch: results lost under load must show);
results kept, lost per script and port for nmapx and for Nmap are printed, not asserted.
``--nmapx-settings`` runs several nmapx settings against the same Nmap baseline (the curve
of results kept against time); ``--no-tuned`` and ``--no-pipeline`` skip (b) and (d).

    python bench/probes.py                  # N = 254 and 1,000 (Nmap alone takes ~30 min)
    python bench/probes.py --sizes 254
    python bench/probes.py --quick          # N = 8 (CI)
    python bench/probes.py --sizes 254 --no-tuned --no-pipeline \
        --nmapx-settings='default;default;--max-parallelism 100'
    python -m bench --quick --only probes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if __package__ in (None, ""):  # `python bench/probes.py`: make `bench` importable
    sys.path.insert(0, str(REPO))

SCRIPTS = "auth-owners,daytime,banner"
PORTS = "T:13,21,113,2222,U:13"
BASE = ["-n", "-Pn", "-sT", "-sU", "-p", PORTS]
#: Banner services: port -> bytes sent on connect (short: no truncation at any verbosity).
BANNERS = {
    21: b"220 (vsFTPd 3.0.3)\r\n",
    2222: b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
}
FULL_SIZES = (254, 1000)
QUICK_SIZES = (8,)
#: banner.nse's default ``banner.timeout`` (5 s), in ms as comm takes it.
BANNER_TIMEOUT_MS = 5000
#: The daytime service closes its side this long after sending the time. auth-owners asks
#: identd about the connection while it is open, so identd must answer within this window:
#: that is what makes the results of a loaded run depend on how hard identd is flooded.
DAYTIME_LINGER = 2.0

TABLE = "probes: Nmap NSE vs nmapx on the same loopback hosts (seconds)"
RATIO_TABLE = "probes: ratios and conformance (same run)"
KEPT_TABLE = "probes: results kept vs Nmap's defaults, per setting (same run, same baseline)"

COMPLETED_NSE = re.compile(rb"^Completed NSE at \d\d:\d\d, ([\d.]+)s elapsed", re.M)


# ---------------------------------------------------------------------------- outer process
def _install_nmap() -> None:
    """On a fresh Debian machine, fetch Nmap (and oidentd) the way .ci/run does."""
    if shutil.which("nmap") is not None or shutil.which("apt-get") is None:
        return
    print("[probes] nmap not found: installing it with apt-get", file=sys.stderr, flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, timeout=600)
    packages = ["nmap", "oidentd", "iproute2"]
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        env=env, check=False, timeout=900, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def why_skip() -> str | None:
    """Why this machine cannot run the benchmark (None: it can)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root to create a private network namespace (unshare -n)"
    _install_nmap()
    for tool in ("unshare", "ip", "nmap"):
        if shutil.which(tool) is None:
            return f"{tool} not found"
    return None


def run(
    quick: bool = False,
    sizes: Sequence[int] | None = None,
    keep: bool = False,
    plan: Plan | None = None,
) -> list[dict[str, object]]:
    """Entry point for ``bench/run_all.py``: runs the measurement as a child inside its own
    network namespace and returns that child's rows."""
    reason = why_skip()
    if reason:
        print(f"[probes] skipped: {reason}", file=sys.stderr, flush=True)
        return [{"table": TABLE, "N": None, "note": f"skipped: {reason}"}]
    sizes = tuple(sizes or (QUICK_SIZES if quick else FULL_SIZES))
    plan = plan or Plan()
    workdir = HERE / "out"
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="probes-") as tmp:
        result = Path(tmp) / "rows.json"
        keepdir = workdir / "probes"
        if keep:
            keepdir.mkdir(exist_ok=True)
        argv = [
            "unshare", "-n", sys.executable, str(Path(__file__).resolve()), "--inner",
            "--sizes", ",".join(map(str, sizes)), "--outdir", str(keepdir if keep else tmp),
            "--json", str(result), *(["--keep"] if keep else []),
            "--nmapx-settings=" + ";".join(" ".join(o) or "default" for _, o in plan.settings),
            *([] if plan.tuned else ["--no-tuned"]), *([] if plan.pipeline else ["--no-pipeline"]),
            *(["--reference", str(plan.reference.resolve())] if plan.reference else []),
        ]  # fmt: skip
        try:
            budget = _budget(sizes, len(plan.settings))
            done = subprocess.run(argv, cwd=REPO, timeout=budget + 120, check=False)
            status = done.returncode
        except subprocess.TimeoutExpired:
            status = -1
        if result.exists():
            rows: list[dict[str, object]] = json.loads(result.read_text())
            return rows
        why = "timed out" if status == -1 else f"exit status {status}"
        return [{"table": TABLE, "N": None, "note": f"failed: measuring child {why}"}]


def _nmap_timeout(n: int) -> float:
    """Per nmap run: generous (Nmap's default NSE takes ~1.5 s per host here)."""
    return 120 + 4.0 * n


def _budget(sizes: Sequence[int], settings: int = 1) -> float:
    return sum((4 + settings) * _nmap_timeout(n) + settings * DRAIN_LIMIT for n in sizes)


# ---------------------------------------------------------------------------- inside the netns
def _only_loopback() -> None:
    """Refuse to run anywhere but a fresh namespace whose only interface is lo."""
    # if_nameindex asks the kernel about this process's namespace (/sys/class/net would show
    # the namespace sysfs was mounted in).
    interfaces = sorted(name for _, name in socket.if_nameindex())
    if interfaces != ["lo"]:
        raise SystemExit(f"[probes] refusing: not a private network namespace ({interfaces})")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(target, 1 << 20), hard))


def _targets(n: int) -> list[str]:
    """127.0.1.1 ... (254 per /24)."""
    out = []
    third = 1
    while len(out) < n:
        out.extend(f"127.0.{third}.{d}" for d in range(1, 255))
        third += 1
    return out[:n]


def _start_identd(log: Any) -> tuple[subprocess.Popen[bytes] | None, str]:
    oidentd = shutil.which("oidentd", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if oidentd is None:
        return None, "nmapx IdentdEmulator"
    proc = subprocess.Popen(
        [oidentd, "-i", "-a", "0.0.0.0", "-p", "113", "-S", "-q", "-t", "30"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # wait until it listens
        try:
            with socket.create_connection(("127.0.0.1", 113), timeout=0.5):
                return proc, "oidentd"
        except OSError:
            time.sleep(0.05)
    print("[probes] oidentd did not start listening", file=log, flush=True)
    return proc, "oidentd"


def nse_phase(stdout: bytes) -> float | None:
    """Sum of the script scan's ``Completed NSE ... elapsed`` lines (pre/post-scan left out)."""
    total = 0.0
    found = False
    section = None
    for line in stdout.splitlines():
        if line.startswith(b"NSE: Script scanning"):
            section = "scan"
        elif line.startswith((b"NSE: Script Pre-scanning", b"NSE: Script Post-scanning")):
            section = "other"
        m = COMPLETED_NSE.match(line)
        if m and section == "scan":
            total += float(m[1])
            found = True
    return total if found else None


_HOST = re.compile(rb"<host\b.*?</host>", re.S)
_ADDR = re.compile(rb'<address addr="([^"]+)" addrtype="ipv[46]"')
_PORT = re.compile(rb'<port protocol="(\w+)" portid="(\d+)">(.*?)</port>', re.S)
_SCRIPT = re.compile(rb'<script id="([^"]+)".*?(?:/>|</script>)', re.S)


def port_scripts(path: Path) -> dict[tuple[str, str, int], dict[str, bytes]]:
    """``{(address, protocol, port): {script id: the <script> element's bytes}}``."""
    found: dict[tuple[str, str, int], dict[str, bytes]] = {}
    if not path.exists():
        return found
    for host in _HOST.finditer(path.read_bytes()):
        addr = _ADDR.search(host[0])
        if addr is None:
            continue
        for port in _PORT.finditer(host[0]):
            key = (addr[1].decode(), port[1].decode(), int(port[2]))
            found[key] = {m[1].decode(): m[0] for m in _SCRIPT.finditer(port[3])}
    return found


@dataclass
class Comparison:
    """How a candidate's port script results compare with a reference's (Nmap's defaults).

    Every ``<script>`` element counts: one present on one side only is a mismatch like a
    differing one (nothing is skipped as "racy": a result the candidate loses under load is
    exactly what this benchmark must show). Keys of the per-script dicts are
    ``"<script id> <port>/<protocol>"``, summed over hosts.
    """

    reference: int = 0  #: elements in the reference
    candidate: int = 0  #: elements in the candidate
    kept: int = 0  #: reference elements the candidate has, byte for byte
    lost: dict[str, int] = field(default_factory=dict)  #: reference only
    extra: dict[str, int] = field(default_factory=dict)  #: candidate only (reference lost)
    differ: dict[str, int] = field(default_factory=dict)  #: both, different bytes

    @property
    def mismatches(self) -> int:
        return sum(self.lost.values()) + sum(self.extra.values()) + sum(self.differ.values())

    @staticmethod
    def detail(counts: dict[str, int]) -> str:
        """``"auth-owners 13/tcp: 214, auth-owners 113/tcp: 16"`` (largest first), or ``0``."""
        if not counts:
            return "0"
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return ", ".join(f"{key}: {count}" for key, count in ordered)

    def per_script(self, counts: dict[str, int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for key, count in counts.items():
            sid = key.split(" ", 1)[0]
            out[sid] = out.get(sid, 0) + count
        return out


def compare(nse: Path, ours: Path) -> Comparison:
    """Compare the candidate ``ours`` with the reference ``nse``, element by element."""
    theirs, mine = port_scripts(nse), port_scripts(ours)
    result = Comparison()
    for key in set(theirs) | set(mine):
        a, b = theirs.get(key, {}), mine.get(key, {})
        where = f"{key[2]}/{key[1]}"
        result.reference += len(a)
        result.candidate += len(b)
        for sid in set(a) | set(b):
            label = f"{sid} {where}"
            if sid not in b:
                result.lost[label] = result.lost.get(label, 0) + 1
            elif sid not in a:
                result.extra[label] = result.extra.get(label, 0) + 1
            elif a[sid] != b[sid]:
                result.differ[label] = result.differ.get(label, 0) + 1
            else:
                result.kept += 1
    return result


def floor_seconds() -> tuple[float, str]:
    """The longest single wait of the three scripts on a silent port, plus loopback set-up.

    banner (the only one that waits on silence: identd answers every query, daytime answers
    and closes) calls comm.get_banner with timeout=5000: comm's get_timeouts gives connect =
    5 s and request = 5 s + connect = 10 s, so the plain read on the silent identd port waits
    10 s; tryssl then retries over SSL, whose handshake is bounded by the connect timeout (5
    s) -- how long it really waits depends on the service, so it is measured here against the
    silent port (identd, port 113) with that bound. Set-up: two loopback connects, measured.
    """
    from nmapx.nse import comm

    connect_ms, request_ms = comm.get_timeouts(None, timeout=BANNER_TIMEOUT_MS)
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.1.1", 113), timeout=5):
        pass
    setup = time.perf_counter() - t0
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t0 = time.perf_counter()
    try:
        with socket.create_connection(("127.0.1.1", 113), timeout=connect_ms / 1000) as raw:
            with ctx.wrap_socket(raw):
                pass
    except OSError:
        pass
    ssl_wait = min(time.perf_counter() - t0, connect_ms / 1000)
    total = request_ms / 1000 + ssl_wait + 2 * setup
    how = (
        f"banner on silent 113/tcp: plain read {request_ms / 1000:g} s (request {request_ms:g} ms"
        f" incl. connect {connect_ms:g} ms) + SSL retry {ssl_wait:.2f} s (bound {connect_ms:g}"
        f" ms) + set-up 2x{setup * 1000:.2f} ms"
    )
    return total, how


#: TCP states in /proc/net/tcp that are neither LISTEN (0A) nor ESTABLISHED (01).
_LINGERING = {"06", "07", "08", "09", "0B", "04", "05"}
#: Linux keeps TIME_WAIT for 60 s (not tunable per namespace).
DRAIN_LIMIT = 75.0
#: Fewer lingering entries than this cost oidentd nothing measurable (and the quick CI
#: configuration, N = 8, never waits).
SETTLED = 500


def settle(log: Any, label: str) -> float:
    """Wait until the previous candidate's closed connections have left the TCP table.

    Why: a thousand-host run leaves tens of thousands of TIME_WAIT entries for 60 s, and
    oidentd scans /proc/net/tcp on every query, so the candidate that runs next would pay
    for the previous one (measured: nmapx right after tuned Nmap took 37 s at N=1,000; the
    same run on a settled table 28 s). Every candidate starts from a settled table.
    """
    t0 = time.monotonic()
    while time.monotonic() - t0 < DRAIN_LIMIT:
        lingering = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    next(f, None)
                    lingering += sum(1 for line in f if line.split()[3] in _LINGERING)
            except OSError:
                continue
        if lingering < SETTLED:
            break
        time.sleep(1.0)
    waited = time.monotonic() - t0
    if waited >= 1.0:
        print(f"[probes] {label}: waited {waited:.0f} s for the TCP table to settle", file=log)
    return waited


@dataclass
class Plan:
    """What one benchmark run measures besides Nmap's defaults and the plain scan."""

    #: nmapx settings, each ``(label, extra options)``, all run on the same plain scan and
    #: compared with the same Nmap baseline (a label may repeat: repeated runs).
    settings: list[tuple[str, list[str]]] = field(default_factory=lambda: [("default", [])])
    #: Nmap tuned for speed (``--max-parallelism 1000 --min-hostgroup N``).
    tuned: bool = True
    #: ``nmap -oX - | nmapx run`` end to end (default settings).
    pipeline: bool = True
    #: An earlier run's Nmap-defaults output (``--keep``'s ``nse-N.xml``) to compare with
    #: instead of running Nmap's defaults again (~10 min at N = 1,000): for trying nmapx
    #: settings; the ratios to Nmap's defaults are then not measured (empty).
    reference: Path | None = None


def parse_settings(text: str) -> list[tuple[str, list[str]]]:
    """``"default;--max-parallelism 100"`` -> ``[("default", []), ("--max-parallelism 100",
    ["--max-parallelism", "100"])]``; a repeated setting gets ``#2``, ``#3`` ... labels."""
    out: list[tuple[str, list[str]]] = []
    seen: dict[str, int] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        options = [] if part == "default" else part.split()
        seen[part] = seen.get(part, 0) + 1
        label = part if seen[part] == 1 else f"{part} #{seen[part]}"
        out.append((label, options))
    return out or [("default", [])]


def _lost_row(
    n: int, label: str, cmp: Comparison, wall: float | None, nse: float | None, **extra: object
) -> dict[str, object]:
    """One row of the results-kept table."""
    lost = cmp.per_script(cmp.lost)
    return {
        "table": KEPT_TABLE,
        "N": n,
        "setting": label,
        "kept": cmp.kept,
        "of Nmap's": cmp.reference,
        "lost": sum(cmp.lost.values()),
        "lost auth-owners": lost.get("auth-owners", 0),
        "lost daytime": lost.get("daytime", 0),
        "lost banner": lost.get("banner", 0),
        "Nmap lost": sum(cmp.extra.values()),
        "differ": sum(cmp.differ.values()),
        "wall s": wall,
        "Nmap NSE s": nse,
        "Nmap NSE/this": nse / wall if nse and wall else None,
        "lost where": Comparison.detail(cmp.lost),
        "Nmap lost where": Comparison.detail(cmp.extra),
        **extra,
    }


def measure_size(
    n: int, outdir: Path, identd: str, log: Any, plan: Plan
) -> list[dict[str, object]]:
    from bench.passthrough import measure

    nmapx_cmd = [sys.executable, "-m", "nmapx"]
    targets = outdir / f"targets-{n}.txt"
    targets.write_text("\n".join(_targets(n)) + "\n")
    limit = _nmap_timeout(n)
    files = {k: outdir / f"{k}-{n}.xml" for k in ("nse", "tuned", "plain", "pipe")}

    def nmap_run(label: str, extra: list[str]) -> tuple[Any, bytes]:
        settle(log, f"N={n}: {label}")
        print(f"[probes] N={n}: {label}", file=log, flush=True)
        with tempfile.TemporaryFile() as out:
            r = measure(["nmap", *BASE, *extra, "-iL", str(targets)], stdout=out, timeout=limit)
            out.seek(0)
            text = out.read()
        print(
            f"[probes] N={n}: {label}: {r.wall:.1f} s (exit {r.returncode})", file=log, flush=True
        )
        return r, text

    def ok(r: Any) -> bool:
        return r is not None and r.returncode == 0 and not r.timed_out

    # (a) Nmap's defaults, (b) tuned for speed.
    a = a_out = None
    if plan.reference is not None:
        files["nse"] = plan.reference
    else:
        a, a_out = nmap_run(
            "nmap NSE (defaults)", ["--script", SCRIPTS, "-v", "-oX", str(files["nse"])]
        )
    b = b_out = None
    if plan.tuned:
        b, b_out = nmap_run(
            "nmap NSE (tuned)",
            ["--script", SCRIPTS, "-v", "--max-parallelism", "1000", "--min-hostgroup", str(n),
             "-oX", str(files["tuned"])],
        )  # fmt: skip
    # (c) plain scan, then nmapx on the file, once per setting.
    p, _ = nmap_run("nmap plain", ["-v", "-oX", str(files["plain"])])
    a_nse = nse_phase(a_out) if a_out is not None else None
    a_wall = a.wall if a is not None else None
    b_nse = nse_phase(b_out) if b_out is not None else None
    runs: list[tuple[str, Any, Path]] = []
    for index, (label, options) in enumerate(plan.settings):
        out_file = outdir / f"nmapx{index}-{n}.xml"
        settle(log, f"N={n}: nmapx {label}")
        print(f"[probes] N={n}: nmapx run plain.xml ({label})", file=log, flush=True)
        with tempfile.TemporaryFile() as err_out:
            c = measure(
                [*nmapx_cmd, "run", str(files["plain"]), "--script", SCRIPTS, *options,
                 "-oX", str(out_file)],
                stdout=err_out,
                timeout=limit,
            )  # fmt: skip
        cmp = compare(files["nse"], out_file)
        print(
            f"[probes] N={n}: nmapx ({label}): {c.wall:.1f} s (exit {c.returncode}); kept"
            f" {cmp.kept} of {cmp.reference}; lost {Comparison.detail(cmp.lost)}",
            file=log,
            flush=True,
        )
        runs.append((label, c, out_file))
    # (d) the pipeline end to end.
    d = None
    d_wall = None
    if plan.pipeline:
        settle(log, f"N={n}: pipeline")
        print(f"[probes] N={n}: nmap -oX - | nmapx run", file=log, flush=True)
        t0 = time.perf_counter()
        producer = subprocess.Popen(
            ["nmap", *BASE, "-oX", "-", "-iL", str(targets)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

        def _close_pipe(_proc: Any) -> None:
            assert producer.stdout is not None
            producer.stdout.close()

        d = measure(
            [*nmapx_cmd, "run", "--script", SCRIPTS, "-oX", str(files["pipe"])],
            stdin=producer.stdout,
            timeout=limit,
            before_wait=_close_pipe,
        )
        try:
            producer.wait(timeout=60)
        except subprocess.TimeoutExpired:
            producer.kill()
            producer.wait()
        d_wall = time.perf_counter() - t0
        print(
            f"[probes] N={n}: pipeline: {d_wall:.1f} s (exit {d.returncode})", file=log, flush=True
        )

    floor, floor_how = floor_seconds()

    def ratio(x: float | None, y: float | None) -> float | None:
        return x / y if x and y else None

    notes = [f"identd: {identd}"]
    for label, r in (("nmap", a), ("tuned", b), ("plain", p), ("pipe nmapx", d)):
        if r is not None and not ok(r):
            notes.append(f"{label} failed: {r.why()}")
    rows: list[dict[str, object]] = []
    kept_rows: list[dict[str, object]] = []
    first = runs[0] if runs else None
    c = first[1] if first else None
    nmapx_s = c.wall if ok(c) else None
    for label, r, out_file in runs:
        if not ok(r):
            notes.append(f"nmapx ({label}) failed: {r.why()}")
        kept_rows.append(
            _lost_row(n, f"nmapx {label}", compare(files["nse"], out_file),
                      r.wall if ok(r) else None, a_nse, **{"nmapx CPU s": r.cpu})
        )  # fmt: skip
    if b is not None:
        kept_rows.append(_lost_row(n, "nmap tuned", compare(files["nse"], files["tuned"]),
                                   b_nse, a_nse))  # fmt: skip
    if d is not None:
        kept_rows.append(_lost_row(n, "pipeline (default)", compare(files["nse"], files["pipe"]),
                                   d_wall if ok(d) else None, a_wall))  # fmt: skip
    first_cmp = compare(files["nse"], first[2]) if first else Comparison()
    rows.append(
        {
            "table": TABLE,
            "N": n,
            "Nmap NSE phase": a_nse,
            "Nmap total": a_wall,
            "Nmap tuned NSE": b_nse,
            "Nmap tuned total": b.wall if b is not None else None,
            "Nmap plain scan": p.wall,
            "nmapx scripts": c.wall if c is not None else None,
            "nmapx CPU": c.cpu if c is not None else None,
            "nmapx RSS MiB": c.maxrss_mib if c is not None else None,
            "floor": floor,
            "pipeline e2e": d_wall,
            "Nmap e2e": a_wall,
            "note": "; ".join(notes),
        }
    )
    rows.append(
        {
            "table": RATIO_TABLE,
            "N": n,
            "setting": first[0] if first else None,
            "Nmap NSE/nmapx": ratio(a_nse, nmapx_s),
            "tuned NSE/nmapx": ratio(b_nse, nmapx_s),
            "nmapx/floor": ratio(nmapx_s, floor),
            "Nmap e2e/pipeline": ratio(a_wall, d_wall if ok(d) else None),
            "Nmap's results": first_cmp.reference,
            "kept": first_cmp.kept,
            "mismatches": first_cmp.mismatches,
            "floor": floor_how,
        }
    )
    rows.extend(kept_rows)
    return rows


def _lingering_daytime(base: Any) -> Any:
    """daytime on TCP and UDP that closes a TCP connection :data:`DAYTIME_LINGER` s after
    sending (earlier if the client closes first); see DAYTIME_LINGER for why."""

    class LingeringDaytime(base):  # type: ignore[misc,valid-type]
        async def _handle_tcp(self, conn: Any) -> None:
            await conn.send(self.line())
            try:
                async with asyncio.timeout(DAYTIME_LINGER):
                    while await conn.recv(4096):
                        pass
            except (TimeoutError, OSError):
                pass

    from fixtures.emulators import DEMO_CLOCK

    return LingeringDaytime(host="0.0.0.0", clock=DEMO_CLOCK)


def inner(sizes: Sequence[int], outdir: Path, result: Path, keep: bool, plan: Plan) -> int:
    from fixtures.emulators import (
        BannerEmulator,
        DaytimeEmulator,
        EmulatorGroup,
        IdentdEmulator,
    )

    log = sys.stderr
    _only_loopback()
    _raise_nofile()
    identd_proc, identd = _start_identd(log)
    emulators = [
        *([] if identd_proc else [IdentdEmulator(host="0.0.0.0", timeout=30.0)]),
        _lingering_daytime(DaytimeEmulator),
        *(
            BannerEmulator(data, host="0.0.0.0", port=port, idle_timeout=30.0)
            for port, data in BANNERS.items()
        ),
    ]
    rows: list[dict[str, object]] = []
    try:
        with EmulatorGroup(emulators):
            time.sleep(0.2)
            for n in sizes:
                rows.extend(measure_size(n, outdir, identd, log, plan))
                result.write_text(json.dumps(rows, indent=1))  # partial results survive
    finally:
        if identd_proc is not None:
            identd_proc.terminate()
            try:
                identd_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                identd_proc.kill()
                identd_proc.wait()
        if not keep:
            for f in outdir.glob("*-*.xml"):
                f.unlink(missing_ok=True)
    result.write_text(json.dumps(rows, indent=1))
    return 0


def _sizes(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    from bench.report import format_tables

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=_sizes, default=None, help="host counts (default 254,1000)")
    ap.add_argument("--quick", action="store_true", help="N = 8 only (CI)")
    ap.add_argument("--json", type=Path, help="also write the raw rows here")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--outdir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--keep", action="store_true", help="keep the XML files in bench/out/probes/")
    ap.add_argument(
        "--nmapx-settings",
        type=parse_settings,
        default=None,
        metavar="S1;S2;...",
        help="nmapx settings to run against the same Nmap baseline, ';'-separated, each"
        " 'default' or nmapx options (--nmapx-settings='default;--max-parallelism 100;default'"
        " runs three, the default twice)",
    )
    ap.add_argument("--no-tuned", action="store_true", help="skip Nmap tuned for speed")
    ap.add_argument("--no-pipeline", action="store_true", help="skip nmap -oX - | nmapx run")
    ap.add_argument(
        "--reference",
        type=Path,
        metavar="NSE_XML",
        help="compare with this earlier Nmap-defaults output (--keep's nse-N.xml, one size)"
        " instead of running Nmap's defaults again; ratios to Nmap's defaults stay empty",
    )
    a = ap.parse_args(argv)
    plan = Plan(tuned=not a.no_tuned, pipeline=not a.no_pipeline, reference=a.reference)
    if a.nmapx_settings:
        plan.settings = a.nmapx_settings
    if a.inner:
        return inner(a.sizes or QUICK_SIZES, a.outdir, a.json, a.keep, plan)
    rows = run(quick=a.quick, sizes=a.sizes, keep=a.keep, plan=plan)
    print(format_tables(rows))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
