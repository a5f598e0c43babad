"""Script results and how Nmap renders them: ``format_table`` text and ``<script>`` XML.

One function turns a structured value into the output string (docs/nse-semantics.md §5.2) and
one writes the ``<script>`` element (§5.4), so the XML ``output`` attribute, the ``<elem>``
children and the normal output all agree byte for byte. Python values stand in for Lua's:
``dict`` (insertion-ordered, like ``stdnse.output_table``) and ``list``/``tuple`` for tables,
``None`` for nil, ``bool``, ``int``, ``float``, ``str`` and ``bytes`` for the scalars.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nmapx.nmapxml.escape import escape, to_bytes, xml_text

log = logging.getLogger(__name__)


class _NoStructure:
    """Marks a result that has only a string part (§5.1)."""

    _instance: _NoStructure | None = None

    def __new__(cls) -> _NoStructure:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_STRUCTURE"


NO_STRUCTURE: Any = _NoStructure()


def lua_tostring(value: Any) -> bytes:
    """Lua 5.3/5.4 ``tostring`` of a scalar: ``3``, ``1.5``, ``3.0``, ``1e+20``, ``true``."""
    if value is True:
        return b"true"
    if value is False:
        return b"false"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        if math.isnan(value):
            return b"nan" if math.copysign(1.0, value) > 0 else b"-nan"
        if math.isinf(value):
            return b"inf" if value > 0 else b"-inf"
        text = f"{value:.14g}"
        if all(c in "-0123456789" for c in text):
            text += ".0"
        return text.encode()
    return to_bytes(value if isinstance(value, str | bytes) else str(value))


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping) or (
        isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)
    )


def _array_items(value: Any) -> list[Any]:
    """Lua ``ipairs``: the array part, stopping at the first nil."""
    items = []
    for item in value:
        if item is None:
            break
        items.append(item)
    return items


def _split(value: Any) -> tuple[list[Any], list[tuple[bytes, Any]]]:
    """A table's array items and its string-keyed entries (other keys are dropped, as in Lua)."""
    if isinstance(value, Mapping):
        # Lua: integer keys 1..n form the array part (ipairs), string keys the rest; keys of
        # any other kind (3 after a gap, 2.5, True) are dropped.
        array = []
        index = 1
        while index in value and value[index] is not None and not _is_bool_key(value, index):
            array.append(value[index])
            index += 1
        keyed = []
        for key, item in value.items():
            if item is None:
                continue
            if isinstance(key, str | bytes):
                keyed.append((to_bytes(key), item))
            elif not (isinstance(key, int) and not isinstance(key, bool) and 1 <= key < index):
                log.debug("dropping key %r from script output, as NSE does", key)
        return array, keyed
    return _array_items(value), []


def _is_bool_key(value: Mapping[Any, Any], index: int) -> bool:
    """``{True: x}`` answers ``value[1]`` in Python; in Lua ``true`` is not the index 1."""
    return index == 1 and any(key is True for key in value)


def _obeys_tostring(value: Any) -> bool:
    """A table whose class defines its own ``__str__``: Lua's table with a ``__tostring``
    metamethod, which ``format_table`` renders with ``tostring`` at any depth (ssh-hostkey's
    key tables, for example). Plain dicts, lists and tuples only inherit ``object.__str__``."""
    return vars(object)["__str__"] is not type(value).__str__


def format_table(value: Any, indent: bytes = b"  ") -> bytes:
    """NSE's ``format_table``: the output string of a structured result (§5.2)."""
    if not _is_table(value):
        return lua_tostring(value)
    if _obeys_tostring(value):
        return to_bytes(str(value))
    array, keyed = _split(value)
    parts = []
    deeper = indent + b"  "
    for item in array:
        parts.append(b"\n" + indent + format_table(item, deeper))
    for key, item in keyed:
        parts.append(b"\n" + indent + key + b": " + format_table(item, deeper))
    return b"".join(parts)


def _xml_children(value: Any) -> bytes:
    array, keyed = _split(value)
    parts = []
    for key, item in [(None, item) for item in array] + keyed:
        key_attr = b"" if key is None else b' key="' + xml_text(key) + b'"'
        if _is_table(item):
            parts.append(b"<table" + key_attr + b">\n" + _xml_children(item) + b"</table>\n")
        else:
            parts.append(b"<elem" + key_attr + b">" + xml_text(lua_tostring(item)) + b"</elem>\n")
    return b"".join(parts)


@dataclass(slots=True)
class ScriptResult:
    """What one script said about one target: an id, a string part and/or a structured part."""

    id: str
    output: str | bytes | None = None
    structured: Any = NO_STRUCTURE

    @property
    def has_structure(self) -> bool:
        return self.structured is not NO_STRUCTURE

    def output_bytes(self) -> bytes:
        """The output string: the string part if given, else ``format_table`` of the structure."""
        if self.output is not None:
            return to_bytes(self.output)
        if self.has_structure:
            return format_table(self.structured)
        return b""

    def to_xml(self) -> bytes:
        """The ``<script>`` element exactly as Nmap writes it (§5.4, §8.2)."""
        head = (
            b'<script id="'
            + xml_text(self.id)
            + b'" output="'
            + xml_text(self.output_bytes())
            + b'"'
        )
        if not self.has_structure:
            return head + b"/>"
        if _is_table(self.structured):
            body = _xml_children(self.structured)
        else:
            body = xml_text(lua_tostring(self.structured))
        return head + b">" + body + b"</script>"


