"""Any script output whatsoever becomes a well-formed, DTD-valid ``<script>`` element that
reads back to exactly what Nmap's escaping gives.

The oracle here is written from Nmap's rules (output.cc ``protect_xml``, xml.cc ``escape``,
nse_main.lua ``format_table``/``format_xml``) without using nmapx's code, and
:func:`test_the_oracle_is_real_nmaps_escaping` pins it to real Nmap 7.93: an NSE script
returning every byte 0..255 (as output, as elem text and as table keys) against a loopback
listener gives byte for byte what the oracle predicts -- and what nmapx writes for a Python
script returning the same values.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import NMAP_DTD, dtd_errors, needs_nmap, needs_xmllint, run_nmapx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import PROFILE, SCALE
from lxml import etree

from nmapx.model.results import NO_STRUCTURE, ScriptResult

SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


# ---------------------------------------------------------------- the oracle
def oracle_protect(data: bytes) -> bytes:
    """output.cc ``protect_xml``: tab, LF, CR and printable ASCII stay; every other byte is
    the four characters ``\\xHH`` (uppercase hex)."""
    return b"".join(
        bytes([b]) if b in (9, 10, 13) or 0x20 <= b <= 0x7E else b"\\x%02X" % b for b in data
    )


def oracle_escape(data: bytes) -> bytes:
    """xml.cc ``escape``: ``< > & " '`` as entities, control bytes as ``&#x<hex>;`` (lower
    case, no padding), and a ``-`` that follows a ``-`` as ``&#45;``."""
    named = {60: b"&lt;", 62: b"&gt;", 38: b"&amp;", 34: b"&quot;", 39: b"&apos;"}
    out = []
    previous = None
    for b in data:
        if b in named:
            out.append(named[b])
        elif b < 0x20:
            out.append(b"&#x%x;" % b)
        elif b == 0x2D and previous == 0x2D:
            out.append(b"&#45;")
        else:
            out.append(bytes([b]))
        previous = b
    return b"".join(out)


def raw(value: str | bytes) -> bytes:
    """The bytes a Lua string holding ``value`` has (str: UTF-8, surrogateescape'd bytes)."""
    if isinstance(value, bytes):
        return value
    return b"".join(
        bytes([ord(c) - 0xDC00])
        if 0xDC80 <= ord(c) <= 0xDCFF
        else c.encode("utf-8", "surrogatepass")
        for c in value
    )


def tostring(value: Any) -> bytes:
    """Lua ``tostring`` of the scalars generated here."""
    if value is True or value is False:
        return b"true" if value else b"false"
    if isinstance(value, int):
        return b"%d" % value
    return raw(value)


def oracle_format(value: Any, indent: bytes = b"  ") -> bytes:
    """nse_main.lua ``format_table`` (docs/nse-semantics.md §5.2) for lists and string-keyed dicts."""
    if isinstance(value, list):
        return b"".join(b"\n" + indent + oracle_format(v, indent + b"  ") for v in value)
    if isinstance(value, dict):
        return b"".join(
            b"\n" + indent + raw(k) + b": " + oracle_format(v, indent + b"  ")
            for k, v in value.items()
        )
    return tostring(value)


def oracle_children(value: Any) -> bytes:
    """nse_main.lua ``format_xml``: the ``<elem>``/``<table>`` children, byte for byte."""
    items = [(None, v) for v in value] if isinstance(value, list) else list(value.items())
    out = []
    for key, item in items:
        attr = b"" if key is None else b' key="' + oracle_escape(oracle_protect(raw(key))) + b'"'
        if isinstance(item, list | dict):
            out.append(b"<table" + attr + b">\n" + oracle_children(item) + b"</table>\n")
        else:
            out.append(b"<elem" + attr + b">" + oracle_escape(oracle_protect(tostring(item))))
            out.append(b"</elem>\n")
    return b"".join(out)


