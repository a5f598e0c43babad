"""The job planner ``run`` and ``plan`` share: exact job lists on constructed hosts, no loop."""

from __future__ import annotations

import contextvars
from types import ModuleType
from typing import Any

import pytest

from nmapx.engine.jobs import (
    PORTRULE_STATES,
    ChosenScript,
    Job,
    host_jobs,
    offered_ports,
    phase_levels,
)
from nmapx.engine.loader import Script
from nmapx.engine.thread import CURRENT, RunContext, ScriptThread
from nmapx.model.host import Host, ScanContext
from nmapx.model.ports import Port
from nmapx.nse import nmap

PORT = '<port protocol="{protocol}" portid="{number}"><state state="{state}" reason="x"/></port>'


def host(
    ports: list[tuple[int, str] | tuple[int, str, str]],
    *,
    status: str = "up",
    extra: str = "",
    address: str = "10.0.0.5",
) -> Host:
    """A ``<host>`` with these ``(number, state[, protocol])`` ports, parsed as the reader would."""
    body = "".join(
        PORT.format(number=p[0], state=p[1], protocol=p[2] if len(p) > 2 else "tcp") for p in ports
    )
    raw = (
        f'<host><status state="{status}" reason="x"/>'
        f'<address addr="{address}" addrtype="ipv4"/>'
        f"<ports>{extra}{body}</ports></host>"
    )
    return Host(None, raw.encode(), context=ScanContext())


def chosen(
    script_id: str,
    *rules: str,
    runlevel: int = 1,
    forced: bool = False,
    single: bool = False,
) -> ChosenScript:
    """A chosen script with these rules; the rules are never called by the planner."""

    def never(*args: Any) -> bool:
        raise AssertionError(f"the planner called {script_id}'s rule")

    script = Script(
        id=script_id,
        path=f"{script_id}.py",
        module=ModuleType(script_id),
        description="",
        categories=("safe",),
        action=never,
        rules=dict.fromkeys(rules, never),
        single_connection=single,
    )
    return ChosenScript(script, forced=forced, runlevel=runlevel)


def summary(jobs: list[Job]) -> list[tuple[int, str, str, str | None, tuple[str, str, int] | None]]:
    """Jobs as plain tuples: (runlevel, rule, script id, port or None, lock key)."""
    return [
        (
            j.runlevel,
            j.phase,
            j.script.script.id,
            None if j.port is None else f"{j.port.number}/{j.port.protocol}",
            j.lock_key,
        )
        for j in jobs
    ]


def test_the_offered_states_are_nmaps() -> None:
    assert PORTRULE_STATES == ("open", "open|filtered", "unfiltered")


def test_only_open_like_listed_ports_are_offered_in_document_order() -> None:
    """closed, filtered and closed|filtered ports are never offered, nor are ``<extraports>``;
    the document's order wins over port numbers and protocols."""
    target = host(
        [
            (443, "open"),
            (22, "closed"),
            (53, "open|filtered", "udp"),
            (25, "filtered"),
            (80, "unfiltered"),
            (161, "closed|filtered", "udp"),
            (21, "open"),
        ],
        extra='<extraports state="open" count="5"/>',
    )
    assert [(p.number, p.protocol, p.state) for p in offered_ports(target)] == [
        (443, "tcp", "open"),
        (53, "udp", "open|filtered"),
        (80, "tcp", "unfiltered"),
        (21, "tcp", "open"),
    ]
    assert summary(host_jobs([chosen("p", "portrule")], target)) == [
        (1, "portrule", "p", "443/tcp", None),
        (1, "portrule", "p", "53/udp", None),
        (1, "portrule", "p", "80/tcp", None),
        (1, "portrule", "p", "21/tcp", None),
    ]


