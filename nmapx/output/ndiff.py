"""``nmapx diff OLD NEW``: what changed between two scans, in Ndiff's formats and exit codes.

Ndiff (Nmap's own scan comparison tool) is what users already read and script against, so
the text output follows its layout line for line (``-``/``+``/`` `` markers, the scan banner,
one block per changed host with its port table, OS matches and script results), the XML
output is Ndiff's ``nmapdiff`` format (version 1: ``<nmapdiff><scandiff>`` with ``<hostdiff>``,
``<portdiff>`` and ``<a>``/``<b>`` for the old and new side), and the exit status is Ndiff's:
0 the scans are the same, 1 they differ, 2 error.

Where nmapx differs from Ndiff 7.93, on purpose:

* Ndiff crashes (a Python 3 ``TypeError``) on any port or host with two or more script
  results (it sorts result objects that cannot be compared) and on any port whose only change
  is its script output (``list > int``). nmapx sorts results by script id (then output) and
  prints the port line followed by the script lines, which is what Ndiff meant to do.
* Hosts are paired by address (their first address in Ndiff's order: IPv4, IPv6, MAC), not by
  address *and* host name: a host whose reverse name changed is shown as one host whose name
  changed (``-old (addr):`` / ``+new (addr):``), not as one host gone and another new. Hosts
  without any address are paired by name. A host listed twice in one scan is paired by
  occurrence.
* An address type other than ipv4/ipv6/mac, which makes Ndiff raise, sorts after MACs.

Hosts are reported in Ndiff's order (by that first address as text), so for scans Ndiff can
read the text output is the same as Ndiff's, byte for byte.

Memory: both inputs are streamed by :func:`nmapx.nmapxml.reader.read_document` (one host element
at a time), and only a small summary of each host is kept: its addresses, names, state,
extraports counts, OS match names, and per listed port the state, service fields and script
outputs (no XML trees). That is roughly the size of the scan's normal output, for both scans.
"""

from __future__ import annotations

import datetime
import difflib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

from lxml import etree

from nmapx.errors import ExitStatus, NmapxError
from nmapx.model.host import Host
from nmapx.model.ports import extraports_of
from nmapx.model.values import int_or_none
from nmapx.nmapxml.reader import Prologue, TopLevelItem, read_document

log = logging.getLogger(__name__)

__all__ = [
    "DIFFERENT",
    "SAME",
    "BinaryOut",
    "HostSummary",
    "ScanSummary",
    "diff_files",
    "load_scan",
]

SAME = 0
DIFFERENT = 1
ERROR = 2
NDIFF_XML_VERSION = "1"
_ADDRESS_ORDER = {"ipv4": 0, "ipv6": 1, "mac": 2}

#: (script id, output) pairs, sorted by id then output.
Scripts = list[tuple[str, str]]


@dataclass(slots=True)
class PortSummary:
    """What Ndiff compares of one ``<port>``: state, service fields and script outputs."""

    number: int
    protocol: str
    state: str | None = None
    name: str | None = None
    product: str | None = None
    version: str | None = None
    extrainfo: str | None = None
    tunnel: str | None = None
    scripts: Scripts = field(default_factory=list)

    @property
    def spec(self) -> str:
        return f"{self.number}/{self.protocol}"

    def service(self) -> tuple[str | None, ...]:
        """The fields two services are compared by (Ndiff ignores the tunnel here)."""
        return (self.name, self.product, self.version, self.extrainfo)

    def name_string(self) -> str | None:
        parts = [p for p in (self.tunnel, self.name) if p is not None]
        return "/".join(parts) if parts else None

    def version_string(self) -> str | None:
        parts = [p for p in (self.product, self.version) if p is not None]
        if self.extrainfo is not None:
            parts.append(f"({self.extrainfo})")
        return " ".join(parts) if parts else None

    def columns(self) -> list[str | None]:
        return [self.spec, self.state or "unknown", self.name_string(), self.version_string()]


