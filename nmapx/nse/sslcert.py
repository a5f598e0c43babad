"""NSE's ``sslcert`` (nselib/sslcert.lua, Nmap 7.93) and the certificate NSE's C core gives.

Two halves:

* :func:`parse_ssl_certificate` turns DER into a :class:`Certificate` that carries exactly the
  fields of NSE's certificate userdata (nse_ssl_cert.cc), under the same names, with the same
  values: ``subject``/``issuer`` keyed by OpenSSL's *long* names (``commonName``,
  ``organizationName``; an OID OpenSSL does not know is its dotted form), values the raw bytes
  of the ASN.1 string (a BMPString stays UTF-16BE, as in NSE); ``validity`` as date tables
  (:class:`DateTable`, the raw bytes when OpenSSL could not parse the time, None when absent);
  ``pubkey`` (``type``, ``bits``, and ``modulus``/``exponent`` for RSA, ``ecdhparams`` for EC);
  ``sig_algorithm``; ``extensions`` (``name``, ``value`` as OpenSSL's ``X509V3_EXT_print``
  renders it, ``critical``); ``pem``; and :meth:`Certificate.digest`.

  Parsing uses ``cryptography``; the names are looked up in the OpenSSL that Python's ``ssl``
  module links (the same library Nmap links on the same machine), and the extension texts are
  rendered the way OpenSSL 3.0 renders them, checked byte for byte against it. Names and times
  are read from the DER itself, because NSE shows their raw bytes, which ``cryptography``
  decodes.

* :func:`get_certificate` is ``sslcert.getCertificate``: STARTTLS where sslcert.lua does it
  (FTP, IMAP, POP3, SMTP, LMTP, NNTP, PostgreSQL, chosen by service name or port number exactly
  as Nmap chooses), then a plain TLS connect, then a hand-made TLS 1.2 handshake read with
  :mod:`nmapx.nse.tls` (which tolerates servers OpenSSL refuses). The result is cached in the
  host's registry like Nmap's. The FTP, SMTP/LMTP, IMAP and POP3 dances are those protocol
  libraries' ``prepare_tls`` (one owner per protocol); this module adds the per-port registry
  of which services refused. :func:`is_port_supported` and
  :func:`get_prepare_tls_without_reconnect` are the portrule helpers of the same names.

Not implemented (sslcert.lua has them): STARTTLS for LDAP, MySQL, XMPP, VNC and TDS (MS SQL);
``ms-sql-s`` ports therefore go straight to the plain TLS attempts. Extensions whose text
OpenSSL renders but this module does not (see :data:`RENDERED_EXTENSIONS`) have no ``value``,
which is what NSE shows for extensions OpenSSL itself cannot print.

Bounds (Nmap has none): the hand-made handshake reads at most :data:`MAX_HANDSHAKE` bytes, and
OpenSSL's own handshake refuses certificate lists over 100 KiB; every read has the socket's
timeout.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import logging
import re
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519

from nmapx.nse import comm, ftp, imap, nmap, pop3, smtp, stdnse, tls
from nmapx.nse.errors import SocketError, StartTlsRefused
from nmapx.nse.lineproto import exchange_line
from nmapx.nse.sockets import NseSocket

__all__ = [
    "MAX_HANDSHAKE",
    "RENDERED_EXTENSIONS",
    "Certificate",
    "DateTable",
    "Extension",
    "PublicKey",
    "Validity",
    "get_certificate",
    "get_prepare_tls_without_reconnect",
    "is_port_supported",
    "parse_ssl_certificate",
]

log = logging.getLogger(__name__)

#: Cap of what the hand-made handshake reads before it gives up (Nmap reads without limit).
MAX_HANDSHAKE = 2 << 20


# ============================================================================ DER reading
class _DerError(ValueError):
    """Malformed DER where the certificate's own bytes are read."""


def _tlv(data: bytes, pos: int, end: int | None = None) -> tuple[int, int, int, int]:
    """``(tag, content_start, content_end, header_start)`` of the element at ``pos``.

    ``tag`` is the identifier octet (class, constructed bit and number < 31); definite
    lengths only, as DER requires. Everything is bounds-checked against ``end``.
    """
    limit = len(data) if end is None else end
    if pos + 2 > limit:
        raise _DerError("truncated element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _DerError("high tag numbers are not used in certificates")
    length = data[pos + 1]
    cursor = pos + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or cursor + count > limit:
            raise _DerError("bad length")
        length = int.from_bytes(data[cursor : cursor + count], "big")
        cursor += count
    if cursor + length > limit:
        raise _DerError("element overruns its container")
    return tag, cursor, cursor + length, pos


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """The ``(tag, content_start, content_end)`` of each element between start and end."""
    pos = start
    while pos < end:
        tag, cstart, cend, _ = _tlv(data, pos, end)
        yield tag, cstart, cend
        pos = cend


def _oid_text(content: bytes) -> str:
    """The dotted form of an OBJECT IDENTIFIER's content octets (OBJ_obj2txt, no_name=1)."""
    if not content or content[-1] & 0x80:
        raise _DerError("bad object identifier")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(arc) for arc in head + arcs[1:])


@functools.lru_cache(maxsize=1024)
def _openssl_object(oid: str) -> tuple[str, str] | None:
    """``(short name, long name)`` OpenSSL has for ``oid``, or None if it has no NID for it.

    Asked of the OpenSSL that Python's ``ssl`` links, the library Nmap uses here, so the names
    are the ones NSE prints (``OBJ_nid2ln``/``OBJ_nid2sn``).
    """
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)+", oid):
        return None
    try:
        # CPython's (underscored but long-standing) view of OpenSSL's object table
        found = ssl._ASN1Object.fromname(oid)
    except (ValueError, AttributeError):
        return None
    return found.shortname, found.longname


def _long_name(oid: str) -> str:
    """``OBJ_obj2txt(obj, 0)``: OpenSSL's long name, else the dotted OID."""
    names = _openssl_object(oid)
    return names[1] if names else oid


def _short_name(oid: str) -> str:
    names = _openssl_object(oid)
    return names[0] if names else oid


@dataclass(frozen=True)
class _NameEntry:
    oid: str
    tag: int
    value: bytes  # the content octets, as OpenSSL's ASN1_STRING holds them


def _name_entries(data: bytes, start: int, end: int) -> list[_NameEntry]:
    """Every AttributeTypeAndValue of a Name, in order (RDNs flattened, as OpenSSL counts)."""
    entries = []
    for set_tag, set_start, set_end in _children(data, start, end):
        if set_tag != 0x31:
            raise _DerError("Name: RDN is not a SET")
        for seq_tag, seq_start, seq_end in _children(data, set_start, set_end):
            if seq_tag != 0x30:
                raise _DerError("Name: attribute is not a SEQUENCE")
            parts = list(_children(data, seq_start, seq_end))
            if len(parts) != 2 or parts[0][0] != 0x06:
                raise _DerError("Name: bad attribute")
            oid = _oid_text(data[parts[0][1] : parts[0][2]])
            tag, vstart, vend = parts[1]
            entries.append(_NameEntry(oid, tag, data[vstart:vend]))
    return entries


