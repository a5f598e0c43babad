"""Discovers eQ-3 MAX! Cube LAN gateways with the Cube's own UDP discovery (port 23272) and
reports each Cube's address, serial number, RF address and firmware version. With the script
argument ``newtargets``, the Cubes found become new targets for ``maxcube-info``.

The exchange (Bouni/max-cube-protocol ``Cube_Discovery.md``; the same bytes are sent and
parsed by openHAB's ``MaxCubeBridgeDiscovery.java``, bundle ``org.openhab.binding.max``, and
by guh/nymea's ``maxcubediscovery.cpp``):

* request, 19 bytes, to UDP port 23272 (multicast 224.0.0.1, broadcast or unicast):
  ``eQ3Max*`` ``00``, ten ``*`` (or one Cube's serial number), ``I`` (identify);
* reply, 26 bytes, *from* port 23272 *to* the requester's port 23272, whatever port the
  request came from: ``eQ3MaxAp``, the serial number (10 ASCII characters), a request id
  (``>``), the request type ``I``, one byte ``00``, the RF address (3 bytes, shown as 6 hex
  digits) and the firmware version (2 bytes, shown as 4 hex digits: ``0113`` is 1.1.3, as
  ``maxcube-info`` shows it from the ``H:`` line).

Because the reply goes to port 23272, a socket with a random source port never sees it (that
is why openHAB and nymea bind 23272 to receive it, and why an Nmap script would need pcap).
This script binds its receiving socket to 23272 itself. If another program holds that port,
it falls back to a packet capture on the interface (``AF_PACKET``: root or CAP_NET_RAW),
sending from an ephemeral port; without the privilege it says so at ``-d`` and ends.

Scope: discovery reaches addresses that are not hosts of the input, so nmapx sends it only
where the user points it: the script must be selected by name, and either
``broadcast-maxcube-discover.interface`` names the interface for multicast and broadcast, or
``broadcast-maxcube-discover.address`` names the one address to ask (see
``docs/maxcube-discovery.md``). ``--exclude`` and ``--no-network`` hold as always.

@usage
nmapx run scan.xml --script broadcast-maxcube-discover
  --script-args broadcast-maxcube-discover.interface=eth0
nmapx run scan.xml --script broadcast-maxcube-discover,maxcube-info
  --script-args broadcast-maxcube-discover.address=192.168.1.20,newtargets
@args broadcast-maxcube-discover.interface The interface to send multicast and broadcast
  requests through (required for them). Default destinations on it: 224.0.0.1 and
  255.255.255.255.
@args broadcast-maxcube-discover.address One destination instead of the defaults: a Cube's
  unicast address, or a multicast or broadcast address (which needs the interface too).
@args broadcast-maxcube-discover.timeout How long to collect replies. Default: 3s
@args broadcast-maxcube-discover.serial Ask only the Cube with this serial number.
@args newtargets Add the Cubes found as targets (TCP 62910, for maxcube-info).
@output
    Pre-scan script results:
    | broadcast-maxcube-discover:
    |   10.233.7.2:
    |     Serial: KMD1016788
    |     RF address: 099c3e
    |_    Firmware: 0113
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass

from nmapx.nse import nmap, stdnse, target
from nmapx.nse.errors import SocketError
from nmapx.nse.sockets import NseSocket, UdpCapture

author = "nmapx"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["broadcast", "discovery", "safe"]

SCRIPT_NAME = "broadcast-maxcube-discover"
DISCOVERY_PORT = 23272
#: The Cube's TCP port (firmware 1.0.9 and later; older ones used 80, per nymea).
CUBE_TCP_PORT = 62910
REQUEST_PREFIX = b"eQ3Max*\x00"
REPLY_MAGIC = b"eQ3MaxAp"
REPLY_LENGTH = 26
DEFAULT_DESTINATIONS = ("224.0.0.1", "255.255.255.255")
DEFAULT_TIMEOUT = 3.0


@dataclass(frozen=True)
class CubeReply:
    """What an identify reply says about one Cube."""

    serial: str
    rf_address: str
    firmware: str


def request(serial: str | None = None) -> bytes:
    """The 19-byte identify request, for every Cube or for the one with ``serial``."""
    wanted = serial.encode("ascii") if serial else b"*" * 10
    return REQUEST_PREFIX + wanted + b"I"


def parse_reply(data: bytes) -> CubeReply | None:
    """The fields of an identify reply; None for anything else (see the module doc)."""
    if len(data) != REPLY_LENGTH or not data.startswith(REPLY_MAGIC) or data[19:20] != b"I":
        return None
    serial = data[8:18]
    if not all(0x21 <= byte <= 0x7E for byte in serial):
        return None
    return CubeReply(serial.decode("ascii"), data[21:24].hex(), data[24:26].hex())


def _args() -> tuple[str | None, str | None, float, str | None]:
    interface, address, timeout, serial = stdnse.get_script_args(
        SCRIPT_NAME + ".interface",
        SCRIPT_NAME + ".address",
        SCRIPT_NAME + ".timeout",
        SCRIPT_NAME + ".serial",
    )
    seconds = stdnse.parse_timespec(timeout) if timeout is not None else None
    return (
        interface if isinstance(interface, str) else None,
        address if isinstance(address, str) else None,
        DEFAULT_TIMEOUT if seconds is None else seconds,
        serial if isinstance(serial, str) else None,
    )


def prerule() -> bool:
    interface, address, _timeout, _serial = _args()
    if interface is None and address is None:
        stdnse.debug(
            1,
            "no %s.interface or %s.address given: nmapx sends discovery only where told to",
            SCRIPT_NAME,
            SCRIPT_NAME,
        )
        return False
    return True


def _is_our_port_taken(error: SocketError) -> bool:
    return (error.detail or "").startswith("EADDRINUSE")


async def action() -> stdnse.OutputTable | str | None:
    interface, address, timeout, serial = _args()
    if serial is not None and (len(serial) != 10 or not serial.isascii()):
        return f"ERROR: {SCRIPT_NAME}.serial must be 10 ASCII characters"
    destinations = (address,) if address else DEFAULT_DESTINATIONS
    sock = nmap.new_socket("udp")
    capture: UdpCapture | None = None
    try:
        if interface is not None:
            try:
                sock.set_interface(interface)
            except SocketError:
                return f"ERROR: no such interface: {interface}"
        try:
            await sock.bind(None, DISCOVERY_PORT)
        except SocketError as error:
            if not _is_our_port_taken(error):
                raise
            capture = await _fallback_capture(sock, interface)
            if capture is None:
                return None
        payload = request(serial)
        for destination in destinations:
            await sock.sendto(destination, DISCOVERY_PORT, payload)
        found = await _collect(sock, capture, timeout, payload)
    finally:
        sock.abort()
        if capture is not None:
            capture.close()
    if not found:
        stdnse.debug(1, "no MAX! Cube answered within %gs", timeout)
        return None
    output = stdnse.output_table()
    for ip in sorted(found, key=lambda text: ipaddress.ip_address(text).packed):
        cube = found[ip]
        entry = stdnse.output_table()
        entry["Serial"] = cube.serial
        entry["RF address"] = cube.rf_address
        entry["Firmware"] = cube.firmware
        output[ip] = entry
        if target.allow_new_targets():
            target.add(ip, [(CUBE_TCP_PORT, "tcp")])
    return output


async def _fallback_capture(sock: NseSocket, interface: str | None) -> UdpCapture | None:
    """Port 23272 is taken: capture the replies instead, sending from any port."""
    if interface is None:
        stdnse.debug(
            1,
            "UDP port %d is in use and a capture needs %s.interface: not sending",
            DISCOVERY_PORT,
            SCRIPT_NAME,
        )
        return None
    capture = UdpCapture(interface, DISCOVERY_PORT, source_port=DISCOVERY_PORT)
    try:
        capture.open()
    except SocketError as error:
        stdnse.debug(
            1,
            "UDP port %d is in use and packet capture is not possible (%s): not sending",
            DISCOVERY_PORT,
            error.detail,
        )
        return None
    stdnse.debug(1, "UDP port %d is in use: capturing replies on %s", DISCOVERY_PORT, interface)
    await sock.bind(None, None)
    return capture


async def _collect(
    sock: NseSocket, capture: UdpCapture | None, timeout: float, own_request: bytes
) -> dict[str, CubeReply]:
    """Replies until ``timeout`` has passed since the request, by sender address."""
    loop_time = asyncio.get_running_loop().time
    deadline = loop_time() + timeout
    found: dict[str, CubeReply] = {}
    while (remaining := deadline - loop_time()) > 0:
        try:
            if capture is not None:
                data, ip, port = await capture.receive(remaining)
            else:
                sock.set_timeout(max(1, int(remaining * 1000)))
                data = await sock.receive()
                _, _, ip, port = sock.get_info()
        except SocketError as error:
            if error.status == "TIMEOUT":
                break
            raise
        if data == own_request:
            continue  # our own multicast or broadcast, looped back to port 23272
        cube = parse_reply(data)
        if cube is None:
            stdnse.debug(
                1,
                "malformed reply from %s:%d (%d bytes): %s",
                ip,
                port,
                len(data),
                data[:64].hex(),
            )
            continue
        if ip not in found:
            found[ip] = cube
    return found
