"""Port data: the one module that reads ``<port>`` and ``<extraports>`` and derives port states.

Why one owner: a port's state is the fact every part of nmapx reads (port rules, NSE's
``nmap.get_port_state``, ``-oN``'s "Not shown:" line and its closing counts, the reports, the
diff), and when each reader derived it on its own the readers drifted apart without anyone
deciding it. Whoever changes how a port state is derived reads this module; the readers
elsewhere only format what it gives them. The reason names it uses are
:mod:`nmapx.model.reasons`; which port states port rules are offered is
:data:`nmapx.engine.jobs.PORTRULE_STATES`.

What is here:

* :class:`Port` and :class:`Version`, NSE's port table (docs/nse-semantics.md §2.2), and
  :func:`port_from_element` for a listed ``<port>``;
* :class:`ExtraPorts` and :class:`ExtraReason`, the parsed view of ``<extraports>`` and its
  ``<extrareasons>`` (:func:`read_extraports`, :func:`extraports_of`) that every reader uses
  instead of walking the elements;
* :func:`folded_port`: the NSE port table of a port Nmap folded into ``<extraports>`` (§2.3);
* :func:`state_counts`: ports per (protocol, state), folded ones included (``-oN``).

Where two readers *mean* different things, both rules are kept, named, side by side
(:func:`reasons_apply_to` for NSE, :func:`displayed_protocol` for ``-oN``), so that a change
to one is a visible decision about the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from lxml import etree

from nmapx.model.portset import PortSet
from nmapx.model.reasons import singular_reason
from nmapx.model.services import service_name
from nmapx.model.values import int_or

__all__ = [
    "PROTOCOLS",
    "UNKNOWN_STATE",
    "ExtraPorts",
    "ExtraReason",
    "Port",
    "Version",
    "displayed_protocol",
    "extraports_of",
    "folded_port",
    "port_from_element",
    "read_extraports",
    "reasons_apply_to",
    "state_counts",
]

PROTOCOLS = ("tcp", "udp", "sctp")
#: Nmap's name for a state nobody can know; also what Nmap itself calls PORT_UNKNOWN.
UNKNOWN_STATE = "unknown"


# --------------------------------------------------------------------------------------------
# NSE's port table


@dataclass(slots=True)
class Version:
    """NSE's ``port.version`` table (§2.2)."""

    name: str | None = None
    #: A float, as in NSE (``lua_pushnumber``): scripts that print it show ``10.0``.
    name_confidence: float = 3.0
    product: str | None = None
    version: str | None = None
    extrainfo: str | None = None
    hostname: str | None = None
    ostype: str | None = None
    devicetype: str | None = None
    service_tunnel: str = "none"
    service_fp: str | None = None
    service_dtype: str = "table"
    cpe: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Port:
    """NSE's port table (§2.2). ``state`` may be ``"unknown"``, see ``possible_states``."""

    number: int
    protocol: str
    state: str
    reason: str = ""
    reason_ttl: int = 0
    service: str | None = None
    version: Version = field(default_factory=Version)
    #: Where the state came from: ``"port"`` (a ``<port>`` element) or ``"extraports"``.
    origin: str = "port"
    #: When ``state`` is ``"unknown"``: the extraports states this port may be in.
    possible_states: tuple[str, ...] = ()

    def __getitem__(self, key: str) -> Any:
        """Allow ``port["number"]`` so that code written against NSE tables reads naturally."""
        return getattr(self, key)

    def copy(self) -> Port:
        """A script thread's own copy (NSE gives every thread a copy of the port table)."""
        version = self.version
        return Port(
            self.number, self.protocol, self.state, self.reason, self.reason_ttl, self.service,
            Version(
                version.name, version.name_confidence, version.product, version.version,
                version.extrainfo, version.hostname, version.ostype, version.devicetype,
                version.service_tunnel, version.service_fp, version.service_dtype,
                list(version.cpe),
            ),
            self.origin, self.possible_states,
        )  # fmt: skip


