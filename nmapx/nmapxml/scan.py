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

#: Comments, CDATA sections, processing instructions and the DOCTYPE (everything starting
#: ``<!`` or ``<?``). The DOCTYPE's items are atomic: an internal subset ends at its first ``]``.
#: A backtracking form (``\[.*?\]`` free to end at any later ``]``) took exponential time on
#: ``<!DOCTYPE [][][]...`` with no ``>``; the reader refuses every internal subset anyway.
_SPECIAL = re.compile(
    rb"""<!--.*?-->
    |<!\[CDATA\[.*?\]\]>
    |<\?.*?\?>
    |<!DOCTYPE(?:[^\[>"']++|"[^"]*+"|'[^']*+'|\[[^\]]*+\])*+>""",
    re.S | re.X,
)
#: A start, end or empty-element tag: the slash of an end tag, the name, then attributes up to
#: the first ``>`` outside quotes. No ``<`` anywhere, not even in a quoted value. Every
#: quantifier is possessive, so a failed match costs linear time (see :func:`_tag_at`).
_TAG = re.compile(rb"""<(/?)([^\s/>!?<]++)(?:[^<>"']++|"[^"<]*+"|'[^'<]*+')*+>""")
#: The name part of :data:`_TAG` alone, and the attributes part alone.
_TAG_HEAD = re.compile(rb"<(/?)([^\s/>!?<]++)")
_ATTRIBUTES_END = re.compile(rb"""(?:[^<>"']++|"[^"<]*+"|'[^'<]*+')*+>""")
_NAME = re.compile(rb"[^\s/>!?<]+")
#: Bytes that cannot start a tag's name (after ``<`` or ``</``).
_NOT_NAME_START = frozenset(b" \t\r\n/>!?<")
#: Constructs starting with ``<!`` that may hold ``<`` (only their own end closes them).
_BANG_CONSTRUCTS = (b"<!--", b"<![CDATA[", b"<!DOCTYPE")

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
    if buf[pos + 1 : pos + 2] in (b"!", b"?"):
        match = _SPECIAL.match(buf, pos)
        if match is None:
            return None
        end = match.end()
        if buf.startswith(b"<!--", pos):
            return Tag("comment", b"", pos, end)
        if buf.startswith(b"<![CDATA[", pos):
            return Tag("cdata", b"", pos, end)
        if buf.startswith(b"<?", pos):
            target = _NAME.match(buf, pos + 2, end)
            return Tag("pi", target[0] if target else b"", pos, end)
        return Tag("doctype", b"DOCTYPE", pos, end)
    found = _tag_at(buf, pos)
    if found is None:
        return None
    closing, name, end = found
    if closing:
        kind = "end"
    elif buf[end - 2 : end - 1] == b"/":
        kind = "empty"
    else:
        kind = "start"
    return Tag(kind, name, pos, end)


def _tag_at(buf: bytes | bytearray, pos: int) -> tuple[bool, bytes, int] | None:
    """(is an end tag, name, end) of the tag at ``pos``, or None when it does not match.

    Why not one backtracking regex: a tag name may hold quotes (``[^\\s/>!?<]``), so a name
    could also end early, at a quote that opens an attribute value. Trying every shorter name
    made a ``<`` followed by 16 KB of name bytes and no ``>`` cost seconds (quadratic). The
    answer is the same as that regex's (longest name that lets the tag match), in linear time:

    * the longest name first (:data:`_TAG`, possessive);
    * else only a name ending just before one of its own quotes can help, and of those only the
      last ``"`` and the last ``'`` of the name: any earlier quote's value closes inside the
      name, where the scan continues exactly as from a later candidate that already failed.
    """
    match = _TAG.match(buf, pos)
    if match is not None:
        return bool(match[1]), match[2], match.end()
    head = _TAG_HEAD.match(buf, pos)
    if head is None:
        return None
    name_start, name_end = head.span(2)
    best: tuple[int, int] | None = None  # (name end, tag end)
    for quote in (b'"', b"'"):
        at = buf.rfind(quote, name_start + 1, name_end)
        if at == -1:
            continue
        close = buf.find(quote, name_end)
        if close == -1 or buf.find(b"<", at, close) != -1:
            continue
        rest = _ATTRIBUTES_END.match(buf, close + 1)
        if rest is not None and (best is None or at > best[0]):
            best = (at, rest.end())
    if best is None:
        return None
    return bool(head[1]), bytes(buf[name_start : best[0]]), best[1]


