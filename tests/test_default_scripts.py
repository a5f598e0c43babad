"""``-sC`` (``--script default``) on every test server of the NSE tests at once: real Nmap 7.93
against nmapx, and the exact list of Nmap's default scripts that write something there.

* Servers, all in one private network namespace for the module, all on 127.0.0.1 (one host):
  nginx (80, 8080, 443, 8443: ``fixtures/nginx_server.py``), OpenSSH with the ``MODERN``
  profile (22; told to listen on 127.0.0.1 instead of its profile's address, so that one host
  holds everything), vsftpd, exim4 and dovecot (21, 25, 110, 143, 993, 995), MariaDB, Redis,
  memcached and three TigerVNC servers (3306, 6379, 11211 TCP and UDP, 5900-5902), unbound
  (53), ntpd (123/udp), snmpd (161/udp) and rpcbind (111). No two of them share an address and
  port (nginx and rpcbind listen on the wildcard address, the rest on 127.0.0.1).
* Nmap: ``nmap -n -Pn -sT [-sU] -p ... --max-retries 1 -sC`` writes ``-oX`` and ``-oN``; the
  same command without ``-sC`` gives the plain scan nmapx runs ``--script default`` on (in
  process, inside the namespace). ``--max-retries 1`` changes nothing here (every UDP port
  answers its first probe). The ports are scanned in :data:`GROUPS`, one Nmap per group, the
  groups at the same time: one Nmap over all ports takes 77 s, because shortport.ssl probes
  every port that ``-sT`` could not name with two TLS hellos under one host-wide mutex, and
  the servers that wait for more bytes before they answer (unbound and rpcbind over TCP,
  Redis, memcached) hold it for 7 s a probe while every other TLS and HTTP rule waits. One
  such port per group keeps each Nmap under 20 s and changes no result (a probe that times
  out says "not TLS" either way). The same again with ``-sV`` (:data:`NMAP_WRITES_SV`): Nmap
  ``-sV -sC`` against nmapx ``--script "default or version"`` on Nmap's plain ``-sV`` scan. All
  twelve Nmap runs go at once; the module takes about 75 s.
* Compared, for every script nmapx has: each ``<script>`` element byte for byte and its ``|``
  lines of ``-oN`` per (host, port, script), with the per-area tests' patterns for what
  differs between two runs of Nmap itself, imported from them (dates, clocks, counters,
  MariaDB's salt and thread id, Lua ``pairs()`` order; see each module's docstring); each
  port's ``<state>`` and ``<service>`` (rpcinfo, ntp-info and snmp-info rewrite them through
  ``set_port_version``) and its ``-oN`` row. And the exact sets: :data:`NMAP_WRITES` (the
  default scripts that wrote output, per port) and, of those, the ones nmapx has
  (:data:`NMAPX_HAS`), so that a new port, a regression or a new port of a script shows.
* Not compared: what nmapx lacks (snmp-processes and its kin list the machine's processes,
  sockets and packages, as snmpd in a network namespace still sees them), and Nmap's host
  script ``clock-skew``, whose output depends on chance: it prints ntp-info's skew, which
  Nmap 7.93 reads with the fraction divided by 2^28 (0 to 16 s off), and says nothing when the
  whole seconds come to 0.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import test_nse_db_vnc as db_vnc
import test_nse_udp_rpc as udp_rpc
from conftest import needs_nmap, nmapx_main, normal_script_blocks
from ssh_compare import NMAP_ATTEMPTS, NMAP_HOST_KEY_TYPES, all_host_keys
from ssh_compare import Outputs as SshOutputs
from ssh_compare import canonical as ssh_canonical
from test_nginx_scripts import CLOCK_READING
from test_nse_ftp_mail import canonical as mail_canonical
from test_nse_ftp_mail import canonical_normal as mail_canonical_normal
from test_nse_http_scripts import canonical_normal as http_canonical_normal
from test_nse_udp_rpc import script_elements

from fixtures import db_servers, mail_servers, netns, nginx_server, udp_servers
from fixtures.db_servers import Daemons
from fixtures.mail_servers import MailServers
from fixtures.netns import PrivateNetwork
from fixtures.nginx_server import Nginx
from fixtures.ssh_servers import MODERN, Sshd, sshd_unavailable

TARGET = "127.0.0.1"

#: Port groups, one Nmap each (module docstring): (TCP ports, UDP ports). At most one TCP port
#: per group that answers nothing to a TLS hello (53, 111, 6379, 11211).
GROUPS: dict[str, tuple[str, str]] = {
    "web-ssh": ("22,80,443,8080,8443", ""),
    "mail": ("21,25,110,143,993,995", ""),
    "db-vnc": ("3306,5900-5902,6379", ""),
    "memcached": ("11211", "11211"),
    "dns-ntp": ("53", "53,123"),
    "rpc-snmp": ("111", "111,161"),
}

Key = tuple[str, int]  # protocol, port

#: Nmap 7.93's default scripts that write output at -v0 on these servers, per port.
NMAP_WRITES: dict[Key, set[str]] = {
    ("tcp", 21): {"ftp-anon", "ftp-syst"},
    ("tcp", 22): {"ssh-hostkey"},
    ("tcp", 25): {"smtp-commands", "ssl-cert", "ssl-date"},
    ("tcp", 80): {"http-title", "http-methods", "http-robots.txt", "http-generator"},
    ("tcp", 110): {"pop3-capabilities", "ssl-cert", "ssl-date"},
    ("tcp", 111): {"rpcinfo"},
    ("tcp", 143): {"imap-capabilities", "ssl-cert", "ssl-date"},
    ("tcp", 443): {"http-title", "ssl-cert", "ssl-date", "tls-alpn"},
    ("tcp", 993): {"imap-capabilities", "ssl-cert", "ssl-date"},
    ("tcp", 995): {"pop3-capabilities", "ssl-cert", "ssl-date"},
    ("tcp", 3306): {"mysql-info"},
    ("tcp", 5900): {"vnc-info"},
    ("tcp", 5901): {"vnc-info"},
    ("tcp", 5902): {"vnc-info"},
    ("tcp", 8080): {"http-title", "http-robots.txt", "http-open-proxy"},
    ("tcp", 8443): {"http-title", "http-auth", "ssl-cert", "ssl-date"},
    ("udp", 53): {"dns-nsid", "dns-recursion"},
    ("udp", 111): {"rpcinfo"},
    ("udp", 123): {"ntp-info"},
    ("udp", 161): {
        "snmp-sysdescr", "snmp-info", "snmp-interfaces", "snmp-netstat", "snmp-processes",
        "snmp-win32-software",
    },
}  # fmt: skip

#: With ``-sV -sC``: Nmap runs the ``version`` category too (http-server-header; fingerprint-
#: strings on a service -sV could not name), rules see the probed services (993 and 995 keep
#: their table names: no match; 53/tcp is ``tcpwrapped``, unbound closing at once), and
#: 11211/udp is not scanned (Nmap's UDP version probes find no match for memcached: 100 s).
NMAP_WRITES_SV: dict[Key, set[str]] = {
    **{key: scripts for key, scripts in NMAP_WRITES.items() if key != ("tcp", 8080)},
    ("tcp", 80): NMAP_WRITES["tcp", 80] | {"http-server-header"},
    ("tcp", 443): NMAP_WRITES["tcp", 443] | {"http-server-header"},
    ("tcp", 8080): NMAP_WRITES["tcp", 8080],  # -sV named the product: the header adds nothing
    ("tcp", 8443): NMAP_WRITES["tcp", 8443] | {"http-server-header"},
    ("udp", 53): NMAP_WRITES["udp", 53] | {"fingerprint-strings"},
}

#: Of those, the ones nmapx has (``--script default``).
NMAPX_HAS = {
    "dns-nsid", "dns-recursion", "ftp-anon", "ftp-syst", "http-auth", "http-generator",
    "http-methods", "http-robots.txt", "http-title", "imap-capabilities", "mysql-info",
    "ntp-info", "pop3-capabilities", "rpcinfo", "smtp-commands", "snmp-info", "snmp-sysdescr",
    "ssh-hostkey", "ssl-cert", "ssl-date", "tls-alpn", "vnc-info", "http-server-header",
}  # fmt: skip

#: Per mode: Nmap's extra options, and nmapx's selection (Nmap's -sV -sC is ``default or
#: version``: NSE adds the category whenever -sV is given).
MODES = {"sT": ([], "default"), "sV": (["-sV"], "default or version")}

#: Host scripts Nmap may write here (module docstring: clock-skew's output is chance).
MAYBE_HOST = {"clock-skew"}


# =============================================================================== comparison
def element_canon(script: str, element: bytes, where: str) -> bytes:
    """The element with each area's patterns applied (their modules say why)."""
    if script == "ssh-hostkey":
        canon = ssh_canonical(element)
        assert canon is not None
        return canon
    if script in db_vnc.SCRIPTS:
        return db_vnc.masked_element(script, element, where)
    if script in udp_rpc.SCRIPTS:
        return udp_rpc.normalized(udp_rpc.canonical(element, script))
    return mail_canonical(script, element)  # FTP, mail, then TLS, then HTTP patterns


