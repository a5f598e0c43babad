"""``--script-trace`` rendering, byte for byte as Nmap 7.93 prints it (nse_nsock.cc).

Nmap writes one line per socket event (docs/nse-semantics.md §6.6)::

    NSE: TCP 127.0.0.1:40000 > 127.0.0.1:113 | CONNECT
    NSE: TCP 127.0.0.1:40000 > 127.0.0.1:113 | 22, 40000
    NSE: TCP 127.0.0.1:40000 > 127.0.0.1:113 | SEND
    NSE: TCP 127.0.0.1:40000 < 127.0.0.1:113 | 00000000: 32 32 ...
    NSE: TCP 127.0.0.1:40000 > 127.0.0.1:113 | CLOSE

Nmap's script trace also turns on nsock's own log (``NSOCK INFO [0.3640s] nsock_read(): ...``
lines). Those describe nsock's internals (event ids, IOD numbers, timestamps) that nmapx has no
equivalent of, so nmapx prints only the ``NSE:`` lines.
"""

from __future__ import annotations

import re

__all__ = ["FROM", "TO", "hexify", "trace_line"]

#: Directions as nse_nsock.cc names them: outgoing and incoming.
TO = ">"
FROM = "<"

# C locale ctype classes (Nmap runs with the C locale for these calls).
_PRINT = bytes(range(0x20, 0x7F))
_NOT_SHOWN_RAW = re.compile(rb"[^\x20-\x7e\t\n\x0b\x0c\r]")


def _escape(match: re.Match[bytes]) -> bytes:
    # ``std::setw(3) << "\\" << (unsigned) byte``: the width applies to the backslash only.
    return b"  \\%d" % match[0][0]


def hexify(data: bytes) -> str:
    """Render traced data as nse_nsock.cc's ``hexify``.

    If at least 95 % of the bytes are ``isprint``, the data is shown raw: printable bytes and
    whitespace (``\\t \\n \\v \\f \\r``) as they are, any other byte as ``"  \\<decimal>"``.
    Otherwise it is a hex dump, 16 bytes a line: ``%08x: ``, ``hh `` per byte (padded with
    spaces on the last line), then the ``isgraph`` bytes with others as spaces, each line ending
    in ``\\n``. Empty data renders as ``""`` (0/0 is not >= 0.95 in C, and the dump is empty).
    """
    length = len(data)
    printable = length - len(data.translate(None, _PRINT))
    if length and printable / length >= 0.95:
        return _NOT_SHOWN_RAW.sub(_escape, data).decode("ascii")
    lines = []
    for start in range(0, length, 16):
        chunk = data[start : start + 16]
        hexes = "".join(f"{byte:02x} " for byte in chunk) + "   " * (16 - len(chunk))
        shown = "".join(chr(byte) if 0x21 <= byte <= 0x7E else " " for byte in chunk)
        lines.append(f"{start:08x}: {hexes}{shown}\n")
    return "".join(lines)


def trace_line(
    proto: str,
    local: tuple[str, int],
    direction: str,
    remote: tuple[str, int],
    message: str,
) -> str:
    """One trace message, without the final newline: ``NSE: TCP l:p > r:p | message``.

    ``proto`` is printed uppercase (``IPPROTO2STR_UC``); Nmap shows ``N/A`` and addresses
    ``unknown protocol:0`` for a UDP socket that was never connected.
    """
    return (
        f"NSE: {proto.upper()} {local[0]}:{local[1]} {direction} "
        f"{remote[0]}:{remote[1]} | {message}"
    )
