"""One libFuzzer session of one target: ``python -m fuzz.child TARGET [libFuzzer arguments]``.

Started by ``python -m fuzz`` (and by the CI test); run by hand to reproduce a crash::

    python -m fuzz.child reader fuzz/work/reader/crash-<sha1>

Only nmapx's own modules are instrumented for coverage (instrumenting everything loaded
takes most of a minute before the first input runs); each target names the modules it
reaches, lazily imported ones included, so that they are imported under instrumentation.

Two switches, by environment variable:

``NMAPX_FUZZ_KEEP_GOING=DIR``
    A failing input is saved as ``DIR/crash-<sha1>`` (with its traceback in
    ``DIR/traceback-<sha1>.txt``), once per distinct failure (exception type and the place
    it was raised), and the session goes on: one long run finds every bug, not just the
    first. Timeouts and out-of-memory still end the session (libFuzzer's own artifacts).
``NMAPX_FUZZ_DIGEST=FILE``
    After every input, ``FILE`` holds the number of inputs run and a SHA-256 over all of
    them: two sessions that executed the same inputs have the same digest.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

if __name__ == "__main__" or "fuzz" not in sys.modules:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

_MAX_SAVED = 50


def signature(exc: BaseException) -> str:
    """What makes two failures the same bug: the exception type and where it was raised.

    For an oracle's :class:`~fuzz.common.Violation` the place is always the oracle, so the
    message's first words (numbers and paths removed) stand in for it.
    """
    name = type(exc).__name__
    if name == "Violation":
        text = re.sub(r"/\S+|\d+", "#", str(exc).split("\n", 1)[0])
        return f"{name}: {text[:80]}"
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if "/nmapx/" in f.filename] or frames
    where = inside[-1] if inside else None
    place = f"{Path(where.filename).name}:{where.name}:{where.lineno}" if where else "?"
    return f"{name} at {place}"


def keep_going(check: Callable[[bytes], object], directory: str) -> Callable[[bytes], None]:
    """``check``, with each distinct failure saved and swallowed (see the module doc)."""
    seen: set[str] = set()

    def one_input(data: bytes) -> None:
        try:
            check(data)
        except Exception as exc:  # every failure is a finding, whatever its type
            key = signature(exc)
            if key in seen or len(seen) >= _MAX_SAVED:
                return
            seen.add(key)
            sha1 = hashlib.sha1(data).hexdigest()
            Path(directory, f"crash-{sha1}").write_bytes(data)
            text = f"{key}\n\n{''.join(traceback.format_exception(exc))}"
            Path(directory, f"traceback-{sha1}.txt").write_text(text, "utf-8", "replace")
            sys.stderr.write(f"==nmapx-fuzz== new failure saved as crash-{sha1}: {key}\n")

    return one_input


def digesting(one_input: Callable[[bytes], None], path: str) -> Callable[[bytes], None]:
    """``one_input``, recording a running digest of the inputs in ``path``."""
    digest = hashlib.sha256()
    count = 0

    def wrapped(data: bytes) -> None:
        nonlocal count
        digest.update(len(data).to_bytes(8, "big") + data)
        count += 1
        with open(path, "w", encoding="ascii") as stream:
            stream.write(f"{count} {digest.hexdigest()}\n")
        one_input(data)

    return wrapped


_PATH_FLAGS = ("-artifact_prefix=", "-dict=", "-exact_artifact_path=", "-seed_inputs=")


def absolute_args(args: Sequence[str]) -> list[str]:
    """libFuzzer's paths made absolute: the child works in its scratch directory."""
    out = []
    for arg in args:
        flag = next((f for f in _PATH_FLAGS if arg.startswith(f)), None)
        if flag is not None:
            value = arg[len(flag) :]
            absolute = os.path.abspath(value) + ("/" if value.endswith("/") else "")
            out.append(flag + absolute)
        elif not arg.startswith("-"):
            out.append(os.path.abspath(arg))
        else:
            out.append(arg)
    return out


def fixed_randomness() -> None:
    """Seed what nmapx draws at random per process: temporary file names (``AtomicOutput``
    and ``tempfile``) and the report's marker and nonce. Their values reach nmapx's code
    paths (sets of names, comparisons), so without this two bounded sessions of the same
    commit diverge after a few hundred inputs."""
    import random
    import secrets
    import tempfile

    rng = random.Random(0)
    names = tempfile._RandomNameSequence()  # type: ignore[attr-defined]
    names._rng, names._rng_pid = rng, os.getpid()
    tempfile._name_sequence = names  # type: ignore[attr-defined]
    secrets.token_hex = lambda nbytes=32: rng.randbytes(nbytes).hex()  # type: ignore[assignment]
    secrets.token_urlsafe = lambda nbytes=32: rng.randbytes(nbytes).hex()  # type: ignore[assignment]


def main(argv: Sequence[str] | None = None) -> None:
    """Instrument the target's modules, then hand control to libFuzzer (never returns)."""
    import atheris

    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.exit("usage: python -m fuzz.child TARGET [libFuzzer arguments]")
    name, libfuzzer_args = args[0], absolute_args(args[1:])
    for variable in ("NMAPX_FUZZ_KEEP_GOING", "NMAPX_FUZZ_DIGEST"):
        if os.environ.get(variable):
            os.environ[variable] = os.path.abspath(os.environ[variable])
    from fuzz.targets import TARGETS

    if name not in TARGETS:
        sys.exit(f"unknown target {name!r}; targets: {', '.join(TARGETS)}")
    target = TARGETS[name]
    with atheris.instrument_imports(include=["nmapx"]):
        for module in (*target.modules, "nmapx.cli"):
            importlib.import_module(module)
    # The reader's problems are checked, not printed 10^6 times; the CLI targets install
    # their own handler (to a captured stderr) on every call.
    from fuzz.common import use_relative_paths

    use_relative_paths()  # the same file names in every session (see its docstring)
    fixed_randomness()
    nmapx_log = logging.getLogger("nmapx")
    nmapx_log.handlers[:] = [logging.NullHandler()]
    nmapx_log.propagate = False
    one_input: Callable[[bytes], None] = target.check  # type: ignore[assignment]
    if os.environ.get("NMAPX_FUZZ_KEEP_GOING"):
        one_input = keep_going(target.check, os.environ["NMAPX_FUZZ_KEEP_GOING"])
    if os.environ.get("NMAPX_FUZZ_DIGEST"):
        one_input = digesting(one_input, os.environ["NMAPX_FUZZ_DIGEST"])
    atheris.Setup([sys.argv[0], *libfuzzer_args], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
