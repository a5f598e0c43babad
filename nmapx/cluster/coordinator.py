"""The coordinator of a cluster run: reads the input, hands batches to workers, writes.

What runs where. The coordinator (the ``nmapx run`` process) reads the input as a stream,
runs the pre-rules once before the first batch is sent and the post-rules once after the
last host is written, and writes every output. Workers (:mod:`nmapx.cluster.worker`) run
the host and port scripts on batches of hosts, each batch a small document of its own run by
the same pipeline and engine as a one-process run.

Batching and the window. Hosts are gathered into batches of ``batch_size`` (a batch is also
sent :data:`FLUSH_SECONDS` after its first host arrived, full or not, so a live ``nmap -oX -
|`` pipe is not held back waiting for a full batch); at most ``window`` batches are out at
once.
Pieces are written in input order as soon as their batch is back, and the reader is at most
``(window + 2) * batch_size`` pieces ahead of the writers, so memory stays flat whatever the
input's size.

What crosses hosts. The pre-rules' registry goes out with every batch; each batch's
changes come back and are merged in input order (:mod:`nmapx.cluster.registry`) before the
post-rules. New targets come back with their batch, are taken in input order (duplicates
dropped) after the input's last host, and run as one more batch, as in one process.

Faults. Dask re-runs a batch whose worker died (killed, out of memory) on another worker;
nothing of a batch is used until it is complete, so nothing is lost or written twice. A
batch that fails a second time is reported, its hosts are written unchanged, and the run
ends with status 4. On Ctrl-C the coordinator sets the run's stop event, which every running
batch watches: no new probe starts, probes in flight get the grace period, and what the
batches finished comes back; unsent hosts are passed through, as in one process.
"""

from __future__ import annotations

import gc
import logging
import queue
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from nmapx.cluster.batch import ATTEMPTS, ScanHeader, failure_reason
from nmapx.cluster.options import RUN_BATCH_SIZE, RUN_THREADS, ClusterOptions
from nmapx.cluster.registry import apply, portable
from nmapx.cluster.watch import SchedulerWatch
from nmapx.cluster.worker import BatchJob, BatchOutcome, run_remote
from nmapx.engine.options import RunOptions
from nmapx.errors import ClusterError, ExitStatus, LeftAsItWas, UsageError
from nmapx.interrupt import CANCEL_SECONDS, GRACE_SECONDS, SIGNALS, StopRequest
from nmapx.model.host import Host
from nmapx.model.results import ScriptResult
from nmapx.nmapxml.reader import Document, Item
from nmapx.output.base import DocumentWriters
from nmapx.pipeline import Outputs, Tally, close_cut, open_writers, reads_to_end, run_phase

if TYPE_CHECKING:
    from distributed import Client, Future

    from nmapx.engine.runner import ScriptEngine
    from nmapx.engine.scope import Scope

log = logging.getLogger(__name__)

__all__ = ["Cluster", "open_cluster"]

#: How long ``--scheduler`` may take to answer before nmapx gives up (exit status 1).
CONNECT_TIMEOUT = "30s"
#: A batch is sent this long after its first host arrived at the latest, full or not (s).
FLUSH_SECONDS = 0.1


class RenderedResult(ScriptResult):
    """A script result that a worker has already rendered to its ``<script>`` element.

    The coordinator writes exactly the bytes the worker made (the worker's host is the one
    the scripts ran on), and keeps the result's id for the formats that mark added results.
    """

    __slots__ = ("xml",)

    def __init__(self, script_id: str, xml: bytes) -> None:
        super().__init__(script_id)
        self.xml = xml

    def to_xml(self) -> bytes:
        return self.xml


