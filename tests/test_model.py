"""The model rules see: get_port_state (against real NSE), and the NSE host/port views."""

from __future__ import annotations

import re
import subprocess
from io import BytesIO
from pathlib import Path

import pytest
from conftest import CORPUS, needs_nmap
from lxml import etree

from nmapx.model.host import Host, ScanContext
from nmapx.model.results import lua_tostring
from nmapx.nmapxml.reader import read_document

PORTSTATE_NSE = """
description = "Reports nmap.get_port_state for a fixed list of ports (nmapx test)."
categories = {"safe"}
hostrule = function(host) return true end
action = function(host)
  local out = {}
  for _, spec in ipairs({%s}) do
    local p = nmap.get_port_state(host, {number=spec[1], protocol=spec[2]})
    if p then
      out[#out+1] = ("%%s/%%s %%s %%s %%s %%s %%s"):format(tostring(p.number), p.protocol, p.state,
        p.reason, tostring(p.reason_ttl), tostring(p.service), tostring(p.version.name_confidence))
    else
      out[#out+1] = ("%%d/%%s nil"):format(spec[1], spec[2])
    end
  end
  return table.concat(out, "\\n")
end
"""


def hosts_of(path: Path) -> list[Host]:
    return [item for item in read_document(str(path)) if isinstance(item, Host)]


def describe(host: Host, number: int, protocol: str) -> str:
    port = host.get_port_state(number, protocol)
    if port is None:
        return f"{number}/{protocol} nil"
    service = port.service if port.service is not None else "nil"
    return (
        f"{port.number}/{port.protocol} {port.state} {port.reason} {port.reason_ttl} {service}"
        f" {lua_tostring(port.version.name_confidence).decode()}"
    )


