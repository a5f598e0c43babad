"""NSE's ``stdnse`` for Python scripts: output tables, messages, script arguments, timing.

Messages follow nselib/stdnse.lua exactly: ``stdnse.debug`` prints at or above its level with
the ``[<id> <ip>:<port>]`` prefix, ``stdnse.verbose`` uses the boosted verbosity of scripts
selected by name, and both go through ``nmap.log_write`` (``NSE: `` + text).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from nmapx.engine.thread import current
from nmapx.model.args import get_script_args as lookup_args
from nmapx.model.args import parse_timespec as parse_time
from nmapx.model.host import Host, NseHost

__all__ = [
    "NamedList",
    "OutputTable",
    "debug",
    "debug1",
    "debug2",
    "debug3",
    "debug4",
    "debug5",
    "format_output",
    "get_hostname",
    "get_script_args",
    "get_timeout",
    "new_thread",
    "output_table",
    "parse_timespec",
    "print_debug",
    "script_type",
    "sleep",
    "tohex",
    "verbose",
    "verbose1",
    "verbose2",
]


class OutputTable(dict[Any, Any]):
    """``stdnse.output_table()``: keys stay in insertion order; assigning None deletes.

    Python dicts already keep insertion order and keep a key's position when it is assigned
    again, which is exactly what the Lua proxy table provides; only "assigning nil removes the
    key" needs adding.
    """

    def __setitem__(self, key: Any, value: Any) -> None:
        if value is None:
            self.pop(key, None)
        else:
            super().__setitem__(key, value)

    def __call__(self) -> bool:
        """NSE's ``t()``: true when the table is not empty."""
        return bool(self)


def output_table() -> OutputTable:
    return OutputTable()


def _format(fmt: Any, args: tuple[Any, ...]) -> str:
    text = str(fmt)
    return text % args if args else text


def _log(text: str) -> None:
    current().engine.message("NSE: " + text)


def _prefix(with_target: bool, thread_info: bool) -> str:
    thread = current()
    prefix = thread.script_id if thread.phase != "none" else ""
    if thread_info and prefix:
        prefix += f" M:{id(thread):x}"
    if with_target and thread.host is not None:
        target = thread.target_text()
        prefix = f"{prefix} {target}" if prefix else target
    return prefix


def debug(level: Any = 1, fmt: Any = None, *args: Any) -> None:
    """Print when debugging >= level (level defaults to 1 when the first argument is text)."""
    if not isinstance(level, int):
        level, fmt, args = 1, level, (fmt, *args) if fmt is not None else args
    thread = current()
    if level <= thread.debugging():
        prefix = _prefix(True, thread.debugging() >= 2)
        text = _format(fmt, args)
        _log(f"[{prefix}] {text}" if prefix else text)


def verbose(level: Any = 1, fmt: Any = None, *args: Any) -> None:
    """Print when the (boosted) verbosity >= level."""
    if not isinstance(level, int):
        level, fmt, args = 1, level, (fmt, *args) if fmt is not None else args
    thread = current()
    level_now = thread.verbosity()
    if level <= level_now:
        prefix = _prefix(level_now >= 2, False)
        text = _format(fmt, args)
        _log(f"[{prefix}] {text}" if prefix else text)


def _at(level: int, func: Callable[..., None]) -> Callable[..., None]:
    def emit(fmt: Any, *args: Any) -> None:
        func(level, fmt, *args)

    emit.__name__ = f"{func.__name__}{level}"
    return emit


debug1, debug2, debug3, debug4, debug5 = (_at(n, debug) for n in range(1, 6))
verbose1, verbose2, verbose3, verbose4, verbose5 = (_at(n, verbose) for n in range(1, 6))


def print_debug(level: Any, fmt: Any = None, *args: Any) -> None:
    """Deprecated NSE form: no prefix."""
    if not isinstance(level, int):
        level, fmt, args = 1, level, (fmt, *args) if fmt is not None else args
    if level <= current().debugging():
        _log(_format(fmt, args))


def _host_timeout(host: Any) -> float | None:
    """``host.times.timeout`` in seconds, if the host has one (Nmap's per-host timeout)."""
    if isinstance(host, str | None):
        return None
    if isinstance(host, Host):
        host = host.nse
    times = host.get("times") if isinstance(host, dict) else getattr(host, "times", None)
    if times is None:
        return None
    value = times.get("timeout") if isinstance(times, dict) else getattr(times, "timeout", None)
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def get_timeout(host: Any, max_timeout: float = 8000, min_timeout: float = 1000) -> float:
    """``stdnse.get_timeout(host, max, min)``: a timeout in ms scaled from Nmap's timing.

    ``host.times.timeout * (max + 6000) / 7``, clamped to ``[min, max]``; ``max`` when the
    host has no timeout (a string host, or no ``<times>`` in the XML). A timeout of 0 counts as
    present (it is true in Lua) and clamps to ``min``. As in Lua, the scaled value is a float
    (1.3 s gives 2600.0) while the defaults come back as given.
    """
    timeout = _host_timeout(host)
    if timeout is None:
        return max_timeout
    value = timeout * (max_timeout + 6000) / 7
    if value < min_timeout:
        return min_timeout
    if value > max_timeout:
        return max_timeout
    return value


