"""Streaming reader for Nmap XML.

The document is consumed as a stream of top-level pieces: the prologue (everything up to and
including the ``<nmaprun>`` start tag), then each child of ``<nmaprun>`` with the whitespace
before it, then the epilogue. Each piece keeps its exact bytes (so writers can copy them
unchanged) and, for the elements that matter, the lxml element parsed from those bytes by one
long-lived ``XMLPullParser`` that is fed the document as it arrives. A host is handed on the
moment its ``</host>`` has been read, and dropped by the reader right after, so memory stays
flat whatever the input size.

Safety: the parser never resolves entities, never loads a DTD and never touches the network;
a document type declaration with an internal subset (how billion-laughs and XXE attacks
declare their entities) is refused before any parsing.

Damage: an input that ends early yields a :class:`Truncation` (every complete host before it
was already yielded); a malformed host is reported with its line and skipped while the rest
is kept; forbidden characters that old Nmap versions wrote are repaired
(:mod:`nmapx.nmapxml.repair`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import cast

from lxml import etree

from nmapx.errors import ExitStatus, HostileInputError, InputError, printable
from nmapx.model.host import Host, ScanContext
from nmapx.nmapxml.parsers import safe_parser, safe_pull_parser
from nmapx.nmapxml.repair import repair
from nmapx.nmapxml.scan import (
    CutOff,
    ElementEnd,
    NeedMore,
    Tag,
    find_element_end,
    markup_at,
    namespace_free,
    never_completes,
    plain_host_end,
)
from nmapx.nmapxml.source import InputSource, open_chunks

log = logging.getLogger(__name__)

#: Children of ``<nmaprun>`` that Nmap writes; the parser reports only these.
TOP_LEVEL = (
    "nmaprun",
    "scaninfo",
    "verbose",
    "debugging",
    "target",
    "taskbegin",
    "taskprogress",
    "taskend",
    "hosthint",
    "prescript",
    "postscript",
    "host",
    "output",
    "runstats",
)
#: A single top-level element larger than this is refused (Nmap's largest are kilobytes).
MAX_SEGMENT = 256 << 20
#: What may follow ``</nmaprun>`` (whitespace, comments) before the input is called damaged.
MAX_EPILOGUE = 1 << 20
_COMPACT_AT = 1 << 20
_WHITESPACE = b" \t\r\n"
_ROOT_END = re.compile(rb"</nmaprun[ \t\r\n]*>")
_ENTITY_REF = re.compile(rb"&(?!(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)[^;\s<&]*;?")


#: libxml2's nesting limit without ``huge_tree`` (the tree builder enforces it, a parser target
#: does not): ``<nmaprun>`` counts as 1, so a host may hold 255 levels of elements.
MAX_DEPTH = 256
#: The one namespace XML predeclares (``xml:lang``, ``xml:space``).
_XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"


class _WellFormedness:
    """A parser target that builds nothing: libxml2 still checks every byte it is fed.

    No ``start``/``end`` methods on purpose: lxml would call them for every element, which
    costs more than building the tree this target exists to avoid.
    """

    def close(self) -> None:
        return None


def _new_checker() -> etree.XMLParser:
    """A tree-less parser that checks one host at a time (see :meth:`_Reader.check_host`)."""
    # lxml-stubs' ParserTarget demands every callback; lxml calls only those a target has.
    return safe_parser(_WellFormedness())  # type: ignore[arg-type]


def _new_strict() -> etree.XMLParser:
    """A one-shot parser for a piece checked on its own (never shared between threads)."""
    return safe_parser()


def _syntax_error(message: str, line: int) -> etree.XMLSyntaxError:
    """An XMLSyntaxError of our own finding, at ``line`` (0: none) of the piece checked.

    lxml's constructor is ``(message, code, line, column[, filename])``; lxml-stubs declares
    the ``(message, error_log)`` of LxmlError instead.
    """
    return etree.XMLSyntaxError(message, 0, line, 0)  # type: ignore[call-arg, arg-type]


def _new_parser() -> etree.XMLPullParser:
    return safe_pull_parser(("start", "end"), TOP_LEVEL)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with the input that the reader survived (warning) or not (error)."""

    severity: str
    message: str
    source: str
    line: int
    column: int | None = None
    offset: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}"
        if self.column is not None:
            where += f":{self.column}"
        tail = f" (byte {self.offset})" if self.offset is not None else ""
        return printable(f"{where}: {self.severity}: {self.message}{tail}")


