"""The pass over one document: read pieces, let the engine enrich hosts, write every output.

Without scripts, pieces flow synchronously from the reader to the writers. With scripts, the
reader runs in a thread of its own and feeds an asyncio loop: each host's scripts start as
soon as its ``</host>`` has been read, many hosts are probed at once, and the writers still
receive every piece in input order (a host waits for its own probes and for the hosts before
it, nothing else). Pre-rules finish before the first host is written; post-rules run once the
last host is done, before ``<runstats>``.

Interruptions (:mod:`nmapx.interrupt`): once a stop is requested, no new host is probed and
post-rules do not run; hosts whose probes are in flight get the grace period to finish, then
their probes are cancelled and they are written unchanged (each host is either enriched by
all of its scripts or left as it was, never half). The rest of the input is passed through,
to its end for a regular file; a pipe is read for the rest of the grace period at most and
the document is then closed after its last complete piece, as an input that ended early.

Writers see one stream (:mod:`nmapx.output.base`): the pieces, and the pre- and post-script
results where Nmap puts them, placed by :class:`~nmapx.output.base.DocumentWriters` in both
paths (with no results when no script runs). Formats come from one table,
:data:`nmapx.output.formats.FORMATS`.

The CLI and the tests call these same functions.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import stat
import threading
from collections import deque
from collections.abc import Awaitable, Coroutine, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from nmapx.errors import ExitStatus, InterruptedEarly, LeftAsItWas
from nmapx.interrupt import CANCEL_SECONDS, SIGNALS, ReadCut, ReadDeadline, StopRequest
from nmapx.model.host import Host
from nmapx.nmapxml.reader import Document, Epilogue, Item, Prologue, TopLevelItem, Truncation
from nmapx.nmapxml.source import InputSource
from nmapx.output.base import DocumentWriters, Writer
from nmapx.output.formats import FORMATS, Target

if TYPE_CHECKING:
    from nmapx.engine.runner import ScriptEngine
    from nmapx.engine.scope import Scope
    from nmapx.model.results import ScriptResult

log = logging.getLogger(__name__)

#: Pieces read ahead of the writers at most (bounds memory when probes are slow).
READ_AHEAD = 4096
_T = TypeVar("_T")


@dataclass
class Outputs:
    """Where to write: paths, or ``-`` for standard output; None to skip that format."""

    xml: str | None = None
    normal: str | None = None
    #: The HTML report, made in the same pass (``nmapx run --html``).
    html: str | None = None
    template: str | None = None
    #: The scan's name in the report.
    label: str = ""
    #: Compress the XML file ("gzip"/"bzip2"), as its input was (``--in-place``, ``--outdir``).
    xml_compress: str | None = None
    #: Keep the file that the XML output replaces under this name (``--in-place=SUFFIX``).
    xml_backup: str | None = None
    #: Commit the outputs of a damaged or truncated input too (its repaired, validly closed
    #: document). ``--in-place`` says no: rewriting would drop the damaged parts' bytes from
    #: the only copy of the scan.
    keep_damaged: bool = True
    #: Writers the caller made itself, after the formats above: a cluster worker's collector
    #: of enriched hosts (:mod:`nmapx.cluster.worker`). Nothing is committed for them.
    sinks: tuple[Writer, ...] = ()

    def targets(self) -> list[tuple[str, Target]]:
        """(format name in :data:`~nmapx.output.formats.FORMATS`, target) of each output to
        write, in the order they are written: xml, normal, html."""
        found: list[tuple[str, Target]] = []
        if self.xml is not None:
            found.append(
                ("xml", Target(self.xml, compress=self.xml_compress, backup=self.xml_backup))
            )
        if self.normal is not None:
            found.append(("normal", Target(self.normal)))
        if self.html is not None:
            found.append(("html", Target(self.html, label=self.label, template=self.template)))
        return found

    @property
    def looks_inside(self) -> bool:
        """Whether a writer reads hosts' contents (-oX alone only copies their bytes)."""
        return bool(self.sinks) or any(FORMATS[name].looks_inside for name, _ in self.targets())


