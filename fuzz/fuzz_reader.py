"""Coverage-guided fuzz target for the reader and the XML writer (atheris / libFuzzer).

Each input is written to a file and passed through ``read_document`` + ``XmlWriter`` twice,
building every host's tree (``parse_hosts=True``) and only checking hosts (``False``), as
``nmapx run -oX`` does. The documented outcomes are the only ones allowed:

* the document is read: status 0 (OK), 3 (INCOMPLETE) or 4 (DAMAGED), the output is a
  well-formed XML document (parsed with entities, DTDs and the network switched off), every
  problem is one line, and status 0 carries warnings only;
* or an :class:`~nmapx.errors.NmapxError` whose message is one line naming the file.

The two reader modes must agree byte for byte, down to every problem reported. Anything
else -- another exception, a malformed output, a disagreement -- is a crash.

Run it (see fuzz/README.md)::

    python fuzz/fuzz_reader.py -max_total_time=3600 fuzz/corpus ../shared/corpus/nmap-xml

The :func:`check` oracle is shared with the property tests (``tests/test_property_reader.py``).
"""

from __future__ import annotations

import io
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if __name__ == "__main__":
    # Coverage for nmapx's own code only: instrumenting every loaded module (instrument_all)
    # takes most of a minute before the first input runs.
    import atheris

    with atheris.instrument_imports(include=["nmapx"]):
        import nmapx.atomic
        import nmapx.reader
        import nmapx.writers.xml  # noqa: F401 - imported here to be instrumented

from nmapx.atomic import AtomicOutput  # noqa: E402 - the checkout is put on the path first
from nmapx.errors import ExitStatus, NmapxError  # noqa: E402
from nmapx.reader import read_document  # noqa: E402
from nmapx.writers.xml import XmlWriter  # noqa: E402

#: How a consumer of nmapx's output should parse it: nothing expanded, loaded or fetched.
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
_NAMESPACE_ERROR = re.compile(
    r"Namespace prefix \S+ (?:for \S+ )?on \S+ is not defined|colons are forbidden from"
    r"|Failed to parse QName|xmlns[:\w]*: |Namespace default prefix was bound|redefined"
)
_SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


@dataclass
class Outcome:
    """What one pass made of an input: output bytes and status, or the error."""

    output: bytes | None
    status: ExitStatus | None
    error: str | None
    problems: list[str] = field(default_factory=list)
    hosts_read: int = 0


class Violation(AssertionError):
    """An outcome the documentation does not allow (a fuzzer 'crash')."""


def _pass(path: str, parse_hosts: bool) -> Outcome:
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
    # A synthesized <runstats> falls back to the current time: the same second for both.
    with mock.patch("nmapx.writers.xml.time.time", return_value=time.time()):
        built = _pass(path, parse_hosts=True)
        checked = _pass(path, parse_hosts=False)
    namespaced = any(_NAMESPACE_ERROR.search(p) for p in built.problems + checked.problems)
    if built != checked and not namespaced:  # namespaces: a known gap, see fuzz/README.md
        raise Violation(f"the reader modes disagree:\n{built!r:.2000}\n{checked!r:.2000}")
    for problem in built.problems:
        if "\n" in problem or "\r" in problem or not problem.startswith(path + ":"):
            raise Violation(f"a problem is not one line naming the file: {problem!r}")
    if built.error is not None:
        if "\n" in built.error or "\r" in built.error or not built.error.startswith(path):
            raise Violation(f"the error is not one line naming the file: {built.error!r}")
        return built
    if built.status not in (ExitStatus.OK, ExitStatus.INCOMPLETE, ExitStatus.DAMAGED):
        raise Violation(f"status {built.status!r} without an error")
    if built.status == ExitStatus.OK and any(": error: " in p for p in built.problems):
        raise Violation(f"status 0 with errors: {built.problems}")
    assert built.output is not None
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True
    )
    try:
        root = etree.fromstring(built.output, parser)
    except etree.XMLSyntaxError as exc:
        if _NAMESPACE_ERROR.match(str(exc.msg)):
            # Known gap (fuzz/README.md): an undefined namespace prefix (``<a:b>``) is XML
            # 1.0 well-formed and passes through, though namespace-aware parsers refuse it.
            return built
        raise Violation(f"the output is not well-formed: {exc}") from None
    if root.tag != "nmaprun":
        raise Violation(f"the output's root is <{root.tag}>")
    return built


def check(data: bytes) -> Outcome:
    """:func:`check_file` on ``data`` written to a scratch file."""
    handle, path = tempfile.mkstemp(prefix="nmapx-fuzz-", suffix=".xml", dir=_SCRATCH)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        return check_file(path)
    finally:
        os.unlink(path)


def test_one_input(data: bytes) -> None:
    """libFuzzer's entry point: any exception escaping it is reported as a crash."""
    check(data)


def main() -> None:
    import logging

    import atheris

    logging.disable(logging.CRITICAL)  # problems are checked, not printed 10^6 times
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
