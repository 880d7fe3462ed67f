"""One run from start to finish: simulate, then read the ledger's results.

`simulate` is what the command line, the batch engine, the sweeps and the tests call. The
model writes no files: `analysis.files` does that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from model.ledger import EVENT_COLUMNS, places_frame, summarise
from model.model import CorridorModel
from model.scenario import Scenario


@dataclass
class RunResult:
    """What one run produced: scalar outcomes, the daily series and the event log."""

    summary: dict
    series: pd.DataFrame
    events: pd.DataFrame
    places: pd.DataFrame  # per place: people passing, victims recruited, victims identified


def simulate(
    params: Scenario,
    seed: int,
    days: int | None = None,
    on_day: Callable[[], None] | None = None,
    keep_events: bool = True,
) -> RunResult:
    """Run one replication: the scenario's warm-up, then `days` counted days (default: the
    scenario's), and collect the counted days' results. `on_day` is called after every day,
    warm-up included."""
    days = params.days if days is None else days
    model = CorridorModel(params, seed=seed)
    for day in range(params.warmup_days + days):
        if day == params.warmup_days:
            model.ledger.start_counting()
        model.step()
        if on_day is not None:
            on_day()
    series = model.datacollector.get_model_vars_dataframe()
    return RunResult(
        summary=summarise(model, days),
        series=series[series["day"] > params.warmup_days].reset_index(drop=True),
        events=(model.ledger.events_frame() if keep_events
                else pd.DataFrame(columns=EVENT_COLUMNS)),
        places=places_frame(model),
    )
