"""NSE's ``tls`` (nselib/tls.lua, Nmap 7.93): TLS records and handshake messages by hand.

For scripts that need control over the ClientHello that OpenSSL does not give (``ssl-date``
reads ``gmt_unix_time`` from the ServerHello, ``tls-alpn`` offers chosen ALPN protocols) and
for :mod:`nmapx.nse.sslcert`'s fallback handshake. Like tls.lua it builds bytes and parses
bytes; the socket work is the caller's, except :func:`record_buffer`, which reads one whole
record.

The shapes follow tls.lua: a record is a dict ``{"type", "protocol", "length", "body",
"fragment"}`` whose ``body`` is a list of message dicts (``{"type": "server_hello",
"protocol", "time", "random", "session_id", "cipher", "compressor", "extensions"}``,
``{"type": "certificate", "certificates": [der, ...]}``, ``{"type": "alert", "level",
"description"}``, and ``{"type": <name>, "data": bytes}`` for the other handshake messages).
Names are tls.lua's; a number that has no name stays a number. Offsets are 0-based (Lua's
are 1-based).

Differences from tls.lua, all on malformed input: a record body is exactly the record's
bytes (tls.lua takes one byte more when a fragment is pending, an off-by-one that only
changes how garbage is parsed), and a message that does not parse ends the record's
messages instead of raising a Lua error (which ends an NSE script without output, as the
caller here gets no message).

The cipher table holds the suites nmapx's scripts offer or are likely to see (names as
tls.lua spells them, TLS 1.3 suites as ``TLS_AKE_*``); a suite not in it is reported by
number.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Mapping, Sequence
from typing import Any

from nmapx.nse import stdnse
from nmapx.nse.errors import SocketError
from nmapx.nse.sockets import NseSocket

__all__ = [
    "CIPHERS",
    "COMPRESSORS",
    "DEFAULT_CIPHERS",
    "DEFAULT_ELLIPTIC_CURVES",
    "DEFAULT_TLS12_CIPHERS",
    "DEFAULT_TLS13_CIPHERS",
    "ELLIPTIC_CURVES",
    "EXTENSIONS",
    "EXTENSION_HELPERS",
    "HIGHEST_PROTOCOL",
    "PROTOCOLS",
    "TLS_ALERT_LEVELS",
    "TLS_ALERT_REGISTRY",
    "TLS_CONTENTTYPE_REGISTRY",
    "TLS_HANDSHAKETYPE_REGISTRY",
    "TLS_RECORD_HEADER_LENGTH",
    "RecordError",
    "client_hello",
    "record_buffer",
    "record_read",
    "record_version_ok",
    "record_write",
    "servername",
]

PROTOCOLS = {"SSLv3": 0x0300, "TLSv1.0": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303,
             "TLSv1.3": 0x0304}  # fmt: skip
HIGHEST_PROTOCOL = "TLSv1.3"
TLS_RECORD_HEADER_LENGTH = 5

TLS_CONTENTTYPE_REGISTRY = {
    "change_cipher_spec": 20, "alert": 21, "handshake": 22, "application_data": 23,
    "heartbeat": 24, "tls12_cid": 25, "ACK": 26,
}  # fmt: skip
TLS_ALERT_LEVELS = {"warning": 1, "fatal": 2}
TLS_ALERT_REGISTRY = {
    "close_notify": 0, "unexpected_message": 10, "bad_record_mac": 20, "decryption_failed": 21,
    "record_overflow": 22, "decompression_failure": 30, "handshake_failure": 40,
    "no_certificate": 41, "bad_certificate": 42, "unsupported_certificate": 43,
    "certificate_revoked": 44, "certificate_expired": 45, "certificate_unknown": 46,
    "illegal_parameter": 47, "unknown_ca": 48, "access_denied": 49, "decode_error": 50,
    "decrypt_error": 51, "too_many_cids_requested": 52, "export_restriction": 60,
    "protocol_version": 70, "insufficient_security": 71, "internal_error": 80,
    "inappropriate_fallback": 86, "user_canceled": 90, "no_renegotiation": 100,
    "missing_extension": 109, "unsupported_extension": 110, "certificate_unobtainable": 111,
    "unrecognized_name": 112, "bad_certificate_status_response": 113,
    "bad_certificate_hash_value": 114, "unknown_psk_identity": 115,
    "certificate_required": 116, "no_application_protocol": 120,
}  # fmt: skip
TLS_HANDSHAKETYPE_REGISTRY = {
    "hello_request": 0, "client_hello": 1, "server_hello": 2, "hello_verify_request": 3,
    "NewSessionTicket": 4, "end_of_early_data": 5, "hello_retry_request": 6,
    "encrypted_extensions": 8, "request_connection_id": 9, "new_connection_id": 10,
    "certificate": 11, "server_key_exchange": 12, "certificate_request": 13,
    "server_hello_done": 14, "certificate_verify": 15, "client_key_exchange": 16,
    "client_certificate_request": 17, "finished": 20, "certificate_url": 21,
    "certificate_status": 22, "supplemental_data": 23, "key_update": 24,
    "compressed_certificate": 25, "ekt_key": 26, "next_protocol": 67, "message_hash": 254,
}  # fmt: skip
COMPRESSORS = {"NULL": 0, "DEFLATE": 1, "LZS": 64}
ELLIPTIC_CURVES = {
    "sect163k1": 1, "sect163r1": 2, "sect163r2": 3, "sect193r1": 4, "sect193r2": 5,
    "sect233k1": 6, "sect233r1": 7, "sect239k1": 8, "sect283k1": 9, "sect283r1": 10,
    "sect409k1": 11, "sect409r1": 12, "sect571k1": 13, "sect571r1": 14, "secp160k1": 15,
    "secp160r1": 16, "secp160r2": 17, "secp192k1": 18, "secp192r1": 19, "secp224k1": 20,
    "secp224r1": 21, "secp256k1": 22, "secp256r1": 23, "secp384r1": 24, "secp521r1": 25,
    "brainpoolP256r1": 26, "brainpoolP384r1": 27, "brainpoolP512r1": 28, "ecdh_x25519": 29,
    "ecdh_x448": 30, "brainpoolP256r1tls13": 31, "brainpoolP384r1tls13": 32,
    "brainpoolP512r1tls13": 33, "GC256A": 34, "GC256B": 35, "GC256C": 36, "GC256D": 37,
    "GC512A": 38, "GC512B": 39, "GC512C": 40, "curveSM2": 41, "ffdhe2048": 0x0100,
    "ffdhe3072": 0x0101, "ffdhe4096": 0x0102, "ffdhe6144": 0x0103, "ffdhe8192": 0x0104,
    "arbitrary_explicit_prime_curves": 0xFF01, "arbitrary_explicit_char2_curves": 0xFF02,
}  # fmt: skip
DEFAULT_ELLIPTIC_CURVES = ("secp256r1", "secp384r1", "secp521r1", "ecdh_x25519", "ffdhe2048")
EC_POINT_FORMATS = {"uncompressed": 0, "ansiX962_compressed_prime": 1,
                    "ansiX962_compressed_char2": 2}  # fmt: skip
HASH_ALGORITHMS = {"none": 0, "md5": 1, "sha1": 2, "sha224": 3, "sha256": 4, "sha384": 5,
                   "sha512": 6, "intrinsic": 8}  # fmt: skip
SIGNATURE_ALGORITHMS = {"anonymous": 0, "rsa": 1, "dsa": 2, "ecdsa": 3, "ed25519": 7, "ed448": 8}
SIGNATURE_SCHEMES = {
    "rsa_pkcs1_sha256": 0x0401, "rsa_pkcs1_sha384": 0x0501, "rsa_pkcs1_sha512": 0x0601,
    "ecdsa_secp256r1_sha256": 0x0403, "ecdsa_secp384r1_sha384": 0x0503,
    "ecdsa_secp521r1_sha512": 0x0603, "rsa_pss_rsae_sha256": 0x0804,
    "rsa_pss_rsae_sha384": 0x0805, "rsa_pss_rsae_sha512": 0x0806, "ed25519": 0x0807,
    "ed448": 0x0808, "rsa_pss_pss_sha256": 0x0809, "rsa_pss_pss_sha384": 0x080A,
    "rsa_pss_pss_sha512": 0x080B, "rsa_pkcs1_sha1": 0x0201, "ecdsa_sha1": 0x0203,
    "sm2sig_sm3": 0x0708,
}  # fmt: skip
EXTENSIONS = {
    "server_name": 0, "max_fragment_length": 1, "client_certificate_url": 2,
    "trusted_ca_keys": 3, "truncated_hmac": 4, "status_request": 5, "user_mapping": 6,
    "client_authz": 7, "server_authz": 8, "cert_type": 9, "elliptic_curves": 10,
    "ec_point_formats": 11, "srp": 12, "signature_algorithms": 13, "use_srtp": 14,
    "heartbeat": 15, "application_layer_protocol_negotiation": 16, "status_request_v2": 17,
    "signed_certificate_timestamp": 18, "client_certificate_type": 19,
    "server_certificate_type": 20, "padding": 21, "encrypt_then_mac": 22,
    "extended_master_secret": 23, "token_binding": 24, "cached_info": 25, "tls_lts": 26,
    "compress_certificate": 27, "record_size_limit": 28, "pwd_protect": 29, "pwd_clear": 30,
    "password_salt": 31, "ticket_pinning": 32, "tls_cert_with_extern_psk": 33,
    "delegated_credentials": 34, "TLMSP": 35, "TLMSP_proxying": 36, "TLMSP_delegate": 37,
    "supported_ekt_ciphers": 38, "SessionTicket TLS": 39, "pre_shared_key": 41,
    "early_data": 42, "supported_versions": 43, "cookie": 44, "psk_key_exchange_modes": 45,
    "certificate_authorities": 47, "oid_filters": 48, "post_handshake_auth": 49,
    "signature_algorithms_cert": 50, "key_share": 51, "transparency_info": 52,
    "connection_id-deprecated": 53, "connection_id": 54, "external_id_hash": 55,
    "external_session_id": 56, "quic_transport_parameters": 57, "ticket_request": 58,
    "dnssec_chain": 59, "next_protocol_negotiation": 13172, "renegotiation_info": 65281,
}  # fmt: skip
#: tls.lua's alias: the TLS 1.3 form of signature_algorithms, same number.
_EXTENSION_ALIASES = {"signature_algorithms_13": 13}
_EXTENSION_NAMES = {number: name for name, number in EXTENSIONS.items()}

CIPHERS = {
    "TLS_NULL_WITH_NULL_NULL": 0x0000,
    "TLS_RSA_WITH_NULL_MD5": 0x0001,
    "TLS_RSA_WITH_NULL_SHA": 0x0002,
    "TLS_RSA_WITH_RC4_128_MD5": 0x0004,
    "TLS_RSA_WITH_RC4_128_SHA": 0x0005,
    "TLS_RSA_WITH_DES_CBC_SHA": 0x0009,
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": 0x000A,
    "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA": 0x0013,
    "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA": 0x0016,
    "TLS_RSA_WITH_AES_128_CBC_SHA": 0x002F,
    "TLS_DHE_DSS_WITH_AES_128_CBC_SHA": 0x0032,
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA": 0x0033,
    "TLS_RSA_WITH_AES_256_CBC_SHA": 0x0035,
    "TLS_DHE_DSS_WITH_AES_256_CBC_SHA": 0x0038,
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA": 0x0039,
    "TLS_RSA_WITH_AES_128_CBC_SHA256": 0x003C,
    "TLS_RSA_WITH_AES_256_CBC_SHA256": 0x003D,
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256": 0x0067,
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256": 0x006B,
    "TLS_RSA_WITH_AES_128_GCM_SHA256": 0x009C,
    "TLS_RSA_WITH_AES_256_GCM_SHA384": 0x009D,
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256": 0x009E,
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384": 0x009F,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": 0xC009,
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": 0xC00A,
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": 0xC012,
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": 0xC013,
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": 0xC014,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": 0xC023,
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384": 0xC024,
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": 0xC027,
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384": 0xC028,
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": 0xC02B,
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": 0xC02C,
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": 0xC02F,
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": 0xC030,
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA8,
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA9,
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCAA,
    "TLS_AKE_WITH_AES_128_GCM_SHA256": 0x1301,
    "TLS_AKE_WITH_AES_256_GCM_SHA384": 0x1302,
    "TLS_AKE_WITH_CHACHA20_POLY1305_SHA256": 0x1303,
    "TLS_AKE_WITH_AES_128_CCM_SHA256": 0x1304,
    "TLS_AKE_WITH_AES_128_CCM_8_SHA256": 0x1305,
}
SCSVS = {"TLS_EMPTY_RENEGOTIATION_INFO_SCSV": 0x00FF, "TLS_FALLBACK_SCSV": 0x5600}
#: What tls.client_hello offers for TLS 1.2 and older, and for TLS 1.3 only.
DEFAULT_TLS12_CIPHERS = (
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_RC4_128_MD5",
)
DEFAULT_TLS13_CIPHERS = (
    "TLS_AKE_WITH_AES_128_GCM_SHA256",
    "TLS_AKE_WITH_AES_256_GCM_SHA384",
    "TLS_AKE_WITH_CHACHA20_POLY1305_SHA256",
)
DEFAULT_CIPHERS = DEFAULT_TLS13_CIPHERS + DEFAULT_TLS12_CIPHERS

_VERSION_NAMES = {number: name for name, number in PROTOCOLS.items()}
_CONTENT_NAMES = {number: name for name, number in TLS_CONTENTTYPE_REGISTRY.items()}
_HANDSHAKE_NAMES = {number: name for name, number in TLS_HANDSHAKETYPE_REGISTRY.items()}
_ALERT_NAMES = {number: name for name, number in TLS_ALERT_REGISTRY.items()}
_LEVEL_NAMES = {number: name for name, number in TLS_ALERT_LEVELS.items()}
_CIPHER_NAMES = {number: name for name, number in CIPHERS.items()}
_COMPRESSOR_NAMES = {number: name for name, number in COMPRESSORS.items()}
#: RFC 8446: the ServerHello random that marks a HelloRetryRequest (SHA-256 of its name).
_HELLO_RETRY_RANDOM = bytes.fromhex(
    "CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C"
)


class RecordError(SocketError):
    """:func:`record_buffer` failed: a socket status, or the text tls.lua returns for a record
    header it does not know. ``buffer`` is what had been read (tls.lua returns it too)."""

    def __init__(self, status: str, buffer: bytes, detail: str | None = None) -> None:
        super().__init__(status, detail)
        self.buffer = buffer


# ---------------------------------------------------------------------------- builders
def _u8(data: bytes) -> bytes:
    if len(data) > 0xFF:
        raise ValueError("field too long for a 1-byte length")
    return bytes([len(data)]) + data


def _u16(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError("field too long for a 2-byte length")
    return struct.pack(">H", len(data)) + data


def _u24(data: bytes) -> bytes:
    if len(data) > 0xFFFFFF:
        raise ValueError("field too long for a 3-byte length")
    return len(data).to_bytes(3, "big") + data


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)


def _server_name(name: bytes | str) -> bytes:
    """The server_name extension: one host_name entry (the only type RFC 6066 defines)."""
    return _u16(b"\x00" + _u16(_as_bytes(name)))


def _elliptic_curves(curves: Sequence[str]) -> bytes:
    return _u16(b"".join(struct.pack(">H", ELLIPTIC_CURVES[c]) for c in curves))


def _ec_point_formats(formats: Sequence[str]) -> bytes:
    return _u8(bytes(EC_POINT_FORMATS[f] for f in formats))


def _signature_algorithms(pairs: Sequence[tuple[str | int, str | int]]) -> bytes:
    out = b""
    for hash_alg, sig_alg in pairs:
        h = HASH_ALGORITHMS[hash_alg] if isinstance(hash_alg, str) else hash_alg
        s = SIGNATURE_ALGORITHMS[sig_alg] if isinstance(sig_alg, str) else sig_alg
        out += bytes([h, s])
    return _u16(out)


def _signature_schemes(names: Sequence[str]) -> bytes:
    return _u16(b"".join(struct.pack(">H", SIGNATURE_SCHEMES[n]) for n in names))


def _alpn(protocols: Sequence[bytes | str]) -> bytes:
    """The ALPN extension (RFC 7301): a 2-byte-length list of 1-byte-length names."""
    return _u16(b"".join(_u8(_as_bytes(p)) for p in protocols))


def _supported_versions(versions: Sequence[str]) -> bytes:
    return _u8(b"".join(struct.pack(">H", PROTOCOLS[v]) for v in versions))


#: tls.lua's EXTENSION_HELPERS: the extension_data for an extension from friendly arguments.
EXTENSION_HELPERS: dict[str, Any] = {
    "server_name": _server_name,
    "elliptic_curves": _elliptic_curves,
    "ec_point_formats": _ec_point_formats,
    "signature_algorithms": _signature_algorithms,
    "signature_algorithms_13": _signature_schemes,
    "application_layer_protocol_negotiation": _alpn,
    "supported_versions": _supported_versions,
}

_DEFAULT_SIGALGS = _signature_algorithms(
    [("md5", "rsa"), ("sha1", "rsa"), ("sha224", "rsa"), ("sha256", "rsa"), ("sha256", "dsa"),
     ("sha256", "ecdsa"), ("sha256", "ed25519"), ("sha256", "ed448"), ("sha512", "rsa"),
     ("sha512", "dsa"), ("sha512", "ecdsa"), ("sha512", "ed25519"), ("sha512", "ed448")]
)  # fmt: skip
_DEFAULT_SIGSCHEMES = _signature_schemes(
    ["rsa_pkcs1_sha256", "rsa_pkcs1_sha512", "ecdsa_secp256r1_sha256", "ecdsa_secp521r1_sha512",
     "rsa_pss_rsae_sha256", "rsa_pss_rsae_sha512", "ed25519", "ed448", "rsa_pss_pss_sha256",
     "rsa_pss_pss_sha512", "rsa_pkcs1_sha1", "ecdsa_sha1"]
)  # fmt: skip


def _legacy_version(version: int) -> int:
    """TLS 1.3 freezes the version fields at TLS 1.2's value."""
    return version if version <= 0x0303 else 0x0303


