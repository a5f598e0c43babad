"""What a Dask worker runs: one batch of hosts through nmapx's own engine and pipeline.

A batch is a small Nmap XML document of its own (:mod:`nmapx.cluster.batch`). The worker
reads it with the same streaming reader and enriches it with the same
:func:`nmapx.pipeline.process` and engine as a one-process run, so a host's results cannot
differ between the two; the engine is only told not to run pre- and post-rules
(:attr:`~nmapx.engine.runner.ScriptEngine.global_phases`), which the coordinator runs once.

It hands back, per host and in order, the host's enriched bytes (exactly what the XML writer
would write) with the ids of the results added, plus what crosses hosts: the registry's
changes (:mod:`nmapx.cluster.registry`), the new targets scripts offered, and the NSE
messages and log records the batch produced (the coordinator prints them, so ``-v``/``-d``
and warnings reach the user whichever machine ran the batch).

One event loop per worker process. Every batch a worker process runs goes onto one event
loop of its own (:func:`batch_loop`, started on first use), however many Dask threads hand
batches in: the engine is asyncio, so one loop keeps every batch's probes in flight at once,
and the Python work of all of them happens in one thread. With a loop per Dask thread
instead, CPU-bound batches took turns at the GIL (measured: a fifth more CPU over the same
hosts) and all finished together at the end, one worker idle while the other still had
several to do; on one loop they run roughly first come, first done.

Nothing here imports Dask except :func:`run_remote`, the function the coordinator submits,
which also watches the run's stop event so that Ctrl-C on the coordinator stops the probes of
batches already running (no new probe starts; those in flight get the grace period).
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import io
import logging
import os
import signal
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from nmapx.cluster.batch import batch_document, failures_travel
from nmapx.cluster.registry import Change, change
from nmapx.engine.jobs import ChosenScript
from nmapx.engine.options import RunOptions
from nmapx.interrupt import StopRequest
from nmapx.model.host import Host
from nmapx.nmapxml.reader import read_bytes
from nmapx.output.base import StreamItem
from nmapx.output.xml import enriched_bytes
from nmapx.pipeline import Outputs, Tally, process_async

log = logging.getLogger(__name__)

__all__ = ["BatchJob", "BatchOutcome", "HostOutcome", "run_batch", "run_remote"]

_CHOOSING = threading.Lock()
_LOOP_LOCK = threading.Lock()
_LOOP: asyncio.AbstractEventLoop | None = None
#: The batch whose code is running (log records are sorted by it on the shared loop).
_BATCH: contextvars.ContextVar[object | None] = contextvars.ContextVar("nmapx_batch", default=None)
_SELECTIONS: dict[tuple[str, ...], list[ChosenScript]] = {}
_KEEP_SELECTIONS = 8

#: How often a running batch asks the scheduler whether the run was interrupted (seconds):
#: one small call per running batch each time, and the delay Ctrl-C may take to reach it.
STOP_POLL = 0.5


@dataclass(frozen=True)
class BatchJob:
    """What every batch of one scan shares (sent with each batch: a few kilobytes)."""

    options: RunOptions
    #: The scan's header: prologue, ``<scaninfo>``, ``<verbose>``, ``<debugging>``.
    header: bytes
    #: The registry as the pre-rules left it (only what can travel: registry.portable).
    registry: dict[Any, Any] = field(default_factory=dict)
    #: The name of the Dask event that the coordinator sets on Ctrl-C ("" for none); also
    #: what tells one run from another on a long-lived worker.
    stop_event: str = ""
    #: The coordinator's ``nmapx`` log level: records at it and above come back (``-d``).
    log_level: int = logging.WARNING
    #: The ``--script-args-file`` as the coordinator read it (None: none given).
    script_args_file_text: str | None = None


@dataclass(frozen=True)
class HostOutcome:
    """One host of a batch after its scripts: None for ``enriched`` means unchanged."""

    enriched: bytes | None
    #: (protocol, port number) or None for a host script, and the result's id and XML.
    results: tuple[tuple[tuple[str, int] | None, str, bytes], ...] = ()
    #: The host's address and names: the coordinator's scope (post-rules may contact them).
    address: str | None = None
    names: tuple[str, ...] = ()


@dataclass
class BatchOutcome:
    """Everything a batch gives back."""

    hosts: list[HostOutcome]
    tally: Tally
    registry: Change | None
    new_targets: list[Any]
    #: NSE's messages (``-v``, ``-d``, ``--script-trace``), as they were printed.
    messages: str
    #: Log records as (logger name, level, message).
    records: list[tuple[str, int, str]]
    #: Which process ran it (for the coordinator's debug messages).
    worker: str = ""


class _Collector:
    """A writer that keeps each host as it leaves the pipeline, enriched or not."""

    def __init__(self) -> None:
        self.hosts: list[HostOutcome] = []

    def write(self, item: StreamItem) -> None:
        if not isinstance(item, Host):
            return
        results: list[tuple[tuple[str, int] | None, str, bytes]] = []
        for key, found in item.port_results.items():
            results.extend((key, r.id, r.to_xml()) for r in found)
        results.extend((None, r.id, r.to_xml()) for r in item.host_results)
        data = enriched_bytes(item)
        enriched = None if data == item.raw else data
        names = tuple(n for n in item.hostnames() if n)
        self.hosts.append(HostOutcome(enriched, tuple(results), item.address, names))

    def close(self) -> None:
        """Nothing to finish."""


class _Records(logging.Handler):
    """Keeps the log records of one batch: emitted by its code on the shared loop (its
    context says so) or by the thread that prepares it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.thread = threading.get_ident()
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if _BATCH.get() is self or (record.thread == self.thread and _BATCH.get() is None):
            self.records.append((record.name, record.levelno, record.getMessage()))


