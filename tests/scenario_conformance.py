"""Run the real-service conformance scenario; meant to run inside a private network namespace.

``unshare -n python3 tests/scenario_conformance.py OUTDIR`` brings up ``lo``, starts nmapx's
emulators on their real ports (identd 113, daytime 13/tcp+udp, MAX! Cube 62910) plus banner
servers, then writes into OUTDIR:

* ``nse.xml`` / ``nse.nmap``: real ``nmap --script auth-owners,daytime,banner``;
* ``plain.xml``: the same scan without scripts;
* ``nmapx.xml`` / ``nmapx.nmap``: ``nmapx run plain.xml --script auth-owners,daytime,banner,maxcube-info``.

Nothing here can reach beyond the namespace's loopback interface.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixtures.emulators import (  # noqa: E402 - the checkout is put on the path first
    DEMO_CLOCK,
    BannerEmulator,
    DaytimeEmulator,
    EmulatorGroup,
    IdentdEmulator,
    MaxCubeEmulator,
)

#: Banner servers: (port, bytes sent on connect).
BANNERS = {
    2222: b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
    4242: b"220 ctl\x01\x02\x1b[0m bytes and caf\xc3\xa9 <&> 'quotes' \"dq\" a--b\r\n",
    4343: b"long " + b"0123456789abcdef" * 20 + b"\r\n",
}
PORTS = "T:13,113,2222,4242,4343,62910,U:13"


def main(outdir: Path) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    emulators = [
        IdentdEmulator(),
        DaytimeEmulator(clock=DEMO_CLOCK),  # both scans must see the same time
        MaxCubeEmulator(discovery_port=None, clock=DEMO_CLOCK),
        *(BannerEmulator(banner=data, port=port) for port, data in BANNERS.items()),
    ]
    with EmulatorGroup(emulators):
        time.sleep(0.2)
        base = ["nmap", "-n", "-Pn", "-sT", "-sU", "-p", PORTS, "127.0.0.1"]
        subprocess.run(
            [
                *base,
                "--script",
                "auth-owners,daytime,banner",
                "-oX",
                str(outdir / "nse.xml"),
                "-oN",
                str(outdir / "nse.nmap"),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        subprocess.run(
            [*base, "-oX", str(outdir / "plain.xml")], check=True, capture_output=True, timeout=300
        )
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "nmapx",
                "run",
                str(outdir / "plain.xml"),
                "--script",
                "auth-owners,daytime,banner,maxcube-info",
                "-oX",
                str(outdir / "nmapx.xml"),
                "-oN",
                str(outdir / "nmapx.nmap"),
            ],
            capture_output=True,
            timeout=300,
            cwd=ROOT,
            check=False,
        )
        (outdir / "nmapx.stderr").write_bytes(result.stderr)
        (outdir / "nmapx.status").write_text(str(result.returncode))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
