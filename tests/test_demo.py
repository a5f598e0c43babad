"""``nmapx demo`` on the bundled scan: what Nmap itself printed, and the XML it wrote."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT, run_nmapx

DEMO = ROOT / "fixtures" / "demo"


def test_demo_prints_nmaps_own_normal_output_and_writes_the_xml(tmp_path: Path) -> None:
    result = run_nmapx("demo", "--outdir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (DEMO / "scan.nmap").read_bytes()
    assert result.stderr.decode() == f"nmapx demo: wrote {tmp_path / 'out' / 'scan-enriched.xml'}\n"
    assert (tmp_path / "out" / "scan-enriched.xml").read_bytes() == (DEMO / "scan.xml").read_bytes()
