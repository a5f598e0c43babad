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

from nmapx.errors import ExcludeError

#: One element of an octet list: ``7``, ``2-5``, or open-ended ``6-``, ``-3``, ``-`` (Nmap's).
_OCTET_PART = re.compile(r"^(?:(\d+)|(\d*)-(\d*))$")
#: A comment in an exclude file: from ``#`` to the end of the line, as Nmap reads them.
_COMMENT = re.compile(r"#[^\n]*")


def _name_key(name: str) -> str:
    """Host names compare case-insensitively and without the root's trailing dot."""
    return name.lower().rstrip(".")


def _octet_set(text: str, spec: str) -> frozenset[int]:
    if text == "*":
        return frozenset(range(256))
    values: set[int] = set()
    for part in text.split(","):
        match = _OCTET_PART.match(part)
        if match is None:
            raise ExcludeError(f"bad exclude specification '{spec}'")
        if match[1] is not None:
            low = high = int(match[1])
        else:
            low, high = int(match[2] or 0), int(match[3] or 255)
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
            self.names.add(_name_key(spec.split("/")[0]))
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
        return any(_name_key(name) in self.names for name in names)


def _split(raw: str) -> list[str]:
    """Nmap separates --exclude entries with commas; octet lists also use commas (1,3.0.0.1).

    An entry therefore continues while the text after a comma does not look like the start of
    a new entry (a dotted address or a name), which keeps ``10.0.0.1,3`` as one pattern.
    Exclude files separate entries with whitespace and may hold ``#`` comments, which run to
    the end of the line wherever they start (Nmap's ``--excludefile`` reads them so).
    """
    entries: list[str] = []
    for token in _COMMENT.sub("", raw).split():
        for piece in token.split(","):
            if entries and piece and entries[-1] and not _starts_entry(piece):
                entries[-1] += "," + piece
            elif piece:
                entries.append(piece)
    return entries


def _starts_entry(piece: str) -> bool:
    return "." in piece or ":" in piece or not piece.replace("-", "").replace("*", "").isdigit()


class Scope:
    """The set of addresses probes may contact; it grows as hosts stream in.

    It also answers which address a host *name* stands for, from the names in the input:
    nmapx never resolves a name a script asks for, because the lookup itself would be traffic
    to a resolver that is not a host of the input (and would tell it the name).
    """

    def __init__(self, exclusions: Exclusions | None = None) -> None:
        self.exclusions = exclusions or Exclusions()
        self._hosts: dict[str, tuple[str, ...]] = {}
        #: Verdicts for known hosts: asked on every connect, final once the host is known.
        self._verdicts: dict[str, bool] = {}
        #: Host names in the input -> the address of the first host that carries the name.
        self._names: dict[str, str] = {}

    def add_host(self, address: str | None, names: Iterable[str] = ()) -> None:
        """Add a host of the input. An address seen again keeps the names it had: Nmap scans a
        target listed twice twice, and an exclusion by name must hold for both copies."""
        if address:
            names = tuple(n for n in names if n)
            self._hosts[address] = tuple(dict.fromkeys((*self._hosts.get(address, ()), *names)))
            self._verdicts.pop(address, None)
            for name in names:
                self._names.setdefault(_name_key(name), address)

    def address_of(self, name: str) -> str | None:
        """The address of the input's host called ``name`` (case-insensitive), or None."""
        return self._names.get(_name_key(name))

    def allows(self, address: str) -> bool:
        verdict = self._verdicts.get(address)
        if verdict is not None:
            return verdict
        names = self._hosts.get(address)
        if names is None:
            return False  # not (yet) a host of the input: never cached
        verdict = self._verdicts[address] = not self.exclusions.excludes(address, names)
        return verdict
