"""Nmap's own escaping rules, in one place for every writer.

Nmap escapes in two steps (docs/nse-semantics.md §5.4 and §8.1): ``protect_xml`` turns every byte
outside printable ASCII (except tab, CR, LF) into the literal text ``\\xHH``, then ``escape``
(xml.cc) writes ``< > & " '`` as entities, control characters as ``&#x<hex>;`` and the second
dash of ``--`` as ``&#45;`` (so that the text can sit inside an XML comment). Writing new
elements any other way would make enriched files differ from what Nmap itself produces.
"""

from __future__ import annotations

import codecs
import re

_UNPROTECTED = re.compile(rb"[^\t\r\n\x20-\x7e]")
_ESCAPED = re.compile(rb"[<>&\"'\x00-\x1f]|(?<=-)-")
_ENTITY = {
    b"<": b"&lt;",
    b">": b"&gt;",
    b"&": b"&amp;",
    b'"': b"&quot;",
    b"'": b"&apos;",
    b"-": b"&#45;",
}
_SCREEN_UNSAFE = re.compile(rb"[^\t\n\x20-\x7e]")


def _lone_surrogates(error: UnicodeError) -> tuple[bytes, int]:
    """Encode what ``surrogateescape`` cannot: surrogates that stand for no byte."""
    assert isinstance(error, UnicodeEncodeError)
    chunk = error.object[error.start : error.end]
    out = bytearray()
    for char in chunk:
        code = ord(char)
        out += (
            bytes([code - 0xDC00])
            if 0xDC80 <= code <= 0xDCFF
            else char.encode("utf-8", "surrogatepass")
        )
    return bytes(out), error.end


codecs.register_error("nmapx-surrogates", _lone_surrogates)


def to_bytes(value: str | bytes) -> bytes:
    """Return the bytes Nmap would see for ``value``.

    Strings are UTF-8 with ``surrogateescape``, so text that a probe decoded from raw network
    bytes with ``surrogateescape`` turns back into exactly those bytes. A surrogate that
    stands for no byte (``"\\ud800"``, from a UTF-16 decode) cannot be UTF-8: it becomes its
    three ``surrogatepass`` bytes, which Nmap's escaping then writes as ``\\xED\\xA0\\x80``
    -- the same text the reader repairs such bytes in an input file to.
    """
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "nmapx-surrogates")


def _hex_escape(match: re.Match[bytes]) -> bytes:
    return b"\\x%02X" % match[0][0]


def protect_xml(value: str | bytes) -> bytes:
    """Nmap's ``protect_xml``: non-printable and non-ASCII bytes become ``\\xHH`` text."""
    return _UNPROTECTED.sub(_hex_escape, to_bytes(value))


def _entity(match: re.Match[bytes]) -> bytes:
    char = match[0]
    known = _ENTITY.get(char)
    if known is not None:
        return known
    return b"&#x%x;" % char[0]


def escape(value: str | bytes) -> bytes:
    """Nmap's ``xml.cc`` escape of already-protected text, for attributes and element text."""
    return _ESCAPED.sub(_entity, to_bytes(value))


def xml_text(value: str | bytes) -> bytes:
    """Protect and escape ``value`` the way Nmap writes any text that came from outside."""
    return escape(protect_xml(value))


def escape_for_screen(value: str | bytes) -> str:
    """Nmap's ``escape_for_screen``: keep tab, LF and printable ASCII; ``\\xHH`` for the rest."""
    return _SCREEN_UNSAFE.sub(_hex_escape, to_bytes(value)).decode("ascii")
