"""The atheris fuzz target runs: a bounded session over the real corpus finds no crash.

Skipped with the reason when atheris is not importable (it has wheels for CPython on
x86-64 Linux only). Longer sessions: fuzz/README.md.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT

needs_atheris = pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None,
    reason="atheris is not installed (pip install atheris; x86-64 Linux wheels only)",
)
SECONDS = 25


@needs_atheris
@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus missing at {CORPUS}")
def test_fuzzer_finds_no_crash_in_a_bounded_run(tmp_path: Path) -> None:
    # Seeds: small corpus files (libFuzzer mutates faster on small inputs)
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for path in sorted(CORPUS.rglob("*.xml")):
        if path.stat().st_size <= 12_000:
            (seeds / f"{path.parent.name}-{path.name}").write_bytes(path.read_bytes())
    work = tmp_path / "corpus"
    work.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "fuzz" / "fuzz_reader.py"),
            f"-max_total_time={SECONDS}",
            "-rss_limit_mb=2048",
            "-timeout=20",
            f"-dict={ROOT / 'fuzz' / 'nmap-xml.dict'}",
            f"-artifact_prefix={tmp_path}/",
            str(work),
            str(seeds),
        ],
        capture_output=True,
        timeout=SECONDS + 120,
        cwd=tmp_path,
        check=False,
    )
    log = result.stderr.decode("utf-8", "replace")
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert result.returncode == 0, log[-4000:]
    assert crashes == [], log[-4000:]
    runs = [line for line in log.splitlines() if line.startswith("Done ")]
    assert runs, log[-2000:]
    # libFuzzer really ran inputs: "Done N runs in S second(s)"
    assert int(runs[-1].split()[1]) > 100, runs[-1]
