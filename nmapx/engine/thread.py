"""The running script thread, as the NSE library sees it.

NSE library calls (``nmap.new_socket``, ``stdnse.debug``, ``nmap.verbosity`` ...) behave
differently per script thread: the debug prefix names the script and its target, the
verbosity is boosted for scripts selected by name, sockets count against the thread's socket
slot and are closed when the thread ends. In Lua the engine knows the running coroutine; in
Python the engine sets :data:`CURRENT` (a ``contextvars.ContextVar``, so every asyncio task has
its own) before it calls a rule or an action.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from nmapx.model.args import ArgsTable

if TYPE_CHECKING:
    from nmapx.model.host import Host
    from nmapx.model.ports import Port

log = logging.getLogger(__name__)


class ScopeError(PermissionError):
    """A script tried to contact an address nmapx may not contact (outside the input's hosts,
    excluded, or any address at all under ``--no-network``)."""


@dataclass
class RunSettings:
    """Run-wide options that the NSE library consults."""

    verbosity: int = 0
    debugging: int = 0
    script_trace: bool = False
    #: Parsed ``--script-args`` (see :mod:`nmapx.model.args`).
    script_args: ArgsTable = field(default_factory=ArgsTable)
    #: ``--max-parallelism``: how many script threads may hold sockets at once (NSE: 20).
    max_parallelism: int = 20
    #: ``--no-network``: every socket operation is refused.
    no_network: bool = False
    #: Where NSE's messages go (Nmap prints them on stdout; nmapx keeps stdout for output).
    stream: TextIO = field(default_factory=lambda: sys.stderr)


@dataclass
class RunContext:
    """What the library needs from the running engine: limits, scope and the message sink."""

    settings: RunSettings = field(default_factory=RunSettings)
    #: The addresses probes may contact (the input's hosts minus exclusions); None = no limit
    #: beyond ``no_network`` (used by unit tests of the library itself).
    allowed: Callable[[str], bool] | None = None
    _socket_slots: asyncio.Semaphore | None = None
    registry: dict[Any, Any] = field(default_factory=dict)
    #: State a protocol library keeps for the length of one run, keyed by the library's name
    #: (``http``'s response cache): what an nselib module keeps in module-level locals, which
    #: live as long as Nmap's run. Never shared between runs (each input is a run of its own).
    libraries: dict[str, Any] = field(default_factory=dict)
    #: The address of the input's host with a given name (None: no such host). When set (a
    #: scan's scope), names are never resolved: a DNS lookup would itself contact a resolver
    #: that is not a host of the input. None: names are resolved (library use, unit tests).
    names: Callable[[str], str | None] | None = None
    #: Whether ``--exclude`` covers an address, for destinations that are not hosts of the
    #: input (discovery: :func:`nmapx.nse.sockets.check_discovery_target`). None: nothing is.
    excluded: Callable[[str], bool] | None = None
    #: Hosts that scripts offered as new targets (``newtargets``; :mod:`nmapx.nse.target`),
    #: in the order they were added; the pipeline scripts them after the input's hosts.
    new_targets: list[Any] = field(default_factory=list)

    def socket_slots(self) -> asyncio.Semaphore:
        """NSE's socket lock: at most ``max_parallelism`` threads hold sockets at once."""
        if self._socket_slots is None:
            self._socket_slots = asyncio.Semaphore(max(1, self.settings.max_parallelism))
        return self._socket_slots

    def check_target(self, address: str) -> None:
        """Refuse any contact outside the scan's scope, before a packet is sent."""
        if self.settings.no_network:
            raise ScopeError(f"network access refused (--no-network): {address}")
        if self.allowed is not None and not self.allowed(address):
            raise ScopeError(f"{address} is not a host of the input (or is excluded)")

    def address_for_name(self, name: str) -> str | None:
        """The address a script's host *name* stands for, before any packet or lookup is sent.

        Returns the address of the input's host with that name, or None when the caller may
        resolve the name itself (no scope: library use). Raises :class:`ScopeError` under
        ``--no-network`` and for a name that no host of the input carries.
        """
        if self.settings.no_network:
            raise ScopeError(f"network access refused (--no-network): {name}")
        if self.names is None:
            return None
        address = self.names(name)
        if address is None:
            raise ScopeError(
                f"{name} is not a name of a host of the input (nmapx never resolves names)"
            )
        return address

    def message(self, text: str) -> None:
        """One NSE message line (debug, verbose, trace), as Nmap prints it."""
        self.settings.stream.write(text + "\n")
        self.settings.stream.flush()


@dataclass
class ScriptThread:
    """One script running against one target (or none, for pre- and postrules)."""

    script_id: str
    phase: str  # "prerule", "hostrule", "portrule", "postrule"
    engine: RunContext
    host: Host | None = None
    port: Port | None = None
    #: Selected by name or file path: ``nmap.verbosity()`` is one higher (NSE §6.5).
    by_name: bool = False
    #: Sockets opened by this thread, closed by the engine when the thread ends.
    sockets: set[Any] = field(default_factory=set)
    #: Whether this thread holds one of the engine's socket slots.
    holds_slot: bool = False
    #: Told of every ``nmap.get_port_state`` this thread makes: (number, protocol, the port
    #: table returned or None). ``nmapx plan`` shows what a rule looked at through it, since
    #: "auth-owners did not match" is only useful with "113/tcp was closed".
    on_port_state: Callable[[int, str, Port | None], None] | None = None

    @property
    def settings(self) -> RunSettings:
        return self.engine.settings

    def verbosity(self) -> int:
        """``nmap.verbosity()``: each ``-d`` raises Nmap's verbosity too (``-d`` alone gives 1,
        checked against Nmap 7.93), plus one for a script selected by name."""
        return self.settings.verbosity + self.settings.debugging + (1 if self.by_name else 0)

    def debugging(self) -> int:
        return self.settings.debugging

    def target_text(self) -> str:
        """``10.0.0.5:22``, ``10.0.0.5`` or ``""``: the target part of NSE's messages."""
        if self.host is None:
            return ""
        ip = self.host.address or ""
        return f"{ip}:{self.port.number}" if self.port is not None else ip

    def who(self) -> str:
        """NSE's ``against_name``: ``id against [targetname (]ip[:port][)]``."""
        if self.host is None:
            return self.script_id
        target = self.target_text()
        names = self.host.hostnames("user")
        if names:
            target = f"{names[0]} ({target})"
        return f"{self.script_id} against {target}"

    async def acquire_socket_slot(self) -> None:
        """Take a socket slot before the first connect, like NSE's ``socket_lock``."""
        if not self.holds_slot:
            await self.engine.socket_slots().acquire()
            self.holds_slot = True

    def release_resources(self) -> None:
        """Close this thread's sockets and give back its slot (the thread has ended)."""
        for sock in list(self.sockets):
            try:
                sock.abort()
            except Exception:  # closing must never fail the engine
                log.debug("closing a socket of %s failed", self.who(), exc_info=True)
        self.sockets.clear()
        if self.holds_slot:
            self.engine.socket_slots().release()
            self.holds_slot = False


CURRENT: contextvars.ContextVar[ScriptThread | None] = contextvars.ContextVar(
    "nmapx_script_thread", default=None
)


def current() -> ScriptThread:
    """The running script thread; library calls outside a script get a detached one."""
    thread = CURRENT.get()
    if thread is None:
        thread = ScriptThread(script_id="nmapx", phase="none", engine=RunContext())
        CURRENT.set(thread)
    return thread
