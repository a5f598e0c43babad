"""The ``nmapx`` command line, shaped like nmap's own (``-oX``, ``-oN``, ``-v``, ``-d``).

A thin layer: it parses arguments, sets up logging, calls :mod:`nmapx.pipeline`, and turns
:class:`~nmapx.errors.NmapxError` into one line on stderr and an exit status.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
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
    run.add_argument("--html", metavar="FILE", help="also write the HTML report to FILE")
    run.add_argument("--template", metavar="DIR", help="report templates: DIR first, then nmapx's")
    _add_script_options(run)
    report = commands.add_parser(
        "report",
        help="HTML report, JSON Lines or CSV from Nmap XML (several scans merge into one)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("inputs", nargs="+", metavar="INPUT", help="Nmap XML files ('-': stdin)")
    report.add_argument(
        "-o", dest="output", default="-", metavar="FILE", help="output ('-': stdout)"
    )
    report.add_argument(
        "--format",
        choices=("html", "jsonl", "csv"),
        default="html",
        help="html (default): one self-contained page; jsonl: a JSON object per host;"
        " csv: a row per port",
    )
    report.add_argument("--template", metavar="DIR", help="HTML templates: DIR first, then nmapx's")
    report.set_defaults(subparser=report)
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
    for sub in (run, demo, report):
        sub.add_argument("-v", dest="verbose", action="count", default=0, help="more messages")
        sub.add_argument("-d", dest="debug", action="count", default=0, help="debugging output")
    return parser


def _add_script_options(run: argparse.ArgumentParser) -> None:
    scripts = run.add_argument_group("scripts (NSE semantics)")
    scripts.add_argument(
        "--script",
        dest="scripts",
        action="append",
        default=[],
        metavar="EXPR",
        help="scripts to run: ids, categories, globs, files, directories/, 'all',"
        " and/or/not/parentheses; a leading '+' runs them whatever their rules say",
    )
    scripts.add_argument("--script-args", metavar="ARGS", help="n1=v1,n2={v2,v3},...")
    scripts.add_argument("--script-args-file", metavar="FILE", help="script arguments from a file")
    scripts.add_argument(
        "--script-trace", action="store_true", help="show all data sent and received"
    )
    scripts.add_argument(
        "--script-timeout", metavar="TIME", help="time limit per script thread (30s, 2m, 500ms)"
    )
    scripts.add_argument(
        "--host-timeout",
        metavar="TIME",
        help="time limit for one host's scripts; its results are then discarded, as Nmap does",
    )
    scripts.add_argument(
        "--max-parallelism",
        type=int,
        default=1000,
        metavar="N",
        help="script threads holding sockets at once (Nmap's default is 20; nmapx's 1000)",
    )
    scripts.add_argument(
        "--max-host-parallelism",
        type=int,
        default=64,
        metavar="N",
        help="script threads running at once against one host (default 64)",
    )
    scope = run.add_argument_group("scope")
    scope.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="HOSTS",
        help="never contact these (addresses, CIDR, ranges like 10.0.0.1-20, names)",
    )
    scope.add_argument("--exclude-file", metavar="FILE", help="exclusions from a file")
    scope.add_argument(
        "--no-network",
        "--offline",
        dest="no_network",
        action="store_true",
        help="evaluate rules and run offline actions only; any socket use is refused",
    )


_LEVEL_OPTION = re.compile(r"^-([vd])(\d+)$")


def _expand_levels(argv: Sequence[str]) -> list[str]:
    """Nmap accepts ``-d2`` and ``-v3`` as well as ``-dd`` and ``-vvv``."""
    expanded = []
    for arg in argv:
        match = _LEVEL_OPTION.match(arg)
        expanded.append("-" + match[1] * int(match[2]) if match and int(match[2]) > 0 else arg)
    return expanded


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
    if args.html is not None and len(inputs) > 1:
        parser.error("--html takes one input; use 'nmapx report' to merge several scans")
    outputs = Outputs(xml=args.xml, normal=args.normal, html=args.html, template=args.template)
    if outputs.xml is None and outputs.normal is None:
        outputs.normal = "-"  # like nmap: normal output on the screen by default
    engine = scope = None
    if args.scripts:
        from nmapx.session import ScriptOptions, build

        engine, scope = build(
            ScriptOptions(
                scripts=args.scripts,
                script_args=args.script_args,
                script_args_file=args.script_args_file,
                script_timeout=args.script_timeout,
                host_timeout=args.host_timeout,
                max_parallelism=args.max_parallelism,
                max_host_parallelism=args.max_host_parallelism,
                script_trace=args.script_trace,
                verbosity=args.verbose,
                debugging=args.debug,
                no_network=args.no_network,
                exclude=args.exclude,
                exclude_file=args.exclude_file,
            )
        )
    status = ExitStatus.OK
    for path in inputs:
        try:
            outputs.label = "<stdin>" if path == "-" else Path(path).name
            document = read_document(path, parse_hosts=engine is not None or outputs.looks_inside)
            result = process(document, outputs, engine, scope)
        except NmapxError as exc:
            log.error("%s", exc)
            result = exc.status
        status = max(status, result)
    return int(status)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(_expand_levels(sys.argv[1:] if argv is None else argv))
    if args.command is None:
        parser.print_help(sys.stderr)
        return int(ExitStatus.USAGE)
    _setup_logging(getattr(args, "verbose", 0), getattr(args, "debug", 0))
    try:
        if args.command == "demo":
            from nmapx.demo import run_demo

            demo_argv = ["demo", "--outdir", str(Path(args.outdir).resolve())]
            status, written = run_demo(Path(args.outdir).resolve(), demo_argv)
            if os.environ.get("NMAPX_DEMO_NAMESPACE") != "1":
                for path in written:
                    sys.stderr.write(f"nmapx demo: wrote {path}\n")
            return int(status)
        if args.command == "report":
            from nmapx.report.command import make_report

            return int(make_report(args.inputs, args.format, args.output, args.template))
        return _run(args, args.subparser)
    except NmapxError as exc:  # bad --script/--script-args: refused before any probe
        log.error("%s", exc)
        log.error("QUITTING!")
        return int(ExitStatus.ERROR)
    except BrokenPipeError:
        # The reader of our stdout went away (``| head``): not an error worth a traceback.
        sys.stderr.close()
        return int(ExitStatus.ERROR)
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
