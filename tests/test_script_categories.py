"""``--script default``, ``safe``, ``version`` (and other category expressions) select among
nmapx's scripts exactly what Nmap 7.93 selects among its own.

Two halves: every built-in script that ports one of Nmap's has Nmap's categories (read from
the installed ``script.db``), and for each expression the scripts nmapx selects are the ones
``nmap --script-help EXPR`` lists that nmapx has, plus nmapx's own scripts (no Nmap
counterpart) by their categories. The expected lists are also written out for three
expressions, so a change of categories shows in review. (The selection algorithm itself is
compared with Nmap's on Nmap's whole catalogue in test_selection.py.)
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import nmapx_main

SCRIPT_DB = Path("/usr/share/nmap/scripts/script.db")
pytestmark = pytest.mark.skipif(
    shutil.which("nmap") is None or not SCRIPT_DB.is_file(),
    reason="nmap or its script.db is not installed",
)

#: nmapx's scripts that port no Nmap script (their categories are their own).
OWN = {"maxcube-info", "broadcast-maxcube-discover"}


def _nmap_db() -> dict[str, set[str]]:
    entry = re.compile(r'Entry \{ filename = "([^"]+)\.nse", categories = \{([^}]*)\} \}')
    return {
        m[1]: set(re.findall(r'"([^"]*)"', m[2])) for m in entry.finditer(SCRIPT_DB.read_text())
    }


def _nmapx_listing(expression: str) -> dict[str, set[str]]:
    """``nmapx scripts EXPR``: id -> categories, from its table."""
    result = nmapx_main("scripts", expression)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0].split() == ["SCRIPT", "CATEGORIES", "FILE"]
    return {line.split()[0]: set(line.split()[1].split(",")) for line in lines[1:]}


def _nmap_selects(expression: str) -> set[str]:
    result = subprocess.run(
        ["nmap", "--script-help", expression],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(re.findall(r"^(\S+)\nCategories: ", result.stdout, re.M))


def test_ported_scripts_have_nmaps_categories() -> None:
    db = _nmap_db()
    ours = _nmapx_listing("all")
    ported = {name: cats for name, cats in ours.items() if name not in OWN}
    assert set(ported) <= set(db), set(ported) - set(db)
    assert {name: db[name] for name in ported} == ported
    assert len(ported) == 31


@pytest.mark.parametrize(
    "expression",
    [
        "default",
        "safe",
        "version",
        "discovery",
        "auth",
        "intrusive",
        "default or version",
        "safe and not default",
        "not intrusive",
        "(default or discovery) and not version",
        "http-* and default",
        "ssh-* or ssl-*",
    ],
)
def test_selection_is_nmaps_among_the_scripts_nmapx_has(expression: str) -> None:
    ours = _nmapx_listing(expression)
    everything = _nmapx_listing("all")
    nmap_selected = _nmap_selects(expression)
    expected = {name for name in everything if name not in OWN and name in nmap_selected}
    assert {name for name in ours if name not in OWN} == expected


def test_the_three_lists_users_ask_for() -> None:
    assert sorted(_nmapx_listing("default")) == [
        "auth-owners", "dns-nsid", "dns-recursion", "ftp-anon", "ftp-syst", "http-auth",
        "http-generator", "http-methods", "http-robots.txt", "http-title", "imap-capabilities",
        "mysql-info", "ntp-info", "pop3-capabilities", "rpcinfo", "smtp-commands", "snmp-info",
        "snmp-sysdescr", "ssh-hostkey", "ssl-cert", "ssl-date", "tls-alpn", "vnc-info",
    ]  # fmt: skip
    assert sorted(_nmapx_listing("version")) == ["http-server-header", "rpcinfo", "snmp-info"]
    assert sorted(_nmapx_listing("safe")) == [
        "auth-owners", "banner", "broadcast-maxcube-discover", "daytime", "dns-nsid",
        "dns-recursion", "ftp-anon", "ftp-syst", "http-auth", "http-generator", "http-headers",
        "http-methods", "http-robots.txt", "http-title", "imap-capabilities", "maxcube-info",
        "memcached-info", "mysql-info", "ntp-info", "pop3-capabilities", "redis-info",
        "rpcinfo", "smtp-commands", "snmp-info", "snmp-sysdescr", "ssh-hostkey",
        "ssh2-enum-algos", "ssl-cert", "ssl-date", "tls-alpn", "vnc-info",
    ]  # fmt: skip
