"""``nmapx diff``: Ndiff's text and XML and exit codes, without Ndiff's crashes."""

from __future__ import annotations

import io
import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT, needs_nmap
from lxml import etree

from nmapx.output.ndiff import diff_files

NDIFF_SCANS = CORPUS / "nmap-ndiff-test-scans"
PAIRS = [
    (a, b)
    for a, b in itertools.product(sorted(NDIFF_SCANS.glob("*.xml")), repeat=2)
    if {a.name, b.name} != {"random-1.xml", "random-2.xml"}  # see test_pairing_by_address
]
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
needs_corpus = pytest.mark.skipif(not NDIFF_SCANS.is_dir(), reason="shared corpus missing")
needs_ndiff = pytest.mark.skipif(shutil.which("ndiff") is None, reason="apt-get install ndiff")
needs_netns = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None,
    reason="needs root, unshare and ip to build a private network namespace",
)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ndiff prints scan start times in local time: both tools run in UTC here."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "nmapx", "diff", *args],
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env={**os.environ, "TZ": "UTC"},
    )


def ndiff(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["ndiff", *args],
        capture_output=True,
        timeout=60,
        check=False,
        env={**os.environ, "TZ": "UTC"},
    )


def in_process(old: Path, new: Path) -> tuple[int, str]:
    out = io.StringIO()
    return diff_files(str(old), str(new), out, None), out.getvalue()


SIMPLE_TO_COMPLEX = """\
-Nmap 4.90RC2 scan initiated Fri Jul 10 23:23:30 2009 as: nmap -oX simple.xml -p 22,113 scanme.nmap.org
+Nmap 4.90RC2 scan initiated Fri Jul 10 23:47:13 2009 as: nmap -oX complex.xml -sV -sC -O --script=default,whois --version-light -sS -sU -p T:1-100,U:1-100 scanme.nmap.org

 scanme.nmap.org (64.13.134.52):
+Not shown: 99 open|filtered ports, 95 filtered ports
 PORT    STATE  SERVICE VERSION
-22/tcp  open   ssh
+22/tcp  open   ssh     OpenSSH 4.3 (protocol 2.0)
+|  ssh-hostkey: 1024 03:5f:d3:9d:95:74:8a:d0:8d:70:17:9a:bf:93:84:13 (DSA)
+|_ 2048 fa:af:76:4c:b0:f4:4b:83:a4:6e:70:9f:a1:ec:51:0c (RSA)
+25/tcp  closed smtp
+53/tcp  open   domain  ISC BIND 9.3.4
+53/udp  open   domain  ISC BIND 9.3.4
+|_ dns-recursion: Recursion appears to be enabled
+70/tcp  closed gopher
+80/tcp  open   http    Apache httpd 2.2.2 ((Fedora))
+|_ html-title: Go ahead and ScanMe!
-113/tcp closed auth
+OS details:
+  Linux 2.6.9 - 2.6.24

+Host script results:
+|  whois: Record found at whois.arin.net
+|  netrange: 64.13.134.0 - 64.13.134.63
+|  netname: NET-64-13-143-0-26
+|  orgname: Titan Networks
+|  orgid: INSEC
+|_ country: US stateprov: CA 
"""  # noqa: W291 - the whois output ends with a space


@needs_corpus
def test_text_exact_and_exit_codes() -> None:
    result = cli(str(NDIFF_SCANS / "simple.xml"), str(NDIFF_SCANS / "complex.xml"))
    assert (result.returncode, result.stderr) == (1, b"")
    assert result.stdout.decode() == SIMPLE_TO_COMPLEX
    same = cli(str(NDIFF_SCANS / "complex.xml"), str(NDIFF_SCANS / "complex.xml"))
    assert (same.returncode, same.stdout, same.stderr) == (0, b"", b"")


