"""The probe engine: NSE's phases, runlevels, concurrency, timeouts and error handling.

Pre-rules run once before the first host, host and port rules for each host as it streams in,
post-rules after the last host (nse-semantics.md §1). Within a host, runlevels (from
``dependencies``) are a barrier; inside a runlevel every matching rule becomes a script thread,
an asyncio task. Limits: at most ``max_parallelism`` threads hold sockets at once (NSE's socket
lock), at most ``max_host_parallelism`` threads run per host, ``script_timeout`` bounds each
thread, ``host_timeout`` bounds a host's whole script phase. Errors follow §6.1 and §6.2: a
bug gives ``ERROR: Script execution failed (use -d to debug)`` at -d0 and a traceback at -d;
an NSE "try" failure (socket errors, ``new_try``) ends the thread silently.

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
from typing import Any, TypeVar

from nmapx.engine.loader import Script
from nmapx.engine.thread import CURRENT, Engine, RunSettings, ScopeError, ScriptThread
from nmapx.model.host import Host, Port
from nmapx.model.results import NO_STRUCTURE, ScriptResult
from nmapx.nse.comm import CommError, oops_output_table, oops_text
from nmapx.nse.errors import NseError, Oops, SocketError
from nmapx.nse.nmap import TryError

log = logging.getLogger(__name__)

_T = TypeVar("_T")
PORTRULE_STATES = ("open", "open|filtered", "unfiltered")
SCRIPT_FAILED = "ERROR: Script execution failed (use -d to debug)"


@dataclass(frozen=True)
class ChosenScript:
    """A selected script and how it was selected."""

    script: Script
    by_name: bool = False
    forced: bool = False
    runlevel: int = 1
    #: How it was selected: "name", "category", "file path" or "directory" (for -d2).
    how: str = "category"


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


def _has_own_str(value: Any) -> bool:
    """A table type with its own ``__str__`` (NSE: a table with a ``__tostring`` metamethod)."""
    if not isinstance(value, dict | list):
        return False
    own = type(value).__str__
    return own not in (dict.__str__, list.__str__, object.__str__) and own is not repr


def _against(thread: ScriptThread) -> str:
    return thread.who()


class ScriptEngine:
    """Runs chosen scripts against a stream of hosts; see the module docstring."""

    def __init__(self, chosen: Sequence[ChosenScript], options: EngineOptions) -> None:
        self.chosen = list(chosen)
        self.options = options
        self.engine = Engine(
            settings=options.settings,
            allowed=options.allowed,
            names=options.names,
            excluded=options.excluded,
        )
        self.levels = sorted({c.runlevel for c in self.chosen}) or [1]
        self._exclusive: dict[tuple[str, str, int], asyncio.Lock] = {}
        self._threads = asyncio.Semaphore(max(1000, options.settings.max_parallelism))
        #: Counts script threads for the progress display (:class:`nmapx.progress.Progress`).
        self.progress: Any = None

    # ------------------------------------------------------------------ messages
    def message(self, text: str) -> None:
        self.engine.message(text)

    @property
    def debugging(self) -> int:
        return self.options.settings.debugging

    @property
    def verbosity(self) -> int:
        return self.options.settings.verbosity

    def announce_start(self) -> None:
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
            host.port_results.clear()
            host.host_results.clear()
            log.warning(
                "%s: host timeout (%gs) expired during the script scan: its script results are"
                " discarded, as Nmap does",
                host.address,
                self.options.host_timeout,
            )

    async def _run_host(self, host: Host) -> None:
        wanted = [
            c for c in self.chosen if "hostrule" in c.script.rules or "portrule" in c.script.rules
        ]
        nse_host = host.nse
        ports = [p for p in host.ports if p.state in PORTRULE_STATES]
        exclusive = self._exclusive_ports(host, nse_host, ports)
        per_host = asyncio.Semaphore(max(1, self.options.max_host_parallelism))

        def jobs(level: int) -> list[Awaitable[tuple[Port | None, ScriptResult] | None]]:
            at_level = [c for c in wanted if c.runlevel == level]
            made = [
                self._limited(per_host, c, "hostrule", host, None, None)
                for c in at_level
                if "hostrule" in c.script.rules
            ]
            for port in ports:
                lock = exclusive.get((port.protocol, port.number))
                made.extend(
                    self._limited(per_host, c, "portrule", host, port, lock)
                    for c in at_level
                    if "portrule" in c.script.rules
                )
            return made

        for outcome in await self._phase(f"NSE: Script scanning {host.address}.", jobs):
            if outcome is None:
                continue
            port, result = outcome
            if port is None:
                host.add_host_result(result)
            else:
                host.add_port_result(port.protocol, port.number, result)

    def _exclusive_ports(
        self, host: Host, nse_host: Any, ports: list[Port]
    ) -> dict[tuple[str, int], asyncio.Lock]:
        """Ports that a ``single_connection`` script claims: their threads take turns."""
        claimed: dict[tuple[str, int], asyncio.Lock] = {}
        singles = [
            c for c in self.chosen if c.script.single_connection and "portrule" in c.script.rules
        ]
        for port in ports:
            for chosen in singles:
                rule = chosen.script.rules["portrule"]
                try:
                    matches = chosen.forced or (
                        not inspect.iscoroutinefunction(rule) and bool(rule(nse_host, port))
                    )
                except Exception:
                    matches = True  # the thread will report the rule's error; stay careful
                if matches:
                    key = (host.address or "", port.protocol, port.number)
                    claimed[(port.protocol, port.number)] = self._exclusive.setdefault(
                        key, asyncio.Lock()
                    )
                    break
        return claimed

    async def _limited(
        self,
        per_host: asyncio.Semaphore,
        chosen: ChosenScript,
        phase: str,
        host: Host,
        port: Port | None,
        exclusive: asyncio.Lock | None,
    ) -> tuple[Port | None, ScriptResult] | None:
        async with per_host:
            if exclusive is not None:
                async with exclusive:
                    result = await self._thread(chosen, phase, host, port)
            else:
                result = await self._thread(chosen, phase, host, port)
        return None if result is None else (port, result)

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
                engine=self.engine,
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
        args = self._arguments(phase, thread)
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
    def _arguments(phase: str, thread: ScriptThread) -> tuple[Any, ...]:
        """Each thread gets its own copy of the host and port tables (registry shared)."""
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
