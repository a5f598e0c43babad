"""NSE conformance (docs/nse-semantics.md §9): the same script in Lua for real Nmap and in Python for
nmapx must give byte-identical ``<script>`` elements and normal-output lines.

Pre- and post-rule scripts need no target, so real Nmap runs them without sending a packet.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import needs_nmap, run_nmapx

# id -> (Lua action body, Python action body)
CASES: dict[str, tuple[str, str]] = {
    "t1": (
        'local t = stdnse.output_table(); t.hostname = "slimer"; t.users = {"root","foo","bar"};'
        " local n = stdnse.output_table(); n.a = 1; n.b = {x=true}; t.nested = n;"
        " t.flt = 1.5; t.int = 3; t.bool = false; return t",
        't = stdnse.output_table(); t["hostname"] = "slimer"; t["users"] = ["root", "foo", "bar"]\n'
        '    n = stdnse.output_table(); n["a"] = 1; n["b"] = {"x": True}; t["nested"] = n\n'
        '    t["flt"] = 1.5; t["int"] = 3; t["bool"] = False\n    return t',
    ),
    "s1": (
        'return "line one\\nline two <&> \\"q\\" \'a\' a--b---c\\ttab\\rcr\\x01ctl\\x7f del caf\\xc3\\xa9\\n"',
        'return b"line one\\nline two <&> \\"q\\" \'a\' a--b---c\\ttab\\rcr\\x01ctl\\x7f del caf\\xc3\\xa9\\n"',
    ),
    "c4": (
        'local t = stdnse.output_table(); t["k\\x01ey"] = "a\\x01<b>&\\"c\\"\\xff";'
        ' t.list = {"x--y","tab\\there"}; return t',
        'return {"k\\x01ey": b"a\\x01<b>&\\"c\\"\\xff".decode("utf-8", "surrogateescape"),'
        ' "list": ["x--y", "tab\\there"]}',
    ),
    "s3": ('return ""', 'return ""'),
    "s12": ("return {}", "return {}"),
    "s4": ("local x = nil; return x.y", "x = None\n    return x.y"),
    "s5": ('nmap.new_try()(false, "boom")', 'nmap.new_try()(False, "boom")'),
    "s6": ("return false", "return False"),
    "s7": ("return 42", "return 42"),
    "s8": (
        'local t = stdnse.output_table(); t.a = "1"; return t, "custom string"',
        'return {"a": "1"}, "custom string"',
    ),
    "s9": (
        'return setmetatable({k="v","x"}, {__tostring=function() return "TOSTR" end})',
        "class T(dict):\n        def __str__(self):\n            return 'TOSTR'\n"
        '    return T({1: "x", "k": "v"})',
    ),
    "s10": ('return {"a", {"b","c"}, "d"}', 'return ["a", ["b", "c"], "d"]'),
    "s11": (
        'return {[1]="one",[3]="three",[2.5]="f",[true]="b",s="str"}',
        'return {1: "one", 3: "three", 2.5: "f", "s": "str"}',
    ),
    "snil": ("return nil", "return None"),
}

LUA = """local nmap = require "nmap"
local stdnse = require "stdnse"
description = "nmapx conformance case"
categories = {{"safe"}}
{rule} = function() return true end
action = function()
  {body}
end
"""
PY = """from nmapx.nse import nmap, stdnse

description = "nmapx conformance case"
categories = ["safe"]


def {rule}():
    return True


def action():
    {body}
