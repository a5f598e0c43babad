"""``nmapx report --workers N`` / ``--scheduler``: the same report as one process.

Every cluster is Dask's own on 127.0.0.1 with ephemeral ports: a ``LocalCluster`` nmapx starts
(``--workers``), or the ``dask scheduler`` and workers of ``test_cluster.py``'s fixture
(``--scheduler``). Each report is compared byte for byte with the same report made in one
process; the HTML page only after its CSP nonce is blanked, a random value by design (the
report date is fixed with ``SOURCE_DATE_EPOCH``).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import dask
import pytest
from conftest import corpus_files, nmapx_main
from test_cluster import dask_cluster, scan  # noqa: F401  (the fixture, by name)

pytest.importorskip("distributed")

#: Small batches, so that every input is spread over several of them and both workers.
CLUSTER = ("--workers", "2", "--batch-size", "3")
NONCE = re.compile(rb'nonce="[^"]*"|nonce-[A-Za-z0-9_-]+')


@pytest.fixture(autouse=True)
def _fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796000000")


def same_report(fmt: str, one: Path, two: Path) -> None:
    first, second = one.read_bytes(), two.read_bytes()
    if fmt == "html":
        first, second = NONCE.sub(b"N", first), NONCE.sub(b"N", second)
    assert first == second


def report(
    tmp_path: Path, name: str, fmt: str, inputs: list[str], *extra: str
) -> tuple[int, bytes]:
    out = tmp_path / f"{name}.{fmt}"
    done = nmapx_main("report", *inputs, "--format", fmt, "-o", str(out), *extra)
    return done.returncode, done.stderr


@pytest.mark.parametrize("fmt", ["html", "jsonl", "csv"])
def test_the_whole_corpus_gives_the_same_report(tmp_path: Path, fmt: str) -> None:
    """All 125 files in one report, the broken ones included (exit 3, same messages)."""
    files = [str(p) for p in (*corpus_files(), *corpus_files(broken=True))]
    if not files:
        pytest.skip("the shared corpus is not here")
    one = report(tmp_path, "one", fmt, files)
    two = report(tmp_path, "two", fmt, files, *CLUSTER)
    assert one == two
    assert one[0] == 3
    same_report(fmt, tmp_path / f"one.{fmt}", tmp_path / f"two.{fmt}")


HINTED = """<?xml version="1.0" encoding="UTF-8"?>
<nmaprun scanner="nmap" args="nmap -v -sT 10.0.0.1-7" start="1700000000" version="7.93" \
xmloutputversion="1.05">
<scaninfo type="connect" protocol="tcp" numservices="1" services="22"/>
<verbose level="1"/>
<debugging level="0"/>
{body}<runstats><finished time="1700000002" timestr="x" summary="y" elapsed="2.00" \
exit="success"/><hosts up="7" down="0" total="7"/>
</runstats>
</nmaprun>
"""
HINT = (
    '<hosthint><status state="up" reason="unknown-response" reason_ttl="0"/>\n'
    '<address addr="{a}" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n</hosthint>\n'
)
HOST = (
    '<host starttime="1700000000" endtime="1700000001"><status state="up" reason="syn-ack"'
    ' reason_ttl="0"/>\n<address addr="{a}" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n'
    '<ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack"'
    ' reason_ttl="0"/><service name="ssh" method="table" conf="3"/></port>\n</ports>\n'
    "</host>\n"
)


def hinted_scan(path: Path) -> Path:
    """Nmap -v writes a ``<hosthint>`` before each host: pieces between the hosts."""
    body = "".join(HINT.format(a=f"10.0.0.{n}") + HOST.format(a=f"10.0.0.{n}") for n in range(1, 8))
    path.write_text(HINTED.format(body=body))
    return path


@pytest.mark.parametrize("fmt", ["html", "jsonl"])
def test_pieces_between_hosts_keep_their_place(tmp_path: Path, fmt: str) -> None:
    source = str(hinted_scan(tmp_path / "hinted.xml"))
    one = report(tmp_path, "one", fmt, [source, source])
    two = report(tmp_path, "two", fmt, [source, source], *CLUSTER)
    assert one == two == (0, b"")
    same_report(fmt, tmp_path / f"one.{fmt}", tmp_path / f"two.{fmt}")


def test_a_bad_input_keeps_the_hosts_before_the_damage(tmp_path: Path) -> None:
    whole = hinted_scan(tmp_path / "whole.xml").read_text()
    cut = tmp_path / "cut.xml"
    cut.write_text(whole[: whole.index('<host starttime="1700000000"', whole.index("10.0.0.6"))])
    empty = tmp_path / "empty.xml"
    empty.write_text("")
    inputs = [str(cut), str(empty), str(tmp_path / "whole.xml")]
    one = report(tmp_path, "one", "jsonl", inputs)
    two = report(tmp_path, "two", "jsonl", inputs, *CLUSTER)
    assert one == two
    assert one[0] == 1 and b"cut.xml" in one[1] and b"empty.xml:1: empty input" in one[1]
    same_report("jsonl", tmp_path / "one.jsonl", tmp_path / "two.jsonl")
    lines = (tmp_path / "two.jsonl").read_bytes().splitlines()
    assert len(lines) == 5 + 7


#: A worker preload: preparing 10.0.0.5 fails (RAISE) or kills the worker process once (KILL,
#: then the marker file exists and it prepares as usual).
PRELOAD = """
    import os
    import nmapx.cluster.report as report

    MODE, MARKER = {mode!r}, {marker!r}
    # Dask may run a preload twice in one process: wrap the real function once.
    real = getattr(report.prepare_host, "real", report.prepare_host)


    def prepare_host(host, *args):
        if host.address == "10.0.0.5":
            if MODE == "raise":
                raise RuntimeError("preparing 10.0.0.5 failed")
            if not os.path.exists(MARKER):
                open(MARKER, "w").close()
                os._exit(1)
        return real(host, *args)


    prepare_host.real = real
    report.prepare_host = prepare_host
