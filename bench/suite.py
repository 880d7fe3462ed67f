"""The test suite's wall time against issue 9's targets: `make test` (the whole suite, what CI
runs) under 3 minutes and `make test-fast` (without the tests marked slow) under 30 s, on
both cores as the Makefile runs them.

    PYTHONPATH=. .venv/bin/python bench/suite.py        # both, about 6 minutes
    make bench BENCH=suite

Prints figures; asserts nothing. A suite that fails still gets its time, marked as failing,
since a failing run says nothing about the time a passing one takes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The Makefile's `PYTEST_PARALLEL` with its default TEST_WORKERS.
PARALLEL = ["-n", os.environ.get("TEST_WORKERS", "2"), "--dist", "loadgroup"]


def suite_time(fast: bool) -> tuple[float, bool]:
    """Wall seconds of `make test` (or `make test-fast`)'s pytest command, and whether it
    passed; prints pytest's own summary line."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *PARALLEL]
    if fast:
        command += ["-m", "not slow"]
    start = time.perf_counter()
    done = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    name = "make test-fast" if fast else "make test"
    print(f"{name}: {elapsed:.1f} s wall ({lines[-1].strip('= ') if lines else 'no summary'})",
          flush=True)
    return elapsed, done.returncode == 0


def main() -> None:
    for fast in (True, False):
        suite_time(fast)


if __name__ == "__main__":
    main()
