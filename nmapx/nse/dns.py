"""NSE's ``dns`` library (nselib/dns.lua, Nmap 7.93): building, sending and decoding DNS
messages, and :func:`query` as scripts call it.

Why not dnspython: its codec is strict (a compression pointer loop, a name or record running
past the end, an RDATA shorter than its type needs: the whole message is rejected), while
dns.lua decodes leniently and field by field, so what a script prints from an odd reply (an
answer after a looping owner name, say) depends on dns.lua's own rules. These are kept:

* names (:func:`dec_str`): labels of up to 63 bytes; a pointer is followed at most 10 deep,
  after which the name is "nil" (``None``) and decoding goes on after the pointer; a label
  longer than what is left ends the name as ``None`` too;
* a record's RDATA is taken by its 2-byte length; TXT strings are split by dns.lua's (buggy)
  loop, which compares an absolute position with the RDATA length, so ``TXT.text`` is
  usually empty and callers read ``data`` directly, as dns-nsid and ``query`` do;
* reading past the end of the message (a header, a type, a length) is a Lua error in dns.lua:
  here :class:`DnsError`, which a script lets escape (``ERROR: Script execution failed``).

I/O goes through NSE sockets (scope checks, ``--script-trace``): UDP sends the query up to
``send_count`` times (default 2), waiting ``timeout`` ms (dns.lua's default by timing level:
4 s at -T3..) for one reply each time; TCP sends it with the 2-byte length and reads until
the peer closes or goes quiet. Not ported: NSEC/NSEC3/SSHFP record decoding, updates,
``multiple`` (broadcast) queries and lists of servers.
"""

from __future__ import annotations

import logging
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from nmapx.nse import nmap, stdnse
from nmapx.nse.errors import SocketError

__all__ = [
    "CLASS",
    "TYPES",
    "DnsError",
    "Packet",
    "Record",
    "dec_str",
    "decode",
    "encode_query",
    "query",
]

log = logging.getLogger(__name__)

#: dns.lua ``types``.
TYPES = {
    "A": 1,
    "NS": 2,
    "SOA": 6,
    "CNAME": 5,
    "PTR": 12,
    "HINFO": 13,
    "MX": 15,
    "TXT": 16,
    "AAAA": 28,
    "SRV": 33,
    "OPT": 41,
    "SSHFP": 44,
    "NSEC": 47,
    "NSEC3": 50,
    "AXFR": 252,
    "ANY": 255,
}
#: dns.lua ``CLASS``.
CLASS = {"IN": 1, "CH": 3, "ANY": 255}

_NAME_DEPTH = 10  # dns.lua's limit on nested compression pointers


class DnsError(ValueError):
    """Where dns.lua raises a Lua error while decoding (data string too short, ...)."""


# ---------------------------------------------------------------------------- reading
def _unpack(fmt: str, data: bytes, pos: int) -> tuple[Any, ...]:
    size = struct.calcsize(fmt)
    if pos < 0 or pos + size > len(data):
        raise DnsError("data string too short")
    return struct.unpack_from(fmt, data, pos)


def _lua_pos(one_based: int, length: int) -> int:
    """A 1-based ``string.unpack`` position (negative counts from the end) as 0-based."""
    if one_based < 0:
        one_based = 0 if -one_based > length else length + one_based + 1
    if one_based < 1 or one_based - 1 > length:
        raise DnsError("initial position out of string")
    return one_based - 1


def dec_str(data: bytes, pos: int, limit: int = _NAME_DEPTH) -> tuple[int, bytes | None]:
    """``decStr``: the name at ``pos`` (labels joined by dots) and the position after it."""
    if limit < 0:
        return pos, None
    (length,) = _unpack(">B", data, pos)
    pos += 1
    parts: list[bytes] = []
    while length != 0:
        if length < 64:
            if len(data) - pos < length:
                return pos, None
            parts.append(data[pos : pos + length])
            pos += length
            (length,) = _unpack(">B", data, pos)
            pos += 1
        else:
            (pointer,) = _unpack(">H", data, pos - 1)
            pos += 1
            target = _lua_pos(pointer - 0xC000 + 1, len(data))
            _, part = dec_str(data, target, limit - 1)
            if part is None:
                return pos, None
            parts.append(part)
            length = 0
    return pos, b".".join(parts)


