"""The test suite's wall time against issue 9's targets: `make test` (the whole suite, what CI
runs) under 3 minutes and `make test-fast` (without the tests marked slow) under 30 s, run
through make itself, so the figure is for the Makefile's own command (both cores,
`TEST_WORKERS` from the environment as usual).

    PYTHONPATH=. .venv/bin/python bench/suite.py        # both, about 6 minutes
    make bench BENCH=suite

Prints figures; asserts nothing. A suite that fails still gets its time, marked as failing,
since a failing run says nothing about the time a passing one takes.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def suite_time(fast: bool) -> tuple[float, bool]:
    """Wall seconds of `make test` (or `make test-fast`), and whether it passed; prints
    pytest's own summary line."""
    target = "test-fast" if fast else "test"
    start = time.perf_counter()
    done = subprocess.run(["make", "--no-print-directory", target], check=False, cwd=ROOT,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    print(f"make {target}: {elapsed:.1f} s wall ({lines[-1].strip('= ') if lines else 'no summary'})",
          flush=True)
    return elapsed, done.returncode == 0


def main() -> None:
    for fast in (True, False):
        suite_time(fast)


if __name__ == "__main__":
    main()
