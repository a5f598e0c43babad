"""The ``reader`` fuzz target: the reader and the XML writer, in both reader modes.

Each input is written to a file and passed through ``read_document`` + ``XmlWriter`` twice,
building every host's tree (``parse_hosts=True``) and only checking hosts (``False``), as
``nmapx run -oX`` does. The documented outcomes are the only ones allowed:

* the document is read: status 0 (OK), 3 (INCOMPLETE) or 4 (DAMAGED), the output is a
  well-formed XML document (parsed namespace-aware, with entities, DTDs and the network
  switched off), every problem is one line naming the file, and status 0 carries warnings
  only;
* or an :class:`~nmapx.errors.NmapxError` whose message is one line naming the file.

The two reader modes must agree byte for byte, down to every problem reported. Anything
else -- another exception, a malformed output, a disagreement -- is a crash. Namespace
prefixes (``<a:b>``, ``x:y="1"``, ``xmlns``) get no exception: Nmap never writes them, and the
output must still be read by namespace-aware parsers, so such a host is malformed (status 4).

Run it with the other targets (fuzz/README.md)::

    python -m fuzz --minutes 60 --target reader

``python fuzz/fuzz_reader.py [libFuzzer arguments]`` still runs this target alone.
:func:`check` is shared with the property tests (``tests/test_property_reader.py``).
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

if __name__ == "__main__":  # python fuzz/fuzz_reader.py ...: the checkout goes on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.common import SAFE, Violation, parse_xml, require_one_line, scratch_input

__all__ = ["SAFE", "Outcome", "Violation", "check", "check_file", "test_one_input"]


#: "Now" for the XML writer's synthesized ``<runstats>`` (2026-01-01 00:00:00 UTC).
FIXED_NOW = 1_767_225_600.0


@dataclass
class Outcome:
    """What one pass made of an input: output bytes and status, or the error."""

    output: bytes | None
    status: int | None
    error: str | None
    problems: list[str] = field(default_factory=list)
    hosts_read: int = 0


def _pass(path: str, parse_hosts: bool) -> Outcome:
    from nmapx.errors import NmapxError
    from nmapx.nmapxml.reader import read_document
    from nmapx.output.atomic import AtomicOutput
    from nmapx.output.xml import XmlWriter

    document = read_document(path, parse_hosts=parse_hosts)
    out = AtomicOutput("-")
    out.stream = io.BytesIO()  # type: ignore[assignment]
    writer = XmlWriter(out)
    try:
        for item in document:
            writer.write(item)
    except NmapxError as exc:
        return Outcome(None, None, str(exc), [str(p) for p in document.problems])
    output = out.stream.getvalue()  # type: ignore[attr-defined]
    problems = [str(p) for p in document.problems]
    return Outcome(output, document.status, None, problems, document.hosts_read)


def check_file(path: str) -> Outcome:
    """Pass ``path`` through both reader modes; raise :class:`Violation` on a bad outcome."""
    from nmapx.errors import ExitStatus

    # A synthesized <runstats> falls back to the current time: a fixed one, the same for
    # both modes and for every run (a bounded fuzzing session must not depend on the clock).
    with mock.patch("nmapx.output.xml.time.time", return_value=FIXED_NOW):
        built = _pass(path, parse_hosts=True)
        checked = _pass(path, parse_hosts=False)
    if built != checked:
        raise Violation(f"the reader modes disagree:\n{built!r:.2000}\n{checked!r:.2000}")
    for problem in built.problems:
        require_one_line(problem, path, "a problem")
        if not problem.startswith(path + ":"):
            raise Violation(f"a problem does not start with the file name: {problem!r}")
    if built.error is not None:
        require_one_line(built.error, path, "the error")
        if not built.error.startswith(path):
            raise Violation(f"the error does not start with the file name: {built.error!r}")
        return built
    if built.status not in (ExitStatus.OK, ExitStatus.INCOMPLETE, ExitStatus.DAMAGED):
        raise Violation(f"status {built.status!r} without an error")
    if built.status == ExitStatus.OK and any(": error: " in p for p in built.problems):
        raise Violation(f"status 0 with errors: {built.problems}")
    assert built.output is not None
    root = parse_xml(built.output, "the output")
    if root.tag != "nmaprun":
        raise Violation(f"the output's root is <{root.tag}>")
    return built


def check(data: bytes) -> Outcome:
    """:func:`check_file` on ``data`` written to a scratch file."""
    with scratch_input(data) as path:
        return check_file(path)


def test_one_input(data: bytes) -> None:
    """libFuzzer's entry point: any exception escaping it is reported as a crash."""
    check(data)


test_one_input.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


if __name__ == "__main__":
    from fuzz.child import main

    main(["reader", *sys.argv[1:]])
