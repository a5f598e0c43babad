"""Real Nmap and nmapx on the same SSH servers inside a private network namespace, compared.

Shared by tests/test_nse_ssh.py and tests/test_nse_ssh_scripts.py. One comparison: Nmap scans
the servers (``-sT``, or ``-sT -sV``) with the scripts and writes ``-oX`` and ``-oN``; its
script results are removed from the XML and the rest is the scan nmapx starts from (the CLI
in-process, inside the namespace); nmapx writes ``-oX`` and ``-oN`` too. Then, per host:

* the whole ``<script ...>...</script>`` element, as bytes. For scripts whose tables are Lua
  hash tables in Nmap (``ssh-hostkey``'s key tables: the ``<elem>`` order differs from one Nmap
  run to the next, its string hash being seeded at random) the bytes are compared with each
  run of consecutive ``<elem>`` lines sorted (:func:`canonical`): everything else, the
  ``output`` attribute above all, stays byte for byte.
* the script's block of ``|`` lines in normal output, byte for byte. Blocks are keyed by host
  and script rather than compared in sequence: Nmap >= 7.92 writes a port's scripts in the
  order they finished.

Nmap's own randomness: 7.93's ``transport.pack_mpint`` (nselib/ssh2.lua) adds a zero byte to
the client's Diffie-Hellman value when its length is a multiple of 8 bytes and none otherwise,
so about one value in 512 (a top byte of zero, then a set bit) goes out negative, the server
refuses it, and ssh-hostkey silently lacks that key (nmapx writes mpints canonically). A run
of Nmap missing a key that the daemon has (:func:`all_host_keys`) is therefore repeated, up to
:data:`NMAP_ATTEMPTS` runs in all: a comparison never rests on that coin.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import nmapx_main

from fixtures.netns import PrivateNetwork
from fixtures.ssh_servers import fake_unavailable

#: The longest a test module's namespace (and the daemons in it) may live, in seconds.
MODULE_LIFETIME = 1800

#: How many times Nmap is run at most when its result lacks a host key (module docstring).
NMAP_ATTEMPTS = 4

#: The host key types Nmap 7.93's ssh-hostkey gets from each profile's daemon (by profile
#: name). None is RSA from the modern one: Nmap asks for ``ssh-rsa`` signatures, which
#: OpenSSH 9 no longer makes by default.
NMAP_HOST_KEY_TYPES = {
    "modern": {"ecdsa-sha2-nistp256", "ssh-ed25519"},
    "legacy": {"ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp521"},
}


def module_network() -> Iterator[PrivateNetwork]:
    """The body of a module-scoped ``network`` fixture: one namespace for the module's
    servers (each on addresses of its own), skipped with the reason when none can be made."""
    reason = fake_unavailable()
    if reason:
        pytest.skip(reason)
    with PrivateNetwork(lifetime=MODULE_LIFETIME) as network:
        yield network


@dataclass(frozen=True)
class Outputs:
    """The ``-oX`` and ``-oN`` files of one run."""

    xml: Path
    normal: Path

    def element(self, address: str, script: str, where: str = "port") -> bytes | None:
        """``script``'s whole ``<script>`` element in ``address``'s ports (``where="port"``),
        its host scripts (``"hostscript"``) or the post-scan results (``"postscript"``,
        ``address`` ignored), as the file has it; None when absent."""
        data = self.xml.read_bytes()
        if where == "postscript":
            section = re.search(rb"<postscript>.*?</postscript>", data, re.S)
            scope = section[0] if section else b""
        else:
            scope = b""
            for host in re.findall(rb"<host[ >].*?</host>", data, re.S):
                if b'<address addr="' + address.encode() + b'"' in host:
                    tag = b"hostscript" if where == "hostscript" else b"ports"
                    found = re.search(b"<" + tag + b">.*?</" + tag + b">", host, re.S)
                    scope = found[0] if found else b""
        element = re.search(
            rb'<script id="' + script.encode() + rb'" .*?(?:/>|</script>)', scope, re.S
        )
        return element[0] if element else None

    def blocks(self) -> dict[tuple[str, str], str]:
        """The ``|`` lines of normal output, one block per (host, script id); the host is
        ``"post"`` for post-scan results."""
        return script_blocks(self.normal.read_text())


def script_blocks(text: str) -> dict[tuple[str, str], str]:
    """``{(host, script id): its | lines}`` of Nmap normal output."""
    found: dict[tuple[str, str], str] = {}
    host, current, script = "", list[str](), ""
    for line in text.splitlines():
        if line.startswith("Nmap scan report for "):
            host = line.removeprefix("Nmap scan report for ").split(" ")[-1].strip("()")
        elif line == "Post-scan script results:":
            host = "post"
        elif line.startswith("|"):
            if not current:
                named = re.match(r"\|[ _]([\w.-]+):", line)
                assert named is not None, line
                script = named[1]
            current.append(line)
            if line.startswith("|_"):
                assert (host, script) not in found, (host, script)
                found[host, script] = "\n".join(current)
                current = []
    assert not current, current
    return found


def canonical(element: bytes | None) -> bytes | None:
    """``element`` with each run of consecutive ``<elem>`` lines sorted (see the module
    docstring); every other byte where it was."""
    if element is None:
        return None
    lines, out, run = element.split(b"\n"), list[bytes](), list[bytes]()
    for line in lines:
        if line.startswith(b"<elem"):
            run.append(line)
            continue
        out += sorted(run)
        run = []
        out.append(line)
    out += sorted(run)
    return b"\n".join(out)


def without_scripts(nmap_xml: Path, into: Path) -> Path:
    """Nmap's XML minus its script results: the scan nmapx starts from."""
    text = re.sub(r"<postscript>.*?</postscript>", "", nmap_xml.read_text(), flags=re.S)
    text = re.sub(r"<hostscript>.*?</hostscript>", "", text, flags=re.S)
    text = re.sub(r"<script .*?(/>|</script>)", "", text, flags=re.S)
    into.write_text(text)
    return into


