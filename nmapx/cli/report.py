"""``nmapx report``: one report (HTML, JSON Lines or CSV) from one or more scans."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from nmapx.errors import ExitStatus, NmapxError
from nmapx.nmapxml.reader import read_document
from nmapx.output.atomic import AtomicOutput
from nmapx.output.formats import FORMATS, REPORT_FORMATS, Target

log = logging.getLogger(__name__)


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
    opener = FORMATS[fmt].report
    if opener is None:  # the parser's choices (REPORT_FORMATS) refuse it before this
        raise ValueError(f"{fmt!r} is not a report format (one of {', '.join(REPORT_FORMATS)})")
    status = ExitStatus.OK
    try:
        with AtomicOutput(output) as out:
            writer = opener(out, Target(output, template=template))
            read = 0
            for path in inputs:
                writer.start(label_for(path))
                document = read_document(path)
                try:
                    for item in document:
                        writer.write(item)
                except NmapxError as exc:
                    log.error("%s", exc)
                    status = ExitStatus.worst(status, exc.status)
                    continue
                read += 1
                status = ExitStatus.worst(status, document.status)
            if not read:
                writer.discard()
                raise _NothingRead
            writer.close()
    except _NothingRead:
        pass
    return status


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
        choices=REPORT_FORMATS,
        default="html",
        help="html (default): one self-contained page; jsonl: a JSON object per host;"
        " csv: a row per port",
    )
    parser.add_argument("--template", metavar="DIR", help="HTML templates: DIR first, then nmapx's")
    return parser


def main(args: argparse.Namespace) -> int:
    return int(make_report(args.inputs, args.format, args.output, args.template))
