"""`corridor run | ...`: parse arguments, call the model or the analysis, print results.

User mistakes (a bad scenario file, a bad option) end with one line on stderr
and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.scenario import ScenarioError

EXIT_USAGE = 2


class UserError(Exception):
    """A mistake the user can fix; printed as one line."""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def seed_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corridor",
        description="Trafficking-risk simulation of a Tapachula-style migration corridor.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run one replication of one scenario")
    run.add_argument("scenario", type=Path, help="scenario file, e.g. scenarios/baseline_2018.toml")
    run.add_argument("--seed", type=seed_int, default=1, help="random seed (default 1)")
    run.add_argument("--days", type=positive_int, help="days to simulate (default: the scenario's)")
    run.add_argument("--out", type=Path, help="output folder (default runs/<scenario>-seed<N>)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=command_run)

    describe = commands.add_parser(
        "describe", help="print a scenario as resolved (after extends) and its interventions")
    describe.add_argument("scenario", type=Path, help="scenario file")
    describe.set_defaults(handler=command_describe)
    return parser


def command_run(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from model.run import default_out_dir, simulate, write_run
    from model.scenario import load_scenario

    params = load_scenario(args.scenario)
    days = args.days or params.days
    out_dir = args.out or default_out_dir(params, args.seed)
    with tqdm(total=days, desc=f"{params.name} seed {args.seed}", unit="day",
              disable=args.quiet, file=sys.stderr) as bar:
        result = simulate(params, args.seed, days, on_day=lambda: bar.update(1))
    try:
        write_run(result, out_dir)
    except OSError as exc:
        raise UserError(f"cannot write results to {out_dir}: {exc.strerror or exc}") from None
    print(format_summary(result.summary))
    print(f"\nwritten to {out_dir}/ (summary.json, series.parquet, events.parquet)")


def command_describe(args: argparse.Namespace) -> None:
    from model.scenario import describe_scenario, load_scenario

    print(describe_scenario(load_scenario(args.scenario)))


def format_summary(summary: dict) -> str:
    width = max(len(k) for k in summary)
    lines = []
    for key, value in summary.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else (
            f"{value:,}" if isinstance(value, int) else str(value))
        lines.append(f"{key:<{width}}  {shown:>12}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except (ScenarioError, UserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted; files already written are complete", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
