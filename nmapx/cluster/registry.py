"""How ``nmap.registry`` crosses processes: what a batch changed, and how changes merge.

In one process every script of a run shares one registry dict (NSE's ``nmap.registry``):
pre-rules fill it, host and port scripts add to it, post-rules read it. On a cluster each
batch of hosts runs in a worker with its own copy, so the copies must be merged back before
the post-rules run. The rule, applied per top-level key and recursively inside dicts:

* every batch starts from the registry as the pre-rules left it (a deep copy);
* a batch's **change** is computed against that start: a dict merges key by key; a list that
  still begins with its starting items contributes the items it appended; a set contributes
  the members it added; anything else (a number, a string, a list rewritten from scratch)
  is a replacement;
* changes are applied in **input order** of the batches (the order of their first hosts), so
  appended items keep the order of the hosts that appended them, and a replaced value is
  the one of the last batch (in input order) that replaced it.

This is exactly what the idioms NSE scripts use (``registry[id] = registry[id] or {}``, then
``table.insert`` or ``t[key] = value``) produce in one process, up to the order in which
concurrently running hosts touch the registry, which one process does not fix either.
Deleting a key is not carried over (a batch cannot tell a deletion from a key it never
saw). nmapx's own per-run objects (``nmap.mutex``/``condvar`` locks, keys ``("nmapx", ...)``)
stay in the process that made them, and a value that cannot be pickled is left out with a
warning: both are meaningful in one process only.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["Change", "apply", "change", "portable"]


@dataclass(frozen=True, slots=True)
class Change:
    """What one batch did to one value: ``kind`` is ``"merge"`` (``value``: a dict of
    changes by key), ``"append"`` (list items), ``"add"`` (set members) or ``"replace"``."""

    kind: str
    value: Any


def _local(key: Any) -> bool:
    """nmapx's own per-process entries (mutexes, condition variables)."""
    return isinstance(key, tuple) and bool(key) and key[0] == "nmapx"


def portable(registry: dict[Any, Any]) -> dict[Any, Any]:
    """The entries of ``registry`` that can travel to another process (see the module doc)."""
    kept: dict[Any, Any] = {}
    for key, value in registry.items():
        if _local(key):
            continue
        try:
            pickle.dumps(value)
        except Exception as exc:  # any pickling failure means the same: it cannot travel
            log.warning(
                "registry entry %r cannot be sent between processes (%s): left out", key, exc
            )
            continue
        kept[key] = value
    return kept


class _Missing:
    """The start of a key that a batch created."""


MISSING: Any = _Missing()


def change(start: Any, end: Any) -> Change | None:
    """What turned ``start`` into ``end`` (None: nothing). A key a batch created counts as
    grown from an empty value of its type, so two batches that each create
    ``registry["x"] = [...]`` both keep their items, as one process would."""
    if start is MISSING:
        if isinstance(end, dict):
            start = {}
        elif type(end) is list:
            start = []
        elif isinstance(end, set):
            start = set()
        else:
            return Change("replace", end)
    if isinstance(start, dict) and isinstance(end, dict):
        merged: dict[Any, Change] = {}
        for key, value in end.items():
            if _local(key):
                continue
            found = change(start.get(key, MISSING), value)
            if found is not None:
                merged[key] = found
        return Change("merge", merged) if merged else None
    if type(start) is list and type(end) is list and end[: len(start)] == start:
        added = end[len(start) :]
        return Change("append", added) if added else None
    if isinstance(start, set) and isinstance(end, set) and start <= end:
        grown = end - start
        return Change("add", grown) if grown else None
    if type(start) is type(end) and start == end:
        return None
    return Change("replace", end)


def apply(target: dict[Any, Any], found: Change | None) -> None:
    """Apply one batch's change of the whole registry to ``target`` (in place)."""
    if found is None:
        return
    assert found.kind == "merge"
    _merge_into(target, found.value)


def _merge_into(target: dict[Any, Any], changes: dict[Any, Change]) -> None:
    for key, item in changes.items():
        current = target.get(key)
        if item.kind == "merge" and isinstance(current, dict):
            _merge_into(current, item.value)
        elif item.kind == "append" and type(current) is list:
            current.extend(item.value)
        elif item.kind == "add" and isinstance(current, set):
            current.update(item.value)
        elif item.kind == "merge":  # the key was replaced by a non-dict meanwhile: rebuild
            fresh: dict[Any, Any] = {}
            _merge_into(fresh, item.value)
            target[key] = fresh
        elif item.kind == "append":
            target[key] = list(item.value)
        elif item.kind == "add":
            target[key] = set(item.value)
        else:
            target[key] = item.value
