"""SSH-1 host keys and key fingerprint formats: nselib/ssh1.lua (Nmap 7.93).

Nmap keeps the fingerprint formats in its SSH-1 library, and ``ssh-hostkey`` takes them from
there for SSH-2 keys too, so they live here as well:

* :func:`fingerprint_hex` -- ``256 ea06b48f... (ECDSA)``. Nmap 7.93 means to print the MD5
  with colons, but its ``stdnse.tohex`` drops the separator (it computes the grouped string
  and throws it away), so 7.93 prints the hex digits run together. nmapx prints what 7.93
  prints; :func:`colon_hex` is the form with colons, for scripts that want it.
* :func:`fingerprint_base64` -- ``256 SHA256:AiHD...X0 (ECDSA)``, base64 without padding.
* :func:`fingerprint_bubblebabble` -- Antti Huima's Bubble Babble of a digest.
* :func:`fingerprint_visual` -- OpenSSH's "drunken bishop" random art of the MD5, in Nmap's
  frame: a leading newline, ``+--[ECDSA  256]----+`` and a trailing newline.

:func:`fetch_host_key` is ``ssh1.fetch_host_key`` (SSH-1's ``SSH_SMSG_PUBLIC_KEY``), and
:func:`parse_known_hosts_file` the known_hosts reader ``ssh-hostkey`` uses, failures included
(both read local files only). The network conversation follows :mod:`nmapx.nse.ssh2`'s rules:
bounded reads, a packet at most :data:`MAX_PACKET` bytes, None on any socket failure,
:class:`~nmapx.nse.ssh2.ProtocolError` where Nmap's ``string.unpack`` would run off the data.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import struct
from typing import Any

from nmapx.nse.errors import SocketError
from nmapx.nse.sockets import DEFAULT_TIMEOUT
from nmapx.nse.ssh2 import HostKey, ProtocolError, Transport, TransportError

__all__ = [
    "HOSTKEY_BANNER",
    "MAX_PACKET",
    "KnownHostsEntry",
    "bubblebabble",
    "check_packet_length",
    "colon_hex",
    "fetch_host_key",
    "fingerprint_base64",
    "fingerprint_bubblebabble",
    "fingerprint_hex",
    "fingerprint_visual",
    "parse_known_hosts_file",
    "parse_public_key_packet",
    "random_art",
]

log = logging.getLogger(__name__)

#: The banner ``ssh1.fetch_host_key`` sends.
HOSTKEY_BANNER = "SSH-1.5-Nmap-SSH1-Hostkey\r\n"
#: Longest SSH-1 packet accepted (OpenSSH's SSH-1 limit was 256 KiB).
MAX_PACKET = 256 * 1024
_SSH_SMSG_PUBLIC_KEY = 2
#: Lua's ``"UserKnownHostsFile%s(.*)"`` (``%s`` is ASCII white space; ``.`` anything).
_USER_KNOWN_HOSTS = re.compile(r"UserKnownHostsFile[ \t\n\v\f\r](.*)", re.S)


# ---------------------------------------------------------------------------- fingerprints
def colon_hex(data: bytes) -> str:
    """Lowercase hex in pairs separated by colons (``ssh-keygen -E md5``'s form)."""
    return data.hex(":")


def _number(bits: int | str | None) -> int:
    """Lua's ``%d`` of the bits value (Nmap's ECDSA bits are the string "256")."""
    if bits is None or isinstance(bits, bool):
        raise TypeError("bad argument #1 to 'format' (number expected, got nil)")
    return int(bits)


def fingerprint_hex(fingerprint: bytes, algorithm: str | None, bits: int | str | None) -> str:
    """``"<bits> <hex> (<algorithm>)"``, the hex without colons, as Nmap 7.93 prints it."""
    return f"{_number(bits)} {fingerprint.hex()} ({algorithm})"


def fingerprint_base64(
    fingerprint: bytes, hash_name: str, algorithm: str | None, bits: int | str | None
) -> str:
    """``"<bits> <hash>:<base64 without padding> (<algorithm>)"``."""
    encoded = base64.b64encode(fingerprint).decode("ascii").split("=", 1)[0]
    return f"{_number(bits)} {hash_name}:{encoded} ({algorithm})"


_VOWELS = "aeiouy"
_CONSONANTS = "bcdfghklmnprstvzx"


def bubblebabble(digest: bytes) -> str:
    """Bubble Babble of ``digest`` (OpenSSH's ``fingerprint_bubblebabble``).

    For the 20-byte SHA-1 that ``ssh-hostkey`` encodes this is exactly Nmap's output; Nmap's
    loop only works for lengths that are multiples of 4, this one for any length.
    """
    rounds = len(digest) // 2 + 1
    seed = 1
    out = ["x"]
    for i in range(rounds):
        if i + 1 < rounds or len(digest) % 2:
            first = digest[2 * i]
            out.append(_VOWELS[(((first >> 6) & 3) + seed) % 6])
            out.append(_CONSONANTS[(first >> 2) & 15])
            out.append(_VOWELS[((first & 3) + seed // 6) % 6])
            if i + 1 < rounds:
                second = digest[2 * i + 1]
                out.append(_CONSONANTS[(second >> 4) & 15])
                out.append("-")
                out.append(_CONSONANTS[second & 15])
                seed = (seed * 5 + first * 7 + second) % 36
        else:
            out.append(_VOWELS[seed % 6])
            out.append(_CONSONANTS[16])
            out.append(_VOWELS[seed // 6])
    out.append("x")
    return "".join(out)


def fingerprint_bubblebabble(
    fingerprint: bytes, algorithm: str | None, bits: int | str | None
) -> str:
    """``"<bits> <bubble babble> (<algorithm>)"``; ssh-hostkey passes SHA-1 of the key."""
    return f"{_number(bits)} {bubblebabble(fingerprint)} ({algorithm})"


_ART = " .o+=*BOX@%&#/^SE"
_FIELD_X, _FIELD_Y = 17, 9


def random_art(fingerprint: bytes) -> list[str]:
    """The nine rows (17 characters each) of OpenSSH's random art walk over ``fingerprint``.

    The bishop starts in the centre; each byte gives four moves, two bits each, low bits
    first (bit 0: right/left, bit 1: down/up), clamped at the walls; a square counts its
    visits up to ``^``; ``S`` marks the start and ``E`` the end. The same field that
    ``ssh-keygen -lv -E md5`` draws for the same digest.
    """
    field = [[0] * _FIELD_Y for _ in range(_FIELD_X)]
    x, y = _FIELD_X // 2, _FIELD_Y // 2
    start = (x, y)
    top = len(_ART) - 3  # the highest visit count shown: "^"
    for byte in fingerprint:
        for _ in range(4):
            x = min(max(x + (1 if byte & 1 else -1), 0), _FIELD_X - 1)
            y = min(max(y + (1 if byte & 2 else -1), 0), _FIELD_Y - 1)
            if field[x][y] < top:
                field[x][y] += 1
            byte >>= 2
    field[start[0]][start[1]] = len(_ART) - 2
    field[x][y] = len(_ART) - 1
    return ["".join(_ART[field[col][row]] for col in range(_FIELD_X)) for row in range(_FIELD_Y)]


def fingerprint_visual(fingerprint: bytes, algorithm: str | None, bits: int | str | None) -> str:
    """Nmap's visual host key: ``"\\n+--[%4s %4d]----+\\n"``, nine ``|...|`` rows, the
    bottom border and a final newline (ssh-hostkey passes the MD5 fingerprint)."""
    head = f"\n+--[{algorithm or '':>4} {_number(bits):4d}]----+\n"
    rows = "".join(f"|{row}|\n" for row in random_art(fingerprint))
    return head + rows + "+" + "-" * _FIELD_X + "+\n"


# ---------------------------------------------------------------------------- SSH-1 keys
def check_packet_length(buffer: bytes) -> tuple[int, int] | None:
    """``receive_buf`` delimiter for one SSH-1 packet (length, 1-8 bytes padding, data).

    Raises :class:`~nmapx.nse.ssh2.TransportError` for a length beyond :data:`MAX_PACKET`.
    """
    if len(buffer) < 4:
        return None
    total = _packet_size(buffer[:4])
    if total > len(buffer):
        return None
    return total - 1, total


def _packet_size(header: bytes) -> int:
    """The whole size of the SSH-1 packet whose 4-byte length field is ``header``."""
    length = int.from_bytes(header, "big")
    if length > MAX_PACKET:
        raise TransportError(f"SSH-1 packet length {length} exceeds {MAX_PACKET}")
    return 4 + length + 8 - length % 8


def _padded_number(data: bytes, offset: int) -> tuple[int, int]:
    """An SSH-1 multiple-precision integer: 16-bit bit count, then ceil(bits / 8) bytes."""
    if offset + 2 > len(data):
        raise ProtocolError("data string too short")
    (bits,) = struct.unpack(">H", data[offset : offset + 2])
    offset += 2
    size = (bits + 7) // 8
    if offset + size > len(data):
        raise ProtocolError("data string too short")
    return int.from_bytes(data[offset : offset + size], "big"), offset + size


def _tobin(number: int) -> bytes:
    """OpenSSL's ``BN_bn2bin``: big-endian, no leading zero bytes (empty for 0)."""
    return number.to_bytes((number.bit_length() + 7) // 8, "big")


def parse_public_key_packet(data: bytes) -> HostKey | None:
    """The host key in a whole SSH-1 packet (``SSH_SMSG_PUBLIC_KEY``), or None.

    None when the packet is another message or its length disagrees with its size, as in
    Nmap; fields running past the end raise :class:`~nmapx.nse.ssh2.ProtocolError`.
    """
    if len(data) < 4:
        raise ProtocolError("data string too short")
    (length,) = struct.unpack(">I", data[:4])
    pad = 8 - length % 8
    if pad + length + 4 != len(data):
        return None
    offset = 4 + pad
    if offset + 1 > len(data):
        raise ProtocolError("data string too short")
    if data[offset] != _SSH_SMSG_PUBLIC_KEY:
        return None
    offset += 1 + 8 + 4  # message code, cookie, server key bits
    _, offset = _padded_number(data, offset)  # server key exponent
    _, offset = _padded_number(data, offset)  # server key modulus
    if offset + 4 > len(data):
        raise ProtocolError("data string too short")
    (bits,) = struct.unpack(">I", data[offset : offset + 4])
    exponent, offset = _padded_number(data, offset + 4)
    modulus, offset = _padded_number(data, offset)
    fp_input = _tobin(modulus) + _tobin(exponent)
    return HostKey(
        key_type="rsa1",
        algorithm="RSA1",
        bits=bits,
        key=f"{exponent} {modulus}",
        full_key=f"{bits} {exponent} {modulus}",
        fp_input=fp_input,
        fingerprint=hashlib.md5(fp_input).digest(),
        fp_sha256=hashlib.sha256(fp_input).digest(),
    )


async def fetch_host_key(
    host: Any, port: Any, *, timeout: float = DEFAULT_TIMEOUT, deadline: float | None = None
) -> HostKey | None:
    """``ssh1.fetch_host_key``: an SSH-1 server's RSA1 host key, or None.

    Nmap's conversation: read a line (whatever it says), send ``SSH-1.5-Nmap-SSH1-Hostkey``,
    read one SSH-1 packet, close. An SSH-2-only server answers with a text line, whose first
    four bytes, read as a length, are refused at once (Nmap waits for them until EOF).
    """
    try:
        transport = await Transport.connect(
            host, port, client_version=HOSTKEY_BANNER, timeout=timeout, deadline=deadline
        )
    except SocketError as failure:
        log.debug("ssh1.fetch_host_key: %s (%s)", failure, failure.detail)
        return None
    try:
        wire = transport.wire
        await wire.fill(4)
        total = _packet_size(wire.peek(4))
        await wire.fill(total)
        packet = wire.take(total)
    except SocketError as failure:
        log.debug("ssh1.fetch_host_key: %s (%s)", failure, failure.detail)
        return None
    finally:
        transport.close()
    key = parse_public_key_packet(packet)
    if key is not None:
        key.server_version = (transport.server_version or b"").decode("utf-8", "surrogateescape")
    return key


# ---------------------------------------------------------------------------- known_hosts
class KnownHostsEntry:
    """One line of a known_hosts file: its space-separated parts and its line number."""

    __slots__ = ("entry", "linenumber")

    def __init__(self, entry: list[str], linenumber: int) -> None:
        self.entry = entry
        self.linenumber = linenumber

    def __repr__(self) -> str:
        return f"KnownHostsEntry({self.entry!r}, {self.linenumber})"


def _lines(path: str) -> list[str]:
    """``io.lines(path)``: lines without their LF (a CR stays, as in Lua); a missing file
    raises (a Lua error in Nmap, here OSError)."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        return [line.removesuffix("\n") for line in handle]


def _strsplit(text: str) -> list[str]:
    """``stringaux.strsplit(" ", text)``: every single space separates (empty parts kept)."""
    return text.split(" ")


def parse_known_hosts_file(path: Any = None) -> list[KnownHostsEntry]:
    """``ssh1.parse_known_hosts_file``: the entries of the known_hosts file to compare with.

    The file is ``path`` if it is a string naming a file that opens; else the
    ``UserKnownHostsFile`` of ``~/.ssh/config`` (the last one wins, ``~`` expanded); else
    ``~/.ssh/known_hosts``. As in Nmap, a missing ``~/.ssh/config`` (when ``path`` does not
    open) or a missing known_hosts file raises (``OSError``), which fails the script. Comment
    lines (``#`` first) are skipped; the line numbers count every line.
    """
    chosen: str | None = None
    if isinstance(path, str):
        try:
            with open(path, "rb"):
                chosen = path
        except OSError:
            chosen = None
    home = os.environ.get("HOME", "")
    if chosen is None:
        for line in _lines(home + "/.ssh/config"):
            if "UserKnownHostsFile" in line:
                match = _USER_KNOWN_HOSTS.search(line)
                if match is None:  # Lua: string.sub(nil, 1, 1)
                    raise TypeError("bad argument #1 to 'sub' (string expected, got nil)")
                found = match[1]
                chosen = home + found[1:] if found.startswith("~") else found
    if chosen is None:
        chosen = home + "/.ssh/known_hosts"
    entries = []
    for number, line in enumerate(_lines(chosen), start=1):
        if not line.startswith("#"):
            entries.append(KnownHostsEntry(_strsplit(line), number))
    return entries
