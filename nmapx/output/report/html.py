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

import os
import re
import secrets
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from nmapx import __version__
from nmapx.output.atomic import AtomicOutput
from nmapx.output.report.changes import SummarySpill, compare
from nmapx.output.report.collect import ReportCollector
from nmapx.output.report.prepared import Kind, PreparedHost, SectionSetup
from nmapx.output.report.spill import JSON_OPTIONS, HostSpill, encode
from nmapx.resources import bundled_dir

TEMPLATE = "report.html.j2"
HOST_TEMPLATE = "host.html.j2"


class ReportData(Mapping[str, Any]):
    """The page's data, ``{"scans": [...], "hosts": [...], "changes": [...], "generated": T}``,
    with the hosts left on disk (``generated``: the report's date, epoch seconds).

    ``data | tojson`` in a template writes a marker that :func:`render` replaces with the JSON
    streamed from the spill file, each host in its page form
    (:func:`~nmapx.output.report.data.page_host`); ``data.hosts`` iterates the whole hosts
    (JSON Lines' form) for templates that loop over them.
    """

    def __init__(
        self,
        scans: list[dict[str, Any]],
        hosts: HostSpill,
        changes: list[dict[str, Any]] | None = None,
        generated: int = 0,
    ) -> None:
        self._items: dict[str, Any] = {
            "scans": scans,
            "hosts": hosts,
            "changes": changes or [],
            "generated": generated,
        }
        self._hosts = hosts
        self.marker = f"nmapx-report-data-{secrets.token_hex(16)}"

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def chunks(self) -> Iterator[str]:
        """``tojson`` of the page data, piece by piece (same bytes as one dumps call)."""
        yield '{"scans": ' + encode(self._items["scans"]) + ', "hosts": ['
        for index, host in enumerate(self._hosts.page_encoded()):
            yield host if index == 0 else ", " + host
        yield '], "changes": ' + encode(self._items["changes"])
        yield ', "generated": ' + encode(self._items["generated"]) + "}"


class StructureData:
    """Every host's structured script output (:func:`~nmapx.output.report.data.page_structure`),
    a list in host order, left on disk; ``structure | tojson`` streams it like ``data``."""

    def __init__(self, hosts: HostSpill) -> None:
        self._hosts = hosts
        self.marker = f"nmapx-report-structure-{secrets.token_hex(16)}"

    def chunks(self) -> Iterator[str]:
        yield "["
        for index, host in enumerate(self._hosts.structure_encoded()):
            yield host if index == 0 else ", " + host
        yield "]"


class HostSections:
    """Every host's rendered section (``host.html.j2``), in order, left on disk;
    ``{{ host_sections }}`` writes a marker that :func:`render` replaces with them."""

    def __init__(self, hosts: HostSpill) -> None:
        self._hosts = hosts
        self.marker = f"nmapx-report-sections-{secrets.token_hex(16)}"

    def __html__(self) -> str:
        return self.marker

    def chunks(self) -> Iterator[str]:
        return self._hosts.sections()


_ENVIRONMENTS: dict[str | None, jinja2.Environment] = {}


def host_section(host: dict[str, Any], index: int, setup: SectionSetup) -> bytes:
    """One host's section of the page, rendered from its report data (``index``: its place
    in the page). Runs where the host is prepared: a Dask worker keeps one environment per
    template directory."""
    env = _ENVIRONMENTS.get(setup.template)
    if env is None:
        env = _ENVIRONMENTS[setup.template] = environment(setup.template)
    text = env.get_template(HOST_TEMPLATE).render(host=host, i=index, many_scans=setup.many_scans)
    # Jinja drops a template's last line break (keep_trailing_newline is off, for the page).
    return (text + "\n").encode("utf-8", "surrogateescape")


def _tojson(value: Any) -> Markup:
    if isinstance(value, ReportData | StructureData):
        return Markup(value.marker)
    return Markup(encode(value))


def environment(template_dir: str | None = None) -> jinja2.Environment:
    search = [str(template_dir)] if template_dir else []
    search.append(str(bundled_dir("templates")))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["json.dumps_kwargs"] = dict(JSON_OPTIONS)
    env.filters["tojson"] = _tojson
    env.filters["ctime"] = _ctime
    env.filters["fold"] = fold
    env.filters["anchor"] = anchor
    env.filters["traceroute"] = traceroute
    return env


#: Script output longer than this many lines is folded to its first ``FOLD_SHOWN`` lines.
FOLD_AFTER = 8
FOLD_SHOWN = 5


def fold(output: str) -> tuple[str, str]:
    """Nmap's script output as it prints it, split into what shows and what folds.

    Nmap starts multi-line output with a newline (it prints the id on that line); that one is
    dropped, every other line break and indent is kept. The folded part stays in the page
    (``hidden="until-found"``), so the browser's find reveals it and printing shows it.
    """
    text = output[1:] if output.startswith("\n") else output
    lines = text.split("\n")
    if len(lines) <= FOLD_AFTER:
        return text, ""
    return "\n".join(lines[:FOLD_SHOWN]), "\n".join(lines[FOLD_SHOWN:])


def traceroute(hops: list[dict[str, Any]]) -> str:
    """A host's traceroute as Nmap prints it (``HOP RTT ADDRESS``, columns as wide as their
    widest cell plus one space, a ``...`` row for hops that timed out): one ``<pre>`` in the
    page instead of a table of four elements per hop, which at 10,000 hosts was a quarter of
    the page's elements."""
    rows = [("HOP", "RTT", "ADDRESS")]
    expected = 1
    for hop in hops:
        ttl = hop["ttl"] if hop["ttl"] is not None else expected
        if ttl > expected:
            rows.append((str(expected), "..." if ttl - 1 == expected else f"... {ttl - 1}", ""))
        rtt = "--" if hop["rtt"] is None else f"{hop['rtt']} ms"
        where = f"{hop['host']} ({hop['ipaddr']})" if hop["host"] else hop["ipaddr"]
        rows.append((str(ttl), rtt, where))
        expected = ttl + 1
    widths = [max(len(row[col]) for row in rows) + 1 for col in (0, 1)]
    return "\n".join(
        (row[0].ljust(widths[0]) + row[1].ljust(widths[1]) + row[2]).rstrip() for row in rows
    )


def anchor(address: str) -> str:
    """The fragment that opens a host: ``host=ADDRESS`` (percent-encoded as the page's
    script reads it back with ``URLSearchParams``)."""
    return "host=" + quote(address, safe=".:")


def report_date() -> int:
    """When the report is made, for certificate expiry: now, or ``SOURCE_DATE_EPOCH`` when
    set (reproducible builds' convention), so a report made again says the same thing."""
    fixed = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if fixed.isdigit():
        return int(fixed)
    return int(time.time())


def _ctime(timestamp: int | None) -> str:
    """A scan's epoch time as local date and time; '' when absent or beyond any date (a
    damaged ``start`` such as 10^20 must not stop the report)."""
    if not timestamp:
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
    except (OverflowError, OSError, ValueError):
        return ""


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
            setup = SectionSetup(self.template, len(self.scans) > 1)
            self.hosts.replace_sections(
                host_section(host, index, setup) for index, host in enumerate(self.hosts)
            )
        labels = [s["label"] for s in self.scans]
        changes = list(compare(labels, self._summaries))
        render(self.scans, self.hosts, self.out, self.template, totals, changes)
        self.hosts.close()
        self._summaries.close()

    def discard(self) -> None:
        super().discard()
        self._summaries.close()
