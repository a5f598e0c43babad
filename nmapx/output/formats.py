"""Every output format, listed once: ``nmapx run``'s outputs and ``nmapx report --format``.

Why one table: a format's name, what it needs to be opened and which commands offer it used
to be spread over the pipeline, the report command and the CLI's choices. Here a new format
is one module (its writer, see :class:`nmapx.output.base.Writer`) and one entry below; the
CLI's ``--format`` choices are :data:`REPORT_FORMATS`.

The openers import their writer's module when called, not here: the CLI imports this module
at start-up, and the HTML report's jinja2 costs a run that writes no report nothing. (The
writers import :mod:`nmapx.output.base`, never this module, so there is no cycle.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from nmapx.output.atomic import AtomicOutput
from nmapx.output.base import Writer

if TYPE_CHECKING:
    from nmapx.output.report.collect import ReportCollector


@dataclass(frozen=True, slots=True)
class Target:
    """Where one writer writes, and what its format needs to know about the scan."""

    #: A file, or ``-`` for standard output.
    path: str
    #: The scan's name in a report (``nmapx run``: the input file's name).
    label: str = ""
    #: Report templates: this directory first, then nmapx's own.
    template: str | None = None
    #: Compress the file as it is written ("gzip"/"bzip2").
    compress: str | None = None
    #: Keep the file this output replaces under this name.
    backup: str | None = None

    def output(self) -> AtomicOutput:
        """The atomic output stream for this target (enter it to create the file)."""
        return AtomicOutput(self.path, compress=self.compress, backup=self.backup)


Opener = Callable[[AtomicOutput, Target], Writer]
#: Every report format's writer is a ReportCollector (a ReportWriter that can also take hosts
#: prepared elsewhere: ``nmapx report --workers``).
ReportOpener = Callable[[AtomicOutput, Target], "ReportCollector"]


@dataclass(frozen=True, slots=True)
class Format:
    """How to open one format's writer, and which commands offer it."""

    #: ``nmapx run``: a writer of one document (None: ``run`` does not write this format).
    run: Opener | None = None
    #: ``nmapx report``: a writer that merges several documents (None: not a report format).
    report: ReportOpener | None = None
    #: Whether the writer reads inside hosts: the reader must then be able to build their
    #: trees. Nmap XML alone only copies hosts' bytes (a pass-through checks them, faster).
    looks_inside: bool = True


def _xml(out: AtomicOutput, target: Target) -> Writer:
    from nmapx.output.xml import XmlWriter

    return XmlWriter(out, flush_hosts=out.is_stdout)


def _normal(out: AtomicOutput, target: Target) -> Writer:
    from nmapx.output.normal_stream import NormalWriter

    return NormalWriter(out, flush_hosts=out.is_stdout)


def _html(out: AtomicOutput, target: Target) -> ReportCollector:
    from nmapx.output.report.html import HtmlReportWriter

    return HtmlReportWriter(out, target.label, target.template)


def _jsonl(out: AtomicOutput, target: Target) -> ReportCollector:
    from nmapx.output.report.collect import ReportCollector
    from nmapx.output.report.jsonl import JsonLinesSink

    return ReportCollector(target.label, sink=JsonLinesSink(out))


def _csv(out: AtomicOutput, target: Target) -> ReportCollector:
    from nmapx.output.report.collect import ReportCollector
    from nmapx.output.report.csvout import CsvSink

    return ReportCollector(target.label, sink=CsvSink(out))


#: Every format by name. The order is the order in which ``nmapx run`` writes its outputs.
FORMATS: Mapping[str, Format] = MappingProxyType(
    {
        "xml": Format(run=_xml, looks_inside=False),
        "normal": Format(run=_normal),
        "html": Format(run=_html, report=_html),
        "jsonl": Format(report=_jsonl),
        "csv": Format(report=_csv),
    }
)
#: The formats ``nmapx run`` can write.
RUN_FORMATS = tuple(name for name, fmt in FORMATS.items() if fmt.run is not None)
#: The formats ``nmapx report --format`` offers (the first is its default).
REPORT_FORMATS = tuple(name for name, fmt in FORMATS.items() if fmt.report is not None)
