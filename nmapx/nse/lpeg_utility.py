"""Nmap's ``lpeg-utility`` library, the part scripts use: ``get_response``.

A service fingerprint (``port.version.service_fp``, what ``-sV`` wrote for an unrecognised
service) holds each probe's raw reply as ``Probe,length,"escaped bytes"``; scripts such as
banner and http-server-header read those replies instead of asking the service again. The
unescaping follows lpeg-utility.lua's grammar exactly (``\\\\`` and ``\\"`` lose their
backslash first, then ``\\t \\r \\n \\0`` and ``\\xHH``), because the bytes are what the
scripts print.
"""

from __future__ import annotations

import re

__all__ = ["get_response"]

_SPECIALS = {b"t": b"\t", b"r": b"\r", b"n": b"\n", b"0": b"\0"}
_UNESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{0,2}|.)", re.S)


def get_response(service_fp: str, probe: str) -> bytes | None:
    """A probe's raw reply inside a service fingerprint, or None when the probe is absent."""
    fp = service_fp.replace("\nSF:", "").encode("latin-1", "replace")
    found = re.search(re.escape(probe.encode()) + rb",[0-9a-fA-F]+,", fp)
    if found is None:
        return None
    pos = found.end()
    if fp[pos : pos + 1] != b'"':
        return None
    quoted = bytearray()
    pos += 1
    while pos < len(fp):
        char = fp[pos : pos + 1]
        if char == b'"':
            break
        if char == b"\\" and fp[pos + 1 : pos + 2] in (b"\\", b'"'):
            quoted += fp[pos + 1 : pos + 2]  # escaped_quote: \\ and \" lose their backslash
            pos += 2
            continue
        quoted += char
        pos += 1
    else:
        return None
    return _unescape(bytes(quoted))


def _unescape(text: bytes) -> bytes:
    def one(match: re.Match[bytes]) -> bytes:
        code = match[1]
        if code in _SPECIALS:
            return _SPECIALS[code]
        if code.startswith(b"x") and len(code) > 1:
            return bytes([int(code[1:], 16)])
        return code[:1] if not code.startswith(b"x") else b""

    return _UNESCAPE.sub(one, text)
