"""The probe engine: NSE's phases, runlevels, concurrency, timeouts and error handling.

Pre-rules run once before the first host, host and port rules for each host as it streams in,
post-rules after the last host (docs/nse-semantics.md §1). Within a host, runlevels (from
``dependencies``) are a barrier; inside a runlevel every matching rule becomes a script thread,
an asyncio task. Limits: at most ``max_parallelism`` threads hold sockets at once (NSE's socket
lock), at most ``max_host_parallelism`` threads run per host, ``script_timeout`` bounds each
thread, ``host_timeout`` bounds a host's whole script phase. Errors follow §6.1 and §6.2: a
bug gives ``ERROR: Script execution failed (use -d to debug)`` at -d0 and a traceback at -d;
an NSE "try" failure (socket errors, ``new_try``) ends the thread silently.

Which rules a host's threads ask, in which order and under which single-connection locks is
decided by :func:`nmapx.engine.jobs.host_jobs`, the planner ``nmapx plan`` shares.

Streaming: each host is its own host group, so runlevels order the scripts of one host; other
hosts proceed independently, and results leave in input order (see :mod:`nmapx.pipeline`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from nmapx.engine.jobs import ChosenScript, Job, host_jobs, phase_levels
from nmapx.engine.thread import CURRENT, RunContext, RunSettings, ScopeError, ScriptThread
from nmapx.model.host import Host, NseHost, ScanContext
from nmapx.model.ports import Port
from nmapx.model.results import NO_STRUCTURE, ScriptResult
from nmapx.nse.comm import CommError, oops_output_table, oops_text
from nmapx.nse.errors import NseError, Oops, SocketError
from nmapx.nse.nmap import TryError
from nmapx.nse.target import host_xml

log = logging.getLogger(__name__)

_T = TypeVar("_T")
SCRIPT_FAILED = "ERROR: Script execution failed (use -d to debug)"


@dataclass
class EngineOptions:
    settings: RunSettings = field(default_factory=RunSettings)
    #: Seconds per script thread (rule included); None: no limit (Nmap's default).
    script_timeout: float | None = None
    #: Seconds for one host's whole script phase; None: no limit.
    host_timeout: float | None = None
    #: Script threads running at once for one host.
    max_host_parallelism: int = 64
    #: Which addresses probes may contact (the input's hosts minus exclusions).
    allowed: Callable[[str], bool] | None = None
    #: The address of the input's host with a given name, so that names are never resolved.
    names: Callable[[str], str | None] | None = None
    #: Whether ``--exclude`` covers an address (for discovery destinations beyond the input).
    excluded: Callable[[str], bool] | None = None
    #: Keep the results the input already holds instead of probing again (``--skip-existing``).
    skip_existing: bool = False


def _has_own_str(value: Any) -> bool:
    """A table type with its own ``__str__`` (NSE: a table with a ``__tostring`` metamethod)."""
    if not isinstance(value, dict | list):
        return False
    own = type(value).__str__
    return own not in (dict.__str__, list.__str__, object.__str__) and own is not repr


def _against(thread: ScriptThread) -> str:
    return thread.who()


class ProgressHook(Protocol):
    """What the runner and the pipeline tell a progress display (:class:`nmapx.progress.Progress`
    is the one nmapx has); declared here so that the engine does not import the display."""

    def probe_queued(self) -> None: ...
    def probe_started(self) -> None: ...
    def probe_finished(self, started: bool = True) -> None: ...
    def host_read(self) -> None: ...
    def host_done(self, end_offset: int | None = None) -> None: ...


class ScriptEngine:
    """Runs chosen scripts against a stream of hosts; see the module docstring."""

    def __init__(self, chosen: Sequence[ChosenScript], options: EngineOptions) -> None:
        self.chosen = list(chosen)
        self.options = options
        #: What the NSE library reads of this run (settings, scope, registry, new targets).
        self.context = RunContext(
            settings=options.settings,
            allowed=options.allowed,
            names=options.names,
            excluded=options.excluded,
        )
        self.levels = phase_levels(self.chosen)
        #: Single-connection locks by :data:`~nmapx.engine.jobs.LockKey`, for the whole run.
        self._exclusive: dict[tuple[str, str, int], asyncio.Lock] = {}
        self._threads = asyncio.Semaphore(max(1000, options.settings.max_parallelism))
        #: Counts script threads for the progress display (:class:`nmapx.progress.Progress`).
        self.progress: ProgressHook | None = None
        #: Whether this engine runs the pre- and post-rules and the new targets. A cluster
        #: worker's engine does not (:mod:`nmapx.cluster`): those run once per scan, on the
        #: coordinator, and a worker only ever sees a batch of hosts.
        self.global_phases = True

    # ------------------------------------------------------------------ messages
    def take_new_targets(self, scan: ScanContext) -> list[Host]:
        """The hosts scripts offered with ``target.add`` so far, each taken once, as hosts of
        ``scan`` (the pipeline scripts and writes them after the input's last host).

        None on a cluster worker (no :attr:`global_phases`): its new targets stay in
        ``context.new_targets`` for the coordinator, which runs them after the scan's last host.
        """
        if not self.global_phases:
            return []
        targets = list(self.context.new_targets)
        self.context.new_targets.clear()
        return [Host(None, host_xml(t), context=scan, line=0, gap=b"\n") for t in targets]

    def message(self, text: str) -> None:
        self.context.message(text)

    @property
    def debugging(self) -> int:
        return self.options.settings.debugging

    @property
    def verbosity(self) -> int:
        return self.options.settings.verbosity

    def announce_start(self) -> None:
        if not self.global_phases:
            return  # said once, by the coordinator
        settings = self.options.settings
        if settings.debugging and self.options.script_timeout:
            self.message(f"NSE: Set script-timeout as: {self.options.script_timeout:g} seconds")
        if settings.verbosity or settings.debugging:
            self.message(f"NSE: Loaded {len(self.chosen)} scripts for scanning.")
        if settings.debugging >= 2:
            for chosen in self.chosen:
                forced = " and forced to run" if chosen.forced else ""
                self.message(
                    f"NSE: Script {chosen.script.path} was selected by {chosen.how}{forced}."
                )

    # ------------------------------------------------------------------ phases
    async def run_prerules(self) -> list[ScriptResult]:
        return await self._run_global("prerule", "NSE: Script Pre-scanning.")

    async def run_postrules(self) -> list[ScriptResult]:
        return await self._run_global("postrule", "NSE: Script Post-scanning.")

    async def _run_global(self, phase: str, banner: str) -> list[ScriptResult]:
        if not self.global_phases:
            return []
        candidates = [c for c in self.chosen if phase in c.script.rules]

        def jobs(level: int) -> list[Awaitable[ScriptResult | None]]:
            return [self._thread(c, phase, None, None) for c in candidates if c.runlevel == level]

        return [r for r in await self._phase(banner, jobs) if r is not None]

    async def _phase(self, banner: str, jobs: Callable[[int], list[Awaitable[_T]]]) -> list[_T]:
        """One NSE phase: its messages, then each runlevel's threads, one runlevel at a time."""
        loud = bool(self.verbosity or self.debugging)
        if loud:
            self.message(banner)
        results: list[_T] = []
        for level in self.levels:
            if self.verbosity >= 2 or self.debugging:
                self.message(f"NSE: Starting runlevel {level} (of {len(self.levels)}) scan.")
            started = time.monotonic()
            if loud:
                self.message(f"Initiating NSE at {time.strftime('%H:%M')}")
            results.extend(await asyncio.gather(*jobs(level)))
            if loud:
                elapsed = time.monotonic() - started
                self.message(f"Completed NSE at {time.strftime('%H:%M')}, {elapsed:.2f}s elapsed")
        return results

    async def run_host(self, host: Host) -> None:
        """Run host and port rules on one host and attach the results to it."""
        if not host.is_up or not self.chosen:
            return
        try:
            if self.options.host_timeout:
                async with asyncio.timeout(self.options.host_timeout):
                    await self._run_host(host)
            else:
                await self._run_host(host)
        except TimeoutError:
            host.discard_results()
            log.warning(
                "%s: host timeout (%gs) expired during the script scan: its script results are"
                " discarded, as Nmap does",
                host.address,
                self.options.host_timeout,
            )

    async def _run_host(self, host: Host) -> None:
        """The host's jobs as script threads, one runlevel at a time, results onto the host."""
        nse_host = host.nse

        def claims(chosen: ChosenScript, port: Port) -> bool:
            return self._claims(nse_host, chosen, port)

        host_level_jobs = []
        for job in host_jobs(self.chosen, host, claims, self.options.skip_existing):
            if not job.held:
                host_level_jobs.append(job)
            elif self.debugging:
                where = host.address if job.port is None else f"{host.address}:{job.port.number}"
                self.message(
                    f"NSE: Skipping {job.script.script.id} against {where}:"
                    " the input holds its result (--skip-existing)."
                )
        per_host = asyncio.Semaphore(max(1, self.options.max_host_parallelism))

        def jobs(level: int) -> list[Awaitable[tuple[Port | None, ScriptResult] | None]]:
            return [
                self._limited(per_host, job, host, self._lock(job))
                for job in host_level_jobs
                if job.runlevel == level
            ]

        for outcome in await self._phase(f"NSE: Script scanning {host.address}.", jobs):
            if outcome is None:
                continue
            port, result = outcome
            if port is None:
                host.add_host_result(result)
            else:
                host.add_port_result(port.protocol, port.number, result)

    @staticmethod
    def _claims(nse_host: NseHost, chosen: ChosenScript, port: Port) -> bool:
        """Whether a ``single_connection`` script's port rule claims ``port`` for its lock.

        Asked before the host's threads start, so only a plain (not ``async``) rule can be
        called; a rule that raises claims the port anyway (its thread will report the error,
        and the lock only costs parallelism).
        """
        rule = chosen.script.rules["portrule"]
        try:
            return not inspect.iscoroutinefunction(rule) and bool(rule(nse_host, port))
        except Exception:
            return True

    def _lock(self, job: Job) -> asyncio.Lock | None:
        """The run-wide lock behind a job's single-connection lock key, if it has one."""
        if job.lock_key is None:
            return None
        return self._exclusive.setdefault(job.lock_key, asyncio.Lock())

    async def _limited(
        self,
        per_host: asyncio.Semaphore,
        job: Job,
        host: Host,
        exclusive: asyncio.Lock | None,
    ) -> tuple[Port | None, ScriptResult] | None:
        async with per_host:
            if exclusive is not None:
                async with exclusive:
                    result = await self._thread(job.script, job.phase, host, job.port)
            else:
                result = await self._thread(job.script, job.phase, host, job.port)
        return None if result is None else (job.port, result)

    # ------------------------------------------------------------------ threads
    async def _thread(
        self, chosen: ChosenScript, phase: str, host: Host | None, port: Port | None
    ) -> ScriptResult | None:
        """One script thread: rule, action, result; never raises."""
        progress = self.progress
        if progress is not None:
            progress.probe_queued()
        async with self._threads:
            thread = ScriptThread(
                script_id=chosen.script.id,
                phase=phase,
                engine=self.context,
                host=host,
                port=port,
                by_name=chosen.by_name,
            )
            token = CURRENT.set(thread)
            if progress is not None:
                progress.probe_started()
            try:
                if self.options.script_timeout:
                    async with asyncio.timeout(self.options.script_timeout):
                        return await self._rule_and_action(chosen, thread)
                return await self._rule_and_action(chosen, thread)
            except TimeoutError:
                if self.debugging:
                    self.message(f"NSE: {_against(thread)} timed out")
                return None
            except (TryError, SocketError) as exc:
                if self.debugging:
                    self.message(f"NSE: Finished {_against(thread)}. Reason: {exc}")
                    self.message("")
                return None
            except ScopeError as exc:
                log.warning("%s: %s", _against(thread), exc)
                return None
            except Exception as exc:
                return self._script_error(thread, exc)
            finally:
                thread.release_resources()
                CURRENT.reset(token)
                if progress is not None:
                    progress.probe_finished()

    async def _rule_and_action(
        self, chosen: ChosenScript, thread: ScriptThread
    ) -> ScriptResult | None:
        script = chosen.script
        phase = thread.phase
        args = self.arguments(thread)
        if not chosen.forced:
            verdict = script.rules[phase](*args)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            if not verdict:
                return None
        if self.debugging:
            self.message(f"NSE: Starting {_against(thread)}.")
        value = script.action(*args)
        if inspect.isawaitable(value):
            value = await value
        if self.debugging:
            self.message(f"NSE: Finished {_against(thread)}.")
        return self.to_result(script.id, value)

    @staticmethod
    def arguments(thread: ScriptThread) -> tuple[Any, ...]:
        """What ``thread``'s rule and action are called with: nothing for pre- and post-rules,
        else the thread's own copies of the host (and port) tables, so that one thread's
        changes never reach another (NSE copies them too; the registry is what is shared)."""
        phase = thread.phase
        if phase in ("prerule", "postrule"):
            return ()
        assert thread.host is not None
        nse_host = thread.host.nse.copy()
        if phase == "hostrule":
            return (nse_host,)
        assert thread.port is not None
        return nse_host, thread.port.copy()

    def _script_error(self, thread: ScriptThread, exc: BaseException) -> ScriptResult | None:
        """§6.1: a result at -d0, a traceback (and no result) at -d."""
        if not self.debugging:
            if isinstance(exc, NseError):
                log.debug("%s: %s", _against(thread), exc)
            return ScriptResult(thread.script_id, SCRIPT_FAILED)
        self.message(f"NSE: {_against(thread)} threw an error!")
        lines = traceback.format_exception(exc)
        self.message("".join(lines).rstrip("\n"))
        self.message("")
        return None

    def to_result(self, script_id: str, value: Any) -> ScriptResult | None:
        """§5.1: what an action's return value means."""
        if value is None:
            return None
        if isinstance(value, CommError | Oops):
            return ScriptResult(
                script_id,
                oops_text(value, self.verbosity, self.debugging),
                structured=oops_output_table(value),
            )
        if isinstance(value, tuple) and len(value) == 2:
            structured, text = value
            if text is not None and text is not False:  # Lua: "" is true
                return self._checked(
                    ScriptResult(
                        script_id,
                        text if isinstance(text, str | bytes) else str(text),
                        structured=NO_STRUCTURE if structured is None else structured,
                    )
                )
            value = structured
            if value is None:
                return None
        if isinstance(value, str | bytes):
            return self._checked(ScriptResult(script_id, value))
        if _has_own_str(value):
            # Lua's __tostring: the text is the object's string, the structure its entries
            return self._checked(ScriptResult(script_id, str(value), structured=value))
        return self._checked(ScriptResult(script_id, structured=value))

    def _checked(self, result: ScriptResult) -> ScriptResult:
        """Nmap reports an empty output string as a bug of the script (and still writes it)."""
        if not result.output_bytes():
            self.message(f"Bug in {result.id}: no string output.")
        return result