def batch_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for batches, in a daemon thread (see the module docstring)."""
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None or _LOOP.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="nmapx-batches", daemon=True).start()
            _LOOP = loop
        return _LOOP


async def _as_batch(handler: _Records, job: Any) -> Any:
    """Run ``job`` with the batch's context set (tasks it starts inherit it)."""
    _BATCH.set(handler)
    return await job


def _chosen(run: str, scripts: list[str]) -> list[ChosenScript]:
    """The selection, resolved once per run on each worker (it reads every script's source;
    a long-lived worker must see a script file edited between two runs) and by one thread
    at a time: CPython 3.11's ``ast.parse`` is not safe in concurrent threads ("AST
    constructor recursion depth mismatch"), and a worker runs batches in several."""
    from nmapx.engine.session import choose

    key = (run, *scripts)
    with _CHOOSING:
        found = _SELECTIONS.get(key)
        if found is None:
            while len(_SELECTIONS) >= _KEEP_SELECTIONS:
                del _SELECTIONS[next(iter(_SELECTIONS))]
            found = _SELECTIONS[key] = choose(scripts)
    return found


def run_batch(job: BatchJob, hosts: list[bytes], stop: StopRequest | None = None) -> BatchOutcome:
    """Run the scan's host and port scripts on ``hosts`` (their raw ``<host>`` bytes)."""
    from nmapx.engine.session import build

    messages = io.StringIO()
    chosen = _chosen(job.stop_event, job.options.scripts)
    engine, scope = build(job.options, chosen, job.script_args_file_text)
    engine.global_phases = False
    engine.options.settings.stream = messages
    start = copy.deepcopy(job.registry)
    engine.context.registry.update(copy.deepcopy(job.registry))
    collector = _Collector()
    tally = Tally()
    handler = _Records()
    top = logging.getLogger("nmapx")
    if top.getEffectiveLevel() > job.log_level:
        top.setLevel(job.log_level)  # this process's nmapx logger: only batches use it
    top.addHandler(handler)
    try:
        document = read_bytes(batch_document(job.header, hosts), name="<batch>")
        enrich = process_async(
            document, Outputs(sinks=(collector,)), engine, scope, stop=stop, tally=tally
        )
        asyncio.run_coroutine_threadsafe(_as_batch(handler, enrich), batch_loop()).result()
    finally:
        top.removeHandler(handler)
    return BatchOutcome(
        hosts=collector.hosts,
        tally=tally,
        registry=change(start, engine.context.registry),
        new_targets=list(engine.context.new_targets),
        messages=messages.getvalue(),
        records=handler.records,
        worker=f"pid {os.getpid()}",
    )


def run_remote(job: BatchJob, hosts: list[bytes]) -> BatchOutcome:
    """:func:`run_batch` on a Dask worker, stopped when the coordinator sets ``stop_event``.

    The batch runs in a thread of its own while this (the Dask task's) thread watches the
    event: a Dask ``Event`` works only in the thread of the task that made it.
    """
    stop = StopRequest()
    found: list[BatchOutcome] = []
    failed: list[BaseException] = []

    def work() -> None:
        try:
            found.append(run_batch(job, hosts, stop))
        except BaseException as exc:  # re-raised in the task's thread, for Dask to report
            failed.append(exc)

    thread = threading.Thread(target=work, name="nmapx-batch")
    thread.start()
    if job.stop_event:
        from distributed import Event

        event = Event(job.stop_event)
        thread.join(STOP_POLL)
        while thread.is_alive():
            try:
                if event.is_set():
                    stop.request(signal.SIGINT)
                    break
            except Exception:  # the scheduler went away: the coordinator handles that
                log.debug("stop event unreachable", exc_info=True)
                break
            thread.join(STOP_POLL)
    thread.join()
    with failures_travel():
        if failed:
            raise failed[0]
    return replace(found[0], worker=f"{found[0].worker} ({_worker_name()})")


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except Exception:  # not on a worker (a test calling it directly)
        return "no worker"
