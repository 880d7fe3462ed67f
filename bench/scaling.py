"""Cost per counted person-day at several multiples of the baseline's arrivals (seed 1, one
year, no event log): issue 15 asks for it to stay flat within 15 % from 0.25x to 4x.

    PYTHONPATH=. .venv/bin/python bench/scaling.py 0.25 1 4

Prints figures; asserts nothing. The 4x run takes about a minute.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path

from model.run import simulate
from model.scenario import load_scenario, with_changes

ROOT = Path(__file__).resolve().parents[1]


def cost_per_person_day(scale: float) -> float:
    """Microseconds of wall time per counted person-day of a baseline year at `scale` times
    the arrivals (printed as it goes)."""
    base = load_scenario(ROOT / "scenarios" / "baseline_2018.toml")
    params = with_changes(base, {"arrivals.daily_rate": base.arrivals.daily_rate * scale})
    gc.collect()
    start = time.perf_counter()
    person_days = simulate(params, 1, keep_events=False).summary["agent_days"]
    wall = time.perf_counter() - start
    cost = 1e6 * wall / person_days
    print(f"{scale:g} x arrivals: {wall:6.2f} s, {person_days:,} person-days, "
          f"{cost:.2f} us per person-day, load average {os.getloadavg()[0]:.2f}", flush=True)
    return cost


def main() -> None:
    for scale in [float(x) for x in sys.argv[1:]] or [0.25, 1.0, 4.0]:
        cost_per_person_day(scale)


if __name__ == "__main__":
    main()
