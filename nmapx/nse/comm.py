"""NSE's ``comm`` library (nselib/comm.lua, Nmap 7.93): one-shot exchanges and banner grabs.

Same behaviour as the Lua library, Python form: success returns the data; failure raises
:class:`CommError` (a :class:`SocketError`, so an uncaught one ends the script silently like a
failed ``nmap.new_try``). The error carries the Oops stack that comm.lua returns, message for
message, e.g. ``["Failed to read", "receive failed", "TIMEOUT"]``, so that a script that
returns it gets Nmap's rendering (docs/nse-semantics.md §5.7)::

    try:
        return await comm.exchange(host, port, "dummy", lines=1)
    except comm.CommError as error:
        return error               # what ``return oops.output(comm.exchange(...))`` gives

The engine renders such a result with :func:`oops_text` (the string, at the real levels) and
:func:`oops_output_table` (the ``<elem>`` list); both also accept a bare :class:`Oops`.

Options are keyword arguments named like comm.lua's option table: ``lines``, ``bytes``
(``lines`` wins; with neither, one plain ``receive()``), ``proto`` ("tcp", "udp", "ssl"),
``timeout``, ``connect_timeout``, ``request_timeout`` (milliseconds), ``recv_before``,
``any_af``. Timeouts are computed exactly as comm.lua does (:func:`get_timeouts`).
"""

from __future__ import annotations

import builtins
import socket
from typing import Any, TypedDict

from nmapx.nse import stdnse
from nmapx.nse.errors import CommError, Oops, SocketError
from nmapx.nse.sockets import NseSocket, resolve
from nmapx.nse.stdnse import get_timeout

__all__ = [
    "REQUEST_TIMEOUT",
    "CommError",
    "Oops",
    "exchange",
    "get_banner",
    "get_timeout",
    "get_timeouts",
    "oops_output_table",
    "oops_text",
    "opencon",
    "tryssl",
]

#: comm.lua ``REQUEST_TIMEOUT``: the host's processing time before it answers, in ms.
REQUEST_TIMEOUT = 6000


# ---------------------------------------------------------------------------- timeouts
def get_timeouts(
    host: Any,
    *,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    request_timeout: float | None = None,
) -> tuple[float, float]:
    """comm.lua ``get_timeouts``: ``(connect_timeout, request_timeout)`` in ms.

    connect = ``connect_timeout``, else ``timeout``, else :func:`get_timeout(host)`;
    request = (``request_timeout``, else ``timeout``, else 6000) **plus** connect. So
    ``timeout=T`` waits T ms for the connection and 2T ms for the answer.
    """
    if connect_timeout is not None:
        connect = connect_timeout
    elif timeout is not None:
        connect = timeout
    else:
        connect = get_timeout(host)
    if request_timeout is not None:
        request = request_timeout
    elif timeout is not None:
        request = timeout
    else:
        request = REQUEST_TIMEOUT
    return connect, request + connect


# ---------------------------------------------------------------------------- Oops output
def oops_output_table(error: CommError | Oops) -> list[str]:
    """The structured value of a returned Oops: its messages, outermost first.

    This is what NSE writes as the ``<elem>`` children of the ``<script>`` element.
    """
    oops = error.oops if isinstance(error, CommError) else error
    return list(oops.messages)


def oops_text(error: CommError | Oops, verbosity: int, debugging: int) -> str:
    """The string value of a returned Oops at the given (real, unboosted) levels.

    ``""`` at -v0 (no normal line; ``Bug in <id>: no string output.``),
    ``The script encountered an error: Failed to read`` at -v, and at -d the lines
    ``The script encountered an error:``, ``- Failed to read:``, ``- receive failed:``,
    ``- TIMEOUT`` joined by ``\\n``.
    """
    oops = error.oops if isinstance(error, CommError) else error
    return oops.text(verbosity, debugging)


def _raise(message: str, failure: SocketError) -> CommError:
    """``oops.raise(message, nil, err)``: push ``message`` on the failure's stack."""
    if isinstance(failure, CommError):
        failure.oops.push(message)
        return failure
    error = CommError(Oops(message, failure.status), failure.detail)
    error.__cause__ = failure
    return error


def _debug(level: int, message: str) -> None:
    stdnse.debug(level, message)


