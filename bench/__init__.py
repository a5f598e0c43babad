"""nmapx benchmarks: each benchmark module exposes ``run(quick: bool) -> list[Row]``.

Run them all with ``python -m bench`` or ``python bench/run_all.py`` (see README.md).
"""