@dataclass(slots=True)
class HostSummary:
    """What Ndiff compares of one ``<host>``; ``state`` is None for "not in this scan"."""

    state: str | None = None
    addresses: list[tuple[str, str]] = field(default_factory=list)
    hostnames: list[str] = field(default_factory=list)
    ports: dict[tuple[int, str], PortSummary] = field(default_factory=dict)
    extraports: dict[str | None, int] = field(default_factory=dict)
    os: list[str] = field(default_factory=list)
    scripts: Scripts = field(default_factory=list)

    def sorted_addresses(self) -> list[tuple[str, str]]:
        return sorted(self.addresses, key=lambda a: (_ADDRESS_ORDER.get(a[0], 3), a[1]))

    def key(self) -> str:
        """How hosts are paired across scans: the first address, else the first name."""
        addresses = self.sorted_addresses()
        if addresses:
            return f"{addresses[0][1]:<40}"
        return " " * 40 + (sorted(self.hostnames)[0] if self.hostnames else "")

    def format_name(self) -> str:
        address_s = ", ".join(a for _, a in self.sorted_addresses())
        hostname_s = ", ".join(sorted(self.hostnames))
        if hostname_s:
            return f"{hostname_s} ({address_s})" if address_s else hostname_s
        return address_s or "<no name>"

    def is_extraports(self, state: str | None) -> bool:
        return state is None or state in self.extraports

    def extraports_string(self) -> str:
        counts = sorted(((count, state) for state, count in self.extraports.items()), reverse=True)
        return ", ".join(f"{count} {state} ports" for count, state in counts)


@dataclass
class ScanSummary:
    """One scan: its ``<nmaprun>`` facts and a summary per host (see the module docstring)."""

    name: str
    scanner: str | None = None
    version: str | None = None
    args: str | None = None
    start: int | None = None
    end: int | None = None
    hosts: list[HostSummary] = field(default_factory=list)
    prescripts: Scripts = field(default_factory=list)
    postscripts: Scripts = field(default_factory=list)
    status: ExitStatus = ExitStatus.OK

    def banner(self) -> str:
        scanner = self.scanner if self.scanner is not None and self.scanner != "nmap" else "Nmap"
        parts = [scanner]
        if self.version is not None:
            parts.append(self.version)
        parts.append("scan")
        if self.start is not None:
            parts.append("initiated " + _local(self.start).strftime("%a %b %d %H:%M:%S %Y"))
        if self.args is not None:
            parts.append(f"as: {self.args}")
        return " ".join(parts)


def _local(timestamp: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp)


def _timestamp(text: str | None) -> int | None:
    """An epoch time that has a date here; a damaged one is treated as absent (no banner
    date) instead of failing ``fromtimestamp`` later."""
    value = int_or_none(text)
    if value is not None:
        try:
            _local(value)
        except (OverflowError, OSError, ValueError):
            return None
    return value


def _scripts(parent: etree._Element | None) -> Scripts:
    if parent is None:
        return []
    found = [
        (s.get("id", ""), s.get("output", ""))
        for s in parent.iterfind("script")
        if s.get("id") is not None and s.get("output") is not None
    ]
    return sorted(found)


def summarize_host(element: etree._Element) -> HostSummary:
    """The summary of one ``<host>`` element, read the way Ndiff reads it."""
    host = HostSummary()
    status = element.find("status")
    if status is not None:
        host.state = status.get("state")
    for address in element.iterfind("address"):
        addr = address.get("addr")
        if addr is None:
            continue
        entry = (address.get("addrtype", "ipv4"), addr)
        if entry not in host.addresses:
            host.addresses.append(entry)
    for hostname in element.iterfind("hostnames/hostname"):
        name = hostname.get("name")
        if name is not None and name not in host.hostnames:
            host.hostnames.append(name)
    for extra in extraports_of(element):
        host.extraports[extra.state] = extra.count
    for port in element.iterfind("ports/port"):
        number = int_or_none(port.get("portid"))
        protocol = port.get("protocol")
        state = port.find("state")
        if number is None or protocol is None or state is None or state.get("state") is None:
            continue  # Ndiff skips such ports too
        summary = PortSummary(number, protocol, state.get("state"))
        service = port.find("service")
        if service is not None:
            summary.name = service.get("name")
            summary.product = service.get("product")
            summary.version = service.get("version")
            summary.extrainfo = service.get("extrainfo")
            summary.tunnel = service.get("tunnel")
        summary.scripts = _scripts(port)
        host.ports[(number, protocol)] = summary
    host.os = [m.get("name", "") for m in element.iterfind("os/osmatch") if m.get("name")]
    host.scripts = _scripts(element.find("hostscript"))
    return host