def _name_table(entries: list[_NameEntry]) -> dict[str, bytes]:
    """nse_ssl_cert.cc ``x509_name_to_table``: a later entry with the same key replaces."""
    table: dict[str, bytes] = {}
    for entry in entries:
        table[_long_name(entry.oid)] = entry.value
    return table


_ONELINE_SIZE = 255  # X509_NAME_oneline into a 256-byte buffer: 255 characters and the NUL
_HEX = "0123456789ABCDEF"


def _oneline(entries: list[_NameEntry]) -> str:
    """``X509_NAME_oneline`` into a 256-byte buffer, as OpenSSL 3.0 writes it.

    ``/SN=value`` per entry, bytes outside printable ASCII as ``\\xHH`` and ``/`` as ``\\/``;
    an entry that would not fit ends the line there.
    """
    out = ""
    for entry in entries:
        value = entry.value
        show = [True, True, True, True]
        if entry.tag == 0x1B and len(value) % 4 == 0:  # GeneralString of 4-byte characters
            nonzero = [False] * 4
            for index, byte in enumerate(value):
                if byte:
                    nonzero[index & 3] = True
            show = [True] * 4 if any(nonzero[:3]) else [False, False, False, True]
        text = []
        for index, byte in enumerate(value):
            if not show[index & 3]:
                continue
            if byte < 0x20 or byte > 0x7E:
                text.append("\\x" + _HEX[byte >> 4] + _HEX[byte & 15])
            elif byte == 0x2F:
                text.append("\\/")
            else:
                text.append(chr(byte))
        piece = "/" + _short_name(entry.oid) + "=" + "".join(text)
        if len(out) + len(piece) > _ONELINE_SIZE:
            break
        out += piece
    return out


def _print_ex_oneline(entries: list[_NameEntry]) -> str:
    """``X509_NAME_print_ex(..., XN_FLAG_ONELINE)`` for the common cases (``CN = x, O = y``).

    Values are escaped as RFC 2253 does with ESC_QUOTE: quoted when they hold a special
    character, bytes outside ASCII as ``\\XX``.
    """
    parts = []
    for entry in entries:
        raw = entry.value
        quote = any(c in b',+"\\<>;' for c in raw) or raw[:1] in (b" ", b"#") or raw[-1:] == b" "
        text = []
        for byte in raw:
            if byte > 0x7E or byte < 0x20:
                text.append("\\" + _HEX[byte >> 4] + _HEX[byte & 15])
            elif quote and byte in b'"\\':
                text.append("\\" + chr(byte))
            else:
                text.append(chr(byte))
        value = "".join(text)
        parts.append(f"{_short_name(entry.oid)} = " + (f'"{value}"' if quote else value))
    return ", ".join(parts)


# ============================================================================ the certificate
@dataclass(frozen=True)
class DateTable:
    """A time as NSE gives it: ``os.date("!*t")``'s fields without ``wday``/``yday``.

    The fields are what OpenSSL's text held, unchecked beyond being digits (nse_ssl_cert.cc
    ``time_to_tm``): a month of 13 stays 13.
    """

    year: int
    month: int
    day: int
    hour: int
    min: int
    sec: int

    def format_timestamp(self) -> str:
        """``datetime.format_timestamp`` of a date table: ``2024-01-02T03:04:05``."""
        return (
            f"{self.year}-{self.month:02d}-{self.day:02d}"
            f"T{self.hour:02d}:{self.min:02d}:{self.sec:02d}"
        )


def _parse_time(raw: bytes) -> DateTable | bytes:
    """nse_ssl_cert.cc ``asn1_time_to_obj``: a :class:`DateTable`, or the raw bytes."""

    def number(text: bytes) -> int:
        if not text or not all(0x30 <= b <= 0x39 for b in text):
            raise ValueError(text)
        return int(text)

    try:
        if len(raw) == 13 and raw.endswith(b"Z"):
            two = number(raw[:2])
            year = 2000 + two if two < 50 else 1900 + two
            rest = raw[2:]
        elif len(raw) == 15 and raw.endswith(b"Z"):
            year = number(raw[:4])
            rest = raw[4:]
        else:
            return raw
        month = number(rest[0:2])
        if month == 0:
            return raw
        return DateTable(
            year, month, number(rest[2:4]), number(rest[4:6]), number(rest[6:8]), number(rest[8:10])
        )
    except ValueError:
        return raw


@dataclass(frozen=True)
class Validity:
    """``cert.validity``: each bound a :class:`DateTable`, raw bytes if unparsable, or None."""

    notBefore: DateTable | bytes | None  # NSE's field name
    notAfter: DateTable | bytes | None  # NSE's field name


@dataclass(frozen=True)
class PublicKey:
    """``cert.pubkey``: ``type`` is ``rsa``, ``dsa``, ``dh``, ``ec`` or ``unknown``.

    ``bits`` is ``EVP_PKEY_bits`` (the modulus for RSA, the group order for EC, 253 for
    Ed25519). ``modulus`` and ``exponent`` are set for RSA, ``ecdhparams`` for EC:
    ``{"curve_params": {"curve": "prime256v1", "ec_curve_type": "namedcurve"}}``.
    """

    type: str
    bits: int
    modulus: int | None = None
    exponent: int | None = None
    ecdhparams: dict[str, dict[str, str]] | None = None


@dataclass(frozen=True)
class Extension:
    """One entry of ``cert.extensions``.

    ``value`` is OpenSSL's text for it (bytes, like NSE's Lua string: names inside it are
    the certificate's raw bytes), None when OpenSSL cannot print it (``error`` is then True,
    as in NSE); ``critical`` is True or None, like the Lua field.
    """

    name: str
    value: bytes | None
    critical: bool | None = None
    error: bool | None = None


@dataclass(frozen=True)
class Certificate:
    """The certificate NSE's ``get_ssl_certificate``/``parse_ssl_certificate`` give.

    Field names are NSE's (``sig_algorithm``, ``validity.notBefore``); ``der`` is the
    certificate's bytes (nmapx addition). ``extensions`` is None when there are none.
    """

    subject: dict[str, bytes]
    issuer: dict[str, bytes]
    sig_algorithm: str
    validity: Validity
    pem: str
    pubkey: PublicKey
    extensions: list[Extension] | None
    der: bytes = field(repr=False)

    def digest(self, algorithm: str) -> bytes | None:
        """``cert:digest(alg)``: the digest of the DER (``md5``, ``sha1``, ``sha256``, ...).

        None for an algorithm OpenSSL would not name, as NSE returns nothing.
        """
        name = algorithm.lower()
        for candidate in (name, name.replace("-", "_"), name.replace("-", "")):
            try:
                return hashlib.new(candidate, self.der).digest()
            except ValueError:
                continue
        return None

    def __getitem__(self, key: str) -> Any:
        """``cert["subject"]`` as well as ``cert.subject``, for code ported from Lua."""
        if key == "der" or key.startswith("_") or not hasattr(self, key):
            raise KeyError(key)
        return getattr(self, key)