#: ``cstringSanityCheck`` (portlist.cc): printable ASCII only; anything else becomes ``.``.
_NOT_PRINTABLE = bytes(range(256)).translate(None, bytes(range(0x20, 0x7F)))
_DOTS = bytes.maketrans(_NOT_PRINTABLE, b"." * len(_NOT_PRINTABLE))


def _sane(value: Any, limit: int) -> bytes | None:
    """A version field as Nmap stores it: ``tostring``, cut to ``limit`` bytes, non-printable
    bytes replaced by ``.`` (what keeps a hostile banner out of every output format)."""
    if value is None:
        return None
    return lua_tostring(value)[:limit].translate(_DOTS)


@dataclass(frozen=True)
class ServiceResult:
    """A script's verdict on a port's service (``nmap.set_port_version``): the ``<service>``
    element Nmap writes for the port afterwards, in place of the scan's.

    Built as ``PortList::setServiceProbeResults`` builds Nmap's record (portlist.cc): a hard or
    soft match is ``method="probed" conf="10"``, ``tcpwrapped`` conf 8 (name ``tcpwrapped``
    when the script gave none), anything else ``method="table" conf="3"`` with the name from
    nmap-services when none is given; text fields pass ``cstringSanityCheck``; and written as
    ``print_xml_service`` (output.cc) writes it.
    """

    name: bytes | None
    product: bytes | None = None
    version: bytes | None = None
    extrainfo: bytes | None = None
    hostname: bytes | None = None
    ostype: bytes | None = None
    devicetype: bytes | None = None
    servicefp: bytes | None = None
    tunnel_ssl: bool = False
    probed: bool = True
    conf: int = 10
    cpe: tuple[bytes, ...] = ()

    @classmethod
    def from_version(
        cls, version: Any, probestate: str, table_name: str | None = None
    ) -> ServiceResult:
        """From a script's ``port.version`` table (a :class:`~nmapx.model.ports.Version` or a
        mapping) and ``set_port_version``'s probe state; ``table_name`` is the nmap-services
        name of the port, used for the states that fall back to it."""

        def field(key: str) -> Any:
            if isinstance(version, Mapping):
                return version.get(key)
            return getattr(version, key, None)

        tunnel = field("service_tunnel")
        if tunnel not in (None, "none", "ssl"):
            raise ValueError("bad argument #2 to 'set_port_version' (invalid value for"
                             " port.version.service_tunnel)")  # fmt: skip
        cpe = field("cpe")
        if cpe is not None and not isinstance(cpe, Sequence | Mapping):
            raise TypeError("port.version 'cpe' field must be a table")
        cpe_values = list(cpe.values()) if isinstance(cpe, Mapping) else list(cpe or ())
        name = field("name")
        probed, conf = True, 10
        if probestate == "tcpwrapped":
            conf = 8
            name = "tcpwrapped" if name is None else name
        elif probestate not in ("hardmatched", "softmatched"):
            probed, conf = False, 3
            name = table_name if name is None else name
        fingerprint = None if probestate == "hardmatched" else field("service_fp")
        return cls(
            name=None if name is None else lua_tostring(name),
            product=_sane(field("product"), 80),
            version=_sane(field("version"), 80),
            extrainfo=_sane(field("extrainfo"), 256),
            hostname=_sane(field("hostname"), 80),
            ostype=_sane(field("ostype"), 32),
            devicetype=_sane(field("devicetype"), 32),
            servicefp=None if fingerprint is None else lua_tostring(fingerprint),
            tunnel_ssl=tunnel == "ssl",
            probed=probed,
            conf=conf,
            cpe=tuple(c for c in (_sane(v, 80) for v in cpe_values) if c is not None),
        )

    def to_xml(self) -> bytes:
        """The ``<service>`` element as ``print_xml_service`` writes it."""
        # xml.cc's escape only (no \\xHH protection, unlike script output): the text fields
        # are printable ASCII already, and Nmap writes the name as the script gave it.
        parts = [b'<service name="' + escape(self.name or b"unknown") + b'"']
        for key, value in (
            (b"product", self.product),
            (b"version", self.version),
            (b"extrainfo", self.extrainfo),
            (b"hostname", self.hostname),
            (b"ostype", self.ostype),
            (b"devicetype", self.devicetype),
            (b"servicefp", self.servicefp),
        ):
            if value is not None:
                parts.append(b" " + key + b'="' + escape(value) + b'"')
        if self.tunnel_ssl:
            parts.append(b' tunnel="ssl"')
        parts.append(b' method="' + (b"probed" if self.probed else b"table") + b'"')
        parts.append(b' conf="%d"' % self.conf)
        if not self.cpe:
            return b"".join(parts) + b"/>"
        children = b"".join(b"<cpe>" + escape(c) + b"</cpe>" for c in self.cpe)
        return b"".join(parts) + b">" + children + b"</service>"


@dataclass(frozen=True)
class PortStateResult:
    """A script's correction of a port's state (``nmap.set_port_state``): the ``<state>``
    element Nmap writes afterwards, ``reason="script-set"`` with no TTL (``setStateReason
    (ER_SCRIPT, 0, NULL)``), in place of the scan's."""

    state: str

    def to_xml(self) -> bytes:
        return b'<state state="' + escape(self.state) + b'" reason="script-set" reason_ttl="0"/>'
