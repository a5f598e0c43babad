"""NSE's ``vnc`` library (nselib/vnc.lua, Nmap 7.93): the RFB handshake and the security
types a server offers, including the sub-types behind VeNCrypt, Tight and TLS.

What ``vnc-info`` needs, with the original's reading rules:

* the version line is read with ``match.pattern_limit("[\\r\\n]+", 16)`` and must look like
  ``RFB xxx.yyy`` followed by CR or LF, else ``"Not a VNC port."``;
* an unknown version is answered with the highest known one below it (or with the server's
  own when none is), and shown as the server's ``xxx.yyy``; 3.3 servers name one type
  (u32), later ones a list (u8 count, u8 each); a zero count or type 0 carries a reason,
  which becomes the error;
* the VeNCrypt handshake ignores receive failures as vnc.lua does (a short read is then a Lua
  error in Nmap: here :class:`HandshakeError`, failing the script alike);
* the Tight handshake tells an ATEN KVM (24 bytes at once) from TightVNC the way vnc.lua does.

Failures come back as ``(False, message)``. The default socket timeout is 5 s, as in Lua.
"""

from __future__ import annotations

import logging
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from nmapx.nse import nmap, stdnse
from nmapx.nse.errors import SocketError
from nmapx.nse.match import pattern_limit, receive_numbytes
from nmapx.nse.sockets import NseSocket

__all__ = [
    "SECTYPES",
    "SECTYPES_STR",
    "VENCRYPT_SUBTYPES",
    "VENCRYPT_SUBTYPES_STR",
    "VERSIONS",
    "VNC",
    "HandshakeError",
    "SecType",
    "TightEntry",
]

log = logging.getLogger(__name__)

VENCRYPT_SUBTYPES = {
    "PLAIN": 256,
    "TLSNONE": 257,
    "TLSVNC": 258,
    "TLSPLAIN": 259,
    "X509NONE": 260,
    "X509VNC": 261,
    "X509PLAIN": 262,
    "X509SASL": 263,
    "TLSSASL": 264,
}
VENCRYPT_SUBTYPES_STR = {
    256: "Plain",
    257: "None, Anonymous TLS",
    258: "VNC auth, Anonymous TLS",
    259: "Plain, Anonymous TLS",
    260: "None, Server-authenticated TLS",
    261: "VNC auth, Server-authenticated TLS",
    262: "Plain, Server-authenticated TLS",
    263: "SASL, Server-authenticated TLS",
    264: "SASL, Anonymous TLS",
}

VERSIONS = {
    b"RFB 003.003": "3.3",
    b"RFB 003.007": "3.7",
    b"RFB 003.008": "3.8",
    # Mac Screen Sharing
    b"RFB 003.889": "3.889",
}

SECTYPES = {
    "INVALID": 0,
    "NONE": 1,
    "VNCAUTH": 2,
    "RA2": 5,
    "RA2NE": 6,
    "TIGHT": 16,
    "ULTRA": 17,
    "TLS": 18,
    "VENCRYPT": 19,
    "GTK_VNC_SASL": 20,
    "MD5": 21,
    "COLIN_DEAN_XVP": 22,
    "MAC_OSX_SECTYPE_30": 30,
    "MAC_OSX_SECTYPE_35": 35,
    "MSLOGON": 0xFFFFFFFA,
}

SECTYPES_STR = {
    0: "Invalid security type",
    1: "None",
    2: "VNC Authentication",
    5: "RA2",
    6: "RA2ne",
    16: "Tight",
    17: "Ultra",
    18: "TLS",
    19: "VeNCrypt",
    20: "GTK-VNC SASL",
    21: "MD5 hash authentication",
    22: "Colin Dean xvp",
    30: "Apple Remote Desktop",
    35: "Mac OS X security type",
    0xFFFFFFFA: "UltraVNC MS Logon",
}

_VERSION_LINE = pattern_limit(re.compile(rb"[\r\n]+"), 16)
_RFB = re.compile(rb"RFB \d\d\d\.\d\d\d[\r\n]")
_RFB_NUMBER = re.compile(rb"RFB (\d+\.\d+)")


class HandshakeError(ValueError):
    """What is a Lua error in vnc.lua (``string.unpack`` of a short read): the script fails."""


class SecType(dict[str, Any]):
    """One security type as ``get_types_as_table`` makes it: ``name`` and ``type`` in the
    XML, ``"name (type)"`` as text (its ``__tostring``)."""

    def __str__(self) -> str:
        return f"{self['name']} ({self['type']})"


class TightEntry(dict[str, Any]):
    """A Tight tunnel or auth type: ``code``, ``vendor``, ``signature``; shown as ``"vendor
    signature (code)"`` (vnc-info's ``__tostring``)."""

    def __str__(self) -> str:
        vendor = self["vendor"].decode("utf-8", "surrogateescape")
        signature = self["signature"].decode("utf-8", "surrogateescape")
        return f"{vendor} {signature} ({self['code']})"


@dataclass
class _Types:
    count: int = 1
    types: list[int] = field(default_factory=list)


