"""Script result rendering: conformance cases C2-C5 of docs/nse-semantics.md §9 (XML form)."""

from nmapx.model.results import ScriptResult, format_table, lua_tostring


def test_c2_nested_tables() -> None:
    value = {
        "hostname": "slimer",
        "users": ["root", "foo", "bar"],
        "nested": {"a": 1, "b": {"x": True}},
        "flt": 1.5,
        "int": 3,
        "bool": False,
    }
    assert ScriptResult("t1", structured=value).to_xml() == (
        b'<script id="t1" output="&#xa;  hostname: slimer&#xa;  users: &#xa;    root&#xa;'
        b"    foo&#xa;    bar&#xa;  nested: &#xa;    a: 1&#xa;    b: &#xa;      x: true&#xa;"
        b'  flt: 1.5&#xa;  int: 3&#xa;  bool: false"><elem key="hostname">slimer</elem>\n'
        b'<table key="users">\n<elem>root</elem>\n<elem>foo</elem>\n<elem>bar</elem>\n</table>\n'
        b'<table key="nested">\n<elem key="a">1</elem>\n<table key="b">\n'
        b'<elem key="x">true</elem>\n</table>\n</table>\n<elem key="flt">1.5</elem>\n'
        b'<elem key="int">3</elem>\n<elem key="bool">false</elem>\n</script>'
    )


def test_c3_string_with_specials() -> None:
    text = "line one\nline two <&> \"q\" 'a' a--b---c\ttab\rcr\x01ctl\x7f del caf\u00e9\n"
    assert ScriptResult("s1", text).to_xml() == (
        b'<script id="s1" output="line one&#xa;line two &lt;&amp;&gt; &quot;q&quot; &apos;a&apos;'
        b' a-&#45;b-&#45;&#45;c&#x9;tab&#xd;cr\\x01ctl\\x7F del caf\\xC3\\xA9&#xa;"/>'
    )


def test_c4_control_bytes_in_keys_and_elems() -> None:
    value = {
        "k\x01ey": b'a\x01<b>&"c"\xff'.decode("utf-8", "surrogateescape"),
        "list": ["x--y", "tab\there"],
    }
    assert ScriptResult("c4", structured=value).to_xml() == (
        b'<script id="c4" output="&#xa;  k\\x01ey: a\\x01&lt;b&gt;&amp;&quot;c&quot;\\xFF&#xa;'
        b'  list: &#xa;    x-&#45;y&#xa;    tab&#x9;here"><elem key="k\\x01ey">'
        b'a\\x01&lt;b&gt;&amp;&quot;c&quot;\\xFF</elem>\n<table key="list">\n'
        b"<elem>x-&#45;y</elem>\n<elem>tab&#x9;here</elem>\n</table>\n</script>"
    )


def test_c5_empty_string_and_empty_table() -> None:
    assert ScriptResult("s3", "").to_xml() == b'<script id="s3" output=""/>'
    assert ScriptResult("s12", structured={}).to_xml() == b'<script id="s12" output=""></script>'


def test_scalar_structure_is_written_as_text() -> None:
    assert ScriptResult("x", structured=False).to_xml() == (
        b'<script id="x" output="false">false</script>'
    )


def test_lua_number_formats() -> None:
    assert [lua_tostring(v) for v in (3, 1.5, 3.0, 1e20, 1 / 3, True)] == [
        b"3",
        b"1.5",
        b"3.0",
        b"1e+20",
        b"0.33333333333333",
        b"true",
    ]


def test_array_stops_at_first_nil_and_other_keys_are_dropped() -> None:
    """Lua: integer keys 1..n are the array part; a gap, floats and booleans are dropped."""
    assert format_table(["a", None, "c"]) == b"\n  a"
    assert format_table({1: "x", "k": "v"}) == b"\n  x\n  k: v"
    assert format_table({2: "y", 2.5: "f", "k": "v"}) == b"\n  k: v"
    assert format_table({True: "b", "k": "v"}) == b"\n  k: v"


class _Key(dict[str, object]):
    """A table with a ``__tostring`` metamethod, as ssh-hostkey's key tables are."""

    def __str__(self) -> str:
        return f"{self['bits']} {self['fingerprint']} ({self['type']})"


def test_a_nested_table_that_obeys_tostring_is_rendered_with_it() -> None:
    """nse_main.lua's format_table: a table whose metatable has __tostring is tostring'ed, at
    any depth; the XML children still show the table itself."""
    key = _Key(bits=256, fingerprint="ab:cd", type="ssh-ed25519")
    result = ScriptResult("k", structured=[key, {"plain": 1}])
    assert result.output_bytes() == b"\n  256 ab:cd (ssh-ed25519)\n  \n    plain: 1"
    assert format_table(key) == b"256 ab:cd (ssh-ed25519)"
    assert result.to_xml() == (
        b'<script id="k" output="&#xa;  256 ab:cd (ssh-ed25519)&#xa;  &#xa;    plain: 1">'
        b'<table>\n<elem key="bits">256</elem>\n<elem key="fingerprint">ab:cd</elem>\n'
        b'<elem key="type">ssh-ed25519</elem>\n</table>\n<table>\n<elem key="plain">1</elem>\n'
        b"</table>\n</script>"
    )
