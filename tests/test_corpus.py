"""Every real Nmap XML file in the shared corpus: loads, and passes through unchanged.

Files that Nmap wrote must come back byte for byte; files re-saved by other tools must at
least be equal after XML canonicalisation (they are in fact byte-identical too, because the
writer copies bytes). The ``broken/`` files must give their documented outcome.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import RESAVED, corpus_files, corpus_id, dtd_errors, needs_xmllint, run_nmapx
from libnmap.parser import NmapParser
from lxml import etree

from nmapx.errors import ExitStatus, NmapxError
from nmapx.model.host import Host
from nmapx.nmapxml.reader import read_document

WELL_FORMED = corpus_files()
BROKEN = corpus_files(broken=True)
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

pytestmark = pytest.mark.skipif(not WELL_FORMED, reason="../shared/corpus not present")


@pytest.mark.parametrize("path", WELL_FORMED, ids=corpus_id)
def test_pass_through_is_byte_identical(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.xml"
    result = run_nmapx("run", str(path), "-oX", str(out))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    if path.name in RESAVED:
        assert etree.tostring(etree.parse(str(out), SAFE), method="c14n") == etree.tostring(
            etree.parse(str(path), SAFE), method="c14n"
        )
    assert out.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("path", WELL_FORMED, ids=corpus_id)
def test_every_host_is_read(path: Path) -> None:
    expected = len(etree.parse(str(path), SAFE).getroot().findall("host"))
    document = read_document(str(path))
    hosts = [item for item in document if isinstance(item, Host)]
    assert len(hosts) == expected
    assert document.status == ExitStatus.OK
    try:
        reference = NmapParser.parse_fromfile(str(path)).hosts
    except Exception as exc:  # python-libnmap's own limits (old OS-detection XML)
        with pytest.raises(NmapxError, match="python-libnmap cannot model this host"):
            for host in hosts:
                host.nmap_host  # noqa: B018
        assert "NmapOSClass" in str(exc)
        return
    assert [h.nmap_host.get_dict() for h in hosts] == [h.get_dict() for h in reference]
    for host in hosts:
        assert host.nse.ip == (host.address or "")
        assert [p.number for p in host.ports] == [
            int(p.get("portid")) for p in host.element.iter("port")
        ]


# (file, exit status, hosts kept, message fragments on stderr)
BROKEN_OUTCOMES = {
    "nmap-zenmap-test/broken/nmap-output-error.xml": (
        ExitStatus.OK,
        1,
        ["14:1: warning: repaired 1 character(s)", "15:1: warning: repaired"],
    ),
    "nmap_xml_parser-rs/broken/incomplete_scan.xml": (
        ExitStatus.INCOMPLETE,
        0,
        ["incomplete_scan.xml:12:1: error: input ended early: 0 complete host(s) kept (byte 4648)"],
    ),
    "python-libnmap/broken/1_hosts_incomplete.xml": (
        ExitStatus.INCOMPLETE,
        1,
        [
            "1_hosts_incomplete.xml:29:1: error: input ended early: 1 complete host(s) kept (byte 5800)"
        ],
    ),
    "scans2any/broken/goad-mini-incomplete.xml": (
        ExitStatus.INCOMPLETE,
        1,
        [
            "goad-mini-incomplete.xml:397:1: error: input ended early: 1 complete host(s) kept (byte 46427)"
        ],
    ),
    "scans2any/broken/goad-mini-corrupted.xml": (
        ExitStatus.DAMAGED,
        3,
        [
            "goad-mini-corrupted.xml:1:72: error: malformed markup skipped: XML declaration allowed only at the start of the document (byte 67)",
            "goad-mini-corrupted.xml:5:1: error: a second <nmaprun> start tag skipped (byte 307)",
            "goad-mini-corrupted.xml:430:1: error: <runstats> element is not closed; skipped (byte 57955)",
        ],
    ),
}


def test_every_broken_file_has_a_documented_outcome() -> None:
    assert sorted(corpus_id(p) for p in BROKEN) == sorted(BROKEN_OUTCOMES)


@pytest.mark.parametrize("path", BROKEN, ids=corpus_id)
def test_broken_files_recover_or_fail_clearly(path: Path, tmp_path: Path) -> None:
    status, hosts, messages = BROKEN_OUTCOMES[corpus_id(path)]
    out = tmp_path / "out.xml"
    result = run_nmapx("run", str(path), "-oX", str(out))
    stderr = result.stderr.decode()
    assert result.returncode == status, stderr
    assert "Traceback" not in stderr
    for message in messages:
        assert message in stderr
    for line in stderr.splitlines():
        assert line.startswith("nmapx: ") and str(path) in line
    kept = etree.parse(str(out), SAFE).getroot()  # well-formed, whatever the damage
    assert len(kept.findall("host")) == hosts
    assert kept[-1].tag == "runstats"


@needs_xmllint
def test_truncated_output_is_dtd_valid(tmp_path: Path) -> None:
    source = next(p for p in BROKEN if p.name == "goad-mini-incomplete.xml")
    out = tmp_path / "out.xml"
    run_nmapx("run", str(source), "-oX", str(out))
    assert dtd_errors(out) == ""
    finished = etree.parse(str(out), SAFE).find("runstats/finished")
    assert finished.get("exit") == "error"
    assert finished.get("errormsg") == (
        "nmapx: input ended early (line 397, byte 46427); 1 complete host(s) kept"
    )


@pytest.mark.parametrize("path", WELL_FORMED, ids=corpus_id)
def test_tiny_chunks_and_buffer_compaction_change_nothing(path: Path, monkeypatch) -> None:
    """Pieces cut at every kind of place, and a buffer compacted between reads."""
    import io

    from nmapx.nmapxml import reader, source
    from nmapx.output.atomic import AtomicOutput
    from nmapx.output.xml import XmlWriter

    monkeypatch.setattr(source, "CHUNK_SIZE", 61)
    monkeypatch.setattr(reader, "_COMPACT_AT", 256)
    document = read_document(str(path))
    out = AtomicOutput("-")
    out.stream = io.BytesIO()  # type: ignore[assignment]
    writer = XmlWriter(out)
    for item in document:
        writer.write(item)
    assert document.status == ExitStatus.OK, document.problems
    assert out.stream.getvalue() == path.read_bytes()  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", WELL_FORMED + BROKEN, ids=corpus_id)
def test_checking_hosts_without_building_them_agrees(path: Path) -> None:
    """``parse_hosts=False`` (bare ``-oX`` pass-through): same pieces, problems and hosts.

    Each host's element, parsed later on demand from its bytes, must equal the element the
    long-lived parser built while streaming (canonical XML).
    """
    built = read_document(str(path))
    checked = read_document(str(path), parse_hosts=False)
    eager = [(type(i).__name__, getattr(i, "raw", None), i) for i in built]
    lazy = [(type(i).__name__, getattr(i, "raw", None), i) for i in checked]
    assert [item[:2] for item in lazy] == [item[:2] for item in eager]
    assert [str(p) for p in checked.problems] == [str(p) for p in built.problems]
    assert checked.status == built.status
    for (_, _, lazy_item), (_, _, eager_item) in zip(lazy, eager, strict=True):
        if isinstance(eager_item, Host):
            assert etree.tostring(lazy_item.element, method="c14n") == etree.tostring(
                eager_item.element, method="c14n"
            )