def test_runlevels_then_host_rules_then_each_port_with_every_port_rule() -> None:
    """Selection order inside a runlevel; runlevel order across them, whatever the selection
    order; a script with both rules is asked for the host and for every port."""
    scripts = [
        chosen("late", "hostrule", "portrule", runlevel=2),
        chosen("both", "hostrule", "portrule"),
        chosen("ports", "portrule"),
        chosen("hosts", "hostrule"),
        chosen("pre", "prerule", "postrule"),
        chosen("last", "portrule", runlevel=3),
    ]
    assert phase_levels(scripts) == [1, 2, 3]
    assert summary(host_jobs(scripts, host([(22, "open"), (80, "open")]))) == [
        (1, "hostrule", "both", None, None),
        (1, "hostrule", "hosts", None, None),
        (1, "portrule", "both", "22/tcp", None),
        (1, "portrule", "ports", "22/tcp", None),
        (1, "portrule", "both", "80/tcp", None),
        (1, "portrule", "ports", "80/tcp", None),
        (2, "hostrule", "late", None, None),
        (2, "portrule", "late", "22/tcp", None),
        (2, "portrule", "late", "80/tcp", None),
        (3, "portrule", "last", "22/tcp", None),
        (3, "portrule", "last", "80/tcp", None),
    ]


def test_no_jobs_for_hosts_that_are_not_up_or_without_host_and_port_rules() -> None:
    def claims(script: ChosenScript, port: Port) -> bool:
        raise AssertionError("nothing to claim on a host that is not up")

    single = chosen("s", "hostrule", "portrule", single=True)
    for status in ("down", "unknown"):
        assert host_jobs([single], host([(22, "open")], status=status), claims) == []
    assert host_jobs([chosen("pre", "prerule", "postrule")], host([(22, "open")])) == []
    assert host_jobs([], host([(22, "open")])) == []
    assert phase_levels([]) == [1]


def test_host_rules_run_on_hosts_without_offered_ports() -> None:
    jobs = host_jobs([chosen("h", "hostrule"), chosen("p", "portrule")], host([(22, "closed")]))
    assert summary(jobs) == [(1, "hostrule", "h", None, None)]


def test_forcing_does_not_change_the_candidates() -> None:
    """'+' skips the rule when the thread runs; which rules are candidates stays the same."""
    target = host([(22, "open"), (23, "closed")])
    plain = [chosen("a", "hostrule", "portrule"), chosen("b", "portrule", runlevel=2)]
    forced = [
        chosen("a", "hostrule", "portrule", forced=True),
        chosen("b", "portrule", runlevel=2, forced=True),
    ]
    assert (
        summary(host_jobs(forced, target))
        == summary(host_jobs(plain, target))
        == [
            (1, "hostrule", "a", None, None),
            (1, "portrule", "a", "22/tcp", None),
            (2, "portrule", "b", "22/tcp", None),
        ]
    )
    assert all(job.script.forced for job in host_jobs(forced, target))


def test_a_single_connection_claim_locks_every_thread_on_that_port() -> None:
    """Only single-connection port-rule scripts are asked, in selection order, port by port,
    until one claims the port; then every port-rule job on it, at every runlevel and of every
    script, carries the lock key (address, protocol, number)."""
    asked: list[tuple[str, int]] = []

    def claims(script: ChosenScript, port: Port) -> bool:
        asked.append((script.script.id, port.number))
        return (script.script.id, port.number) in {("s1", 22), ("s2", 80)}

    scripts = [
        chosen("free", "hostrule", "portrule"),
        chosen("s1", "portrule", single=True),
        chosen("s2", "portrule", single=True, runlevel=2),
        chosen("h", "hostrule", single=True),
    ]
    jobs = host_jobs(
        scripts, host([(22, "open"), (80, "open"), (443, "open"), (25, "closed")]), claims
    )
    assert asked == [("s1", 22), ("s1", 80), ("s2", 80), ("s1", 443), ("s2", 443)]
    ssh = ("10.0.0.5", "tcp", 22)
    web = ("10.0.0.5", "tcp", 80)
    assert summary(jobs) == [
        (1, "hostrule", "free", None, None),
        (1, "hostrule", "h", None, None),
        (1, "portrule", "free", "22/tcp", ssh),
        (1, "portrule", "s1", "22/tcp", ssh),
        (1, "portrule", "free", "80/tcp", web),
        (1, "portrule", "s1", "80/tcp", web),
        (1, "portrule", "free", "443/tcp", None),
        (1, "portrule", "s1", "443/tcp", None),
        (2, "portrule", "s2", "22/tcp", ssh),
        (2, "portrule", "s2", "80/tcp", web),
        (2, "portrule", "s2", "443/tcp", None),
    ]


