"""Which addresses probes may contact: the hosts of the input, minus ``--exclude``.

nmapx never sends a packet to an address that is not a host of the scan it is enriching: a
script that asks for anything else is refused before any packet leaves. Exclusions use the
target syntax Nmap accepts for ``--exclude``: addresses, CIDR blocks, octet ranges and lists
(``192.168.0.1-20``, ``10.0.0,1.*``), and names, which are matched against the host names in
the input rather than resolved (resolving would itself be network traffic).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from nmapx.errors import NmapxError

_OCTET_PART = re.compile(r"^(\d+)(?:-(\d+))?$")


class ExcludeError(NmapxError):
    """An ``--exclude`` / ``--exclude-file`` entry nmapx cannot understand."""


def _octet_set(text: str, spec: str) -> frozenset[int]:
    if text == "*":
        return frozenset(range(256))
    values: set[int] = set()
    for part in text.split(","):
        match = _OCTET_PART.match(part)
        if match is None:
            raise ExcludeError(f"bad exclude specification '{spec}'")
        low = int(match[1])
        high = int(match[2]) if match[2] else low
        if not 0 <= low <= high <= 255:
            raise ExcludeError(f"bad exclude specification '{spec}'")
        values.update(range(low, high + 1))
    return frozenset(values)


@dataclass(frozen=True)
class _OctetPattern:
    octets: tuple[frozenset[int], ...]

    def matches(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if address.version != 4:
            return False
        return all(o in allowed for o, allowed in zip(address.packed, self.octets, strict=True))


@dataclass
class Exclusions:
    """Parsed ``--exclude`` entries."""

    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list)
    patterns: list[_OctetPattern] = field(default_factory=list)
    names: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, specs: Iterable[str]) -> Exclusions:
        result = cls()
        for raw in specs:
            for spec in _split(raw):
                result._add(spec)
        return result

    def _add(self, spec: str) -> None:
        try:
            self.networks.append(ipaddress.ip_network(spec, strict=False))
            return
        except ValueError:
            pass
        parts = spec.split(".")
        if len(parts) == 4 and all(re.fullmatch(r"[\d,*-]+", p) for p in parts):
            self.patterns.append(_OctetPattern(tuple(_octet_set(p, spec) for p in parts)))
            return
        if re.fullmatch(r"[A-Za-z0-9_.-]+(/\d+)?", spec):
            self.names.add(spec.split("/")[0].lower().rstrip("."))
            return
        raise ExcludeError(f"bad exclude specification '{spec}'")

    def excludes(self, address: str, names: Iterable[str] = ()) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return True  # not an address at all: never contact it
        if any(ip in network for network in self.networks):
            return True
        if any(pattern.matches(ip) for pattern in self.patterns):
            return True
        return any(name.lower().rstrip(".") in self.names for name in names)


def _split(raw: str) -> list[str]:
    """Nmap separates --exclude entries with commas; octet lists also use commas (1,3.0.0.1).

    An entry therefore continues while the text after a comma does not look like the start of
    a new entry (a dotted address or a name), which keeps ``10.0.0.1,3`` as one pattern.
    """
    entries: list[str] = []
    for token in raw.replace("\n", " ").split():
        for piece in token.split(","):
            if entries and piece and entries[-1] and not _starts_entry(piece):
                entries[-1] += "," + piece
            elif piece:
                entries.append(piece)
    return entries


def _starts_entry(piece: str) -> bool:
    return "." in piece or ":" in piece or not piece.replace("-", "").replace("*", "").isdigit()


class Scope:
    """The set of addresses probes may contact; it grows as hosts stream in."""

    def __init__(self, exclusions: Exclusions | None = None) -> None:
        self.exclusions = exclusions or Exclusions()
        self._hosts: dict[str, tuple[str, ...]] = {}
        #: Verdicts for known hosts: asked on every connect, final once the host is known.
        self._verdicts: dict[str, bool] = {}

    def add_host(self, address: str | None, names: Iterable[str] = ()) -> None:
        if address:
            self._hosts[address] = tuple(names)
            self._verdicts.pop(address, None)

    def allows(self, address: str) -> bool:
        verdict = self._verdicts.get(address)
        if verdict is not None:
            return verdict
        names = self._hosts.get(address)
        if names is None:
            return False  # not (yet) a host of the input: never cached
        verdict = self._verdicts[address] = not self.exclusions.excludes(address, names)
        return verdict
