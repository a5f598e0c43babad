"""The HTML report: one self-contained file rendered with jinja2.

Safety by construction: autoescaping is on for every template, data for the page's script
goes through ``tojson`` (with ``ensure_ascii``, so U+2028/U+2029 arrive escaped too) inside a
``<script type="application/json">`` block that is never executed, the page's script builds
every element with ``textContent`` (no ``innerHTML``), and a Content-Security-Policy meta tag
allows only the report's own inline style and script (by nonce) and nothing from the network.

Templates are found through :func:`nmapx.resources.bundled_dir` (so they work after a
non-editable ``pip install .``); ``--template DIR`` puts a user's directory first.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import jinja2

from nmapx import __version__
from nmapx.atomic import AtomicOutput
from nmapx.resources import bundled_dir

TEMPLATE = "report.html.j2"


def environment(template_dir: str | None = None) -> jinja2.Environment:
    search = [str(template_dir)] if template_dir else []
    search.append(str(bundled_dir("templates")))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": True, "sort_keys": False}
    env.filters["ctime"] = lambda t: (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else ""
    )
    return env


def render(
    scans: list[dict[str, Any]],
    hosts: list[dict[str, Any]],
    out: AtomicOutput,
    template_dir: str | None = None,
) -> None:
    """Write the report for ``scans`` and their ``hosts`` to ``out``."""
    totals = {
        "hosts_up": sum(s["hosts_up"] for s in scans),
        "hosts_down": sum(s["hosts_down"] for s in scans),
        "hosts_total": sum(s["hosts_total"] for s in scans),
        "open_ports": sum(s["open_ports"] for s in scans),
        "findings": sum(
            len(h["hostscripts"]) + sum(len(p["scripts"]) for p in h["ports"]) for h in hosts
        ),
        "added": sum(
            sum(1 for s in h["hostscripts"] if s["added"])
            + sum(1 for p in h["ports"] for s in p["scripts"] if s["added"])
            for h in hosts
        ),
    }
    template = environment(template_dir).get_template(TEMPLATE)
    context = {
        "scans": scans,
        "totals": totals,
        "data": {"scans": scans, "hosts": hosts},
        "nonce": secrets.token_urlsafe(18),
        "generator": f"nmapx {__version__}",
        "title": ", ".join(Path(s["label"]).name for s in scans) or "Nmap scan",
    }
    for chunk in template.generate(**context):
        out.write(chunk.encode("utf-8", "surrogateescape"))
