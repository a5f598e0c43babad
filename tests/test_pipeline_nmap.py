"""End to end with real Nmap: ``nmap -oX - | nmapx run -oX -`` and ``-oN`` against Nmap's own."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, corpus_files, corpus_id, dtd_errors, needs_nmap, needs_xmllint, run_nmapx
from lxml import etree

from nmapx.output.normal import encode_normal, format_document

SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _scan(ports: str, *extra: str) -> list[str]:
    return ["nmap", "-n", "-Pn", "-sT", "-p", ports, *extra, "127.0.0.1"]


@needs_nmap
@needs_xmllint
@pytest.mark.parametrize("target", ["-oX -", "-oX {out}"])
def test_nmap_piped_into_nmapx_is_byte_identical(
    tmp_path: Path, listener_factory, target: str
) -> None:
    """``nmap -oX - | nmapx run`` writes exactly what Nmap sent, and it is DTD-valid."""
    ssh = listener_factory(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    plain = listener_factory()
    sent, out = tmp_path / "nmap.xml", tmp_path / "nmapx.xml"
    nmap = " ".join(_scan(f"{ssh.port},{plain.port},1-30", "--reason", "-oX", "-"))
    nmapx = f"python3 -m nmapx run {target.format(out=out)}"
    pipeline = f"{nmap} | tee {sent} | {nmapx}" + (f" > {out}" if target == "-oX -" else "")
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", pipeline], capture_output=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert b'<port protocol="tcp" portid="%d">' % ssh.port in sent.read_bytes()
    assert out.read_bytes() == sent.read_bytes()
    assert dtd_errors(out) == ""


@needs_nmap
@pytest.mark.parametrize("options", [(), ("--reason",), ("-sV", "--version-light"), ("-v",)])
def test_normal_output_matches_nmap(
    tmp_path: Path, listener_factory, options: tuple[str, ...]
) -> None:
    ssh = listener_factory(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    xml, normal = tmp_path / "scan.xml", tmp_path / "scan.nmap"
    subprocess.run(
        _scan(f"{ssh.port},1-40", *options, "-oX", str(xml), "-oN", str(normal)),
        check=True,
        capture_output=True,
        timeout=120,
    )
    result = run_nmapx("run", str(xml), "-oN", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout == normal.read_bytes()


def test_normal_output_is_the_default_and_oX_dash_replaces_it(tmp_path: Path) -> None:
    source = next(p for p in corpus_files() if p.name == "scanme_A.xml")
    default = run_nmapx("run", str(source))
    assert default.returncode == 0
    assert default.stdout == encode_normal(
        format_document(etree.parse(str(source), SAFE).getroot())
    )
    xml_only = run_nmapx("run", str(source), "-oX", "-")
    assert xml_only.stdout == source.read_bytes()


@pytest.mark.parametrize("path", corpus_files(), ids=corpus_id)
def test_streamed_normal_output_equals_whole_document_rendering(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.nmap"
    result = run_nmapx("run", str(path), "-oN", str(out), "-oX", str(tmp_path / "out.xml"))
    assert result.returncode == 0, result.stderr
    expected = encode_normal(format_document(etree.parse(str(path), SAFE).getroot()))
    assert out.read_bytes() == expected