@needs_nmap
def test_get_port_state_matches_real_nse(tmp_path: Path, listener_factory) -> None:
    """Real Nmap runs an NSE script that asks get_port_state; nmapx must answer the same."""
    listener = listener_factory()
    specs = [
        (listener.port, "tcp"),
        (113, "tcp"),
        (1, "tcp"),
        (200, "tcp"),
        (201, "tcp"),
        (113, "udp"),
        (listener.port + 1, "tcp"),
    ]
    script = tmp_path / "portstate.nse"
    script.write_text(PORTSTATE_NSE % ", ".join(f'{{{n}, "{p}"}}' for n, p in specs))
    xml = tmp_path / "scan.xml"
    subprocess.run(
        [
            "nmap",
            "-n",
            "-Pn",
            "-sT",
            "-p",
            f"1-200,{listener.port}",
            "--script",
            str(script),
            "-oX",
            str(xml),
            "127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    text = xml.read_text()
    nse_said = re.search(r'<script id="portstate" output="([^"]*)"', text)[1].split("&#xa;")
    assert "<extraports" in text  # the closed ports were folded
    (host,) = hosts_of(xml)
    assert [describe(host, n, p) for n, p in specs] == nse_said
    # Older Nmap wrote no port lists in <extrareasons>: the single state still decides.
    stripped = tmp_path / "old-style.xml"
    stripped.write_text(re.sub(r' proto="tcp" ports="[^"]*"', "", text))
    (old_host,) = hosts_of(stripped)
    assert [describe(old_host, n, p) for n, p in specs] == nse_said


def _host(
    ports_xml: str, scaninfo: str = '<scaninfo type="syn" protocol="tcp" services="1-100"/>'
) -> Host:
    document = (
        '<?xml version="1.0"?>\n<nmaprun scanner="nmap" start="1">\n' + scaninfo + "\n"
        '<host><status state="up" reason="echo-reply" reason_ttl="63"/>\n'
        '<address addr="10.0.0.5" addrtype="ipv4"/>\n'
        '<address addr="00:11:22:AA:BB:CC" addrtype="mac" vendor="X"/>\n'
        '<hostnames><hostname name="target.example" type="user"/>'
        '<hostname name="ptr.example" type="PTR"/></hostnames>\n'
        f"<ports>{ports_xml}</ports>\n"
        '<os><osmatch name="Linux 5.X" accuracy="100" line="1"><osclass type="general purpose"'
        ' vendor="Linux" osfamily="Linux" osgen="5.X" accuracy="100"><cpe>cpe:/o:linux:linux_kernel:5</cpe>'
        "</osclass></osmatch></os>\n"
        '<trace><hop ttl="1" ipaddr="10.0.0.1" rtt="0.50"/><hop ttl="3" ipaddr="10.0.0.5"'
        ' rtt="1.25" host="ptr.example"/></trace>\n'
        '<times srtt="1500" rttvar="250" to="100000"/>\n</host>\n'
        '<runstats><finished time="2" elapsed="1"/><hosts total="1"/></runstats></nmaprun>\n'
    )
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.parse(BytesIO(document.encode()), parser).getroot()
    context = ScanContext()
    for info in root.iterfind("scaninfo"):
        context.add_scaninfo(info)
    element = root.find("host")
    return Host(element, etree.tostring(element), context=context)


def test_several_extraports_states_without_port_lists_are_unknown() -> None:
    host = _host(
        '<extraports state="closed" count="60"><extrareasons reason="resets" count="60"/></extraports>'
        '<extraports state="filtered" count="39"><extrareasons reason="no-responses" count="39"/>'
        "</extraports>"
        '<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/>'
        '<service name="ssh" product="OpenSSH" version="9.2p1" method="probed" conf="10" tunnel="ssl">'
        "<cpe>cpe:/a:openbsd:openssh:9.2p1</cpe></service></port>"
    )
    port = host.get_port_state(50, "tcp")
    assert (port.state, port.possible_states, port.origin) == (
        "unknown",
        ("closed", "filtered"),
        "extraports",
    )
    assert host.get_port_state(101, "tcp") is None  # not scanned
    assert host.get_port_state(50, "udp") is None  # protocol not scanned
    ssh = host.get_port_state(22, "tcp")
    assert (ssh.state, ssh.reason, ssh.reason_ttl, ssh.service) == ("open", "syn-ack", 64, "ssh")
    assert (ssh.version.product, ssh.version.version, ssh.version.service_tunnel) == (
        "OpenSSH",
        "9.2p1",
        "ssl",
    )
    assert (ssh.version.service_dtype, ssh.version.name_confidence) == ("probed", 10)
    assert ssh.version.cpe == ["cpe:/a:openbsd:openssh:9.2p1"]
    assert ssh["number"] == 22


def test_port_lists_decide_between_several_states() -> None:
    host = _host(
        '<extraports state="closed" count="60"><extrareasons reason="reset" count="60" proto="tcp"'
        ' ports="1-21,23-61"/></extraports>'
        '<extraports state="filtered" count="39"><extrareasons reason="no-response" count="39"'
        ' proto="tcp" ports="62-100"/></extraports>'
    )
    assert (host.get_port_state(5, "tcp").state, host.get_port_state(5, "tcp").reason) == (
        "closed",
        "reset",
    )
    assert host.get_port_state(70, "tcp").state == "filtered"
    assert host.get_port_state(70, "tcp").reason == "no-response"
    assert host.get_port_state(22, "tcp").state == "unknown"  # scanned, listed nowhere


def test_argument_checks_follow_nse() -> None:
    host = _host("")
    with pytest.raises(TypeError):
        host.get_port_state("113", "tcp")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        host.get_port_state(113, "icmp")


def test_nse_host_view() -> None:
    nse = _host("").nse
    assert (nse.ip, nse.name, nse.targetname) == ("10.0.0.5", "ptr.example", "target.example")
    assert (nse.reason, nse.reason_ttl) == ("echo-reply", 63)
    assert nse.mac_addr == bytes.fromhex("001122aabbcc")
    assert nse.bin_ip == bytes([10, 0, 0, 5])
    assert nse.times == {"srtt": 0.0015, "rttvar": 0.00025, "timeout": 0.1}
    assert nse.traceroute == [
        {"ip": "10.0.0.1", "srtt": 0.0005},
        {},
        {"ip": "10.0.0.5", "name": "ptr.example", "srtt": 0.00125},
    ]
    assert nse.os == [
        {
            "name": "Linux 5.X",
            "classes": [
                {
                    "vendor": "Linux",
                    "osfamily": "Linux",
                    "osgen": "5.X",
                    "type": "general purpose",
                    "cpe": ["cpe:/o:linux:linux_kernel:5"],
                }
            ],
        }
    ]
    assert nse.registry == {}


@pytest.mark.skipif(not CORPUS.is_dir(), reason="corpus missing")
def test_udp_port_lists_in_the_corpus() -> None:
    (host,) = hosts_of(CORPUS / "ad-lab" / "alludp.xml")[:1]
    assert host.get_port_state(53, "udp").state == "open"
    folded = host.get_port_state(161, "udp")
    assert (folded.state, folded.reason, folded.origin) == (
        "open|filtered",
        "no-response",
        "extraports",
    )
    assert folded.service == "snmp"  # from nmap-services, as Nmap names it
    assert host.get_port_state(53, "tcp") is None


@pytest.mark.parametrize(
    ("address", "addrtype", "names"),
    [("10.0.0.5", "ipv4", None), ("fe80::5", "ipv6", ["Linux 5.X"])],
)
def test_nse_os_holds_ipv6_perfect_matches_below_100(
    address: str, addrtype: str, names: list[str] | None
) -> None:
    """Nmap writes only its perfect IPv6 match, with a probability as accuracy (here 99):
    NSE's host.os lists it (num_perfect_matches is 1), as -oN prints ``OS details:``. An IPv4
    match at 99 is a guess, which host.os leaves out."""
    base = _host("")
    raw = base.raw.replace(
        b'addr="10.0.0.5" addrtype="ipv4"', f'addr="{address}" addrtype="{addrtype}"'.encode()
    ).replace(b'accuracy="100"', b'accuracy="99"')
    element = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))
    os_matches = Host(element, raw, context=ScanContext()).nse.os
    assert (None if os_matches is None else [m["name"] for m in os_matches]) == names
