"""The ``nmapx`` command line, shaped like nmap's own (``-oX``, ``-oN``, ``-v``, ``-d``).

A thin layer: it parses arguments, sets up logging, calls :mod:`nmapx.pipeline`, and turns
:class:`~nmapx.errors.NmapxError` into one line on stderr and an exit status.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nmapx import __version__
from nmapx.cli.commands import COMMANDS as EVERYDAY_COMMANDS
from nmapx.cli.commands import add_parsers as add_everyday_parsers
from nmapx.cli.commands import dispatch, progress_for, script_help
from nmapx.errors import ExitStatus, InputError, NmapxError
from nmapx.interrupt import SignalGuard, StopRequest
from nmapx.nmapxml.reader import read_document
from nmapx.output.atomic import sniff
from nmapx.pipeline import Outputs, Tally, process

log = logging.getLogger("nmapx")

EPILOG = """exit status: 0 success; 1 error (nothing written); 2 usage error;
3 input ended early (every complete host kept, output closed validly);
4 malformed parts of the input skipped (every other host kept);
130/143 interrupted by SIGINT/SIGTERM (output closed validly, the rest passed through).
With several inputs: the worst of their statuses (1, then 3, then 4)."""


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
    run.add_argument(
        "--in-place",
        dest="in_place",
        nargs="?",
        const="",
        default=None,
        metavar="SUFFIX",
        help="rewrite each INPUT file with its enriched XML, compressed as it was;"
        " --in-place=SUFFIX keeps the original as INPUT+SUFFIX",
    )
    run.add_argument(
        "--outdir",
        metavar="DIR",
        help="write each INPUT's enriched XML to DIR/<its file name>, compressed as it was",
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
    everyday = add_everyday_parsers(commands)  # scripts, plan, diff (nmapx.cli.commands)
    for sub in (run, demo, report, *everyday):
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
    scripts.add_argument(
        "--script-help",
        action="append",
        metavar="EXPR",
        help="show help about the scripts EXPR selects and exit (like nmap --script-help)",
    )
    scripts.add_argument(
        "--stats-every",
        metavar="TIME",
        help="print a progress line every TIME (5s, 1m), like Nmap; a terminal gets a live"
        " status line anyway",
    )


_LEVEL_OPTION = re.compile(r"^-([vd])(\d+)$")


def _expand_levels(argv: Sequence[str]) -> list[str]:
    """Nmap accepts ``-d2`` and ``-v3`` as well as ``-dd`` and ``-vvv``.

    ``--in-place`` takes its suffix only as ``--in-place=SUFFIX``, like sed's: a bare
    ``--in-place`` (or an abbreviation of it) must never swallow the INPUT after it.
    """
    expanded = []
    for arg in argv:
        if arg == "--":
            expanded.extend(argv[len(expanded) :])
            break
        match = _LEVEL_OPTION.match(arg)
        if match and int(match[2]) > 0:
            arg = "-" + match[1] * int(match[2])
        elif len(arg) >= 4 and "--in-place".startswith(arg):
            arg = "--in-place="
        expanded.append(arg)
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


def _check_outputs(args: argparse.Namespace, inputs: list[str], parser: Any) -> None:
    """Refuse output combinations that cannot mean anything, before any input is read."""
    several = len(inputs) > 1
    if args.in_place is not None and args.outdir is not None:
        parser.error("--in-place and --outdir exclude each other")
    for option, value in (("--in-place", args.in_place), ("--outdir", args.outdir)):
        if value is None:
            continue
        if "-" in inputs:
            parser.error(f"{option} writes one file per INPUT file; stdin cannot be one (use -oX)")
        if args.xml is not None:
            parser.error(f"{option} writes the XML of each INPUT; -oX cannot be given too")
    if several and (args.xml is not None or args.normal not in (None, "-")):
        parser.error(
            "several inputs: -oX and -oN FILE take one input"
            " (use --outdir DIR or --in-place for the XML of each)"
        )
    if args.xml == "-" and args.normal == "-":
        parser.error("-oX - and -oN - would both write to stdout; send one of them to a file")
    if args.html is not None and several:
        parser.error("--html takes one input; use 'nmapx report' to merge several scans")
    if args.in_place:
        if "/" in args.in_place:
            parser.error("--in-place=SUFFIX: the suffix cannot contain '/'")
    if args.in_place is not None:
        seen: dict[str, str] = {}
        for path in inputs:
            real = os.path.realpath(path)
            if real in seen:
                parser.error(f"--in-place: {seen[real]} and {path} are the same file")
            seen[real] = path
    if args.outdir is not None:
        targets: dict[str, str] = {}
        for path in inputs:
            target = os.path.join(args.outdir, os.path.basename(path))
            if target in targets:
                parser.error(
                    f"--outdir: {targets[target]} and {path} would both be written to {target}"
                )
            targets[target] = path
            if os.path.realpath(target) == os.path.realpath(path):
                parser.error(f"--outdir: {target} is the INPUT itself (use --in-place)")


def _file_output(path: str, args: argparse.Namespace) -> tuple[str, str | None, str | None]:
    """``--in-place``/``--outdir``: (XML output path, compression, backup path) for ``path``.

    The output is compressed as the input is (gzip or bzip2, recognised by content as the
    reader does), so a rewritten archive stays what it was. A missing or special file is
    reported here, as one line, like any unreadable input.
    """
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise InputError("not a regular file (--in-place and --outdir need files)", source=path)
        compress = sniff(path)
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), source=path) from None
    if args.in_place is not None:
        real = os.path.realpath(path)  # a symbolic link stays a link to the new file
        return real, compress, real + args.in_place if args.in_place else None
    return os.path.join(args.outdir, os.path.basename(path)), compress, None


def _build_engine(args: argparse.Namespace) -> tuple[Any, Any]:
    """A fresh engine and scope: each input is a scan of its own (registry, post-rules)."""
    from nmapx.engine.session import ScriptOptions, build

    return build(
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


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def interruption_summary(stop: StopRequest, tally: Tally, not_started: int) -> str:
    """The one line that says what an interrupted run wrote."""
    line = (
        f"interrupted by {stop.name}: {_plural(tally.enriched, 'host')} enriched,"
        f" {tally.unchanged} passed through unchanged"
    )
    if tally.cancelled:
        line += f" ({tally.cancelled} of them cut off mid-probe)"
    if not_started:
        line += f"; {_plural(not_started, 'input')} not started"
    return line


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.script_help:
        return script_help(args.script_help)  # like nmap: help, then exit
    inputs = list(args.inputs)
    if not inputs:
        if sys.stdin.isatty():
            parser.error(
                "no INPUT given and stdin is a terminal (pipe Nmap XML in, or name a file)"
            )
        inputs = ["-"]
    _check_outputs(args, inputs, parser)
    per_file = args.in_place is not None or args.outdir is not None
    normal = args.normal
    if args.xml is None and normal is None and not per_file:
        normal = "-"  # like nmap: normal output on the screen by default
    first_engine = _build_engine(args) if args.scripts else None  # bad options fail here
    if args.outdir is not None:
        try:
            os.makedirs(args.outdir, exist_ok=True)
        except OSError as exc:
            log.error("%s: cannot create the directory: %s", args.outdir, exc.strerror or exc)
            return int(ExitStatus.ERROR)
    stop = StopRequest()
    tally = Tally()
    status = ExitStatus.OK
    not_started = 0
    with SignalGuard(stop):
        for index, path in enumerate(inputs):
            if stop.requested:
                not_started = len(inputs) - index
                break
            try:
                engine, scope = (None, None)
                if args.scripts:
                    engine, scope = first_engine if index == 0 else _build_engine(args)
                outputs = Outputs(
                    xml=args.xml,
                    normal=normal,
                    html=args.html,
                    template=args.template,
                    label="<stdin>" if path == "-" else Path(path).name,
                )
                if per_file:
                    outputs.xml, outputs.xml_compress, outputs.xml_backup = _file_output(path, args)
                    outputs.keep_damaged = args.in_place is None
                document = read_document(
                    path, parse_hosts=engine is not None or outputs.looks_inside
                )
                with progress_for(args, path, engine):
                    result = process(document, outputs, engine, scope, stop=stop, tally=tally)
            except NmapxError as exc:
                log.error("%s", exc)
                result = exc.status
            status = ExitStatus.worst(status, result)  # the one policy: errors.py
    code = int(status)
    if stop.requested:  # an interruption (130/143) outranks every input's status
        log.error("%s", interruption_summary(stop, tally, not_started))
        code = stop.exit_status
    if tally.stranded:
        _exit_now(code)
    return code


def _exit_now(status: int) -> None:
    """End the process without interpreter shutdown, every output already committed.

    A reader thread blocked in a read of a pipe that never ended holds stdin's lock, and
    Python's shutdown would wait for that lock and then abort; nothing is left to clean up.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    logging.shutdown()
    os._exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(_expand_levels(sys.argv[1:] if argv is None else argv))
    if args.command is None:
        parser.print_help(sys.stderr)
        return int(ExitStatus.USAGE)
    _setup_logging(getattr(args, "verbose", 0), getattr(args, "debug", 0))
    try:
        if args.command == "demo":
            from nmapx.cli.demo import run_demo

            demo_argv = ["demo", "--outdir", str(Path(args.outdir).resolve())]
            status, written = run_demo(Path(args.outdir).resolve(), demo_argv)
            if os.environ.get("NMAPX_DEMO_NAMESPACE") != "1":
                for path in written:
                    sys.stderr.write(f"nmapx demo: wrote {path}\n")
            return int(status)
        if args.command == "report":
            from nmapx.cli.report import make_report

            return int(make_report(args.inputs, args.format, args.output, args.template))
        if args.command in EVERYDAY_COMMANDS:
            return dispatch(args)
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