"""


#: The batch of 10.0.0.4 to .6 (with the hints between them), as nmapx names it.
AGAIN = b"nmapx: a batch of 3 hosts of scan.xml (lines 47 to 71) failed on the cluster ("


def with_preload(tmp_path: Path, mode: str) -> dict[str, object]:
    preload = tmp_path / f"preload_{mode}.py"
    marker = str(tmp_path / "killed")
    preload.write_text(textwrap.dedent(PRELOAD.format(mode=mode, marker=marker)))
    return {"distributed.worker.preload": [str(preload)]}


def test_a_worker_killed_mid_batch_loses_nothing(tmp_path: Path) -> None:
    source = str(hinted_scan(tmp_path / "scan.xml"))
    one = report(tmp_path, "one", "html", [source])
    with dask.config.set(with_preload(tmp_path, "kill")):
        two = report(tmp_path, "two", "html", [source], *CLUSTER)
    assert (tmp_path / "killed").exists()  # a worker did die
    assert one == (0, b"")
    assert two == (
        0,
        AGAIN + b"KilledWorker: its worker process died while running it); sending it again\n",
    )
    same_report("html", tmp_path / "one.html", tmp_path / "two.html")


def test_a_batch_that_fails_on_the_cluster_is_prepared_here(tmp_path: Path) -> None:
    source = str(hinted_scan(tmp_path / "scan.xml"))
    one = report(tmp_path, "one", "csv", [source])
    with dask.config.set(with_preload(tmp_path, "raise")):
        two = report(tmp_path, "two", "csv", [source], *CLUSTER)
    assert one == (0, b"")
    failed = b"RuntimeError: preparing 10.0.0.5 failed)"
    assert two == (
        0,
        AGAIN + failed + b"; sending it again\n" + AGAIN + failed + b": preparing it here\n",
    )
    same_report("csv", tmp_path / "one.csv", tmp_path / "two.csv")


def test_an_existing_scheduler_and_two_workers(
    tmp_path: Path,
    dask_cluster: str,  # noqa: F811
) -> None:
    files = [str(p) for p in corpus_files()[::10]]
    if not files:
        pytest.skip("the shared corpus is not here")
    one = report(tmp_path, "one", "html", files)
    two = report(tmp_path, "two", "html", files, "--scheduler", dask_cluster, "--batch-size", "5")
    assert one == two
    same_report("html", tmp_path / "one.html", tmp_path / "two.html")


def test_usage_errors() -> None:
    both = nmapx_main("report", "x.xml", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1")
    assert both.returncode == 2
    assert b"--workers starts a local cluster; --scheduler uses an existing one" in both.stderr
