"""One run of the 2018-2023 timeline scenario (seed 1, event log kept): wall and CPU time,
person-days, events and peak memory. Issue 15's target: under 60 s and 2 GB.

    PYTHONPATH=. .venv/bin/python bench/six_years.py

Prints figures; asserts nothing. It takes a few minutes.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

from model.run import simulate
from model.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def six_year_run() -> tuple[float, float]:
    """Wall seconds and peak memory (MiB, this process so far) of one six-year run."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = simulate(load_scenario(ROOT / "scenarios" / "mexico_2018_2023.toml"), 1)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"mexico_2018_2023 seed 1: wall {wall:.1f} s, CPU {cpu:.1f} s, "
          f"{result.summary['agent_days']:,} person-days, {len(result.events):,} events, "
          f"peak memory {peak_mib:,.0f} MiB, load average {os.getloadavg()[0]:.2f}", flush=True)
    return wall, peak_mib


if __name__ == "__main__":
    six_year_run()