def _pem(der: bytes) -> str:
    """``PEM_write_bio_X509``: 64-character base64 lines between the armour lines."""
    text = base64.b64encode(der).decode("ascii")
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return (
        "-----BEGIN CERTIFICATE-----\n"
        + "".join(f"{ln}\n" for ln in lines)
        + ("-----END CERTIFICATE-----\n")
    )


_KEY_TYPES = {
    "1.2.840.113549.1.1.1": "rsa",  # rsaEncryption
    "1.2.840.10040.4.1": "dsa",  # dsa
    "1.2.840.113549.1.3.1": "dh",  # dhKeyAgreement (PKCS #3); X9.42 DH is EVP_PKEY_DHX
    "1.2.840.10045.2.1": "ec",  # id-ecPublicKey
}
_FIELD_TYPES = {"1.2.840.10045.1.1": "explicit_prime", "1.2.840.10045.1.2": "explicit_char2"}


def _public_key(cert: x509.Certificate, spki: bytes) -> PublicKey:
    """nse_ssl_cert.cc's ``pubkey`` table for the SubjectPublicKeyInfo ``spki``."""
    _, start, end, _ = _tlv(spki, 0)
    algorithm = next(_children(spki, start, end))
    parts = list(_children(spki, algorithm[1], algorithm[2]))
    oid = _oid_text(spki[parts[0][1] : parts[0][2]])
    kind = _KEY_TYPES.get(oid, "unknown")
    key = cert.public_key()  # raises for keys cryptography cannot load, as X509_get_pubkey fails
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        if kind == "rsa":
            return PublicKey(kind, key.key_size, numbers.n, numbers.e)
        return PublicKey(kind, key.key_size)  # RSA-PSS: EVP_PKEY_RSA_PSS is "unknown"
    if isinstance(key, ec.EllipticCurvePublicKey):
        params: dict[str, str] = {}
        if len(parts) > 1 and parts[1][0] == 0x06:
            params["curve"] = _short_name(_oid_text(spki[parts[1][1] : parts[1][2]]))
            params["ec_curve_type"] = "namedcurve"
        return PublicKey("ec", key.curve.key_size, ecdhparams={"curve_params": params})
    if isinstance(key, ed25519.Ed25519PublicKey | x25519.X25519PublicKey):
        return PublicKey(kind, 253)
    if isinstance(key, ed448.Ed448PublicKey):
        return PublicKey(kind, 456)
    if isinstance(key, x448.X448PublicKey):
        return PublicKey(kind, 448)
    # DSA and DH (whose classes cryptography marks deprecated): the prime's size
    return PublicKey(kind, int(getattr(key, "key_size", 0)))


def _explicit_curve(spki: bytes) -> PublicKey | None:
    """An EC key with explicit parameters, which ``cryptography`` refuses to load.

    NSE reports its ``ec_curve_type`` and the order's bit length; RFC 5480 forbids such keys
    in certificates, but they exist.
    """
    try:
        _, start, end, _ = _tlv(spki, 0)
        algorithm = next(_children(spki, start, end))
        parts = list(_children(spki, algorithm[1], algorithm[2]))
        if _oid_text(spki[parts[0][1] : parts[0][2]]) != "1.2.840.10045.2.1":
            return None
        if len(parts) < 2 or parts[1][0] != 0x30:
            return None
        fields = list(_children(spki, parts[1][1], parts[1][2]))
        field_id = list(_children(spki, fields[1][1], fields[1][2]))
        field_type = _FIELD_TYPES.get(_oid_text(spki[field_id[0][1] : field_id[0][2]]), "UNKNOWN")
        order = int.from_bytes(spki[fields[4][1] : fields[4][2]], "big")
    except (_DerError, IndexError, StopIteration):
        return None
    return PublicKey(
        "ec", order.bit_length(), ecdhparams={"curve_params": {"ec_curve_type": field_type}}
    )


def parse_ssl_certificate(der: bytes) -> Certificate:
    """``sslcert.parse_ssl_certificate(der)``: a :class:`Certificate`.

    Raises ValueError for bytes that are not a certificate (NSE returns nil).
    """
    der = bytes(der)
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise ValueError(f"Unable to parse certificate: {exc}") from None
    try:
        tbs = cert.tbs_certificate_bytes
        _, start, end, _ = _tlv(tbs, 0)
        fields = []  # (tag, content start, content end, element start) of each field
        pos = start
        while pos < end:
            tag, cstart, cend, _ = _tlv(tbs, pos, end)
            fields.append((tag, cstart, cend, pos))
            pos = cend
        if fields and fields[0][0] == 0xA0:
            fields = fields[1:]  # [0] version
        issuer_f, validity_f, subject_f, spki_f = fields[2], fields[3], fields[4], fields[5]
        issuer = _name_entries(tbs, issuer_f[1], issuer_f[2])
        subject = _name_entries(tbs, subject_f[1], subject_f[2])
        times = [tbs[s:e] for _tag, s, e in _children(tbs, validity_f[1], validity_f[2])]
        spki = tbs[spki_f[3] : spki_f[2]]
        extensions_raw = _raw_extensions(tbs, [f[:3] for f in fields[6:]])
    except (_DerError, IndexError, ValueError) as exc:
        raise ValueError(f"Unable to parse certificate: {exc}") from None
    try:
        pubkey = _public_key(cert, spki)
    except Exception as exc:  # ValueError, cryptography's UnsupportedAlgorithm
        explicit = _explicit_curve(spki)
        if explicit is None:
            raise ValueError(f"Error parsing cert: {exc}") from None
        pubkey = explicit
    sig_names = _openssl_object(cert.signature_algorithm_oid.dotted_string)
    return Certificate(
        subject=_name_table(subject),
        issuer=_name_table(issuer),
        sig_algorithm=sig_names[1] if sig_names else "undefined",
        validity=Validity(
            _parse_time(times[0]) if len(times) > 0 else None,
            _parse_time(times[1]) if len(times) > 1 else None,
        ),
        pem=_pem(der),
        pubkey=pubkey,
        extensions=_extensions(cert, extensions_raw),
        der=der,
    )


def _raw_extensions(tbs: bytes, rest: list[tuple[int, int, int]]) -> list[tuple[str, bool, bytes]]:
    """``(oid, critical, extnValue octets)`` of each extension, in the certificate's order."""
    found = []
    for tag, start, end in rest:
        if tag != 0xA3:
            continue
        outer = next(_children(tbs, start, end))
        for ext_tag, ext_start, ext_end in _children(tbs, outer[1], outer[2]):
            if ext_tag != 0x30:
                raise _DerError("Extension is not a SEQUENCE")
            parts = list(_children(tbs, ext_start, ext_end))
            oid = _oid_text(tbs[parts[0][1] : parts[0][2]])
            critical = len(parts) == 3 and parts[1][0] == 0x01 and tbs[parts[1][1]] != 0
            value = parts[-1]
            found.append((oid, critical, tbs[value[1] : value[2]]))
    return found


