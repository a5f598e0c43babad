"""nmapx.nse.sslcert and nmapx.nse.tls, and the ssl-cert script against real Nmap 7.93.

Certificates are made here with ``cryptography`` (fixtures/tls_servers.py): an RSA one with a
non-ASCII organisation and DNS, IP, e-mail and URI subjectAltNames, and an expired EC P-256
one. Servers run on 127.0.0.1 of a private network namespace made for each test (the
``in_private_network`` fixture: the test runs inside it too), from a thread, bounded in time,
and stop in teardown; against Nmap they sit on the ports Nmap's tables name (443, 8443, ...
for TLS, 21, 25, 110, 119 and 143 for STARTTLS), which the namespace always has free.
Hostile peers (garbage instead of a ServerHello, a 1 MB certificate chain, a chain that
never ends) must end in bounded time and memory without a traceback.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import hashlib
import re
import struct
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import in_script_thread, needs_nmap, nmapx_main, normal_script_blocks
from cryptography.hazmat.primitives import serialization

from fixtures.tls_servers import (
    RSA_LOCALITY,
    RSA_ORGANIZATION,
    TLSServer,
    expired_ec_cert,
    rsa_cert,
    server_hello,
)
from nmapx.model.host import NseHost
from nmapx.model.ports import Port, Version
from nmapx.nse import sslcert, tls
from nmapx.nse.errors import SocketError
from nmapx.nse.sockets import NseSocket
from nmapx.nse.sslcert import DateTable, Extension, PublicKey, Validity

LOOP = "127.0.0.1"


# =============================================================================== harness
def run_thread(body: Callable[[], Awaitable[Any]], limit: float = 60) -> Any:
    """Run ``body`` as a script thread (the library needs one), bounded by ``limit``."""
    return in_script_thread(body, phase="portrule", limit=limit)[0]


def make_host() -> NseHost:
    return NseHost(
        ip=LOOP,
        name="",
        targetname=None,
        reason="",
        reason_ttl=0,
        mac_addr=None,
        bin_ip=None,
        times={"timeout": 2.0},
        traceroute=[],
        os_fp=None,
        os=None,
    )


def make_port(number: int, service: str | None = None, tunnel: str = "none") -> Port:
    return Port(
        number=number,
        protocol="tcp",
        state="open",
        service=service,
        version=Version(name=service, service_tunnel=tunnel),
    )


@pytest.fixture
def servers(in_private_network: Any) -> Iterator[Callable[..., TLSServer]]:
    """Makes servers inside the test's private network (the test runs in it too)."""
    made: list[TLSServer] = []

    def make(*args: Any, **kwargs: Any) -> TLSServer:
        server = TLSServer(*args, **kwargs)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


def fetch(port: Port, host: NseHost | None = None, limit: float = 60) -> sslcert.Certificate:
    target = host or make_host()
    return run_thread(lambda: sslcert.get_certificate(target, port), limit)  # type: ignore[no-any-return]


# =============================================================================== parsing
RSA_SAN = (
    b"DNS:tls.test.example, DNS:www.tls.test.example, IP Address:127.0.0.1, "
    b"IP Address:192.0.2.7, IP Address:2001:DB8:0:0:1:0:0:1, email:hostmaster@tls.test.example, "
    b"URI:https://tls.test.example/"
)


