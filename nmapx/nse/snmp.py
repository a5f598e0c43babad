"""NSE's ``snmp`` library (nselib/snmp.lua, Nmap 7.93): SNMP v1/v2c messages over BER.

Shaped like the Lua library: :func:`encode`/:func:`decode` (asn1.lua's codec with SNMP's
application tags, :mod:`nmapx.nse.asn1`), :func:`build_packet`, :func:`build_get_request`,
:func:`build_get_next_request`, :func:`str2oid`/:func:`oid2str`, :func:`fetch_response_values`
and the :class:`Helper` that scripts use (``connect``, ``get``, ``getnext``, ``walk``). All I/O
goes through an NSE socket, so scope checks and ``--script-trace`` apply.

Decoded values are Python values: INTEGER and the SNMP counters/gauges/TimeTicks ``int``
(signed, as asn1.lua decodes them), OCTET STRING and Opaque ``bytes``, NULL ``False``,
OBJECT IDENTIFIER :class:`~nmapx.nse.asn1.Oid`, IpAddress :class:`~nmapx.nse.asn1.IpAddress`,
SEQUENCE and the PDUs :class:`~nmapx.nse.asn1.Sequence` (``tag`` 0xA2 for a GetResponse, the
only PDU whose tag snmp.lua keeps).

Script arguments, as snmp.lua reads them: ``snmp.version`` (``v1``/``0``, the default, or
``v2c``/``1``); the community is ``public`` unless the credentials passed as script arguments
give one (``creds.snmp`` or ``creds.global``, ``user:pass`` pairs: the first pair's non-empty
password, else its user; this is creds.lua's PARAM state; the VALID state, communities found
by snmp-brute in the same run, is not kept by nmapx).
"""

from __future__ import annotations

import logging
import os
import re
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from nmapx.nse import asn1, nmap, stdnse
from nmapx.nse.asn1 import IpAddress, Oid, Sequence
from nmapx.nse.errors import SocketError

__all__ = [
    "Helper",
    "IpAddress",
    "Oid",
    "Sequence",
    "build_get_next_request",
    "build_get_request",
    "build_packet",
    "community_from_args",
    "decode",
    "encode",
    "enterprise_name",
    "fetch_response_values",
    "oid2str",
    "str2oid",
]

log = logging.getLogger(__name__)

_VERSION_TO_NUM = {"v1": 0, "v2c": 1}
_NUM_TO_VERSION = {0: "v1", 1: "v2c"}
_GET_RESPONSE = 0xA2
_DIGITS = re.compile(r"\d+")
#: Where Nmap installations keep their data files (``$NMAPDIR`` first), as nmapx.model.services.
_DATA_DIRS = ("/usr/share/nmap", "/usr/local/share/nmap", "/opt/homebrew/share/nmap")
_ENTERPRISE_LINE = re.compile(r"(\d+)[^\t\n]*\t([^\n]*)")


@lru_cache(maxsize=1)
def _enterprise_numbers() -> dict[int, str] | None:
    """Nmap's ``nselib/data/enterprise_numbers.txt`` as snmp-info parses it (a number at the
    start of a line, the text after its first tab); None when no installation has it."""
    dirs = [os.environ["NMAPDIR"]] if os.environ.get("NMAPDIR") else []
    for directory in (*dirs, *_DATA_DIRS):
        path = Path(directory) / "nselib" / "data" / "enterprise_numbers.txt"
        try:
            text = path.read_text("latin-1")
        except OSError:
            continue
        return {int(m[1]): m[2] for m in _ENTERPRISE_LINE.finditer(text) if _starts_line(m)}
    log.debug("no enterprise_numbers.txt found; SNMP enterprises are 'unknown'")
    return None


def _starts_line(match: re.Match[str]) -> bool:
    start = match.start()
    return start == 0 or match.string[start - 1] == "\n"


def enterprise_name(number: int, default: Any = None) -> Any:
    """The IANA enterprise name of ``number`` (snmp-info's ``ENTERPRISE_NUMS[number]``), else
    ``default``; always ``"unknown"`` when Nmap's data file cannot be read (as snmp-info's
    fallback table answers)."""
    table = _enterprise_numbers()
    if table is None:
        return "unknown"
    return table.get(number, default)


# ---------------------------------------------------------------------------- codec
def _seq(tag: int | None) -> asn1.Handler:
    def handler(self: asn1.Decoder, data: bytes, length: int, pos: int) -> tuple[Any, int]:
        items, end = self.decode_seq(data, length, pos, tag)
        return items, end

    return handler


def _ip_address(_self: asn1.Decoder, data: bytes, _length: int, pos: int) -> tuple[Any, int]:
    """snmp.lua reads four bytes whatever the length says."""
    if pos + 4 > len(data):
        raise asn1.Asn1Error("data string too short")
    return IpAddress(data[pos : pos + 4]), pos + 4