@dataclass
class Record:
    """A decoded resource record: dns.lua's ``{dname, dtype, class, ttl, data, ...}`` with
    the per-type fields it fills (``ip``, ``ipv6``, ``domain``, ``txt``, ``opt``, ``mx``,
    ``srv``, ``soa``)."""

    dname: bytes | None
    dtype: int
    dclass: int
    ttl: int
    data: bytes
    ip: str | None = None
    ipv6: str | None = None
    domain: bytes | None = None
    txt: list[bytes] | None = None
    opt: dict[str, Any] | None = None
    mx: dict[str, Any] | None = None
    srv: dict[str, Any] | None = None
    soa: dict[str, Any] | None = None


@dataclass
class Question:
    dname: bytes | None
    dtype: int
    dclass: int


@dataclass
class Packet:
    """A decoded message (dns.lua ``decode``): ``flags`` is the raw 16-bit field."""

    id: int
    flags: int
    questions: list[Question] = field(default_factory=list)
    answers: list[Record] = field(default_factory=list)
    auth: list[Record] = field(default_factory=list)
    add: list[Record] = field(default_factory=list)
    #: An update response: dns.lua decodes nothing after the header (and then fails on it).
    update: bool = False

    @property
    def no_such_name(self) -> bool:
        """dns.lua's ``flags.RC3 and flags.RC4``: rcode bits 0x2 and 0x1 both set."""
        return self.flags & 0x3 == 0x3


def _ip(raw: bytes) -> str | None:
    """``ipOps.str_to_ip``."""
    if len(raw) == 4:
        return ".".join(str(b) for b in raw)
    if len(raw) == 16:
        full = ":".join(f"{v:x}" for v in struct.unpack(">8H", raw))
        full = re.sub(r":[:0]+", "::", full, count=1)
        return re.sub(r"^0::", "::", full, count=1)
    return None


def _decode_typed(record: Record, data: bytes, pos: int) -> None:
    """dns.lua's per-type ``decoder``; ``pos`` is the position after the RDATA."""
    start = pos - len(record.data)
    kind = record.dtype
    if kind == TYPES["A"]:
        record.ip = _ip(record.data[:4])
    elif kind == TYPES["AAAA"]:
        record.ipv6 = _ip(record.data[:16])
    elif kind in (TYPES["CNAME"], TYPES["NS"], TYPES["PTR"]):
        _, record.domain = dec_str(data, start)
    elif kind == TYPES["TXT"]:
        if record.data:
            record.txt = []
        np = start + 1  # dns.lua compares this 1-based absolute position with the length
        while np < len(record.data):
            (size,) = _unpack(">B", data, np - 1)
            if np + size > len(data):
                raise DnsError("data string too short")
            assert record.txt is not None
            record.txt.append(data[np : np + size])
            np += 1 + size
    elif kind == TYPES["OPT"]:
        rcode, version, zflags, size = _unpack(">BBHH", data, start - 6)
        body = start - 6 + 6
        if body + size > len(data):
            raise DnsError("data string too short")
        record.opt = {
            "bufsize": record.dclass,
            "rcode": rcode,
            "version": version,
            "zflags": zflags,
            "data": data[body : body + size],
        }
    elif kind == TYPES["MX"]:
        (pref,) = _unpack(">H", record.data, 0)
        _, server = dec_str(data, start + 2)
        record.mx = {"pref": pref, "server": server}
    elif kind == TYPES["SRV"]:
        prio, weight, port = _unpack(">HHH", data, start)
        _, target = dec_str(data, start + 6)
        record.srv = {"prio": prio, "weight": weight, "port": port, "target": target}
    elif kind == TYPES["SOA"]:
        np, mname = dec_str(data, start)
        np, rname = dec_str(data, np)
        serial, refresh, retry, expire, minimum = _unpack(">IIIII", data, np)
        record.soa = {
            "mname": mname,
            "rname": rname,
            "serial": serial,
            "refresh": refresh,
            "retry": retry,
            "expire": expire,
            "minimum": minimum,
        }


