"""``--script-args`` / ``--script-args-file`` parsing into the table scripts read.

Nmap parses script arguments with one LPeg grammar in ``nse_main.lua`` (the block that fills
``nmap.registry.args``) and scripts look them up with ``stdnse.lua``'s ``arg_value``
(:mod:`nmapx.model.args`, the library's side). Probe scripts
written for Nmap rely on the exact results, including the odd ones, so this module is a
transcription of that grammar, not a "reasonable" argument parser. Every case below was
checked against Nmap 7.93 (``nmap -d2 --script-args ... --script-help banner`` prints the
parsed table and sends no packets):

* The file text has its trailing commas stripped (only commas: a final newline stays), then
  ``file .. "," .. cli`` is wrapped in ``{ }`` and parsed, so the CLI beats the file.
  ``cli`` is ``""`` when ``--script-args`` was not given, and the comma is still added, so
  a file alone always yields one extra array item ``""``. When the joined text is empty
  (no file, no CLI args) nothing is parsed and the table is empty.
* Fields are separated by ``,`` or a newline (horizontal whitespace before, any whitespace
  after). ``key = value`` sets a keyed item, a bare value is appended to the array part, the
  last duplicate key wins.
* A value is ``{ fields }`` or a string; every value is a string (``x=1`` gives ``"1"``).
* An unquoted string is everything up to ``\\n , { } =``; leading and trailing horizontal
  whitespace is dropped, inner whitespace kept. It may be empty, which is why a trailing
  comma (``a=1,``), an empty field (``a,,b``), a newline followed by a comma (a file that
  ends in a newline, joined to CLI args) and even ``x={}`` each yield an array item ``""``.
* A quoted string uses ``"`` or ``'``; inside it only a backslash before the *same* quote or
  before a backslash is an escape, every other backslash is literal (``"a\\'b"`` keeps the
  backslash). A quote that is never closed is not a quoted string: the unquoted rule takes
  it, quote included. Outside quotes a backslash is literal.
* Keys are strings too (quoted or not, possibly empty: ``=x`` sets key ``""``).
* The outer table is not anchored at the end: ``a=b},c=d`` parses as ``{a="b"}`` and the rest
  is silently ignored, exactly as in Nmap.
* Anything else (``k=v=w``, ``a="x"y``) fails with ``arguments did not parse!``.

Deviation from Nmap (deliberate): Nmap looks a relative ``--script-args-file`` name up only
in its data directories (not even ``./file`` works). nmapx has no data directory; the caller
opens the path as given and passes the text here, which is friendlier and keeps this module
free of I/O.
"""

from __future__ import annotations

from nmapx.errors import ScriptArgsError
from nmapx.model.args import ArgsTable, Value

__all__ = ["parse_script_args"]

#: C-locale ``isspace`` (LPeg's ``locale().space``); Python's ``str.isspace`` knows Unicode.
_SPACE = " \t\n\v\f\r"
#: Horizontal whitespace: the grammar's ``hws = space - "\\n"``.
_HWS = " \t\v\f\r"
#: Characters that end an unquoted string.
_UQ_STOP = "\n,{}="


# ---------------------------------------------------------------------------------------
# The parser. Each function mirrors one rule of the LPeg grammar in nse_main.lua:
#
#   V "space"^0 * V "table" * V "space"^0          (no end anchor)
#   table    = "{" space^0 fieldlst^-1 space^0 "}"
#   fieldlst = field (hws^0 S"\n," space^0 field)^0
#   field    = kv + av
#   kv       = string hws^0 "=" hws^0 value
#   av       = value
#   value    = table + string
#   string   = qstring + uqstring
#   uqstring = hws^0 C((P(1) - hws^0 S"\n,{}=")^0) hws^0
#
# A function takes the text and a position and returns (new position, value) or None on
# failure. Returning one result and never retrying an alternative that succeeded is exactly
# PEG's ordered choice, so the behaviour (including the surprising cases) carries over.
# ---------------------------------------------------------------------------------------

