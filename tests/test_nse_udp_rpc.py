"""snmp-sysdescr, snmp-info, dns-nsid, dns-recursion, ntp-info and rpcinfo: nmapx and real Nmap
7.93 on the same real daemons in the same test, compared; and the libraries on recorded bytes.

* Servers (``fixtures/udp_servers.py``), one private network namespace for the module: snmpd
  on 127.0.0.1:161 (community ``public``, sysDescr/sysContact/sysLocation, a text engine ID);
  unbound on 127.0.0.1:53 (NSID, identity, version; recursion allowed, ``www.wikipedia.org``
  answered from local data) and on 127.0.0.2:53 (recursion refused); ntpsec's ntpd (no time
  source) on 123; rpcbind on 111 TCP and UDP. Hostile Python peers on 127.0.0.3: an SNMP agent
  answering with truncated BER, a DNS server whose answer's owner name is a compression
  pointer to itself.
* Each case: Nmap (``-sU -sT``, with or without ``-sV``, at -v0, -v, -vv, scripts selected by
  name; and by category at -v0, through a ``--datadir`` whose script.db lists only these six,
  so that ntp-info's -v0 form is reached) writes -oX and -oN; its script results are removed
  from the XML and nmapx runs (in-process, inside the namespace) on the rest; every
  ``<script>`` element of every port is compared as bytes, and the ``|`` lines of -oN per
  (host, port, script).
* Compared by pattern, because they differ between two runs of Nmap itself:
  - snmp-sysdescr's ``System uptime: ... (N timeticks)`` (the agent's uptime, in 1/100 s);
  - snmp-info's ``snmpEngineTime`` (seconds since the agent started);
  - ntp-info's ``receive time stamp`` (the server's clock; the script divides the fraction by
    2^28, so it moves by up to 16 s), ``clock``, ``rootdisp``, ``rootdelay``, ``offset``,
    ``frequency``, ``sys_jitter``, ``clk_jitter``, ``clk_wander``, ``tc`` (ntpd's running
    state);
  - as sets: rpcinfo's tables (program number -> netid -> port/addr/owner/version, a Lua hash
    table whose order Nmap draws at random each run) and dns-nsid's ``NSID`` table (``raw`` and
    ``hex``, a plain Lua table). Text output is compared byte for byte everywhere.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import in_script_thread, needs_nmap, nmapx_main, normal_script_blocks
from lxml import etree

from fixtures import udp_servers
from fixtures.netns import PrivateNetwork, unavailable
from nmapx.nse import asn1, dns, rpc, snmp
from nmapx.scripts import dns_nsid, ntp_info, rpcinfo, snmp_info

SCRIPTS = ("snmp-sysdescr", "snmp-info", "dns-nsid", "dns-recursion", "ntp-info", "rpcinfo")
PORTS = "U:53,111,123,161,T:53,111"
# ------------------------------------------------ recorded replies (real daemons, 2026-12-07)
SNMP_SYSDESCR = bytes.fromhex(
    "304902010004067075626c6963a23c02026f0c0201000201003030302e06082b0601020101010004226e6d61"
    "70782074657374206167656e742c204c696e757820362e31207838365f3634"
)
SNMP_V3 = bytes.fromhex(
    "306d020103300f02024a69020300ffe30401000201030421301f041180001f88046e6d6170782d656e67696e"
    "650201010201020400040004003034041180001f88046e6d6170782d656e67696e650400a81d020237f00201"
    "000201003011300f060a2b060106030f01010400410101"
)
DNS_ID_SERVER = bytes.fromhex(
    "000181800001000100000001026964067365727665720000100003c00c0010000300000000000e0d69642e6e"
    "6d6170782e7465737400002904d00000800000120003000e6e73312e6e6d6170782e74657374"
)
NTP_TIME = bytes.fromhex(
    "d40004e80000000000000000494e49540000000000000000ffffffffffffff00eec12b5f9e3e67c2eec12b5f"
    "9e42373d"
)
NTP_READVAR = bytes.fromhex(
    "d6820001c01600000000015a6c6561703d332c207374726174756d3d31362c20707265636973696f6e3d2d32"
    "342c20726f6f7464656c61793d302e3030302c20726f6f74646973703d302e3031352c0d0a72656669643d49"
    "4e49542c2072656674696d653d307830303030303030302e30303030303030302c2074633d302c2070656572"
    "3d302c206f66667365743d302e3030303030302c0d0a6672657175656e63793d302e3030303030302c207379"
    "735f6a69747465723d302e3030303030302c20636c6b5f6a69747465723d302e3030303036302c0d0a636c6f"
    "636b3d307865656331326235662e39653531393264652c2070726f636573736f723d227838365f3634222c0d"
    "0a73797374656d3d224c696e75782f362e31382e34342d66632d7631333030222c2076657273696f6e3d226e"
    "747064206e74707365632d312e322e32222c0d0a636c6b5f77616e6465723d302e3030303030302c206d696e"
    "74633d300d0a0000"
)
RPC_DUMP_V4 = bytes.fromhex(
    "00000007000000010000000000000000000000000000000000000001000186a0000000040000000474637036"
    "000000083a3a2e302e3131310000000973757065727573657200000000000001000186a00000000300000004"
    "74637036000000083a3a2e302e3131310000000973757065727573657200000000000001000186a000000004"
    "0000000475647036000000083a3a2e302e3131310000000973757065727573657200000000000001000186a0"
    "000000030000000475647036000000083a3a2e302e3131310000000973757065727573657200000000000001"
    "000186a00000000400000003746370000000000d302e302e302e302e302e3131310000000000000973757065"
    "727573657200000000000001000186a00000000300000003746370000000000d302e302e302e302e302e3131"
    "310000000000000973757065727573657200000000000001000186a00000000200000003746370000000000d"
    "302e302e302e302e302e3131310000000000000973757065727573657200000000000001000186a000000004"
    "00000003756470000000000d302e302e302e302e302e31313100000000000009737570657275736572000000"
    "00000001000186a00000000300000003756470000000000d302e302e302e302e302e31313100000000000009"
    "73757065727573657200000000000001000186a00000000200000003756470000000000d302e302e302e302e"
    "302e3131310000000000000973757065727573657200000000000001000186a000000004000000056c6f6361"
    "6c000000000000112f72756e2f72706362696e642e736f636b00000000000009737570657275736572000000"
    "00000001000186a000000003000000056c6f63616c000000000000112f72756e2f72706362696e642e736f63"
    "6b0000000000000973757065727573657200000000000000"
)


# =============================================================================== libraries
def test_snmp_get_request_is_what_snmp_lua_sends() -> None:
    request = snmp.build_get_request({"reqId": 28428}, "1.3.6.1.2.1.1.1.0")
    assert snmp.encode(snmp.build_packet(request, 0, "public")) == bytes.fromhex(
        "302702010004067075626c6963a01a02026f0c020100020100300e300c06082b060102010101000500"
    )


def test_snmp_decodes_a_recorded_get_response() -> None:
    message, end = snmp.decode(SNMP_SYSDESCR)
    assert end == len(SNMP_SYSDESCR)
    assert message[:2] == [0, b"public"] and message[2].tag == 0xA2
    values = snmp.fetch_response_values(SNMP_SYSDESCR)
    assert values == [
        (b"nmapx test agent, Linux 6.1 x86_64", "1.3.6.1.2.1.1.1.0", [1, 3, 6, 1, 2, 1, 1, 1, 0])
    ]


def test_snmp_info_reads_a_recorded_v3_report() -> None:
    decoded, _ = snmp.decode(SNMP_V3)
    assert decoded[0] == 3 and decoded[1][0] == 0x4A69 and decoded[1][3] == 3
    parameters, _ = snmp.decode(decoded[2])
    fields = snmp_info.engine_id_fields(parameters[0])
    assert dict(fields) == {
        "enterprise": "net-snmp",
        "engineIDFormat": "text",
        "engineIDData": b"nmapx-engine",
    }
    mac = snmp_info.engine_id_fields(bytes.fromhex("800000090300d48c001122"))
    assert list(mac.values()) == ["ciscoSystems", "mac", "00:d4:8c:00:11:22"]


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"\x02\x02\xff\xff", -1),  # signed, as asn1.lua
        (b"\x02\x03\x01\x00\x02", 65538),
        (b"\x43\x04\x80\x00\x00\x00", -(2**31)),  # TimeTicks too
        (b"\x01\x05\x00", False),  # BOOLEAN reads one byte whatever the length
        (b"\x05\x00", False),
        (b"\x30\x09\x02\x01\x01\x02\x01\xff\x02\x01\x42", [1, -1, 0x42]),
        (b"\x30\x03\x99\x00\x05", []),  # an unknown tag vanishes; the last byte is skipped
        (b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09\x04", [1, 2, 840, 113549, 1, 9, 4]),
    ],
)
def test_asn1_decodes_as_asn1_lua(data: bytes, value: Any) -> None:
    assert snmp.decode(data)[0] == value


@pytest.mark.parametrize(
    "data",
    [b"\x30\x82\xff\xff\x02\x01", b"\x02\x00", b"\x02\x09\x01" + bytes(8), b"\x04\x05ab", b""],
)
def test_asn1_errors_where_lua_errors(data: bytes) -> None:
    with pytest.raises(asn1.Asn1Error):
        snmp.decode(data)


def test_dns_decodes_a_recorded_nsid_reply() -> None:
    packet = dns.decode(DNS_ID_SERVER)
    assert packet.id == 1 and packet.flags == 0x8180
    assert packet.questions[0].dname == b"id.server"
    (answer,) = packet.answers
    assert (answer.dname, answer.dtype, answer.dclass) == (b"id.server", 16, 3)
    assert answer.data == b"\x0did.nmapx.test" and answer.txt == []  # dns.lua's TXT loop
    assert dns_nsid.rr_filter(packet.answers, "TXT") == (True, b"id.nmapx.test")
    assert dns_nsid.rr_filter(packet.add, "OPT") == (True, b"ns1.nmapx.test")
    assert packet.add[0].opt is not None and packet.add[0].opt["zflags"] == 0x8000


def test_dns_query_is_what_dns_lua_sends() -> None:
    query = dns.encode_query("id.server", 16, 3, nsid=True, dnssec=True)
    assert query == bytes.fromhex(
        "0001010000010000000000010269640673657276657200001000030000291000000080000004000300" + "00"
    )


def test_dns_names_follow_dns_lua() -> None:
    loop = b"\xc0\x00"
    assert dns.dec_str(loop, 0) == (2, None)  # 10 pointers deep, then nil; decoding goes on
    chain = b"\x01a\xc0\x00"
    assert dns.dec_str(chain, 0) == (4, None)
    assert dns.dec_str(b"\x03abc\x00", 0) == (5, b"abc")
    assert dns.dec_str(b"\x05ab", 0) == (1, None)  # a label longer than what is left
    with pytest.raises(dns.DnsError):
        dns.dec_str(b"\x03abc", 0)


def test_ntp_parses_recorded_replies() -> None:
    stamp = ntp_info.receive_timestamp(NTP_TIME)
    seconds, fraction = struct.unpack(">II", NTP_TIME[32:40])
    assert stamp == seconds - 2208988800 + fraction / 0x10000000
    pairs = dict(ntp_info.parse_variables(ntp_info.variables_data(NTP_READVAR)))
    assert pairs[b"version"] == b"ntpd ntpsec-1.2.2" and pairs[b"stratum"] == b"16"
    assert pairs[b"refid"] == b"INIT" and pairs[b"mintc"] == b"0\r\n"
    assert ntp_info.parse_variables(b'a="x\\"y\\\\z\\q", b=, c') == [
        (b"a", b'x"y\\z\\q'),
        (b"b", b""),
        (b"c", b""),
    ]


class _Replay:
    """A socket stand-in replaying one recorded reply (rpc.dump over UDP)."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.sent: list[bytes] = []

    async def send(self, data: bytes) -> None:
        self.sent.append(data)

    async def receive_bytes(self, _count: int) -> bytes:
        return self.reply

    async def receive(self) -> bytes:
        from nmapx.nse.errors import SocketError

        raise SocketError("TIMEOUT")