def all_host_keys(expected: Mapping[str, set[str]]) -> Callable[[Outputs], bool]:
    """Whether Nmap's ssh-hostkey got, for each address, the key types ``expected`` (or
    failed as a whole, which a missing key would not change): see the module docstring."""

    def complete(out: Outputs) -> bool:
        for address, types in expected.items():
            element = out.element(address, "ssh-hostkey")
            if element is None:
                return False
            found = set(re.findall(rb'<elem key="type">([^<]+)</elem>', element))
            if b'output="ERROR: ' not in element and found != {t.encode() for t in types}:
                return False
        return True

    return complete


def run_nmap(
    network: PrivateNetwork,
    targets: Sequence[str],
    select: Sequence[str],
    extra: Sequence[str],
    into: Path,
    *,
    version: bool = False,
    port: int = 22,
    complete: Callable[[Outputs], bool] | None = None,
) -> Outputs:
    """Real Nmap inside ``network`` (``-sT``, with ``-sV`` when ``version``); ``into`` is a
    directory of the test's. Run again while ``complete`` says the result is not (up to
    :data:`NMAP_ATTEMPTS` runs; the last one is returned whatever it holds)."""
    into.mkdir(parents=True, exist_ok=True)
    out = Outputs(into / "nmap.xml", into / "nmap.nmap")
    command = ["nmap", "-n", "-Pn", "-sT", *(["-sV"] if version else []), "-p", str(port)]
    command += [*select, *extra, *targets, "-oX", str(out.xml), "-oN", str(out.normal)]
    for _ in range(NMAP_ATTEMPTS):
        result = network.run(command, timeout=180, text=True)
        assert result.returncode == 0, result.stderr
        if complete is None or complete(out):
            break
    return out


def run_nmapx(
    network: PrivateNetwork,
    scan: Path,
    select: Sequence[str],
    extra: Sequence[str],
    into: Path,
    *,
    limit: float = 60,
) -> Outputs:
    """nmapx's CLI in-process, inside ``network``, on ``scan``; asserts success, no
    traceback, and an end within ``limit`` seconds."""
    out = Outputs(into / "nmapx.xml", into / "nmapx.nmap")
    started = time.monotonic()
    with network.entered():
        result = nmapx_main(
            "run", str(scan), *select, *extra, "-oX", str(out.xml), "-oN", str(out.normal)
        )
    assert time.monotonic() - started < limit
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    return out


def compare(
    network: PrivateNetwork,
    targets: Sequence[str],
    script: str,
    into: Path,
    flags: Sequence[str] = (),
    args: str = "",
    *,
    nmap_select: Sequence[str] = (),
    nmapx_select: Sequence[str] = (),
    version: bool = False,
    unordered: bool = False,
    complete: Callable[[Outputs], bool] | None = None,
) -> dict[str, bytes | None]:
    """Nmap then nmapx (see the module docstring); asserts, for every target, the same
    element and the same block of ``|`` lines. Returns Nmap's elements by target.

    ``nmap_select``/``nmapx_select`` default to ``--script SCRIPT``; ``unordered`` compares
    the elements :func:`canonical`; ``complete`` is :func:`run_nmap`'s.
    """
    extra = [*flags, *(["--script-args", args] if args else [])]
    select = nmap_select or ["--script", script]
    nmap_out = run_nmap(network, targets, select, extra, into, version=version, complete=complete)
    scan = without_scripts(nmap_out.xml, into / "scan.xml")
    ours = run_nmapx(network, scan, nmapx_select or ["--script", script], extra, into)
    expected: dict[str, bytes | None] = {}
    nmap_blocks, our_blocks = nmap_out.blocks(), ours.blocks()
    for address in targets:
        theirs = nmap_out.element(address, script)
        mine = ours.element(address, script)
        if unordered:
            assert canonical(mine) == canonical(theirs), address
        else:
            assert mine == theirs, address
        assert our_blocks.get((address, script)) == nmap_blocks.get((address, script)), address
        assert (theirs is None) == ((address, script) not in nmap_blocks)
        expected[address] = theirs
    return expected