def test_rsa_certificate_fields_are_nses() -> None:
    pair = rsa_cert()
    cert = sslcert.parse_ssl_certificate(pair.der)
    subject = {
        "countryName": b"DE",
        "stateOrProvinceName": b"Bayern",
        "localityName": RSA_LOCALITY.encode(),
        "organizationName": RSA_ORGANIZATION.encode(),
        "commonName": b"tls.test.example",
    }
    assert cert.subject == subject and list(cert.subject) == list(subject)  # certificate order
    assert cert.issuer == subject
    assert cert.sig_algorithm == "sha256WithRSAEncryption"
    assert cert.validity == Validity(
        DateTable(2024, 1, 2, 3, 4, 5), DateTable(2049, 12, 31, 23, 59, 59)
    )
    assert cert.validity.notBefore.format_timestamp() == "2024-01-02T03:04:05"  # type: ignore[union-attr]
    numbers = pair.cert.public_key().public_numbers()  # type: ignore[union-attr]
    assert cert.pubkey == PublicKey("rsa", 2048, numbers.n, 65537)
    skid = ":".join(f"{b:02X}" for b in pair.cert.extensions[4].value.digest)
    assert cert.extensions == [
        Extension("X509v3 Subject Alternative Name", RSA_SAN),
        Extension("X509v3 Basic Constraints", b"CA:FALSE", critical=True),
        Extension("X509v3 Key Usage", b"Digital Signature, Key Encipherment", critical=True),
        Extension(
            "X509v3 Extended Key Usage",
            b"TLS Web Server Authentication, TLS Web Client Authentication",
        ),
        Extension("X509v3 Subject Key Identifier", skid.encode()),
        Extension("X509v3 Authority Key Identifier", skid.encode()),
        Extension(
            "X509v3 CRL Distribution Points",
            b"Full Name:\n  URI:http://crl.test.example/ca.crl",
        ),
        Extension(
            "Authority Information Access",
            b"OCSP - URI:http://ocsp.test.example\nCA Issuers - URI:http://ca.test.example/ca.der",
        ),
        Extension(
            "X509v3 Certificate Policies",
            b"Policy: 2.23.140.1.2.2\nPolicy: 1.3.6.1.4.1.99999.1\n  CPS: https://cps.test.example",
        ),
    ]
    assert cert.pem == pair.cert_pem.decode()
    assert cert.der == pair.der
    assert cert.digest("md5") == hashlib.md5(pair.der).digest()
    assert cert.digest("sha1") == hashlib.sha1(pair.der).digest()
    assert cert.digest("SHA256") == hashlib.sha256(pair.der).digest()
    assert cert.digest("no-such-digest") is None
    assert cert["subject"] is cert.subject


def test_expired_ec_certificate_fields_are_nses() -> None:
    pair = expired_ec_cert()
    cert = sslcert.parse_ssl_certificate(pair.der)
    assert cert.subject == {"commonName": b"expired.test.example", "organizationalUnitName": b"Ops"}
    assert cert.sig_algorithm == "ecdsa-with-SHA256"
    assert cert.validity == Validity(
        DateTable(2020, 1, 1, 0, 0, 0), DateTable(2021, 1, 1, 12, 0, 0)
    )
    assert cert.pubkey == PublicKey(
        "ec",
        256,
        ecdhparams={"curve_params": {"curve": "prime256v1", "ec_curve_type": "namedcurve"}},
    )
    assert cert.extensions is None


