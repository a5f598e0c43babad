"""``nmapx demo``: the product in one minute, on a scan bundled with nmapx.

The bundled scan is real Nmap output of nmapx's own loopback emulators (fixtures/demo/). The
demo streams it through the same pipeline as ``nmapx run``, prints the Nmap normal output and
writes the enriched XML, so a newcomer sees exactly what a real run produces.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nmapx.errors import ExitStatus
from nmapx.pipeline import Outputs, process
from nmapx.reader import read_document
from nmapx.resources import bundled_dir


def demo_scan() -> Path:
    """The bundled Nmap XML scan of the emulators."""
    return bundled_dir("fixtures") / "demo" / "scan.xml"


def run_demo(outdir: Path) -> tuple[ExitStatus, list[Path]]:
    """Process the bundled scan: normal output on stdout, enriched files into ``outdir``."""
    outdir.mkdir(parents=True, exist_ok=True)
    xml_out = outdir / "scan-enriched.xml"
    status = process(read_document(str(demo_scan())), Outputs(xml=str(xml_out), normal="-"))
    sys.stdout.flush()
    return status, [xml_out]
