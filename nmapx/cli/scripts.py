"""``nmapx scripts [EXPR]`` and ``--script-help EXPR``: what a script is before it is run.

Users coming from Nmap type ``--script-help`` to find out what an expression selects and what
each script does, so the help keeps ``nmap --script-help``'s layout (Nmap 7.93)::

    <empty line>
    auth-owners
    Categories: default safe
    https://nmap.org/nsedoc/scripts/auth-owners.html
      Attempts to find the owner of an open TCP port ...

nmapx scripts are not documented on nmap.org: their NSEDoc is their own file, so the line where
Nmap prints the NSEDoc URL names the file (``File: ...``). Nmap's help says nothing about a
script's rules or arguments (its web page does); nmapx adds them because they are what a user
needs next: which phases the script takes part in (``Rules:``) and the ``@args`` of its
docstring (``Arguments:``), each one ``name`` and its description, indented like the
description.

Selection is exactly ``--script``'s (:func:`nmapx.engine.session.choose`): categories, globs,
boolean expressions, files and ``directories/``; without an expression, every script nmapx
knows (built-in and entry points) is listed.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from argparse import ArgumentParser
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from nmapx.errors import ExitStatus

if TYPE_CHECKING:  # loading the scripts is the engine's job, paid only when asked for
    from nmapx.engine.loader import Script

__all__ = [
    "add_parser",
    "describe",
    "help_text",
    "list_text",
    "main",
    "script_help",
    "select_scripts",
]

#: Width at which argument descriptions are wrapped (Nmap's help is written for 80 columns).
WIDTH = 80


def select_scripts(expressions: Sequence[str]) -> list[Script]:
    """The scripts ``--script EXPR`` would load (every known script when no EXPR is given).

    Raises :class:`nmapx.errors.UsageError` with Nmap's message for an expression that
    matches nothing, as ``--script`` does.
    """
    if not expressions:
        from nmapx.engine.loader import catalogue

        return sorted(catalogue(), key=lambda s: s.id)
    from nmapx.engine.session import choose

    return [chosen.script for chosen in choose(list(expressions))]


def _rules() -> tuple[str, ...]:
    from nmapx.engine.loader import RULES

    return tuple(RULES)


def describe(script: Script) -> str:
    """One script's help block, Nmap's layout plus rules, arguments and file (see above)."""
    lines = [
        "",
        script.id,
        "Categories: " + " ".join(script.categories),
        "File: " + script.path,
        "Rules: " + " ".join(rule for rule in _rules() if rule in script.rules),
    ]
    lines.extend(_indented(script.description))
    if script.doc.args:
        lines.append("Arguments:")
        for name, text in script.doc.args:
            lines.append("  " + name)
            lines.extend(
                textwrap.wrap(
                    text or "(no description)",
                    WIDTH,
                    initial_indent="    ",
                    subsequent_indent="    ",
                    break_on_hyphens=False,
                )
            )
    return "\n".join(lines) + "\n"


def _indented(description: str) -> Iterable[str]:
    """The description as Nmap prints it: each line indented by two spaces, blank lines kept
    (without trailing spaces)."""
    for line in description.strip("\n").splitlines():
        yield ("  " + line).rstrip()


def help_text(scripts: Iterable[Script]) -> str:
    """``--script-help``: every selected script's block, in selection order."""
    return "".join(describe(script) for script in scripts)


def list_text(scripts: Sequence[Script]) -> str:
    """``nmapx scripts``: one aligned line per script (id, categories, file), with a header."""
    rows = [("SCRIPT", "CATEGORIES", "FILE")]
    rows.extend((s.id, ",".join(s.categories), s.path) for s in scripts)
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "".join(
        f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2]}\n" for row in rows
    )


# ----------------------------------------------------------------------- the sub-command
NAME = "scripts"


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> ArgumentParser:
    """``nmapx scripts [EXPR ...] [--script-help]``."""
    parser = commands.add_parser(
        NAME,
        help="list the scripts an expression selects (all without EXPR); --script-help details",
    )
    parser.add_argument(
        "expressions",
        nargs="*",
        metavar="EXPR",
        help="as --script: ids, categories, globs, files, directories/, and/or/not",
    )
    parser.add_argument(
        "--script-help",
        dest="full",
        action="store_true",
        help="print each script's help (categories, file, rules, description, arguments)",
    )
    return parser


def script_help(expressions: list[str]) -> int:
    """``--script-help EXPR``: print the help of what EXPR selects (raises on a bad EXPR)."""
    sys.stdout.write(help_text(select_scripts(expressions)))
    return int(ExitStatus.OK)


def main(args: argparse.Namespace) -> int:
    if args.full:
        return script_help(args.expressions)
    sys.stdout.write(list_text(select_scripts(args.expressions)))
    return int(ExitStatus.OK)