def _extensions(
    cert: x509.Certificate, raw: list[tuple[str, bool, bytes]]
) -> list[Extension] | None:
    """nse_ssl_cert.cc ``x509_extensions_to_table``: name, value (or error), critical."""
    if not raw:
        return None
    parsed: dict[str, x509.Extension[x509.ExtensionType]] = {}
    try:
        parsed = {ext.oid.dotted_string: ext for ext in cert.extensions}
    except Exception as exc:  # duplicate or malformed extensions: cryptography refuses all
        log.debug("cryptography could not parse the extensions: %s", exc)
    result = []
    for oid, critical, octets in raw:
        name = _long_name(oid)[:255]
        value: bytes | None = None
        ext = parsed.get(oid)
        renderer = _RENDERERS.get(oid)
        if renderer is not None and (ext is not None or oid in _RAW_RENDERED):
            try:
                # renderers build text with one character per byte (latin-1), as C does
                value = renderer(ext.value if ext is not None else None, octets).encode("latin-1")
            except (_RenderError, ValueError, _DerError, IndexError) as exc:
                log.debug("extension %s: no text (%s)", name, exc)
                value = None
        elif _openssl_object(oid) is not None:
            log.debug("extension %s (%s): OpenSSL renders it, nmapx does not", name, oid)
        result.append(
            Extension(
                name=name,
                value=value,
                critical=True if critical else None,
                error=True if value is None else None,
            )
        )
    return result


# ============================================================================ extension texts
class _RenderError(ValueError):
    """OpenSSL's printer would fail on this value (NSE then sets ``error``)."""


def _c_string(value: bytes) -> str:
    """A value as ``%s`` prints it: up to the first NUL, bytes as they are."""
    return value.split(b"\0", 1)[0].decode("latin-1")


def _len_value(value: bytes) -> str:
    """``x509v3_add_len_value``: refuses an embedded NUL (a trailing one is allowed)."""
    if b"\0" in value[:-1]:
        raise _RenderError("embedded NUL")
    return _c_string(value)


def _str_bytes(text: str) -> bytes:
    """Back to the raw IA5/UTF-8 bytes ``cryptography`` decoded."""
    return text.encode("utf-8", "surrogateescape")


def _ip_text(packed: bytes) -> str:
    """``ossl_ipaddr_to_asc``: dotted IPv4, IPv6 as eight uppercase groups, uncompressed."""
    if len(packed) == 4:
        return ".".join(str(b) for b in packed)
    if len(packed) == 16:
        return ":".join(f"{int.from_bytes(packed[i : i + 2], 'big'):X}" for i in range(0, 16, 2))
    return f"<invalid length={len(packed)}>"


def _name_from(name: x509.Name) -> list[_NameEntry]:
    """The entries of a ``cryptography`` Name, read from its DER (raw values, tags)."""
    data = name.public_bytes()
    _, start, end, _ = _tlv(data, 0)
    return _name_entries(data, start, end)


def _general_name_value(gen: x509.GeneralName) -> tuple[str | None, str]:
    """``i2v_GENERAL_NAME``: the (name, value) pair OpenSSL 3.0 adds for one GeneralName."""
    if isinstance(gen, x509.DNSName):
        return "DNS", _len_value(_str_bytes(gen.value))
    if isinstance(gen, x509.RFC822Name):
        return "email", _len_value(_str_bytes(gen.value))
    if isinstance(gen, x509.UniformResourceIdentifier):
        return "URI", _len_value(_str_bytes(gen.value))
    if isinstance(gen, x509.IPAddress):
        address = gen.value
        if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return "IP Address", _ip_text(address.packed)
        packed = address.network_address.packed + address.netmask.packed
        return "IP Address", _ip_text(packed)
    if isinstance(gen, x509.DirectoryName):
        return "DirName", _oneline(_name_from(gen.value))
    if isinstance(gen, x509.RegisteredID):
        return "Registered ID", _long_name(gen.value.dotted_string)
    if isinstance(gen, x509.OtherName):
        return _other_name(gen)
    raise _RenderError(f"unknown GeneralName {type(gen).__name__}")


_OTHER_NAMES = {
    "1.3.6.1.5.5.7.8.9": ("SmtpUTF8Mailbox", 0x0C),
    "1.3.6.1.5.5.7.8.5": ("XmppAddr", 0x0C),
    "1.3.6.1.5.5.7.8.7": ("SRVName", 0x16),
    "1.3.6.1.4.1.311.20.2.3": ("UPN", 0x0C),
    "1.3.6.1.5.5.7.8.8": ("NAIRealm", 0x0C),
}


def _other_name(gen: x509.OtherName) -> tuple[str | None, str]:
    """OpenSSL 3.0's otherName texts: a few known types, else ``<unsupported>``."""
    oid = gen.type_id.dotted_string
    tag, start, end, _ = _tlv(gen.value, 0)
    content = gen.value[start:end]
    known = _OTHER_NAMES.get(oid)
    if known is not None:
        label, wanted = known
        if tag != wanted:
            raise _RenderError("otherName of the wrong type")
        return f"othername: {label}:", _len_value(content)
    label = f"othername: {_long_name(oid)}:"
    if tag in (0x16, 0x0C):  # IA5String, UTF8String
        try:
            return label, _len_value(content)
        except _RenderError:
            pass
    return label, "<unsupported>"


def _general_name_print(gen: x509.GeneralName) -> str:
    """``GENERAL_NAME_print`` (CRL distribution points, name constraints)."""
    if isinstance(gen, x509.DNSName | x509.RFC822Name | x509.UniformResourceIdentifier):
        label = {x509.DNSName: "DNS", x509.RFC822Name: "email"}.get(type(gen), "URI")
        raw = _str_bytes(gen.value)
        shown = "".join(
            "." if (b > 0x7E or (b < 0x20 and b not in (10, 13))) else chr(b) for b in raw
        )
        return f"{label}:{shown}"
    if isinstance(gen, x509.DirectoryName):
        return "DirName:" + _print_ex_oneline(_name_from(gen.value))
    if isinstance(gen, x509.OtherName):
        oid = gen.type_id.dotted_string
        known = _OTHER_NAMES.get(oid)
        tag, start, end, _ = _tlv(gen.value, 0)
        if known is None or tag != known[1]:
            return "othername:<unsupported>"
        return f"othername:{known[0]}:{_c_string(gen.value[start:end])}"
    name, value = _general_name_value(gen)
    return f"{name}:{value}"


def _val_prn(
    values: list[tuple[str | None, str | None]], multiline: bool = False, empty_ok: bool = False
) -> str:
    """``X509V3_EXT_val_prn`` at indent 0: ``name:value`` pairs, comma- or line-separated.

    An empty list is ``<EMPTY>`` where OpenSSL's i2v hands over an empty list
    (``empty_ok``), and a failure (no text) where it hands over none.
    """
    if not values:
        if not empty_ok:
            raise _RenderError("nothing to print")
        return "<EMPTY>\n"
    shown = []
    for name, value in values:
        if name is None:
            shown.append(value or "")
        elif value is None:
            shown.append(name)
        else:
            shown.append(f"{name}:{value}")
    return ("\n" if multiline else ", ").join(shown)


