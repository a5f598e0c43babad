"""NSE's ``shortport``: ready-made portrules (nselib/shortport.lua), same defaults.

Every helper returns a ``portrule(host, port)`` function. Matching is exact equality, as
``tableaux.contains`` does: protocols default to TCP only and states to open and
open|filtered, which is why a UDP port never matches unless the rule asks for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from nmapx.model.ports import Port

PortRule = Callable[[Any, Port], bool]
DEFAULT_STATES = ("open", "open|filtered")

LIKELY_SSL_PORTS = (
    261, 271, 322, 324, 443, 465, 563, 585, 636, 853, 989, 990, 992, 993, 994, 995, 2221, 2252,
    2376, 2482, 3269, 3389, 4433, 4740, 4911, 5061, 5349, 5986, 6380, 16379, 6514, 6679, 6697,
    8443, 9001, 8883, 11712,
)  # fmt: skip
LIKELY_SSL_SERVICES = (
    "ftps", "ftps-data", "ftps-control", "https", "https-alt", "imaps", "ircs", "ldapssl",
    "ms-wbt-server", "pop3s", "sip-tls", "smtps", "telnets", "tor-orport",
)  # fmt: skip
LIKELY_DTLS_PORTS = (443, 853, 2221, 4740, 4755, 5349, 5684, 6514, 6699, 8232, 10161, 10162, 41230)
HTTP_PORTS = (80, 443, 631, 7080, 8080, 8443, 8088, 5800, 3872, 8180, 8000)
HTTP_SERVICES = (
    "http", "https", "ipp", "http-alt", "https-alt", "vnc-http", "oem-agent", "soap",
    "http-proxy", "caldav", "carddav", "webdav",
)  # fmt: skip
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if isinstance(value, str | int) or value is None:
        return (value,)
    return tuple(value)


def _includes(ports: Iterable[int | str], number: int) -> bool:
    """NSE's ``port_includes``: numbers, and ``"N"``/``"N-M"`` strings (bad ones raise)."""
    for item in ports:
        if item == number:
            return True
        if isinstance(item, str):
            match = _RANGE.match(item)
            if match is None:
                raise ValueError("Incorrect port range specification.")
            low = int(match[1])
            high = int(match[2]) if match[2] else low
            if low > high:
                raise ValueError(
                    "Incorrect port range specification, the starting port should have a"
                    " smaller value than the ending port."
                )
            if not (0 <= low and high < 65536):
                raise ValueError("Port range number out of range (0-65535).")
            if low <= number <= high:
                return True
    return False


def portnumber(ports: Any, protos: Any = "tcp", states: Any = DEFAULT_STATES) -> PortRule:
    """True for the given port numbers, protocols and states."""
    ports_t, protos_t, states_t = _as_tuple(ports), _as_tuple(protos), _as_tuple(states)

    def rule(host: Any, port: Port) -> bool:
        return (
            _includes(ports_t, port.number) and port.protocol in protos_t and port.state in states_t
        )

    return rule


def service(services: Any, protos: Any = "tcp", states: Any = DEFAULT_STATES) -> PortRule:
    """True when Nmap named the port's service one of ``services`` (a nil name never matches)."""
    services_t, protos_t, states_t = _as_tuple(services), _as_tuple(protos), _as_tuple(states)

    def rule(host: Any, port: Port) -> bool:
        return (
            port.service is not None
            and port.service in services_t
            and port.protocol in protos_t
            and port.state in states_t
        )

    return rule


def port_or_service(
    ports: Any, services: Any, protos: Any = "tcp", states: Any = DEFAULT_STATES
) -> PortRule:
    """``portnumber(...) or service(...)`` with the same defaults."""
    by_number = portnumber(ports, protos, states)
    by_service = service(services, protos, states)

    def rule(host: Any, port: Port) -> bool:
        return by_number(host, port) or by_service(host, port)

    return rule


#: Nmap's default ``Exclude`` line of nmap-service-probes: printers that print what they get.
EXCLUDED_PORTS = {("tcp", n) for n in range(9100, 9108)}


def port_is_excluded(number: int, protocol: str = "tcp") -> bool:
    return (protocol, number) in EXCLUDED_PORTS


def version_port_or_service(
    ports: Any,
    services: Any,
    protos: Any = "tcp",
    states: Any = DEFAULT_STATES,
    rarity: int = 7,
) -> PortRule:
    """``port_or_service`` for version-category scripts: also honours exclusions and rarity."""
    base = port_or_service(ports, services, protos, states)

    def rule(host: Any, port: Port) -> bool:
        from nmapx.nse import nmap

        return (
            base(host, port)
            and not port_is_excluded(port.number, port.protocol)
            and nmap.version_intensity() >= rarity
        )

    return rule


http = port_or_service(HTTP_PORTS, HTTP_SERVICES)
ssh = port_or_service((22, 2222, 55554, 22222, 2382, 830), ("ssh", "netconf-ssh"))


def ssl(host: Any, port: Port) -> bool:
    """Likely SSL/TLS by the list rules of shortport.ssl.

    Nmap additionally *probes* open ports that have no -sV match (a TLS ClientHello through
    ``comm.exchange``). nmapx keeps rules free of network I/O, so only the list-based part
    runs here; a script that needs certainty should probe in its action.
    """
    if port.version.service_tunnel == "ssl":
        return True
    if port_or_service(LIKELY_SSL_PORTS, LIKELY_SSL_SERVICES, ("tcp", "sctp"))(host, port):
        return True
    return portnumber(LIKELY_DTLS_PORTS, "udp")(host, port)


def port_range(spec: str) -> PortRule:
    """A portrule from Nmap ``-p`` syntax (``T:80,1-30,U:31337``; unprefixed = TCP and UDP)."""
    wanted: dict[str, list[str]] = {"tcp": [], "udp": [], "sctp": []}
    targets: tuple[str, ...] = ("tcp", "udp")
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        prefix, colon, rest = item.partition(":")
        if colon:
            targets = {"T": ("tcp",), "U": ("udp",), "S": ("sctp",)}.get(prefix.upper(), targets)
            item = rest
        for proto in targets:
            wanted[proto].append(item)

    def rule(host: Any, port: Port) -> bool:
        items = wanted.get(port.protocol, [])
        return bool(items) and _includes(items, port.number) and port.state in DEFAULT_STATES

    return rule
