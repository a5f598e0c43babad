#!/usr/bin/env python3
"""HTTP, TLS and SSH scripts: real Nmap's NSE next to ``nmapx run`` on N loopback hosts
that share one nginx and one sshd (issue 13).

Why this benchmark: ``bench/probes.py`` measures scripts that mostly wait (identd, daytime,
banner); these thirteen do real protocol work on the wire -- HTTP requests, TLS handshakes
and certificate parsing, SSH key exchanges with Diffie-Hellman on both sides -- against the
servers people actually scan, so they show what nmapx's engine costs when it computes, and
whether it keeps every result under load. Nmap is measured with its defaults and tuned for
speed in the same run, on the same servers, against the same hosts.

Network rule: everything happens on loopback inside a private network namespace
(:class:`fixtures.netns.PrivateNetwork`). Debian's nginx (:class:`fixtures.nginx_server.Nginx`:
80, 8080, 443 with h2/ALPN, 8443 with an expired EC certificate and Basic auth) and Debian's
OpenSSH daemon (:class:`fixtures.ssh_servers.Sshd`, profile ``MODERN``, on port 22) listen on
the wildcard address, so every 127.0.x.y is a "host" with the same five services. Targets are
N hosts from 127.0.1.1 (254 per /24). Every server lives under the namespace's lifetime and
every child under a timeout; both servers are stopped by PID.

Server configuration, raised so that the servers are never what loses a result: nginx's
``worker_connections`` 8192 (the fixture's 1024 is below nmapx's default 1000 sockets plus
the connections nginx keeps alive) and ``worker_rlimit_nofile``; sshd's ``MaxStartups``
1000 (the fixture's 100 drops connections beyond 100 unauthenticated ones, and 254 hosts'
ssh-hostkey alone opens one connection per key type).

Per N, in one run (``-n -Pn -sT -p 22,80,443,8080,8443``, the thirteen :data:`SCRIPTS`):

(a) ``nmap --script ... -v -oX nse.xml``: Nmap's defaults; total wall time and the NSE phase
    (``Completed NSE at HH:MM, X.XXs elapsed`` of the script scan, as ``probes.py``);
(b) the same tuned for speed: ``--max-parallelism 1000 --min-hostgroup N``;
(c) ``nmap`` without scripts ``-oX plain.xml``, then ``nmapx run plain.xml --script ...``
    (wall, CPU, peak RSS through ``spawn_measured.py``), inside the namespace.

Besides the scanners' own figures, each run records the connections it opened (the
namespace's ``Tcp: ActiveOpens``) and the servers' CPU during it: nginx and sshd share the
machine's cores with the scanner, and their TLS handshakes and key exchanges cost more CPU
than either scanner, so they bound every wall time from below and must be read with them.

Conformance: the ``<script>`` elements per (host, port, script id) of each candidate against
Nmap's defaults (a), every element counted, and against the results the site is known to give
(:data:`EXPECTED`, 27 per host: what Nmap 7.93 reports on one host of this site). Compared
byte for byte except for what differs between two runs of Nmap itself, which is compared by
pattern (:func:`canonical`):

* http-headers' ``Date:`` line (nginx's clock): any HTTP date;
* ssl-date: either of its two forms (nginx's OpenSSL sends a random ``gmt_unix_time``, so it is
  almost always "TLS randomness does not represent time"; a clock reading, about 2.5e-6 per
  handshake, is accepted in its place);
* ssh-hostkey: each key table's ``<elem>`` lines as a set (Nmap writes the members of a Lua
  hash table, whose order is seeded at random per run).

Nmap 7.93's ``transport.pack_mpint`` (nselib/ssh2.lua) sends about one Diffie-Hellman value in
512 as a negative number; the server refuses it and ssh-hostkey silently lacks that key. Such
an element (a strict subset of the other side's keys, every present key identical) is not
counted as a mismatch but as **keys lost**, per side, against the union of keys any run found
for that host: "lost by Nmap" there is Nmap's bug, nmapx writes mpints canonically.

    python bench/scripts.py                 # N = 254 (Nmap's defaults take several minutes)
    python bench/scripts.py --quick         # N = 8 (CI)
    python bench/scripts.py --sizes 254 --keep --json bench/out/scripts.json
    python -m bench --quick --only scripts
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if __package__ in (None, ""):  # `python bench/scripts.py`: make `bench` importable
    sys.path.insert(0, str(REPO))

from bench.passthrough import Run, measure  # noqa: E402
from bench.probes import _raise_nofile, _targets, nse_phase, port_scripts  # noqa: E402
from fixtures import netns, nginx_server, ssh_servers  # noqa: E402
from fixtures.netns import PrivateNetwork  # noqa: E402
from fixtures.nginx_server import Nginx  # noqa: E402
from fixtures.ssh_servers import MODERN, WILDCARD, Sshd  # noqa: E402

HTTP_SCRIPTS = (
    "http-title", "http-server-header", "http-headers", "http-methods", "http-robots.txt",
    "http-generator", "http-auth",
)  # fmt: skip
TLS_SCRIPTS = ("ssl-cert", "ssl-date", "tls-alpn")
SSH_SCRIPTS = ("ssh-hostkey", "ssh2-enum-algos", "ssh-auth-methods")
SCRIPTS = (*HTTP_SCRIPTS, *TLS_SCRIPTS, *SSH_SCRIPTS)
PORTS = "22,80,443,8080,8443"
BASE = ["-n", "-Pn", "-sT", "-p", PORTS]
FULL_SIZES = (254,)
QUICK_SIZES = (8,)

#: What Nmap 7.93 reports on one host of this site, per port (tests/test_nginx_scripts.py
#: says why each absent pair is absent, in Nmap as in nmapx; tests/test_nse_ssh_scripts.py
#: covers port 22): 27 results per host.
EXPECTED: dict[int, tuple[str, ...]] = {
    22: SSH_SCRIPTS,
    80: ("http-server-header", "http-headers", "http-methods", "http-robots.txt",
         "http-title", "http-generator"),
    443: ("http-server-header", "http-headers", "http-methods", "http-title", "ssl-cert",
          "ssl-date", "tls-alpn"),
    8080: ("http-server-header", "http-headers", "http-methods", "http-robots.txt",
           "http-title"),
    8443: ("http-server-header", "http-headers", "http-title", "http-auth", "ssl-cert",
           "ssl-date"),
}  # fmt: skip
PER_HOST = sum(map(len, EXPECTED.values()))

#: Server limits raised for the benchmark (module docstring).
NGINX_WORKER_CONNECTIONS = 8192
SSHD_MAX_STARTUPS = "1000"

TABLE = "scripts: Nmap NSE vs nmapx, HTTP/TLS/SSH on shared nginx + sshd (seconds)"
RESULTS_TABLE = "scripts: results per candidate (vs Nmap's defaults and vs the expected set)"
PER_SCRIPT_TABLE = "scripts: results per script (kept/lost/differ vs Nmap's defaults)"

_HTTP_DATE = re.compile(rb"Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT")
_SSL_DATE_FORMS = re.compile(
    rb'<script id="ssl-date" output="(?:TLS randomness does not represent time|'
    rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00; (?:0s|[+-][0-9ydhms]+) from scanner time\.)"
    rb'">.*</script>\Z',
    re.S,
)
_TABLE = re.compile(rb"<table>\n(.*?)</table>\n", re.S)
_OUTPUT = re.compile(rb'output="([^"]*)"')
_FINGERPRINT_LINE = re.compile(rb"  \d+ [0-9a-f]{32} \(")


def why_skip() -> str | None:
    """Why this machine cannot run the benchmark (None: it can)."""
    if shutil.which("nmap") is None:
        return "nmap not found"
    return netns.unavailable() or nginx_server.unavailable() or ssh_servers.sshd_unavailable(MODERN)


# ---------------------------------------------------------------------------- comparison
def canonical(script_id: str, element: bytes) -> bytes:
    """``element`` with what differs between two runs of Nmap itself replaced by its form
    (module docstring); every other byte where it was."""
    if script_id == "http-headers":
        return _HTTP_DATE.sub(b"Date: <http-date>", element)
    if script_id == "ssl-date" and _SSL_DATE_FORMS.match(element):
        return b"<ssl-date: time or randomness>"
    if script_id == "ssh-hostkey":
        return _sorted_elem_runs(element)
    if script_id in ("http-auth", "http-methods"):
        return _keyed_as_sets(element)
    return element


def _keyed_as_sets(element: bytes) -> bytes:
    """The element with each keyed table's members sorted by key and value, arrays in their
    order: http-auth's challenge table and http-methods' status lines are Lua hash tables
    in Nmap, written in ``pairs()`` order (random per run)."""
    try:
        root = ElementTree.fromstring(element)
    except ElementTree.ParseError:
        return element

    def text(node: ElementTree.Element) -> str:
        parts = [text(child) for child in node]
        if parts and all(child.get("key") is not None for child in node):
            parts.sort()
        return f"<{node.tag} key={node.get('key')!r}>{node.text or ''}" + "".join(parts) + ">"

    return (root.get("output", "") + "|" + text(root)).encode()


def _sorted_elem_runs(element: bytes) -> bytes:
    """Each run of consecutive ``<elem>`` lines sorted (Lua ``pairs()`` order)."""
    out: list[bytes] = []
    run: list[bytes] = []
    for line in element.split(b"\n"):
        if line.startswith(b"<elem"):
            run.append(line)
            continue
        out += sorted(run)
        run = []
        out.append(line)
    out += sorted(run)
    return b"\n".join(out)


def host_keys(element: bytes) -> frozenset[bytes]:
    """ssh-hostkey's keys: each key's table (members sorted) with its lines of the output
    attribute (the fingerprint line, and with ``-v`` the public key line), so that one key
    lost shows as a strict subset and a key written differently as a difference."""
    tables = [b"\n".join(sorted(m[1].split(b"\n"))) for m in _TABLE.finditer(element)]
    found = _OUTPUT.search(element)
    groups: list[bytes] = []
    for line in found[1].split(b"&#xa;") if found else []:
        if _FINGERPRINT_LINE.match(line):
            groups.append(line)
        elif groups:
            groups[-1] += b"&#xa;" + line
        elif line:
            groups.append(line)
    if len(groups) != len(tables):  # not the usual shape: compare the whole element
        return frozenset({_sorted_elem_runs(element)})
    return frozenset(group + b"|" + table for group, table in zip(groups, tables, strict=True))


Key = tuple[str, int, str]  # (address, port, script id)


def elements(path: Path) -> dict[Key, bytes]:
    """Every port ``<script>`` element of ``path`` (TCP only: this scan has no UDP)."""
    out: dict[Key, bytes] = {}
    for (address, _proto, port), scripts in port_scripts(path).items():
        for sid, element in scripts.items():
            out[address, port, sid] = element
    return out


@dataclass
class Tally:
    """One candidate against the reference (Nmap's defaults), per script id.

    ``keys_lost_by_*`` count ssh-hostkey *elements* that equal the other side's but for keys
    that side has and this one lacks (Nmap's negative-mpint bug); they are neither kept nor
    differing. ``keys_missing`` counts *keys*, against the union of every run's keys.
    """

    results: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)  #: reference has it, candidate not
    extra: dict[str, int] = field(default_factory=dict)  #: candidate has it, reference not
    differ: dict[str, int] = field(default_factory=dict)
    keys_lost_by_candidate: dict[str, int] = field(default_factory=dict)
    keys_lost_by_reference: dict[str, int] = field(default_factory=dict)
    expected_kept: int = 0  #: of the expected (host, port, script) triples, present
    unexpected: int = 0  #: present but not expected
    keys_missing: int = 0
    differ_where: dict[str, int] = field(default_factory=dict)
    lost_where: dict[str, int] = field(default_factory=dict)

    def add(self, counts: dict[str, int], sid: str, n: int = 1) -> None:
        counts[sid] = counts.get(sid, 0) + n

    @staticmethod
    def total(counts: dict[str, int]) -> int:
        return sum(counts.values())

    @property
    def mismatches(self) -> int:
        return self.total(self.lost) + self.total(self.extra) + self.total(self.differ)


def expected_keys(n: int) -> set[Key]:
    return {(a, port, sid) for a in _targets(n) for port, ids in EXPECTED.items() for sid in ids}


def tally(
    reference: dict[Key, bytes],
    candidate: dict[Key, bytes],
    expected: set[Key],
    all_keys: dict[str, frozenset[bytes]],
) -> Tally:
    """Compare ``candidate`` with ``reference`` element by element (module docstring)."""
    t = Tally()
    for key in candidate:
        t.add(t.results, key[2])
    for key in reference.keys() | candidate.keys():
        sid = key[2]
        where = f"{sid} {key[1]}/tcp"
        a, b = reference.get(key), candidate.get(key)
        if b is None:
            t.add(t.lost, sid)
            t.add(t.lost_where, where)
        elif a is None:
            t.add(t.extra, sid)
        elif canonical(sid, a) == canonical(sid, b):
            t.add(t.kept, sid)
        elif sid == "ssh-hostkey" and host_keys(b) < host_keys(a):
            t.add(t.keys_lost_by_candidate, sid)
        elif sid == "ssh-hostkey" and host_keys(a) < host_keys(b):
            t.add(t.keys_lost_by_reference, sid)
        else:
            t.add(t.differ, sid)
            t.add(t.differ_where, where)
    present = set(candidate)
    t.expected_kept = len(present & expected)
    t.unexpected = len(present - expected)
    for address, union in all_keys.items():
        mine = candidate.get((address, 22, "ssh-hostkey"))
        t.keys_missing += len(union - (host_keys(mine) if mine else frozenset()))
    return t


def union_of_keys(*runs: dict[Key, bytes]) -> dict[str, frozenset[bytes]]:
    """Per address, every ssh-hostkey key any run found."""
    out: dict[str, frozenset[bytes]] = {}
    for run in runs:
        for (address, _port, sid), element in run.items():
            if sid == "ssh-hostkey":
                out[address] = out.get(address, frozenset()) | host_keys(element)
    return out


def detail(counts: dict[str, int]) -> str:
    """``"http-title 443/tcp: 3, ..."`` (largest first), or ``0``."""
    if not counts:
        return "0"
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{key}: {count}" for key, count in ordered)


# ---------------------------------------------------------------------------- servers
class BenchNginx(Nginx):
    """The fixture's nginx with connection limits a 1000-socket scanner cannot exhaust."""

    def write(self) -> None:
        super().write()
        conf = self.root / "nginx.conf"
        text = conf.read_text(encoding="utf-8")
        raised = text.replace(
            "events { worker_connections 1024; }",
            f"worker_rlimit_nofile {2 * NGINX_WORKER_CONNECTIONS};\n"
            f"events {{ worker_connections {NGINX_WORKER_CONNECTIONS}; }}",
        )
        if raised == text:
            raise RuntimeError("nginx.conf has no 'worker_connections 1024' line to raise")
        conf.write_text(raised, encoding="utf-8")

    def requests(self) -> int:
        """Lines in the access log so far (one per HTTP request)."""
        try:
            with (self.root / "access.log").open("rb") as f:
                return sum(1 for _ in f)
        except OSError:
            return 0

    def error_lines(self, pattern: str) -> int:
        """Lines of the error log containing ``pattern`` (e.g. ``worker_connections``)."""
        try:
            with (self.root / "error.log").open("rb") as f:
                return sum(1 for line in f if pattern.encode() in line)
        except OSError:
            return 0


def _tcp_opens(ns: PrivateNetwork) -> int:
    """``Tcp: ActiveOpens`` of the namespace (/proc/PID/net/snmp is per namespace): every
    connection any scanner started in it."""
    lines = Path(f"/proc/{ns.pid}/net/snmp").read_text().splitlines()
    header, values = [line.split() for line in lines if line.startswith("Tcp:")][:2]
    return int(values[header.index("ActiveOpens")])


def _cpu_seconds(pid: int) -> float:
    """CPU of ``pid`` and of its children it reaped (utime, stime, cutime, cstime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _server_cpu(web: BenchNginx, sshd: Sshd) -> float:
    """nginx's CPU (one process: ``master_process off``) plus sshd's with its per-connection
    children, so far: what the servers cost a candidate, which shares the machine's cores."""
    pids = [web._process.pid] if web._process is not None else []
    if sshd.directory is not None:
        try:
            pids.append(int((sshd.directory / "sshd.pid").read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
    return sum(_cpu_seconds(pid) for pid in pids)


def _sshd_drops(sshd: Sshd) -> int:
    """Connections sshd refused for MaxStartups (its log says "drop connection")."""
    return sshd.log().count("drop connection")


# ---------------------------------------------------------------------------- measurement
def _nmap_timeout(n: int) -> float:
    """Per child: generous (Nmap's default NSE takes about a second per host here)."""
    return 180 + 6.0 * n


def _budget(sizes: Sequence[int]) -> float:
    return sum(4 * _nmap_timeout(n) for n in sizes) + 120


def measure_size(
    n: int, ns: PrivateNetwork, outdir: Path, log: Any, web: BenchNginx, sshd: Sshd
) -> list[dict[str, object]]:
    """(a), (b), (c) of the module docstring for N hosts; the rows of the three tables."""
    targets = outdir / f"targets-{n}.txt"
    targets.write_text("\n".join(_targets(n)) + "\n")
    limit = _nmap_timeout(n)
    files = {k: outdir / f"{k}-{n}.xml" for k in ("nse", "tuned", "plain", "nmapx")}
    script_arg = ",".join(SCRIPTS)
    notes: list[str] = []

    server_cpu: dict[str, float] = {}
    connects: dict[str, int] = {}

    def timed(label: str, argv: list[str]) -> tuple[Run, bytes]:
        drops, conn_errors = _sshd_drops(sshd), web.error_lines("worker_connections")
        cpu0, opens0 = _server_cpu(web, sshd), _tcp_opens(ns)
        print(f"[scripts] N={n}: {label}", file=log, flush=True)
        with tempfile.TemporaryFile() as out:
            r = measure(ns.command(argv), stdout=out, timeout=limit)
            out.seek(0)
            text = out.read()
        print(f"[scripts] N={n}: {label}: {r.wall:.1f} s (exit {r.returncode})", file=log,
              flush=True)  # fmt: skip
        if not r.ok:
            notes.append(f"{label} failed: {r.why()}")
        server_cpu[label] = _server_cpu(web, sshd) - cpu0
        connects[label] = _tcp_opens(ns) - opens0
        drops = _sshd_drops(sshd) - drops
        conn_errors = web.error_lines("worker_connections") - conn_errors
        if drops or conn_errors:
            notes.append(f"{label}: sshd dropped {drops}, nginx out of connections {conn_errors}")
        return r, text

    a, a_out = timed(
        "nmap NSE (defaults)",
        ["nmap", *BASE, "--script", script_arg, "-v", "-oX", str(files["nse"]), "-iL",
         str(targets)],
    )  # fmt: skip
    b, b_out = timed(
        "nmap NSE (tuned)",
        ["nmap", *BASE, "--script", script_arg, "-v", "--max-parallelism", "1000",
         "--min-hostgroup", str(n), "-oX", str(files["tuned"]), "-iL", str(targets)],
    )  # fmt: skip
    p, _ = timed("nmap plain", ["nmap", *BASE, "-v", "-oX", str(files["plain"]), "-iL",
                                str(targets)])  # fmt: skip
    c, _ = timed(
        "nmapx run plain.xml",
        [sys.executable, "-m", "nmapx", "run", str(files["plain"]), "--script", script_arg,
         "-v", "-oX", str(files["nmapx"])],
    )  # fmt: skip
    a_nse, b_nse = nse_phase(a_out), nse_phase(b_out)

    runs = {label: elements(files[k]) for label, k in
            (("Nmap defaults", "nse"), ("Nmap tuned", "tuned"), ("nmapx", "nmapx"))}  # fmt: skip
    reference = runs["Nmap defaults"]
    expected = expected_keys(n)
    keys = union_of_keys(*runs.values())
    tallies = {label: tally(reference, run, expected, keys) for label, run in runs.items()}

    def ratio(x: float | None, y: float | None) -> float | None:
        return x / y if x and y else None

    nmapx_s = c.wall if c.ok else None
    rows: list[dict[str, object]] = [
        {
            "table": TABLE,
            "N": n,
            "Nmap total": a.wall,
            "Nmap NSE": a_nse,
            "tuned total": b.wall,
            "tuned NSE": b_nse,
            "plain scan": p.wall,
            "nmapx wall": c.wall,
            "nmapx CPU": c.cpu,
            "nmapx RSS MiB": c.maxrss_mib,
            "Nmap NSE/nmapx": ratio(a_nse, nmapx_s),
            "tuned NSE/nmapx": ratio(b_nse, nmapx_s),
            "Nmap total/(plain+nmapx)": ratio(a.wall, p.wall + c.wall if nmapx_s else None),
            "Nmap CPU": a.cpu,
            "tuned CPU": b.cpu,
            "note": "; ".join(notes) or "-",
        }
    ]
    walls = {"Nmap defaults": a_nse, "Nmap tuned": b_nse, "nmapx": nmapx_s}
    labels = {"Nmap defaults": "nmap NSE (defaults)", "Nmap tuned": "nmap NSE (tuned)",
              "nmapx": "nmapx run plain.xml"}  # fmt: skip
    for label, t in tallies.items():
        rows.append(
            {
                "table": RESULTS_TABLE,
                "N": n,
                "candidate": label,
                "results": Tally.total(t.results),
                "expected": len(expected),
                "of expected": t.expected_kept,
                "unexpected": t.unexpected,
                "kept": Tally.total(t.kept),
                "lost": Tally.total(t.lost),
                "Nmap lost": Tally.total(t.extra),
                "differ": Tally.total(t.differ),
                "hostkey elems short of keys": Tally.total(t.keys_lost_by_candidate),
                "Nmap's short of keys": Tally.total(t.keys_lost_by_reference),
                "ssh keys missing": t.keys_missing,
                "script s": walls[label],
                "TCP connects": connects[labels[label]],
                "server CPU s": server_cpu[labels[label]],
                "lost where": detail(t.lost_where),
                "differ where": detail(t.differ_where),
            }
        )
    ours, tuned, nmap = tallies["nmapx"], tallies["Nmap tuned"], tallies["Nmap defaults"]
    for sid in SCRIPTS:
        hostkey = sid == "ssh-hostkey"
        rows.append(
            {
                "table": PER_SCRIPT_TABLE,
                "N": n,
                "script": sid,
                "expected": sum(1 for k in expected if k[2] == sid),
                "Nmap": nmap.results.get(sid, 0),
                "tuned kept": tuned.kept.get(sid, 0),
                "tuned lost": tuned.lost.get(sid, 0),
                "tuned differ": tuned.differ.get(sid, 0),
                "nmapx": ours.results.get(sid, 0),
                "nmapx kept": ours.kept.get(sid, 0),
                "nmapx lost": ours.lost.get(sid, 0),
                "nmapx differ": ours.differ.get(sid, 0),
                "Nmap lost": ours.extra.get(sid, 0),
                "keys missing Nmap": nmap.keys_missing if hostkey else None,
                "keys missing tuned": tuned.keys_missing if hostkey else None,
                "keys missing nmapx": ours.keys_missing if hostkey else None,
            }
        )
    return rows


def run(
    quick: bool = False, sizes: Sequence[int] | None = None, keep: bool = False
) -> list[dict[str, object]]:
    """Entry point for ``bench/run_all.py``: one namespace with nginx and sshd, then (a),
    (b), (c) per size; the rows of the three tables."""
    reason = why_skip()
    if reason:
        print(f"[scripts] skipped: {reason}", file=sys.stderr, flush=True)
        return [{"table": TABLE, "N": None, "note": f"skipped: {reason}"}]
    sizes = tuple(sizes or (QUICK_SIZES if quick else FULL_SIZES))
    _raise_nofile()  # inherited by nginx, sshd, Nmap and nmapx
    workdir = HERE / "out"
    workdir.mkdir(parents=True, exist_ok=True)
    lifetime = _budget(sizes)
    rows: list[dict[str, object]] = []
    log = sys.stderr
    with tempfile.TemporaryDirectory(dir=workdir, prefix="scripts-") as tmp:
        outdir = workdir / "scripts" if keep else Path(tmp)
        outdir.mkdir(exist_ok=True)
        (Path(tmp) / "nginx").mkdir()
        t0 = time.monotonic()
        with (
            PrivateNetwork(lifetime=lifetime) as ns,
            BenchNginx(ns, Path(tmp) / "nginx") as web,
            Sshd(MODERN, ns, addresses=[WILDCARD], max_startups=SSHD_MAX_STARTUPS,
                 lifetime=lifetime) as sshd,
        ):  # fmt: skip
            print(f"[scripts] nginx and sshd up in {time.monotonic() - t0:.1f} s", file=log)
            for n in sizes:
                rows.extend(measure_size(n, ns, outdir, log, web, sshd))
            print(f"[scripts] nginx served {web.requests()} HTTP requests", file=log)
    return rows


def _sizes(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    from bench.report import format_tables

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=_sizes, default=None, help="host counts (default 254)")
    ap.add_argument("--quick", action="store_true", help="N = 8 only (CI)")
    ap.add_argument("--json", type=Path, help="also write the raw rows here")
    ap.add_argument("--keep", action="store_true", help="keep the XML files in bench/out/scripts/")
    a = ap.parse_args(argv)
    rows = run(quick=a.quick, sizes=a.sizes, keep=a.keep)
    print(format_tables(rows))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
