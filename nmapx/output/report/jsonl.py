"""JSON Lines: one JSON object per host, as the hosts stream by (constant memory).

Each line follows ``host.schema.json`` (shipped in this package). ``ensure_ascii`` keeps the
file 7-bit clean, so U+2028 and friends never reach a consumer raw.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Final

from nmapx.output.atomic import AtomicOutput


def schema() -> dict[str, Any]:
    """The JSON Schema every line of ``--format jsonl`` validates against."""
    schema_file = resources.files("nmapx.output.report").joinpath("host.schema.json")
    loaded: dict[str, Any] = json.loads(schema_file.read_text())  # the file is an object
    return loaded


def encode_host(host: dict[str, Any]) -> bytes:
    """One host's line, newline included."""
    return json.dumps(host, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"


class JsonLinesSink:
    """Writes each host's line as it comes (see :mod:`nmapx.output.report.prepared`)."""

    kind: Final = "jsonl"

    def __init__(self, out: AtomicOutput) -> None:
        self.out = out

    def write(self, record: bytes) -> None:
        self.out.write(record)