def test_raw_name_bytes_and_unparsable_input() -> None:
    """Name values are the raw ASN.1 bytes (a BMPString stays UTF-16BE, as in NSE)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Bäck", _type=x509.name._ASN1Type.BMPString),
            x509.NameAttribute(x509.ObjectIdentifier("1.2.3.4.5"), "odd"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "one"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "two"),
        ]
    )
    import datetime

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.datetime(1999, 12, 31, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2050, 6, 1, tzinfo=datetime.UTC))
        .sign(key, hashes.SHA384())
    )
    parsed = sslcert.parse_ssl_certificate(cert.public_bytes(serialization.Encoding.DER))
    # the later organizationalUnitName replaces the earlier one (a Lua table assignment)
    assert parsed.subject == {
        "commonName": "Bäck".encode("utf-16-be"),
        "1.2.3.4.5": b"odd",
        "organizationalUnitName": b"two",
    }
    assert parsed.validity.notAfter == DateTable(2050, 6, 1, 0, 0, 0)  # a GeneralizedTime
    assert parsed.pubkey.bits == 384
    assert parsed.pubkey.ecdhparams == {
        "curve_params": {"curve": "secp384r1", "ec_curve_type": "namedcurve"}
    }
    for junk in (b"", b"\x30\x03\x02\x01\x01", b"not a certificate at all" * 10):
        with pytest.raises(ValueError):
            sslcert.parse_ssl_certificate(junk)


def _openssl_extension_texts(der: bytes) -> list[tuple[str, bytes | None]] | None:
    """OpenSSL's own ``X509V3_EXT_print`` at indent 0 (what NSE stores), through ctypes."""
    path = ctypes.util.find_library("crypto")
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
        lib.X509V3_EXT_print  # noqa: B018 - is the symbol there?
    except (OSError, AttributeError):
        return None
    vp, cp = ctypes.c_void_p, ctypes.c_char_p
    lib.d2i_X509.restype = vp
    lib.d2i_X509.argtypes = [vp, ctypes.POINTER(cp), ctypes.c_long]
    lib.X509_get_ext_count.argtypes = [vp]
    lib.X509_get_ext.restype, lib.X509_get_ext.argtypes = vp, [vp, ctypes.c_int]
    lib.BIO_s_mem.restype = vp
    lib.BIO_new.restype, lib.BIO_new.argtypes = vp, [vp]
    lib.X509V3_EXT_print.argtypes = [vp, vp, ctypes.c_ulong, ctypes.c_int]
    lib.BIO_ctrl.restype, lib.BIO_ctrl.argtypes = (
        ctypes.c_long,
        [vp, ctypes.c_int, ctypes.c_long, vp],
    )
    lib.BIO_free.argtypes = [vp]
    lib.X509_free.argtypes = [vp]
    lib.X509_EXTENSION_get_object.restype, lib.X509_EXTENSION_get_object.argtypes = vp, [vp]
    lib.OBJ_obj2txt.argtypes = [cp, ctypes.c_int, vp, ctypes.c_int]
    buffer = cp(der)
    cert = lib.d2i_X509(None, ctypes.byref(buffer), len(der))
    assert cert
    texts = []
    try:
        for index in range(lib.X509_get_ext_count(cert)):
            ext = lib.X509_get_ext(cert, index)
            name = ctypes.create_string_buffer(256)
            lib.OBJ_obj2txt(name, 256, lib.X509_EXTENSION_get_object(ext), 0)
            bio = lib.BIO_new(lib.BIO_s_mem())
            ok = lib.X509V3_EXT_print(bio, ext, 0, 0)
            data = ctypes.c_char_p()
            size = lib.BIO_ctrl(bio, 3, 0, ctypes.byref(data))  # BIO_get_mem_data
            texts.append((name.value.decode(), ctypes.string_at(data, size) if ok else None))
            lib.BIO_free(bio)
    finally:
        lib.X509_free(cert)
    return texts