def normal_canon(script: str, lines: bytes, where: str) -> bytes:
    """A script's ``|`` lines of -oN with the same patterns."""
    if script in db_vnc.SCRIPTS:
        return db_vnc.masked_block(script, lines.decode(), where).encode()
    if script in udp_rpc.SCRIPTS:
        return udp_rpc.normalized(lines)
    if script.startswith("http-"):
        return http_canonical_normal(script, lines)
    return mail_canonical_normal(script, lines)


def is_clock(value: bytes) -> bool:
    """ssl-date's clock reading (a random ``gmt_unix_time`` near the clock: 2.5e-6 a run)."""
    return value in (CLOCK_READING, b"|_ssl-date: <clock reading>")


@dataclass(frozen=True)
class Run:
    """One group's files: Nmap's -sC output, the plain scan, nmapx's output."""

    nmap_xml: Path
    nmap_normal: Path
    plain: Path
    ours_xml: Path
    ours_normal: Path
    nmapx_seconds: float


def port_parts(xml: bytes) -> dict[Key, bytes]:
    """(protocol, port) -> its ``<state>`` and ``<service>`` elements as written."""
    found = {}
    for port in re.finditer(rb'<port protocol="(\w+)" portid="(\d+)">(.*?)</port>', xml, re.S):
        state = re.search(rb"<state [^>]*/>", port[3])
        service = re.search(rb"<service [^>]*(?:/>|>.*?</service>)", port[3], re.S)
        assert state is not None and service is not None
        found[port[1].decode(), int(port[2])] = state[0] + service[0]
    return found


