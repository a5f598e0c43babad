"""NSE sockets on asyncio: what ``nmap.new_socket()`` returns (docs/nse-semantics.md §7.1).

The behaviour is Nmap 7.93's (nse_nsock.cc on top of nsock), checked against the real thing on
loopback; the *form* is Python's:

* success returns the value (``await sock.receive()`` is the data, ``connect``/``send`` return
  None) instead of Lua's ``true, value``;
* a failure that NSE returns as ``nil, "TIMEOUT"`` raises :class:`SocketError` with the same
  status (``"TIMEOUT"``, ``"EOF"``, ``"ERROR"``; a refused connection is just ``"ERROR"``);
* I/O on a socket that was never connected, or was closed, raises :class:`NotConnectedError`
  (7.93 raises ``socket must be connected`` as a Lua error), except on a UDP socket, which NSE
  sets up implicitly: a send on it fails with ``"ERROR"``, a receive times out;
* ``close()`` returns ``True``, or ``False`` when the socket was already closed (NSE returns
  ``false, "socket already closed"``, a soft failure that scripts ignore; raising would turn a
  harmless double close into a script crash that Nmap does not have).

Facts mirrored from nsock, because scripts depend on them:

* Every operation has its own deadline, the socket's timeout (default 30 000 ms,
  ``set_timeout``; ``-1`` means none). ``receive_buf`` waits up to the timeout *per read*.
* A read returns whatever arrived: ``receive()`` one read (all that is available, at least one
  byte; one datagram on UDP), ``receive_lines(n)`` and ``receive_bytes(n)`` *at least* n lines or
  bytes, possibly more. If the peer closes or the timeout expires after at least one byte
  arrived, that is a success with the bytes so far; with nothing, it is ``"EOF"`` or
  ``"TIMEOUT"``. An error (e.g. a reset) is ``"ERROR"`` even after some data.
* ``receive_buf`` keeps the data after the delimiter in a buffer of its own, which only
  ``receive_buf`` reads: a plain ``receive()`` after it does not see that data (as in NSE).
  The buffer survives a re-``connect`` but not a ``close()`` (nor does a changed timeout).
* A failed connect leaves the socket "open" in NSE's sense: ``close()`` succeeds (and is
  traced), ``send`` fails with ``"ERROR"`` and ``receive`` with ``"EOF"`` (what the kernel
  says about such a socket), ``get_info`` still answers.
* Connecting an open socket closes it first (traced ``CLOSE``).
* With ``--script-trace``, every connect, send, received data and close is printed as Nmap
  prints it (:mod:`nmapx.nse.trace`), including ``CLOSE`` for sockets the engine closes when
  the script thread ends (:meth:`NseSocket.abort`).

Limits nmapx adds (Nmap has none; a hostile service could otherwise exhaust memory):

* ``receive_lines`` returns after :data:`MAX_READ` (1 MiB) even without enough lines, as if
  the timeout had expired; ``receive_buf`` raises ``SocketError("ERROR")`` and drops its buffer
  when :data:`MAX_READ` bytes hold no delimiter.
* ``receive()`` returns at most about :data:`READ_CHUNK` bytes (nsock's own per-read limit);
  ``receive_bytes(n)`` returns once it has n bytes, and at most :data:`MAX_READ_BYTES`.
* UDP datagrams are read whole up to 65 535 bytes (nsock reads 8 192 and would split a larger
  one).

Unconnected UDP (broadcast and discovery scripts, e.g. ``broadcast-maxcube-discover``):

* ``bind(addr, port)`` binds a UDP socket at once (nsock binds when the socket is set up; the
  effect for a script is the same). Unlike nsock, nmapx does not set ``SO_REUSEADDR``: a port
  that another program holds fails with ``SocketError("ERROR")`` whose ``detail`` names the
  errno, so a script can tell "port taken" and fall back (see :class:`UdpCapture`). Binding
  TCP sockets is not implemented (``connect`` starts a fresh socket).
* ``sendto(host, port, data)`` sends one datagram (``SO_BROADCAST`` is on, as NSE's pool sets
  it). ``receive()`` on such a socket reads one datagram from anyone, and ``get_info()`` then
  names its sender as the remote end, which is how NSE's broadcast scripts learn who answered.
* ``set_interface(name)`` (an nmapx addition, the per-socket form of Nmap's ``-e``): datagrams
  leave through that interface only (``IP_PKTINFO`` per send, ``IP_MULTICAST_IF``), so a
  broadcast or multicast probe cannot leak onto another network.
* Scope: a destination that is a host of the input is allowed as for ``connect``. Anything
  else is *discovery*, allowed only to a script the user selected by name (or file), never
  under ``--no-network`` or to an ``--exclude``d address, and only where the user pointed it
  with the script's own arguments: a multicast or broadcast destination needs the socket on
  the interface named by ``<script>.interface``; a unicast one must be ``<script>.address``.
  See :func:`check_discovery_target`.

``get_ssl_certificate()`` returns the peer's certificate as DER bytes (NSE returns the parsed
certificate: :func:`nmapx.nse.sslcert.parse_ssl_certificate` gives it; the library is layered
so that sockets know nothing of X.509).

Not implemented: binding TCP sockets, ``pcap_*`` (:class:`UdpCapture` is nmapx's narrower
stand-in); the check that a
socket is not used from two script threads ("Invalid reuse of a socket"). SSL connections do
not verify certificates (neither does Nmap) and send SNI only for names: Python never puts an
IP address in SNI, whereas nsock sends whatever string the script passed as the host.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import ipaddress
import logging
import math
import re
import socket
import ssl
import struct
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from nmapx.engine.thread import current
from nmapx.model.args import arg_value
from nmapx.nse.errors import NotConnectedError, SocketError
from nmapx.nse.trace import FROM, TO, hexify, trace_line

if TYPE_CHECKING:
    from nmapx.engine.thread import ScriptThread

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_READ",
    "MAX_READ_BYTES",
    "READ_CHUNK",
    "NseSocket",
    "UdpCapture",
    "check_discovery_target",
    "interface_info",
    "new_socket",
    "resolve",
]

log = logging.getLogger(__name__)

#: nse_nsock.cc ``DEFAULT_TIMEOUT``, in milliseconds.
DEFAULT_TIMEOUT = 30_000
#: Cap of one ``receive_lines`` result and of the ``receive_buf`` buffer.
MAX_READ = 1 << 20
#: Cap of one ``receive_bytes`` result, whatever n the script asks for.
MAX_READ_BYTES = 64 << 20
#: nsock's ``NSOCK_READ_CHUNK_SIZE``: one read stops draining the socket beyond this.
READ_CHUNK = 0x8FFFF
_RECV_SIZE = 65536
_UDP_RECV_SIZE = 65535

#: What NSE shows for the addresses of a UDP socket that was set up but never connected.
_UNKNOWN = ("unknown protocol", 0)
#: Linux's value; Python 3.11's socket module lacks IP_PKTINFO.
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
#: ioctl requests for an interface's IPv4 address, broadcast address and netmask (Linux).
_SIOCGIFADDR, _SIOCGIFBRDADDR, _SIOCGIFNETMASK = 0x8915, 0x8919, 0x891B
_LIMITED_BROADCAST = "255.255.255.255"


def new_socket(proto: str = "tcp", af: str | None = None) -> NseSocket:
    """``nmap.new_socket([proto], [af])``."""
    return NseSocket(proto, af)


# ---------------------------------------------------------------------------- arguments
def _target(host: Any) -> tuple[str, str | None]:
    """``(address, targetname)`` as nse_utility.cc ``nseU_checktarget`` takes them.

    A string is both the address and the name (nsock uses it for SNI); a host (``Host``,
    ``NseHost`` or a mapping) gives its ``ip`` and its ``targetname`` (the name the user typed,
    if any), and the name is the address when there is no ``ip``.
    """
    if isinstance(host, str):
        return host, host
    from nmapx.model.host import Host

    if isinstance(host, Host):
        host = host.nse
    if isinstance(host, Mapping):
        ip, name = host.get("ip"), host.get("targetname")
    else:
        ip, name = getattr(host, "ip", None), getattr(host, "targetname", None)
    ip = ip or None
    if ip is None and not name:
        raise ValueError("bad argument #1 to 'connect' (host table lacks 'ip' or 'targetname')")
    return str(ip or name), (str(name) if name else None)


def _port(port: Any) -> tuple[int, str | None]:
    """``(number, protocol or None)`` as ``nseU_checkport``: a port table or a number."""
    if isinstance(port, bool):
        raise TypeError("bad argument #2 to 'connect' (number expected, got boolean)")
    if isinstance(port, int):
        return port & 0xFFFF, None
    if isinstance(port, Mapping):
        number, protocol = port.get("number"), port.get("protocol")
    else:
        number, protocol = getattr(port, "number", None), getattr(port, "protocol", None)
    if not isinstance(number, int) or isinstance(number, bool):
        raise TypeError("bad argument #2 to 'connect' (port table lacks integer 'number' field)")
    return number & 0xFFFF, (protocol if isinstance(protocol, str) else None)


def _numeric(address: str) -> str | None:
    """The address if it is a numeric IP (what ``AI_NUMERICHOST`` accepts), else None."""
    try:
        ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    return address


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


async def resolve(name: str, family: int = socket.AF_INET) -> str:
    """Resolve a host name for a connect: the first address getaddrinfo gives.

    Raises ``SocketError(<gai_strerror text>)``, which is what NSE's connect returns.
    """
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(name, None, family=family, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SocketError(exc.strerror or "Name or service not known", str(exc)) from None
    if not infos:
        raise SocketError("getaddrinfo returned success but no addresses")
    return str(infos[0][4][0])


_ssl_context: ssl.SSLContext | None = None


def _client_context() -> ssl.SSLContext:
    """Like nsock's client context: no certificate verification, any cipher the library has."""
    global _ssl_context
    if _ssl_context is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            context.set_ciphers("ALL:@SECLEVEL=0")
        except ssl.SSLError:  # pragma: no cover - depends on the OpenSSL build
            log.debug("OpenSSL refused the permissive cipher list; using its defaults")
        try:
            context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        except (ValueError, ssl.SSLError):  # pragma: no cover
            pass
        context.options |= getattr(ssl, "OP_LEGACY_SERVER_CONNECT", 0)
        _ssl_context = context
    return _ssl_context


