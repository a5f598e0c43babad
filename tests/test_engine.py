"""Engine semantics with Python scripts against loopback listeners: rules, forcing, runlevels,
verbosity boost, timeouts, single-connection ports, scope and errors."""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

import pytest
from conftest import nmapx_main

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    '<nmaprun scanner="nmap" args="nmap -sT 127.0.0.1" start="1700000000" version="7.93" xmloutputversion="1.05">\n'
    '<scaninfo type="connect" protocol="tcp" numservices="3" services="{services}"/>\n'
    '<verbose level="0"/>\n<debugging level="0"/>\n'
)
HOST = (
    '<host starttime="1700000000" endtime="1700000001"><status state="up" reason="user-set" reason_ttl="0"/>\n'
    '<address addr="{addr}" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n<ports>{ports}</ports>\n'
    '<times srtt="100" rttvar="50" to="100000"/>\n</host>\n'
)
PORT = (
    '<port protocol="tcp" portid="{number}"><state state="{state}" reason="syn-ack" reason_ttl="0"/>'
    '<service name="{service}" method="table" conf="3"/></port>\n'
)
TAIL = (
    '<runstats><finished time="1700000002" timestr="x" summary="y" elapsed="2.00" exit="success"/>'
    '<hosts up="1" down="0" total="1"/>\n</runstats>\n</nmaprun>\n'
)


def scan(tmp_path: Path, ports: list[tuple[int, str]], addr: str = "127.0.0.1") -> Path:
    body = "".join(PORT.format(number=n, state=s, service="x") for n, s in ports)
    services = ",".join(str(n) for n, _ in ports) or "1"
    path = tmp_path / "scan.xml"
    path.write_text(HEAD.format(services=services) + HOST.format(addr=addr, ports=body) + TAIL)
    return path


def script(directory: Path, name: str, source: str) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def results(xml: str) -> dict[str, list[str]]:
    """``{"portid or host": [id=output, ...]}`` from enriched XML."""
    found: dict[str, list[str]] = {}
    for match in re.finditer(r'<port protocol="tcp" portid="(\d+)">(.*?)</port>', xml, re.S):
        found[match[1]] = re.findall(r'<script id="([^"]+)" output="([^"]*)"', match[2])
    host = re.search(r"<hostscript>(.*?)</hostscript>", xml, re.S)
    if host:
        found["host"] = re.findall(r'<script id="([^"]+)" output="([^"]*)"', host[1])
    return found


def test_portrules_see_only_open_like_ports_and_rule_errors_are_results(tmp_path: Path) -> None:
    script(
        tmp_path / "s",
        "states",
        """
        categories = ["safe"]
        def portrule(host, port):
            if port.number == 9:
                raise RuntimeError("bug in the rule")
            return True
        def action(host, port):
            return f"{port.state} {host.ip}"
    """,
    )
    source = scan(
        tmp_path,
        [
            (7, "open"),
            (8, "closed"),
            (9, "open"),
            (10, "open|filtered"),
            (11, "filtered"),
            (12, "unfiltered"),
        ],
    )
    out = nmapx_main("run", str(source), "--script", f"{tmp_path / 's'}/", "-oX", "-")
    assert out.returncode == 0, out.stderr
    assert results(out.stdout.decode()) == {
        "7": [("states", "open 127.0.0.1")],
        "8": [],
        "9": [("states", "ERROR: Script execution failed (use -d to debug)")],
        "10": [("states", "open|filtered 127.0.0.1")],
        "11": [],
        "12": [("states", "unfiltered 127.0.0.1")],
    }


def test_plus_forces_the_action_only_in_phases_the_script_has(tmp_path: Path) -> None:
    script(
        tmp_path / "s",
        "never",
        """
        categories = ["safe"]
        def hostrule(host):
            return False
        def action(host):
            return "forced"
    """,
    )
    source = scan(tmp_path, [(7, "open")])
    plain = nmapx_main("run", str(source), "--script", f"{tmp_path / 's'}/never.py", "-oX", "-")
    forced = nmapx_main("run", str(source), "--script", f"+{tmp_path / 's'}/never.py", "-oX", "-")
    assert results(plain.stdout.decode()) == {"7": []}
    assert results(forced.stdout.decode()) == {"7": [], "host": [("never", "forced")]}


