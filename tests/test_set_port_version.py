"""``nmap.set_port_version`` rewrites a port's ``<service>`` as Nmap does, for every probe state
(and ``nmap.set_port_state`` its ``<state>``).

The same script twice, once in Lua for real Nmap 7.93 and once in Python for nmapx, sets
``port.version`` fields (long, non-ASCII and markup-laden values, a CPE list, the SSL tunnel,
no name) and calls ``set_port_version`` with each probe state; both run against one listener
inside a private network namespace. The ``<service>`` elements must be byte-identical: that
pins the confidence and method per state, the nmap-services name fallback, the 80/256/32-byte
cuts and the ``.`` for every non-printable byte (``cstringSanityCheck``), and the attribute
order and escaping of ``print_xml_service``; the script's own result must be equal too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import Listener, needs_nmap, nmapx_main

LUA = r"""
local nmap = require "nmap"
local stdnse = require "stdnse"
description = "set_port_version conformance (nmapx test)"
categories = {"safe"}
portrule = function(host, port) return port.state == "open" end
action = function(host, port)
  local case = stdnse.get_script_args("case")
  local v = port.version
  if case == "full" then
    v.name = "my-svc"
    v.product = "Pr\195\182duct\tX <&> " .. string.rep("p", 100)
    v.version = "1.2 \"q\""
    v.extrainfo = string.rep("e", 300)
    v.hostname = "h'q"
    v.ostype = "Linux " .. string.rep("o", 40)
    v.devicetype = "router"
    v.service_tunnel = "ssl"
    v.cpe = {"cpe:/a:x:y:1", "cpe:/o:l\195\164 " .. string.rep("c", 90)}
    nmap.set_port_version(host, port, "hardmatched")
  elseif case == "nomatch" then
    v.name = nil
    nmap.set_port_version(host, port, "nomatch")
  elseif case == "tcpwrapped" then
    v.name = nil
    nmap.set_port_version(host, port, "tcpwrapped")
  elseif case == "softmatched" then
    v.product = "soft"
    nmap.set_port_version(host, port, "softmatched")
  elseif case == "state-closed" then
    nmap.set_port_state(host, port, "open")
    nmap.set_port_state(host, port, "closed")
  elseif case == "incomplete" then
    v.product = "inc"
    v.version = 7
    nmap.set_port_version(host, port)
    v.product = "inc"
    nmap.set_port_version(host, port, "incomplete")
  end
  return "done " .. case
end
"""

PYTHON = r'''
"""set_port_version conformance (nmapx test)"""
from nmapx.nse import nmap, stdnse

categories = ["safe"]


def portrule(host, port):
    return port.state == "open"


async def action(host, port):
    case = stdnse.get_script_args("case")
    v = port.version
    if case == "full":
        v.name = "my-svc"
        v.product = "Pröduct\tX <&> " + "p" * 100
        v.version = '1.2 "q"'
        v.extrainfo = "e" * 300
        v.hostname = "h'q"
        v.ostype = "Linux " + "o" * 40
        v.devicetype = "router"
        v.service_tunnel = "ssl"
        v.cpe = ["cpe:/a:x:y:1", "cpe:/o:lä " + "c" * 90]
        nmap.set_port_version(host, port, "hardmatched")
    elif case == "nomatch":
        v.name = None
        nmap.set_port_version(host, port, "nomatch")
    elif case == "tcpwrapped":
        v.name = None
        nmap.set_port_version(host, port, "tcpwrapped")
    elif case == "softmatched":
        v.product = "soft"
        nmap.set_port_version(host, port, "softmatched")
    elif case == "state-closed":
        nmap.set_port_state(host, port, "open")
        nmap.set_port_state(host, port, "closed")
    elif case == "incomplete":
        v.product = "inc"
        v.version = 7
        nmap.set_port_version(host, port)
        v.product = "inc"
        nmap.set_port_version(host, port, "incomplete")
    return "done " + case
'''

PORT = 2000  # "cisco-sccp" in nmap-services: the name a nameless nomatch falls back to
_PORT_ELEMENT = re.compile(rb'<port protocol="tcp" portid="2000">.*?</port>', re.S)


@needs_nmap
@pytest.mark.parametrize(
    "case", ["full", "nomatch", "tcpwrapped", "softmatched", "incomplete", "state-closed"]
)
def test_set_port_version_writes_nmaps_service(
    case: str, tmp_path: Path, in_private_network: Any
) -> None:
    import subprocess

    lua, python = tmp_path / "svc-test.nse", tmp_path / "svc_test.py"
    lua.write_text(LUA)
    python.write_text(PYTHON)
    listener = Listener(b"", port=PORT)
    try:
        scan = ["nmap", "-n", "-Pn", "-sT", "-p", str(PORT), "127.0.0.1", "-oX"]
        plain = tmp_path / "plain.xml"
        subprocess.run([*scan, str(plain)], check=True, capture_output=True, timeout=60)
        theirs = subprocess.run(
            [*scan, "-", "--script", str(lua), "--script-args", f"case={case}"],
            check=True, capture_output=True, timeout=60,
        ).stdout  # fmt: skip
        ours = nmapx_main(
            "run", str(plain), "--script", str(python), "--script-args", f"case={case}", "-oX", "-"
        )
    finally:
        listener.close()
    assert ours.returncode == 0, ours.stderr
    their_port = _PORT_ELEMENT.search(theirs)
    our_port = _PORT_ELEMENT.search(ours.stdout)
    assert their_port is not None and our_port is not None
    # The script ids differ (svc-test vs svc_test's id); everything else must not.
    assert our_port[0].replace(b"svc_test", b"svc-test") == their_port[0]
    assert b"<service " in our_port[0]
    if case == "state-closed":  # set_port_state: "open" changed nothing, "closed" did
        assert b'<state state="closed" reason="script-set" reason_ttl="0"/>' in our_port[0]
