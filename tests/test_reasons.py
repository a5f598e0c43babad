"""Reasons of ports folded into ``<extraports>``: one table, NSE's answers, Nmap's -oN.

Nmap up to 7.91 wrote ``<extrareasons reason=...>`` in the plural (``resets``); NSE's
``nmap.get_port_state`` and normal output always say the singular. nmapx had two plural
tables that disagreed (``dest-unreaches`` was singular in -oN, left plural by
``get_port_state``); :mod:`nmapx.model.reasons` is now the only one, with Nmap's own pairs
(``reason_map`` in portreasons.cc).

The live test runs real Nmap with an NSE script that prints ``get_port_state`` for folded
ports, on 127.0.0.1 inside a private network namespace (closed TCP ports give ``reset`` to a
SYN scan and ``conn-refused`` to a connect scan; closed UDP ports give ``port-unreach``, with
the namespace's ICMP rate limit off so every probe is answered). nmapx must give the same
answers, and the same -oN, for that XML and for the same XML with the reasons in the plural
as older Nmap wrote them. Reasons a loopback scan cannot produce (``dest-unreach`` needs a
router) are checked on constructed XML: ``get_port_state`` and -oN must agree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from nmapx.model.host import Host
from nmapx.model.reasons import REASON_NAMES, singular_reason
from nmapx.nmapxml.reader import read_document
from nmapx.output.normal import encode_normal, format_document

SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
PLURAL = dict(REASON_NAMES)
ASKED = [(1, "tcp"), (20, "tcp"), (40, "tcp"), (1, "udp"), (20, "udp"), (40, "udp")]
NSE = """
description = "Prints nmap.get_port_state's state and reason for fixed ports (nmapx test)."
categories = {"safe"}
hostrule = function(host) return true end
action = function(host)
  local out = {}
  for _, spec in ipairs({%s}) do
    local p = nmap.get_port_state(host, {number=spec[1], protocol=spec[2]})
    if p then
      out[#out+1] = ("%%d/%%s %%s %%s"):format(p.number, p.protocol, p.state, p.reason)
    else
      out[#out+1] = ("%%d/%%s nil"):format(spec[1], spec[2])
    end
  end
  return table.concat(out, "\\n")
end
"""

needs_netns_nmap = pytest.mark.skipif(
    os.geteuid() != 0
    or shutil.which("nmap") is None
    or shutil.which("unshare") is None
    or shutil.which("ip") is None,
    reason="needs root, nmap, unshare and ip (a private network namespace)",
)


def _host(path: Path) -> Host:
    (host,) = [item for item in read_document(str(path)) if isinstance(item, Host)]
    return host


def _describe(host: Host, number: int, protocol: str) -> str:
    port = host.get_port_state(number, protocol)
    if port is None:
        return f"{number}/{protocol} nil"
    return f"{port.number}/{port.protocol} {port.state} {port.reason}"


def _pluralize(xml: bytes) -> bytes:
    """The same scan as Nmap <= 7.91 wrote it: ``<extrareasons reason>`` in the plural."""
    return re.sub(
        rb'(<extrareasons reason=")([^"]+)"',
        lambda m: m[1] + PLURAL[m[2].decode()].encode() + b'"',
        xml,
    )


def _nmap_in_namespace(tmp_path: Path, name: str, *args: str) -> tuple[bytes, bytes]:
    """Real nmap on 127.0.0.1 in a new network namespace; its XML and normal output."""
    script = tmp_path / "reasonstate.nse"
    script.write_text(NSE % ", ".join(f'{{{n}, "{p}"}}' for n, p in ASKED))
    xml, normal = tmp_path / f"{name}.xml", tmp_path / f"{name}.nmap"
    command = " ".join(
        ["exec nmap -n -Pn", *args, "--script", str(script), "-oX", str(xml), "-oN", str(normal)]
    )
    subprocess.run(
        [
            "unshare",
            "-n",
            "sh",
            "-c",
            "ip link set lo up && sysctl -q -w net.ipv4.icmp_ratelimit=0 && " + command,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return xml.read_bytes(), normal.read_bytes()


@needs_netns_nmap
@pytest.mark.parametrize(
    ("name", "args", "reasons"),
    [
        ("syn-udp", ["-sS", "-sU", "-p", "T:1-40,U:1-40", "127.0.0.1"], {"reset", "port-unreach"}),
        ("connect", ["-sT", "-p", "1-40", "127.0.0.1"], {"conn-refused"}),
    ],
)
def test_folded_port_reasons_match_real_nse_and_nmap_normal_output(
    tmp_path: Path, name: str, args: list[str], reasons: set[str]
) -> None:
    xml, normal = _nmap_in_namespace(tmp_path, name, *args)
    nse_said = re.search(rb'<script id="reasonstate" output="([^"]*)"', xml)[1]
    nse_lines = nse_said.decode().split("&#xa;")
    written = set(re.findall(rb'<extrareasons reason="([^"]+)"', xml))
    assert {r.decode() for r in written} == reasons  # every asked port was folded
    for variant, data in (("as written", xml), ("plural, as Nmap <= 7.91", _pluralize(xml))):
        path = tmp_path / f"{name}-{variant.split(',')[0].replace(' ', '-')}.xml"
        path.write_bytes(data)
        host = _host(path)
        assert [_describe(host, n, p) for n, p in ASKED] == nse_lines, variant
        root = etree.fromstring(data, SAFE)
        assert encode_normal(format_document(root)) == normal, variant


@pytest.mark.parametrize(("singular", "plural"), REASON_NAMES)
def test_every_plural_reason_reads_the_same_in_get_port_state_and_normal_output(
    tmp_path: Path, singular: str, plural: str
) -> None:
    path = tmp_path / "scan.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<nmaprun scanner="nmap" args="nmap -sS -p 1-3,22 192.0.2.7" start="1"'
        ' startstr="Thu Jan  1 00:00:01 1970" version="7.80" xmloutputversion="1.04">\n'
        '<scaninfo type="syn" protocol="tcp" numservices="4" services="1-3,22"/>\n'
        '<verbose level="0"/>\n<debugging level="0"/>\n'
        '<host starttime="1" endtime="2"><status state="up" reason="echo-reply"'
        ' reason_ttl="63"/>\n<address addr="192.0.2.7" addrtype="ipv4"/>\n'
        "<hostnames>\n</hostnames>\n"
        '<ports><extraports state="filtered" count="3">\n'
        f'<extrareasons reason="{plural}" count="3" proto="tcp" ports="1-3"/>\n'
        "</extraports>\n"
        '<port protocol="tcp" portid="22"><state state="open" reason="syn-ack"'
        ' reason_ttl="63"/><service name="ssh" method="table" conf="3"/></port>\n'
        "</ports>\n"
        '<times srtt="1000" rttvar="500" to="100000"/>\n</host>\n'
        '<runstats><finished time="2" timestr="Thu Jan  1 00:00:02 1970" elapsed="1.00"'
        ' exit="success"/><hosts up="1" down="0" total="1"/>\n</runstats>\n</nmaprun>\n'
    )
    assert singular_reason(plural) == singular
    assert singular_reason(singular) == singular
    port = _host(path).get_port_state(2, "tcp")
    assert (port.state, port.reason) == ("filtered", singular)
    text = format_document(etree.parse(str(path), SAFE).getroot())
    assert f"Not shown: 3 filtered tcp ports ({singular})\n" in text


def test_dest_unreaches_reads_dest_unreach_everywhere(tmp_path: Path) -> None:
    """The case found on a real file: -oN said dest-unreach, get_port_state dest-unreaches."""
    assert singular_reason("dest-unreaches") == "dest-unreach"
    assert PLURAL["dest-unreach"] == "dest-unreaches"


def test_table_names_are_in_the_installed_nmap() -> None:
    """Every name is a string of the real Nmap binary (portreasons.cc's table), so a typo
    here cannot pass unnoticed; the linker may share a name's bytes with a longer one that
    ends the same way, so only the end of each string is checked."""
    nmap = shutil.which("nmap")
    if nmap is None:
        pytest.skip("nmap is not installed")
    binary = Path(os.path.realpath(nmap)).read_bytes()
    missing = [n for pair in REASON_NAMES for n in pair if n.encode() + b"\0" not in binary]
    assert missing == []
