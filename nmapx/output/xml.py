"""The Nmap XML writer: the input's own bytes, with script results spliced in.

Copying the input byte for byte is what guarantees that an archived scan changes only where
nmapx added something, whatever Nmap version, escaping or indentation wrote it; it is also the
fastest possible pass-through. New ``<script>``, ``<hostscript>``, ``<prescript>`` and
``<postscript>`` elements go exactly where Nmap puts them (docs/nse-semantics.md §5.5), in
Nmap's layout and escaping (:mod:`nmapx.model.results`). Where a container receives new
results, all of its scripts are written in script-id order, and a result already present for
the same id is replaced by the new one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

from nmapx.errors import NmapxError
from nmapx.model.host import Host, parse_attributes
from nmapx.model.results import ScriptResult
from nmapx.model.values import int_or
from nmapx.nmapxml.escape import xml_text
from nmapx.nmapxml.parsers import safe_parser
from nmapx.nmapxml.reader import Epilogue, Prologue, TopLevelItem, Truncation
from nmapx.nmapxml.scan import Tag, iter_tags
from nmapx.output.atomic import AtomicOutput
from nmapx.output.base import ScriptPhaseResults, StreamItem

#: The children nmap.dtd requires at the start of ``<nmaprun>`` (``scaninfo*, verbose,
#: debugging``), which a document cut off in its header may lack.
_HEADER = ("scaninfo", "verbose", "debugging")
#: What a cut-off header is completed with. The levels are not known, so they are left out
#: (the DTD makes ``level`` optional) rather than invented.
_REQUIRED_HEADER = ((b"verbose", b"<verbose/>\n"), (b"debugging", b"<debugging/>\n"))


@dataclass(slots=True)
class _Container:
    """Where a container's scripts are in the raw bytes, and where new ones would go."""

    insert_at: int
    scripts: list[tuple[str, int, int]] = field(default_factory=list)  # (id, start, end)
    #: A port's ``<service>`` element (start, end), and where one goes when it has none:
    #: after ``<state>`` and ``<owner>``, as Nmap orders a port's children.
    service: tuple[int, int] | None = None
    service_at: int = 0
    #: A port's ``<state>`` element (start, end).
    state: tuple[int, int] | None = None


@dataclass(slots=True)
class _HostLayout:
    ports: dict[tuple[str, int], _Container] = field(default_factory=dict)
    hostscript: _Container | None = None
    #: Where a new ``<hostscript>`` goes: before ``<trace>``/``<times>``, else before ``</host>``.
    hostscript_at: int = 0


def _attribute(tag_bytes: bytes, name: str) -> str:
    return parse_attributes(tag_bytes).get(name, "")


def _layout(raw: bytes) -> _HostLayout:
    """Find the byte positions of ports, scripts and the hostscript slot in one host."""
    layout = _HostLayout()
    stack: list[bytes] = []
    port: _Container | None = None
    script_start: tuple[str, int] | None = None
    service_start: int | None = None
    tags: list[Tag] = iter_tags(raw, 0, len(raw))
    for tag in tags:
        if tag.kind not in ("start", "empty", "end"):
            continue
        depth = len(stack)
        if tag.kind == "end":
            name = stack.pop() if stack else b""
            if name == b"script" and script_start is not None and len(stack) in (2, 3):
                script_id, start = script_start
                _owner(layout, port, len(stack)).scripts.append((script_id, start, tag.end))
                script_start = None
            elif name == b"service" and port is not None and len(stack) == 3:
                if service_start is not None and port.service is None:
                    port.service = (service_start, tag.end)
                service_start = None
            elif name in (b"state", b"owner") and port is not None and len(stack) == 3:
                port.service_at = tag.end
                if name == b"state" and port.state is not None and port.state[1] < tag.end:
                    port.state = (port.state[0], tag.end)
            elif name == b"port" and port is not None and len(stack) == 2:
                port.insert_at = tag.start
                port = None
            elif name == b"hostscript" and layout.hostscript is not None and len(stack) == 1:
                layout.hostscript.insert_at = tag.start
            elif name == b"host" and not stack and not layout.hostscript_at:
                layout.hostscript_at = tag.start
            continue
        text = raw[tag.start : tag.end]
        if depth == 1 and tag.name in (b"trace", b"times") and not layout.hostscript_at:
            layout.hostscript_at = tag.start
        if depth == 2 and tag.name == b"port" and stack[-1] == b"ports":
            key = (_attribute(text, "protocol"), int(_attribute(text, "portid") or -1))
            port = _Container(insert_at=tag.end, service_at=tag.end)
            layout.ports.setdefault(key, port)  # a repeated port gets no results
        elif depth == 3 and port is not None and tag.name in (b"state", b"owner"):
            if tag.kind == "empty":
                port.service_at = tag.end
            if tag.name == b"state" and port.state is None:
                port.state = (tag.start, tag.end)  # Nmap's is empty; a start tag is replaced whole

        elif depth == 3 and port is not None and tag.name == b"service":
            if tag.kind == "empty":
                port.service = port.service or (tag.start, tag.end)
            else:
                service_start = tag.start
        elif depth == 1 and tag.name == b"hostscript":
            layout.hostscript = _Container(insert_at=tag.end)
        elif tag.name == b"script" and (
            (depth == 3 and port is not None) or (depth == 2 and stack[-1] == b"hostscript")
        ):
            if tag.kind == "empty":
                _owner(layout, port, depth).scripts.append(
                    (_attribute(text, "id"), tag.start, tag.end)
                )
            else:
                script_start = (_attribute(text, "id"), tag.start)
        if tag.kind == "start":
            stack.append(tag.name)
    return layout