@dataclass
class Tally:
    """What became of the hosts of one or more documents (for the interruption message)."""

    #: Hosts whose script scan ran to its end (whether or not it found anything).
    enriched: int = 0
    #: Hosts written as they were read: no scripts, read after the stop, or cancelled.
    unchanged: int = 0
    #: Of ``unchanged``: hosts whose probes were cancelled when the grace period ended.
    cancelled: int = 0
    #: Inputs whose reading was stopped before their end (pipes, after the grace period).
    cut: int = 0
    #: A reader thread is still blocked in a read of a pipe that never ended: the process
    #: must end with ``os._exit`` (interpreter shutdown would wait for the stdin lock that
    #: thread holds, then abort).
    stranded: bool = False


def open_writers(stack: ExitStack, outputs: Outputs) -> list[Writer]:
    """Each output's writer, its file created in ``stack`` (committed when it closes cleanly)."""
    writers: list[Writer] = []
    for name, target in outputs.targets():
        opener = FORMATS[name].run
        if opener is None:
            raise ValueError(f"nmapx run cannot write {name!r}")
        writers.append(opener(stack.enter_context(target.output()), target))
    writers.extend(outputs.sinks)
    return writers


def reads_to_end(source: InputSource) -> bool:
    """Whether an interrupted run still reads ``source`` to its end: yes for regular files
    (their end is near and known), no for pipes, terminals and sockets (a live Nmap may go
    on writing for hours)."""
    try:
        info = os.fstat(0) if source.is_stdin else os.stat(source.path)
    except (OSError, ValueError):
        return True  # the reader reports what is wrong with it
    return stat.S_ISREG(info.st_mode)


def process(
    document: Document,
    outputs: Outputs,
    engine: ScriptEngine | None = None,
    scope: Scope | None = None,
    *,
    stop: StopRequest | None = None,
    tally: Tally | None = None,
) -> ExitStatus:
    """Stream ``document`` to ``outputs``, running ``engine``'s scripts if one is given.

    Output files are committed only when the whole input was read (damaged or not: the
    output is then a valid document holding everything that could be kept), or, after a
    ``stop`` request, when everything read so far has been written and closed validly. An
    exception leaves every previous output file untouched. ``tally`` counts what became of
    the hosts.
    """
    stop = stop if stop is not None else StopRequest()
    tally = tally if tally is not None else Tally()
    to_end = reads_to_end(document.source)
    with _committed(document, outputs) as writers:
        if engine is None:
            _pass_through(document, DocumentWriters(writers), stop, tally, to_end)
        else:
            asyncio.run(_enrich(document, writers, engine, scope, stop, tally, to_end))
    return document.status


async def process_async(
    document: Document,
    outputs: Outputs,
    engine: ScriptEngine,
    scope: Scope | None = None,
    *,
    stop: StopRequest | None = None,
    tally: Tally | None = None,
) -> ExitStatus:
    """:func:`process` with scripts, on the caller's running event loop.

    Why: a Dask worker runs every batch it is given on one event loop of its own
    (:mod:`nmapx.cluster.worker`), so that its batches share one thread instead of taking
    turns at the GIL from one event loop each.
    """
    stop = stop if stop is not None else StopRequest()
    tally = tally if tally is not None else Tally()
    to_end = reads_to_end(document.source)
    with _committed(document, outputs) as writers:
        await _enrich(document, writers, engine, scope, stop, tally, to_end)
    return document.status


@contextmanager
def _committed(document: Document, outputs: Outputs) -> Iterator[list[Writer]]:
    """The outputs' writers, closed (committed) when the body ends well; see :func:`process`."""
    with ExitStack() as stack:
        writers = open_writers(stack, outputs)
        yield writers
        for writer in writers:
            writer.close()
        if document.status != ExitStatus.OK and not outputs.keep_damaged:
            raise LeftAsItWas(document.source.name, document.status)  # nothing is committed


def _pass_through(
    document: Document, writers: DocumentWriters, stop: StopRequest, tally: Tally, to_end: bool
) -> None:
    """The synchronous path: every piece to every writer, in order."""
    if to_end:
        for item in document:
            writers.write(item)
        tally.unchanged += document.hosts_read
        return
    last: Item | None = None
    hosts = 0
    cut = False
    with ReadDeadline(stop) as deadline:
        try:
            for item in document:
                deadline.writing = True
                writers.write(item)
                deadline.writing = False
                last = item
                if type(item) is Host:
                    hosts += 1
                if deadline.expired:
                    cut = True
                    break
        except ReadCut:
            cut = True
    tally.unchanged += hosts
    if cut:
        close_cut(writers, last, document, tally)


