"""Connects to a MySQL server and prints information such as the protocol and
version numbers, thread ID, status, capabilities, and the password salt.

If service detection is performed and the server appears to be blocking
our host or is blocked because of too many connections, then this script
isn't run (see the portrule).

A port of Nmap 7.93's ``mysql-info.nse`` on :mod:`nmapx.nse.mysql` (the greeting only, no
login). "Some Capabilities" lists the set bits in Lua ``pairs`` order in Nmap, which is hash
order and changes from one Nmap run to the next; nmapx lists them in the order mysql.lua
declares them (the basic capabilities, then the extended ones). An error packet (a server
refusing our address) is shown as ``MySQL Error`` only at a verbosity above 1 (``-v`` with the
script selected by name), else nothing; a greeting that cannot be read fails the script, as
``string.unpack`` fails it in Nmap.

@usage nmapx run scan.xml --script mysql-info
@output
    3306/tcp open  mysql
    |  mysql-info:
    |    Protocol: 10
    |    Version: 5.0.51a-3ubuntu5.1
    |    Thread ID: 7
    |    Capabilities flags: 40968
    |    Some Capabilities: ConnectWithDatabase, SupportsTransactions, Support41Auth
    |    Status: Autocommit
    |_   Salt: bYyt\\NQ/4V6IN+*3`imj
@xmloutput
    <elem key="Protocol">10</elem>
    <elem key="Version">5.0.51a-3ubuntu5.1</elem>
    <elem key="Thread ID">7</elem>
    <elem key="Capabilities flags">40968</elem>
    <table key="Some Capabilities">
      <elem>ConnectWithDatabase</elem>
      <elem>SupportsTransactions</elem>
      <elem>Support41Auth</elem>
    </table>
    <elem key="Status">Autocommit</elem>
    <elem key="Salt">bYyt\\NQ/4V6IN+*3`imj</elem>
"""

from __future__ import annotations

import re
from typing import Any

from nmapx.nse import mysql, nmap, stdnse
from nmapx.nse.errors import SocketError

author = "Kris Katterjohn (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "discovery", "safe"]

_BLOCKED = re.compile(r"[Uu]nauthorized|[Tt]oo many connection")


class CapabilityList(list[str]):
    """The names of the set bits; its text is the names joined by ``", "`` (the script's
    ``__tostring``), its XML one ``<elem>`` per name."""

    def __str__(self) -> str:
        return ", ".join(self)


def bitset(number: int, lookup: dict[str, int]) -> list[str]:
    """The names in ``lookup`` whose bit is set in ``number``."""
    return [name for name, bit in lookup.items() if number & bit > 0]


def portrule(host: Any, port: Any) -> bool:
    extra = port.version.extrainfo
    return (
        (port.number == 3306 or port.service == "mysql")
        and port.protocol == "tcp"
        and port.state == "open"
        and not (extra is not None and _BLOCKED.search(extra) is not None)
    )


async def action(host: Any, port: Any) -> Any:
    output = stdnse.output_table()
    socket = nmap.new_socket()
    try:
        await socket.connect(host, port)
    except SocketError as err:
        stdnse.debug1("error connecting: %s", err)
        return None

    _status, info = await mysql.receive_greeting(socket)
    if not isinstance(info, mysql.Greeting):
        stdnse.debug1("MySQL error: %s", info.decode("utf-8", "surrogateescape"))
        output["MySQL Error"] = info
        return output if nmap.verbosity() > 1 else None

    output["Protocol"] = info.proto
    output["Version"] = info.version
    output["Thread ID"] = info.threadid
    if info.proto == 10:
        assert info.capabilities is not None
        output["Capabilities flags"] = info.capabilities
        caps = bitset(info.capabilities, mysql.Capabilities)
        if info.extcapabilities is not None:
            caps += bitset(info.extcapabilities, mysql.ExtCapabilities)
        if caps:
            output["Some Capabilities"] = CapabilityList(caps)
        output["Status"] = "Autocommit" if info.status == 2 else info.status
        output["Salt"] = info.salt
        output["Auth Plugin Name"] = info.auth_plugin_name
    return output