def test_runlevels_order_dependent_scripts_on_a_host(tmp_path: Path) -> None:
    script(
        tmp_path / "s",
        "first",
        """
        from nmapx.nse import stdnse
        categories = ["safe"]
        def hostrule(host):
            return True
        async def action(host):
            await stdnse.sleep(0.3)
            host.registry["seen"] = "from first"
    """,
    )
    script(
        tmp_path / "s",
        "second",
        """
        categories = ["safe"]
        dependencies = ["first"]
        def hostrule(host):
            return True
        def action(host):
            return host.registry.get("seen", "nothing")
    """,
    )
    source = scan(tmp_path, [(7, "open")])
    out = nmapx_main("run", str(source), "--script", f"{tmp_path / 's'}/", "-oX", "-", "-v2")
    assert results(out.stdout.decode())["host"] == [("second", "from first")]
    assert "NSE: Starting runlevel 1 (of 2) scan.\n" in out.stderr.decode()
    assert "NSE: Starting runlevel 2 (of 2) scan.\n" in out.stderr.decode()


def test_verbosity_is_boosted_for_scripts_selected_by_name(tmp_path: Path) -> None:
    script(
        tmp_path / "s",
        "loud",
        """
        from nmapx.nse import nmap
        categories = ["safe"]
        def hostrule(host):
            return True
        def action(host):
            return f"verbosity {nmap.verbosity()} debugging {nmap.debugging()}"
    """,
    )
    source = scan(tmp_path, [(7, "open")])
    by_name = nmapx_main("run", str(source), "--script", str(tmp_path / "s" / "loud.py"), "-oX", "-")
    by_dir = nmapx_main("run", str(source), "--script", f"{tmp_path / 's'}/", "-oX", "-", "-d")
    assert results(by_name.stdout.decode())["host"] == [("loud", "verbosity 1 debugging 0")]
    # Nmap 7.93: -d raises the verbosity as well (a directory gives no boost)
    assert results(by_dir.stdout.decode())["host"] == [("loud", "verbosity 1 debugging 1")]


def test_script_timeout_drops_the_result(tmp_path: Path) -> None:
    script(
        tmp_path / "s",
        "slow",
        """
        from nmapx.nse import stdnse
        categories = ["safe"]
        def hostrule(host):
            return True
        async def action(host):
            await stdnse.sleep(5)
            return "late"
    """,
    )
    source = scan(tmp_path, [(7, "open")])
    started = time.monotonic()
    out = nmapx_main(
        "run",
        str(source),
        "--script",
        f"{tmp_path / 's'}/",
        "--script-timeout",
        "1s",
        "-d",
        "-oX",
        "-",
    )
    assert time.monotonic() - started < 4.5
    assert "host" not in results(out.stdout.decode())
    assert "NSE: Set script-timeout as: 1 seconds\n" in out.stderr.decode()
    assert "NSE: slow against 127.0.0.1 timed out\n" in out.stderr.decode()


def test_host_timeout_discards_that_hosts_results(tmp_path: Path) -> None:
    script(
        tmp_path / "s",
        "quick",
        """
        categories = ["safe"]
        def hostrule(host):
            return True
        def action(host):
            return "quick"
    """,
    )
    script(
        tmp_path / "s",
        "slow",
        """
        from nmapx.nse import stdnse
        categories = ["safe"]
        def hostrule(host):
            return True
        async def action(host):
            await stdnse.sleep(5)
            return "late"
    """,
    )
    source = scan(tmp_path, [(7, "open")])
    out = nmapx_main(
        "run", str(source), "--script", f"{tmp_path / 's'}/", "--host-timeout", "1", "-oX", "-"
    )
    assert out.returncode == 0
    assert out.stdout == source.read_bytes()  # no result of that host is written
    assert "host timeout (1s) expired during the script scan" in out.stderr.decode()


