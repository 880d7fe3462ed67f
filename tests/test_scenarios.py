"""Scenario files: the shipped ones load, and every kind of mistake gets one clear line."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from model.scenario import ScenarioError, load_scenario
from tests.conftest import BASELINE, SCENARIOS, run_cli, run_cli_process

BASELINE_TEXT = BASELINE.read_text()


def test_every_shipped_scenario_loads():
    for path in sorted(SCENARIOS.glob("*.toml")):
        scenario = load_scenario(path)
        assert scenario.name == path.stem


def test_every_baseline_value_states_its_provenance():
    """Each `key = value` line of the baseline carries a comment (a source or an assumption)."""
    missing = []
    for number, line in enumerate(BASELINE_TEXT.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "[")):
            continue
        key = stripped.split("=")[0].strip()
        if key in {"id", "name", "kind", "lon", "lat", "a", "b", "place", "description"}:
            continue  # identifiers and coordinates: the place's own comment covers them
        if "#" not in stripped:
            missing.append(f"line {number}: {stripped}")
    assert not missing, "values without provenance:\n" + "\n".join(missing)


def _child(tmp_path: Path, body: str, name: str = "child.toml") -> Path:
    """A scenario file inside a scenarios folder that extends a copy of the baseline."""
    folder = tmp_path / "scenarios"
    folder.mkdir(exist_ok=True)
    (folder / "baseline_2018.toml").write_text(BASELINE_TEXT)
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def _with_rates_csv(tmp_path: Path, csv: str) -> Path:
    """A child with a calendar whose monthly rates come from rates.csv beside it; returns the
    CSV's path when the CSV is what the error must name."""
    _child(tmp_path, 'extends = "baseline_2018.toml"\nstart_date = 2018-01-01\n[arrivals]\n'
                     'monthly_rates_file = "rates.csv"\n')
    (tmp_path / "scenarios" / "rates.csv").write_text(csv)
    return tmp_path / "scenarios" / "child.toml"


def test_monthly_rates_come_from_a_csv_file(tmp_path):
    path = _with_rates_csv(tmp_path, "month,rate  # mean arrivals a day\n2018-01,12\n2018-02,7.5\n")
    assert load_scenario(path).arrivals.monthly_rates == {"2018-01": 12, "2018-02": 7.5}