def test_rpc_dump_of_a_recorded_rpcbind_reply() -> None:
    comm = rpc.Comm("rpcbind", 4)
    comm.proto, comm.ip = "udp", "127.0.0.1"
    comm.socket = _Replay(RPC_DUMP_V4)  # type: ignore[assignment]

    programs, _ = in_script_thread(lambda: rpc.dump(comm))
    assert set(programs) == {100000}
    entries = programs[100000]
    assert set(entries) == {"tcp", "udp", "tcp6", "udp6", "local"}
    assert entries["tcp"] == {"port": 111, "addr": b"0.0.0.0", "owner": b"superuser",
                              "version": [2, 3, 4]}  # fmt: skip
    assert entries["local"] == {"addr": b"/run/rpcbind.sock", "owner": b"superuser",
                                "version": [3, 4]}  # fmt: skip
    assert rpcinfo.table_lines(programs) == [
        "program version    port/proto  service",
        "100000  2,3,4        111/tcp   rpcbind",
        "100000  2,3,4        111/udp   rpcbind",
        "100000  3,4          111/tcp6  rpcbind",
        "100000  3,4          111/udp6  rpcbind",
    ]


def test_rpc_record_marking_over_tcp() -> None:
    comm = rpc.Comm("rpcbind", 2)
    comm.proto = "tcp"
    body = RPC_DUMP_V4
    fragments = struct.pack(">I", 10) + body[:10] + struct.pack(">I", 0x80000000 | 14) + body[10:24]

    class Chunks(_Replay):
        def __init__(self) -> None:
            super().__init__(b"")
            self.parts = [fragments[:7], fragments[7:]]

        async def receive(self) -> bytes:
            return self.parts.pop(0)

    comm.socket = Chunks()  # type: ignore[assignment]
    data, _ = in_script_thread(comm.receive_packet)
    assert data == body[:24]