# ---------------------------------------------------------------------------- internals
async def _setup_connect(
    host: Any,
    port: Any,
    proto: str | None,
    timeouts: tuple[float, float],
    any_af: bool,
) -> NseSocket:
    """Connect with the connect timeout, then switch to the request timeout.

    Raises ``CommError(["Could not connect", <status>])`` after closing the socket.
    """
    connect_timeout, request_timeout = timeouts
    sock = NseSocket()
    sock.set_timeout(connect_timeout)
    if isinstance(host, str) and any_af:
        from nmapx.engine.thread import current

        engine = current().engine
        # In a scan (engine.names set) connect() maps names to the input's hosts instead:
        # resolving here would send a lookup before the scope check.
        if not engine.settings.no_network and engine.names is None:
            try:
                host = {"ip": await resolve(host, socket.AF_UNSPEC), "targetname": host}
            except SocketError:
                pass  # like nmap.resolve failing: connect resolves (and fails) by itself
    try:
        await sock.connect(host, port, proto)
    except SocketError as failure:
        sock.close()
        raise _raise("Could not connect", failure) from failure
    sock.set_timeout(request_timeout)
    return sock


async def _read(sock: NseSocket, lines: int | None, nbytes: int | None) -> builtins.bytes:
    """comm.lua ``read``: ``receive_lines``, else ``receive_bytes``, else ``receive``."""
    try:
        if lines:
            return await sock.receive_lines(lines)
        if nbytes:
            return await sock.receive_bytes(nbytes)
        return await sock.receive()
    except SocketError as failure:
        what = "receive_lines" if lines else "receive_bytes" if nbytes else "receive"
        raise _raise(f"{what} failed", failure) from failure


# ---------------------------------------------------------------------------- public API
async def exchange(
    host: Any,
    port: Any,
    data: builtins.bytes | str,
    *,
    lines: int | None = None,
    bytes: int | None = None,  # comm.lua's option name
    proto: str | None = None,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    request_timeout: float | None = None,
    any_af: bool = False,
) -> builtins.bytes:
    """Connect, send ``data``, read once (per ``lines``/``bytes``), close; return the reply.

    The protocol is ``proto``, else the port's, else TCP. For UDP the connect always succeeds;
    a silent port fails the read with ``TIMEOUT`` after the request timeout, an ICMP
    port-unreachable with ``ERROR``. Failures raise :class:`CommError` with the messages
    ``["Failed to connect", "Could not connect", s]``, ``["Failed to send", s]`` or
    ``["Failed to read", "receive[_lines|_bytes] failed", s]``.
    """
    timeouts = get_timeouts(
        host, timeout=timeout, connect_timeout=connect_timeout, request_timeout=request_timeout
    )
    try:
        sock = await _setup_connect(host, port, proto, timeouts, any_af)
    except CommError as error:
        raise _raise("Failed to connect", error) from error.__cause__
    try:
        await sock.send(data)
    except SocketError as failure:
        sock.close()
        raise _raise("Failed to send", failure) from failure
    try:
        response = await _read(sock, lines, bytes)
    except CommError as error:
        sock.close()
        raise _raise("Failed to read", error) from error.__cause__
    sock.close()
    return response


async def opencon(
    host: Any,
    port: Any,
    data: builtins.bytes | str | None = None,
    *,
    recv_before: bool = False,
    lines: int | None = None,
    bytes: int | None = None,  # comm.lua's option name
    proto: str | None = None,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    request_timeout: float | None = None,
    any_af: bool = False,
) -> tuple[NseSocket, builtins.bytes | None, builtins.bytes | None]:
    """Open a connection; optionally read first, then send ``data`` and read once.

    Returns ``(socket, response, early_response)``, the socket still open. ``early_response``
    is what ``recv_before`` read (None without it). With non-empty ``data``, ``response`` is one
    plain ``receive()`` after sending it (``lines``/``bytes`` apply to the early read only, as in
    comm.lua), else it is the early response. Like comm.lua, a failed early read does not stop
    the send and receive, and only the last read decides success; the early response is then
    None (Lua hands back the Oops object in that slot). On failure the socket is closed and
    :class:`CommError` raised: ``["Failed to connect", ...]``, ``["read failed", ...]`` (early
    read, no data) or ``["receive failed", s]``.
    """
    timeouts = get_timeouts(
        host, timeout=timeout, connect_timeout=connect_timeout, request_timeout=request_timeout
    )
    try:
        sock = await _setup_connect(host, port, proto, timeouts, any_af)
    except CommError as error:
        raise _raise("Failed to connect", error) from error.__cause__
    failure: CommError | None = None
    early: builtins.bytes | None = None
    response: builtins.bytes | None = None
    if recv_before:
        try:
            early = await _read(sock, lines, bytes)
        except CommError as error:
            failure = _raise("read failed", error)
    if data:
        try:
            await sock.send(data)
        except SocketError:
            pass  # comm.lua does not check this send; the receive below reports the trouble
        try:
            response = await sock.receive()
            failure = None
        except SocketError as error:
            failure = _raise("receive failed", error)
    else:
        response = early
    if failure is not None:
        sock.close()
        raise failure from failure.__cause__
    return sock, response, early


