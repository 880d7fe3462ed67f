"""The golden file: every shipped scenario, seeds 1-3, one year, bit for bit.

A refactoring must leave these outputs identical. A change that is meant to alter results
regenerates the file on purpose (`python -m tests.golden.regenerate`) and says why in its
commit message.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.golden.regenerate import SEEDS, SERIES, SUMMARIES, golden_run, shipped_scenarios

GOLDEN = json.loads(SUMMARIES.read_text())
RUNS = [(path, seed) for path in shipped_scenarios() for seed in SEEDS]


def test_the_golden_file_covers_every_shipped_scenario():
    assert sorted(GOLDEN) == sorted(f"{path.stem}/{seed}" for path, seed in RUNS)


@pytest.mark.slow
@pytest.mark.parametrize("path,seed", RUNS, ids=[f"{p.stem}-{s}" for p, s in RUNS])
def test_outputs_match_the_golden_file(path, seed):
    summary, series, digest = golden_run(path, seed)
    expected = GOLDEN[f"{path.stem}/{seed}"]
    assert summary == expected["summary"]
    golden_series = pd.read_parquet(SERIES)
    golden_series = golden_series[(golden_series["scenario"] == path.stem)
                                  & (golden_series["seed"] == seed)].reset_index(drop=True)
    pd.testing.assert_frame_equal(series, golden_series, check_exact=True, check_dtype=True)
    assert digest == expected["events_sha256"], "the event log differs from the golden run"
