"""``nmapx report`` and ``nmapx run --html``: reports from one or more scans."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from nmapx.errors import ExitStatus, NmapxError
from nmapx.nmapxml.reader import Epilogue, Item, Truncation, read_document
from nmapx.output.atomic import AtomicOutput
from nmapx.output.report.collect import ReportCollector
from nmapx.output.report.csvout import CsvSink
from nmapx.output.report.html import render
from nmapx.output.report.jsonl import JsonLinesSink

log = logging.getLogger(__name__)
FORMATS = ("html", "jsonl", "csv")


def label_for(path: str) -> str:
    return "<stdin>" if path == "-" else Path(path).name


class _NothingRead(Exception):
    """Every input failed: the report is not written (exit status 1 means nothing was)."""


def make_report(
    inputs: Sequence[str], fmt: str, output: str, template: str | None = None
) -> ExitStatus:
    """Merge ``inputs`` into one report; a bad input is reported and skipped.

    The status is the worst of the inputs' by the same policy as ``nmapx run``
    (:meth:`ExitStatus.worst`: 1 over 3 over 4 over 0), not the largest number. When no
    input could be read at all, no report is written (a previous file stays as it was).
    """
    status = ExitStatus.OK
    try:
        with AtomicOutput(output) as out:
            if fmt == "jsonl":
                collector = ReportCollector(on_host=JsonLinesSink(out))
            elif fmt == "csv":
                collector = ReportCollector(on_host=CsvSink(out))
            else:
                collector = ReportCollector()
            read = 0
            for path in inputs:
                collector.start(label_for(path))
                document = read_document(path)
                try:
                    for item in document:
                        collector.write(item)
                except NmapxError as exc:
                    log.error("%s", exc)
                    status = ExitStatus.worst(status, exc.status)
                    continue
                read += 1
                status = ExitStatus.worst(status, document.status)
            if not read:
                if collector.hosts is not None:
                    collector.hosts.close()
                raise _NothingRead
            if fmt == "html":
                assert collector.hosts is not None
                render(collector.scans, collector.hosts, out, template)
                collector.hosts.close()
    except _NothingRead:
        pass
    return status


class HtmlReportWriter(ReportCollector):
    """A pipeline writer that renders the HTML report once the document has ended."""

    def __init__(self, out: AtomicOutput, label: str, template: str | None = None) -> None:
        super().__init__(label)
        self.out = out
        self.template = template

    def write(self, item: Item) -> None:
        super().write(item)
        if isinstance(item, Epilogue | Truncation):
            assert self.hosts is not None
            render(self.scans, self.hosts, self.out, self.template)
            self.hosts.close()


# ----------------------------------------------------------------------- the sub-command
NAME = "report"


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """``nmapx report INPUT ... [-o FILE] [--format html|jsonl|csv]``."""
    from nmapx.cli.options import EPILOG

    parser = commands.add_parser(
        NAME,
        help="HTML report, JSON Lines or CSV from Nmap XML (several scans merge into one)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="Nmap XML files ('-': stdin)")
    parser.add_argument(
        "-o", dest="output", default="-", metavar="FILE", help="output ('-': stdout)"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="html",
        help="html (default): one self-contained page; jsonl: a JSON object per host;"
        " csv: a row per port",
    )
    parser.add_argument("--template", metavar="DIR", help="HTML templates: DIR first, then nmapx's")
    return parser


def main(args: argparse.Namespace) -> int:
    return int(make_report(args.inputs, args.format, args.output, args.template))