def get_script_args(*names: Any) -> Any:
    """Script argument values, with NSE's fallbacks (see :mod:`nmapx.model.args`).

    One name returns its value (None when absent); several return a tuple, like Lua's
    multiple return values.
    """
    return lookup_args(current().settings.script_args, *names)


def parse_timespec(text: Any) -> float | None:
    """``stdnse.parse_timespec``: ``"5s"``, ``"250ms"``, ``"2m"`` or ``"1h"`` in seconds."""
    return parse_time(text) if text is not None else None


async def sleep(seconds: float) -> None:
    """``stdnse.sleep``: yields to other scripts (millisecond resolution, as nsock)."""
    await asyncio.sleep(max(0.0, round(seconds, 3)))


def script_type() -> str:
    """``SCRIPT_TYPE`` of the running thread: prerule, hostrule, portrule or postrule."""
    return current().phase


def get_hostname(host: NseHost | str) -> str:
    """The best name: target name, else reverse-DNS name, else the address."""
    if isinstance(host, str):
        return host
    return host.targetname or (host.name if host.name else host.ip)


class NamedList(list[Any]):
    """A list for :func:`format_output` with a heading (``name``) and a ``warning``: the Lua
    table with both an array part and those two fields that format_output takes."""

    def __init__(
        self, items: Iterable[Any] = (), name: str | None = None, warning: str | None = None
    ) -> None:
        super().__init__(items)
        self.name = name
        self.warning = warning


#: gmatch("([^\r\n]-)\n"): each line of a string item, as stdnse.lua splits it (a line that
#: holds a CR yields only the empty text after it, as in Lua).
_OUTPUT_LINE = re.compile(r"([^\r\n]*?)\n")


def _format_output_sub(status: bool, data: Any, indent: list[bool] | None) -> str | None:
    if len(data) == 0:
        return ""
    output = [] if indent is not None else ["\n"]
    prefix = ""
    if not status:
        if current().debugging() < 1:
            return None
        prefix = "ERROR: "
    if isinstance(data, str | bytes):
        data = [data]
    indent = indent if indent is not None else []
    pad = "  " * len(indent)
    name, warning = getattr(data, "name", None), getattr(data, "warning", None)
    if name:
        if warning and current().debugging() > 0:
            output.append(f"{pad}{prefix}{name} (WARNING: {warning})\n")
        else:
            output.append(f"{pad}{prefix}{name}\n")
    elif warning and current().debugging() > 0:
        output.append(f"{pad}{prefix}(WARNING: {warning})\n")
    for position, value in enumerate(data, 1):
        if value is None:
            break  # ipairs stops at the first nil
        if isinstance(value, list | tuple):
            sub = _format_output_sub(status, value, [*indent, position == len(data)])
            if sub is not None:
                output.append(sub)
        elif isinstance(value, str | bytes):
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            if not text.endswith("\n"):
                text += "\n"
            output.extend(f"{pad}  {prefix}{line}\n" for line in _OUTPUT_LINE.findall(text))
    return "".join(output)


def format_output(status: bool, data: Any) -> str | None:
    """``stdnse.format_output`` (deprecated in Nmap, still used by shipped scripts): a list of
    strings and nested lists (:class:`NamedList` for a heading and a warning) as indented
    lines; None for no data, and for a failure (``status`` false) unless debugging, when
    every line says ``ERROR:`` (docs/nse-semantics.md §5.9)."""
    if data is None:
        raise ValueError("No data was passed to format_output()")
    if len(data) == 0:
        return None
    result = _format_output_sub(status, data, None)
    if result is None or result == "\n":
        return None
    return result


def tohex(data: bytes | str | int, separator: str | None = None, group: int = 2) -> str:
    """``stdnse.tohex``: lowercase hex, optionally grouped with a separator."""
    if isinstance(data, int):
        text = f"{data:x}"
    else:
        raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        text = raw.hex()
    if not separator:
        return text
    head = len(text) % group
    parts = [text[:head]] if head else []
    parts += [text[i : i + group] for i in range(head, len(text), group)]
    return separator.join(parts)


def new_thread(
    func: Callable[..., Awaitable[Any]], *args: Any
) -> tuple[asyncio.Task[Any], Callable[[], tuple[str, BaseException | None]]]:
    """``stdnse.new_thread``: a worker task in the same script thread's context.

    Its return value is discarded, as in NSE; the status function reports ``"running"`` or
    ``"dead"`` and the exception, if the worker raised one.
    """
    task = asyncio.ensure_future(func(*args))

    def status() -> tuple[str, BaseException | None]:
        if not task.done():
            return "running", None
        error = None if task.cancelled() else task.exception()
        return "dead", error

    return task, status
