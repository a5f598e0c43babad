"""``nmapx run``: read Nmap XML, run scripts with NSE semantics, write enriched outputs.

The options follow nmap's (``-oX``, ``-oN``, ``--script``, ``--script-args``, ``-v``, ``-d``);
the work is :func:`nmapx.run`. This module checks option combinations before any input is
read, says where each input's outputs go, shows progress, and turns the result into the exit
status and the one-line interruption summary.
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
import sys
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from nmapx.cli.options import EPILOG, add_cluster_options, check_cluster_options
from nmapx.cluster.options import RUN_BATCH_SIZE, RUN_THREADS
from nmapx.engine.options import RunOptions
from nmapx.errors import ExitStatus, InputError
from nmapx.interrupt import SignalGuard, StopRequest
from nmapx.output.atomic import sniff
from nmapx.pipeline import Outputs, Tally

if TYPE_CHECKING:
    from nmapx.api import Input
    from nmapx.engine.runner import ScriptEngine

log = logging.getLogger("nmapx")

NAME = "run"


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    run = commands.add_parser(
        NAME,
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
    return run


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
    scripts.add_argument(
        "--skip-existing",
        action="store_true",
        help="keep the host and port results the input already holds (same script id) instead"
        " of running those scripts there again (default: a new result replaces the old in place)",
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
    add_cluster_options(run, "run the hosts' scripts", RUN_BATCH_SIZE, RUN_THREADS)
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
    check_cluster_options(args, parser)
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


def run_options(args: argparse.Namespace) -> RunOptions:
    """The script options of the command line, by the API's names."""
    return RunOptions(
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
        skip_existing=args.skip_existing,
        workers=args.workers,
        scheduler=args.scheduler,
        batch_size=args.batch_size,
        worker_threads=args.worker_threads,
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


def main(args: argparse.Namespace) -> int:
    from nmapx.api import input_name, run

    if args.script_help:
        from nmapx.cli.scripts import script_help

        return script_help(args.script_help)  # like nmap: help, then exit
    parser = args.subparser
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
    if args.outdir is not None:
        if args.scripts:
            from nmapx.engine.session import build

            build(run_options(args))  # bad options fail before the directory is made
        try:
            os.makedirs(args.outdir, exist_ok=True)
        except OSError as exc:
            log.error("%s: cannot create the directory: %s", args.outdir, exc.strerror or exc)
            return int(ExitStatus.ERROR)

    def outputs_for(source: Input) -> Outputs:
        path = os.fspath(source) if not isinstance(source, bytes) else input_name(source)
        outputs = Outputs(
            xml=args.xml,
            normal=normal,
            html=args.html,
            template=args.template,
            label="<stdin>" if path == "-" else os.path.basename(path),
        )
        if per_file:
            outputs.xml, outputs.xml_compress, outputs.xml_backup = _file_output(path, args)
            outputs.keep_damaged = args.in_place is None
        return outputs

    def around(path: str, engine: ScriptEngine | None) -> AbstractContextManager[Any]:
        return progress_for(args, path, engine)

    stop = StopRequest()
    with SignalGuard(stop):
        result = run(
            inputs, options=run_options(args), outputs=outputs_for, stop=stop, around_input=around
        )
    code = int(result.status)
    if stop.requested:  # an interruption (130/143) outranks every input's status
        log.error("%s", interruption_summary(stop, result.tally, result.not_started))
        code = stop.exit_status
    if result.tally.stranded:
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


def progress_for(
    args: argparse.Namespace, path: str, engine: ScriptEngine | None
) -> AbstractContextManager[Any]:
    """The progress display for one input of ``nmapx run`` (a context manager).

    Nothing is shown without scripts (a pass-through has no probes to wait for), and the
    live line only on a terminal at -v0 -d0 (:meth:`nmapx.progress.Progress.live_default`).
    """
    if engine is None:
        return nullcontext()
    from nmapx.engine.session import parse_time
    from nmapx.progress import Progress

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
