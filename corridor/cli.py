"""`corridor run | describe | batch | sweep | calibrate | runs | compare | report | patterns | classroom`: parse arguments, call the model or the analysis, print results.

User mistakes (a bad scenario file, a bad option) end with one line on stderr
and exit status 2, never a traceback. Output into a closed pipe (`corridor compare ... |
head -1`) ends quietly with status 141, what a shell reports for a command that SIGPIPE
stopped, so `set -o pipefail` scripts see the same as with any other Unix tool.

Limits on options (kept in step with the constants they name by tests/test_untrusted_input.py):
--days at most 3650 (`model.scenario.MAX_DAYS`), --reps at most 10,000
(`analysis.plan.MAX_REPS`), --workers at most 4 per core
(`analysis.engines.MAX_WORKERS_PER_CORE`; more is lowered, with a note). The replication
rule's options (`--reps auto`) are checked by `analysis.replications.Rule`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from model.errors import UserError, one_line

EXIT_USAGE = 2
#: 128 + SIGPIPE: the status a shell reports for `yes | head -1`.
EXIT_BROKEN_PIPE = 141


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line like every other bad input: the error and
    where to read more, instead of the usage block."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"error: {self.prog}: {one_line(message)} "
                  f"(see '{self.prog} --help')\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def days_int(text: str) -> int:
    """--days: a whole number of days, at most the schema's limit (ten years)."""
    from model.scenario import MAX_DAYS

    value = positive_int(text)
    if value > MAX_DAYS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_DAYS}, got {value}")
    return value


def whole_number(text: str) -> int:
    """A whole number; its range is checked where it is used (--reps: `make_plan`)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def reps_arg(text: str) -> int | str:
    """--reps: a whole number (its range is checked by `make_plan`), or 'auto' for the
    replication rule."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'auto', got {text!r}") from None