@dataclass
class _Batch:
    number: int
    hosts: list[Host]
    future: Future[BatchOutcome] | None = None
    attempts: int = 0
    outcome: BatchOutcome | None = None
    #: Finished without an outcome: failed twice, never sent, or given up after a stop.
    given_up: bool = False
    #: Holds the new targets (run after the input's last host).
    new_targets: bool = False
    #: Failed once with others on the same worker: it runs again alone (see _Run._send).
    suspect: bool = False

    @property
    def finished(self) -> bool:
        return self.outcome is not None or self.given_up

    def describe(self) -> str:
        first, last = self.hosts[0], self.hosts[-1]
        where = "new targets" if self.new_targets else f"from line {first.line}"
        return f"batch {self.number} ({len(self.hosts)} hosts {where}, up to line {last.line})"


@dataclass
class Cluster:
    """A connected Dask client and how a run uses it (see :func:`open_cluster`)."""

    client: Client
    batch_size: int = RUN_BATCH_SIZE
    #: Batches out at once; 0: twice the cluster's worker threads.
    window: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: iter(range(1, 1 << 62)))

    def effective_window(self) -> int:
        if self.window > 0:
            return self.window
        threads = int(sum(self.client.nthreads().values()))
        return max(2, 2 * threads)

    def process(
        self,
        document: Document,
        outputs: Outputs,
        engine: ScriptEngine,
        scope: Scope | None,
        options: RunOptions,
        *,
        stop: StopRequest | None = None,
        tally: Tally | None = None,
    ) -> ExitStatus:
        """:func:`nmapx.pipeline.process` for one document, with the hosts run on the cluster."""
        stop = stop if stop is not None else StopRequest()
        tally = tally if tally is not None else Tally()
        with ExitStack() as stack:
            writers = open_writers(stack, outputs)
            run = _Run(self, document, writers, engine, scope, options, stop, tally)
            run.go()
            for writer in writers:
                writer.close()
            if document.status != ExitStatus.OK and not outputs.keep_damaged:
                raise LeftAsItWas(document.source.name, document.status)
        return ExitStatus.worst(document.status, run.status)


@contextmanager
def open_cluster(options: ClusterOptions, threads: int = RUN_THREADS) -> Iterator[Cluster]:
    """A client of ``options.scheduler``, or of a new local cluster of ``options.workers``
    worker processes on 127.0.0.1 (ephemeral ports, no dashboard), closed afterwards; each
    local worker runs ``options.worker_threads`` threads, by default ``threads``.

    The local cluster's scheduler lets a task be on one dying worker only (Dask's
    ``allowed-failures`` = 0): the coordinator itself re-runs a failed batch once, so "fails
    twice" means two dead workers, not Dask's default of four per try. The worker processes
    ignore SIGINT (:mod:`nmapx.cluster.plugin`): Ctrl-C in a terminal reaches the whole process
    group, and they must finish their batches' grace period as the coordinator asks.
    """
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError(
            "--workers and --scheduler need Dask distributed: pip install 'nmapx[cluster]'"
        ) from None
    with ExitStack() as stack:
        if options.scheduler:
            client = stack.enter_context(_connect(options.scheduler))
        else:
            stack.enter_context(dask.config.set({"distributed.scheduler.allowed-failures": 0}))
            with _sigint_ignored():
                local = stack.enter_context(
                    LocalCluster(
                        n_workers=options.workers,
                        threads_per_worker=options.worker_threads or threads,
                        processes=True,
                        host="127.0.0.1",
                        scheduler_port=0,
                        dashboard_address=None,
                        worker_dashboard_address=None,
                        silence_logs=logging.CRITICAL,
                    )
                )
            client = stack.enter_context(Client(local))
            from nmapx.cluster.plugin import IgnoreSigint

            client.register_plugin(IgnoreSigint())
        log.debug("cluster: %s, %d workers", client.scheduler.address, len(client.nthreads()))
        yield Cluster(client, batch_size=options.batch_size or RUN_BATCH_SIZE)


