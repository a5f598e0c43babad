"""One exit-status policy for every command: 1 over 3 over 4 over 0 (README, Exit status).

``nmapx report`` used to combine its inputs' statuses with ``max()``, so one input that is not
Nmap XML (1) plus one truncated input (3) gave 3 from ``report`` and 1 from ``run``. Both
commands now ask :meth:`ExitStatus.worst`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import CORPUS, nmapx_main

from nmapx.errors import ExitStatus

SOURCE = CORPUS / "nmap-zenmap-test" / "xml_test11.xml"  # four hosts, Nmap 4.x


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    """One input per status: fine (0), not XML (1), truncated (3), one host damaged (4)."""
    if not SOURCE.exists():
        pytest.skip(f"{SOURCE} missing (shared corpus)")
    data = SOURCE.read_bytes()
    second_host = [m.start() + 1 for m in re.finditer(rb"\n<host[ >]", data)][1]
    made = {
        "ok": data,
        "notxml": b"this is not XML\n",
        "truncated": data[: second_host + 40],
        "damaged": data[:second_host] + b"<hosx" + data[second_host + len(b"<host") :],
    }
    paths = {}
    for name, content in made.items():
        paths[name] = tmp_path / f"{name}.xml"
        paths[name].write_bytes(content)
    return paths


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("notxml", "truncated"), 1),
        (("truncated", "notxml"), 1),
        (("damaged", "notxml"), 1),
        (("truncated", "damaged"), 3),
        (("damaged", "truncated"), 3),
        (("damaged", "ok"), 4),
        (("ok", "damaged"), 4),
        (("ok", "ok"), 0),
    ],
)
@pytest.mark.parametrize("command", ["run", "report"])
def test_run_and_report_rank_statuses_the_same(
    inputs: dict[str, Path], tmp_path: Path, command: str, names: tuple[str, str], expected: int
) -> None:
    files = [str(inputs[n]) for n in names]
    if command == "run":
        result = nmapx_main("run", *files)
    else:
        result = nmapx_main("report", *files, "-o", str(tmp_path / "report.html"))
    assert result.returncode == expected, result.stderr.decode()
    assert b"Traceback" not in result.stderr


def test_each_input_alone_has_its_documented_status(inputs: dict[str, Path]) -> None:
    """The fixture's inputs really are the four statuses the pairs above combine."""
    got = {name: nmapx_main("run", str(path)).returncode for name, path in inputs.items()}
    assert got == {"ok": 0, "notxml": 1, "truncated": 3, "damaged": 4}


def test_worst_is_the_documented_ranking() -> None:
    worst = ExitStatus.worst
    assert worst() is ExitStatus.OK
    assert worst(ExitStatus.ERROR, ExitStatus.INCOMPLETE) is ExitStatus.ERROR
    assert worst(ExitStatus.INCOMPLETE, ExitStatus.ERROR) is ExitStatus.ERROR
    assert worst(ExitStatus.INCOMPLETE, ExitStatus.DAMAGED) is ExitStatus.INCOMPLETE
    assert worst(ExitStatus.DAMAGED, ExitStatus.OK) is ExitStatus.DAMAGED
    assert worst(ExitStatus.OK, ExitStatus.DAMAGED, ExitStatus.INCOMPLETE) is ExitStatus.INCOMPLETE
    assert worst(4, 3, 1, 0) is ExitStatus.ERROR  # plain ints, as exit codes arrive
    assert worst(ExitStatus.USAGE, ExitStatus.ERROR) is ExitStatus.USAGE
    assert worst(ExitStatus.OK, 99) is ExitStatus.ERROR  # not a status: counted as an error


@pytest.mark.parametrize("fmt", ["html", "jsonl", "csv"])
def test_report_writes_nothing_when_no_input_could_be_read(
    inputs: dict[str, Path], tmp_path: Path, fmt: str
) -> None:
    """Exit 1 means nothing was written: a previous report stays, no new file appears."""
    previous = tmp_path / f"previous.{fmt}"
    previous.write_bytes(b"previous report")
    for out in (previous, tmp_path / f"new.{fmt}"):
        result = nmapx_main(
            "report", str(inputs["notxml"]), str(inputs["notxml"]), "--format", fmt, "-o", str(out)
        )
        assert result.returncode == ExitStatus.ERROR
        assert len(result.stderr.decode().splitlines()) == 2
    assert previous.read_bytes() == b"previous report"
    assert not (tmp_path / f"new.{fmt}").exists()
    # one readable input is enough for a report (and the status is still the worst)
    result = nmapx_main(
        "report", str(inputs["notxml"]), str(inputs["ok"]), "--format", fmt, "-o", str(previous)
    )
    assert result.returncode == ExitStatus.ERROR
    assert previous.read_bytes() != b"previous report"
