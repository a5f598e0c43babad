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
elements per (host, protocol, port) of nse.xml and nmapx.xml must be identical, except an
auth-owners present on one side only (a race inside Nmap itself, see
tests/test_conformance_live.py); the number of mismatching elements is printed, not asserted.

    python bench/probes.py                  # N = 254 and 1,000 (Nmap alone takes ~30 min)
    python bench/probes.py --sizes 254
    python bench/probes.py --quick          # N = 8 (CI)
    python -m bench --quick --only probes
"""

from __future__ import annotations

import argparse
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

TABLE = "probes: Nmap NSE vs nmapx on the same loopback hosts (seconds)"
RATIO_TABLE = "probes: ratios and conformance (same run)"

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
    quick: bool = False, sizes: Sequence[int] | None = None, keep: bool = False
) -> list[dict[str, object]]:
    """Entry point for ``bench/run_all.py``: runs the measurement as a child inside its own
    network namespace and returns that child's rows."""
    reason = why_skip()
    if reason:
        print(f"[probes] skipped: {reason}", file=sys.stderr, flush=True)
        return [{"table": TABLE, "N": None, "note": f"skipped: {reason}"}]
    sizes = tuple(sizes or (QUICK_SIZES if quick else FULL_SIZES))
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
        ]  # fmt: skip
        try:
            done = subprocess.run(argv, cwd=REPO, timeout=_budget(sizes) + 120, check=False)
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


def _budget(sizes: Sequence[int]) -> float:
    return sum(5 * _nmap_timeout(n) for n in sizes)


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


def compare(nse: Path, ours: Path) -> tuple[int, int, int]:
    """(mismatching script elements, elements compared, racy auth-owners left out)."""
    theirs, mine = port_scripts(nse), port_scripts(ours)
    mismatches = compared = racy = 0
    for key in set(theirs) | set(mine):
        a, b = theirs.get(key, {}), mine.get(key, {})
        for sid in set(a) | set(b):
            if sid == "auth-owners" and (sid in a) != (sid in b):
                racy += 1
                continue
            compared += 1
            if a.get(sid) != b.get(sid):
                mismatches += 1
    return mismatches, compared, racy


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


def measure_size(n: int, outdir: Path, identd: str, log: Any) -> list[dict[str, object]]:
    from bench.passthrough import measure

    nmapx_cmd = [sys.executable, "-m", "nmapx"]
    targets = outdir / f"targets-{n}.txt"
    targets.write_text("\n".join(_targets(n)) + "\n")
    limit = _nmap_timeout(n)
    files = {k: outdir / f"{k}-{n}.xml" for k in ("nse", "tuned", "plain", "nmapx", "pipe")}

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

    # (a) Nmap's defaults, (b) tuned for speed.
    a, a_out = nmap_run(
        "nmap NSE (defaults)", ["--script", SCRIPTS, "-v", "-oX", str(files["nse"])]
    )
    b, b_out = nmap_run(
        "nmap NSE (tuned)",
        ["--script", SCRIPTS, "-v", "--max-parallelism", "1000", "--min-hostgroup", str(n),
         "-oX", str(files["tuned"])],
    )  # fmt: skip
    # (c) plain scan, then nmapx on the file.
    p, _ = nmap_run("nmap plain", ["-v", "-oX", str(files["plain"])])
    settle(log, f"N={n}: nmapx run plain.xml")
    print(f"[probes] N={n}: nmapx run plain.xml", file=log, flush=True)
    with tempfile.TemporaryFile() as err_out:
        c = measure(
            [
                *nmapx_cmd,
                "run",
                str(files["plain"]),
                "--script",
                SCRIPTS,
                "-oX",
                str(files["nmapx"]),
            ],
            stdout=err_out,
            timeout=limit,
        )
    print(f"[probes] N={n}: nmapx: {c.wall:.1f} s (exit {c.returncode})", file=log, flush=True)
    # (d) the pipeline end to end.
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
    print(f"[probes] N={n}: pipeline: {d_wall:.1f} s (exit {d.returncode})", file=log, flush=True)

    floor, floor_how = floor_seconds()
    mism, compared, racy = compare(files["nse"], files["nmapx"])
    mism_t, _, _ = compare(files["tuned"], files["nmapx"])
    mism_p, _, _ = compare(files["nse"], files["pipe"])
    a_nse, b_nse = nse_phase(a_out), nse_phase(b_out)

    def ok(r: Any) -> bool:
        return r.returncode == 0 and not r.timed_out

    notes = [f"identd: {identd}"]
    for label, r in (("nmap", a), ("tuned", b), ("plain", p), ("nmapx", c), ("pipe nmapx", d)):
        if not ok(r):
            notes.append(f"{label} failed: {r.why()}")

    def ratio(x: float | None, y: float | None) -> float | None:
        return x / y if x and y else None

    nmapx_s = c.wall if ok(c) else None
    return [
        {
            "table": TABLE,
            "N": n,
            "Nmap NSE phase": a_nse,
            "Nmap total": a.wall,
            "Nmap tuned NSE": b_nse,
            "Nmap tuned total": b.wall,
            "Nmap plain scan": p.wall,
            "nmapx scripts": c.wall,
            "nmapx CPU": c.cpu,
            "nmapx RSS MiB": c.maxrss_mib,
            "floor": floor,
            "pipeline e2e": d_wall,
            "Nmap e2e": a.wall,
            "note": "; ".join(notes),
        },
        {
            "table": RATIO_TABLE,
            "N": n,
            "Nmap NSE/nmapx": ratio(a_nse, nmapx_s),
            "tuned NSE/nmapx": ratio(b_nse, nmapx_s),
            "nmapx/floor": ratio(nmapx_s, floor),
            "Nmap e2e/pipeline": ratio(a.wall, d_wall if ok(d) else None),
            "mismatches": mism,
            "compared": compared,
            "racy skipped": racy,
            "vs tuned: mism": mism_t,
            "pipe vs nse: mism": mism_p,
            "floor": floor_how,
        },
    ]


def inner(sizes: Sequence[int], outdir: Path, result: Path, keep: bool) -> int:
    from fixtures.emulators import (
        DEMO_CLOCK,
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
        DaytimeEmulator(host="0.0.0.0", clock=DEMO_CLOCK),
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
                rows.extend(measure_size(n, outdir, identd, log))
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
    a = ap.parse_args(argv)
    if a.inner:
        return inner(a.sizes or QUICK_SIZES, a.outdir, a.json, a.keep)
    rows = run(quick=a.quick, sizes=a.sizes, keep=a.keep)
    print(format_tables(rows))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