def _connect(address: str) -> Client:
    """A client of the scheduler at ``address``, or a one-line :class:`ClusterError`.

    The address is checked before a client is made: a client whose start failed is closed
    by the garbage collector later, and Dask deadlocks when that happens while another client
    starts (seen with a second run in the same process). After a failed connection the
    collector is run at once, for the same reason.
    """
    from distributed import Client
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        scheme, location = parse_address(address)
        get_backend(scheme)
        if scheme in ("tcp", "tls"):
            parse_host_port(location)
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, ValueError) as exc:  # a malformed address; nothing answers there
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        error = ClusterError(f"--scheduler {address}: {first}")
    gc.collect()
    raise error


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while the worker processes start (they inherit it; main thread only).

    Covers the moment before :class:`~nmapx.cluster.plugin.IgnoreSigint` is installed on the
    workers, which then keeps any restarted worker ignoring it too.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Reader:
    """The input's pieces, read in a thread, at most ``limit`` ahead of the writers."""

    def __init__(self, document: Document, events: queue.SimpleQueue[Any], limit: int) -> None:
        self.room = threading.Semaphore(limit)
        self.halt = threading.Event()
        self.events = events
        self.document = document
        self.thread = threading.Thread(target=self._produce, name="nmapx-reader", daemon=True)
        self.thread.start()

    def _produce(self) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)  # signals go to the main thread
        try:
            for item in self.document:
                while not self.room.acquire(timeout=0.5):
                    if self.halt.is_set():
                        return
                if self.halt.is_set():
                    return
                self.events.put(("item", item))
            self.events.put(("end", None))
        except BaseException as exc:  # re-raised by the coordinator
            self.events.put(("end", exc))


