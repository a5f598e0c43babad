"""Noticing a scheduler that went away.

Why: when the scheduler dies or its machine drops off the network, Dask's client keeps
trying to reconnect and the futures of the batches out never complete, so a coordinator
waiting for them would wait forever. The client's status says when it is no longer
connected; once it has been so for :data:`LOST_AFTER` seconds the coordinator stops waiting,
gives up the batches out, and finishes the run without the cluster (``nmapx run``: their
hosts passed through, exit status 4; ``nmapx report``: prepared in its own process).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import Client

#: How long the client may be without its scheduler before the cluster counts as gone (s):
#: longer than a scheduler's restart or a brief network hiccup takes.
LOST_AFTER = 20.0


class SchedulerWatch:
    """Tells whether ``client`` has been without its scheduler for ``grace`` seconds."""

    def __init__(self, client: Client, grace: float = LOST_AFTER) -> None:
        self.client = client
        self.grace = grace
        self._since: float | None = None

    def lost(self) -> bool:
        """Whether the scheduler counts as gone (asked again and again, cheaply)."""
        if self.client.status == "running":
            self._since = None
            return False
        now = time.monotonic()
        if self._since is None:
            self._since = now
        return now - self._since >= self.grace

    def describe(self) -> str:
        address = getattr(self.client.scheduler, "address", None) or "the scheduler"
        return f"no answer from {address} for {self.grace:g} s"