def oracle_script(script_id: str, value: Any, text: str | bytes | None) -> bytes:
    """The whole ``<script>`` element Nmap writes for a result (§5.4)."""
    output = raw(text) if text is not None else oracle_format(value)
    head = b'<script id="%s" output="%s"' % (
        oracle_escape(oracle_protect(script_id.encode())),
        oracle_escape(oracle_protect(output)),
    )
    if value is None:
        return head + b"/>"
    if isinstance(value, list | dict):
        return head + b">" + oracle_children(value) + b"</script>"
    return head + b">" + oracle_escape(oracle_protect(tostring(value))) + b"</script>"


# ---------------------------------------------------------------- real Nmap pins the oracle
ALL_BYTES = bytes(range(256))
LUA_ALL = "(function() local s = {} for i = 0, 255 do s[#s + 1] = string.char(i) end return table.concat(s) end)()"
LUA = """local stdnse = require "stdnse"
description = "every byte"
categories = {{"safe"}}
portrule = function(host, port) return port.number == {port} end
action = function()
  local all = {all}
  {body}
end
"""
PY = """from nmapx.nse import stdnse

description = "every byte"
categories = ["safe"]
ALL = bytes(range(256)).decode("utf-8", "surrogateescape")


def portrule(host, port):
    return port.number == {port}


def action(host, port):
    {body}
"""
# id -> (Lua action body, Python action body, the value for the oracle, explicit text or None)
CASES = {
    "bytes-string": ("return all", "return ALL", None, ALL_BYTES),
    "bytes-table": (
        'local t = stdnse.output_table(); t["k<\\"\'&--" .. all] = all;'
        ' t.nested = {all, {"--", "a--b---c"}, {}}; t.n = 42; t.b = true; return t',
        't = stdnse.output_table(); t["k<\\"\'&--" + ALL] = ALL\n'
        '    t["nested"] = [ALL, ["--", "a--b---c"], []]; t["n"] = 42; t["b"] = True\n'
        "    return t",
        {
            b"k<\"'&--" + ALL_BYTES: ALL_BYTES,
            "nested": [ALL_BYTES, ["--", "a--b---c"], []],
            "n": 42,
            "b": True,
        },
        None,
    ),
    "keys-and-text": (
        'local t = stdnse.output_table(); t["<script>"] = "\\r\\n\\t"; return t, all',
        'return {"<script>": "\\r\\n\\t"}, ALL',
        {"<script>": "\r\n\t"},
        ALL_BYTES,
    ),
}


def _scripts(xml: bytes) -> dict[str, bytes]:
    found = re.findall(rb'<script id="([^"]+)".*?(?:/>|</script>)', xml, re.S)
    elements = re.findall(rb'<script id="[^"]+".*?(?:/>|</script>)', xml, re.S)
    return {name.decode(): element for name, element in zip(found, elements, strict=True)}


@needs_nmap
def test_the_oracle_is_real_nmaps_escaping(tmp_path: Path, listener_factory) -> None:
    listener = listener_factory()
    (tmp_path / "lua").mkdir()
    (tmp_path / "py").mkdir()
    for name, (lua, python, _, _) in CASES.items():
        (tmp_path / "lua" / f"{name}.nse").write_text(
            LUA.format(port=listener.port, all=LUA_ALL, body=lua)
        )
        (tmp_path / "py" / f"{name.replace('-', '_')}.py").write_text(
            PY.format(port=listener.port, body=python)
        )
    scan = ["nmap", "-n", "-Pn", "-sT", "-p", str(listener.port), "127.0.0.1"]
    nse_xml, plain_xml, ours_xml = tmp_path / "nse.xml", tmp_path / "plain.xml", tmp_path / "x.xml"
    subprocess.run(
        [*scan, "--script", f"{tmp_path / 'lua'}/", "-oX", str(nse_xml)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run([*scan, "-oX", str(plain_xml)], check=True, capture_output=True, timeout=120)
    result = run_nmapx(
        "run", str(plain_xml), "--script", f"{tmp_path / 'py'}/", "-oX", str(ours_xml)
    )
    assert result.returncode == 0, result.stderr
    theirs = _scripts(nse_xml.read_bytes())
    ours = _scripts(ours_xml.read_bytes())
    assert sorted(theirs) == sorted(CASES)
    for name, (_, _, value, text) in CASES.items():
        assert theirs[name] == oracle_script(name, value, text), name
        assert ours[name] == theirs[name], name
    assert dtd_errors(ours_xml) == ""


# ---------------------------------------------------------------- the property
KEYS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["<", '"', "'", "&", "--", "-", "<\"'&--", "key", "a--b---c", "\x00\x7f"]),
    st.binary(max_size=12).map(lambda b: b.decode("utf-8", "surrogateescape")),
)
TEXT = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=60),
    st.binary(max_size=60).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=40),
    st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=3),
)
LEAVES = st.one_of(TEXT, st.integers(-(2**62), 2**62), st.booleans())
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)
RESULTS = st.tuples(st.one_of(st.none(), VALUES), st.one_of(st.none(), TEXT)).filter(
    lambda r: r != (None, None)
)
WRAP = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    b'<nmaprun scanner="nmap" version="7.93" xmloutputversion="1.05">\n'
    b'<verbose level="0"/>\n<debugging level="0"/>\n<prescript>%s</prescript>'
    b'<runstats><finished time="0" elapsed="0.00"/><hosts up="0" down="0" total="0"/>\n'
    b"</runstats>\n</nmaprun>\n"
)


