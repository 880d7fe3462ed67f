"""Engines: where a batch's runs execute. Each turns jobs into `Outcome`s, nothing more.

`SerialRunner` runs them one by one in this process (the reference for reproducibility);
`DaskRunner` streams them from Dask distributed: a `LocalCluster` of single-threaded worker
processes (Mesa is pure Python, so processes, not threads), or an existing scheduler.
Only the client process writes the store, so workers need no shared filesystem.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice

import pandas as pd

from analysis.plan import BatchError, Job, code_version
from model.run import simulate
from model.scenario import Scenario

#: How long to wait for a Dask scheduler before saying it cannot be reached.
CONNECT_TIMEOUT_S = 10
#: Dask re-runs a task that raised outside the model (e.g. a worker that could not load it).
#: The model's own errors are caught in `run_one`, so they are recorded once, not retried.
RETRIES = 1
#: Local worker processes per core at most (--workers above it is lowered, with a note).
MAX_WORKERS_PER_CORE = 4
#: Jobs in flight per worker thread: enough to keep workers busy, few enough for flat memory.
IN_FLIGHT_PER_THREAD = 4


@dataclass
class Outcome:
    """What a worker sends back: results, or the error that stopped the run."""

    run_id: str
    summary: dict | None = None
    series: pd.DataFrame | None = None
    places: pd.DataFrame | None = None  # per-place totals, when the run function gives them
    error: str | None = None
    traceback: str | None = None
    code_version: str | None = None
    where: str = ""


def simulate_run(params: Scenario, seed: int, days: int):
    """The default run function: a model run without its event log (batches keep no events)."""
    return simulate(params, seed, days, keep_events=False)


def run_one(job: Job, params: Scenario, run_fn: Callable = simulate_run) -> Outcome:
    """Run one job where it is scheduled; the model's exceptions become a failed Outcome."""
    where = f"{socket.gethostname()}:{os.getpid()}"
    try:
        result = run_fn(params, job.seed, job.days)
    except Exception as exc:  # noqa: BLE001 - any model error fails this run, not the batch
        return Outcome(job.run_id, error=f"{type(exc).__name__}: {exc}",
                       traceback=traceback.format_exc(), code_version=code_version(), where=where)
    return Outcome(job.run_id, summary=dict(result.summary), series=result.series,
                   places=getattr(result, "places", None), code_version=code_version(),
                   where=where)


# ------------------------------------------------------------------ engines


@dataclass(frozen=True)
class EngineSpec:
    """Where runs execute: workers=0 is serial (no Dask); `scheduler` is an existing cluster."""

    workers: int | None = None
    scheduler: str | None = None
    dashboard: bool = False


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def max_workers() -> int:
    """The most local workers a batch starts: each is a process with its own memory, and the
    model is CPU-bound, so more than a few per core only slow the machine down."""
    return MAX_WORKERS_PER_CORE * default_workers()


class SerialRunner:
    """Runs jobs one after another in this process: the reference for reproducibility tests."""

    def __init__(self):
        self.description = {"kind": "serial"}

    def outcomes(self, jobs, scenarios, run_fn) -> Iterator[Outcome]:
        for job in jobs:
            yield run_one(job, scenarios[job.params_key], run_fn)


class DaskRunner:
    """Streams outcomes from a Dask client as they complete, a bounded number in flight."""

    def __init__(self, client, description: dict):
        self.client, self.description = client, description
        threads = sum(client.nthreads().values())
        self.window = IN_FLIGHT_PER_THREAD * max(threads, 1)

    def outcomes(self, jobs, scenarios, run_fn) -> Iterator[Outcome]:
        from distributed import as_completed

        pending, in_flight, queue = iter(jobs), {}, as_completed()

        def submit(job: Job) -> None:
            key = f"run-{job.run_id}"
            in_flight[key] = job
            queue.add(self.client.submit(run_one, job, scenarios[job.params_key], run_fn,
                                         key=key, retries=RETRIES))

        for job in islice(pending, self.window):
            submit(job)
        for future in queue:
            job = in_flight.pop(future.key)
            nxt = next(pending, None)
            if nxt is not None:
                submit(nxt)  # before yielding, so workers stay busy while results are written
            yield _outcome_of(future, job)
            future.release()


def _outcome_of(future, job: Job) -> Outcome:
    """A finished future's Outcome; errors Dask raised itself (e.g. KilledWorker) included."""
    if future.status == "finished":
        return future.result()
    if future.status == "error":
        exc = future.exception()
        trace = "".join(traceback.format_exception(exc)) if exc else ""
        return Outcome(job.run_id, error=f"{type(exc).__name__}: {exc}", traceback=trace,
                       where="dask")
    raise BatchError(f"Dask reports run {job.run_id} as {future.status} (scheduler lost?); "
                     "finished runs are kept, continue with --resume")


@contextmanager
def start_engine(spec: EngineSpec):
    """Yield a runner for `spec`; the local cluster or the connection closes on exit."""
    if spec.workers == 0 and spec.scheduler is None:
        yield SerialRunner()
        return
    from distributed import Client, LocalCluster

    if spec.scheduler:
        with connect(spec.scheduler) as client:
            yield DaskRunner(client, {"kind": "scheduler", "address": spec.scheduler,
                                      "workers": len(client.nthreads())})
        return
    workers = spec.workers or default_workers()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":8787" if spec.dashboard else None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield DaskRunner(client, {"kind": "local", "workers": workers, "threads_per_worker": 1,
                                  "dashboard": cluster.dashboard_link if spec.dashboard else None})


def connect(address: str):
    """A Client for an existing scheduler, or a BatchError saying why there is none.

    The address is untrusted: anything may listen there. distributed waits for the peer's
    handshake with no time limit, so a web server would hang the batch, and a proxy's reply,
    read as frame lengths, would have it allocate exabytes. So the peer is first asked for
    Dask's handshake, without deserialising anything, under a hard time limit.
    """
    from distributed import Client

    try:
        _in_fresh_loop(_handshake(address, CONNECT_TIMEOUT_S))
        return Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except TimeoutError:
        raise BatchError(f"cannot reach the Dask scheduler at {address}: no Dask handshake "
                         f"within {CONNECT_TIMEOUT_S} s (is something else listening "
                         "there?)") from None
    except Exception as exc:  # noqa: BLE001 - whatever the peer sent, it is no scheduler
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BatchError(f"cannot reach the Dask scheduler at {address}: {reason}") from None


async def _handshake(address: str, seconds: float) -> None:
    """Open a Dask comm to `address` and read its handshake, all within `seconds`."""
    from distributed.comm import connect as open_comm
    from distributed.security import Security

    tls = Security().get_connection_args("client")  # as Client would, from Dask's config
    # open_comm gives up on a closed port by itself after `seconds`; the outer limit, a
    # second later, catches a peer that accepts the connection but never answers like Dask
    comm = await asyncio.wait_for(
        open_comm(address, timeout=seconds, deserialize=False, **tls), seconds + 1)
    await comm.close()


def _in_fresh_loop(coroutine) -> None:
    """Run a coroutine to completion on its own event loop in a short-lived thread, so the
    probe works even when called from code that already runs a loop (a notebook)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()
