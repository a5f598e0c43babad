"""Connects to portmapper and fetches a list of all registered programs. It then prints out
a table including (for each program) the RPC program number, supported version numbers, port
number and protocol, and program name.

A port of Nmap 7.93's ``rpcinfo.nse`` on :mod:`nmapx.nse.rpc` (rpcbind's DUMP, versions 4, 3
then 2, over the port's own protocol, TCP or UDP; one DUMP per host, shared by its ports).
The structured result is keyed by program number and netid, as Nmap's (a Lua hash table
there, so Nmap writes its entries in no fixed order). The services of the open ports the
programs are registered on are named after them (``softmatched``: name, ``RPC #N``, versions),
as Nmap does, unless version detection already named them something other than rpcbind.

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
    for number, netids in programs.items():
        for netid, entry in netids.items():
            if netid in ("tcp", "udp") and entry.get("port") is not None:
                _name_service(host, port, number, netid, entry)
    structured = {str(number): netids for number, netids in programs.items()}
    return structured, stdnse.format_output(True, table_lines(programs))


def _name_service(host: Any, port: Any, number: int, netid: str, entry: dict[str, Any]) -> None:
    """rpcinfo.nse's loop body: the program's port, if listed open, is named after it."""
    found = nmap.get_port_state(host, {"number": entry["port"], "protocol": netid})
    if found is None or found.state not in ("open", "open|filtered"):
        return
    version = found.version
    if found.service is None or version.service_dtype == "table" or port.service == "rpcbind":
        version.name = rpc.prog_number_to_name(number)
        version.extrainfo = f"RPC #{number}"
        versions = entry["version"]
        version.version = (
            f"{versions[0]:d}-{versions[-1]:d}" if len(versions) > 1 else str(versions[0])
        )
        nmap.set_port_version(host, found, "softmatched")
