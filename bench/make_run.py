"""`make run` against issue 15's target: the headline outcomes to a 10 % CI half-width (its own
replication rule) in under 10 minutes on this machine.

    PYTHONPATH=. .venv/bin/python bench/make_run.py
    make bench BENCH=run

Runs `make run` as a user would (its batch goes to `runs/library-<time>`, as usual), then reads
what the replication rule recorded there (`replications.json`): the replications it reached,
what stopped it, and how many outcome-scenario pairs met the rule. Prints figures; asserts
nothing. About 8 to 10 minutes.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MINUTES = 10


def make_run() -> tuple[float, dict | None]:
    """Wall minutes of `make run`, and the replication record of the batch it wrote (None if it
    failed or wrote none)."""
    before = set((ROOT / "runs").glob("library-*"))
    start = time.perf_counter()
    done = subprocess.run(["make", "--no-print-directory", "run"], check=False, cwd=ROOT,
                          capture_output=True, text=True)
    minutes = (time.perf_counter() - start) / 60
    new = sorted(set((ROOT / "runs").glob("library-*")) - before)
    record = new[-1] / "replications.json" if new else None
    if done.returncode != 0 or record is None or not record.exists():
        said = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        print(f"make run: failed after {minutes:.1f} min (exit {done.returncode}): {said[-1]}",
              flush=True)
        return minutes, None
    replications = json.loads(record.read_text())
    last, stop = replications["rounds"][-1], replications["stop"]
    print(f"make run: {minutes:.1f} min wall, {new[-1].name}; rounds of "
          f"{', '.join(str(r['reps']) for r in replications['rounds'])} replications; "
          f"stopped by {stop['reason']}: {stop['text']}; {last['met']} of {last['assessable']} "
          f"outcome-scenario pairs at the rule ({last['not_assessable']} not assessable)",
          flush=True)
    return minutes, replications


def summary_row(minutes: float, replications: dict | None) -> tuple[str, bool]:
    """The figure for the targets table and whether the target is met: the rule met for every
    assessable pair within the time limit."""
    if replications is None:
        return f"{minutes:.1f} min, failed", False
    last = replications["rounds"][-1]
    met = last["met"] == last["assessable"] and minutes < LIMIT_MINUTES
    return (f"{minutes:.1f} min, {last['met']}/{last['assessable']} pairs, "
            f"{replications['stop']['reason']} stop at {last['reps']} reps"), met


if __name__ == "__main__":
    make_run()
