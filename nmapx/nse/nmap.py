"""NSE's ``nmap`` library for Python scripts: port states, sockets, registry, levels.

``get_port_state`` and ``get_ports`` answer from the scan the input holds (folded
``<extraports>`` included, see :meth:`nmapx.model.host.Host.get_port_state`). Socket failures raise
:class:`nmapx.nse.errors.SocketError`, which the engine treats like an uncaught
``nmap.new_try`` exception: the script ends without output.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from nmapx.engine.thread import CURRENT, current
from nmapx.model.args import ArgsTable, arg_value
from nmapx.model.host import Host, NseHost
from nmapx.model.ports import PROTOCOLS, Port
from nmapx.model.results import PortStateResult, ServiceResult
from nmapx.model.services import service_name
from nmapx.nse.errors import TryError
from nmapx.nse.sockets import new_socket

__all__ = [
    "TryError",
    "address_family",
    "condvar",
    "debugging",
    "get_port_state",
    "get_ports",
    "is_privileged",
    "log_write",
    "mutex",
    "new_socket",
    "new_try",
    "set_port_state",
    "set_port_version",
    "verbosity",
    "version_intensity",
]


def __getattr__(name: str) -> Any:
    """``nmap.registry``: one dict for the whole run (NSE's global registry)."""
    if name == "registry":
        return current().engine.registry
    raise AttributeError(f"module 'nmap' has no attribute {name!r}")


def _target(host: Any) -> Host:
    """The :class:`Host` behind an NSE host table (NSE resolves ``_Target``)."""
    if isinstance(host, Host):
        return host
    if isinstance(host, NseHost) and host._target is not None:
        return host._target
    raise TypeError("host is not being processed right now")


def _port_spec(port: Any) -> tuple[int, str]:
    number: object
    protocol: object
    if isinstance(port, Port):
        number, protocol = port.number, port.protocol
    elif isinstance(port, Mapping):
        number, protocol = port.get("number"), port.get("protocol")
    else:
        raise TypeError("port must be a table with 'number' and 'protocol'")
    if not isinstance(number, int) or isinstance(number, bool):
        raise TypeError("port 'number' field must be an integer")
    if not isinstance(protocol, str) or protocol not in PROTOCOLS:
        raise ValueError('port \'protocol\' field must be "udp", "tcp" or "sctp"')
    return number, protocol


def get_port_state(host: Any, port: Any) -> Port | None:
    """The port table of any scanned port of ``host`` in any state, or None if not scanned.

    The running script thread's ``on_port_state`` hears of the call (``nmapx plan`` reports
    what a rule looked at); outside a script thread nothing is told, and no detached thread is
    made just to tell it.
    """
    number, protocol = _port_spec(port)
    found = _target(host).get_port_state(number, protocol)
    thread = CURRENT.get()
    if thread is not None and thread.on_port_state is not None:
        thread.on_port_state(number, protocol, found)
    return found


def _ports_in_state(target: Host, protocol: str, state: str) -> Iterator[Port]:
    listed = {p.number: p for p in target.ports if p.protocol == protocol and p.state == state}
    numbers = set(listed)
    for number in target.context.scanned(protocol):
        if number not in numbers:
            folded = target.get_port_state(number, protocol)
            if folded is not None and folded.state == state:
                listed[number] = folded
                numbers.add(number)
    for number in sorted(listed):
        yield listed[number]


def get_ports(host: Any, previous: Port | None, protocol: str, state: str) -> Port | None:
    """NSE's iterator step: the next port after ``previous`` with that protocol and state."""
    after = previous.number if previous is not None else -1
    for port in _ports_in_state(_target(host), protocol, state):
        if port.number > after:
            return port
    return None


#: ``nmap.set_port_version``'s probe states (nse_nmaplib.cc's list); "hardmatched" by default.
PROBE_STATES = ("nomatch", "softmatched", "hardmatched", "tcpwrapped", "incomplete")


#: ``nmap.set_port_state``'s states (nse_nmaplib.cc).
SETTABLE_STATES = ("open", "closed")


def set_port_state(host: Any, port: Any, state: str) -> None:
    """``nmap.set_port_state``: a script saw the port answer (or refuse) and says so.

    As nse_nmaplib.cc: nothing happens when the port is already in that state; otherwise the
    port's ``<state>`` becomes ``state`` with reason ``script-set`` in every output, and Nmap's
    ``Discovered open port ...`` line is printed at -v (or -d2). A port folded into
    ``<extraports>`` has no ``<port>`` element to carry it, so it is left as scanned.
    """
    if state not in SETTABLE_STATES:
        raise ValueError(f"bad argument #3 to 'set_port_state' (invalid option '{state}')")
    number, protocol = _port_spec(port)
    target = _target(host)
    found = target.get_port_state(number, protocol)
    if found is None or found.state == state:
        return
    thread = current()
    settings = thread.settings
    if (state == "open" and settings.verbosity) or settings.debugging > 1:
        thread.engine.message(f"Discovered {state} port {number}/{protocol} on {target.address}")
    if found.origin == "port":
        target.set_state(protocol, number, PortStateResult(state))


def set_port_version(host: Any, port: Any, probestate: str = "hardmatched") -> None:
    """``nmap.set_port_version``: a script's verdict on the service of ``port``.

    Checked as Nmap checks it (a scanned port of the host, a known probe state, a valid
    ``service_tunnel``; anything else raises, which fails the script as Nmap's ``luaL_error``
    does). The verdict is read from the ``port.version`` table the script filled and replaces
    the port's ``<service>`` in every output, as it does in Nmap's (``ServiceResult``); the
    rest of the script's thread sees it in its own table. A port folded into ``<extraports>``
    has no ``<port>`` element to carry a service, so nothing is written for it.
    """
    if probestate not in PROBE_STATES:
        raise ValueError(f"bad argument #3 to 'set_port_version' (invalid option '{probestate}')")
    number, protocol = _port_spec(port)
    target = _target(host)
    found = target.get_port_state(number, protocol)
    if found is None:
        raise ValueError("port was not scanned")
    version = port.version if isinstance(port, Port) else port.get("version")
    if version is None or isinstance(version, str | bytes | int | float):
        raise TypeError("port 'version' field must be a table")
    service = ServiceResult.from_version(version, probestate, service_name(number, protocol))
    if found.origin == "port":
        target.set_service(protocol, number, service)


def verbosity() -> int:
    """Nmap's verbosity, one higher for a script selected by name (NSE §6.5)."""
    return current().verbosity()


def debugging() -> int:
    return current().debugging()


def version_intensity() -> int:
    """9 for a script selected by name, else ``script-intensity``, else Nmap's default 7."""
    thread = current()
    if thread.by_name:
        return 9
    value = arg_value(thread.settings.script_args, "script-intensity")
    if value is None or isinstance(value, ArgsTable):
        return 7  # int() of a table raised TypeError: the default, as before
    try:
        return int(value)
    except ValueError:
        return 7


def address_family() -> str:
    return "inet"


def is_privileged() -> bool:
    return os.geteuid() == 0


def log_write(where: str, text: str) -> None:
    """``nmap.log_write``: ``NSE: `` plus the text, on nmapx's message stream."""
    current().engine.message("NSE: " + text)


def new_try(handler: Callable[[], Any] | None = None) -> Callable[..., Any]:
    """NSE's exception helper for code ported line by line from Lua.

    ``try_(status, value...)`` returns the value(s) when status is true, otherwise calls
    ``handler`` and raises :class:`TryError` (a silent end of the script).
    """

    def try_(status: Any = None, *values: Any) -> Any:
        if status:
            if not isinstance(status, bool):
                current().engine.message(
                    "Warning: finalizing a non-conforming function that did not first return"
                    " a boolean"
                )
            if not values:
                return None
            return values[0] if len(values) == 1 else values
        if handler is not None:
            handler()
        raise TryError(values[0] if values else None)

    return try_


class Mutex:
    """``nmap.mutex(obj)``: one holder at a time per object, across all script threads.

    Ownership passes directly to the next waiter on release, so a waiter woken by ``done``
    cannot lose the mutex to a thread that arrives later (NSE's queue semantics).
    """

    def __init__(self) -> None:
        self._held = False
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def lock(self) -> None:
        if not self._held:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.done()  # ownership arrived as we were cancelled: pass it on
            raise

    def trylock(self) -> bool:
        if self._held:
            return False
        self._held = True
        return True

    def done(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the mutex stays held, now by the waiter
                return
        self._held = False

    def running(self) -> bool:
        return self._held

    async def __aenter__(self) -> Mutex:
        await self.lock()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.done()


def mutex(obj: Any) -> Mutex:
    mutexes: dict[Any, Mutex] = current().engine.registry.setdefault(("nmapx", "mutexes"), {})
    if obj not in mutexes:
        mutexes[obj] = Mutex()
    return mutexes[obj]


def condvar(obj: Any) -> asyncio.Condition:
    """``nmap.condvar(obj)``, as an ``asyncio.Condition`` (``async with cv: await cv.wait()``)."""
    conditions: dict[Any, asyncio.Condition] = current().engine.registry.setdefault(
        ("nmapx", "condvars"), {}
    )
    return conditions.setdefault(obj, asyncio.Condition())
