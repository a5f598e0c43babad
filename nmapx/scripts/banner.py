"""A simple banner grabber which connects to an open TCP port and prints out anything sent by
the listening service within five seconds.

The banner will be truncated to fit into a single line, but an extra line may be printed for
every increase in the level of verbosity requested on the command line.

A port of Nmap's ``banner.nse``: the same rule, the same waits (plain TCP, then SSL), the same
escaping of non-printable bytes and the same truncation, so its output matches Nmap's.

@usage nmapx run scan.xml --script banner
@args banner.ports Which ports to grab. Same syntax as -p option. Use "common" to only grab
    common text-protocol banners. Default: all ports.
@args banner.timeout How long to wait for a banner. Default: 5s
@output
    21/tcp open  ftp
    |_banner: 220 FTP version 1.0\\x0D\\x0A
"""

from __future__ import annotations

import re
from typing import Any

from nmapx.nse import comm, lpeg_utility, nmap, shortport, stdnse

author = "jah (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["discovery", "safe"]

SCRIPT_NAME = "banner"
COMMON_PORTS = "13,17,21-23,25,129,194,587,990,992,994,6667,6697"
_HEX_ESCAPE = re.compile(rb"\\x[0-9a-fA-F]{2}")


def portrule(host: Any, port: Any) -> bool:
    spec = stdnse.get_script_args(SCRIPT_NAME + ".ports")
    if spec:
        if spec == "common":
            spec = COMMON_PORTS
        spec = "T:" + re.sub(r"^[T:]*", "", str(spec))  # ensure TCP
        return shortport.port_range(spec)(host, port)
    return bool(port.protocol == "tcp")


async def action(host: Any, port: Any) -> bytes | None:
    return output(await grab_banner(host, port))


async def grab_banner(host: Any, port: Any) -> bytes | None:
    """What the service sends first (or what -sV already recorded for the NULL probe)."""
    if port.version is not None and port.version.service_fp:
        response = lpeg_utility.get_response(port.version.service_fp, "NULL")
        if response is not None:
            return response.strip()
    timeout = stdnse.parse_timespec(stdnse.get_script_args(SCRIPT_NAME + ".timeout"))
    try:
        response = await comm.get_banner(host, port, timeout=(timeout or 5) * 1000)
    except comm.CommError as error:
        stdnse.debug(
            1,
            "failed for %s on %s port %s. Message: %s",
            host.ip,
            port.protocol,
            port.number,
            comm.oops_text(error, nmap.verbosity(), nmap.debugging()),
        )
        return None
    return response.strip()


def extra_output() -> int:
    """One more line per verbosity level above the debugging level."""
    extra = nmap.verbosity() - nmap.debugging()
    return extra if extra > 0 else 0


def replace_nonprint(data: bytes, limit: int | None) -> bytes:
    """Bytes outside 32..126 as ``\\xHH``, stopping once ``limit`` characters are out."""
    pieces = []
    count = 0
    for byte in data:
        if byte < 32 or byte > 126:
            pieces.append(b"\\x%02X" % byte)
            count += 4
        else:
            pieces.append(bytes([byte]))
            count += 1
        if limit is not None and count >= limit:
            break
    return b"".join(pieces)


def output(out: bytes | None) -> bytes | None:
    """Escape, truncate to the verbosity's budget and wrap, exactly as banner.nse does."""
    if not out:
        return None
    line_len = 75
    first_line_offset = 5
    name_len = len(SCRIPT_NAME)
    first_len = (
        line_len - 1 - name_len - first_line_offset
        if name_len < line_len - first_line_offset
        else 0
    )
    next_len = line_len - 1 - (first_line_offset - 2)
    if first_len > 0:
        total = first_len + extra_output() * next_len
    else:
        total = (1 + extra_output()) * next_len
    out = replace_nonprint(out, 1 + total)
    if len(out) > total:
        while len(out) > total:
            if _HEX_ESCAPE.search(out[-4:]):
                out = out[:-4]
            else:
                out = out[:-1]
        out = out[: total - 3] + b"..."
    lines = []
    width = first_len
    while True:
        if len(out) >= width:
            lines.append(out[:width] if width > 0 else b" ")
            out = out[width:]
            width = next_len
        else:
            lines.append(out)
            break
    return b"\n".join(lines)