def _many_extensions() -> list[bytes]:
    """Certificates with every extension sslcert renders, in their less common forms too."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    plain = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    odd = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'A, "B" Ö/x'),
        ]
    )
    reasons = frozenset([x509.ReasonFlags.key_compromise, x509.ReasonFlags.superseded])
    sets: list[list[tuple[x509.ExtensionType, bool]]] = [
        [
            (x509.BasicConstraints(ca=True, path_length=2), True),
            (
                x509.AuthorityKeyIdentifier(b"\x01\x02\x03", [x509.DirectoryName(odd)], 0x0102AB),
                False,
            ),
            (
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier("http://a/b")],
                            None,
                            reasons,
                            [x509.DirectoryName(odd)],
                        ),
                        x509.DistributionPoint(
                            None,
                            x509.RelativeDistinguishedName(
                                [x509.NameAttribute(NameOID.COMMON_NAME, "rel")]
                            ),
                            None,
                            [x509.DNSName("x.y")],
                        ),
                    ]
                ),
                False,
            ),
            (
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.OCSP, x509.DNSName("q")
                        ),
                        x509.AccessDescription(
                            x509.ObjectIdentifier("1.2.3.4"), x509.RFC822Name("a@b")
                        ),
                    ]
                ),
                False,
            ),
            (
                x509.CertificatePolicies(
                    [
                        x509.PolicyInformation(
                            x509.ObjectIdentifier("2.5.29.32.0"), [x509.UserNotice(None, "text")]
                        ),
                        x509.PolicyInformation(
                            x509.ObjectIdentifier("1.2.3"),
                            [
                                "http://cps",
                                x509.UserNotice(x509.NoticeReference("Org", [1, 2]), "t"),
                            ],
                        ),
                    ]
                ),
                False,
            ),
            (
                x509.NameConstraints(
                    [
                        x509.DNSName("example.com"),
                        x509.IPAddress(ipaddress.ip_network("10.0.0.0/8")),
                    ],
                    [x509.IPAddress(ipaddress.ip_network("2001:db8::/32"))],
                ),
                True,
            ),
            (x509.PolicyConstraints(0, 1), True),
            (x509.InhibitAnyPolicy(3), False),
            (x509.TLSFeature([x509.TLSFeatureType.status_request]), False),
            (x509.OCSPNoCheck(), False),
            (x509.PrecertPoison(), True),
        ],
        [
            (x509.KeyUsage(True, True, True, True, True, True, True, True, True), False),
            (
                x509.ExtendedKeyUsage(
                    [
                        ExtendedKeyUsageOID.CODE_SIGNING,
                        x509.ObjectIdentifier("1.2.3.4"),
                        ExtendedKeyUsageOID.OCSP_SIGNING,
                    ]
                ),
                False,
            ),
            (
                x509.IssuerAlternativeName(
                    [
                        x509.RegisteredID(x509.ObjectIdentifier("1.2.3")),
                        x509.OtherName(
                            x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), b"\x0c\x03a@b"
                        ),
                        x509.OtherName(x509.ObjectIdentifier("1.2.9"), b"\x16\x03abc"),
                        x509.OtherName(x509.ObjectIdentifier("1.2.10"), b"\x05\x00"),
                        x509.DirectoryName(odd),
                    ]
                ),
                False,
            ),
            (
                x509.UnrecognizedExtension(
                    x509.ObjectIdentifier("2.16.840.1.113730.1.13"), b"\x16\x05hello"
                ),
                False,
            ),
            (
                x509.UnrecognizedExtension(
                    x509.ObjectIdentifier("2.16.840.1.113730.1.1"), b"\x03\x02\x06\x40"
                ),
                False,
            ),
            (x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4.5"), b"\x05\x00"), False),
            (x509.AuthorityKeyIdentifier(None, None, None), False),
        ],
    ]

    def sct(version: int = 0, ext: bytes = b"", alg: bytes = b"\x04\x03", stamp: int = 0) -> bytes:
        sig = bytes(range(71))
        body = bytes([version]) + bytes(range(32, 64)) + struct.pack(">Q", stamp)
        body += struct.pack(">H", len(ext)) + ext + alg + struct.pack(">H", len(sig)) + sig
        return struct.pack(">H", len(body)) + body

    def sct_list(*scts: bytes) -> bytes:
        inner = struct.pack(">H", len(b"".join(scts))) + b"".join(scts)
        return b"\x04\x82" + struct.pack(">H", len(inner)) + inner

    ct = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
    sets.append(
        [
            (
                x509.UnrecognizedExtension(
                    ct,
                    sct_list(
                        sct(stamp=1678700000123),
                        sct(ext=bytes(20), alg=b"\x04\x01", stamp=86400000 * 3 + 5),
                        sct(version=1),
                    ),
                ),
                False,
            ),
            (
                x509.UnrecognizedExtension(
                    x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.5"),
                    sct_list(sct(alg=b"\x02\x03")),  # an algorithm OpenSSL refuses
                ),
                False,
            ),
        ]
    )
    made = []
    for extensions in sets:
        builder = (
            x509.CertificateBuilder()
            .subject_name(plain)
            .issuer_name(plain)
            .public_key(key.public_key())
            .serial_number(7)
            .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
            .not_valid_after(datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        made.append(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    return made


@pytest.mark.parametrize("which", ["rsa", "many0", "many1", "many2"])
def test_extension_texts_are_openssls(which: str) -> None:
    """Every extension's name and text equal what OpenSSL itself prints for NSE."""
    der = rsa_cert().der if which == "rsa" else _many_extensions()[int(which[-1])]
    expected = _openssl_extension_texts(der)
    if expected is None:
        pytest.skip("libcrypto is not loadable")
    cert = sslcert.parse_ssl_certificate(der)
    assert [(e.name, e.value) for e in cert.extensions or []] == expected