def record_write(content_type: str, protocol: str, body: bytes) -> bytes:
    """``tls.record_write``: one record of ``content_type`` carrying ``body``."""
    return (
        bytes([TLS_CONTENTTYPE_REGISTRY[content_type]])
        + struct.pack(">H", _legacy_version(PROTOCOLS[protocol]))
        + _u16(body)
    )


def client_hello(
    protocol: str | None = None,
    *,
    record_protocol: str | None = None,
    ciphers: Sequence[str | int] | None = None,
    compressors: Sequence[str] | None = None,
    extensions: Mapping[str | int, bytes] | None = None,
    session_id: bytes = b"",
    gmt_unix_time: int | None = None,
    random: bytes | None = None,
) -> bytes:
    """``tls.client_hello(t)``: a ClientHello record, with tls.lua's defaults.

    ``protocol`` is the highest version offered (default TLS 1.3, which adds the
    supported_versions, key_share and supported_groups extensions tls.lua adds); TLS 1.2 and
    up get signature_algorithms unless ``extensions`` has it. ``ciphers`` are names (or
    numbers); by default tls.lua's choice for the version. ``extensions`` maps names (or
    numbers) to their data, in order (``EXTENSION_HELPERS`` builds the data). The record
    version is TLS 1.0 unless SSLv3 is asked for. ``gmt_unix_time`` and ``random`` (28
    bytes) default to the clock and fresh randomness, as in tls.lua.
    """
    version_name = protocol or HIGHEST_PROTOCOL
    version = PROTOCOLS[version_name]
    stamp = int(time.time()) if gmt_unix_time is None else gmt_unix_time
    body = struct.pack(">HI", _legacy_version(version), stamp & 0xFFFFFFFF)
    body += random if random is not None else os.urandom(28)
    body += _u8(session_id)

    if ciphers is not None:
        chosen: Sequence[str | int] = ciphers
    elif record_protocol == "TLSv1.3":
        chosen = DEFAULT_TLS13_CIPHERS
    elif version < PROTOCOLS["TLSv1.3"]:
        chosen = DEFAULT_TLS12_CIPHERS
    else:
        chosen = DEFAULT_CIPHERS
    suites = b""
    for cipher in chosen:
        number = cipher if isinstance(cipher, int) else CIPHERS.get(cipher, SCSVS.get(cipher))
        if number is None or not 0 <= number <= 0xFFFF:
            stdnse.debug(1, "Unknown cipher in client_hello: %s", cipher)
            continue
        suites += struct.pack(">H", number)
    body += _u16(suites)

    methods = bytes(COMPRESSORS[c] for c in (compressors or ()) if c != "NULL")
    body += _u8(methods + b"\x00")  # NULL always, as the last choice

    if version_name != "SSLv3":
        need_versions = need_key_share = need_curves = version >= PROTOCOLS["TLSv1.3"]
        need_sigalg = version >= PROTOCOLS["TLSv1.2"]
        ext = b""
        for name, data in (extensions or {}).items():
            if isinstance(name, int):
                number = name
            else:
                if name in ("signature_algorithms", "signature_algorithms_13"):
                    need_sigalg = False
                elif name == "supported_versions":
                    need_versions = False
                elif name == "key_share":
                    need_key_share = False
                elif name == "elliptic_curves":
                    need_curves = False
                number = EXTENSIONS.get(name, _EXTENSION_ALIASES.get(name, -1))
                if number < 0:
                    raise KeyError(f"unknown TLS extension {name!r}")
            ext += struct.pack(">H", number) + _u16(data)
        if need_versions:
            versions = _supported_versions(["TLSv1.2", "TLSv1.1", "TLSv1.3", "SSLv3"])
            ext += struct.pack(">H", EXTENSIONS["supported_versions"]) + _u16(versions)
        if need_sigalg:
            sigalgs = _DEFAULT_SIGSCHEMES if version >= PROTOCOLS["TLSv1.3"] else _DEFAULT_SIGALGS
            ext += struct.pack(">H", EXTENSIONS["signature_algorithms"]) + _u16(sigalgs)
        if need_key_share:
            ext += struct.pack(">H", EXTENSIONS["key_share"]) + _u16(b"\x00\x00")
        if need_curves:
            curves = _elliptic_curves(DEFAULT_ELLIPTIC_CURVES)
            ext += struct.pack(">H", EXTENSIONS["elliptic_curves"]) + _u16(curves)
        if ext:
            body += _u16(ext)

    handshake = bytes([TLS_HANDSHAKETYPE_REGISTRY["client_hello"]]) + _u24(body)
    if record_protocol is None:
        record_name = "SSLv3" if protocol == "SSLv3" else "TLSv1.0"
    elif record_protocol == "TLSv1.3":
        record_name = "TLSv1.2"
    else:
        record_name = record_protocol
    return record_write("handshake", record_name, handshake)