def _decoder() -> asn1.Decoder:
    base = asn1.Decoder()
    integer, octets, oid = base.decoders[0x02], base.decoders[0x04], base.decoders[0x06]
    extra: dict[int, asn1.Handler] = {
        0x40: _ip_address,
        0x41: integer,  # Counter
        0x42: integer,  # Gauge
        0x43: integer,  # TimeTicks
        0x44: octets,  # Opaque
        0x45: oid,  # NsapAddress
        0x46: integer,  # Counter64
        0x47: integer,  # UInteger32
        _GET_RESPONSE: _seq(_GET_RESPONSE),
    }
    for tag in (0xA0, 0xA1, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8):
        extra[tag] = _seq(None)  # the SEQUENCE decoder itself: no tag kept
    return asn1.Decoder(extra)


def decode(data: bytes, pos: int = 0) -> tuple[Any, int]:
    """``snmp.decode``: one BER element (usually the whole message) and the position after it.

    Raises :class:`~nmapx.nse.asn1.Asn1Error` where snmp.lua raises a Lua error.
    """
    return _decoder().decode(data, pos)


def encode(value: Any) -> bytes:
    """``snmp.encode``: a message built by :func:`build_packet` as BER.

    ``int`` INTEGER, ``bytes``/``str`` OCTET STRING, ``bool`` NULL (snmp.lua encodes any
    boolean as NULL: a varbind's empty value is ``False``), ``None`` NULL, :class:`Oid`,
    :class:`IpAddress`, and lists as SEQUENCE (a :class:`Sequence`'s ``tag`` instead of 0x30).
    """
    if isinstance(value, bool) or value is None:
        return b"\x05\x00"
    if isinstance(value, int):
        body = asn1.encode_int(value)
        return b"\x02" + asn1.encode_length(len(body)) + body
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes | bytearray):
        return b"\x04" + asn1.encode_length(len(value)) + bytes(value)
    if isinstance(value, Oid):
        body = bytes([value[0] * 40 + value[1]]) + b"".join(
            asn1.encode_oid_component(c) for c in value[2:]
        )
        return b"\x06" + asn1.encode_length(len(body)) + body
    if isinstance(value, IpAddress):
        return b"\x40\x04" + bytes(value)
    if isinstance(value, list | tuple):
        body = b"".join(encode(item) for item in value)
        tag = getattr(value, "tag", None) or 0x30
        return bytes([tag]) + asn1.encode_length(len(body)) + body
    raise TypeError(f"cannot encode {type(value).__name__} as SNMP")


# ---------------------------------------------------------------------------- messages
def _version(version: Any, default: int) -> int:
    """``getVersion``: ``v1``/``v2c`` or their numbers; anything else falls back."""
    if version is not None:
        number: Any = _VERSION_TO_NUM.get(str(version))
        if number is None:
            try:
                number = int(str(version), 0)
            except ValueError:
                number = None
        if number in _NUM_TO_VERSION:
            return int(number)
        stdnse.debug(
            1, "Unrecognized SNMP version; proceeding with SNMP" + _NUM_TO_VERSION[default]
        )
    return default


def default_version() -> int:
    """The ``snmp.version`` script argument's version (SNMPv1 when absent)."""
    return _version(stdnse.get_script_args("snmp.version"), 0)


def build_packet(pdu: Sequence, version: Any = None, community: bytes | str = b"") -> Sequence:
    """``buildPacket``: ``{version, community, PDU}``."""
    return Sequence([_version(version, default_version()), community, pdu])


def _request_id() -> int:
    """snmp.lua's default ``math.fmod(nmap.clock_ms(), 65000)``."""
    return int(time.time() * 1000) % 65000


def _build(tag: int, options: dict[str, Any] | None, oids: tuple[Any, ...]) -> Sequence:
    options = options if options is not None else {}
    request = Sequence(tag=tag)
    request += [
        options.get("reqId", _request_id()),
        options.get("err", 0),
        options.get("errIdx", 0),
    ]
    bindings = Sequence()
    for oid in oids:
        bindings.append(Sequence([str2oid(oid) if isinstance(oid, str) else oid, False]))
    request.append(bindings)
    return request


def build_get_request(options: dict[str, Any] | None, *oids: Any) -> Sequence:
    """``buildGetRequest``: a GetRequest-PDU for the OIDs (strings or :class:`Oid`)."""
    return _build(0xA0, options, oids)


def build_get_next_request(options: dict[str, Any] | None, *oids: Any) -> Sequence:
    """``buildGetNextRequest``: a GetNextRequest-PDU for the OIDs."""
    return _build(0xA1, options, oids)


def str2oid(text: str) -> Oid:
    """``str2oid``: the numbers of ``"1.3.6.1..."``."""
    return Oid(int(n) for n in _DIGITS.findall(text))


def oid2str(oid: Any) -> str:
    """``oid2str``: dotted form; ``"invalid oid"`` for anything but an OID (a list)."""
    if not isinstance(oid, list):
        return "invalid oid"
    return ".".join(str(part) for part in oid)