def _read_back(element: etree._Element, value: Any) -> None:
    """The parsed children carry exactly the protected text of each key and leaf."""
    items = [(None, v) for v in value] if isinstance(value, list) else list(value.items())
    children = list(element)
    assert len(children) == len(items)
    for child, (key, item) in zip(children, items, strict=True):
        expected_key = None if key is None else oracle_protect(raw(key)).decode("ascii")
        assert child.get("key") == expected_key
        if isinstance(item, list | dict):
            assert child.tag == "table"
            _read_back(child, item)
        else:
            assert child.tag == "elem"
            assert (child.text or "") == oracle_protect(tostring(item)).decode("ascii")


@needs_xmllint
@settings(
    PROFILE,
    max_examples=40 * SCALE,
    suppress_health_check=[*PROFILE.suppress_health_check, HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(RESULTS, min_size=1, max_size=8))
def test_any_script_output_is_escaped_as_nmap_does(batch, tmp_path: Path) -> None:
    elements = []
    for index, (value, text) in enumerate(batch):
        script_id = f"s{index}"
        structured = value if value is not None else NO_STRUCTURE
        xml = ScriptResult(script_id, output=text, structured=structured).to_xml()
        assert xml == oracle_script(script_id, value, text)
        element = etree.fromstring(xml, SAFE)
        output = raw(text) if text is not None else oracle_format(value)
        assert element.get("output") == oracle_protect(output).decode("ascii")
        if isinstance(value, list | dict):
            _read_back(element, value)
        elif value is not None:
            assert (element.text or "") == oracle_protect(tostring(value)).decode("ascii")
        elements.append(xml)
    document = tmp_path / "batch.xml"
    document.write_bytes(WRAP % b"".join(elements))
    assert dtd_errors(document) == "", document.read_bytes()[:2000]


@needs_xmllint
def test_huge_output_is_escaped_and_valid(tmp_path: Path) -> None:
    # 256 KiB of every byte (escaped, the output attribute holds it twice: about 2 MB; libxml2
    # refuses texts and attributes over 10 MB without huge_tree, whatever Nmap writes:
    # a result that big is valid XML that xmllint and lxml refuse to read by default)
    value = ALL_BYTES * 1024
    table = {"--" * 1000 + "<&>": value, "list": [value, {"k\x00": "\x01" * 100_000}]}
    for script_id, result in (("big", (None, value)), ("bigtable", (table, None))):
        structured, text = result
        kwargs = {} if structured is None else {"structured": structured}
        xml = ScriptResult(script_id, output=text, **kwargs).to_xml()
        assert xml == oracle_script(script_id, structured, text)
        document = tmp_path / f"{script_id}.xml"
        document.write_bytes(WRAP % xml)
        assert dtd_errors(document) == ""


def test_dtd_is_nmaps_own() -> None:
    """The validation above is against the DTD Nmap ships, not a copy of our own."""
    assert NMAP_DTD.exists() or pytest.skip("nmap.dtd missing")
    assert b"<!ELEMENT script\t(#PCDATA|table|elem)* >" in NMAP_DTD.read_bytes()
