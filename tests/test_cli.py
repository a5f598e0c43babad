"""Command-line behaviour: usage errors, default outputs, atomic files."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT, run_nmapx

DEMO_SCAN = ROOT / "fixtures" / "demo" / "scan.xml"


def test_several_inputs_cannot_share_one_xml_file(tmp_path: Path) -> None:
    result = run_nmapx("run", str(DEMO_SCAN), str(DEMO_SCAN), "-oX", str(tmp_path / "x.xml"))
    assert result.returncode == 2
    assert result.stderr.decode().splitlines()[-1] == (
        "nmapx run: error: several inputs: -oX and -oN FILE take one input"
        " (use --outdir DIR or --in-place for the XML of each)"
    )
    assert not (tmp_path / "x.xml").exists()


def test_several_inputs_print_normal_output_in_turn() -> None:
    result = run_nmapx("run", str(DEMO_SCAN), str(DEMO_SCAN))
    assert result.returncode == 0
    assert result.stdout == (ROOT / "fixtures" / "demo" / "scan.nmap").read_bytes() * 2


def test_no_command_prints_help_and_fails() -> None:
    result = run_nmapx()
    assert result.returncode == 2
    assert result.stderr.startswith(b"usage: nmapx")


def test_unwritable_output_is_one_line_and_status_1(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "out.xml"
    result = run_nmapx("run", str(DEMO_SCAN), "-oX", str(target))
    assert result.returncode == 1
    assert result.stderr.decode() == f"nmapx: {target}: cannot write: No such file or directory\n"


def test_output_file_replaced_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "out.xml"
    out.write_bytes(b"old")
    out.chmod(0o640)
    assert run_nmapx("run", str(DEMO_SCAN), "-oX", str(out)).returncode == 0
    assert out.read_bytes() == DEMO_SCAN.read_bytes()
    assert out.stat().st_mode & 0o777 == 0o640  # the replaced file keeps its permissions
    assert [p.name for p in tmp_path.iterdir()] == ["out.xml"]  # no temporary file left


def test_two_outputs_cannot_both_go_to_stdout() -> None:
    result = run_nmapx("run", str(DEMO_SCAN), "-oX", "-", "-oN", "-")
    assert result.returncode == 2
    assert result.stderr.decode().splitlines()[-1] == (
        "nmapx run: error: -oX - and -oN - would both write to stdout; send one of them to a file"
    )
