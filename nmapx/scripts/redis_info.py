"""Retrieves information (such as version number and architecture) from a Redis key-value store.

A port of Nmap 7.93's ``redis-info.nse`` on :mod:`nmapx.nse.redis`: ``INFO`` (with ``AUTH``
first when a password is given as ``creds.redis`` or ``creds.global``, as creds.lua hands
script-argument credentials out), then ``CONFIG GET bind``, ``PUBSUB CHANNELS``, ``CLIENT
LIST`` and ``CLUSTER NODES``, each shown when the server answers it. Failures (no connection,
a password needed) use ``stdnse.format_output(false, ...)``: nothing unless debugging, then
``ERROR: ...``. The version (with its CPE) and the architecture go into the port's service
with ``nmap.set_port_version``, as Nmap's script does. Credentials found by ``redis-brute``
in the same run are not available (nmapx has no redis-brute).

@usage nmapx run scan.xml --script redis-info
@output
    PORT     STATE SERVICE
    6379/tcp open  unknown
    | redis-info:
    |   Version: 2.2.11
    |   Architecture: 64 bits
    |   Process ID: 17821
    |   Used CPU (sys): 2.37
    |   Used CPU (user): 1.02
    |   Connected clients: 1
    |   Connected slaves: 0
    |   Used memory: 780.16K
    |   Role: master
    |   Bind addresses:
    |     192.168.121.101
    |   Active channels:
    |     testChannel
    |     bidChannel
    |   Client connections:
    |     192.168.171.101
    |_    72.14.177.105
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from nmapx.nse import nmap, redis, shortport, stdnse

author = "Patrik Karlsson, Vasiliy Kulikov (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["discovery", "safe"]
dependencies = ["redis-brute"]

portrule = shortport.port_or_service(6379, "redis")


def fail(err: str | bytes) -> str | None:
    return stdnse.format_output(False, err)


def _version(host: Any, port: Any, value: bytes) -> bytes:
    port.version.version = value.decode("utf-8", "surrogateescape")
    port.version.cpe.append("cpe:/a:redis:redis:" + port.version.version)
    nmap.set_port_version(host, port)
    return value


def _architecture(host: Any, port: Any, value: bytes) -> bytes:
    text = value + b" bits"
    port.version.extrainfo = text.decode("utf-8", "surrogateescape")
    nmap.set_port_version(host, port)
    return text


#: INFO fields shown, in order: (field, label, how the value is shown).
FILTER: list[tuple[bytes, str, Callable[[Any, Any, bytes], bytes] | None]] = [
    (b"redis_version", "Version", _version),
    (b"os", "Operating System", None),
    (b"arch_bits", "Architecture", _architecture),
    (b"process_id", "Process ID", None),
    (b"used_cpu_sys", "Used CPU (sys)", None),
    (b"used_cpu_user", "Used CPU (user)", None),
    (b"connected_clients", "Connected clients", None),
    (b"connected_slaves", "Connected slaves", None),
    (b"used_memory_human", "Used memory", None),
    (b"role", "Role", None),
]

_INFO_LINE = re.compile(rb"([^:]*):(.*)", re.S)
#: ``%f[^%s\0]addr=%[?([%x:.]+)%]?:%d+%f[%s\0]``: the start of the string or a space (or NUL)
#: before ``addr=`` (so not ``laddr=``), a space, NUL or the end after the port.
_CLIENT_ADDR = re.compile(rb"(?:(?<=[\s\x00])|^)addr=\[?([0-9A-Fa-f:.]+)\]?:\d+(?=[\s\x00]|\Z)")
_NODE = re.compile(rb"^[0-9A-Fa-f]+\s+([0-9A-Fa-f.:\[\]]+)@?\d*\s+(\S+)")


def ip_to_str(ip: bytes) -> bytes | None:
    """ipOps.ip_to_str: the address in binary (4 or 16 bytes), None if it is not one.

    IPv4 follows ipOps.expand_ip (digits and dots, up to four octets of at most 255, missing
    ones filled with 0); IPv6 is read by the ``ipaddress`` module (expand_ip accepts the same
    forms, compressed and with an embedded IPv4 tail).
    """
    text = ip.decode("ascii", "replace")
    if ":" not in text:
        if re.search(r"[^.0-9]", text) or not text:
            return None
        octets = [int(o) for o in re.findall(r"\d+", text)]
        if len(octets) > 4 or any(o > 255 for o in octets):
            return None
        return bytes(octets + [0] * (4 - len(octets)))
    try:
        return ipaddress.IPv6Address(text).packed
    except ValueError:
        return None


def str_to_ip(binary: bytes) -> str:
    """ipOps.str_to_ip: dotted IPv4, or IPv6 with the first run of ``:0`` collapsed."""
    if len(binary) == 4:
        return ".".join(str(b) for b in binary)
    words = [int.from_bytes(binary[i : i + 2], "big") for i in range(0, 16, 2)]
    full = ":".join(f"{w:x}" for w in words)
    full = re.sub(r":[:0]+", "::", full, count=1)
    return re.sub(r"^0::", "::", full, count=1)


def bind_addresses(data: Any) -> list[bytes] | None:
    if not isinstance(data, list) or not data or data[0] != b"bind" or len(data) < 2:
        return None
    return [ip or b"0.0.0.0" for ip in data[1].split(b" ")]


def active_channels(data: Any) -> list[bytes | str] | None:
    if not isinstance(data, list):  # ipairs over a string: nothing
        return None
    limit = 20 if nmap.verbosity() <= 1 else None
    channels: list[bytes | str] = []
    omitted = 0
    for channel in data:
        if limit is not None and len(channels) >= limit:
            omitted += 1
        else:
            channels.append(channel)
    if omitted > 0:
        channels.append(f"(omitted {omitted} item(s), use verbose mode -v to show them)")
    return channels or None


def _lines(data: Any) -> list[bytes]:
    if isinstance(data, list):  # data:gmatch on a table: a Lua error
        raise TypeError("attempt to call a nil value (method 'gmatch')")
    return [line for line in data.split(b"\n") if line]


def client_connections(data: Any) -> list[str] | None:
    if data is None:
        stdnse.debug1("Failed to parse response from server")
        return None
    client_ips: dict[bytes, bytes] = {}
    for conn in _lines(data):
        found = _CLIENT_ADDR.search(conn)
        if found:
            binary = ip_to_str(found[1])
            if binary:
                # prepending the length sorts IPv4 and IPv6 separately
                client_ips[bytes([len(binary)]) + binary] = binary
    out = [str_to_ip(client_ips[key]) for key in sorted(client_ips)]
    return out or None


def cluster_nodes(data: Any) -> list[bytes] | None:
    if data is None:
        stdnse.debug1("Failed to parse response from server")
        return None
    out = []
    for node in _lines(data):
        found = _NODE.match(node)
        if found:
            out.append(b"%s (%s)" % (found[1], found[2]))
        else:
            stdnse.debug1("Unable to parse cluster node info")
    return out or None


EXTRAS: list[tuple[str, tuple[str, ...], Callable[[Any], Any]]] = [
    ("Bind addresses", ("CONFIG", "GET", "bind"), bind_addresses),
    ("Active channels", ("PUBSUB", "CHANNELS"), active_channels),
    ("Client connections", ("CLIENT", "LIST"), client_connections),
    ("Cluster nodes", ("CLUSTER", "NODES"), cluster_nodes),
]


def param_password(port: Any) -> str | None:
    """The password of the first credential creds.lua gives a script from its arguments:
    ``creds.<service>``, then ``creds.global``, comma-separated ``user:pass`` (a bare ``user``
    has no password)."""
    given = stdnse.get_script_args("creds.global")
    service = stdnse.get_script_args("creds." + port.service) if port.service else None
    params = ",".join(str(p) for p in (service, given) if isinstance(p, str))
    if not params:
        return None
    first = params.split(",")[0]
    return first.split(":", 1)[1] if ":" in first else None


async def action(host: Any, port: Any) -> Any:
    helper = redis.Helper(host, port)
    if not await helper.connect():
        return fail("Failed to connect to server")

    password = param_password(port)
    if password is not None:
        status, response = await helper.req_cmd("AUTH", password)
        if not status:
            helper.close()
            return fail(str(response))

    status, response = await helper.req_cmd("INFO")
    if not status:
        helper.close()
        return fail(str(response))
    if not isinstance(response, redis.Response):  # $-1: Lua indexes nil
        raise TypeError("attempt to index a nil value (local 'response')")
    if response.type == redis.ResponseType.ERROR:
        if response.data in (b"-ERR operation not permitted", b"-NOAUTH Authentication required."):
            return fail("Authentication required")
        return fail(response.data)
    if isinstance(response.data, list):  # strsplit on a table: a Lua error
        raise TypeError("bad argument #1 to 'find' (string expected, got table)")

    kvs: dict[bytes, bytes] = {}
    for item in response.data.split(b"\r\n"):
        found = _INFO_LINE.fullmatch(item)
        if found:
            kvs[found[1]] = found[2]

    result = stdnse.output_table()
    for field, name, shown in FILTER:
        if field in kvs:
            result[name] = shown(host, port, kvs[field]) if shown else kvs[field]

    for name, command, process in EXTRAS:
        status, response = await helper.req_cmd(*command)
        if status:
            if not isinstance(response, redis.Response):
                raise TypeError("attempt to index a nil value (local 'response')")
            if response.type != redis.ResponseType.ERROR:
                result[name] = process(response.data)
    helper.close()
    return result
