"""The per-host model that rules and actions see.

A :class:`Host` wraps one ``<host>`` element as it streamed in. It offers three views, each
built only when asked for, so a pass-through with nothing to run pays for none of them:

* ``host.nmap_host``: a python-libnmap ``NmapHost``, the API most Python users already know;
* ``host.nse``: the NSE-shaped host table (docs/nse-semantics.md §2.1), what ported scripts read;
* ``host.ports`` / ``host.get_port_state()``: NSE port tables (§2.2), for *any* scanned port,
  including those Nmap folded into ``<extraports>`` (§2.3). The tables, and every rule that
  derives a port's state, are :mod:`nmapx.model.ports`; the host only finds its elements.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from lxml import etree

from nmapx.errors import NmapxError
from nmapx.model.ports import (
    PROTOCOLS,
    ExtraPorts,
    Port,
    extraports_of,
    folded_port,
    port_from_element,
)
from nmapx.model.portset import PortSet
from nmapx.model.values import float_or_none, int_or
from nmapx.nmapxml.parsers import safe_parser

if TYPE_CHECKING:
    from libnmap.objects import NmapHost

    from nmapx.model.results import PortStateResult, ScriptResult, ServiceResult


@dataclass(frozen=True, slots=True)
class ScanInfo:
    """One ``<scaninfo>``: which ports of which protocol the scan covered."""

    type: str
    protocol: str
    services: PortSet


@dataclass
class ScanContext:
    """Facts about the whole scan that a single host's element does not carry."""

    source: str = "<stdin>"
    nmaprun: Mapping[str, str] = field(default_factory=dict)
    scaninfo: list[ScanInfo] = field(default_factory=list)
    verbose: int = 0
    debugging: int = 0
    #: The input's ``<?xml ...?>`` declaration: a host parsed on its own needs its encoding.
    xml_declaration: bytes = b""
    _scanned: dict[str, PortSet] = field(default_factory=dict, repr=False, compare=False)

    def add_scaninfo(self, element: etree._Element) -> None:
        protocol = element.get("protocol", "")
        try:
            services = PortSet.parse(element.get("services", ""))
        except ValueError:
            services = PortSet()
        self.scaninfo.append(ScanInfo(element.get("type", ""), protocol, services))
        self._scanned.clear()

    def scanned(self, protocol: str) -> PortSet:
        """Every port of ``protocol`` that the scan probed (cached: asked once per host)."""
        cached = self._scanned.get(protocol)
        if cached is None:
            cached = PortSet()
            for info in self.scaninfo:
                if info.protocol == protocol:
                    cached = cached | info.services
            self._scanned[protocol] = cached
        return cached

    @property
    def protocols(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(info.protocol for info in self.scaninfo))


@dataclass
class NseHost:
    """NSE's host table (§2.1). Times are in seconds; ``registry`` is shared per host."""

    ip: str
    name: str
    targetname: str | None
    reason: str
    reason_ttl: int
    mac_addr: bytes | None
    bin_ip: bytes | None
    times: dict[str, float]
    traceroute: list[dict[str, Any]]
    os_fp: str | None
    os: list[dict[str, Any]] | None
    registry: dict[str, Any] = field(default_factory=dict)
    directly_connected: bool | None = None
    interface: str | None = None
    interface_mtu: int = 0
    mac_addr_next_hop: bytes | None = None
    mac_addr_src: bytes | None = None
    bin_ip_src: bytes | None = None
    #: The host this table describes (NSE's ``_Target``): how ``nmap.get_port_state`` finds it.
    _target: Host | None = field(default=None, repr=False, compare=False)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def copy(self) -> NseHost:
        """A script thread's own copy; ``registry`` stays shared by every script on the host."""
        clone = object.__new__(NseHost)
        clone.__dict__.update(self.__dict__)
        clone.times = dict(self.times)
        clone.traceroute = [dict(hop) for hop in self.traceroute]
        if self.os:
            clone.os = [
                {"name": m["name"], "classes": [dict(c, cpe=list(c["cpe"])) for c in m["classes"]]}
                for m in self.os
            ]
        return clone


