#!/usr/bin/env python3
"""Generate large, realistic Nmap 7.93 XML for the nmapx benchmarks.

Why a generator and not a corpus file: benchmarks need 10^4..10^6 hosts, deterministic
content and no multi-gigabyte fixtures in the repository. Why "byte for byte in style":
a pass-through reader is only benchmarked honestly on the bytes Nmap really writes -- the
``<!DOCTYPE nmaprun>`` and stylesheet prologue, ``-&#45;`` and ``&#xa;`` escapes, the
4 KB ``extrareasons ports="..."`` lists, ``<taskbegin>``/``<hosthint>``/down ``<host>``
interleaving that ``-v`` produces, NSE ``<elem>``/``<table>`` layout with its exact
newlines, ``</hostscript>`` without a newline and so on. Everything below was modelled on
real 7.93 output (``nmap -v -A`` on loopback listeners) and on the real scans in
``../shared/corpus/nmap-xml`` (see ``bench/README.md``); Nmap source references are given
where a layout rule comes from.

The simulated run is ``nmap -v -A -T4 --max-retries 2 -iL targets.txt -oX scan.xml``:
top-1000 TCP ports, service/version detection, default scripts, OS detection and
traceroute, scanned in host groups. With ``-v`` Nmap writes down hosts too, so every
target is one ``<host>`` element and ``--hosts N`` is exactly the number of ``<host>``
elements in the document.

Output is streamed group by group (at most one host group, 256 hosts, is held in memory),
so a million hosts can go straight into a pipe::

    python bench/gen_nmap_xml.py --hosts 1000000 | python -m nmapx run - -oX /dev/null

The output is a pure function of ``(--hosts, --seed, --up-ratio)``.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import gzip
import hashlib
import json
import random
import re
import sys
import time
from collections.abc import Iterator, Sequence
from typing import BinaryIO

NMAP_VERSION = "7.93"
XMLOUTPUTVERSION = "1.05"
# Fixed scan start (2024-11-14 12:00:00 UTC) so output never depends on the wall clock.
SCAN_START = 1731585600
HOSTGROUP_FIRST = 64
HOSTGROUP = 256
WRITE_CHUNK = 1 << 20

# The top-1000 TCP ports of nmap-services as Nmap 7.93 lists them in <scaninfo services=...>
# (copied from a real `nmap -sV -oX -` run).
TOP1000_SPEC = (
    "1,3-4,6-7,9,13,17,19-26,30,32-33,37,42-43,49,53,70,79-85,88-90,99-100,106,109-111,113,"
    "119,125,135,139,143-144,146,161,163,179,199,211-212,222,254-256,259,264,280,301,306,311,"
    "340,366,389,406-407,416-417,425,427,443-445,458,464-465,481,497,500,512-515,524,541,"
    "543-545,548,554-555,563,587,593,616-617,625,631,636,646,648,666-668,683,687,691,700,705,"
    "711,714,720,722,726,749,765,777,783,787,800-801,808,843,873,880,888,898,900-903,911-912,"
    "981,987,990,992-993,995,999-1002,1007,1009-1011,1021-1100,1102,1104-1108,1110-1114,1117,"
    "1119,1121-1124,1126,1130-1132,1137-1138,1141,1145,1147-1149,1151-1152,1154,1163-1166,"
    "1169,1174-1175,1183,1185-1187,1192,1198-1199,1201,1213,1216-1218,1233-1234,1236,1244,"
    "1247-1248,1259,1271-1272,1277,1287,1296,1300-1301,1309-1311,1322,1328,1334,1352,1417,"
    "1433-1434,1443,1455,1461,1494,1500-1501,1503,1521,1524,1533,1556,1580,1583,1594,1600,"
    "1641,1658,1666,1687-1688,1700,1717-1721,1723,1755,1761,1782-1783,1801,1805,1812,"
    "1839-1840,1862-1864,1875,1900,1914,1935,1947,1971-1972,1974,1984,1998-2010,2013,"
    "2020-2022,2030,2033-2035,2038,2040-2043,2045-2049,2065,2068,2099-2100,2103,2105-2107,"
    "2111,2119,2121,2126,2135,2144,2160-2161,2170,2179,2190-2191,2196,2200,2222,2251,2260,"
    "2288,2301,2323,2366,2381-2383,2393-2394,2399,2401,2492,2500,2522,2525,2557,2601-2602,"
    "2604-2605,2607-2608,2638,2701-2702,2710,2717-2718,2725,2800,2809,2811,2869,2875,"
    "2909-2910,2920,2967-2968,2998,3000-3001,3003,3005-3007,3011,3013,3017,3030-3031,3052,"
    "3071,3077,3128,3168,3211,3221,3260-3261,3268-3269,3283,3300-3301,3306,3322-3325,3333,"
    "3351,3367,3369-3372,3389-3390,3404,3476,3493,3517,3527,3546,3551,3580,3659,3689-3690,"
    "3703,3737,3766,3784,3800-3801,3809,3814,3826-3828,3851,3869,3871,3878,3880,3889,3905,"
    "3914,3918,3920,3945,3971,3986,3995,3998,4000-4006,4045,4111,4125-4126,4129,4224,4242,"
    "4279,4321,4343,4443-4446,4449,4550,4567,4662,4848,4899-4900,4998,5000-5004,5009,5030,"
    "5033,5050-5051,5054,5060-5061,5080,5087,5100-5102,5120,5190,5200,5214,5221-5222,"
    "5225-5226,5269,5280,5298,5357,5405,5414,5431-5432,5440,5500,5510,5544,5550,5555,5560,"
    "5566,5631,5633,5666,5678-5679,5718,5730,5800-5802,5810-5811,5815,5822,5825,5850,5859,"
    "5862,5877,5900-5904,5906-5907,5910-5911,5915,5922,5925,5950,5952,5959-5963,5987-5989,"
    "5998-6007,6009,6025,6059,6100-6101,6106,6112,6123,6129,6156,6346,6389,6502,6510,6543,"
    "6547,6565-6567,6580,6646,6666-6669,6689,6692,6699,6779,6788-6789,6792,6839,6881,6901,"
    "6969,7000-7002,7004,7007,7019,7025,7070,7100,7103,7106,7200-7201,7402,7435,7443,7496,"
    "7512,7625,7627,7676,7741,7777-7778,7800,7911,7920-7921,7937-7938,7999-8002,8007-8011,"
    "8021-8022,8031,8042,8045,8080-8090,8093,8099-8100,8180-8181,8192-8194,8200,8222,8254,"
    "8290-8292,8300,8333,8383,8400,8402,8443,8500,8600,8649,8651-8652,8654,8701,8800,8873,"
    "8888,8899,8994,9000-9003,9009-9011,9040,9050,9071,9080-9081,9090-9091,9099-9103,"
    "9110-9111,9200,9207,9220,9290,9415,9418,9485,9500,9502-9503,9535,9575,9593-9595,9618,"
    "9666,9876-9878,9898,9900,9917,9929,9943-9944,9968,9998-10004,10009-10010,10012,"
    "10024-10025,10082,10180,10215,10243,10566,10616-10617,10621,10626,10628-10629,10778,"
    "11110-11111,11967,12000,12174,12265,12345,13456,13722,13782-13783,14000,14238,"
    "14441-14442,15000,15002-15004,15660,15742,16000-16001,16012,16016,16018,16080,16113,"
    "16992-16993,17877,17988,18040,18101,18988,19101,19283,19315,19350,19780,19801,19842,"
    "20000,20005,20031,20221-20222,20828,21571,22939,23502,24444,24800,25734-25735,26214,"
    "27000,27352-27353,27355-27356,27715,28201,30000,30718,30951,31038,31337,32768-32785,"
    "33354,33899,34571-34573,35500,38292,40193,40911,41511,42510,44176,44442-44443,44501,"
    "45100,48080,49152-49161,49163,49165,49167,49175-49176,49400,49999-50003,50006,50300,"
    "50389,50500,50636,50800,51103,51493,52673,52822,52848,52869,54045,54328,55055-55056,"
    "55555,55600,56737-56738,57294,57797,58080,60020,60443,61532,61900,62078,63331,64623,"
    "64680,65000,65129,65389"
)

# nmap-services names (7.93) for the ports this generator can show individually.
SERVICE_NAMES = {
    21: "ftp",
    22: "ssh",
    23: "telnet",
    25: "smtp",
    53: "domain",
    80: "http",
    110: "pop3",
    111: "rpcbind",
    113: "ident",
    135: "msrpc",
    139: "netbios-ssn",
    143: "imap",
    179: "bgp",
    199: "smux",
    443: "https",
    445: "microsoft-ds",
    465: "smtps",
    514: "shell",
    515: "printer",
    548: "afp",
    554: "rtsp",
    587: "submission",
    631: "ipp",
    636: "ldapssl",
    993: "imaps",
    995: "pop3s",
    1025: "NFS-or-IIS",
    1433: "ms-sql-s",
    1720: "h323q931",
    1723: "pptp",
    2000: "cisco-sccp",
    2049: "nfs",
    3000: "ppp",
    3306: "mysql",
    3389: "ms-wbt-server",
    5000: "upnp",
    5060: "sip",
    5432: "postgresql",
    5900: "vnc",
    5985: "wsman",
    6379: "redis",
    8000: "http-alt",
    8008: "http",
    8080: "http-proxy",
    8081: "blackice-icecap",
    8443: "https-alt",
    8888: "sun-answerbook",
    9090: "zeus-admin",
    9100: "jetdirect",
    9200: "wap-wsp",
    10000: "snet-sensor-mgmt",
    49152: "unknown",
    49153: "unknown",
    49154: "unknown",
    49155: "unknown",
    49156: "unknown",
    49157: "unknown",
}
# Ports a firewall typically answers with RST (or that sit closed behind a NAT): these
# are the ones that show up as individual "closed" <port> rows next to a filtered mass.
CLOSED_CANDIDATES = (
    21,
    23,
    25,
    53,
    110,
    113,
    139,
    179,
    443,
    445,
    554,
    1723,
    2000,
    3389,
    5060,
    8080,
    8443,
    8888,
)

# ---------------------------------------------------------------------------------------
# Escaping: one function, identical to Nmap's xml.cc escape(), used for every attribute and
# every element text. Getting this right is the point of "byte for byte in style".
# ---------------------------------------------------------------------------------------
_SPECIAL = re.compile("[\x00-\x1f\x80-\xff<>&\"']")
_CONTROL = re.compile("[\x00-\x1f\x80-\xff]")
_DASH_AFTER_DASH = re.compile(r"(?<=-)-")


def _hexref(m: re.Match[str]) -> str:
    return f"&#x{ord(m.group()):x};"


def esc(text: str) -> str:
    """Escape like Nmap: ``< > & " '`` as entities, control and non-ASCII bytes as
    ``&#xNN;`` (lowercase, unpadded) and every ``-`` that follows a ``-`` as ``&#45;``
    (Nmap does this so the same string can go into an XML comment). Most strings need
    nothing, so the common case is one regex scan. Deliberately not shared with
    ``nmapx/xmlescape.py``: the input of a byte-identity test must not come from the code
    under test."""
    if not text.isascii():
        text = text.encode("utf-8").decode("latin-1")  # Nmap escapes bytes, not chars
    if _SPECIAL.search(text) is not None:
        text = (
            text.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace('"', "&quot;")
            .replace("'", "&apos;")
            .replace("\n", "&#xa;")
        )
        if _CONTROL.search(text) is not None:
            text = _CONTROL.sub(_hexref, text)
    if "--" in text:
        text = _DASH_AFTER_DASH.sub("&#45;", text)
    return text


def parse_rangelist(spec: str) -> list[int]:
    """Expand ``1,3-4,...`` into a sorted list of ints."""
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def rangelist(ports: Sequence[int]) -> str:
    """Compress sorted ports into Nmap's ``a,b-c`` form (output.cc
    ``output_rangelist_given_ports``)."""
    parts: list[str] = []
    i, n = 0, len(ports)
    while i < n:
        j = i
        while j + 1 < n and ports[j + 1] == ports[j] + 1:
            j += 1
        parts.append(str(ports[i]) if i == j else f"{ports[i]}-{ports[j]}")
        i = j + 1
    return ",".join(parts)


TOP1000 = parse_rangelist(TOP1000_SPEC)
assert len(TOP1000) == 1000
_SEGMENTS = [tuple(int(x) for x in part.split("-")) for part in TOP1000_SPEC.split(",")]
_SEG_LO = [seg[0] for seg in _SEGMENTS]
_SEG_STR = TOP1000_SPEC.split(",")
_without_cache: dict[tuple[int, ...], str] = {}


def top1000_without(excluded: Sequence[int]) -> str:
    """``rangelist(TOP1000 minus excluded)`` without walking 1000 ports: only the few
    ranges that contain an excluded port are re-split (this runs once per up host)."""
    key = tuple(excluded)
    hit = _without_cache.get(key)
    if hit is not None:
        return hit
    cut: dict[int, list[int]] = {}
    for p in excluded:
        i = bisect.bisect_right(_SEG_LO, p) - 1
        if i >= 0 and p <= _SEGMENTS[i][-1]:
            cut.setdefault(i, []).append(p)
    if not cut:
        return TOP1000_SPEC
    parts = _SEG_STR.copy()
    for i, gone in cut.items():
        lo, hi = _SEGMENTS[i][0], _SEGMENTS[i][-1]
        parts[i] = rangelist([p for p in range(lo, hi + 1) if p not in gone])
    result = ",".join(filter(None, parts))
    if len(_without_cache) >= 2048:  # bounded: constant memory however many hosts
        _without_cache.clear()
    _without_cache[key] = result
    return result


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def ctime(epoch: float) -> str:
    """C ``ctime()`` layout in UTC (``Thu Nov 14 12:00:00 2024``, day padded with a
    space), which Nmap uses for startstr, timestr and uptime lastboot."""
    t = time.gmtime(epoch)
    return (
        f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {t.tm_year}"
    )


def iso(epoch: float) -> str:
    """``2024-11-14T12:00:00`` as ssl-cert and friends print dates."""
    t = time.gmtime(epoch)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )


# ---------------------------------------------------------------------------------------
# NSE script output (nse_main.lua format_table / ScriptResult::write_xml layout)
# ---------------------------------------------------------------------------------------
# A structured value: a list of (key or None, str | nested list).
Struct = list[tuple[str | None, "str | Struct"]]


def format_table(items: Struct, indent: str = "  ") -> str:
    """Render structured output the way NSE does for the ``output=`` attribute when a
    script returns only a table: newline + indent + ``key: value``; a nested table is
    ``key: `` followed by its children one level deeper."""
    out: list[str] = []
    for key, value in items:
        head = f"\n{indent}{key}: " if key is not None else f"\n{indent}"
        if isinstance(value, list):
            out.append(head + format_table(value, indent + "  "))
        else:
            out.append(head + value)
    return "".join(out)


def _children(items: Struct) -> str:
    out: list[str] = []
    for key, value in items:
        k = f' key="{esc(key)}"' if key is not None else ""
        if isinstance(value, list):
            out.append(f"<table{k}>\n{_children(value)}</table>\n")
        else:
            out.append(f"<elem{k}>{esc(value)}</elem>\n")
    return "".join(out)


def script(sid: str, output: str | None, struct: Struct | None = None) -> str:
    """One ``<script>`` element: empty-element form without structure, otherwise the
    first child follows ``>`` directly and every child line ends in a newline; nothing
    follows ``</script>``. ``output=None`` means "derive it like NSE from the table"."""
    if output is None:
        output = format_table(struct or [])
    if not struct:
        return f'<script id="{sid}" output="{esc(output)}"/>'
    return f'<script id="{sid}" output="{esc(output)}">{_children(struct)}</script>'


# ---------------------------------------------------------------------------------------
# Per-host context and building blocks
# ---------------------------------------------------------------------------------------
class Host:
    """Everything the port/OS/script builders of one host need to agree on."""

    __slots__ = ("distance", "domain", "family", "fqdn", "ip", "name", "rng", "start", "ttl")

    def __init__(self, rng: random.Random, ip: str, family: str, start: int) -> None:
        self.rng = rng
        self.ip = ip
        self.family = family
        self.start = start
        self.distance = rng.randint(2, 14)
        base = {"windows": 128, "cisco": 255}.get(family, 64)
        self.ttl = base - self.distance + 1
        self.domain = rng.choice(DOMAINS)
        prefix = {
            "windows": "WIN",
            "linux": "srv",
            "cisco": "rtr",
            "printer": "prn",
            "mail": "mail",
            "db": "db",
            "web": "web",
        }.get(family, "host")
        self.name = f"{prefix}-{rng.randrange(16**4):04x}"
        if family == "windows":
            self.name = self.name.upper()
        self.fqdn = f"{self.name.lower()}.{self.domain}"

    def hexid(self, nbytes: int) -> str:
        return self.rng.randbytes(nbytes).hex()

    def b64(self, nbytes: int) -> str:
        return base64.b64encode(self.rng.randbytes(nbytes)).decode("ascii")


DOMAINS = (
    "corp.example.com",
    "dc1.example.net",
    "lab.example.org",
    "branch.example.com",
    "prod.example.io",
    "campus.example.edu",
)
ISSUERS = (
    [("commonName", "R3"), ("organizationName", "Let's Encrypt"), ("countryName", "US")],
    [
        ("commonName", "Example Corp Issuing CA 02"),
        ("domainComponent", "corp"),
        ("domainComponent", "example"),
    ],
    [
        ("commonName", "DigiCert TLS RSA SHA256 2020 CA1"),
        ("organizationName", "DigiCert Inc"),
        ("countryName", "US"),
    ],
)


def port_open(portid: int, ttl: int, service: str, scripts: Sequence[str] = ()) -> str:
    return (
        f'<port protocol="tcp" portid="{portid}"><state state="open" reason="syn-ack" '
        f'reason_ttl="{ttl}"/>{service}{"".join(scripts)}</port>\n'
    )


def service(
    name: str,
    *,
    product: str = "",
    version: str = "",
    extrainfo: str = "",
    hostname: str = "",
    ostype: str = "",
    devicetype: str = "",
    servicefp: str = "",
    tunnel: bool = False,
    method: str = "probed",
    conf: int = 10,
    cpes: Sequence[str] = (),
) -> str:
    """``<service>`` with attributes in output.cc ``print_xml_service`` order."""
    a = [f'<service name="{name}"']
    if product:
        a.append(f' product="{esc(product)}"')
    if version:
        a.append(f' version="{esc(version)}"')
    if extrainfo:
        a.append(f' extrainfo="{esc(extrainfo)}"')
    if hostname:
        a.append(f' hostname="{esc(hostname)}"')
    if ostype:
        a.append(f' ostype="{ostype}"')
    if devicetype:
        a.append(f' devicetype="{devicetype}"')
    if servicefp:
        a.append(f' servicefp="{esc(servicefp)}"')
    if tunnel:
        a.append(' tunnel="ssl"')
    a.append(f' method="{method}" conf="{conf}"')
    if not cpes:
        a.append("/>")
    else:
        a.append(">" + "".join(f"<cpe>{esc(c)}</cpe>" for c in cpes) + "</service>")
    return "".join(a)


def table_service(portid: int) -> str:
    """What -sV leaves on a port it did not (or could not) probe."""
    return service(SERVICE_NAMES.get(portid, "unknown"), method="table", conf=3)


def ssl_cert(h: Host, cn: str, *, self_signed: bool = False) -> str:
    """ssl-cert as written with ``-v``: verbose text plus the full structure (subject,
    issuer, pubkey, extensions, validity, digests and a PEM whose dashes come out as
    ``-&#45;&#45;&#45;&#45;BEGIN``)."""
    rng = h.rng
    subject: Struct = [("commonName", cn)]
    if not self_signed and rng.random() < 0.5:
        subject += [("organizationName", "Example Corp"), ("countryName", "US")]
    issuer: Struct = subject if self_signed else list(rng.choice(ISSUERS))
    bits = rng.choice((2048, 2048, 2048, 4096))
    not_before = h.start - rng.randrange(86400, 300 * 86400)
    not_after = not_before + rng.choice((90, 365, 730, 3650)) * 86400
    md5, sha1 = h.hexid(16), h.hexid(20)
    sans = [f"DNS:{cn}"] + ([f"DNS:www.{cn}"] if rng.random() < 0.4 else [])
    pem_b64 = h.b64(bits // 8 + 520)
    pem = (
        "-----BEGIN CERTIFICATE-----\n"
        + "".join(pem_b64[i : i + 64] + "\n" for i in range(0, len(pem_b64), 64))
        + "-----END CERTIFICATE-----\n"
    )
    exts: Struct = [
        (None, [("name", "X509v3 Subject Alternative Name"), ("value", ", ".join(sans))]),
        (
            None,
            [
                ("name", "X509v3 Key Usage"),
                ("value", "Digital Signature, Key Encipherment"),
                ("critical", "true"),
            ],
        ),
        (
            None,
            [
                ("name", "X509v3 Extended Key Usage"),
                ("value", "TLS Web Server Authentication, TLS Web Client Authentication"),
            ],
        ),
    ]
    struct: Struct = [
        ("subject", subject),
        ("issuer", issuer),
        (
            "pubkey",
            [
                ("type", "rsa"),
                ("bits", str(bits)),
                ("modulus", h.hexid(bits // 8).upper()),
                ("exponent", "65537"),
            ],
        ),
        ("extensions", exts),
        ("sig_algo", "sha256WithRSAEncryption"),
        ("validity", [("notBefore", iso(not_before)), ("notAfter", iso(not_after))]),
        ("md5", md5),
        ("sha1", sha1),
        ("pem", pem),
    ]

    def dn(items: Struct) -> str:
        return "/".join(f"{k}={v}" for k, v in items)

    text = (
        f"Subject: {dn(subject)}\nSubject Alternative Name: {', '.join(sans)}\n"
        f"Issuer: {dn(issuer)}\nPublic Key type: rsa\nPublic Key bits: {bits}\n"
        f"Signature Algorithm: sha256WithRSAEncryption\n"
        f"Not valid before: {iso(not_before)}\nNot valid after:  {iso(not_after)}\n"
        f"MD5:   {' '.join(md5[i : i + 4] for i in range(0, 32, 4))}\n"
        f"SHA-1: {' '.join(sha1[i : i + 4] for i in range(0, 40, 4))}"
    )
    return script("ssl-cert", text, struct)


def ssl_date(h: Host) -> str:
    when = iso(h.start + h.rng.randrange(60)) + "+00:00"
    skew = h.rng.choice(("0s", "0s", "-1s", "+2s"))
    return script(
        "ssl-date",
        f"{when}; {skew} from scanner time.",
        [("date", when), ("delta", f"{float(skew.rstrip('s')):.1f}")],
    )


def ssh_hostkey(h: Host) -> str:
    keys = [
        ("ssh-rsa", "RSA", 3072, 398),
        ("ecdsa-sha2-nistp256", "ECDSA", 256, 104),
        ("ssh-ed25519", "ED25519", 256, 51),
    ]
    lines, struct = [], []
    for ktype, label, bits, keylen in keys:
        fp = h.hexid(16)
        lines.append(f"\n  {bits} {':'.join(fp[i : i + 2] for i in range(0, 32, 2))} ({label})")
        struct.append(
            (
                None,
                [("fingerprint", fp), ("key", h.b64(keylen)), ("bits", str(bits)), ("type", ktype)],
            )
        )
    return script("ssh-hostkey", "".join(lines), struct)


def http_scripts(h: Host, server_header: str, title: str, risky: bool = False) -> list[str]:
    out = [script("http-title", title, [("title", title)])]
    if server_header:
        out.append(script("http-server-header", server_header, [(None, server_header)]))
    if risky:
        out.append(
            script(
                "http-methods",
                "\n  Potentially risky methods: TRACE",
                [("Potentially risky methods", [(None, "TRACE")])],
            )
        )
    elif h.rng.random() < 0.3:
        out.append(
            script(
                "http-methods",
                None,
                [("Supported Methods", [(None, m) for m in ("GET", "HEAD", "POST", "OPTIONS")])],
            )
        )
    if h.rng.random() < 0.1:
        out.append(script("http-robots.txt", "1 disallowed entry \n/admin/"))
    h.rng.shuffle(out)  # Since 7.92 scripts come in completion order.
    return out


def servicefp(h: Host, portid: int) -> str:
    """An unrecognised service's fingerprint as the XML carries it: one long line (Nmap's
    ``servicefp_sf_remove`` drops the ``\\nSF:`` wrapping) full of ``\\x20``-style text
    escapes and ``"`` that become ``&quot;``."""
    return (
        f"SF-Port{portid}-TCP:V={NMAP_VERSION}%I=7%D=11/14%Time={h.start:X}"
        f'%P=x86_64-pc-linux-gnu%r(NULL,2A,"\\x01\\x00\\x00\\x00\\x00\\x00\\x20'
        f'READY\\r\\n{h.hexid(8)}\\r\\n")%r(GetRequest,3C,"HTTP/1\\.0\\x20400\\x20'
        f'Bad\\x20Request\\r\\nContent-Length:\\x200\\r\\n\\r\\n--{h.hexid(6)}")'
    )


# ---------------------------------------------------------------------------------------
# Host profiles: which ports are open and what -A finds on them.
# ---------------------------------------------------------------------------------------
def port_ssh(h: Host) -> tuple[int, str]:
    ver = h.rng.choice(
        (
            ("8.9p1 Ubuntu 3ubuntu0.10", "Ubuntu Linux; protocol 2.0", "8.9p1"),
            ("9.2p1 Debian 2+deb12u3", "protocol 2.0", "9.2p1"),
            ("7.4", "protocol 2.0", "7.4"),
        )
    )
    return (
        22,
        port_open(
            22,
            h.ttl,
            service(
                "ssh",
                product="OpenSSH",
                version=ver[0],
                extrainfo=ver[1],
                ostype="Linux",
                cpes=(f"cpe:/a:openbsd:openssh:{ver[2]}", "cpe:/o:linux:linux_kernel"),
            ),
            [ssh_hostkey(h)],
        ),
    )


def ports_linux_web(h: Host) -> list[tuple[int, str]]:
    rng, ttl = h.rng, h.ttl
    ports = [port_ssh(h)]
    if rng.random() < 0.5:
        prod, v, cpe, hdr = (
            "Apache httpd",
            "2.4.52",
            "cpe:/a:apache:http_server:2.4.52",
            "Apache/2.4.52 (Ubuntu)",
        )
        extra = "(Ubuntu)"
    else:
        prod, v, cpe, hdr = (
            "nginx",
            "1.18.0",
            "cpe:/a:igor_sysoev:nginx:1.18.0",
            "nginx/1.18.0 (Ubuntu)",
        )
        extra = "Ubuntu"
    title = rng.choice(
        (
            "Welcome to nginx!",
            "Apache2 Ubuntu Default Page: It works",
            "Intranet -- Home",
            "Site doesn't have a title (text/html).",
            "Did not follow redirect to https://" + h.fqdn + "/",
        )
    )
    ports.append(
        (
            80,
            port_open(
                80,
                ttl,
                service(
                    "http",
                    product=prod,
                    version=v,
                    extrainfo=extra,
                    ostype="Linux" if prod == "nginx" else "",
                    cpes=(cpe, "cpe:/o:linux:linux_kernel") if prod == "nginx" else (cpe,),
                ),
                http_scripts(h, hdr, title),
            ),
        )
    )
    if rng.random() < 0.7:
        ports.append(
            (
                443,
                port_open(
                    443,
                    ttl,
                    service(
                        "http", product=prod, version=v, extrainfo=extra, tunnel=True, cpes=(cpe,)
                    ),
                    [
                        ssl_cert(h, h.fqdn),
                        *http_scripts(h, hdr, title)[:2],
                        script(
                            "tls-alpn", "\n  h2\n  http/1.1", [(None, "h2"), (None, "http/1.1")]
                        ),
                    ],
                ),
            )
        )
    if rng.random() < 0.2:
        ports.append(
            (
                8080,
                port_open(
                    8080,
                    ttl,
                    service(
                        "http",
                        product="Apache Tomcat",
                        version="9.0.58",
                        cpes=("cpe:/a:apache:tomcat:9.0.58",),
                    ),
                    http_scripts(h, "", "Apache Tomcat/9.0.58"),
                ),
            )
        )
    if rng.random() < 0.15:
        ports.append(
            (
                111,
                port_open(
                    111,
                    ttl,
                    service("rpcbind", version="2-4", extrainfo="RPC #100000"),
                    [rpcinfo()],
                ),
            )
        )
    return ports


def rpcinfo() -> str:
    progs = [
        ("100000", "rpcbind", "2,3,4", "111"),
        ("100003", "nfs", "3,4", "2049"),
        ("100005", "mountd", "1,2,3", "20048"),
    ]
    text = "\n  program version    port/proto  service"
    struct: Struct = []
    for num, name, vers, port in progs:
        text += f"\n  {num}  {vers:<12} {port + '/tcp':<10}  {name}"
        struct.append(
            (num, [("tcp", [("version", [(None, x) for x in vers.split(",")]), ("port", port)])])
        )
    return script("rpcinfo", text, struct)


def ports_windows(h: Host) -> list[tuple[int, str]]:
    rng, ttl = h.rng, h.ttl
    win = ("cpe:/o:microsoft:windows",)
    ports = [
        (
            135,
            port_open(
                135,
                ttl,
                service("msrpc", product="Microsoft Windows RPC", ostype="Windows", cpes=win),
            ),
        ),
        (
            139,
            port_open(
                139,
                ttl,
                service(
                    "netbios-ssn",
                    product="Microsoft Windows netbios-ssn",
                    ostype="Windows",
                    cpes=win,
                ),
            ),
        ),
        (445, port_open(445, ttl, service("microsoft-ds", method="table", conf=3))),
    ]
    if rng.random() < 0.7:
        ntlm: Struct = [
            ("Target_Name", h.domain.split(".")[0].upper()),
            ("NetBIOS_Domain_Name", h.domain.split(".")[0].upper()),
            ("NetBIOS_Computer_Name", h.name),
            ("DNS_Domain_Name", h.domain),
            ("DNS_Computer_Name", h.fqdn),
            ("DNS_Tree_Name", h.domain),
            ("Product_Version", rng.choice(("10.0.17763", "10.0.20348", "6.3.9600"))),
            ("System_Time", iso(h.start) + "+00:00"),
        ]
        ports.append(
            (
                3389,
                port_open(
                    3389,
                    ttl,
                    service(
                        "ms-wbt-server",
                        product="Microsoft Terminal Services",
                        ostype="Windows",
                        cpes=win,
                    ),
                    [
                        script("rdp-ntlm-info", None, ntlm),
                        ssl_date(h),
                        ssl_cert(h, h.fqdn, self_signed=True),
                    ],
                ),
            )
        )
    if rng.random() < 0.35:
        ports.append(
            (
                80,
                port_open(
                    80,
                    ttl,
                    service(
                        "http",
                        product="Microsoft IIS httpd",
                        version="10.0",
                        ostype="Windows",
                        cpes=("cpe:/a:microsoft:internet_information_services:10.0", *win),
                    ),
                    http_scripts(h, "Microsoft-IIS/10.0", "IIS Windows Server", risky=True),
                ),
            )
        )
    if rng.random() < 0.5:
        ports.append(
            (
                5985,
                port_open(
                    5985,
                    ttl,
                    service(
                        "http",
                        product="Microsoft HTTPAPI httpd",
                        version="2.0",
                        extrainfo="SSDP/UPnP",
                        ostype="Windows",
                        cpes=win,
                    ),
                    http_scripts(h, "Microsoft-HTTPAPI/2.0", "Not Found"),
                ),
            )
        )
    if rng.random() < 0.15:
        ports.append(
            (
                1433,
                port_open(
                    1433,
                    ttl,
                    service(
                        "ms-sql-s",
                        product="Microsoft SQL Server 2019",
                        version="15.00.2000.00; RTM",
                        cpes=("cpe:/a:microsoft:sql_server:2019",),
                    ),
                    [
                        script("ms-sql-info", "ERROR: Script execution failed (use -d to debug)"),
                        ssl_cert(h, "SSL_Self_Signed_Fallback", self_signed=True),
                    ],
                ),
            )
        )
    for p in range(49152, 49152 + rng.randint(0, 5)):
        ports.append(
            (
                p,
                port_open(
                    p,
                    ttl,
                    service("msrpc", product="Microsoft Windows RPC", ostype="Windows", cpes=win),
                ),
            )
        )
    return ports


def hostscripts_windows(h: Host) -> list[str]:
    rng = h.rng
    mac = ":".join(f"{b:02x}" for b in (0x00, 0x50, 0x56, *rng.randbytes(3)))
    signing = rng.choice(
        ("Message signing enabled and required", "Message signing enabled but not required")
    )
    out = [
        script(
            "smb2-time", None, [("date", iso(h.start + rng.randrange(60))), ("start_date", "N/A")]
        ),
        script("smb2-security-mode", None, [("3:1:1", [(None, signing)])]),
        script(
            "nbstat",
            f"NetBIOS name: {h.name}, NetBIOS user: <unknown>, NetBIOS MAC: {mac} (VMware)",
        ),
    ]
    if rng.random() < 0.3:
        out.append(
            script(
                "clock-skew",
                "mean: -1s, deviation: 0s, median: -1s",
                [("mean", "-1"), ("stddev", "0"), ("median", "-1")],
            )
        )
    rng.shuffle(out)
    return out


def ports_cisco(h: Host) -> list[tuple[int, str]]:
    ttl, ios = h.ttl, ("cpe:/o:cisco:ios",)
    ports = [
        (
            22,
            port_open(
                22,
                ttl,
                service(
                    "ssh",
                    product="Cisco SSH",
                    version="1.25",
                    extrainfo="protocol 2.0",
                    ostype="IOS",
                    cpes=ios,
                ),
                [ssh_hostkey(h)],
            ),
        )
    ]
    if h.rng.random() < 0.6:
        ports.append(
            (
                23,
                port_open(
                    23,
                    ttl,
                    service("telnet", product="Cisco router telnetd", ostype="IOS", cpes=ios),
                ),
            )
        )
    if h.rng.random() < 0.4:
        ports.append(
            (
                80,
                port_open(
                    80,
                    ttl,
                    service(
                        "http",
                        product="Cisco IOS http config",
                        devicetype="router",
                        ostype="IOS",
                        cpes=ios,
                    ),
                    [script("http-title", "Site doesn't have a title (text/html).")],
                ),
            )
        )
    return ports


def ports_printer(h: Host) -> list[tuple[int, str]]:
    ttl = h.ttl
    model = h.rng.choice(("LaserJet M402dn", "LaserJet Pro M404n", "Color LaserJet M553"))
    hp = (f"cpe:/h:hp:{model.lower().replace(' ', '_')}",)
    return [
        (
            80,
            port_open(
                80,
                ttl,
                service(
                    "http", product="HP LaserJet printer http config", devicetype="printer", cpes=hp
                ),
                http_scripts(h, "HP HTTP Server; HP " + model, "HP " + model),
            ),
        ),
        (
            443,
            port_open(
                443,
                ttl,
                service(
                    "http",
                    product="HP LaserJet printer http config",
                    devicetype="printer",
                    tunnel=True,
                    cpes=hp,
                ),
                [ssl_cert(h, "HP" + h.hexid(3).upper(), self_signed=True)],
            ),
        ),
        (515, port_open(515, ttl, table_service(515))),
        (
            631,
            port_open(
                631,
                ttl,
                service("ipp", product="HP " + model + " ipp", devicetype="printer", cpes=hp),
            ),
        ),
        (9100, port_open(9100, ttl, table_service(9100))),
    ]


def ports_mail(h: Host) -> list[tuple[int, str]]:
    ttl, fq = h.ttl, h.fqdn
    cmds = (
        f"{fq}, PIPELINING, SIZE 10240000, VRFY, ETRN, STARTTLS, ENHANCEDSTATUSCODES, "
        f"8BITMIME, DSN, SMTPUTF8, CHUNKING"
    )
    caps = "AUTH-RESP-CODE TOP PIPELINING CAPA SASL RESP-CODES UIDL USER STLS"
    return [
        port_ssh(h),
        (
            25,
            port_open(
                25,
                ttl,
                service(
                    "smtp",
                    product="Postfix smtpd",
                    hostname=" " + fq,
                    cpes=("cpe:/a:postfix:postfix",),
                ),
                [script("smtp-commands", cmds), ssl_cert(h, fq), ssl_date(h)],
            ),
        ),
        (
            110,
            port_open(
                110,
                ttl,
                service("pop3", product="Dovecot pop3d", cpes=("cpe:/a:dovecot:dovecot",)),
                [script("pop3-capabilities", caps)],
            ),
        ),
        (
            143,
            port_open(
                143,
                ttl,
                service("imap", product="Dovecot imapd", cpes=("cpe:/a:dovecot:dovecot",)),
                [
                    script(
                        "imap-capabilities",
                        "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE "
                        "IDLE STARTTLS LOGINDISABLEDA0001 more post-login have "
                        "capabilities listed OK Pre-login",
                    )
                ],
            ),
        ),
        (
            993,
            port_open(
                993,
                ttl,
                service(
                    "imaps", product="Dovecot imapd", tunnel=True, cpes=("cpe:/a:dovecot:dovecot",)
                ),
            ),
        ),
        (
            995,
            port_open(
                995,
                ttl,
                service(
                    "pop3s", product="Dovecot pop3d", tunnel=True, cpes=("cpe:/a:dovecot:dovecot",)
                ),
            ),
        ),
    ]


def ports_db(h: Host) -> list[tuple[int, str]]:
    ttl, rng = h.ttl, h.rng
    ports = [port_ssh(h)]
    if rng.random() < 0.6:
        info: Struct = [
            ("Protocol", "10"),
            ("Version", "8.0.36-0ubuntu0.22.04.1"),
            ("Thread ID", str(rng.randrange(1, 99999))),
            ("Capabilities flags", "65535"),
            (
                "Some Capabilities",
                [
                    (None, c)
                    for c in (
                        "Support41Auth",
                        "SupportsTransactions",
                        "ConnectWithDatabase",
                        "SupportsCompression",
                        "LongColumnFlag",
                        "Speaks41ProtocolNew",
                        "SwitchToSSLAfterHandshake",
                        "SupportsLoadDataLocal",
                    )
                ],
            ),
            ("Status", "Autocommit"),
            ("Salt", h.b64(15)[:20]),
            ("Auth Plugin Name", "caching_sha2_password"),
        ]
        ports.append(
            (
                3306,
                port_open(
                    3306,
                    ttl,
                    service(
                        "mysql",
                        product="MySQL",
                        version="8.0.36-0ubuntu0.22.04.1",
                        cpes=("cpe:/a:mysql:mysql:8.0.36-0ubuntu0.22.04.1",),
                    ),
                    [
                        script("mysql-info", None, info),
                        ssl_cert(
                            h,
                            "MySQL_Server_8.0.36_Auto_Generated_Server_Certificate",
                            self_signed=True,
                        ),
                    ],
                ),
            )
        )
    else:
        ports.append(
            (
                5432,
                port_open(
                    5432,
                    ttl,
                    service(
                        "postgresql",
                        product="PostgreSQL DB",
                        version="9.6.0 or later",
                        cpes=("cpe:/a:postgresql:postgresql",),
                    ),
                    [ssl_date(h)],
                ),
            )
        )
    if rng.random() < 0.3:
        ports.append(
            (
                6379,
                port_open(
                    6379,
                    ttl,
                    service(
                        "redis",
                        product="Redis key-value store",
                        version="6.0.16",
                        cpes=("cpe:/a:redislabs:redis:6.0.16",),
                    ),
                ),
            )
        )
    return ports


def ports_appliance(h: Host) -> list[tuple[int, str]]:
    """A box behind a filter with one TLS port and one service -sV cannot name."""
    ttl = h.ttl
    port = h.rng.choice((8443, 10000, 9090))
    return [
        (
            443,
            port_open(
                443,
                ttl,
                service("http", product="nginx", tunnel=True, cpes=("cpe:/a:igor_sysoev:nginx",)),
                [ssl_cert(h, h.fqdn), *http_scripts(h, "nginx", "Login")],
            ),
        ),
        (
            port,
            port_open(
                port, ttl, service(SERVICE_NAMES.get(port, "unknown"), servicefp=servicefp(h, port))
            ),
        ),
    ]


# ---------------------------------------------------------------------------------------
# OS detection blocks
# ---------------------------------------------------------------------------------------
OsClass = tuple[str, str, str, str, tuple[str, ...]]  # type, vendor, family, gen, cpes
OS_DB: dict[str, list[tuple[str, int, tuple[OsClass, ...]]]] = {
    "linux": [
        (
            "Linux 4.15 - 5.8",
            67530,
            (
                ("general purpose", "Linux", "Linux", "4.X", ("cpe:/o:linux:linux_kernel:4",)),
                ("general purpose", "Linux", "Linux", "5.X", ("cpe:/o:linux:linux_kernel:5",)),
            ),
        ),
        (
            "Linux 5.0 - 5.5",
            68070,
            (("general purpose", "Linux", "Linux", "5.X", ("cpe:/o:linux:linux_kernel:5",)),),
        ),
        (
            "Linux 3.10 - 4.11",
            62920,
            (
                ("general purpose", "Linux", "Linux", "3.X", ("cpe:/o:linux:linux_kernel:3",)),
                ("general purpose", "Linux", "Linux", "4.X", ("cpe:/o:linux:linux_kernel:4",)),
            ),
        ),
        (
            "Linux 2.6.32",
            55733,
            (
                (
                    "general purpose",
                    "Linux",
                    "Linux",
                    "2.6.X",
                    ("cpe:/o:linux:linux_kernel:2.6.32",),
                ),
            ),
        ),
    ],
    "windows": [
        (
            "Microsoft Windows Server 2016",
            84440,
            (
                (
                    "general purpose",
                    "Microsoft",
                    "Windows",
                    "2016",
                    ("cpe:/o:microsoft:windows_server_2016",),
                ),
            ),
        ),
        (
            "Microsoft Windows Server 2019",
            84502,
            (("general purpose", "Microsoft", "Windows", "2019", ()),),
        ),
        (
            "Microsoft Windows 10 1709 - 1909",
            83906,
            (("general purpose", "Microsoft", "Windows", "10", ("cpe:/o:microsoft:windows_10",)),),
        ),
        (
            "Microsoft Windows Server 2012 R2",
            85060,
            (
                (
                    "general purpose",
                    "Microsoft",
                    "Windows",
                    "2012",
                    ("cpe:/o:microsoft:windows_server_2012:r2",),
                ),
            ),
        ),
    ],
    "cisco": [
        (
            "Cisco IOS 15.2 - 15.5",
            19030,
            (("router", "Cisco", "IOS", "15.X", ("cpe:/o:cisco:ios:15",)),),
        ),
        (
            "Cisco 2901 router (IOS 15.1)",
            18811,
            (("router", "Cisco", "IOS", "15.X", ("cpe:/o:cisco:ios:15.1",)),),
        ),
    ],
    "printer": [
        (
            "HP LaserJet M402dn printer",
            38530,
            (("printer", "HP", "embedded", "", ("cpe:/h:hp:laserjet_m402dn",)),),
        ),
        (
            "HP Color LaserJet M553 printer",
            38426,
            (("printer", "HP", "embedded", "", ("cpe:/h:hp:color_laserjet_m553",)),),
        ),
    ],
}
OS_DB["mail"] = OS_DB["db"] = OS_DB["web"] = OS_DB["appliance"] = OS_DB["linux"]


def os_block(h: Host, open_port: int, closed_port: int) -> str:
    """``<os>`` as printosscanoutput writes it: portused lines, then either perfect
    matches or up to ten guesses, plus an ``<osfingerprint>`` when nothing matched
    exactly (that is what ``-v`` adds)."""
    rng = h.rng
    out = [f'<os><portused state="open" proto="tcp" portid="{open_port}"/>\n']
    if closed_port:
        out.append(f'<portused state="closed" proto="tcp" portid="{closed_port}"/>\n')
    out.append(f'<portused state="closed" proto="udp" portid="{rng.randrange(30000, 44000)}"/>\n')
    db = OS_DB[h.family]
    perfect = rng.random() < 0.45
    picks = [rng.choice(db)] if perfect else rng.sample(db, min(len(db), rng.randint(2, 4)))
    acc = 100 if perfect else rng.randint(88, 96)
    for name, line, classes in picks:
        out.append(f'<osmatch name="{esc(name)}" accuracy="{acc}" line="{line}">\n')
        for typ, vendor, family, gen, cpes in classes:
            g = f' osgen="{gen}"' if gen else ""
            tail = (
                "/>" if not cpes else ">" + "".join(f"<cpe>{c}</cpe>" for c in cpes) + "</osclass>"
            )
            out.append(
                f'<osclass type="{typ}" vendor="{vendor}" osfamily="{family}"{g} '
                f'accuracy="{acc}"{tail}\n'
            )
        out.append("</osmatch>\n")
        acc = max(85, acc - rng.randint(0, 3))
    if not perfect and rng.random() < 0.3:
        out.append(f'<osfingerprint fingerprint="{esc(os_fingerprint(h, open_port))}"/>\n')
    out.append("</os>\n")
    return "".join(out)


def os_fingerprint(h: Host, open_port: int) -> str:
    rng = h.rng
    w = f"{rng.randrange(0x1000, 0xFFFF):X}"
    raw = (
        f"SCAN(V={NMAP_VERSION}%E=4%D=11/14%OT={open_port}%CT=1%CU={rng.randrange(30000, 44000)}"
        f"%PV=Y%DS={h.distance}%DC=T%G=Y%TM={h.start:X}%P=x86_64-pc-linux-gnu)"
        f"SEQ(SP={rng.randrange(0x100, 0x110):X}%GCD=1%ISR={rng.randrange(0x100, 0x110):X}"
        f"%TI=Z%CI=Z%II=I%TS=A)OPS(O1=M5B4ST11NW7%O2=M5B4ST11NW7%O3=M5B4NNT11NW7"
        f"%O4=M5B4ST11NW7%O5=M5B4ST11NW7%O6=M5B4ST11)WIN(W1={w}%W2={w}%W3={w}%W4={w}"
        f"%W5={w}%W6={w})ECN(R=Y%DF=Y%T=40%W={w}%O=M5B4NNSNW7%CC=Y%Q=)T1(R=Y%DF=Y%T=40"
        f"%S=O%A=S+%F=AS%RD=0%Q=)T2(R=N)T3(R=N)T4(R=Y%DF=Y%T=40%W=0%S=A%A=Z%F=R%O=%RD=0"
        f"%Q=)T5(R=Y%DF=Y%T=40%W=0%S=Z%A=S+%F=AR%O=%RD=0%Q=)T6(R=Y%DF=Y%T=40%W=0%S=A%A=Z"
        f"%F=R%O=%RD=0%Q=)T7(R=N)U1(R=Y%DF=N%T=40%IPL=164%UN=0%RIPL=G%RID=G%RIPCK=G"
        f"%RUCK=G%RUD=G)IE(R=Y%DFI=N%T=40%CD=S)"
    )
    return "".join(f"OS:{raw[i : i + 71]}\n" for i in range(0, len(raw), 71))


def seq_blocks(h: Host) -> str:
    """uptime, distance and the three sequence elements, in printosscanoutput order."""
    rng = h.rng
    out = []
    if h.family not in ("cisco", "printer") or rng.random() < 0.3:
        up = rng.randrange(3600, 200 * 86400)
        out.append(f'<uptime seconds="{up}" lastboot="{ctime(h.start - up)}"/>\n')
    out.append(f'<distance value="{h.distance}"/>\n')
    seqs = ",".join(f"{rng.getrandbits(32):X}" for _ in range(6))
    out.append(
        f'<tcpsequence index="{rng.randint(250, 265)}" difficulty="Good luck!" values="{seqs}"/>\n'
    )
    if h.family == "windows":
        base = rng.getrandbits(16)
        ids = ",".join(f"{(base + i) & 0xFFFF:X}" for i in range(6))
        out.append(f'<ipidsequence class="Incremental" values="{ids}"/>\n')
        out.append('<tcptssequence class="none returned (unsupported)"/>\n')
    else:
        out.append('<ipidsequence class="All zeros" values="0,0,0,0,0,0"/>\n')
        base = rng.getrandbits(31)
        ts = ",".join(f"{base + i * 100:X}" for i in range(6))
        out.append(f'<tcptssequence class="1000HZ" values="{ts}"/>\n')
    return "".join(out)


def trace_block(h: Host, port: int) -> str:
    """Traceroute: timed-out hops are left out (so TTLs can jump) and an unknown RTT is
    written ``rtt="-&#45;"`` (output.cc printtraceroute_xml)."""
    rng = h.rng
    out = [f'<trace port="{port}" proto="tcp">\n']
    o = h.ip.split(".")
    rtt = 0.3
    for ttl in range(1, h.distance + 1):
        if ttl == h.distance:
            out.append(
                f'<hop ttl="{ttl}" ipaddr="{h.ip}" rtt="{rtt + rng.random():.2f}" '
                f'host="{h.fqdn}"/>\n'
                if rng.random() < 0.6
                else f'<hop ttl="{ttl}" ipaddr="{h.ip}" rtt="{rtt + rng.random():.2f}"/>\n'
            )
            break
        if ttl > 2 and rng.random() < 0.08:
            continue  # timed out
        rtt += rng.random() * 3
        if ttl == 1:
            addr, name = "192.168.0.1", ""
        elif ttl == 2:
            addr, name = "10.255.0.1", "core1.example.net"
        else:
            addr, name = f"10.{o[1]}.{ttl}.1", ""
        r = "-&#45;" if rng.random() < 0.01 else f"{rtt:.2f}"
        out.append(
            f'<hop ttl="{ttl}" ipaddr="{addr}" rtt="{r}"'
            + (f' host="{name}"' if name else "")
            + "/>\n"
        )
    out.append("</trace>\n")
    return "".join(out)


PROFILES = (
    # (weight, family, port builder)
    (26, "web", ports_linux_web),
    (22, "windows", ports_windows),
    (8, "cisco", ports_cisco),
    (8, "printer", ports_printer),
    (6, "mail", ports_mail),
    (10, "db", ports_db),
    (8, "appliance", ports_appliance),
    (12, "filtered", None),  # answers pings, all 1000 ports filtered
)
_PROFILE_WEIGHTS = [p[0] for p in PROFILES]


def up_host(rng: random.Random, ip: str, reason: str, start: int, end: int) -> tuple[str, int, int]:
    """One up ``<host>``; returns its XML, the number of open ports it shows and the TTL
    its replies arrive with (the matching ``<hosthint>`` reports the same TTL)."""
    _, family, builder = rng.choices(PROFILES, _PROFILE_WEIGHTS)[0]
    h = Host(rng, ip, "linux" if family == "filtered" else family, start)
    names = ""
    if rng.random() < 0.6:
        names = f'<hostname name="{h.fqdn}" type="PTR"/>\n'
    head = (
        f'<host starttime="{start}" endtime="{end}"><status state="up" reason="{reason}" '
        f'reason_ttl="{h.ttl}"/>\n<address addr="{ip}" addrtype="ipv4"/>\n'
        f"<hostnames>\n{names}</hostnames>\n"
    )
    if builder is None:
        # Everything filtered: one extraports, an <os> with nothing usable, no sequences.
        body = (
            f'<ports><extraports state="filtered" count="1000">\n'
            f'<extrareasons reason="no-response" count="1000" proto="tcp" '
            f'ports="{TOP1000_SPEC}"/>\n</extraports>\n</ports>\n<os></os>\n'
            f'<distance value="{h.distance}"/>\n' + trace_block(h, 80)
        )
        return head + body + _times(rng.randrange(2000, 90000), rng) + "</host>\n", 0, h.ttl

    opened = sorted(builder(h))
    open_ids = tuple(p for p, _ in opened)
    # Which state the other ~990 ports are in, and which few closed ones get their own row.
    style = rng.random()
    closed_rows: list[int] = []
    if style < 0.35:
        mass_state, mass_reason = "closed", "reset"
    else:
        mass_state, mass_reason = "filtered", "no-response"
        if style < 0.65:
            closed_rows = sorted(
                rng.sample([p for p in CLOSED_CANDIDATES if p not in open_ids], rng.randint(1, 6))
            )
    shown = tuple(sorted(open_ids + tuple(closed_rows)))
    remaining = 1000 - len(shown)
    parts = [head, f'<ports><extraports state="{mass_state}" count="{remaining}">\n']
    if mass_state == "filtered" and rng.random() < 0.08:
        # Some of the silence is ICMP admin-prohibited: a second reason with its own list.
        shown_set = set(shown)
        prohibited = sorted(
            rng.sample([p for p in TOP1000 if p not in shown_set], rng.randint(3, 40))
        )
        silent = remaining - len(prohibited)
        parts.append(
            f'<extrareasons reason="no-response" count="{silent}" proto="tcp" '
            f'ports="{top1000_without(shown + tuple(prohibited))}"/>\n'
            f'<extrareasons reason="admin-prohibited" count="{len(prohibited)}" '
            f'proto="tcp" ports="{rangelist(prohibited)}"/>\n'
        )
    else:
        parts.append(
            f'<extrareasons reason="{mass_reason}" count="{remaining}" proto="tcp" '
            f'ports="{top1000_without(shown)}"/>\n'
        )
    parts.append("</extraports>\n")
    rows = dict(opened)
    for p in closed_rows:
        rows[p] = (
            f'<port protocol="tcp" portid="{p}"><state state="closed" reason="reset" '
            f'reason_ttl="{h.ttl}"/>{table_service(p)}</port>\n'
        )
    parts.extend(rows[p] for p in shown)
    parts.append("</ports>\n")
    closed_port = closed_rows[0] if closed_rows else (1 if mass_state == "closed" else 0)
    parts.append(os_block(h, open_ids[0], closed_port))
    parts.append(seq_blocks(h))
    if family == "windows":
        parts.append("<hostscript>" + "".join(hostscripts_windows(h)) + "</hostscript>")
    parts.append(trace_block(h, closed_port or open_ids[0]))
    parts.append(_times(rng.randrange(300, 60000), rng))
    parts.append("</host>\n")
    return "".join(parts), len(open_ids), h.ttl


def _times(srtt: int, rng: random.Random) -> str:
    rttvar = rng.randrange(100, max(101, srtt // 2))
    return f'<times srtt="{srtt}" rttvar="{rttvar}" to="{max(100000, srtt + 4 * rttvar)}"/>\n'


def down_host(ip: str) -> str:
    """A ``-v`` down host: no starttime, no hostnames element (nothing to write)."""
    return (
        f'<host><status state="down" reason="no-response" reason_ttl="0"/>\n'
        f'<address addr="{ip}" addrtype="ipv4"/>\n</host>\n'
    )


def hosthint(ip: str, reason: str, ttl: int) -> str:
    """Written the moment host discovery sees the host up, before DNS ran: so
    ``<hostnames>`` is always empty here (output.cc write_xml_hosthint)."""
    return (
        f'<hosthint><status state="up" reason="{reason}" reason_ttl="{ttl}"/>\n'
        f'<address addr="{ip}" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n'
        f"</hosthint>\n"
    )


def ip_of(index: int) -> str:
    """Target ``index`` of targets.txt: 10.0.0.1 onwards, skipping .0 and .255."""
    per_24 = 254
    net, host = divmod(index, per_24)
    return f"10.{(net >> 8) & 0xFF}.{net & 0xFF}.{host + 1}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _nse_tasks(t: int, t_end: int | None = None) -> str:
    """NSE announces each of its (here three) runlevels as a task of its own."""
    t_end = t if t_end is None else t_end
    return (
        f'<taskbegin task="NSE" time="{t}"/>\n<taskend task="NSE" time="{t}"/>\n' * 2
        + f'<taskbegin task="NSE" time="{t}"/>\n<taskend task="NSE" time="{t_end}"/>\n'
    )


class Stats:
    """What the document contains, for harnesses that cannot look at it (a pipe)."""

    def __init__(self) -> None:
        self.hosts = self.up = self.down = self.open_ports = 0


def generate(
    n_hosts: int, seed: int = 1, up_ratio: float = 0.65, stats: Stats | None = None
) -> Iterator[str]:
    """Yield the document as text chunks (one host group at a time)."""
    rng = random.Random(seed)
    st = stats if stats is not None else Stats()
    args = "nmap -v -A -T4 --max-retries 2 -iL targets.txt -oX scan.xml"
    start = SCAN_START
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
        '<?xml-stylesheet href="file:///usr/bin/../share/nmap/nmap.xsl" type="text/xsl"?>\n'
        f"<!-- Nmap {NMAP_VERSION} scan initiated {ctime(start)} as: {esc(args)} -->\n"
        f'<nmaprun scanner="nmap" args="{esc(args)}" start="{start}" '
        f'startstr="{ctime(start)}" version="{NMAP_VERSION}" '
        f'xmloutputversion="{XMLOUTPUTVERSION}">\n'
        f'<scaninfo type="syn" protocol="tcp" numservices="1000" services="{TOP1000_SPEC}"/>\n'
        '<verbose level="1"/>\n<debugging level="0"/>\n' + _nse_tasks(start)
    )
    t = start + 1
    index = 0
    group_size = HOSTGROUP_FIRST
    reasons = ("echo-reply", "echo-reply", "echo-reply", "reset", "syn-ack", "timestamp-reply")
    while index < n_hosts:
        size = min(group_size, n_hosts - index)
        group_size = HOSTGROUP
        ips = [ip_of(i) for i in range(index, index + size)]
        index += size
        up_flags = [rng.random() < up_ratio for _ in ips]
        up_ips = [ip for ip, up in zip(ips, up_flags, strict=True) if up]
        st.hosts += size
        st.down += size - len(up_ips)
        st.up += len(up_ips)
        # The group's timeline first, so host start/end times fall inside it.
        t_ping_end = t + rng.randint(1, 12)
        t_dns_end = t_ping_end + rng.randint(0, 3)
        t_syn_end = t_dns_end + rng.randint(20, 400)
        t_svc_end = t_syn_end + rng.randint(10, 160)
        t_trace_end = t_svc_end + rng.randint(1, 9)
        t_nse_end = t_trace_end + rng.randint(1, 30)
        hosts_xml: list[str] = []
        hint_of: dict[str, str] = {}
        services = with_services = 0
        for ip in up_ips:
            reason = rng.choice(reasons)
            xml, n_open, ttl = up_host(rng, ip, reason, t_dns_end, t_nse_end - rng.randint(0, 20))
            hosts_xml.append(xml)
            hint_of[ip] = hosthint(ip, reason, ttl)
            services += n_open
            with_services += n_open > 0
        st.open_ports += services

        chunk = [f'<taskbegin task="Ping Scan" time="{t}"/>\n']
        discovered = up_ips[:]
        rng.shuffle(discovered)  # hints come in reply order, not address order
        chunk.extend(hint_of[ip] for ip in discovered)
        chunk.append(
            f'<taskend task="Ping Scan" time="{t_ping_end}" '
            f'extrainfo="{_plural(size, "total host")}"/>\n'
        )
        if up_ips:
            dns = f"Parallel DNS resolution of {_plural(len(up_ips), 'host')}."
            chunk.append(
                f'<taskbegin task="{dns}" time="{t_ping_end}"/>\n'
                f'<taskend task="{dns}" time="{t_dns_end}"/>\n'
            )
        # Down hosts are written while the group is collected, before it is scanned.
        chunk.extend(down_host(ip) for ip, up in zip(ips, up_flags, strict=True) if not up)
        if up_ips:
            chunk.append(f'<taskbegin task="SYN Stealth Scan" time="{t_dns_end}"/>\n')
            dur = t_syn_end - t_dns_end
            if dur > 60:
                pct = rng.uniform(5, 95)
                chunk.append(
                    f'<taskprogress task="SYN Stealth Scan" time="{t_dns_end + 30}" '
                    f'percent="{pct:.2f}" remaining="{int(dur * (1 - pct / 100))}" '
                    f'etc="{t_syn_end}"/>\n'
                )
            chunk.append(
                f'<taskend task="SYN Stealth Scan" time="{t_syn_end}" '
                f'extrainfo="{len(up_ips) * 1000} total ports"/>\n'
            )
            chunk.append(
                f'<taskbegin task="Service scan" time="{t_syn_end}"/>\n'
                f'<taskend task="Service scan" time="{t_svc_end}" extrainfo="'
                f"{_plural(services, 'service')} on "
                f'{_plural(with_services, "host")}"/>\n'
            )
            dns = f"Parallel DNS resolution of {_plural(rng.randint(3, 40), 'host')}."
            chunk.append(
                f'<taskbegin task="Traceroute" time="{t_svc_end}"/>\n'
                f'<taskend task="Traceroute" time="{t_trace_end}"/>\n'
                f'<taskbegin task="{dns}" time="{t_trace_end}"/>\n'
                f'<taskend task="{dns}" time="{t_trace_end}"/>\n'
            )
            chunk.append(_nse_tasks(t_trace_end, t_nse_end))
            chunk.extend(hosts_xml)
        t = t_nse_end if up_ips else t_ping_end
        yield "".join(chunk)
    elapsed = t - start + 0.42
    yield (
        _nse_tasks(t) + f'<runstats><finished time="{t}" timestr="{ctime(t)}" '
        f'summary="Nmap done at {ctime(t)}; '
        f"{n_hosts} IP address{'' if n_hosts == 1 else 'es'} "
        f'({_plural(st.up, "host")} up) scanned in {elapsed:.2f} seconds" '
        f'elapsed="{elapsed:.2f}" exit="success"/><hosts up="{st.up}" down="{st.down}" '
        f'total="{n_hosts}"/>\n</runstats>\n</nmaprun>\n'
    )


def write(n_hosts: int, seed: int, up_ratio: float, out: BinaryIO) -> dict[str, object]:
    """Stream the document into ``out`` in ~1 MiB writes; return size, digest and
    counts (the digest lets a harness check a pass-through without keeping the input)."""
    st = Stats()
    digest = hashlib.sha256()
    size = 0
    buf: list[bytes] = []
    buffered = 0
    for chunk in generate(n_hosts, seed, up_ratio, st):
        data = chunk.encode("ascii")
        buf.append(data)
        buffered += len(data)
        if buffered >= WRITE_CHUNK:
            block = b"".join(buf)
            digest.update(block)
            out.write(block)
            size += len(block)
            buf, buffered = [], 0
    block = b"".join(buf)
    digest.update(block)
    out.write(block)
    size += len(block)
    out.flush()
    return {
        "bytes": size,
        "sha256": digest.hexdigest(),
        "hosts": st.hosts,
        "up": st.up,
        "down": st.down,
        "open_ports": st.open_ports,
        "seed": seed,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--hosts", type=int, default=1000, help="number of <host> elements")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--up-ratio",
        type=float,
        default=0.65,
        help="share of targets that are up (the rest are -v down hosts)",
    )
    ap.add_argument(
        "-o", "--output", default="-", help="file to write ('-' = stdout); gzip when it ends in .gz"
    )
    ap.add_argument(
        "--stats",
        metavar="FILE",
        help="write JSON {bytes, sha256, hosts, up, down, ...} here when done",
    )
    a = ap.parse_args(argv)
    if a.hosts < 1:
        ap.error("--hosts must be >= 1")
    try:
        if a.output == "-":
            info = write(a.hosts, a.seed, a.up_ratio, sys.stdout.buffer)
        elif a.output.endswith(".gz"):
            with gzip.open(a.output, "wb", compresslevel=6) as gz:
                info = write(a.hosts, a.seed, a.up_ratio, gz)  # type: ignore[arg-type]
        else:
            with open(a.output, "wb") as fh:
                info = write(a.hosts, a.seed, a.up_ratio, fh)
    except BrokenPipeError:
        # The reader stopped early (e.g. `| head`); that is not an error for a generator.
        sys.stderr.close()
        return 0
    if a.stats:
        with open(a.stats, "w", encoding="utf-8") as fh:
            json.dump(info, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