def load_scan(path: str) -> ScanSummary:
    """Stream ``path`` and keep a summary of each host; raises :class:`NmapxError`."""
    document = read_document(path)
    scan = ScanSummary(document.source.name)
    for item in document:
        if isinstance(item, Prologue):
            root = item.root
            scan.scanner = root.get("scanner")
            scan.version = root.get("version")
            scan.args = root.get("args")
            scan.start = _timestamp(root.get("start"))
        elif isinstance(item, Host):
            scan.hosts.append(summarize_host(item.element))
        elif isinstance(item, TopLevelItem) and item.element is not None:
            if item.name == "prescript":
                scan.prescripts = _scripts(item.element)
            elif item.name == "postscript":
                scan.postscripts = _scripts(item.element)
            elif item.name == "runstats":
                finished = item.element.find("finished")
                if finished is not None:
                    scan.end = int_or_none(finished.get("time"))
    scan.status = document.status
    return scan


# ------------------------------------------------------------------------------- diffing


@dataclass
class ScriptDiff:
    a: tuple[str, str] | None
    b: tuple[str, str] | None


def diff_scripts(a: Scripts, b: Scripts) -> list[ScriptDiff]:
    """Ndiff's merge of two id-sorted result lists: only results that differ."""
    diffs = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i][0] < b[j][0]:
            diffs.append(ScriptDiff(a[i], None))
            i += 1
        elif a[i][0] > b[j][0]:
            diffs.append(ScriptDiff(None, b[j]))
            j += 1
        else:
            if a[i][1] != b[j][1]:
                diffs.append(ScriptDiff(a[i], b[j]))
            i += 1
            j += 1
    diffs.extend(ScriptDiff(x, None) for x in a[i:])
    diffs.extend(ScriptDiff(None, y) for y in b[j:])
    return diffs


def _script_lines(result: tuple[str, str] | None) -> list[str]:
    if result is None:
        return []
    lines = result[1].splitlines()
    if lines:
        lines[0] = f"{result[0]}: {lines[0]}"
    out = ["|  " + line for line in lines[:-1]]
    if lines:
        out.append("|_ " + lines[-1])
    return out


def _script_diff_lines(diff: ScriptDiff) -> list[str]:
    a_lines, b_lines = _script_lines(diff.a), _script_lines(diff.b)
    out: list[str] = []
    if a_lines == b_lines:
        return out
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a_lines, b_lines).get_opcodes():
        if op in ("replace", "delete"):
            out.extend("-" + line for line in a_lines[i1:i2])
        if op in ("replace", "insert"):
            out.extend("+" + line for line in b_lines[j1:j2])
        if op == "equal":
            out.extend(" " + line for line in a_lines[i1:i2])
    return out


@dataclass
class PortDiff:
    a: PortSummary
    b: PortSummary
    scripts: list[ScriptDiff]
    cost: int


def diff_port(a: PortSummary, b: PortSummary) -> PortDiff:
    cost = int(a.state != b.state) + int(a.service() != b.service())
    scripts = diff_scripts(a.scripts, b.scripts)
    return PortDiff(a, b, scripts, cost + len(scripts))


@dataclass
class HostDiff:
    a: HostSummary
    b: HostSummary
    state_changed: bool = False
    id_changed: bool = False
    extraports_changed: bool = False
    ports: list[PortDiff] = field(default_factory=list)
    os_ops: Sequence[tuple[str, int, int, int, int]] = field(default_factory=list)
    os_changed: bool = False
    scripts: list[ScriptDiff] = field(default_factory=list)
    cost: int = 0


