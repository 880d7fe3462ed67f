"""Every file, folder and option a user hands the tool is untrusted.

Bad input gets one line on stderr naming the file or option, the key and what is allowed, and
exit status 2: no traceback, no hang, nothing written outside its folder. A file that
validates also runs. The commands are called in-process (`corridor.cli.main`) unless a real
pipe is needed. Runs are 5 days of 5 arrivals a day.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.server
import math
import os
import pathlib
import re
import signal
import socketserver
import subprocess
import threading
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import analysis.engines
from analysis import plan
from analysis.plots import corridor_map
from corridor.cli import engine_spec, main
from model.maths import logistic
from model.run import simulate
from model.scenario import (
    MAX_DAYS,
    MAX_EXTENDS_DEPTH,
    NAME_PATTERN,
    ScenarioError,
    _deep_merge,
    load_raw,
    load_scenario,
    with_changes,
)
from tests.conftest import BASELINE, CORRIDOR_BIN, scenarios_folder, small_batch

SMALL = {"days": 5, "arrivals": {"daily_rate": 5}}
MATHS_NAMES = ("$\\frac{a}{b}$ \\x", "$\\frac{a}$ \\x")  # the second is not even valid mathtext


# ------------------------------------------------------------------ helpers


@pytest.fixture()
def folder(tmp_path, monkeypatch) -> Path:
    """tmp_path/scenarios with a copy of the baseline; the working folder is tmp_path/work,
    so a default `runs/` lands inside tmp_path too."""
    scenarios = scenarios_folder(tmp_path)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return scenarios


def child(folder: Path, changes: dict, name: str = "child.toml") -> Path:
    """A small scenario file extending the baseline, with `changes` merged in (as TOML)."""
    path = folder / name
    path.write_text(f'extends = "{BASELINE.name}"\n' + tomli_w.dumps(_deep_merge(SMALL, changes)))
    return path


def cli(capsys, *args) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def one_error_line(status: int, err: str) -> str:
    """The single stderr line of a refused command (status 2, no traceback)."""
    assert status == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def baseline_corridor() -> dict:
    return copy.deepcopy(load_raw(BASELINE)["corridor"])


# ------------------------------------------------ 1. names that escape their folder


@pytest.mark.parametrize("name", ["../escaped", "ABSOLUTE", ".hidden", "-rf", "a/b", "x" * 101,
                                  "tab\there", "STEM WITH SPACE"])
def test_a_name_that_cannot_name_a_folder_is_refused(folder, tmp_path, capsys, name):
    if name == "STEM WITH SPACE":  # no `name` key: the file's name is used, and refused
        path = child(folder, {}, name="my scenario.toml")
        shown = "my scenario"
    else:
        shown = str(tmp_path / "abs") if name == "ABSOLUTE" else name
        path = child(folder, {"name": shown})
    before = files_under(tmp_path)
    line = one_error_line(*cli(capsys, "run", path, "--quiet")[::2])
    assert f"{path.name}: name: cannot name a run folder" in line
    assert repr(shown) in line and "set name" in line
    assert files_under(tmp_path) == before  # nothing written, in runs/ or beside it
    assert not (tmp_path / "abs-seed1").exists() and not (tmp_path / "escaped-seed1").exists()


def test_names_follow_one_rule_everywhere():
    assert plan.NAME_PATTERN is NAME_PATTERN
    base = load_scenario(BASELINE)
    assert with_changes(base, {"name": "a" * 100}).name == "a" * 100
    assert with_changes(base, {"name": "v2.1_ffp-full"}).name == "v2.1_ffp-full"
    with pytest.raises(ScenarioError, match="cannot name a run folder"):
        with_changes(base, {"name": ".."})


# ------------------------------------------- 2. files that validate and then crash a run


def _corridor(baseline_corridor: dict, case: str) -> dict:
    """The baseline corridor with one flaw, or a tiny corridor whose hub is reached only
    through the crossing."""
    corridor = copy.deepcopy(baseline_corridor)
    if case == "duplicate link":
        first = corridor["links"][0]
        corridor["links"].append({**first, "a": first["b"], "b": first["a"], "km": 1.0})
        return corridor
    places = [{"id": 0, "name": "Crossing", "kind": "crossing", "lon": -92.2, "lat": 14.7},
              {"id": 1, "name": "Hub", "kind": "hub", "lon": -92.3, "lat": 14.9},
              {"id": 2, "name": "Exit", "kind": "exit", "lon": -92.0, "lat": 15.5}]
    return {"places": places, "links": [{"a": 0, "b": 1, "km": 20.0},
                                        {"a": 0, "b": 2, "km": 80.0}]}


BAD_VALUES = {
    "inf rate": ({"arrivals": {"daily_rate": math.inf}}, "arrivals.daily_rate",
                 "finite number"),
    "nan share": ({"arrivals": {"nationalities": {"honduras": math.nan}}},
                  "arrivals.nationalities.honduras", "finite number"),
    "huge weight": ({"traffickers": {"weight_female": 1e308}}, "traffickers.weight_female",
                    "less than or equal to 10"),
    "shares off by 1e-4": ({"arrivals": {"nationalities": {"honduras": 0.4499}}}, "arrivals",
                           r"sum to 1 within 1e-06 \(they sum to 0\.9999"),
    "duplicate link": ("duplicate link", "corridor.links[16]", ("already joined by "
                       r"corridor.links\[0\]; join two places once")),
    "only way north through the crossing": (
        "turns back", "corridor.links", (r"places \[1\] have no route to an exit that avoids "
        r"the crossing \(place 0\)")),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_a_value_a_run_would_choke_on_is_refused_at_validation(folder, tmp_path, capsys,
                                                                baseline_corridor, case):
    changes, key, pattern = BAD_VALUES[case]
    if isinstance(changes, str):
        changes = {"corridor": _corridor(baseline_corridor, changes),
                   "officials": {"posts": []}}
    path = child(folder, changes)
    for command in (["run", path, "--quiet", "--out", tmp_path / "out"], ["describe", path]):
        line = one_error_line(*cli(capsys, *command)[::2])
        assert f"{path.name}: {key}: " in line, line
        assert re.search(pattern, line), line
    assert not (tmp_path / "out").exists()


def test_shares_within_the_tolerance_are_rescaled_and_run(folder, tmp_path, capsys):
    thirds = {"honduras": 0.3333333, "guatemala": 0.3333333, "haiti": 0.3333333}
    # tables keyed by nationality may name only nationalities that arrive: keep those three
    tables = {"language": "spoken", "hub": "grant_rate_by_nationality", "consular": "consulates"}
    baseline = load_scenario(BASELINE)
    kept = {f"{block}.{key}": {n: v for n, v in getattr(getattr(baseline, block), key).items()
                               if n in thirds} for block, key in tables.items()}
    scenario = with_changes(baseline, {"arrivals.nationalities": thirds, **kept})
    assert math.fsum(scenario.arrivals.nationalities.values()) == pytest.approx(1, abs=1e-15)
    assert scenario.arrivals.nationalities["haiti"] == pytest.approx(1 / 3, abs=1e-12)
    raw = load_raw(BASELINE)
    raw["arrivals"]["nationalities"] = thirds  # a file replaces the table whole this way
    for block, key in tables.items():
        raw[block][key] = kept[f"{block}.{key}"]
    path = folder / "thirds.toml"
    path.write_text(tomli_w.dumps(_deep_merge(raw, SMALL)))
    status, _out, err = cli(capsys, "run", path, "--quiet", "--out", tmp_path / "out")
    assert status == 0, err
    assert (tmp_path / "out" / "summary.json").exists()


def test_extreme_valid_weights_run_without_overflow():
    """A tiny base rate with every weight at -10 and a long wait: e^-z would overflow."""
    assert logistic(-2000.0) == 0.0 and logistic(2000.0) == 1.0
    assert logistic(0.3) == 1.0 / (1.0 + math.exp(-0.3))  # the usual formula, bit for bit
    weights = {f"traffickers.{w}": -10.0 for w in (
        "weight_female", "weight_minor", "weight_alone", "weight_no_money", "weight_irregular",
        "weight_debt", "weight_wait_month", "weight_informed", "weight_papers")}
    scenario = with_changes(load_scenario(BASELINE), {
        **weights, "traffickers.offer_success": 1e-300, "arrivals.daily_rate": 5,
        "traffickers.enforcement_aversion": 50.0, "hub.daily_spend_usd": 0.01})
    assert simulate(scenario, seed=1, days=5, keep_events=False).summary["victims_true"] == 0


def _dotted_keys(data, prefix: str = "") -> list[str]:
    """Every dotted key of nested scenario data, tables and lists included."""
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return []
    keys = []
    for key, value in items:
        keys.append(f"{prefix}{key}")
        keys += _dotted_keys(value, f"{prefix}{key}.")
    return keys


SMALL_BASELINE = with_changes(load_scenario(BASELINE), {"days": 5, "arrivals.daily_rate": 5})
KEYS = sorted(_dotted_keys(SMALL_BASELINE.model_dump()))
NUMBERS = st.one_of(
    st.floats(0, 1), st.floats(-20, 20), st.integers(-5, 400),
    st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, 0.9999999, 2**63,
                     10**30, MAX_DAYS + 1]),
    st.floats(allow_nan=True, allow_infinity=True))
VALUES = st.one_of(NUMBERS, st.booleans(), st.text(max_size=12), st.none(),
                   st.lists(NUMBERS, max_size=3),
                   st.dictionaries(st.text(max_size=5), NUMBERS, max_size=3))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=4))
def test_any_edit_is_refused_in_one_line_or_runs(changes):
    try:
        scenario = with_changes(SMALL_BASELINE, changes)
    except ScenarioError as exc:
        assert "\n" not in str(exc)
        return
    small = with_changes(scenario, {"arrivals.daily_rate": min(scenario.arrivals.daily_rate, 5)})
    result = simulate(small, seed=1, days=5, keep_events=False)
    assert result.summary["days"] == 5


# ------------------------------------------- 3. files that gave a traceback, not one line


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail instead of hanging (a FIFO opened for reading waits for a writer forever)."""
    def too_slow(*_):
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _unreadable_file(folder: Path, monkeypatch) -> Path:
    path = child(folder, {}, name="secret.toml")
    if os.geteuid() == 0:  # root reads a chmod 000 file anyway: refuse it the way the OS would
        real_open = os.open

        def refusing_open(file, *args, **kwargs):
            if Path(file) == path:
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)
        monkeypatch.setattr(os, "open", refusing_open)
    else:
        path.chmod(0)
    return path


