"""The HTML report: one self-contained file rendered with jinja2.

Safety by construction: autoescaping is on for every template, data for the page's script
goes through ``tojson`` (with ``ensure_ascii``, so U+2028/U+2029 arrive escaped too) inside
``<script type="application/json">`` blocks that are never executed, the page's script builds
every element with ``textContent`` (no ``innerHTML``), and a Content-Security-Policy meta tag
allows only the report's own inline style and script (by nonce) and nothing from the network.

Each host is in the page once as HTML and once as data, and the two do not overlap: its
section (rendered here: ports, Nmap's script output, traceroute) is what the browser's find
and printing see from the start, and the page's script reads script output from it when it
needs the text; the JSON block (``data | tojson``) holds the compact page form of each host
(:func:`~nmapx.output.report.data.page_host`: what queries, sorting, counts, findings,
certificates and links need); the structure block (``structure | tojson``) holds the
``<elem>``/``<table>`` trees, parsed only when a "structured" button is first pressed. JSON
Lines keep the whole host. The page grows linearly with hosts and output.

Templates are found through :func:`nmapx.resources.bundled_dir` (so they work after a
non-editable ``pip install .``); ``--template DIR`` puts a user's directory first.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from nmapx import __version__
from nmapx.output.atomic import AtomicOutput
from nmapx.output.report.changes import SummarySpill, compare
from nmapx.output.report.collect import ReportCollector
from nmapx.output.report.page import (
    TEMPLATE,
    HostSections,
    ReportData,
    StructureData,
    environment,
    host_section,
    report_date,
)
from nmapx.output.report.prepared import Kind, PreparedHost, SectionSetup
from nmapx.output.report.spill import HostSpill


def render(
    scans: list[dict[str, Any]],
    hosts: HostSpill,
    out: AtomicOutput,
    template_dir: str | None = None,
    totals: dict[str, int] | None = None,
    changes: list[dict[str, Any]] | None = None,
) -> None:
    """Write the report for ``scans`` and their ``hosts`` to ``out``, streaming the hosts.

    ``totals`` counts each host once however many scans list it (the writer knows the
    addresses); without it the scans' own counts are added up.
    """
    counted = totals or {
        "hosts_up": sum(s["hosts_up"] for s in scans),
        "hosts_down": sum(s["hosts_down"] for s in scans),
        "hosts_total": sum(s["hosts_total"] for s in scans),
        "open_ports": sum(s["open_ports"] for s in scans),
    }
    template = environment(template_dir).get_template(TEMPLATE)
    data = ReportData(scans, hosts, changes, report_date())
    structure = StructureData(hosts)
    sections = HostSections(hosts)
    context = {
        "scans": scans,
        "totals": {**counted, "findings": hosts.findings, "added": hosts.added},
        "changes": data["changes"],
        "generated": data["generated"],
        "data": data,
        "structure": structure,
        "host_sections": sections,
        "nonce": secrets.token_urlsafe(18),
        "generator": f"nmapx {__version__}",
        "title": ", ".join(Path(s["label"]).name for s in scans) or "Nmap scan",
    }
    streamed: dict[str, ReportData | StructureData | HostSections] = {
        data.marker: data,
        structure.marker: structure,
        sections.marker: sections,
    }
    pattern = re.compile("|".join(streamed))
    for chunk in template.generate(**context):
        start = 0
        for found in pattern.finditer(chunk):
            out.write(chunk[start : found.start()].encode("utf-8", "surrogateescape"))
            for piece in streamed[found[0]].chunks():
                out.write(piece.encode("utf-8", "surrogateescape"))
            start = found.end()
        out.write(chunk[start:].encode("utf-8", "surrogateescape"))


class HtmlReportWriter(ReportCollector):
    """The HTML report as a writer: collects every document's hosts, renders the page at
    :meth:`close` (``nmapx run --html``: one document; ``nmapx report``: all of them).

    Several scans of one network must not count a host twice, so the writer keeps each
    address's state (and the open ports by address) to count distinct hosts, and keeps each
    host's ``nmapx diff`` summary on disk for the "what changed" view.
    """

    kind: Kind = "html"

    def __init__(self, out: AtomicOutput, label: str = "", template: str | None = None) -> None:
        super().__init__(label)
        self.out = out
        self.template = template
        self.section_setup = SectionSetup(template)
        self._up: dict[str, bool] = {}
        self._open: set[tuple[str, str, int]] = set()
        self._summaries = SummarySpill()

    def absorbed(self, host: PreparedHost) -> None:
        address = host.address or f"#{len(self._up)}"
        self._up[address] = self._up.get(address, False) or host.up
        for protocol, port in host.open_ports:
            self._open.add((address, protocol, port))
        assert host.summary is not None  # prepared for kind "html"
        self._summaries.append(len(self.scans) - 1, host.summary)

    def close(self) -> None:
        assert self.hosts is not None
        up = sum(self._up.values())
        totals = {
            "hosts_up": up,
            "hosts_down": len(self._up) - up,
            "hosts_total": len(self._up),
            "open_ports": len(self._open),
        }
        if (len(self.scans) > 1) != self.section_setup.many_scans:
            # Fewer scans than expected were read (an input failed): sections say so again.
            many = len(self.scans) > 1
            self.hosts.replace_sections(
                host_section(host, index, self.template, many)
                for index, host in enumerate(self.hosts)
            )
        labels = [s["label"] for s in self.scans]
        changes = list(compare(labels, self._summaries))
        render(self.scans, self.hosts, self.out, self.template, totals, changes)
        self.hosts.close()
        self._summaries.close()

    def discard(self) -> None:
        super().discard()
        self._summaries.close()
