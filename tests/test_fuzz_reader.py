"""Each fuzz target in a bounded libFuzzer session that is the same on every run.

No randomness decides the outcome: ``-seed=1 -runs=N`` (a number of inputs, never a time
limit), ``PYTHONHASHSEED=0``, a fixed, sorted set of small corpus files as seeds and a fresh
corpus directory make the inputs executed a function of the commit alone (the session's
digest of every input executed is printed, to compare runs). A crash found here is found
on every run of this commit, and a session takes 10-20 s per target on a 2-core machine.

Skipped with the reason when atheris is not importable (wheels for CPython on x86-64 Linux
only) or the shared corpus is missing. Exploratory sessions: ``python -m fuzz``
(fuzz/README.md).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT

sys.path.insert(0, str(ROOT))

from fuzz.session import BOUNDED_RUNS, BOUNDED_SEEDS, TARGET_NAMES, bounded_session

needs_atheris = pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None,
    reason="atheris is not installed (pip install atheris; x86-64 Linux wheels only)",
)
needs_seeds = pytest.mark.skipif(
    not all((CORPUS / seed).is_file() for seed in BOUNDED_SEEDS),
    reason=f"seed files missing from the corpus at {CORPUS}",
)


def test_every_target_has_a_bounded_session() -> None:
    assert sorted(BOUNDED_RUNS) == sorted(TARGET_NAMES)
    assert list(BOUNDED_SEEDS) == sorted(BOUNDED_SEEDS)


@needs_atheris
@needs_seeds
@pytest.mark.parametrize("target", TARGET_NAMES)
def test_bounded_fuzzing_session_finds_no_crash(target: str, tmp_path: Path) -> None:
    result = bounded_session(target, CORPUS, tmp_path)
    print(result.line())  # runs, cov/ft and the digest, for comparing runs (pytest -s)
    assert result.crashes == [], result.log
    assert result.returncode == 0, result.log
    # libFuzzer ran exactly the inputs asked for: "Done N runs in S second(s)"
    assert result.runs == BOUNDED_RUNS[target], result.log
    assert result.digest.split()[0] == str(BOUNDED_RUNS[target]), result.log
