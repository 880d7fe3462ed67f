"""Write the golden outputs: every shipped scenario, seeds 1-3, 365 days.

The golden file pins what the model produces, bit for bit: the full summary of each run,
its daily series, and a digest of its event log. `tests/test_golden.py` holds every change
to the code against it. Regenerate it only on purpose, when a change is meant to alter
results, and say why in the commit message:

    .venv/bin/python -m tests.golden.regenerate
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SUMMARIES = HERE / "summaries.json"
SERIES = HERE / "series.parquet"
SEEDS = (1, 2, 3)
DAYS = 365


#: Shipped scenarios the golden file does not pin yet, and why. The six-year scenario came
#: with the timeline change, which had to leave the golden file as it was (its outputs for
#: the other scenarios are unchanged); the next deliberate regeneration should pin its
#: first DAYS days by taking it out of this list.
NOT_YET_PINNED = {"mexico_2018_2023.toml": "added with the timeline; pin at the next regeneration"}


def shipped_scenarios() -> list[Path]:
    return sorted(path for path in (ROOT / "scenarios").glob("*.toml")
                  if path.name not in NOT_YET_PINNED)


def events_digest(events: pd.DataFrame) -> str:
    """A digest of the event log that does not depend on pandas' storage details."""
    text = events.astype("string").fillna("<NA>").to_csv(index=False)
    return hashlib.sha256(text.encode()).hexdigest()


def golden_run(path: Path, seed: int) -> tuple[dict, pd.DataFrame, str]:
    """One run as the golden file records it: summary, series (tagged) and events digest."""
    from model.run import simulate
    from model.scenario import load_scenario

    result = simulate(load_scenario(path), seed, DAYS)
    series = result.series.copy()
    series.insert(0, "seed", seed)
    series.insert(0, "scenario", path.stem)
    return result.summary, series, events_digest(result.events)


def main() -> None:
    summaries, frames = {}, []
    for path in shipped_scenarios():
        for seed in SEEDS:
            summary, series, digest = golden_run(path, seed)
            summaries[f"{path.stem}/{seed}"] = {"summary": summary, "events_sha256": digest}
            frames.append(series)
            print(f"{path.stem} seed {seed}: victims_true {summary['victims_true']}", flush=True)
    SUMMARIES.write_text(json.dumps(summaries, indent=1, sort_keys=True) + "\n")
    pd.concat(frames, ignore_index=True).to_parquet(SERIES, compression="zstd")
    print(f"wrote {SUMMARIES.relative_to(ROOT)} and {SERIES.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