@dataclass(slots=True)
class Prologue:
    """Everything before the first child of ``<nmaprun>``, including its start tag."""

    raw: bytes
    root: etree._Element
    #: True for ``<nmaprun/>``: the document has no children and no end tag to copy.
    empty_root: bool = False


@dataclass(slots=True)
class TopLevelItem:
    """A child of ``<nmaprun>`` other than ``<host>``, or a comment or processing instruction."""

    gap: bytes
    raw: bytes
    name: str | None
    element: etree._Element | None
    line: int
    offset: int


@dataclass(slots=True)
class Epilogue:
    """The ``</nmaprun>`` end tag and whatever legitimately follows it."""

    gap: bytes
    raw: bytes


@dataclass(slots=True)
class Truncation:
    """The input ended before ``</nmaprun>``: the place, and the open element if any."""

    gap: bytes
    line: int
    column: int | None
    offset: int
    inside: str | None
    inside_line: int | None


Item = Prologue | TopLevelItem | Host | Epilogue | Truncation


@dataclass
class Document:
    """One Nmap XML input, read lazily: iterate it once to stream its pieces."""

    source: InputSource
    #: Build each host's lxml element while reading. False only checks that each host is
    #: well-formed (a third faster) and leaves :attr:`Host.element` to be parsed on demand:
    #: right for a pass-through that never looks inside hosts.
    parse_hosts: bool = True
    context: ScanContext = field(init=False)
    problems: list[Problem] = field(default_factory=list, init=False)
    status: ExitStatus = field(default=ExitStatus.OK, init=False)
    hosts_read: int = field(default=0, init=False)
    bytes_read: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.context = ScanContext(source=self.source.name)

    def __iter__(self) -> Iterator[Item]:
        with open_chunks(self.source) as chunks:
            yield from _Reader(self, chunks).items()

    def problem(
        self,
        severity: str,
        message: str,
        line: int,
        column: int | None = None,
        offset: int | None = None,
        status: ExitStatus | None = None,
    ) -> None:
        found = Problem(severity, message, self.source.name, line, column, offset)
        self.problems.append(found)
        if severity == "warning":
            log.warning("%s", found)
        else:
            log.error("%s", found)
        if status is not None:
            self.status = ExitStatus.worst(self.status, status)


def read_document(path: str, *, parse_hosts: bool = True) -> Document:
    """Open ``path`` (``-`` for stdin; gzip and bzip2 are recognised) for streaming."""
    return Document(InputSource(path), parse_hosts=parse_hosts)


def read_bytes(data: bytes, *, name: str = "<bytes>", parse_hosts: bool = True) -> Document:
    """An in-memory document (``name`` is what messages call it), read exactly like a file:
    the same pieces, checks and damage handling (gzip and bzip2 data too)."""
    return Document(InputSource(name, data=bytes(data)), parse_hosts=parse_hosts)


