"""Lexical scanning of raw XML bytes: where elements start and end, byte for byte.

lxml tells us *what* an element contains but not *where* its bytes are. nmapx writes its output
by copying the input's bytes and splicing new elements in, which is what makes an enriched file
differ from the original only where something was added, and what makes pass-through fast. This
module finds those byte positions. It does not validate: lxml does that on the same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

#: One markup construct starting at ``<``. The groups of the last branch are the slash of an
#: end tag, the name, the attributes and the slash of an empty-element tag.
MARKUP = re.compile(
    rb"""<!--.*?-->
    |<!\[CDATA\[.*?\]\]>
    |<\?.*?\?>
    |<!DOCTYPE(?:[^\[>"']|"[^"]*"|'[^']*'|\[.*?\])*>
    |<(/?)([^\s/>!?<]+)((?:[^<>"']|"[^"]*"|'[^']*')*?)\s*(/?)>""",
    re.S | re.X,
)
_NAME = re.compile(rb"[^\s/>!?<]+")

#: Top-level elements that Nmap never nests: meeting a new one inside means the previous one
#: was cut off (an interrupted write), so scanning can resynchronise there.
NEVER_NESTED = frozenset({b"host"})


@dataclass(frozen=True, slots=True)
class Tag:
    """One tag found in a buffer: ``kind`` is start, end, empty, comment, pi, cdata, doctype."""

    kind: str
    name: bytes
    start: int
    end: int


def markup_at(buf: bytes | bytearray, pos: int) -> Tag | None:
    """Return the markup construct starting at ``buf[pos] == b'<'``, or None if incomplete."""
    match = MARKUP.match(buf, pos)
    if match is None:
        return None
    text = match[0]
    if text.startswith(b"<!--"):
        return Tag("comment", b"", pos, match.end())
    if text.startswith(b"<![CDATA["):
        return Tag("cdata", b"", pos, match.end())
    if text.startswith(b"<?"):
        name = _NAME.match(text, 2)
        return Tag("pi", name[0] if name else b"", pos, match.end())
    if text.startswith(b"<!DOCTYPE"):
        return Tag("doctype", b"DOCTYPE", pos, match.end())
    if match[1]:
        kind = "end"
    elif match[4]:
        kind = "empty"
    else:
        kind = "start"
    return Tag(kind, match[2], pos, match.end())


def iter_tags(buf: bytes | bytearray, start: int, end: int) -> list[Tag]:
    """All markup constructs in ``buf[start:end]``, which must hold complete markup."""
    tags = []
    pos = buf.find(b"<", start, end)
    while pos != -1:
        tag = markup_at(buf, pos)
        if tag is None or tag.end > end:
            raise ValueError(f"incomplete markup at byte {pos}")
        tags.append(tag)
        pos = buf.find(b"<", tag.end, end)
    return tags


@lru_cache(maxsize=64)
def _end_tag(name: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"</" + re.escape(name) + rb"\s*>")


@lru_cache(maxsize=64)
def _same_start(name: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"<" + re.escape(name) + rb"[\s/>]")


@dataclass(frozen=True, slots=True)
class ElementEnd:
    """The element ends at ``end`` (exclusive)."""

    end: int


@dataclass(frozen=True, slots=True)
class NeedMore:
    """The buffer ends inside the element; searching may resume at ``resume``."""

    resume: int


@dataclass(frozen=True, slots=True)
class CutOff:
    """The element was never closed: a new element of the same kind starts at ``resync``."""

    resync: int
    reason: str


def find_element_end(
    buf: bytes | bytearray, start_tag: Tag, resume: int | None = None
) -> ElementEnd | NeedMore | CutOff:
    """Find where the element opened by ``start_tag`` ends in ``buf``.

    The fast path (one C-level search for the end tag, then a check that nothing between could
    hide or nest one) covers everything Nmap writes; comments, CDATA, processing instructions
    or nesting fall back to walking the tags one by one.
    """
    if start_tag.kind == "empty":
        return ElementEnd(start_tag.end)
    name = start_tag.name
    body = start_tag.end
    match = _end_tag(name).search(buf, resume if resume is not None else body)
    if match is None:
        nested = _same_start(name).search(buf, body) if name in NEVER_NESTED else None
        if nested is not None:
            return CutOff(nested.start(), f"<{name.decode()}> element is not closed")
        last_lt = buf.rfind(b"<", body)
        return NeedMore(max(body, last_lt))
    close = match.start()
    if (
        buf.find(b"<!", body, close) == -1
        and buf.find(b"<?", body, close) == -1
        and _same_start(name).search(buf, body, close) is None
    ):
        return ElementEnd(match.end())
    return _walk(buf, start_tag)


def _walk(buf: bytes | bytearray, start_tag: Tag) -> ElementEnd | NeedMore | CutOff:
    """Tag-by-tag search for the matching end tag (slow path)."""
    depth = 1
    pos = buf.find(b"<", start_tag.end)
    while pos != -1:
        tag = markup_at(buf, pos)
        if tag is None:
            damaged = _damaged_tag(buf, pos, start_tag.name)
            return damaged if damaged is not None else NeedMore(pos)
        if tag.name == start_tag.name:
            if tag.kind == "start":
                if start_tag.name in NEVER_NESTED:
                    return CutOff(pos, f"<{start_tag.name.decode()}> element is not closed")
                depth += 1
            elif tag.kind == "end":
                depth -= 1
                if depth == 0:
                    return ElementEnd(tag.end)
        pos = buf.find(b"<", tag.end)
    return NeedMore(start_tag.end)


def _damaged_tag(buf: bytes | bytearray, pos: int, name: bytes) -> CutOff | None:
    """A tag at ``pos`` that can never complete (another ``<`` comes before its ``>``).

    ``<`` is illegal inside a tag, so when one follows before the tag's end the tag was cut
    off, typically by an interrupted write followed by a fresh element. Scanning can then
    resynchronise at the next start tag of the same top-level kind, if there is one yet.
    """
    if buf[pos + 1 : pos + 2] in (b"!", b"?") or name not in NEVER_NESTED:
        return None
    restart = _same_start(name).search(buf, pos + 1)
    if restart is None:
        return None
    return CutOff(restart.start(), f"<{name.decode()}> element is not closed")


_HOST_END_TAG = re.compile(rb"</host[ \t\r\n]*>")
#: What may follow ``<host`` in a start tag of a (nested, hence suspicious) ``<host>``.
_AFTER_HOST_NAME = frozenset(b" \t\r\n\x0b\x0c/>")


def plain_host_end(buf: bytes | bytearray, start: int) -> int | None:
    """End of the ``<host>`` starting at ``buf[start]`` if it is plain, else None.

    Why: nearly every host Nmap writes is plain -- no comment, CDATA, processing instruction
    or nested ``<host>`` before its first ``</host>`` -- and for those the end is simply that
    end tag. A handful of C-level ``find`` calls locate it, ten times faster than a regex
    that stops at every ``<`` and far faster than walking the tags. None means "not known to
    be plain" (or not complete yet): the caller then takes the careful tag-by-tag path, which
    is always right, so this may be conservative but never wrong.
    """
    body = start + 5
    if len(buf) <= body or buf[body] not in b" \t\r\n>":
        return None
    close = buf.find(b"</host", body)
    while True:
        if close == -1:
            return None
        after = buf[close + 6 : close + 7]
        if after == b">":
            end = close + 7
            break
        if not after:
            return None
        if after in b" \t\r\n":
            match = _HOST_END_TAG.match(buf, close)
            if match is None:
                return None
            end = match.end()
            break
        close = buf.find(b"</host", close + 6)  # </hostnames>, </hostscript>
    if _after_lt(buf, b"!", body, close) or _after_lt(buf, b"?", body, close):
        return None
    nested = buf.find(b"<host", body, close)
    while nested != -1:
        if buf[nested + 5] in _AFTER_HOST_NAME:
            return None
        nested = buf.find(b"<host", nested + 5, close)
    return end


def _after_lt(buf: bytes | bytearray, char: bytes, start: int, end: int) -> bool:
    """Whether ``<`` + ``char`` occurs in ``buf[start:end]`` (``start`` > 0).

    Why not ``find(b"<!")``: ``<`` is the commonest byte in XML, which defeats the search's
    skip heuristics; ``!`` and ``?`` are rare, so looking for them and checking the byte
    before is about five times faster.
    """
    index = buf.find(char, start, end)
    while index != -1:
        if buf[index - 1] == 0x3C:
            return True
        index = buf.find(char, index + 1, end)
    return False
