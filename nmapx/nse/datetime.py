"""NSE's ``datetime`` (nselib/datetime.lua, Nmap 7.93): clock skew and time formatting.

In Nmap 7.93 ``format_timestamp``, ``format_time`` and ``format_difftime`` live here, not in
stdnse (older Nmaps had them in stdnse.lua), so they are here too. Lua's ``os`` functions
that these work with have Python stand-ins below: :func:`utc_table` is ``os.date("!*t", t)``
and :func:`os_time` is ``os.time(t)``, which reads a date table as *local* time; the module
keeps that (``format_difftime`` subtracts two such readings, as datetime.lua does), so a
difference across a daylight-saving change comes out as Nmap's does on the same machine.

``record_skew`` appends to ``host.registry["datetime_skew"]``, the list clock-skew reads
(its hostrule fires when the list is not empty; it takes the mean, deviation and median of
the entries, in seconds, as floats).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from nmapx.model.results import lua_tostring
from nmapx.nse import stdnse

__all__ = [
    "date_to_timestamp",
    "format_difftime",
    "format_time",
    "format_timestamp",
    "os_time",
    "record_skew",
    "utc_offset",
    "utc_table",
]

_FIELDS = ("year", "month", "day", "hour", "min", "sec")


def _get(table: Any, key: str) -> Any:
    if isinstance(table, Mapping):
        return table.get(key)
    return getattr(table, key, None)


def record_skew(host: Any, timestamp: float, received: float) -> None:
    """Record the target's clock minus ours, less half the smoothed round-trip time.

    ``timestamp`` and ``received`` are seconds (both floored first, as datetime.lua does);
    ``host.times.srtt`` is in seconds and counts as 0 when absent. The entry is a float.
    """
    registry = _get(host, "registry")
    times = _get(host, "times")
    srtt = (_get(times, "srtt") if times is not None else None) or 0
    adjusted = float(math.floor(timestamp) - math.floor(received)) - srtt / 2.0
    skews = list(registry.get("datetime_skew") or ())
    skews.append(adjusted)
    stdnse.debug(2, "record_skew: %s", lua_tostring(adjusted).decode())
    registry["datetime_skew"] = skews


def utc_table(t: float) -> dict[str, Any]:
    """Lua's ``os.date("!*t", t)``: the UTC calendar fields of ``t``, ``isdst`` false."""
    tm = time.gmtime(math.floor(t))
    return {
        "year": tm.tm_year, "month": tm.tm_mon, "day": tm.tm_mday, "hour": tm.tm_hour,
        "min": tm.tm_min, "sec": tm.tm_sec, "wday": (tm.tm_wday + 1) % 7 + 1,
        "yday": tm.tm_yday, "isdst": False,
    }  # fmt: skip


def os_time(table: MutableMapping[str, Any] | None = None) -> int:
    """Lua 5.3's ``os.time``: now, or a date table read as local time (``mktime``).

    As in Lua, the table's fields are normalised in place (31 February becomes 3 March).
    """
    if table is None:
        return int(time.time())
    isdst = table.get("isdst")
    stamp = int(
        time.mktime(
            (
                int(table["year"]), int(table["month"]), int(table["day"]),
                int(table.get("hour", 12)), int(table.get("min", 0)), int(table.get("sec", 0)),
                0, 0, -1 if isdst is None else int(bool(isdst)),
            )
        )
    )  # fmt: skip
    tm = time.localtime(stamp)
    table.update(
        year=tm.tm_year, month=tm.tm_mon, day=tm.tm_mday, hour=tm.tm_hour, min=tm.tm_min,
        sec=tm.tm_sec, wday=(tm.tm_wday + 1) % 7 + 1, yday=tm.tm_yday, isdst=tm.tm_isdst > 0,
    )  # fmt: skip
    return stamp


def _utc_offset() -> int:
    """How far a UTC date table read as local time is from the truth (datetime.lua's trick:
    the calendar of 1970-01-02 locally and in UTC, both read as local time)."""
    local = time.localtime(86400)
    local_table = {
        "year": local.tm_year, "month": local.tm_mon, "day": local.tm_mday,
        "hour": local.tm_hour, "min": local.tm_min, "sec": local.tm_sec,
        "isdst": local.tm_isdst > 0,
    }  # fmt: skip
    return os_time(local_table) - os_time(utc_table(86400))


_UTC_OFFSET = _utc_offset()


def utc_offset() -> int:
    """Seconds to add to ``os_time`` of a UTC date table to get the real timestamp."""
    return _UTC_OFFSET