def host_scripts(xml: bytes) -> set[str]:
    section = re.search(rb"<hostscript>(.*?)</hostscript>", xml, re.S)
    return (
        set()
        if section is None
        else {m.decode() for m in re.findall(rb'<script id="([^"]+)"', section[1])}
    )


# =============================================================================== fixtures
def _unavailable() -> str | None:
    return (
        netns.unavailable()
        or nginx_server.unavailable()
        or sshd_unavailable(MODERN)
        or mail_servers.unavailable()
        or db_servers.unavailable()
        or udp_servers.missing()
    )


pytestmark = [needs_nmap]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateNetwork]:
    """Every server of the NSE tests in one namespace (module docstring), stopped by PID."""
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    nginx_root = tmp_path_factory.mktemp("nginx")
    udp_dir = tmp_path_factory.mktemp("udp")
    with (
        PrivateNetwork(lifetime=600) as ns,
        Nginx(ns, nginx_root),
        Sshd(MODERN, ns, lifetime=600, addresses=[TARGET]),
        MailServers(ns),
        Daemons(ns, lifetime=600),
    ):
        for start in (udp_servers.start_snmpd, udp_servers.start_unbound,
                      udp_servers.start_ntpd, udp_servers.start_rpcbind):  # fmt: skip
            start(ns, udp_dir)
        yield ns


