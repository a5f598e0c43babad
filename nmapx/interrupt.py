"""Ctrl-C and SIGTERM during ``nmapx run``: stop probing, and still write valid output.

Why nmapx handles these signals itself rather than letting ``KeyboardInterrupt`` fly: an
exception raised wherever the main thread happens to be leaves the outputs' temporary files
behind as a loss of every host already probed, and ``asyncio.run`` (Python 3.11) would turn
the first Ctrl-C into a cancellation of the whole run. Instead:

* The **first** SIGINT or SIGTERM only *requests* a stop (:class:`StopRequest`). The pipeline
  then starts no new probe, gives the hosts whose probes are in flight :data:`GRACE_SECONDS`
  to finish (then cancels them: those hosts are written unchanged), passes the rest of the
  input through unenriched and commits every output as a valid document. A regular file is
  read to its end; a pipe (a live Nmap, which got the same Ctrl-C from the terminal and is
  ending too) is read until it ends or for :data:`GRACE_SECONDS`, after which the document
  is closed after its last complete piece, as for any input that ended early.
* A **second** signal quits at once (:meth:`SignalGuard.quit_now`): nmapx's temporary output
  files are deleted, so every previous output file stays exactly as it was, and the process
  exits without waiting for anything.

Either way the exit status is 128 + the signal number (130 for SIGINT, 143 for SIGTERM): what
a shell reports for a process that a signal ended, so that a caller testing ``$? -ne 0`` never
takes a partly enriched output for a complete one, and one that knows the convention can tell
an interruption from the input problems that statuses 1, 3 and 4 describe.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType, TracebackType
from typing import Any

from nmapx.output import atomic

log = logging.getLogger(__name__)

#: After the first signal: how long probes in flight may still run, and how long a pipe is
#: still read, before nmapx closes its outputs (seconds).
GRACE_SECONDS = 2.0
#: After the grace period: how long nmapx waits for cancelled probes to wind down (a script
#: that swallows cancellation is left behind after that; its host is written unchanged).
CANCEL_SECONDS = 1.0
#: The signals that interrupt a run.
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _say(text: str) -> None:
    """One line on stderr from a signal handler: a raw write, never Python's buffered stream
    (which the main thread may be in the middle of using)."""
    with contextlib.suppress(OSError):
        os.write(2, text.encode("utf-8", "replace") + b"\n")


class StopRequest:
    """Whether (and since when, and by which signal) the run has been asked to stop.

    Set from a signal handler, read by the pipeline; listeners are called once, in the
    handler, when the request arrives (they must only schedule work, never do it).
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.at: float | None = None
        self._listeners: list[Callable[[], None]] = []

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def request(self, signum: int) -> None:
        """Ask the run to stop (the first request counts; later ones change nothing)."""
        if self.signum is not None:
            return
        self.signum = signum
        self.at = time.monotonic()
        for listener in list(self._listeners):
            listener()

    def remaining(self) -> float:
        """Seconds left of the grace period (:data:`GRACE_SECONDS` before any request)."""
        if self.at is None:
            return GRACE_SECONDS
        return max(0.0, self.at + GRACE_SECONDS - time.monotonic())

    @contextlib.contextmanager
    def listening(self, callback: Callable[[], None]) -> Iterator[None]:
        """Call ``callback`` when the stop is requested (at once if it already was)."""
        self._listeners.append(callback)
        try:
            if self.requested:
                callback()
            yield
        finally:
            self._listeners.remove(callback)

    @property
    def exit_status(self) -> int:
        """128 + the signal number, as shells report it (0 when no stop was requested)."""
        return 0 if self.signum is None else 128 + self.signum

    @property
    def name(self) -> str:
        return "" if self.signum is None else signal_name(self.signum)


class SignalGuard:
    """Installs nmapx's SIGINT/SIGTERM handlers for one run; restores the old ones after.

    A signal that was ignored when nmapx started (``nohup``, a background job of a shell
    without job control) stays ignored, as the user or the shell meant.
    """

    def __init__(self, stop: StopRequest | None = None) -> None:
        self.stop = stop or StopRequest()
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        for signum in SIGNALS:
            previous = signal.getsignal(signum)
            if previous == signal.SIG_IGN:
                continue
            self._previous[signum] = previous
            signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.requested:
            self.quit_now(signum)
        _say(
            f"nmapx: {signal_name(signum)}: no new probes; finishing those in flight (at most"
            f" {GRACE_SECONDS:g} s) and passing the rest through (interrupt again to quit at once)"
        )
        self.stop.request(signum)

    @staticmethod
    def quit_now(signum: int) -> None:
        """The second signal: drop the temporary files and exit, waiting for nothing."""
        atomic.remove_temporaries()
        _say(
            f"nmapx: {signal_name(signum)} again: quitting at once; outputs being written were"
            " discarded (files they would have replaced are untouched)"
        )
        os._exit(128 + signum)


class ReadCut(BaseException):
    """Raised in the main thread to end a blocked read of a pipe after the grace period.

    A BaseException so that no ``except Exception`` in the reader takes it for an input error.
    """


class ReadDeadline:
    """Ends a synchronous read of a pipe :data:`GRACE_SECONDS` after the stop request.

    A read from a pipe whose writer does not stop (nmapx alone got SIGTERM while Nmap goes
    on scanning) would block for as long as the scan lasts. When the stop is requested this
    arms a one-shot SIGALRM timer for the rest of the grace period. When it fires, it raises
    :class:`ReadCut` in the main thread -- which interrupts a blocked ``read`` (PEP 475) --
    unless the pipeline is writing a piece at that moment (``writing`` is set): then it only
    sets ``expired`` and the pipeline stops after that piece, so no piece is ever cut in two.
    """

    def __init__(self, stop: StopRequest) -> None:
        self.stop = stop
        self.writing = False
        self.expired = False
        self._armed = False
        self._previous: Any = None
        self._listening: contextlib.AbstractContextManager[None] | None = None

    def __enter__(self) -> ReadDeadline:
        self._listening = self.stop.listening(self._arm)
        self._listening.__enter__()
        return self

    def _arm(self) -> None:
        if self._armed or threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only: elsewhere the pipe is read to its end
        self._armed = True
        self._previous = signal.signal(signal.SIGALRM, self._alarm)
        signal.setitimer(signal.ITIMER_REAL, max(0.001, self.stop.remaining()))

    def _alarm(self, signum: int, frame: FrameType | None) -> None:
        self.expired = True
        if not self.writing:
            raise ReadCut

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.writing = True  # from here on the alarm may no longer raise
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous)
        if self._listening is not None:
            self._listening.__exit__(exc_type, exc, tb)