def _decode_records(data: bytes, count: int, pos: int) -> tuple[int, list[Record]]:
    records = []
    for _ in range(count):
        pos, name = dec_str(data, pos)
        dtype, dclass, ttl, size = _unpack(">HHIH", data, pos)
        pos += 10
        if pos + size > len(data):
            raise DnsError("data string too short")
        record = Record(name, dtype, dclass, ttl, data[pos : pos + size])
        pos += size
        _decode_typed(record, data, pos)
        records.append(record)
    return pos, records


def decode(data: bytes) -> Packet:
    """dns.lua ``decode``: header, questions and the three record sections, in order.

    An update response (``QR`` and opcode 5: flags & 0xF000 == 0xA000... as dns.lua tests)
    stops after the header. Raises :class:`DnsError` where dns.lua errors.
    """
    ident, flags, qd, an, ns, ar = _unpack(">HHHHHH", data, 0)
    packet = Packet(ident, flags)
    if flags & 0xF000 == 0xA000:
        packet.update = True
        return packet
    pos = 12
    for _ in range(qd):
        pos, name = dec_str(data, pos)
        dtype, dclass = _unpack(">HH", data, pos)
        pos += 4
        packet.questions.append(Question(name, dtype, dclass))
    pos, packet.answers = _decode_records(data, an, pos)
    pos, packet.auth = _decode_records(data, ns, pos)
    pos, packet.add = _decode_records(data, ar, pos)
    return packet


# ---------------------------------------------------------------------------- building
def _encode_name(name: str) -> bytes:
    """``encodeFQDN``: each run of non-dots as a label (length byte mod 256, as Lua's s1
    would refuse longer ones: here they raise)."""
    labels = [part.encode() for part in name.split(".") if part]
    out = b""
    for label in labels:
        if len(label) > 255:
            raise ValueError("string length does not fit in given size")
        out += bytes([len(label)]) + label
    return out + b"\0"


def encode_query(
    dname: str,
    dtype: int,
    dclass: int = 1,
    *,
    ident: int = 1,
    recurse: bool = True,
    nsid: bool = False,
    dnssec: bool = False,
    flags: int | None = None,
) -> bytes:
    """The query dns.lua's ``query`` sends: id 1, RD unless ``recurse`` is false, and an OPT
    record (payload 4096, DO when ``dnssec``) carrying an empty NSID option when ``nsid``,
    or a bare one for ``dnssec`` alone."""
    value = flags if flags is not None else (0x0100 if recurse else 0)
    additional = b""
    if nsid or dnssec:
        rdata = struct.pack(">HH", 3, 0) if nsid else b""
        z = 0x8000 if dnssec else 0
        additional = b"\0" + struct.pack(">HHIH", TYPES["OPT"], 4096, z, len(rdata)) + rdata
    header = struct.pack(">HHHHHH", ident, value, 1, 0, 0, 1 if additional else 0)
    return header + _encode_name(dname) + struct.pack(">HH", dtype, dclass) + additional


# ---------------------------------------------------------------------------- I/O
def default_timeout() -> int:
    """dns.lua ``get_default_timeout``: 10/7/5/4 s for -T0..-T3 and above (nmapx: -T3)."""
    return 4000


async def _send_udp(data: bytes, host: Any, port: Any, timeout: float, count: int) -> bytes | None:
    sock = nmap.new_socket("udp")
    sock.set_timeout(timeout)
    try:
        try:
            await sock.connect(host, port, "udp")
        except SocketError:
            pass  # dns.lua ignores it; the send below fails
        for _ in range(count):
            try:
                await sock.send(data)
            except SocketError:
                return None  # dns.lua: return false, err
            try:
                return await sock.receive()
            except SocketError:
                continue
        return None
    finally:
        sock.close()


async def _send_tcp(data: bytes, host: Any, port: Any, timeout: float) -> bytes | None:
    sock = nmap.new_socket()
    sock.set_timeout(timeout)
    response = b""
    got = False
    try:
        try:
            await sock.connect(host, port)
            await sock.send(b"\0" + bytes([len(data)]) + data)
        except SocketError:
            pass  # dns.lua checks neither; the reads below fail
        while len(response) < (1 << 20):  # nmapx's bound; dns.lua reads until EOF/timeout
            try:
                chunk = await sock.receive_bytes(1)
            except SocketError:
                break
            got = True
            response += chunk
    finally:
        sock.close()
    return response[2:] if got else None