def _version_from(service: etree._Element | None) -> Version:
    if service is None:
        return Version()
    return Version(
        name=service.get("name"),
        name_confidence=float(int_or(service.get("conf"), 3)),
        product=service.get("product"),
        version=service.get("version"),
        extrainfo=service.get("extrainfo"),
        hostname=service.get("hostname"),
        ostype=service.get("ostype"),
        devicetype=service.get("devicetype"),
        service_tunnel="ssl" if service.get("tunnel") == "ssl" else "none",
        service_fp=service.get("servicefp"),
        service_dtype=service.get("method", "table"),
        cpe=[cpe.text or "" for cpe in service.iterfind("cpe")],
    )


def port_from_element(element: etree._Element) -> Port:
    """Build the NSE port table of one ``<port>`` element."""
    state = element.find("state")
    version = _version_from(element.find("service"))
    return Port(
        number=int_or(element.get("portid")),
        protocol=element.get("protocol", ""),
        state=state.get("state", UNKNOWN_STATE) if state is not None else UNKNOWN_STATE,
        reason=state.get("reason", "") if state is not None else "",
        reason_ttl=int_or(state.get("reason_ttl")) if state is not None else 0,
        service=version.name,
        version=version,
    )


# --------------------------------------------------------------------------------------------
# <extraports>: the parsed view every reader uses


@dataclass(frozen=True)
class ExtraReason:
    """One ``<extrareasons>``: why ``count`` ports of an ``<extraports>`` are in its state.

    ``reason``, ``proto`` and ``ports`` are the attributes as written (None when absent):
    ``reason`` may be a plural from Nmap up to 7.91 (see :mod:`nmapx.model.reasons`), and an
    ``<extrareasons>`` from before Nmap 7.80 has no ``proto`` (see :func:`reasons_apply_to`
    and :func:`displayed_protocol` for the two ways that is read).
    """

    reason: str | None
    proto: str | None
    #: The ``ports`` list as written (Nmap's ``1,3-4`` syntax); see :attr:`port_set`.
    ports: str | None
    count: int

    @cached_property
    def port_set(self) -> PortSet | None:
        """:attr:`ports` as a set; None when there is no list or it cannot be read.

        Parsed on first use only: just ``get_port_state`` asks, and a full scan's list can be
        long. (A plain frozen dataclass, not slotted, so that this can cache.)
        """
        if self.ports is None:
            return None
        try:
            return PortSet.parse(self.ports)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class ExtraPorts:
    """One ``<extraports>``: ``count`` ports in ``state`` that Nmap did not list one by one.

    ``state`` is the attribute as written (None when absent); each reader decides what a
    missing state shows as.
    """

    state: str | None
    count: int
    reasons: tuple[ExtraReason, ...]


def read_extraports(
    element: etree._Element,
    reasons: Iterable[etree._Element] | None = None,
    *,
    number: Callable[[str | None], int] = int_or,
) -> ExtraPorts:
    """The parsed view of one ``<extraports>`` element.

    ``reasons``: its ``<extrareasons>`` elements; by default its children of exactly that tag.
    ``-oN`` passes its own selection (it matches tags by local name, namespace or not).
    ``number``: how counts are read; ``-oN`` passes
    :func:`~nmapx.model.values.truncated_int`, as it reads every number (see
    :mod:`nmapx.model.values` for why the readers differ).
    """
    if reasons is None:
        reasons = element.iterfind("extrareasons")
    return ExtraPorts(
        element.get("state"),
        number(element.get("count")),
        tuple(
            ExtraReason(
                why.get("reason"), why.get("proto"), why.get("ports"), number(why.get("count"))
            )
            for why in reasons
        ),
    )


def extraports_of(host: etree._Element) -> tuple[ExtraPorts, ...]:
    """Every ``<extraports>`` of a ``<host>`` element (of each of its ``<ports>``), in order.

    What the model, the reports and the diff read: tags matched exactly, counts by
    :func:`~nmapx.model.values.int_or` (a damaged count is 0).
    """
    return tuple(read_extraports(extra) for extra in host.iterfind("ports/extraports"))


# --------------------------------------------------------------------------------------------
# An <extrareasons> without ``proto``: two readings, both kept on purpose


