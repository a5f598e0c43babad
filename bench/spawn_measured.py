"""Run one command and report *its own* wall time, CPU time and peak RSS as JSON.

    python bench/spawn_measured.py RESULT.json TIMEOUT_SECONDS -- command [args...]

Why a separate launcher: on Linux a process's peak RSS (``ru_maxrss``) starts at the peak
of the address space it replaced at ``exec`` -- a child forked or spawned from a harness
that holds 500 MiB reports at least 500 MiB, whatever it does itself. Spawning candidates
from this small process (which imports nothing heavy and holds no data) keeps that floor at
a bare interpreter's ~10 MiB, below what any Python candidate uses anyway. The launcher
reaps the child with ``os.wait4``, whose rusage is that child's alone, and passes
stdin/stdout/stderr through untouched, so it works inside pipelines as well.
"""

import json
import os
import signal
import sys
import time


def main() -> int:
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    result_path, timeout, argv = sys.argv[1], float(sys.argv[2]), sys.argv[4:]
    timed_out = False
    t0 = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ)

    def on_alarm(_signum: int, _frame: object) -> None:
        nonlocal timed_out
        timed_out = True
        os.kill(pid, signal.SIGKILL)

    if timeout > 0:
        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    signal.setitimer(signal.ITIMER_REAL, 0)
    # Linux reports KiB, macOS bytes.
    rss = ru.ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else ru.ru_maxrss / 1024
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump(
            {
                "wall": wall,
                "cpu": ru.ru_utime + ru.ru_stime,
                "maxrss_mib": rss,
                "returncode": os.waitstatus_to_exitcode(status),
                "timed_out": timed_out,
            },
            fh,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
