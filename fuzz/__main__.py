"""``python -m fuzz``: exploratory fuzzing sessions, the bounded CI session, the replay.

::

    python -m fuzz --minutes 60 [--target NAME ...] [--jobs N]   # explore, N targets at once
    python -m fuzz --replay [--target NAME ...]                   # the regression corpus
    python -m fuzz --bounded [--target NAME ...] [--runs N]       # fixed seed, as CI runs it
    python -m fuzz --minimize TARGET FILE                         # shrink a crash

See fuzz/README.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if "fuzz" not in sys.modules or not getattr(sys.modules["fuzz"], "__file__", None):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.session import (
    FUZZ_DIR,
    ROOT,
    TARGET_NAMES,
    bounded_session,
    explore,
    minimize,
    replay,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fuzz",
        description="Coverage-guided fuzzing (atheris/libFuzzer) of every nmapx entry point"
        " that reads a file.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--replay", action="store_true", help="replay fuzz/regressions/ and exit")
    mode.add_argument(
        "--bounded", action="store_true", help="the CI session: -seed=1 -runs=N per target"
    )
    mode.add_argument(
        "--minimize",
        nargs=2,
        metavar=("TARGET", "FILE"),
        help="minimize a crash (libFuzzer -minimize_crash=1) into FILE.min",
    )
    parser.add_argument(
        "--target",
        action="append",
        choices=TARGET_NAMES,
        metavar="NAME",
        help=f"a target to run (repeatable; default: all of {', '.join(TARGET_NAMES)})",
    )
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="minutes per target (default 10)"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="targets fuzzed at the same time (default 1)"
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=ROOT.parent / "shared" / "corpus" / "nmap-xml",
        help="seed corpus of real Nmap XML (default: ../shared/corpus/nmap-xml)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=FUZZ_DIR / "work",
        help="work directory: <work>/<target>/corpus, crash-*, log (default fuzz/work)",
    )
    parser.add_argument(
        "--max-len", type=int, default=20_000, help="libFuzzer -max_len (default 20000)"
    )
    parser.add_argument("--runs", type=int, default=0, help="--bounded: inputs per target")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    targets = args.target or list(TARGET_NAMES)
    if args.replay:
        # The reader logs every problem; the oracles read them from the document instead,
        # so the replay prints one line per input, not the inputs' messages.
        logging.getLogger("nmapx").addHandler(logging.NullHandler())
        return replay(targets)
    if args.minimize:
        return minimize(args.minimize[0], Path(args.minimize[1]), args.work)
    if args.bounded:
        failed = 0
        for name in targets:
            result = bounded_session(name, args.corpus, args.work / "bounded", runs=args.runs)
            sys.stdout.write(result.line() + "\n")
            sys.stdout.flush()
            failed += not result.ok
        return 1 if failed else 0
    return explore(targets, args.corpus, args.work, args.minutes, args.jobs, args.max_len)


if __name__ == "__main__":
    sys.exit(main())
