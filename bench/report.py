"""Plain-text tables for benchmark rows.

Every benchmark module returns ``list[Row]`` from ``run(quick)``; a row is a flat dict of
raw values (numbers stay numbers so ``--json`` output can be post-processed). The special
key ``"table"`` names the table a row belongs to, so one benchmark can print a measurement
table and a ratio table. Keeping formatting here means every benchmark prints alike and
none of them carries its own column-width code.
"""

from __future__ import annotations

from collections.abc import Iterable

Row = dict[str, object]


def fmt(value: object) -> str:
    """Numbers with as many decimals as their size deserves; ``None`` as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        mag = abs(value)
        if mag >= 1000:
            return f"{value:,.0f}"
        if mag >= 100:
            return f"{value:.0f}"
        if mag >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_table(title: str, rows: list[Row]) -> str:
    """One table: columns are the union of row keys in first-seen order; text columns
    are left-aligned, numeric ones right-aligned."""
    cols: list[str] = []
    for row in rows:
        cols.extend(k for k in row if k != "table" and k not in cols)
    cells = [[fmt(row.get(c)) for c in cols] for row in rows]
    numeric = [
        all(isinstance(r.get(c), int | float) or r.get(c) is None for r in rows) for c in cols
    ]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(cols)]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [title, "=" * len(title), line(cols), line(["-" * w for w in widths])]
    out.extend(line(c) for c in cells)
    return "\n".join(out)


def format_tables(rows: Iterable[Row], default_title: str = "results") -> str:
    """Group rows by their ``table`` key (first-seen order) and render each group."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(str(row.get("table", default_title)), []).append(row)
    return "\n\n".join(format_table(t, r) for t, r in groups.items())
