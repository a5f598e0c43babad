"""stdnse.format_output, against Nmap 7.93's own (a prerule script, no target, no packet)."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ROOT, needs_nmap, nmapx_main

LUA = """local stdnse = require "stdnse"
description = "format_output cases"
categories = {"safe"}
prerule = function() return true end
action = function()
  local domains = {name = "DOMAINS", "Domain 1", "Domain 2"}
  local names = {name = "NAMES", warning = "Not all names!", "Name 1"}
  local deep = {"a", {"b", {name = "C", "c1\\nc2"}, "d"}, "tail\\r\\nx"}
  local out = {}
  out[#out+1] = tostring(stdnse.format_output(true, {"Apple pie", domains, names}))
  out[#out+1] = tostring(stdnse.format_output(false, {"failed", {name="N", "x"}}))
  out[#out+1] = tostring(stdnse.format_output(true, deep))
  out[#out+1] = tostring(stdnse.format_output(true, {}))
  out[#out+1] = tostring(stdnse.format_output(true, "one line"))
  out[#out+1] = tostring(stdnse.format_output(true, {warning = "w only", "item"}))
  out[#out+1] = tostring(stdnse.format_output(true, {{}}))
  return table.concat(out, "|")
end
"""

PYTHON = """from nmapx.nse import stdnse
from nmapx.nse.stdnse import NamedList
categories = ["safe"]
def prerule():
    return True
def action():
    domains = NamedList(["Domain 1", "Domain 2"], name="DOMAINS")
    names = NamedList(["Name 1"], name="NAMES", warning="Not all names!")
    deep = ["a", ["b", NamedList(["c1\\nc2"], name="C"), "d"], "tail\\r\\nx"]
    out = [
        stdnse.format_output(True, ["Apple pie", domains, names]),
        stdnse.format_output(False, ["failed", NamedList(["x"], name="N")]),
        stdnse.format_output(True, deep),
        stdnse.format_output(True, []),
        stdnse.format_output(True, "one line"),
        stdnse.format_output(True, NamedList(["item"], warning="w only")),
        stdnse.format_output(True, [[]]),
    ]
    return "|".join("nil" if part is None else part for part in out)
"""


def prescript_output(xml: bytes) -> str | None:
    script = ET.fromstring(xml).find("prescript/script")
    return None if script is None else script.get("output")


@needs_nmap
@pytest.mark.parametrize("debug", [0, 1])
def test_format_output_is_nmaps(tmp_path: Path, debug: int) -> None:
    (tmp_path / "fo.nse").write_text(LUA)
    (tmp_path / "fo.py").write_text(PYTHON)
    nmap = subprocess.run(
        ["nmap", f"-d{debug}", "--script", str(tmp_path / "fo.nse"), "-oX", "-"],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    expected = prescript_output(nmap.stdout)
    assert expected is not None and expected.startswith("\n  Apple pie\n"), nmap.stderr
    demo = ROOT / "fixtures" / "demo" / "scan.xml"
    levels = [f"-d{debug}"] if debug else []
    ours = nmapx_main(
        "run", str(demo), "--script", str(tmp_path / "fo.py"), "--no-network", *levels, "-oX", "-"
    )  # fmt: skip
    assert ours.returncode == 0, ours.stderr
    assert prescript_output(ours.stdout) == expected