def _got_answer(packet: Packet) -> bool:
    """dns.lua ``gotAnswer``."""
    if packet.answers:
        if not packet.questions:
            return True
        if packet.questions[0].dtype == TYPES["A"]:
            return any(a.dtype == TYPES["A"] for a in packet.answers)
        return True
    return packet.no_such_name


def _nice_answer(dtype: int, packet: Packet, ret_all: bool) -> tuple[bool, Any]:
    """dns.lua ``findNiceAnswer`` for the types nmapx's scripts ask (TXT, A, AAAA)."""
    if packet.answers:
        if dtype == TYPES["TXT"]:
            if not ret_all:
                return True, packet.answers[0].data[1:]
            texts = [t for a in packet.answers for t in (a.txt or [])]
            if texts:
                return True, texts
            stdnse.debug(1, "dns.answerFetcher found no records of the required type: TXT")
            return False, "No Answers"
        if dtype in (TYPES["A"], TYPES["AAAA"]):
            attr = "ip" if dtype == TYPES["A"] else "ipv6"
            found = [getattr(a, attr) for a in packet.answers if a.dtype == dtype]
            if found:
                return True, (found if ret_all else found[0])
            name = "A" if dtype == TYPES["A"] else "AAAA"
            stdnse.debug(1, f"dns.answerFetcher found no records of the required type: {name}")
            return False, "No Answers"
        stdnse.debug(
            1, "dns.findNiceAnswer() does not have an answerFetcher for dtype %s", str(dtype)
        )
        return False, "Unable to handle response"
    if packet.no_such_name:
        return False, "No Such Name"
    stdnse.debug(
        1,
        "dns.findNiceAnswer() found zero answers in a response, but got an unexpected "
        "flags.replycode",
    )
    return False, "No Answers"


async def query(
    dname: str,
    *,
    host: Any,
    port: Any = 53,
    proto: str | None = "udp",
    dtype: str | int = "A",
    dclass: int = CLASS["IN"],
    ret_all: bool = False,
    ret_pkt: bool = False,
    nsid: bool = False,
    dnssec: bool = False,
    norecurse: bool = False,
    timeout: float | None = None,
    send_count: int = 2,
) -> tuple[bool, Any]:
    """dns.lua ``query`` against one server: ``(True, answer)`` (the first answer's text or
    address, all of them with ``ret_all``, the decoded :class:`Packet` with ``ret_pkt``) or
    ``(False, "No Answers" | "No Such Name" | "Unable to handle response")``.

    Like dns.lua with ``noauth`` unset, a reply with no useful answer is not followed to the
    servers it names as authoritative here: nmapx knows no resolvers (``nmap.get_dns_servers``)
    and never sends to a host outside the scan, so such a reply is "No Answers" (with
    ``ret_pkt`` too, where dns.lua would have asked elsewhere).
    """
    kind = TYPES.get(dtype, TYPES["A"]) if isinstance(dtype, str) else dtype
    data = encode_query(dname, kind, dclass, recurse=not norecurse, nsid=nsid, dnssec=dnssec)
    wait = timeout if timeout is not None else default_timeout()
    if proto is None or proto == "udp":
        response = await _send_udp(data, host, port, wait, send_count)
    else:
        response = await _send_tcp(data, host, port, wait)
    if response is None:
        stdnse.debug(1, "dns.query() got zero responses attempting to resolve query: %s", dname)
        return False, "No Answers"
    packet = decode(response)
    if packet.update:  # dns.lua: gotAnswer takes #rPkt.answers of nil
        raise DnsError("attempt to get length of a nil value (field 'answers')")
    if _got_answer(packet):
        if ret_pkt:
            return True, packet
        return _nice_answer(kind, packet, ret_all)
    stdnse.debug(1, "dns.query() failed to resolve the requested query: %s", dname)
    return False, "No Answers"
