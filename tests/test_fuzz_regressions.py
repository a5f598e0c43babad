"""Every input the fuzzers ever crashed on, replayed through its target's oracle.

``fuzz/regressions/<target>/<name>`` holds the minimized inputs (fuzz/README.md says how one
is added); ``expected.json`` beside them pins an exact outcome where a fix decided it. One
test per file, so a failure names the file. Runs without atheris: the oracles never import
it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT))

from fuzz.session import TARGET_NAMES, expectations, regression_files, replay_one

CASES = [(target, path) for target in TARGET_NAMES for path in regression_files(target)]


@pytest.mark.parametrize(("target", "path"), CASES, ids=[f"{t}/{p.name}" for t, p in CASES])
def test_regression_input_has_a_documented_outcome(target: str, path: Path) -> None:
    replay_one(target, path)


def test_the_namespace_crash_is_first_in_the_reader_corpus() -> None:
    names = [p.name for p in regression_files("reader")]
    assert names[:5] == [
        "01-namespace-qname-status-colon",
        "02-namespace-prefixed-element",
        "03-namespace-prefixed-attribute",
        "04-namespace-default-xmlns-on-host",
        "05-namespace-xmlns-prefix-on-host",
    ]
    assert {name: expectations("reader")[name]["status"] for name in names[:5]} == dict.fromkeys(
        names[:5], 4
    )


def test_every_target_directory_is_a_known_target() -> None:
    directories = sorted(p.name for p in (ROOT / "fuzz" / "regressions").iterdir() if p.is_dir())
    assert set(directories) <= set(TARGET_NAMES), directories
    for target in directories:
        assert set(expectations(target)) <= {p.name for p in regression_files(target)}
