"""Compact sets of port numbers, as Nmap writes them in ``services="1,3-4,6-7,..."``.

A full scan's list has tens of thousands of numbers; keeping sorted ranges and bisecting keeps
``get_port_state`` cheap for every host without expanding the list into a Python set.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator


class PortSet:
    """An immutable set of integers stored as sorted, merged, inclusive ranges."""

    __slots__ = ("_highs", "_lows")

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        merged: list[list[int]] = []
        for low, high in sorted(ranges):
            if low > high:
                raise ValueError(f"empty range {low}-{high}")
            if merged and low <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        self._lows = [low for low, _ in merged]
        self._highs = [high for _, high in merged]

    @classmethod
    def parse(cls, text: str) -> PortSet:
        """Parse Nmap's ``1,3-4,6`` syntax; raise ValueError naming the bad item."""
        ranges = []
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            low_text, dash, high_text = item.partition("-")
            try:
                low = int(low_text)
                high = int(high_text) if dash else low
            except ValueError:
                raise ValueError(f"bad port range {item!r}") from None
            ranges.append((low, high))
        return cls(ranges)

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, int):
            return False
        index = bisect.bisect_right(self._lows, number) - 1
        return index >= 0 and number <= self._highs[index]

    def __len__(self) -> int:
        return sum(high - low + 1 for low, high in zip(self._lows, self._highs, strict=True))

    def __bool__(self) -> bool:
        return bool(self._lows)

    def __iter__(self) -> Iterator[int]:
        for low, high in zip(self._lows, self._highs, strict=True):
            yield from range(low, high + 1)

    def __or__(self, other: PortSet) -> PortSet:
        return PortSet([*self.ranges(), *other.ranges()])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PortSet) and self.ranges() == other.ranges()

    def __hash__(self) -> int:
        return hash(tuple(self.ranges()))

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._lows, self._highs, strict=True))

    def __str__(self) -> str:
        return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.ranges())

    def __repr__(self) -> str:
        return f"PortSet({str(self)!r})"
