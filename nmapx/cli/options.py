"""What several sub-commands share: the exit-status epilog, ``-v``/``-d``, and Nmap's spelling
of levels (``-d2``, ``-vvv``).

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