# =============================================================================== tls.py
def test_client_hello_carries_the_chosen_ciphers_sni_and_alpn() -> None:
    hello = tls.client_hello(
        "TLSv1.2",
        ciphers=["TLS_RSA_WITH_AES_128_CBC_SHA", 0xC02F],
        extensions={
            "server_name": tls.EXTENSION_HELPERS["server_name"]("tls.test.example"),
            "application_layer_protocol_negotiation": tls.EXTENSION_HELPERS[
                "application_layer_protocol_negotiation"
            ](["h2", "http/1.1"]),
        },
        gmt_unix_time=0x01020304,
        random=bytes(28),
    )
    assert hello[:3] == b"\x16\x03\x01"  # handshake record, TLS 1.0 record version
    assert struct.unpack(">H", hello[3:5])[0] == len(hello) - 5
    body = hello[9:]
    assert hello[5] == 1 and int.from_bytes(hello[6:9], "big") == len(body)
    assert body[:6] == b"\x03\x03\x01\x02\x03\x04" and body[6:34] == bytes(28)
    assert body[34] == 0  # empty session id
    assert body[35:41] == b"\x00\x04\x00\x2f\xc0\x2f"
    assert body[41:43] == b"\x01\x00"  # NULL compression only
    extensions = body[45:]
    assert struct.unpack(">H", body[43:45])[0] == len(extensions)
    sni = b"\x00\x00\x00\x15\x00\x13\x00\x00\x10tls.test.example"
    alpn = b"\x00\x10\x00\x0e\x00\x0c\x02h2\x08http/1.1"
    assert extensions.startswith(sni + alpn)
    assert extensions[len(sni + alpn) : len(sni + alpn) + 2] == b"\x00\x0d"  # sigalgs added
    # TLS 1.3 by default: supported_versions, key_share and supported_groups are added
    default = tls.client_hello()
    for code in (43, 51, 10):
        assert struct.pack(">H", code) in default[47:]


def test_server_hello_time_and_alpn_are_read() -> None:
    alpn = b"\x00\x10\x00\x05\x00\x03\x02h2"
    record = tls.record_write("handshake", "TLSv1.2", server_hello(0x5F5E1000, alpn))
    position, parsed, more = tls.record_read(record + b"\x16\x03", 0)
    assert position == len(record) and more and parsed is not None
    assert parsed["type"] == "handshake" and parsed["protocol"] == "TLSv1.2"
    message = parsed["body"][0]
    assert message["type"] == "server_hello"
    assert message["time"] == 0x5F5E1000 and message["protocol"] == "TLSv1.2"
    assert message["cipher"] == "TLS_RSA_WITH_AES_128_CBC_SHA"
    assert message["extensions"] == {"application_layer_protocol_negotiation": b"\x00\x03\x02h2"}
    # incomplete, not TLS, an alert, and a message split across two records
    assert tls.record_read(record[:-1], 0) == (0, None, True)
    assert tls.record_read(b"HTTP/1.1 400", 0)[1:] == (None, False)
    alert = tls.record_read(b"\x15\x03\x03\x00\x02\x02\x28", 0)[1]
    assert alert is not None and alert["body"] == [
        {"level": "fatal", "description": "handshake_failure"}
    ]
    message_bytes = server_hello()
    first = tls.record_write("handshake", "TLSv1.2", message_bytes[:10])
    second = tls.record_write("handshake", "TLSv1.2", message_bytes[10:])
    stop, one, _ = tls.record_read(first + second, 0)
    assert one is not None and one["body"] == [] and one["fragment"] == message_bytes[:10]
    _, two, _ = tls.record_read(first + second, stop, one["fragment"])
    assert two is not None and two["body"][0]["time"] == 0x5F5E1000
    # malformed messages end the record's messages; they never raise
    for junk in (b"\x02\x00\x00\x03abc", b"\x0b\x00\x00\x06\xff\xff\xff\x00\x00\x01"):
        tls.record_read(tls.record_write("handshake", "TLSv1.2", junk), 0)


