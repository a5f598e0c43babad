"""Plain, JSON-ready data for reports: one dict per host, one per scan.

Script output keeps its structure: the ``<elem>``/``<table>`` tree becomes a list of nodes
(``{"key": k | None, "value": text}`` or ``{"key": k | None, "table": [nodes]}``), which keeps
order, unkeyed items and repeated keys exactly as Nmap wrote them.
"""

from __future__ import annotations

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