"""


def _write_cases(directory: Path, rule: str) -> None:
    (directory / "lua").mkdir()
    (directory / "py").mkdir()
    for case_id, (lua, python) in CASES.items():
        (directory / "lua" / f"{case_id}.nse").write_text(LUA.format(rule=rule, body=lua))
        (directory / "py" / f"{case_id}.py").write_text(PY.format(rule=rule, body=python))


def _scripts(xml: bytes, container: str) -> set[bytes]:
    block = re.search(rb"<%s>(.*?)</%s>" % (container.encode(), container.encode()), xml, re.S)
    assert block is not None, xml
    return set(re.findall(rb"<script .*?(?:/>|</script>)", block[1], re.S))


def _normal_blocks(text: bytes) -> set[bytes]:
    """Each script result of normal output: ``|_id: x`` or ``| id: ...`` up to its ``|_`` line."""
    blocks: set[bytes] = set()
    current: list[bytes] | None = None
    for line in text.split(b"\n"):
        if current is None:
            if re.match(rb"^\|_[\w-]+: ", line):
                blocks.add(line)
            elif re.match(rb"^\| [\w-]+: ", line):
                current = [line]
        else:
            current.append(line)
            if line.startswith(b"|_"):
                blocks.add(b"\n".join(current))
                current = None
    return blocks


@needs_nmap
@pytest.mark.parametrize("rule, container", [("prerule", "prescript"), ("postrule", "postscript")])
def test_results_are_byte_identical_to_nmaps(tmp_path: Path, rule: str, container: str) -> None:
    _write_cases(tmp_path, rule)
    nmap_xml, nmap_normal = tmp_path / "nmap.xml", tmp_path / "nmap.nmap"
    subprocess.run(
        [
            "nmap",
            "-n",
            "--script",
            f"{tmp_path / 'lua'}/",
            "-oX",
            str(nmap_xml),
            "-oN",
            str(nmap_normal),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    empty = tmp_path / "empty.xml"
    subprocess.run(["nmap", "-n", "-oX", str(empty)], check=True, capture_output=True, timeout=120)
    out_xml, out_normal = tmp_path / "nmapx.xml", tmp_path / "nmapx.nmap"
    result = run_nmapx(
        "run",
        str(empty),
        "--script",
        f"{tmp_path / 'py'}/",
        "-oX",
        str(out_xml),
        "-oN",
        str(out_normal),
    )
    assert result.returncode == 0, result.stderr
    expected = _scripts(nmap_xml.read_bytes(), container)
    assert len(expected) == len(CASES) - 2  # s5 (try failure) and snil give nothing
    assert _scripts(out_xml.read_bytes(), container) == expected
    assert _normal_blocks(out_normal.read_bytes()) == _normal_blocks(nmap_normal.read_bytes())
    assert b"Bug in s3: no string output.\n" in result.stderr
    assert b"Bug in s12: no string output.\n" in result.stderr


@needs_nmap
def test_debug_messages_for_errors_and_try_failures(tmp_path: Path) -> None:
    _write_cases(tmp_path, "prerule")
    empty = tmp_path / "empty.xml"
    subprocess.run(["nmap", "-n", "-oX", str(empty)], check=True, capture_output=True, timeout=120)
    nmap_run = subprocess.run(
        ["nmap", "-n", "-d", "--script", f"{tmp_path / 'lua'}/", "-oX", str(tmp_path / "n.xml")],
        capture_output=True,
        timeout=120,
        check=True,
    )
    result = run_nmapx(
        "run", str(empty), "-d", "--script", f"{tmp_path / 'py'}/", "-oX", str(tmp_path / "x.xml")
    )
    assert result.returncode == 0
    ours = result.stderr.decode()
    theirs = nmap_run.stdout.decode()
    for line in (
        "NSE: s4 threw an error!",
        "NSE: Finished s5. Reason: boom",
        "NSE: Starting s1.",
        "NSE: Finished s1.",
        "NSE: Script Pre-scanning.",
        "NSE: Loaded 14 scripts for scanning.",
    ):
        assert line + "\n" in theirs
        assert line + "\n" in ours
    # at -d a failing script gives no result at all (§6.1)
    assert b'id="s4"' not in (tmp_path / "x.xml").read_bytes()
    assert b'id="s4"' not in (tmp_path / "n.xml").read_bytes()
