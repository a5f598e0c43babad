"""Running the targets: exploratory sessions, the bounded CI session, replay, minimizing.

Every libFuzzer session runs in a child process (:mod:`fuzz.child`): atheris hands the
process over to libFuzzer, which ends it. Nothing here imports atheris, so the replay and
the minimizer work wherever the oracles do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fuzz.targets import TARGETS

FUZZ_DIR = Path(__file__).resolve().parent
ROOT = FUZZ_DIR.parent
REGRESSIONS = FUZZ_DIR / "regressions"
DICTIONARY = FUZZ_DIR / "nmap-xml.dict"
TARGET_NAMES: tuple[str, ...] = tuple(TARGETS)

#: The bounded CI session's seeds: small corpus files (libFuzzer mutates small inputs fastest)
#: covering Nmap 4.x to 7.91, scripts, OS detection and a scan that ended in an error.
BOUNDED_SEEDS = (
    "nmap-ndiff-test-scans/complex.xml",
    "nmap-ndiff-test-scans/simple.xml",
    "nmap-zenmap-test/broken/nmap-output-error.xml",
    "python-libnmap/1_os_banner_scripts.xml",
    "python-nmap/scanme_output-7.91.xml",
)
#: Inputs per target in the bounded session, sized for about 10-20 s each on a 2-core
#: machine (the targets differ tenfold in speed: diff runs five commands per input).
BOUNDED_RUNS = {
    "reader": 4000,
    "normal": 2500,
    "report-html": 800,
    "report-jsonl": 2500,
    "report-csv": 2000,
    "diff": 700,
    "plan": 900,
}
BOUNDED_MAX_LEN = 4096

_STATS = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+)(?: corp: (\d+)/)?")
_DONE = re.compile(r"^Done (\d+) runs in (\d+) second")


@dataclasses.dataclass
class SessionResult:
    """What one target's session did, from libFuzzer's own report."""

    target: str
    runs: int = 0
    cov: int = 0
    ft: int = 0
    corpus: int = 0
    seconds: float = 0.0
    crashes: list[str] = dataclasses.field(default_factory=list)
    returncode: int = 0
    digest: str = ""
    restarts: int = 0
    log: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.crashes

    def line(self) -> str:
        rate = self.runs / self.seconds if self.seconds else 0
        crashes = ", ".join(self.crashes) if self.crashes else "none"
        return (
            f"{self.target}: {self.runs} runs in {self.seconds:.0f} s ({rate:.0f}/s),"
            f" cov: {self.cov} ft: {self.ft}, corpus {self.corpus},"
            f" crashes: {crashes}"
            + (f", restarts {self.restarts}" if self.restarts else "")
            + (f", digest {self.digest}" if self.digest else "")
        )

    def note(self, line: str) -> None:
        """Take the numbers from one line of libFuzzer's output."""
        match = _STATS.match(line)
        if match:
            self.cov, self.ft = int(match[3]), int(match[4])
            if match[5]:
                self.corpus = int(match[5])
            return
        match = _DONE.match(line)
        if match:
            self.runs += int(match[1])


def regression_files(target: str) -> list[Path]:
    """The committed regression inputs of ``target``, sorted (README files excluded)."""
    directory = REGRESSIONS / target
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix not in (".md", ".json")
    )


def expectations(target: str) -> dict[str, dict[str, int]]:
    """``regressions/<target>/expected.json``: exact outcomes some inputs must have.

    An oracle only says an outcome is allowed; an input whose fix decided the outcome (a
    namespace prefix makes a host malformed: status 4) records it here.
    """
    path = REGRESSIONS / target / "expected.json"
    return json.loads(path.read_text("utf-8")) if path.is_file() else {}


def replay_one(target: str, path: Path) -> None:
    """``path`` through ``target``'s oracle, and its expected outcome if one is recorded."""
    outcome = TARGETS[target].check(path.read_bytes())
    wanted = expectations(target).get(path.name, {})
    if "status" in wanted:
        status = getattr(outcome, "status", None)
        if status != wanted["status"]:
            from fuzz.common import Violation

            raise Violation(f"status {status!r}, expected {wanted['status']}: {outcome!r:.1000}")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _command(target: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "fuzz.child", target, *args]


def _run_child(
    command: list[str], env: dict[str, str], log_path: Path, on_line: Callable[[str], None]
) -> int:
    """Run one libFuzzer child, its output appended to ``log_path`` and fed to ``on_line``."""
    with log_path.open("a", encoding="utf-8", errors="replace") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            on_line(line.rstrip("\n"))
        return process.wait()


