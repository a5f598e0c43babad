"""Retrieves information from a DNS nameserver by requesting its nameserver ID (nsid) and
asking for its id.server and version.bind values. This script performs the same queries as
the following two dig commands:
  - dig CH TXT bind.version @target
  - dig +nsid CH TXT id.server @target

A port of Nmap 7.93's ``dns-nsid.nse`` (RFC 5001, RFC 4892) on :mod:`nmapx.nse.dns`: the NSID
is shown as its raw bytes and in hex; on TCP the script runs only when the same port is not
open over UDP.

@usage nmapx run scan.xml --script dns-nsid
@output
    53/udp open  domain  udp-response
    | dns-nsid:
    |   NSID dns.example.com (646E732E6578616D706C652E636F6D)
    |   id.server: dns.example.com
    |_  bind.version: 9.7.3-P3
"""

from __future__ import annotations

import struct
from typing import Any

from nmapx.nse import dns, nmap, shortport, stdnse

author = "John R. Bond (NSE original); nmapx port"
license = "Simplified (2-clause) BSD license--See https://nmap.org/svn/docs/licenses/BSD-simplified"
categories = ["discovery", "default", "safe"]

_DOMAIN = shortport.port_or_service(53, "domain", ("tcp", "udp"))


def portrule(host: Any, port: Any) -> bool:
    if not _DOMAIN(host, port):
        return False
    if port.protocol == "tcp":  # only when the UDP port is not open or open|filtered
        udp = nmap.get_port_state(host, {"number": port.number, "protocol": "udp"})
        if udp is not None:
            return not udp.state.startswith("open")
    return True


class Nsid(dict[str, bytes | str]):
    """The NSID table: ``raw`` and ``hex`` in XML, ``raw (hex)`` as text (its __tostring)."""

    def __str__(self) -> str:
        raw = self["raw"]
        text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
        hexed = self["hex"]
        return f"{text} ({hexed!s})"


def rr_filter(records: list[dns.Record], label: str) -> tuple[bool, bytes | str] | None:
    """The script's ``rr_filter``: the first record of ``label``'s type with data: an OPT
    record's first option value (``Failed to decode NSID`` when its length is off), a TXT
    record's first string."""
    for record in records:
        present = record.opt is not None if label == "OPT" else record.txt is not None
        if not present or not record.data:
            continue
        data = record.data
        if record.dtype == dns.TYPES["OPT"]:
            if len(data) < 4:
                return False, "Failed to decode NSID"
            (length,) = struct.unpack(">H", data[2:4])
            if length != len(data) - 4:
                return False, "Failed to decode NSID"
            return True, data[4 : 4 + length]
        if data[0] + 1 > len(data):
            raise dns.DnsError("data string too short")  # string.unpack(">s1", ...)
        return True, data[1 : 1 + data[0]]
    return None


async def action(host: Any, port: Any) -> stdnse.OutputTable | None:
    result = stdnse.output_table()
    status, response = await dns.query(
        "id.server",
        host=host.ip,
        port=port.number,
        proto=port.protocol,
        dtype="TXT",
        dclass=dns.CLASS["CH"],
        ret_all=True,
        ret_pkt=True,
        nsid=True,
        dnssec=True,
    )
    if status:
        found = rr_filter(response.add, "OPT")
        if found is not None and found[0]:
            nsid = found[1]
            assert isinstance(nsid, bytes)
            result["NSID"] = Nsid(raw=nsid, hex=stdnse.tohex(nsid))
        found = rr_filter(response.answers, "TXT")
        if found is not None and found[0]:
            result["id.server"] = found[1]
    status, version = await dns.query(
        "version.bind",
        host=host.ip,
        port=port.number,
        proto=port.protocol,
        dtype="TXT",
        dclass=dns.CLASS["CH"],
    )
    if status:
        result["bind.version"] = version
    return result if result else None
