"""Turning a document's streamed pieces into report data, as a writer of the pipeline.

:class:`ReportCollector` receives the same pieces as the XML writer (and, in ``nmapx run``,
the script results added to each host), so a report made in the same pass as probing shows
which results nmapx added and which were already in the input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lxml import etree

from nmapx.model.host import Host
from nmapx.model.results import ScriptResult
from nmapx.nmapxml.reader import Epilogue, Item, Prologue, TopLevelItem, Truncation
from nmapx.output.report.data import host_data, note_runstats, scan_data, script_data
from nmapx.output.report.spill import HostSpill
from nmapx.output.xml import enriched_element

_SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _results_as_scripts(results: list[ScriptResult]) -> list[dict[str, Any]]:
    return [
        script_data(etree.fromstring(result.to_xml(), _SAFE), added=True)
        for result in sorted(results, key=lambda r: r.id)
    ]


class ReportCollector:
    """Collects one or more documents' hosts and scan summaries; ``on_host`` sees each host."""

    def __init__(
        self, label: str = "", on_host: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self.label = label
        self.on_host = on_host
        self.scans: list[dict[str, Any]] = []
        #: Report data of every host, on disk (only when no ``on_host`` sink takes them).
        self.hosts: HostSpill | None = HostSpill() if on_host is None else None
        self.prescript: list[ScriptResult] = []
        self.postscript: list[ScriptResult] = []
        self._scan: dict[str, Any] | None = None

    def start(self, label: str) -> None:
        """The next document's pieces belong to the scan called ``label``."""
        self.label = label

    def write(self, item: Item) -> None:
        if isinstance(item, Prologue):
            self._scan = scan_data(self.label, item.root)
            self.scans.append(self._scan)
            if self.prescript:
                self._scan["prescripts"] = _results_as_scripts(self.prescript)
        elif isinstance(item, Host):
            self._host(item)
        elif isinstance(item, TopLevelItem) and item.element is not None and self._scan is not None:
            if item.name == "runstats":
                note_runstats(self._scan, item.element)
            elif item.name in ("prescript", "postscript"):
                scripts = [script_data(s) for s in item.element.iterfind("script")]
                self._scan[f"{item.name}s"] = scripts + self._scan[f"{item.name}s"]
        elif isinstance(item, Epilogue | Truncation) and self._scan is not None:
            if self.postscript:
                self._scan["postscripts"] = self._scan["postscripts"] + _results_as_scripts(
                    self.postscript
                )
            if isinstance(item, Truncation):
                self._scan["exit"] = "error"
                self._scan["errormsg"] = (
                    f"input ended early at line {item.line}, byte {item.offset}"
                )

    def _host(self, host: Host) -> None:
        data = host_data(host, enriched_element(host), self.label)
        scan = self._scan
        if scan is not None:
            scan["hosts_total"] += 1
            scan["hosts_up" if data["status"] == "up" else "hosts_down"] += 1
            scan["open_ports"] += sum(1 for p in data["ports"] if p["state"] == "open")
        if self.on_host is not None:
            self.on_host(data)
        if self.hosts is not None:
            self.hosts.append(data)