def test_record_buffer_reads_exactly_one_record(servers: Callable[..., TLSServer]) -> None:
    record = tls.record_write("handshake", "TLSv1.2", server_hello())

    async def body() -> tuple[bytes, str]:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(record[:3])
            await writer.drain()
            await asyncio.sleep(0.1)
            writer.write(record[3:] + b"HTTP")
            await writer.drain()
            await asyncio.sleep(1)
            writer.close()

        server = await asyncio.start_server(handler, LOOP, 0)
        port = server.sockets[0].getsockname()[1]
        try:
            sock = NseSocket()
            await sock.connect(LOOP, port)
            got = await tls.record_buffer(sock)
            sock.close()
            sock = NseSocket()
            sock.set_timeout(500)
            await sock.connect(LOOP, port)
            try:
                await tls.record_buffer(sock, b"GET / HTTP/1.0\r\n")
            except tls.RecordError as error:
                status = error.status
            sock.close()
            return got, status
        finally:
            server.close()

    got, status = run_thread(body)
    assert got.startswith(record)
    assert status == "Unknown TLS protocol version or content type"


# =============================================================================== network
def test_get_certificate_direct_tls_and_cache(servers: Callable[..., TLSServer]) -> None:
    server = servers("tls", rsa_cert())
    host = make_host()
    cert = fetch(make_port(server.port), host)
    assert cert.der == rsa_cert().der
    assert host.registry["ssl-cert"][server.port] is cert
    before = server.connections
    assert fetch(make_port(server.port), host) is cert  # from the registry
    assert server.connections == before


def test_get_certificate_expired_ec(servers: Callable[..., TLSServer]) -> None:
    server = servers("tls", expired_ec_cert())
    assert fetch(make_port(server.port)).der == expired_ec_cert().der


@pytest.mark.parametrize(
    "mode, service, dialogue",
    [
        ("smtp", "smtp", [b"EHLO nmap.scanme.org", b"STARTTLS"]),
        ("imap", "imap", [b"A001 CAPABILITY", b"A002 STARTTLS"]),
        ("pop3", "pop3", [b"STLS"]),
        ("ftp", "ftp", [b"AUTH TLS"]),
    ],
)
def test_starttls(
    servers: Callable[..., TLSServer], mode: str, service: str, dialogue: list[bytes]
) -> None:
    server = servers(mode, expired_ec_cert())
    port = make_port(server.port, service)
    assert sslcert.is_port_supported(port) and sslcert.get_prepare_tls_without_reconnect(port)
    host = make_host()
    cert = fetch(port, host)
    assert cert.der == expired_ec_cert().der
    assert server.commands == dialogue
    assert server.connections == 1  # the STARTTLS dance did it: no fallback connection
    assert host.registry["starttls"] == {f"{server.port}/tcp": True}


def test_starttls_rules_follow_nmaps_tables() -> None:
    assert sslcert.is_port_supported(make_port(25)) is not None
    assert sslcert.is_port_supported(make_port(4444, "pop3")) is not None
    assert sslcert.is_port_supported(make_port(4444, "lmtp")) is not None
    assert sslcert.is_port_supported(make_port(443, "https")) is None
    assert sslcert.is_port_supported(make_port(25, "smtp", tunnel="ssl")) is None
    udp = Port(number=25, protocol="udp", state="open", service="smtp")
    assert sslcert.is_port_supported(udp) is None
    # ms-sql-s: a STARTTLS-like wrapper, never a full SSL connection
    assert sslcert.get_prepare_tls_without_reconnect(make_port(1433, "ms-sql-s")) is not None


