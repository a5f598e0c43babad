"""Turning a document's streamed pieces into report data, as a writer of the pipeline.

:class:`ReportCollector` receives the same pieces as the XML writer (and, in ``nmapx run``,
the script results added to each host), so a report made in the same pass as probing shows
which results nmapx added and which were already in the input.

A scan's pre- and post-script lists hold the input's own results first (its later elements
before its earlier ones), then the ones nmapx added, whenever each arrives in the stream.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from lxml import etree

from nmapx.model.host import Host
from nmapx.model.results import ScriptResult
from nmapx.nmapxml.parsers import safe_parser
from nmapx.nmapxml.reader import Prologue, TopLevelItem, Truncation
from nmapx.output.base import ScriptPhaseResults, StreamItem
from nmapx.output.report.data import note_runstats, scan_data, script_data
from nmapx.output.report.prepared import Kind, PreparedHost, SectionSetup, prepare_host
from nmapx.output.report.spill import HostSpill

_SAFE = safe_parser()


def _results_as_scripts(results: Iterable[ScriptResult]) -> list[dict[str, Any]]:
    return [
        script_data(etree.fromstring(result.to_xml(), _SAFE), added=True)
        for result in sorted(results, key=lambda r: r.id)
    ]


class RecordSink(Protocol):
    """Where a streaming format's hosts go: each host's bytes, as it arrives."""

    @property
    def kind(self) -> Kind:
        """Which bytes :func:`~nmapx.output.report.prepared.prepare_host` makes for it."""

    def write(self, record: bytes) -> None: ...


class ReportCollector:
    """Collects one or more documents' hosts and scan summaries.

    As a :class:`~nmapx.output.base.ReportWriter` it is the JSON Lines and CSV formats (a
    ``sink`` writes each host as it arrives, nothing is left to do at the end);
    :class:`~nmapx.output.report.html.HtmlReportWriter` adds the page rendered at the end.
    Each host is prepared (:func:`~nmapx.output.report.prepared.prepare_host`, which depends
    on the host alone) and then absorbed (:meth:`absorb`, the running totals, in order).
    """

    #: What :meth:`absorb` needs of each host (a subclass may need more).
    kind: Kind = "spill"

    def __init__(self, label: str = "", sink: RecordSink | None = None) -> None:
        self.label = label
        self.sink = sink
        if sink is not None:
            self.kind = sink.kind
        self.scans: list[dict[str, Any]] = []
        #: How HTML sections are rendered (see :meth:`expect_scans`).
        self.section_setup = SectionSetup()
        #: Report data of every host, on disk (only when no sink takes them).
        self.hosts: HostSpill | None = HostSpill() if sink is None else None
        self._scan: dict[str, Any] | None = None

    def expect_scans(self, count: int) -> None:
        """How many scans will be merged (``nmapx report``'s inputs): a host's HTML section
        names its scan when there are several, and is rendered as its host arrives."""
        self.section_setup = SectionSetup(self.section_setup.template, count > 1)

    @property
    def next_index(self) -> int:
        """The index the next host absorbed gets in the report."""
        return self.hosts.count if self.hosts is not None else 0

    def start(self, label: str) -> None:
        """The next document's pieces belong to the scan called ``label``."""
        self.label = label

    def write(self, item: StreamItem) -> None:
        if isinstance(item, Prologue):
            self._scan = scan_data(self.label, item.root)
            self.scans.append(self._scan)
        elif isinstance(item, Host):
            self._host(item)
        elif isinstance(item, ScriptPhaseResults):
            self._script_phase(item)
        elif isinstance(item, TopLevelItem):
            self._top_level(item)
        elif isinstance(item, Truncation) and self._scan is not None:
            self._scan["exit"] = "error"
            self._scan["errormsg"] = f"input ended early at line {item.line}, byte {item.offset}"

    def close(self) -> None:
        """Nothing to finish: an ``on_host`` sink has written every host already."""

    def discard(self) -> None:
        """Nothing will be written: drop the hosts kept on disk."""
        if self.hosts is not None:
            self.hosts.close()

    def _top_level(self, item: TopLevelItem) -> None:
        if item.element is None or self._scan is None:
            return
        if item.name == "runstats":
            note_runstats(self._scan, item.element)
        elif item.name in ("prescript", "postscript"):
            scripts = [script_data(s) for s in item.element.iterfind("script")]
            self._scan[f"{item.name}s"] = scripts + self._scan[f"{item.name}s"]

    def _script_phase(self, item: ScriptPhaseResults) -> None:
        if item.original is not None:
            self._top_level(item.original)
        if item.results and self._scan is not None:
            key = f"{item.phase}s"
            self._scan[key] = self._scan[key] + _results_as_scripts(item.results)

    def _host(self, host: Host) -> None:
        self.absorb(prepare_host(host, self.label, self.kind, self.next_index, self.section_setup))

    def absorb(self, host: PreparedHost) -> None:
        """Take one host of the current scan, prepared here or on a Dask worker (in input
        order: the counts and the file's lines follow it)."""
        scan = self._scan
        if scan is not None:
            scan["hosts_total"] += 1
            scan["hosts_up" if host.up else "hosts_down"] += 1
            scan["open_ports"] += len(host.open_ports)
        if self.sink is not None:
            self.sink.write(host.record)
        if self.hosts is not None and host.spilled is not None:
            self.hosts.append_lines(host.spilled, host.section)
        self.absorbed(host)

    def absorbed(self, host: PreparedHost) -> None:
        """One host after it was kept (a hook: the HTML report also counts distinct hosts and
        keeps what ``nmapx diff`` compares)."""
