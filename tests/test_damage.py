"""Hostile and damaged input: refused, repaired or recovered, never a traceback.

Truncation is tested at every byte offset of real Nmap files: every host complete before the
cut must be in the output, the output must be well-formed (and DTD-valid where the input
was), and the status must say the input was incomplete.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from conftest import CORPUS, corpus_files, dtd_errors, needs_xmllint, nmapx_main
from lxml import etree

from nmapx.errors import ExitStatus
from nmapx.model.host import Host
from nmapx.nmapxml.reader import read_document
from nmapx.output.atomic import AtomicOutput
from nmapx.output.xml import XmlWriter

SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
NMAP_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    b'<nmaprun scanner="nmap" args="nmap" start="1700000000" version="7.93" xmloutputversion="1.05">\n'
    b'<scaninfo type="connect" protocol="tcp" numservices="2" services="22,80"/>\n'
    b'<verbose level="0"/>\n<debugging level="0"/>\n'
)
NMAP_HOST = (
    b'<host starttime="1700000000" endtime="1700000001"><status state="up" reason="user-set"'
    b' reason_ttl="0"/>\n<address addr="%s" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n'
    b'<ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="0"/>'
    b'<service name="ssh" product="%s" method="probed" conf="10"/></port>\n</ports>\n'
    b'<times srtt="100" rttvar="50" to="100000"/>\n</host>\n'
)
NMAP_TAIL = (
    b'<runstats><finished time="1700000002" timestr="x" summary="y" elapsed="2.00" exit="success"/>'
    b'<hosts up="3" down="0" total="3"/>\n</runstats>\n</nmaprun>\n'
)


def host(addr: str, product: bytes = b"OpenSSH") -> bytes:
    return NMAP_HOST % (addr.encode(), product)


def write(data: bytes, tmp_path: Path, name: str = "in.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _pass(path: Path, parse_hosts: bool) -> tuple[bytes, ExitStatus, int, list[str]]:
    document = read_document(str(path), parse_hosts=parse_hosts)
    out = AtomicOutput("-")
    out.stream = io.BytesIO()  # type: ignore[assignment]
    writer = XmlWriter(out)
    for item in document:
        writer.write(item)
    problems = [str(problem) for problem in document.problems]
    return out.stream.getvalue(), document.status, document.hosts_read, problems  # type: ignore[attr-defined]


def pass_through(path: Path) -> tuple[bytes, ExitStatus, int]:
    """In-process pass: output bytes, status, hosts read (fast enough for every offset).

    The input is read twice, building every host's tree and only checking each host's
    well-formedness (what a bare ``-oX`` pass-through does): both must agree exactly, down
    to every problem reported.
    """
    built = _pass(path, parse_hosts=True)
    checked = _pass(path, parse_hosts=False)
    assert checked == built
    return built[:3]


# ---------------------------------------------------------------- hostile XML
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE nmaprun [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<nmaprun scanner="nmap">&lol3;</nmaprun>
"""


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.xml"
    result = nmapx_main("run", str(write(BILLION_LAUGHS, tmp_path)), "-oX", str(out))
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"nmapx: {tmp_path / 'in.xml'}:2:1: refused: the DOCTYPE has entity declarations"
        " (Nmap never writes them; nothing is expanded) (byte 22)\n"
    )
    assert not out.exists()


def test_xxe_is_refused_and_nothing_is_fetched(tmp_path: Path, listener_factory) -> None:
    listener = listener_factory()
    xxe = (
        b'<?xml version="1.0"?>\n<!DOCTYPE nmaprun [<!ENTITY xxe SYSTEM "http://127.0.0.1:%d/x">]>\n'
        b'<nmaprun scanner="nmap">&xxe;</nmaprun>\n' % listener.port
    )
    result = nmapx_main("run", str(write(xxe, tmp_path)), "-oX", "-")
    assert result.returncode == 1
    assert b"refused: the DOCTYPE has entity declarations" in result.stderr
    assert listener.connections == 0


def test_external_dtd_is_never_loaded(tmp_path: Path, listener_factory) -> None:
    listener = listener_factory()
    data = (
        NMAP_HEAD.replace(
            b"<!DOCTYPE nmaprun>",
            b'<!DOCTYPE nmaprun SYSTEM "http://127.0.0.1:%d/nmap.dtd">' % listener.port,
        )
        + host("10.0.0.1")
        + NMAP_TAIL
    )
    result = nmapx_main("run", str(write(data, tmp_path)), "-oX", "-")
    assert result.returncode == 0
    assert result.stdout == data
    assert listener.connections == 0