def reasons_apply_to(proto: str | None, protocol: str) -> bool:
    """NSE view (``get_port_state``): whether an ``<extrareasons proto>`` covers ``protocol``.

    An ``<extrareasons>`` without ``proto`` (Nmap before 7.80) applies to *every* protocol:
    the model cannot know which one Nmap meant, and must not hide a folded port from a script
    by guessing. An empty ``proto=""`` names no protocol, so it covers none.

    Compare :func:`displayed_protocol`, the ``-oN`` reading of the same attribute.
    """
    return proto is None or proto == protocol


def displayed_protocol(proto: str | None, listed_protocols: Iterable[str | None]) -> str | None:
    """``-oN`` view: the protocol an ``<extrareasons>`` is printed under ("... tcp ports").

    Its ``proto`` when it has one; without one (or an empty one), the host's only protocol
    among its listed ``<port>`` elements (``listed_protocols``: their ``protocol`` attributes),
    which is what Nmap 7.93 would have written into the line for such a scan; None when the
    host lists no port or ports of several protocols (the line then names no protocol).

    Compare :func:`reasons_apply_to`, the NSE reading of the same attribute: a script may ask
    about any protocol, a line of text must name one or none.
    """
    if proto:
        return proto
    protos = set(listed_protocols)
    protos.discard(None)
    if len(protos) == 1:
        return protos.pop()
    return None


# --------------------------------------------------------------------------------------------
# Derived states


def folded_port(number: int, protocol: str, extras: Iterable[ExtraPorts]) -> Port:
    """The NSE port table of a scanned port that no ``<port>`` lists (folded, §2.3).

    Its state is the one whose ``<extrareasons ports=...>`` names it, or, when no port list
    says, the only extraports state that can apply to ``protocol``
    (:func:`reasons_apply_to`). If several could apply, nobody can know which: the state is
    ``"unknown"`` and ``possible_states`` lists the candidates (never a guess). The reason is
    given in the singular, as NSE does, when exactly one can apply.
    """
    candidates: dict[str, set[str]] = {}  # state -> reasons that may apply
    for extra in extras:
        if extra.count <= 0:
            continue
        state = extra.state or ""
        if not extra.reasons:
            candidates.setdefault(state, set())
            continue
        for why in extra.reasons:
            if not reasons_apply_to(why.proto, protocol):
                continue
            reason = singular_reason(why.reason or "")
            ports = why.port_set
            if ports is None:
                candidates.setdefault(state, set()).add(reason)
            elif number in ports:
                return _folded(number, protocol, state, reason)
    if len(candidates) == 1:
        state, reasons = candidates.popitem()
        return _folded(number, protocol, state, reasons.pop() if len(reasons) == 1 else "")
    port = _folded(number, protocol, UNKNOWN_STATE, "")
    port.possible_states = tuple(candidates)
    return port


def _folded(number: int, protocol: str, state: str, reason: str) -> Port:
    name = service_name(number, protocol)
    return Port(
        number=number,
        protocol=protocol,
        state=state,
        reason=reason,
        service=name,
        version=Version(name=name),
        origin="extraports",
    )


def state_counts(
    listed: Sequence[tuple[str | None, str | None]], extras: Iterable[ExtraPorts]
) -> dict[tuple[str, str | None], int]:
    """Ports per (protocol, state), counting the ones folded into ``<extraports>`` too (``-oN``).

    ``listed``: (``protocol``, state) of each listed ``<port>`` as written, the state None
    when its ``<state>`` has no ``state`` attribute. An ``<extraports>`` block names no
    protocol; its ``<extrareasons proto>`` do (7.80+), and only those with a ``proto`` are
    counted then; without any, the whole block counts under :func:`displayed_protocol`'s
    protocol, else ``tcp``.
    """
    counts: dict[tuple[str, str | None], int] = {}
    for protocol, state in listed:
        key = (protocol or "", state)
        counts[key] = counts.get(key, 0) + 1
    for extra in extras:
        state = extra.state or ""
        reasons = [why for why in extra.reasons if why.proto]
        if reasons:
            for why in reasons:
                key = (why.proto or "", state)
                counts[key] = counts.get(key, 0) + why.count
        else:
            proto = displayed_protocol(None, (protocol for protocol, _ in listed)) or "tcp"
            key = (proto, state)
            counts[key] = counts.get(key, 0) + extra.count
    return counts
