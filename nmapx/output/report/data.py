"""Plain, JSON-ready data for reports: one dict per host, one per scan.

Script output keeps its structure: the ``<elem>``/``<table>`` tree becomes a list of nodes
(``{"key": k | None, "value": text}`` or ``{"key": k | None, "table": [nodes]}``), which keeps
order, unkeyed items and repeated keys exactly as Nmap wrote them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from lxml import etree

from nmapx.model.host import Host
from nmapx.model.ports import extraports_of
from nmapx.model.values import finite_float_or_none, int_or, int_or_none


def script_nodes(element: etree._Element) -> list[dict[str, Any]]:
    """The structured children of a ``<script>`` or ``<table>``."""
    nodes: list[dict[str, Any]] = []
    for child in element:
        if child.tag == "elem":
            nodes.append({"key": child.get("key"), "value": child.text or ""})
        elif child.tag == "table":
            nodes.append({"key": child.get("key"), "table": script_nodes(child)})
    return nodes


def script_data(element: etree._Element, added: bool = False) -> dict[str, Any]:
    return {
        "id": element.get("id", ""),
        "output": element.get("output", ""),
        "elements": script_nodes(element),
        "added": added,
    }


def _service(port: etree._Element) -> tuple[dict[str, Any] | None, list[str]]:
    service = port.find("service")
    if service is None:
        return None, []
    keys = ("name", "product", "version", "extrainfo", "hostname", "ostype", "devicetype",
            "tunnel", "method")  # fmt: skip
    data: dict[str, Any] = {key: service.get(key) for key in keys if service.get(key) is not None}
    data["conf"] = int_or_none(service.get("conf"))
    return data, [cpe.text or "" for cpe in service.iterfind("cpe")]


def port_data(port: etree._Element, added_ids: Iterable[str] = ()) -> dict[str, Any]:
    state = port.find("state")
    service, cpe = _service(port)
    added = set(added_ids)
    owner = port.find("owner")
    return {
        "protocol": port.get("protocol", ""),
        "portid": int_or(port.get("portid")),
        "state": state.get("state", "") if state is not None else "",
        "reason": state.get("reason", "") if state is not None else "",
        "reason_ttl": int_or_none(state.get("reason_ttl")) if state is not None else None,
        "owner": owner.get("name") if owner is not None else None,
        "service": service,
        "cpe": cpe,
        "scripts": [script_data(s, s.get("id") in added) for s in port.iterfind("script")],
    }


def host_data(host: Host, element: etree._Element | None = None, scan: str = "") -> dict[str, Any]:
    """Everything a report shows about one host (``element``: the enriched one, if any)."""
    el = element if element is not None else host.element
    status = el.find("status")
    added_ports = {key: [r.id for r in results] for key, results in host.port_results.items()}
    added_host = {r.id for r in host.host_results}
    ports = [
        port_data(p, added_ports.get((p.get("protocol", ""), int_or(p.get("portid"))), ()))
        for p in el.iterfind("ports/port")
    ]
    extraports = [
        {
            "state": extra.state or "",
            "count": extra.count,
            "reasons": [
                {
                    "reason": why.reason or "",
                    "count": why.count,
                    "proto": why.proto,
                    "ports": why.ports,
                }
                for why in extra.reasons
            ],
        }
        for extra in extraports_of(el)
    ]
    uptime = el.find("uptime")
    distance = el.find("distance")
    return {
        "scan": scan,
        "address": host.address or (host.addresses[0][1] if host.addresses else ""),
        "addresses": [
            {
                "addr": a.get("addr", ""),
                "addrtype": a.get("addrtype", ""),
                "vendor": a.get("vendor"),
            }
            for a in el.iterfind("address")
        ],
        "hostnames": [
            {"name": h.get("name", ""), "type": h.get("type", "")}
            for h in el.iterfind("hostnames/hostname")
        ],
        "status": status.get("state", "unknown") if status is not None else "unknown",
        "reason": status.get("reason", "") if status is not None else "",
        "reason_ttl": int_or_none(status.get("reason_ttl")) if status is not None else None,
        "starttime": int_or_none(el.get("starttime")),
        "endtime": int_or_none(el.get("endtime")),
        "ports": ports,
        "extraports": extraports,
        "hostscripts": [
            script_data(s, s.get("id") in added_host) for s in el.iterfind("hostscript/script")
        ],
        "os": [
            {
                "name": m.get("name", ""),
                "accuracy": int_or_none(m.get("accuracy")),
                "classes": [
                    {
                        "type": c.get("type"),
                        "vendor": c.get("vendor"),
                        "osfamily": c.get("osfamily"),
                        "osgen": c.get("osgen"),
                        "accuracy": int_or_none(c.get("accuracy")),
                        "cpe": [cpe.text or "" for cpe in c.iterfind("cpe")],
                    }
                    for c in m.iterfind("osclass")
                ],
            }
            for m in el.iterfind("os/osmatch")
        ],
        "uptime": (
            {"seconds": int_or_none(uptime.get("seconds")), "lastboot": uptime.get("lastboot")}
            if uptime is not None
            else None
        ),
        "distance": int_or_none(distance.get("value")) if distance is not None else None,
        "trace": [
            {
                "ttl": int_or_none(hop.get("ttl")),
                "ipaddr": hop.get("ipaddr", ""),
                "rtt": finite_float_or_none(hop.get("rtt")),
                "host": hop.get("host"),
            }
            for hop in el.iterfind("trace/hop")
        ],
        "open_tcp": sum(1 for p in ports if p["protocol"] == "tcp" and p["state"] == "open"),
        "open_udp": sum(1 for p in ports if p["protocol"] == "udp" and p["state"] == "open"),
    }


def scan_data(label: str, root: etree._Element | None) -> dict[str, Any]:
    """The summary of one scan from its ``<nmaprun>`` attributes (hosts are counted later)."""
    attrib = root if root is not None else etree.Element("nmaprun")  # none: no attributes
    return {
        "label": label,
        "scanner": attrib.get("scanner", ""),
        "args": attrib.get("args", ""),
        "version": attrib.get("version", ""),
        "start": int_or_none(attrib.get("start")),
        "startstr": attrib.get("startstr", ""),
        "end": None,
        "endstr": "",
        "elapsed": None,
        "exit": None,
        "errormsg": None,
        "hosts_up": 0,
        "hosts_down": 0,
        "hosts_total": 0,
        "open_ports": 0,
        "prescripts": [],
        "postscripts": [],
    }


def note_runstats(scan: dict[str, Any], runstats: etree._Element) -> None:
    finished = runstats.find("finished")
    if finished is not None:
        scan["end"] = int_or_none(finished.get("time"))
        scan["endstr"] = finished.get("timestr", "")
        scan["elapsed"] = finite_float_or_none(finished.get("elapsed"))
        scan["exit"] = finished.get("exit")
        scan["errormsg"] = finished.get("errormsg")


# ------------------------------------------------------------------ the HTML page's data
#
# The page carries every host twice over only where it must. Its host sections (rendered
# HTML) hold the script output, the ports and the traceroute, for find and print; its JSON
# block holds what the page's script needs to query, sort, count and link, and no more: no
# output text (the script reads it from the sections when it needs it), no extra ports,
# reasons, traceroute or times. The structured trees go to a second block that the script
# parses only when a "structured" button is first pressed. At 10,000 -sV hosts this is what
# keeps the page opening in a few seconds: 71 MB of JSON parsed up front became about 10.

#: The service attributes the page queries and searches (``method`` and ``conf`` it never shows).
PAGE_SERVICE_KEYS = (
    "name", "product", "version", "extrainfo", "hostname", "ostype", "devicetype", "tunnel",
)  # fmt: skip


def _value(nodes: Any, *path: str) -> Any:
    """The value (text, or a table's nodes) at ``path`` of keys, first match at each level."""
    current = nodes
    for key in path:
        node = next((n for n in current or [] if n.get("key") == key), None)
        if node is None:
            return None
        current = node["table"] if "table" in node else node.get("value")
    return current


def _dn(nodes: Any) -> str:
    """A distinguished name as the certificate table shows it: CN, then ``organization=``
    and ``country=`` (the attributes that tell certificates apart at a glance)."""
    if not isinstance(nodes, list):
        return ""
    parts = []
    for key in ("commonName", "organizationName", "countryName"):
        value = _value(nodes, key)
        if isinstance(value, str) and value:
            parts.append(value if key == "commonName" else f"{key.replace('Name', '')}={value}")
    return ", ".join(parts)


def certificate(script: dict[str, Any]) -> dict[str, str]:
    """Subject, issuer and notAfter of an ``ssl-cert`` result: from its structure, else from
    the lines Nmap prints (a result without ``<elem>``s, as older Nmaps and some tools write).
    """
    output, nodes = script["output"], script["elements"]

    def line(label: str) -> str:
        found = re.search(r"^\s*" + label + r":\s*(.+)$", output, re.M)
        return found[1].strip() if found else ""

    not_after = _value(nodes, "validity", "notAfter") or line("Not valid after")
    return {
        "subject": _dn(_value(nodes, "subject")) or line("Subject").removeprefix("commonName="),
        "issuer": _dn(_value(nodes, "issuer")) or line("Issuer").removeprefix("commonName="),
        "notAfter": not_after if isinstance(not_after, str) else "",
    }


def _page_script(script: dict[str, Any]) -> dict[str, Any]:
    page: dict[str, Any] = {"id": script["id"], "added": script["added"]}
    if script["id"] == "ssl-cert":
        page["cert"] = certificate(script)
    return page


def page_host(host: dict[str, Any]) -> dict[str, Any]:
    """What the report page's script needs of one host (a line of JSON Lines, ``host``).

    The same keys and shapes as JSON Lines, fewer of them; a script is ``{"id", "added"}``
    (and ``"cert"``, :func:`certificate`, for ``ssl-cert``); its output is in the page's host
    section and its structure in :func:`page_structure`.
    """
    return {
        "scan": host["scan"],
        "address": host["address"],
        "addresses": [{"addr": a["addr"], "vendor": a["vendor"]} for a in host["addresses"]],
        "hostnames": [{"name": h["name"]} for h in host["hostnames"]],
        "status": host["status"],
        "starttime": host["starttime"],
        "ports": [
            {
                "protocol": p["protocol"],
                "portid": p["portid"],
                "state": p["state"],
                "service": None
                if p["service"] is None
                else {k: p["service"][k] for k in PAGE_SERVICE_KEYS if k in p["service"]},
                "cpe": p["cpe"],
                "scripts": [_page_script(s) for s in p["scripts"]],
            }
            for p in host["ports"]
        ],
        "hostscripts": [_page_script(s) for s in host["hostscripts"]],
        "os": [
            {
                "name": m["name"],
                "classes": [
                    {k: c[k] for k in ("type", "vendor", "osfamily", "osgen", "cpe")}
                    for c in m["classes"]
                ],
            }
            for m in host["os"]
        ],
    }


def compact_nodes(nodes: list[dict[str, Any]]) -> list[list[Any]]:
    """Script nodes as ``[key, text]`` or ``[key, [nodes]]`` pairs: the same tree in about
    60% of the bytes (the page holds one per script with structure)."""
    return [[n["key"], compact_nodes(n["table"]) if "table" in n else n["value"]] for n in nodes]


def page_structure(host: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """A host's structured script output for the page's "structured" view, by the reference
    its script block carries: ``"PORT.SCRIPT"`` (indexes into ``ports`` and their
    ``scripts``) or ``"h.SCRIPT"`` (``hostscripts``); scripts without ``<elem>``s are left out.
    """
    found: dict[str, list[list[Any]]] = {}
    for p, port in enumerate(host["ports"]):
        for s, script in enumerate(port["scripts"]):
            if script["elements"]:
                found[f"{p}.{s}"] = compact_nodes(script["elements"])
    for s, script in enumerate(host["hostscripts"]):
        if script["elements"]:
            found[f"h.{s}"] = compact_nodes(script["elements"])
    return found