@needs_corpus
@needs_ndiff
@pytest.mark.parametrize("old,new", PAIRS, ids=lambda p: p.stem)
def test_text_is_ndiffs_byte_for_byte(old: Path, new: Path) -> None:
    """Every pair of Ndiff's own test scans: the same text and exit code as Ndiff 7.93."""
    status, text = in_process(old, new)
    reference = ndiff(str(old), str(new))
    assert reference.returncode in (0, 1), reference.stderr
    assert (status, text) == (reference.returncode, reference.stdout.decode())


@needs_corpus
def test_pairing_by_address() -> None:
    """A host whose reverse name changed stays one host (Ndiff shows one gone, one new)."""
    status, text = in_process(NDIFF_SCANS / "random-1.xml", NDIFF_SCANS / "random-2.xml")
    assert status == 1
    assert (
        "\n\n-utkjlegbx-701.example.com (10.196.172.89):\n"
        "+cdgzhwik-216.example.com (10.196.172.89):\n"
        " OS details:\n"
        "   FreeBSD 6.2-RELEASE\n"
        "-  Linux 2.6.8 (x86)\n"
        "+  Thomson Symbio VoIP phone\n"
        "   Linux 2.6.9 - 2.6.24\n"
    ) in text


def _canonical(data: bytes, newline_to_space: bool) -> bytes:
    root = etree.fromstring(data, SAFE)
    for element in root.iter():
        element.text = element.text if element.text and element.text.strip() else None
        element.tail = None
        if newline_to_space:  # Ndiff writes raw newlines in attributes, which parse as spaces
            for key, value in element.attrib.items():
                element.set(key, value.replace("\n", " "))
    return etree.tostring(root, method="c14n")


@needs_corpus
@needs_ndiff
@pytest.mark.parametrize(
    "old,new",
    [(a, b) for a, b in PAIRS if a.name in ("simple.xml", "complex.xml", "down.xml")],
    ids=lambda p: p.stem,
)
def test_xml_is_ndiffs_nmapdiff(old: Path, new: Path) -> None:
    """``--xml`` gives Ndiff's nmapdiff document: the same elements and attributes."""
    ours = cli("--xml", str(old), str(new))
    reference = ndiff("--xml", str(old), str(new))
    assert ours.returncode == reference.returncode
    assert ours.stdout.startswith(
        b"<?xml version='1.0' encoding='utf-8'?>\n<nmapdiff version=\"1\">"
    )
    assert _canonical(ours.stdout, True) == _canonical(reference.stdout, False)


def _with_changed_script(source: Path, target: Path) -> tuple[str, str, str, str, str]:
    """Copy ``source`` with the last script of the first port that has 2+ scripts changed;
    returns (port spec, service line fields, script id, old output, new output)."""
    tree = etree.parse(str(source), SAFE)
    port = next(p for p in tree.iter("port") if len(p.findall("script")) >= 2)
    script = sorted(port.findall("script"), key=lambda s: s.get("id"))[-1]
    old_output = script.get("output")
    script.set("output", "changed by the test")
    tree.write(str(target), xml_declaration=True, encoding="utf-8")
    return (
        f"{port.get('portid')}/{port.get('protocol')}",
        port.find("state").get("state"),
        script.get("id"),
        old_output,
        "changed by the test",
    )


@needs_corpus
def test_port_with_several_scripts_whose_output_changed(tmp_path: Path) -> None:
    """Ndiff crashes twice over on this (sorting results; ``list > int`` for a port whose only
    change is a script): nmapx prints the port line and the script's lines."""
    source = CORPUS / "scans2any" / "goad-mini.xml"
    changed = tmp_path / "changed.xml"
    spec, state, script_id, old_output, new_output = _with_changed_script(source, changed)
    result = cli(str(source), str(changed))
    assert result.returncode == 1, result.stderr
    text = result.stdout.decode()
    old_lines = [
        f"{script_id}: {line}" if i == 0 else line for i, line in enumerate(old_output.splitlines())
    ]
    expected_script = [f"-|  {line}" for line in old_lines[:-1]] + [f"-|_ {old_lines[-1]}"]
    expected_script.append(f"+|_ {script_id}: {new_output}")
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith(f" {spec} "))
    assert lines[row].split()[:2] == [spec, state]
    assert lines[row + 1 : row + 1 + len(expected_script)] == expected_script
    assert lines.count("") == 1 and lines[0] == ""  # one host block, the same <nmaprun>
    if shutil.which("ndiff"):
        crashed = ndiff(str(source), str(changed))
        assert crashed.returncode == 2
        assert b"TypeError: '<' not supported between instances of 'ScriptResult'" in crashed.stderr


