"""`make bench`: issue 15's figures, each beside its target, on this machine.

Prints figures; asserts nothing (speed is measured here, never in tests). Sections:

- rate: a baseline year (seeds 1 and 2) against Mesa's BoltzmannWealth in the same process;
- scaling: the cost per person-day at 0.25, 1 and 4 times the arrivals (`bench/scaling.py`);
- workers: the same small batch on 1 and on 2 Dask workers (`bench/workers.py`);
- six_years: one run of the 2018-2023 timeline with its event log (`bench/six_years.py`);
- sobol: the shipped Sobol sweep's cost at N = 256, projected from one of its runs and the
  workers' speed-up (running it takes hours; the projection says so);
- run (only when asked for): `make run` itself, its time and what its replication rule
  reached (`bench/make_run.py`; 8 to 10 minutes);
- suite (only when asked for): issue 9's targets, `make test` under 3 minutes and `make
  test-fast` under 30 s (`bench/suite.py`; about 6 minutes).

    make bench                      # every section but suite, about 7 minutes
    make bench BENCH="rate workers" # some sections
    make bench BENCH="run suite"    # make run's and the test suite's times

The last lines are a table: each target, the figure measured now, and whether it is met.
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.make_run import make_run, summary_row
from bench.scaling import cost_per_person_day
from bench.six_years import six_year_run
from bench.suite import suite_time
from bench.workers import batch_throughput
from model.run import simulate
from model.scenario import load_scenario

SECTIONS = ("rate", "scaling", "workers", "six_years", "sobol")
#: Sections run only when named: they take longer than the rest together.
ON_REQUEST = ("run", "suite")


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
              f"{agent_days / elapsed:,.0f} person-days/s", flush=True)
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
          f"{count / elapsed:,.0f} agent-steps/s", flush=True)
    return count / elapsed


def sobol_projection(speed_up: float | None) -> float:
    """Hours the shipped Sobol sweep would take at N = 256 on this machine's cores: its runs
    (the file's design at N = 256, times its replications) times one of its runs at the base
    point, shared over the workers at the measured speed-up (or the core count if not
    measured)."""
    from analysis.sweep_file import design_points, load_sweep
    from model.scenario import with_changes

    spec, base = load_sweep(ROOT / "scenarios" / "sweeps" / "sobol_ffp.toml")
    runs = design_points("sobol", 256, len(spec.parameters), spec.second_order) * spec.replications
    params = with_changes(base, {"days": spec.days or base.days})
    start = time.perf_counter()
    simulate(params, 1, keep_events=False)
    one_run = time.perf_counter() - start
    parallel = speed_up or float(os.cpu_count() or 1)
    hours = runs * one_run / parallel / 3600
    how = (f"{runs:,} runs x {one_run:.1f} s / {parallel:.2f} (2-worker speed-up)"
           if speed_up else f"{runs:,} runs x {one_run:.1f} s / {parallel:.0f} cores")
    print(f"sobol N=256 (projected): {how} = {hours:.1f} h", flush=True)
    return hours


def load_average() -> str:
    """The machine's 1-minute load and its cores: figures taken on a busy machine are low."""
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def main() -> None:
    wanted = [s for s in (sys.argv[1:] or SECTIONS)]
    unknown = sorted(set(wanted) - set(SECTIONS) - set(ON_REQUEST))
    if unknown:
        sys.exit(f"error: unknown bench section {', '.join(unknown)} "
                 f"(allowed: {', '.join(SECTIONS + ON_REQUEST)})")
    print(f"start: {load_average()}", flush=True)
    rows: list[tuple[str, str, str]] = []
    speed_up = None
    if "rate" in wanted:
        ours = bench_corridor(365, seeds=(1, 2))
        peer = bench_mesa_peer(steps=20)
        ratio = ours / peer
        rows.append(("person-days/s >= 5 x BoltzmannWealth agent-steps/s",
                     f"{ours:,.0f} / {peer:,.0f} = {ratio:.2f} x", verdict(ratio >= 5)))
    if "scaling" in wanted:
        costs = {scale: cost_per_person_day(scale) for scale in (0.25, 1.0, 4.0)}
        spread = max(abs(costs[s] / costs[1.0] - 1) for s in costs)
        rows.append(("cost per person-day flat within 15 % from 0.25 x to 4 x",
                     " / ".join(f"{costs[s]:.2f}" for s in costs) + f" us ({spread:.0%} off 1 x)",
                     verdict(spread <= 0.15)))
    if "workers" in wanted:
        speed_up, running = batch_throughput()
        rows.append(("batch on 2 workers >= 1.8 x the throughput of 1",
                     f"{speed_up:.2f} x ({running:.2f} x once up)", verdict(speed_up >= 1.8)))
    if "six_years" in wanted:
        wall, peak = six_year_run()
        rows.append(("2018-2023 timeline < 60 s", f"{wall:.1f} s", verdict(wall < 60)))
        rows.append(("2018-2023 timeline peak memory < 2 GB (event log kept)",
                     f"{peak:,.0f} MiB", verdict(peak < 2048)))
    if "sobol" in wanted:
        hours = sobol_projection(speed_up)
        rows.append(("Sobol sweep at N = 256 within an hour (projected)", f"{hours:.1f} h",
                     verdict(hours <= 1)))
    if "run" in wanted:
        figure, met = summary_row(*make_run())
        rows.append(("make run: every headline outcome to a 10 % half-width, < 10 min",
                     figure, verdict(met)))
    if "suite" in wanted:
        for fast, limit in ((True, 30), (False, 180)):
            seconds, passed = suite_time(fast)
            name = "make test-fast" if fast else "make test"
            rows.append((f"{name} < {limit} s (issue 9)",
                         f"{seconds:.0f} s" + ("" if passed else " (the suite FAILED)"),
                         verdict(seconds < limit)))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"end: {load_average()}; peak memory of this process {peak_mib:,.0f} MiB")
    print("\nissue 15's targets" + (" and issue 9's" if "suite" in wanted else "")
          + ("" if "run" in wanted else " (make run's: make bench BENCH=run)"))
    width = max(len(r[0]) for r in rows) if rows else 0
    for target, figure, status in rows:
        print(f"  {target:<{width}}  {figure:<36} {status}")


if __name__ == "__main__":
    main()
