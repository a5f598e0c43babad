"""Gets the time and configuration variables from an NTP server. We send two requests: a time
request and a "read variables" (opcode 2) control message. Without verbosity, the script shows
the time and the value of the ``version``, ``processor``, ``system``, ``refid``, and
``stratum`` variables. With verbosity, all variables are shown.

A port of Nmap 7.93's ``ntp-info.nse``, its packet code included (the script has no library):
an NTPv2 client request and a mode-6 READVAR, each with comm's exchange and a 5 s timeout.
Its quirks are kept: the time shown is the reply's *receive* timestamp, its fraction divided
by 2^28 (not 2^32) before the seconds are floored; only the first fragment of the variables
is read; their values are split on commas with the script's LPeg grammar (quoted values
unescaped, a last value keeps its trailing CR LF, shown as ``\\x0D``). Nmap also records the
clock skew and writes the version and OS type into the port's service; nmapx records the
skew and keeps the input's ``<service>``.

@usage nmapx run scan.xml --script ntp-info
@output
    123/udp open  ntp     NTP v4.2.4p4@1.1520-o
    | ntp-info:
    |   receive time stamp: Sat Dec 12 16:22:41 2009
    |   version: ntpd 4.2.4p4@1.1520-o Wed May 13 21:06:31 UTC 2009 (1)
    |   processor: x86_64
    |   system: Linux/2.6.24-24-server
    |   stratum: 2
    |_  refid: 195.145.119.188
"""

from __future__ import annotations

import re
import struct
import time
from typing import Any

from nmapx.nse import comm, datetime, nmap, shortport, stdnse

author = "Richard Sammet (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "discovery", "safe"]

portrule = shortport.port_or_service(123, "ntp", ("udp", "tcp"))

#: The script runs against open|filtered ports: do not wait long for nothing.
TIMEOUT = 5000
#: The fields shown without verbosity, in this order.
DEFAULT_FIELDS = ("version", "processor", "system", "refid", "stratum")

#: An NTPv2 mode-3 (client) time request.
TIME_REQUEST = bytes([0xD3, 0x00, 0x04, 0xFA, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01]) + bytes(30)
TIME_REQUEST += b"\xff" * 7 + b"\x00"
#: An NTPv2 mode-6 (control) READVAR request (RFC 1305 appendix B).
READVAR_REQUEST = bytes([0x16, 0x02, 0x00, 0x01]) + bytes(8)

_SPACE = b" \t\n\v\f\r"
_KEY = re.compile(rb"[A-Za-z0-9_.-]+")
NTP_EPOCH_OFFSET = 2208988800


def _quoted(data: bytes, pos: int) -> tuple[bytes, int] | None:
    """``U.escaped_quote()``: ``"..."`` with ``\\"`` and ``\\\\`` unescaped (other
    backslashes kept); None when it does not match there."""
    if data[pos : pos + 1] != b'"':
        return None
    out = bytearray()
    i = pos + 1
    while i < len(data):
        char = data[i]
        if char == 0x22:
            return bytes(out), i + 1
        if char == 0x5C:
            following = data[i + 1 : i + 2]
            if not following:
                return None
            if following in (b"\\", b'"'):
                out += following
            else:
                out += data[i : i + 2]
            i += 2
            continue
        out.append(char)
        i += 1
    return None


def parse_variables(data: bytes) -> list[tuple[bytes, bytes]]:
    """The script's ``kvmatch^0``: ``key[=]value`` pairs separated by optional commas."""
    pairs: list[tuple[bytes, bytes]] = []
    pos = 0
    while True:
        while pos < len(data) and data[pos] in _SPACE:
            pos += 1
        key = _KEY.match(data, pos)
        if key is None:
            return pairs
        pos = key.end()
        if data[pos : pos + 1] == b"=":
            pos += 1
        quoted = _quoted(data, pos)
        if quoted is not None:
            value, pos = quoted
        else:
            end = data.find(b",", pos)
            end = len(data) if end < 0 else end
            value, pos = data[pos:end], end
        if data[pos : pos + 1] == b",":
            pos += 1
        pairs.append((key[0], value))


def receive_timestamp(reply: bytes) -> float:
    """The reply's receive timestamp as the script computes it (fraction / 2^28)."""
    if len(reply) < 40:
        raise struct.error("data string too short")
    seconds, fraction = struct.unpack(">II", reply[32:40])
    stamp: float = seconds - NTP_EPOCH_OFFSET + fraction / 0x10000000
    return stamp


def variables_data(reply: bytes) -> bytes:
    """``string.unpack(">s2", reply, 11)``: the first fragment's data."""
    if len(reply) < 12:
        raise struct.error("data string too short")
    (count,) = struct.unpack(">H", reply[10:12])
    if 12 + count > len(reply):
        raise struct.error("data string too short")
    return reply[12 : 12 + count]


async def action(host: Any, port: Any) -> Any:
    output = stdnse.output_table()
    try:
        reply = await comm.exchange(host, port, TIME_REQUEST, timeout=TIMEOUT)
    except comm.CommError:
        reply = None
    if reply is not None:
        received = int(time.time())
        stamp = receive_timestamp(reply)
        datetime.record_skew(host, stamp, received)
        output["receive time stamp"] = datetime.format_timestamp(stamp)
    try:
        reply = await comm.exchange(host, port, READVAR_REQUEST, timeout=TIMEOUT)
    except comm.CommError:
        reply = None
    if reply is not None:
        for key, value in parse_variables(variables_data(reply)):
            output[key.decode("utf-8", "surrogateescape")] = value
    if not output:
        return None
    stdnse.debug(1, "Test len: %d", len(output))
    nmap.set_port_state(host, port, "open")
    version = output.get("version")
    if version is not None:
        # ntpd's own version string, as version detection would show it
        number = re.match(rb"ntpd ([^ ]+)", _text(version))
        if number:
            port.version.version = "v" + number[1].decode("utf-8", "surrogateescape")
            nmap.set_port_version(host, port, "hardmatched")
    system = output.get("system")
    if system is not None:
        port.version.ostype = _text(system).decode("utf-8", "surrogateescape")
        nmap.set_port_version(host, port, "hardmatched")
    if nmap.verbosity() < 1:
        lines = [
            f"{name}: ".encode() + _text(output[name]) for name in DEFAULT_FIELDS if name in output
        ]
        return output, b"\n  " + b"\n  ".join(lines)
    return output


def _text(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()
