"""The one safe lxml parser configuration: every parser nmapx builds comes from here.

Why one place: the input is whatever a user (or an attacker) hands nmapx, and a single parser
built with lxml's defaults would resolve entities (``resolve_entities='internal'`` since lxml
5) and so expand a "billion laughs" document. Duplicated parser flags drift the way duplicated
escaping does, so the flags are written once:

* ``resolve_entities=False``: entity references stay references; nothing is expanded.
* ``no_network=True``, ``load_dtd=False``, ``dtd_validation=False``: no DTD is fetched or
  read, locally or over the network.
* ``huge_tree=False``: libxml2 keeps its limits on depth and text size.
* ``remove_blank_text=False``: whitespace is data; hosts are written back byte for byte.

Before this module existed the flags were spelled out at eight call sites in six modules,
some leaving out ``dtd_validation``, ``huge_tree`` or ``remove_blank_text``; each left-out
flag was lxml's default with the same value, so every site already built this very
configuration. The two factories differ only in what lxml class they build: a parser for
whole documents and pieces (optionally with a parser target), and a pull parser fed a stream
chunk by chunk.

A parser fed incrementally keeps state between ``feed`` calls, so the callers that feed
take a new parser from a factory each time; one-shot ``etree.fromstring`` callers keep one
module-level parser, as they always did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from lxml import etree

__all__ = ["safe_parser", "safe_pull_parser"]

#: What an ``XMLPullParser`` can report (lxml's own names).
ParseEvent = Literal["start", "end", "start-ns", "end-ns", "comment", "pi"]


def safe_parser(target: etree.ParserTarget | None = None) -> etree.XMLParser:
    """A new ``XMLParser`` with the safe flags; ``target``: lxml's parser-target interface."""
    return etree.XMLParser(
        target=target,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def safe_pull_parser(
    events: Iterable[ParseEvent], tag: str | Sequence[str] | None = None
) -> etree.XMLPullParser:
    """A new ``XMLPullParser`` (fed chunk by chunk) reporting ``events`` for ``tag``."""
    return etree.XMLPullParser(
        events=events,
        tag=tag,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )
