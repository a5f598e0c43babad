"""Hostile input files, as properties: whatever the bytes, only the documented outcomes.

Allowed: status 0/3/4 with a well-formed output document that keeps every host that was
complete and well-formed in the input, or one line ``nmapx: FILE:LINE[:COL]: ...`` and a
non-zero status. Never a traceback, a hang or a memory blow-up. The in-process oracle
(:func:`fuzz.fuzz_reader.check`, shared with the atheris target) runs both reader modes
(``parse_hosts`` on and off) and requires them to agree exactly.

Example counts are modest in CI (about 300 in all, derandomized, so a run is reproducible);
``NMAPX_HYPOTHESIS=long`` with ``NMAPX_HYPOTHESIS_SCALE=100`` runs a hundred times more with
fresh randomness (see fuzz/README.md).
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT, corpus_files
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import PROFILE, SCALE

sys.path.insert(0, str(ROOT))
from lxml import etree

from fuzz.fuzz_reader import SAFE, check, check_file
from nmapx.errors import ExitStatus


def budget(examples: int) -> settings:
    return settings(PROFILE, max_examples=examples * SCALE)


HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    b'<nmaprun scanner="nmap" args="nmap -n" start="1700000000" version="7.93" xmloutputversion="1.05">\n'
    b'<scaninfo type="connect" protocol="tcp" numservices="1" services="22"/>\n'
    b'<verbose level="0"/>\n<debugging level="0"/>\n'
)
HOST = (
    b'<host starttime="1700000000" endtime="1700000001"><status state="up" reason="user-set"'
    b' reason_ttl="0"/>\n<address addr="%s" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n'
    b'<ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="0"/>'
    b'<service name="ssh" product="%s" method="probed" conf="10"/></port>\n</ports>\n'
    b"<times %s/>\n</host>\n"
)
TAIL = (
    b'<runstats><finished time="1700000002" timestr="x" summary="y" elapsed="2.00" exit="success"/>'
    b'<hosts up="3" down="0" total="3"/>\n</runstats>\n</nmaprun>\n'
)


def host(addr: str, product: bytes = b"OpenSSH", times: bytes = b'srtt="1"') -> bytes:
    return HOST % (addr.encode(), product, times)


def three_hosts(middle: bytes) -> bytes:
    return HEAD + host("10.0.0.1") + middle + host("10.0.0.3") + TAIL


#: Small, varied corpus files (old and new Nmap, scripts, OS, Zenmap re-saves): mutating them
#: reaches every branch of the reader while each example stays fast.
SEEDS = [
    p
    for p in corpus_files()
    if p.stat().st_size < 40_000
    and p.name
    in {
        "simple.xml",
        "2_hosts.xml",
        "1_os_banner_scripts.xml",
        "nse_5.21.xml",
        "xml_test9.xml",
        "scanme_output-7.91.xml",
        "htb-beep.xml",
        "ip_down.xml",
        "issue4406.xml",
        "nmap-output-with-script.xml",
    }
]
needs_corpus = pytest.mark.skipif(not SEEDS, reason=f"corpus missing at {CORPUS}")
_HOST_SPAN = re.compile(rb"<host[\s>].*?</host>", re.S)
_OPENERS = re.compile(rb"<!--|<!\[CDATA\[|<\?|</nmaprun[\s>]")
_CLOSERS = {b"<!--": b"-->", b"<![CDATA[": b"]]>", b"<?": b"?>"}


def _swallowed_from(data: bytes, start: int) -> int:
    """Where, from ``start`` on, the input stops being able to yield hosts, if anywhere.

    A comment, CDATA section or processing instruction that is never closed swallows the
    rest of the file (in XML, everything after it is its content), and nothing after
    ``</nmaprun>`` is part of the document. Hosts inside a *closed* comment are not hosts
    either: the span is skipped and the search goes on.
    """
    pos = start
    while True:
        found = _OPENERS.search(data, pos)
        if found is None:
            return len(data) + 1
        if found[0].startswith(b"</nmaprun"):
            return found.start()
        close = data.find(_CLOSERS[found[0]], found.end())
        if close == -1:
            return found.start()
        pos = close


def _hosts_outside_constructs(data: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of ``<host>...</host>`` in ``data[start:end]`` not hidden in a comment, PI or CDATA."""
    spans = []
    pos = start
    while pos < end:
        opener = _OPENERS.search(data, pos, end)
        limit = opener.start() if opener is not None else end
        for match in _HOST_SPAN.finditer(data, pos, limit):
            spans.append(match.span())
        if opener is None or opener[0].startswith(b"</nmaprun"):
            break
        close = data.find(_CLOSERS[opener[0]], opener.end())
        if close == -1:
            break
        pos = close + len(_CLOSERS[opener[0]])
    return spans