def diff_host(a: HostSummary, b: HostSummary) -> HostDiff:
    """Ndiff's ``HostDiff.diff``: what changed and how much (the cost)."""
    d = HostDiff(a, b)
    if a.state != b.state:
        d.state_changed = True
        d.cost += 1
    if set(a.addresses) != set(b.addresses) or set(a.hostnames) != set(b.hostnames):
        d.id_changed = True
        d.cost += 1
    for spec in sorted(set(a.ports) | set(b.ports)):
        port_a = a.ports.get(spec) or PortSummary(*spec)
        port_b = b.ports.get(spec) or PortSummary(*spec)
        port_diff = diff_port(port_a, port_b)
        if a.is_extraports(port_a.state) and b.is_extraports(port_b.state):
            continue  # only folded states on both sides: nothing a reader could see
        if port_diff.cost > 0:
            d.ports.append(port_diff)
            d.cost += port_diff.cost
    d.os_ops = difflib.SequenceMatcher(None, a.os, b.os).get_opcodes()
    os_cost = sum(1 for op in d.os_ops if op[0] != "equal")
    d.os_changed = os_cost > 0
    d.cost += os_cost
    if [(c, s) for s, c in a.extraports.items()] != [(c, s) for s, c in b.extraports.items()]:
        d.extraports_changed = True
        d.cost += 1
    d.scripts = diff_scripts(a.scripts, b.scripts)
    d.cost += len(d.scripts)
    return d


def host_pairs(a: Sequence[HostSummary], b: Sequence[HostSummary]) -> Iterator[HostDiff]:
    """Pair hosts by :meth:`HostSummary.key` (and occurrence), in Ndiff's order."""

    def keyed(hosts: Sequence[HostSummary]) -> dict[tuple[str, int], HostSummary]:
        seen: dict[str, int] = {}
        out = {}
        for host in hosts:
            key = host.key()
            seen[key] = seen.get(key, -1) + 1
            out[(key, seen[key])] = host
        return out

    keyed_a, keyed_b = keyed(a), keyed(b)
    for key in sorted(set(keyed_a) | set(keyed_b)):
        yield diff_host(keyed_a.get(key) or HostSummary(), keyed_b.get(key) or HostSummary())


# ------------------------------------------------------------------------------- text


def _table(rows: Iterable[Sequence[str | None] | str]) -> list[str]:
    """Ndiff's ``Table("** * * *")``: a mark column glued to the first, then space-separated
    left-justified columns, trailing spaces removed; a plain string is a raw row."""
    rows = list(rows)
    widths: list[int] = []
    cells: list[list[str] | str] = []
    for row in rows:
        if isinstance(row, str):
            cells.append(row)
            continue
        values = list(row)
        while values and values[-1] is None:
            values.pop()
        texts = ["" if v is None else v for v in values]
        for i, text in enumerate(texts):
            if i == len(widths):
                widths.append(len(text))
            else:
                widths[i] = max(widths[i], len(text))
        cells.append(texts)
    lines = []
    for row in cells:
        if isinstance(row, str):
            lines.append(row)
            continue
        line = ""
        for i, text in enumerate(row):
            line += text.ljust(widths[i]) + ("" if i == 0 else " ")
        lines.append(line.rstrip())
    return lines


def _script_block(title: str, a: Scripts, b: Scripts, diffs: list[ScriptDiff]) -> list[str]:
    rows = [line for d in diffs for line in _script_diff_lines(d)]
    if not rows:
        return []
    mark = "-" if not b else "+" if not a else " "
    return ["", f"{mark}{title}:", *rows]


