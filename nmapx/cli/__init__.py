"""The ``nmapx`` command line, shaped like nmap's own (``-oX``, ``-oN``, ``-v``, ``-d``).

A thin layer over :func:`nmapx.run` and the other commands' functions: one module per
sub-command, each with ``NAME``, ``add_parser(subparsers)`` and ``main(args) -> int``, listed
once in :data:`COMMANDS`. This module builds the parser from that list, sets up logging, and
turns :class:`~nmapx.errors.NmapxError` into one line on stderr and an exit status.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from nmapx import __version__
from nmapx.cli import demo, diff, plan, report, run, scripts
from nmapx.cli.options import EPILOG, add_levels, expand_levels
from nmapx.errors import ExitStatus, NmapxError

log = logging.getLogger("nmapx")

#: The sub-commands, in the order ``nmapx --help`` lists them.
COMMANDS: tuple[ModuleType, ...] = (run, report, demo, scripts, plan, diff)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nmapx",
        description="Post-process Nmap XML: run probe scripts with NSE semantics,"
        " write enriched output.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"nmapx {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        sub = command.add_parser(subparsers)
        sub.set_defaults(subparser=sub, handler=command.main)
        add_levels(sub)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(expand_levels(sys.argv[1:] if argv is None else argv))
    if args.command is None:
        parser.print_help(sys.stderr)
        return int(ExitStatus.USAGE)
    _setup_logging(args.verbose, args.debug)
    try:
        return int(args.handler(args))
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