def _end_of(item: Item) -> tuple[int, int]:
    """(line, byte offset) just after a piece: where a cut input stopped being read."""
    if isinstance(item, Prologue):
        return item.raw.count(b"\n") + 1, len(item.raw)
    if isinstance(item, Host | TopLevelItem):
        return item.line + item.raw.count(b"\n"), item.offset + len(item.raw)
    return 0, 0


def close_cut(
    writers: DocumentWriters, last: Item | None, document: Document, tally: Tally
) -> None:
    """Close a document whose reading was stopped, after its last complete piece."""
    tally.cut += 1
    if last is None:
        raise InterruptedEarly(
            "interrupted before the document began: nothing written", source=document.source.name
        )
    if isinstance(last, Epilogue | Truncation):
        return  # already closed
    line, offset = _end_of(last)
    log.warning(
        "%s:%d: warning: reading stopped after the interrupt (the input had not ended);"
        " the output ends after the last complete piece (byte %d)",
        document.source.name,
        line,
        offset,
    )
    writers.write(Truncation(b"\n", line, None, offset, None, None))


class _End:
    """The reader thread has finished (``error`` is set if it failed)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def _start_reader(
    document: Document, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]
) -> tuple[threading.Thread, threading.Semaphore, threading.Event]:
    """Read ``document`` in a thread, handing pieces to the loop with bounded read-ahead."""
    room = threading.Semaphore(READ_AHEAD)
    stop = threading.Event()

    def hand(item: Any) -> bool:
        if stop.is_set():
            return False
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the run abandoned this reader
            return False
        return True

    def produce() -> None:
        # Ctrl-C and SIGTERM must reach the main thread, whose handler runs at once; a
        # signal delivered to this thread would wait until the main thread next wakes.
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            for item in document:
                while not room.acquire(timeout=0.5):
                    if stop.is_set():
                        return
                if not hand(item):
                    return
            hand(_End())
        except BaseException as exc:  # handed to the loop, which re-raises it
            hand(_End(exc))

    thread = threading.Thread(target=produce, name="nmapx-reader", daemon=True)
    thread.start()
    return thread, room, stop


class _Probes:
    """The probe tasks of one run, and the grace period that bounds them after a stop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stop: StopRequest) -> None:
        self.loop = loop
        self.stop = stop
        #: Set when the grace period is over: tasks still running are cancelled.
        self.expired = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()
        #: Reading was given up: a pipe that had not ended when the grace period was over.
        self.abandoned = False
        self._timer: asyncio.TimerHandle | None = None

    def on_stop(self) -> None:
        """Called in the signal handler (on the loop's own thread, between two bytecodes)."""
        self.loop.call_soon_threadsafe(self._schedule_expiry)

    def _schedule_expiry(self) -> None:
        if self._timer is None:
            self._timer = self.loop.call_later(self.stop.remaining(), self._expire)

    def _expire(self) -> None:
        self.expired.set()
        for task in self.tasks:
            task.cancel()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def start(self, coro: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        if self.expired.is_set():
            task.cancel()
        return task

    async def settle(self, task: asyncio.Task[Any]) -> bool:
        """Wait for ``task`` (bounded after a stop); True if it ran to its end."""
        while not task.done():
            if self.expired.is_set():
                await asyncio.wait({task}, timeout=CANCEL_SECONDS)
                break
            expiry = asyncio.ensure_future(self.expired.wait())
            try:
                await asyncio.wait({task, expiry}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                expiry.cancel()
        return task.done() and not task.cancelled()

    async def run(self, job: Awaitable[_T]) -> _T | None:
        """Run a whole phase (pre- or post-rules) as a probe: None if it was cancelled."""
        task = self.start(_as_coroutine(job))
        if await self.settle(task):
            return task.result()
        return None


def run_phase(
    engine: ScriptEngine, phase: Literal["prerule", "postrule"], stop: StopRequest
) -> list[ScriptResult]:
    """The pre- or post-rules alone, as :func:`process` runs them: bounded by the grace
    period after a stop, an empty list if they were cancelled. The cluster coordinator
    (:mod:`nmapx.cluster.coordinator`) runs the two global phases so, once per scan, while
    the workers run the hosts."""

    async def phase_alone() -> list[ScriptResult]:
        loop = asyncio.get_running_loop()
        probes = _Probes(loop, stop)
        try:
            with _wake_on_signals(loop), stop.listening(probes.on_stop):
                if phase == "prerule":
                    engine.announce_start()
                    found = await probes.run(engine.run_prerules())
                else:
                    found = await probes.run(engine.run_postrules())
                return list(found or ())
        finally:
            probes.close()

    return asyncio.run(phase_alone())


async def _as_coroutine(job: Awaitable[_T]) -> _T:
    return await job


async def _enrich(
    document: Document,
    writers: list[Writer],
    engine: ScriptEngine,
    scope: Scope | None,
    stop: StopRequest,
    tally: Tally,
    to_end: bool,
) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    reader, room, halt = _start_reader(document, loop, queue)
    probes = _Probes(loop, stop)
    try:
        with _wake_on_signals(loop), stop.listening(probes.on_stop):
            engine.announce_start()
            prescript = await probes.run(engine.run_prerules())
            placed = DocumentWriters(writers, prescript or ())
            await _Stream(queue, room, placed, engine, scope, probes, tally, to_end, document).run()
    finally:
        probes.close()
        halt.set()
        if not probes.abandoned:
            # A file's reader ends at once; a pipe's may be blocked in a read that only the
            # other end can finish (a failed output while Nmap still scans): wait briefly.
            await asyncio.to_thread(reader.join, 5 if to_end else 0.5)
        # A reader still blocked in a read of a pipe is a daemon thread that ends with the
        # process, which must then end without interpreter shutdown (see Tally.stranded).
        tally.stranded = tally.stranded or reader.is_alive()


@contextmanager
def _wake_on_signals(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Wake the event loop when a signal arrives, whichever thread the kernel gave it to.

    Python runs signal handlers in the main thread only, the next time it executes
    bytecode; a loop asleep in ``select`` would not notice a signal that another thread
    (an executor's) received. ``signal.set_wakeup_fd`` makes the C-level handler write a
    byte to a socket the loop watches, as ``loop.add_signal_handler`` does, while nmapx's
    own handler (which must also act while the loop is busy: the second Ctrl-C) stays.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    receive, send = socket.socketpair()
    receive.setblocking(False)
    send.setblocking(False)

    def drain() -> None:
        with suppress(OSError):
            while receive.recv(4096):
                pass

    loop.add_reader(receive.fileno(), drain)
    previous = signal.set_wakeup_fd(send.fileno(), warn_on_full_buffer=False)
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        loop.remove_reader(receive.fileno())
        receive.close()
        send.close()


async def _run_host(engine: ScriptEngine, host: Host) -> None:
    try:
        await engine.run_host(host)
    except Exception:  # an engine bug must not cost the host: it is written unenriched
        log.exception("%s: the script engine failed on this host; written unchanged", host.address)
        host.discard_results()


class _Stream:
    """One document's pieces, from the reader thread to the writers.

    Each host's probes start as it arrives; pieces are written in input order as they are
    done (a host waits for its own probes and the hosts before it, nothing else). After a
    stop, a pipe that has not ended when the grace period is over is abandoned
    (``probes.abandoned``): what has arrived is written and the document closed after it.
    """

    def __init__(
        self,
        queue: asyncio.Queue[Any],
        room: threading.Semaphore,
        writers: DocumentWriters,
        engine: ScriptEngine,
        scope: Scope | None,
        probes: _Probes,
        tally: Tally,
        to_end: bool,
        document: Document,
    ) -> None:
        self.queue = queue
        self.room = room
        self.writers = writers
        self.engine = engine
        self.scope = scope
        self.probes = probes
        self.stop = probes.stop
        self.tally = tally
        self.to_end = to_end
        self.document = document
        #: Pieces read and not yet written, each host with its probe task.
        self.pending: deque[tuple[Item, asyncio.Task[None] | None]] = deque()
        #: The last piece written (a cut input is closed after it).
        self.last: Item | None = None
        self.progress = engine.progress  # a nmapx.progress.Progress, when one is shown

    async def run(self) -> None:
        """Until the reader's end: accept each piece, write whatever is ready."""
        getter: asyncio.Future[Any] | None = None
        expiry: asyncio.Future[Any] | None = None
        try:
            while True:
                # Wake for the next piece, or for the oldest host's probes to finish: a
                # finished host is written at once, even while the producer (a live Nmap) is
                # still scanning. A pipe also wakes the loop when the grace period after a
                # stop ends.
                if getter is None:
                    getter = asyncio.ensure_future(self.queue.get())
                waits: set[asyncio.Future[Any]] = {getter}
                oldest = self.pending[0][1] if self.pending else None
                if oldest is not None and not oldest.done():
                    waits.add(oldest)
                if not self.to_end:
                    if expiry is None:
                        expiry = asyncio.ensure_future(self.probes.expired.wait())
                    waits.add(expiry)
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if expiry is not None and expiry.done() and not getter.done():
                    # The pipe has not ended within the grace period: write what has
                    # arrived, then close the document after it.
                    getter.cancel()
                    getter = None
                    return await self.abandon()
                await self.write_ready(wait=False)
                if not getter.done():
                    continue
                item = getter.result()
                getter = None
                if isinstance(item, _End):
                    return await self.finish(item)
                self.accept(item)
                await self.write_ready(wait=False)
        finally:
            for future in (getter, expiry):
                if future is not None:
                    future.cancel()

    def accept(self, item: Item) -> None:
        """A piece has been read: start its host's probes (unless a stop was requested)."""
        task = None
        if self.progress is not None and isinstance(item, Host):
            self.progress.host_read()
        if isinstance(item, Host) and not self.stop.requested:
            if self.scope is not None:
                self.scope.add_host(item.address, item.hostnames())
            task = self.probes.start(_run_host(self.engine, item))
        self.pending.append((item, task))

    async def write_ready(self, wait: bool) -> None:
        """Write the pending pieces in order, as far as their hosts' probes are done.

        ``wait``: wait for the oldest host's probes (bounded after a stop) instead of
        returning. The first piece that closes the document waits for the new targets and
        the post-rules, whose results :class:`DocumentWriters` places before it.
        """
        while self.pending:
            item, task = self.pending[0]
            if task is not None:
                if not task.done() and not wait:
                    return
                await self._settle(item, task)
            elif isinstance(item, Host):
                self.tally.unchanged += 1
            postscript: Sequence[ScriptResult] = ()
            if self.writers.closes(item) and not self.stop.requested:
                await self.new_targets()
                postscript = await self.probes.run(self.engine.run_postrules()) or ()
            self.pending.popleft()
            self.writers.write(item, postscript)
            if self.progress is not None and isinstance(item, Host):
                self.progress.host_done(item.offset + len(item.raw))
            self.last = item
            self.room.release()

    async def _settle(self, item: Item, task: asyncio.Task[None]) -> None:
        """Wait for a host's probes; a cancelled host is written as it was read."""
        assert isinstance(item, Host)
        if await self.probes.settle(task):
            self.tally.enriched += 1
        else:  # cancelled: all or nothing
            item.discard_results()
            self.tally.unchanged += 1
            self.tally.cancelled += 1

    async def new_targets(self) -> None:
        """Hosts that scripts offered with ``newtargets`` (:mod:`nmapx.nse.target`) come
        after the input's last host, where Nmap scans its own new targets; each is scripted
        (all at once) and written like a host of the input."""
        hosts = self.engine.take_new_targets(self.document.context)
        if self.stop.requested:
            return
        started = []
        for host in hosts:
            if self.scope is not None:
                self.scope.add_host(host.address, ())
            started.append((host, self.probes.start(_run_host(self.engine, host))))
        for host, task in started:
            await self._settle(host, task)
            self.writers.write(host)

    async def abandon(self) -> None:
        """The grace period is over and a pipe has not ended: write what has arrived, then
        close the document after it."""
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if isinstance(item, _End):
                return await self.finish(item)
            self.accept(item)
        self.probes.abandoned = True
        await self.write_ready(wait=True)
        close_cut(self.writers, self.last, self.document, self.tally)

    async def finish(self, end: _End) -> None:
        """The reader has ended: write everything, then re-raise its error if it failed."""
        await self.write_ready(wait=True)
        if end.error is not None:
            raise end.error
        if self.writers.postscript_due and not self.stop.requested:
            # No closing piece (nowhere to write), but post-rules run all the same.
            await self.probes.run(self.engine.run_postrules())
