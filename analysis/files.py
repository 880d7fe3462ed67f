"""Writing results: every file is written to a temporary name beside it and renamed, so a
crash never leaves a half-written file that looks finished."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from model.run import RunResult
from model.scenario import Scenario

RUN_FILES = ("summary.json", "series.parquet", "events.parquet", "places.parquet")


def default_out_dir(params: Scenario, seed: int, root: Path = Path("runs")) -> Path:
    return root / f"{params.name}-seed{seed}"


def prepare_folder(folder: Path) -> Path:
    """Create `folder` and write and remove a probe file in it: a folder that cannot take
    files (read-only, a full disk, a file in the way) fails here, before a run is spent."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe.", suffix=".tmp")
    os.close(fd)
    os.unlink(probe)
    return folder


def write_run(result: RunResult, out_dir: Path) -> list[Path]:
    """Write summary.json, series.parquet, events.parquet and places.parquet atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        atomic_write(out_dir / "summary.json",
                     lambda f: f.write(json.dumps(result.summary, indent=2).encode() + b"\n")),
        atomic_write(out_dir / "series.parquet", lambda f: result.series.to_parquet(f)),
        atomic_write(out_dir / "events.parquet", lambda f: result.events.to_parquet(f)),
        atomic_write(out_dir / "places.parquet", lambda f: result.places.to_parquet(f)),
    ]


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
