"""Retrieves a server's SSL certificate. The amount of information printed about the
certificate depends on the verbosity level. With no extra verbosity, the script prints the
validity period and the commonName, organizationName, stateOrProvinceName, and countryName of
the subject.

With ``-v`` it adds the issuer name, the public key, the signature algorithm and the
fingerprints; with ``-vv`` every subject and issuer field and the PEM-encoded certificate.

A port of Nmap 7.93's ``ssl-cert.nse``: the same rule (likely-SSL ports and the STARTTLS
services ``sslcert`` knows), the same lines in the same order, the same structured output
(``subject``, ``issuer``, ``pubkey``, ``extensions``, ``sig_algo``, ``validity``, ``md5``,
``sha1``, ``pem``). As in 7.93 the MD5 and SHA-1 lines are unbroken hex: 7.93's
``stdnse.tohex`` drops the separator it is asked for. At ``-vv``, fields beyond the four
above follow in the certificate's order, where Nmap's order is that of a Lua table walk
(random per run).

@usage nmapx run scan.xml --script ssl-cert
@args tls.servername Hostname to send in the TLS Server Name Indication extension.
@args smtp.domain The domain sent in EHLO before SMTP STARTTLS.
@output
    443/tcp open  https
    | ssl-cert: Subject: commonName=www.paypal.com/organizationName=PayPal, Inc.\\
    /stateOrProvinceName=California/countryName=US
    | Not valid before: 2011-03-23T00:00:00
    |_Not valid after:  2013-04-01T23:59:59
"""

from __future__ import annotations

from typing import Any

from nmapx.nse import NseHost, Port, nmap, shortport, sslcert, stdnse, tls
from nmapx.nse.errors import SocketError

author = "David Fifield (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "safe", "discovery"]
dependencies = ["https-redirect"]

#: The subject and issuer fields shown, in this order, below ``-vv``.
NON_VERBOSE_FIELDS = ("commonName", "organizationName", "stateOrProvinceName", "countryName")


def portrule(host: NseHost, port: Port) -> bool:
    return bool(
        shortport.ssl(host, port)
        or sslcert.is_port_supported(port)
        or sslcert.get_prepare_tls_without_reconnect(port)
    )


def maybe_decode(value: bytes) -> bytes:
    """UTF-16 (a BMPString, recognised by a zero byte first or second) as UTF-8; else as is.

    A value that does not decode gives b"" (the Lua ``maybe_decode(v) or ''``).
    """
    if len(value) < 2 or len(value) % 2:
        return value
    if value[0] > 0 and value[1] == 0:
        codec = "utf-16-le"
    elif value[0] == 0 and value[1] > 0:
        codec = "utf-16-be"
    else:
        return value
    try:
        return value.decode(codec, "surrogatepass").encode("utf-8", "surrogatepass")
    except UnicodeError:
        return b""


def stringify_name(name: dict[str, bytes]) -> bytes:
    fields = [
        key.encode() + b"=" + maybe_decode(name[key]) for key in NON_VERBOSE_FIELDS if key in name
    ]
    if nmap.verbosity() > 1:
        fields += [
            key.encode() + b"=" + maybe_decode(value)
            for key, value in name.items()
            if key not in NON_VERBOSE_FIELDS
        ]
    return b"/".join(fields)


def date_to_string(date: sslcert.DateTable | bytes | None) -> bytes:
    if date is None:
        return b"MISSING"
    if isinstance(date, bytes):
        return b"Can't parse; string is \"" + date + b'"'
    return date.format_timestamp().encode()


def _bn2hex(value: int) -> str:
    """OpenSSL's ``BN_bn2hex``: uppercase, whole bytes, ``0`` for zero."""
    if value == 0:
        return "0"
    sign, value = ("-", -value) if value < 0 else ("", value)
    text = f"{value:X}"
    return sign + ("0" + text if len(text) % 2 else text)


def output_tab(cert: sslcert.Certificate) -> stdnse.OutputTable:
    out = stdnse.output_table()
    out["subject"] = dict(sorted(cert.subject.items()))
    out["issuer"] = dict(sorted(cert.issuer.items()))
    pubkey = stdnse.output_table()
    pubkey["type"] = cert.pubkey.type
    pubkey["bits"] = cert.pubkey.bits
    if cert.pubkey.type == "rsa" and cert.pubkey.modulus is not None:
        pubkey["modulus"] = _bn2hex(cert.pubkey.modulus)
        pubkey["exponent"] = str(cert.pubkey.exponent)
    elif cert.pubkey.type == "ec" and cert.pubkey.ecdhparams is not None:
        source = cert.pubkey.ecdhparams["curve_params"]
        params = stdnse.output_table()
        params["ec_curve_type"] = source.get("ec_curve_type")
        params["curve"] = source.get("curve")
        pubkey["ecdhparams"] = {"curve_params": params}
    out["pubkey"] = pubkey
    if cert.extensions:
        extensions = []
        for extension in cert.extensions:
            entry = stdnse.output_table()
            entry["name"] = extension.name
            entry["value"] = extension.value
            entry["critical"] = extension.critical
            extensions.append(entry)
        out["extensions"] = extensions
    out["sig_algo"] = cert.sig_algorithm
    validity = stdnse.output_table()
    for key, value in (
        ("notBefore", cert.validity.notBefore),
        ("notAfter", cert.validity.notAfter),
    ):
        validity[key] = value.format_timestamp() if isinstance(value, sslcert.DateTable) else value
    out["validity"] = validity
    out["md5"] = stdnse.tohex(cert.digest("md5") or b"")
    out["sha1"] = stdnse.tohex(cert.digest("sha1") or b"")
    out["pem"] = cert.pem
    return out


def output_str(cert: sslcert.Certificate) -> bytes:
    lines = [b"Subject: " + stringify_name(cert.subject)]
    for extension in cert.extensions or ():
        if extension.name == "X509v3 Subject Alternative Name":
            if extension.value is not None:
                lines.append(b"Subject Alternative Name: " + extension.value)
            break
    verbose = nmap.verbosity() > 0
    if verbose:
        lines.append(b"Issuer: " + stringify_name(cert.issuer))
        lines.append(f"Public Key type: {cert.pubkey.type}".encode())
        lines.append(f"Public Key bits: {cert.pubkey.bits}".encode())
        lines.append(f"Signature Algorithm: {cert.sig_algorithm}".encode())
    lines.append(b"Not valid before: " + date_to_string(cert.validity.notBefore))
    lines.append(b"Not valid after:  " + date_to_string(cert.validity.notAfter))
    if verbose:
        # Nmap 7.93's stdnse.tohex ignores the separator: unbroken hex, as Nmap prints it.
        lines.append(b"MD5:   " + stdnse.tohex(cert.digest("md5") or b"").encode())
        lines.append(b"SHA-1: " + stdnse.tohex(cert.digest("sha1") or b"").encode())
    if nmap.verbosity() > 1:
        lines.append(cert.pem.encode())
    return b"\n".join(lines)


async def action(host: NseHost, port: Port) -> tuple[Any, bytes] | None:
    host.targetname = tls.servername(host)
    try:
        cert = await sslcert.get_certificate(host, port)
    except SocketError as error:
        stdnse.debug(1, "getCertificate error: %s", error)
        return None
    return output_tab(cert), output_str(cert)
