"""Repairs for the damage real Nmap output is known to contain.

Old Nmap releases (4.x) wrote control characters as character references that XML 1.0 forbids
(``&#x1;`` in a service banner) or even as raw bytes (a 0x05 in a ``taskbegin`` attribute), and
wrote whatever bytes a service sent without checking UTF-8. libxml2 rightly refuses such
documents. Current Nmap writes the same bytes as the text ``\\xHH`` (its ``protect_xml``), so
repairing to that form makes an old file read as if a current Nmap had written it, and loses no
information.
"""

from __future__ import annotations

import re

_FORBIDDEN_REF = re.compile(rb"&#(?:x([0-9a-fA-F]+)|([0-9]+));")
_FORBIDDEN_BYTE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NONCHARACTER = re.compile(rb"\xef\xbf[\xbe\xbf]")


def _allowed(codepoint: int) -> bool:
    return (
        codepoint in (0x9, 0xA, 0xD)
        or 0x20 <= codepoint <= 0xD7FF
        or 0xE000 <= codepoint <= 0xFFFD
        or 0x10000 <= codepoint <= 0x10FFFF
    )


def _hex_bytes(data: bytes) -> bytes:
    return b"".join(b"\\x%02X" % byte for byte in data)


def _fix_ref(match: re.Match[bytes]) -> bytes:
    hex_digits, dec_digits = match.groups()
    codepoint = int(hex_digits, 16) if hex_digits else int(dec_digits)
    if _allowed(codepoint):
        return match[0]  # unchanged
    if codepoint <= 0xFF:
        return b"\\x%02X" % codepoint
    return _hex_bytes(chr(min(codepoint, 0x10FFFF)).encode("utf-8", "surrogatepass"))


def repair(segment: bytes) -> tuple[bytes, int]:
    """Return ``segment`` with forbidden characters rewritten as ``\\xHH``, and the count.

    Only character references, raw control bytes and invalid UTF-8 are touched; markup and
    every valid character stay as they were.
    """
    count = 0

    def fix_ref(match: re.Match[bytes]) -> bytes:
        nonlocal count
        original = match[0]
        fixed = _fix_ref(match)
        if fixed != original:
            count += 1
        return fixed

    def fix_byte(match: re.Match[bytes]) -> bytes:
        nonlocal count
        count += 1
        return b"\\x%02X" % match[0][0]

    def fix_bytes(match: re.Match[bytes]) -> bytes:
        nonlocal count
        count += 1
        return _hex_bytes(match[0])

    repaired = _FORBIDDEN_REF.sub(fix_ref, segment)
    repaired = _FORBIDDEN_BYTE.sub(fix_byte, repaired)
    # U+FFFE and U+FFFF are valid UTF-8 but not XML characters: a service that sent the
    # bytes EF BF BE gets them back as text, like any other byte XML cannot carry.
    repaired = _NONCHARACTER.sub(fix_bytes, repaired)
    try:
        repaired.decode("utf-8")
    except UnicodeDecodeError:
        text = repaired.decode("utf-8", "surrogateescape")
        pieces = []
        for char in text:
            if "\udc80" <= char <= "\udcff":
                count += 1
                pieces.append(b"\\x%02X" % (ord(char) - 0xDC00))
            else:
                pieces.append(char.encode("utf-8"))
        repaired = b"".join(pieces)
    return repaired, count
