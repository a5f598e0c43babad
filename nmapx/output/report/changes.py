"""The report's "what changed" view: ``nmapx diff``'s comparison, as data for the page.

Why here and not a second comparison: a user who reads "3 new hosts" in the report and runs
``nmapx diff`` on the same two files must get the same hosts and the same lines. So each
host is summarised by :func:`nmapx.output.ndiff.summarize_host`, hosts are paired and compared
by :func:`nmapx.output.ndiff.host_pairs`, and each changed host carries the very lines
:func:`nmapx.output.ndiff.host_text` prints; this module only turns a
:class:`~nmapx.output.ndiff.HostDiff` into JSON-ready facts (new, gone, which ports changed how).

Memory: the summaries of a scan go to a temporary file as the hosts stream by (one pickle each),
and only the two scans being compared are loaded at the end, as ``nmapx diff`` holds them.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator
from typing import Any

from nmapx.output.ndiff import HostDiff, HostSummary, PortDiff, PortSummary, host_pairs, host_text


class SummarySpill:
    """Per scan, the ndiff summaries of its hosts, pickled to one temporary file."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="nmapx-report-diff-")
        #: (scan index, host summary) in arrival order.
        self._scans: list[int] = []

    def append(self, scan: int, summary: HostSummary) -> None:
        pickle.dump((scan, summary), self._file, protocol=pickle.HIGHEST_PROTOCOL)
        if scan not in self._scans:
            self._scans.append(scan)

    def scan(self, index: int) -> list[HostSummary]:
        """The summaries of one scan (read back from the file)."""
        self._file.flush()
        self._file.seek(0)
        hosts: list[HostSummary] = []
        while True:
            try:
                scan, summary = pickle.load(self._file)  # our own temporary file
            except EOFError:
                break
            if scan == index:
                hosts.append(summary)
        self._file.seek(0, 2)
        return hosts

    def close(self) -> None:
        self._file.close()


def _present(d: HostDiff) -> HostSummary:
    return d.b if d.b.state is not None else d.a


def _address(host: HostSummary) -> str:
    addresses = host.sorted_addresses()
    return addresses[0][1] if addresses else (sorted(host.hostnames)[0] if host.hostnames else "")


def _port_side(port: PortSummary) -> str:
    """``open ssh OpenSSH 6.0p1`` (the columns ``nmapx diff`` prints, without the port)."""
    return " ".join(c for c in port.columns()[1:] if c) if port.state is not None else ""


def _port_change(port: PortDiff) -> dict[str, Any]:
    a, b = port.a, port.b
    if a.state != b.state:
        kind = "state"
    elif a.service() != b.service():
        kind = "version" if a.name == b.name else "service"
    else:
        kind = "scripts"
    return {
        "port": a.spec,
        "kind": kind,
        "a": _port_side(a),
        "b": _port_side(b),
        "scripts": sorted({(s.a or s.b or ("", ""))[0] for s in port.scripts}),
    }


def change_data(d: HostDiff) -> dict[str, Any]:
    """One changed host: its kind (new, gone, changed), what changed, and ndiff's own lines."""
    kind = "new" if d.a.state is None else "gone" if d.b.state is None else "changed"
    present = _present(d)
    return {
        "address": _address(present),
        "name": present.format_name(),
        "kind": kind,
        "state": [d.a.state, d.b.state],
        "ports": [_port_change(p) for p in d.ports] if kind == "changed" else [],
        "os": d.os_changed and kind == "changed",
        "scripts": sorted({(s.a or s.b or ("", ""))[0] for s in d.scripts})
        if kind == "changed"
        else [],
        "lines": host_text(d),
    }


def compare(labels: list[str], spill: SummarySpill) -> Iterator[dict[str, Any]]:
    """Each scan against the one before it: counts and the changed hosts, in ndiff's order."""
    previous = spill.scan(0) if len(labels) > 1 else []
    for index in range(1, len(labels)):
        current = spill.scan(index)
        hosts = [change_data(d) for d in host_pairs(previous, current) if d.cost > 0]
        yield {
            "a": labels[index - 1],
            "b": labels[index],
            "new": sum(1 for h in hosts if h["kind"] == "new"),
            "gone": sum(1 for h in hosts if h["kind"] == "gone"),
            "changed": sum(1 for h in hosts if h["kind"] == "changed"),
            "hosts": hosts,
        }
        previous = current
