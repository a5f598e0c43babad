"""How a command uses a Dask cluster: ``--workers``, ``--scheduler``, ``--batch-size``,
``--worker-threads`` (shared by ``nmapx run`` and ``nmapx report``; no Dask import here)."""

from __future__ import annotations

from dataclasses import dataclass

#: ``nmapx run``: hosts per batch, and threads of a local worker process (batches it runs at
#: once). A batch waiting on slow services leaves its process's core to another batch; with
#: 8, two workers keep 1,600 hosts probing at once (one process keeps up to 4,096).
RUN_BATCH_SIZE = 100
RUN_THREADS = 8
#: ``nmapx report``: preparing hosts is pure Python, so one thread per process (a second
#: would only take turns with the first under the GIL); 200 hosts are about 0.1 to 0.5 s of
#: a worker's time for typical ``-sV`` hosts, enough to hide the cost of sending a batch.
REPORT_BATCH_SIZE = 200
REPORT_THREADS = 1


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    """A local cluster of ``workers`` processes, or the cluster of ``scheduler``."""

    workers: int = 0
    scheduler: str | None = None
    #: Hosts per batch (0: the command's default).
    batch_size: int = 0
    #: Threads of each local worker process, i.e. batches it runs at once (0: the command's
    #: default). A cluster given with ``scheduler`` has its own.
    worker_threads: int = 0

    @property
    def wanted(self) -> bool:
        """Whether a cluster is asked for at all (otherwise: one process, no Dask import)."""
        return self.workers > 0 or bool(self.scheduler)
