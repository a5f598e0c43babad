"""Coverage-guided fuzzing of every nmapx entry point that reads a file (see README.md).

``python -m fuzz`` runs the sessions (:mod:`fuzz.session`); :mod:`fuzz.targets` holds the
targets and their oracles, which import neither atheris nor (until called) nmapx, so that
the regression corpus replays under pytest anywhere and the libFuzzer child
(:mod:`fuzz.child`) can import nmapx under atheris' instrumentation.
"""