def _replace_in_baseline(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir(exist_ok=True)
    assert old in BASELINE_TEXT
    path = folder / "broken.toml"
    path.write_text(BASELINE_TEXT.replace(old, new, 1))
    return path


BAD_INPUTS = {
    "unknown key": (
        lambda t: _child(t, 'extends = "baseline_2018.toml"\n[hub]\nasylum_capasity_per_day = 3\n'),
        "hub.asylum_capasity_per_day", r"did you mean 'asylum_capacity_per_day'"),
    "wrong type": (
        lambda t: _child(t, 'extends = "baseline_2018.toml"\n[hub]\nrest_days = "three"\n'),
        "hub.rest_days", r"integer"),
    "out of range": (
        lambda t: _child(t, 'extends = "baseline_2018.toml"\n[arrivals]\nshare_female = 1.7\n'),
        "arrivals.share_female", r"less than or equal to 1"),
    "missing file": (
        lambda t: t / "scenarios" / "nowhere.toml", "", r"file not found"),
    "toml syntax": (
        lambda t: _child(t, 'extends = "baseline_2018.toml"\n[hub\nrest_days = 2\n'),
        "", r"TOML syntax error.*line 2"),
    "extends cycle": (
        lambda t: (_child(t, 'extends = "b.toml"\n', "a.toml"),
                   _child(t, 'extends = "a.toml"\n', "b.toml"))[0],
        "extends", r"extends cycle: a.toml -> b.toml -> a.toml"),
    "extends outside tree": (
        lambda t: _child(t, 'extends = "../../etc/passwd.toml"\n'),
        "extends", r"outside the scenarios folder"),
    "link to missing place": (
        lambda t: _replace_in_baseline(t, "a = 13\nb = 5\n", "a = 13\nb = 55\n"),
        "corridor.links[15].b", r"no place has id 55"),
    "disconnected corridor": (
        lambda t: _replace_in_baseline(t, "a = 9\nb = 10\n", "a = 11\nb = 10\n"),
        "corridor.links", r"disconnected"),
    "nationality shares": (
        lambda t: _child(t, 'extends = "baseline_2018.toml"\n[arrivals.nationalities]\n'
                            'cuba = 0.5\n'),
        "arrivals", r"sum to 1"),
    "timeline unknown key": (
        lambda t: _child(t, 'extends = "baseline_2018.toml"\n[[timeline]]\nday = 10\n'
                            'set = { "border_tightening.enabld" = true }\n'),
        "timeline[0].set.border_tightening.enabld", r"did you mean 'enabled'"),
    "timeline bad value": (
        lambda t: _child(t, 'extends = "baseline_2018.toml"\n[[timeline]]\nday = 10\n'
                            'set = { "hub.grant_rate" = 1.5 }\n'),
        "timeline[0].set.hub.grant_rate", r"less than or equal to 1"),
    "timeline day outside the run": (
        lambda t: _child(t, 'extends = "baseline_2018.toml"\n[[timeline]]\nday = 366\n'
                            'set = { "hub.rest_days" = 1 }\n'),
        "timeline[0].day", r"outside the run: days 1 to 365"),
    "timeline changes the frame": (
        lambda t: _child(t, 'extends = "baseline_2018.toml"\n[[timeline]]\nday = 5\n'
                            'set = { "warmup_days" = 1 }\n'),
        "timeline[0].set.warmup_days", r"cannot change 'warmup_days'"),
    "timeline date without calendar": (
        lambda t: _child(t, 'extends = "baseline_2018.toml"\n[[timeline]]\n'
                            'date = 2018-05-01\nset = { "hub.rest_days" = 1 }\n'),
        "timeline[0].date", r"needs start_date"),
    "monthly rates without calendar": (
        lambda t: _child(t, 'extends = "baseline_2018.toml"\n[arrivals.monthly_rates]\n'
                            '"2018-01" = 10\n'),
        "arrivals.monthly_rates", r"needs start_date"),
    "monthly rate not a month": (
        lambda t: _child(t, 'extends = "baseline_2018.toml"\nstart_date = 2018-01-01\n'
                            '[arrivals.monthly_rates]\n"2018-1" = 10\n'),
        "arrivals.monthly_rates.2018-1", r"YYYY-MM"),
    "monthly rate outside the run": (
        lambda t: _child(t, 'extends = "baseline_2018.toml"\nstart_date = 2018-01-01\n'
                            '[arrivals.monthly_rates]\n"2019-01" = 10\n'),
        "arrivals.monthly_rates.2019-01", r"outside the run: months from 2018-01 to 2018-12"),
    "monthly rates file, bad line": (
        lambda t: _with_rates_csv(t, "month,rate\n2018-01,150\n2018-02,lots\n"),
        "line 3", r"rate 'lots': a number in \(0, 20000\]"),
    "monthly rates file, not a month": (
        lambda t: _with_rates_csv(t, "2018-01,150\nJanuary,150\n"),
        "line 2", r"expected YYYY-MM,rate"),
    "monthly rates file missing": (
        lambda t: _child(t, 'extends = "baseline_2018.toml"\nstart_date = 2018-01-01\n'
                            '[arrivals]\nmonthly_rates_file = "nowhere.csv"\n'),
        "arrivals.monthly_rates_file", r"'nowhere.csv': file not found"),
    "monthly rate not positive": (
        lambda t: _child(t, 'extends = "baseline_2018.toml"\nstart_date = 2018-01-01\n'
                            '[arrivals.monthly_rates]\n"2018-03" = 0\n'),
        "arrivals.monthly_rates.2018-03", r"greater than 0"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_scenario_gets_one_clear_line(tmp_path, case):
    _check_bad_scenario(tmp_path, case, run_cli)


def test_bad_scenario_in_a_real_process_is_one_line_and_status_2(tmp_path):
    """The same through the installed `corridor` script: the exit status and stderr a user
    gets, with nothing imported beforehand (the other cases run in-process)."""
    _check_bad_scenario(tmp_path, "wrong type", run_cli_process)


def _check_bad_scenario(tmp_path: Path, case: str, runner) -> None:
    make, key, pattern = BAD_INPUTS[case]
    path = make(tmp_path)
    result = runner("run", str(path), "--days", "1", "--quiet", "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert any(name in lines[0] for name in (path.name, "a.toml", "b.toml", "rates.csv"))
    if key:
        assert f": {key}: " in lines[0], lines[0]
    assert re.search(pattern, lines[0]), lines[0]
    assert not (tmp_path / "out").exists()


def test_scenario_error_names_file_and_key(tmp_path):
    path = _child(tmp_path, 'extends = "baseline_2018.toml"\n[movement]\nfoot_km_min = 50\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.key == "movement"
    assert "foot_km_min must not exceed foot_km_max" in info.value.message


def test_extends_overrides_only_what_it_names(tmp_path):
    path = _child(tmp_path, 'extends = "baseline_2018.toml"\n[hub]\nasylum_capacity_per_day = 5\n')
    child, base = load_scenario(path), load_scenario(BASELINE)
    assert child.name == "child"
    assert child.hub.asylum_capacity_per_day == 5
    assert child.hub.grant_rate == base.hub.grant_rate
    assert child.corridor == base.corridor


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_run_writes_complete_files(tmp_path):
    """`corridor run` end to end in a real process (console script, exit status, files)."""
    out = tmp_path / "run"
    result = run_cli_process("run", str(BASELINE), "--seed", "4", "--days", "15",
                             "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["events.parquet", "places.parquet",
                                                      "series.parquet", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    for key in ("arrivals", "transit_completed", "mean_wait_days_hub", "detentions",
                "deportations", "agent_days", "seed", "days", "scenario"):
        assert key in summary
    assert summary["days"] == 15 and summary["seed"] == 4
    assert "arrivals" in result.stdout


def test_bad_option_is_a_usage_error(tmp_path):
    """argparse's usage error, in a real process: status 2 from SystemExit, no traceback."""
    result = run_cli_process("run", str(BASELINE), "--days", "0")
    assert result.returncode == 2
    assert "must be at least 1" in result.stderr
    assert "Traceback" not in result.stderr


SHIPPED = ["baseline_2018", "ffp_2020", "security_first", "ffp_under_security", "ffp_full"]


def test_the_scenario_library_is_shipped_and_extends_the_baseline():
    import tomllib

    for name in SHIPPED:
        own = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
        assert ("extends" in own) == (name != "baseline_2018"), name
        assert load_scenario(SCENARIOS / f"{name}.toml").name == name


def test_describe_shows_which_interventions_are_on():
    result = run_cli("describe", str(SCENARIOS / "ffp_under_security.toml"))
    assert result.returncode == 0, result.stderr
    on = {line.split()[2] for line in result.stdout.splitlines() if "[on ]" in line}
    assert on == {"humanitarian_visa", "gender_responsive_screening", "cross_sector_training",
                  "io_collaboration", "border_tightening"}
    assert "traffickers.offer_success = " in result.stdout


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_each_shipped_scenario_runs_and_prints_the_full_table(tmp_path, name):
    result = run_cli("run", str(SCENARIOS / f"{name}.toml"), "--days", "8", "--quiet",
                     "--out", str(tmp_path / name))
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / name / "summary.json").read_text())
    for key in ("victims_true", "incidence_per_1000", "victims_identified",
                "identification_rate", "median_days_to_identification", "victims_protected",
                "retrafficked", "traffickers_arrested", "bypass_share", "complicity_events",
                "victims_true_female", "victims_identified_female", "victims_true_minor"):
        assert key in summary
        assert key in result.stdout
    assert summary["scenario"] == name