_MAC = re.compile(r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$")


def is_perfect_os_match(accuracy: int, *, ipv6: bool) -> bool:
    """Whether Nmap counted a written ``<osmatch>`` as a perfect match (``num_perfect``).

    Both ``-oN`` (``Running:``/``OS details:`` rather than guesses) and NSE's ``host.os``
    (perfect matches only) depend on it. IPv4 (osscan2.cc): a perfect match is an exact
    one, accuracy 1.0, written as 100. IPv6 (FPEngine.cc ``classify``): the accuracy is a
    classifier's probability, so the perfect match is usually below 100 (99, 97, ...); Nmap
    reports success only when exactly one match is within 90 % of the best and its novelty
    is low, counts that one as perfect, and otherwise writes no ``<osmatch>`` at all. So
    every match written for an IPv6 host is perfect.
    """
    return ipv6 or accuracy >= 100


@dataclass(frozen=True)
class HeldResults:
    """Script ids of the results an input host already holds: at host level, and per
    (protocol, port number)."""

    host: frozenset[str]
    ports: dict[tuple[str, int], frozenset[str]]

    def holds(self, script_id: str, port: tuple[str, int] | None) -> bool:
        """Whether the result of ``script_id`` for the host (``port`` None) or a port is held."""
        if port is None:
            return script_id in self.host
        return script_id in self.ports.get(port, frozenset())


class Host:
    """One ``<host>`` of the input, as read, plus the script results added to it."""

    def __init__(
        self,
        element: etree._Element | None,
        raw: bytes,
        *,
        context: ScanContext,
        index: int = 0,
        line: int = 1,
        offset: int = 0,
        gap: bytes = b"",
    ) -> None:
        self._element = element
        self.raw = raw
        self.context = context
        self.index = index
        self.line = line
        self.offset = offset
        self.gap = gap
        #: Results to add, per ``(protocol, portid)``; see :meth:`add_port_result`.
        self.port_results: dict[tuple[str, int], list[ScriptResult]] = {}
        self.host_results: list[ScriptResult] = []
        #: New ``<service>`` elements per ``(protocol, portid)``: what scripts decided with
        #: ``nmap.set_port_version`` (the last call for a port wins, as in Nmap).
        self.service_results: dict[tuple[str, int], ServiceResult] = {}
        #: New ``<state>`` elements per ``(protocol, portid)`` (``nmap.set_port_state``).
        self.state_results: dict[tuple[str, int], PortStateResult] = {}
        #: :attr:`raw` with the results spliced in, once a writer has asked for it
        #: (:func:`nmapx.output.xml.enriched_bytes` fills it): spliced once, and every format
        #: reads the very same bytes. None until then, and after :meth:`discard_results`.
        self.enriched: bytes | None = None

    def __repr__(self) -> str:
        return f"<Host {self.address or '?'} line {self.line}>"

    @property
    def element(self) -> etree._Element:
        """The ``<host>`` element, parsed from :attr:`raw` the first time it is asked for.

        Why lazily: a pure pass-through never looks inside a host, and the reader then only
        checks each host's well-formedness (a third faster than building its tree). ``raw``
        has passed that check, so parsing it here cannot fail on well-formedness.
        """
        if self._element is None:
            self._element = etree.fromstring(self.context.xml_declaration + self.raw, _HOST_PARSER)
        return self._element

    # ----------------------------------------------------------------- identity
    @cached_property
    def addresses(self) -> list[tuple[str, str]]:
        """``(addrtype, addr)`` of every ``<address>``, in document order."""
        return [
            (a.get("addrtype", ""), a.get("addr", "")) for a in self.element.iterfind("address")
        ]

    @cached_property
    def address(self) -> str | None:
        """The IP address (IPv4 or IPv6) that Nmap scanned."""
        for addrtype, addr in self.addresses:
            if addrtype in ("ipv4", "ipv6"):
                return addr
        return None

    @cached_property
    def status(self) -> str:
        status = self.element.find("status")
        return status.get("state", "unknown") if status is not None else "unknown"

    @property
    def is_up(self) -> bool:
        return self.status == "up"

    def hostnames(self, kind: str | None = None) -> list[str]:
        return [
            h.get("name", "")
            for h in self.element.iterfind("hostnames/hostname")
            if kind is None or h.get("type") == kind
        ]

    # ----------------------------------------------------------------- views
    @cached_property
    def nmap_host(self) -> NmapHost:
        """This host as python-libnmap's ``NmapHost``.

        python-libnmap builds hosts from ElementTree-compatible elements; lxml's are, so the
        element that was parsed once for streaming is reused instead of parsed again.
        """
        from libnmap.parser import NmapParser

        try:
            return NmapParser._parse_xml_host(self.element)
        except Exception as exc:  # python-libnmap raises bare Exception on data it dislikes
            raise NmapxError(
                f"python-libnmap cannot model this host: {exc}",
                source=self.context.source,
                line=self.line,
            ) from exc

    @cached_property
    def nse(self) -> NseHost:
        """The NSE host table (§2.1)."""
        element = self.element
        status = element.find("status")
        mac = None
        for addrtype, addr in self.addresses:
            if addrtype == "mac" and _MAC.match(addr):
                mac = bytes.fromhex(re.sub("[:-]", "", addr))
                break
        ip = self.address or ""
        bin_ip = None
        if ip:
            try:
                bin_ip = ipaddress.ip_address(ip).packed
            except ValueError:
                bin_ip = None
        times_el = element.find("times")
        times: dict[str, float] = {}
        if times_el is not None:
            for attribute, key in (("srtt", "srtt"), ("rttvar", "rttvar"), ("to", "timeout")):
                value = float_or_none(times_el.get(attribute))
                if value is not None:
                    times[key] = value / 1e6
        names = self.hostnames("PTR")
        users = self.hostnames("user")
        os_fp_el = element.find("os/osfingerprint")
        return NseHost(
            ip=ip,
            name=names[0] if names else "",
            targetname=users[0] if users else None,
            reason=status.get("reason", "") if status is not None else "",
            reason_ttl=int_or(status.get("reason_ttl")) if status is not None else 0,
            mac_addr=mac,
            bin_ip=bin_ip,
            times=times,
            traceroute=self._traceroute(),
            os_fp=os_fp_el.get("fingerprint") if os_fp_el is not None else None,
            os=self._os_matches(),
            _target=self,
        )

    def _traceroute(self) -> list[dict[str, Any]]:
        """Hops indexed from TTL 1; a hop missing from the XML timed out and is ``{}``."""
        hops: dict[int, dict[str, Any]] = {}
        for hop in self.element.iterfind("trace/hop"):
            ttl = int_or(hop.get("ttl"))
            if ttl <= 0:
                continue
            entry: dict[str, Any] = {"ip": hop.get("ipaddr")}
            if hop.get("host"):
                entry["name"] = hop.get("host")
            rtt = float_or_none(hop.get("rtt"))
            if rtt is not None:
                entry["srtt"] = rtt / 1000
            hops[ttl] = entry
        if not hops:
            return []
        return [hops.get(ttl, {}) for ttl in range(1, max(hops) + 1)]

    def _os_matches(self) -> list[dict[str, Any]] | None:
        """Perfect OS matches only, each with the union of all perfect matches' classes."""
        ipv6 = ":" in (self.address or "")
        perfect = [
            match
            for match in self.element.iterfind("os/osmatch")
            if is_perfect_os_match(int_or(match.get("accuracy")), ipv6=ipv6)
        ]
        if not perfect or len(perfect) > 8:
            return None
        classes: list[dict[str, Any]] = []
        for match in perfect:
            for osclass in match.iterfind("osclass"):
                entry = {
                    "vendor": osclass.get("vendor"),
                    "osfamily": osclass.get("osfamily"),
                    "osgen": osclass.get("osgen"),
                    "type": osclass.get("type"),
                    "cpe": [c.text or "" for c in osclass.iterfind("cpe")],
                }
                if entry not in classes:
                    classes.append(entry)
        return [{"name": m.get("name"), "classes": classes} for m in perfect]

    # ----------------------------------------------------------------- ports
    @cached_property
    def _port_elements(self) -> dict[tuple[str, int], etree._Element]:
        """First ``<port>`` of each (protocol, number); real files sometimes repeat one."""
        found: dict[tuple[str, int], etree._Element] = {}
        for port in self.element.iterfind("ports/port"):
            found.setdefault((port.get("protocol", ""), int_or(port.get("portid"))), port)
        return found

    @property
    def ports(self) -> Iterator[Port]:
        """NSE port tables of every listed ``<port>``, in document order."""
        for element in self.element.iterfind("ports/port"):
            yield port_from_element(element)

    @cached_property
    def _extraports(self) -> tuple[ExtraPorts, ...]:
        return extraports_of(self.element)

    def get_port_state(self, number: int, protocol: str) -> Port | None:
        """NSE's ``nmap.get_port_state``: the port table of any scanned port, or None.

        Listed ports come from their ``<port>`` element. A port that was scanned (it is in the
        ``<scaninfo services>`` list of its protocol) but not listed was folded into
        ``<extraports>``: its state is the one whose ``<extrareasons ports=...>`` names it,
        or, when no port list says, the only extraports state that can apply to the protocol.
        If several could apply, nobody can know which: the state is ``"unknown"`` and
        ``possible_states`` lists the candidates (never a guess).
        """
        if not isinstance(number, int) or isinstance(number, bool):
            raise TypeError(f"port number must be an integer, not {type(number).__name__}")
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
        element = self._port_elements.get((protocol, number))
        if element is not None:
            return port_from_element(element)
        if number not in self.context.scanned(protocol):
            return None
        return folded_port(number, protocol, self._extraports)

    # ----------------------------------------------------------------- results
    @cached_property
    def held_results(self) -> HeldResults:
        """The script results the input already holds for this host and each of its ports.

        Why: a second pass over an archive (``--skip-existing``) must not probe again what the
        file already answers, and that is decided per target before any rule is asked.
        """
        host_ids = frozenset(s.get("id", "") for s in self.element.iterfind("hostscript/script"))
        ports: dict[tuple[str, int], frozenset[str]] = {}
        for port in self.element.iterfind("ports/port"):
            key = (port.get("protocol", ""), int_or(port.get("portid")))
            ids = frozenset(s.get("id", "") for s in port.iterfind("script"))
            ports[key] = ports.get(key, frozenset()) | ids  # a repeated port: one service
        return HeldResults(host_ids, ports)

    def add_port_result(self, protocol: str, number: int, result: ScriptResult) -> None:
        """Attach a port script result; the XML writer places it inside that ``<port>``."""
        self.port_results.setdefault((protocol, number), []).append(result)

    def add_host_result(self, result: ScriptResult) -> None:
        """Attach a host script result; it goes into ``<hostscript>``."""
        self.host_results.append(result)

    def set_service(self, protocol: str, number: int, service: ServiceResult) -> None:
        """Replace the service of a listed port (``nmap.set_port_version``), as Nmap does: the
        XML, the normal output and the reports then show the script's verdict."""
        self.service_results[(protocol, number)] = service
        self.enriched = None

    def set_state(self, protocol: str, number: int, state: PortStateResult) -> None:
        """Correct the state of a listed port (``nmap.set_port_state``), as Nmap does."""
        self.state_results[(protocol, number)] = state
        self.enriched = None

    @property
    def has_results(self) -> bool:
        return bool(
            self.port_results or self.host_results or self.service_results or self.state_results
        )

    def discard_results(self) -> None:
        """Drop every result added so far: the host is then written as it was read.

        Why all of them: a host is either enriched by all of its scripts or left unchanged,
        never half (a cancelled or failed scan, an expired host timeout, as Nmap does).
        """
        self.port_results.clear()
        self.host_results.clear()
        self.service_results.clear()
        self.state_results.clear()
        self.enriched = None


def parse_attributes(tag_bytes: bytes) -> dict[str, str]:
    """Attributes of one start tag's raw bytes (values entity-decoded), for the writer."""
    element = etree.fromstring(tag_bytes.rstrip(b"/>").rstrip() + b"/>", _TAG_PARSER)
    return dict(element.attrib)


_TAG_PARSER = safe_parser()
_HOST_PARSER = safe_parser()


__all__ = [
    "Host",
    "NseHost",
    "ScanContext",
    "ScanInfo",
    "is_perfect_os_match",
    "parse_attributes",
]
