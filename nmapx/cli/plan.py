"""``nmapx plan INPUT --script EXPR``: which scripts would run where, and why, with no network.

The answer is the engine's own (:mod:`nmapx.engine.plan` evaluates the same jobs the runner
would run); this module only reads the options and prints.
"""

from __future__ import annotations

import argparse
import logging
import sys

from nmapx.errors import NmapxError
from nmapx.model.host import Host

log = logging.getLogger("nmapx")

NAME = "plan"


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME, help="no network: which scripts would run on which host:port, and why"
    )
    parser.add_argument("input", metavar="INPUT", help="Nmap XML file ('-': stdin)")
    parser.add_argument(
        "--script",
        dest="scripts",
        action="append",
        required=True,
        metavar="EXPR",
        help="scripts to plan, as for 'nmapx run --script'",
    )
    parser.add_argument("--script-args", metavar="ARGS", help="n1=v1,n2={v2,v3},...")
    parser.add_argument("--script-args-file", metavar="FILE", help="script arguments from a file")
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="show as held the results the input already holds, as 'nmapx run --skip-existing'"
        " would keep them",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text (default): a table per host; json: JSON Lines, one object per host",
    )
    return parser


def main(args: argparse.Namespace) -> int:
    from nmapx.engine.options import RunOptions
    from nmapx.engine.plan import make_plan
    from nmapx.engine.session import build
    from nmapx.nmapxml.reader import read_document

    engine, scope = build(
        RunOptions(
            scripts=args.scripts,
            script_args=args.script_args,
            script_args_file=args.script_args_file,
            verbosity=args.verbose,
            debugging=args.debug,
            no_network=True,
            skip_existing=args.skip_existing,
        )
    )
    document = read_document(args.input)

    def on_host(host: Host) -> None:
        scope.add_host(host.address, host.hostnames())

    try:
        return int(make_plan(document, engine, sys.stdout, fmt=args.format, on_host=on_host))
    except NmapxError as exc:
        log.error("%s", exc)
        return int(exc.status)
