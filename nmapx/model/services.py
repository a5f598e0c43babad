"""Service names from Nmap's ``nmap-services`` file, for ports the XML only counts.

Nmap names a port it has no service record for from nmap-services with confidence 3
(portlist.cc ``getServiceDeductions``). Ports folded into ``<extraports>`` have no ``<service>``
element in the XML, so ``get_port_state`` looks the name up the way Nmap would, from the same
file when an Nmap installation provides it (``$NMAPDIR`` or the usual data directories).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

_DATA_DIRS = ("/usr/share/nmap", "/usr/local/share/nmap", "/opt/homebrew/share/nmap")


def _candidates() -> list[Path]:
    dirs = [os.environ["NMAPDIR"]] if os.environ.get("NMAPDIR") else []
    return [Path(d) / "nmap-services" for d in (*dirs, *_DATA_DIRS)]


@lru_cache(maxsize=1)
def _table() -> dict[tuple[int, str], str]:
    for path in _candidates():
        try:
            lines = path.read_text("utf-8", "replace").splitlines()
        except OSError:
            continue
        table: dict[tuple[int, str], str] = {}
        for line in lines:
            fields = line.split("#", 1)[0].split()
            if len(fields) < 2 or "/" not in fields[1]:
                continue
            number, _, protocol = fields[1].partition("/")
            if number.isdigit():
                table.setdefault((int(number), protocol), fields[0])
        log.debug("loaded %d service names from %s", len(table), path)
        return table
    log.debug("no nmap-services file found; extraports ports get no service name")
    return {}


def service_name(number: int, protocol: str) -> str | None:
    """Nmap's table name for ``number/protocol``, or None when unknown or no file exists."""
    return _table().get((number, protocol))