def _finder(delim: Any) -> Callable[[bytes], tuple[int, int] | None]:
    """Turn a ``receive_buf`` delimiter into ``buffer -> (start, end) | None``."""
    if callable(delim) and not isinstance(delim, re.Pattern):

        def call(buffer: bytes) -> tuple[int, int] | None:
            found = delim(buffer)
            if found is None or found is False:
                return None
            if isinstance(found, re.Match):
                return found.start(), found.end()
            start, end = found
            return int(start), int(end)

        return call
    if isinstance(delim, re.Pattern):
        pattern = delim
        if isinstance(pattern.pattern, str):
            pattern = re.compile(
                pattern.pattern.encode("utf-8", "surrogateescape"), pattern.flags & ~re.UNICODE
            )
    elif isinstance(delim, str):
        pattern = re.compile(delim.encode("utf-8", "surrogateescape"))
    elif isinstance(delim, bytes | bytearray):
        pattern = re.compile(bytes(delim))
    else:
        raise TypeError("bad argument #1 to 'receive_buf' (function/string expected)")

    def search(buffer: bytes) -> tuple[int, int] | None:
        match = pattern.search(buffer)
        return (match.start(), match.end()) if match else None

    return search


# ---------------------------------------------------------------------------- the socket
class NseSocket:
    """One NSE socket. Not bound to a thread until it connects; see the module docstring."""

    def __init__(self, proto: str = "tcp", af: str | None = None) -> None:
        if proto not in ("tcp", "udp"):
            raise ValueError(f"bad argument #1 to 'new_socket' (invalid option '{proto}')")
        if af not in (None, "inet", "inet6"):
            raise ValueError(f"bad argument #2 to 'new_socket' (invalid option '{af}')")
        #: The protocol a connect uses by default (nsock's ``nu->proto``).
        self.proto = proto
        self.af = af or "inet"
        self._timeout = DEFAULT_TIMEOUT
        self._buffer = b""
        #: ``set_interface``: (name, index) of the interface datagrams must leave through.
        self._interface: tuple[str, int] | None = None
        self._reset_connection()

    def _reset_connection(self) -> None:
        self._open = False  # NSE's ``nsiod != NULL``
        self._sock: socket.socket | None = None
        self._kind = "tcp"  # "tcp", "udp", "ssl", or "unset" (an implicit UDP socket)
        self._ssl: ssl.SSLObject | None = None
        self._incoming: ssl.MemoryBIO | None = None
        self._outgoing: ssl.MemoryBIO | None = None
        self._local: tuple[str, int] = _UNKNOWN
        self._remote: tuple[str, int] = _UNKNOWN
        self._thread: ScriptThread | None = None
        self._targetname: str | None = None  # for SNI
        #: A bound or sendto UDP socket: reads take datagrams from anyone (recvfrom).
        self._unconnected = False

    def __repr__(self) -> str:
        state = f"{self._kind} {self._local} -> {self._remote}" if self._open else "closed"
        return f"<NseSocket {state}>"

    async def __aenter__(self) -> NseSocket:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ settings
    @property
    def timeout(self) -> int:
        """The timeout of later operations, in milliseconds (-1: none)."""
        return self._timeout

    def set_timeout(self, ms: float) -> None:
        """``set_timeout(ms)``: floored to an integer like NSE; below -1 is an error."""
        value = math.floor(ms)
        if value < -1:
            raise ValueError(f"Negative timeout: {value}")
        self._timeout = value

    def _deadline(self) -> float | None:
        if self._timeout < 0:
            return None
        return asyncio.get_running_loop().time() + self._timeout / 1000

    # ------------------------------------------------------------------ tracing
    def _tracing(self) -> bool:
        return (self._thread or current()).settings.script_trace

    def _trace(self, message: str, direction: str) -> None:
        thread = self._thread or current()
        if not thread.settings.script_trace:
            return
        if self._kind == "unset":
            proto = "N/A"
        else:
            proto = "UDP" if self._kind == "udp" else "TCP"
        thread.engine.message(trace_line(proto, self._local, direction, self._remote, message))

    def _note_local(self) -> None:
        if self._sock is None:
            return
        try:
            name = self._sock.getsockname()
        except OSError:
            return
        self._local = (str(name[0]), int(name[1]))

    # ------------------------------------------------------------------ state checks
    def _ensure_open(self) -> None:
        """nse_nsock.cc ``check_nsock_udata(open)`` + ``NSOCK_UDATA_ENSURE_OPEN``."""
        if self._open:
            return
        if self.proto == "udp":
            # NSE sets an unconnected UDP socket up implicitly (for sendto); nothing reaches it.
            self._open = True
            self._kind = "unset"
            self._thread = current()
            self._thread.sockets.add(self)
            return
        raise NotConnectedError()

    # ------------------------------------------------------------------ connect
    async def connect(self, host: Any, port: Any, proto: str | None = None) -> None:
        """Connect to ``host`` (a string, ``Host``, ``NseHost`` or mapping) and ``port``.

        ``proto`` ("tcp", "udp", "ssl") defaults to the port table's protocol, else the
        socket's. The target is checked against nmapx's scope before anything is sent (a name
        is looked up among the input's host names, not resolved, when the engine has a
        scope); a UDP "connect" succeeds at once. Raises
        ``SocketError("ERROR"|"TIMEOUT"|<resolver text>)``.
        """
        address, targetname = _target(host)
        number, default_proto = _port(port)
        method = proto if proto is not None else (default_proto or self.proto)
        if method not in ("tcp", "udp", "ssl"):
            raise ValueError(f"bad argument #3 to 'connect' (invalid option '{method}')")
        thread = current()
        ip = _numeric(address)
        if ip is None:  # a name: the input's own names, never a resolver, in a scan
            ip = thread.engine.address_for_name(address)
        if ip is not None:
            thread.engine.check_target(ip)
        await thread.acquire_socket_slot()
        if ip is None:
            family = socket.AF_INET6 if self.af == "inet6" else socket.AF_INET
            ip = await resolve(address, family)
            thread.engine.check_target(ip)

        if self._open:
            self._close_internal()
        self._thread = thread
        thread.sockets.add(self)
        self._kind = method
        self._targetname = targetname
        self.proto = "udp" if method == "udp" else "tcp"
        self._remote = (ip.split("%", 1)[0], number)
        self._local = ("0.0.0.0", 0) if _family(ip) == socket.AF_INET else ("::", 0)
        try:
            sock = socket.socket(
                _family(ip), socket.SOCK_DGRAM if method == "udp" else socket.SOCK_STREAM
            )
        except OSError as exc:
            raise SocketError("ERROR", f"socket(): {exc}") from None
        sock.setblocking(False)
        self._sock = sock
        self._open = True

        status: str | None = None
        detail = None
        destination = self._sockaddr(ip, number)
        if method == "udp":
            try:
                sock.connect(destination)
            except OSError as exc:
                status, detail = "ERROR", str(exc)
        else:
            loop = asyncio.get_running_loop()
            timeout = asyncio.timeout_at(self._deadline())
            try:
                async with timeout:
                    await loop.sock_connect(sock, destination)
                    if method == "ssl":
                        self._note_local()
                        await self._handshake(targetname)
            except TimeoutError as exc:
                status = "TIMEOUT" if timeout.expired() else "ERROR"
                detail = str(exc)
            except OSError as exc:  # refused, unreachable, SSL failures (SSLError is OSError)
                status, detail = "ERROR", str(exc)
        self._note_local()
        self._trace("CONNECT", TO)
        if status is not None:
            log.debug("connect to %s:%d failed: %s (%s)", ip, number, status, detail)
            raise SocketError(status, detail)

    @staticmethod
    def _sockaddr(ip: str, number: int) -> tuple[Any, ...]:
        if _family(ip) == socket.AF_INET:
            return (ip, number)
        address, _, scope = ip.partition("%")
        scope_id = 0
        if scope:
            try:
                scope_id = int(scope) if scope.isdigit() else socket.if_nametoindex(scope)
            except OSError:
                scope_id = 0
        return (address, number, 0, scope_id)

    async def reconnect_ssl(self) -> None:
        """Start TLS over the open TCP connection (``reconnect_ssl``, traced SSL RECONNECT)."""
        self._ensure_open()
        if self._sock is None or self._kind == "udp":
            raise SocketError("ERROR", "not a TCP connection")
        timeout = asyncio.timeout_at(self._deadline())
        status = None
        detail = None
        try:
            async with timeout:
                await self._handshake(self._targetname)
            self._kind = "ssl"
        except TimeoutError as exc:
            status, detail = ("TIMEOUT" if timeout.expired() else "ERROR"), str(exc)
        except OSError as exc:
            status, detail = "ERROR", str(exc)
        self._trace("SSL RECONNECT", TO)
        if status is not None:
            raise SocketError(status, detail)

    async def _handshake(self, server_name: str | None) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        name = server_name if server_name and _numeric(server_name) is None else None
        obj = _client_context().wrap_bio(incoming, outgoing, server_hostname=name)
        self._ssl, self._incoming, self._outgoing = obj, incoming, outgoing
        try:
            while True:
                try:
                    obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    await self._flush_tls()
                    await self._feed_tls()
            await self._flush_tls()
        except BaseException:
            self._ssl = self._incoming = self._outgoing = None
            raise

    async def _flush_tls(self) -> None:
        assert self._outgoing is not None and self._sock is not None
        pending = self._outgoing.read()
        if pending:
            await asyncio.get_running_loop().sock_sendall(self._sock, pending)

    async def _feed_tls(self) -> None:
        """Wait for raw bytes from the peer and hand them to the TLS engine."""
        assert self._incoming is not None and self._sock is not None
        raw = await asyncio.get_running_loop().sock_recv(self._sock, _RECV_SIZE)
        if raw:
            self._incoming.write(raw)
        else:
            self._incoming.write_eof()

    def get_ssl_certificate(self) -> bytes | None:
        """``socket:get_ssl_certificate()``: the peer's certificate as DER, None if it sent none.

        The bytes are the certificate exactly as received (what NSE's PEM and digests are
        computed from). On a socket that is not SSL-connected this raises ValueError, as NSE
        raises ``not a SSL socket`` (``ftp.lua`` probes for SSL that way, under ``pcall``).
        """
        if self._ssl is None:
            raise ValueError("bad argument #1 to 'get_ssl_certificate' (not a SSL socket)")
        return self._ssl.getpeercert(binary_form=True)

    # ------------------------------------------------------------------ send
    async def send(self, data: bytes | bytearray | memoryview | str) -> None:
        """Send all of ``data`` (a str is encoded UTF-8, lone surrogates as raw bytes)."""
        self._ensure_open()
        if isinstance(data, str):
            payload = data.encode("utf-8", "surrogateescape")
        elif isinstance(data, bytes | bytearray | memoryview):
            payload = bytes(data)
        else:
            raise TypeError(f"bad argument #1 to 'send' (string expected, got {type(data)})")
        if self._tracing():  # rendering data costs time: only when someone reads it
            self._trace(hexify(payload), TO)
        status: str | None = None
        detail = None
        if self._sock is None:  # the implicit UDP socket has no destination
            status, detail = "ERROR", "send on an unconnected UDP socket"
        else:
            loop = asyncio.get_running_loop()
            timeout = asyncio.timeout_at(self._deadline())
            try:
                async with timeout:
                    if self._ssl is not None:
                        self._ssl.write(payload)
                        await self._flush_tls()
                    else:
                        await loop.sock_sendall(self._sock, payload)
            except TimeoutError as exc:
                status = "TIMEOUT" if timeout.expired() else "ERROR"
                detail = str(exc)
            except OSError as exc:
                status, detail = "ERROR", str(exc)
        self._trace("SEND", TO)
        if status is not None:
            raise SocketError(status, detail)

    # ------------------------------------------------------------------ receive
    async def receive(self) -> bytes:
        """Whatever one read returns (>= 1 byte; one datagram on UDP)."""
        return await self._read(lambda _count, _length: True, READ_CHUNK)

    async def receive_lines(self, n: int) -> bytes:
        """At least ``n`` newline-terminated lines, possibly more, possibly a partial line.

        Returns early (success) at EOF or timeout once something arrived, and after
        :data:`MAX_READ` bytes.
        """
        wanted = int(n)
        return await self._read(lambda count, _length: count >= wanted, MAX_READ)

    async def receive_bytes(self, n: int) -> bytes:
        """At least ``n`` bytes, possibly more; less only at EOF or timeout (or MAX_READ_BYTES)."""
        wanted = int(n)
        return await self._read(lambda _count, length: length >= wanted, MAX_READ_BYTES)

    async def receive_buf(self, delim: Any, keep: bool) -> bytes:
        """Data up to the first match of ``delim``, which is included iff ``keep``.

        ``delim`` is a regular expression (``str``, ``bytes`` or compiled; a ``str`` pattern is
        matched against the UTF-8 form, and note that it is a Python regex, not a Lua pattern),
        or a callable ``f(buffer) -> (start, end) | re.Match | None`` with 0-based half-open
        indices. An empty match or indices outside the buffer raise ``ValueError`` ("invalid
        indices for match", like NSE). The rest stays buffered for the next ``receive_buf``;
        a read failure is raised with the buffer kept.
        """
        self._ensure_open()
        if not isinstance(keep, bool):
            raise TypeError("bad argument #2 to 'receive_buf' (boolean expected)")
        find = _finder(delim)
        while True:
            buffer = self._buffer
            found = find(buffer)
            if found is not None:
                start, end = found
                if start < 0 or start >= end or end > len(buffer):
                    raise ValueError("invalid indices for match")
                self._buffer = buffer[end:]
                return buffer[:end] if keep else buffer[:start]
            if len(buffer) >= MAX_READ:
                self._buffer = b""
                raise SocketError(
                    "ERROR", f"receive_buf: no delimiter in {len(buffer)} bytes (nmapx cap)"
                )
            self._buffer = buffer + await self._read(lambda _c, _l: True, READ_CHUNK)

    async def _read(self, enough: Callable[[int, int], bool], cap: int) -> bytes:
        """One nsock read event: read until ``enough(newlines, length)`` or ``cap``."""
        self._ensure_open()
        data = bytearray()
        newlines = 0
        status: str | None = None
        detail = None
        timeout = asyncio.timeout_at(self._deadline())
        try:
            async with timeout:
                if self._sock is None:  # implicit UDP socket: nothing can ever arrive
                    await asyncio.Future()
                while True:
                    chunk = await self._recv_some(cap - len(data))
                    if not chunk:
                        status = "EOF"
                        break
                    data += chunk
                    newlines += chunk.count(b"\n")
                    if enough(newlines, len(data)) or len(data) >= cap:
                        break
        except TimeoutError as exc:
            status = "TIMEOUT" if timeout.expired() else "ERROR"
            detail = str(exc)
        except OSError as exc:  # reset, ICMP unreachable on UDP, TLS failure
            status, detail = "ERROR", str(exc)
            data.clear()  # nsock reports an error even when some data had arrived
        if status in ("EOF", "TIMEOUT") and data:
            status = None
        if status is not None:
            raise SocketError(status, detail)
        received = bytes(data)
        if self._tracing():
            self._trace(hexify(received), FROM)
        return received

    async def _recv_some(self, limit: int) -> bytes:
        """Wait for data, then take what else is available (nsock ``do_actual_read``).

        Takes about ``limit`` bytes at most (and never much more than :data:`READ_CHUNK`);
        returns b"" at EOF. UDP gives exactly one datagram.
        """
        sock = self._sock
        assert sock is not None
        limit = max(1, min(limit, READ_CHUNK + 1))
        if self._ssl is not None:
            return await self._recv_tls(limit)
        loop = asyncio.get_running_loop()
        if self._kind == "udp":
            if self._unconnected:
                data, sender = await loop.sock_recvfrom(sock, _UDP_RECV_SIZE)
                self._remote = (str(sender[0]), int(sender[1]))  # get_info names the sender
                return bytes(data)
            return await loop.sock_recv(sock, _UDP_RECV_SIZE)
        first = await loop.sock_recv(sock, min(_RECV_SIZE, limit))
        if len(first) < _RECV_SIZE:
            return first
        chunks = [first]
        total = len(first)
        while total < limit:
            try:
                more = sock.recv(min(_RECV_SIZE, limit - total))
            except OSError:
                break  # nothing more now (EAGAIN), or an error the next read reports
            if not more:
                break
            chunks.append(more)
            total += len(more)
            if len(more) < _RECV_SIZE:
                break
        return b"".join(chunks)

    async def _recv_tls(self, limit: int) -> bytes:
        assert self._ssl is not None and self._incoming is not None
        chunks: list[bytes] = []
        total = 0
        while total < limit:
            try:
                piece = self._ssl.read(min(_RECV_SIZE, limit - total))
            except ssl.SSLWantReadError:
                await self._flush_tls()
                if chunks:
                    if not self._feed_tls_nowait():
                        break
                    continue
                await self._feed_tls()
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break  # close_notify or a bare close: EOF (after any data already taken)
            if not piece:
                break
            chunks.append(piece)
            total += len(piece)
        await self._flush_tls()
        return b"".join(chunks)

    def _feed_tls_nowait(self) -> bool:
        """Hand the TLS engine raw bytes already waiting; False when there are none."""
        assert self._incoming is not None and self._sock is not None
        try:
            raw = self._sock.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return False
        if raw:
            self._incoming.write(raw)
        else:
            self._incoming.write_eof()
        return True

    # ------------------------------------------------------------------ unconnected UDP
    def set_interface(self, name: str) -> None:
        """Send this socket's datagrams through interface ``name`` only (nmapx addition).

        It is the per-socket form of Nmap's ``-e``, and what lets a broadcast or multicast
        probe pass :func:`check_discovery_target`. Raises ``SocketError("ERROR")`` for an
        interface that does not exist.
        """
        if self.af != "inet":
            raise SocketError("ERROR", "set_interface: IPv4 sockets only")
        try:
            index = socket.if_nametoindex(name)
        except OSError as exc:
            raise SocketError("ERROR", f"no interface {name!r}: {exc}") from None
        self._interface = (name, index)
        if self._sock is not None:
            self._apply_interface(self._sock)

    @property
    def interface(self) -> str | None:
        """The interface set with :meth:`set_interface`, if any."""
        return self._interface[0] if self._interface else None

    def _apply_interface(self, sock: socket.socket) -> None:
        if self._interface is None:
            return
        # struct ip_mreqn: multiaddr (unused here), address (any), interface index
        mreqn = struct.pack("@4s4si", bytes(4), bytes(4), self._interface[1])
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)

    def _udp_socket(self) -> socket.socket:
        """The OS socket of an unconnected UDP socket, created on first use."""
        if self._sock is not None:
            return self._sock
        if self.proto != "udp":
            raise SocketError("ERROR", "bind/sendto: nmapx implements them for UDP sockets only")
        thread = current()
        family = socket.AF_INET6 if self.af == "inet6" else socket.AF_INET
        try:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            self._apply_interface(sock)
        except OSError as exc:
            raise SocketError("ERROR", f"socket(): {exc}") from None
        sock.setblocking(False)
        self._sock = sock
        self._open = True
        self._kind = "udp"
        self._unconnected = True
        self._thread = thread
        thread.sockets.add(self)
        self._local = ("0.0.0.0", 0) if family == socket.AF_INET else ("::", 0)
        return sock

    async def bind(self, addr: str | None = None, port: int | None = None) -> None:
        """``socket:bind(addr, port)``: the local address and port of a UDP socket.

        Needs a socket slot like ``connect``. ``addr`` None is the wildcard address, ``port``
        None an ephemeral port. A failure raises ``SocketError("ERROR")``; its ``detail``
        starts with the errno name (``EADDRINUSE: ...``) so a script can tell a taken port.
        """
        if self._open and not self._unconnected:
            raise SocketError("ERROR", "bind: the socket is already connected")
        if self._open and self._sock is not None and self._local[1]:
            raise SocketError("ERROR", "bind: the socket is already bound")
        thread = current()
        if thread.settings.no_network:
            thread.engine.check_target(addr or "0.0.0.0")  # raises: no sockets at all
        await thread.acquire_socket_slot()
        sock = self._udp_socket()
        wildcard = "::" if sock.family == socket.AF_INET6 else "0.0.0.0"
        local = addr or wildcard
        if _numeric(local) is None:
            raise SocketError("ERROR", f"bind: not a numeric address: {local!r}")
        try:
            sock.bind(self._sockaddr(local, int(port or 0) & 0xFFFF))
        except OSError as exc:
            name = errno.errorcode.get(exc.errno or 0, "EUNKNOWN")
            log.debug("bind %s:%s failed: %s", local, port, exc)
            raise SocketError("ERROR", f"{name}: {exc.strerror or exc}") from None
        self._note_local()

    async def sendto(self, host: Any, port: Any, data: bytes | bytearray | str) -> None:
        """``socket:sendto(host, port, data)``: one datagram to a numeric address.

        The destination is checked first: a host of the input as for ``connect``, anything
        else by :func:`check_discovery_target`. Names are refused (nmapx never resolves for a
        script). Traced as Nmap traces a UDP send.
        """
        address, _name = _target(host)
        number, _proto = _port(port)
        ip = _numeric(address)
        thread = current()
        if ip is None:
            ip = thread.engine.address_for_name(address)
            if ip is None:
                raise SocketError("ERROR", f"sendto: not a numeric address: {address!r}")
        if isinstance(data, str):
            payload = data.encode("utf-8", "surrogateescape")
        elif isinstance(data, bytes | bytearray | memoryview):
            payload = bytes(data)
        else:
            raise TypeError(f"bad argument #3 to 'sendto' (string expected, got {type(data)})")
        check_discovery_target(thread, ip, self.interface)
        await thread.acquire_socket_slot()
        sock = self._udp_socket()
        self._remote = (ip, number)
        self._note_local()
        if self._tracing():
            self._trace(hexify(payload), TO)
        ancillary = []
        if self._interface is not None and sock.family == socket.AF_INET:
            # struct in_pktinfo: ifindex, spec_dst (any), addr (unused on send)
            info = struct.pack("@i4s4s", self._interface[1], bytes(4), bytes(4))
            ancillary.append((socket.IPPROTO_IP, _IP_PKTINFO, info))
        loop = asyncio.get_running_loop()
        status: str | None = None
        detail = None
        timeout = asyncio.timeout_at(self._deadline())
        try:
            async with timeout:
                while True:
                    try:
                        sock.sendmsg([payload], ancillary, 0, self._sockaddr(ip, number))
                        break
                    except (BlockingIOError, InterruptedError):
                        ready = loop.create_future()
                        loop.add_writer(sock.fileno(), ready.set_result, None)
                        try:
                            await ready
                        finally:
                            loop.remove_writer(sock.fileno())
        except TimeoutError as exc:
            status, detail = ("TIMEOUT" if timeout.expired() else "ERROR"), str(exc)
        except OSError as exc:
            status, detail = "ERROR", str(exc)
        self._note_local()
        self._trace("SEND", TO)
        if status is not None:
            log.debug("sendto %s:%d failed: %s (%s)", ip, number, status, detail)
            raise SocketError(status, detail)

    # ------------------------------------------------------------------ info and close
    def get_info(self) -> tuple[str, int, str, int]:
        """``(local_ip, local_port, remote_ip, remote_port)`` of the connection."""
        self._ensure_open()
        self._note_local()
        return (*self._local, *self._remote)

    def close(self) -> bool:
        """Close; ``False`` if it was already closed (NSE: ``false, "socket already closed"``).

        Closing resets the socket like NSE does: the ``receive_buf`` buffer is emptied and the
        timeout is back to the 30 s default.
        """
        if not self._open:
            return False
        self._close_internal()
        self._timeout = DEFAULT_TIMEOUT
        self._buffer = b""
        return True

    def _close_internal(self) -> None:
        self._trace("CLOSE", TO)
        thread = self._thread
        sock = self._sock
        self._reset_connection()
        if thread is not None:
            thread.sockets.discard(self)
        if sock is not None:
            self._close_fd(sock)

    @staticmethod
    def _close_fd(sock: socket.socket) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None and sock.fileno() >= 0:
            # An I/O wait the engine cancelled may still have its fd registered.
            loop.remove_reader(sock.fileno())
            loop.remove_writer(sock.fileno())
        sock.close()

    def abort(self) -> None:
        """Engine cleanup when the script thread ends: close if open; never raises.

        NSE closes a finished thread's sockets with the ordinary close, so this is traced
        ``CLOSE`` too.
        """
        try:
            if self._open:
                self.close()
        except Exception:  # cleanup must not fail the engine
            log.debug("aborting %r failed", self, exc_info=True)
            sock = self._sock
            self._reset_connection()
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass


