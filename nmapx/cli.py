"""The ``nmapx`` command line, shaped like nmap's own (``-oX``, ``-oN``, ``-v``, ``-d``).

A thin layer: it parses arguments, sets up logging, calls :mod:`nmapx.pipeline`, and turns
:class:`~nmapx.errors.NmapxError` into one line on stderr and an exit status.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from nmapx import __version__
from nmapx.errors import ExitStatus, NmapxError
from nmapx.pipeline import Outputs, process
from nmapx.reader import read_document

log = logging.getLogger("nmapx")

EPILOG = """exit status: 0 success; 1 error (nothing written); 2 usage error;
3 input ended early (every complete host kept, output closed validly);
4 malformed parts of the input skipped (every other host kept)"""


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nmapx",
        description="Post-process Nmap XML: run probe scripts with NSE semantics,"
        " write enriched output.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"nmapx {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="read Nmap XML (files or stdin), enrich it, write Nmap XML and normal output",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="Nmap XML file (.gz/.bz2 read transparently); '-' or nothing reads stdin",
    )
    run.add_argument("-oX", dest="xml", metavar="FILE", help="write Nmap XML to FILE ('-': stdout)")
    run.add_argument(
        "-oN", dest="normal", metavar="FILE", help="write Nmap normal output to FILE ('-': stdout)"
    )
    demo = commands.add_parser(
        "demo", help="run nmapx on its bundled scan of loopback emulators (a one-minute tour)"
    )
    demo.add_argument(
        "--outdir",
        default="nmapx-demo",
        metavar="DIR",
        help="where to write the enriched XML (default: ./nmapx-demo)",
    )
    run.set_defaults(subparser=run)
    demo.set_defaults(subparser=demo)
    for sub in (run, demo):
        sub.add_argument("-v", dest="verbose", action="count", default=0, help="more messages")
        sub.add_argument("-d", dest="debug", action="count", default=0, help="debugging output")
    return parser


def _setup_logging(verbose: int, debug: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("nmapx: %(message)s"))
    root = logging.getLogger("nmapx")
    root.handlers[:] = [handler]
    root.propagate = False
    if debug:
        root.setLevel(logging.DEBUG)
    elif verbose:
        root.setLevel(logging.INFO)
    else:
        root.setLevel(logging.WARNING)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    inputs = list(args.inputs)
    if not inputs:
        if sys.stdin.isatty():
            parser.error(
                "no INPUT given and stdin is a terminal (pipe Nmap XML in, or name a file)"
            )
        inputs = ["-"]
    if len(inputs) > 1 and (args.xml is not None or args.normal not in (None, "-")):
        parser.error("several inputs are only printed as normal output; give -oX/-oN one input")
    if args.xml == "-" and args.normal == "-":
        parser.error("-oX - and -oN - would both write to stdout; send one of them to a file")
    outputs = Outputs(xml=args.xml, normal=args.normal)
    if outputs.xml is None and outputs.normal is None:
        outputs.normal = "-"  # like nmap: normal output on the screen by default
    status = ExitStatus.OK
    for path in inputs:
        try:
            result = process(read_document(path), outputs)
        except NmapxError as exc:
            log.error("%s", exc)
            result = exc.status
        status = max(status, result)
    return int(status)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return int(ExitStatus.USAGE)
    _setup_logging(getattr(args, "verbose", 0), getattr(args, "debug", 0))
    try:
        if args.command == "demo":
            from nmapx.demo import run_demo

            status, written = run_demo(Path(args.outdir))
            for path in written:
                sys.stderr.write(f"nmapx demo: wrote {path}\n")
            return int(status)
        return _run(args, args.subparser)
    except BrokenPipeError:
        # The reader of our stdout went away (``| head``): not an error worth a traceback.
        sys.stderr.close()
        return int(ExitStatus.ERROR)
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
