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
from model.model import AGE_GROUPS, SEXES, CorridorModel
from model.scenario import Scenario

EVENT_COLUMNS = ["day", "person", "from_state", "to_state", "place", "cause"]


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
        places=places_frame(model),
    )


def places_frame(model: CorridorModel) -> pd.DataFrame:
    """Where things happened, place by place, over the whole run."""
    rows = [{"place": p.id, "name": p.name,
             "passed": model.place_totals[p.id]["passed"],
             "recruited": model.place_totals[p.id]["recruited"],
             "identified": model.place_totals[p.id]["identified"]}
            for p in model.params.corridor.places]
    return pd.DataFrame(rows)


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
        **trafficking_outcomes(model),
    }


def trafficking_outcomes(model: CorridorModel) -> dict:
    """True and identified victims, always counted apart, and what followed."""
    true, identified = model.victims_true, model.victims_identified
    debts = model.smuggler_debts
    outcomes = {
        "victims_true": true,
        "incidence_per_1000": 1000.0 * true / model.arrivals if model.arrivals else 0.0,
        "victims_identified": identified,
        "identification_rate": identified / true if true else 0.0,
        "median_days_to_identification": (float(np.median(model.days_to_identification))
                                          if model.days_to_identification else None),
        "victims_protected": model.victims[("protected", "all")],
        "tvrh_issued": model.tvrh_issued,
        "retrafficked": model.tally["retrafficked"],
        "retrafficked_after_identification": model.tally["retrafficked_after_identification"],
        "identified_deported": model.identified_deported,
        "victims_detained_unidentified": model.tally["victims_detained_unidentified"],
        "false_positive_referrals": model.tally["false_positive_referrals"],
        "traffickers_arrested": model.traffickers_arrested,
        "traffickers_active_end": model.traffickers_active,
        "complicity_events": model.tally["complicity_events"],
        "smuggled": model.tally["smuggled"],
        "mean_smuggler_debt_usd": float(np.mean(debts)) if debts else 0.0,
    }
    for measure in ("true", "identified", "protected"):
        for group in (*SEXES, *AGE_GROUPS):
            outcomes[f"victims_{measure}_{group}"] = model.victims[(measure, group)]
    for measure in ("true", "identified"):
        for form in ("sexual", "labour"):
            outcomes[f"victims_{measure}_{form}"] = model.victims[(measure, form)]
    outcomes["identifications"] = model.tally["identifications"]
    return outcomes


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
        atomic_write(out_dir / "places.parquet", lambda f: result.places.to_parquet(f)),
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