def _hex_colon(data: bytes) -> str:
    """``i2s_ASN1_OCTET_STRING``: uppercase hex bytes joined by colons."""
    return ":".join(f"{b:02X}" for b in data)


def _integer_text(value: int) -> str:
    """``i2s_ASN1_INTEGER``: decimal up to 128 bits, else ``0x`` and hex."""
    if abs(value).bit_length() <= 128:
        return str(value)
    sign = "-" if value < 0 else ""
    return f"{sign}0x{abs(value):X}"


def _r_general_names(ext: Any, raw: bytes) -> str:
    return _val_prn([_general_name_value(g) for g in ext], empty_ok=True)


def _r_basic_constraints(ext: Any, raw: bytes) -> str:
    values: list[tuple[str | None, str | None]] = [("CA", "TRUE" if ext.ca else "FALSE")]
    if ext.path_length is not None:
        values.append(("pathlen", _integer_text(ext.path_length)))
    return _val_prn(values)


_KEY_USAGE_BITS = (
    ("digital_signature", "Digital Signature"),
    ("content_commitment", "Non Repudiation"),
    ("key_encipherment", "Key Encipherment"),
    ("data_encipherment", "Data Encipherment"),
    ("key_agreement", "Key Agreement"),
    ("key_cert_sign", "Certificate Sign"),
    ("crl_sign", "CRL Sign"),
    ("encipher_only", "Encipher Only"),
    ("decipher_only", "Decipher Only"),
)


def _r_key_usage(ext: Any, raw: bytes) -> str:
    values: list[tuple[str | None, str | None]] = []
    for attribute, label in _KEY_USAGE_BITS:
        try:
            if getattr(ext, attribute):
                values.append((label, None))
        except ValueError:  # encipher/decipher_only without key_agreement
            if _bit_set(raw, _KEY_USAGE_BITS.index((attribute, label))):
                values.append((label, None))
    return _val_prn(values)


def _bit_set(raw: bytes, bit: int) -> bool:
    """Bit ``bit`` (0 = most significant of the first octet) of a DER BIT STRING."""
    _, start, end, _ = _tlv(raw, 0)
    content = raw[start + 1 : end]
    return bit // 8 < len(content) and bool(content[bit // 8] & (0x80 >> (bit % 8)))


_NS_CERT_TYPES = (
    "SSL Client", "SSL Server", "S/MIME", "Object Signing", "Unused", "SSL CA", "S/MIME CA",
    "Object Signing CA",
)  # fmt: skip


def _r_ns_cert_type(ext: Any, raw: bytes) -> str:
    return _val_prn([(n, None) for i, n in enumerate(_NS_CERT_TYPES) if _bit_set(raw, i)])


def _r_eku(ext: Any, raw: bytes) -> str:
    return _val_prn([(None, _long_name(oid.dotted_string)) for oid in ext])


def _r_ski(ext: Any, raw: bytes) -> str:
    return _hex_colon(ext.digest)


