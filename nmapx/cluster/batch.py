"""A batch of hosts as it travels to a worker: a small Nmap XML document of its own.

A batch is the scan's header (the ``<nmaprun>`` start tag and the ``<scaninfo>``,
``<verbose>`` and ``<debugging>`` elements: all that a host's rules, or a report's view of a
host, can ask of the scan, :class:`~nmapx.model.host.ScanContext`), the hosts' exact bytes
and ``</nmaprun>``. A worker reads it with the same streaming reader as a whole scan, so a
host cannot read differently there than in one process. ``nmapx run --workers`` and ``nmapx
report --workers`` both send batches this way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nmapx.nmapxml.reader import Item, Prologue, TopLevelItem

#: How many times a batch is tried on the cluster before nmapx gives up on it there.
ATTEMPTS = 2
#: The scan's elements that travel with every batch.
HEADER_ELEMENTS = frozenset({"scaninfo", "verbose", "debugging"})


class ScanHeader:
    """The header of the scan being read, gathered from its pieces as they stream by."""

    def __init__(self) -> None:
        self.raw = b""

    def take(self, item: Item) -> bool:
        """Add ``item`` if it belongs to the header; True if it did (the header changed)."""
        if isinstance(item, Prologue):
            self.raw = item.raw
            return True
        if isinstance(item, TopLevelItem) and item.name in HEADER_ELEMENTS:
            self.raw += item.gap + item.raw
            return True
        return False


def batch_document(header: bytes, hosts: list[bytes]) -> bytes:
    """The batch as a document of its own (see the module docstring)."""
    return b"".join((header, *(b"\n" + raw for raw in hosts), b"\n</nmaprun>\n"))


class BatchFailed(Exception):
    """A batch raised on its worker: the exception's name and first line only.

    Why not the exception itself: Dask pickles it with its traceback, and a deep one (a
    RecursionError's thousand frames) fails to travel; the client then never resolves the
    batch's future (distributed 2024-2025), and the run would wait forever.
    """


@contextmanager
def failures_travel() -> Iterator[None]:
    """On a worker: turn whatever a batch raises into a :class:`BatchFailed` that travels."""
    try:
        yield
    except Exception as exc:
        raise BatchFailed(failure_reason(exc)) from None


def failure_reason(exc: BaseException) -> str:
    """One line for a batch that failed: Dask's KilledWorker message runs to a paragraph."""
    if isinstance(exc, BatchFailed):
        return str(exc)
    name = type(exc).__name__
    if name == "KilledWorker":
        return "KilledWorker: its worker process died while running it"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{name}: {text}" if text else name
