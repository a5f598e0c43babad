"""``nmapx demo``: the seed scripts on the bundled scan, against the emulators, in a namespace."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT, dtd_errors, needs_xmllint, run_nmapx

DEMO = ROOT / "fixtures" / "demo"
#: Results that do not depend on races. auth-owners asks identd about a connection that may be
#: closing (13), not yet accepted (113, 4242) or queued behind another client (the Cube), in
#: which case identd answers NO-USER and the script prints nothing, with real Nmap as well
#: (testing-notes.md); so auth-owners lines are checked for their form only.
EXPECTED_LINES = [
    b"13/tcp    open  daytime\n",
    b"|_banner: Sun Nov 22 22:01:21 2026\n",
    b"|_daytime: Sun Nov 22 22:01:21 2026\\x0D\n",
    b"|_banner: nmapx demo banner <&> caf\\xC3\\xA9 \\x01\\x7F\n",
    b"| banner: H:KMD1016788,099c3e,0113,00000000,7ee2b5d7,00,32,1a0b16,1601,03\n"
    b"|_,0000\\x0D\\x0AM:00,01,VgIBAQtMaXZpbmcgcm9vbRorPAEBGis8S0VRMTIzNDU2Nwp...\n"
    b"| maxcube-info: \n|   MAX Serial:: KMD1016788\n|   RF Address: 099c3e\n"
    b"|_  Firmware Version: 0113\n13/udp    open  daytime\n|_daytime: Sun Nov 22 22:01:21 2026\\x0D\n",
]


@needs_xmllint
def test_demo_runs_the_seed_scripts_on_the_bundled_scan(tmp_path: Path) -> None:
    result = run_nmapx("demo", "--outdir", str(tmp_path / "out"), timeout=120)
    assert result.returncode == 0, result.stderr
    for expected in EXPECTED_LINES:
        assert expected in result.stdout
    assert set(re.findall(rb"^\|_auth-owners: (.*)$", result.stdout, re.M)) <= {b"root"}
    assert result.stdout.startswith((DEMO / "scan.nmap").read_bytes().split(b"PORT ")[0])
    assert result.stderr.decode() == (
        f"nmapx demo: wrote {tmp_path / 'out' / 'scan-enriched.xml'}\n"
        f"nmapx demo: wrote {tmp_path / 'out' / 'report.html'}\n"
    )
    report = (tmp_path / "out" / "report.html").read_text()
    assert '<dd data-testid="added">' in report and "maxcube-info" in report
    enriched = (tmp_path / "out" / "scan-enriched.xml").read_bytes()
    assert (
        re.sub(rb"<script .*?(?:/>|</script>)", b"", enriched, flags=re.S)
        == (DEMO / "scan.xml").read_bytes()
    )
    assert dtd_errors(tmp_path / "out" / "scan-enriched.xml") == ""