def _owner(layout: _HostLayout, port: _Container | None, depth: int) -> _Container:
    if depth == 3 and port is not None:
        return port
    assert layout.hostscript is not None
    return layout.hostscript


def merge_scripts(
    raw: bytes, existing: Iterable[tuple[str, int, int]], new: Iterable[ScriptResult]
) -> bytes:
    """All scripts of one container, sorted by id; new results replace same-id old ones."""
    by_id: dict[str, bytes] = {script_id: raw[start:end] for script_id, start, end in existing}
    for result in new:
        by_id[result.id] = result.to_xml()
    return b"".join(by_id[key] for key in sorted(by_id))


def enriched_bytes(host: Host) -> bytes:
    """:func:`enrich_host`, computed once per host however many writers ask (cached in
    :attr:`Host.enriched <nmapx.model.host.Host.enriched>`)."""
    if host.enriched is None:
        host.enriched = enrich_host(host)
    return host.enriched


_ENRICHED_PARSER = safe_parser()


def enriched_element(host: Host) -> etree._Element:
    """The host's element with its new results: what every format that reads inside hosts
    formats (``-oN``, the reports), so that they show exactly what the XML output holds.

    Parsed from :func:`enriched_bytes` (as they are, without the input's XML declaration);
    a host without new results is its own :attr:`~nmapx.model.host.Host.element`. Each call
    parses afresh: a caller may keep or change the tree without affecting another format's.
    """
    if not host.has_results:
        return host.element
    return etree.fromstring(enriched_bytes(host), _ENRICHED_PARSER)


def enrich_host(host: Host) -> bytes:
    """The host's bytes with its new results spliced in (its own bytes if there are none)."""
    if not host.has_results:
        return host.raw
    raw = host.raw
    layout = _layout(raw)
    # (start, order, end, bytes): a new <service> goes before new scripts at the same place.
    edits: list[tuple[int, int, int, bytes]] = []
    for (protocol, number), state in host.state_results.items():
        container = _listed_port(host, layout, protocol, number)
        start, end = container.state or (container.service_at, container.service_at)
        edits.append((start, 0, end, state.to_xml()))
    for (protocol, number), service in host.service_results.items():
        container = _listed_port(host, layout, protocol, number)
        start, end = container.service or (container.service_at, container.service_at)
        edits.append((start, 0, end, service.to_xml()))
    for (protocol, number), results in host.port_results.items():
        container = _listed_port(host, layout, protocol, number)
        edits.append(_container_edit(raw, container, results))
    if host.host_results:
        if layout.hostscript is not None:
            edits.append(_container_edit(raw, layout.hostscript, host.host_results))
        else:
            body = merge_scripts(raw, (), host.host_results)
            edits.append(
                (
                    layout.hostscript_at,
                    1,
                    layout.hostscript_at,
                    b"<hostscript>" + body + b"</hostscript>",
                )
            )
    edits.sort(key=lambda edit: edit[:2])
    pieces = []
    pos = 0
    for start, _order, end, replacement in edits:
        pieces.append(raw[pos:start])
        pieces.append(replacement)
        pos = end
    pieces.append(raw[pos:])
    return b"".join(pieces)


