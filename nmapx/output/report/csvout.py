"""CSV: one row per port, ready for a spreadsheet, with formula injection neutralised.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is executed as
a formula by Excel and LibreOffice (CWE-1236). Such cells get a leading apostrophe, the
convention spreadsheets themselves use for "text, not a formula"; nothing else is changed, so
the file still round-trips through Python's csv module.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from nmapx.output.atomic import AtomicOutput

COLUMNS = [
    "scan", "address", "hostname", "port", "protocol", "state", "service", "product",
    "version", "script_ids", "script_outputs",
]  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """Make ``cell`` inert in a spreadsheet."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def port_rows(host: dict[str, Any]) -> list[list[str]]:
    hostname = host["hostnames"][0]["name"] if host["hostnames"] else ""
    rows = []
    for port in host["ports"]:
        service = port["service"] or {}
        scripts = port["scripts"]
        rows.append([
            host["scan"], host["address"], hostname, str(port["portid"]), port["protocol"],
            port["state"], service.get("name", ""), service.get("product", ""),
            service.get("version", ""), ";".join(s["id"] for s in scripts),
            "\n\n".join(f"{s['id']}: {s['output']}" for s in scripts),
        ])  # fmt: skip
    return rows


class CsvSink:
    def __init__(self, out: AtomicOutput) -> None:
        self.out = out
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._emit([COLUMNS])

    def _emit(self, rows: list[list[str]]) -> None:
        self._writer.writerows([[neutralise(cell) for cell in row] for row in rows])
        self.out.write(self._buffer.getvalue().encode("utf-8", "surrogateescape"))
        self._buffer.seek(0)
        self._buffer.truncate()

    def __call__(self, host: dict[str, Any]) -> None:
        rows = port_rows(host)
        if rows:
            self._emit(rows)