def test_a_forced_single_connection_script_claims_without_being_asked() -> None:
    asked: list[str] = []

    def claims(script: ChosenScript, port: Port) -> bool:
        asked.append(script.script.id)
        return False

    scripts = [
        chosen("plain", "portrule", single=True),
        chosen("forced", "portrule", single=True, forced=True),
    ]
    jobs = host_jobs(scripts, host([(22, "open"), (53, "open|filtered", "udp")]), claims)
    assert asked == ["plain", "plain"]
    assert [job.lock_key for job in jobs] == [
        ("10.0.0.5", "tcp", 22),
        ("10.0.0.5", "tcp", 22),
        ("10.0.0.5", "udp", 53),
        ("10.0.0.5", "udp", 53),
    ]


def test_without_claims_no_port_is_locked_and_no_rule_is_asked() -> None:
    """``plan`` passes no ``claims``: it runs no action, so it takes no lock."""
    scripts = [
        chosen("s", "portrule", single=True, forced=True),
        chosen("t", "portrule", single=True),
    ]
    assert [job.lock_key for job in host_jobs(scripts, host([(22, "open")]))] == [None, None]


def test_a_repeated_port_is_one_service_for_its_lock() -> None:
    """Real files sometimes list a port twice: a claim of either entry locks both."""
    seen: list[str | None] = []

    def claims(script: ChosenScript, port: Port) -> bool:
        seen.append(port.state)
        return port.state == "unfiltered"

    target = host([(22, "open"), (22, "unfiltered"), (22, "open", "udp")])
    jobs = host_jobs([chosen("s", "portrule", single=True)], target, claims)
    assert seen == ["open", "unfiltered", "open"]
    assert summary(jobs) == [
        (1, "portrule", "s", "22/tcp", ("10.0.0.5", "tcp", 22)),
        (1, "portrule", "s", "22/tcp", ("10.0.0.5", "tcp", 22)),
        (1, "portrule", "s", "22/udp", None),
    ]


def test_jobs_share_each_offered_port_table() -> None:
    """Every job on a port holds the same table; each thread copies it (``arguments``)."""
    jobs = host_jobs(
        [chosen("a", "portrule"), chosen("b", "portrule", runlevel=2)], host([(22, "open")])
    )
    assert jobs[0].port is jobs[1].port
    assert jobs[0] == Job(1, "portrule", jobs[0].script, jobs[0].port)


@pytest.mark.parametrize("inside", [True, False])
def test_get_port_state_tells_the_running_thread(inside: bool) -> None:
    """The recorder ``plan`` reads instead of patching ``nmap.get_port_state``; outside a
    script thread nothing is told and no detached thread is made."""
    target = host([(22, "open")])
    heard: list[tuple[int, str, str | None]] = []

    def tell(number: int, protocol: str, port: Port | None) -> None:
        heard.append((number, protocol, None if port is None else port.state))

    def ask() -> ScriptThread | None:
        if inside:
            CURRENT.set(
                ScriptThread("t", "hostrule", RunContext(), host=target, on_port_state=tell)
            )
        assert nmap.get_port_state(target.nse, {"number": 22, "protocol": "tcp"}) is not None
        assert nmap.get_port_state(target.nse, {"number": 23, "protocol": "tcp"}) is None
        with pytest.raises(ValueError):
            nmap.get_port_state(target.nse, {"number": 22, "protocol": "icmp"})
        return CURRENT.get()

    thread = contextvars.Context().run(ask)  # a fresh context: no thread left by other tests
    assert (thread is not None) is inside
    assert heard == ([(22, "tcp", "open"), (23, "tcp", None)] if inside else [])
