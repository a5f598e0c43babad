"""The HTML report's page pieces: the jinja2 environment and its filters, the markers that
stream the hosts' data and sections from disk, and one host's section.

Kept apart from :mod:`nmapx.output.report.html` (the page's writer) because a host's section
is rendered where the host is prepared (:mod:`nmapx.output.report.prepared`, on a Dask worker
with ``nmapx report --workers``), which must not need the writer. See ``html``'s docstring for
how the page is built and kept safe.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

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


def host_section(host: dict[str, Any], index: int, template: str | None, many_scans: bool) -> bytes:
    """One host's section of the page, rendered from its report data (``index``: its place
    in the page; ``template``: ``--template DIR``). Runs where the host is prepared: a Dask
    worker keeps one environment per template directory."""
    env = _ENVIRONMENTS.get(template)
    if env is None:
        env = _ENVIRONMENTS[template] = environment(template)
    text = env.get_template(HOST_TEMPLATE).render(host=host, i=index, many_scans=many_scans)
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