def _field(table: Any, key: str) -> Any:
    """``table.key`` for a port table given as an object or a mapping."""
    if isinstance(table, dict):
        return table.get(key)
    return getattr(table, key, None)


def _bestoption(port: Any) -> tuple[str, str]:
    """comm.lua ``bestoption``: which of SSL and plain TCP to try first on this port."""
    from nmapx.model.ports import Port, Version
    from nmapx.nse import shortport

    if isinstance(port, int) and not isinstance(port, bool):
        probe = Port(number=port, protocol="tcp", state="open")
        return ("ssl", "tcp") if shortport.ssl(None, probe) else ("tcp", "ssl")
    if not isinstance(port, Port | dict):
        return "tcp", "ssl"
    if _field(port, "protocol") == "udp":
        _debug(2, "DTLS (SSL over UDP) is not supported")
        return "udp", "udp"
    version = _field(port, "version")
    tunnel = _field(version, "service_tunnel") if version is not None else None
    confidence = _field(version, "name_confidence") if version is not None else None
    if tunnel == "ssl":
        return "ssl", "tcp"
    if isinstance(confidence, int | float) and confidence > 6:
        return "tcp", "ssl"
    number = _field(port, "number")
    probe = Port(
        number=number if isinstance(number, int) else -1,
        protocol=_field(port, "protocol") or "tcp",
        state=_field(port, "state") or "open",
        service=_field(port, "service"),
        version=version if isinstance(version, Version) else Version(),
    )
    return ("ssl", "tcp") if shortport.ssl(None, probe) else ("tcp", "ssl")


class _Options(TypedDict):
    """The options :func:`tryssl` hands on to both of its :func:`opencon` attempts."""

    recv_before: bool
    lines: int | None
    bytes: int | None
    timeout: float | None
    connect_timeout: float | None
    request_timeout: float | None
    any_af: bool


async def tryssl(
    host: Any,
    port: Any,
    data: builtins.bytes | str | None = None,
    *,
    recv_before: bool = False,
    lines: int | None = None,
    bytes: int | None = None,  # comm.lua's option name
    proto: str | None = None,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    request_timeout: float | None = None,
    any_af: bool = False,
) -> tuple[NseSocket, builtins.bytes | None, str, builtins.bytes | None]:
    """Open a connection with SSL or plain TCP, whichever works; best guess first.

    SSL goes first when the port is likely SSL (``service_tunnel``, or shortport.ssl's port and
    service lists), plain TCP otherwise; UDP is tried once (no DTLS). Returns
    ``(socket, response, "ssl"|"tcp"|"udp", early_response)`` as :func:`opencon`. On failure
    raises :class:`CommError` for the *last* attempt, with ``"<method> failed"`` on top.
    ``proto`` is ignored, as in comm.lua (which overwrites it).
    """
    if data is None and not recv_before:
        _debug(
            1,
            "Using comm.tryssl without either first data payload or opts.recv_before.\n"
            "Impossible to test the connection for the correct protocol!",
        )
    first, second = _bestoption(port)
    if proto == "udp":
        _debug(2, "DTLS (SSL over UDP) is not supported")
    options = _Options(
        recv_before=recv_before,
        lines=lines,
        bytes=bytes,
        timeout=timeout,
        connect_timeout=connect_timeout,
        request_timeout=request_timeout,
        any_af=any_af,
    )
    try:
        sock, response, early = await opencon(host, port, data, proto=first, **options)
        return sock, response, first, early
    except CommError as error:
        failure = _raise(f"{first} failed", error)
        if first == "udp":
            raise failure from failure.__cause__
    try:
        sock, response, early = await opencon(host, port, data, proto=second, **options)
    except CommError as error:
        failure = _raise(f"{second} failed", error)
        raise failure from failure.__cause__
    return sock, response, second, early


async def get_banner(
    host: Any,
    port: Any,
    *,
    lines: int | None = None,
    bytes: int | None = None,  # comm.lua's option name
    proto: str | None = None,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    request_timeout: float | None = None,
    any_af: bool = False,
) -> builtins.bytes:
    """Connect (SSL or plain, see :func:`tryssl`), read what the service sends first, close.

    Raises :class:`CommError` with ``"tryssl failed"`` on top of :func:`tryssl`'s messages.
    """
    try:
        sock, _response, _method, early = await tryssl(
            host,
            port,
            None,
            recv_before=True,
            lines=lines,
            bytes=bytes,
            proto=proto,
            timeout=timeout,
            connect_timeout=connect_timeout,
            request_timeout=request_timeout,
            any_af=any_af,
        )
    except CommError as error:
        raise _raise("tryssl failed", error) from error.__cause__
    sock.close()
    return early if early is not None else b""