def host_text(d: HostDiff) -> list[str]:
    """Ndiff's ``HostDiff.print_text``."""
    a, b = d.a, d.b
    out = []
    if d.id_changed:
        if a.state is not None:
            out.append(f"-{a.format_name()}:")
        if b.state is not None:
            out.append(f"+{b.format_name()}:")
    else:
        out.append(f" {a.format_name()}:")
    if d.state_changed:
        if a.state is not None:
            out.append(f"-Host is {a.state}.")
        if b.state is not None:
            out.append(f"+Host is {b.state}.")
    if d.extraports_changed:
        if a.extraports:
            out.append(f"-Not shown: {a.extraports_string()}")
        if b.extraports:
            out.append(f"+Not shown: {b.extraports_string()}")
    mark = "+" if a.state is None else "-" if b.state is None else " "
    rows: list[Sequence[str | None] | str] = [(mark, "PORT", "STATE", "SERVICE", "VERSION")]
    for port in d.ports:
        a_columns, b_columns = port.a.columns(), port.b.columns()
        if a_columns == b_columns:
            rows.append([" ", *a_columns])  # only its scripts changed (Ndiff crashes here)
        else:
            if not a.is_extraports(port.a.state):
                rows.append(["-", *a_columns])
            if not b.is_extraports(port.b.state):
                rows.append(["+", *b_columns])
        rows.extend(line for s in port.scripts for line in _script_diff_lines(s))
    if len(rows) > 1:
        out.extend(_table(rows))
    if d.os_changed:
        if a.os:
            out.append(" OS details:" if b.os else "-OS details:")
        elif b.os:
            out.append("+OS details:")
        for op, i1, i2, j1, j2 in d.os_ops:
            if op in ("replace", "delete"):
                out.extend(f"-  {name}" for name in a.os[i1:i2])
            if op in ("replace", "insert"):
                out.extend(f"+  {name}" for name in b.os[j1:j2])
            if op == "equal":
                out.extend(f"   {name}" for name in a.os[i1:i2])
    out.extend(_script_block("Host script results", a.scripts, b.scripts, d.scripts))
    return out


def write_text(scan_a: ScanSummary, scan_b: ScanSummary, out: IO[str]) -> int:
    """Ndiff's text output; returns the total cost (0: the scans are the same)."""
    banner_a, banner_b = scan_a.banner(), scan_b.banner()
    lines = []
    if banner_a != banner_b:
        lines += [f"-{banner_a}", f"+{banner_b}"]
    pre = diff_scripts(scan_a.prescripts, scan_b.prescripts)
    lines += _script_block("Pre-scan script results", scan_a.prescripts, scan_b.prescripts, pre)
    cost = 0
    for host_diff in host_pairs(scan_a.hosts, scan_b.hosts):
        cost += host_diff.cost
        if host_diff.cost > 0:
            lines.append("")
            lines += host_text(host_diff)
    post = diff_scripts(scan_a.postscripts, scan_b.postscripts)
    lines += _script_block("Post-scan script results", scan_a.postscripts, scan_b.postscripts, post)
    out.write("".join(line + "\n" for line in lines))
    return cost


# ------------------------------------------------------------------------------- XML


def _el(
    tag: str, attrs: Mapping[str, str | None] | None = None, *children: etree._Element
) -> etree._Element:
    """A new element; attributes whose value is None are left out."""
    element = etree.Element(tag, {k: v for k, v in (attrs or {}).items() if v is not None})
    element.extend(children)
    return element


def _wrap(tag: str, *children: etree._Element) -> etree._Element:
    return _el(tag, None, *children)


def _script_el(result: tuple[str, str]) -> etree._Element:
    return _el("script", {"id": result[0], "output": result[1]})


def _service_el(port: PortSummary) -> list[etree._Element]:
    attrs = {
        "name": port.name,
        "product": port.product,
        "version": port.version,
        "extrainfo": port.extrainfo,
        "tunnel": port.tunnel,
    }
    attrs = {k: v for k, v in attrs.items() if v is not None}
    return [_el("service", attrs)] if attrs else []


def _port_el(port: PortSummary) -> etree._Element:
    element = _el("port", {"portid": str(port.number), "protocol": port.protocol})
    if port.state is not None:
        element.append(_el("state", {"state": port.state}))
    element.extend(_service_el(port))
    element.extend(_script_el(s) for s in port.scripts)
    return element


def _address_el(address: tuple[str, str]) -> etree._Element:
    return _el("address", {"addr": address[1], "addrtype": address[0]})


def _extraports_els(host: HostSummary) -> list[etree._Element]:
    return [
        _el("extraports", {"state": state or "", "count": str(count)})
        for state, count in host.extraports.items()
    ]


def _host_el(host: HostSummary) -> etree._Element:
    element = _el("host")
    if host.state is not None:
        element.append(_el("status", {"state": host.state}))
    element.extend(_address_el(a) for a in host.addresses)
    if host.hostnames:
        element.append(_wrap("hostnames", *(_el("hostname", {"name": n}) for n in host.hostnames)))
    ports = _wrap("ports", *_extraports_els(host))
    for spec in sorted(host.ports):
        port = host.ports[spec]
        if not host.is_extraports(port.state):
            ports.append(_port_el(port))
    if len(ports):
        element.append(ports)
    if host.os:
        element.append(_wrap("os", *(_el("osmatch", {"name": n}) for n in host.os)))
    if host.scripts:
        element.append(_wrap("hostscript", *(_script_el(s) for s in host.scripts)))
    return element


