"""The fuzz targets and their oracles: every entry point of nmapx that reads a file.

Each target takes the fuzzer's bytes as an input file and drives a command in-process, as
its command line does (``nmapx.cli.main`` with outputs in a scratch directory), then checks
the documented outcome: an allowed exit status (README "Exit status"), every message on
stderr one line naming the file, and an output that its consumers can read. Anything else --
a traceback, another status, a malformed output -- raises :class:`~fuzz.common.Violation`
or escapes as the exception it is, which libFuzzer records as a crash.

=============  ===========================================================================
target         what runs
=============  ===========================================================================
reader         ``read_document`` + ``XmlWriter`` in both reader modes (:mod:`fuzz.fuzz_reader`)
normal         ``nmapx run FILE -oN OUT`` (Nmap normal output, no scripts)
report-html    ``nmapx report FILE -o OUT`` (HTML)
report-jsonl   ``nmapx report FILE --format jsonl -o OUT``
report-csv     ``nmapx report FILE --format csv -o OUT``
diff           ``nmapx diff`` with the input as OLD, as NEW and as both; text and ``--xml``
plan           ``nmapx plan FILE --script all`` (text and ``--format json``), offline
=============  ===========================================================================

No target may touch the network: each runs under :func:`fuzz.common.no_network`.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzz.common import (
    RUN_STATUSES,
    Violation,
    check_stderr,
    no_network,
    parse_xml,
    require,
    run_cli,
    scratch_input,
    scratch_path,
)


@dataclass(frozen=True)
class Target:
    """A fuzz target: its oracle and the nmapx modules worth coverage feedback."""

    name: str
    check: Callable[[bytes], object]
    #: Imported under atheris' instrumentation in the libFuzzer child (lazy imports included).
    modules: tuple[str, ...]
    doc: str


# --------------------------------------------------------------------------------- reader


def check_reader(data: bytes) -> object:
    from fuzz.fuzz_reader import check

    with no_network():
        return check(data)


# --------------------------------------------------------------------------------- normal


def _reader_status(path: str) -> int:
    """The status ``read_document`` gives ``path`` (building hosts, as ``-oN`` does)."""
    from nmapx.errors import NmapxError
    from nmapx.nmapxml.reader import read_document

    document = read_document(path, parse_hosts=True)
    try:
        for _item in document:
            pass
    except NmapxError as exc:
        return int(exc.status)
    return int(document.status)


def check_normal(data: bytes) -> None:
    """``nmapx run FILE -oN OUT``: status 0/1/3/4 as the reader's; the file iff not 1.

    Normal output is Nmap's bytes (one byte per character of the text, ``encode_normal``):
    bytes above 0x7F and DEL pass through as Nmap printed them, so the file need not be
    UTF-8. C0 controls other than tab, newline and carriage return cannot come from an XML
    1.0 document and must not appear. It starts with Nmap's ``# Nmap`` header line and ends
    with a newline.
    """
    with no_network(), scratch_input(data) as path:
        out = scratch_path("out.nmap")
        result = run_cli(["run", path, "-oN", out])
        require(result.status in RUN_STATUSES, f"exit status {result.status}: {result.stderr}")
        check_stderr(result, path)
        expected = _reader_status(path)
        require(
            result.status == expected,
            f"exit status {result.status}, but the reader says {expected}: {result.stderr}",
        )
        if result.status == 1:
            require(not os.path.exists(out), "status 1, yet the output was written")
            return
        require(os.path.exists(out), f"status {result.status} and no output written")
        with open(out, "rb") as stream:
            text = stream.read().decode("latin-1")
        controls = sorted({c for c in text if ord(c) < 32 and c not in "\n\t\r"})
        require(not controls, f"-oN output holds control characters {controls!r}")
        require(text.startswith("# Nmap"), f"-oN output starts {text[:80]!r}")
        require(text.endswith("\n"), f"-oN output ends {text[-80:]!r}")


# -------------------------------------------------------------------------------- reports


@functools.cache
def _host_validator() -> Any:
    import jsonschema

    from nmapx.output.report.jsonl import schema

    return jsonschema.Draft202012Validator(schema())


def _report(data: bytes, fmt: str) -> tuple[str, Any, bytes | None]:
    """Run ``nmapx report`` on ``data``; returns (path, result, output bytes or None)."""
    with scratch_input(data) as path:
        out = scratch_path(f"report.{fmt}")
        result = run_cli(["report", path, "--format", fmt, "-o", out])
        require(result.status in RUN_STATUSES, f"exit status {result.status}: {result.stderr}")
        check_stderr(result, path)
        output = None
        if os.path.exists(out):
            with open(out, "rb") as stream:
                output = stream.read()
        # Status 1 means nothing was written (no input could be read); any other, a report.
        if result.status == 1:
            require(output is None, "status 1, yet a report was written")
        else:
            require(output is not None, f"no report written (status {result.status})")
        return path, result, output


def _decode(output: bytes, what: str) -> str:
    try:
        return output.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Violation(f"the {what} is not UTF-8: {exc}") from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON (RFC 8259; JavaScript's JSON.parse refuses it)")


def strict_json(text: str | bytes) -> Any:
    """``json.loads`` as strict as the consumers: ``NaN`` and ``Infinity`` are refused."""
    return json.loads(text, parse_constant=_reject_constant)


def _check_hosts(hosts: list[Any], what: str) -> None:
    validator = _host_validator()
    for host in hosts:
        errors = sorted(validator.iter_errors(host), key=str)
        if errors:
            raise Violation(f"a host in the {what} breaks host.schema.json: {errors[0]}")


def check_report_html(data: bytes) -> None:
    """The page parses as HTML; its two JSON blocks (``report-data``: every host in the page's
    compact form, ``report-structure``: their structured script output) are exactly what the
    JSON Lines report of the same input gives through ``page_host``/``page_structure``."""
    import lxml.html

    from nmapx.output.report.data import page_host, page_structure

    with no_network():
        _path, _result, output = _report(data, "html")
    if output is None:
        return  # status 1: nothing to check (_report checked that nothing was written)
    page = _decode(output, "HTML report")
    require(page.startswith("<!DOCTYPE html>"), f"the report starts {page[:60]!r}")
    try:
        tree = lxml.html.document_fromstring(output)
    except Exception as exc:  # lxml.etree.ParserError and friends
        raise Violation(f"the HTML report does not parse: {exc!r}") from None
    scripts = tree.xpath("//script")
    require(len(scripts) == 3, f"{len(scripts)} <script> elements (data, structure, code)")
    blocks = {}
    for block_id in ("report-data", "report-structure"):
        found = tree.xpath(f'//script[@id="{block_id}"]')
        require(len(found) == 1, f"{len(found)} {block_id} blocks")
        require(found[0].get("type") == "application/json", f"the {block_id} block is not JSON")
        text = found[0].text or ""
        require("</" not in text and "<!--" not in text, f"the {block_id} block holds '</'")
        try:
            blocks[block_id] = strict_json(text)
        except ValueError as exc:
            raise Violation(f"the {block_id} block is not JSON: {exc}") from None
    report = blocks["report-data"]
    require(
        sorted(report) == ["changes", "generated", "hosts", "scans"],
        f"data block keys {sorted(report)}",
    )
    hosts_total = sum(scan["hosts_total"] for scan in report["scans"])
    require(hosts_total == len(report["hosts"]), "the scans' host totals != hosts listed")
    with no_network():
        _path, _result, lines = _report(data, "jsonl")
    full = [strict_json(line) for line in (lines or b"").splitlines()]
    require(
        report["hosts"] == [page_host(host) for host in full],
        "the page's hosts are not page_host() of the JSON Lines hosts",
    )
    structure = blocks["report-structure"]
    require(
        structure == [page_structure(host) for host in full],
        "the structure block is not page_structure() of the JSON Lines hosts",
    )


def check_report_jsonl(data: bytes) -> None:
    """Each line is a JSON object matching ``host.schema.json``; ASCII only."""
    with no_network():
        _path, _result, output = _report(data, "jsonl")
    if output is None:
        return  # status 1: nothing to check (_report checked that nothing was written)
    require(output == b"" or output.endswith(b"\n"), "the JSON Lines do not end in a newline")
    require(output.isascii(), "the JSON Lines are not ASCII (ensure_ascii)")
    hosts = []
    for number, line in enumerate(output.splitlines(), 1):
        try:
            hosts.append(strict_json(line))
        except ValueError as exc:
            raise Violation(f"line {number} is not JSON: {exc}") from None
    _check_hosts(hosts, "JSON Lines")


def check_report_csv(data: bytes) -> None:
    """The csv module reads it back: the header row, then rows of exactly as many cells,
    none starting like a spreadsheet formula."""
    from nmapx.output.report.csvout import COLUMNS

    with no_network():
        _path, _result, output = _report(data, "csv")
    if output is None:
        return  # status 1: nothing to check (_report checked that nothing was written)
    text = _decode(output, "CSV")
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise Violation(f"the CSV does not parse: {exc}") from None
    require(rows and rows[0] == COLUMNS, f"the CSV header is {rows[:1]!r}")
    for number, row in enumerate(rows[1:], 2):
        require(len(row) == len(COLUMNS), f"CSV row {number} has {len(row)} cells: {row!r:.500}")
        for cell in row:
            require(
                not cell.startswith(("=", "+", "-", "@", "\t", "\r")),
                f"CSV row {number}: a cell a spreadsheet would execute: {cell!r:.200}",
            )


# ----------------------------------------------------------------------------------- diff

#: The other side of a diff: a small, complete scan (one host, two ports, a script).
OTHER_SCAN = (Path(__file__).resolve().parent / "diff-other.xml").read_bytes()

DIFF_STATUSES = (0, 1, 2)


def _diff(old: str, new: str, xml: bool) -> Any:
    result = run_cli(["diff", old, new, *(["--xml"] if xml else [])])
    require(result.status in DIFF_STATUSES, f"diff exit status {result.status}: {result.stderr}")
    for line in result.error_lines():
        require(
            line.startswith((f"nmapx: {old}", f"nmapx: {new}")),
            f"stderr line does not name an input: {line!r:.1000}",
        )
    if result.status == 2:
        require(result.stdout == b"", "status 2 (error), yet a diff was written")
        require(result.stderr, "status 2 (error) without a message")
    elif xml:
        root = parse_xml(result.stdout, "the nmapdiff XML")
        require(root.tag == "nmapdiff", f"the diff XML's root is <{root.tag}>")
    elif result.status == 1:
        require(result.stdout.endswith(b"\n"), "the text diff does not end in a newline")
    return result


def check_diff(data: bytes) -> None:
    """The input as OLD and as NEW against :data:`OTHER_SCAN`, and against itself.

    Text and XML agree on the status; a scan compared with itself is the same (0) unless
    it cannot be read (2).
    """
    with no_network(), scratch_input(data) as path:
        other = scratch_path("other.xml")
        with open(other, "wb") as stream:
            stream.write(OTHER_SCAN)
        for old, new in ((path, other), (other, path)):
            text = _diff(old, new, xml=False)
            xml = _diff(old, new, xml=True)
            require(
                text.status == xml.status,
                f"text status {text.status}, --xml status {xml.status} ({old} -> {new})",
            )
        itself = _diff(path, path, xml=False)
        require(
            itself.status in (0, 2),
            f"a scan compared with itself: status {itself.status}:\n{itself.stdout!r:.2000}",
        )
        require(itself.status == 0 or text.status == 2, "itself unreadable, yet diffed")


# ----------------------------------------------------------------------------------- plan

#: Every built-in script: all four rule kinds (prerule, hostrule, portrule, postrule).
PLAN_SCRIPTS = "all"


def check_plan(data: bytes) -> None:
    """Text and JSON plans: statuses 0/1/3/4 and equal; JSON Lines that open with the
    ``plan`` object and close with the ``summary``; offline (no socket)."""
    with no_network(), scratch_input(data) as path:
        text = run_cli(["plan", path, "--script", PLAN_SCRIPTS])
        as_json = run_cli(["plan", path, "--script", PLAN_SCRIPTS, "--format", "json"])
    for result in (text, as_json):
        require(result.status in RUN_STATUSES, f"plan exit status {result.status}")
        check_stderr(result, path)
        require("Traceback" not in result.stdout.decode("utf-8", "replace"), "a traceback")
    require(text.status == as_json.status, f"text {text.status}, json {as_json.status}")
    if text.status == 1:
        return
    require(text.stdout.startswith(f"Plan for {path}:".encode()), "the plan's first line")
    lines = as_json.stdout.splitlines()
    objects = []
    for number, line in enumerate(lines, 1):
        try:
            objects.append(strict_json(line))
        except ValueError as exc:
            raise Violation(f"plan JSON line {number} is not JSON: {exc}") from None
    require(objects and objects[-1].get("type") == "summary", "no closing summary object")
    require(objects[0].get("type") == "plan", "no opening plan object")
    errors = [o for o in objects if o.get("type") in ("host", "prerule", "postrule")]
    for item in errors:
        for call in item.get("rules", [item]):
            error = call.get("error")
            require(error is None or "Traceback" not in error, f"a traceback: {error!r:.500}")


# -------------------------------------------------------------------------------- registry

_READER = (
    "nmapx.nmapxml.scan",
    "nmapx.nmapxml.reader",
    "nmapx.nmapxml.repair",
    "nmapx.nmapxml.parsers",
    "nmapx.nmapxml.source",
    "nmapx.model.host",
    "nmapx.model.ports",
    "nmapx.model.values",
)
_XML = (
    "nmapx.output.xml",
    "nmapx.nmapxml.escape",
    "nmapx.output.atomic",
    "nmapx.output.base",
    "nmapx.output.formats",
    "nmapx.api",
    "nmapx.pipeline",
)
_REPORT = (*_READER, *_XML, "nmapx.cli.report", "nmapx.output.report.collect",
           "nmapx.output.report.data", "nmapx.output.report.spill")  # fmt: skip

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("reader", check_reader, (*_READER, *_XML), "read_document + XmlWriter"),
        Target(
            "normal",
            check_normal,
            (*_READER, *_XML, "nmapx.pipeline", "nmapx.output.normal_stream"),
            "nmapx run FILE -oN OUT",
        ),
        Target(
            "report-html",
            check_report_html,
            (*_REPORT, "nmapx.output.report.html"),
            "nmapx report FILE (HTML)",
        ),
        Target(
            "report-jsonl",
            check_report_jsonl,
            (*_REPORT, "nmapx.output.report.jsonl"),
            "nmapx report FILE --format jsonl",
        ),
        Target(
            "report-csv",
            check_report_csv,
            (*_REPORT, "nmapx.output.report.csvout"),
            "nmapx report FILE --format csv",
        ),
        Target(
            "diff", check_diff, (*_READER, "nmapx.output.ndiff"), "nmapx diff A B (text, --xml)"
        ),
        Target(
            "plan",
            check_plan,
            (
                *_READER,
                "nmapx.engine.plan",
                "nmapx.engine.runner",
                "nmapx.engine.loader",
                "nmapx.model.portset",
            ),
            "nmapx plan FILE --script all",
        ),
    )
}
