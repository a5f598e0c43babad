"""Streaming ``-oN`` writer: Nmap normal output, one host at a time, from the reader's pieces.

:mod:`nmapx.output.normal` knows how Nmap prints each part; this adapter feeds it the pieces
as they stream by. Hosts are formatted from the enriched XML (the same bytes the XML writer
produces), so the ``|`` script lines always agree with the ``<script>`` elements.

Pre- and post-script results arrive as :class:`~nmapx.output.base.ScriptPhaseResults` where
Nmap's XML has them. Normal output prints nothing for most pieces, so it only has to keep two
facts of its own: pre-script results standing alone are printed with the next block that
prints (a host, the post-scan results, the footer), or merged into an input's
``Pre-scan script results`` block if one comes first, and merged into every such block; only
the first post-scan block is printed.
"""

from __future__ import annotations

from dataclasses import replace

from lxml import etree

from nmapx.model.host import Host
from nmapx.model.results import ScriptResult
from nmapx.model.values import truncated_int
from nmapx.nmapxml.parsers import safe_parser
from nmapx.nmapxml.reader import Epilogue, Prologue, TopLevelItem, Truncation
from nmapx.output.atomic import AtomicOutput
from nmapx.output.base import ScriptPhaseResults, StreamItem
from nmapx.output.normal import (
    NormalContext,
    encode_normal,
    format_footer,
    format_header,
    format_host,
    format_postscript,
    format_prescript,
)
from nmapx.output.xml import enriched_element, wrap_scripts

_SAFE = safe_parser()


def _element(raw: bytes) -> etree._Element:
    return etree.fromstring(raw, _SAFE)


class NormalWriter:
    """Writes a document's pieces as Nmap normal output."""

    def __init__(self, out: AtomicOutput, *, flush_hosts: bool = False) -> None:
        self.out = out
        self.flush_hosts = flush_hosts
        #: The pre-script results, once they have arrived (merged into every input block).
        self._prescript: tuple[ScriptResult, ...] = ()
        self._root: etree._Element | None = None
        self._scaninfo: list[etree._Element] = []
        self._verbose = 0
        self._debugging = 0
        self._context: NormalContext | None = None
        self._prescript_done = False
        self._postscript_done = False
        self._saw_os = False
        self._saw_trace = False

    def _emit(self, text: str) -> None:
        if text:
            self.out.write(encode_normal(text))

    def context(self) -> NormalContext:
        """Built at the first piece that needs it, once the scan-wide elements have passed."""
        if self._context is None:
            assert self._root is not None
            self._context = NormalContext.from_root(
                self._root, self._scaninfo, self._verbose, self._debugging
            )
        return self._context

    def write(self, item: StreamItem) -> None:
        if isinstance(item, Prologue):
            self._root = item.root
            self._emit(format_header(item.root))
        elif isinstance(item, Host):
            self._pending_prescript()
            element = enriched_element(item)
            self._saw_os = self._saw_os or element.find("os") is not None
            self._saw_trace = self._saw_trace or element.find("trace") is not None
            self._emit(format_host(element, self.context()))
            if self.flush_hosts:
                self.out.flush()
        elif isinstance(item, TopLevelItem):
            self._top_level(item)
        elif isinstance(item, ScriptPhaseResults):
            self._script_phase(item)
        elif isinstance(item, Epilogue | Truncation):
            self._pending_prescript()
            self._pending_postscript(None)

    def close(self) -> None:
        """Nothing to finish: the footer was written with the document's end."""

    def _script_phase(self, item: ScriptPhaseResults) -> None:
        if item.phase == "prescript":
            self._prescript = item.results
            if item.original is not None:
                self._input_prescript(item.original)
        else:
            self._pending_prescript()
            self._pending_postscript(item.original, item.results)

    def _top_level(self, item: TopLevelItem) -> None:
        element = item.element
        if element is None:
            return
        if item.name == "scaninfo":
            self._scaninfo.append(element)
        elif item.name in ("verbose", "debugging"):
            # Leniently, as NormalContext.from_root reads them: a damaged level is 0, never
            # a traceback.
            level = truncated_int(element.get("level"))
            if item.name == "verbose":
                self._verbose = level
            else:
                self._debugging = level
        elif item.name == "prescript":
            self._input_prescript(item)
        elif item.name == "postscript":
            self._pending_prescript()
            self._pending_postscript(item)
        elif item.name == "runstats":
            self._pending_prescript()
            self._pending_postscript(None)
            context = replace(
                self.context(),
                osscan=self.context().osscan or self._saw_os,
                traceroute=self.context().traceroute or self._saw_trace,
            )
            assert self._root is not None
            self._emit(format_footer(self._root, element, context))

    def _input_prescript(self, item: TopLevelItem) -> None:
        """An input's ``<prescript>``, with the pre-script results merged in."""
        element = item.element
        if element is None:
            return
        self._prescript_done = True
        if self._prescript:
            element = _element(wrap_scripts("prescript", self._prescript, item.raw))
        self._emit(format_prescript(element))

    def _pending_prescript(self) -> None:
        if not self._prescript_done:
            self._prescript_done = True
            if self._prescript:
                self._emit(format_prescript(_element(wrap_scripts("prescript", self._prescript))))

    def _pending_postscript(
        self, original: TopLevelItem | None, results: tuple[ScriptResult, ...] = ()
    ) -> None:
        """The post-scan block: ``original`` (an input's) with ``results`` merged in; once."""
        if self._postscript_done:
            return
        element = original.element if original is not None else None
        if original is not None and element is None:
            return
        self._postscript_done = True
        if results:
            raw = original.raw if original is not None else b""
            element = _element(wrap_scripts("postscript", results, raw))
        if element is not None:
            self._emit(format_postscript(element))
