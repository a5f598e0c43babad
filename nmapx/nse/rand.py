"""Nmap's ``rand`` library: random strings for probes that must not look like real input.

Scripts use it for names a server cannot know (http-methods' random method name, which shows
how the server answers a method it does not implement). Not for secrets: like rand.lua it
makes no cryptographic promise.
"""

from __future__ import annotations

import random
import string

__all__ = ["random_alpha", "random_string"]

_ALPHA = string.ascii_lowercase


def random_string(length: int, charset: str | None = None) -> str:
    """``length`` characters drawn from ``charset`` (any byte value 0-255 when None)."""
    if charset is None:
        return "".join(chr(random.randrange(256)) for _ in range(length))
    return "".join(random.choice(charset) for _ in range(length))


def random_alpha(length: int) -> str:
    """``length`` random letters from ``a`` to ``z``, as rand.random_alpha gives."""
    return random_string(length, _ALPHA)
