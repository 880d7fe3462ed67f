"""`make bench`: how fast one run is, how much memory it takes, and how Mesa's own models compare.

Prints figures; asserts nothing (speed is measured here, never in tests).
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import time
from pathlib import Path

from model.run import simulate
from model.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def bench_corridor(days: int, seeds: tuple[int, ...]) -> float:
    params = load_scenario(ROOT / "scenarios" / "baseline_2018.toml")
    rates = []
    for seed in seeds:
        gc.collect()
        start = time.perf_counter()
        result = simulate(params, seed, days=days, keep_events=False)
        elapsed = time.perf_counter() - start
        agent_days = result.summary["agent_days"]
        rates.append(agent_days / elapsed)
        print(f"corridor baseline seed {seed}: {days} days in {elapsed:6.2f} s, "
              f"{result.summary['arrivals']:,} arrivals, {agent_days:,} person-days, "
              f"{agent_days / elapsed:,.0f} person-days/s")
    return max(rates)


def bench_mesa_peer(steps: int) -> float:
    """Mesa's Boltzmann wealth example at its 'large' benchmark size, for comparison."""
    from mesa.examples import BoltzmannWealth
    from mesa.experimental.scenarios import Scenario

    model = BoltzmannWealth(scenario=Scenario(rng=1, n=10000, width=100, height=100))
    count, start = 0, time.perf_counter()
    for _ in range(steps):
        count += len(model.agents)
        model.step()
    elapsed = time.perf_counter() - start
    print(f"mesa BoltzmannWealth n=10000: {steps} steps in {elapsed:6.2f} s, "
          f"{count / elapsed:,.0f} agent-steps/s")
    return count / elapsed


def load_average() -> str:
    """The machine's 1-minute load and its cores: figures taken on a busy machine are low."""
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"


def main() -> None:
    days = int(sys.argv[1]) if len(sys.argv) > 1 else 365
    print(f"start: {load_average()}")
    ours = bench_corridor(days, seeds=(1, 2))
    peer = bench_mesa_peer(steps=20)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"end: {load_average()}")
    print(f"\nbest corridor rate {ours:,.0f} person-days/s = {ours / peer:.2f} x Mesa's "
          f"Boltzmann agent-steps/s (issue 15's target: 5 x); peak memory {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