@needs_corpus
def test_host_scripts_and_port_scripts_in_xml_output(tmp_path: Path) -> None:
    """-oX FILE: the nmapdiff document is written (atomically) besides the text on stdout."""
    old, new = CORPUS / "ad-lab" / "details-old.xml", CORPUS / "ad-lab" / "details.xml"
    out = tmp_path / "diff.xml"
    result = cli(str(old), str(new), "-oX", str(out))
    assert result.returncode == 1, result.stderr
    assert result.stdout.decode().startswith("-Nmap 7.94SVN scan initiated")
    root = etree.parse(str(out), SAFE).getroot()
    assert root.tag == "nmapdiff" and root.get("version") == "1"
    hostdiffs = root.findall("scandiff/hostdiff")
    assert len(hostdiffs) == 3  # 192.168.198.10 gone, 10.0.0.6 and 10.0.0.10 new
    added = [h.find("b/host") for h in hostdiffs if h.find("b/host") is not None]
    for host in added:  # several results per container, in script-id order
        ids = [s.get("id") for s in host.iterfind("hostscript/script")]
        assert ids == sorted(ids)
    assert any(len(h.findall("hostscript/script")) >= 2 for h in added)
    assert any(len(p.findall("script")) >= 2 for h in added for p in h.iterfind("ports/port"))


def test_errors_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "missing.xml"
    result = cli(str(missing), str(missing))
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.decode().startswith(f"nmapx: {missing}: ")
    assert result.stderr.count(b"\n") == 1
    not_xml = tmp_path / "notes.txt"
    not_xml.write_text("hello\n")
    assert cli(str(not_xml), str(not_xml)).returncode == 2
    keep = tmp_path / "keep.xml"
    keep.write_bytes(b"previous")
    assert cli(str(missing), str(missing), "-oX", str(keep)).returncode == 2
    assert keep.read_bytes() == b"previous"


LIVE_SCANS = r"""
import subprocess, sys, time
from datetime import datetime
sys.path.insert(0, sys.argv[1])
from fixtures.emulators import BannerEmulator, DaytimeEmulator, EmulatorGroup
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
runs = (
    ("old", datetime(2026, 1, 2, 3, 4, 5), b"SSH-2.0-OpenSSH_9.2p1\r\n"),
    ("new", datetime(2026, 1, 2, 3, 4, 6), b"SSH-2.0-OpenSSH_9.6p1\r\n"),
)
for name, clock, banner in runs:
    with EmulatorGroup([DaytimeEmulator(port=13, clock=clock, udp=False),
                        BannerEmulator(banner, port=2222)]):
        subprocess.run(
            f"nmap -n -Pn -sT -p 13,2222 -oX - 127.0.0.1 | {sys.executable} -m nmapx run"
            f" --script daytime,banner -oX {sys.argv[2]}/{name}.xml",
            shell=True, check=True, cwd=sys.argv[1], timeout=120,
        )
    time.sleep(1.1)  # scans started in the same second share their header: ndiff omits it
"""