def never_completes(buf: bytes | bytearray, pos: int) -> int | None:
    """Where scanning can resume if the markup at ``buf[pos] == b'<'`` can never complete.

    Why: :func:`markup_at` returns None both for markup that is merely not complete *yet*
    (more input will finish it) and for damage no input can finish -- a ``<`` followed by a
    space, or a tag whose quotes never balance. Waiting for the rest of the file in the second
    case turns one bad byte into a truncation that loses every later host. A tag can hold no
    ``<`` at all (not even inside a quoted attribute value), so once a later ``<`` is in the
    buffer and the tag still has not matched, it never will: the answer is that ``<``.
    Comments, CDATA and processing instructions may contain ``<``; only their end (or the
    end of input) tells, so they never count as damaged here. None: not (yet) damaged.
    """
    head = bytes(buf[pos : pos + 9])
    if len(head) < 2 or head[1:2] == b"?":
        return None
    if head[1:2] == b"!":
        if any(head.startswith(p) or p.startswith(head) for p in _BANG_CONSTRUCTS):
            return None
        restart = buf.find(b"<", pos + 1)
        return restart if restart != -1 else len(buf)
    name_at = 2 if head[1:2] == b"/" else 1
    restart = buf.find(b"<", pos + 1)
    if len(head) > name_at and head[name_at] in _NOT_NAME_START:
        return restart if restart != -1 else len(buf)
    return restart if restart != -1 else None


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
    """The buffer ends inside the element; searching may resume at ``resume``.

    ``depth`` is set when a tag-by-tag walk was under way (how many elements of the same name
    are open at ``resume``), so the next attempt carries on from there instead of walking the
    whole element again: a huge element arriving in many chunks costs linear time.
    """

    resume: int
    depth: int | None = None


@dataclass(frozen=True, slots=True)
class CutOff:
    """The element was never closed: a new element of the same kind starts at ``resync``."""

    resync: int
    reason: str


#: A ``<host>`` start or the root's end tag: never inside another top-level element.
_CUT_MARK = re.compile(rb"<host[\s/>]|</nmaprun[\s>]")


def find_element_end(
    buf: bytes | bytearray, start_tag: Tag, resume: int | None = None, depth: int | None = None
) -> ElementEnd | NeedMore | CutOff:
    """Find where the top-level element opened by ``start_tag`` ends in ``buf``.

    The fast path (one C-level search for the end tag, then a check that nothing between could
    hide or nest one) covers everything Nmap writes; comments, CDATA, processing instructions
    or nesting fall back to walking the tags one by one. ``resume`` and ``depth`` come from a
    previous :class:`NeedMore`: the bytes before ``resume`` were checked already.

    Nmap never writes a ``<host>`` start tag or ``</nmaprun>`` inside another top-level
    element, so meeting one means the element around it was cut off (an interrupted write, a
    damaged tag name): the scan resynchronises there rather than letting one damaged element
    swallow every later host.
    """
    if start_tag.kind == "empty":
        return ElementEnd(start_tag.end)
    if depth is not None:
        return _walk(buf, start_tag, resume, depth)
    name = start_tag.name
    body = start_tag.end
    search_from = resume if resume is not None else body
    match = _end_tag(name).search(buf, search_from)
    limit = match.start() if match is not None else len(buf)
    if _after_lt(buf, b"!", search_from, limit) or _after_lt(buf, b"?", search_from, limit):
        return _walk(buf, start_tag)
    cut = _CUT_MARK.search(buf, search_from, limit)
    if cut is not None:
        return CutOff(cut.start(), f"<{_text(name)}> element is not closed")
    if name not in NEVER_NESTED and _same_start(name).search(buf, search_from, limit) is not None:
        return _walk(buf, start_tag)
    if match is None:
        return NeedMore(_resume_point(buf, search_from, name))
    return ElementEnd(match.end())


@lru_cache(maxsize=64)
def _walk_stops(name: bytes) -> re.Pattern[bytes]:
    """Where a walk through an element named ``name`` must look: its own start and end tags,
    ``<host`` starts, ``</nmaprun>`` and what can hide tags (comments, CDATA, PIs)."""
    return re.compile(
        rb"<(?:!--|!\[CDATA\[|\?|/?" + re.escape(name) + rb"[\s/>]|host[\s/>]|/nmaprun[\s>])"
    )


