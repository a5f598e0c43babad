"""The HTML report's host data, kept on disk while a scan streams by.

Why: the report renders every host and embeds its page data, and holding those dicts in
memory until the end costs about 45 KB per host (456 MB for 10,000 -sV hosts). Each host is
instead encoded once, as it arrives, to a line in each of three anonymous temporary files: the
whole host (for the template's loop over the hosts), the page's compact form of it
(:func:`~nmapx.output.report.data.page_host`) and its structured script output
(:func:`~nmapx.output.report.data.page_structure`); the renderer copies the lines into the
page. Memory stays flat whatever the scan size, and the JSON is encoded exactly as jinja2's
``tojson`` would encode it (HTML-safe, ASCII only).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import IO, Any, NamedTuple

from jinja2.utils import htmlsafe_json_dumps

from nmapx.output.report.data import page_host, page_structure

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


class SpilledHost(NamedTuple):
    """One host's three encoded lines (ASCII, no newline) and its script counts."""

    whole: bytes
    page: bytes
    structure: bytes
    #: (script results, results added by nmapx): :func:`findings`.
    findings: tuple[int, int]


def spill_lines(host: dict[str, Any]) -> SpilledHost:
    """Encode one host's report data the three ways the page needs it (the costly part of
    spilling, which depends on the host alone: a Dask worker can do it)."""
    return SpilledHost(
        encode(host).encode("ascii"),
        encode(page_host(host)).encode("ascii"),
        encode(page_structure(host)).encode("ascii"),
        findings(host),
    )


def _lines(spilled: IO[bytes]) -> Iterator[str]:
    spilled.flush()
    spilled.seek(0)
    for line in spilled:
        yield line[:-1].decode("ascii")
    spilled.seek(0, 2)


class HostSpill:
    """Hosts' report data in arrival order, one encoded JSON line each, on disk."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="nmapx-report-")
        self._page = tempfile.TemporaryFile(prefix="nmapx-report-page-")
        self._structure = tempfile.TemporaryFile(prefix="nmapx-report-structure-")
        #: The hosts' rendered HTML sections (UTF-8, each after its length and a newline).
        self._sections = tempfile.TemporaryFile(prefix="nmapx-report-sections-")
        self.count = 0
        self.findings = 0
        self.added = 0

    def append_lines(self, lines: SpilledHost, section: bytes = b"") -> None:
        """Keep one host encoded by :func:`spill_lines` (and its HTML section, if any)."""
        self._sections.write(b"%d\n" % len(section) + section)
        self._file.write(lines.whole + b"\n")
        self._page.write(lines.page + b"\n")
        self._structure.write(lines.structure + b"\n")
        self.count += 1
        found, added = lines.findings
        self.findings += found
        self.added += added

    def __len__(self) -> int:
        return self.count

    def encoded(self) -> Iterator[str]:
        """Each host's encoded JSON, in order."""
        return _lines(self._file)

    def page_encoded(self) -> Iterator[str]:
        """Each host's page data, encoded, in order (for the page's data block)."""
        return _lines(self._page)

    def structure_encoded(self) -> Iterator[str]:
        """Each host's structured script output, encoded, in order (the structure block)."""
        return _lines(self._structure)

    def sections(self) -> Iterator[str]:
        """Each host's HTML section, in order."""
        spilled = self._sections
        spilled.flush()
        spilled.seek(0)
        while size := spilled.readline():
            yield spilled.read(int(size)).decode("utf-8", "surrogateescape")
        spilled.seek(0, 2)

    def replace_sections(self, sections: Iterator[bytes]) -> None:
        """Write every host's section again (the page's setup turned out different)."""
        self._sections.close()
        self._sections = tempfile.TemporaryFile(prefix="nmapx-report-sections-")
        for section in sections:
            self._sections.write(b"%d\n" % len(section) + section)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The hosts as dicts again (for templates that loop over ``data.hosts``)."""
        for text in self.encoded():
            yield json.loads(text)

    def close(self) -> None:
        for spilled in (self._file, self._page, self._structure, self._sections):
            spilled.close()
