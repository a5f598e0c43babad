"""``--script`` rule selection and runlevels, as ``nse_main.lua`` ``get_chosen_scripts`` does it.

Users bring ``--script`` expressions they already use with Nmap, so the same expression must
select the same scripts, flagged the same way (selected by name → verbosity boost, ``+`` →
forced). This module transcribes Nmap's LPeg rule grammar and selection loop over an
abstract catalogue (nmapx's equivalent of ``script.db``); the caller does all file access
through ``load_path``. Everything below was compared with Nmap 7.93 using
``nmap -d2 --script-help '<rules>'``, which prints "Script X was selected by name|category|
file path|directory [and forced to run]" for each script it loads and sends no packets.

Grammar (per script; ``K(w)`` is a case-insensitive keyword followed by whitespace, ``(``,
``)``, ``,`` or the end)::

    rule       = space* expression space* END
    expression = disjunct / conjunct / value             (PEG ordered choice)
    disjunct   = (conjunct / value) space* K"or" space* expression
    conjunct   = value space* K"and" space* expression
    value      = K"not" space* value / "(" space* expression space* ")"
               / K"true" / K"false" / K"all" / K(<one of this script's categories>)
               / path                                    (1+ of "!".."'" and "*".."~")

Consequences that surprise people, all confirmed with Nmap 7.93:

* It is *not* Lua precedence. ``a and b or c`` parses as ``a and (b or c)``: the
  ``conjunct`` inside ``disjunct`` swallows ``b or c`` through its right-hand
  ``expression``, then ``disjunct`` finds no ``or`` and fails, and the plain ``conjunct``
  alternative wins. So ``banner and default or http-title`` selects nothing (and fails as a
  path) where Lua precedence would select http-title. ``or`` before ``and`` behaves as
  usual (``a or b and c`` = ``a or (b and c)``); parentheses work.
* A category token only counts as a category for scripts that have that category; for any
  other script it is a name glob (which, in practice, matches nothing).
* Name globs: an optional ``.nse`` suffix is removed (nmapx also removes ``.py``), ``*`` is
  the only wildcard (``?`` is literal), the whole id must match, case-sensitively
  (``Daytime`` fails while ``DEFAULT`` works). A script counts as selected by name if any
  glob token of the selecting rule matched its id, even one under ``not``'s sibling
  (``not banner and http-title`` selects http-title by name).
* ``not``, ``and``, ``or`` alone, ``false`` and syntax errors (``default and``) select
  nothing, so they are tried as paths and fail with "did not match ...".
* The first rule (in command-line order) that selects a script decides its flags; later
  rules do not add ``forced`` or ``by name``: ``banner and safe,+banner`` runs banner
  unforced. The forced flag belongs to the rule *text*: when the same text appears with and
  without ``+``, the last occurrence decides for both.
* Each file is loaded once, keyed by its path: a path rule naming a file that a catalogue
  rule already loaded *by another path string* loads it again, and the two copies fail the
  duplicate-id check (``banner,/usr/share/nmap/scripts/banner.nse`` →
  ``duplicate script ID: 'banner'``).

Deviations (deliberate): rules that matched nothing are tried as paths in first-appearance
order (Nmap walks a Lua hash, so its order of path scripts and of the first error is
unspecified); a rule containing a backslash is used as written (Nmap doubles backslashes for
Windows paths, which breaks its own bookkeeping for such rules); ``-sV``'s implicit
``version`` rule does not exist in nmapx.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from nmapx.errors import SelectionError

__all__ = [
    "ScriptInfo",
    "Selected",
    "evaluate_rule",
    "glob_matches",
    "runlevels",
    "select",
    "split_rules",
]

#: C-locale ``isspace`` (LPeg's ``locale().space``); ``str.isspace`` would accept Unicode.
_SPACE = " \t\n\v\f\r"
#: What may follow a keyword (``K`` in nse_main.lua).
_KEYWORD_END = _SPACE + "(),"


def _is_path_char(c: str) -> bool:
    """``R("\\033\\039", "\\042\\126")``: printable ASCII except space, ``(`` and ``)``."""
    return "!" <= c <= "'" or "*" <= c <= "~"


@dataclass(frozen=True)
class ScriptInfo:
    """What selection needs to know about an available script."""

    #: The script id (file basename without its extension), matched by name globs.
    id: str
    #: Lowercase category names (matched case-insensitively, as script.db stores them).
    categories: tuple[str, ...]
    #: Where the script lives; a file is loaded once per distinct path string.
    path: str


How = Literal["name", "category", "file path", "directory"]


@dataclass(frozen=True)
class Selected:
    """A chosen script and how it was chosen (Nmap's ``script_params``)."""

    info: ScriptInfo
    #: Selected by a matching name glob or a file path: gets the verbosity boost (§6.5).
    by_name: bool
    #: From a ``+`` rule: the rule function is not called, the action always runs (§1.2).
    forced: bool
    #: ``"name" | "category" | "file path" | "directory"``, as in Nmap's debug message.
    how: How


# ---------------------------------------------------------------------------------------
# Rule splitting
# ---------------------------------------------------------------------------------------


def split_rules(values: Iterable[str]) -> list[tuple[str, bool]]:
    """Split ``--script`` option values into ``(rule, forced)`` pairs, in order.

    Every comma splits (no quoting), surrounding whitespace is trimmed, then a leading ``+``
    is removed and marks the rule forced. Whatever follows the ``+`` is kept as is (Nmap
    does not trim again: ``+ x`` is the rule ``" x"``, which the grammar accepts but which is
    also the text of a path lookup and of the error message). Empty rules are dropped.
    """
    out: list[tuple[str, bool]] = []
    for value in values:
        for piece in value.split(","):
            rule = piece.strip(_SPACE)
            forced = rule.startswith("+")
            if forced:
                rule = rule[1:]
            if rule:
                out.append((rule, forced))
    return out


# ---------------------------------------------------------------------------------------
# The rule grammar
# ---------------------------------------------------------------------------------------

#: The AST: a literal, a category keyword (true for the entry it was parsed for), a glob, and
#: the three operators.
_Node: TypeAlias = (
    tuple[Literal["lit"], bool]
    | tuple[Literal["cat"]]
    | tuple[Literal["glob"], str]
    | tuple[Literal["not"], "_Node"]
    | tuple[Literal["and", "or"], "_Node", "_Node"]
)
#: (position after the match, node), or None when the production does not match.
_Parsed: TypeAlias = tuple[int, _Node] | None


def _ascii_fold(c: str) -> str:
    return c.lower() if "A" <= c <= "Z" else c


class _RuleParser:
    """One parse of one rule for one category set.

    The categories are part of the grammar (``T.category`` is rebuilt for every script.db
    entry), so the parse is per category set. Results are memoised per (production,
    position): a PEG without side effects gives the same answer every time, and without the
    memo ``a and b and c ...`` would take exponential time (as it does in LPeg).
    """

    def __init__(self, text: str, categories: Sequence[str]) -> None:
        self.text = text
        # "all" is tried first, then the entry's own categories in their order; an empty
        # category cannot be a keyword (Nmap would die on it), so it is left out.
        self.keywords = ["all", *(c for c in categories if c)]
        self.memo: dict[tuple[str, int], _Parsed] = {}

    def parse(self) -> _Node | None:
        pos = self._space(0)
        result = self._expression(pos)
        if result is None:
            return None
        end, node = result
        if self._space(end) != len(self.text):
            return None
        return node

    # -- lexical helpers -----------------------------------------------------------------

    def _space(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos] in _SPACE:
            pos += 1
        return pos

    def _keyword(self, pos: int, word: str) -> int | None:
        """``K(word)``: case-insensitive (ASCII only, like Lua's lower/upper) and followed by
        whitespace, a parenthesis, a comma or the end."""
        end = pos + len(word)
        chunk = self.text[pos:end]
        if len(chunk) != len(word):
            return None
        if any(_ascii_fold(a) != _ascii_fold(b) for a, b in zip(chunk, word, strict=True)):
            return None
        if end < len(self.text) and self.text[end] not in _KEYWORD_END:
            return None
        return end

    # -- productions ---------------------------------------------------------------------

    def _memo(self, name: str, pos: int, fn: Callable[[int], _Parsed]) -> _Parsed:
        key = (name, pos)
        if key not in self.memo:
            self.memo[key] = fn(pos)
        return self.memo[key]

    def _expression(self, pos: int) -> _Parsed:
        return self._memo("expression", pos, self._expression_raw)

    def _expression_raw(self, pos: int) -> _Parsed:
        return self._disjunct(pos) or self._conjunct(pos) or self._value(pos)

    def _disjunct(self, pos: int) -> _Parsed:
        # (conjunct + value): once conjunct succeeds the choice is committed; if no "or"
        # follows, the whole disjunct fails (value is not retried). This is what makes
        # "a and b or c" mean "a and (b or c)".
        left = self._conjunct(pos) or self._value(pos)
        if left is None:
            return None
        kw = self._keyword(self._space(left[0]), "or")
        if kw is None:
            return None
        right = self._expression(self._space(kw))
        if right is None:
            return None
        return right[0], ("or", left[1], right[1])

    def _conjunct(self, pos: int) -> _Parsed:
        return self._memo("conjunct", pos, self._conjunct_raw)

    def _conjunct_raw(self, pos: int) -> _Parsed:
        left = self._value(pos)
        if left is None:
            return None
        kw = self._keyword(self._space(left[0]), "and")
        if kw is None:
            return None
        right = self._expression(self._space(kw))
        if right is None:
            return None
        return right[0], ("and", left[1], right[1])

    def _value(self, pos: int) -> _Parsed:
        return self._memo("value", pos, self._value_raw)

    def _value_raw(self, pos: int) -> _Parsed:
        text = self.text
        kw = self._keyword(pos, "not")
        if kw is not None:
            inner = self._value(self._space(kw))
            if inner is not None:
                return inner[0], ("not", inner[1])
        if text.startswith("(", pos):
            inner = self._expression(self._space(pos + 1))
            if inner is not None:
                close = self._space(inner[0])
                if text.startswith(")", close):
                    return close + 1, inner[1]
        for word, value in (("true", True), ("false", False)):
            kw = self._keyword(pos, word)
            if kw is not None:
                return kw, ("lit", value)
        for word in self.keywords:
            kw = self._keyword(pos, word)
            if kw is not None:
                return kw, ("cat",)
        end = pos
        while end < len(text) and _is_path_char(text[end]):
            end += 1
        if end == pos:
            return None
        return end, ("glob", text[pos:end])


_GLOB_CACHE: dict[str, re.Pattern[str]] = {}


def _glob_regex(token: str) -> re.Pattern[str]:
    pattern = _GLOB_CACHE.get(token)
    if pattern is None:
        name = token
        for suffix in (".nse", ".py"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
                break
        pattern = re.compile(".*".join(re.escape(part) for part in name.split("*")), re.DOTALL)
        _GLOB_CACHE[token] = pattern
    return pattern


def glob_matches(token: str, script_id: str) -> bool:
    """Nmap's ``match_script``: drop one ``.nse`` (or, for nmapx, ``.py``) suffix, ``*``
    matches anything, everything else is literal, the whole id must match, case counts."""
    return _glob_regex(token).fullmatch(script_id) is not None


def _evaluate(node: _Node, script_id: str) -> tuple[bool, bool]:
    """(value, a glob matched). Every leaf is evaluated, no short circuit: LPeg evaluates
    all captures of the successful parse, and ``match_script`` records a name match as a
    side effect, so a glob anywhere in the rule counts."""
    if node[0] == "lit":
        return node[1], False
    if node[0] == "cat":
        return True, False
    if node[0] == "glob":
        found = glob_matches(node[1], script_id)
        return found, found
    if node[0] == "not":
        value, named = _evaluate(node[1], script_id)
        return not value, named
    left, named_l = _evaluate(node[1], script_id)
    right, named_r = _evaluate(node[2], script_id)
    value = (left and right) if node[0] == "and" else (left or right)
    return value, named_l or named_r


def evaluate_rule(rule: str, info: ScriptInfo) -> tuple[bool, bool] | None:
    """Evaluate one rule (without its ``+``) for one script: ``(selected, by_name)``, or
    ``None`` when the rule does not parse (which selects nothing)."""
    node = _parse(rule, info.categories)
    if node is None:
        return None
    return _evaluate(node, info.id)


def _parse(rule: str, categories: Sequence[str]) -> _Node | None:
    try:
        return _RuleParser(rule, categories).parse()
    except RecursionError:  # absurd nesting; LPeg would fail too
        return None


# ---------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------


def select(
    rules: list[str],
    catalogue: Sequence[ScriptInfo],
    load_path: Callable[[str], list[ScriptInfo] | None],
) -> list[Selected]:
    """Choose scripts for the ``--script`` option values ``rules`` (each may hold several
    comma-separated rules), as ``get_chosen_scripts`` does.

    1. Every catalogue entry, in catalogue order, is tested against every rule in order;
       the first rule that selects it decides ``by_name``/``forced``/``how``.
    2. Each rule that selected no catalogue entry is passed to ``load_path`` (in order of
       first appearance). ``load_path`` resolves it as Nmap would (the rule, then the rule
       plus the extension) and returns the scripts of that file, or the scripts of a
       directory when the rule ends in ``/``; ``None`` when nothing exists; it raises
       :class:`SelectionError` itself for a directory named without ``/``
       (``directory '<path>' found, but will not match without '/'``). A rule ending in
       ``/`` gives ``how="directory"`` (not by name, as in Nmap), any other ``how="file
       path"`` (by name).
    3. A path already loaded is not loaded again; two loaded scripts with the same id fail.
    """
    pairs = split_rules(rules)
    order: list[str] = []
    forced_of: dict[str, bool] = {}
    for rule, forced in pairs:
        if rule not in forced_of:
            order.append(rule)
        forced_of[rule] = forced  # keyed by text: the last occurrence decides

    parse_cache: dict[tuple[str, tuple[str, ...]], _Node | None] = {}
    used: set[str] = set()
    loaded: set[str] = set()
    chosen: list[Selected] = []

    for info in catalogue:
        first: Selected | None = None
        for rule in order:
            key = (rule, info.categories)
            if key not in parse_cache:
                parse_cache[key] = _parse(rule, info.categories)
            node = parse_cache[key]
            if node is None:
                continue
            value, by_name = _evaluate(node, info.id)
            if not value:
                continue
            used.add(rule)  # keep going: later rules must be marked used too
            if first is None:
                how: How = "name" if by_name else "category"
                first = Selected(info, by_name, forced_of[rule], how)
        if first is not None and info.path not in loaded:
            loaded.add(info.path)
            chosen.append(first)

    for rule in order:
        if rule in used:
            continue
        found = load_path(rule)
        if found is None:
            raise SelectionError(f"'{rule}' did not match a category, filename, or directory")
        directory = rule.endswith("/")
        for info in found:
            if info.path in loaded:
                continue
            loaded.add(info.path)
            if directory:
                chosen.append(Selected(info, False, forced_of[rule], "directory"))
            else:
                chosen.append(Selected(info, True, forced_of[rule], "file path"))

    _check_duplicates(chosen)
    return chosen


def _check_duplicates(chosen: Iterable[Selected]) -> None:
    seen: set[str] = set()
    for selected in chosen:
        if selected.info.id in seen:
            raise SelectionError(f"duplicate script ID: '{selected.info.id}'")
        seen.add(selected.info.id)


def runlevels(
    selected: Sequence[Selected], dependencies: Mapping[str, Sequence[str]]
) -> dict[str, int]:
    """Runlevel per selected script id (``calculate_runlevel``): 1 without selected
    dependencies, else 1 + the highest runlevel among them. Dependencies that were not
    selected are ignored (they never pull a script in). A cycle raises
    ``circular dependency in chain `a->b->a``` with the ids in the order the depth-first
    walk met them (selection order, then each script's dependency order), as Nmap prints.
    """
    _check_duplicates(selected)
    ids = {s.info.id for s in selected}
    done: dict[str, int] = {}
    in_progress: set[str] = set()  # Lua's `false` placeholder
    chain: list[str] = []

    def calculate(script_id: str) -> int:
        chain.append(script_id)
        if script_id in in_progress:
            raise SelectionError(f"circular dependency in chain `{'->'.join(chain)}`")
        in_progress.add(script_id)
        result = 1
        for dependency in dependencies.get(script_id, ()):
            if dependency in ids:
                known = done.get(dependency)
                result = max(result, (known if known is not None else calculate(dependency)) + 1)
        chain.pop()
        in_progress.discard(script_id)
        done[script_id] = result
        return result

    for s in selected:
        if s.info.id not in done:
            calculate(s.info.id)
    return {s.info.id: done[s.info.id] for s in selected}
