"""The seam between the pipeline and the formats: one Writer protocol, the script phases as
stream items placed in one place, and one format registry for ``run`` and ``report``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from conftest import run_nmapx

from nmapx.model.host import Host
from nmapx.model.results import ScriptResult
from nmapx.nmapxml.reader import Item, TopLevelItem, read_bytes
from nmapx.output.atomic import AtomicOutput
from nmapx.output.base import DocumentWriters, ScriptPhaseResults, StreamItem, Writer
from nmapx.output.formats import FORMATS, REPORT_FORMATS, RUN_FORMATS, Target
from nmapx.output.normal_stream import NormalWriter
from nmapx.output.report.collect import ReportCollector
from nmapx.output.xml import XmlWriter, enriched_bytes, enriched_element
from nmapx.pipeline import Outputs

HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    b'<nmaprun scanner="nmap" args="nmap x" start="1700000000" version="7.94">\n'
    b'<scaninfo type="connect" protocol="tcp" numservices="1" services="22"/>\n'
)
LEVELS = b'<verbose level="0"/>\n<debugging level="0"/>\n'
TASK = b'<taskbegin task="NSE" time="1700000000"/>\n'
INPUT_PRE = b'<prescript><script id="old-pre" output="kept"/></prescript>\n'
INPUT_POST = b'<postscript><script id="old-post" output="kept"/></postscript>\n'
HOST = (
    b'<host starttime="1700000001" endtime="1700000002"><status state="up" reason="user-set"'
    b' reason_ttl="0"/>\n<address addr="10.0.0.1" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n'
    b'<ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack"'
    b' reason_ttl="64"/><service name="ssh" method="table" conf="3"/></port>\n</ports>\n'
    b'<times srtt="1" rttvar="1" to="100000"/>\n</host>\n'
)
RUNSTATS = (
    b'<runstats><finished time="1700000005" timestr="x" summary="y" elapsed="5.00"'
    b' exit="success"/><hosts up="1" down="0" total="1"/>\n</runstats>\n'
)
END = b"</nmaprun>\n"
PRE = (ScriptResult("new-pre", "pre <&>"),)
POST = (ScriptResult("new-post", "post"),)


class Recorder:
    """A writer that only records what it is given (the protocol, and nothing else)."""

    def __init__(self) -> None:
        self.items: list[StreamItem] = []
        self.closed = False

    def write(self, item: StreamItem) -> None:
        self.items.append(item)

    def close(self) -> None:
        self.closed = True


def shape(items: list[StreamItem]) -> list[str]:
    """Each item as a short name: the piece's kind or element, or the phase and its merge."""
    names = []
    for item in items:
        if isinstance(item, ScriptPhaseResults):
            merged = "+input" if item.original is not None else ""
            names.append(f"{item.phase}{merged}[{len(item.results)}]")
        elif isinstance(item, TopLevelItem):
            names.append(item.name or "markup")
        else:
            names.append(type(item).__name__)
    return names


def stream(
    data: bytes,
    prescript: tuple[ScriptResult, ...] = PRE,
    postscript: tuple[ScriptResult, ...] = POST,
) -> list[str]:
    recorder = Recorder()
    writers = DocumentWriters([recorder], prescript)
    for item in read_bytes(data):
        writers.write(item, postscript)  # used at the closing piece only
    return shape(recorder.items)


# ------------------------------------------------------------------ where the phases go
def test_prescript_goes_after_the_header_and_postscript_before_runstats() -> None:
    assert stream(HEAD + LEVELS + TASK + HOST + RUNSTATS + END) == [
        "Prologue", "scaninfo", "verbose", "debugging", "prescript[1]", "taskbegin", "Host",
        "postscript[1]", "runstats", "Epilogue",
    ]  # fmt: skip