def _listed_port(host: Host, layout: _HostLayout, protocol: str, number: int) -> _Container:
    container = layout.ports.get((protocol, number))
    if container is None:
        raise NmapxError(
            f"cannot add results to {number}/{protocol}: the port is not listed in the input",
            source=host.context.source,
            line=host.line,
        )
    return container


def _container_edit(
    raw: bytes, container: _Container, results: list[ScriptResult]
) -> tuple[int, int, int, bytes]:
    merged = merge_scripts(raw, container.scripts, results)
    if container.scripts:
        return container.scripts[0][1], 1, container.scripts[-1][2], merged
    return container.insert_at, 1, container.insert_at, merged


def wrap_scripts(container: str, results: Iterable[ScriptResult], raw: bytes = b"") -> bytes:
    """A ``<prescript>``/``<postscript>`` element: ``raw`` (an existing one) merged with results."""
    existing: list[tuple[str, int, int]] = []
    if raw:
        depth = 0
        for tag in iter_tags(raw, 0, len(raw)):
            if tag.kind == "start":
                depth += 1
                if depth == 2 and tag.name == b"script":
                    start = tag.start
                    script_id = _attribute(raw[tag.start : tag.end], "id")
            elif tag.kind == "end":
                if depth == 2 and tag.name == b"script":
                    existing.append((script_id, start, tag.end))
                depth -= 1
            elif tag.kind == "empty" and depth == 1 and tag.name == b"script":
                existing.append((_attribute(raw[tag.start : tag.end], "id"), tag.start, tag.end))
    body = merge_scripts(raw, existing, results)
    return f"<{container}>".encode() + body + f"</{container}>".encode()


