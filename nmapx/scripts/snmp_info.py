"""Extracts basic information from an SNMPv3 GET request. The same probe is used here as in
the service version detection scan.

A port of Nmap 7.93's ``snmp-info.nse``: the reply to Nmap's ``SNMPv3GetRequest`` probe (taken
from the port's service fingerprint when version detection recorded it, else sent again)
gives the agent's authoritative engine ID (enterprise, format and data), its boots and its
time. Enterprise names come from Nmap's ``nselib/data/enterprise_numbers.txt`` when an Nmap
installation provides it (else ``unknown``). Nmap also rewrites the port's service product
(``<enterprise> SNMPv3 server``), written into the port's ``<service>`` as Nmap does.

@usage nmapx run scan.xml --script snmp-info
@output
    161/udp open  snmp
    | snmp-info:
    |   enterprise: ciscoSystems
    |   engineIDFormat: mac
    |   engineIDData: 00:d4:8c:00:11:22
    |   snmpEngineBoots: 6
    |_  snmpEngineTime: 358d01h13m46s
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

from nmapx.nse import comm, datetime, lpeg_utility, nmap, shortport, snmp, stdnse

author = "Daniel Miller (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "version", "safe"]

portrule = shortport.version_port_or_service(161, "snmp", "udp")

#: Nmap's ``SNMPv3GetRequest`` probe (nmap-service-probes), msgID 0x4a69.
SNMPV3_GET_REQUEST = (
    b"\x30\x3a\x02\x01\x03\x30\x0f\x02\x02\x4a\x69\x02\x03\0\xff\xe3\x04\x01\x04\x02\x01\x03"
    b"\x04\x10\x30\x0e\x04\0\x02\x01\0\x02\x01\0\x04\0\x04\0\x04\0\x30\x12\x04\0\x04\0\xa0"
    b"\x0c\x02\x02\x37\xf0\x02\x01\0\x02\x01\0\x30\0"
)


def _at(table: Any, index: int) -> Any:
    """Lua's ``t[i]`` (1-based) on a decoded value: nil past the end or on a non-table."""
    if isinstance(table, list) and 0 < index <= len(table):
        return table[index - 1]
    if isinstance(table, int | bool):
        raise TypeError(f"attempt to index a {type(table).__name__} value")
    return None


def engine_id_fields(engine_id: bytes) -> stdnse.OutputTable:
    """enterprise, engineIDFormat and engineIDData of an engine ID (RFC 3411's layout)."""
    output = stdnse.output_table()
    if len(engine_id) < 4:
        raise struct.error("data string too short")
    enterprise = struct.unpack(">I", engine_id[:4])[0]
    if enterprise > 0x80000000:
        enterprise -= 0x80000000
        output["enterprise"] = snmp.enterprise_name(enterprise)
        if len(engine_id) < 5:
            raise struct.error("data string too short")
        kind, data = engine_id[4], engine_id[5:]
        if kind == 1:
            output["engineIDFormat"] = "ipv4"
            output["engineIDData"] = _str_to_ip(data[:4])
        elif kind == 2:
            output["engineIDFormat"] = "ipv6"
            output["engineIDData"] = _str_to_ip(data[:16])
        elif kind == 3:
            output["engineIDFormat"] = "mac"
            output["engineIDData"] = stdnse.tohex(data[:6], separator=":")
        elif kind == 4:
            output["engineIDFormat"] = "text"
            output["engineIDData"] = data
        elif kind == 5:
            output["engineIDFormat"] = "octets"
            output["engineIDData"] = stdnse.tohex(data)
        else:
            output["engineIDFormat"] = "unknown"
            output["engineIDData"] = stdnse.tohex(data)
    else:
        output["enterprise"] = snmp.enterprise_name(enterprise, enterprise)
        output["engineIDFormat"] = "unknown"
        output["engineIDData"] = stdnse.tohex(engine_id[4:])
    return output


def _str_to_ip(data: bytes) -> str | None:
    """``ipOps.str_to_ip``: 4 bytes as IPv4, 16 as IPv6; anything else is nil."""
    if len(data) == 4:
        return str(ipaddress.IPv4Address(data))
    if len(data) == 16:
        return str(ipaddress.IPv6Address(data))
    return None


async def action(host: Any, port: Any) -> stdnse.OutputTable | None:
    response: bytes | None = None
    if port.version is not None and port.version.service_fp:
        response = lpeg_utility.get_response(port.version.service_fp, "SNMPv3GetRequest")
    if response is None:
        try:
            response = await comm.exchange(host, port, SNMPV3_GET_REQUEST)
        except comm.CommError as error:
            stdnse.debug(1, "Couldn't get a response: %s", error)
            return None
    decoded, _ = snmp.decode(response)
    header = _at(decoded, 2)
    if decoded is None or _at(decoded, 1) != 3 or not header or (_at(header, 1) or False) != 0x4A69:
        stdnse.debug(1, "Service is not SNMPv3, or packet structure not recognized")
        return None
    if _at(header, 4) != 3:
        stdnse.debug(1, "SNMP service not using User-based Security Model")
        return None
    parameters, _ = snmp.decode(_security_parameters(_at(decoded, 3)))
    engine_id = _at(parameters, 1)
    if not isinstance(engine_id, bytes):
        raise TypeError("bad argument #2 to 'unpack' (string expected)")
    output = engine_id_fields(engine_id)
    output["snmpEngineBoots"] = _at(parameters, 2)
    engine_time = _at(parameters, 3)
    if not isinstance(engine_time, int) or isinstance(engine_time, bool):
        raise TypeError("attempt to perform arithmetic on a nil value")
    output["snmpEngineTime"] = datetime.format_time(engine_time)
    version = port.version
    ours = f"{_lua_string(output['enterprise'])} SNMPv3 server"
    if version.product and version.product != "SNMPv3 server":
        # Nmap appends to the product version detection found; nmapx may run on a -sV scan
        # where Nmap's own snmp-info (a version script) already appended it, and appends
        # only once, so that re-running gives what one Nmap run gives.
        if not version.product.endswith("; " + ours):
            version.product = f"{version.product}; {ours}"
    else:
        version.product = ours
    nmap.set_port_version(host, port, "hardmatched")
    return output


def _lua_string(value: Any) -> str:
    """``("%s"):format(value)`` of a name (a string) or a bare enterprise number."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def _security_parameters(value: Any) -> bytes:
    """``snmp.decode(decoded[3])``: Lua's decoder needs a string there."""
    if not isinstance(value, bytes):
        raise TypeError("bad argument #1 to 'unpack' (string expected)")
    return value
