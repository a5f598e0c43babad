"""Which script threads a host gets, and in which order: the planner ``run`` and ``plan`` share.

NSE decides a host's candidates before it calls a single rule (docs/nse-semantics.md §1, §1.4):

* only a host that is up gets host and port rules;
* port rules are offered the host's listed ports in the states :data:`PORTRULE_STATES`, in
  document order (ports folded into ``<extraports>`` are never offered);
* runlevels (from ``dependencies``) are a barrier: every candidate of runlevel 1 before any of
  runlevel 2; inside a runlevel the host rules come first, then each offered port with every
  port rule, scripts in selection order;
* a port that a ``single_connection`` script claims is locked for the host: every port-rule
  thread on it holds the same lock, so they take turns.

:class:`nmapx.engine.runner.ScriptEngine` turns these jobs into script threads (rule, then
action) and :mod:`nmapx.engine.plan` evaluates the same jobs' rules without actions. Keeping the
decision here, as a pure function over plain data (no event loop, no sockets), is what stops
``plan`` from drifting away from ``run``: both read one answer, and the answer is testable on a
constructed host.

The one question the planner cannot answer from data is whether a single-connection script's
port rule accepts a port; the caller answers it through the ``claims`` callback, because only
the caller knows how (and whether) rules may be called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from nmapx.engine.loader import Script
    from nmapx.model.host import Host
    from nmapx.model.ports import Port

__all__ = [
    "PORTRULE_STATES",
    "ChosenScript",
    "ClaimRule",
    "Job",
    "LockKey",
    "host_jobs",
    "offered_ports",
    "phase_levels",
]

#: The port states offered to port rules (Nmap's ``nse_main.lua``: open, open|filtered and
#: unfiltered); every other listed port, and every ``<extraports>`` port, is not.
PORTRULE_STATES: Final = ("open", "open|filtered", "unfiltered")

#: A single-connection lock: (host address, protocol, port number). The address, not the
#: :class:`~nmapx.model.host.Host`, so that one address listed twice still shares one lock.
LockKey = tuple[str, str, int]


@dataclass(frozen=True)
class ChosenScript:
    """A selected script and how it was selected."""

    script: Script
    by_name: bool = False
    forced: bool = False
    runlevel: int = 1
    #: How it was selected: "name", "category", "file path" or "directory" (for -d2).
    how: str = "category"


#: Whether a ``single_connection`` script's port rule accepts a port (never asked for a
#: forced script: ``+`` claims without its rule being called).
ClaimRule = Callable[[ChosenScript, "Port"], bool]


@dataclass(frozen=True)
class Job:
    """One candidate script thread: a rule of a script, for a host or one of its ports.

    Whether the thread runs its action is still the rule's decision (or ``+``'s); the job only
    says that the rule is asked, at which runlevel, and under which lock.
    """

    runlevel: int
    phase: str  # "hostrule" or "portrule"
    script: ChosenScript
    #: The offered port, for a port rule; None for a host rule.
    port: Port | None = None
    #: The single-connection lock every thread on this port holds; None: no lock.
    lock_key: LockKey | None = None
    #: The input already holds this script's result for this target, and the run was asked
    #: to keep it (``--skip-existing``): no rule is asked, nothing is probed.
    held: bool = False


def phase_levels(chosen: Sequence[ChosenScript]) -> list[int]:
    """The runlevels a phase steps through, lowest first; ``[1]`` when nothing is chosen, so
    that a phase still has one (empty) runlevel to announce."""
    return sorted({c.runlevel for c in chosen}) or [1]


def offered_ports(host: Host) -> list[Port]:
    """The listed ports port rules are offered, in document order (repeated ports included,
    as the input repeats them)."""
    return [port for port in host.ports if port.state in PORTRULE_STATES]


def host_jobs(
    chosen: Sequence[ChosenScript],
    host: Host,
    claims: ClaimRule | None = None,
    skip_existing: bool = False,
) -> list[Job]:
    """Every host- and port-rule candidate of ``host``, in the order NSE asks them.

    ``skip_existing`` marks ``held`` the jobs whose result the input already holds (same
    script id, same host or port); without it a new result replaces the old one in place.

    ``claims`` decides single-connection locks: it is asked, port by port in document order,
    for each non-forced ``single_connection`` script with a port rule (in selection order)
    until one accepts the port. A forced one claims every offered port without being asked.
    Without ``claims`` (a caller that never runs actions, like ``plan``) no port is locked and
    no rule is called here.
    """
    if not host.is_up:
        return []
    ports = offered_ports(host)
    claimed = _claimed_ports(chosen, ports, claims) if claims is not None else set()
    address = host.address or ""
    held = host.held_results if skip_existing else None
    jobs: list[Job] = []
    for level in phase_levels(chosen):
        at_level = [c for c in chosen if c.runlevel == level]
        jobs.extend(
            Job(level, "hostrule", c, held=held is not None and held.holds(c.script.id, None))
            for c in at_level
            if "hostrule" in c.script.rules
        )
        for port in ports:
            key = (port.protocol, port.number)
            lock_key = (address, *key) if key in claimed else None
            jobs.extend(
                Job(
                    level,
                    "portrule",
                    c,
                    port,
                    lock_key,
                    held=held is not None and held.holds(c.script.id, key),
                )
                for c in at_level
                if "portrule" in c.script.rules
            )
    return jobs


def _claimed_ports(
    chosen: Sequence[ChosenScript], ports: Sequence[Port], claims: ClaimRule
) -> set[tuple[str, int]]:
    """(protocol, number) of the offered ports some single-connection script claims.

    Keyed by (protocol, number), not by port entry: when the input repeats a port, one claim
    locks every entry of it, since they are one service.
    """
    singles = [c for c in chosen if c.script.single_connection and "portrule" in c.script.rules]
    claimed: set[tuple[str, int]] = set()
    if not singles:
        return claimed
    for port in ports:
        if any(c.forced or claims(c, port) for c in singles):
            claimed.add((port.protocol, port.number))
    return claimed