def _scan_args(mode: str, tcp: str, udp: str) -> list[str]:
    if mode == "sV":
        udp = ",".join(p for p in udp.split(",") if p and p != "11211")  # NMAP_WRITES_SV
    ports = ",".join([*([f"T:{tcp}"] if tcp else []), *([f"U:{udp}"] if udp else [])])
    scans = ["-sT", *(["-sU"] if udp else []), *MODES[mode][0]]
    return ["-n", "-Pn", *scans, "-p", ports, "--max-retries", "1"]


def _nmap_group(ns: PrivateNetwork, mode: str, name: str, into: Path) -> tuple[Path, Path, Path]:
    """Nmap with -sC (again while ssh-hostkey lacks a key: ssh_compare's module docstring),
    then the plain scan."""
    tcp, udp = GROUPS[name]
    scan = _scan_args(mode, tcp, udp)
    xml, normal, plain = into / "nmap.xml", into / "nmap.nmap", into / "plain.xml"
    complete = all_host_keys({TARGET: NMAP_HOST_KEY_TYPES["modern"]})
    for _ in range(NMAP_ATTEMPTS):
        ns.run(["nmap", *scan, "-sC", "-oX", xml, "-oN", normal, TARGET], timeout=180,
               check=True)  # fmt: skip
        if "22" not in tcp.split(",") or complete(SshOutputs(xml, normal)):
            break
    ns.run(["nmap", *scan, "-oX", plain, TARGET], timeout=180, check=True)
    return xml, normal, plain


@pytest.fixture(scope="module")
def runs(
    servers: PrivateNetwork, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], Run]:
    """Every (mode, group): all of Nmap's runs at once, then nmapx on each plain scan, one at
    a time."""
    jobs = [(mode, name) for mode in MODES for name in GROUPS]
    dirs = {job: tmp_path_factory.mktemp("-".join(job)) for job in jobs}
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {job: pool.submit(_nmap_group, servers, *job, dirs[job]) for job in jobs}
        nmap = {job: future.result(timeout=400) for job, future in futures.items()}
    done = {}
    for job, (xml, normal, plain) in nmap.items():
        ours_xml, ours_normal = dirs[job] / "nmapx.xml", dirs[job] / "nmapx.nmap"
        started = time.monotonic()
        with servers.entered():
            result = nmapx_main(
                "run", str(plain), "--script", MODES[job[0]][1],
                "-oX", str(ours_xml), "-oN", str(ours_normal),
            )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert b"Traceback" not in result.stderr, result.stderr
        done[job] = Run(xml, normal, plain, ours_xml, ours_normal, time.monotonic() - started)
    return done


def _of(runs: dict[tuple[str, str], Run], mode: str) -> dict[str, Run]:
    return {name: run for (m, name), run in runs.items() if m == mode}


#: What differs between two Nmap -sV runs of the same server in ``<service>`` and -oN rows:
#: memcached's uptime (in its version answer) and the fingerprint of an unnamed service
#: (its date and time).
_SERVICE_VOLATILE = [
    (re.compile(rb"uptime \d+ seconds"), b"uptime <n> seconds"),
    (re.compile(rb' servicefp="[^"]*"'), b' servicefp="*"'),
]


def _masked(data: bytes) -> bytes:
    for pattern, replacement in _SERVICE_VOLATILE:
        data = pattern.sub(replacement, data)
    return data


