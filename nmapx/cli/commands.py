"""The everyday sub-commands: ``nmapx scripts``, ``nmapx plan``, ``nmapx diff``.

Kept out of :mod:`nmapx.cli` so that the main ``run`` command line stays readable: the CLI
only registers these parsers (:func:`add_parsers`) and hands the parsed arguments over
(:func:`dispatch`). Each command writes its result to stdout and one-line errors to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from nmapx.errors import ExitStatus, NmapxError

log = logging.getLogger("nmapx")

COMMANDS = ("scripts", "plan", "diff")

DIFF_EPILOG = """exit status (Ndiff's): 0 the scans are the same; 1 they differ; 2 error (also a
truncated or damaged input, which is not compared)."""


def add_parsers(commands: Any) -> list[argparse.ArgumentParser]:
    """Register the sub-commands on the CLI's subparsers; returns them (for -v/-d)."""
    scripts = commands.add_parser(
        "scripts",
        help="list the scripts an expression selects (all without EXPR); --script-help details",
    )
    scripts.add_argument(
        "expressions",
        nargs="*",
        metavar="EXPR",
        help="as --script: ids, categories, globs, files, directories/, and/or/not",
    )
    scripts.add_argument(
        "--script-help",
        dest="full",
        action="store_true",
        help="print each script's help (categories, file, rules, description, arguments)",
    )
    plan = commands.add_parser(
        "plan",
        help="no network: which scripts would run on which host:port, and why",
    )
    plan.add_argument("input", metavar="INPUT", help="Nmap XML file ('-': stdin)")
    plan.add_argument(
        "--script",
        dest="scripts",
        action="append",
        required=True,
        metavar="EXPR",
        help="scripts to plan, as for 'nmapx run --script'",
    )
    plan.add_argument("--script-args", metavar="ARGS", help="n1=v1,n2={v2,v3},...")
    plan.add_argument("--script-args-file", metavar="FILE", help="script arguments from a file")
    plan.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text (default): a table per host; json: JSON Lines, one object per host",
    )
    diff = commands.add_parser(
        "diff",
        help="what changed between two scans (Ndiff's text and XML formats and exit codes)",
        epilog=DIFF_EPILOG,
    )
    diff.add_argument("old", metavar="OLD", help="the earlier scan (Nmap XML)")
    diff.add_argument("new", metavar="NEW", help="the later scan (Nmap XML)")
    diff.add_argument(
        "--xml",
        action="store_true",
        help="write Ndiff's nmapdiff XML to stdout instead of text",
    )
    diff.add_argument(
        "-oX", dest="xml_file", metavar="FILE", help="also write the nmapdiff XML to FILE"
    )
    diff.add_argument("--text", action="store_true", help="text output (the default)")
    for parser in (scripts, plan, diff):
        parser.set_defaults(subparser=parser)
    return [scripts, plan, diff]


def dispatch(args: argparse.Namespace) -> int:
    """Run one of :data:`COMMANDS`; returns the exit status."""
    if args.command == "scripts":
        return _scripts(args)
    if args.command == "plan":
        return _plan(args)
    return _diff(args)


def script_help(expressions: list[str]) -> int:
    """``--script-help EXPR``: print the help of what EXPR selects (raises on a bad EXPR)."""
    from nmapx.cli.scripthelp import help_text, select_scripts

    sys.stdout.write(help_text(select_scripts(expressions)))
    return int(ExitStatus.OK)


def _scripts(args: argparse.Namespace) -> int:
    from nmapx.cli.scripthelp import list_text, select_scripts

    if args.full:
        return script_help(args.expressions)
    sys.stdout.write(list_text(select_scripts(args.expressions)))
    return int(ExitStatus.OK)


def _plan(args: argparse.Namespace) -> int:
    from nmapx.engine.plan import make_plan
    from nmapx.engine.session import ScriptOptions, build
    from nmapx.nmapxml.reader import read_document

    engine, scope = build(
        ScriptOptions(
            scripts=args.scripts,
            script_args=args.script_args,
            script_args_file=args.script_args_file,
            verbosity=args.verbose,
            debugging=args.debug,
            no_network=True,
        )
    )
    document = read_document(args.input)

    def on_host(host: Any) -> None:
        scope.add_host(host.address, host.hostnames())

    try:
        return int(make_plan(document, engine, sys.stdout, fmt=args.format, on_host=on_host))
    except NmapxError as exc:
        log.error("%s", exc)
        return int(exc.status)


def _diff(args: argparse.Namespace) -> int:
    """Text on stdout (default), ``--xml`` XML on stdout instead, ``-oX FILE`` XML to FILE
    (committed only when both inputs were read) besides the text."""
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


class _Abandon(Exception):
    """Leave the XML output file as it was (an input could not be read)."""


def progress_for(args: argparse.Namespace, path: str, engine: Any) -> Any:
    """The progress display for one input of ``nmapx run`` (a context manager).

    Nothing is shown without scripts (a pass-through has no probes to wait for), and the
    live line only on a terminal at -v0 -d0 (:meth:`nmapx.progress.Progress.live_default`).
    """
    from contextlib import nullcontext

    from nmapx.engine.session import parse_time
    from nmapx.progress import Progress

    if engine is None:
        return nullcontext()
    every = getattr(args, "stats_every", None)
    stats = parse_time(every, "--stats-every") if every else None
    progress = Progress(
        live=Progress.live_default(sys.stderr, args.verbose, args.debug), stats_every=stats
    )
    if not progress.active:
        return nullcontext()
    progress.set_input(path)
    engine.progress = progress
    return progress.showing()
