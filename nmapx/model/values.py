"""Lenient numbers from XML attribute text: the one set of parsers every reader of hosts uses.

Nmap XML numbers are attributes (``count="993"``, ``reason_ttl="64"``, ``rtt="0.50"``), and
old, hand-edited or damaged files carry any text there (``""``, ``"x"``, ``"7.9"``,
``"1e999"``, ``"nan"``). No reader may raise on them, but the readers do not all want the same
answer, and each difference below is kept on purpose, because its output depends on it:

* :func:`int_or` (the model, the XML writer): an integer as Python's ``int`` reads it, else a
  default (0 unless said). NSE tables need a number, never None.
* :func:`int_or_none` (reports, diff): the same integers, but None when there is none, because
  "absent" is data there: a report shows ``null`` and Ndiff leaves an unreadable port or date
  out instead of inventing 0.
* :func:`truncated_int` (``-oN``): also accepts any number ``float`` reads and keeps its
  integer part (``"7.9"`` is 7; infinities and NaN give the default). ``-oN`` has read numbers
  this way since it was written, so a damaged ``count="7.9"`` prints ``7`` there while the
  model, reports and diff read 0 or None. Making them agree would change output bytes, which
  a restructuring must not; the difference is named here so that it is changed, if ever, in
  one place and on purpose.
* :func:`float_or_none` (the NSE host table): any float, ``nan`` and ``inf`` included, as a
  Lua number can hold them.
* :func:`finite_float_or_none` (reports): finite floats only; ``NaN``/``Infinity`` are no
  JSON, and a report's ``JSON.parse`` would refuse the page.

Every function takes the attribute as lxml gives it (``str`` or None for absent).
"""

from __future__ import annotations

import math

__all__ = ["finite_float_or_none", "float_or_none", "int_or", "int_or_none", "truncated_int"]


def int_or(text: str | None, default: int = 0) -> int:
    """``int(text)``; ``default`` when absent or not an integer (``""``, ``"x"``, ``"7.9"``)."""
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def int_or_none(text: str | None) -> int | None:
    """``int(text)``; None when absent or not an integer."""
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def truncated_int(text: str | None, default: int = 0) -> int:
    """An integer, or the integer part of any other number (``"7.9"`` is 7); else ``default``.

    ``"1e999"`` and ``"nan"`` give ``default`` too: an infinite count or time has no integer.
    """
    if text is None:
        return default
    try:
        return int(text.strip())
    except ValueError:
        try:
            return int(float(text))
        except (ValueError, OverflowError):  # "nan"; "1e999" is infinite
            return default


def float_or_none(text: str | None) -> float | None:
    """``float(text)`` (``nan`` and ``inf`` included); None when absent or no number."""
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def finite_float_or_none(text: str | None) -> float | None:
    """A finite float; None when absent, no number, ``nan`` or infinite (see module doc)."""
    number = float_or_none(text)
    return number if number is None or math.isfinite(number) else None
