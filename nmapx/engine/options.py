"""The options of a script run, as data: what ``nmapx run``'s command line and
:func:`nmapx.run`'s keywords both fill in.

A module of its own, importing nothing but the cluster options (no Dask), so that the
public API and the CLI can name the options without loading the engine (which
:func:`nmapx.engine.session.build` does once a run starts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nmapx.cluster.options import ClusterOptions

__all__ = ["RunOptions"]


@dataclass
class RunOptions:
    """The options that shape a script run: ``nmapx run``'s, by the same names.

    Times are Nmap's syntax (``"30s"``, ``"500ms"``, ``"2m"``); ``script_args`` is
    ``--script-args`` text. :func:`build` checks them all before any input is read.
    """

    scripts: list[str] = field(default_factory=list)
    script_args: str | None = None
    script_args_file: str | None = None
    script_timeout: str | None = None
    host_timeout: str | None = None
    max_parallelism: int = 1000
    max_host_parallelism: int = 64
    script_trace: bool = False
    verbosity: int = 0
    debugging: int = 0
    no_network: bool = False
    exclude: list[str] = field(default_factory=list)
    exclude_file: str | None = None
    #: Keep every host and port result the input already holds (same script id) instead of
    #: running that script there again; without it a new result replaces the old in place.
    skip_existing: bool = False
    #: ``--workers N``: run the hosts on a local Dask cluster of N worker processes (0: in
    #: this process, as always; :mod:`nmapx.cluster`).
    workers: int = 0
    #: ``--scheduler ADDRESS``: run the hosts on the Dask cluster of that scheduler.
    scheduler: str | None = None
    #: ``--batch-size N``: hosts per batch sent to a worker (0: nmapx's default, 100).
    batch_size: int = 0
    #: Threads of each local worker process, i.e. batches it runs at once (0: default, 8).
    worker_threads: int = 0

    @property
    def on_cluster(self) -> bool:
        """Whether the hosts run on a Dask cluster (scripts are needed for that)."""
        return bool(self.scripts) and self.cluster.wanted

    @property
    def cluster(self) -> ClusterOptions:
        """The cluster options alone (what :func:`nmapx.cluster.coordinator.open_cluster`
        takes)."""
        return ClusterOptions(self.workers, self.scheduler, self.batch_size, self.worker_threads)
