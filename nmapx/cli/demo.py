"""``nmapx demo``: the product in one minute, on a scan bundled with nmapx.

The bundled scan (fixtures/demo/) is real Nmap output of nmapx's own loopback emulators:
daytime on 13/tcp+udp, identd on 113, a banner service on 4242 and an eQ-3 MAX! Cube on
62910. The demo brings those emulators up again on the same ports, runs the seed scripts on
the scan through the same pipeline as ``nmapx run``, prints Nmap's normal output and writes the
enriched XML and the HTML report.

Ports 13 and 113 are privileged, and they may be taken on the machine, so the demo runs in a
private network namespace of its own (``unshare -n`` as root, ``unshare -Urn`` otherwise):
its emulators and probes live on a loopback interface that nothing else can see or reach.
Where no namespace can be made, it uses the machine's loopback if it may bind the ports.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from nmapx.engine.options import RunOptions
from nmapx.errors import ExitStatus, NmapxError
from nmapx.pipeline import Outputs
from nmapx.resources import bundled_dir, fixture_module

log = logging.getLogger(__name__)

DEMO_SCRIPTS = ["auth-owners", "daytime", "banner", "maxcube-info"]
_INSIDE = "NMAPX_DEMO_NAMESPACE"


def demo_scan() -> Path:
    """The bundled Nmap XML scan of the emulators."""
    return bundled_dir("fixtures") / "demo" / "scan.xml"


def _loopback_up() -> None:
    """``ip link set lo up`` without needing iproute2 (a new namespace starts with lo down)."""
    get_flags, set_flags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, get_flags, request))[1]
        fcntl.ioctl(sock, set_flags, struct.pack("16sh", b"lo", flags | iff_up))


def _in_namespace(argv: list[str]) -> int | None:
    """Re-run the demo inside a private network namespace; None if none can be made."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    options = ["-n"] if os.geteuid() == 0 else ["-U", "-r", "-n"]
    probe = subprocess.run([unshare, *options, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return None
    env = dict(os.environ, **{_INSIDE: "1"})
    return subprocess.run(
        [unshare, *options, sys.executable, "-m", "nmapx", *argv], env=env, check=False
    ).returncode


def run_demo(outdir: Path, argv: list[str]) -> tuple[ExitStatus, list[Path]]:
    """Start the emulators, enrich the bundled scan with the seed scripts, write the outputs."""
    if os.environ.get(_INSIDE) != "1":
        status = _in_namespace(argv)
        if status is not None:
            written = [outdir / "scan-enriched.xml", outdir / "report.html"]
            known = status in {int(member) for member in ExitStatus}
            return ExitStatus(status) if known else ExitStatus.ERROR, written
    else:
        _loopback_up()
    emulators = fixture_module("emulators")
    outdir.mkdir(parents=True, exist_ok=True)
    xml_out = outdir / "scan-enriched.xml"
    group = emulators.EmulatorGroup(emulators.default_emulators(clock=emulators.DEMO_CLOCK))
    try:
        group.start()
    except OSError as exc:
        raise NmapxError(
            f"cannot start the demo services on loopback ({exc.strerror or exc}); run the demo"
            " as root, or where 'unshare -Urn' is allowed"
        ) from None
    try:
        time.sleep(0.1)
        html_out = outdir / "report.html"
        outputs = Outputs(xml=str(xml_out), normal="-", html=str(html_out), label="demo scan.xml")
        from nmapx.api import run

        result = run(str(demo_scan()), options=RunOptions(scripts=DEMO_SCRIPTS), outputs=outputs)
        status = result.status
    finally:
        group.stop()
    sys.stdout.flush()
    return status, [xml_out, html_out]


# ----------------------------------------------------------------------- the sub-command
NAME = "demo"


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME, help="run nmapx on its bundled scan of loopback emulators (a one-minute tour)"
    )
    parser.add_argument(
        "--outdir",
        default="nmapx-demo",
        metavar="DIR",
        help="where to write the enriched XML (default: ./nmapx-demo)",
    )
    return parser


def main(args: argparse.Namespace) -> int:
    outdir = Path(args.outdir).resolve()
    status, written = run_demo(outdir, ["demo", "--outdir", str(outdir)])
    if os.environ.get(_INSIDE) != "1":
        for path in written:
            sys.stderr.write(f"nmapx demo: wrote {path}\n")
    return int(status)
