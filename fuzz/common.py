"""What every fuzz target's oracle shares: the violation, scratch files, the in-process CLI.

Nothing here imports atheris: the oracles run under pytest (the regression corpus, the
property tests) on machines where atheris cannot be installed. ``nmapx`` itself is imported
lazily too, so that the libFuzzer child (:mod:`fuzz.child`) can import it under atheris'
instrumentation first.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: How a consumer of nmapx's output should parse it: nothing expanded, loaded or fetched. The
#: parser is namespace-aware (lxml's default), as almost every consumer of XML is.
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)

#: Exit statuses a command reading one file may end with (README "Exit status"): 2 is a usage
#: error, which no input file can cause.
RUN_STATUSES = (0, 1, 3, 4)

_SCRATCH_ROOT = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
_scratch_dir: str | None = None


class Violation(AssertionError):
    """An outcome the documentation does not allow (a fuzzer 'crash')."""


def scratch_dir() -> str:
    """One private directory per process for the inputs and outputs of the targets.

    Fixed names inside it (not a fresh ``mkstemp`` name per input) keep every message the
    same length and content from one run to the next: a bounded fuzzing session with a fixed
    seed then executes exactly the same inputs and code.
    """
    global _scratch_dir
    if _scratch_dir is None or not os.path.isdir(_scratch_dir):
        _scratch_dir = tempfile.mkdtemp(prefix="nmapx-fuzz-", dir=_SCRATCH_ROOT)
    return _scratch_dir


_relative = False


def use_relative_paths() -> None:
    """Work inside :func:`scratch_dir` and name its files relatively (``input.xml``).

    The libFuzzer child does this: atheris reports the operands of nmapx's string
    comparisons to libFuzzer (``path == "-"``), which mutates inputs with them, so a random
    directory name in the path would make two sessions with the same seed diverge.
    """
    global _relative
    os.chdir(scratch_dir())
    _relative = True


def scratch_path(name: str) -> str:
    """Where a target keeps its file ``name`` (relative after :func:`use_relative_paths`)."""
    return name if _relative else os.path.join(scratch_dir(), name)


@contextlib.contextmanager
def scratch_input(data: bytes, name: str = "input.xml") -> Iterator[str]:
    """``data`` as a file (the commands read paths); every other file there is removed after."""
    directory = scratch_dir()
    path = scratch_path(name)
    with open(path, "wb") as stream:
        stream.write(data)
    try:
        yield path
    finally:
        for entry in os.listdir(directory):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, entry))


def require(condition: object, message: str) -> None:
    """Raise :class:`Violation` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Violation(message)


def require_one_line(message: str, path: str, what: str = "a message") -> None:
    """A problem or error must be one line that names the input file."""
    if "\n" in message or "\r" in message or path not in message:
        raise Violation(f"{what} is not one line naming {path}: {message!r:.1000}")


@dataclass
class CliResult:
    """What ``nmapx.cli.main(argv)`` did: exit status, stdout bytes, stderr text."""

    status: int
    stdout: bytes
    stderr: str

    def error_lines(self) -> list[str]:
        """The messages on stderr, split at newlines only: ``str.splitlines`` would also
        split at the control characters (``\\x1c``-``\\x1e``, U+0085, U+2028) a message may
        quote from a damaged tag name, which no line-based reader of stderr does."""
        lines = self.stderr.split("\n")
        return lines[:-1] if lines[-1] == "" else lines


def run_cli(argv: Sequence[str]) -> CliResult:
    """Run the command line in this process, stdout and stderr captured.

    Standard output is a strict UTF-8 text stream over bytes, like a terminal or pipe under a
    UTF-8 locale: text the real command could not print (a lone surrogate) fails here too.
    ``SystemExit`` (argparse) gives its code; any other exception escapes as the crash it is.
    """
    from nmapx.cli import main

    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="\n")
    stderr = io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, stderr
    try:
        try:
            status = main(list(argv))
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        stdout.flush()
    finally:
        sys.stdout, sys.stderr = saved
        stdout.detach()
    return CliResult(int(status), raw.getvalue(), stderr.getvalue())


def check_stderr(result: CliResult, path: str, *, status_zero_errors: bool = False) -> None:
    """Every line on stderr is one message naming ``path``; no ``error:`` under status 0."""
    for line in result.error_lines():
        require(
            line.startswith(f"nmapx: {path}"),
            f"stderr line does not name the file {path}: {line!r:.1000}",
        )
        require("Traceback" not in line, f"a traceback on stderr: {line!r:.1000}")
        require("\r" not in line, f"a carriage return in a message: {line!r:.1000}")
    if result.status == 0 and not status_zero_errors:
        errors = [line for line in result.error_lines() if ": error: " in line]
        require(not errors, f"status 0 with errors: {errors}")


def parse_xml(data: bytes, what: str) -> etree._Element:
    """``data`` parsed as a consumer would (:data:`SAFE`); a syntax error is a violation."""
    try:
        return etree.fromstring(data, SAFE)
    except etree.XMLSyntaxError as exc:
        raise Violation(f"{what} is not well-formed XML: {exc}") from None


# ------------------------------------------------------------------------------ network guard

_guarding = False
_guard_installed = False
_NETWORK_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def _audit(event: str, args: tuple[object, ...]) -> None:
    if not _guarding:
        return
    if event == "socket.__new__":
        family = args[1] if len(args) > 1 else None
        if family in _NETWORK_FAMILIES:
            raise Violation(f"a fuzz target opened a network socket ({event} {args[1:]!r})")
    elif event in ("socket.connect", "socket.bind", "socket.sendto", "socket.getaddrinfo"):
        raise Violation(f"a fuzz target used the network ({event} {args!r:.200})")


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Any Internet socket or name lookup inside the block is a violation (an audit hook).

    ``asyncio.run`` makes an ``AF_UNIX`` socket pair for its self-pipe; that is allowed.
    """
    global _guarding, _guard_installed
    if not _guard_installed:
        sys.addaudithook(_audit)
        _guard_installed = True
    previous, _guarding = _guarding, True
    try:
        yield
    finally:
        _guarding = previous
