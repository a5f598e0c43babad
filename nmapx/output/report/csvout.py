"""CSV: one row per port, ready for a spreadsheet, with formula injection neutralised.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is executed as
a formula by Excel and LibreOffice (CWE-1236). Such cells get a leading apostrophe, the
convention spreadsheets themselves use for "text, not a formula"; nothing else is changed, so
the file still round-trips through Python's csv module.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Final

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


def encode_rows(rows: list[list[str]]) -> bytes:
    """CSV rows (neutralised, CRLF-terminated) as the file holds them."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(
        [[neutralise(cell) for cell in row] for row in rows]
    )
    return buffer.getvalue().encode("utf-8", "surrogateescape")


def encode_host(host: dict[str, Any]) -> bytes:
    """One host's rows (nothing for a host without ports)."""
    return encode_rows(port_rows(host))


class CsvSink:
    """Writes the header row, then each host's rows as they come."""

    kind: Final = "csv"

    def __init__(self, out: AtomicOutput) -> None:
        self.out = out
        self.out.write(encode_rows([COLUMNS]))

    def write(self, record: bytes) -> None:
        self.out.write(record)