def test_undeclared_entity_in_a_host_skips_only_that_host(tmp_path: Path) -> None:
    data = NMAP_HEAD + host("10.0.0.1") + host("10.0.0.2", b"&xxe;") + host("10.0.0.3") + NMAP_TAIL
    path = write(data, tmp_path)
    result = nmapx_main("run", str(path), "-oX", "-")
    assert result.returncode == ExitStatus.DAMAGED
    assert result.stderr.decode() == (
        f"nmapx: {path}:19:123: error: malformed <host> skipped: entity reference &xxe;"
        " (entities are never expanded) (byte 965)\n"
    )
    assert result.stdout == NMAP_HEAD + host("10.0.0.1") + host("10.0.0.3") + NMAP_TAIL


def test_forbidden_character_references_are_repaired(tmp_path: Path) -> None:
    """Nmap 4.x wrote ``&#x1;`` in banners; current Nmap writes the text ``\\x01``."""
    data = NMAP_HEAD + host("10.0.0.1", b"bad&#x1;banner\x02&#0;") + NMAP_TAIL
    path = write(data, tmp_path)
    result = nmapx_main("run", str(path), "-oX", "-")
    assert result.returncode == 0
    assert result.stderr.decode().startswith(
        f"nmapx: {path}:7:1: warning: repaired 3 character(s) that XML 1.0 forbids"
    )
    assert result.stdout == NMAP_HEAD + host("10.0.0.1", b"bad\\x01banner\\x02\\x00") + NMAP_TAIL


def test_invalid_utf8_is_repaired(tmp_path: Path) -> None:
    data = NMAP_HEAD + host("10.0.0.1", b"caf\xe9") + NMAP_TAIL
    result = nmapx_main("run", str(write(data, tmp_path)), "-oX", "-")
    assert result.returncode == 0
    assert result.stdout == NMAP_HEAD + host("10.0.0.1", b"caf\\xE9") + NMAP_TAIL


def test_unclosed_host_is_skipped_and_the_next_one_kept(tmp_path: Path) -> None:
    cut = host("10.0.0.2")[:120]
    data = NMAP_HEAD + host("10.0.0.1") + cut + host("10.0.0.3") + NMAP_TAIL
    path = write(data, tmp_path)
    result = nmapx_main("run", str(path), "-oX", "-")
    assert result.returncode == ExitStatus.DAMAGED
    assert result.stderr.decode() == (
        f"nmapx: {path}:15:1: error: <host> element is not closed; skipped (byte 671)\n"
    )
    assert result.stdout == NMAP_HEAD + host("10.0.0.1") + host("10.0.0.3") + NMAP_TAIL


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty input"),
        (b"hello", "text before the root element: not Nmap XML"),
        (b"<?xml version='1.0'?><html><body/></html>", "root element is <html>, not <nmaprun>"),
        (b"\x1f\x8b\x08\x00garbage", "corrupt gzip data"),
    ],
)
def test_not_nmap_xml_fails_in_one_line(tmp_path: Path, data: bytes, message: str) -> None:
    out = tmp_path / "out.xml"
    out.write_bytes(b"previous")
    result = nmapx_main("run", str(write(data, tmp_path)), "-oX", str(out))
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(tmp_path / "in.xml") in lines[0]
    assert out.read_bytes() == b"previous"  # an output file is never left half-written


def test_missing_input_file(tmp_path: Path) -> None:
    result = nmapx_main("run", str(tmp_path / "nope.xml"), "-oX", "-")
    assert result.returncode == 1
    assert result.stderr.decode() == f"nmapx: {tmp_path / 'nope.xml'}: No such file or directory\n"


# ---------------------------------------------------------------- truncation
def _complete_hosts_before(data: bytes, cut: int) -> list[bytes]:
    hosts = []
    for match in re.finditer(rb"<host[\s>].*?</host>", data, re.S):
        if match.end() <= cut:
            hosts.append(match[0])
    return hosts


