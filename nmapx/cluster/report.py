"""``nmapx report --workers N`` / ``--scheduler ADDRESS``: hosts prepared on a Dask cluster.

What runs where. This process (the coordinator) reads each input as a stream, as in one
process, and writes the report. The workers prepare batches of hosts (:func:`prepare_batch`:
each host's tree, its report data, its JSON Lines line, CSV rows or the HTML page's three
lines, and its ``nmapx diff`` summary: :func:`~nmapx.output.report.prepared.prepare_host`),
which is nearly all of a report's CPU. Back here each host is absorbed in input order
(:meth:`~nmapx.output.report.collect.ReportCollector.absorb`: the scan's counts, distinct
addresses, the file's lines), and at the end the HTML page is rendered from what was kept,
as in one process. Both sides run the same functions, so the report is the same bytes (the
HTML page's random nonce and data markers aside, which differ between any two runs).

Memory. At most ``window`` batches are out at once; a batch's hosts are held until it comes
back and is absorbed, so the coordinator holds at most ``(window + 1) * batch_size`` hosts'
bytes whatever the input's size. Pieces between hosts (Nmap's ``<hosthint>``) travel in
their batch's place in the queue, so they do not cut batches short.

Faults. A batch that failed on the cluster (its worker died, or preparing raised) is sent
again once; one that fails again, or gets no answer within :data:`BATCH_TIMEOUT` (or at all
once the scheduler is gone: :mod:`nmapx.cluster.watch`), is prepared here, in this process,
so no host is ever left out of the report. Each is reported with a warning.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nmapx.cluster.batch import (
    ATTEMPTS,
    ScanHeader,
    batch_document,
    failure_reason,
    failures_travel,
)
from nmapx.cluster.options import REPORT_BATCH_SIZE, REPORT_THREADS, ClusterOptions
from nmapx.cluster.watch import SchedulerWatch
from nmapx.errors import NmapxError
from nmapx.model.host import Host
from nmapx.nmapxml.reader import Document, Item, read_bytes
from nmapx.output.report.collect import ReportCollector
from nmapx.output.report.prepared import Kind, PreparedHost, SectionSetup, prepare_host

if TYPE_CHECKING:
    from distributed import Client, Future

log = logging.getLogger(__name__)

__all__ = ["ReportCluster", "open_report_cluster", "prepare_batch"]

#: How long one batch may take on the cluster before this process prepares it itself (s):
#: far beyond the 0.1 to 0.5 s a batch takes, it only bounds a cluster that went away or
#: answers nothing.
BATCH_TIMEOUT = 300.0


def prepare_batch(
    kind: Kind, label: str, header: bytes, hosts: list[bytes], first: int, setup: SectionSetup
) -> list[PreparedHost]:
    """On a worker: every host of the batch prepared for a report of ``kind`` (``first``: the
    first host's index in the report)."""
    with failures_travel():
        document = read_bytes(batch_document(header, hosts), name=f"<batch of {label}>")
        read = [item for item in document if isinstance(item, Host)]
        return [prepare_host(h, label, kind, first + n, setup) for n, h in enumerate(read)]


class _NoAnswer(Exception):
    """The cluster did not answer for a batch (gone, or far too slow)."""


@dataclass
class _Batch:
    """Pieces of the input in order; the hosts among them go to the cluster together (other
    pieces, such as Nmap's ``<hosthint>`` between hosts, wait with them)."""

    pieces: list[Item]
    label: str
    header: bytes
    hosts: list[Host] = field(default_factory=list)
    future: Future[list[PreparedHost]] | None = None
    attempts: int = 0
    #: The first host's index in the report, and how its sections are rendered.
    first: int = 0
    setup: SectionSetup = field(default_factory=SectionSetup)

    def __str__(self) -> str:
        lines = f"lines {self.hosts[0].line} to {self.hosts[-1].line}"
        return f"a batch of {len(self.hosts)} hosts of {self.label} ({lines})"


@dataclass
class ReportCluster:
    """A connected client and how a report uses it (see :func:`open_report_cluster`)."""

    client: Client
    batch_size: int = REPORT_BATCH_SIZE
    #: Batches out at once (0: twice the cluster's threads).
    window: int = 0
    _pending: deque[_Batch] = field(default_factory=deque)
    _watch: SchedulerWatch = field(init=False)
    _next_index: int = 0
    _setup: SectionSetup = field(default_factory=SectionSetup)

    def __post_init__(self) -> None:
        self._watch = SchedulerWatch(self.client)

    def effective_window(self) -> int:
        if self.window > 0:
            return self.window
        return max(2, 2 * int(sum(self.client.nthreads().values())))

    def feed(self, document: Document, collector: ReportCollector, label: str) -> None:
        """Every piece of ``document`` into ``collector``, in order, the hosts prepared on
        the cluster. When the input turns out bad part-way (:class:`NmapxError`), the hosts
        read before are absorbed first, as one process would have done, then it is raised."""
        header = ScanHeader()
        forming = _Batch([], label, b"")
        window = self.effective_window()
        self._next_index = collector.next_index  # nothing is pending between two inputs
        self._setup = collector.section_setup
        try:
            for item in document:
                # A header piece after hosts (never seen from Nmap) must not change theirs.
                if not isinstance(item, Host) and header.take(item) and forming.hosts:
                    forming = self._seal(forming, collector.kind)
                forming.pieces.append(item)
                if isinstance(item, Host):
                    forming.hosts.append(item)
                    forming.header = header.raw
                    if len(forming.hosts) >= self.batch_size:
                        forming = self._seal(forming, collector.kind)
                self._absorb_ready(collector, window)
        except NmapxError:
            self._seal(forming, collector.kind)
            self._absorb_ready(collector, 0)
            raise
        except BaseException:
            self._cancel()
            raise
        self._seal(forming, collector.kind)
        self._absorb_ready(collector, 0)

    def _seal(self, batch: _Batch, kind: Kind) -> _Batch:
        """Queue ``batch`` (sent to the cluster if it holds hosts); a new one to form."""
        if batch.hosts:
            batch.first, batch.setup = self._next_index, self._setup
            self._next_index += len(batch.hosts)
            self._submit(batch, kind)
        if batch.pieces:
            self._pending.append(batch)
        return _Batch([], batch.label, batch.header)

    def _submit(self, batch: _Batch, kind: Kind) -> None:
        """Send ``batch``; once the cluster is gone, leave it to be prepared here."""
        batch.future = None
        if self._watch.lost():
            return
        batch.attempts += 1
        batch.future = self.client.submit(
            prepare_batch,
            kind,
            batch.label,
            batch.header,
            [host.raw for host in batch.hosts],
            batch.first,
            batch.setup,
            pure=False,
        )

    def _out(self) -> int:
        return sum(1 for batch in self._pending if batch.future is not None)

    def _absorb_ready(self, collector: ReportCollector, window: int) -> None:
        """Absorb from the front what is ready; wait while more than ``window`` batches are
        out (0: until nothing is left)."""
        while self._pending:
            batch = self._pending[0]
            if batch.future is not None and not batch.future.done() and self._out() <= window:
                return
            prepared = iter(self._prepared(batch, collector.kind))
            for piece in batch.pieces:
                if isinstance(piece, Host):
                    collector.absorb(next(prepared))
                else:
                    collector.write(piece)
            self._pending.popleft()

    def _prepared(self, batch: _Batch, kind: Kind) -> list[PreparedHost]:
        while batch.future is not None:
            try:
                prepared = self._result(batch.future)
                if len(prepared) == len(batch.hosts):
                    return prepared
                reason = f"{len(prepared)} hosts came back of {len(batch.hosts)} sent"
            except _NoAnswer as exc:
                reason = str(exc)
                batch.attempts = ATTEMPTS
            except Exception as exc:
                reason = failure_reason(exc)
            if batch.attempts < ATTEMPTS:
                log.warning("%s failed on the cluster (%s); sending it again", batch, reason)
                self._submit(batch, kind)
                continue
            log.warning("%s failed on the cluster (%s): preparing it here", batch, reason)
            break
        return [
            prepare_host(host, batch.label, kind, batch.first + n, batch.setup)
            for n, host in enumerate(batch.hosts)
        ]

    def _result(self, future: Future[list[PreparedHost]]) -> list[PreparedHost]:
        """The batch's hosts, waiting at most :data:`BATCH_TIMEOUT`, less if the scheduler is
        gone (:mod:`nmapx.cluster.watch`); a future given up is never cancelled (that would
        wait for the scheduler too)."""
        deadline = time.monotonic() + BATCH_TIMEOUT
        while True:
            try:
                return future.result(timeout=1.0)
            except TimeoutError:
                if self._watch.lost():
                    raise _NoAnswer(self._watch.describe()) from None
                if time.monotonic() >= deadline:
                    raise _NoAnswer(f"no answer within {BATCH_TIMEOUT:g} s") from None

    def _cancel(self) -> None:
        if not self._watch.lost():
            for batch in self._pending:
                if batch.future is not None:
                    batch.future.cancel()
        self._pending.clear()


@contextmanager
def open_report_cluster(options: ClusterOptions) -> Iterator[ReportCluster]:
    """The cluster ``options`` ask for (see :func:`nmapx.cluster.coordinator.open_cluster`),
    with a report's batch size and one thread per local worker process by default."""
    from nmapx.cluster.coordinator import open_cluster

    with open_cluster(options, threads=REPORT_THREADS) as cluster:
        yield ReportCluster(cluster.client, batch_size=options.batch_size or REPORT_BATCH_SIZE)