class _Reader:
    """The buffer, the scanner and the parser behind :class:`Document` iteration."""

    def __init__(self, document: Document, chunks: Iterator[bytes]) -> None:
        self.doc = document
        self.name = document.source.name
        self.chunks = chunks
        self.buf = bytearray()
        self.base = 0  # absolute offset of buf[0]
        self.pos = 0  # index into buf of the first unconsumed byte
        self.line = 1  # line number at self.pos
        self.line_start = 0  # absolute offset where the current line starts
        self.eof = False
        self.parser = _new_parser()
        #: Checks hosts without building them (see Document.parse_hosts), else None.
        self.checker: etree.XMLParser | None = None
        if not document.parse_hosts:
            self.checker = _new_checker()
        self.root: etree._Element | None = None
        self.xml_decl = b""
        self.hosts = 0
        self.carry = b""  # whitespace of a skipped piece, see read_body

    # ------------------------------------------------------------------ buffer
    def fill(self) -> bool:
        """Read one more chunk; False at end of input."""
        if self.eof:
            return False
        for chunk in self.chunks:
            if chunk:
                self.buf += chunk
                self.doc.bytes_read += len(chunk)
                return True
        self.eof = True
        return False

    def compact(self) -> None:
        """Drop consumed bytes. Only between pieces: indices into the buffer move."""
        if self.pos > _COMPACT_AT:
            last_newline = self.buf.rfind(b"\n", 0, self.pos)
            if last_newline != -1:
                self.line_start = self.base + last_newline + 1
            del self.buf[: self.pos]
            self.base += self.pos
            self.pos = 0

    def advance(self, new_pos: int) -> None:
        """Consume ``buf[pos:new_pos]``, keeping the line count right."""
        self.line += self.buf.count(b"\n", self.pos, new_pos)
        self.pos = new_pos

    def where(self, index: int) -> tuple[int, int, int]:
        """(line, column, absolute offset) of ``buf[index]``, index >= pos.

        Only lines are counted as the input streams by; the column is worked out here, when
        a message needs it, from the last newline before ``index``.
        """
        line = self.line + self.buf.count(b"\n", self.pos, index)
        last_newline = self.buf.rfind(b"\n", 0, index)
        line_start = self.base + last_newline + 1 if last_newline != -1 else self.line_start
        offset = self.base + index
        return line, offset - line_start + 1, offset

    def markup(self, index: int) -> Tag | None:
        """The markup construct at ``buf[index]``, reading more input as needed."""
        checked = index
        while True:
            if self.buf.find(b">", checked) != -1:
                tag = markup_at(self.buf, index)
                if tag is not None:
                    return tag
            # Damage no further input can mend (see never_completes); looked for again only
            # when new bytes bring a '<', so a huge incomplete tag costs linear time.
            if checked == index or self.buf.find(b"<", checked) != -1:
                restart = never_completes(self.buf, index)
                if restart is not None:
                    return Tag("damaged", b"", index, restart)
            checked = max(index, len(self.buf) - 1)
            if len(self.buf) - index > MAX_SEGMENT:
                line, column, offset = self.where(index)
                raise InputError(
                    "markup too large", source=self.name, line=line, column=column, offset=offset
                )
            if not self.fill():
                return None

    # ------------------------------------------------------------------ pieces
    def items(self) -> Iterator[Item]:
        prologue = self.read_prologue()
        yield prologue
        if prologue.empty_root:
            yield Epilogue(b"", self.checked_rest(b""))
            return
        yield from self.read_body()

    def read_prologue(self) -> Prologue:
        if not self.fill():
            raise InputError("empty input", source=self.name, line=1)
        if self.buf.startswith(b"\xef\xbb\xbf"):
            self.pos = 0  # the BOM stays part of the prologue's bytes
            index = 3
        else:
            index = 0
        while True:
            while True:
                index = _skip_whitespace(self.buf, index)
                if index < len(self.buf) or not self.fill():
                    break
            if index >= len(self.buf):
                raise InputError(
                    "no <nmaprun> element: not Nmap XML",
                    source=self.name,
                    line=self.where(index)[0],
                )
            if self.buf[index] != ord("<"):
                line, column, offset = self.where(index)
                raise InputError(
                    "text before the root element: not Nmap XML",
                    source=self.name,
                    line=line,
                    column=column,
                    offset=offset,
                )
            tag = self.markup(index)
            if tag is None:
                line, column, offset = self.where(index)
                raise InputError(
                    "input ends inside the prologue",
                    source=self.name,
                    line=line,
                    column=column,
                    offset=offset,
                )
            if tag.kind == "doctype":
                self.check_doctype(tag)
            elif tag.kind == "pi" and tag.name == b"xml":
                self.xml_decl = bytes(self.buf[tag.start : tag.end])
            elif tag.kind in ("start", "empty"):
                if tag.name != b"nmaprun":
                    line, column, offset = self.where(index)
                    raise InputError(
                        f"root element is <{_name(tag)}>, not <nmaprun>: not Nmap XML",
                        source=self.name,
                        line=line,
                        column=column,
                        offset=offset,
                    )
                raw = bytes(self.buf[self.pos : tag.end])
                root = self.feed_prologue(raw, index)
                # lxml-stubs types attributes str | bytes; lxml gives parsed ones as str.
                self.doc.context.nmaprun = dict(cast("Mapping[str, str]", root.attrib))
                self.advance(tag.end)
                return Prologue(raw, root, empty_root=tag.kind == "empty")
            elif tag.kind not in ("comment", "pi"):
                line, column, offset = self.where(index)
                raise InputError(
                    "unexpected markup before <nmaprun>",
                    source=self.name,
                    line=line,
                    column=column,
                    offset=offset,
                )
            index = tag.end

    def check_doctype(self, tag: Tag) -> None:
        """Refuse internal subsets: Nmap writes a bare DOCTYPE, attackers declare entities."""
        text = bytes(self.buf[tag.start : tag.end])
        if b"[" in text:
            line, column, offset = self.where(tag.start)
            kind = "entity declarations" if b"<!ENTITY" in text else "an internal DTD subset"
            raise HostileInputError(
                f"refused: the DOCTYPE has {kind} (Nmap never writes them; nothing is expanded)",
                source=self.name,
                line=line,
                column=column,
                offset=offset,
            )

    def feed_prologue(self, raw: bytes, root_index: int) -> etree._Element:
        """Feed the prologue to the parser; the ``<nmaprun>`` element it starts."""
        try:
            if not namespace_free(raw):
                # As for every piece (see parse): decided exactly, namespaces refused.
                closed = raw if raw.rstrip().endswith(b"/>") else raw + b"</nmaprun>"
                found = _namespace_use(etree.fromstring(closed, _new_strict()))
                if found is not None:
                    raise _syntax_error(found[0], found[1])
            self.parser.feed(raw)
            for event in self.parser.read_events():
                # Only "start" and "end" are asked for (_new_parser): each has an element.
                if event[0] == "start" and event[1].tag == "nmaprun":
                    self.root = event[1]
            self.doc.context.xml_declaration = self.xml_decl
        except etree.XMLSyntaxError as exc:
            line, column, offset = self.where(self.pos)
            raise InputError(
                _message(exc),
                source=self.name,
                line=line + (exc.lineno or 1) - 1,
                column=exc.offset if (exc.offset or 0) > 0 else None,
            ) from None
        if self.root is None:
            line, column, offset = self.where(root_index)
            raise InputError(
                "the <nmaprun> start tag could not be parsed",
                source=self.name,
                line=line,
                column=column,
                offset=offset,
            )
        return self.root

    def read_rest(self) -> bytes:
        while self.fill():
            if len(self.buf) - self.pos > MAX_EPILOGUE:
                break
        rest = bytes(self.buf[self.pos :])
        self.advance(len(self.buf))
        return rest

    def checked_rest(self, before: bytes) -> bytes:
        """What follows the root element, dropped (and reported) unless it is well-formed.

        ``before`` (the root's end tag, if it has one) is fed to the parser first.
        """
        rest = self.read_rest()
        try:
            if b"\x00" in rest:  # libxml2 would stop there silently (see parse)
                raise _syntax_error("NUL byte (XML 1.0 forbids it)", 0)
            self.parser.feed(before + rest)
            self.parser.close()
        except etree.XMLSyntaxError as exc:
            self.doc.problem(
                "error",
                f"content after </nmaprun> dropped: {_message(exc)}",
                self.line,
                None,
                self.base + self.pos,
                ExitStatus.DAMAGED,
            )
            return b"\n"
        return rest

    def clean_gap(self, index: int) -> bytes:
        """The bytes between the last piece and ``buf[index]``: whitespace, normally.

        Nmap writes nothing but whitespace between the children of ``<nmaprun>``. Anything
        else there (stray text, a bare ``&``) would be fed to the parser together with the
        next element and cost that element, so it is reported and dropped instead, keeping
        the whitespace that led up to the next element.
        """
        between = bytes(self.buf[self.pos : index])
        gap = between or self.carry
        self.carry = b""
        if not between.strip(_WHITESPACE):
            return gap
        line, column, offset = self.where(self.pos + len(between) - len(between.lstrip()))
        self.doc.problem(
            "error", "text outside any element skipped", line, column, offset, ExitStatus.DAMAGED
        )
        return between[len(between.rstrip(_WHITESPACE)) :]

    def read_body(self) -> Iterator[Item]:
        # Where the search for the current element's end tag may resume, as an absolute
        # offset: fill() may compact the buffer between two attempts.
        resume_at: int | None = None
        resume_depth: int | None = None
        while True:
            self.compact()
            index = self.buf.find(b"<", self.pos)
            if index == -1:
                if not self.fill():
                    yield self.truncation(len(self.buf), None, None)
                    return
                continue
            if resume_at is None and self.buf.startswith(b"<host", index):
                # Fast path for what Nmap writes most: a complete <host> with nothing unusual
                # inside, found with one C-level search instead of a tag-by-tag look.
                host_end = plain_host_end(self.buf, index)
                if host_end is not None:
                    gap = self.clean_gap(index)
                    item = self.segment(gap, index, host_end, "host")
                    if item is not None:
                        yield item
                    continue
            tag = self.markup(index)
            if tag is None:
                yield self.truncation(index, None, None)
                return
            # A skipped piece's whitespace stands in when the next piece has none of its own.
            gap = self.clean_gap(index)
            if tag.kind == "damaged":
                self.skip(tag, "malformed markup skipped: a '<' that starts no complete tag")
                self.carry = gap
                continue
            if tag.kind == "end":
                if tag.name == b"nmaprun":
                    yield from self.finish(gap, tag)
                    return
                self.skip(tag, f"stray </{_name(tag)}> end tag skipped")
                continue
            if tag.kind == "start" and tag.name == b"nmaprun":
                # A second document glued into the first (seen in damaged files): its hosts
                # are still good, so drop only its start tag and read on.
                self.skip(tag, "a second <nmaprun> start tag skipped")
                continue
            if tag.kind in ("start", "empty"):
                resume = None if resume_at is None else resume_at - self.base
                found = find_element_end(self.buf, tag, resume, resume_depth)
                if isinstance(found, NeedMore):
                    resume_at = self.base + found.resume
                    resume_depth = found.depth
                    if len(self.buf) - index > MAX_SEGMENT:
                        line, column, offset = self.where(index)
                        self.doc.problem(
                            "error",
                            f"<{_name(tag)}> element larger than {MAX_SEGMENT >> 20} MiB",
                            line,
                            column,
                            offset,
                            ExitStatus.DAMAGED,
                        )
                        yield self.truncation(index, None, None)
                        return
                    if not self.fill():
                        line = self.where(index)[0]
                        yield self.truncation(len(self.buf), _name(tag), line)
                        return
                    continue
                resume_at = resume_depth = None
                if isinstance(found, CutOff):
                    line, column, offset = self.where(index)
                    self.doc.problem(
                        "error",
                        f"{found.reason}; skipped",
                        line,
                        column,
                        offset,
                        ExitStatus.DAMAGED,
                    )
                    self.reset_parser()
                    self.carry = gap
                    self.advance(found.resync)
                    continue
                assert isinstance(found, ElementEnd)
                end = found.end
                name: str | None = _name(tag)
            else:
                end = tag.end
                name = None
            item = self.segment(gap, index, end, name)
            if item is not None:
                yield item

    def skip(self, tag: Tag, message: str) -> None:
        """Report a tag that cannot belong where it stands, and read on after it."""
        line, column, offset = self.where(tag.start)
        self.doc.problem("error", message, line, column, offset, ExitStatus.DAMAGED)
        self.advance(tag.end)

    def segment(self, gap: bytes, index: int, end: int, name: str | None) -> Item | None:
        """Parse one top-level piece; recover from damage where that is possible."""
        raw = bytes(self.buf[index:end])
        line = self.line + self.buf.count(b"\n", self.pos, index)
        offset = self.base + index
        element = None
        try:
            element = self.parse(gap + raw, name)
        except etree.XMLSyntaxError as first_error:
            self.reset_parser(name)
            fixed, count = repair(raw)
            parsed = False
            if count:
                try:
                    element = self.parse(fixed, name)
                    parsed = True
                except etree.XMLSyntaxError:
                    self.reset_parser(name)
            column = self.where(index)[1]
            if not parsed:
                reason, where_line, where_column, at = self.diagnose(first_error, raw, line, column)
                what = f"<{name}>" if name else "markup"
                self.doc.problem(
                    "error",
                    f"malformed {what} skipped: {reason}",
                    where_line,
                    where_column,
                    offset + at,
                    ExitStatus.DAMAGED,
                )
                self.carry = gap
                self.advance(end)
                return None
            self.doc.problem(
                "warning",
                f"repaired {count} character(s) that XML 1.0 forbids"
                " (now written as \\xHH, as current Nmap does)",
                line,
                column,
                offset,
            )
            raw = fixed
        self.advance(end)
        if name == "host":
            if element is None and self.checker is None:
                return None
            self.hosts += 1
            self.doc.hosts_read = self.hosts
            host = Host(
                element,
                raw,
                context=self.doc.context,
                index=self.hosts - 1,
                line=line,
                offset=offset,
                gap=gap,
            )
            if element is not None:
                self.release(element)
            return host
        if element is not None:
            self.note(name, element)
            self.release(element)
        return TopLevelItem(gap, raw, name, element, line, offset)

    def parse(self, data: bytes, name: str | None) -> etree._Element | None:
        """Check one top-level piece and return the element it is (None where none is kept).

        Hosts are decided by :meth:`parse_host`; everything else goes to the long-lived parser.
        """
        if b"\x00" in data:
            # libxml2's push parser stops at a NUL byte without reporting anything, so a
            # comment or PI holding one would pass unchecked (and every later piece with it).
            raise _syntax_error("NUL byte (XML 1.0 forbids it)", 0)
        if name == "host":
            return self.parse_host(data)
        if name not in TOP_LEVEL or not namespace_free(data):
            # Nmap writes none of these (comments, PIs, unknown elements). The pull parser
            # reports no events for them, so if libxml2 stopped silently on one (it does on
            # some errors) nothing would notice: check the piece on its own first. Namespace
            # syntax too: the pull parser reports namespace errors late (at a later piece or
            # at the end), so it is decided here, as for hosts.
            _build_exact(self.xml_decl, data)
        return self.pull(data, name)

    def pull(self, data: bytes, name: str | None) -> etree._Element | None:
        """Feed the long-lived parser; the top-level element it closed, if it is ``name``."""
        self.parser.feed(data)
        element = None
        for event in self.parser.read_events():
            # Only "start" and "end" are asked for (_new_parser): each has an element.
            if event[0] == "end" and event[1].tag == name:
                parent = event[1].getparent()
                if parent is not None and parent.getparent() is None:
                    element = event[1]
        if name in TOP_LEVEL and element is None:
            raise _syntax_error(f"<{name}> was not closed where expected", 0)
        return element

    def parse_host(self, data: bytes) -> etree._Element | None:
        """Decide whether one host is well-formed; the element in the tree mode, else None.

        This is the one decision both reader modes use, so they accept and refuse the same
        hosts by construction. libxml2 has two ways to check a host: building its tree (the
        long-lived pull parser of the tree mode, and :attr:`Host.element` later) and the
        tree-less check of the pass-through mode (a third faster). They differ in exactly two
        rules, which only the tree builder applies: namespaces (prefixes must be declared, a
        name has at most one colon) and libxml2's nesting limit. A host that could meet either
        rule -- any namespace syntax (:func:`namespace_free`), or as many end tags as
        :data:`MAX_DEPTH` -- is decided by :func:`_build_exact` in both modes: a tree built on
        its own, refused if it uses a namespace at all (Nmap XML has none). Every other host
        holds nothing the two ways could disagree on, so each mode checks it its fast way.
        """
        if data.count(b"</") >= MAX_DEPTH - 2 or not namespace_free(data):
            element = _build_exact(self.xml_decl, data)[0]
            return element if self.checker is None else None
        if self.checker is None:
            return self.pull(data, "host")
        # A document of its own: closing it makes libxml2 report what a push parser would
        # keep waiting on (a quote that never closes) and a host that ends early or late, all
        # at this host rather than at the next piece; the parser is reused, so this costs no
        # more than feeding one long document.
        self.checker.feed(self.xml_decl + b"<nmaprun>")
        self.checker.feed(data)
        self.checker.feed(b"</nmaprun>")
        self.checker.close()
        return None

    def release(self, element: etree._Element) -> None:
        """Detach handled elements from the parser's tree so memory stays flat."""
        parent = element.getparent()
        if parent is not None:
            del parent[:]

    def note(self, name: str | None, element: etree._Element) -> None:
        context = self.doc.context
        if name == "scaninfo":
            context.add_scaninfo(element)
        elif name in ("verbose", "debugging"):
            try:
                setattr(context, name, int(element.get("level", "0")))
            except ValueError:
                pass

    def reset_parser(self, name: str | None = None) -> None:
        """Start a fresh parser after an error: libxml2 stops at the first fatal one."""
        if name == "host" and self.checker is not None:
            self.checker = _new_checker()
            return
        self.parser = _new_parser()
        self.parser.feed(self.xml_decl + b"<nmaprun>")
        self.parser.read_events()

    def diagnose(
        self, error: etree.XMLSyntaxError, raw: bytes, line: int, column: int
    ) -> tuple[str, int, int | None, int]:
        """Why ``raw`` (which starts at line, column) failed: reason, line, column, index."""
        entity = _ENTITY_REF.search(raw)
        if entity is not None:
            # libxml2 stops silently on these when entities are not resolved
            name = entity[0].decode("utf-8", "replace")
            where_line, where_column = _position(raw, entity.start(), line, column)
            reason = f"entity reference {name} (entities are never expanded)"
            return reason, where_line, where_column, entity.start()
        probe = _new_parser()
        prefix = self.xml_decl + b"<nmaprun>"
        try:
            # Closing the probe makes libxml2 report what a push parser keeps waiting on
            # (a quote that never closes), so both reader modes name the same reason.
            probe.feed(prefix + raw + b"</nmaprun>")
            probe.read_events()
            probe.close()
        except etree.XMLSyntaxError as exc:
            rel_line = exc.lineno or 1
            rel_col = exc.offset
            if rel_line == 1 and rel_col is not None:
                return _message(exc), line, column + max(0, rel_col - len(prefix) - 1), 0
            return _message(exc), line + rel_line - 1, rel_col, 0
        try:
            found = _namespace_use(_build_tree(self.xml_decl, raw))
        except etree.XMLSyntaxError:
            found = None  # libxml2 stopped silently (a NUL byte): the first error says why
        if found is not None:
            what, rel_line = found
            return what, line + rel_line - 1, None if rel_line > 1 else column, 0
        return _message(error), line, column, 0

    def truncation(self, index: int, inside: str | None, inside_line: int | None) -> Truncation:
        end_line, end_column, end_offset = self.where(len(self.buf))
        what = f" inside <{inside}> (started at line {inside_line})" if inside else ""
        self.doc.problem(
            "error",
            f"input ended early{what}: {self.hosts} complete host(s) kept",
            end_line,
            end_column,
            end_offset,
            ExitStatus.INCOMPLETE,
        )
        gap_end = _skip_whitespace(self.buf, self.pos)
        gap = bytes(self.buf[self.pos : min(gap_end, index)])
        self.advance(len(self.buf))
        return Truncation(gap, end_line, end_column, end_offset, inside, inside_line)

    def finish(self, gap: bytes, tag: Tag) -> Iterator[Item]:
        end_tag = bytes(self.buf[tag.start : tag.end])
        if _ROOT_END.fullmatch(end_tag) is None:  # "</nmaprun junk>": its bytes are copied
            self.skip(tag, "malformed </nmaprun> end tag replaced")
            end_tag = b"</nmaprun>"
        else:
            self.advance(tag.end)
        yield Epilogue(gap, end_tag + self.checked_rest(gap + end_tag))


