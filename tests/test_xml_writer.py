"""Splicing script results into Nmap XML exactly where and how Nmap writes them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conftest import dtd_errors, needs_nmap, needs_xmllint
from lxml import etree

from nmapx.model.host import Host
from nmapx.model.results import ScriptResult
from nmapx.nmapxml.reader import read_document
from nmapx.output.atomic import AtomicOutput
from nmapx.output.base import DocumentWriters
from nmapx.output.xml import XmlWriter

PLACEMENT_NSE = r"""
local stdnse = require "stdnse"
description = "Fixed results in every container (nmapx placement test)."
categories = {"safe"}
prerule = function() return true end
hostrule = function(host) return true end
portrule = function(host, port) return port.state == "open" end
postrule = function() return true end
action = function(host, port)
  if SCRIPT_TYPE == "prerule" then return "before -- all" end
  if SCRIPT_TYPE == "postrule" then return "after\nall <done>" end
  if SCRIPT_TYPE == "hostrule" then return "host 'q' & \"dq\"" end
  local t = stdnse.output_table()
  t.key = "x--y"
  t.list = {"one", "two"}
  return t
end
"""
PORT_RESULT = {"key": "x--y", "list": ["one", "two"]}
VOLATILE = re.compile(
    rb'\b(start|startstr|starttime|endtime|time|timestr|elapsed|summary|srtt|rttvar|to|args)="[^"]*"'
)
COMMENT = re.compile(rb"<!-- Nmap .*? -->")


def _normalise(data: bytes) -> bytes:
    """Blank out what differs between two runs of the same scan (times, the command line)."""
    return COMMENT.sub(b"<!---->", VOLATILE.sub(rb'\1="X"', data))


def write_enriched(source: Path, out: Path, enrich, prescript=(), postscript=()) -> None:
    with AtomicOutput(str(out)) as stream:
        writer = XmlWriter(stream)
        writers = DocumentWriters([writer], prescript)  # places the script phases, as a run does
        for item in read_document(str(source)):
            if isinstance(item, Host):
                enrich(item, writer)
            writers.write(item, postscript)


@needs_nmap
@needs_xmllint
def test_results_land_where_nmap_puts_them(tmp_path: Path, listener_factory) -> None:
    """Nmap with an NSE script vs Nmap without it, enriched by nmapx with the same results."""
    first, second = listener_factory(), listener_factory()
    script = tmp_path / "placement.nse"
    script.write_text(PLACEMENT_NSE)
    ports = f"{first.port},{second.port},1-30"
    base = ["nmap", "-n", "-Pn", "-sT", "-p", ports, "127.0.0.1"]
    with_nse, without = tmp_path / "nse.xml", tmp_path / "plain.xml"
    subprocess.run(
        [*base, "--script", str(script), "-oX", str(with_nse)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run([*base, "-oX", str(without)], check=True, capture_output=True, timeout=120)

    def enrich(host: Host, writer: XmlWriter) -> None:
        host.add_host_result(ScriptResult("placement", "host 'q' & \"dq\""))
        for port in host.ports:
            if port.state == "open":
                host.add_port_result(
                    port.protocol, port.number, ScriptResult("placement", structured=PORT_RESULT)
                )

    out = tmp_path / "enriched.xml"
    write_enriched(
        without,
        out,
        enrich,
        prescript=[ScriptResult("placement", "before -- all")],
        postscript=[ScriptResult("placement", "after\nall <done>")],
    )
    enriched = out.read_bytes()
    assert b'<prescript><script id="placement" output="before -&#45; all"/></prescript>' in enriched
    assert _normalise(enriched) == _normalise(with_nse.read_bytes())
    assert dtd_errors(out) == ""


HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n<nmaprun scanner="nmap" start="1">\n'
    b'<scaninfo type="connect" protocol="tcp" numservices="1" services="80"/>\n'
    b'<verbose level="0"/>\n<debugging level="0"/>\n'
)
HOST = (
    b'<host starttime="1" endtime="2"><status state="up" reason="user-set" reason_ttl="0"/>\n'
    b'<address addr="127.0.0.1" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n'
    b'<ports><port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="0"/>'
    b'<service name="http" method="table" conf="3"/>'
    b'<script id="zeta" output="old z"/><script id="http-title" output="Old"><elem key="title">Old</elem>\n'
    b"</script></port>\n</ports>\n"
    b'<hostscript><script id="smb" output="s"/></hostscript>'
    b'<times srtt="1" rttvar="1" to="1"/>\n</host>\n'
)
TAIL = b'<runstats><finished time="2" elapsed="1"/><hosts up="1" down="0" total="1"/>\n</runstats>\n</nmaprun>\n'


def test_same_id_is_replaced_and_the_container_is_sorted_by_id(tmp_path: Path) -> None:
    source = tmp_path / "in.xml"
    source.write_bytes(HEAD + HOST + TAIL)

    def enrich(host: Host, writer: XmlWriter) -> None:
        host.add_port_result(
            "tcp", 80, ScriptResult("http-title", structured={"title": "New"}, output="New")
        )
        host.add_port_result("tcp", 80, ScriptResult("auth-owners", "root"))
        host.add_host_result(ScriptResult("daytime", "now"))

    out = tmp_path / "out.xml"
    write_enriched(source, out, enrich)
    assert (
        out.read_bytes()
        == HEAD
        + HOST.replace(
            b'<script id="zeta" output="old z"/><script id="http-title" output="Old"><elem key="title">Old</elem>\n</script>',
            b'<script id="auth-owners" output="root"/><script id="http-title" output="New"><elem key="title">New</elem>\n'
            b'</script><script id="zeta" output="old z"/>',
        ).replace(
            b'<hostscript><script id="smb" output="s"/></hostscript>',
            b'<hostscript><script id="daytime" output="now"/><script id="smb" output="s"/></hostscript>',
        )
        + TAIL
    )


def test_no_results_means_the_host_bytes_are_untouched(tmp_path: Path) -> None:
    source = tmp_path / "in.xml"
    source.write_bytes(HEAD + HOST + TAIL)
    out = tmp_path / "out.xml"
    write_enriched(source, out, lambda host, writer: None)
    assert out.read_bytes() == source.read_bytes()


def test_a_result_for_an_unlisted_port_is_an_error_not_a_silent_loss(tmp_path: Path) -> None:
    source = tmp_path / "in.xml"
    source.write_bytes(HEAD + HOST + TAIL)
    out = tmp_path / "out.xml"
    out.write_bytes(b"previous")

    def enrich(host: Host, writer: XmlWriter) -> None:
        host.add_port_result("tcp", 81, ScriptResult("x", "y"))

    try:
        write_enriched(source, out, enrich)
    except Exception as exc:
        assert type(exc).__name__ == "NmapxError"
        assert "81/tcp: the port is not listed in the input" in str(exc)
    else:
        raise AssertionError("expected an error")
    assert out.read_bytes() == b"previous"
    assert etree.fromstring(source.read_bytes()) is not None
