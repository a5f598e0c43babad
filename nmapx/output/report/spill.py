"""The HTML report's host data, kept on disk while a scan streams by.

Why: the report embeds every host's data in one JSON block, and holding those dicts in memory
until the end costs about 45 KB per host (456 MB for 10,000 -sV hosts). Each host is instead
encoded once, as it arrives, to one line of an anonymous temporary file; the renderer copies
the lines into the page. Memory stays flat whatever the scan size, and the JSON is encoded
exactly as jinja2's ``tojson`` would encode it (HTML-safe, ASCII only).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import Any

from jinja2.utils import htmlsafe_json_dumps

#: How ``tojson`` is configured for the report (see :func:`nmapx.output.report.html.environment`).
JSON_OPTIONS: dict[str, Any] = {"ensure_ascii": True, "sort_keys": False}


def encode(value: Any) -> str:
    """``value | tojson``: JSON with ``<``, ``>``, ``&`` and ``'`` escaped, ASCII only."""
    return str(htmlsafe_json_dumps(value, **JSON_OPTIONS))


def findings(host: dict[str, Any]) -> tuple[int, int]:
    """(script results, results added by nmapx) of one host's report data."""
    scripts = list(host["hostscripts"])
    for port in host["ports"]:
        scripts.extend(port["scripts"])
    return len(scripts), sum(1 for script in scripts if script["added"])


class HostSpill:
    """Hosts' report data in arrival order, one encoded JSON line each, on disk."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="nmapx-report-")
        self.count = 0
        self.findings = 0
        self.added = 0

    def append(self, host: dict[str, Any]) -> None:
        self._file.write(encode(host).encode("ascii"))
        self._file.write(b"\n")
        self.count += 1
        found, added = findings(host)
        self.findings += found
        self.added += added

    def __len__(self) -> int:
        return self.count

    def encoded(self) -> Iterator[str]:
        """Each host's encoded JSON, in order (for the page's data block)."""
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            yield line[:-1].decode("ascii")
        self._file.seek(0, 2)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The hosts as dicts again (for templates that loop over ``data.hosts``)."""
        for text in self.encoded():
            yield json.loads(text)

    def close(self) -> None:
        self._file.close()