def record_version_ok(received: str, protocol: str) -> bool:
    """Is a record version ``received`` right for a handshake at ``protocol``?"""
    if protocol == "TLSv1.3":
        return received == "TLSv1.2"
    return protocol == received


# ---------------------------------------------------------------------------- parsers
class _Short(Exception):
    """A field runs past the data it is read from."""


class _Reader:
    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data, self.pos, self.end = data, pos, end

    def take(self, count: int) -> bytes:
        if self.pos + count > self.end:
            raise _Short()
        piece = self.data[self.pos : self.pos + count]
        self.pos += count
        return piece

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, size: int) -> bytes:
        return self.take(self.uint(size))


def _server_hello(reader: _Reader, protocol: str) -> dict[str, Any]:
    message: dict[str, Any] = {}
    version = reader.uint(2)
    message["time"] = reader.uint(4)
    message["random"] = reader.take(28)
    message["session_id"] = reader.vector(1)
    cipher = reader.uint(2)
    compressor = reader.uint(1)
    if reader.pos < reader.end and protocol != "SSLv3":
        extensions: dict[str | int, bytes] = {}
        count = reader.uint(2)
        for _ in range(count + 1):  # tls.lua loops count+1 times; the end stops it first
            if reader.pos >= reader.end:
                break
            code = reader.uint(2)
            extensions[_EXTENSION_NAMES.get(code, code)] = reader.vector(2)
        message["extensions"] = extensions
    message["protocol"] = _VERSION_NAMES.get(version)
    message["cipher"] = _CIPHER_NAMES.get(cipher, cipher)
    message["compressor"] = _COMPRESSOR_NAMES.get(compressor, compressor)
    full_random = struct.pack(">I", message["time"]) + message["random"]
    if message["protocol"] == "TLSv1.2" and full_random == _HELLO_RETRY_RANDOM:
        message["helloretry"] = True
    exts = message.get("extensions") or {}
    if message["protocol"] == "TLSv1.2" and exts.get("supported_versions") == b"\x03\x04":
        message["protocol"] = "TLSv1.3"
    return message