TRUNCATION_FILES = ["nmap-ndiff-test-scans/simple.xml", "python-libnmap/2_hosts.xml"]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="corpus missing")
@pytest.mark.parametrize("name", TRUNCATION_FILES)
@pytest.mark.parametrize("chunk", [None, 53])
def test_truncation_at_every_byte_offset(tmp_path: Path, name: str, chunk, monkeypatch) -> None:
    if chunk is not None:  # pieces split across reads, buffer compacted between them
        from nmapx.nmapxml import reader, source

        monkeypatch.setattr(source, "CHUNK_SIZE", chunk)
        monkeypatch.setattr(reader, "_COMPACT_AT", 128)
    data = (CORPUS / name).read_bytes()
    end_of_root_tag = data.index(b">", data.index(b"<nmaprun")) + 1
    path = tmp_path / "cut.xml"
    for cut in range(end_of_root_tag, len(data)):
        path.write_bytes(data[:cut])
        output, status, _ = pass_through(path)
        root = etree.fromstring(output, SAFE)  # well-formed at every cut
        closed = data.rstrip().endswith(b"</nmaprun>") and data[:cut].rstrip() == data.rstrip()
        assert status == (ExitStatus.OK if closed else ExitStatus.INCOMPLETE), cut
        expected = _complete_hosts_before(data, cut)
        kept = [h for h in re.findall(rb"<host[\s>].*?</host>", output, re.S)]
        assert kept == expected, cut
        assert root[-1].tag == "runstats", cut
        assert len(root.findall("runstats")) == 1, cut


@needs_xmllint
def test_truncated_real_scan_output_validates(tmp_path: Path) -> None:
    data = NMAP_HEAD + host("10.0.0.1") + host("10.0.0.2") + NMAP_TAIL
    cut = data.index(b"</host>", data.index(b"10.0.0.2")) - 5
    out = tmp_path / "out.xml"
    result = nmapx_main("run", str(write(data[:cut], tmp_path)), "-oX", str(out))
    assert result.returncode == ExitStatus.INCOMPLETE
    assert result.stderr.decode().endswith(
        "error: input ended early inside <host> (started at line 15): 1 complete host(s) kept"
        f" (byte {cut})\n"
    )
    assert dtd_errors(out) == ""
    hosts = etree.parse(str(out), SAFE).getroot().findall("host")
    assert [h.find("address").get("addr") for h in hosts] == ["10.0.0.1"]


def test_corpus_well_formed_files_report_no_hosts_lost() -> None:
    for path in corpus_files()[:5]:
        document = read_document(str(path))
        assert sum(isinstance(i, Host) for i in document) == document.hosts_read


# ---------------------------------------------------------------- namespaces
# Nmap XML has no namespaces. A prefixed name, an undeclared prefix or an xmlns attribute
# makes a host malformed in both reader modes alike (one decision, reader.parse_host):
# skipped with one line naming the place, exit 4, never a traceback. The first case is the
# fuzzer's find that made the pass-through mode crash in Host.element.
NAMESPACE_DAMAGE = [
    (
        b'<status: state="up"/>',
        "17:8: error: malformed <host> skipped: Failed to parse QName 'status:'",
    ),
    (b"<a:b/>", "17:4: error: malformed <host> skipped: Namespace prefix a on b is not defined"),
    (
        b'<hostnames x:y="1"/>',
        "17:18: error: malformed <host> skipped: Namespace prefix x for y on hostnames is not"
        " defined",
    ),
    (
        b'<hostnames xmlns="urn:x"/>',
        '17: error: malformed <host> skipped: namespace declaration xmlns="urn:x"'
        " (Nmap XML has no namespaces)",
    ),
    (
        b'<hostnames xmlns:a="urn:a"><a:b/></hostnames>',
        '17: error: malformed <host> skipped: namespace declaration xmlns:a="urn:a"'
        " (Nmap XML has no namespaces)",
    ),
    (
        b'<hostnames xml:lang="en"/>',
        "17: error: malformed <host> skipped: namespace prefix in name xml:lang"
        " (Nmap XML has no namespaces)",
    ),
    (
        b"<?a:b x?>",
        "17:5: error: malformed <host> skipped: colons are forbidden from PI names 'a:b'",
    ),
]


def _with_inside(addr: str, inside: bytes) -> bytes:
    """A host whose third line (after its status and address) is ``inside``."""
    return host(addr).replace(b"<hostnames>\n</hostnames>\n", inside + b"\n", 1)


@pytest.mark.parametrize(("inside", "message"), NAMESPACE_DAMAGE)
def test_namespace_syntax_makes_a_malformed_host(
    tmp_path: Path, inside: bytes, message: str
) -> None:
    data = (
        NMAP_HEAD
        + host("10.0.0.1")
        + _with_inside("10.0.0.2", inside)
        + host("10.0.0.3")
        + NMAP_TAIL
    )
    path = write(data, tmp_path)
    kept = NMAP_HEAD + host("10.0.0.1") + host("10.0.0.3") + NMAP_TAIL
    # in-process, both reader modes, identical to the byte and the problem
    assert pass_through(path) == (kept, ExitStatus.DAMAGED, 2)
    for argv in (["-oX", "-"], ["-oX", "-", "-oN", str(tmp_path / "n.txt")]):
        result = nmapx_main("run", str(path), *argv)
        assert result.returncode == ExitStatus.DAMAGED
        assert result.stdout == kept
        lines = result.stderr.decode().splitlines()
        # the host starts at byte 671 (line 15); the line is that of the damage
        assert lines == [f"nmapx: {path}:{message} (byte 671)"]


