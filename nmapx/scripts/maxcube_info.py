"""Reads the greeting of an eQ-3 MAX! Cube LAN gateway (TCP 62910) and reports its serial
number, RF address and firmware version from the ``H:`` line.

The Cube sends ``H:``, ``M:``, ``C:`` and ``L:`` lines as soon as a client connects, e.g.
``H:KMD1016788,099c3e,0113,00000000,7ee2b5d7,00,32,100408,002c,03,0000``: serial number, RF
address (hex), firmware version (``0113`` is 1.1.3), then connection id, duty cycle, free
memory slots, date, time and clock state. The Cube serves one TCP client at a time; while
another client holds it, a connect succeeds but nothing arrives. The script then times out
quietly (a debug message only), and it declares ``single_connection`` so that nmapx never has
two script threads on the Cube's port at once.

@usage nmapx run scan.xml --script maxcube-info
@args maxcube-info.timeout How long to wait for the greeting. Default: 5s
@output
    62910/tcp open  unknown
    | maxcube-info:
    |   MAX Serial:: KMD1016788
    |   RF Address: 099c3e
    |_  Firmware Version: 0113
"""

from __future__ import annotations

from typing import Any

from nmapx.nse import nmap, shortport, stdnse
from nmapx.nse.errors import SocketError

author = "nmapx"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["discovery", "safe"]
single_connection = True

SCRIPT_NAME = "maxcube-info"
portrule = shortport.portnumber(62910, "tcp")


def parse_hello(line: bytes) -> stdnse.OutputTable | None:
    """The fields of an ``H:`` line, as the keys the original script prints."""
    line = line.rstrip(b"\r\n")
    if not line.startswith(b"H:"):
        return None
    fields = line[2:].split(b",")
    if len(fields) < 3 or not fields[0]:
        return None
    table = stdnse.output_table()
    table["MAX Serial:"] = fields[0]
    table["RF Address"] = fields[1]
    table["Firmware Version"] = fields[2]
    return table


async def action(host: Any, port: Any) -> stdnse.OutputTable | None:
    timeout = stdnse.parse_timespec(stdnse.get_script_args(SCRIPT_NAME + ".timeout")) or 5
    sock = nmap.new_socket()
    sock.set_timeout(int(timeout * 1000))
    try:
        await sock.connect(host, port)
        # receive_lines has one deadline for the whole read; receive_buf would wait up to the
        # timeout *per read*, so a service sending a byte a second would keep it forever.
        greeting = await sock.receive_lines(1)
    except SocketError as error:
        stdnse.debug(
            1,
            "no greeting from %s:%s (%s): another client may hold the Cube",
            host.ip,
            port.number,
            error,
        )
        return None
    finally:
        sock.abort()
    line, newline, _rest = greeting.partition(b"\n")
    if not newline:
        stdnse.debug(
            1,
            "no complete greeting line from %s:%s in %d bytes",
            host.ip,
            port.number,
            len(greeting),
        )
        return None
    return parse_hello(line)
