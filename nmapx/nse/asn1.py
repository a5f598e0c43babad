"""NSE's ``asn1`` library (nselib/asn1.lua, Nmap 7.93): the BER subset SNMP uses.

The decoder is asn1.lua's, quirks included, because what a script prints from a malformed
reply depends on them (a hand-written port rather than a general BER library such as
pyasn1, which rejects outright what asn1.lua decodes leniently):

* lengths: short form, or ``0x81..0xFF`` followed by that many bytes; ``0x80`` (indefinite)
  is taken as the length 128, as asn1.lua does;
* INTEGER (and SNMP's Counter, Gauge, TimeTicks, ...) is *signed*, 1 to 16 bytes, through
  Lua's ``string.unpack(">iN")``: 0 bytes, or more than 8 whose extra bytes are not a sign
  extension, is a Lua error; more than 16 is "not decoded" (None) without consuming the
  content;
* BOOLEAN reads one byte whatever the length says; NULL decodes as ``False`` and consumes
  nothing of its content;
* a tag without a decoder is ``None`` (debug message ``no decoder for etype``) and its
  content is not skipped; inside a SEQUENCE such a ``None`` vanishes (``table.insert(t,
  nil)`` adds nothing), and the last byte of a SEQUENCE is never looked at (``while sPos <
  len`` with 1-based positions);
* an OID's first byte is split as ``byte // 40, byte % 40``; a component runs until a byte
  below 0x80, past the OID's end if it must; components wrap at 64 bits like Lua integers.

Where Lua raises an error (reading past the end of the data: ``data string too short``),
:class:`Asn1Error` is raised; a script that lets it escape fails with ``ERROR: Script
execution failed``, exactly as the Lua script does.

Positions are 0-based offsets (Lua's are 1-based).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from nmapx.nse import stdnse

__all__ = [
    "Asn1Error",
    "Decoder",
    "IpAddress",
    "Oid",
    "Sequence",
    "decode_length",
    "encode_int",
    "encode_length",
    "encode_oid_component",
]

log = logging.getLogger(__name__)

_MASK64 = (1 << 64) - 1


class Asn1Error(ValueError):
    """Where asn1.lua raises a Lua error (reading past the end of the data and the like)."""


class Oid(list[int]):
    """An OBJECT IDENTIFIER: its components (asn1.lua's table with ``_snmp = "\\x06"``)."""


class IpAddress(list[int]):
    """SNMP's IpAddress: four numbers (``_snmp = "\\x40"``)."""


class Sequence(list[Any]):
    """A SEQUENCE or a context-tagged PDU; ``tag`` is asn1.lua's ``_snmp`` field (None for a
    plain SEQUENCE, and for the PDUs whose decoders are the SEQUENCE decoder's)."""

    def __init__(self, items: Any = (), tag: int | None = None) -> None:
        super().__init__(items)
        self.tag = tag


def _wrap(value: int) -> int:
    """A Lua integer: 64-bit two's complement."""
    value &= _MASK64
    return value - (1 << 64) if value >> 63 else value


def _byte(data: bytes, pos: int) -> int:
    if pos < 0 or pos >= len(data):
        raise Asn1Error("data string too short")
    return data[pos]


def _take(data: bytes, pos: int, count: int) -> bytes:
    if count < 0 or pos + count > len(data):
        raise Asn1Error("data string too short")
    return data[pos : pos + count]


def decode_length(data: bytes, pos: int) -> tuple[int, int]:
    """``decodeLength``: ``(length, position after it)``."""
    length = _byte(data, pos)
    pos += 1
    if length > 128:
        value = 0
        for _ in range(length - 128):
            value = value * 256 + _byte(data, pos)
            pos += 1
        length = value
    return length, pos


def decode_int(data: bytes, length: int, pos: int) -> tuple[int | None, int]:
    """``decodeInt``: a signed big-endian integer of ``length`` bytes (see the module doc)."""
    if length > 16:
        stdnse.debug(2, "asn1: Unable to decode %d-byte integer at %d", length, pos + 1)
        return None, pos
    if length < 1:
        raise Asn1Error(f"integral size ({length}) out of limits [1,16]")
    raw = _take(data, pos, length)
    value = int.from_bytes(raw, "big", signed=True)
    if length > 8:
        low = _wrap(int.from_bytes(raw[-8:], "big"))
        if value != low:
            raise Asn1Error(f"{length}-byte integer does not fit into Lua Integer")
    return value, pos + length


def _oid_component(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        octet = _byte(data, pos)
        pos += 1
        value = _wrap(value * 128 + (octet & 0x7F))
        if octet < 128:
            return value, pos


def decode_oid(data: bytes, length: int, pos: int) -> tuple[Oid, int]:
    """``decodeOID``: components until the OID's last byte (a component may run past it)."""
    last = pos + length - 1
    oid = Oid()
    if pos <= last:
        octet = _byte(data, pos)
        pos += 1
        oid += [octet // 40, octet % 40]
    while pos <= last:
        component, pos = _oid_component(data, pos)
        oid.append(component)
    return oid, pos


Handler = Callable[["Decoder", bytes, int, int], tuple[Any, int]]


class Decoder:
    """``ASN1Decoder`` with the base decoders, plus any ``tag byte -> handler`` given."""

    def __init__(self, extra: dict[int, Handler] | None = None) -> None:
        self.decoders: dict[int, Handler] = {
            0x01: lambda _self, data, _length, pos: (_byte(data, pos) != 0, pos + 1),
            0x02: lambda _self, data, length, pos: decode_int(data, length, pos),
            0x04: lambda _self, data, length, pos: (_take(data, pos, length), pos + length),
            0x05: lambda _self, _data, _length, pos: (False, pos),
            0x06: lambda _self, data, length, pos: decode_oid(data, length, pos),
            0x30: lambda self, data, length, pos: self.decode_seq(data, length, pos),
        }
        if extra:
            self.decoders.update(extra)

    def decode(self, data: bytes, pos: int = 0) -> tuple[Any, int]:
        """One element at ``pos``: ``(value, position after it)``."""
        tag = _byte(data, pos)
        length, pos = decode_length(data, pos + 1)
        handler = self.decoders.get(tag)
        if handler is None:
            stdnse.debug(1, "no decoder for etype: %s", f"{tag:02x}")
            return None, pos
        return handler(self, data, length, pos)

    def decode_seq(self, data: bytes, length: int, pos: int, tag: int | None = None) -> Any:
        """``decodeSeq``: the elements of the ``length`` bytes at ``pos`` (module doc)."""
        body = _take(data, pos, length)
        items = Sequence(tag=tag)
        inner = 0
        while inner + 1 < length:
            value, inner = self.decode(body, inner)
            if value is not None:
                items.append(value)
        return items, pos + length


# ---------------------------------------------------------------------------- encoding
def encode_length(length: int) -> bytes:
    """``encodeLength``: short form below 128, else ``0x80 + n`` and n bytes."""
    if length < 128:
        return bytes([length])
    parts = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 + len(parts)]) + parts


def encode_int(value: int) -> bytes:
    """``encodeInt``: minimal two's complement (as asn1.lua computes it)."""
    if value == 0:
        return b"\0"
    size = (value.bit_length() + 8) // 8  # room for the sign bit
    if value < 0:
        size = ((~value).bit_length() + 8) // 8
    return value.to_bytes(size, "big", signed=True)


def encode_oid_component(value: int) -> bytes:
    """``encode_oid_component``: base 128, high bit on all but the last byte."""
    parts = [value & 0x7F]
    value >>= 7
    while value:
        parts.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(parts))
