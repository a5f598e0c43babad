"""Attempts to extract system information from an SNMP service.

A port of Nmap 7.93's ``snmp-sysdescr.nse``: two SNMP GetRequests (sysDescr.0, then
sysUpTime.0, both with request id 28428) with the community ``public`` (or the one
``creds.snmp``/``creds.global`` give) and the ``snmp.version`` script argument's version.
Once the agent answers, the port is marked ``open`` (``nmap.set_port_state``), as Nmap does.

@usage nmapx run scan.xml --script snmp-sysdescr
@args snmp.version ``v1`` (default) or ``v2c``.
@output
    161/udp open  snmp
    | snmp-sysdescr: HP ETHERNET MULTI-ENVIRONMENT,ROM A.25.80,JETDIRECT,JD117,EEPROM V.28.22
    |_  System uptime: 28 days, 17:18:59 (248153900 timeticks)
"""

from __future__ import annotations

from typing import Any

from nmapx.nse import datetime, nmap, shortport, snmp
from nmapx.nse.errors import SocketError

author = "Thomas Buchanan (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "discovery", "safe"]
dependencies = ["snmp-brute"]

portrule = shortport.port_or_service(161, "snmp", "udp", ("open", "open|filtered"))

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


def _first_value(response: list[tuple[Any, str, Any]]) -> Any:
    """``response and response[1] and response[1][1]``."""
    return response[0][0] if response else None


def _lua_concat(value: Any) -> bytes:
    """``value .. ""`` in Lua: strings and numbers concatenate, anything else is an error."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode()
    raise TypeError(f"attempt to concatenate a {type(value).__name__} value")


async def action(host: Any, port: Any) -> Any:
    helper = snmp.Helper(host, port)
    try:
        try:
            await helper.connect()  # the Lua script ignores a failed connect; send fails then
            response = await helper.get({"reqId": 28428}, SYS_DESCR)
        except SocketError:
            return None
        nmap.set_port_state(host, port, "open")  # since we got something back
        result = _first_value(response)
        try:
            response = await helper.get({"reqId": 28428}, SYS_UPTIME)
        except SocketError:
            return result
        uptime = _first_value(response)
        if uptime is None or uptime is False:
            return None
        if not isinstance(uptime, int) or isinstance(uptime, bool):
            raise TypeError(f"attempt to perform arithmetic on a {type(uptime).__name__} value")
        line = f"  System uptime: {datetime.format_time(uptime, 100)} ({uptime} timeticks)"
        return _lua_concat(result) + b"\n" + line.encode()
    finally:
        helper.close()