# =============================================================================== hostile peers
#: Where the hostile peers listen (port 161 and 53, inside the module's namespace).
HOSTILE = "127.0.0.3"


def truncated_ber(_query: bytes) -> list[bytes]:
    """An SNMP "reply" whose outer SEQUENCE claims 65535 bytes: asn1.lua fails reading it."""
    return [b"\x30\x82\xff\xff\x02\x01\x00\x04\x06public\xa2\x05"]


def looping_names(query: bytes) -> list[bytes]:
    """A DNS reply whose answer's owner name is a pointer to itself (a compression loop), with
    a good TXT record behind it."""
    if len(query) < 12:
        return []
    question = udp_servers.dns_question(query)
    offset = 12 + len(question)
    answer = struct.pack(">H", 0xC000 | offset) + struct.pack(">HHIH", 16, 3, 0, 6) + b"\x05hello"
    return [udp_servers.pack_dns(udp_servers.dns_id(query), 0x8180, question, [answer])]


# =============================================================================== harness
@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateNetwork]:
    """The namespace with every daemon and hostile peer of the module (stopped by PID)."""
    reason = unavailable() or udp_servers.missing()
    if reason:
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("udp-servers")
    with PrivateNetwork(lifetime=900) as net:
        udp_servers.start_snmpd(net, directory)
        udp_servers.start_unbound(net, directory)
        udp_servers.start_unbound(net, directory, "127.0.0.2", recursion=False)
        udp_servers.start_ntpd(net, directory)
        udp_servers.start_rpcbind(net, directory)
        with (
            udp_servers.responder(net, HOSTILE, 161, truncated_ber),
            udp_servers.responder(net, HOSTILE, 53, looping_names),
        ):
            yield net


