"""``nmapx plan``: the engine's own rule verdicts, offline, with what ``get_port_state`` saw."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT, needs_nmap, nmapx_main

SCANME = CORPUS / "python-nmap" / "scanme_output-7.91.xml"
SIMPLE = CORPUS / "nmap-ndiff-test-scans" / "simple.xml"
needs_corpus = pytest.mark.skipif(not SCANME.exists(), reason="shared corpus missing")
needs_netns = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None,
    reason="needs root, unshare and ip to build a private network namespace",
)


@needs_corpus
def test_plan_of_a_small_corpus_file_exact() -> None:
    """auth-owners asks about 113/tcp, which Nmap folded into ``<extraports>`` as closed: the
    plan says so; daytime's rule sees no daytime port; banner.ports limits banner."""
    result = nmapx_main(
        "plan", str(SCANME), "--script", "auth-owners,daytime,banner",
        "--script-args", "banner.ports=22-80",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert result.stdout.decode() == (
        f"Plan for {SCANME}: 3 scripts (auth-owners, banner, daytime);"
        " rules evaluated offline, no probe is sent.\n"
        "\n"
        "Host 45.33.32.156 (scanme.nmap.org): up\n"
        "  PORT       STATE  SERVICE     SCRIPT       RULE         DETAIL\n"
        "  22/tcp     open   ssh         auth-owners  not matched  get_port_state: 113/tcp closed (extraports)\n"
        "  22/tcp     open   ssh         banner       matched\n"
        "  22/tcp     open   ssh         daytime      not matched\n"
        "  80/tcp     open   http        auth-owners  not matched  get_port_state: 113/tcp closed (extraports)\n"
        "  80/tcp     open   http        banner       matched\n"
        "  80/tcp     open   http        daytime      not matched\n"
        "  9929/tcp   open   nping-echo  auth-owners  not matched  get_port_state: 113/tcp closed (extraports)\n"
        "  9929/tcp   open   nping-echo  banner       not matched\n"
        "  9929/tcp   open   nping-echo  daytime      not matched\n"
        "  31337/tcp  open   tcpwrapped  auth-owners  not matched  get_port_state: 113/tcp closed (extraports)\n"
        "  31337/tcp  open   tcpwrapped  banner       not matched\n"
        "  31337/tcp  open   tcpwrapped  daytime      not matched\n"
        "  Not offered to port rules (only open, open|filtered and unfiltered ports are):"
        " 3 filtered, 993 closed (extraports)\n"
        "\n"
        "Plan: 1 host (1 up); 2 script threads would run; 10 rules did not match; 0 rule errors.\n"
    )


@needs_corpus
def test_forced_scripts_and_down_hosts_and_json() -> None:
    """'+' skips the rule; JSON Lines carry the same verdicts, one object per host."""
    path = CORPUS / "nmap-ndiff-test-scans" / "random-1.xml"
    result = nmapx_main("plan", str(path), "--script", "+daytime", "--format", "json")
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert objects[0] == {"type": "plan", "input": str(path), "scripts": ["daytime"]}
    hosts = [o for o in objects if o["type"] == "host"]
    summary = objects[-1]
    assert summary["type"] == "summary"
    assert (
        summary["hosts"]
        == len(hosts)
        == path.read_bytes().count(b"<host ") + path.read_bytes().count(b"<host>")
    )
    up = [h for h in hosts if h["status"] == "up"]
    assert summary["up"] == len(up)
    offered = sum(len(h["rules"]) for h in up)
    assert summary["threads"] == offered > 0
    assert all(r["result"] == "forced" for h in up for r in h["rules"])
    assert all(h["rules"] == [] for h in hosts if h["status"] != "up")
    for host in up:
        for rule in host["rules"]:
            assert rule["state"] in ("open", "open|filtered", "unfiltered")


def test_rule_errors_and_network_refusal_are_shown_not_raised(
    tmp_path: Path, listener_factory
) -> None:
    """A rule that raises is an ``error`` row with its message; a rule that tries to connect
    is refused by --no-network (the listener sees no connection); no traceback anywhere."""
    listener = listener_factory(b"hello\r\n")
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "broken_rule.py").write_text(
        "categories = ['safe']\n"
        "def portrule(host, port):\n"
        "    raise ValueError('no idea what ' + str(port.number) + ' is')\n"
        "def action(host, port):\n    return 'x'\n"
    )
    (scripts / "sneaky_rule.py").write_text(
        "from nmapx.nse import nmap\n"
        "categories = ['safe']\n"
        "async def portrule(host, port):\n"
        "    sock = nmap.new_socket()\n"
        "    await sock.connect(host, port)\n"
        "    return True\n"
        "def action(host, port):\n    return 'x'\n"
    )
    scan = tmp_path / "scan.xml"
    scan.write_text(
        '<?xml version="1.0"?>\n<nmaprun scanner="nmap" args="nmap" start="1" version="7.93">\n'
        '<scaninfo type="connect" protocol="tcp" numservices="1" services="'
        f'{listener.port}"/>\n'
        '<host><status state="up" reason="user-set"/><address addr="127.0.0.1" addrtype="ipv4"/>\n'
        f'<ports><port protocol="tcp" portid="{listener.port}"><state state="open" reason="syn-ack"/>'
        "</port></ports></host>\n"
        '<runstats><finished time="2"/><hosts up="1" down="0" total="1"/></runstats>\n</nmaprun>\n'
    )
    result = nmapx_main("plan", str(scan), "--script", f"{scripts}/")
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stdout + result.stderr
    lines = result.stdout.decode().splitlines()
    broken = next(line for line in lines if "  broken-rule  " in line)
    assert broken.split() == [f"{listener.port}/tcp", "open", "broken-rule", "error",
                              "ValueError:", "no", "idea", "what", str(listener.port), "is"]  # fmt: skip
    sneaky = next(line for line in lines if "  sneaky-rule  " in line)
    assert sneaky.split()[2:4] == ["sneaky-rule", "error"]
    assert "network access refused (--no-network): 127.0.0.1" in sneaky
    assert lines[-1] == (
        "Plan: 1 host (1 up); 0 script threads would run; 0 rules did not match; 2 rule errors."
    )
    assert listener.connections == 0