# ---------------------------------------------------------------------------- bounded (CI)


def bounded_seeds(corpus: Path, destination: Path) -> list[Path]:
    """Copy :data:`BOUNDED_SEEDS` into ``destination`` under fixed, sorted names."""
    destination.mkdir(parents=True, exist_ok=True)
    copies = []
    for index, relative in enumerate(sorted(BOUNDED_SEEDS)):
        copy = destination / f"{index:02d}-{Path(relative).name}"
        shutil.copyfile(corpus / relative, copy)
        copies.append(copy)
    return copies


#: The prefix that turns address-space randomisation off for one child (see bounded_command).
_NO_ASLR: list[str] = (
    ["setarch", platform.machine(), "-R"]
    if shutil.which("setarch") and sys.platform == "linux"
    else []
)


def bounded_command(target: str, work: Path, seeds: Path, runs: int) -> list[str]:
    """The fixed-seed, fixed-length libFuzzer session of ``target`` (see README).

    Run with address-space randomisation off (``setarch -R``, util-linux) where it can be:
    objects hash by address, so with ASLR the order of a set of objects, and with it the
    coverage libFuzzer steers by, can differ from process to process (report-jsonl and
    report-csv sessions diverged after a few hundred inputs; with ``-R`` they repeat).
    """
    return _NO_ASLR + _command(
        target,
        "-seed=1",
        f"-runs={runs}",
        # No mutations from the operands of traced comparisons: in the reader target one of
        # them differs from process to process (two sessions diverged after ~2000 inputs).
        "-use_cmp=0",
        f"-max_len={BOUNDED_MAX_LEN}",
        "-reload=0",
        "-timeout=60",
        "-rss_limit_mb=2048",
        f"-dict={DICTIONARY}",
        f"-artifact_prefix={work}/",
        str(work / "corpus"),
        str(seeds),
    )


def bounded_session(target: str, corpus: Path, work: Path, runs: int = 0) -> SessionResult:
    """One bounded session of ``target`` in a fresh ``work/<target>``: same commit, same inputs.

    ``-seed=1 -runs=N`` (never a time limit), ``-use_cmp=0``, ``PYTHONHASHSEED=0``, a fixed
    sorted seed set, fixed scratch file names and an empty corpus directory make libFuzzer's
    choices a function of the code alone;
    ``NMAPX_FUZZ_DIGEST`` records a hash of every input executed, to compare runs.
    """
    directory = work / target
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "corpus").mkdir(parents=True)
    bounded_seeds(corpus, directory / "seeds")
    digest_file = directory / "digest"
    result = SessionResult(target)
    command = bounded_command(target, directory, directory / "seeds", runs or BOUNDED_RUNS[target])
    start = time.monotonic()
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        result.note(line)

    result.returncode = _run_child(
        command, _env(NMAPX_FUZZ_DIGEST=str(digest_file)), directory / "log.txt", on_line
    )
    result.seconds = time.monotonic() - start
    result.crashes = sorted(
        p.name for p in directory.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-"))
    )
    with contextlib.suppress(FileNotFoundError):
        result.digest = digest_file.read_text().strip()
    result.log = "\n".join(lines[-80:])
    return result


# ------------------------------------------------------------------------------ exploring

_print_lock = threading.Lock()


def _say(text: str) -> None:
    with _print_lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def seed_dirs(corpus: Path) -> list[Path]:
    """The shared corpus's directories and every target's regression directory."""
    dirs = sorted(p for p in corpus.iterdir() if p.is_dir()) if corpus.is_dir() else []
    return dirs + sorted(p for p in REGRESSIONS.iterdir() if p.is_dir())


def _known() -> set[str]:
    """SHA-1s of the regression corpus: crashes already recorded there are not new."""
    return {
        hashlib.sha1(p.read_bytes()).hexdigest()
        for target in TARGET_NAMES
        for p in regression_files(target)
    }


