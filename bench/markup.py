"""Hostile markup: what one ``<`` that starts no tag costs the reader's scanner.

The third fuzzing round found inputs that the scanner's former single backtracking regex
needed seconds for: a ``<`` followed by kilobytes of name bytes, whitespace or quotes and no
``>`` (quadratic), and ``<!DOCTYPE`` followed by ``[]`` pairs and no ``>`` (exponential).
``nmapxml.scan.markup_at`` now answers them in linear time. Three candidates per shape and
size, timed in the same run:

* **well-formed tag (baseline)**: ``markup_at`` on a valid start tag of the same size (one
  attribute value that long): what scanning that many bytes costs when all is well;
* **markup_at**: the scanner on the hostile shape;
* **former regex**: the backtracking regex it replaced (kept in tests/test_scan_markup.py as
  the specification), run only where it finishes in reasonable time.

``python -m bench --only markup`` (or ``python bench/markup.py``). Figures only, no thresholds.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nmapx.nmapxml.scan import markup_at

FORMER = re.compile(
    rb"""<!--.*?-->
    |<!\[CDATA\[.*?\]\]>
    |<\?.*?\?>
    |<!DOCTYPE(?:[^\[>"']|"[^"]*"|'[^']*'|\[.*?\])*>
    |<(/?)([^\s/>!?<]+)((?:[^<>"']|"[^"<]*"|'[^'<]*')*?)\s*(/?)>""",
    re.S | re.X,
)

#: Shape name -> bytes of about ``n`` bytes. The DOCTYPE one is exponential for the former
#: regex, so it gets its own (tiny) sizes there.
SHAPES: dict[str, Callable[[int], bytes]] = {
    "name, no '>'": lambda n: b"<" + b"a" * n + b"<",
    "whitespace, no '>'": lambda n: b"<a" + b" " * n + b"<",
    "whitespace, byte, '>'": lambda n: b"<a" + b" " * n + b"x>",
    "quotes in the name": lambda n: b"<" + b'a"' * (n // 2) + b" '>",
    "DOCTYPE [] pairs": lambda n: b"<!DOCTYPE " + b"[]" * (n // 2),
}


def _best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def run(quick: bool = False) -> list[dict[str, object]]:
    sizes = (2_000, 4_000) if quick else (2_000, 4_000, 8_000, 16_000, 1_000_000)
    rows: list[dict[str, object]] = []
    for n in sizes:
        good = b'<host name="' + b"v" * n + b'">'
        baseline = _best_of(lambda good=good: markup_at(good, 0), 5)
        for shape, make in SHAPES.items():
            data = make(n)
            ours = _best_of(lambda data=data: markup_at(data, 0), 5)
            former: float | None = None
            doctype = shape.startswith("DOCTYPE")
            if n <= 16_000 and not doctype:
                former = _best_of(lambda data=data: FORMER.match(data, 0), 1)
            rows.append(
                {
                    "table": "hostile markup",
                    "shape": shape,
                    "bytes": len(data),
                    "well-formed ms": baseline * 1e3,
                    "markup_at ms": ours * 1e3,
                    "former regex ms": None if former is None else former * 1e3,
                    "markup_at / well-formed": ours / baseline,
                    "former / markup_at": None if former is None else former / ours,
                }
            )
    # The DOCTYPE shape for the former regex: doubling per extra pair, so 16..24 pairs only.
    for pairs in (16, 20) if quick else (16, 20, 24):
        data = b"<!DOCTYPE " + b"[]" * pairs
        ours = _best_of(lambda data=data: markup_at(data, 0), 5)
        former = _best_of(lambda data=data: FORMER.match(data, 0), 1)
        rows.append(
            {
                "table": "hostile DOCTYPE (former regex: exponential)",
                "pairs": pairs,
                "bytes": len(data),
                "markup_at ms": ours * 1e3,
                "former regex ms": former * 1e3,
                "former / markup_at": former / ours,
            }
        )
    return rows


if __name__ == "__main__":
    from bench.report import format_tables

    print(format_tables(run(quick="--quick" in sys.argv)))
