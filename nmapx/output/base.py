"""What every output format builds on: one stream of items, one method to receive them.

Why a protocol: the pipeline knows nothing of formats. It hands each writer the reader's
pieces in input order (:data:`~nmapx.nmapxml.reader.Item`) through :meth:`Writer.write`, and
says :meth:`Writer.close` when the last one has been written; everything a format needs
reaches it through these two calls, never as an attribute set from outside.

Why pre- and post-script results are items: where they go in a document is a fact of Nmap's
own layout (docs/nse-semantics.md §5.5), the same whichever format renders it.
:class:`DocumentWriters` is the one place that decides it: it hands every writer a
:class:`ScriptPhaseResults` at that point of the stream, and each writer renders it where it
arrives, in its own way. The XML writer then keeps no placement state of its own; ``-oN`` and
the reports only keep what is truly theirs (see their ``ScriptPhaseResults`` handlers).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, TypeGuard

from nmapx.model.host import Host
from nmapx.nmapxml.reader import Epilogue, Item, TopLevelItem, Truncation

if TYPE_CHECKING:
    from nmapx.model.results import ScriptResult

Phase = Literal["prescript", "postscript"]

#: Where pending pre-script results go at the latest, as Nmap writes them: before the first of
#: these pieces (or, once ``<debugging>`` has ended the header, before whatever comes next).
_PRESCRIPT_BEFORE = frozenset({"prescript", "hosthint", "postscript", "runstats"})
#: The pieces that must follow every host and the post-rules (with ``</nmaprun>`` and the end
#: of a cut-off input).
_CLOSING = frozenset({"runstats", "postscript"})


@dataclass(frozen=True, slots=True)
class ScriptPhaseResults:
    """The results of the pre- or post-rules, at the point of the stream where they belong.

    ``original`` is the input's own ``<prescript>``/``<postscript>`` at that point: the results
    merge into it, and it does not come as a piece of its own. Without one, the results stand
    alone right before the next piece (after the whitespace that leads into it).
    ``results`` may be empty: the item still marks the place (a writer then renders
    ``original`` as it was, or nothing).
    """

    phase: Phase
    results: tuple[ScriptResult, ...] = ()
    original: TopLevelItem | None = None


#: What a writer receives: the reader's pieces, and the script-phase results among them.
StreamItem = Item | ScriptPhaseResults


class Writer(Protocol):
    """One output format's writer, as the pipeline and ``nmapx report`` drive it."""

    def write(self, item: StreamItem) -> None:
        """Render the next item (pieces arrive in input order, each exactly once)."""

    def close(self) -> None:
        """Every item has been written: finish the output (a report renders here).

        Not called when the run fails; the output is then discarded unwritten.
        """


class ReportWriter(Writer, Protocol):
    """A writer that merges several documents into one output (``nmapx report``)."""

    def start(self, label: str) -> None:
        """The next document's pieces belong to the scan called ``label``."""

    def discard(self) -> None:
        """Give up: no input could be read, nothing is to be written (frees what was kept)."""


def _is(item: Item, name: str) -> TypeGuard[TopLevelItem]:
    return isinstance(item, TopLevelItem) and item.name == name


class DocumentWriters:
    """The writers of one document: every piece to each, with the script phases placed.

    The one owner of *where* pre- and post-script results go (docs/nse-semantics.md §5.5):

    * pre-script results go into the input's own ``<prescript>`` if that comes first;
      otherwise right before the first host, ``<hosthint>``, ``<postscript>``,
      ``<runstats>`` or end of the document, or, once the header has ended with
      ``<debugging>``, right before whatever piece follows it (where Nmap writes them);
    * post-script results go at the first piece that must follow every host (:meth:`closes`):
      into the input's own ``<postscript>``, or right before ``<runstats>`` or the end.

    Both are placed in every document, with no results too (a pass-through, or post-rules
    skipped after a stop), so that a writer sees the same stream shape whatever ran.
    """

    def __init__(self, writers: Sequence[Writer], prescript: Iterable[ScriptResult] = ()) -> None:
        self.writers = tuple(writers)
        #: The pre-script results until they have been placed, then None.
        self._prescript: tuple[ScriptResult, ...] | None = tuple(prescript)
        self._after_header = False
        self._closed = False

    @property
    def postscript_due(self) -> bool:
        """Whether the post-script results' place is still to come."""
        return not self._closed

    def closes(self, item: Item) -> bool:
        """Whether ``item`` is where the post-script results go: the post-rules must have run
        before it is written."""
        if self._closed:
            return False
        if isinstance(item, Epilogue | Truncation):
            return True
        return isinstance(item, TopLevelItem) and item.name in _CLOSING

    def write(self, item: Item, postscript: Iterable[ScriptResult] = ()) -> None:
        """Hand ``item`` to every writer, after the script phases that go before it.

        ``postscript`` is used only when ``item`` :meth:`closes` the document.
        """
        if self._prescript is not None and self._prescript_before(item):
            results, self._prescript = self._prescript, None
            if _is(item, "prescript"):
                self._send(ScriptPhaseResults("prescript", results, item))
                return
            self._send(ScriptPhaseResults("prescript", results))
        if self.closes(item):
            self._closed = True
            if _is(item, "postscript"):
                self._send(ScriptPhaseResults("postscript", tuple(postscript), item))
                return
            self._send(ScriptPhaseResults("postscript", tuple(postscript)))
        self._send(item)
        if _is(item, "debugging"):
            self._after_header = True

    def _prescript_before(self, item: Item) -> bool:
        if self._after_header or isinstance(item, Host | Epilogue | Truncation):
            return True
        return isinstance(item, TopLevelItem) and item.name in _PRESCRIPT_BEFORE

    def _send(self, item: StreamItem) -> None:
        for writer in self.writers:
            writer.write(item)
