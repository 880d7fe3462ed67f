"""One run from start to finish: simulate, summarise, write files safely.

`simulate` is what the command line, the batch engine and the tests call.
Files are written to a temporary name and renamed, so a crash never leaves
a half-written file that looks finished.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model.agents import State
from model.model import CorridorModel
from model.scenario import Scenario

EVENT_COLUMNS = ["day", "person", "from_state", "to_state", "place", "cause"]


@dataclass
class RunResult:
    """What one run produced: scalar outcomes, the daily series and the event log."""

    summary: dict
    series: pd.DataFrame
    events: pd.DataFrame


def simulate(
    params: Scenario,
    seed: int,
    days: int | None = None,
    on_day: Callable[[], None] | None = None,
    keep_events: bool = True,
) -> RunResult:
    """Run one replication for `days` (default: the scenario's) and collect its results."""
    days = params.days if days is None else days
    model = CorridorModel(params, seed=seed)
    for _ in range(days):
        model.step()
        if on_day is not None:
            on_day()
    return RunResult(
        summary=summarise(model, days),
        series=model.datacollector.get_model_vars_dataframe().reset_index(drop=True),
        events=events_frame(model) if keep_events else pd.DataFrame(columns=EVENT_COLUMNS),
    )


def summarise(model: CorridorModel, days: int) -> dict:
    """The run's scalar outcomes (see docs/ODD.md, 'Observation')."""
    waits = model.hub_waits + model.claimants_waiting_days
    exited = model.count(State.EXITED)
    return {
        "scenario": model.params.name,
        "seed": model.seed,
        "days": days,
        "arrivals": model.arrivals,
        "transit_completed": exited,
        "still_in_corridor": model.present,
        "asylum_claims": model.asylum_claims,
        "asylum_decisions": model.asylum_decided,
        "gave_up_waiting": model.gave_up,
        "mean_wait_days_hub": float(np.mean(waits)) if waits else 0.0,
        "detentions": model.detentions,
        "detention_refused_full": model.detention_refused_full,
        "deportations": model.count(State.DEPORTED),
        "bypass_share": model.transits_via_bypass / exited if exited else 0.0,
        "agent_days": model.agent_days,
    }


def events_frame(model: CorridorModel) -> pd.DataFrame:
    frame = pd.DataFrame(model.events, columns=EVENT_COLUMNS)
    for column in ("from_state", "to_state", "cause"):
        frame[column] = frame[column].astype("string").astype("category")
    return frame


def default_out_dir(params: Scenario, seed: int, root: Path = Path("runs")) -> Path:
    return root / f"{params.name}-seed{seed}"


def write_run(result: RunResult, out_dir: Path) -> list[Path]:
    """Write summary.json, series.parquet and events.parquet atomically into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [
        atomic_write(out_dir / "summary.json",
                     lambda f: f.write(json.dumps(result.summary, indent=2).encode() + b"\n")),
        atomic_write(out_dir / "series.parquet", lambda f: result.series.to_parquet(f)),
        atomic_write(out_dir / "events.parquet", lambda f: result.events.to_parquet(f)),
    ]
    return written


def atomic_write(path: Path, write: Callable) -> Path:
    """Write through `write(file)` into a temporary file beside `path`, then rename it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