def real_number(text: str) -> float:
    """A number; whether it is finite and in range is checked where it is used."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def comma_names(text: str) -> list[str]:
    """--outcomes A,B: the names, stripped, empty ones dropped (whether they are known is
    checked where they are used)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def seed_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="corridor",
        description="Trafficking-risk simulation of a Tapachula-style migration corridor.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run one replication of one scenario")
    run.add_argument("scenario", type=Path, help="scenario file, e.g. scenarios/baseline_2018.toml")
    run.add_argument("--seed", type=seed_int, default=1, help="random seed (default 1)")
    run.add_argument("--days", type=days_int,
                     help="days to simulate, at most 3650 (default: the scenario's)")
    run.add_argument("--out", type=Path, help="output folder (default runs/<scenario>-seed<N>)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=command_run)

    describe = commands.add_parser(
        "describe", help="print a scenario as resolved (after extends) and its interventions")
    describe.add_argument("scenario", type=Path, help="scenario file")
    describe.set_defaults(handler=command_describe)
    add_batch_parser(commands)
    add_sweep_parser(commands)
    add_calibrate_parser(commands)
    add_runs_parser(commands)
    add_analysis_parsers(commands)
    add_classroom_parser(commands)
    return parser


def add_classroom_parser(commands) -> None:
    classroom = commands.add_parser(
        "classroom", help="serve the classroom page: the corridor live in a browser")
    classroom.add_argument("--host", default="127.0.0.1",
                           help="address to listen on (default 127.0.0.1, this machine only; "
                           "0.0.0.0 lets a class on the same network connect)")
    classroom.add_argument("--port", default="8765", help="port (default 8765)")
    classroom.add_argument("--lang", choices=["en", "id", "es"],
                           help="language of the page (default: each browser's own)")
    classroom.set_defaults(handler=command_classroom)


def command_classroom(args: argparse.Namespace) -> None:
    from classroom.server import serve

    serve(args.host, args.port, args.lang)


def add_batch_parser(commands) -> None:
    batch = commands.add_parser(
        "batch", help="many seeded runs of several scenarios, on Dask, into runs/<batch>/",
        description="Run every scenario REPS times (replicate k has the same seed in every "
        "scenario) on a local Dask cluster or an existing scheduler, into a resumable store; "
        "with --reps auto, in rounds until the replication rule is met or a cap is reached.")
    batch.add_argument("scenarios", type=Path, nargs="*", metavar="SCENARIO",
                       help="scenario files (with --resume: default the batch's own)")
    batch.add_argument("--reps", type=reps_arg, help="replicates per scenario, 1 to 10,000, "
                       "or 'auto': as many as the replication rule below needs (with "
                       "--resume: default the batch's, and its rule if it had one)")
    batch.add_argument("--days", type=days_int,
                       help="days to simulate, at most 3650 (default: each scenario's)")
    add_engine_options(batch)
    batch.add_argument("--out", type=Path, help="batch folder (default runs/batch-<date-time>)")
    batch.add_argument("--resume", action="store_true",
                       help="run only what is missing in --out")
    batch.add_argument("--force", action="store_true", help="with --resume: accept changed "
                       "scenarios, reps or code (finished runs still in the plan are kept)")
    batch.add_argument("--seed-entropy", type=seed_int, metavar="E",
                       help="entropy the replicate seeds are spawned from (default: fresh; "
                       "recorded in batch.toml)")
    batch.add_argument("--variants", type=Path, metavar="FILE",
                       help="run every scenario under every variant of this file (other "
                       "assumptions; see scenarios/variants/), for `compare --ensemble`")
    batch.add_argument("--dashboard", action="store_true",
                       help="serve the Dask dashboard of the local cluster on :8787")
    batch.add_argument("--quiet", action="store_true", help="no progress bar")
    add_rule_options(batch)
    batch.set_defaults(handler=command_batch)


def add_rule_options(batch: argparse.ArgumentParser) -> None:
    """The replication rule's options: only with --reps auto (defaults in
    `analysis.replications.Rule`)."""
    rule = batch.add_argument_group(
        "replication rule (--reps auto)",
        "Rounds of runs until every outcome below, in every scenario, has a 95% CI half-width "
        "at most G x its mean, or a cap or the time budget is reached; the rounds and why they "
        "stopped go to the batch's replications.json.")
    rule.add_argument("--precision", type=real_number, metavar="G",
                      help="CI half-width over the mean to reach (default 0.10)")
    rule.add_argument("--outcomes", metavar="A,B", help="comma-separated outcomes the rule "
                      "watches (default: corridor compare's headline set)")
    rule.add_argument("--min-reps", type=whole_number, metavar="N",
                      help="replicates in the first round, 2 to 10,000 (default 5)")
    rule.add_argument("--max-reps", type=whole_number, metavar="N",
                      help="replicates per scenario at most, up to 10,000 (default 50)")
    rule.add_argument("--max-minutes", type=real_number, metavar="M",
                      help="time budget of this session, from its start: each round is sized "
                      "to end within it at the slowest pace so far plus 15%%; at most a week "
                      "(default: none)")


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """Where runs execute: a local Dask cluster (default), serially, or an existing scheduler."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=seed_int,
                       help="local worker processes (default: one per core; 0 = serial, no "
                       "Dask; at most 4 per core, more is lowered with a note)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="use an existing Dask scheduler, e.g. tcp://10.0.0.5:8786")


def add_sweep_parser(commands) -> None:
    sweep = commands.add_parser(
        "sweep", help="Morris or Sobol' sensitivity sweep of a sweep file, then its indices",
        description="Run a sweep file's design (scenarios/sweeps/*.toml) on the batch engine "
        "into a store, then analyse it with SALib: indices.csv, figures, a summary. A sweep "
        "file with target = \"package.module:function\" is code, not data: the sweep imports "
        "that module and runs the function, like a Python script; run only sweep files you "
        "trust.")
    sweep.add_argument("sweep", type=Path, metavar="SWEEPFILE",
                       help="sweep file; with --analyse-only the sweep's folder runs/<sweep>")
    add_engine_options(sweep)
    sweep.add_argument("--out", type=Path, help="sweep folder (default runs/<sweep>-<date-time>)")
    sweep.add_argument("--resume", action="store_true", help="run only what is missing in --out")
    sweep.add_argument("--force", action="store_true",
                       help="with --resume: accept a changed sweep file or code")
    sweep.add_argument("--seed-entropy", type=seed_int, metavar="E",
                       help="entropy of the design and replicate seeds (default: the sweep "
                       "file's seed_entropy, else fresh; recorded)")
    sweep.add_argument("--analyse-only", action="store_true",
                       help="re-analyse a finished sweep folder instead of running")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(handler=command_sweep)


def engine_spec(args: argparse.Namespace):
    """The engine options as an EngineSpec, with --workers lowered to the cap (with a note):
    a mistyped 1000 would otherwise start a thousand processes."""
    from analysis.engines import MAX_WORKERS_PER_CORE, EngineSpec, max_workers

    workers = args.workers
    if workers is not None and workers > max_workers():
        print(f"note: --workers {workers} is more than {MAX_WORKERS_PER_CORE} per core; "
              f"using {max_workers()}", file=sys.stderr)
        workers = max_workers()
    return EngineSpec(workers=workers, scheduler=args.scheduler,
                      dashboard=getattr(args, "dashboard", False))


def command_sweep(args: argparse.Namespace) -> int:
    from analysis.sweep import SweepRequest, run_sweep
    from analysis.sweep_indices import analyse, open_sweep

    if args.analyse_only:
        if args.resume or args.force or args.out or args.seed_entropy is not None:
            raise UserError("--analyse-only takes only the sweep folder, e.g. "
                            "corridor sweep --analyse-only runs/morris_baseline-20261128-101500")
        store = open_sweep(args.sweep)
    else:
        if args.force and not args.resume:
            raise UserError("--force only applies with --resume")
        request = SweepRequest(
            file=args.sweep, out=args.out, resume=args.resume, force=args.force,
            entropy=args.seed_entropy, command=args.command_line, engine=engine_spec(args))
        report = run_sweep(request, progress=not args.quiet, on_start=print_batch_start)
        print(format_batch_end(report).replace("corridor batch --resume --out",
                                               f"corridor sweep {args.sweep} --resume --out"))
        if report.failed:
            return 1
        store = report.store
    result = analyse(store)
    print(result.summary, end="")
    print(f"wrote {', '.join(str(p.relative_to(store.path)) for p in result.files)} "
          f"in {store.path}")
    return 0


def add_calibrate_parser(commands) -> None:
    calibrate = commands.add_parser(
        "calibrate", help="fit uncertain parameters to calibration patterns (ABC-SMC, pyabc)",
        description="Approximate Bayesian computation (pyabc's ABC-SMC) of a calibration file "
        "(scenarios/calibration/*.toml): priors on scenario parameters, fitted to the "
        "calibration patterns it names (never to validation patterns). Writes abc.db (the "
        "resumable history), generations.csv, accepted.parquet, posterior.png, ensemble/ and "
        "a summary into --out.")
    calibrate.add_argument("calibration", type=Path, metavar="CALIBFILE",
                           help="calibration file, e.g. scenarios/calibration/baseline_2018.toml")
    calibrate.add_argument("--out", type=Path, help="output folder (default "
                           "runs/calibrate-<name>-<date-time>)")
    calibrate.add_argument("--resume", action="store_true",
                           help="continue the calibration in --out after its last generation")
    calibrate.add_argument("--force", action="store_true",
                           help="with --resume: continue although the model's code changed "
                           "since the calibration began (only for a change that kept results)")
    where = calibrate.add_mutually_exclusive_group()
    where.add_argument("--workers", type=seed_int,
                       help="local worker processes (default: one per core; 0 or 1 = "
                       "single-core, reproducible from the file's [abc] seed)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="use an existing Dask scheduler, e.g. tcp://10.0.0.5:8786")
    calibrate.set_defaults(handler=command_calibrate)


def command_calibrate(args: argparse.Namespace) -> int:
    import signal

    from analysis.calibrate import CalibrateRequest, run_calibration

    if args.resume and args.out is None:
        raise UserError("--resume needs --out, the folder of the calibration to continue")
    if args.force and not args.resume:
        raise UserError("--force goes with --resume (it lets a calibration continue under "
                        "changed model code)")

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:  # SIGTERM ends the run like Ctrl-C: results exported, workers stopped, resumable
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        previous = None
    try:
        report = run_calibration(CalibrateRequest(
            file=args.calibration, out=args.out, resume=args.resume, workers=args.workers,
            scheduler=args.scheduler, force=args.force,
            progress=lambda line: print(line, flush=True)))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print(report.summary)
    return 0


def add_runs_parser(commands) -> None:
    runs = commands.add_parser("runs", help="list batches, or show one")
    runs_commands = runs.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    listing = runs_commands.add_parser("list", help="every batch under runs/ with its progress")
    listing.add_argument("--root", type=Path, default=Path("runs"), help="default runs/")
    listing.set_defaults(handler=command_runs_list)
    show = runs_commands.add_parser("show", help="one batch: plan, engine, done/failed/missing")
    show.add_argument("batch", help="a batch name under runs/, or its folder")
    show.add_argument("--root", type=Path, default=Path("runs"), help="default runs/")
    show.set_defaults(handler=command_runs_show)


def add_analysis_parsers(commands) -> None:
    compare = commands.add_parser(
        "compare", help="each scenario against a baseline: CIs, paired differences, effects")
    compare.add_argument("batch", help="a batch folder (runs/<name>) or name")
    compare.add_argument("--baseline", help="scenario to compare against (default: the one "
                         "named baseline*, else the first)")
    compare.add_argument("--outcomes", help="comma-separated outcomes (default: the headline set)")
    compare.add_argument("--ensemble", action="store_true",
                         help="a batch run with --variants: each effect within each variant, "
                         "and whether its sign holds across them")
    output = compare.add_mutually_exclusive_group()
    output.add_argument("--csv", action="store_true", help="machine output: CSV on stdout")
    output.add_argument("--json", action="store_true", help="machine output: JSON on stdout")
    compare.set_defaults(handler=command_compare)

    report = commands.add_parser("report", help="write a self-contained HTML report of a batch")
    report.add_argument("batch", help="a batch folder (runs/<name>) or name")
    report.add_argument("--out", type=Path, help="HTML file (default runs/<batch>/report.html)")
    report.add_argument("--baseline", help="scenario to compare against")
    report.set_defaults(handler=command_report)

    patterns = commands.add_parser(
        "patterns", help="hold a scenario's runs against real-world patterns")
    patterns.add_argument("batch", help="a batch folder (runs/<name>) or name")
    patterns.add_argument("--scenario", help="scenario for the patterns that name none "
                          "(default: the baseline)")
    patterns.add_argument("--file", type=Path, help="patterns file (default "
                          "analysis/patterns.toml)")
    patterns.set_defaults(handler=command_patterns)


def _analysis_inputs(args: argparse.Namespace):
    from analysis.compare import HEADLINE_OUTCOMES, default_baseline
    from analysis.store import open_store

    store = open_store(args.batch)
    summaries = store.summaries()
    if summaries.empty:
        raise UserError(f"batch {store.path} has no finished runs yet")
    machine = getattr(args, "json", False) or getattr(args, "csv", False)
    for note in store.notes():  # incomplete, damaged or ignored files: said first
        print(f"note: {note}" if machine else note, file=sys.stderr if machine else sys.stdout)
    scenarios = sorted(summaries["scenario"].unique())
    baseline = getattr(args, "baseline", None) or default_baseline(scenarios)
    requested = getattr(args, "outcomes", None)
    if requested is None:
        return store, summaries, baseline, [o for o in HEADLINE_OUTCOMES
                                            if o in summaries.columns]
    outcomes = comma_names(requested)
    if not outcomes:
        raise UserError(f"--outcomes {requested!r} names no outcome; give comma-separated "
                        f"names, e.g. --outcomes {','.join(HEADLINE_OUTCOMES[:2])}")
    return store, summaries, baseline, outcomes


def command_compare(args: argparse.Namespace) -> None:
    import json

    from analysis.compare import adequacy_lines, compare, format_table, machine_records

    store, summaries, baseline, outcomes = _analysis_inputs(args)
    if args.ensemble:
        from analysis.ensemble import ensemble_compare, format_ensemble, membership, robustness

        members = membership(store.batch())
        base = members[baseline][0] if baseline in members else baseline
        if not args.baseline and members:
            from analysis.compare import default_baseline

            base = default_baseline(sorted({b for b, _, _ in members.values()}))
        table = ensemble_compare(summaries, members, base, outcomes)
        if args.json or args.csv:
            import pandas as pd

            records = table.drop(columns=["ci_method"], errors="ignore")
            if args.json:
                print(records.to_json(orient="records", indent=1))
            else:
                pd.DataFrame(records).to_csv(sys.stdout, index=False)
            return
        print(f"batch {store.path}: {len(summaries)} runs; ensemble of "
              f"{table['variant'].nunique()} variants")
        print(format_ensemble(table, robustness(table), base))
        return
    table = compare(summaries, baseline, outcomes)
    if args.json:
        print(json.dumps(machine_records(table), indent=1))
        return
    if args.csv:
        import pandas as pd

        pd.DataFrame(machine_records(table)).to_csv(sys.stdout, index=False)
        return
    print(f"batch {store.path}: {len(summaries)} runs; baseline {baseline}; paired by seed")
    print(format_table(table))
    print("\nreplications (95% CI half-width relative to the mean, worst scenario):")
    print("\n".join(adequacy_lines(table)))


def command_report(args: argparse.Namespace) -> None:
    from analysis.report import build_report, load_batch, write_report

    store, _, baseline, _ = _analysis_inputs(args)
    out = args.out or store.path / "report.html"
    html_text = build_report(load_batch(store), baseline)
    try:
        write_report(html_text, out)
    except OSError as exc:
        raise UserError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    print(f"report written to {out}")


def command_patterns(args: argparse.Namespace) -> None:
    from analysis.ensemble import membership, reference_runs, reference_variant_name
    from analysis.patterns import DEFAULT_PATTERNS, evaluate, format_patterns, load_patterns

    store, summaries, baseline, _ = _analysis_inputs(args)
    series = store.series()
    members = membership(store.batch())
    if members:  # an ensemble batch: the patterns are held against its reference variant
        print(f"ensemble batch: patterns held against the reference variant "
              f"'{reference_variant_name(members)}'")
        summaries, series = reference_runs(summaries, members), reference_runs(series, members)
        baseline = members[baseline][0] if baseline in members else baseline
    scenario = args.scenario or baseline
    table = evaluate(load_patterns(args.file or DEFAULT_PATTERNS), summaries, series, scenario)
    print(format_patterns(table, scenario))


def command_run(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from analysis.files import default_out_dir, write_run
    from model.run import simulate
    from model.scenario import load_scenario

    params = load_scenario(args.scenario)
    days = args.days or params.days
    out_dir = args.out or default_out_dir(params, args.seed)
    created = output_folder(out_dir)
    try:
        with tqdm(total=params.warmup_days + days, desc=f"{params.name} seed {args.seed}", unit="day",
                  disable=args.quiet, file=sys.stderr) as bar:
            result = simulate(params, args.seed, days, on_day=lambda: bar.update(1))
    except BaseException:
        if created:
            _remove_if_empty(out_dir)
        raise
    try:
        write_run(result, out_dir)
    except OSError as exc:
        raise UserError(f"cannot write results to {out_dir}: {exc.strerror or exc}") from None
    print(format_summary(result.summary))
    print(f"\nwritten to {out_dir}/ (summary.json, series.parquet, events.parquet, "
          "places.parquet)")


def output_folder(out_dir: Path) -> bool:
    """Create the run's folder and prove it takes files before the run starts, so a file in
    the way or a read-only folder is one line now, not a lost run later. True if created."""
    from analysis.files import prepare_folder

    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise UserError(f"{out_dir} is a file, not a folder; choose another --out")
        created = not out_dir.exists()
        prepare_folder(out_dir)
    except (OSError, ValueError) as exc:  # ValueError: a null byte in the path
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UserError(f"cannot write results to {out_dir}: {reason}") from None
    return created


def _remove_if_empty(folder: Path) -> None:
    """Take back a folder this command created, if the run never wrote into it."""
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty, or gone: leave it as it is


def command_describe(args: argparse.Namespace) -> None:
    from model.scenario import describe_scenario, load_scenario

    print(describe_scenario(load_scenario(args.scenario)))


def command_batch(args: argparse.Namespace) -> int:
    from analysis.batch import BatchRequest, run_batch
    from analysis.replications import final_lines, round_line

    rule = replication_rule(args)
    request = BatchRequest(
        files=args.scenarios, reps=None if rule else args.reps, days=args.days,
        entropy=args.seed_entropy, out=args.out, resume=args.resume, force=args.force,
        command=args.command_line, engine=engine_spec(args), variants=args.variants,
        rule=rule)
    if args.force and not args.resume:
        raise UserError("--force only applies with --resume")
    report = run_batch(request, progress=not args.quiet, on_start=print_batch_start,
                       on_round=lambda record: print(round_line(record), flush=True))
    print(format_batch_end(report))
    if report.replications and report.replications.get("stop"):
        print("\n".join(final_lines(report.replications)))
    return 1 if report.failed else 0


RULE_OPTIONS = {"precision": "--precision", "outcomes": "--outcomes", "min_reps": "--min-reps",
                "max_reps": "--max-reps", "max_minutes": "--max-minutes"}


def replication_rule(args: argparse.Namespace):
    """The replication rule of --reps auto (checked: one line for a bad value), or None; its
    options without --reps auto are a mistake, not something to ignore."""
    from analysis.replications import Rule

    given = {key: getattr(args, key) for key in RULE_OPTIONS if getattr(args, key) is not None}
    if args.reps != "auto":
        if given:
            raise UserError(f"{RULE_OPTIONS[next(iter(given))]} only applies with --reps auto")
        return None
    if "outcomes" in given:
        given["outcomes"] = tuple(comma_names(given["outcomes"]))
    return Rule(**given)


def print_batch_start(report) -> None:
    engine = report.engine or {"kind": "none (nothing to run)"}
    workers = f", {engine['workers']} workers" if "workers" in engine else ""
    print(f"batch {report.store.path}: {report.planned} runs planned, {report.done_before} "
          f"already done; engine {engine['kind']}{workers}", flush=True)
    if engine.get("dashboard"):
        print(f"Dask dashboard: {engine['dashboard']}", flush=True)


def format_batch_end(report) -> str:
    missing = report.planned - report.done - report.failed
    first = (f"{report.store.path}: {report.done} of {report.planned} runs done, "
             f"{report.failed} failed, {missing} missing ({report.seconds:.1f} s this session)")
    lines = [first]
    if report.failed:
        lines.append(f"failures are in {report.store.path}/failures/; "
                     f"'corridor batch --resume --out {report.store.path}' retries them")
    lines.append(f"see: corridor runs show {report.store.path}")
    return "\n".join(lines)


def command_runs_list(args: argparse.Namespace) -> None:
    from analysis.store import list_stores

    stores = list_stores(args.root)
    if not stores:
        print(f"no batches in {args.root}/")
        return
    print(format_table([batch_row(store) for store in stores]))


def batch_row(store) -> dict:
    from analysis.store import StoreError

    try:
        record, counts = store.batch(), store.counts()
    except StoreError:
        return {"batch": store.name, "created": "?", "scenarios": "?", "reps": "?",
                **dict.fromkeys(("planned", "done", "failed", "missing"), "?"),
                "state": "unreadable (corridor runs show says why)"}
    totals = counts.sum()
    return {"batch": store.name, "created": record.get("created", "?"),
            "scenarios": len(counts), "reps": record.get("reps", "?"),
            **{key: int(totals[key]) for key in ("planned", "done", "failed", "missing")},
            "state": "complete" if totals["done"] == totals["planned"] else "incomplete"}


def command_runs_show(args: argparse.Namespace) -> None:
    from analysis.store import open_store

    store = open_store(args.batch, args.root)
    record, env = store.batch(), _env_or_empty(store)
    git = env.get("git") or {}
    engine = env.get("engine") or {}
    print(f"batch       {store.path}")
    print(f"created     {record.get('created', '?')}")
    print(f"command     {record.get('command', '?')}")
    print(f"reps        {record.get('reps')}    seed entropy {record.get('seed_entropy')}")
    replications = store.replications()
    if replications:
        from analysis.replications import stop_summary

        print(f"rule        {stop_summary(replications)} (replications.json)")
    print(f"code        {record.get('code_version')}    git {git.get('commit') or '?'}"
          f"{' (dirty)' if git.get('dirty') else ''}")
    print(f"engine      {engine.get('kind', '?')}"
          f"{', ' + str(engine['workers']) + ' workers' if 'workers' in engine else ''}"
          f"    sessions {1 + len(env.get('resumes', [])) if env else 0}")
    counts = store.counts()
    print()
    print(counts.to_string())
    print_failures(store)
    print_state(store, counts)


def _env_or_empty(store) -> dict:
    try:
        return store.env()
    except FileNotFoundError:
        return {}


def print_failures(store, limit: int = 5) -> None:
    failures = store.failures()
    if failures.empty:
        return
    print(f"\nfailed runs (first {min(limit, len(failures))} of {len(failures)}; "
          f"details in {store.path}/failures/):")
    for row in failures.head(limit).itertuples():
        print(f"  {row.run_id}  {row.scenario} rep {row.rep}: {row.error}")


def print_state(store, counts) -> None:
    totals = counts.sum()
    scan = store.scan()
    if scan.stale:
        print(f"\n{len(scan.stale)} finished runs are no longer in the plan (kept, not read)")
    for warning in scan.warnings():
        print(f"\n{warning}")
    if totals["done"] == totals["planned"]:
        print(f"\ncomplete: {totals['done']} of {totals['planned']} runs done")
    else:
        print(f"\nincomplete: {totals['done']} of {totals['planned']} runs done, "
              f"{totals['failed']} failed, {totals['missing']} missing; continue with "
              f"'corridor batch --resume --out {store.path}'")


def format_table(rows: list[dict]) -> str:
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = ["  ".join(f"{c:<{widths[c]}}" for c in columns)]
    lines += ["  ".join(f"{r[c]!s:<{widths[c]}}" for c in columns) for r in rows]
    return "\n".join(lines)


#: The per-year columns `corridor run` prints (summary.json has every flow).
YEAR_COLUMNS = ("arrivals", "asylum_claims", "detentions", "deportations", "victims_true",
                "victims_identified", "victims_protected", "tvrh_issued",
                "traffickers_arrested")


def format_summary(summary: dict) -> str:
    from model.ledger import PER_YEAR

    scalars = {k: v for k, v in summary.items() if k != PER_YEAR}
    width = max(len(k) for k in scalars)
    lines = []
    for key, value in scalars.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else (
            f"{value:,}" if isinstance(value, int) else str(value))
        lines.append(f"{key:<{width}}  {shown:>12}")
    years = summary.get(PER_YEAR)
    if years:
        lines += ["", "per calendar year", "year  " + " ".join(f"{c:>20}" for c in YEAR_COLUMNS)]
        lines += [f"{year:<5} " + " ".join(f"{flows[c]:>20,}" for c in YEAR_COLUMNS)
                  for year, flows in years.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage mistake, already printed in one line
        return exc.code if isinstance(exc.code, int) else 0
    args.command_line = shlex.join(["corridor", *argv])
    try:
        status = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows up here, where it can still be handled
    except UserError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("interrupted; files already written are complete", file=sys.stderr)
        return 130
    return status or 0


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null after the reader has gone, so the interpreter's last flush
    at exit does not fail again and print 'Exception ignored ... BrokenPipeError'."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
