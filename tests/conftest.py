"""Shared fixtures: the shipped baseline, small variants of it, and CLI runners.

`run_cli` calls `corridor.cli.main` in this process (a subprocess pays ~1.5 s of imports per
call); `run_cli_process` runs the installed `corridor` script for the few tests that check
what only a real process shows (its exit status and that no traceback reaches stderr).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import shutil
import subprocess
import sys
import traceback
import warnings
from pathlib import Path

import pytest

from model.scenario import Scenario, load_raw, validate_scenario, with_changes

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
BASELINE = SCENARIOS / "baseline_2018.toml"
CORRIDOR_BIN = Path(sys.executable).parent / "corridor"


@pytest.fixture(scope="session")
def baseline_raw() -> dict:
    return load_raw(BASELINE)


def variant(raw: dict, **changes) -> Scenario:
    """The baseline with dotted-key changes, e.g. variant(raw, **{"hub.rest_days": 1}).

    Without a warm-up unless the changes ask for one: the laws and mechanisms the tests check
    hold from the first day, and the runs are a third shorter."""
    return with_changes(validate_scenario(copy.deepcopy(raw)), {"warmup_days": 0, **changes})


def scenarios_folder(root: Path) -> Path:
    """root/scenarios holding a copy of the shipped baseline, for child files to extend."""
    folder = root / "scenarios"
    folder.mkdir()
    shutil.copy(BASELINE, folder / BASELINE.name)
    return folder


def small_batch(files: list[Path], out: Path, reps: int, entropy: str, *options: str) -> Path:
    """A batch of `files` run serially into `out` through the command line; it must succeed."""
    from corridor.cli import main

    status = main(["batch", *map(str, files), "--reps", str(reps), "--workers", "0", "--quiet",
                   "--seed-entropy", entropy, "--out", str(out), *options])
    assert status == 0
    return out


@pytest.fixture()
def make_variant(baseline_raw):
    return lambda **changes: variant(baseline_raw, **changes)


# ------------------------------------------------------------------ the command line


def run_cli_process(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`corridor ARGS` as a real process: exit status and stderr exactly as a user sees them."""
    return subprocess.run([str(CORRIDOR_BIN), *args], cwd=cwd, capture_output=True, text=True,
                          check=False, timeout=600)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """A refused command: status 2, no traceback, one line on stderr starting "error: "."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`corridor ARGS` in this process, with what a fresh process would have of its own:

    - the working directory is `cwd` (relative defaults such as runs/ resolve there), and the
      previous one is restored afterwards;
    - stdout and stderr are captured, including logging handlers that write to stderr
      (Dask's) and warnings, printed as the interpreter's default filters would print them
      (pytest's own warning filters do not apply inside);
    - argparse's SystemExit becomes the exit status, and any other exception becomes a
      traceback on stderr and status 1, as the console script would give.

    Not reproduced: warnings emitted while modules are first imported (they were imported
    before), which is what the run_cli_process tests are for. `main` itself changes no
    environment variables or working directory; the modules it imports set matplotlib's
    backend to Agg, which the tests that import analysis.report set anyway.
    """
    from corridor.cli import main

    out, err = io.StringIO(), io.StringIO()
    outer_err = sys.stderr
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.chdir(cwd))
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        _default_warning_filters()
        stack.enter_context(_logging_to(err, (outer_err, sys.__stderr__)))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            status = main([str(a) for a in args])
        except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
            status = _exit_status(exc.code, err)
        except KeyboardInterrupt:
            raise
        except BaseException:  # noqa: BLE001 - an uncaught error, as the script would end
            traceback.print_exc(file=err)
            status = 1
        for w in caught:
            err.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno,
                                             w.line))
    _repoint_handlers(err, outer_err)  # handlers created during the call must not keep `err`
    return subprocess.CompletedProcess(["corridor", *map(str, args)], status, out.getvalue(),
                                       err.getvalue())


def _exit_status(code, err: io.StringIO) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=err)  # sys.exit("message") prints it and exits 1
    return 1


def _default_warning_filters() -> None:
    """The filters of a Python started without -W or PYTHONWARNINGS (the console script)."""
    warnings.resetwarnings()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
    warnings.filterwarnings("ignore", category=ImportWarning)
    warnings.filterwarnings("ignore", category=ResourceWarning)
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")


def _stream_handlers():
    loggers = [logging.getLogger(), *(logger for logger in logging.Logger.manager.loggerDict
                                      .values() if isinstance(logger, logging.Logger))]
    for logger in loggers:
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler:
                yield handler


def _repoint_handlers(old, new) -> None:
    for handler in _stream_handlers():
        if handler.stream is old:
            handler.setStream(new)


@contextlib.contextmanager
def _logging_to(err: io.StringIO, stderr_streams):
    """Logging handlers that write to stderr write to `err` for the duration."""
    moved = [h for h in _stream_handlers() if any(h.stream is s for s in stderr_streams)]
    previous = [h.setStream(err) for h in moved]
    try:
        yield
    finally:
        for handler, stream in zip(moved, previous, strict=True):
            handler.setStream(stream)


# ------------------------------------------------------------------ xdist


def pytest_collection_finish(session: pytest.Session) -> None:
    """Say so when `--dist loadgroup` does not group (e.g. pytest 9.2 with pytest-xdist 3.8,
    pytest-xdist issue 1386): the tests still pass, but each worker then builds the shared
    module fixtures (report batch, Ishigami sweep, baseline runs) again."""
    if not getattr(session.config.option, "loadgroup", False):  # set on xdist workers only
        return
    grouped = [item for item in session.items if item.get_closest_marker("xdist_group")]
    if grouped and not any("@" in item.nodeid for item in grouped):
        warnings.warn(pytest.PytestWarning(
            "--dist loadgroup is not grouping the xdist_group tests with this pytest and "
            "pytest-xdist; shared fixtures will be built once per worker"), stacklevel=1)


# ------------------------------------------------------------------ slow tests

#: Module fixtures that run a real batch (Dask workers, the model, files) or start the browser:
#: a test that asks for one is slow for the edit loop, since the first such test on a worker
#: pays several seconds for it.
EXPENSIVE_FIXTURES = frozenset({"batch", "original", "maths_batch", "browser"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `slow` every test that needs an expensive module fixture, so `make test-fast`
    (`-m "not slow"`) leaves them out without each test saying so; `make test` runs them."""
    for item in items:
        if EXPENSIVE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