class _Run:
    """One document's pass over the cluster (see the module docstring)."""

    def __init__(
        self,
        cluster: Cluster,
        document: Document,
        writers: list[Any],
        engine: ScriptEngine,
        scope: Scope | None,
        options: RunOptions,
        stop: StopRequest,
        tally: Tally,
    ) -> None:
        self.cluster = cluster
        self.client = cluster.client
        self.document = document
        self.raw_writers = writers
        self.engine = engine
        self.scope = scope
        self.options = options
        self.stop = stop
        self.tally = tally
        self.status = ExitStatus.OK
        self.batch_size = max(1, cluster.batch_size)
        self.window = cluster.effective_window()
        self.events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.to_end = reads_to_end(document.source)
        self.header = ScanHeader()
        self.job: BatchJob | None = None
        #: Pieces read and not yet written, each host with its batch.
        self.pending: deque[tuple[Item, _Batch | None, int]] = deque()
        self.forming: _Batch | None = None
        #: When the forming batch got its first host: it is sent FLUSH_SECONDS later at most.
        self.forming_since = 0.0
        self.sealed: deque[_Batch] = deque()
        #: Batches that failed once, to run again one at a time, and the one running.
        self.suspects: deque[_Batch] = deque()
        self.isolating: _Batch | None = None
        self.out: set[int] = set()
        self.numbers = cluster._ids
        self.ended = False
        self.error: BaseException | None = None
        self.last: Item | None = None
        self.stop_event = f"nmapx-stop-{uuid.uuid4().hex}"
        self.stopped_at: float | None = None
        self.watch = SchedulerWatch(self.client)
        #: The scheduler is gone: nothing more is sent (see _give_up_if_lost).
        self.lost = False
        self.new_targets_taken = False
        self.progress = engine.progress
        #: The options as workers get them: ``--exclude-file`` read here, its text sent as an
        #: ``--exclude`` entry (the same specification), so that a remote worker needs no copy
        #: of the file (``--script-args-file`` likewise, below); cluster options are of no use
        #: to a worker.
        exclude = list(options.exclude)
        if options.exclude_file:
            with open(options.exclude_file, encoding="utf-8", errors="surrogateescape") as file:
                exclude.append(file.read())
        self.worker_options = replace(
            options,
            exclude=exclude,
            exclude_file=None,
            script_args_file=None,
            workers=0,
            scheduler=None,
        )
        #: ``--script-args-file`` likewise: its text goes with the batches.
        self.script_args_file_text = None
        if options.script_args_file:
            from nmapx.engine.session import read_script_args_file

            self.script_args_file_text = read_script_args_file(options.script_args_file)

    # ------------------------------------------------------------------ the loop
    def go(self) -> None:
        limit = (self.window + 2) * self.batch_size + 64
        reader = _Reader(self.document, self.events, limit)
        self.reader = reader
        try:
            with self.stop.listening(self._on_stop):
                prescript = run_phase(self.engine, "prerule", self.stop)
                self.writers = DocumentWriters(self.raw_writers, prescript)
                self.registry = portable(self.engine.context.registry)
                self._loop()
                if self.writers.postscript_due and not self.stop.requested and not self.error:
                    # No closing piece (nowhere to write), but post-rules run all the same.
                    self._postrules()
        finally:
            reader.halt.set()
            self._cancel_all()
            if self.to_end or not self.stop.requested:
                reader.thread.join(5)
            self.tally.stranded = self.tally.stranded or reader.thread.is_alive()
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        while not (self.ended and not self.pending):
            try:
                kind, value = self.events.get(timeout=self._timeout())
            except queue.Empty:
                kind, value = "tick", None
            if kind == "item":
                self._accept(value)
            elif kind == "end":
                self.ended = True
                self.error = value
                self._seal()
            elif kind == "done":
                self._collect(value)
            elif kind == "stop":
                self._stopped()
            if self.forming is not None and time.monotonic() >= self.forming_since + FLUSH_SECONDS:
                self._seal()
            if self._pipe_expired():
                self._abandon()
                return
            self._give_up_after_stop()
            self._give_up_if_lost()
            self._send()
            self._write_ready()

    def _timeout(self) -> float:
        if self.stopped_at is not None:
            return 0.1
        if self.forming is not None:
            return max(0.01, self.forming_since + FLUSH_SECONDS - time.monotonic())
        return 1.0

    # ------------------------------------------------------------------ reading
    def _accept(self, item: Item) -> None:
        if self.header.take(item):
            self.job = None
        if not isinstance(item, Host):
            if self.writers.closes(item):
                self._seal()
            self.pending.append((item, None, 0))
            return
        if self.progress is not None:
            self.progress.host_read()
        if self.stop.requested or self.lost:
            self.pending.append((item, None, 0))
            return
        if self.forming is None:
            self.forming = _Batch(next(self.numbers), [])
            self.forming_since = time.monotonic()
        self.pending.append((item, self.forming, len(self.forming.hosts)))
        self.forming.hosts.append(item)
        full = len(self.forming.hosts) >= self.batch_size
        if full or time.monotonic() >= self.forming_since + FLUSH_SECONDS:
            self._seal()

    def _seal(self) -> None:
        if self.forming is not None:
            self.sealed.append(self.forming)
            self.forming = None

    # ------------------------------------------------------------------ batches
    def _batch_job(self) -> BatchJob:
        if self.job is None:
            level = logging.getLogger("nmapx").getEffectiveLevel()
            self.job = BatchJob(
                self.worker_options,
                self.header.raw,
                self.registry,
                self.stop_event,
                level,
                self.script_args_file_text,
            )
        return self.job

    def _send(self) -> None:
        """Submit what the window allows; a suspect batch only when nothing else is out.

        Why alone: a worker process that dies takes every batch it was running with it, the
        guilty one and its neighbours alike. Run again alone, an innocent batch succeeds and
        a guilty one fails with no doubt about whose fault it was; so a batch is given up
        only when it failed twice, the second time alone.
        """
        if self.stop.requested or self.isolating is not None or self.lost:
            return
        if self.suspects:
            if not self.out:
                self.isolating = self.suspects.popleft()
                self._submit(self.isolating)
            return
        while self.sealed and len(self.out) < self.window:
            self._submit(self.sealed.popleft())

    def _submit(self, batch: _Batch) -> None:
        batch.attempts += 1
        future = self.client.submit(
            run_remote,
            self._batch_job(),
            [host.raw for host in batch.hosts],
            pure=False,
            key=f"nmapx-batch-{batch.number}-{batch.attempts}-{uuid.uuid4().hex[:8]}",
        )
        batch.future = future
        self.out.add(batch.number)
        events = self.events
        future.add_done_callback(lambda _: events.put(("done", batch)))

    def _collect(self, batch: _Batch) -> None:
        future = batch.future
        if future is None or batch.finished or batch.number not in self.out:
            return
        self.out.discard(batch.number)
        batch.future = None
        if self.isolating is batch:
            self.isolating = None
        try:
            outcome: BatchOutcome = future.result()
            if len(outcome.hosts) != len(batch.hosts):
                raise RuntimeError(
                    f"{len(outcome.hosts)} hosts came back of {len(batch.hosts)} sent"
                )
        except Exception as exc:
            reason = failure_reason(exc)
            if batch.attempts < ATTEMPTS and not batch.suspect and not self.stop.requested:
                log.warning("%s failed (%s); running it again", batch.describe(), reason)
                batch.suspect = True
                self.suspects.append(batch)
                return
            self._fail(batch, reason)
            return
        batch.outcome = outcome

    def _fail(self, batch: _Batch, reason: str) -> None:
        log.error(
            "%s %s (%s): its hosts are passed through unchanged",
            batch.describe(),
            "failed twice" if batch.attempts >= ATTEMPTS else "failed",
            reason,
        )
        batch.given_up = True
        self.status = ExitStatus.worst(self.status, ExitStatus.DAMAGED)

    # ------------------------------------------------------------------ writing
    def _write_ready(self) -> None:
        while self.pending:
            item, batch, index = self.pending[0]
            if batch is not None and not batch.finished:
                return
            postscript: list[ScriptResult] = []
            if self.writers.closes(item) and not self.stop.requested:
                if not self.new_targets_taken:
                    self.new_targets_taken = True
                    if self._queue_new_targets():
                        continue
                postscript = self._postrules()
            self.pending.popleft()
            if isinstance(item, Host):
                item = self._finish_host(item, batch, index)
            self.writers.write(item, postscript)
            if self.progress is not None and isinstance(item, Host):
                self.progress.host_done(item.offset + len(item.raw))
            self.last = item
            if not (batch is not None and batch.new_targets):
                self.reader.room.release()

    def _finish_host(self, host: Host, batch: _Batch | None, index: int) -> Host:
        """The host as it is written: the worker's enriched host, or the host as read."""
        outcome = batch.outcome if batch is not None else None
        if outcome is None:
            self.tally.unchanged += 1
            if batch is not None and batch.given_up and self.stopped_at is not None:
                self.tally.cancelled += 1
            return host
        assert batch is not None
        if index == 0:
            self._batch_written(outcome)
        done = outcome.hosts[index]
        if self.scope is not None and done.address:
            self.scope.add_host(done.address, done.names)
        if done.enriched is None:
            return host
        written = Host(
            None,
            done.enriched,
            context=host.context,
            index=host.index,
            line=host.line,
            offset=host.offset,
            gap=host.gap,
        )
        for where, script_id, xml in done.results:
            result = RenderedResult(script_id, xml)
            if where is None:
                written.add_host_result(result)
            else:
                written.add_port_result(where[0], where[1], result)
        written.enriched = done.enriched
        return written

    def _batch_written(self, outcome: BatchOutcome) -> None:
        """A batch's first host is being written: take what the batch says beyond its hosts,
        in input order."""
        self.tally.enriched += outcome.tally.enriched
        self.tally.unchanged += outcome.tally.unchanged
        self.tally.cancelled += outcome.tally.cancelled
        apply(self.engine.context.registry, outcome.registry)
        known = {t.address for t in self.engine.context.new_targets}
        for target in outcome.new_targets:
            if target.address not in known:
                known.add(target.address)
                self.engine.context.new_targets.append(target)
        if outcome.messages:
            stream = self.engine.options.settings.stream
            stream.write(outcome.messages)
            stream.flush()
        for name, level, message in outcome.records:
            logging.getLogger(name).log(level, "%s", message)
        log.debug("batch of %d hosts ran on %s", len(outcome.hosts), outcome.worker)

    def _queue_new_targets(self) -> bool:
        """Put the new targets (as one batch) before the closing piece; True if there are."""
        hosts = self.engine.take_new_targets(self.document.context)
        if not hosts or self.stop.requested or self.lost:
            return False
        batch = _Batch(next(self.numbers), hosts, new_targets=True)
        for index in reversed(range(len(hosts))):
            self.pending.appendleft((hosts[index], batch, index))
        self._submit(batch)
        return True

    def _postrules(self) -> list[ScriptResult]:
        return run_phase(self.engine, "postrule", self.stop)

    # ------------------------------------------------------------------ stopping
    def _on_stop(self) -> None:
        """In the signal handler: only schedule (SimpleQueue.put is reentrant)."""
        self.events.put(("stop", None))

    def _stopped(self) -> None:
        if self.stopped_at is not None:
            return
        self.stopped_at = time.monotonic()
        try:
            from distributed import Event

            Event(self.stop_event, client=self.client).set()
        except Exception:  # the cluster is gone: the batches out are given up below
            log.debug("cannot set the stop event", exc_info=True)
        for batch in [*self.sealed, *self.suspects, *([self.forming] if self.forming else [])]:
            batch.given_up = True
        self.sealed.clear()
        self.suspects.clear()
        self.forming = None

    def _give_up_after_stop(self) -> None:
        """Batches still out when the workers' grace period (and some slack) is over."""
        if self.stopped_at is None:
            return
        if time.monotonic() < self.stopped_at + GRACE_SECONDS + CANCEL_SECONDS + 2:
            return
        for _, batch, _ in self.pending:
            if batch is not None and not batch.finished:
                batch.given_up = True
                self.out.discard(batch.number)
                if batch.future is not None:
                    batch.future.cancel()

    def _give_up_if_lost(self) -> None:
        """The scheduler is gone (:mod:`nmapx.cluster.watch`): every batch not back yet is
        given up, and the rest of the input is passed through (exit status 4)."""
        if self.lost or not self.out or not self.watch.lost():
            return
        self.lost = True
        log.error(
            "the cluster is gone (%s): the hosts of every batch not back yet are passed"
            " through unchanged",
            self.watch.describe(),
        )
        self.status = ExitStatus.worst(self.status, ExitStatus.DAMAGED)
        waiting = [b for _, b, _ in self.pending if b is not None and not b.finished]
        for batch in [*waiting, *self.sealed, *self.suspects]:
            batch.given_up = True
            batch.future = None  # never cancelled: that would wait for the scheduler too
        self.out.clear()
        self.sealed.clear()
        self.suspects.clear()
        self.isolating = None
        if self.forming is not None:
            self.forming.given_up = True
            self.forming = None

    def _pipe_expired(self) -> bool:
        return (
            not self.to_end
            and not self.ended
            and self.stopped_at is not None
            and time.monotonic() >= self.stopped_at + GRACE_SECONDS
        )

    def _abandon(self) -> None:
        """A pipe has not ended within the grace period: write what has arrived, close."""
        while True:
            try:
                kind, value = self.events.get_nowait()
            except queue.Empty:
                break
            if kind == "item":
                self._accept(value)
        deadline = (self.stopped_at or time.monotonic()) + GRACE_SECONDS + CANCEL_SECONDS + 2
        while any(b is not None and not b.finished for _, b, _ in self.pending):
            if time.monotonic() >= deadline:
                self._give_up_after_stop()
                break
            try:
                kind, value = self.events.get(timeout=0.1)
            except queue.Empty:
                continue
            if kind == "done":
                self._collect(value)
        for _, batch, _ in self.pending:
            if batch is not None and not batch.finished:
                batch.given_up = True
        self._write_ready()
        close_cut(self.writers, self.last, self.document, self.tally)

    def _cancel_all(self) -> None:
        for _, batch, _ in self.pending:
            if batch is not None and batch.future is not None:
                batch.future.cancel()