def test_the_inputs_own_elements_are_merged_into_not_repeated() -> None:
    assert stream(HEAD + LEVELS + INPUT_PRE + HOST + INPUT_POST + INPUT_PRE + RUNSTATS + END) == [
        "Prologue", "scaninfo", "verbose", "debugging", "prescript+input[1]", "Host",
        "postscript+input[1]", "prescript", "runstats", "Epilogue",
    ]  # fmt: skip


def test_without_a_header_prescript_waits_for_the_first_host_or_hosthint() -> None:
    hosthint = (
        b'<hosthint><status state="up"/><address addr="10.0.0.1" addrtype="ipv4"/></hosthint>\n'
    )
    assert stream(HEAD + TASK + hosthint + HOST + RUNSTATS + END) == [
        "Prologue", "scaninfo", "taskbegin", "prescript[1]", "hosthint", "Host",
        "postscript[1]", "runstats", "Epilogue",
    ]  # fmt: skip


def test_a_cut_off_document_gets_both_phases_before_its_end() -> None:
    assert stream(HEAD + LEVELS[:12]) == [
        "Prologue", "scaninfo", "prescript[1]", "postscript[1]", "Truncation",
    ]  # fmt: skip


def test_the_phases_are_placed_with_no_results_too() -> None:
    """A pass-through sees the same stream shape as a run whose rules returned nothing."""
    assert stream(HEAD + LEVELS + HOST + END, (), ()) == [
        "Prologue", "scaninfo", "verbose", "debugging", "prescript[0]", "Host",
        "postscript[0]", "Epilogue",
    ]  # fmt: skip


def test_closes_is_true_once_for_the_first_closing_piece() -> None:
    writers = DocumentWriters([Recorder()])
    closing: list[Item] = []
    for item in read_bytes(HEAD + LEVELS + HOST + INPUT_POST + RUNSTATS + END):
        assert writers.postscript_due == (not closing)
        if writers.closes(item):
            closing.append(item)
        writers.write(item)
    assert len(closing) == 1
    assert isinstance(closing[0], TopLevelItem) and closing[0].name == "postscript"


# ------------------------------------------------------------------ exact outputs
def render(data: bytes, writer_class: type[XmlWriter] | type[NormalWriter]) -> bytes:
    buffer = io.BytesIO()
    out = AtomicOutput("-")
    out.stream = buffer
    writer = writer_class(out)
    writers = DocumentWriters([writer], PRE)
    for item in read_bytes(data):
        if isinstance(item, Host):
            item.add_port_result("tcp", 22, ScriptResult("banner", "SSH-2.0"))
        writers.write(item, POST)
    writer.close()
    return buffer.getvalue()


def test_xml_writes_each_phase_where_it_arrives() -> None:
    data = HEAD + LEVELS + TASK + HOST + INPUT_POST + RUNSTATS + END
    assert render(data, XmlWriter) == (
        HEAD
        + LEVELS
        + b'<prescript><script id="new-pre" output="pre &lt;&amp;&gt;"/></prescript>'
        + TASK
        + HOST.replace(
            b'conf="3"/></port>', b'conf="3"/><script id="banner" output="SSH-2.0"/></port>'
        )
        + b'<postscript><script id="new-post" output="post"/>'
        b'<script id="old-post" output="kept"/></postscript>\n' + RUNSTATS + END
    )


def test_normal_output_prints_each_phase_once() -> None:
    text = render(HEAD + LEVELS + TASK + INPUT_PRE + HOST + RUNSTATS + END, NormalWriter)
    body = text.decode().split("\n", 1)[1]
    assert body == (
        "Pre-scan script results:\n"
        "|_new-pre: pre <&>\n"
        "|_old-pre: kept\n"
        "Nmap scan report for 10.0.0.1\n"
        "Host is up (0.0000010s latency).\n"
        "\n"
        "PORT   STATE SERVICE\n"
        "22/tcp open  ssh\n"
        "|_banner: SSH-2.0\n"
        "\n"
        "Post-scan script results:\n"
        "|_new-post: post\n"
        "# Nmap done at x -- 1 IP address (1 host up) scanned in 5.00 seconds\n"
    )