def _build_tree(xml_decl: bytes, data: bytes) -> etree._Element:
    """``data`` parsed as the content of an ``<nmaprun>`` document of its own (line 1 = its
    first line), with libxml2's every rule, namespaces and nesting limit included."""
    return etree.fromstring(xml_decl + b"<nmaprun>" + data + b"</nmaprun>", _new_strict())


def _build_exact(xml_decl: bytes, data: bytes) -> etree._Element:
    """The exact decision for a piece (see :meth:`_Reader.parse_host`): the tree of an
    ``<nmaprun>`` holding it, or XMLSyntaxError, also for any use of a namespace."""
    root = _build_tree(xml_decl, data)
    found = _namespace_use(root)
    if found is not None:
        raise _syntax_error(found[0], found[1])
    return root


def _namespace_use(root: etree._Element) -> tuple[str, int] | None:
    """The first use of a namespace under ``root`` as (reason, line), or None.

    Why refuse even declared namespaces: Nmap never writes one, every consumer of Nmap XML
    looks names up without a namespace (a ``<host xmlns="urn:x">`` would silently lose its
    ports), and a prefix declared outside a host would not travel with the host's bytes.
    """
    for element in root.iter(etree.Element):
        # lxml-stubs leaves sourceline untyped; lxml's is an int, or None if unknown.
        line = cast("int | None", element.sourceline) or 1
        declared = element.nsmap
        if declared:
            prefix, uri = next(iter(declared.items()))
            name = f"xmlns:{prefix}" if prefix else "xmlns"
            return f'namespace declaration {name}="{uri}" (Nmap XML has no namespaces)', line
        prefixes = {uri: prefix for prefix, uri in declared.items()}
        prefixes[_XML_NAMESPACE] = "xml"
        for name in (element.tag, *element.attrib):
            if name.startswith("{"):
                qname = etree.QName(name)
                prefix = prefixes.get(qname.namespace or "", "")
                what = f"{prefix}:{qname.localname}"
                return f"namespace prefix in name {what} (Nmap XML has no namespaces)", line
    return None


def _skip_whitespace(buf: bytearray, index: int) -> int:
    length = len(buf)
    while index < length and buf[index] in _WHITESPACE:
        index += 1
    return index


def _message(error: etree.XMLSyntaxError) -> str:
    """libxml2's message without lxml's ``(line N)`` suffix, which we compute ourselves."""
    text = str(error.msg if getattr(error, "msg", None) else error)
    cut = text.find(", line ")
    # libxml2 ends some messages with a newline; a problem is always one line.
    return " ".join((text[:cut] if cut != -1 else text).split())


def _name(tag: Tag) -> str:
    return tag.name.decode("utf-8", "replace")


def _position(raw: bytes, index: int, line: int, column: int) -> tuple[int, int]:
    """Line and column of ``raw[index]`` when ``raw`` starts at (line, column)."""
    newlines = raw.count(b"\n", 0, index)
    if not newlines:
        return line, column + index
    return line + newlines, index - raw.rfind(b"\n", 0, index)