def _script_diff_els(diff: ScriptDiff) -> list[etree._Element]:
    if diff.a is not None and diff.a == diff.b:
        return [_script_el(diff.a)]
    out = []
    if diff.a is not None:
        out.append(_wrap("a", _script_el(diff.a)))
    if diff.b is not None:
        out.append(_wrap("b", _script_el(diff.b)))
    return out


def _scripts_container(
    tag: str, a: Scripts, b: Scripts, diffs: list[ScriptDiff]
) -> etree._Element | None:
    if not a and not b:
        return None
    if not b:
        return _wrap("a", _wrap(tag, *(_script_el(s) for s in a)))
    if not a:
        return _wrap("b", _wrap(tag, *(_script_el(s) for s in b)))
    return _wrap(tag, *(el for d in diffs for el in _script_diff_els(d)))


def _portdiff_el(port: PortDiff) -> etree._Element:
    a, b = port.a, port.b
    if (a.number, a.protocol, a.state) == (b.number, b.protocol, b.state):
        element = _el("port", {"portid": str(a.number), "protocol": a.protocol})
        if a.state is not None:
            element.append(_el("state", {"state": a.state}))
        if a.service() == b.service():
            element.extend(_service_el(a))
        else:
            element.append(_wrap("a", *_service_el(a)))
            element.append(_wrap("b", *_service_el(b)))
        element.extend(el for s in port.scripts for el in _script_diff_els(s))
        return _wrap("portdiff", element)
    return _wrap("portdiff", _wrap("a", _port_el(a)), _wrap("b", _port_el(b)))


