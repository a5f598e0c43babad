"""Run the real-service conformance scenario; meant to run inside a private network namespace.

``unshare -n python3 tests/scenario_conformance.py OUTDIR`` brings up ``lo``, starts nmapx's
emulators on their real ports (identd 113, daytime 13/tcp+udp, MAX! Cube 62910) plus banner
servers, then writes into OUTDIR:

* ``nse.xml`` / ``nse.nmap``: real ``nmap --script auth-owners,daytime,banner``;
* ``plain.xml``, ``nmapx.xml`` / ``nmapx.nmap``: the same scan without scripts, piped as Nmap
  writes it into ``nmapx run --script auth-owners,daytime,banner,maxcube-info``
  (``nmap -oX - | tee plain.xml | nmapx run ...``).

identd is Debian's real ``oidentd`` when it is installed (CI installs it), else nmapx's
oidentd-compatible emulator; ``identd.txt`` says which.

Nothing here can reach beyond the namespace's loopback interface.
"""

from __future__ import annotations

import shutil
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


def start_identd(outdir: Path) -> subprocess.Popen[bytes] | None:
    """Debian's oidentd when installed (CI installs it); None means: use the emulator."""
    oidentd = shutil.which("oidentd", path="/usr/sbin:/usr/bin:/sbin:/bin")
    (outdir / "identd.txt").write_text("oidentd\n" if oidentd else "emulator\n")
    if oidentd is None:
        return None
    return subprocess.Popen(
        [oidentd, "-i", "-a", "127.0.0.1", "-p", "113", "-S", "-q", "-t", "30"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main(outdir: Path) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    identd = start_identd(outdir)
    emulators = [
        *([] if identd else [IdentdEmulator()]),
        DaytimeEmulator(clock=DEMO_CLOCK),  # both scans must see the same time
        MaxCubeEmulator(discovery_port=None, clock=DEMO_CLOCK),
        *(BannerEmulator(banner=data, port=port) for port, data in BANNERS.items()),
    ]
    try:
        with EmulatorGroup(emulators):
            time.sleep(0.3)
            run_both(outdir)
    finally:
        if identd is not None:
            identd.terminate()
            identd.wait(timeout=10)


def run_both(outdir: Path) -> None:
    base = ["nmap", "-n", "-Pn", "-sT", "-sU", "-p", PORTS, "127.0.0.1"]
    subprocess.run(
        [*base, "--script", "auth-owners,daytime,banner",
         "-oX", str(outdir / "nse.xml"), "-oN", str(outdir / "nse.nmap")],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    # nmap -oX - | tee plain.xml | nmapx run --script ...
    nmap = subprocess.Popen([*base, "-oX", "-"], stdout=subprocess.PIPE)
    tee = subprocess.Popen(
        ["tee", str(outdir / "plain.xml")], stdin=nmap.stdout, stdout=subprocess.PIPE
    )
    assert nmap.stdout is not None
    nmap.stdout.close()
    result = subprocess.run(
        [sys.executable, "-m", "nmapx", "run", "--script", "auth-owners,daytime,banner,maxcube-info",
         "-oX", str(outdir / "nmapx.xml"), "-oN", str(outdir / "nmapx.nmap")],
        stdin=tee.stdout, capture_output=True, timeout=300, cwd=ROOT, check=False,
    )  # fmt: skip
    nmap.wait(timeout=60)
    tee.wait(timeout=60)
    (outdir / "nmapx.stderr").write_bytes(result.stderr)
    (outdir / "nmapx.status").write_text(str(result.returncode))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