@pytest.mark.parametrize(
    "inside",
    [
        b'<hostnames><hostname name="a:b=&quot;x&quot;" type="user"/></hostnames>',
        b"<hostnames>\n</hostnames><os><osclass vendor='xmlns:q=\"u\"'/></os>",
    ],
)
def test_colons_and_xmlns_as_text_are_kept(tmp_path: Path, inside: bytes) -> None:
    """What only looks like namespace syntax (in values and text) is not damage."""
    data = NMAP_HEAD + _with_inside("10.0.0.1", inside) + NMAP_TAIL
    path = write(data, tmp_path)
    assert pass_through(path) == (data, ExitStatus.OK, 1)


def test_damaged_and_then_truncated_input_is_incomplete(tmp_path: Path) -> None:
    """One input with both kinds of damage ranks as ExitStatus.worst says: 3 over 4."""
    cut = host("10.0.0.3")[:100]
    data = NMAP_HEAD + host("10.0.0.1") + host("10.0.0.2", b"&xxe;") + cut
    path = write(data, tmp_path)
    output, status, hosts = pass_through(path)
    assert (status, hosts) == (ExitStatus.INCOMPLETE, 1)
    assert output.startswith(NMAP_HEAD + host("10.0.0.1") + b"<runstats><finished time=")
    result = nmapx_main("run", str(path), "-oX", os.devnull)
    assert result.returncode == ExitStatus.INCOMPLETE
    assert [
        line.split(": error: ")[1].split(" (")[0] for line in result.stderr.decode().splitlines()
    ] == [
        "malformed <host> skipped: entity reference &xxe;",
        "input ended early inside <host>",
    ]


def test_namespace_syntax_outside_hosts(tmp_path: Path) -> None:
    """Every piece is decided the same way: a header element with namespace syntax is
    skipped (exit 4), a root start tag or prologue PI with it is not Nmap XML (exit 1)."""
    damaged_header = NMAP_HEAD.replace(b'<verbose level="0"/>', b'<verbose le:vel="0"/>')
    path = write(damaged_header + host("10.0.0.1") + NMAP_TAIL, tmp_path)
    kept = NMAP_HEAD.replace(b'<verbose level="0"/>\n', b"") + host("10.0.0.1") + NMAP_TAIL
    assert pass_through(path) == (kept, ExitStatus.DAMAGED, 1)
    result = nmapx_main("run", str(path), "-oX", "-")
    assert (result.returncode, result.stdout) == (ExitStatus.DAMAGED, kept)
    assert result.stderr.decode() == (
        f"nmapx: {path}:5:19: error: malformed <verbose> skipped: Namespace prefix le for vel on"
        " verbose is not defined (byte 228)\n"
    )
    for head, message in [
        (NMAP_HEAD.replace(b'args="nmap"', b's:args="nmap"'), "3:95: Namespace prefix s for args"),
        (NMAP_HEAD.replace(b"<!DOCTYPE nmaprun>", b"<?a:b?>"), "2:5: colons are forbidden"),
        (
            NMAP_HEAD.replace(b'args="nmap"', b'xmlns="urn:x"'),
            '3: namespace declaration xmlns="urn:x" (Nmap XML has no namespaces)',
        ),
    ]:
        path = write(head + host("10.0.0.1") + NMAP_TAIL, tmp_path, "root.xml")
        result = nmapx_main("run", str(path), "-oX", "-")
        assert (result.returncode, result.stdout) == (ExitStatus.ERROR, b"")
        assert result.stderr.decode().startswith(f"nmapx: {path}:{message}"), result.stderr


def test_control_bytes_from_the_input_never_reach_the_terminal_raw(tmp_path: Path) -> None:
    """A damaged tag's name is quoted in the message: its ESC (a terminal escape sequence)
    and other control bytes are written as \\xHH, and the message stays one line."""
    data = NMAP_HEAD + host("10.0.0.1") + b"<debugg\x1b[2J\x01>" + host("10.0.0.2") + NMAP_TAIL
    result = nmapx_main("run", str(write(data, tmp_path)), "-oX", os.devnull)
    assert result.returncode == ExitStatus.DAMAGED
    message = result.stderr.decode()
    assert message.count("\n") == 1 and "\x1b" not in message and "\x01" not in message
    assert "<debugg\\x1b[2J\\x01>" in message, message
