"""NSE's ``rpc`` library (nselib/rpc.lua, Nmap 7.93), the part rpcinfo needs: ONC RPC calls
in XDR over TCP (record marking) or UDP, and the portmapper's DUMP (rpcbind versions 4, 3
and 2, newest first, as ``rpc.Helper.RpcInfo`` tries them).

Kept from rpc.lua because what rpcinfo prints depends on it: the header decoder's reading of
the verifier (``length - 8`` bytes), the reassembly of TCP record fragments (at most 400),
the RFC 5665 universal addresses (``h1.h2.h3.h4.p1.p2``: the port is ``p1 * 256 + p2`` and
the address keeps the rest; a netid that is no ``tcp``/``udp``/``tcp6``/``udp6`` has no
port), NetApp's NUL-padded netids, and the per-host cache in ``nmap.registry[ip]
["portmapper"]`` (the TCP and the UDP port of one host share one DUMP, under a mutex).
Reading past the end of a reply is a Lua error in rpc.lua: :class:`RpcError` here.

Differences: rpc.lua, run as root, binds its socket to a random reserved port (512-1023)
first; nmapx's NSE sockets bind no TCP sockets, and rpcbind answers DUMP from any port.
nmapx bounds a reply at :data:`MAX_REPLY` bytes (rpc.lua reads whatever the lengths
announce).

Program names come from Nmap's ``nmap-rpc`` when an Nmap installation provides it
(``rpcbind`` is 100000 even without it).
"""

from __future__ import annotations

import logging
import os
import random
import re
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any

from nmapx.nse import nmap, stdnse
from nmapx.nse.errors import SocketError
from nmapx.nse.sockets import NseSocket

__all__ = [
    "MAX_REPLY",
    "Comm",
    "RpcError",
    "prog_name_to_number",
    "prog_number_to_name",
    "rpc_info",
]

log = logging.getLogger(__name__)

#: nmapx's bound on one reassembled reply.
MAX_REPLY = 16 << 20
#: rpc.lua ``RPC_version``.
RPC_VERSION = {"rpcbind": (2, 4), "nfs": (1, 3), "mountd": (1, 3)}
CALL, REPLY = 0, 1
MSG_ACCEPTED, MSG_DENIED = 0, 1
DUMP = 4
ACCEPT_MESSAGES = {
    0: "RPC executed successfully.",
    1: "remote hasn't exported program.",
    2: "remote can't support version.",
    3: "program can't support procedure.",
    4: "procedure can't decode params.",
    5: "errors like memory allocation failure.",
}
REJECT_MESSAGES = {0: "RPC version number != 2.", 1: "remote can't authenticate caller."}
PROTOCOLS = {6: "tcp", 17: "udp"}

_DATA_DIRS = ("/usr/share/nmap", "/usr/local/share/nmap", "/opt/homebrew/share/nmap")
_RPC_LINE = re.compile(rb"^\s*([^\s#]+)\s+(\d+)", re.M)
_UNIVERSAL = re.compile(rb"^(.*?)\.(\d+)\.(\d+)$", re.S)


class RpcError(ValueError):
    """Where rpc.lua raises a Lua error (a reply shorter than its fields)."""


@lru_cache(maxsize=1)
def _programs() -> dict[int, str] | None:
    """``datafiles.parse_rpc``: number -> name from ``nmap-rpc`` (the last line wins)."""
    dirs = [os.environ["NMAPDIR"]] if os.environ.get("NMAPDIR") else []
    for directory in (*dirs, *_DATA_DIRS):
        try:
            text = (Path(directory) / "nmap-rpc").read_bytes()
        except OSError:
            continue
        return {int(m[2]): m[1].decode("latin-1") for m in _RPC_LINE.finditer(text)}
    log.debug("no nmap-rpc found: RPC programs have no names")
    return None


def prog_number_to_name(number: int) -> str | None:
    """``Util.ProgNumberToName``."""
    table = _programs()
    return table.get(number) if table else None


def prog_name_to_number(name: str) -> int | None:
    """``Util.ProgNameToNumber`` (``rpcbind`` is 100000 without the data file too)."""
    table = _programs()
    if table is None:
        return 100000 if name == "rpcbind" else None
    for number, known in table.items():
        if known == name:
            return number
    return None


def _u32(data: bytes, pos: int) -> tuple[int, int]:
    if pos < 0 or pos + 4 > len(data):
        raise RpcError("data string too short")
    return struct.unpack_from(">I", data, pos)[0], pos + 4


def _opaque(data: bytes, pos: int, length: int) -> tuple[bytes, int]:
    """``unmarshall_vopaque``: ``length`` bytes, then the padding to 4 skipped."""
    if pos + length > len(data):
        raise RpcError("data string too short")
    return data[pos : pos + length], pos + length + (-length % 4)


