"""Inputs cut off in their header: exit 3 must still mean a DTD-valid output document.

nmap.dtd requires ``<nmaprun>`` to start with ``scaninfo*, verbose, debugging`` and end with
``runstats``. A scan killed (or a download cut) before Nmap wrote ``<verbose>`` or
``<debugging>`` used to give exit 3 and a document xmllint rejects. Every byte offset from the
start of real corpus files through their first ``<host`` is tried here: before the
``<nmaprun>`` start tag is complete nothing is Nmap XML yet (exit 1, no output); from then on
the run must exit 3 with a DTD-valid document.

The runs are in-process (``nmapx.cli.main``) and xmllint checks all outputs of a file in one
call, so the few hundred offsets per file take seconds.
"""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path

import pytest
from conftest import CORPUS, NMAP_DTD, needs_xmllint

from nmapx.cli import main

#: Real headers: Nmap 4.90RC2 with two <scaninfo> (no DOCTYPE), and 7.94SVN with a DOCTYPE,
#: a stylesheet PI and <hosthint> elements between <debugging> and the first <host>.
FILES = ["nmap-ndiff-test-scans/complex.xml", "ad-lab/details.xml"]
_ROOT_START = re.compile(rb"<nmaprun\s[^>]*>")


def _run_cut(data: bytes, cut: Path, out: Path) -> int:
    cut.write_bytes(data)
    return main(["run", str(cut), "-oX", str(out)])


@needs_xmllint
@pytest.mark.parametrize("name", FILES)
def test_every_header_cut_gives_exit_3_and_a_dtd_valid_document(
    name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{path} missing (shared corpus)")
    data = path.read_bytes()
    first_host = data.find(b"<host ")
    end = first_host + len(b"<host ") if first_host >= 0 else len(data)
    root_end = _ROOT_START.search(data).end()
    written: dict[Path, int] = {}
    statuses: dict[int, int] = {}
    logging.getLogger("nmapx").disabled = True  # one error line per run; not what is tested
    try:
        for offset in range(end + 1):
            out = tmp_path / f"out-{offset}.xml"
            statuses[offset] = _run_cut(data[:offset], tmp_path / "cut.xml", out)
            if out.exists():
                written[out] = offset
    finally:
        logging.getLogger("nmapx").disabled = False
    # Before the root start tag is complete the input is not Nmap XML: exit 1, no output.
    assert {o: s for o, s in statuses.items() if o < root_end} == dict.fromkeys(range(root_end), 1)
    assert all(offset >= root_end for offset in written.values())
    # From then on: exit 3, and an output document.
    assert {o: s for o, s in statuses.items() if o >= root_end} == dict.fromkeys(
        range(root_end, end + 1), 3
    )
    assert sorted(written.values()) == list(range(root_end, end + 1))
    result = subprocess.run(
        ["xmllint", "--noout", "--nonet", "--dtdvalid", str(NMAP_DTD), *map(str, written)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    invalid = sorted({written[Path(p)] for p in re.findall(r"^(\S+?\.xml):", result.stderr, re.M)})
    assert invalid == [], f"offsets with DTD-invalid output: {invalid}\n{result.stderr[:2000]}"
    assert result.returncode == 0


@needs_xmllint
def test_header_cut_before_verbose_is_completed_without_invented_levels(tmp_path: Path) -> None:
    """The missing elements are added bare: Nmap's levels are unknown, and ``level`` is optional."""
    path = CORPUS / FILES[0]
    if not path.exists():
        pytest.skip(f"{path} missing (shared corpus)")
    data = path.read_bytes()
    cut_at = data.index(b"<verbose")
    out = tmp_path / "out.xml"
    assert _run_cut(data[:cut_at], tmp_path / "cut.xml", out) == 3
    body = out.read_bytes()
    head = data[: data.index(b"\n", data.index(b'<scaninfo type="udp"')) + 1]
    assert body.startswith(head + b"<verbose/>\n<debugging/>\n<runstats><finished ")
    assert body.endswith(b"</runstats>\n</nmaprun>\n")
