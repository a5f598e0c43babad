"""``nmapx report``: one report (HTML, JSON Lines or CSV) from one or more scans."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from nmapx.cli.options import check_cluster_options
from nmapx.cluster.options import REPORT_BATCH_SIZE, REPORT_THREADS, ClusterOptions
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
    inputs: Sequence[str],
    fmt: str,
    output: str,
    template: str | None = None,
    cluster: ClusterOptions | None = None,
) -> ExitStatus:
    """Merge ``inputs`` into one report; a bad input is reported and skipped.

    The status is the worst of the inputs' by the same policy as ``nmapx run``
    (:meth:`ExitStatus.worst`: 1 over 3 over 4 over 0), not the largest number. When no
    input could be read at all, no report is written (a previous file stays as it was).
    With ``cluster``, the hosts are prepared on a Dask cluster (:mod:`nmapx.cluster.report`).
    """
    opener = FORMATS[fmt].report
    if opener is None:  # the parser's choices (REPORT_FORMATS) refuse it before this
        raise ValueError(f"{fmt!r} is not a report format (one of {', '.join(REPORT_FORMATS)})")
    status = ExitStatus.OK
    try:
        with ExitStack() as stack:
            on_cluster = None
            if cluster is not None and cluster.wanted:  # Dask is imported only here
                from nmapx.cluster.report import open_report_cluster

                on_cluster = stack.enter_context(open_report_cluster(cluster))
            out = stack.enter_context(AtomicOutput(output))
            writer = opener(out, Target(output, template=template))
            writer.expect_scans(len(inputs))
            read = 0
            for path in inputs:
                label = label_for(path)
                writer.start(label)
                document = read_document(path)
                try:
                    if on_cluster is not None:
                        on_cluster.feed(document, writer, label)
                    else:
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
    from nmapx.cli.options import EPILOG, add_cluster_options

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
    add_cluster_options(parser, "prepare the hosts", REPORT_BATCH_SIZE, REPORT_THREADS)
    return parser


def main(args: argparse.Namespace) -> int:
    check_cluster_options(args, args.subparser)
    cluster = ClusterOptions(args.workers, args.scheduler, args.batch_size, args.worker_threads)
    return int(make_report(args.inputs, args.format, args.output, args.template, cluster))
