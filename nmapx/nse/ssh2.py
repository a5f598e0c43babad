"""SSH-2 for NSE scripts: nselib/ssh2.lua (Nmap 7.93) and the rest of a client transport.

Two layers, on :class:`~nmapx.nse.sockets.NseSocket` (so scope checks, ``--script-trace``,
socket timeouts and the socket-slot limit apply as to any script's socket):

* **Nmap's library, behaviour for behaviour.** :func:`fetch_host_key` does what
  ``ssh2.fetch_host_key`` does -- the same client banner, the same KEXINIT (Diffie-Hellman
  methods only, the one host-key type asked for), the same *substring* tests on the server's
  lists ("does ``server_host_key_algorithms`` contain ``ssh-rsa``?"), the same choice of group,
  the same key sizes and algorithm names -- so that ``ssh-hostkey`` finds exactly the keys Nmap
  finds (OpenSSH >= 8.8 no longer offers ``ssh-rsa``, so Nmap 7.93 shows no RSA key for it, and
  neither does nmapx). :func:`build`, :func:`payload`, :func:`kex_init`,
  :func:`parse_kex_init`, :func:`check_packet_length`, :func:`receive_packet` and
  :func:`pack_mpint` are the ``ssh2.transport`` functions; :func:`fetch_kex_init` is the
  exchange ``ssh2-enum-algos`` makes.
* **A real client transport**, which Nmap gets from libssh2 and nmapx builds on
  ``cryptography``: :class:`Transport` negotiates algorithms (RFC 4253 §7.1), runs a key
  exchange (curve25519-sha256, ecdh-sha2-nistp256/384/521, diffie-hellman-group1/14/16/18 and
  group-exchange), checks the host's signature, switches to the negotiated cipher
  (chacha20-poly1305@openssh.com, aes128/256-gcm@openssh.com, aes-ctr/-cbc and 3des-cbc with
  hmac-sha2-256/512, hmac-sha1(-96), hmac-md5(-96), plain or ``-etm``) and asks for the ``none``
  authentication (:meth:`Transport.userauth_none`), which is what ``ssh-auth-methods`` needs.
  OpenSSH's strict key exchange (the Terrapin fix) is offered and honoured.

Failures, and why they are split this way:

* a peer that stops answering, closes, sends a packet longer than :data:`MAX_PACKET`, a
  banner longer than the limits below, a bad MAC or a DISCONNECT raises
  :class:`TransportError`, a :class:`~nmapx.nse.errors.SocketError`: what Nmap's library
  sees as a failed socket call (it waits for the 4 GB that a hostile KEXINIT announces, then
  gets EOF or TIMEOUT; nmapx refuses the length at once, allocating nothing). Left uncaught it
  ends a script silently; :func:`fetch_host_key` returns None for it, as Nmap's does;
* a packet whose *contents* are too short for their own length fields raises
  :class:`ProtocolError`, an :class:`~nmapx.nse.errors.NseError` that is not a socket error:
  where Nmap's Lua library runs ``string.unpack`` off the end of the data and so raises a Lua
  error, which NSE reports as ``ERROR: Script execution failed``. A script that wants to
  survive malformed peers catches it.

Limits nmapx adds (Nmap has none): a packet is at most :data:`MAX_PACKET` bytes (OpenSSH's
``PACKET_MAX_SIZE``), a banner line :data:`MAX_BANNER_LINE` bytes after at most
:data:`MAX_PRE_BANNER_LINES` other lines, a group-exchange prime at most 8192 bits; the whole
banner takes at most one socket timeout (Nmap's ``receive_lines`` is one read), and one
conversation at most ``deadline`` seconds (default: twice the socket timeout, at least a
minute) whatever the per-read timeout, so a peer trickling a byte at a time cannot hold a
script for hours. The exchange hash's signature is always checked and reported
(``signature_valid``); only the full :class:`Transport` refuses an invalid one.

Other deviations from 7.93, all on hostile or broken peers: what arrives together with the
server's banner is kept for the next packet (Nmap's ``receive_lines`` throws it away and
then waits in vain); lines before the ``SSH-`` line are skipped (RFC 4253 §4.2; Nmap takes the
first line, whatever it says); ``pack_mpint`` writes canonical mpints (Nmap's adds a zero byte
when the length is a multiple of 8, and none when the top bit is set otherwise, which makes
about one e in 512 negative and the exchange fail).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import logging
import os
import secrets
import struct
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.poly1305 import Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.utils import CryptographyDeprecationWarning

from nmapx.nse import stdnse
from nmapx.nse.errors import NseError, SocketError
from nmapx.nse.sockets import DEFAULT_TIMEOUT, NseSocket

__all__ = [
    "CIPHERS",
    "DEFAULT_BANNER",
    "DEFAULT_CIPHERS",
    "DEFAULT_HOST_KEY_ALGORITHMS",
    "DEFAULT_KEX_ALGORITHMS",
    "DEFAULT_MACS",
    "ENUM_ALGOS_BANNER",
    "HOSTKEY_BANNER",
    "KEX_METHODS",
    "MACS",
    "MAX_BANNER_LINE",
    "MAX_PACKET",
    "MAX_PRE_BANNER_LINES",
    "NMAP_HOSTKEY_KEX",
    "AuthResult",
    "HostKey",
    "KexInit",
    "KexResult",
    "ProtocolError",
    "PublicKeyInfo",
    "Transport",
    "TransportError",
    "Wire",
    "build",
    "check_packet_length",
    "fetch_host_key",
    "fetch_kex_init",
    "host_key_from_blob",
    "kex_init",
    "list_auth_methods",
    "modp_prime",
    "negotiate",
    "pack_mpint",
    "parse_kex_init",
    "parse_public_key",
    "payload",
    "receive_packet",
]

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- constants
SSH_MSG_DISCONNECT = 1
SSH_MSG_IGNORE = 2
SSH_MSG_UNIMPLEMENTED = 3
SSH_MSG_DEBUG = 4
SSH_MSG_SERVICE_REQUEST = 5
SSH_MSG_SERVICE_ACCEPT = 6
SSH_MSG_EXT_INFO = 7
SSH_MSG_KEXINIT = 20
SSH_MSG_NEWKEYS = 21
SSH_MSG_KEXDH_INIT = 30
SSH_MSG_KEXDH_REPLY = 31
SSH_MSG_KEX_ECDH_INIT = 30
SSH_MSG_KEX_ECDH_REPLY = 31
SSH_MSG_KEX_DH_GEX_GROUP = 31
SSH_MSG_KEX_DH_GEX_INIT = 32
SSH_MSG_KEX_DH_GEX_REPLY = 33
SSH_MSG_KEX_DH_GEX_REQUEST = 34
SSH_MSG_USERAUTH_REQUEST = 50
SSH_MSG_USERAUTH_FAILURE = 51
SSH_MSG_USERAUTH_SUCCESS = 52
SSH_MSG_USERAUTH_BANNER = 53
SSH_DISCONNECT_BY_APPLICATION = 11

#: OpenSSH's ``PACKET_MAX_SIZE``: no legitimate peer sends a longer packet.
MAX_PACKET = 256 * 1024
#: Longest banner (or pre-banner) line accepted, CR LF included (OpenSSH allows 8 KiB).
MAX_BANNER_LINE = 8192
#: OpenSSH's ``SSH_MAX_PRE_BANNER_LINES``: other lines a server may send before ``SSH-``.
MAX_PRE_BANNER_LINES = 1024
#: All banner bytes together, pre-banner lines included.
MAX_BANNER_BYTES = 64 * 1024
#: Group-exchange primes accepted, in bits (RFC 8270 and OpenSSH's ``DH_GRP_MAX``).
GEX_MAX_BITS = 8192
#: Messages skipped (IGNORE, DEBUG, ...) while waiting for one that matters.
MAX_SKIPPED = 256

#: The banners Nmap's scripts send (ssh2.lua, ssh2-enum-algos.nse).
HOSTKEY_BANNER = "SSH-2.0-Nmap-SSH2-Hostkey\r\n"
ENUM_ALGOS_BANNER = "SSH-2.0-Nmap_SSH2_Enum_Algos\r\n"
#: What :class:`Transport` sends when a script names no banner of its own.
DEFAULT_BANNER = "SSH-2.0-Nmap-SSH2\r\n"

#: ``ssh2.fetch_host_key``'s key exchange list: Diffie-Hellman only, in this order.
NMAP_HOSTKEY_KEX = (
    "diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,diffie-hellman-group14-sha256,"
    "diffie-hellman-group16-sha512,diffie-hellman-group-exchange-sha1,"
    "diffie-hellman-group-exchange-sha256"
)
#: ``transport.kex_init``'s defaults when a caller gives none (ssh2.lua).
NMAP_KEX_DEFAULTS = {
    "kex_algorithms": "diffie-hellman-group1-sha1",
    "host_key_algorithms": "ssh-dss,ssh-rsa",
    "encryption_algorithms": "aes128-cbc,3des-cbc,blowfish-cbc,aes192-cbc,aes256-cbc,"
    "aes128-ctr,aes192-ctr,aes256-ctr",
    "mac_algorithms": "hmac-md5,hmac-sha1,hmac-ripemd160",
    "compression_algorithms": "none",
    "languages": "",
}

#: :class:`Transport`'s proposals: everything implemented, OpenSSH's preference first.
DEFAULT_KEX_ALGORITHMS = (
    "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
    "ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,"
    "diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,diffie-hellman-group14-sha1,"
    "diffie-hellman-group-exchange-sha1,diffie-hellman-group1-sha1,kex-strict-c-v00@openssh.com"
)
DEFAULT_HOST_KEY_ALGORITHMS = (
    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
    "rsa-sha2-512,rsa-sha2-256,ssh-rsa,ssh-dss"
)
DEFAULT_CIPHERS = (
    "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,"
    "aes128-ctr,aes192-ctr,aes256-ctr,aes128-cbc,aes192-cbc,aes256-cbc"
)
DEFAULT_MACS = (
    "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,"
    "hmac-sha2-256,hmac-sha2-512,hmac-sha1,hmac-sha1-96,hmac-md5"
)

_STRICT_CLIENT = "kex-strict-c-v00@openssh.com"
_STRICT_SERVER = "kex-strict-s-v00@openssh.com"


# ---------------------------------------------------------------------------- errors
class TransportError(SocketError):
    """The conversation failed the way a socket call fails (``status`` ``"ERROR"``, or the
    socket's ``"EOF"``/``"TIMEOUT"``); ``detail`` says why. A script ends silently on it."""

    def __init__(self, detail: str, status: str = "ERROR") -> None:
        super().__init__(status, detail)


class ProtocolError(NseError):
    """A packet's contents contradict its own length fields: where Nmap's Lua library raises
    a Lua error (``string.unpack`` past the end), reported as a script failure."""


# ---------------------------------------------------------------------------- encoding
class _Reader:
    """SSH's wire types (RFC 4251 §5) read from one payload; short data is a ProtocolError."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.offset = offset

    def take(self, n: int) -> bytes:
        end = self.offset + n
        if n < 0 or end > len(self.data):
            raise ProtocolError("data string too short")
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def boolean(self) -> bool:
        return self.byte() != 0

    def uint32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def string(self) -> bytes:
        return self.take(self.uint32())

    def mpint(self) -> int:
        return int.from_bytes(self.string(), "big", signed=True)

    def text(self) -> str:
        return _decode(self.string())

    @property
    def left(self) -> int:
        return len(self.data) - self.offset


def _decode(raw: bytes) -> str:
    """Peer text as str that turns back into the same bytes (nmapx's output rule)."""
    return raw.decode("utf-8", "surrogateescape")


def _encode(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")


def _string(value: str | bytes) -> bytes:
    raw = _encode(value)
    return struct.pack(">I", len(raw)) + raw


def _uint32(value: int) -> bytes:
    return struct.pack(">I", value)


def pack_mpint(number: int) -> bytes:
    """An mpint (RFC 4251 §5): two's complement, big-endian, minimal, length-prefixed.

    ``transport.pack_mpint`` in Nmap, written canonically (see the module docstring).
    """
    if number == 0:
        return _uint32(0)
    magnitude = number if number > 0 else -number - 1  # -128 fits in one byte, 128 not
    length = (magnitude.bit_length() + 8) // 8  # room for the sign bit
    raw = number.to_bytes(length, "big", signed=True)
    return _uint32(len(raw)) + raw


def _mpint_bytes(magnitude: bytes) -> bytes:
    """An unsigned big-endian number given as bytes (curve25519's shared secret) as mpint."""
    return pack_mpint(int.from_bytes(magnitude, "big"))


# ---------------------------------------------------------------------------- packets (no keys)
def build(data: bytes, block_size: int = 8) -> bytes:
    """``transport.build``: an unencrypted packet around ``data``, random padding (>= 4)."""
    pad = block_size - (len(data) + 5) % block_size
    if pad < 4:
        pad += block_size
    return struct.pack(">IB", len(data) + pad + 1, pad) + data + os.urandom(pad)


def payload(packet: bytes) -> bytes | None:
    """``transport.payload``: the payload of a whole unencrypted packet (length included).

    None (with Nmap's debug message) when the length field disagrees with the packet; a
    padding length beyond the packet is a :class:`ProtocolError`.
    """
    if len(packet) < 5:
        raise ProtocolError("data string too short")
    length, pad = struct.unpack(">IB", packet[:5])
    if length != len(packet) - 4:
        stdnse.debug(
            1,
            "SSH-2 packet doesn't match length: payload_length is %d but total length is only %d.",
            length,
            len(packet) - 4,
        )
        return None
    end = 4 + length - pad
    if end < 5:
        raise ProtocolError(f"padding length {pad} exceeds packet length {length}")
    return packet[5:end]


def check_packet_length(buffer: bytes) -> tuple[int, int] | None:
    """``receive_buf`` delimiter for one whole packet: ``(start, end)`` of its last byte.

    Raises :class:`TransportError` for a length beyond :data:`MAX_PACKET` at once, so that a
    peer announcing 4 GB makes nobody wait or allocate.
    """
    if len(buffer) < 4:
        return None
    (length,) = struct.unpack(">I", buffer[:4])
    if length > MAX_PACKET:
        raise TransportError(f"packet length {length} exceeds {MAX_PACKET}")
    if length + 4 > len(buffer):
        return None
    return length + 3, length + 4


async def receive_packet(sock: NseSocket) -> bytes:
    """``transport.receive_packet``: one whole unencrypted packet, read with ``receive_buf``."""
    return await sock.receive_buf(check_packet_length, True)


# ---------------------------------------------------------------------------- KEXINIT
def kex_init(
    cookie: bytes | None = None,
    *,
    kex_algorithms: str | None = None,
    host_key_algorithms: str | None = None,
    encryption_algorithms: str | None = None,
    mac_algorithms: str | None = None,
    compression_algorithms: str | None = None,
    languages: str | None = None,
    encryption_algorithms_server_to_client: str | None = None,
    mac_algorithms_server_to_client: str | None = None,
    first_kex_packet_follows: bool = False,
) -> bytes:
    """``transport.kex_init``: a KEXINIT payload, with Nmap's defaults for what is not given.

    Like Nmap's, one list serves both directions unless a ``..._server_to_client`` list is
    given (an nmapx addition).
    """
    defaults = NMAP_KEX_DEFAULTS
    ciphers = encryption_algorithms or defaults["encryption_algorithms"]
    macs = mac_algorithms or defaults["mac_algorithms"]
    compression = compression_algorithms or defaults["compression_algorithms"]
    langs = languages if languages is not None else defaults["languages"]
    lists = (
        kex_algorithms or defaults["kex_algorithms"],
        host_key_algorithms or defaults["host_key_algorithms"],
        ciphers,
        encryption_algorithms_server_to_client or ciphers,
        macs,
        mac_algorithms_server_to_client or macs,
        compression,
        compression,
        langs,
        langs,
    )
    body = b"".join(_string(item) for item in lists)
    return (
        bytes([SSH_MSG_KEXINIT])
        + (cookie if cookie is not None else secrets.token_bytes(16))
        + body
        + bytes([1 if first_kex_packet_follows else 0])
        + _uint32(0)
    )


@dataclass(frozen=True)
class KexInit:
    """A parsed KEXINIT: Nmap's field names (``parse_kex_init``'s table), lists as strings."""

    FIELDS: ClassVar[tuple[str, ...]] = (
        "kex_algorithms",
        "server_host_key_algorithms",
        "encryption_algorithms_client_to_server",
        "encryption_algorithms_server_to_client",
        "mac_algorithms_client_to_server",
        "mac_algorithms_server_to_client",
        "compression_algorithms_client_to_server",
        "compression_algorithms_server_to_client",
        "languages_client_to_server",
        "languages_server_to_client",
    )

    cookie: bytes
    kex_algorithms: str
    server_host_key_algorithms: str
    encryption_algorithms_client_to_server: str
    encryption_algorithms_server_to_client: str
    mac_algorithms_client_to_server: str
    mac_algorithms_server_to_client: str
    compression_algorithms_client_to_server: str
    compression_algorithms_server_to_client: str
    languages_client_to_server: str
    languages_server_to_client: str
    first_kex_packet_follows: bool = False
    #: The whole payload, message code included (the exchange hash covers it).
    raw: bytes = field(default=b"", repr=False)

    def get(self, name: str) -> str | None:
        """A list by Nmap's field name, as ``parsed[name]`` in Lua (None if no such field)."""
        if name not in self.FIELDS:
            return None
        value: str = getattr(self, name)
        return value

    def names(self, name: str) -> list[str]:
        """A list split on commas; ``[]`` for an empty list."""
        value = self.get(name)
        return value.split(",") if value else []

    def lists(self) -> dict[str, str]:
        """All ten lists by field name, in wire order."""
        return {name: getattr(self, name) for name in self.FIELDS}


def parse_kex_init(data: bytes | None) -> KexInit | None:
    """``transport.parse_kex_init``: None when the message is not a KEXINIT (Nmap: ``{}``).

    A KEXINIT too short for its lists raises :class:`ProtocolError` (a Lua error in Nmap); the
    two fields after the lists, which Nmap does not read, default when missing.
    """
    if data is None:
        raise ProtocolError("bad argument #1 to 'unpack' (string expected, got nil)")
    reader = _Reader(data)
    if reader.byte() != SSH_MSG_KEXINIT:
        return None
    cookie = reader.take(16)
    lists = [reader.text() for _ in KexInit.FIELDS]
    follows = reader.boolean() if reader.left >= 1 else False
    return KexInit(
        cookie, lists[0], lists[1], lists[2], lists[3], lists[4], lists[5], lists[6], lists[7],
        lists[8], lists[9], first_kex_packet_follows=follows, raw=bytes(data),
    )  # fmt: skip


def _names(text: str) -> list[str]:
    return text.split(",") if text else []


def negotiate(client: str, server: str) -> str | None:
    """RFC 4253 §7.1: the first of the client's algorithms that the server also lists."""
    offered = set(_names(server))
    for name in _names(client):
        if name in offered:
            return name
    return None


# ---------------------------------------------------------------------------- public keys
@dataclass(frozen=True)
class PublicKeyInfo:
    """What a host key blob is: its type, Nmap's algorithm name and its size in bits."""

    key_type: str
    algorithm: str
    bits: int


_ECDSA_CURVES: dict[str, tuple[type[ec.EllipticCurve], int, hashes.HashAlgorithm]] = {
    "nistp256": (ec.SECP256R1, 256, hashes.SHA256()),
    "nistp384": (ec.SECP384R1, 384, hashes.SHA384()),
    "nistp521": (ec.SECP521R1, 521, hashes.SHA512()),
}


def parse_public_key(blob: bytes) -> PublicKeyInfo:
    """Type, algorithm and bits of an SSH public key blob (RFC 4253 §6.6, RFC 5656, 8709).

    Bits as Nmap counts them: the modulus (RSA) or prime (DSA) bit length, the curve size for
    ECDSA, 256 for Ed25519. An unknown type gives algorithm ``""`` and 0 bits.
    """
    reader = _Reader(blob)
    key_type = reader.text()
    if key_type == "ssh-rsa":
        reader.string()  # e
        modulus = reader.string()
        return PublicKeyInfo(key_type, "RSA", int.from_bytes(modulus, "big").bit_length())
    if key_type == "ssh-dss":
        prime = reader.string()
        return PublicKeyInfo(key_type, "DSA", int.from_bytes(prime, "big").bit_length())
    if key_type.startswith("ecdsa-sha2-"):
        curve = _ECDSA_CURVES.get(key_type[len("ecdsa-sha2-") :])
        return PublicKeyInfo(key_type, "ECDSA", curve[1] if curve else 0)
    if key_type == "ssh-ed25519":
        return PublicKeyInfo(key_type, "ED25519", 256)
    return PublicKeyInfo(key_type, "", 0)


#: ``ssh2.fetch_host_key``'s algorithm name and bit count for the key type it asked for.
_NMAP_KEY_TYPES = {
    "ssh-dss": "DSA",
    "ssh-rsa": "RSA",
    "ecdsa-sha2-nistp256": "ECDSA",
    "ecdsa-sha2-nistp384": "ECDSA",
    "ecdsa-sha2-nistp521": "ECDSA",
    "ssh-ed25519": "ED25519",
}


def _nmap_bits(key_type: str, blob: bytes) -> tuple[str | None, int | None]:
    """Algorithm and bits exactly as ssh2.lua computes them: from the type *asked for*, the
    blob read as that type (a blob of another type is misread, or fails, as in Nmap)."""
    algorithm = _NMAP_KEY_TYPES.get(key_type)
    reader = _Reader(blob)
    if key_type == "ssh-dss":
        reader.string()
        return algorithm, int.from_bytes(reader.string(), "big").bit_length()
    if key_type == "ssh-rsa":
        reader.string()
        reader.string()
        return algorithm, int.from_bytes(reader.string(), "big").bit_length()
    if key_type.startswith("ecdsa-sha2-nistp"):
        return algorithm, int(key_type[len("ecdsa-sha2-nistp") :])
    if key_type == "ssh-ed25519":
        return algorithm, 256
    stdnse.debug(1, "Unsupported key type: %s", key_type)
    return None, None


def _verify_signature(blob: bytes, algorithm: str, signature: bytes, data: bytes) -> bool:
    """Does ``signature`` (an SSH signature blob) sign ``data`` with host key ``blob``?

    ``algorithm`` is the negotiated host key algorithm (``rsa-sha2-256`` for an ``ssh-rsa``
    key, ...). Malformed keys or signatures are simply not valid.
    """
    try:
        key = _Reader(blob)
        sig = _Reader(signature)
        key_type = key.text()
        sig_type = sig.text()
        raw = sig.string()
        if sig_type != algorithm:
            return False
        if key_type == "ssh-ed25519":
            ed25519.Ed25519PublicKey.from_public_bytes(key.string()).verify(raw, data)
            return True
        if key_type.startswith("ecdsa-sha2-"):
            curve_name = key.text()
            curve = _ECDSA_CURVES[curve_name]
            point = key.string()
            public = ec.EllipticCurvePublicKey.from_encoded_point(curve[0](), point)
            parts = _Reader(raw)
            r, s = parts.mpint(), parts.mpint()
            public.verify(encode_dss_signature(r, s), data, ec.ECDSA(curve[2]))
            return True
        if key_type == "ssh-rsa":
            e, n = key.mpint(), key.mpint()
            chosen: hashes.HashAlgorithm = {
                "ssh-rsa": hashes.SHA1(),
                "rsa-sha2-256": hashes.SHA256(),
                "rsa-sha2-512": hashes.SHA512(),
            }[algorithm]
            rsa_key = rsa.RSAPublicNumbers(e, n).public_key()
            rsa_key.verify(raw, data, padding.PKCS1v15(), chosen)
            return True
        if key_type == "ssh-dss":
            p, q, g, y = key.mpint(), key.mpint(), key.mpint(), key.mpint()
            if len(raw) != 40:
                return False
            r, s = int.from_bytes(raw[:20], "big"), int.from_bytes(raw[20:], "big")
            with warnings.catch_warnings():  # DSA is deprecated; legacy servers still use it
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                numbers = dsa.DSAPublicNumbers(y, dsa.DSAParameterNumbers(p, q, g))
                numbers.public_key().verify(encode_dss_signature(r, s), data, hashes.SHA1())
            return True
    except (InvalidSignature, ProtocolError, KeyError, ValueError, TypeError):
        return False
    except Exception:  # a key cryptography will not load (tiny DSA, odd sizes): not valid
        log.debug("signature check failed unexpectedly", exc_info=True)
        return False
    return False


@dataclass
class HostKey:
    """A host key as ``ssh1/ssh2.fetch_host_key`` describe it, plus what nmapx adds.

    The first eight fields are Nmap's table (``key``, ``key_type``, ``fp_input``, ``bits``,
    ``full_key``, ``algorithm``, ``fingerprint`` = MD5, ``fp_sha256``); the format helpers in
    :mod:`nmapx.nse.ssh1` take them.
    """

    key_type: str
    algorithm: str | None
    bits: int | None
    key: str
    full_key: str
    fp_input: bytes
    fingerprint: bytes
    fp_sha256: bytes
    #: The key exchange method that fetched it, and the server's identification line.
    kex: str | None = None
    server_version: str | None = None
    #: Whether the server's signature over the exchange hash checked out (None: not checked).
    signature_valid: bool | None = None


def host_key_from_blob(
    blob: bytes, key_type: str | None = None, algorithm: str | None = None, bits: int | None = None
) -> HostKey:
    """A :class:`HostKey` for an SSH-2 key blob; type, algorithm and bits from the blob when
    not given (Nmap's table fields: base64 key, ``"<type> <base64>"``, MD5 and SHA-256)."""
    if key_type is None or algorithm is None or bits is None:
        info = parse_public_key(blob)
        key_type = key_type or info.key_type
        algorithm = algorithm if algorithm is not None else info.algorithm
        bits = bits if bits is not None else info.bits
    encoded = base64.b64encode(blob).decode("ascii")
    return HostKey(
        key_type=key_type,
        algorithm=algorithm,
        bits=bits,
        key=encoded,
        full_key=f"{key_type} {encoded}",
        fp_input=blob,
        fingerprint=hashlib.md5(blob).digest(),
        fp_sha256=hashlib.sha256(blob).digest(),
    )


# ---------------------------------------------------------------------------- MODP groups
#: RFC 2409 / 3526 MODP groups: (bits, the constant added to the digits of pi).
_MODP = {1: (768, 149686), 2: (1024, 129093), 14: (2048, 124476), 16: (4096, 240904),
         18: (8192, 4743158)}  # fmt: skip


def _pi_bits(bits: int) -> int:
    """floor(pi * 2**bits), by Machin's formula in integers (exact for these sizes)."""
    guard = 64
    one = 1 << (bits + guard)

    def arctan_inverse(x: int) -> int:
        term = one // x
        total = term
        square = x * x
        n = 1
        sign = -1
        while term:
            term //= square
            n += 2
            total += sign * (term // n)
            sign = -sign
        return total

    pi = 4 * (4 * arctan_inverse(5) - arctan_inverse(239))
    return pi >> guard


@functools.cache
def modp_prime(group: int) -> int:
    """The prime of MODP group 1, 2, 14, 16 or 18, computed from its definition.

    Every one is ``2**n - 2**(n-64) - 1 + 2**64 * (floor(2**(n-130) * pi) + c)`` (RFC 2409
    §6, RFC 3526); computing it avoids 3 KB of hexadecimal that nobody can proof-read. The
    tests compare groups 2, 14 and 16 with the hexadecimal in Nmap's ssh2.lua.
    """
    bits, constant = _MODP[group]
    return (1 << bits) - (1 << (bits - 64)) - 1 + (1 << 64) * (_pi_bits(bits - 130) + constant)


# ---------------------------------------------------------------------------- key exchange
@dataclass(frozen=True)
class _KexMethod:
    name: str
    kind: str  # "dh", "gex", "ecdh", "x25519"
    hash: str  # hashlib name
    group: int = 0
    curve: type[ec.EllipticCurve] | None = None


def _kex_methods() -> dict[str, _KexMethod]:
    methods = [
        _KexMethod("curve25519-sha256", "x25519", "sha256"),
        _KexMethod("curve25519-sha256@libssh.org", "x25519", "sha256"),
        _KexMethod("ecdh-sha2-nistp256", "ecdh", "sha256", curve=ec.SECP256R1),
        _KexMethod("ecdh-sha2-nistp384", "ecdh", "sha384", curve=ec.SECP384R1),
        _KexMethod("ecdh-sha2-nistp521", "ecdh", "sha512", curve=ec.SECP521R1),
        _KexMethod("diffie-hellman-group1-sha1", "dh", "sha1", group=2),
        _KexMethod("diffie-hellman-group14-sha1", "dh", "sha1", group=14),
        _KexMethod("diffie-hellman-group14-sha256", "dh", "sha256", group=14),
        _KexMethod("diffie-hellman-group16-sha512", "dh", "sha512", group=16),
        _KexMethod("diffie-hellman-group18-sha512", "dh", "sha512", group=18),
        _KexMethod("diffie-hellman-group-exchange-sha1", "gex", "sha1"),
        _KexMethod("diffie-hellman-group-exchange-sha256", "gex", "sha256"),
    ]
    return {method.name: method for method in methods}


KEX_METHODS = _kex_methods()


@dataclass
class KexResult:
    """What one key exchange established."""

    kex: str
    host_key_algorithm: str
    host_key: bytes
    #: The exchange hash H and the shared secret K (as the mpint the key derivation hashes).
    exchange_hash: bytes
    shared_secret: bytes
    signature: bytes
    signature_valid: bool | None
    server_kexinit: KexInit
    cipher_client_to_server: str | None = None
    cipher_server_to_client: str | None = None
    mac_client_to_server: str | None = None
    mac_server_to_client: str | None = None
    strict: bool = False


@dataclass
class AuthResult:
    """The server's answer to a ``none`` authentication request (RFC 4252 §5.2)."""

    success: bool
    methods: list[str]
    partial_success: bool = False
    banner: str | None = None


# ---------------------------------------------------------------------------- ciphers
@dataclass(frozen=True)
class _CipherSpec:
    key_len: int
    iv_len: int
    block: int
    kind: str  # "ctr", "cbc", "gcm", "chacha"
    #: The block cipher of a "ctr" or "cbc" mode: "aes", or "3des" (kept because libssh2
    #: 1.10, Nmap 7.93's, still negotiates it, and a server offering only it must not fail
    #: in nmapx where it succeeds in Nmap).
    family: str = "aes"


CIPHERS = {
    "chacha20-poly1305@openssh.com": _CipherSpec(64, 0, 8, "chacha"),
    "aes128-gcm@openssh.com": _CipherSpec(16, 12, 16, "gcm"),
    "aes256-gcm@openssh.com": _CipherSpec(32, 12, 16, "gcm"),
    "aes128-ctr": _CipherSpec(16, 16, 16, "ctr"),
    "aes192-ctr": _CipherSpec(24, 16, 16, "ctr"),
    "aes256-ctr": _CipherSpec(32, 16, 16, "ctr"),
    "aes128-cbc": _CipherSpec(16, 16, 16, "cbc"),
    "aes192-cbc": _CipherSpec(24, 16, 16, "cbc"),
    "aes256-cbc": _CipherSpec(32, 16, 16, "cbc"),
    # the name aes256-cbc had before RFC 4253 (libssh2 and old OpenSSH still offer it)
    "rijndael-cbc@lysator.liu.se": _CipherSpec(32, 16, 16, "cbc"),
    "3des-cbc": _CipherSpec(24, 8, 8, "cbc", family="3des"),
}


def _block_cipher(spec: _CipherSpec, key: bytes) -> Any:
    """The block cipher algorithm of a "ctr" or "cbc" spec.

    Triple DES lives in ``cryptography.hazmat.decrepit`` from cryptography 43 on (and is gone
    from the main algorithms since 48); 42, the oldest nmapx supports, has only the latter.
    """
    if spec.family != "3des":
        return algorithms.AES(key)
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:  # cryptography 42
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return vars(algorithms)["TripleDES"](key)
    return TripleDES(key)


@dataclass(frozen=True)
class _MacSpec:
    hash: str
    key_len: int
    length: int
    etm: bool


MACS = {
    "hmac-sha2-256-etm@openssh.com": _MacSpec("sha256", 32, 32, True),
    "hmac-sha2-512-etm@openssh.com": _MacSpec("sha512", 64, 64, True),
    "hmac-sha1-etm@openssh.com": _MacSpec("sha1", 20, 20, True),
    "hmac-sha2-256": _MacSpec("sha256", 32, 32, False),
    "hmac-sha2-512": _MacSpec("sha512", 64, 64, False),
    "hmac-sha1": _MacSpec("sha1", 20, 20, False),
    "hmac-sha1-96": _MacSpec("sha1", 20, 12, False),
    "hmac-md5": _MacSpec("md5", 16, 16, False),
    "hmac-md5-96": _MacSpec("md5", 16, 12, False),
}


def _chacha_stream(key: bytes, seq: int, counter: int) -> CipherContext:
    """OpenSSH's ChaCha20 (64-bit counter, 64-bit nonce = the sequence number)."""
    nonce = counter.to_bytes(8, "little") + seq.to_bytes(8, "big")
    return Cipher(algorithms.ChaCha20(key, nonce), mode=None).encryptor()


class _Direction:
    """The packet protection of one direction after NEWKEYS (or none before it)."""

    def __init__(
        self,
        cipher: str | None = None,
        mac: str | None = None,
        key: bytes = b"",
        iv: bytes = b"",
        mac_key: bytes = b"",
        *,
        sending: bool = True,
    ) -> None:
        self.name = cipher
        self.spec = CIPHERS[cipher] if cipher else None
        aead = self.spec is not None and self.spec.kind in ("gcm", "chacha")
        self.mac = MACS[mac] if mac and not aead else None
        self.mac_key = mac_key
        self.key = key
        self.iv = iv
        self.context: CipherContext | None = None
        if self.spec is not None and self.spec.kind == "ctr":
            counter = Cipher(_block_cipher(self.spec, key), modes.CTR(iv))
            self.context = counter.encryptor() if sending else counter.decryptor()
        elif self.spec is not None and self.spec.kind == "cbc":
            chained = Cipher(_block_cipher(self.spec, key), modes.CBC(iv))
            self.context = chained.encryptor() if sending else chained.decryptor()
        self.gcm = AESGCM(key) if self.spec is not None and self.spec.kind == "gcm" else None
        self.invocation = int.from_bytes(iv[4:12], "big") if self.gcm is not None else 0

    @property
    def block(self) -> int:
        return max(8, self.spec.block) if self.spec else 8

    @property
    def tag_len(self) -> int:
        if self.spec is not None and self.spec.kind in ("gcm", "chacha"):
            return 16
        return self.mac.length if self.mac else 0

    @property
    def length_in_clear(self) -> bool:
        """ETM and GCM leave the length field unencrypted (and out of the padding sum)."""
        return bool(self.mac and self.mac.etm) or (
            self.spec is not None and self.spec.kind == "gcm"
        )

    def _mac(self, seq: int, data: bytes) -> bytes:
        assert self.mac is not None
        digest = hmac.new(self.mac_key, _uint32(seq) + data, self.mac.hash).digest()
        return digest[: self.mac.length]

    def _gcm_nonce(self) -> bytes:
        return self.iv[:4] + self.invocation.to_bytes(8, "big")

    def seal(self, seq: int, data: bytes) -> bytes:
        """The packet carrying payload ``data`` as sequence number ``seq``."""
        block = self.block
        aligned_without_length = self.length_in_clear or (
            self.spec is not None and self.spec.kind == "chacha"
        )
        covered = len(data) + 1 + (0 if aligned_without_length else 4)
        pad = block - covered % block
        if pad < 4:
            pad += block
        body = bytes([pad]) + data + os.urandom(pad)
        length = _uint32(len(body))
        spec = self.spec
        if spec is None:
            return length + body
        if spec.kind == "chacha":
            header = _chacha_stream(self.key[32:], seq, 0).update(length)
            stream = _chacha_stream(self.key[:32], seq, 0)
            poly_key = stream.update(bytes(64))[:32]
            encrypted = _chacha_stream(self.key[:32], seq, 1).update(body)
            tag = Poly1305.generate_tag(poly_key, header + encrypted)
            return header + encrypted + tag
        if spec.kind == "gcm":
            assert self.gcm is not None
            sealed = self.gcm.encrypt(self._gcm_nonce(), body, length)
            self.invocation = (self.invocation + 1) % (1 << 64)
            return length + sealed
        assert self.context is not None
        if self.mac is not None and self.mac.etm:
            encrypted = self.context.update(body)
            return length + encrypted + self._mac(seq, length + encrypted)
        packet = length + body
        tag = self._mac(seq, packet) if self.mac else b""
        return self.context.update(packet) + tag

    async def open(self, wire: Wire, seq: int) -> bytes:
        """Read, check and decrypt one packet from ``wire``; returns its payload."""
        spec = self.spec
        if spec is None:
            await wire.fill(4)
            length = struct.unpack(">I", wire.peek(4))[0]
            if length > MAX_PACKET:
                raise TransportError(f"packet length {length} exceeds {MAX_PACKET}")
            await wire.fill(4 + length)
            packet = wire.take(4 + length)
            return self._strip(packet[4:])  # a packet too short for its fields: ProtocolError
        if spec.kind == "chacha":
            await wire.fill(4)
            header = wire.peek(4)
            clear = _chacha_stream(self.key[32:], seq, 0).update(header)
            length = self._check_length(struct.unpack(">I", clear)[0], self.block)
            await wire.fill(4 + length + 16)
            packet = wire.take(4 + length + 16)
            poly_key = _chacha_stream(self.key[:32], seq, 0).update(bytes(64))[:32]
            try:
                Poly1305.verify_tag(poly_key, packet[: 4 + length], packet[4 + length :])
            except InvalidSignature:
                raise TransportError("bad packet authentication tag") from None
            body = _chacha_stream(self.key[:32], seq, 1).update(packet[4 : 4 + length])
            return self._strip(body)
        if spec.kind == "gcm":
            assert self.gcm is not None
            await wire.fill(4)
            length = self._check_length(struct.unpack(">I", wire.peek(4))[0], self.block)
            await wire.fill(4 + length + 16)
            packet = wire.take(4 + length + 16)
            try:
                body = self.gcm.decrypt(self._gcm_nonce(), packet[4:], packet[:4])
            except InvalidTag:
                raise TransportError("bad packet authentication tag") from None
            self.invocation = (self.invocation + 1) % (1 << 64)
            return self._strip(body)
        assert self.context is not None
        mac_len = self.tag_len
        if self.mac is not None and self.mac.etm:
            await wire.fill(4)
            length = self._check_length(struct.unpack(">I", wire.peek(4))[0], self.block)
            await wire.fill(4 + length + mac_len)
            packet = wire.take(4 + length + mac_len)
            if not hmac.compare_digest(self._mac(seq, packet[: 4 + length]), packet[4 + length :]):
                raise TransportError("bad packet MAC")
            return self._strip(self.context.update(packet[4 : 4 + length]))
        block = self.block
        await wire.fill(block)
        first = self.context.update(wire.peek(block))
        length = struct.unpack(">I", first[:4])[0]
        if (length + 4) % block or length > MAX_PACKET or length < 5:
            raise TransportError(f"bad packet length {length}")
        await wire.fill(4 + length + mac_len)
        raw = wire.take(4 + length + mac_len)
        clear = first + self.context.update(raw[block : 4 + length])
        if self.mac is not None and not hmac.compare_digest(
            self._mac(seq, clear), raw[4 + length :]
        ):
            raise TransportError("bad packet MAC")
        return self._strip(clear[4:])

    @staticmethod
    def _check_length(length: int, multiple: int) -> int:
        if length > MAX_PACKET:
            raise TransportError(f"packet length {length} exceeds {MAX_PACKET}")
        if length < 5 or length % multiple:
            raise TransportError(f"bad packet length {length}")
        return length

    @staticmethod
    def _strip(body: bytes) -> bytes:
        """The payload of ``padding_length || payload || padding``."""
        if not body:
            raise ProtocolError("data string too short")
        pad = body[0]
        if pad + 1 > len(body):
            raise ProtocolError(f"padding length {pad} exceeds packet length {len(body)}")
        return body[1 : len(body) - pad]


# ---------------------------------------------------------------------------- the wire
class Wire:
    """Buffered, bounded reads from an :class:`NseSocket`.

    Every read is one ``sock.receive()`` (traced, scope-checked, at most the socket timeout)
    and also ends at the conversation's deadline; what arrives beyond what was asked for stays
    here for the next read, so a banner and the first packet may share a segment.
    """

    def __init__(self, sock: NseSocket, timeout: float, deadline: float) -> None:
        self.sock = sock
        #: Per-read timeout in ms (NSE's socket timeout); -1 for none.
        self.timeout = timeout
        #: Loop time after which nothing more is read or sent.
        self.deadline = deadline
        self.buffer = bytearray()

    def _arm(self) -> None:
        """Set the socket's timeout to the smaller of its own and what the deadline leaves."""
        left = (self.deadline - asyncio.get_running_loop().time()) * 1000
        if left <= 0:
            raise TransportError("the conversation took too long", "TIMEOUT")
        ms = left if self.timeout < 0 else min(self.timeout, left)
        self.sock.set_timeout(max(1, ms))

    async def send(self, data: bytes) -> None:
        self._arm()
        await self.sock.send(data)

    async def fill(self, n: int) -> None:
        """Read until at least ``n`` bytes are buffered."""
        while len(self.buffer) < n:
            self._arm()
            self.buffer += await self.sock.receive()

    def peek(self, n: int) -> bytes:
        return bytes(self.buffer[:n])

    def take(self, n: int) -> bytes:
        chunk = bytes(self.buffer[:n])
        del self.buffer[:n]
        return chunk

    async def read_line(self, limit: int) -> bytes:
        """One line up to and including LF, at most ``limit`` bytes, else TransportError."""
        while True:
            end = self.buffer.find(b"\n", 0, limit)
            if end >= 0:
                return self.take(end + 1)
            if len(self.buffer) >= limit:
                raise TransportError(f"no end of line in {limit} bytes")
            self._arm()
            self.buffer += await self.sock.receive()


def _deadline(seconds: float | None, timeout: float) -> float:
    """Loop time at which a conversation must be over: ``seconds`` from now, by default twice
    the socket timeout (at least a minute)."""
    if seconds is None:
        seconds = max(60.0, 2 * timeout / 1000) if timeout >= 0 else 60.0
    return asyncio.get_running_loop().time() + seconds


# ---------------------------------------------------------------------------- transport
class Transport:
    """One SSH-2 client conversation on an NSE socket (RFC 4253): banners, packets, key
    exchange, encryption and the ``none`` authentication.

    Open it with :meth:`connect`, then typically::

        transport = await ssh2.Transport.connect(host, port)
        try:
            await transport.key_exchange()
            await transport.newkeys()
            answer = await transport.userauth_none("root")
        finally:
            await transport.close()
    """

    def __init__(
        self,
        sock: NseSocket,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: float | None = None,
        client_version: str = DEFAULT_BANNER,
    ) -> None:
        self.sock = sock
        self.wire = Wire(sock, timeout, _deadline(deadline, timeout))
        #: Identification lines without CR LF (V_C, V_S of the exchange hash).
        self.client_version = _encode(client_version).rstrip(b"\r\n")
        self.server_version: bytes | None = None
        #: Lines the server sent before its identification line.
        self.pre_banner: list[bytes] = []
        self.send_seq = 0
        self.recv_seq = 0
        self._out = _Direction()
        self._in = _Direction()
        self.session_id: bytes | None = None
        self.kex: KexResult | None = None
        self.client_kexinit: bytes | None = None
        self.server_kexinit: KexInit | None = None
        self._pending: tuple[KexResult, _KexMethod] | None = None
        self._userauth = False
        self.authenticated = False

    # ------------------------------------------------------------------ opening
    @classmethod
    async def connect(
        cls,
        host: Any,
        port: Any,
        *,
        client_version: str = DEFAULT_BANNER,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: float | None = None,
        send_first: bool = False,
    ) -> Transport:
        """Connect and exchange identification lines (``send_first``: ours before reading).

        Raises :class:`~nmapx.nse.errors.SocketError` (connect, read) or
        :class:`TransportError` (no ``SSH-`` line within the limits); the socket is closed then.
        """
        sock = NseSocket()
        sock.set_timeout(timeout)
        try:
            await sock.connect(host, port)
            transport = cls(sock, timeout=timeout, deadline=deadline, client_version=client_version)
            if send_first:
                await transport.send_banner()
                await transport.read_banner()
            else:
                await transport.read_banner()
                await transport.send_banner()
        except BaseException:
            sock.close()
            raise
        return transport

    async def send_banner(self) -> None:
        await self.wire.send(self.client_version + b"\r\n")

    async def read_banner(self) -> str:
        """The server's identification line (RFC 4253 §4.2), lines before it skipped.

        Bounded by :data:`MAX_BANNER_LINE`, :data:`MAX_PRE_BANNER_LINES` and
        :data:`MAX_BANNER_BYTES` (a peer that exceeds them is not an SSH server), and in time
        by one socket timeout for all of it, as Nmap's ``receive_lines`` is one read: a
        server trickling its banner a byte at a time fails with ``TIMEOUT``.
        """
        wire = self.wire
        saved = wire.deadline
        if wire.timeout >= 0:
            now = asyncio.get_running_loop().time()
            wire.deadline = min(saved, now + wire.timeout / 1000)
        try:
            total = 0
            for _ in range(MAX_PRE_BANNER_LINES + 1):
                line = await wire.read_line(MAX_BANNER_LINE)
                total += len(line)
                text = line.rstrip(b"\r\n")
                if text.startswith(b"SSH-"):
                    self.server_version = text
                    return _decode(text)
                if total >= MAX_BANNER_BYTES:
                    break
                if len(self.pre_banner) < 16:
                    self.pre_banner.append(text)
        finally:
            wire.deadline = saved
        raise TransportError("no SSH identification line from the server")

    # ------------------------------------------------------------------ packets
    async def send_packet(self, data: bytes) -> None:
        """Send one message (payload ``data``) with the current keys."""
        packet = self._out.seal(self.send_seq, data)
        self.send_seq = (self.send_seq + 1) & 0xFFFFFFFF
        await self.wire.send(packet)

    async def receive_packet(self) -> bytes:
        """The payload of the next packet, whatever its message type."""
        data = await self._in.open(self.wire, self.recv_seq)
        self.recv_seq = (self.recv_seq + 1) & 0xFFFFFFFF
        if not data:
            raise ProtocolError("empty SSH packet")
        return data

    async def receive_message(self, *expected: int) -> bytes:
        """The next message that is not IGNORE, DEBUG or UNIMPLEMENTED (EXT_INFO too).

        A DISCONNECT raises :class:`TransportError` with the server's reason; with
        ``expected`` given, any other message type does too.
        """
        for _ in range(MAX_SKIPPED):
            data = await self.receive_packet()
            code = data[0]
            if code in (SSH_MSG_IGNORE, SSH_MSG_DEBUG, SSH_MSG_UNIMPLEMENTED, SSH_MSG_EXT_INFO):
                continue
            if code == SSH_MSG_DISCONNECT:
                reader = _Reader(data, 1)
                reason = reader.uint32() if reader.left >= 4 else 0
                text = reader.text() if reader.left >= 4 else ""
                raise TransportError(f"disconnected by the server ({reason}): {text}", "EOF")
            if expected and code not in expected:
                raise TransportError(f"unexpected message {code}, wanted {list(expected)}")
            return data
        raise TransportError(f"more than {MAX_SKIPPED} messages to skip")

    # ------------------------------------------------------------------ key exchange
    async def send_kexinit(self, data: bytes) -> bytes:
        """Send a KEXINIT payload (from :func:`kex_init`), remembered for the exchange hash."""
        self.client_kexinit = data
        await self.send_packet(data)
        return data

    async def receive_kexinit(self) -> KexInit:
        data = await self.receive_message()
        parsed = parse_kex_init(data)
        if parsed is None:
            raise TransportError(f"expected KEXINIT, got message {data[0]}")
        self.server_kexinit = parsed
        return parsed

    async def key_exchange(
        self,
        *,
        kex_algorithms: str = DEFAULT_KEX_ALGORITHMS,
        host_key_algorithms: str = DEFAULT_HOST_KEY_ALGORITHMS,
        encryption_algorithms: str = DEFAULT_CIPHERS,
        mac_algorithms: str = DEFAULT_MACS,
        gex_sizes: tuple[int, int, int] = (2048, 3072, 8192),
    ) -> KexResult:
        """KEXINIT both ways, negotiation, and the exchange itself (not NEWKEYS yet).

        Raises :class:`TransportError` when the two sides share no algorithm of some kind.
        """
        await self.send_kexinit(
            kex_init(
                kex_algorithms=kex_algorithms,
                host_key_algorithms=host_key_algorithms,
                encryption_algorithms=encryption_algorithms,
                mac_algorithms=mac_algorithms,
                compression_algorithms="none",
            )
        )
        server = await self.receive_kexinit()
        chosen = negotiate(kex_algorithms, server.kex_algorithms)
        if chosen is None or chosen not in KEX_METHODS:
            raise TransportError("no key exchange method in common")
        host_key_algorithm = negotiate(host_key_algorithms, server.server_host_key_algorithms)
        if host_key_algorithm is None:
            raise TransportError("no host key algorithm in common")
        ciphers = (
            negotiate(encryption_algorithms, server.encryption_algorithms_client_to_server),
            negotiate(encryption_algorithms, server.encryption_algorithms_server_to_client),
        )
        if None in ciphers:
            raise TransportError("no cipher in common")
        macs = []
        for cipher, offered in zip(
            ciphers,
            (server.mac_algorithms_client_to_server, server.mac_algorithms_server_to_client),
            strict=True,
        ):
            spec = CIPHERS[str(cipher)]
            mac = None if spec.kind in ("gcm", "chacha") else negotiate(mac_algorithms, offered)
            if mac is None and spec.kind not in ("gcm", "chacha"):
                raise TransportError("no MAC in common")
            macs.append(mac)
        for offered in (
            server.compression_algorithms_client_to_server,
            server.compression_algorithms_server_to_client,
        ):
            if negotiate("none", offered) is None:
                raise TransportError("the server insists on compression")
        if server.first_kex_packet_follows and (
            _names(server.kex_algorithms)[:1] != [chosen]
            or _names(server.server_host_key_algorithms)[:1] != [host_key_algorithm]
        ):
            await self.receive_packet()  # RFC 4253 §7: the server's wrong guess is ignored
        strict = (
            self.session_id is None
            and _STRICT_CLIENT in _names(kex_algorithms)
            and _STRICT_SERVER in _names(server.kex_algorithms)
        )
        method = KEX_METHODS[chosen]
        result = await self._exchange(method, host_key_algorithm, gex_sizes)
        result.cipher_client_to_server, result.cipher_server_to_client = ciphers
        result.mac_client_to_server, result.mac_server_to_client = macs
        result.strict = strict
        if not result.signature_valid:
            raise TransportError("the server's signature over the exchange hash is not valid")
        self._pending = (result, method)
        return result

    async def _exchange(
        self,
        method: _KexMethod,
        host_key_algorithm: str,
        gex_sizes: tuple[int, int, int],
        *,
        lenient: bool = False,
        verify: bool = True,
    ) -> KexResult:
        """Run ``method``: send our share, read the reply, compute K and H, check the
        signature. ``lenient`` (Nmap's fetch): only the host key must parse; the rest of the
        reply may be garbage (then ``signature_valid`` is None), as Nmap never reads it.
        ``verify=False`` (Diffie-Hellman only) skips K, H and the signature: the host key is
        all the caller wants, so our share need not even be a power we know the log of."""
        assert self.client_kexinit is not None and self.server_kexinit is not None
        if self.server_version is None:
            raise TransportError("no server identification line")
        prefix = (
            _string(self.client_version)
            + _string(self.server_version)
            + _string(self.client_kexinit)
            + _string(self.server_kexinit.raw)
        )
        if method.kind in ("x25519", "ecdh"):
            return await self._exchange_ecdh(method, host_key_algorithm, prefix, lenient)
        return await self._exchange_dh(
            method, host_key_algorithm, gex_sizes, prefix, lenient, verify
        )

    async def _exchange_ecdh(
        self, method: _KexMethod, host_key_algorithm: str, prefix: bytes, lenient: bool
    ) -> KexResult:
        private_x: x25519.X25519PrivateKey | None = None
        private_ec: ec.EllipticCurvePrivateKey | None = None
        if method.kind == "x25519":
            private_x = x25519.X25519PrivateKey.generate()
            ours = private_x.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        else:
            assert method.curve is not None
            private_ec = ec.generate_private_key(method.curve())
            ours = private_ec.public_key().public_bytes(
                Encoding.X962, PublicFormat.UncompressedPoint
            )
        await self.send_packet(bytes([SSH_MSG_KEX_ECDH_INIT]) + _string(ours))
        reply = await self.receive_message()
        if reply[0] != SSH_MSG_KEX_ECDH_REPLY:
            raise TransportError(f"expected KEX_ECDH_REPLY, got message {reply[0]}")
        reader = _Reader(reply, 1)
        host_key = reader.string()
        try:
            theirs = reader.string()
            signature = reader.string()
            if private_x is not None:
                shared = private_x.exchange(x25519.X25519PublicKey.from_public_bytes(theirs))
            else:
                assert private_ec is not None and method.curve is not None
                peer = ec.EllipticCurvePublicKey.from_encoded_point(method.curve(), theirs)
                shared = private_ec.exchange(ec.ECDH(), peer)
        except (ProtocolError, ValueError) as exc:
            if lenient:
                return self._unchecked(method, host_key_algorithm, host_key)
            raise TransportError(f"bad key exchange reply: {exc}") from None
        if not any(shared):
            raise TransportError("all-zero shared secret")
        secret = _mpint_bytes(shared)
        exchange_hash = hashlib.new(
            method.hash, prefix + _string(host_key) + _string(ours) + _string(theirs) + secret
        ).digest()
        return self._result(method, host_key_algorithm, host_key, exchange_hash, secret, signature)

    async def _exchange_dh(
        self,
        method: _KexMethod,
        host_key_algorithm: str,
        gex_sizes: tuple[int, int, int],
        prefix: bytes,
        lenient: bool,
        verify: bool = True,
    ) -> KexResult:
        group_part = b""
        if method.kind == "gex":
            low, wanted, high = gex_sizes
            await self.send_packet(
                bytes([SSH_MSG_KEX_DH_GEX_REQUEST]) + _uint32(low) + _uint32(wanted) + _uint32(high)
            )
            group = await self.receive_message()
            if group[0] != SSH_MSG_KEX_DH_GEX_GROUP:
                raise TransportError(f"expected KEX_DH_GEX_GROUP, got message {group[0]}")
            reader = _Reader(group, 1)
            p_raw, g_raw = reader.string(), reader.string()
            prime, generator = int.from_bytes(p_raw, "big"), int.from_bytes(g_raw, "big")
            if prime.bit_length() > GEX_MAX_BITS:
                raise TransportError(f"group-exchange prime of {prime.bit_length()} bits refused")
            if prime < 3 or (
                not lenient and (prime.bit_length() < 1024 or not 1 < generator < prime - 1)
            ):
                raise TransportError("bad group-exchange group")
            group_part = (
                _uint32(low) + _uint32(wanted) + _uint32(high)
                + pack_mpint(prime) + pack_mpint(generator)
            )  # fmt: skip
            init_code, reply_code = SSH_MSG_KEX_DH_GEX_INIT, SSH_MSG_KEX_DH_GEX_REPLY
        else:
            prime, generator = modp_prime(method.group), 2
            init_code, reply_code = SSH_MSG_KEXDH_INIT, SSH_MSG_KEXDH_REPLY
        exponent_bits = max(2, min(prime.bit_length() - 2, 512))
        private = secrets.randbits(exponent_bits) | (1 << (exponent_bits - 1))
        if verify:
            ours = pow(generator, private, prime)
        else:
            # Any value in [2, p-2] is a valid share to the server (RFC 4253 §8), and without K
            # nothing needs its logarithm: no modular exponentiation (4 ms each on 2048 bits,
            # the largest CPU cost of ssh-hostkey on many hosts).
            ours = secrets.randbelow(prime - 3) + 2 if prime > 4 else 2
        await self.send_packet(bytes([init_code]) + pack_mpint(ours))
        reply = await self.receive_message()
        if reply[0] != reply_code:
            raise TransportError(f"expected message {reply_code}, got message {reply[0]}")
        reader = _Reader(reply, 1)
        host_key = reader.string()
        if not verify:
            return self._unchecked(method, host_key_algorithm, host_key)
        try:
            theirs = reader.mpint()
            signature = reader.string()
        except ProtocolError as exc:
            if lenient:
                return self._unchecked(method, host_key_algorithm, host_key)
            raise TransportError(f"bad key exchange reply: {exc}") from None
        if not 1 < theirs < prime - 1:
            if lenient:
                return self._unchecked(method, host_key_algorithm, host_key)
            raise TransportError("the server's DH value is out of range")
        secret = pack_mpint(pow(theirs, private, prime))
        exchange_hash = hashlib.new(
            method.hash,
            prefix + _string(host_key) + group_part + pack_mpint(ours) + pack_mpint(theirs)
            + secret,
        ).digest()  # fmt: skip
        return self._result(method, host_key_algorithm, host_key, exchange_hash, secret, signature)

    def _result(
        self,
        method: _KexMethod,
        host_key_algorithm: str,
        host_key: bytes,
        exchange_hash: bytes,
        secret: bytes,
        signature: bytes,
    ) -> KexResult:
        assert self.server_kexinit is not None
        valid = _verify_signature(host_key, host_key_algorithm, signature, exchange_hash)
        return KexResult(
            kex=method.name,
            host_key_algorithm=host_key_algorithm,
            host_key=host_key,
            exchange_hash=exchange_hash,
            shared_secret=secret,
            signature=signature,
            signature_valid=valid,
            server_kexinit=self.server_kexinit,
        )

    def _unchecked(self, method: _KexMethod, host_key_algorithm: str, host_key: bytes) -> KexResult:
        assert self.server_kexinit is not None
        return KexResult(
            kex=method.name,
            host_key_algorithm=host_key_algorithm,
            host_key=host_key,
            exchange_hash=b"",
            shared_secret=b"",
            signature=b"",
            signature_valid=None,
            server_kexinit=self.server_kexinit,
        )

    async def newkeys(self) -> None:
        """NEWKEYS both ways, then every packet is protected with the negotiated keys."""
        if self._pending is None:
            raise TransportError("newkeys() before a completed key_exchange()")
        result, method = self._pending
        self._pending = None
        await self.send_packet(bytes([SSH_MSG_NEWKEYS]))
        if result.strict:
            self.send_seq = 0
        reply = await self.receive_message()
        if reply[0] != SSH_MSG_NEWKEYS:
            raise TransportError(f"expected NEWKEYS, got message {reply[0]}")
        if result.strict:
            self.recv_seq = 0
        if self.session_id is None:
            self.session_id = result.exchange_hash
        self.kex = result

        def derive(letter: bytes, size: int) -> bytes:
            assert self.session_id is not None
            base = result.shared_secret + result.exchange_hash
            out = hashlib.new(method.hash, base + letter + self.session_id).digest()
            while len(out) < size:
                out += hashlib.new(method.hash, base + out).digest()
            return out[:size]

        out_cipher, in_cipher = (
            str(result.cipher_client_to_server),
            str(result.cipher_server_to_client),
        )
        out_spec, in_spec = CIPHERS[out_cipher], CIPHERS[in_cipher]
        out_mac, in_mac = result.mac_client_to_server, result.mac_server_to_client
        self._out = _Direction(
            out_cipher,
            out_mac,
            derive(b"C", out_spec.key_len),
            derive(b"A", out_spec.iv_len) if out_spec.iv_len else b"",
            derive(b"E", MACS[out_mac].key_len) if out_mac else b"",
            sending=True,
        )
        self._in = _Direction(
            in_cipher,
            in_mac,
            derive(b"D", in_spec.key_len),
            derive(b"B", in_spec.iv_len) if in_spec.iv_len else b"",
            derive(b"F", MACS[in_mac].key_len) if in_mac else b"",
            sending=False,
        )

    # ------------------------------------------------------------------ authentication
    async def service_request(self, service: str) -> None:
        await self.send_packet(bytes([SSH_MSG_SERVICE_REQUEST]) + _string(service))
        await self.receive_message(SSH_MSG_SERVICE_ACCEPT)

    async def userauth_none(self, username: str, service: str = "ssh-connection") -> AuthResult:
        """Ask for the ``none`` method (RFC 4252 §5.2): the methods that can continue.

        Requests the ``ssh-userauth`` service first if that has not been done.
        """
        if self.kex is None:
            raise TransportError("userauth_none() before newkeys()")
        if not self._userauth:
            await self.service_request("ssh-userauth")
            self._userauth = True
        await self.send_packet(
            bytes([SSH_MSG_USERAUTH_REQUEST])
            + _string(username)
            + _string(service)
            + _string("none")
        )
        banner: list[str] = []
        for _ in range(MAX_SKIPPED):
            data = await self.receive_message()
            reader = _Reader(data, 1)
            if data[0] == SSH_MSG_USERAUTH_BANNER:
                banner.append(reader.text())
                continue
            if data[0] == SSH_MSG_USERAUTH_SUCCESS:
                self.authenticated = True
                return AuthResult(True, [], banner="".join(banner) or None)
            if data[0] == SSH_MSG_USERAUTH_FAILURE:
                methods = _names(reader.text())
                partial = reader.boolean() if reader.left else False
                return AuthResult(False, methods, partial, "".join(banner) or None)
            raise TransportError(f"unexpected message {data[0]} during authentication")
        raise TransportError(f"more than {MAX_SKIPPED} authentication banners")

    # ------------------------------------------------------------------ closing
    async def disconnect(self, description: str = "") -> None:
        """Send DISCONNECT (by application), best effort, and close."""
        try:
            await self.send_packet(
                bytes([SSH_MSG_DISCONNECT])
                + _uint32(SSH_DISCONNECT_BY_APPLICATION)
                + _string(description)
                + _string("")
            )
        except (SocketError, ProtocolError):
            pass
        self.close()

    def close(self) -> bool:
        """Close the socket (NSE's ``close``: False when it was closed already)."""
        return self.sock.close()


# ---------------------------------------------------------------------------- Nmap's fetch
def _nmap_kex_choice(server_kex: str) -> _KexMethod | None:
    """ssh2.lua's choice of group: *substring* tests on the server's list, in this order.

    The hash is that of the method a correct negotiation of Nmap's list would pick, for the
    signature check only (Nmap checks no signature).
    """
    negotiated = negotiate(NMAP_HOSTKEY_KEX, server_kex)
    hash_name = KEX_METHODS[negotiated].hash if negotiated in KEX_METHODS else "sha1"
    for marker, group in (
        ("diffie-hellman-group1-", 2),
        ("diffie-hellman-group14-", 14),
        ("diffie-hellman-group16-", 16),
    ):
        if marker in server_kex:
            name = negotiated if negotiated and negotiated.startswith(marker) else marker + "sha1"
            return _KexMethod(name, "dh", hash_name, group=group)
    if "diffie-hellman-group-exchange-" in server_kex:
        name = negotiated or "diffie-hellman-group-exchange-sha1"
        return _KexMethod(name, "gex", hash_name)
    return None


async def fetch_host_key(
    host: Any,
    port: Any,
    key_type: str,
    *,
    kex_algorithms: str | None = None,
    host_key_algorithms: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float | None = None,
    verify: bool = True,
) -> HostKey | None:
    """``ssh2.fetch_host_key``: the server's host key of type ``key_type``, or None.

    Without ``kex_algorithms`` this is Nmap's conversation, step for step: read the banner,
    send ``SSH-2.0-Nmap-SSH2-Hostkey``, offer :data:`NMAP_HOSTKEY_KEX` and only ``key_type``,
    give up (debug level 2) when the server's host key list does not *contain* ``key_type``
    or offers no Diffie-Hellman method, run DH on the group the substring tests choose, and
    take the key from the reply; algorithm and bits are derived from ``key_type`` as Nmap does.
    Any socket or transport failure gives None.

    With ``kex_algorithms`` (e.g. ``"curve25519-sha256,ecdh-sha2-nistp256"``) the exchange is
    a correctly negotiated one instead, offering ``host_key_algorithms`` (default
    ``key_type``; ``"rsa-sha2-512,rsa-sha2-256,ssh-rsa"`` gets an RSA key from OpenSSH >= 8.8),
    and the result describes the blob the server sent.

    The result's ``signature_valid`` says whether the server proved it holds the key.
    ``verify=False`` (Nmap's conversation only) does not ask for that proof, as Nmap does not:
    no shared secret, no exchange hash, no signature check, ``signature_valid`` None; the key
    and its fingerprints are the same, for a fraction of the CPU.
    """
    try:
        transport = await Transport.connect(
            host, port, client_version=HOSTKEY_BANNER, timeout=timeout, deadline=deadline
        )
    except SocketError as failure:
        log.debug("fetch_host_key: %s (%s)", failure, failure.detail)
        return None
    try:
        if kex_algorithms is not None:
            return await _fetch_negotiated(
                transport, key_type, kex_algorithms, host_key_algorithms or key_type
            )
        return await _fetch_like_nmap(transport, key_type, verify)
    except SocketError as failure:
        log.debug("fetch_host_key %s: %s (%s)", key_type, failure, failure.detail)
        return None
    finally:
        transport.close()


async def _fetch_like_nmap(
    transport: Transport, key_type: str, verify: bool = True
) -> HostKey | None:
    await transport.send_kexinit(
        kex_init(host_key_algorithms=key_type, kex_algorithms=NMAP_HOSTKEY_KEX)
    )
    server = parse_kex_init(await transport.receive_packet())
    host_key_list = server.server_host_key_algorithms if server is not None else "nil"
    if key_type not in host_key_list:
        stdnse.debug(2, "Hostkey type '%s' not supported by server.", key_type)
        return None
    assert server is not None
    transport.server_kexinit = server
    method = _nmap_kex_choice(server.kex_algorithms)
    if method is None:
        stdnse.debug(2, "No shared KEX methods supported by server")
        return None
    result = await transport._exchange(
        method, key_type, (1024, 1024, 8192), lenient=True, verify=verify
    )
    algorithm, bits = _nmap_bits(key_type, result.host_key)
    key = host_key_from_blob(result.host_key, key_type, algorithm or "", bits or 0)
    key.algorithm, key.bits = algorithm, bits
    key.kex = method.name
    key.server_version = _decode(transport.server_version or b"")
    key.signature_valid = result.signature_valid
    return key


async def _fetch_negotiated(
    transport: Transport, key_type: str, kex_algorithms: str, host_key_algorithms: str
) -> HostKey | None:
    await transport.send_kexinit(
        kex_init(
            kex_algorithms=kex_algorithms,
            host_key_algorithms=host_key_algorithms,
            encryption_algorithms=DEFAULT_CIPHERS,
            mac_algorithms=DEFAULT_MACS,
        )
    )
    server = await transport.receive_kexinit()
    chosen = negotiate(kex_algorithms, server.kex_algorithms)
    algorithm = negotiate(host_key_algorithms, server.server_host_key_algorithms)
    if chosen is None or chosen not in KEX_METHODS or algorithm is None:
        stdnse.debug(2, "No shared KEX method or host key type '%s' with the server", key_type)
        return None
    result = await transport._exchange(KEX_METHODS[chosen], algorithm, (2048, 3072, 8192))
    key = host_key_from_blob(result.host_key)
    key.kex = chosen
    key.server_version = _decode(transport.server_version or b"")
    key.signature_valid = result.signature_valid
    return key


async def fetch_kex_init(
    host: Any,
    port: Any,
    *,
    client_version: str = ENUM_ALGOS_BANNER,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float | None = None,
) -> KexInit | None:
    """The server's KEXINIT, as ``ssh2-enum-algos`` gets it: send our banner first, read
    theirs, send Nmap's default KEXINIT, read one packet, close.

    None on any socket or transport failure (the script then prints nothing). A packet that
    is not a KEXINIT, or a truncated KEXINIT, raises :class:`ProtocolError`: the script fails
    in Nmap then (``parse_kex_init`` gives ``{}``, and the script calls ``:len()`` on its
    missing lists).
    """
    try:
        transport = await Transport.connect(
            host,
            port,
            client_version=client_version,
            timeout=timeout,
            deadline=deadline,
            send_first=True,
        )
    except SocketError as failure:
        log.debug("fetch_kex_init: %s (%s)", failure, failure.detail)
        return None
    try:
        await transport.send_packet(kex_init())
        data = await transport.receive_packet()
    except SocketError as failure:
        log.debug("fetch_kex_init: %s (%s)", failure, failure.detail)
        return None
    finally:
        transport.close()
    parsed = parse_kex_init(data)
    if parsed is None:
        raise ProtocolError(f"attempt to index a nil value (message {data[0]}, not KEXINIT)")
    return parsed


async def list_auth_methods(
    host: Any,
    port: Any,
    username: str,
    *,
    client_version: str = DEFAULT_BANNER,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float | None = None,
) -> AuthResult:
    """Connect, run a full key exchange and ask for the ``none`` authentication.

    What ``ssh-auth-methods`` asks libssh2 for. Raises
    :class:`~nmapx.nse.errors.SocketError` (including :class:`TransportError`) or
    :class:`ProtocolError` on failure; the connection is always closed.
    """
    transport = await Transport.connect(
        host, port, client_version=client_version, timeout=timeout, deadline=deadline
    )
    try:
        await transport.key_exchange()
        await transport.newkeys()
        return await transport.userauth_none(username)
    finally:
        await transport.disconnect()
