"""--script-args grammar, stdnse.get_script_args lookup and parse_timespec.

The expected values were produced by Nmap 7.93 (``nmap -d2 --script-args ... --script-help
banner`` prints the parsed table; the lookup and timespec values came from a prerule test
script run with no targets). The ``live`` tests at the end repeat the grammar comparison
against the installed Nmap when there is one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nmapx.engine.scriptargs import parse_script_args
from nmapx.errors import ScriptArgsError
from nmapx.model.args import (
    ArgsTable,
    arg_value,
    get_script_args,
    parse_timespec,
    parse_timespec_detail,
)


def parsed(cli: str | None, file_text: str | None = None) -> dict:
    return parse_script_args(cli, file_text).as_dict()


# ---------------------------------------------------------------------------------------
# Grammar
# ---------------------------------------------------------------------------------------


def test_c12_conformance_case():
    args = parse_script_args(
        'user=foo,pass=",{}=bar",paths={/admin,/cgi-bin},xmpp-info.server_name=localhost'
    )
    assert args == ArgsTable(
        array=[],
        fields={
            "user": "foo",
            "pass": ",{}=bar",
            "paths": ArgsTable(array=["/admin", "/cgi-bin"]),
            "xmpp-info.server_name": "localhost",
        },
    )
    assert get_script_args(args, "args.user") == "foo"
    assert get_script_args(parse_script_args("args.flag"), "args.flag") == 1
    assert parsed(" a = b c , d") == {1: "d", "a": "b c"}


@pytest.mark.parametrize(
    ("cli", "expected"),
    [
        # key=value and bare values; the array part keeps its order
        ("a=1,b,c=3,d", {1: "b", 2: "d", "a": "1", "c": "3"}),
        # all values are strings
        ("x=1,y=1.5,z=true", {"x": "1", "y": "1.5", "z": "true"}),
        # last duplicate wins, whatever its type
        ("x=1,x=2,x={3}", {"x": {1: "3"}}),
        # nested tables, bare tables in the array part
        ("a={b={c}}", {"a": {"b": {1: "c"}}}),
        ("{a}", {1: {1: "a"}}),
        ("t={k=v, w}", {"t": {1: "w", "k": "v"}}),
        # horizontal whitespace trimmed around values and keys, inner spaces kept
        ('a=" x ",b=  y  z  ', {"a": " x ", "b": "y  z"}),
        ("a\t=\tb\t,c", {1: "c", "a": "b"}),
        ("a=b\r,c", {1: "c", "a": "b"}),
        # newline separates fields; blank lines in between do not make fields
        ("a=1\nb", {1: "b", "a": "1"}),
        ("a=1\n\nb", {1: "b", "a": "1"}),
        # empty fields are "" items: ",,", a trailing comma, "x={}"
        ("a,,b", {1: "a", 2: "", 3: "b"}),
        ("a=1,", {1: "", "a": "1"}),
        ("a,\n,b", {1: "a", 2: "", 3: "b"}),
        ("x={}", {"x": {1: ""}}),
        ("a=", {"a": ""}),
        # empty key
        ("=x", {"": "x"}),
        # quoted strings keep , { } = and newlines; quoted keys
        ('pass=",{}=bar"', {"pass": ",{}=bar"}),
        ("'a b'=c", {"a b": "c"}),
        ('q="line1\nline2"', {"q": "line1\nline2"}),
        # escapes: only the same quote and the backslash; other backslashes are literal
        ('q="x\\"y\\\\z\\q"', {"q": 'x"y\\z\\q'}),
        ("r='it\\'s\\\"'", {"r": "it's\\\""}),
        ('s="a\\\'b"', {"s": "a\\'b"}),
        # outside quotes a backslash is literal
        ("p=a\\b", {"p": "a\\b"}),
        # an unterminated quote is an unquoted string, quote included
        ('a="unterminated', {"a": '"unterminated'}),
        ('a=b"c', {"a": 'b"c'}),
        ('a="b\\"', {"a": '"b\\"'}),  # the final quote is escaped: never closed
        # the outer table is not anchored: text after an early "}" is ignored
        ("a=b},c=d", {"a": "b"}),
        # nothing to parse
        ("", {}),
    ],
)
def test_grammar(cli, expected):
    assert parsed(cli) == expected


@pytest.mark.parametrize("cli", ["k=v=w", 'a="x"y', "a={b", "a={b}c", '"k" x=1'])
def test_parse_errors(cli):
    with pytest.raises(ScriptArgsError) as info:
        parse_script_args(cli)
    assert str(info.value) == "arguments did not parse!"
    assert info.value.args_text == cli


def test_error_text_is_the_joined_text():
    with pytest.raises(ScriptArgsError) as info:
        parse_script_args("k=v=w", "a=1,,")
    assert info.value.args_text == "a=1,k=v=w"


# ---------------------------------------------------------------------------------------
# File + CLI
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_text", "cli", "expected"),
    [
        # the CLI beats the file
        ("user=file,x=1", "user=cli", {"user": "cli", "x": "1"}),
        # trailing commas of the file are stripped...
        ("a=1,,,", "b=2", {"a": "1", "b": "2"}),
        # ...but Nmap 7.93 always appends "," .. cli, "" when --script-args is absent
        ("a=1", None, {1: "", "a": "1"}),
        ("a=1,,,", None, {1: "", "a": "1"}),
        ("a=1", "", {1: "", "a": "1"}),
        ("", None, {1: "", 2: ""}),
        ("", "x", {1: "", 2: "x"}),
        # a newline followed by the joining comma makes an empty field
        ("a=1\n", None, {1: "", 2: "", "a": "1"}),
        ("a=1\n", "b=2", {1: "", "a": "1", "b": "2"}),
        ("user=file,x=1,,\n,", "user=cli", {1: "", 2: "", "x": "1", "user": "cli"}),
        # multi-line file with nested table and a flag
        (
            "k = v\n  other = { a , b }\nflag",
            "k=cli",
            {1: "flag", "k": "cli", "other": {1: "a", 2: "b"}},
        ),
    ],
)
def test_file_and_cli(file_text, cli, expected):
    assert parsed(cli, file_text) == expected


def test_no_args_at_all():
    assert parse_script_args(None, None) == ArgsTable()


# ---------------------------------------------------------------------------------------
# ArgsTable
# ---------------------------------------------------------------------------------------


def test_args_table_indexing_is_lua_like():
    args = parse_script_args("a,b,1=one,k={x}")
    assert len(args) == 2
    assert args[1] == "a" and args[2] == "b"
    assert args["1"] == "one"  # the string key "1" is not the index 1
    assert args.get(3) is None and args.get(0) is None and args.get("nope") is None
    assert args["k"] == ArgsTable(array=["x"])
    assert 1 in args and "k" in args and 3 not in args
    with pytest.raises(KeyError):
        args["nope"]
    assert list(args.ipairs()) == [(1, "a"), (2, "b")]
    assert list(args.pairs()) == [(1, "a"), (2, "b"), ("1", "one"), ("k", ArgsTable(["x"]))]


# ---------------------------------------------------------------------------------------
# get_script_args (stdnse.lua arg_value)
# ---------------------------------------------------------------------------------------

#: The table used by the Nmap run that produced the expected values below.
LOOKUP_ARGS = 'user=foo,pass=",{}=bar",flag,=empty,1=one,timeout=250ms,y.timeout=9'


def test_lookup_matches_nmap_run():
    # stdnse.get_script_args("args.user", "args.flag", {"nope","args.pass"}, "x.", "1",
    # "z.y.timeout") printed: foo, 1, ,{}=bar, empty, one, 250ms
    args = parse_script_args(LOOKUP_ARGS)
    assert get_script_args(
        args, "args.user", "args.flag", ["nope", "args.pass"], "x.", "1", "z.y.timeout"
    ) == ("foo", 1, ",{}=bar", "empty", "one", "250ms")


def test_lookup_rules_in_order():
    args = parse_script_args("exact=E,short=S,flagged,x.both,both=B,v=V,v")
    assert arg_value(args, "exact") == "E"  # 1. args[N]
    assert arg_value(args, "flagged") == 1  # 2. bare item -> the integer 1
    assert arg_value(args, "script.short") == "S"  # 3. after the last dot, as a key
    assert arg_value(args, "script.flagged") == 1  # ... or as a bare item
    assert arg_value(args, "x.both") == 1  # a full-name flag beats the short key
    assert arg_value(args, "v") == "V"  # a key beats a flag of the same name
    assert arg_value(args, "missing") is None
    assert arg_value(args, "script.missing") is None
    assert arg_value(args, "a.b.exact") == "E"  # only the part after the LAST dot
    assert arg_value(parse_script_args("b.exact=X"), "a.b.exact") is None


def test_lookup_specific_beats_general():
    args = parse_script_args("rlogin-brute.timeout=20s,timeout=250ms")
    assert get_script_args(args, "rlogin-brute.timeout") == "20s"
    assert get_script_args(args, "telnet-brute.timeout") == "250ms"


def test_lookup_alternatives_and_arity():
    args = parse_script_args("b=2,c=3")
    assert get_script_args(args, ("a", "b", "c")) == "2"  # first found wins
    assert get_script_args(args, ["a", "z"]) is None
    assert get_script_args(args, "c", "nope", ("x", "c")) == ("3", None, "3")
    assert get_script_args(args) == ()


def test_lookup_tables_and_array_tables():
    args = parse_script_args("paths={/a,/b},{t}")
    assert get_script_args(args, "s.paths") == ArgsTable(["/a", "/b"])
    assert get_script_args(args, "t") is None  # a table in the array part is not a flag


def test_flag_is_integer_one_not_true():
    value = get_script_args(parse_script_args("unsafe"), "unsafe")
    assert value == 1 and type(value) is int


# ---------------------------------------------------------------------------------------
# parse_timespec (values printed by stdnse.parse_timespec in Nmap 7.93)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5.0),
        ("250ms", 0.25),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("10", 10.0),
        ("1.5", 1.5),
        (".5s", 0.5),
        ("1.", 1.0),
        ("10ms", 0.01),
        ("0.001ms", 9.9999999999999995e-07),
    ],
)
def test_timespec_values(text, seconds):
    assert parse_timespec(text) == seconds
    assert parse_timespec_detail(text) == (seconds, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5S", 'Can\'t parse time specification "5S" (bad unit "S")'),
        ("5 s", 'Can\'t parse time specification "5 s" (bad unit " s")'),
        (" 5", 'Can\'t parse time specification " 5"'),
        ("-1", 'Can\'t parse time specification "-1"'),
        ("1e3", 'Can\'t parse time specification "1e3" (bad unit "e3")'),
        ("1.2.3", 'Can\'t parse time specification "1.2.3" (bad number "1.2.3")'),
        ("", 'Can\'t parse time specification ""'),
        ("ms", 'Can\'t parse time specification "ms"'),
        ("10z", 'Can\'t parse time specification "10z" (bad unit "z")'),
        (".", 'Can\'t parse time specification "." (bad number ".")'),
        (None, "Can't parse nil timespec"),
    ],
)
def test_timespec_errors(text, message):
    assert parse_timespec(text) is None
    assert parse_timespec_detail(text) == (None, message)


# ---------------------------------------------------------------------------------------
# Live comparison with the installed Nmap (no targets, no packets: --script-help)
# ---------------------------------------------------------------------------------------

needs_nmap = pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")

LIVE_CLI = [
    'user=foo,pass=",{}=bar",paths={/admin,/cgi-bin},xmpp-info.server_name=localhost',
    " a = b c , d",
    "a=b},c=d",
    "x={}",
    "a=1,",
    "",
    "k=v=w",
    "=x",
    "a,,b",
    'p=a\\b,q="x\\"y\\\\z\\q",r=\'it\\\'s\\"\',s="a\\\'b"',
    "a=1\n\nb",
    'a=" x ",b=  y  z  ',
    "{a}",
    "a={b={c}}",
    'a="x"y',
    'a="unterminated',
    "a\t=\tb\t,c",
    "a=b\r,c",
    "x=1,x=2,x={3}",
    'q="line1\nline2"',
    "t={k=v, w},'a b'=c",
    'a="b\\"',
]

LIVE_FILE = [
    ("a=1", None),
    ("a=1,,,", None),
    ("", None),
    ("", "x"),
    ("a=1\n", None),
    ("a=1\n", "b=2"),
    ("a=1", ""),
    ("user=file,x=1,,\n,", "user=cli"),
    ("k = v\n  other = { a , b }\nflag\n", "k=cli"),
]


def _lua_pretty(text: str, pos: int) -> tuple[object, int]:
    """Parse stdnse.pretty_printer output (``%q`` strings, ``[key] = value,`` lines)."""
    while text[pos] in " \t\n":
        pos += 1
    if text[pos] == '"':
        out = []
        pos += 1
        while text[pos] != '"':
            if text[pos] == "\\":
                nxt = text[pos + 1]
                digits = re.match(r"\d{1,3}", text[pos + 1 :])
                if digits:
                    out.append(chr(int(digits.group())))
                    pos += 1 + len(digits.group())
                    continue
                out.append({"n": "\n", "r": "\r", "t": "\t"}.get(nxt, nxt))
                pos += 2
                continue
            out.append(text[pos])
            pos += 1
        return "".join(out), pos + 1
    if text[pos] == "{":
        table: dict = {}
        pos += 1
        while True:
            while text[pos] in " \t\n":
                pos += 1
            if text[pos] == "}":
                return table, pos + 1
            assert text[pos] == "["
            if text[pos + 1] == '"':
                key, pos = _lua_pretty(text, pos + 1)
            else:
                number = re.match(r"\d+", text[pos + 1 :])
                assert number
                key, pos = int(number.group()), pos + 1 + len(number.group())
            assert text[pos : pos + 4] == "] = ", text[pos : pos + 10]
            table[key], pos = _lua_pretty(text, pos + 4)
            assert text[pos] == ","
            pos += 1
    raise AssertionError(text[pos:])


def _nmap_args(tmp_path: Path, cli: str | None, file_text: str | None) -> dict | str:
    cmd = ["nmap", "-d2", "-n"]
    if file_text is not None:
        path = tmp_path / "args.txt"
        path.write_text(file_text)
        cmd += ["--script-args-file", str(path)]
    if cli is not None:
        cmd += ["--script-args", cli]
    cmd += ["--script-help", "banner"]
    out = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    text = out.stdout.decode("latin-1") + out.stderr.decode("latin-1")
    if "arguments did not parse!" in text:
        return "arguments did not parse!"
    start = text.find("NSE: {")
    if start < 0:
        return {}
    return _lua_pretty(text, start + len("NSE: "))[0]


def _ours(cli: str | None, file_text: str | None) -> dict | str:
    try:
        return parsed(cli, file_text)
    except ScriptArgsError as e:
        return str(e)


@needs_nmap
@pytest.mark.parametrize("cli", LIVE_CLI)
def test_live_cli_matches_nmap(tmp_path, cli):
    assert _ours(cli, None) == _nmap_args(tmp_path, cli, None)


@needs_nmap
@pytest.mark.parametrize(("file_text", "cli"), LIVE_FILE)
def test_live_file_matches_nmap(tmp_path, file_text, cli):
    assert _ours(cli, file_text) == _nmap_args(tmp_path, cli, file_text)


def test_timespec_coerces_numbers_like_lua():
    # string.match coerces numbers: a bare flag (the integer 1) is one second
    assert parse_timespec(get_script_args(parse_script_args("x.timeout"), "x.timeout")) == 1.0
    assert parse_timespec(2.5) == 2.5
    assert parse_timespec_detail(2.0) == (2.0, None)  # tostring(2.0) == "2.0"
    assert parse_timespec(1e20) is None  # "1e+20": bad unit
    assert parse_timespec(-1) is None
    with pytest.raises(TypeError, match="string expected, got table"):
        parse_timespec(ArgsTable(["1"]))