# =============================================================================== tests
@pytest.mark.parametrize("mode", MODES)
def test_nmap_default_scripts_that_write_here(runs: dict[tuple[str, str], Run], mode: str) -> None:
    """The exact list (so that a new result, or one gone, shows): per port, and which of
    them nmapx has; host scripts only clock-skew, sometimes."""
    written: dict[Key, set[str]] = {}
    for run in _of(runs, mode).values():
        xml = run.nmap_xml.read_bytes()
        for address, port, proto, script in script_elements(xml):
            assert address == TARGET
            written.setdefault((proto, port), set()).add(script)
        assert host_scripts(xml) <= MAYBE_HOST
    assert written == (NMAP_WRITES if mode == "sT" else NMAP_WRITES_SV)
    every = set().union(*written.values())
    assert every - NMAPX_HAS == {
        "http-open-proxy", "snmp-interfaces", "snmp-netstat", "snmp-processes",
        "snmp-win32-software", *(["fingerprint-strings"] if mode == "sV" else []),
    }  # fmt: skip
    assert NMAPX_HAS - every == ({"http-server-header"} if mode == "sT" else set())


@pytest.mark.parametrize("mode", MODES)
def test_nmapx_writes_what_nmap_writes(runs: dict[tuple[str, str], Run], mode: str) -> None:
    """Every element of every default script nmapx has: the same, where Nmap's is."""
    for name, run in _of(runs, mode).items():
        theirs = {
            key: element
            for key, element in script_elements(run.nmap_xml.read_bytes()).items()
            if key[3] in NMAPX_HAS
        }
        ours_bytes = run.ours_xml.read_bytes()
        ours = script_elements(ours_bytes)
        assert ours_bytes.count(b"<script id=") == len(ours), name  # none written twice
        assert set(ours) == set(theirs), name
        assert host_scripts(ours_bytes) == set()
        differing = {}
        for key, element in theirs.items():
            script = key[3]
            a = element_canon(script, element, f"nmap {key}")
            b = element_canon(script, ours[key], f"nmapx {key}")
            if a != b and not (script == "ssl-date" and (is_clock(a) or is_clock(b))):
                differing[key] = (b, a)
        assert not differing, name


_ROWS = re.compile(rb"^(?:\d+/(?:tcp|udp) |Service Info: ).*$", re.M)


@pytest.mark.parametrize("mode", MODES)
def test_normal_output_is_nmaps(runs: dict[tuple[str, str], Run], mode: str) -> None:
    """The ``|`` lines of -oN per (host, port, script) for the scripts nmapx has, the port
    rows (their SERVICE and VERSION columns follow set_port_version) and Service Info."""
    for name, run in _of(runs, mode).items():
        theirs_text, ours_text = run.nmap_normal.read_bytes(), run.ours_normal.read_bytes()
        theirs = normal_script_blocks(theirs_text, NMAPX_HAS)
        ours = normal_script_blocks(ours_text, NMAPX_HAS)
        assert set(ours) == set(theirs), name
        for key, lines in theirs.items():
            a = normal_canon(key[2], lines, f"nmap {key}")
            b = normal_canon(key[2], ours[key], f"nmapx {key}")
            assert a == b or (key[2] == "ssl-date" and (is_clock(a) or is_clock(b))), key
        assert _ROWS.findall(_masked(ours_text)) == _ROWS.findall(
            _masked(theirs_text)
        ), name


@pytest.mark.parametrize("mode", MODES)
def test_ports_are_nmaps(runs: dict[tuple[str, str], Run], mode: str) -> None:
    """Each port's ``<state>`` and ``<service>``: as Nmap left them after its scripts (as
    the scan nmapx read had them, or rewritten through set_port_version on both sides)."""
    rewritten = set()
    for name, run in _of(runs, mode).items():
        theirs = port_parts(_masked(run.nmap_xml.read_bytes()))
        ours = run.ours_xml.read_bytes()
        assert port_parts(_masked(ours)) == theirs, name
        plain = port_parts(_masked(run.plain.read_bytes()))
        rewritten |= {key for key in theirs if theirs[key] != plain[key]}
    # rpcinfo (-sT only: -sV named rpcbind already), ntp-info and snmp-info
    expected = {("udp", 123)} | (
        {("tcp", 111), ("udp", 111), ("udp", 161)} if mode == "sT" else set()
    )
    assert rewritten == expected
