"""The script-argument table, and the rules by which scripts read it (stdnse's lookups).

Nmap's ``nse_main.lua`` parses ``--script-args`` into ``nmap.registry.args`` (the engine's job:
:mod:`nmapx.engine.scriptargs`); scripts then read that table through ``stdnse.lua``'s
``arg_value``, ``get_script_args`` and ``parse_timespec`` (:mod:`nmapx.nse.stdnse`). The table
and those reading rules are data and pure functions over it, so they live in the model, which
both sides already build on: the engine builds tables, the script-thread context holds one, and
the library reads it. The module imports nothing of nmapx.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

__all__ = [
    "ArgsTable",
    "Found",
    "Value",
    "arg_value",
    "get_script_args",
    "parse_timespec",
    "parse_timespec_detail",
]


@dataclass
class ArgsTable:
    """A Lua table as the args parser builds it: an array part and string-keyed fields.

    The two parts are kept apart (not one dict with ``1, 2, ...`` keys) because the lookup
    rules treat them differently: a bare array item is a *flag* (``get_script_args`` returns
    ``1``), a keyed item is a value, and the string key ``"1"`` is not the index ``1``.
    """

    array: list[Value] = field(default_factory=list)
    fields: dict[str, Value] = field(default_factory=dict)

    def get(self, key: int | str, default: Value | None = None) -> Value | None:
        """Lua indexing: an ``int`` is a 1-based array index, a ``str`` is a field name."""
        if isinstance(key, int) and not isinstance(key, bool):
            return self.array[key - 1] if 1 <= key <= len(self.array) else default
        if isinstance(key, str):
            return self.fields.get(key, default)
        return default

    def __getitem__(self, key: int | str) -> Value:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int | str) and self.get(key) is not None

    def __len__(self) -> int:
        """Lua's ``#``: the length of the array part."""
        return len(self.array)

    def ipairs(self) -> Iterator[tuple[int, Value]]:
        """``ipairs(t)``: the array part with 1-based indices."""
        return enumerate(self.array, 1)

    def pairs(self) -> Iterator[tuple[int | str, Value]]:
        """``pairs(t)``: the array part, then the fields (Lua's order is unspecified)."""
        yield from self.ipairs()
        yield from self.fields.items()

    def as_dict(self) -> dict[int | str, object]:
        """The table as one dict keyed like Lua (``1..n`` then the field names), nested
        tables converted too; for code that wants a plain mapping."""
        out: dict[int | str, object] = {}
        for key, value in self.pairs():
            out[key] = value.as_dict() if isinstance(value, ArgsTable) else value
        return out


#: A script-argument value: every leaf is a string, tables nest.
Value = str | ArgsTable


# ---------------------------------------------------------------------------------------
# Lookup (stdnse.lua arg_value / get_script_args)
# ---------------------------------------------------------------------------------------

#: What a lookup can return: a string or table value, the flag ``1`` or nothing.
Found = str | ArgsTable | int | None


def arg_value(args: ArgsTable, name: str) -> Found:
    """stdnse's ``arg_value``: ``args[name]``; else ``1`` if ``name`` is a bare array item;
    else the same two lookups with the part after the last dot (which may be empty)."""
    candidates = [name]
    dot = name.rfind(".")
    if dot >= 0:
        candidates.append(name[dot + 1 :])
    for candidate in candidates:
        value = args.fields.get(candidate)
        if value is not None:
            return value
        if any(item == candidate for item in args.array):
            return 1
    return None


def get_script_args(args: ArgsTable, *names: str | Sequence[str]) -> Found | tuple[Found, ...]:
    """``stdnse.get_script_args``: one value per name, ``None`` when absent.

    A name may be a list or tuple of alternative names; the first one found wins. Like the
    Lua function, a single name gives its value directly and several names give a tuple
    (``timeout, user = get_script_args(args, "x.timeout", "x.user")``). Flags (bare items)
    give the integer ``1``, not ``True``, as in Nmap.
    """
    values: list[Found] = []
    for entry in names:
        alternatives = [entry] if isinstance(entry, str) else list(entry)
        found: Found = None
        for alternative in alternatives:
            found = arg_value(args, alternative)
            if found is not None:
                break
        values.append(found)
    if len(values) == 1:
        return values[0]
    return tuple(values)


# ---------------------------------------------------------------------------------------
# stdnse.parse_timespec
# ---------------------------------------------------------------------------------------

_TIMESPEC_MULTIPLIERS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "ms": 0.001}


def _lua_tostring(number: int | float) -> str:
    """Lua 5.3's number-to-string coercion (``string.match`` applies it to numbers)."""
    if isinstance(number, int):
        return str(number)
    text = f"{number:.14g}"
    return text + ".0" if text.lstrip("-").isdigit() else text


def parse_timespec_detail(text: str | int | float | None) -> tuple[float | None, str | None]:
    """``stdnse.parse_timespec`` with its error message: ``(seconds, None)`` or
    ``(None, message)``. The number is a run of digits and dots (``1e3`` and ``-1`` are
    not numbers here, ``1.`` and ``.5`` are); the unit is case-sensitive.

    A number is coerced to its Lua string first, as ``string.match`` does, so the flag
    value ``1`` that ``get_script_args`` returns for a bare argument means one second.
    Anything else that is not a string (a table) raises :class:`TypeError`, as the Lua
    function raises an error.
    """
    if text is None:
        return None, "Can't parse nil timespec"
    if isinstance(text, int | float) and not isinstance(text, bool):
        text = _lua_tostring(text)
    if not isinstance(text, str):
        kind = "table" if isinstance(text, ArgsTable) else type(text).__name__
        raise TypeError(f"bad argument #1 to 'match' (string expected, got {kind})")
    end = 0
    while end < len(text) and (text[end].isascii() and (text[end].isdigit() or text[end] == ".")):
        end += 1
    number, unit = text[:end], text[end:]
    if not number:
        return None, f'Can\'t parse time specification "{text}"'
    try:
        seconds = float(number)
    except ValueError:
        return None, f'Can\'t parse time specification "{text}" (bad number "{number}")'
    multiplier = _TIMESPEC_MULTIPLIERS.get(unit)
    if multiplier is None:
        return None, f'Can\'t parse time specification "{text}" (bad unit "{unit}")'
    return seconds * multiplier, None


def parse_timespec(text: str | int | float | None) -> float | None:
    """``stdnse.parse_timespec``: ``"5s"``, ``"250ms"``, ``"2m"``, ``"1h"`` or a plain
    number of seconds, as float seconds; ``None`` for anything else (see
    :func:`parse_timespec_detail` for numbers and tables)."""
    return parse_timespec_detail(text)[0]