_Result = tuple[int, Value] | None


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _table(text: str, pos: int) -> tuple[int, ArgsTable] | None:
    if not text.startswith("{", pos):
        return None
    table = ArgsTable()
    pos = _skip(text, pos + 1, _SPACE)
    after = _fieldlst(text, pos, table)
    if after is not None:
        pos = after
    pos = _skip(text, pos, _SPACE)
    if not text.startswith("}", pos):
        return None
    return pos + 1, table


def _fieldlst(text: str, pos: int, table: ArgsTable) -> int | None:
    # Fields are added as they are parsed. That is safe: a failed fieldlst means the
    # whole table fails (it is the only thing between "{" and "}"), and a failed
    # repetition below adds nothing because the field is parsed last.
    after = _field(text, pos, table)
    if after is None:
        return None
    pos = after
    while True:
        sep = _skip(text, pos, _HWS)
        if sep >= len(text) or text[sep] not in "\n,":
            return pos
        after = _field(text, _skip(text, sep + 1, _SPACE), table)
        if after is None:
            return pos
        pos = after


def _field(text: str, pos: int, table: ArgsTable) -> int | None:
    kv = _kv(text, pos)
    if kv is not None:
        end, key, value = kv
        table.fields[key] = value  # rawset: the last duplicate wins
        return end
    av = _value(text, pos)
    if av is not None:
        end, value = av
        table.array.append(value)  # table.insert
        return end
    return None


def _kv(text: str, pos: int) -> tuple[int, str, Value] | None:
    key = _string(text, pos)
    if key is None:
        return None
    pos = _skip(text, key[0], _HWS)
    if not text.startswith("=", pos):
        return None
    value = _value(text, _skip(text, pos + 1, _HWS))
    if value is None:
        return None
    return value[0], key[1], value[1]


def _value(text: str, pos: int) -> _Result:
    table = _table(text, pos)
    if table is not None:
        return table
    return _string(text, pos)


def _string(text: str, pos: int) -> tuple[int, str] | None:
    return _qstring(text, pos) or _uqstring(text, pos)


def _qstring(text: str, pos: int) -> tuple[int, str] | None:
    """lpeg-utility's ``escaped_quote``: backslash escapes only the quote and itself."""
    if pos >= len(text) or text[pos] not in "\"'":
        return None
    quote = text[pos]
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        c = text[i]
        if c == quote:
            return i + 1, "".join(out)
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in (quote, "\\"):
                out.append(nxt)
            else:
                out.append(c + nxt)
            i += 2
            continue
        if c == "\\":  # a backslash as the last character: nothing can follow, no match
            return None
        out.append(c)
        i += 1
    return None


def _uqstring(text: str, pos: int) -> tuple[int, str]:
    pos = _skip(text, pos, _HWS)
    start = end = pos
    while end < len(text):
        stop = _skip(text, end, _HWS)
        if stop < len(text) and text[stop] in _UQ_STOP:
            break
        end += 1
    return _skip(text, end, _HWS), text[start:end]


def parse_script_args(cli: str | None, file_text: str | None = None) -> ArgsTable:
    """Parse ``--script-args`` (``cli``) and the contents of ``--script-args-file``
    (``file_text``, already read by the caller) the way Nmap builds ``nmap.registry.args``.

    ``None`` means the option was not given. As in Nmap 7.93, a missing ``--script-args`` is
    the empty string, and the file text (trailing commas stripped) is always joined to it
    with a comma, so a file alone still gets a final empty field: a file ``a=1`` gives
    ``{a="1", ""}``, an empty file ``{"", ""}``, a file ending in a newline plus ``x=1``
    gives ``{..., "", x="1"}``. Without a file, an empty CLI string gives an empty table.
    Raises :class:`ScriptArgsError` (``arguments did not parse!``) on a syntax error.
    """
    pieces: list[str] = []
    if file_text is not None:
        pieces.append(file_text.rstrip(","))
    # Nmap 7.93 always has a CLI string (empty when --script-args is absent), so file
    # arguments are always followed by "," .. cli.
    pieces.append(cli or "")
    joined = ",".join(pieces)
    if not joined:
        return ArgsTable()
    wrapped = "{" + joined + "}"
    result = _table(wrapped, _skip(wrapped, 0, _SPACE))
    if result is None:
        raise ScriptArgsError("arguments did not parse!", joined)
    return result[1]