def fetch_response_values(response: Any) -> list[tuple[Any, str, Any]]:
    """``fetchResponseValues``: ``(value, oid string, oid)`` per varbind of a GetResponse.

    ``response`` is the raw message or its decoded form; anything that is not a GetResponse
    (or a message holding one as its third element) gives ``[]``. An IpAddress value becomes
    its dotted string, as in snmp.lua.
    """
    if isinstance(response, bytes | bytearray):
        response, _ = decode(bytes(response))
    if not isinstance(response, list):
        return []
    bindings: Any = None
    if getattr(response, "tag", None) == _GET_RESPONSE:
        bindings = response[3] if len(response) > 3 else None
    elif len(response) > 2 and response[2] is not False:
        if isinstance(response[2], int):  # Lua: "attempt to index a number value"
            raise asn1.Asn1Error("attempt to index a number value")
        if getattr(response[2], "tag", None) != _GET_RESPONSE:
            return []
        pdu = response[2]
        bindings = pdu[3] if len(pdu) > 3 else None
    if not isinstance(bindings, list):
        return []
    result: list[tuple[Any, str, Any]] = []
    for binding in bindings:
        if isinstance(binding, bytes):  # indexing a Lua string gives nil
            result.append((None, oid2str(None), None))
            continue
        if not isinstance(binding, list):  # Lua: "attempt to index a number value"
            raise asn1.Asn1Error(f"attempt to index a {type(binding).__name__} varbind")
        oid = binding[0] if binding else None
        value = binding[1] if len(binding) > 1 else None
        if isinstance(value, IpAddress):
            value = ".".join(str(part) for part in value)
        result.append((value, oid2str(oid), oid))
    return result


# ---------------------------------------------------------------------------- credentials
def community_from_args(service: str | None) -> str | None:
    """The community creds.lua's PARAM credentials give (``creds.<service>`` first, then
    ``creds.global``): the first pair's password unless empty or ``<empty>``, else its user;
    None without such arguments."""
    specs = []
    if service:
        found = stdnse.get_script_args("creds." + service)
        if isinstance(found, str):
            specs.append(found)
    found = stdnse.get_script_args("creds.global")
    if isinstance(found, str):
        specs.append(found)
    if not specs:
        return None
    first = ",".join(specs).split(",")[0]
    if ":" in first:
        user, password = first.split(":", 1)
        if password and password != "<empty>":
            return password
        return user
    return first


class Helper:
    """``snmp.Helper``: one UDP socket to an agent and the requests scripts make."""

    def __init__(
        self,
        host: Any,
        port: Any,
        community: bytes | str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        if community is None:
            community = community_from_args(getattr(port, "service", None)) or "public"
        self.community = community
        self.options = options or {"timeout": 5000, "version": default_version()}
        self.socket = nmap.new_socket()

    async def connect(self) -> None:
        """Set up the socket (UDP per the port table); raises SocketError on failure."""
        self.socket.set_timeout(self.options.get("timeout", 5000))
        await self.socket.connect(self.host, self.port)

    async def request(self, message: Sequence) -> bytes:
        """Send one PDU wrapped in a message, return the raw reply (SocketError on failure)."""
        payload = encode(build_packet(message, self.options.get("version"), self.community))
        try:
            await self.socket.send(payload)
        except SocketError as error:
            stdnse.debug(2, "snmp.Helper.request: Send to %s failed: %s", _ip(self.host), error)
            raise
        return await self.socket.receive_bytes(1)

    async def get(self, options: dict[str, Any] | None, *oids: Any) -> list[tuple[Any, str, Any]]:
        """GetRequest: the reply's varbinds (:func:`fetch_response_values`)."""
        return fetch_response_values(await self.request(build_get_request(options or {}, *oids)))

    async def getnext(
        self, options: dict[str, Any] | None, *oids: Any
    ) -> list[tuple[Any, str, Any]]:
        """GetNextRequest: the reply's varbinds."""
        request = build_get_next_request(options or {}, *oids)
        return fetch_response_values(await self.request(request))

    async def walk(self, base_oid: str) -> list[dict[str, Any]]:
        """``walk``: GetNext from ``base_oid`` while the answers stay under it (as snmp.lua's
        unanchored ``oid:match(base_oid)``, with the dots of ``base_oid`` matching any
        character)."""
        table: list[dict[str, Any]] = []
        pattern = re.compile(base_oid)
        oid = base_oid
        try:
            data = await self.getnext({}, oid)
        except SocketError:
            return table
        while data and data[0][0] is not None and data[0][1]:
            oid = data[0][1]
            if not pattern.search(oid) or oid == base_oid:
                break
            table.append({"oid": oid, "value": data[0][0]})
            try:
                data = await self.getnext({}, oid)
            except SocketError:
                break
        return table

    def close(self) -> None:
        self.socket.close()


def _ip(host: Any) -> str:
    return str(getattr(host, "ip", host))