class XmlWriter:
    """Writes the pieces of a :class:`~nmapx.nmapxml.reader.Document` as enriched Nmap XML.

    Script-phase results are written where they arrive in the stream
    (:class:`~nmapx.output.base.DocumentWriters` places them where Nmap does): merged into the
    input's own element, or standing alone after the whitespace that leads into the next piece.
    """

    def __init__(self, out: AtomicOutput, *, flush_hosts: bool = False) -> None:
        self.out = out
        self.flush_hosts = flush_hosts
        #: A ``<prescript>``/``<postscript>`` to write between the next piece's leading
        #: whitespace and the piece itself (that whitespace belongs to the piece).
        self._held = b""
        self._runstats_written = False
        self.hosts_up = 0
        self.hosts_down = 0
        self.start_time = 0
        self.last_time = 0
        self._empty_root = False
        #: Header children written so far, and whether anything after the header was.
        self._header_seen: set[bytes] = set()
        self._past_header = False

    def write(self, item: StreamItem) -> None:
        if isinstance(item, Prologue):
            self.out.write(item.raw)
            self._empty_root = item.empty_root
            self.start_time = self.last_time = int_or(item.root.get("start"))
        elif isinstance(item, Host):
            self._past_header = True
            self._before(item.gap)
            self.out.write(enriched_bytes(item))
            self._count(item)
            if self.flush_hosts:
                self.out.flush()
        elif isinstance(item, TopLevelItem):
            self._top_level(item)
        elif isinstance(item, ScriptPhaseResults):
            self._script_phase(item)
        elif isinstance(item, Epilogue):
            self._before(item.gap)
            if not self._runstats_written and not self._empty_root:
                # The input's <runstats> was malformed and skipped: the DTD requires one.
                total = self.hosts_up + self.hosts_down
                message = f"nmapx: the input's <runstats> was malformed; {total} host(s) kept"
                self.out.write((b"" if item.gap else b"\n") + self._error_runstats(message))
            self.out.write(item.raw)
        elif isinstance(item, Truncation):
            self._truncated(item)

    def close(self) -> None:
        """Nothing to finish: the document's end (or its truncation) closed the XML."""

    def _before(self, gap: bytes) -> None:
        """Write the whitespace leading into the next piece, then what is held for it."""
        self.out.write(gap)
        if self._held:
            self.out.write(self._held)
            self._held = b""

    def _script_phase(self, item: ScriptPhaseResults) -> None:
        original = item.original
        if original is None:
            if item.results:
                self._held += wrap_scripts(item.phase, item.results)
            return
        self._past_header = True
        self._before(original.gap)
        self.out.write(
            wrap_scripts(item.phase, item.results, original.raw) if item.results else original.raw
        )

    def _top_level(self, item: TopLevelItem) -> None:
        if item.name in _HEADER:
            self._header_seen.add(item.name.encode())
        elif item.name is not None:
            self._past_header = True
        self._before(item.gap)
        if item.name == "runstats":
            self._runstats_written = True
        self.out.write(item.raw)
        if item.name == "host" or item.element is None:
            return
        for key in ("time", "endtime"):
            self.last_time = max(self.last_time, int_or(item.element.get(key)))

    def _count(self, host: Host) -> None:
        # Nmap writes <status> first; looking at the raw prefix avoids building anything.
        head = host.raw[:160]
        if b'<status state="up"' in head or (b"<status state=" not in head and host.status == "up"):
            self.hosts_up += 1
        else:
            self.hosts_down += 1
        endtime = _HOST_ENDTIME.match(host.raw)
        if endtime is not None:
            self.last_time = max(self.last_time, int(endtime[1]))

    def _truncated(self, item: Truncation) -> None:
        """Close a cut-off document validly: Nmap's own error ``<runstats>``, then the root.

        A document cut off in its header also gets the ``<verbose>``/``<debugging>`` the DTD
        requires before anything else (exit status 3 promises a valid document).
        """
        gap = item.gap
        missing = self._missing_header()
        if missing:
            gap = (gap or b"\n") + missing
        self._before(gap)
        if self._runstats_written:
            self.out.write(b"\n</nmaprun>\n" if not gap else b"</nmaprun>\n")
            return
        if not gap:
            self.out.write(b"\n")
        where = f"line {item.line}, byte {item.offset}"
        if item.inside:
            where += f", inside <{item.inside}> started at line {item.inside_line}"
        total = self.hosts_up + self.hosts_down
        message = f"nmapx: input ended early ({where}); {total} complete host(s) kept"
        self.out.write(self._error_runstats(message) + b"</nmaprun>\n")

    def _missing_header(self) -> bytes:
        """The required header children a document cut off in its header did not reach.

        Only while nothing but header children has been written: an input that lacks them
        altogether (very old Nmap) keeps its own shape once its hosts have been copied.
        """
        if self._past_header:
            return b""
        return b"".join(text for name, text in _REQUIRED_HEADER if name not in self._header_seen)

    def _error_runstats(self, message: str) -> bytes:
        """Nmap's own ``<runstats>`` for a scan that failed, carrying ``message``."""
        end = self.last_time or int(time.time())
        try:
            timestr = time.ctime(end)
        except (OverflowError, OSError, ValueError):  # a damaged time beyond any date
            end = int(time.time())
            timestr = time.ctime(end)
        total = self.hosts_up + self.hosts_down
        elapsed = max(0, end - self.start_time) if self.start_time else 0
        summary = (
            f"Nmap done at {timestr}; {total} IP address{'es' if total != 1 else ''} "
            f"({self.hosts_up} host{'s' if self.hosts_up != 1 else ''} up)"
            f" scanned in {elapsed:.2f} seconds"
        )
        return (
            b'<runstats><finished time="%d" timestr="%s" summary="%s" elapsed="%.2f"'
            b' exit="error" errormsg="%s"/>'
            % (end, xml_text(timestr), xml_text(summary), elapsed, xml_text(message))
            + b'<hosts up="%d" down="%d" total="%d"/>\n</runstats>\n'
            % (self.hosts_up, self.hosts_down, total)
        )


#: ``endtime`` in a ``<host>`` start tag, read from the bytes (only the truncation summary
#: needs it, and a pass-through has no element to ask).
_HOST_ENDTIME = re.compile(
    rb"""<host\s(?:[^>"']|"[^"]*"|'[^']*')*?\sendtime=["']([0-9]{1,12})["']"""
)
