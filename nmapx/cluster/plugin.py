"""A Dask worker plugin of the local cluster: worker processes ignore SIGINT.

Why: Ctrl-C in a terminal signals the whole process group, the local cluster's worker
processes included. A worker must not die of it: the coordinator tells each running batch to
stop (no new probe, the grace period for those in flight) and writes what comes back, as one
process does. The plugin is registered with the scheduler, so a worker that is restarted
later (after a crash) ignores SIGINT too. Only ``--workers`` installs it: the workers of a
cluster given with ``--scheduler`` belong to someone else.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from distributed import WorkerPlugin

__all__ = ["IgnoreSigint"]


class IgnoreSigint(WorkerPlugin):
    """Sets SIGINT to be ignored in the worker's process (from its main thread)."""

    name = "nmapx-ignore-sigint"

    def setup(self, worker: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        else:  # a worker whose loop is not in its main thread: ask that thread to do it
            worker.loop.add_callback(signal.signal, signal.SIGINT, signal.SIG_IGN)