def date_to_timestamp(date: MutableMapping[str, Any], offset: float = 0) -> float | None:
    """A date table in the time zone ``offset`` seconds east of UTC, as a timestamp."""
    try:
        stamp = os_time(date)
    except (OverflowError, ValueError, KeyError, TypeError) as error:
        stdnse.debug(1, "Invalid date for this platform: %s", error)
        return None
    return stamp + utc_offset() - offset


def _format_tz(offset: float | None) -> str:
    if offset is None:
        return ""
    sign = "+"
    if offset < 0:
        sign, offset = "-", -offset
    minutes = math.floor(offset / 60)
    return f"{sign}{math.floor(minutes / 60):02d}:{math.floor(math.fmod(minutes, 60)):02d}"


def format_timestamp(t: Any, offset: float | None = None) -> str:
    """RFC 3339 as NSE's structured output writes dates: ``2012-09-07T23:37:42+00:00``.

    ``t`` is a timestamp (with ``offset``, seconds east of UTC, appended as ``+hh:mm``; none
    when omitted) or a date table (printed as it is, with no zone).
    """
    if isinstance(t, Mapping) or all(hasattr(t, f) for f in _FIELDS):
        y, mo, d, h, mi, s = (int(_get(t, f)) for f in _FIELDS)
        return f"{y}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
    zone = _format_tz(offset)
    stamp = math.floor(t + (offset or 0))
    try:
        tm = time.gmtime(stamp)
    except (OverflowError, OSError, ValueError):
        # datetime.lua's fallback for what the C library cannot show: shift by whole years,
        # show the date only, marked with "?"
        seconds_in_year = 31556926
        extra = None
        if stamp > 0xFFFFFFFF:
            extra = (stamp - 0xFFFFFFFF) // seconds_in_year + 1
        elif stamp < -utc_offset():
            extra = stamp // seconds_in_year
        if extra is not None:
            try:
                tm = time.gmtime(stamp - extra * seconds_in_year)
            except (OverflowError, OSError, ValueError):
                pass
            else:
                return f"{tm.tm_year + extra}-{tm.tm_mon:02d}-{tm.tm_mday:02d}?{zone}"
        return f"Invalid timestamp: {lua_tostring(t).decode()}"
    return (
        f"{tm.tm_year}-{tm.tm_mon:02d}-{tm.tm_mday:02d}"
        f"T{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}{zone}"
    )


def _lua_mod(a: float, b: float) -> float:
    """Lua's ``%``: the result takes the divisor's sign (Python's does too)."""
    return a % b


def format_time(interval: float, unit: float = 1) -> str:
    """An interval as ``4s``, ``2m38s``, ``9h12m34s`` or ``5d17h05m06s`` (a ``-`` if negative).

    ``unit`` is how many of ``interval`` make a second (1000 for milliseconds), which also
    sets how many decimals the seconds get.
    """
    sign = ""
    if interval < 0:
        sign, interval = "-", abs(interval)
    precision = math.floor(math.log10(unit))
    sec = _lua_mod(interval, 60 * unit) / unit
    interval = interval // (60 * unit)
    minutes = _lua_mod(interval, 60)
    interval //= 60
    hours = _lua_mod(interval, 24)
    interval //= 24
    text = f"{interval:.0f}d{hours:02.0f}h{minutes:02.0f}m{sec:02.{precision}f}s"
    for position, char in enumerate(text):
        if char in "123456789":
            return sign + text[position:]
    return f"{sign}{0:0.{precision}f}s"


def format_difftime(t2: MutableMapping[str, Any], t1: MutableMapping[str, Any]) -> str:
    """``t2 - t1`` (date tables) as ``0s``, ``-4s``, ``+2m38s``, ``+5d17h05m06s`` or
    ``-2y177d10h13m20s``: whole years first (2008-02-10 to 2009-02-10 is ``1y``, not 366 days),
    then what :func:`format_time` makes of the rest."""
    d = float(os_time(t2) - os_time(t1))
    if d > 0:
        sign = "+"
    elif d < 0:
        sign = "-"
        t2, t1 = t1, t2
        d = -d
    else:
        sign = ""
    yeardiff = 0
    if t2["year"] > t1["year"]:
        year = t1["year"]
        t1["year"] = t2["year"]
        d = float(os_time(t2) - os_time(t1))
        if d < 0:
            t1["year"] = t2["year"] - 1
            d = float(os_time(t2) - os_time(t1))
        yeardiff = t1["year"] - year
        t1["year"] = year
    text = format_time(d)
    if yeardiff == 0:
        return sign + text
    return f"{sign}{yeardiff}y{text}"