def explore_target(
    target: str, corpus: Path, work: Path, minutes: float, max_len: int
) -> SessionResult:
    """Fuzz ``target`` for ``minutes``, restarting libFuzzer after a timeout or OOM."""
    directory = work / target
    (directory / "corpus").mkdir(parents=True, exist_ok=True)
    result = SessionResult(target)
    start = time.monotonic()
    deadline = start + minutes * 60
    last_report = start
    before = {p.name for p in directory.glob("crash-*")}

    def on_line(line: str) -> None:
        nonlocal last_report
        result.note(line)
        now = time.monotonic()
        if line.startswith("==nmapx-fuzz==") or "ERROR: libFuzzer" in line:
            _say(f"[{target}] {line}")
        elif _STATS.match(line) and now - last_report >= 60:
            last_report = now
            _say(f"[{target}] {(now - start) / 60:5.1f} min  {line}")

    while (remaining := deadline - time.monotonic()) > 10:
        command = _command(
            target,
            f"-max_total_time={int(remaining)}",
            f"-max_len={max_len}",
            "-timeout=30",
            "-rss_limit_mb=2048",
            "-print_final_stats=1",
            f"-dict={DICTIONARY}",
            f"-artifact_prefix={directory}/",
            str(directory / "corpus"),
            *map(str, seed_dirs(corpus)),
        )
        runs_before = result.runs
        code = _run_child(
            command, _env(NMAPX_FUZZ_KEEP_GOING=str(directory)), directory / "log.txt", on_line
        )
        if code == 0:
            break
        result.restarts += 1
        result.returncode = code
        if result.runs == runs_before:  # libFuzzer died without its "Done" line
            result.runs += _last_count(directory / "log.txt")
        if result.restarts >= 20:
            break
    result.seconds = time.monotonic() - start
    known = _known()
    found = sorted(
        p.name
        for p in directory.iterdir()
        if p.name.startswith(("crash-", "timeout-", "oom-", "slow-unit-")) and p.name not in before
    )
    result.crashes = [n for n in found if n.split("-", 1)[-1] not in known]
    with (work / "sessions.jsonl").open("a", encoding="utf-8") as stream:
        record = dataclasses.asdict(result)
        record.pop("log")
        record["minutes"] = round(result.seconds / 60, 1)
        record["ended"] = time.strftime("%Y-%m-%d %H:%M:%S")
        stream.write(json.dumps(record) + "\n")
    return result


def _last_count(log_path: Path) -> int:
    """The last ``#N`` libFuzzer printed in the last session of ``log_path``."""
    text = log_path.read_text("utf-8", "replace")
    session = text.rsplit("\n$ ", 1)[-1]
    counts = re.findall(r"^#(\d+)\s", session, re.MULTILINE)
    return int(counts[-1]) if counts else 0


def explore(
    targets: list[str], corpus: Path, work: Path, minutes: float, jobs: int, max_len: int
) -> int:
    """Fuzz each target for ``minutes``, ``jobs`` at a time; 1 if anything new crashed."""
    if not corpus.is_dir():
        _say(f"note: no seed corpus at {corpus}; seeding from the regression corpus only")
    work.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [
            pool.submit(explore_target, name, corpus, work, minutes, max_len) for name in targets
        ]
        results = []
        for future in futures:
            result = future.result()
            results.append(result)
            _say(result.line())
    _say("\nsummary")
    for result in results:
        _say("  " + result.line())
    return 1 if any(r.crashes for r in results) else 0


# ------------------------------------------------------------------------ replay, minimize


def replay(targets: list[str]) -> int:
    """Every regression input through its target's oracle; 1 if any fails."""
    failed = 0
    for target in targets:
        for path in regression_files(target):
            try:
                replay_one(target, path)
            except Exception as exc:
                failed += 1
                text = "".join(traceback.format_exception_only(exc)).strip()
                _say(f"FAIL {target}/{path.name}: {text[:500]}")
            else:
                _say(f"ok   {target}/{path.name}")
    return 1 if failed else 0


def _failure(check: Callable[[bytes], object], data: bytes) -> str | None:
    from fuzz.child import signature

    try:
        check(data)
    except Exception as exc:
        return signature(exc)
    return None


def shrink(check: Callable[[bytes], object], data: bytes) -> bytes:
    """The smallest input found that fails ``check`` the same way (delta debugging on
    bytes: drop chunks of halving size while the failure's signature stays the same)."""
    wanted = _failure(check, data)
    if wanted is None:
        raise ValueError("the input does not fail")
    chunk = max(1, len(data) // 2)
    while chunk >= 1:
        index = 0
        while index < len(data):
            candidate = data[:index] + data[index + chunk :]
            if candidate and _failure(check, candidate) == wanted:
                data = candidate
            else:
                index += chunk
        chunk //= 2
    return data


def minimize(target: str, path: Path, work: Path) -> int:
    """Write the minimized crash ``path`` to ``path.min`` and show what it does."""
    check = TARGETS[target].check
    small = shrink(check, path.read_bytes())
    out = path.with_name(path.name + ".min")
    out.write_bytes(small)
    _say(f"{len(path.read_bytes())} -> {len(small)} bytes: {out}")
    _say(repr(small))
    _say(str(_failure(check, small)))
    return 0