def _r_akid(ext: Any, raw: bytes) -> str:
    values: list[tuple[str | None, str | None]] = []
    has_more = ext.authority_cert_issuer is not None or ext.authority_cert_serial_number is not None
    if ext.key_identifier is not None:
        values.append(("keyid" if has_more else None, _hex_colon(ext.key_identifier)))
    if ext.authority_cert_issuer is not None:
        values += [_general_name_value(g) for g in ext.authority_cert_issuer]
    if ext.authority_cert_serial_number is not None:
        serial = ext.authority_cert_serial_number
        magnitude = abs(serial).to_bytes(max(1, (abs(serial).bit_length() + 7) // 8), "big")
        values.append(("serial", _hex_colon(magnitude)))
    return _val_prn(values, multiline=True)


def _r_info_access(ext: Any, raw: bytes) -> str:
    values: list[tuple[str | None, str | None]] = []
    for description in ext:
        name, value = _general_name_value(description.access_location)
        method = _long_name(description.access_method.dotted_string)
        values.append((f"{method} - {name}", value))
    return _val_prn(values, multiline=True)


_REASONS = (
    "Unused", "Key Compromise", "CA Compromise", "Affiliation Changed", "Superseded",
    "Cessation Of Operation", "Certificate Hold", "Privilege Withdrawn", "AA Compromise",
)  # fmt: skip
_REASON_FLAGS = {
    x509.ReasonFlags.key_compromise: 1, x509.ReasonFlags.ca_compromise: 2,
    x509.ReasonFlags.affiliation_changed: 3, x509.ReasonFlags.superseded: 4,
    x509.ReasonFlags.cessation_of_operation: 5, x509.ReasonFlags.certificate_hold: 6,
    x509.ReasonFlags.privilege_withdrawn: 7, x509.ReasonFlags.aa_compromise: 8,
}  # fmt: skip


def _r_crl_dp(ext: Any, raw: bytes) -> str:
    """``i2r_crldp`` at indent 0."""
    out = []
    for index, point in enumerate(ext):
        text = "\n" if index > 0 else ""
        if point.full_name is not None:
            text += "Full Name:\n" + "\n".join(
                "  " + _general_name_print(g) for g in point.full_name
            )
        elif point.relative_name is not None:
            entries = _name_from(x509.Name([point.relative_name]))
            text += "Relative Name:\n  " + _print_ex_oneline(entries)
        if point.reasons is not None:
            bits = sorted(_REASON_FLAGS.get(r, 0) for r in point.reasons)
            text += "Reasons:\n  " + ", ".join(_REASONS[b] for b in bits)  # OpenSSL 3.0: no \n
        if point.crl_issuer is not None:
            text += "\nCRL Issuer:\n" + "\n".join(
                "  " + _general_name_print(g) for g in point.crl_issuer
            )
        out.append(text)
    return "".join(out)


def _r_policies(ext: Any, raw: bytes) -> str:
    """``i2r_certpol`` at indent 0."""
    out = []
    for index, policy in enumerate(ext):
        text = (
            ("\n" if index else "")
            + "Policy: "
            + _long_name(policy.policy_identifier.dotted_string)
        )
        qualifiers = policy.policy_qualifiers
        if qualifiers:
            text += "\n"
            lines = []
            for qualifier in qualifiers:
                if isinstance(qualifier, str):
                    lines.append("  CPS: " + _c_string(_str_bytes(qualifier)))
                else:
                    lines.append("  User Notice:\n" + _notice(qualifier, "    "))
            text += "\n".join(lines)
        out.append(text)
    return "".join(out)


def _notice(notice: x509.UserNotice, indent: str) -> str:
    text = ""
    ref = notice.notice_reference
    if ref is not None:
        text += f"{indent}Organization: {_c_string(_str_bytes(ref.organization or ''))}\n"
        plural = "s" if len(ref.notice_numbers) > 1 else ""
        text += f"{indent}Number{plural}: " + ", ".join(
            _integer_text(n) for n in ref.notice_numbers
        )
        if notice.explicit_text is not None:
            text += "\n"
    if notice.explicit_text is not None:
        text += f"{indent}Explicit Text: {_c_string(_str_bytes(notice.explicit_text))}"
    return text


def _nc_subtree(gen: x509.GeneralName) -> str:
    if isinstance(gen, x509.IPAddress):
        network = gen.value
        if isinstance(network, ipaddress.IPv4Network | ipaddress.IPv6Network):
            address, mask = network.network_address.packed, network.netmask.packed
            if len(address) == 4:
                return "IP:" + _ip_text(address) + "/" + _ip_text(mask)
            return "IP:" + _ip_text(address) + "/" + _ip_text(mask)
    return _general_name_print(gen)


def _r_name_constraints(ext: Any, raw: bytes) -> str:
    out = ""
    for label, trees in (
        ("Permitted", ext.permitted_subtrees),
        ("Excluded", ext.excluded_subtrees),
    ):
        if not trees:
            continue
        if out:
            out += "\n"
        out += f"{label}:\n" + "\n".join("  " + _nc_subtree(g) for g in trees)
    return out


def _r_policy_constraints(ext: Any, raw: bytes) -> str:
    values: list[tuple[str | None, str | None]] = []
    if ext.require_explicit_policy is not None:
        values.append(("Require Explicit Policy", _integer_text(ext.require_explicit_policy)))
    if ext.inhibit_policy_mapping is not None:
        values.append(("Inhibit Policy Mapping", _integer_text(ext.inhibit_policy_mapping)))
    return _val_prn(values)


def _r_inhibit_any(ext: Any, raw: bytes) -> str:
    return _integer_text(ext.skip_certs)


_TLS_FEATURES = {5: "status_request", 17: "status_request_v2"}


def _r_tls_feature(ext: Any, raw: bytes) -> str:
    return _val_prn([(None, _TLS_FEATURES.get(f.value, str(f.value))) for f in ext])


def _r_ia5(ext: Any, raw: bytes) -> str:
    """The Netscape IA5String extensions (``i2s_ASN1_IA5STRING``, printed with ``%s``)."""
    tag, start, end, _ = _tlv(raw, 0)
    if tag != 0x16:
        raise _RenderError("not an IA5String")
    return _c_string(raw[start:end])


def _r_null(ext: Any, raw: bytes) -> str:
    return "NULL"


def _r_empty(ext: Any, raw: bytes) -> str:
    return ""


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: (hash, signature) of an SCT to the name OpenSSL gives it (``SCT_get_signature_nid``).
_SCT_SIGNATURES = {(4, 3): "ecdsa-with-SHA256", (4, 1): "sha256WithRSAEncryption"}


def _hex_block(data: bytes, indent: int) -> str:
    """``BIO_hex_string(out, indent, 16, ...)``: colon-separated, 16 bytes per line."""
    lines = [":".join(f"{b:02X}" for b in data[i : i + 16]) for i in range(0, len(data), 16)]
    return (":\n" + " " * indent).join(lines)


def _sct_time(ms: int) -> str:
    """``timestamp_print``: ``Mar  1 12:00:00.123 2023 GMT`` (ASN1_GENERALIZEDTIME_print)."""
    import datetime

    when = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms - ms % 1000)
    return (
        f"{_MONTHS[when.month - 1]} {when.day:2d} {when.hour:02d}:{when.minute:02d}:"
        f"{when.second:02d}.{ms % 1000:03d} {when.year} GMT"
    )


def _r_sct_list(ext: Any, raw: bytes) -> str:
    """``i2r_SCT_LIST`` at indent 0 (OpenSSL's ct_prn.c), from the extension's raw octets."""
    tag, start, end, _ = _tlv(raw, 0)
    if tag != 0x04:
        raise _RenderError("SCT list is not an OCTET STRING")
    reader = raw[start:end]
    if len(reader) < 2 or int.from_bytes(reader[:2], "big") != len(reader) - 2:
        raise _RenderError("bad SCT list length")
    pos, items = 2, []
    while pos < len(reader):
        if pos + 2 > len(reader):
            raise _RenderError("truncated SCT")
        size = int.from_bytes(reader[pos : pos + 2], "big")
        sct = reader[pos + 2 : pos + 2 + size]
        if size == 0 or len(sct) != size:
            raise _RenderError("truncated SCT")
        items.append(_sct_text(sct))
        pos += 2 + size
    return "\n".join(items)


def _sct_text(sct: bytes) -> str:
    head = "Signed Certificate Timestamp:\n    Version   : "
    if sct[0] != 0:
        return head + "unknown\n" + " " * 16 + _hex_block(sct, 16)
    if len(sct) < 47:
        raise _RenderError("SCT too short")
    log_id, stamp = sct[1:33], int.from_bytes(sct[33:41], "big")
    ext_len = int.from_bytes(sct[41:43], "big")
    extensions = sct[43 : 43 + ext_len]
    rest = sct[43 + ext_len :]
    if len(extensions) != ext_len or len(rest) < 4:
        raise _RenderError("bad SCT")
    hash_alg, sig_alg, sig_len = rest[0], rest[1], int.from_bytes(rest[2:4], "big")
    signature = rest[4:]
    if len(signature) != sig_len or not sig_len:
        raise _RenderError("bad SCT signature")
    algorithm = _SCT_SIGNATURES.get((hash_alg, sig_alg))
    if algorithm is None:  # o2i_SCT refuses the whole list then
        raise _RenderError("SCT signed with an algorithm OpenSSL does not know")
    return (
        head
        + "v1 (0x0)\n    Log ID    : "
        + _hex_block(log_id, 16)
        + "\n    Timestamp : "
        + _sct_time(stamp)
        + "\n    Extensions: "
        + (_hex_block(extensions, 16) if extensions else "none")
        + "\n    Signature : "
        + algorithm
        + "\n"
        + " " * 16
        + _hex_block(signature, 16)
    )


_RENDERERS: dict[str, Callable[[Any, bytes], str]] = {
    "2.5.29.17": _r_general_names,  # subjectAltName
    "2.5.29.18": _r_general_names,  # issuerAltName
    "2.5.29.19": _r_basic_constraints,
    "2.5.29.15": _r_key_usage,
    "2.5.29.37": _r_eku,
    "2.5.29.14": _r_ski,
    "2.5.29.35": _r_akid,
    "2.5.29.31": _r_crl_dp,
    "2.5.29.46": _r_crl_dp,  # freshestCRL
    "1.3.6.1.5.5.7.1.1": _r_info_access,
    "1.3.6.1.5.5.7.1.11": _r_info_access,  # subjectInfoAccess
    "2.5.29.32": _r_policies,
    "2.5.29.30": _r_name_constraints,
    "2.5.29.36": _r_policy_constraints,
    "2.5.29.54": _r_inhibit_any,
    "1.3.6.1.5.5.7.1.24": _r_tls_feature,
    "1.3.6.1.5.5.7.48.1.5": _r_empty,  # OCSP No Check
    "1.3.6.1.4.1.11129.2.4.3": _r_null,  # CT precertificate poison
    "1.3.6.1.4.1.11129.2.4.2": _r_sct_list,  # CT Precertificate SCTs
    "1.3.6.1.4.1.11129.2.4.5": _r_sct_list,  # CT Certificate SCTs
    "2.16.840.1.113730.1.1": _r_ns_cert_type,
    "2.16.840.1.113730.1.2": _r_ia5,  # nsBaseUrl
    "2.16.840.1.113730.1.3": _r_ia5,  # nsRevocationUrl
    "2.16.840.1.113730.1.4": _r_ia5,  # nsCaRevocationUrl
    "2.16.840.1.113730.1.7": _r_ia5,  # nsRenewalUrl
    "2.16.840.1.113730.1.8": _r_ia5,  # nsCaPolicyUrl
    "2.16.840.1.113730.1.12": _r_ia5,  # nsSslServerName
    "2.16.840.1.113730.1.13": _r_ia5,  # nsComment
}
#: Rendered from the raw octets when ``cryptography`` has no parsed value for them.
_RAW_RENDERED = frozenset(
    oid
    for oid, func in _RENDERERS.items()
    if func in (_r_ia5, _r_ns_cert_type, _r_null, _r_sct_list)
)
#: Extensions whose OpenSSL text this module renders (the others get no value).
RENDERED_EXTENSIONS = frozenset(_RENDERERS)


# ============================================================================ STARTTLS
Prepare = Callable[[Any, Any], Awaitable[NseSocket]]


def _field(table: Any, key: str) -> Any:
    """``table.key`` for a host/port/version given as an object or a mapping."""
    if isinstance(table, dict):
        return table.get(key)
    return getattr(table, key, None)


def _registry(host: Any) -> dict[str, Any]:
    registry = _field(host, "registry")
    if not isinstance(registry, dict):
        raise TypeError("host has no registry")
    return registry


def _port_key(port: Any) -> str:
    return f"{_field(port, 'number')}/{_field(port, 'protocol')}"


def _starttls_supported(host: Any, port: Any, state: bool) -> None:
    """Remember whether STARTTLS works on this port (the first answer sticks, as in Nmap)."""
    known = _registry(host).setdefault("starttls", {})
    known.setdefault(_port_key(port), state)


def _dance(prepare: Prepare) -> Prepare:
    """A protocol library's STARTTLS dance, with the answer remembered for the port.

    The dances themselves belong to the protocol libraries (``ftp``, ``smtp``, ``imap``,
    ``pop3``: ``prepare_tls``); what sslcert.lua adds around them is the registry entry.
    """

    async def run(host: Any, port: Any) -> NseSocket:
        try:
            sock = await prepare(host, port)
        except StartTlsRefused:
            _starttls_supported(host, port, False)
            raise
        _starttls_supported(host, port, True)
        return sock

    return run


async def _lmtp_prepare(host: Any, port: Any) -> NseSocket:
    return await smtp.prepare_tls(host, port, "LHLO")


_ftp = _dance(ftp.prepare_tls)
_imap = _dance(imap.prepare_tls)
_pop3 = _dance(pop3.prepare_tls)
_smtp = _dance(smtp.prepare_tls)
_lmtp = _dance(_lmtp_prepare)


async def _nntp(host: Any, port: Any) -> NseSocket:
    """NNTP ``STARTTLS`` (RFC 4642): a ``200`` greeting, STARTTLS, a ``382`` answer."""
    try:
        sock, _response, early = await comm.opencon(host, port, "", lines=1, recv_before=True)
    except comm.CommError as error:
        raise SocketError(f"Failed to connect to NNTP server: {error}") from error
    if not (early or b"").startswith(b"200"):
        sock.close()
        raise SocketError("NNTP protocol mismatch")
    result = await exchange_line(sock, "STARTTLS\r\n")
    if not result.startswith(b"382 "):
        _starttls_supported(host, port, False)
        stdnse.debug(1, "Error: %s", result.decode("latin-1"))
        try:
            await sock.send("QUIT\r\n")
        except SocketError:
            pass
        sock.close()
        raise SocketError("NNTP server does not support STARTTLS")
    _starttls_supported(host, port, True)
    return sock


async def _postgres(host: Any, port: Any) -> NseSocket:
    """PostgreSQL ``SSLRequest`` (protocol versions 2 and 3)."""
    try:
        sock, response, _early = await comm.opencon(host, port, bytes.fromhex("0000000804d2162f"))
    except comm.CommError as error:
        raise SocketError(f"Failed to connect to Postgres server: {error}") from error
    response = response or b""
    if response[:1] in (b"S", b"Y"):
        _starttls_supported(host, port, True)
        return sock
    sock.close()
    if response[:1] == b"N":
        _starttls_supported(host, port, False)
        raise SocketError("Postgres server does not support SSL")
    raise SocketError("Unknown response from Postgres server")


def _not_ported(name: str) -> Prepare:
    """A protocol sslcert.lua knows and nmapx does not speak yet: the dance just fails."""

    async def prepare(host: Any, port: Any) -> NseSocket:
        raise SocketError(f"STARTTLS for {name} is not implemented in nmapx")

    return prepare


#: sslcert.lua's SPECIALIZED_PREPARE_TLS_WITHOUT_RECONNECT: by service name, then port number.
_WITHOUT_RECONNECT: dict[str | int, Prepare] = {
    "ftp": _ftp, 21: _ftp,
    "nntp": _nntp, 119: _nntp,
    "imap": _imap, 143: _imap,
    "ldap": _not_ported("LDAP"), 389: _not_ported("LDAP"),
    "lmtp": _lmtp,
    "pop3": _pop3, 110: _pop3,
    "postgresql": _postgres, 5432: _postgres,
    "smtp": _smtp, 25: _smtp, 587: _smtp,
    "mysql": _not_ported("MySQL"), 3306: _not_ported("MySQL"),
    "xmpp": _not_ported("XMPP"), 5222: _not_ported("XMPP"), 5269: _not_ported("XMPP"),
    "vnc": _not_ported("VNC"), 5900: _not_ported("VNC"),
}  # fmt: skip
#: Services whose TLS is wrapped inside the protocol (TDS); no ``reconnect_ssl`` possible.
_WRAPPED: dict[str | int, Prepare] = {"ms-sql-s": _not_ported("TDS")}


def _with_reconnect(prepare: Prepare) -> Prepare:
    """sslcert.lua ``tls_reconnect``: the dance, then ``reconnect_ssl`` on the same socket."""

    async def run(host: Any, port: Any) -> NseSocket:
        try:
            sock = await prepare(host, port)
        except SocketError as error:
            raise SocketError(f"Failed to connect to server: {error}") from error
        try:
            await sock.reconnect_ssl()
        except SocketError as error:
            stdnse.debug(1, "Could not establish SSL session after STARTTLS command.")
            sock.close()
            raise SocketError("Failed to connect to server") from error
        return sock

    return run


_WITH_RECONNECT: dict[str | int, Prepare] = {
    key: _with_reconnect(func) for key, func in _WITHOUT_RECONNECT.items()
}
_WITH_RECONNECT["ms-sql-s"] = _not_ported("TDS (full SSL connection over TDS)")


def _with_registry_check(special: Prepare) -> Prepare:
    """Skip a port where STARTTLS already failed (``host.registry.starttls``).

    One thread at a time asks a port whose answer is not known yet, so that parallel scripts
    do not all try (sslcert.lua holds a mutex on the registry table for that).
    """

    async def run(host: Any, port: Any) -> NseSocket:
        known = _registry(host).setdefault("starttls", {})
        mutex = nmap.mutex(("nmapx.sslcert.starttls", _field(host, "ip"), _port_key(port)))
        async with mutex:
            if known.get(_port_key(port)) is False:
                raise SocketError("Previous STARTTLS attempt failed")
            return await special(host, port)

    return run


def _lookup(table: dict[str | int, Prepare], port: Any) -> Prepare | None:
    service, number = _field(port, "service"), _field(port, "number")
    return (table.get(service) if isinstance(service, str) else None) or (
        table.get(number) if isinstance(number, int) else None
    )


def _tunnel(port: Any) -> Any:
    version = _field(port, "version")
    return _field(version, "service_tunnel") if version is not None else None


def get_prepare_tls_without_reconnect(port: Any) -> Prepare | None:
    """``sslcert.getPrepareTLSWithoutReconnect(port)``: the STARTTLS dance for this port.

    The returned coroutine function ``(host, port) -> socket`` leaves the socket ready for a
    TLS ClientHello (the caller speaks TLS by hand, e.g. with :mod:`nmapx.nse.tls`); it
    raises SocketError when the service refuses. None for UDP, for ports already known to be
    SSL-tunnelled and for services without STARTTLS. Also a portrule helper (truthy).
    """
    if _field(port, "protocol") == "udp" or _tunnel(port) == "ssl":
        return None
    special = _lookup(_WITHOUT_RECONNECT, port) or _lookup(_WRAPPED, port)
    return _with_registry_check(special) if special is not None else None


def is_port_supported(port: Any) -> Prepare | None:
    """``sslcert.isPortSupported(port)``: as above, but the socket comes back TLS-connected."""
    if _field(port, "protocol") == "udp" or _tunnel(port) == "ssl":
        return None
    special = _lookup(_WITH_RECONNECT, port)
    return _with_registry_check(special) if special is not None else None


# ============================================================================ getCertificate
async def _handshake_cert(sock: NseSocket) -> Certificate:
    """sslcert.lua ``handshake_cert``: a TLS 1.2 ClientHello by hand, then the first certificate.

    Records are read until a fatal alert or ServerHelloDone (or nothing more comes), at most
    :data:`MAX_HANDSHAKE` bytes. Raises SocketError with sslcert.lua's messages.
    """
    try:
        await sock.send(tls.client_hello("TLSv1.2"))
    except SocketError as error:
        raise SocketError("Failed to send to server") from error
    buffer = b""
    fragment: bytes | None = None
    total = 0
    handshake: list[dict[str, Any]] = []
    seen_handshake = False
    done = False
    while not done:
        _next, record, more = tls.record_read(buffer, 0, fragment)
        if record is None:
            if not more:
                stdnse.debug(1, "no record: no more")
                break
            if total >= MAX_HANDSHAKE:
                stdnse.debug(1, "no record: handshake larger than %d bytes", MAX_HANDSHAKE)
                break
            before = len(buffer)
            try:
                buffer = await tls.record_buffer(sock, buffer, 0)
            except tls.RecordError as error:
                stdnse.debug(1, "no record: %s", error)
                break
            total += len(buffer) - before
            _next, record, more = tls.record_read(buffer, 0, fragment)
            if record is None:
                stdnse.debug(1, "no record: done")
                break
        buffer = buffer[_next:]
        fragment = record.get("fragment")
        for message in record["body"]:
            done = (record["type"] == "alert" and message.get("level") == "fatal") or (
                record["type"] == "handshake" and message.get("type") == "server_hello_done"
            )
            if record["type"] == "handshake":
                seen_handshake = True
                handshake.append(message)
    if not seen_handshake:
        raise SocketError("Server did not handshake")
    certs = next((m for m in handshake if m.get("type") == "certificate"), None)
    if certs is None or not certs.get("certificates"):
        raise SocketError("Server sent no certificate")
    try:
        return parse_ssl_certificate(certs["certificates"][0])
    except ValueError as error:
        raise SocketError(f"Unable to parse cert: {error}") from error


def _from_socket(sock: NseSocket) -> Certificate | None:
    """The TLS peer's certificate, parsed; None when it sent none or it does not parse."""
    der = sock.get_ssl_certificate()
    if der is None:
        return None
    try:
        return parse_ssl_certificate(der)
    except ValueError as error:
        stdnse.debug(1, "%s", error)
        return None


async def get_certificate(host: Any, port: Any) -> Certificate:
    """``sslcert.getCertificate(host, port)``: the port's certificate, or SocketError.

    Tries, in sslcert.lua's order: the STARTTLS dance for the port's service or number
    (unless -sV found the port SSL-tunnelled), a TLS connect, then a plain connect with a
    hand-made TLS 1.2 handshake. Cached per host and port in ``host.registry["ssl-cert"]``
    (what Nmap caches, so other scripts reuse it). Failure raises
    ``SocketError("No certificate found")``, which ends a script silently.
    """
    registry = _registry(host)
    number = _field(port, "number")
    lock = nmap.mutex(("sslcert-cache-mutex", _field(host, "ip"), number))
    async with lock:
        cached = registry.get("ssl-cert", {}).get(number)
        if isinstance(cached, Certificate):
            stdnse.debug(2, "sslcert: Returning cached SSL certificate")
            return cached
        cert = await _fetch(host, port)
        if cert is None:
            raise SocketError("No certificate found")
        registry.setdefault("ssl-cert", {})[number] = cert
        return cert


async def _fetch(host: Any, port: Any) -> Certificate | None:
    tunnelled = _tunnel(port) == "ssl"
    cert: Certificate | None = None
    wrapped = _lookup(_WRAPPED, port)
    if wrapped is not None and not tunnelled:
        stdnse.debug(1, "Wrapper function error: TDS is not implemented in nmapx")
    special = _lookup(_WITH_RECONNECT, port)
    if special is not None and not tunnelled:
        try:
            sock = await _with_registry_check(special)(host, port)
        except SocketError as error:
            stdnse.debug(1, "Specialized function error: %s", error)
        else:
            try:
                cert = _from_socket(sock)
            finally:
                sock.close()
    if cert is None:
        sock = nmap.new_socket()
        try:
            await sock.connect(host, port, "ssl")
        except SocketError as error:
            stdnse.debug(1, "SSL connect error: %s", error)
        else:
            cert = _from_socket(sock)
        finally:
            sock.close()
    if cert is None:
        sock = nmap.new_socket()
        try:
            await sock.connect(host, port)
        except SocketError as error:
            stdnse.debug(1, "Connect error: %s", error)
        else:
            try:
                cert = await _handshake_cert(sock)
            except SocketError as error:
                stdnse.debug(1, "%s", error)
        finally:
            sock.close()
    return cert