def hostdiff_el(d: HostDiff) -> etree._Element:
    """Ndiff's ``HostDiff.to_dom_fragment``."""
    a, b = d.a, d.b
    hostdiff = _el("hostdiff")
    if a.state is None or b.state is None:
        present = a if b.state is None else b
        hostdiff.append(_wrap("a" if present is a else "b", _host_el(present)))
        return hostdiff
    host = _el("host")
    if d.state_changed:
        host.append(_wrap("a", _el("status", {"state": a.state})))
        host.append(_wrap("b", _el("status", {"state": b.state})))
    set_a, set_b = set(a.addresses), set(b.addresses)

    def ordered(items: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return sorted(items, key=lambda x: (_ADDRESS_ORDER.get(x[0], 3), x[1]))

    host.extend(_address_el(x) for x in ordered(set_a & set_b))
    for side, only in (("a", set_a - set_b), ("b", set_b - set_a)):
        if only:
            host.append(_wrap(side, *(_address_el(x) for x in ordered(only))))
    names_a, names_b = set(a.hostnames), set(b.hostnames)
    common = sorted(names_a & names_b)
    hostnames = _wrap("hostnames", *(_el("hostname", {"name": n}) for n in common))
    for side, only_names in (("a", names_a - names_b), ("b", names_b - names_a)):
        if only_names:
            hostnames.append(
                _wrap(side, *(_el("hostname", {"name": n}) for n in sorted(only_names)))
            )
    if len(hostnames):
        host.append(hostnames)
    ports = _el("ports")
    if a.extraports == b.extraports:
        ports.extend(_extraports_els(a))
    else:
        ports.append(_wrap("a", *_extraports_els(a)))
        ports.append(_wrap("b", *_extraports_els(b)))
    ports.extend(_portdiff_el(p) for p in d.ports)
    if len(ports):
        host.append(ports)
    if d.os_changed:
        os_el = _el("os")
        for op, i1, i2, j1, j2 in d.os_ops:
            if op in ("replace", "delete"):
                os_el.append(_wrap("a", *(_el("osmatch", {"name": n}) for n in a.os[i1:i2])))
            if op in ("replace", "insert"):
                os_el.append(_wrap("b", *(_el("osmatch", {"name": n}) for n in b.os[j1:j2])))
            if op == "equal":
                os_el.extend(_el("osmatch", {"name": n}) for n in a.os[i1:i2])
        if len(os_el):
            host.append(os_el)
    if d.scripts:
        container = _scripts_container("hostscript", a.scripts, b.scripts, d.scripts)
        if container is not None:
            host.append(container)
    hostdiff.append(host)
    return hostdiff


def _nmaprun_el(scan: ScanSummary) -> etree._Element:
    return _el(
        "nmaprun",
        {
            "scanner": scan.scanner,
            "args": scan.args,
            "start": str(scan.start) if scan.start is not None else None,
            "startstr": _local(scan.start).strftime("%a %b %d %H:%M:%S %Y")
            if scan.start is not None
            else None,
            "version": scan.version,
        },
    )


class BinaryOut(Protocol):
    """Where the nmapdiff XML goes: a binary stream such as ``sys.stdout.buffer``, or an
    :class:`~nmapx.output.atomic.AtomicOutput`; only ``write`` is called (by lxml too)."""

    def write(self, data: bytes, /) -> object: ...


def write_xml(scan_a: ScanSummary, scan_b: ScanSummary, out: BinaryOut) -> int:
    """Ndiff's ``nmapdiff`` XML (version 1); returns the total cost."""
    cost = 0
    with etree.xmlfile(out, encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element("nmapdiff", {"version": NDIFF_XML_VERSION}):
            xf.write("\n")
            with xf.element("scandiff"):
                xf.write("\n")
                fields = ("scanner", "version", "args", "start", "end")
                if any(getattr(scan_a, f) != getattr(scan_b, f) for f in fields):
                    xf.write(_wrap("a", _nmaprun_el(scan_a)), pretty_print=True)
                    xf.write(_wrap("b", _nmaprun_el(scan_b)), pretty_print=True)
                pre = diff_scripts(scan_a.prescripts, scan_b.prescripts)
                if pre:
                    xf.write(
                        _scripts_container("prescript", scan_a.prescripts, scan_b.prescripts, pre),
                        pretty_print=True,
                    )
                for host_diff in host_pairs(scan_a.hosts, scan_b.hosts):
                    cost += host_diff.cost
                    if host_diff.cost > 0:
                        xf.write(hostdiff_el(host_diff), pretty_print=True)
                post = diff_scripts(scan_a.postscripts, scan_b.postscripts)
                if post:
                    xf.write(
                        _scripts_container(
                            "postscript", scan_a.postscripts, scan_b.postscripts, post
                        ),
                        pretty_print=True,
                    )
    out.write(b"\n")
    return cost


def _complete(scan: ScanSummary) -> bool:
    """Whether ``scan`` was read whole: not truncated, nothing malformed skipped.

    The reader has already said where each problem is; comparing the rest would report
    hosts and ports missing from a cut-off file as gone, which is what Ndiff refuses to do.
    """
    return scan.status not in (ExitStatus.INCOMPLETE, ExitStatus.DAMAGED)


def diff_files(old: str, new: str, text_out: IO[str] | None, xml_out: BinaryOut | None) -> int:
    """Compare two scan files: 0 same, 1 different, 2 error (Ndiff's exit codes).

    As with Ndiff 7.93, only complete, well-formed scans are compared: an input that
    cannot be read, that ended early (exit 3 of ``nmapx run``) or that has malformed parts
    (exit 4) is an error (2) and nothing is written. Ndiff's XML parser gives up on such a
    file with a traceback and an empty stdout; nmapx prints the reader's one line per
    problem, naming the file and the place. Like Ndiff, the second file is not read when
    the first fails. (Characters XML 1.0 forbids, repaired with a warning, do not stop the
    comparison; Ndiff gives up on them too. See the README.)
    """
    try:
        scan_a = load_scan(old)
        if not _complete(scan_a):
            return ERROR
        scan_b = load_scan(new)
        if not _complete(scan_b):
            return ERROR
    except NmapxError as exc:
        log.error("%s", exc)
        return ERROR
    cost = 0
    if xml_out is not None:
        cost = write_xml(scan_a, scan_b, xml_out)
    if text_out is not None:
        cost = write_text(scan_a, scan_b, text_out)
    return DIFFERENT if cost > 0 else SAME
