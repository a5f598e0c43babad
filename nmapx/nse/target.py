"""NSE's ``target`` library: scripts offer the hosts they discover as new targets.

In Nmap, a script calls ``target.add(ip)`` and, when the user passed the script argument
``newtargets``, Nmap scans those addresses after its own targets (``max-newtargets`` caps how
many). nmapx does not scan: it post-processes a finished scan. So a new target becomes a
*synthesized* ``<host>`` that the pipeline writes after the input's last host (where Nmap's
own new targets would come) and runs the chosen host and port scripts on, like any other host.

What such a host says, and what it does not:

* ``<status state="up" reason="nmapx-newtarget">``: the host answered the discovering
  script (it is up), but Nmap did not ping it;
* one ``<port>`` per port the script named, with ``state="open|filtered"`` and
  ``reason="nmapx-newtarget"``: the discovery protocol says a service lives there, but nmapx
  did **not** port-scan it, so it claims neither open nor closed. ``open|filtered`` is
  Nmap's own word for "could not tell", and port rules that accept it (shortport's defaults
  do) run, which is the point of ``newtargets``;
* no ``starttime``/``endtime``, ``<times>``, service, OS or trace data (nothing was measured).
  ``<runstats>`` is the input's own and does not count these hosts.

Scope: a new target's address joins the scope (scripts may contact it) unless ``--exclude``
covers it; the pipeline adds it like a host read from the input.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nmapx.engine.thread import current
from nmapx.model.args import ArgsTable, arg_value
from nmapx.nmapxml.escape import xml_text

if TYPE_CHECKING:
    pass

__all__ = ["NEWTARGET_REASON", "NewTarget", "add", "allow_new_targets", "host_xml"]

log = logging.getLogger(__name__)

#: The ``reason`` of a synthesized host's status and ports: not a probe response.
NEWTARGET_REASON = "nmapx-newtarget"


@dataclass(frozen=True)
class NewTarget:
    """One address a script offered, the ports it knows of there, and which script it was."""

    address: str
    ports: tuple[tuple[int, str], ...]
    added_by: str


def allow_new_targets() -> bool:
    """``target.ALLOW_NEW_TARGETS``: the user passed the script argument ``newtargets``."""
    return arg_value(current().settings.script_args, "newtargets") is not None


def _max_new_targets() -> int | None:
    value = arg_value(current().settings.script_args, "max-newtargets")
    if value is None or isinstance(value, ArgsTable):  # a table is no number
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def add(address: str, ports: Iterable[tuple[int, str]] = ()) -> bool:
    """``target.add``: offer ``address`` (numeric IPv4/IPv6) with the ``(number, protocol)``
    ports the script knows of. Returns whether it was added: False without ``newtargets``,
    for an address offered before, beyond ``max-newtargets``, or excluded by ``--exclude``
    (each with a debug message, as NSE's ``target.add`` says why at ``-d3``)."""
    import ipaddress

    thread = current()
    engine = thread.engine
    if not allow_new_targets():
        return False
    try:
        ipaddress.ip_address(address)
    except ValueError:
        log.debug("new target %r is not a numeric address", address)
        return False
    if any(known.address == address for known in engine.new_targets):
        return False
    cap = _max_new_targets()
    if cap is not None and len(engine.new_targets) >= cap:
        log.debug("Maximum new targets reached, no more new targets.")
        return False
    if engine.excluded is not None and engine.excluded(address):
        log.debug("new target %s is excluded", address)
        return False
    engine.new_targets.append(
        NewTarget(address, tuple((int(n), str(p)) for n, p in ports), thread.script_id)
    )
    return True


def host_xml(target: NewTarget) -> bytes:
    """The synthesized ``<host>`` of a new target, in Nmap's layout (see the module doc)."""
    family = "ipv6" if ":" in target.address else "ipv4"
    lines = [
        f'<host><status state="up" reason="{NEWTARGET_REASON}" reason_ttl="0"/>',
        f'<address addr="{xml_text(target.address).decode()}" addrtype="{family}"/>',
        "<hostnames>",
        "</hostnames>",
    ]
    ports = "".join(
        f'<port protocol="{protocol}" portid="{number}"><state state="open|filtered"'
        f' reason="{NEWTARGET_REASON}" reason_ttl="0"/></port>\n'
        for number, protocol in sorted(set(target.ports), key=lambda p: (p[1] != "tcp", p[1], p[0]))
    )
    if ports:
        lines.append("<ports>" + ports + "</ports>")
    lines.append("</host>")
    return "\n".join(lines).encode()