@dataclass
class Tight:
    tunnels: list[TightEntry] = field(default_factory=list)
    types: list[TightEntry] = field(default_factory=list)


def _types_as_table(types: _Types, lookup: dict[int, str]) -> list[SecType]:
    """``get_types_as_table``: each type with its name (``"Unknown security type"`` when
    the table lacks it). In Lua each entry is a two-key hash table, so Nmap writes its
    ``name`` and ``type`` elements in an order that varies from run to run."""
    out = []
    for number in types.types[: types.count]:
        entry = SecType()
        entry["name"] = lookup.get(number, "Unknown security type")
        entry["type"] = number
        out.append(entry)
    return out


async def _process_error(sock: NseSocket) -> tuple[bool, bytes | str]:
    """The reason after a zero count or type 0: u32 length, then the text."""
    try:
        length = struct.unpack(">I", await receive_numbytes(sock, 4))[0]
        return False, await receive_numbytes(sock, length)
    except SocketError:
        return False, "VNC:handshake failed to retrieve error message"


class VNC:
    """``vnc.VNC:new(host, port)``: one connection at a time (``disconnect`` then ``connect``
    again for the next sub-handshake, as vnc-info does)."""

    def __init__(self, host: Any, port: Any, socket: NseSocket | None = None) -> None:
        self.host = host
        self.port = port
        self.socket = socket or nmap.new_socket()
        self.socket.set_timeout(5000)
        self.protover: str | None = None
        self.client_version: str | None = None
        self.vncsec = _Types()
        self.vencrypt = _Types(count=0)
        self.tight: Tight | None = None
        self.aten: bytes | None = None

    async def connect(self) -> tuple[bool, str | None]:
        try:
            await self.socket.connect(self.host, self.port, "tcp")
        except SocketError as err:
            return False, err.status
        return True, None

    def disconnect(self) -> bool:
        return self.socket.close()

    async def send_sec_type(self, sectype: int) -> bool:
        try:
            await self.socket.send(bytes([sectype & 0xFF]))
        except SocketError:
            return False
        return True

    async def handshake(self) -> tuple[bool, bytes | str | None]:
        """The version exchange and the list of security types."""
        try:
            data: bytes | str = await self.socket.receive_buf(_VERSION_LINE, True)
        except SocketError as err:
            data = err.status
        if not isinstance(data, bytes) or not _RFB.match(data):
            text = data if isinstance(data, str) else data.decode("latin-1")
            stdnse.debug1("ERROR: Not a VNC port. Banner: %s", text)
            return False, "Not a VNC port."
        data = data[:11]
        vncsec = _Types()
        self.protover = VERSIONS.get(data)
        cli_version = data
        if self.protover is None:
            stdnse.debug1("ERROR: VNC:handshake unsupported version (%s)", data.decode("latin-1"))
            number = _RFB_NUMBER.match(data)
            self.protover = number[1].decode() if number else None
            for known in VERSIONS:
                if known >= data:
                    break
                cli_version = known
        self.client_version = VERSIONS.get(cli_version)
        try:
            await self.socket.send(cli_version + b"\n")
        except SocketError:
            stdnse.debug1("ERROR: VNC:handshake failed to send client version")
            return False, "ERROR: VNC:handshake failed"

        if self.client_version == "3.3":
            try:
                tmp = await receive_numbytes(self.socket, 4)
            except SocketError:
                return False, "VNC:handshake failed to receive security data"
            vncsec.types = [struct.unpack(">I", tmp)[0]]
            self.vncsec = vncsec
            if vncsec.types[0] == 0:
                return await _process_error(self.socket)
        else:
            return await self._receive_types()
        return True, None

    async def handshake_tight(self) -> tuple[bool, str | None]:
        """The Tight security type's tunnels and auth types (or an ATEN KVM's 24 bytes)."""
        try:
            buf = await self.socket.receive_bytes(4)
        except SocketError:
            return False, "Failed to get number of tunnels"
        aten: bytes | None = buf if len(buf) == 24 else None
        if len(buf) < 4:
            raise HandshakeError("data string too short")
        ntunnels = struct.unpack_from(">I", buf)[0]
        pos = 4
        if ntunnels > 0x10000:
            return self._handshake_aten(aten)
        tight = Tight()
        if ntunnels > 0:
            have = len(buf) - pos
            if have < 16 * ntunnels:
                try:
                    buf += await self.socket.receive_bytes(16 * ntunnels - have)
                except SocketError:
                    if aten:
                        return self._handshake_aten(aten)
                    return False, "Failed to get list of tunnels"
                aten = None  # we must have read something beyond 24 bytes
            have_none_tunnel = False
            for _ in range(ntunnels):
                entry, pos = _tight_entry(buf, pos)
                if entry["code"] == 0:
                    have_none_tunnel = True
                tight.tunnels.append(entry)
            try:
                if have_none_tunnel:
                    await self.socket.send(b"\0\0\0\0")
                else:
                    await self.socket.send(struct.pack(">I", tight.tunnels[0]["code"]))
            except SocketError:
                pass  # unchecked in vnc.lua
        have = len(buf) - pos
        if have < 4:
            try:
                buf += await self.socket.receive_bytes(4 - have)
            except SocketError:
                if aten:
                    return self._handshake_aten(aten)
                return False, "Failed to get number of Tight auth types"
            if len(buf) > 24:
                aten = None
        if len(buf) < pos + 4:
            raise HandshakeError("data string too short")
        nauth = struct.unpack_from(">I", buf, pos)[0]
        pos += 4
        if nauth > 0x10000:
            return self._handshake_aten(aten)
        if nauth > 0:
            have = len(buf) - pos
            if have < 16 * nauth:
                try:
                    buf += await self.socket.receive_bytes(16 * nauth - have)
                except SocketError:
                    if aten:
                        return self._handshake_aten(aten)
                    return False, "Failed to get list of Tight auth types"
                if len(buf) > 24:
                    aten = None
            for _ in range(nauth):
                entry, pos = _tight_entry(buf, pos)
                tight.types.append(entry)
        if aten and pos + 1 < 24:  # Lua's 1-based position
            # 24 bytes came, but only some of them parsed: probably an ATEN KVM
            return self._handshake_aten(aten)
        self.tight = tight
        return True, None

    def _handshake_aten(self, buffer: bytes | None) -> tuple[bool, str | None]:
        if buffer is None:  # ``#false`` in vnc.lua: a Lua error
            raise HandshakeError("attempt to get length of a boolean value (local 'buffer')")
        if len(buffer) != 24:
            return False, None
        self.aten = buffer
        return True, None

    async def handshake_tls(self) -> tuple[bool, bytes | str | None]:
        """The TLS security type (18): TLS over the connection, then a new list of types."""
        try:
            await self.socket.reconnect_ssl()
        except SocketError:
            return False, "Failed to reconnect SSL"
        return await self._receive_types()

    async def _receive_types(self) -> tuple[bool, bytes | str | None]:
        """The RFB 3.7+ list of security types (a count byte, then the types), after the
        version handshake and again inside the TLS type; a count of 0 means the server refuses
        and sends its reason."""
        failed = "ERROR: VNC:handshake failed to receive security data"
        try:
            tmp = await receive_numbytes(self.socket, 1)
        except SocketError:
            stdnse.debug1(failed)
            return False, failed
        vncsec = _Types(count=tmp[0])
        if vncsec.count == 0:
            return await _process_error(self.socket)
        try:
            tmp = await receive_numbytes(self.socket, vncsec.count)
        except SocketError:
            stdnse.debug1(failed)
            return False, failed
        vncsec.types = list(tmp[: vncsec.count])
        self.vncsec = vncsec
        return True, None

    async def _unchecked(self, count: int) -> bytes:
        """``receive_buf(numbytes(n))`` whose status vnc.lua ignores: on failure the data is
        the error string, which ``string.unpack`` then reads (too short: a Lua error)."""
        try:
            return await receive_numbytes(self.socket, count)
        except SocketError as err:
            data = err.status.encode()
            if len(data) < count:
                raise HandshakeError("data string too short") from None
            return data[:count]

    async def handshake_vencrypt(self) -> tuple[bool, str | None]:
        """VeNCrypt (19): version 0.2, then the list of sub-types (u32 each)."""
        buf = await self._unchecked(2)
        major, minor = buf[0], buf[1]
        if major != 0 or minor != 2:
            return False, f"Unknown VeNCrypt version: {major}.{minor}"
        try:
            await self.socket.send(bytes([major, minor]))
        except SocketError:
            pass  # unchecked in vnc.lua
        buf = await self._unchecked(1)
        if buf[0] != 0:
            return False, f"Server refused VeNCrypt version {major}.{minor}"
        nauth = (await self._unchecked(1))[0]
        if nauth == 0:
            return False, "No VeNCrypt auth subtypes received"
        buf = await self._unchecked(nauth * 4)
        self.vencrypt = _Types(nauth, [v for (v,) in struct.iter_unpack(">I", buf)])
        return True, None

    def get_sec_types_as_table(self) -> list[SecType]:
        return _types_as_table(self.vncsec, SECTYPES_STR)

    def get_vencrypt_types_as_table(self) -> list[SecType]:
        return _types_as_table(self.vencrypt, VENCRYPT_SUBTYPES_STR)

    def supports_sec_type(self, sectype: int) -> bool:
        return sectype in self.vncsec.types[: self.vncsec.count]

    def get_protocol_version(self) -> str | None:
        return self.protover


def _tight_entry(buf: bytes, pos: int) -> tuple[TightEntry, int]:
    """``string.unpack(">I4 c4 c8", buf, pos)``."""
    if len(buf) < pos + 16:
        raise HandshakeError("data string too short")
    code, vendor, signature = struct.unpack_from(">I4s8s", buf, pos)
    entry = TightEntry()
    entry["code"] = code
    entry["vendor"] = vendor
    entry["signature"] = signature
    return entry, pos + 16
