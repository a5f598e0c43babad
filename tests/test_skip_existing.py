"""``--skip-existing``: a second pass over an archive keeps what the input holds and probes the
rest; without it a new result replaces the old one of the same id in place.

The servers are banner listeners on 2001 and 2002 inside a private network (conftest's
``in_private_network``); each counts its connections, which is how the tests prove that a
held port was never contacted (not merely that its old result survived).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import Listener, loopback_scan, nmapx_main

OLD = b'<script id="banner" output="old banner from the archive"/>'


def _archive(tmp_path: Path) -> Path:
    """A scan of 2001 and 2002 whose 2001 already holds a banner result (and 2002 another
    script's), as an earlier enrichment or ``-sC`` would have left them."""
    scan = loopback_scan(tmp_path / "scan.xml", [2001, 2002], service="unknown")
    data = scan.read_bytes()
    data = data.replace(b'conf="3"/></port>\n', b'conf="3"/>' + OLD + b"</port>\n", 1)
    data = data.replace(
        b'conf="3"/></port>\n', b'conf="3"/><script id="daytime" output="x"/></port>\n', 1
    )
    scan.write_bytes(data)
    return scan


def _listeners() -> tuple[Listener, Listener]:
    return Listener(b"first service\r\n", port=2001), Listener(b"second service\r\n", port=2002)


def _scripts_of(xml: bytes, port: int) -> list[bytes]:
    start = xml.index(b'portid="%d"' % port)
    end = xml.index(b"</port>", start)
    return [chunk.split(b"/>")[0] for chunk in xml[start:end].split(b"<script ")[1:]]


def test_skip_existing_keeps_held_results_and_never_contacts_their_ports(
    tmp_path: Path, in_private_network: Any
) -> None:
    scan = _archive(tmp_path)
    first, second = _listeners()
    try:
        out = tmp_path / "out.xml"
        result = nmapx_main(
            "run", str(scan), "--script", "banner", "--skip-existing", "-d", "-oX", str(out)
        )
        assert result.returncode == 0, result.stderr
        xml = out.read_bytes()
        assert _scripts_of(xml, 2001) == [b'id="banner" output="old banner from the archive"']
        assert _scripts_of(xml, 2002) == [
            b'id="banner" output="second service"',
            b'id="daytime" output="x"',
        ]
        assert (first.connections, second.connections) == (0, 1)
        assert (
            "NSE: Skipping banner against 127.0.0.1:2001: the input holds its result"
            " (--skip-existing)." in result.stderr.decode()
        )
        # Only the new result was added: everything else is the input's bytes.
        assert xml.replace(b'<script id="banner" output="second service"/>', b"") == (
            scan.read_bytes()
        )
    finally:
        first.close()
        second.close()


def test_without_it_a_new_result_replaces_the_old_in_place(
    tmp_path: Path, in_private_network: Any
) -> None:
    scan = _archive(tmp_path)
    first, second = _listeners()
    try:
        result = nmapx_main("run", str(scan), "--script", "banner", "-oX", "-")
        assert result.returncode == 0, result.stderr
        assert _scripts_of(result.stdout, 2001) == [b'id="banner" output="first service"']
        assert (first.connections, second.connections) == (1, 1)
        assert b"old banner" not in result.stdout
    finally:
        first.close()
        second.close()


def test_plan_shows_what_skip_existing_would_keep(tmp_path: Path) -> None:
    scan = _archive(tmp_path)
    result = nmapx_main("plan", str(scan), "--script", "banner", "--skip-existing")
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert (
        "2001/tcp  open   unknown  banner  held     the input holds its result"
        " (--skip-existing): the rule is not called"
    ) in text, text
    assert "2002/tcp  open   unknown  banner  matched" in text, text
    assert text.endswith(
        "Plan: 1 host (1 up); 1 script thread would run; 0 rules did not match; 0 rule errors;"
        " 1 result held by the input.\n"
    ), text


def test_a_script_with_no_new_result_leaves_the_old_one(
    tmp_path: Path, in_private_network: Any
) -> None:
    """Nothing listens on 2001 now: banner returns nothing there, so the archive's result
    stays exactly as it was (a re-run never erases what it could not replace)."""
    scan = _archive(tmp_path)
    second = Listener(b"second service\r\n", port=2002)
    try:
        result = nmapx_main("run", str(scan), "--script", "banner", "-oX", "-")
        assert result.returncode == 0, result.stderr
        assert _scripts_of(result.stdout, 2001) == [
            b'id="banner" output="old banner from the archive"'
        ]
        assert _scripts_of(result.stdout, 2002)[0] == b'id="banner" output="second service"'
    finally:
        second.close()
