"""Nmap's ``stringaux`` library, the parts ported scripts use: ``ipattern`` and ``strsplit``.

The originals work on Lua patterns; scripts here use Python regular expressions, so these take
regular expressions and keep the originals' rules: ``ipattern`` makes every letter outside a
bracket class and not escaped match either case (``\\`` escapes, as ``%`` does in Lua), and
``strsplit`` keeps empty fields, as stringaux.lua does, because a script's output counts them.
"""

from __future__ import annotations

import re
from typing import AnyStr

__all__ = ["ipattern", "strsplit"]


def ipattern(pattern: AnyStr) -> AnyStr:
    """A case-insensitive version of ``pattern``: each bare letter ``a`` becomes ``[aA]``.

    Letters inside ``[...]`` and escaped ones (``\\s``, ``\\d``) are left alone, as
    stringaux.ipattern leaves ``%a`` and bracket classes alone.
    """
    text = pattern.decode("latin-1") if isinstance(pattern, bytes) else pattern
    out: list[str] = []
    in_brackets = False
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos : pos + 2])
            pos += 2
            continue
        if char == "[":
            in_brackets = True
        elif char == "]":
            in_brackets = False
        if char.isascii() and char.isalpha() and not in_brackets:
            out.append(f"[{char.lower()}{char.upper()}]")
        else:
            out.append(char)
        pos += 1
    result = "".join(out)
    if isinstance(pattern, bytes):
        return result.encode("latin-1")
    return result


def strsplit(pattern: str | re.Pattern[str], text: str) -> list[str]:
    """``stringaux.strsplit``: the pieces of ``text`` between matches of ``pattern``.

    Empty pieces are kept (``"a,,b"`` gives three); a pattern that matches the empty string
    is refused, as the original asserts.
    """
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    if regex.fullmatch(""):
        raise ValueError("delimiter matches empty string!")
    pieces: list[str] = []
    pos = 0
    for match in regex.finditer(text):
        pieces.append(text[pos : match.start()])
        pos = match.end()
    pieces.append(text[pos:])
    return pieces
