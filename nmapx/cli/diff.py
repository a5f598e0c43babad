"""``nmapx diff OLD NEW``: what changed between two scans, in Ndiff's formats and exit codes.

Text on stdout (default), ``--xml`` XML on stdout instead, ``-oX FILE`` XML to FILE
(committed only when both inputs were read) besides the text. The comparison itself is
:mod:`nmapx.output.ndiff`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from nmapx.errors import NmapxError

log = logging.getLogger("nmapx")

NAME = "diff"

EPILOG = """exit status (Ndiff's): 0 the scans are the same; 1 they differ; 2 error (also a
truncated or damaged input, which is not compared)."""


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="what changed between two scans (Ndiff's text and XML formats and exit codes)",
        epilog=EPILOG,
    )
    parser.add_argument("old", metavar="OLD", help="the earlier scan (Nmap XML)")
    parser.add_argument("new", metavar="NEW", help="the later scan (Nmap XML)")
    parser.add_argument(
        "--xml",
        action="store_true",
        help="write Ndiff's nmapdiff XML to stdout instead of text",
    )
    parser.add_argument(
        "-oX", dest="xml_file", metavar="FILE", help="also write the nmapdiff XML to FILE"
    )
    parser.add_argument("--text", action="store_true", help="text output (the default)")
    return parser


class _Abandon(Exception):
    """Leave the XML output file as it was (an input could not be read)."""


def main(args: argparse.Namespace) -> int:
    from nmapx.output.atomic import AtomicOutput
    from nmapx.output.ndiff import ERROR, diff_files

    if args.xml and args.text:
        args.subparser.error("--xml and --text exclude each other")
    if args.xml and args.xml_file is not None:
        args.subparser.error("--xml (XML on stdout) and -oX FILE exclude each other")
    if args.xml:
        return diff_files(args.old, args.new, None, sys.stdout.buffer)
    if args.xml_file is None:
        return diff_files(args.old, args.new, sys.stdout, None)
    text = None if args.xml_file == "-" else sys.stdout
    try:
        with AtomicOutput(args.xml_file) as out:
            status = diff_files(args.old, args.new, text, out)
            if status == ERROR:
                raise _Abandon
    except _Abandon:
        return ERROR
    except NmapxError as exc:
        log.error("%s", exc)
        return ERROR
    return status
