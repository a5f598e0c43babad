"""``nmapx plan``: which scripts would run where, and why, without sending a packet.

For an archived scan this is the first question: "if I run ``--script X`` on this file, what
happens?". The answer must be the engine's own answer, not a re-implementation that could
drift from it, so the plan:

* builds the real engine from the same options as ``nmapx run`` (:func:`nmapx.engine.session.build`)
  with ``--no-network`` forced on, so any socket use is refused before a packet leaves;
* asks the rules of the very jobs :class:`nmapx.engine.runner.ScriptEngine` runs
  (:func:`nmapx.engine.jobs.host_jobs`: listed ports in the states open, open|filtered and
  unfiltered, document order, runlevel by runlevel; hosts that are not up get no host or port
  rules), and calls each rule inside a real script thread (:data:`nmapx.engine.thread.CURRENT`),
  with the thread's own copies of the host and port tables
  (:meth:`~nmapx.engine.runner.ScriptEngine.arguments`), so ``stdnse.get_script_args``,
  ``nmap.registry`` and the verbosity boost behave as during a run;
* records, for each rule call, every ``nmap.get_port_state`` the rule made and what it
  returned (the thread's ``on_port_state``), including ports that only exist in
  ``<extraports>`` (the model's folded ports), because "auth-owners did not match" is only
  useful with "113/tcp was closed";
* never lets a rule's exception escape: it is shown as ``error`` with its message.

Actions never run, so a post-rule that depends on what actions put in the registry is shown
as it would be evaluated on an empty registry.

Output: a readable text report, grouped by host, one aligned table per host (written as each
host is read: memory stays per host, as in ``nmapx run``), or JSON Lines (``--format json``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from nmapx.engine.jobs import PORTRULE_STATES, ChosenScript, host_jobs
from nmapx.engine.runner import ScriptEngine
from nmapx.engine.thread import CURRENT, ScriptThread
from nmapx.errors import ExitStatus
from nmapx.model.host import Host
from nmapx.model.ports import Port
from nmapx.nmapxml.reader import Document, Prologue

log = logging.getLogger(__name__)

__all__ = ["HostPlan", "PlanSummary", "RuleCall", "make_plan"]

#: Seconds an ``async`` rule may take before it is reported as an error (rules are meant to
#: be quick decisions; a rule that waits would stall the plan of every host).
RULE_TIMEOUT = 10.0

MATCHED = "matched"
NOT_MATCHED = "not matched"
FORCED = "forced"
ERROR = "error"
#: ``--skip-existing``: the input holds this result, so the rule is not asked.
HELD = "held"


@dataclass
class RuleCall:
    """One rule evaluated for one target: the verdict and what the rule looked at."""

    script: str
    phase: str
    port: Port | None
    result: str
    error: str | None = None
    #: ``nmap.get_port_state`` calls: (number, protocol, the port table returned or None).
    saw: list[tuple[int, str, Port | None]] = field(default_factory=list)

    @property
    def runs(self) -> bool:
        return self.result in (MATCHED, FORCED)


@dataclass
class HostPlan:
    """The plan of one host: its rule calls and the ports no port rule is offered."""

    address: str
    hostnames: list[str]
    status: str
    calls: list[RuleCall]
    #: Listed ports whose state keeps them from port rules: state -> count.
    not_offered: dict[str, int]
    #: ``<extraports>``: (state, count); never offered to port rules.
    extraports: list[tuple[str, int]]


@dataclass
class PlanSummary:
    hosts: int = 0
    up: int = 0
    threads: int = 0
    not_matched: int = 0
    errors: int = 0
    held: int = 0

    def add(self, calls: Sequence[RuleCall]) -> None:
        for call in calls:
            if call.runs:
                self.threads += 1
            elif call.result == ERROR:
                self.errors += 1
            elif call.result == HELD:
                self.held += 1
            else:
                self.not_matched += 1


async def _evaluate(
    engine: ScriptEngine, chosen: ChosenScript, phase: str, host: Host | None, port: Port | None
) -> RuleCall:
    """Call one rule as a script thread of ``engine`` would, and never raise."""
    call = RuleCall(chosen.script.id, phase, port, FORCED)
    if chosen.forced:
        return call  # '+': the rule is not called, the action always runs

    def seen(number: int, protocol: str, found: Port | None) -> None:
        call.saw.append((number, protocol, found))

    thread = ScriptThread(
        script_id=chosen.script.id,
        phase=phase,
        engine=engine.context,
        host=host,
        port=port,
        by_name=chosen.by_name,
        on_port_state=seen,
    )
    token = CURRENT.set(thread)
    try:
        verdict = chosen.script.rules[phase](*ScriptEngine.arguments(thread))
        if inspect.isawaitable(verdict):
            verdict = await asyncio.wait_for(verdict, RULE_TIMEOUT)
        call.result = MATCHED if verdict else NOT_MATCHED
    except TimeoutError:
        call.result, call.error = ERROR, f"the rule took longer than {RULE_TIMEOUT:g}s"
    except Exception as exc:  # a rule's bug is part of the plan, not a crash of it
        call.result, call.error = ERROR, f"{type(exc).__name__}: {exc}"
        log.debug("%s: rule error", thread.who(), exc_info=True)
    finally:
        thread.release_resources()
        CURRENT.reset(token)
    return call


async def _plan_global(engine: ScriptEngine, phase: str) -> list[RuleCall]:
    return [
        await _evaluate(engine, chosen, phase, None, None)
        for chosen in engine.chosen
        if phase in chosen.script.rules
    ]


async def _plan_host(engine: ScriptEngine, host: Host) -> HostPlan:
    """The engine's :meth:`~nmapx.engine.runner.ScriptEngine.run_host` without actions: the
    same jobs, each rule asked in turn (no ``claims``: a plan takes no single-connection lock,
    so no rule is called outside its thread)."""
    not_offered = Counter(p.state for p in host.ports if p.state not in PORTRULE_STATES)
    calls = [
        RuleCall(job.script.script.id, job.phase, job.port, HELD)
        if job.held
        else await _evaluate(engine, job.script, job.phase, host, job.port)
        for job in host_jobs(engine.chosen, host, skip_existing=engine.options.skip_existing)
    ]
    extraports = [
        (extra.get("state", "?"), _count(extra.get("count")))
        for extra in host.element.iterfind("ports/extraports")
    ]
    return HostPlan(
        address=host.address or "?",
        hostnames=list(dict.fromkeys(host.hostnames())),  # user and PTR names often agree
        status=host.status,
        calls=calls,
        not_offered=dict(not_offered),
        extraports=extraports,
    )


def _count(text: str | None) -> int:
    """An ``<extraports count>``; 0 when absent or damaged (``1e999``), never a traceback."""
    try:
        return int(text or 0)
    except ValueError:
        return 0


# ---------------------------------------------------------------------------- text output


def _port_text(port: Port | None) -> str:
    return "host" if port is None else f"{port.number}/{port.protocol}"


def _seen(number: int, protocol: str, port: Port | None) -> str:
    """What one ``get_port_state`` call returned, as a reader of the plan needs it."""
    if port is None:
        return f"{number}/{protocol} not scanned"
    state = port.state
    if port.possible_states:
        state += " (" + " or ".join(port.possible_states) + ")"
    where = " (extraports)" if port.origin == "extraports" else ""
    return f"{number}/{protocol} {state}{where}"


def _detail(call: RuleCall) -> str:
    parts = []
    if call.saw:
        parts.append("get_port_state: " + ", ".join(_seen(n, p, port) for n, p, port in call.saw))
    if call.error:
        parts.append(call.error)
    if call.result == FORCED:
        parts.append("'+': the rule is not called")
    if call.result == HELD:
        parts.append("the input holds its result (--skip-existing): the rule is not called")
    return "; ".join(parts)


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    """Left-aligned columns, two spaces apart, trailing spaces removed (like Nmap's tables)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append((indent + "  ".join(cells)).rstrip())
    return "\n".join(lines) + "\n"


def _host_rows(plan: HostPlan) -> list[list[str]]:
    rows = [["PORT", "STATE", "SERVICE", "SCRIPT", "RULE", "DETAIL"]]
    for call in plan.calls:
        port = call.port
        rows.append(
            [
                _port_text(port),
                port.state if port else "-",
                (port.service or "") if port else "-",
                call.script,
                call.result,
                _detail(call),
            ]
        )
    return rows


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def host_text(plan: HostPlan) -> str:
    names = f" ({', '.join(plan.hostnames)})" if plan.hostnames else ""
    out = [f"\nHost {plan.address}{names}: {plan.status}\n"]
    if plan.status != "up":
        out.append("  not up: no host or port rules are run\n")
        return "".join(out)
    if plan.calls:
        out.append(_table(_host_rows(plan)))
    else:
        out.append("  no script has a host or port rule that applies\n")
    skipped = [f"{count} {state}" for state, count in sorted(plan.not_offered.items())]
    skipped += [f"{count} {state} (extraports)" for state, count in plan.extraports if count]
    if skipped:
        out.append(
            "  Not offered to port rules (only open, open|filtered and unfiltered ports are): "
            + ", ".join(skipped)
            + "\n"
        )
    return "".join(out)


def _global_text(title: str, calls: Sequence[RuleCall]) -> str:
    if not calls:
        return ""
    rows = [["SCRIPT", "RULE", "DETAIL"]]
    rows += [[c.script, c.result, _detail(c)] for c in calls]
    return f"\n{title}:\n" + _table(rows)


def summary_text(summary: PlanSummary) -> str:
    return (
        f"\nPlan: {_plural(summary.hosts, 'host')} ({summary.up} up);"
        f" {_plural(summary.threads, 'script thread')} would run;"
        f" {_plural(summary.not_matched, 'rule')} did not match;"
        f" {_plural(summary.errors, 'rule error')}"
        + (f"; {_plural(summary.held, 'result')} held by the input" if summary.held else "")
        + ".\n"
    )


# ---------------------------------------------------------------------------- JSON output


def _call_json(call: RuleCall) -> dict[str, Any]:
    port = call.port
    return {
        "script": call.script,
        "rule": call.phase,
        "port": _port_text(port) if port else None,
        "state": port.state if port else None,
        "service": port.service if port else None,
        "result": call.result,
        "error": call.error,
        "get_port_state": [
            {
                "port": f"{n}/{p}",
                "state": seen.state if seen else None,
                "possible_states": list(seen.possible_states) if seen else [],
                "origin": seen.origin if seen else None,
            }
            for n, p, seen in call.saw
        ],
    }


def _json_line(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------- the command


def make_plan(
    document: Document,
    engine: ScriptEngine,
    out: TextIO,
    *,
    fmt: str = "text",
    on_host: Callable[[Host], None] | None = None,
) -> ExitStatus:
    """Write the plan of ``document`` for ``engine``'s scripts to ``out``; the input's status.

    ``engine`` must have been built with ``no_network`` (the CLI does so): the plan then
    cannot send anything even if a rule tries. ``on_host`` sees each host before its rules
    are evaluated (the CLI adds it to the scope, as a run does).
    """
    if not engine.options.settings.no_network:
        raise ValueError("make_plan needs an engine built with no_network=True")
    return asyncio.run(_make_plan(document, engine, out, fmt, on_host))


async def _make_plan(
    document: Document,
    engine: ScriptEngine,
    out: TextIO,
    fmt: str,
    on_host: Callable[[Host], None] | None,
) -> ExitStatus:
    summary = PlanSummary()
    as_json = fmt == "json"
    ids = ", ".join(c.script.id for c in engine.chosen)
    for item in document:
        if isinstance(item, Prologue):
            if as_json:
                out.write(
                    _json_line(
                        {
                            "type": "plan",
                            "input": document.source.name,
                            "scripts": [c.script.id for c in engine.chosen],
                        }
                    )
                )
            else:
                out.write(
                    f"Plan for {document.source.name}:"
                    f" {_plural(len(engine.chosen), 'script')} ({ids});"
                    " rules evaluated offline, no probe is sent.\n"
                )
            prerules = await _plan_global(engine, "prerule")
            summary.add(prerules)
            if as_json:
                for call in prerules:
                    out.write(_json_line({"type": "prerule", **_call_json(call)}))
            else:
                out.write(_global_text("Pre-scan rules", prerules))
        elif isinstance(item, Host):
            if on_host is not None:
                on_host(item)
            plan = await _plan_host(engine, item)
            summary.hosts += 1
            summary.up += plan.status == "up"
            summary.add(plan.calls)
            if as_json:
                out.write(
                    _json_line(
                        {
                            "type": "host",
                            "address": plan.address,
                            "hostnames": plan.hostnames,
                            "status": plan.status,
                            "rules": [_call_json(c) for c in plan.calls],
                            "not_offered": plan.not_offered,
                            "extraports": [{"state": s, "count": n} for s, n in plan.extraports],
                        }
                    )
                )
            else:
                out.write(host_text(plan))
            out.flush()
    postrules = await _plan_global(engine, "postrule")
    summary.add(postrules)
    if as_json:
        for call in postrules:
            out.write(_json_line({"type": "postrule", **_call_json(call)}))
        out.write(
            _json_line(
                {
                    "type": "summary",
                    "hosts": summary.hosts,
                    "up": summary.up,
                    "threads": summary.threads,
                    "not_matched": summary.not_matched,
                    "errors": summary.errors,
                    "held": summary.held,
                }
            )
        )
    else:
        out.write(_global_text("Post-scan rules (evaluated with no action run)", postrules))
        out.write(summary_text(summary))
    out.flush()
    return document.status