def nmap_datadir(tmp_path: Path) -> Path:
    """A --datadir whose script.db holds only this module's scripts (category selection)."""
    directory = tmp_path / "datadir"
    (directory / "scripts").mkdir(parents=True)
    entries = "".join(f'Entry {{ filename = "{s}.nse", categories = {{ "default", }} }}\n'
                      for s in SCRIPTS)  # fmt: skip
    (directory / "scripts" / "script.db").write_text(entries)
    return directory


#: Values that differ between two runs of Nmap itself (module docstring), in text and XML.
_VOLATILE_NTP = ("receive time stamp", "clock", "rootdisp", "rootdelay", "offset", "frequency",
                 "sys_jitter", "clk_jitter", "clk_wander", "tc")  # fmt: skip


def normalized(text: bytes) -> bytes:
    """``text`` (an element or -oN lines) with the volatile values replaced by ``*``."""
    text = re.sub(
        rb"System uptime: [^(]*\(\d+ timeticks\)", b"System uptime: * (* timeticks)", text
    )
    for key in (b"snmpEngineTime", *(k.encode() for k in _VOLATILE_NTP)):
        text = re.sub(rb"(\b" + key + rb": )[^&\n]*", rb"\1*", text)
        text = re.sub(rb'(<elem key="' + key + rb'">)[^<]*', rb"\1*", text)
    return text


