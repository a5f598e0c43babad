"""What several sub-commands share: the exit-status epilog, ``-v``/``-d``, Nmap's spelling of
levels (``-d2``, ``-vvv``), and the Dask cluster's options.

Kept apart from :mod:`nmapx.cli` (which assembles the sub-commands) so that each sub-command
module can use these without importing the package that imports it.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

EPILOG = """exit status: 0 success; 1 error (nothing written); 2 usage error;
3 input ended early (every complete host kept, output closed validly);
4 malformed parts of the input skipped (every other host kept);
130/143 interrupted by SIGINT/SIGTERM (output closed validly, the rest passed through).
With several inputs: the worst of their statuses (1, then 3, then 4)."""

_LEVEL_OPTION = re.compile(r"^-([vd])(\d+)$")


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def add_cluster_options(
    parser: argparse.ArgumentParser, work: str, batch_size: int, threads: int
) -> None:
    """``--workers``, ``--scheduler``, ``--batch-size``, ``--worker-threads``: ``work`` is
    what the cluster does ("run the hosts' scripts"), the numbers the command's defaults."""
    group = parser.add_argument_group("cluster (Dask distributed: pip install 'nmapx[cluster]')")
    group.add_argument(
        "--workers",
        type=positive,
        default=0,
        metavar="N",
        help=f"{work} on a local Dask cluster of N worker processes",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help=f"{work} on the Dask cluster of this scheduler (tcp://host:8786)",
    )
    group.add_argument(
        "--batch-size",
        type=positive,
        default=0,
        metavar="N",
        help=f"hosts per batch sent to a worker (default {batch_size})",
    )
    group.add_argument(
        "--worker-threads",
        type=positive,
        default=0,
        metavar="N",
        help=f"batches each local worker process runs at once (default {threads})",
    )


def check_cluster_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """``--workers`` and ``--scheduler`` exclude each other."""
    if args.workers and args.scheduler:
        parser.error("--workers starts a local cluster; --scheduler uses an existing one: not both")


def add_levels(parser: argparse.ArgumentParser) -> None:
    """``-v`` and ``-d``, counted, as every sub-command takes them."""
    parser.add_argument("-v", dest="verbose", action="count", default=0, help="more messages")
    parser.add_argument("-d", dest="debug", action="count", default=0, help="debugging output")


def expand_levels(argv: Sequence[str]) -> list[str]:
    """Nmap accepts ``-d2`` and ``-v3`` as well as ``-dd`` and ``-vvv``.

    ``--in-place`` takes its suffix only as ``--in-place=SUFFIX``, like sed's: a bare
    ``--in-place`` (or an abbreviation of it) must never swallow the INPUT after it.
    """
    expanded: list[str] = []
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