# ---------------------------------------------------------------------------- discovery scope
def interface_info(name: str) -> dict[str, Any] | None:
    """``{"name", "index", "address", "netmask", "broadcast"}`` of an IPv4 interface, or None.

    Read with the kernel's ioctls (no traffic, no privileges); the addresses are those of the
    interface's primary IPv4 address, as ``nmap.get_interface_info`` reports them.
    """
    try:
        index = socket.if_nametoindex(name)
    except OSError:
        return None
    info: dict[str, Any] = {"name": name, "index": index}
    request = struct.pack("256s", name.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for key, code in (
            ("address", _SIOCGIFADDR),
            ("netmask", _SIOCGIFNETMASK),
            ("broadcast", _SIOCGIFBRDADDR),
        ):
            try:
                answer = fcntl.ioctl(probe.fileno(), code, request)
            except OSError:
                info[key] = None
                continue
            info[key] = socket.inet_ntoa(answer[20:24])
    return info


def _is_broadcast_like(ip: str, interface: str | None) -> bool:
    """Multicast, the limited broadcast, or the directed broadcast of ``interface``."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if address.is_multicast or ip == _LIMITED_BROADCAST:
        return True
    if interface is None:
        return False
    info = interface_info(interface)
    return bool(info and info.get("broadcast") == ip)


def check_discovery_target(thread: ScriptThread, ip: str, interface: str | None) -> None:
    """May this thread send a datagram to ``ip`` (through ``interface``)? Raises ScopeError.

    nmapx's scope is the input's hosts (minus ``--exclude``). Discovery reaches beyond it by
    nature, so it is allowed only when the *user* asked for it, never on a script's own
    initiative:

    * the script was selected by name or file path (not by a category or ``all``);
    * the destination is not ``--exclude``d (and nothing at all under ``--no-network``);
    * a multicast or broadcast destination is sent through the interface that the user named
      in ``<script>.interface`` (the socket's :meth:`NseSocket.set_interface`), so it cannot
      leave on any other network;
    * a unicast destination is exactly the user's ``<script>.address``.

    Without a scope (library use, ``allowed`` None) only ``--no-network`` applies.
    """
    from nmapx.engine.thread import ScopeError

    engine = thread.engine
    if engine.settings.no_network:
        raise ScopeError(f"network access refused (--no-network): {ip}")
    if engine.allowed is None or engine.allowed(ip):
        return
    who = thread.script_id
    if not thread.by_name:
        raise ScopeError(
            f"{ip} is not a host of the input; discovery traffic is sent only by a script"
            f" selected by name (--script {who})"
        )
    excluded = getattr(engine, "excluded", None)
    if excluded is not None and excluded(ip):
        raise ScopeError(f"{ip} is excluded")
    args = thread.settings.script_args
    if _is_broadcast_like(ip, interface):
        wanted = arg_value(args, f"{who}.interface")
        if interface is None or not isinstance(wanted, str) or wanted != interface:
            raise ScopeError(
                f"{ip} is a multicast/broadcast address: it is sent to only through the"
                f" interface the user names with {who}.interface"
                f" (socket interface: {interface or 'none'})"
            )
        return
    wanted_address = arg_value(args, f"{who}.address")
    if not isinstance(wanted_address, str) or _numeric(wanted_address) != ip:
        raise ScopeError(f"{ip} is not a host of the input and not the {who}.address the user gave")


# ---------------------------------------------------------------------------- capture
#: ``sll_pkttype`` of a packet the host itself sent (AF_PACKET).
_PACKET_OUTGOING = 4
_ETH_P_IP = 0x0800


class UdpCapture:
    """Incoming IPv4/UDP datagrams to one port on one interface, seen by a packet socket.

    nmapx's narrow stand-in for NSE's ``pcap_open``/``pcap_receive``: when another program
    holds the port a reply is addressed to, the kernel hands the reply to that program; a
    packet socket (``AF_PACKET``, needs root or CAP_NET_RAW) still sees a copy. Only packets
    arriving on ``interface`` with UDP destination port ``port`` (and source port
    ``source_port`` if given) are returned; checksums are not verified (the kernel has).
    """

    def __init__(self, interface: str, port: int, source_port: int | None = None) -> None:
        self.interface = interface
        self.port = port
        self.source_port = source_port
        self._sock: socket.socket | None = None

    def open(self) -> None:
        """Open the packet socket; raises ``SocketError("ERROR")`` (e.g. without privilege)."""
        thread = current()
        if thread.settings.no_network:
            thread.engine.check_target(self.interface)  # raises
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(_ETH_P_IP))
        except OSError as exc:
            name = errno.errorcode.get(exc.errno or 0, "EUNKNOWN")
            raise SocketError("ERROR", f"{name}: packet capture: {exc.strerror or exc}") from None
        try:
            sock.bind((self.interface, _ETH_P_IP))
        except OSError as exc:
            sock.close()
            raise SocketError("ERROR", f"packet capture on {self.interface}: {exc}") from None
        sock.setblocking(False)
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            NseSocket._close_fd(self._sock)
            self._sock = None

    def __enter__(self) -> UdpCapture:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @staticmethod
    def parse(packet: bytes) -> tuple[str, int, str, int, bytes] | None:
        """``(src, sport, dst, dport, payload)`` of an unfragmented IPv4/UDP packet."""
        if len(packet) < 28 or packet[0] >> 4 != 4 or packet[9] != socket.IPPROTO_UDP:
            return None
        header = (packet[0] & 0x0F) * 4
        total = int.from_bytes(packet[2:4], "big")
        flags_fragment = int.from_bytes(packet[6:8], "big")
        if header < 20 or flags_fragment & 0x3FFF or total > len(packet):
            return None  # a fragment, or truncated
        udp = packet[header:total]
        if len(udp) < 8:
            return None
        sport, dport, length = struct.unpack("!HHH", udp[:6])
        if length < 8 or length > len(udp):
            return None
        return (
            socket.inet_ntoa(packet[12:16]),
            sport,
            socket.inet_ntoa(packet[16:20]),
            dport,
            bytes(udp[8:length]),
        )

    async def receive(self, timeout: float) -> tuple[bytes, str, int]:
        """The next matching datagram as ``(payload, source address, source port)``.

        Raises ``SocketError("TIMEOUT")`` when none arrives within ``timeout`` seconds.
        """
        if self._sock is None:
            raise NotConnectedError("capture is not open")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    packet, where = await loop.sock_recvfrom(self._sock, _UDP_RECV_SIZE + 60)
                    if len(where) > 2 and where[2] == _PACKET_OUTGOING:
                        continue
                    parsed = self.parse(packet)
                    if parsed is None:
                        continue
                    src, sport, _dst, dport, payload = parsed
                    if dport != self.port:
                        continue
                    if self.source_port is not None and sport != self.source_port:
                        continue
                    return payload, src, sport
        except TimeoutError:
            raise SocketError("TIMEOUT") from None
