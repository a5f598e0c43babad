"""One host made ready for a report, apart from the report it goes into.

Why a step of its own: almost everything a report does with a host depends on that host
alone: building its tree, turning it into report data, encoding that as a JSON Lines line, CSV
rows or the HTML page's three spilled lines, and summarising it for the "what changed" view.
Only the running totals (the scan's counts, the distinct addresses, the order of the lines in
the file) need the hosts before it. :func:`prepare_host` is the first part and
:meth:`~nmapx.output.report.collect.ReportCollector.absorb` the second: ``nmapx report`` in
one process calls one after the other for each host, ``nmapx report --workers`` runs the
first on Dask workers (:mod:`nmapx.cluster.report`) and the second here, in input order. One
code path, so both write the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nmapx.model.host import Host
from nmapx.output.ndiff import HostSummary, summarize_host
from nmapx.output.report.csvout import encode_host as csv_record
from nmapx.output.report.data import host_data
from nmapx.output.report.jsonl import encode_host as jsonl_record
from nmapx.output.report.spill import SpilledHost, spill_lines
from nmapx.output.xml import enriched_element

#: What a collector keeps of each host: the HTML page's spilled lines and diff summary
#: ("html"), the spilled lines only ("spill": a collector without a sink), or the bytes a
#: streaming format writes ("jsonl", "csv").
Kind = Literal["html", "spill", "jsonl", "csv"]
KINDS: tuple[Kind, ...] = ("html", "spill", "jsonl", "csv")


@dataclass(frozen=True, slots=True)
class SectionSetup:
    """What rendering a host's HTML section needs besides the host (travels with a batch)."""

    #: ``--template DIR`` (None: nmapx's own templates).
    template: str | None = None
    #: Whether the report merges several scans (a section then names its host's scan).
    many_scans: bool = False


@dataclass(frozen=True, slots=True)
class PreparedHost:
    """What the report's sequential part needs of one host (small, and picklable: it travels
    back from a Dask worker)."""

    #: The host's address as the report shows it ("" when it has none).
    address: str
    up: bool
    #: (protocol, port) of each open port, in the host's order.
    open_ports: tuple[tuple[str, int], ...]
    #: "jsonl" and "csv": the bytes the format writes for this host.
    record: bytes = b""
    #: "html" and "spill": the host's three lines for the page (see :mod:`.spill`).
    spilled: SpilledHost | None = None
    #: "html": what ``nmapx diff`` compares of the host.
    summary: HostSummary | None = None
    #: "html": the host's section of the page (``host.html.j2``), UTF-8.
    section: bytes = b""


def prepare_host(
    host: Host, label: str, kind: Kind, index: int = 0, setup: SectionSetup | None = None
) -> PreparedHost:
    """Everything of ``host`` (read from the scan called ``label``) that a report of ``kind``
    needs and that depends on the host alone; ``index`` is its place among the report's hosts
    (the HTML section's ids)."""
    element = enriched_element(host)
    data = host_data(host, element, label)
    open_ports = tuple((p["protocol"], p["portid"]) for p in data["ports"] if p["state"] == "open")
    address, up = data["address"], data["status"] == "up"
    if kind == "jsonl":
        return PreparedHost(address, up, open_ports, record=jsonl_record(data))
    if kind == "csv":
        return PreparedHost(address, up, open_ports, record=csv_record(data))
    if kind == "spill":
        return PreparedHost(address, up, open_ports, spilled=spill_lines(data))
    from nmapx.output.report.page import host_section  # jinja2: only for the HTML page

    setup = setup or SectionSetup()
    section = host_section(data, index, setup.template, setup.many_scans)
    summary = summarize_host(element)
    return PreparedHost(
        address, up, open_ports, spilled=spill_lines(data), summary=summary, section=section
    )