def test_scripts_may_only_contact_hosts_of_the_input(tmp_path: Path, listener_factory) -> None:
    """A script aiming at another address is refused before any packet is sent."""
    victim = listener_factory(host="127.0.0.3")
    script(
        tmp_path / "s",
        "wander",
        f"""
        from nmapx.nse import nmap
        categories = ["safe"]
        def hostrule(host):
            return True
        async def action(host):
            sock = nmap.new_socket()
            await sock.connect("127.0.0.3", {victim.port})
            return "connected"
    """,
    )
    source = scan(tmp_path, [(7, "open")], addr="127.0.0.2")
    out = nmapx_main("run", str(source), "--script", f"{tmp_path / 's'}/", "-oX", "-")
    assert "host" not in results(out.stdout.decode())
    assert "wander against 127.0.0.2: 127.0.0.3 is not a host of the input" in out.stderr.decode()
    excluded = nmapx_main(
        "run",
        str(scan(tmp_path, [(7, "open")], addr="127.0.0.3")),
        "--script",
        f"{tmp_path / 's'}/",
        "--exclude",
        "127.0.0.0/24",
        "-oX",
        "-",
    )
    assert "127.0.0.3 is not a host of the input (or is excluded)" in excluded.stderr.decode()
    offline = nmapx_main(
        "run",
        str(scan(tmp_path, [(7, "open")], addr="127.0.0.3")),
        "--script",
        f"{tmp_path / 's'}/",
        "--no-network",
        "-oX",
        "-",
    )
    assert "network access refused (--no-network): 127.0.0.3" in offline.stderr.decode()
    assert victim.connections == 0


def test_single_connection_ports_never_see_two_scripts_at_once(
    tmp_path: Path, listener_factory
) -> None:
    listener = listener_factory(b"hello\r\n")
    body = """
        from nmapx.nse import nmap, stdnse
        categories = ["safe"]
        {extra}
        def portrule(host, port):
            return True
        async def action(host, port):
            active = nmap.registry.setdefault("active", [])
            active.append(1)
            overlap = len(active)
            await stdnse.sleep(0.3)
            active.pop()
            return f"overlap {{overlap}}"
    """
    for name in ("a", "b", "c"):
        script(
            tmp_path / "s",
            name,
            body.format(extra="single_connection = True" if name == "a" else ""),
        )
    source = scan(tmp_path, [(listener.port, "open")])
    out = nmapx_main("run", str(source), "--script", f"{tmp_path / 's'}/", "-oX", "-")
    assert results(out.stdout.decode())[str(listener.port)] == [
        ("a", "overlap 1"),
        ("b", "overlap 1"),
        ("c", "overlap 1"),
    ]
    for name in ("a", "b", "c"):
        script(tmp_path / "t", name, body.format(extra=""))
    free = nmapx_main("run", str(source), "--script", f"{tmp_path / 't'}/", "-oX", "-")
    assert [o for _, o in results(free.stdout.decode())[str(listener.port)]] != ["overlap 1"] * 3


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("no-such-script", "'no-such-script' did not match a category, filename, or directory"),
        ("daytime and", "'daytime and' did not match a category, filename, or directory"),
    ],
)
def test_unknown_scripts_fail_before_any_probe(
    tmp_path: Path, expr: str, message: str, listener_factory
) -> None:
    listener = listener_factory()
    out_file = tmp_path / "out.xml"
    source = scan(tmp_path, [(listener.port, "open")])
    out = nmapx_main("run", str(source), "--script", f"banner,{expr}", "-oX", str(out_file))
    assert out.returncode == 1
    assert out.stderr.decode() == f"nmapx: {message}\nnmapx: QUITTING!\n"
    assert listener.connections == 0
    assert not out_file.exists()


def test_each_thread_gets_its_own_tables_but_shares_the_registry(tmp_path: Path) -> None:
    """NSE copies the host and port tables per thread; only host.registry is shared."""
    for name, delay in (("a_mutator", 0), ("b_reader", 0.3)):
        script(
            tmp_path / "s",
            name,
            f"""
            from nmapx.nse import stdnse
            categories = ["safe"]
            def portrule(host, port):
                return True
            async def action(host, port):
                await stdnse.sleep({delay})
                seen = f"{{port.version.name}} {{sorted(host.times)}} {{host.registry.get('mark')}}"
                port.version.name = "changed"
                host.times.clear()
                host.registry["mark"] = "{name}"
                return seen
            """,
        )
    source = scan(tmp_path, [(7, "open")])
    out = nmapx_main("run", str(source), "--script", f"{tmp_path / 's'}/", "-oX", "-")
    assert results(out.stdout.decode())["7"] == [
        ("a-mutator", "x [&apos;rttvar&apos;, &apos;srtt&apos;, &apos;timeout&apos;] None"),
        ("b-reader", "x [&apos;rttvar&apos;, &apos;srtt&apos;, &apos;timeout&apos;] a_mutator"),
    ]
