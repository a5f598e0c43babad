"""``nmapx scripts [EXPR]`` and ``--script-help EXPR``: layout, selection, errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import nmapx_main

from nmapx.engine.loader import BUILTIN_DIR

AUTH_OWNERS = BUILTIN_DIR / "auth_owners.py"
DAYTIME = BUILTIN_DIR / "daytime.py"

EXPECTED_HELP = f"""
auth-owners
Categories: default safe
File: {AUTH_OWNERS}
Rules: portrule
  Attempts to find the owner of an open TCP port by querying an auth
  daemon which must also be open on the target system. The auth service,
  also known as identd, normally runs on port 113.

  A port of Nmap's ``auth-owners.nse`` (RFC 1413): its rule, request and reply parsing, and
  therefore its output, are the same. One difference changes what is found, never how it is
  printed: when identd answers NO-USER, it is asked again after a short wait (3.75 s at most),
  since a busy service may not have accepted the probe's connection yet.

daytime
Categories: discovery safe
File: {DAYTIME}
Rules: portrule
  Retrieves the day and time from the Daytime service.

  A port of Nmap's ``daytime.nse``: the raw first line is the result, so a server ending its
  line with CRLF shows ``\\x0D`` in normal output, exactly as Nmap prints it. UDP too.
"""


def test_run_script_help_prints_help_and_exits() -> None:
    """``nmapx run --script-help`` prints every selected script's block and reads no input."""
    result = nmapx_main("run", "--script-help", "auth-owners,daytime")
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert result.stdout.decode() == EXPECTED_HELP


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
def test_layout_follows_nmap_script_help() -> None:
    """Nmap's own block for auth-owners, with its NSEDoc URL line replaced by nmapx's File and
    Rules lines, is the beginning of nmapx's block: same id line, categories and description."""
    nmap = subprocess.run(
        ["nmap", "--script-help", "auth-owners"], capture_output=True, text=True, timeout=60
    )
    assert nmap.returncode == 0
    block = nmap.stdout[nmap.stdout.index("\nauth-owners\n") :].rstrip("\n").split("\n")
    assert block[3] == "https://nmap.org/nsedoc/scripts/auth-owners.html"
    ours = nmapx_main("scripts", "--script-help", "auth-owners").stdout.decode().split("\n")
    assert ours[:3] == block[:3]
    assert ours[3:5] == [f"File: {AUTH_OWNERS}", "Rules: portrule"]
    assert ours[5 : 5 + len(block) - 4] == block[4:]


def test_arguments_and_rules_of_a_script_file(tmp_path: Path) -> None:
    script = tmp_path / "my_probe.py"
    script.write_text(
        '"""Looks at things.\n\n'
        "@usage nmapx run scan.xml --script ./my_probe.py\n"
        "@args my-probe.depth How deep to look, from 1 to 9; a long description that\n"
        "    goes on over the next line. Default: 3\n"
        "@args my-probe.flag Whether to look.\n"
        '"""\n'
        "categories = ['discovery', 'Intrusive']\n\n"
        "def prerule():\n    return False\n\n"
        "def hostrule(host):\n    return True\n\n"
        "def action(host=None):\n    return None\n"
    )
    result = nmapx_main("scripts", "--script-help", str(script))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == (
        "\nmy-probe\n"
        "Categories: discovery intrusive\n"
        f"File: {script}\n"
        "Rules: prerule hostrule\n"
        "  Looks at things.\n"
        "Arguments:\n"
        "  my-probe.depth\n"
        "    How deep to look, from 1 to 9; a long description that goes on over the next\n"
        "    line. Default: 3\n"
        "  my-probe.flag\n"
        "    Whether to look.\n"
    )


def test_scripts_lists_everything_without_expression() -> None:
    result = nmapx_main("scripts")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0].split() == ["SCRIPT", "CATEGORIES", "FILE"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    expected = {p.stem.replace("_", "-") for p in BUILTIN_DIR.glob("*.py") if p.stem[0] != "_"}
    # a module's own ``id`` wins: Nmap's id has a dot that a module name cannot have
    expected = (expected - {"http-robots-txt"}) | {"http-robots.txt"}
    assert set(rows) == expected
    assert rows["auth-owners"] == ["default,safe", str(AUTH_OWNERS)]
    assert rows["daytime"] == ["discovery,safe", str(DAYTIME)]
    # aligned: every FILE column starts at the same offset
    assert len({line.index("/") for line in lines[1:]}) == 1


def test_scripts_uses_script_selection_semantics() -> None:
    """Same grammar as --script: categories, 'not', globs; the header plus matching rows."""
    default = nmapx_main("scripts", "default").stdout.decode().splitlines()
    ids = [line.split()[0] for line in default[1:]]
    assert ids == sorted(ids) and "http-title" in ids and "banner" not in ids
    assert all("default" in line.split()[1].split(",") for line in default[1:])
    # (the exact lists of default, safe and version: test_script_categories.py)
    rows = nmapx_main("scripts", "safe and not (banner or auth-*)").stdout.decode().splitlines()
    ids = [line.split()[0] for line in rows[1:]]
    assert "daytime" in ids and "banner" not in ids and "auth-owners" not in ids
    assert all("safe" in line.split()[1].split(",") for line in rows[1:])


def test_unknown_expression_fails_like_nmap() -> None:
    for argv in (("scripts", "no-such-script"), ("run", "--script-help", "no-such-script")):
        result = nmapx_main(*argv)
        assert result.returncode == 1
        assert result.stdout == b""
        assert b"'no-such-script' did not match a category, filename, or directory" in result.stderr
