"""Progress of a script run: a live status line on a terminal, Nmap's ``--stats-every`` lines.

A run over a large archived scan can take hours; the user needs to see that it is moving and
when it will end, without the display getting in the way of anything else:

* On a terminal (stderr is a TTY), one status line is redrawn in place with ``\\r`` a few
  times a second: hosts read and done, script threads ("probes") queued, running and done,
  probes per second and, when it can be known, the ETA. It is never drawn at ``-v``/``-d``,
  where NSE's own messages would interleave with it, and never when stderr is a pipe or a
  file: logs stay clean. Before any log record is written the line is erased, so a warning
  never lands in the middle of it.
* ``--stats-every TIME`` prints two lines every TIME, terminal or not, in the wording of
  Nmap's (``Stats: 0:00:05 elapsed; 3 hosts completed (5 up), 2 undergoing Script Scan`` /
  ``NSE Timing: About 41.20% done; ETC: 12:04 (0:00:07 remaining)``), with nmapx's probe
  counters added to the second.

The ETA comes from how far into the input the last *finished* host lies (its byte offset
against the file's size), which is known for a regular uncompressed file; for pipes and
compressed inputs the size is unknown, and no ETA is shown (hosts and probes still are).

The engine updates the counters from its event loop (:meth:`probe_queued`,
:meth:`probe_started`, :meth:`probe_finished`); the pipeline reports hosts
(:meth:`host_read`, :meth:`host_done`). A daemon thread draws; plain integer updates need no
lock under the GIL, and a snapshot that is a few microseconds old is fine for a display.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

__all__ = ["Progress", "Snapshot", "format_clock"]

#: How often the terminal line is redrawn (seconds).
REDRAW_SECONDS = 0.25
_ERASE = "\r\x1b[K"
_LOCK = threading.Lock()


def format_clock(seconds: float) -> str:
    """Nmap's ``H:MM:SS``."""
    whole = max(0, int(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@dataclass(frozen=True)
class Snapshot:
    """The counters at one moment, and what follows from them."""

    elapsed: float
    hosts_read: int
    hosts_done: int
    queued: int
    running: int
    done: int
    #: Fraction of the input finished (0..1), None when the input's size is unknown.
    fraction: float | None

    @property
    def rate(self) -> float:
        """Probes (script threads) finished per second."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def remaining(self) -> float | None:
        """Seconds left, extrapolated from the pace so far; None while unknown."""
        if self.fraction is None or self.fraction <= 0:
            return None
        if self.fraction >= 1:
            return 0.0
        return self.elapsed * (1 - self.fraction) / self.fraction


class _EraseFilter(logging.Filter):
    """Erases the status line before a log record is written below it."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress

    def filter(self, record: logging.LogRecord) -> bool:
        self.progress.erase()
        return True


class Progress:
    """Counters of one run plus the display; see the module docstring."""

    def __init__(
        self,
        *,
        live: bool = False,
        stats_every: float | None = None,
        stream: TextIO | None = None,
    ) -> None:
        #: Draw the ``\\r`` status line (the caller decides: a TTY and not -v/-d).
        self.live = live
        self.stats_every = stats_every
        self.stream = stream if stream is not None else sys.stderr
        self.hosts_read = 0
        self.hosts_done = 0
        self.queued = 0
        self.running = 0
        self.done = 0
        self._size: int | None = None
        self._position = 0
        self._started = time.monotonic()
        self._shown = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        """Whether anything will ever be displayed."""
        return self.live or bool(self.stats_every)

    @staticmethod
    def live_default(stream: TextIO, verbose: int, debug: int) -> bool:
        """A live line only on a terminal and only when NSE prints no messages."""
        try:
            return stream.isatty() and not verbose and not debug
        except (AttributeError, ValueError):
            return False

    # ------------------------------------------------------------------ counters
    def set_input(self, path: str) -> None:
        """Learn the input's size when it is a regular uncompressed file (for the ETA)."""
        self._size = None
        if path == "-":
            return
        try:
            info = os.stat(path)
            with open(path, "rb") as handle:
                magic = handle.read(3)
        except OSError:
            return
        if (
            stat.S_ISREG(info.st_mode)
            and info.st_size
            and not magic.startswith((b"\x1f\x8b", b"BZh"))
        ):
            self._size = info.st_size

    def host_read(self) -> None:
        self.hosts_read += 1

    def host_done(self, end_offset: int | None = None) -> None:
        """A host was written; ``end_offset`` is the input byte just after it."""
        self.hosts_done += 1
        if end_offset is not None:
            self._position = max(self._position, end_offset)

    def probe_queued(self) -> None:
        self.queued += 1

    def probe_started(self) -> None:
        self.queued -= 1
        self.running += 1

    def probe_finished(self, started: bool = True) -> None:
        if started:
            self.running -= 1
        else:
            self.queued -= 1
        self.done += 1

    def snapshot(self) -> Snapshot:
        fraction = None
        if self._size:
            fraction = min(1.0, self._position / self._size)
        return Snapshot(
            time.monotonic() - self._started,
            self.hosts_read,
            self.hosts_done,
            max(0, self.queued),
            max(0, self.running),
            self.done,
            fraction,
        )

    # ------------------------------------------------------------------ text
    @staticmethod
    def status_line(snap: Snapshot) -> str:
        """The live terminal line."""
        line = (
            f"nmapx: {snap.hosts_done}/{snap.hosts_read} hosts done; probes"
            f" {snap.queued} queued, {snap.running} running, {snap.done} done"
            f" ({snap.rate:.1f}/s)"
        )
        remaining = snap.remaining
        if snap.fraction is not None:
            line += f"; {snap.fraction * 100:.1f}%"
            if remaining is not None:
                line += f", ETA {format_clock(remaining)}"
        return line

    @staticmethod
    def stats_lines(snap: Snapshot, now: float | None = None) -> str:
        """Nmap's two ``--stats-every`` lines, with nmapx's probe counters."""
        undergoing = snap.hosts_read - snap.hosts_done
        first = (
            f"Stats: {format_clock(snap.elapsed)} elapsed; {snap.hosts_done} hosts completed"
            f" ({snap.hosts_read} read), {undergoing} undergoing Script Scan"
        )
        second = "NSE Timing:"
        remaining = snap.remaining
        if snap.fraction is not None:
            second += f" About {snap.fraction * 100:.2f}% done;"
            if remaining is not None:
                etc = time.strftime("%H:%M", time.localtime((now or time.time()) + remaining))
                second += f" ETC: {etc} ({format_clock(remaining)} remaining);"
        second += (
            f" probes: {snap.queued} queued, {snap.running} running, {snap.done} done"
            f" ({snap.rate:.1f}/s)"
        )
        return f"{first}\n{second}\n"

    # ------------------------------------------------------------------ display
    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed or gone: a display must never fail
            self._stop.set()

    def erase(self) -> None:
        with _LOCK:
            if self._shown:
                self._write(_ERASE)
                self._shown = False

    def _draw(self) -> None:
        with _LOCK:
            self._write(_ERASE + self.status_line(self.snapshot()))
            self._shown = True

    def _print_stats(self) -> None:
        with _LOCK:
            if self._shown:
                self._write(_ERASE)
                self._shown = False
            self._write(self.stats_lines(self.snapshot()))

    def _loop(self) -> None:
        every = self.stats_every or 0.0
        next_stats = self._started + every if every else None
        while True:
            now = time.monotonic()
            wait = REDRAW_SECONDS if self.live else None
            if next_stats is not None:
                until = max(0.0, next_stats - now)
                wait = until if wait is None else min(wait, until)
            if self._stop.wait(wait):
                return
            now = time.monotonic()
            if next_stats is not None and now >= next_stats:
                self._print_stats()
                while next_stats <= now:
                    next_stats += every
            if self.live:
                self._draw()

    @contextmanager
    def showing(self) -> Iterator[Progress]:
        """Display while the block runs; the live line is erased at the end."""
        if not self.active:
            yield self
            return
        self._started = time.monotonic()
        handlers = [h for h in logging.getLogger("nmapx").handlers if self.live]
        erase = _EraseFilter(self)
        for handler in handlers:
            handler.addFilter(erase)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="nmapx-progress", daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=2)
            for handler in handlers:
                handler.removeFilter(erase)
            self.erase()
