"""Connects to portmapper and fetches a list of all registered programs. It then prints out
a table including (for each program) the RPC program number, supported version numbers, port
number and protocol, and program name.

A port of Nmap 7.93's ``rpcinfo.nse`` on :mod:`nmapx.nse.rpc` (rpcbind's DUMP, versions 4, 3
then 2, over the port's own protocol, TCP or UDP; one DUMP per host, shared by its ports).
The structured result is keyed by program number and netid, as Nmap's (a Lua hash table
there, so Nmap writes its entries in no fixed order). Nmap also names the services of the
other ports it finds open this way (``softmatched``); nmapx keeps the input's ``<service>``.

@usage nmapx run scan.xml --script rpcinfo
@output
    111/tcp open  rpcbind
    | rpcinfo:
    |   program version    port/proto  service
    |   100000  2,3,4        111/tcp   rpcbind
    |   100000  2,3,4        111/udp   rpcbind
    |   100000  3,4          111/tcp6  rpcbind
    |_  100000  3,4          111/udp6  rpcbind
"""

from __future__ import annotations

from typing import Any

from nmapx.nse import nmap, rpc, shortport, stdnse

author = "Patrik Karlsson (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["discovery", "default", "safe", "version"]

_PORT_111 = shortport.portnumber(111, ("tcp", "udp"))


def portrule(host: Any, port: Any) -> bool:
    """Not by service name: version detection calls every RPC service "rpcbind"."""
    return nmap.version_intensity() >= 7 and _PORT_111(host, port)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def table_lines(programs: dict[int, dict[Any, dict[str, Any]]]) -> list[str]:
    """The sorted ``%-7d %-10s %5d/%-4s  %s`` lines, with the heading first when any."""
    lines = []
    for number, netids in programs.items():
        for netid, entry in netids.items():
            port = entry.get("port")
            if port is None:  # e.g. "local": a path, no port
                continue
            versions = ",".join(str(v) for v in entry["version"])
            name = rpc.prog_number_to_name(number) or ""
            lines.append(f"{number:<7d} {versions:<10s} {port:5d}/{_text(netid):<4s}  {name}")
    lines.sort(key=lambda line: line.encode("utf-8", "surrogateescape"))
    if lines:
        lines.insert(0, "program version    port/proto  service")
    return lines


async def action(host: Any, port: Any) -> Any:
    status, programs = await rpc.rpc_info(host, port)
    if not status:
        return stdnse.format_output(False, programs if programs is not None else "")
    structured = {str(number): netids for number, netids in programs.items()}
    return structured, stdnse.format_output(True, table_lines(programs))