def test_refused_starttls_is_remembered(servers: Callable[..., TLSServer]) -> None:
    server = servers("smtp-refuse")
    host = make_host()
    port = make_port(server.port, "smtp")
    with pytest.raises(SocketError, match="No certificate found"):
        fetch(port, host)
    assert host.registry["starttls"] == {f"{server.port}/tcp": False}
    assert server.commands[:3] == [b"EHLO nmap.scanme.org", b"STARTTLS", b"QUIT"]
    commands = len(server.commands)
    with pytest.raises(SocketError):
        fetch(port, host)
    # the second time the SMTP dance is skipped ("Previous STARTTLS attempt failed")
    assert b"EHLO nmap.scanme.org" not in server.commands[commands:]


def test_garbage_instead_of_server_hello(servers: Callable[..., TLSServer]) -> None:
    server = servers("garbage")
    started = time.monotonic()
    with pytest.raises(SocketError, match="No certificate found"):
        fetch(make_port(server.port))
    assert time.monotonic() - started < 10


def test_megabyte_chain_gives_the_leaf_within_bounds(servers: Callable[..., TLSServer]) -> None:
    """OpenSSL refuses a 1 MB chain (100 KiB limit); the hand-made handshake reads it."""
    server = servers("bigchain", rsa_cert(), chain_bytes=1_000_000)
    started = time.monotonic()
    cert = fetch(make_port(server.port))
    assert cert.der == rsa_cert().der
    assert time.monotonic() - started < 20
    assert server.sent > 1_000_000


def test_endless_chain_is_cut_off(servers: Callable[..., TLSServer]) -> None:
    server = servers("endless", per_connection=30)
    started = time.monotonic()
    with pytest.raises(SocketError, match="No certificate found"):
        fetch(make_port(server.port), limit=60)
    assert time.monotonic() - started < 25
    # OpenSSL stops at 100 KiB, the hand-made handshake at MAX_HANDSHAKE (plus a record);
    # what the server got out beyond that sits in socket buffers
    assert server.connections == 2
    assert sslcert.MAX_HANDSHAKE < server.sent < 2 * sslcert.MAX_HANDSHAKE + (8 << 20)


def test_socket_get_ssl_certificate(servers: Callable[..., TLSServer]) -> None:
    server = servers("tls", expired_ec_cert())

    async def body() -> tuple[bytes | None, str]:
        sock = NseSocket()
        await sock.connect(LOOP, server.port, "ssl")
        der = sock.get_ssl_certificate()
        sock.close()
        plain = NseSocket()
        await plain.connect(LOOP, server.port)
        try:
            plain.get_ssl_certificate()
        except ValueError as error:
            message = str(error)
        plain.close()
        return der, message

    der, message = run_thread(body)
    assert der == expired_ec_cert().der
    assert "not a SSL socket" in message


# =============================================================================== against Nmap
def _script_elements(xml: bytes) -> dict[str, bytes]:
    """portid -> the port's ssl-cert ``<script>`` element, exactly as written."""
    found = {}
    for port in re.finditer(rb'<port protocol="tcp" portid="(\d+)">(.*?)</port>', xml, re.S):
        script = re.search(rb'<script id="ssl-cert".*?</script>', port[2], re.S)
        if script:
            found[port[1].decode()] = script[0]
    return found


