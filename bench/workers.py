"""Batch throughput on 1 and on 2 local Dask workers: the same small batch (the baseline,
8 replications of 90 counted days) into a temporary folder, timed from start to finish
(the cluster's start included, as a user sees it). Issue 15's target: 2 workers at least
1.8 times the runs per second of 1.

    PYTHONPATH=. .venv/bin/python bench/workers.py

Prints figures; asserts nothing. About a minute.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from analysis.batch import BatchRequest, run_batch
from analysis.engines import EngineSpec

ROOT = Path(__file__).resolve().parents[1]
REPS, DAYS = 8, 90


def runs_per_second(workers: int) -> tuple[float, float]:
    """Runs per second of the whole batch (the cluster's start included) and of its running
    part (from the moment the engine is up, which `run_batch` reports through `on_start`)."""
    up = []
    with tempfile.TemporaryDirectory() as tmp:
        request = BatchRequest(files=[ROOT / "scenarios" / "baseline_2018.toml"], reps=REPS,
                               days=DAYS, entropy=2026, out=Path(tmp) / "bench",
                               engine=EngineSpec(workers=workers))
        start = time.perf_counter()
        run_batch(request, progress=False, on_start=lambda _: up.append(time.perf_counter()))
        end = time.perf_counter()
    wall, running = end - start, end - up[0]
    print(f"{workers} worker{'s' if workers > 1 else ''}: {REPS} runs of {DAYS} days in "
          f"{wall:.1f} s = {REPS / wall:.3f} runs/s ({running:.1f} s once the workers were up "
          f"= {REPS / running:.3f} runs/s), load average {os.getloadavg()[0]:.2f}", flush=True)
    return REPS / wall, REPS / running


def batch_throughput() -> tuple[float, float]:
    """The 2-worker batch's runs per second over the 1-worker batch's: as a user sees it
    (the cluster's start included) and once the workers are up."""
    one, one_running = runs_per_second(1)
    two, two_running = runs_per_second(2)
    print(f"2 workers / 1 worker: {two / one:.2f} x ({two_running / one_running:.2f} x once the "
          "workers are up)", flush=True)
    return two / one, two_running / one_running


if __name__ == "__main__":
    batch_throughput()