def test_a_report_lists_the_inputs_results_then_the_added_ones() -> None:
    collector = ReportCollector("scan")
    writers = DocumentWriters([collector], PRE)
    for item in read_bytes(HEAD + LEVELS + INPUT_PRE + HOST + INPUT_POST + RUNSTATS + END):
        writers.write(item, POST)
    (scan,) = collector.scans
    ids = {key: [(s["id"], s["added"]) for s in scan[key]] for key in ("prescripts", "postscripts")}
    assert ids == {
        "prescripts": [("old-pre", False), ("new-pre", True)],
        "postscripts": [("old-post", False), ("new-post", True)],
    }
    collector.discard()


# ------------------------------------------------------------------ the enriched host
def test_enriched_element_and_discard_results() -> None:
    (host,) = [item for item in read_bytes(HEAD + LEVELS + HOST + END) if isinstance(item, Host)]
    assert host.enriched is None
    assert enriched_element(host) is host.element  # nothing added: the host's own tree
    host.add_host_result(ScriptResult("daytime", "now"))
    first = enriched_element(host)
    assert host.enriched is not None and host.enriched == enriched_bytes(host)
    assert [(s.get("id"), s.get("output")) for s in first.iterfind("hostscript/script")] == [
        ("daytime", "now")
    ]
    assert enriched_element(host) is not first  # parsed afresh for each format
    host.discard_results()
    assert (host.port_results, host.host_results, host.enriched) == ({}, [], None)
    assert enriched_bytes(host) == host.raw


# ------------------------------------------------------------------ the registry
def test_one_registry_for_run_and_report() -> None:
    assert list(FORMATS) == ["xml", "normal", "html", "jsonl", "csv"]
    assert RUN_FORMATS == ("xml", "normal", "html")
    assert REPORT_FORMATS == ("html", "jsonl", "csv")
    assert [name for name, fmt in FORMATS.items() if not fmt.looks_inside] == ["xml"]


def test_outputs_name_their_formats_in_writing_order(tmp_path: Path) -> None:
    outputs = Outputs(xml="a.xml.gz", normal="-", html="r.html", label="scan", template="t")
    outputs.xml_compress, outputs.xml_backup = "gzip", "a.xml.gz.orig"
    assert outputs.targets() == [
        ("xml", Target("a.xml.gz", compress="gzip", backup="a.xml.gz.orig")),
        ("normal", Target("-")),
        ("html", Target("r.html", label="scan", template="t")),
    ]
    assert outputs.looks_inside
    assert not Outputs(xml="a.xml").looks_inside
    assert Outputs().targets() == []


@pytest.mark.parametrize("name", RUN_FORMATS)
def test_every_run_format_opens_a_writer(name: str, tmp_path: Path) -> None:
    opener = FORMATS[name].run
    assert opener is not None
    target = Target(str(tmp_path / name), label="scan")
    with target.output() as out:
        writer: Writer = opener(out, target)
        writers = DocumentWriters([writer])
        for item in read_bytes(HEAD + LEVELS + HOST + RUNSTATS + END):
            writers.write(item)
        writer.close()
    assert (tmp_path / name).stat().st_size > 0


def test_report_formats_come_from_the_registry(tmp_path: Path) -> None:
    scan = tmp_path / "scan.xml"
    scan.write_bytes(HEAD + LEVELS + HOST + RUNSTATS + END)
    result = run_nmapx("report", str(scan), "--format", "xml", "-o", str(tmp_path / "r"))
    assert result.returncode == 2
    choices = result.stderr.split(b"choose from ", 1)[1].replace(b"'", b"")
    assert choices.startswith(b", ".join(name.encode() for name in REPORT_FORMATS) + b")")
    jsonl = run_nmapx("report", str(scan), "--format", "jsonl")
    assert jsonl.returncode == 0, jsonl.stderr
    (line,) = jsonl.stdout.splitlines()
    assert json.loads(line)["address"] == "10.0.0.1"