@needs_nmap
@pytest.mark.parametrize(
    "selection, verbosity",
    [("ssl-cert", []), ("ssl-cert", ["-v"]), ("default and safe and discovery", [])],
    ids=["by-name(-v)", "by-name-v(-vv)", "category(v0)"],
)
def test_ssl_cert_is_byte_identical_to_nmap(
    tmp_path: Path, servers: Callable[..., TLSServer], selection: str, verbosity: list[str]
) -> None:
    """The same servers, real Nmap 7.93 and nmapx: the ``<script>`` elements byte for byte.

    RSA (non-ASCII organisation, DNS and IP SANs), expired EC, a 1 MB chain (both read it by
    hand after OpenSSL refuses it) and garbage (no output on either side).
    """
    rsa_port, ec_port, big_port, junk_port = 443, 8443, 4433, 9001  # shortport.ssl's
    servers("tls", rsa_cert(), port=rsa_port)
    servers("tls", expired_ec_cert(), port=ec_port)
    servers("bigchain", rsa_cert(), port=big_port)
    servers("garbage", port=junk_port)
    ports = f"{rsa_port},{ec_port},{big_port},{junk_port}"
    scan = tmp_path / "scan.xml"
    subprocess.run(
        ["nmap", "-n", "-Pn", "-sT", "-p", ports, LOOP, "-oX", str(scan)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    nmap_normal, ours_normal = tmp_path / "nmap.nmap", tmp_path / "nmapx.nmap"
    nmap_run = subprocess.run(
        ["nmap", "-n", "-Pn", "-sT", "-p", ports, *verbosity, "--script", selection, LOOP,
         "-oX", "-", "-oN", str(nmap_normal)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    out = tmp_path / "nmapx.xml"
    result = nmapx_main(
        "run", str(scan), *verbosity, "--script", selection, "-oX", str(out),
        "-oN", str(ours_normal),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = _script_elements(nmap_run.stdout)
    assert set(expected) == {str(rsa_port), str(ec_port), str(big_port)}
    assert _script_elements(out.read_bytes()) == expected
    expected_normal = normal_script_blocks(nmap_normal.read_bytes(), ["ssl-cert"])
    assert normal_script_blocks(ours_normal.read_bytes(), ["ssl-cert"]) == expected_normal
    assert {port for _, port, _ in expected_normal} == {rsa_port, ec_port, big_port}
    assert b"M\\xC3\\xBCller" in expected[str(rsa_port)]


#: The STARTTLS services on the ports Nmap's service table names (so no -sV is needed).
STARTTLS_PORTS = {"ftp": 21, "smtp": 25, "pop3": 110, "nntp": 119, "imap": 143}


@needs_nmap
def test_starttls_ssl_cert_is_byte_identical_to_nmap(
    tmp_path: Path, servers: Callable[..., TLSServer]
) -> None:
    """FTP, SMTP, POP3, NNTP and IMAP STARTTLS on their well-known ports."""
    for mode, number in STARTTLS_PORTS.items():
        servers(mode, rsa_cert() if mode in ("smtp", "imap") else expired_ec_cert(), port=number)
    ports = ",".join(str(n) for n in STARTTLS_PORTS.values())
    scan = tmp_path / "scan.xml"
    subprocess.run(
        ["nmap", "-n", "-Pn", "-sT", "-p", ports, LOOP, "-oX", str(scan)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    nmap_normal, ours_normal = tmp_path / "nmap.nmap", tmp_path / "nmapx.nmap"
    nmap_run = subprocess.run(
        ["nmap", "-n", "-Pn", "-sT", "-p", ports, "--script", "ssl-cert", LOOP, "-oX", "-",
         "-oN", str(nmap_normal)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    out = tmp_path / "nmapx.xml"
    result = nmapx_main(
        "run", str(scan), "--script", "ssl-cert", "-oX", str(out), "-oN", str(ours_normal)
    )
    assert result.returncode == 0, result.stderr
    expected = _script_elements(nmap_run.stdout)
    assert set(expected) == {str(n) for n in STARTTLS_PORTS.values()}
    assert _script_elements(out.read_bytes()) == expected
    expected_normal = normal_script_blocks(nmap_normal.read_bytes(), ["ssl-cert"])
    assert normal_script_blocks(ours_normal.read_bytes(), ["ssl-cert"]) == expected_normal
    assert {port for _, port, _ in expected_normal} == set(STARTTLS_PORTS.values())