def _certificate(reader: _Reader) -> dict[str, Any]:
    length = reader.uint(3)
    end = reader.pos + length
    if end > reader.end:
        stdnse.debug(2, "server_certificate length > handshake body length!")
    certificates: list[bytes] = []
    while reader.pos < end:
        size = int.from_bytes(reader.data[reader.pos : reader.pos + 3], "big")
        if reader.pos + 3 + size > end:
            stdnse.debug(1, "server_certificate parsing error!")
            reader.pos = end
            break
        certificates.append(reader.vector(3))
    return {"certificates": certificates}


def _handshake(buffer: bytes, pos: int, protocol: str) -> tuple[dict[str, Any] | None, int]:
    """One handshake message at ``pos``: ``(message, next position)``, None if incomplete."""
    if len(buffer) - pos < 4:
        return None, pos
    kind = buffer[pos]
    length = int.from_bytes(buffer[pos + 1 : pos + 4], "big")
    if len(buffer) - pos < length + 4:
        return None, pos
    start, end = pos + 4, pos + 4 + length
    name: str | int = _HANDSHAKE_NAMES.get(kind, kind)
    reader = _Reader(buffer, start, end)
    if name == "server_hello":
        message = _server_hello(reader, protocol)
    elif name == "certificate":
        message = _certificate(reader)
    elif name == "NewSessionTicket":
        message = {"ticket_lifetime_hint": reader.uint(4), "ticket": reader.vector(2)}
    else:
        stdnse.debug(2, "Unknown handshake message type: %s", name)
        message = {"data": buffer[start:end]}
    message["type"] = name
    return message, end  # the next message starts where this one's length says it ends