@needs_nmap
@needs_netns
def test_live_scans_of_loopback_services(tmp_path: Path) -> None:
    """Two real enriched scans of emulated services whose answers changed in between: port 13
    carries two scripts (daytime, banner), both changed; 2222 one. Ndiff crashes on these."""
    subprocess.run(
        ["unshare", "-n", sys.executable, "-c", LIVE_SCANS, str(ROOT), str(tmp_path)],
        check=True,
        timeout=240,
    )
    old, new = tmp_path / "old.xml", tmp_path / "new.xml"
    result = cli(str(old), str(new))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0].startswith("-Nmap 7.93 scan initiated ") and lines[1].startswith("+Nmap 7.93")
    assert lines[2:] == [
        "",
        " 127.0.0.1:",
        " PORT     STATE SERVICE      VERSION",
        " 13/tcp   open  daytime",
        "-|_ banner: Fri Jan  2 03:04:05 2026",
        "+|_ banner: Fri Jan  2 03:04:06 2026",
        "-|_ daytime: Fri Jan  2 03:04:05 2026",
        "+|_ daytime: Fri Jan  2 03:04:06 2026",
        " 2222/tcp open  EtherNetIP-1",
        "-|_ banner: SSH-2.0-OpenSSH_9.2p1",
        "+|_ banner: SSH-2.0-OpenSSH_9.6p1",
    ]
    if shutil.which("ndiff"):
        assert ndiff(str(old), str(new)).returncode == 2


def _truncated_inputs(tmp_path: Path) -> list[tuple[Path, Path]]:
    """(complete file, damaged copy) pairs: the corpus's own cut-off scan and its complete
    original, a scan cut mid-host here, and a scan with one host's start tag damaged."""
    pairs = []
    kept = CORPUS / "python-libnmap" / "broken" / "1_hosts_incomplete.xml"  # no </nmaprun>
    if kept.exists():
        pairs.append((CORPUS / "python-libnmap" / "1_hosts.xml", kept))
    complex_xml = NDIFF_SCANS / "complex.xml"
    cut = tmp_path / "cut.xml"
    cut.write_bytes(complex_xml.read_bytes()[:1500])  # inside the first <host>
    pairs.append((complex_xml, cut))
    source = CORPUS / "nmap-zenmap-test" / "xml_test11.xml"
    data = source.read_bytes()
    starts = [m.start() + 1 for m in re.finditer(rb"\n<host[ >]", data)]
    damaged = tmp_path / "damaged.xml"
    damaged.write_bytes(data[: starts[1]] + b"<hosx" + data[starts[1] + len(b"<host") :])
    pairs.append((source, damaged))
    return pairs


@needs_ndiff
@needs_corpus
def test_truncated_or_damaged_input_is_an_error_like_ndiff(tmp_path: Path) -> None:
    """Ndiff 7.93 refuses a file its XML parser cannot finish: a traceback on stderr (the
    SAXParseException names the file and place, e.g. ``cut.xml:18:192: unclosed token``),
    nothing on stdout, exit 2, whichever side the file is on and in text or XML mode; when
    the first file fails the second is never opened. nmapx does the same, with its one
    line per problem, naming the file and the same line, instead of the traceback."""
    missing = tmp_path / "missing.xml"
    for good, bad in _truncated_inputs(tmp_path):
        for old, new in ((good, bad), (bad, good), (bad, missing)):
            for mode in ((), ("--xml",)):
                reference = ndiff(*mode, str(old), str(new))
                assert (reference.returncode, reference.stdout) == (2, b""), (old, new, mode)
                assert b"Traceback (most recent call last)" in reference.stderr
                place = re.search(
                    rb"SAXParseException: " + re.escape(str(bad).encode()) + rb":(\d+):\d+: ",
                    reference.stderr,
                )
                ndiff_said = reference.stderr.decode().strip().splitlines()[-1]
                if place is None:  # Ndiff's handler asserted on the damaged host instead
                    assert ndiff_said == "AssertionError", ndiff_said
                result = cli(*mode, str(old), str(new))
                assert (result.returncode, result.stdout) == (2, b""), (old, new, mode)
                stderr = result.stderr.decode()
                assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
                assert stderr.startswith(f"nmapx: {bad}:"), stderr
                assert " error: " in stderr, stderr
                if place is not None:  # the same line as Ndiff's parser
                    assert stderr.split(":")[2] == place[1].decode(), (stderr, ndiff_said)
            keep = tmp_path / "keep.xml"
            keep.write_bytes(b"previous")
            assert cli(str(good), str(bad), "-oX", str(keep)).returncode == 2
            assert keep.read_bytes() == b"previous"
