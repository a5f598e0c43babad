"""The HTML report: one self-contained file rendered with jinja2.

Safety by construction: autoescaping is on for every template, data for the page's script
goes through ``tojson`` (with ``ensure_ascii``, so U+2028/U+2029 arrive escaped too) inside a
``<script type="application/json">`` block that is never executed, the page's script builds
every element with ``textContent`` (no ``innerHTML``), and a Content-Security-Policy meta tag
allows only the report's own inline style and script (by nonce) and nothing from the network.

Templates are found through :func:`nmapx.resources.bundled_dir` (so they work after a
non-editable ``pip install .``); ``--template DIR`` puts a user's directory first.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from nmapx import __version__
from nmapx.output.atomic import AtomicOutput
from nmapx.output.report.collect import ReportCollector
from nmapx.output.report.spill import JSON_OPTIONS, HostSpill, encode
from nmapx.resources import bundled_dir

TEMPLATE = "report.html.j2"


class ReportData(Mapping[str, Any]):
    """The page's data, ``{"scans": [...], "hosts": [...]}``, with the hosts left on disk.

    ``data | tojson`` in a template writes a marker that :func:`render` replaces with the JSON
    streamed from the spill file; ``data.hosts`` still iterates the hosts for templates that
    loop over them.
    """

    def __init__(self, scans: list[dict[str, Any]], hosts: HostSpill) -> None:
        self._items: dict[str, Any] = {"scans": scans, "hosts": hosts}
        self._hosts = hosts
        self.marker = f"nmapx-report-data-{secrets.token_hex(16)}"

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def chunks(self) -> Iterator[str]:
        """``tojson`` of the whole mapping, piece by piece (same bytes as one dumps call)."""
        yield '{"scans": ' + encode(self._items["scans"]) + ', "hosts": ['
        for index, host in enumerate(self._hosts.encoded()):
            yield host if index == 0 else ", " + host
        yield "]}"


def _tojson(value: Any) -> Markup:
    if isinstance(value, ReportData):
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
    return env


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
) -> None:
    """Write the report for ``scans`` and their ``hosts`` to ``out``, streaming the hosts."""
    totals = {
        "hosts_up": sum(s["hosts_up"] for s in scans),
        "hosts_down": sum(s["hosts_down"] for s in scans),
        "hosts_total": sum(s["hosts_total"] for s in scans),
        "open_ports": sum(s["open_ports"] for s in scans),
        "findings": hosts.findings,
        "added": hosts.added,
    }
    template = environment(template_dir).get_template(TEMPLATE)
    data = ReportData(scans, hosts)
    context = {
        "scans": scans,
        "totals": totals,
        "data": data,
        "nonce": secrets.token_urlsafe(18),
        "generator": f"nmapx {__version__}",
        "title": ", ".join(Path(s["label"]).name for s in scans) or "Nmap scan",
    }
    for chunk in template.generate(**context):
        head, found, tail = chunk.partition(data.marker)
        out.write(head.encode("utf-8", "surrogateescape"))
        while found:
            for piece in data.chunks():
                out.write(piece.encode("ascii"))
            head, found, tail = tail.partition(data.marker)
            out.write(head.encode("utf-8", "surrogateescape"))


class HtmlReportWriter(ReportCollector):
    """The HTML report as a writer: collects every document's hosts, renders the page at
    :meth:`close` (``nmapx run --html``: one document; ``nmapx report``: all of them)."""

    def __init__(self, out: AtomicOutput, label: str = "", template: str | None = None) -> None:
        super().__init__(label)
        self.out = out
        self.template = template

    def close(self) -> None:
        assert self.hosts is not None
        render(self.scans, self.hosts, self.out, self.template)
        self.hosts.close()