def _parse_messages(mbuffer: bytes, content: str, protocol: str) -> tuple[list[Any], int]:
    """tls.lua ``parse_messages``: the messages in a record body, and where parsing stopped."""
    messages: list[dict[str, Any]] = []
    pos = 0
    while pos < len(mbuffer):
        try:
            if content == "alert":
                reader = _Reader(mbuffer, pos, len(mbuffer))
                level, description = reader.uint(1), reader.uint(1)
                messages.append(
                    {
                        "level": _LEVEL_NAMES.get(level, level),
                        "description": _ALERT_NAMES.get(description, description),
                    }
                )
                pos = reader.pos
            elif content == "handshake":
                message, pos = _handshake(mbuffer, pos, protocol)
                if message is None:
                    break  # incomplete: left in the fragment
                messages.append(message)
            elif content == "heartbeat":
                reader = _Reader(mbuffer, pos, len(mbuffer))
                beat = {"type": reader.uint(1), "payload": reader.vector(2)}
                beat["padding"] = mbuffer[reader.pos :]
                messages.append(beat)
                pos = len(mbuffer)
            else:
                stdnse.debug(1, "Unknown message type: %s", content)
                break
        except _Short:
            stdnse.debug(1, "Malformed %s message", content)
            pos = len(mbuffer)
            break
    return messages, pos