def canonical(element: bytes, script: str) -> bytes:
    """The element with the children of Lua hash tables sorted (rpcinfo's tables at every
    level, dns-nsid's NSID table); everything else as it is."""
    if script not in ("rpcinfo", "dns-nsid"):
        return element
    root = etree.fromstring(element)

    def sort(node: Any, deep: bool) -> None:
        for child in node:
            if child.tag == "table":
                sort(child, True)
        if deep:
            children = sorted(node, key=lambda c: etree.tostring(c))
            node[:] = children

    sort(root, script == "rpcinfo")
    return bytes(etree.tostring(root))


def script_elements(xml: bytes) -> dict[tuple[str, int, str, str], bytes]:
    """(address, port, protocol, script id) -> the whole ``<script>`` element, as written."""
    found = {}
    for host in re.findall(rb"<host[ >].*?</host>", xml, re.S):
        address = re.search(rb'<address addr="([^"]+)"', host)
        assert address is not None
        for port in re.findall(rb"<port protocol=.*?</port>", host, re.S):
            head = re.match(rb'<port protocol="(\w+)" portid="(\d+)"', port)
            assert head is not None
            for element in re.findall(rb'<script id=".*?(?:/>|</script>)', port, re.S):
                name = re.match(rb'<script id="([^"]+)"', element)
                assert name is not None
                key = (address[1].decode(), int(head[2]), head[1].decode(), name[1].decode())
                found[key] = element
    return found


