"""The progress display: a live line on a real terminal, silence on a pipe, --stats-every."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT

from nmapx.progress import Progress, Snapshot

SLOW_SCRIPT = """
from nmapx.nse import stdnse
categories = ["safe"]
def portrule(host, port):
    return True
async def action(host, port):
    await stdnse.sleep(SECONDS)
    return "done"
"""


def _scan(path: Path, hosts: int, ports: int) -> None:
    """A scan of loopback addresses whose ports a sleeping script 'probes' (no packet sent)."""
    body = []
    for h in range(1, hosts + 1):
        listed = "".join(
            f'<port protocol="tcp" portid="{1000 + p}"><state state="open" reason="syn-ack"/>'
            "</port>"
            for p in range(ports)
        )
        body.append(
            f'<host><status state="up" reason="user-set"/><address addr="127.0.0.{h}"'
            f' addrtype="ipv4"/><ports>{listed}</ports></host>\n'
        )
    path.write_text(
        '<?xml version="1.0"?>\n<nmaprun scanner="nmap" args="nmap" start="1" version="7.93">\n'
        + "".join(body)
        + '<runstats><finished time="2"/><hosts up="1" down="0" total="1"/></runstats>\n'
        "</nmaprun>\n"
    )


def _setup(tmp_path: Path, seconds: float, hosts: int = 2, ports: int = 2) -> list[str]:
    script = tmp_path / "slow_probe.py"
    script.write_text(SLOW_SCRIPT.replace("SECONDS", str(seconds)))
    scan = tmp_path / "scan.xml"
    _scan(scan, hosts, ports)
    return [sys.executable, "-m", "nmapx", "run", str(scan), "--script", str(script),
            "-oX", str(tmp_path / "out.xml")]  # fmt: skip


def test_live_line_on_a_terminal(tmp_path: Path) -> None:
    """With stderr on a real pty, the status line is drawn in place with ``\\r``."""
    argv = _setup(tmp_path, 1.5)
    controller, terminal = os.openpty()
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=terminal)
    os.close(terminal)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    os.close(controller)
    assert process.wait(timeout=30) == 0
    assert process.stdout is not None and process.stdout.read() == b""
    lines = [m for m in re.finditer(
        rb"\r\x1b\[Knmapx: (\d+)/(\d+) hosts done; probes (\d+) queued, (\d+) running,"
        rb" (\d+) done \((\d+\.\d)/s\)(?:; (\d+\.\d)%(?:, ETA (\d+:\d\d:\d\d))?)?", seen)]  # fmt: skip
    assert lines, seen
    running = [m for m in lines if int(m[4]) > 0]
    assert running and all(int(m[2]) <= 2 for m in lines)
    assert seen.endswith(b"\r\x1b[K")  # erased at the end: the shell prompt starts clean
    assert (tmp_path / "out.xml").read_bytes().count(
        b'<script id="slow-probe" output="done"/>'
    ) == 4


def test_silent_on_a_pipe(tmp_path: Path) -> None:
    result = subprocess.run(_setup(tmp_path, 0.6), cwd=ROOT, capture_output=True, timeout=60)
    assert result.returncode == 0
    assert result.stderr == b""


STATS = re.compile(
    r"Stats: (\d+):(\d\d):(\d\d) elapsed; (\d+) hosts completed \((\d+) read\),"
    r" (\d+) undergoing Script Scan\n"
    r"NSE Timing: (?:About (\d+\.\d\d)% done; (?:ETC: \d\d:\d\d \((\d+:\d\d:\d\d) remaining\); )?)?"
    r"probes: (\d+) queued, (\d+) running, (\d+) done \((\d+\.\d)/s\)\n"
)


def test_stats_every_on_a_pipe(tmp_path: Path) -> None:
    """``--stats-every`` prints Nmap-worded lines even without a terminal; the counters only
    grow, and they add up (queued + running + done never exceeds the 6 script threads)."""
    argv = [*_setup(tmp_path, 2.2, hosts=3, ports=2), "--stats-every", "0.5s"]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    text = result.stderr.decode()
    stats = list(STATS.finditer(text))
    assert len(stats) >= 3, text
    assert STATS.sub("", text) == ""  # nothing else on stderr
    previous = (-1, -1, -1)
    for match in stats:
        elapsed = int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3])
        completed, read, done = int(match[4]), int(match[5]), int(match[11])
        assert completed <= read <= 3
        assert int(match[6]) == read - completed
        assert int(match[9]) + int(match[10]) + done <= 6
        assert (elapsed, completed, done) >= previous and completed >= previous[1]
        assert done >= previous[2]
        previous = (elapsed, completed, done)
        assert match[7] is not None  # a regular uncompressed file: the fraction is known
    assert any(int(m[10]) > 0 for m in stats)  # seen while probes were running


def test_eta_from_the_position_of_finished_hosts() -> None:
    """Half the input finished in 10 s: 10 s remain; unknown size: no ETA at all."""
    half = Snapshot(10.0, 4, 2, 0, 3, 12, 0.5)
    assert half.remaining == 10.0 and half.rate == 1.2
    assert Progress.status_line(half) == (
        "nmapx: 2/4 hosts done; probes 0 queued, 3 running, 12 done (1.2/s); 50.0%, ETA 0:00:10"
    )
    unknown = Snapshot(10.0, 4, 2, 1, 3, 12, None)
    assert unknown.remaining is None
    assert Progress.stats_lines(unknown) == (
        "Stats: 0:00:10 elapsed; 2 hosts completed (4 read), 2 undergoing Script Scan\n"
        "NSE Timing: probes: 1 queued, 3 running, 12 done (1.2/s)\n"
    )
