"""The installed package (``pip install .``, not editable) works without the source tree.

CI installs nmapx that way into its virtual environment before running the tests; this test
then runs the installed console script from a directory where the checkout is not importable.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, corpus_files


def _installed_location() -> Path | None:
    """The installed package's directory, seen from outside the checkout (None if absent)."""
    probe = subprocess.run(
        [sys.executable, "-c", "import nmapx; print(nmapx.__file__)"],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=60,
        check=False,
    )
    if probe.returncode != 0:
        return None
    location = Path(probe.stdout.strip()).parent
    return None if location.is_relative_to(ROOT) else location


INSTALLED = _installed_location()
pytestmark = pytest.mark.skipif(
    INSTALLED is None, reason="nmapx is not installed non-editably here (bash .ci/run does that)"
)


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, capture_output=True, cwd=cwd, timeout=60, check=False)


def test_console_script_and_module_run_from_anywhere(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "nmapx"
    version = importlib.metadata.version("nmapx")
    assert _run(str(script), "--version", cwd=tmp_path).stdout == f"nmapx {version}\n".encode()
    source = next(p for p in corpus_files() if p.name == "scanme_A.xml")
    for command in ([str(script)], [sys.executable, "-m", "nmapx"]):
        result = _run(*command, "run", str(source), "-oX", "-", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout == source.read_bytes()


def test_installed_scripts_run(tmp_path: Path) -> None:
    """The built-in scripts and the NSE library are part of the installed package."""
    demo_scan = ROOT / "fixtures" / "demo" / "scan.xml"
    result = _run(
        str(Path(sys.executable).parent / "nmapx"), "run", str(demo_scan), "--script",
        "daytime", "--no-network", "-oX", "-", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert b"network access refused (--no-network): 127.0.0.1" in result.stderr


def test_bundled_directories_come_from_site_packages(tmp_path: Path) -> None:
    probe = (
        "import nmapx, nmapx.resources as r;"
        "print(nmapx.__file__);print(r.bundled_dir('templates'));print(r.bundled_dir('fixtures'));"
        "print(r.fixture_module('emulators').__file__)"
    )
    lines = _run(sys.executable, "-c", probe, cwd=tmp_path).stdout.decode().splitlines()
    assert len(lines) == 4
    for line in lines:
        assert Path(line).is_relative_to(INSTALLED), line
        assert not Path(line).is_relative_to(ROOT), line