def _walk(
    buf: bytes | bytearray, start_tag: Tag, pos: int | None = None, depth: int = 1
) -> ElementEnd | NeedMore | CutOff:
    """Tag-by-tag search for the matching end tag (slow path), resumable at ``pos``.

    It jumps with one C-level search from one tag that matters to the next: no tag can hold
    a ``<`` (not even in an attribute value), so every other tag in between is irrelevant,
    and an element of millions of tags is walked in linear time at C speed.
    """
    name = start_tag.name
    stops = _walk_stops(name)
    pos = start_tag.end if pos is None else pos
    while True:
        found = stops.search(buf, pos)
        if found is None:
            return NeedMore(_resume_point(buf, pos, name), depth)
        at = found.start()
        if found[0] == b"<!--":  # the commonest thing to skip, without building a Tag
            close = buf.find(b"-->", at + 4)
            if close == -1:
                return NeedMore(at, depth)
            pos = close + 3
            continue
        tag = markup_at(buf, at)
        if tag is None:
            restart = never_completes(buf, at)
            if restart is None:
                return NeedMore(at, depth)
            pos = restart  # damaged markup: lxml will refuse the element; find its extent
            continue
        if (tag.name == b"host" and tag.kind in ("start", "empty")) or (
            tag.name == b"nmaprun" and tag.kind == "end"
        ):
            return CutOff(at, f"<{_text(name)}> element is not closed")
        if tag.name == name:
            if tag.kind == "start":
                depth += 1
            elif tag.kind == "end":
                depth -= 1
                if depth == 0:
                    return ElementEnd(tag.end)
        pos = tag.end


@lru_cache(maxsize=64)
def _end_tag_prefix(name: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"</" + re.escape(name) + rb"\s*")


def _resume_point(buf: bytes | bytearray, start: int, name: bytes) -> int:
    """Where the next search for ``name``'s end (or a nested tag) must begin after more input.

    Every pattern searched for starts with ``<`` and is at most ``len(name) + 10`` bytes long
    (an end tag's whitespace aside), so only a ``<`` that near the end of the buffer, or an
    end tag cut inside its whitespace, can be the start of a match: searching again from the
    last ``<`` wherever it is would scan a huge attribute value again on every read.
    """
    last_lt = buf.rfind(b"<", start)
    if last_lt == -1:
        return len(buf)
    if len(buf) - last_lt <= len(name) + 10 or _end_tag_prefix(name).fullmatch(buf, last_lt):
        return last_lt
    return len(buf)


def _text(name: bytes) -> str:
    return name.decode("utf-8", "replace")


#: The first thing that ends a plain host's scan: its end tag, or markup that needs care.
_PLAIN_HOST_STOP = re.compile(rb"<(?:/host[ \t\r\n]*>|[!?]|host[ \t\r\n\x0b\x0c/>])")


def plain_host_end(buf: bytes | bytearray, start: int) -> int | None:
    """End of the ``<host>`` starting at ``buf[start]`` if it is plain, else None.

    Why: nearly every host Nmap writes is plain -- no comment, CDATA, processing instruction
    or nested ``<host>`` before its first ``</host>`` -- and for those the end is simply that
    end tag, found by one C-level regex search (measured: about twice as fast as a series of
    ``find`` calls, which each rescan the host). None means "not known to be plain" (or not
    complete yet): the caller then takes the careful tag-by-tag path, which is always right,
    so this may be conservative but never wrong.
    """
    body = start + 5
    if len(buf) <= body or buf[body] not in b" \t\r\n>":
        return None
    head_end = buf.find(b">", body)
    if head_end == -1 or buf[head_end - 1] == 0x2F:  # "<host .../>" ends right there
        return None
    stop = _PLAIN_HOST_STOP.search(buf, body)
    if stop is None or stop[0][1:2] != b"/":
        return None  # incomplete, or a comment, PI, CDATA or nested <host> comes first
    return stop.end()


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


#: ``<`` followed by a name holding a colon: a prefixed element or processing-instruction name
#: (comments, CDATA and end tags cannot start one; an end tag's start tag is found instead).
_PREFIXED_MARKUP_NAME = re.compile(rb"<[^\s>/!]*:")
#: A colon in what may be an attribute name: ``p:name="``, ``p:="``, ``:name = '``. Anchored
#: on the colon, so the search skips ahead at C speed between the (rare) colons.
_PREFIXED_ATTRIBUTE_NAME = re.compile(rb""":[^\s=<>"'/:]*\s*=\s*["']""")


def namespace_free(data: bytes | bytearray) -> bool:
    """Whether ``data`` certainly has no namespace syntax: no prefixed name, no ``xmlns``.

    Why: Nmap XML never uses namespaces, and libxml2 checks namespace rules (a prefix must be
    declared, a name holds at most one colon, ``xmlns:p=""`` is void) only when it builds a
    tree, not in the tree-less check of the pass-through mode. Bytes that pass this test give
    both checks nothing to disagree on. Conservative: text that merely looks like a prefixed
    attribute (``a:b="x"`` in an element's text) is False too; the caller then makes the
    exact, slower decision, so this may cost time but never changes a verdict.
    """
    return (
        data.find(b"xmlns") == -1
        and _PREFIXED_MARKUP_NAME.search(data) is None
        and _PREFIXED_ATTRIBUTE_NAME.search(data) is None
    )