def expected_hosts(original: bytes, mutated: bytes, lo: int, hi: int, shift: int) -> list[bytes]:
    """Hosts of ``original`` that the mutation of ``original[lo:hi]`` left whole.

    Independent of nmapx: a host is expected when its bytes are untouched (entirely before
    ``lo`` or entirely after ``hi``) and the mutated document does not hide it in a comment
    or CDATA section or PI, or put it after the root's end. ``shift`` is how far bytes after
    the mutation moved.
    """
    root_end = original.index(b">", original.index(b"<nmaprun")) + 1
    kept = []
    stop = _swallowed_from(mutated, 0)
    visible = set(_hosts_outside_constructs(mutated, 0, len(mutated)))
    for start, end in _hosts_outside_constructs(original, root_end, len(original)):
        if end <= lo:
            where = (start, end)
        elif start >= hi:
            where = (start + shift, end + shift)
        else:
            continue
        if where[1] <= stop and where in visible:
            kept.append(original[start:end])
    return kept


def assert_kept(outcome, expected: list[bytes]) -> None:
    assert outcome.error is None, outcome.error
    for wanted in expected:
        assert wanted in outcome.output, (wanted[:200], outcome.problems)


# ---------------------------------------------------------------- random bytes
@budget(60)
@given(st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    check(data)


XML_TOKENS = [
    b"<",
    b">",
    b"/>",
    b"</",
    b"<host>",
    b"</host>",
    b"<host ",
    b"<ports>",
    b"</ports>",
    b"<port>",
    b"<runstats>",
    b"</runstats>",
    b"</nmaprun>",
    b"<nmaprun>",
    b"<!--",
    b"-->",
    b"<![CDATA[",
    b"]]>",
    b"<?",
    b"?>",
    b"<!DOCTYPE nmaprun>",
    b'"',
    b"'",
    b"=",
    b' a="1"',
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#x1;",
    b"&xxe;",
    b"\x00",
    b"\xff",
    b"\xef\xbf\xbe",
    b"\n",
    b" ",
    b"text",
]


@budget(60)
@given(st.lists(st.sampled_from(XML_TOKENS), max_size=60))
def test_random_markup_after_a_valid_prologue(tokens: list[bytes]) -> None:
    """XML-shaped junk after a real prologue: reaches the body scanner, not just the prologue."""
    data = HEAD + b"".join(tokens) + host("10.0.0.9") + b"".join(reversed(tokens)) + TAIL
    outcome = check(data)
    assert outcome.error is None, outcome.error


# ---------------------------------------------------------------- mutated corpus
@st.composite
def mutations(draw: st.DrawFn) -> tuple[bytes, bytes, int, int, int]:
    """(original, mutated, lo, hi, shift): what changed is ``original[lo:hi]``."""
    original = SEEDS[draw(st.integers(0, len(SEEDS) - 1))].read_bytes()
    kind = draw(st.sampled_from(["flip", "insert", "delete", "splice", "duplicate", "cut_tag"]))
    size = len(original)
    if kind == "flip":
        at = draw(st.integers(0, size - 1))
        byte = draw(st.integers(0, 255))
        return original, original[:at] + bytes([byte]) + original[at + 1 :], at, at + 1, 0
    if kind == "insert":
        at = draw(st.integers(0, size))
        junk = draw(st.one_of(st.binary(min_size=1, max_size=20), st.sampled_from(XML_TOKENS)))
        return original, original[:at] + junk + original[at:], at, at, len(junk)
    if kind == "delete":
        at = draw(st.integers(0, size - 1))
        length = draw(st.integers(1, 200))
        end = min(size, at + length)
        return original, original[:at] + original[end:], at, end, at - end
    if kind == "splice":
        other = SEEDS[draw(st.integers(0, len(SEEDS) - 1))].read_bytes()
        at = draw(st.integers(0, size))
        at_other = draw(st.integers(0, len(other)))
        # original[:at] then other's tail: only the prefix's hosts are the original's
        mutated = original[:at] + other[at_other:]
        return original, mutated, at, size, 0
    tags = [m.span() for m in re.finditer(rb"<[^<>]*>", original)]
    start, end = tags[draw(st.integers(0, len(tags) - 1))]
    if kind == "duplicate":
        return (
            original,
            original[:end] + original[start:end] + original[end:],
            end,
            end,
            end - start,
        )
    cut = draw(st.integers(start + 1, end - 1))  # a tag cut short, the rest of the file intact
    return original, original[:cut] + original[end:], cut, end, cut - end


@needs_corpus
@budget(120)
@given(mutations())
def test_mutated_corpus_files_keep_every_intact_host(case) -> None:
    original, mutated, lo, hi, shift = case
    outcome = check(mutated)
    root_end = original.index(b">", original.index(b"<nmaprun")) + 1
    if lo < root_end:
        return  # the prologue itself was damaged: refusing the file is allowed
    assert outcome.error is None, outcome.error
    assert_kept(outcome, expected_hosts(original, mutated, lo, hi, shift))


# ---------------------------------------------------------------- forbidden characters
FORBIDDEN = [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xD800, 0xDBFF, 0xDC00, 0xDFFF]
FORBIDDEN += [0xFFFE, 0xFFFF]
ALLOWED = [0x09, 0x0A, 0x0D, 0x7F, 0x80, 0xFFFD, 0x10FFFF]


def hex_text(codepoint: int) -> bytes:
    """What current Nmap writes for a character XML cannot carry: its bytes as ``\\xHH``."""
    raw = (
        bytes([codepoint]) if codepoint <= 0xFF else chr(codepoint).encode("utf-8", "surrogatepass")
    )
    return b"".join(b"\\x%02X" % byte for byte in raw)


@pytest.mark.parametrize("codepoint", FORBIDDEN, ids=hex)
@pytest.mark.parametrize("form", ["raw", "hex", "dec"])
@pytest.mark.parametrize("place", ["attribute", "text"])
def test_forbidden_characters_are_repaired_and_neighbours_kept(codepoint, form, place) -> None:
    if form == "raw":
        char = (
            chr(codepoint).encode("utf-8", "surrogatepass")
            if codepoint > 0x7F
            else bytes([codepoint])
        )
    elif form == "hex":
        char = b"&#x%X;" % codepoint
    else:
        char = b"&#%d;" % codepoint
    bad = b"a" + char + b"b"
    if place == "attribute":
        middle, fixed = host("10.0.0.2", bad), host("10.0.0.2", b"a" + hex_text(codepoint) + b"b")
    else:
        inner = b'<hostnames><hostname name="x" type="PTR"/></hostnames>'
        middle = host("10.0.0.2").replace(b"<hostnames>\n</hostnames>", inner.replace(b"x", bad))
        fixed = middle.replace(bad, b"a" + hex_text(codepoint) + b"b")
    outcome = check(three_hosts(middle))
    assert outcome.status == ExitStatus.OK
    assert outcome.output == three_hosts(fixed)
    # invalid UTF-8 (a raw surrogate) is counted byte by byte
    count = 3 if form == "raw" and 0xD800 <= codepoint <= 0xDFFF else 1
    assert len(outcome.problems) == 1
    assert f"warning: repaired {count} character(s)" in outcome.problems[0]


@pytest.mark.parametrize("codepoint", ALLOWED, ids=hex)
@pytest.mark.parametrize("form", ["raw", "hex"])
def test_allowed_characters_pass_unchanged(codepoint, form) -> None:
    char = chr(codepoint).encode() if form == "raw" else b"&#x%X;" % codepoint
    data = three_hosts(host("10.0.0.2", b"a" + char + b"b"))
    outcome = check(data)
    assert outcome.status == ExitStatus.OK and outcome.problems == []
    assert outcome.output == data


@budget(40)
@given(st.binary(min_size=1, max_size=64))
def test_invalid_utf8_and_control_bytes_in_a_banner(banner: bytes) -> None:
    """Any bytes at all in an attribute (quotes and ``<&`` aside) are kept or repaired."""
    assume(not any(c in banner for c in b'"<&'))
    outcome = check(three_hosts(host("10.0.0.2", banner)))
    assert outcome.error is None and outcome.status == ExitStatus.OK
    assert host("10.0.0.1") in outcome.output and host("10.0.0.3") in outcome.output
    kept = etree.fromstring(outcome.output, SAFE).findall("host")
    product = kept[1].find("ports/port/service").get("product")
    # each byte XML cannot carry is written as \xHH; everything else is unchanged
    expected = []
    for char in banner.decode("utf-8", "surrogateescape"):
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            expected.append("\\x%02X" % (code - 0xDC00))
        elif (code < 0x20 and code not in (0x9, 0xA, 0xD)) or code in (0xFFFE, 0xFFFF):
            expected.append("".join(f"\\x{b:02X}" for b in char.encode()))
        else:
            expected.append(char)
    # attribute-value normalisation: tab, CR and LF read back as spaces
    assert product == "".join(expected).translate({9: 32, 10: 32, 13: 32})


# ---------------------------------------------------------------- entities
ENTITY_CASES = {
    "internal subset": (
        b'<?xml version="1.0"?>\n<!DOCTYPE nmaprun [<!ENTITY a "aaaa">]>\n<nmaprun>&a;</nmaprun>\n',
        ExitStatus.ERROR,
        ":2:1: refused: the DOCTYPE has entity declarations",
    ),
    "external entity": (
        b'<!DOCTYPE nmaprun [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<nmaprun>&x;</nmaprun>',
        ExitStatus.ERROR,
        ":1:1: refused: the DOCTYPE has entity declarations",
    ),
    "parameter entity": (
        b'<!DOCTYPE nmaprun [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x"> %p;]>\n<nmaprun/>',
        ExitStatus.ERROR,
        ":1:1: refused: the DOCTYPE has entity declarations",
    ),
    "bare internal subset": (
        b"<!DOCTYPE nmaprun [<!ELEMENT nmaprun ANY>]>\n<nmaprun/>",
        ExitStatus.ERROR,
        ":1:1: refused: the DOCTYPE has an internal DTD subset",
    ),
    "entity in the root tag": (
        b'<?xml version="1.0"?>\n<nmaprun args="&x;">\n</nmaprun>\n',
        ExitStatus.ERROR,
        ":2:",
    ),
    "undeclared entity in a host": (
        three_hosts(host("10.0.0.2", b"&xxe;")),
        ExitStatus.DAMAGED,
        ":19:123: error: malformed <host> skipped: entity reference &xxe; (entities are never expanded)",
    ),
    "parameter entity reference in text": (
        three_hosts(host("10.0.0.2", b"%pe;")),
        ExitStatus.OK,
        None,
    ),
    "nested character references": (
        three_hosts(host("10.0.0.2", b"&#38;#0;&amp;amp;&#x26;lt;")),
        ExitStatus.OK,
        None,
    ),
    "entity in a top-level element": (
        HEAD.replace(b'type="connect"', b'type="&x;"') + host("10.0.0.1") + host("10.0.0.3") + TAIL,
        ExitStatus.DAMAGED,
        ":4:17: error: malformed <scaninfo> skipped: entity reference &x;",
    ),
    "entity after the root": (
        three_hosts(b"") + b"&x;\n",
        ExitStatus.DAMAGED,
        "error: content after </nmaprun> dropped",
    ),
}


@pytest.mark.parametrize("name", ENTITY_CASES)
def test_entity_tricks(name: str, tmp_path: Path) -> None:
    data, status, message = ENTITY_CASES[name]
    path = tmp_path / "in.xml"
    path.write_bytes(data)
    out = tmp_path / "out.xml"
    result = subprocess.run(
        [sys.executable, "-m", "nmapx", "run", str(path), "-oX", str(out)],
        capture_output=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    stderr = result.stderr.decode()
    assert result.returncode == status, stderr
    lines = stderr.splitlines()
    assert all(re.match(rf"nmapx: {re.escape(str(path))}:\d+(:\d+)?: ", line) for line in lines)
    if message is None:
        assert lines == []
    else:
        assert len(lines) == 1 and message in lines[0], stderr
    if status == ExitStatus.ERROR:
        assert not out.exists()
        return
    output = out.read_bytes()
    etree.fromstring(output, SAFE)
    if data.startswith(HEAD):
        assert host("10.0.0.1") in output and host("10.0.0.3") in output
    if status == ExitStatus.OK:
        assert output == data


# ---------------------------------------------------------------- huge and deep, in a child
MEMORY_LIMIT = 1 << 30


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_limited(path: Path, out: Path) -> subprocess.CompletedProcess[bytes]:
    """The real CLI with 1 GiB of address space and a time limit: no blow-up, no hang."""
    return subprocess.run(
        [sys.executable, "-m", "nmapx", "run", str(path), "-oX", str(out)],
        capture_output=True,
        timeout=120,
        cwd=ROOT,
        check=False,
        preexec_fn=_limit_memory,
    )


MB = 1 << 20
DEEP = b"<a>" * 100_000 + b"</a>" * 100_000
HUGE_CASES = {
    "100k nested elements in a host": (
        host("10.0.0.2").replace(b"<hostnames>", b"<hostnames>" + DEEP),
        ":17:772: error: malformed <host> skipped: Excessive depth in document: 256",
    ),
    "100k nested elements at top level": (DEEP, ":15:767: error: malformed <a> skipped"),
    "100k unclosed elements at top level": (
        b"<a>" * 100_000,
        ":15:1: error: <a> element is not closed; skipped",
    ),
    "40 MB attribute": (
        host("10.0.0.2", b"x" * (40 * MB)),
        "error: malformed <host> skipped: Resource limit exceeded",
    ),
    "40 MB of text": (
        host("10.0.0.2").replace(b"<hostnames>", b"<hostnames>" + b"y" * (40 * MB)),
        "error: malformed <host> skipped: Resource limit exceeded",
    ),
    "40 MB comment": (b"<!--" + b"z" * (40 * MB) + b"-->", "error: malformed markup skipped"),
    "2M comments in an unclosed element": (
        b"<output>" + b"<!---->" * (2 * MB),
        ":15:1: error: <output> element is not closed; skipped",
    ),
    "40 MB tag that never ends": (
        b'<prescript a="' + b"q" * (40 * MB) + b"\n",
        "error: malformed markup skipped: a '<' that starts no complete tag",
    ),
}


@pytest.mark.parametrize("name", HUGE_CASES)
def test_huge_and_deep_input_is_bounded(name: str, tmp_path: Path) -> None:
    middle, message = HUGE_CASES[name]
    path = tmp_path / "in.xml"
    path.write_bytes(three_hosts(middle))
    out = tmp_path / "out.xml"
    result = run_limited(path, out)
    stderr = result.stderr.decode()
    assert "MemoryError" not in stderr and "Traceback" not in stderr, stderr[-2000:]
    assert result.returncode == ExitStatus.DAMAGED, stderr[-2000:]
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"nmapx: {path}:") and message in lines[0]
    output = out.read_bytes()
    kept = etree.fromstring(output, SAFE).findall("host")
    assert [h.find("address").get("addr") for h in kept] == ["10.0.0.1", "10.0.0.3"]
    assert output == HEAD + host("10.0.0.1") + host("10.0.0.3") + TAIL


# ---------------------------------------------------------------- the real command line
@needs_corpus
@settings(
    budget(12),
    suppress_health_check=[*PROFILE.suppress_health_check, HealthCheck.function_scoped_fixture],
)
@given(case=mutations())
def test_cli_on_mutated_files_says_one_line_per_problem(case, tmp_path: Path) -> None:
    """The CLI agrees with the in-process pass: same status, same problems, same bytes."""
    _, mutated, _, _, _ = case
    path = tmp_path / "in.xml"
    path.write_bytes(mutated)
    out = tmp_path / "out.xml"
    out.unlink(missing_ok=True)
    result = run_limited(path, out)
    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    for line in lines:
        assert line.startswith(f"nmapx: {path}"), line
    expected = check_file(str(path))
    if expected.error is not None:
        assert result.returncode == ExitStatus.ERROR
        assert lines == [f"nmapx: {expected.error}"]
        assert re.match(rf"nmapx: {re.escape(str(path))}(:\d+(:\d+)?)?: ", lines[0])
        assert not out.exists()
    else:
        assert result.returncode == expected.status
        assert lines == [f"nmapx: {problem}" for problem in expected.problems]
        assert out.read_bytes() == expected.output
