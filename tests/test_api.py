"""The public in-process API: nmapx.run() on paths and on documents held in memory."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

import nmapx
from nmapx.errors import UsageError

DEMO = ROOT / "fixtures" / "demo" / "scan.xml"

#: An offline script: it needs no network, so the API can be tested without services.
NOTE = (
    'categories = ["safe"]\n\n'
    "def hostrule(host):\n    return True\n\n"
    "def action(host):\n    return 'seen ' + host.ip\n"
)

PROLOGUE = (
    b'<?xml version="1.0"?>\n<nmaprun scanner="nmap" args="nmap -sT" start="1700000000"'
    b' version="7.93" xmloutputversion="1.05">\n<scaninfo type="connect" protocol="tcp"'
    b' numservices="1" services="22"/>\n<verbose level="0"/>\n<debugging level="0"/>\n'
)
EPILOGUE = (
    b'<runstats><finished time="1700000001" elapsed="1.00" exit="success"/>'
    b'<hosts up="2" down="0" total="2"/></runstats>\n</nmaprun>\n'
)


def host(address: str) -> bytes:
    return (
        b'<host><status state="up" reason="syn-ack" reason_ttl="0"/>'
        b'<address addr="' + address.encode() + b'" addrtype="ipv4"/><ports>'
        b'<port protocol="tcp" portid="22"><state state="open" reason="syn-ack"'
        b' reason_ttl="0"/></port></ports></host>\n'
    )


@pytest.fixture
def note(tmp_path: Path) -> str:
    path = tmp_path / "note.py"
    path.write_text(NOTE)
    return str(path)


def test_a_batch_of_hosts_in_memory_is_enriched_like_a_file(tmp_path: Path, note: str) -> None:
    batch = PROLOGUE + host("10.0.0.1") + host("10.0.0.2") + EPILOGUE
    source = tmp_path / "batch.xml"
    source.write_bytes(batch)
    from_memory, from_file = tmp_path / "m.xml", tmp_path / "f.xml"
    first = nmapx.run(batch, scripts=[note], outputs=nmapx.Outputs(xml=str(from_memory)))
    second = nmapx.run(source, scripts=[note], outputs=nmapx.Outputs(xml=str(from_file)))
    assert (first.status, first.enriched, first.unchanged, first.problems) == (
        nmapx.ExitStatus.OK, 2, 0, []
    )
    assert (second.status, second.enriched) == (nmapx.ExitStatus.OK, 2)
    assert from_memory.read_bytes() == from_file.read_bytes()
    assert from_memory.read_bytes().count(b'<script id="note" output="seen 10.0.0.') == 2


def test_without_scripts_or_outputs_a_run_only_counts(tmp_path: Path) -> None:
    result = nmapx.run([DEMO, DEMO])
    assert (result.status, result.inputs_done, result.enriched, result.unchanged) == (
        nmapx.ExitStatus.OK, 2, 0, 2
    )


def test_each_input_can_have_outputs_of_its_own(tmp_path: Path) -> None:
    def outputs(source: object) -> nmapx.Outputs:
        return nmapx.Outputs(xml=str(tmp_path / (Path(str(source)).stem + ".out.xml")))

    copy = tmp_path / "copy.xml"
    copy.write_bytes(DEMO.read_bytes())
    result = nmapx.run([DEMO, copy], outputs=outputs)
    assert result.status == nmapx.ExitStatus.OK
    assert (tmp_path / "scan.out.xml").read_bytes() == DEMO.read_bytes()
    assert (tmp_path / "copy.out.xml").read_bytes() == DEMO.read_bytes()


def test_a_bad_input_is_a_problem_of_the_run_not_an_exception(tmp_path: Path) -> None:
    truncated = PROLOGUE + host("10.0.0.1")[:40]
    result = nmapx.run([tmp_path / "missing.xml", truncated, DEMO])
    assert result.status == nmapx.ExitStatus.ERROR  # the worst: nothing of missing.xml
    assert result.inputs_done == 3
    assert result.problems == [f"{tmp_path / 'missing.xml'}: No such file or directory"]


def test_bad_options_raise_before_any_input_is_read() -> None:
    with pytest.raises(UsageError, match="'no-such-script' did not match a category"):
        nmapx.run("/nonexistent/never-read.xml", scripts=["no-such-script"])
    with pytest.raises(UsageError, match="--script-timeout: bad time specification 'soon'"):
        nmapx.run(DEMO, scripts=["daytime"], script_timeout="soon")
    with pytest.raises(TypeError):
        nmapx.run(DEMO, scripts=["daytime"], options=nmapx.RunOptions())


def test_read_bytes_gives_the_same_pieces_as_a_file(tmp_path: Path) -> None:
    def pieces(document: nmapx.Document) -> list[tuple[str, bytes, bytes]]:
        return [(type(i).__name__, getattr(i, "gap", b""), i.raw) for i in document]

    from_memory = pieces(nmapx.read_bytes(DEMO.read_bytes(), name="demo"))
    assert from_memory == pieces(nmapx.read_document(str(DEMO)))
    assert [kind for kind, _, _ in from_memory].count("Host") == 1