def _extends_chain(folder: Path, depth: int) -> Path:
    for i in range(1, depth + 1):
        parent = BASELINE.name if i == 1 else f"link{i - 1}.toml"
        (folder / f"link{i}.toml").write_text(f'extends = "{parent}"\n')
    return folder / f"link{depth}.toml"


def _symlink_loop(folder: Path) -> Path:
    (folder / "loop_a.toml").symlink_to(folder / "loop_b.toml")
    (folder / "loop_b.toml").symlink_to(folder / "loop_a.toml")
    return folder / "loop_a.toml"


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "fifo.toml")
    return folder / "fifo.toml"


BAD_FILES = {
    "binary": (lambda f, m: _write(f / "b.toml", b"\xff\xfe\x00\x01 binary"), r"not UTF-8"),
    "latin-1": (lambda f, m: _write(f / "l.toml", 'name = "Cacahoatán"\n'.encode("latin-1")),
                r"not UTF-8 text \(byte 16 is 0xe1\)"),
    "null byte in path": (lambda f, m: f / "a\0b.toml", r"contains a null byte"),
    "extends chain too deep": (lambda f, m: _extends_chain(f, MAX_EXTENDS_DEPTH + 8),
                               (rf"extends: the extends chain passes through more than "
                               rf"{MAX_EXTENDS_DEPTH} files")),
    "nesting too deep": (lambda f, m: _write(f / "n.toml", b"x = " + b"[" * 5000 + b"]" * 5000),
                         r"nested too deeply"),
    "symlink loop": (lambda f, m: _symlink_loop(f), r"cannot be resolved|cannot be read"),
    "unreadable": (_unreadable_file, r"cannot be read: permission denied"),
    "fifo": (lambda f, m: _fifo(f), r"is not a regular file"),
    "folder": (lambda f, m: f, r"is a folder"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("command", ["run", "describe", "batch"])
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_file_that_is_not_a_scenario_gets_one_line(folder, tmp_path, capsys, monkeypatch,
                                                     command, case):
    make, pattern = BAD_FILES[case]
    path = make(folder, monkeypatch)
    extra = {"run": ["--quiet", "--out", tmp_path / "out"], "describe": [],
             "batch": ["--reps", "1", "--workers", "0", "--quiet", "--out", tmp_path / "out"]}
    with deadline(60):
        line = one_error_line(*cli(capsys, command, path, *extra[command])[::2])
    assert re.search(pattern, line), line
    assert "\0" not in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["run", "batch"])
@pytest.mark.parametrize("case", ["a file", "read-only"])
def test_an_output_folder_that_takes_no_files_gets_one_line(folder, tmp_path, capsys,
                                                            monkeypatch, command, case):
    path = child(folder, {})
    out = tmp_path / "out"
    if case == "a file":
        out.write_text("not a folder")
    else:  # as a read-only parent folder answers mkdir, for root too
        real_mkdir = pathlib.Path.mkdir

        def refusing_mkdir(self, *args, **kwargs):
            if self == out:
                raise PermissionError(13, "Permission denied", str(self))
            return real_mkdir(self, *args, **kwargs)
        monkeypatch.setattr(pathlib.Path, "mkdir", refusing_mkdir)
    extra = ["--reps", "1", "--workers", "0"] if command == "batch" else []
    line = one_error_line(*cli(capsys, command, path, "--quiet", "--out", out, *extra)[::2])
    assert str(out) in line
    assert ("is a file" if case == "a file" else "Permission denied") in line
    assert out.is_file() if case == "a file" else not out.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_a_read_only_output_folder_really_is_refused(folder, tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        line = one_error_line(*cli(capsys, "run", child(folder, {}), "--quiet",
                                   "--out", out)[::2])
    finally:
        out.chmod(0o755)
    assert "Permission denied" in line and not list(out.iterdir())


# -------------------------------------------------------------- a small real batch


#: The tests that read the module's maths batch: one xdist worker builds it for all of them
#: (with `--dist loadgroup`) instead of each worker building its own.
SHARES_MATHS_BATCH = pytest.mark.xdist_group("maths-batch")


@pytest.fixture(scope="module")
def maths_batch(tmp_path_factory) -> Path:
    """Two replicates of a small scenario whose places are named like TeX, and of its twin."""
    root = tmp_path_factory.mktemp("untrusted")
    scenarios = scenarios_folder(root)
    corridor = copy.deepcopy(load_raw(BASELINE)["corridor"])
    corridor["places"][1]["name"], corridor["places"][2]["name"] = MATHS_NAMES
    for name in ("maths", "twin"):
        child(scenarios, {"corridor": corridor} if name == "maths" else {}, f"{name}.toml")
    return small_batch([scenarios / "maths.toml", scenarios / "twin.toml"], root / "batch", 2,
                       "7")


@SHARES_MATHS_BATCH
def test_output_into_a_closed_pipe_ends_quietly(maths_batch):
    """The reader is gone before the first byte is written: status 141, nothing on stderr."""
    for args in (["describe", str(BASELINE)], ["compare", str(maths_batch)]):
        process = subprocess.Popen([str(CORRIDOR_BIN), *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        process.stdout.close()
        _, err = process.communicate(timeout=120)
        assert process.returncode == 141, err
        assert err == b"", err.decode()


@SHARES_MATHS_BATCH
def test_a_pipe_closed_by_head_ends_quietly(maths_batch):
    shell = subprocess.run(f"'{CORRIDOR_BIN}' compare '{maths_batch}' | head -1", shell=True,
                           capture_output=True, text=True, timeout=120, check=False)
    assert shell.stdout.startswith("batch ")
    assert shell.stderr == ""


# ------------------------------------------------------------------------- 4. options


@SHARES_MATHS_BATCH
def test_options_out_of_bounds_get_one_line(maths_batch, folder, tmp_path, capsys):
    path = child(folder, {})
    out = tmp_path / "out"
    cases = [
        (["compare", maths_batch, "--outcomes", ",,,"], "--outcomes ',,,' names no outcome"),
        (["run", path, "--days", 10**12, "--out", out], "--days: must be at most 3650"),
        (["batch", path, "--reps", "1", "--days", "99999", "--out", out],
         "--days: must be at most 3650"),
        (["batch", path, "--reps", 10**9, "--workers", "0", "--out", out],
         "--reps must be at most 10,000"),
        (["batch", path, "--reps", "many", "--out", out], "expected a whole number"),
    ]
    for args, expected in cases:
        started = time.perf_counter()
        line = one_error_line(*cli(capsys, *args)[::2])
        assert expected in line, line
        assert time.perf_counter() - started < 30  # no billion seeds spawned first
        assert not out.exists()


def test_help_states_the_limits_the_code_enforces(capsys):
    assert main(["batch", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"1 to {plan.MAX_REPS:,}" in text and f"at most {MAX_DAYS}" in text
    assert f"at most {analysis.engines.MAX_WORKERS_PER_CORE} per core" in text
    assert main(["run", "--help"]) == 0
    assert f"at most {MAX_DAYS}" in " ".join(capsys.readouterr().out.split())


def test_too_many_workers_are_lowered_with_a_note(capsys):
    spec = engine_spec(argparse.Namespace(workers=10**6, scheduler=None, dashboard=False))
    assert spec.workers == analysis.engines.max_workers()
    assert spec.workers == analysis.engines.MAX_WORKERS_PER_CORE * analysis.engines.default_workers()
    assert "note: --workers 1000000 is more than" in capsys.readouterr().err
    assert engine_spec(argparse.Namespace(workers=1, scheduler=None)).workers == 1


class _Garbage(socketserver.BaseRequestHandler):
    """A peer that answers anything with bytes Dask would read as an enormous frame length."""

    def handle(self):
        self.request.sendall(b"\x7f" * 64)
        time.sleep(5)


@contextlib.contextmanager
def serving(server_class, handler):
    server = server_class(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHTTP(http.server.BaseHTTPRequestHandler):
    """A web server that serves nothing and logs nothing."""

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("peer", ["http server", "garbage"])
@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_a_scheduler_that_is_not_dask_gets_one_line_in_bounded_time(folder, tmp_path, capsys,
                                                                     monkeypatch, peer):
    monkeypatch.setattr(analysis.engines, "CONNECT_TIMEOUT_S", 2)
    server = (http.server.ThreadingHTTPServer, _QuietHTTP) if peer == "http server" else (
        socketserver.ThreadingTCPServer, _Garbage)
    out = tmp_path / "out"
    with serving(*server) as address, deadline(60):
        started = time.perf_counter()
        line = one_error_line(*cli(capsys, "batch", child(folder, {}), "--reps", "1",
                                   "--scheduler", address, "--out", out, "--quiet")[::2])
        assert time.perf_counter() - started < 30
    assert f"cannot reach the Dask scheduler at {address}" in line
    assert not out.exists()


# ---------------------------------------------------------- 5. place names are data


@SHARES_MATHS_BATCH
def test_place_names_are_drawn_as_written(maths_batch, capsys):
    places = [{"id": 0, "name": MATHS_NAMES[0], "kind": "crossing", "lon": 0.0, "lat": 0.0},
              {"id": 1, "name": MATHS_NAMES[1], "kind": "hub", "lon": 1.0, "lat": 1.0}]
    figure = corridor_map(places, [{"a": 0, "b": 1, "route": "highway"}], pd.DataFrame(), "x")
    try:
        figure.canvas.draw()  # mathtext would raise on the unbalanced \frac here
        labels = {t.get_text(): t for t in figure.axes[0].texts}
        assert set(MATHS_NAMES) <= set(labels)
        assert not any(labels[name].get_parse_math() for name in MATHS_NAMES)
        assert not any(labels[name].get_usetex() for name in MATHS_NAMES)
    finally:
        plt.close(figure)
    status, _out, err = cli(capsys, "report", maths_batch)
    assert status == 0, err
    assert (maths_batch / "report.html").stat().st_size > 10_000