def record_read(
    buffer: bytes, i: int = 0, fragment: bytes | None = None
) -> tuple[int, dict[str, Any] | None, bool]:
    """``tls.record_read``: ``(next position, record or None, may more data help)``.

    A record is None when the buffer holds less than a whole record (``True``: read more) or
    when its header is not TLS (``False``). ``fragment`` is the previous record's
    ``fragment`` (a handshake message split across records).
    """
    if len(buffer) - i < TLS_RECORD_HEADER_LENGTH:
        return i, None, True
    kind, version, length = struct.unpack_from(">BHH", buffer, i)
    j = i + TLS_RECORD_HEADER_LENGTH
    content = _CONTENT_NAMES.get(kind)
    if content is None:
        stdnse.debug(1, "Unknown TLS ContentType: %d", kind)
        return j, None, False
    protocol = _VERSION_NAMES.get(version)
    if protocol is None:
        stdnse.debug(1, "Unknown TLS Protocol: 0x%04x", version)
        return j, None, False
    if len(buffer) < j + length:
        return i, None, True
    mbuffer = (fragment or b"") + buffer[j : j + length]
    record: dict[str, Any] = {"type": content, "protocol": protocol, "length": length}
    record["body"], stop = _parse_messages(mbuffer, content, protocol)
    if stop < len(mbuffer):
        record["fragment"] = mbuffer[stop:]
    return j + length, record, True