class Comm:
    """rpc.lua ``Comm``: one connection to one RPC program and version."""

    def __init__(self, program: str, version: int) -> None:
        self.program = program
        self.program_id = prog_name_to_number(program)
        self.version = version
        self.socket: NseSocket | None = None
        self.proto = "tcp"
        self.ip = ""

    async def connect(self, host: Any, port: Any, timeout: float | None = None) -> str | None:
        """``Connect``: None on success, else rpc.lua's error message."""
        if self.program not in RPC_VERSION:
            return f"RPC library does not support: {self.program} protocol"
        low, high = RPC_VERSION[self.program]
        if not low <= self.version <= high:
            return f"RPC library does not support: {self.program} version {self.version}"
        wait = timeout if timeout is not None else stdnse.get_timeout(host, 10000)
        self.proto = "udp" if getattr(port, "protocol", "tcp") == "udp" else "tcp"
        sock = nmap.new_socket(self.proto)
        sock.set_timeout(wait)
        try:
            await sock.connect(host, port)
        except SocketError as error:
            return f"{self.program} connect error: {error.status}"
        self.socket = sock
        self.ip = str(getattr(host, "ip", host))
        return None

    def disconnect(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None

    async def get_additional_bytes(self, data: bytes, pos: int, needed: int) -> bytes:
        """``GetAdditionalBytes``: receive until ``needed`` bytes follow ``pos``; raises
        SocketError (with rpc.lua's message as its detail) when a read fails first."""
        assert self.socket is not None
        missing = needed - (len(data) - pos)
        while missing > 0:
            if len(data) > MAX_REPLY:
                raise SocketError("ERROR", f"RPC reply over {MAX_REPLY} bytes (nmapx cap)")
            try:
                more = await self.socket.receive()
            except SocketError as error:
                raise SocketError(
                    error.status,
                    f"getAdditionalBytes read {needed - missing} bytes before error: {error}",
                ) from error
            missing -= len(more)
            data += more
        return data

    def create_header(self, xid: int | None, procedure: int) -> bytes:
        """``CreateHeader`` with NULL credentials and verifier."""
        if xid is None:
            xid = random.randint(1, 1234567890)
        if self.program_id is None:
            raise RpcError("bad argument #5 to 'pack' (number expected, got nil)")
        fields = (xid, CALL, 2, self.program_id, self.version, procedure, 0, 0, 0, 0)
        return struct.pack(">10I", *fields)

    def encode_packet(self, xid: int | None, procedure: int, data: bytes = b"") -> bytes:
        """``EncodePacket``: on TCP one record fragment, marked last."""
        packet = self.create_header(xid, procedure) + data
        if self.proto == "udp":
            return packet
        return struct.pack(">I", 0x80000000 + len(packet)) + packet

    async def receive_packet(self) -> bytes:
        """``ReceivePacket``: a datagram, or the reassembled fragments of one TCP record."""
        assert self.socket is not None
        if self.proto == "udp":
            return await self.socket.receive_bytes(1)
        data, pos, retries = b"", 0, 400
        while True:
            retries -= 1
            data = await self.get_additional_bytes(data, pos, 4)
            mark, pos = _u32(data, pos)
            length = mark & 0x7FFFFFFF
            data = await self.get_additional_bytes(data, pos, length)
            rest = data[pos:]
            if pos != 4:
                rest = data[: pos - 4] + rest
                pos -= 4
            else:
                pos = 0
            pos += length
            data = rest
            if mark & 0x80000000 or retries == 0:
                break
        if retries == 0:
            raise SocketError("ERROR", "Aborted after too many retries")
        return data

    async def decode_header(self, data: bytes, pos: int) -> tuple[int, dict[str, Any], bytes]:
        """``DecodeHeader``: ``(position after it, header, data)`` (data may have grown)."""
        header: dict[str, Any] = {"verifier": {}}
        if len(data) - pos < 20:
            more = await self.get_additional_bytes(data, pos, 20 - (len(data) - pos - 1))
            data = data + more  # rpc.lua appends the whole buffer again
        header["xid"], pos = _u32(data, pos)
        header["type"], pos = _u32(data, pos)
        header["state"], pos = _u32(data, pos)
        if header["state"] == MSG_DENIED:
            header["denied_state"], pos = _u32(data, pos)
            return pos, header, data
        header["verifier"]["flavor"], pos = _u32(data, pos)
        header["verifier"]["length"], pos = _u32(data, pos)
        extra = header["verifier"]["length"] - 8
        if extra > 0:
            data = await self.get_additional_bytes(data, pos, extra)
            header["verifier"]["data"] = data[pos : pos + extra]
            pos += extra
        header["accept_state"], pos = _u32(data, pos)
        return pos, header, data


async def dump(comm: Comm) -> dict[int, dict[Any, dict[str, Any]]]:
    """``Portmap.Dump``: ``{program: {netid: {port, addr, owner, version: [...]}}}``.

    Raises SocketError or :class:`RpcError`, or returns the table; rpc.lua's failure messages
    are the ``detail`` of a SocketError("ERROR").
    """
    assert comm.socket is not None
    try:
        await comm.socket.send(comm.encode_packet(None, DUMP))
    except SocketError as error:
        raise SocketError("ERROR", "Portmap.Dump: Failed to send data") from error
    try:
        data = await comm.receive_packet()
    except SocketError as error:
        raise SocketError("ERROR", "Portmap.Dump: Failed to read data from socket") from error
    try:
        pos, header, data = await comm.decode_header(data, 0)
    except SocketError as error:
        raise SocketError("ERROR", "Portmap.Dump: Failed to decode RPC header") from error
    if header["type"] != REPLY:
        raise SocketError("ERROR", "Portmap.Dump: Packet was not a reply")
    if header["state"] != MSG_ACCEPTED:
        denied = header.get("denied_state")
        if denied in REJECT_MESSAGES:
            message = f"Portmap.Dump: RPC call failed: {REJECT_MESSAGES[denied]}"
        else:
            message = f"Portmap.Dump: RPC call failed: code {header['state']}"
        raise SocketError("ERROR", message)
    if header["accept_state"] != 0:
        state = header["accept_state"]
        if state in ACCEPT_MESSAGES:
            message = f"Portmap.Dump: RPC accepted state: {ACCEPT_MESSAGES[state]}"
        else:
            message = f"Portmap.Dump: RPC accepted state code {state}"
        raise SocketError("ERROR", message)
    programs: dict[int, dict[Any, dict[str, Any]]] = {}
    while True:
        try:
            data = await comm.get_additional_bytes(data, pos, 4)
        except SocketError as error:
            raise SocketError("ERROR", "Portmap.Dump: Failed to call GetAdditionalBytes") from error
        follows, pos = _u32(data, pos)
        if follows == 0:
            break
        program, pos = _u32(data, pos)
        version, pos = _u32(data, pos)
        addr: bytes | None = None
        owner: bytes | None = None
        port: int | None = None
        protocol: Any
        if comm.version > 2:
            length, pos = _u32(data, pos)
            netid, pos = _opaque(data, pos, length)
            netid = netid.split(b"\0", 1)[0]  # NetApp 5.0 pads it with NULs
            length, pos = _u32(data, pos)
            addr, pos = _opaque(data, pos, length)
            length, pos = _u32(data, pos)
            owner, pos = _opaque(data, pos, length)
            if re.fullmatch(rb"[tu][cd]p6?", netid):
                universal = _UNIVERSAL.match(addr)
                addr = universal[1] if universal else None
                if universal:
                    port = int(universal[2]) * 0x100 + int(universal[3])
            protocol = netid.decode("utf-8", "surrogateescape")
        else:
            number, pos = _u32(data, pos)
            port, pos = _u32(data, pos)
            protocol = PROTOCOLS.get(number, number)
        entry = programs.setdefault(program, {}).setdefault(protocol, {})
        for key, value in (("port", port), ("addr", addr), ("owner", owner)):
            if value is None:
                entry.pop(key, None)
            else:
                entry[key] = value
        versions = entry.pop("version", [])
        versions.append(version)
        versions.sort()
        entry["version"] = versions
    nmap.registry.setdefault(comm.ip, {})["portmapper"] = programs
    return programs


async def rpc_info(host: Any, port: Any) -> tuple[bool, Any]:
    """``Helper.RpcInfo``: ``(True, programs)`` (cached per host for the run) or
    ``(False, message)``, trying rpcbind versions 4, 3 and 2 in turn."""
    async with nmap.mutex("rpc"):
        cached = nmap.registry.setdefault(host.ip, {})
        if cached.get("portmapper"):
            return True, cached["portmapper"]
        cached["portmapper"] = {}
        message: Any = None
        for version in (4, 3, 2):
            comm = Comm("rpcbind", version)
            error = await comm.connect(host, port)
            if error is not None:
                stdnse.debug(4, "rpc.Helper.RpcInfo: %s", error)
                return False, error
            try:
                return True, await dump(comm)
            except SocketError as failure:
                message = failure.detail or failure.status
                stdnse.debug(4, "rpc.Helper.RpcInfo: %s", message)
            finally:
                comm.disconnect()
        return False, message