def compare(
    network: PrivateNetwork,
    tmp_path: Path,
    flags: list[str],
    targets: list[str],
    *,
    by_category: bool = False,
    ports: str = PORTS,
) -> dict[tuple[str, int, str, str], bytes]:
    """Nmap, then nmapx on Nmap's scan; asserts the same elements and ``|`` lines (by
    pattern where the module docstring says); returns Nmap's elements."""
    nmap_xml, nmap_normal = tmp_path / "nmap.xml", tmp_path / "nmap.nmap"
    if by_category:
        nmap_select = ["--datadir", str(nmap_datadir(tmp_path)), "--script", "default"]
        nmapx_select = ["--script", "default"]
    else:
        nmap_select = nmapx_select = ["--script", ",".join(SCRIPTS)]
    scan = ["-sU", "-sT"] if "T:" in ports and "U:" in ports else []
    command = ["nmap", "-n", "-Pn", *scan, "-p", ports, *flags, *nmap_select, *targets,
               "-oX", str(nmap_xml), "-oN", str(nmap_normal)]  # fmt: skip
    result = network.run(command, timeout=240, text=True)
    assert result.returncode == 0, result.stderr
    stripped = re.sub(r"<script .*?(/>|</script>)", "", nmap_xml.read_text(), flags=re.S)
    scan_file = tmp_path / "scan.xml"
    scan_file.write_text(stripped)
    ours_xml, ours_normal = tmp_path / "nmapx.xml", tmp_path / "nmapx.nmap"
    verbosity = [f for f in flags if f.startswith("-v")]
    with network.entered():
        mine = nmapx_main("run", str(scan_file), *nmapx_select, *verbosity,
                          "-oX", str(ours_xml), "-oN", str(ours_normal))  # fmt: skip
    assert mine.returncode == 0, mine.stderr
    assert b"Traceback" not in mine.stderr
    theirs = {k: v for k, v in script_elements(nmap_xml.read_bytes()).items() if k[3] in SCRIPTS}
    ours = script_elements(ours_xml.read_bytes())
    assert set(ours) == set(theirs)
    for key, element in theirs.items():
        assert normalized(canonical(ours[key], key[3])) == normalized(canonical(element, key[3])), (
            key
        )
    nmap_blocks = normal_script_blocks(nmap_normal.read_bytes(), SCRIPTS)
    our_blocks = normal_script_blocks(ours_normal.read_bytes(), SCRIPTS)
    assert {k: normalized(v) for k, v in our_blocks.items()} == {
        k: normalized(v) for k, v in nmap_blocks.items()
    }
    return theirs


# =============================================================================== against Nmap
CASES = [
    ([], False),
    (["-v"], False),
    (["-vv"], False),
    ([], True),
]


@needs_nmap
@pytest.mark.parametrize(("flags", "by_category"), CASES, ids=["v0", "v", "vv", "v0-category"])
def test_scripts_match_nmap_on_real_daemons(
    network: PrivateNetwork, tmp_path: Path, flags: list[str], by_category: bool
) -> None:
    targets = ["127.0.0.1", "127.0.0.2", HOSTILE]
    found = compare(network, tmp_path, flags, targets, by_category=by_category)
    scripts = {(k[0], k[3]) for k in found}
    for script in SCRIPTS:
        assert ("127.0.0.1", script) in scripts, script
    assert ("127.0.0.2", "dns-recursion") not in scripts  # refused: no output
    assert found["127.0.0.1", 53, "udp", "dns-recursion"] == (
        b'<script id="dns-recursion" output="Recursion appears to be enabled"/>'
    )
    snmp_descr = found["127.0.0.1", 161, "udp", "snmp-sysdescr"]
    assert udp_servers.SNMP_DESCR.encode() in snmp_descr
    ntp = found["127.0.0.1", 123, "udp", "ntp-info"]
    assert (b"&#xa;  leap: 3" in ntp) == (not by_category)  # all fields only with verbosity
    # the hostile peers: what Nmap prints, no more (a Lua error in asn1.lua; a looping name)
    assert found[HOSTILE, 161, "udp", "snmp-sysdescr"] == (
        b'<script id="snmp-sysdescr" output="ERROR: Script execution failed (use -d to debug)"/>'
    )
    assert b"id.server: hello" in found[HOSTILE, 53, "udp", "dns-nsid"]


@needs_nmap
@pytest.mark.parametrize("flags", [["-sV"], ["-sV", "-v"]], ids=["v0", "v"])
def test_scripts_match_nmap_after_version_detection(
    network: PrivateNetwork, tmp_path: Path, flags: list[str]
) -> None:
    found = compare(network, tmp_path, flags, ["127.0.0.1"])
    assert {k[3] for k in found} == set(SCRIPTS)


@needs_nmap
def test_dns_nsid_over_tcp_matches_nmap(network: PrivateNetwork, tmp_path: Path) -> None:
    """Only TCP scanned: dns-nsid asks over TCP (and reads until unbound goes quiet)."""
    found = compare(network, tmp_path, ["-sT"], ["127.0.0.1"], ports="T:53")
    assert (
        b"bind.version: " + udp_servers.DNS_VERSION.encode()
        in (found["127.0.0.1", 53, "tcp", "dns-nsid"])
    )