async def _read_atleast(sock: NseSocket, count: int, buffer: bytes) -> bytes:
    """``read_atleast``: at least ``count`` more bytes, or RecordError with what arrived."""
    got = b""
    while len(got) < count:
        try:
            got += await sock.receive_bytes(count - len(got))
        except SocketError as error:
            raise RecordError(error.status, buffer + got, error.detail) from error
    return got


async def exchange_hello(sock: NseSocket, hello: bytes) -> bytes | None:
    """Send ``hello`` on a connected ``sock`` and return the buffer holding the server's first
    record, or None, with the debug line the ClientHello scripts print (``Couldn't send`` /
    ``Couldn't receive``); the socket is closed either way. ssl-date and tls-alpn each carry this
    exchange in Nmap; here it is written once."""
    try:
        try:
            await sock.send(hello)
        except SocketError as error:
            stdnse.debug(1, "Couldn't send: %s", error)
            return None
        try:
            return await record_buffer(sock)
        except SocketError as error:
            stdnse.debug(1, "Couldn't receive: %s", error)
            return None
    finally:
        sock.close()


async def record_buffer(sock: NseSocket, buffer: bytes = b"", i: int = 0) -> bytes:
    """``tls.record_buffer``: read until ``buffer`` holds a whole record starting at ``i``.

    Returns the buffer (what it held plus what was read). Raises :class:`RecordError` with
    the socket's status, or ``"Unknown TLS protocol version or content type"`` when the
    header is not TLS. A record is at most 5 + 65535 bytes, so the read is bounded.
    """
    count = len(buffer) - i
    if count < TLS_RECORD_HEADER_LENGTH:
        got = await _read_atleast(sock, TLS_RECORD_HEADER_LENGTH - count, buffer)
        buffer += got
        count += len(got)
    kind, version, length = struct.unpack_from(">BHH", buffer, i)
    if version not in _VERSION_NAMES or kind not in _CONTENT_NAMES:
        raise RecordError("Unknown TLS protocol version or content type", buffer)
    if count < TLS_RECORD_HEADER_LENGTH + length:
        buffer += await _read_atleast(sock, TLS_RECORD_HEADER_LENGTH + length - count, buffer)
    return buffer


def servername(host: Any) -> str | None:
    """``tls.servername``: the ``tls.servername`` script argument, else the target name."""
    argument = stdnse.get_script_args("tls.servername")
    if argument:
        return str(argument)
    if isinstance(host, Mapping):
        name = host.get("targetname")
    else:
        name = getattr(host, "targetname", None)
    return str(name) if name else None