SCAN_EMULATORS = r"""
import subprocess, sys
sys.path.insert(0, sys.argv[1])
from fixtures.emulators import EmulatorGroup, default_emulators
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
with EmulatorGroup(default_emulators(maxcube_discovery_port=None)):
    subprocess.run(
        ["nmap", "-n", "-Pn", "-sT", "-p", "13,22,113,4242,62910", "--reason", "-oX",
         sys.argv[2], "127.0.0.1"],
        check=True, capture_output=True, timeout=120,
    )
"""


@needs_nmap
@needs_netns
def test_plan_of_a_live_nmap_scan_of_the_emulators(tmp_path: Path) -> None:
    """Real Nmap scans the emulators on their real ports in a private namespace; the plan of
    that scan matches each built-in script's rule to exactly the ports it is for."""
    scan = tmp_path / "live.xml"
    subprocess.run(
        ["unshare", "-n", sys.executable, "-c", SCAN_EMULATORS, str(ROOT), str(scan)],
        check=True,
        timeout=180,
    )
    result = nmapx_main(
        "plan", str(scan), "--script", "auth-owners,daytime,maxcube-info", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    (host,) = [json.loads(x) for x in result.stdout.decode().splitlines() if '"host"' in x]
    assert host["address"] == "127.0.0.1"
    matched = {(r["script"], r["port"]) for r in host["rules"] if r["result"] == "matched"}
    assert matched == {
        ("auth-owners", "13/tcp"),
        ("auth-owners", "113/tcp"),
        ("auth-owners", "4242/tcp"),
        ("auth-owners", "62910/tcp"),
        ("daytime", "13/tcp"),
        ("maxcube-info", "62910/tcp"),
    }
    assert host["not_offered"] == {"closed": 1}  # 22/tcp: nothing listens there
    seen = {
        (r["port"], s["port"], s["state"], s["origin"])
        for r in host["rules"]
        if r["script"] == "auth-owners"
        for s in r["get_port_state"]
    }
    assert seen == {
        (p, "113/tcp", "open", "port") for p in ("13/tcp", "113/tcp", "4242/tcp", "62910/tcp")
    }
    text = nmapx_main("plan", str(scan), "--script", "auth-owners,daytime,maxcube-info")
    assert (
        "  Not offered to port rules (only open, open|filtered and unfiltered ports are):"
        " 1 closed\n" in text.stdout.decode()
    )
