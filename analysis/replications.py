"""The sequential replication rule of `corridor batch --reps auto`: as many runs as the
outcomes need, found round by round.

How many replications are enough depends on how much the outcomes vary, which is known only
after some runs. So the batch runs a first round (`min_reps` per scenario), and after each
round holds every watched outcome of every scenario against the precision rule
(`analysis.stats.precision`: the 95% CI half-width, as `corridor compare` computes it, at
most `precision` x |mean|). If some pair falls short, the next round brings every scenario to
the replications the worst pair needs, as `analysis.stats.replications_needed` estimates
them, but at most twice as many as now (a few runs' standard deviation is itself uncertain),
at most `max_reps`, and no more than the time budget leaves room for, at the slowest rate
of the rounds so far with a margin. It stops when every assessable pair meets the rule, at the cap, when the
budget leaves no room for another round, or when a run failed, and says which.

Every scenario gets the same number of replications: replicate k of a scenario is paired with
replicate k of the baseline (common random numbers), so a scenario that has met the rule
still runs the replicates its comparisons need. A replicate's seed depends only on the seed
entropy and its index (`analysis.plan`), so the round structure changes no number: a batch
grown to 12 replications holds the runs of `--reps 12`, bit for bit.

A mean of 0 (an outcome that never happened, e.g. identified victims deported where visas are
given) has no relative half-width; such pairs are "not assessable: mean 0" and do not ask for
more runs. The rounds, their verdicts and the stopping reason go to the batch's
`replications.json`, which `corridor report` summarises and `--resume` continues from.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.compare import HEADLINE_OUTCOMES
from analysis.files import atomic_write
from analysis.plan import MAX_REPS, BatchError, Plan, now_iso
from analysis.stats import Precision, precision
from model.ledger import OUTCOME_NAMES

REPLICATIONS_FILE = "replications.json"
#: The longest time budget accepted (a week): a larger one is a typo, not a plan.
MAX_MINUTES = 7 * 24 * 60
#: A round at most multiplies the replications by this (pilot estimates are noisy).
GROWTH = 2
#: A round is sized to take at most 1/MARGIN of the budget left, at the slowest wave of runs
#: seen so far: a shared machine's load changes between rounds (measured: a round of 20 runs
#: took 30% longer per run than the round of 25 before it).
MARGIN = 1.15
STOP_REASONS = ("met", "cap", "time", "failed", "nothing to assess")


@dataclass(frozen=True)
class Rule:
    """The replication rule's settings; checked on creation (BatchError: one line, exit 2)."""

    precision: float = 0.10
    outcomes: tuple[str, ...] = HEADLINE_OUTCOMES
    min_reps: int = 5
    max_reps: int = 50
    max_minutes: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "outcomes", tuple(dict.fromkeys(self.outcomes)))
        problem = self.problem()
        if problem:
            raise BatchError(problem)

    def problem(self) -> str | None:
        """What is wrong with these settings, in one line naming the option; None if fine."""
        if not _number(self.precision) or not 0 < self.precision <= 1:
            return (f"--precision must be a fraction of the mean above 0 and at most 1 "
                    f"(0.10 for 10%), got {self.precision}")
        if not _whole(self.min_reps) or not 2 <= self.min_reps <= MAX_REPS:
            return (f"--min-reps must be a whole number from 2 (a confidence interval needs "
                    f"two runs) to {MAX_REPS:,}, got {self.min_reps}")
        if not _whole(self.max_reps) or not self.min_reps <= self.max_reps <= MAX_REPS:
            return (f"--max-reps must be a whole number from --min-reps ({self.min_reps}) to "
                    f"{MAX_REPS:,}, got {self.max_reps}")
        if self.max_minutes is not None and (
                not _number(self.max_minutes) or not 0 < self.max_minutes <= MAX_MINUTES):
            return (f"--max-minutes must be above 0 and at most {MAX_MINUTES:,} (a week), "
                    f"got {self.max_minutes}")
        return _outcome_problem(self.outcomes)

    def record(self) -> dict:
        record = {"precision": self.precision, "outcomes": list(self.outcomes),
                  "min_reps": self.min_reps, "max_reps": self.max_reps}
        if self.max_minutes is not None:
            record["max_minutes"] = self.max_minutes
        return record

    @classmethod
    def from_record(cls, record, path: Path) -> Rule:
        """The rule a batch recorded, checked like the options (the file may be edited)."""
        if not isinstance(record, dict) or not isinstance(record.get("outcomes"), list):
            raise BatchError(f"{path}: rule: expected a table with precision, outcomes, "
                             "min_reps and max_reps")
        try:
            return cls(precision=record.get("precision"), outcomes=tuple(record["outcomes"]),
                       min_reps=record.get("min_reps"), max_reps=record.get("max_reps"),
                       max_minutes=record.get("max_minutes"))
        except (BatchError, TypeError) as exc:
            raise BatchError(f"{path}: rule: {exc}") from None


def _number(value) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _outcome_problem(outcomes: tuple) -> str | None:
    if not outcomes:
        return "--outcomes names no outcome; give comma-separated names from the catalogue"
    for outcome in outcomes:
        if outcome not in OUTCOME_NAMES:
            hint = difflib.get_close_matches(str(outcome), OUTCOME_NAMES, n=1)
            did_you_mean = f"; did you mean '{hint[0]}'?" if hint else ""
            return (f"--outcomes: unknown outcome {str(outcome)!r}{did_you_mean} (the "
                    "outcome catalogue, model.ledger.OUTCOMES, lists them)")
    return None


# ------------------------------------------------------------------ verdicts


@dataclass(frozen=True)
class Verdict:
    """One watched outcome of one scenario against the rule."""

    outcome: str
    scenario: str
    precision: Precision

    @property
    def status(self) -> str:
        return self.precision.status

    def record(self) -> dict:
        p = self.precision
        return {"outcome": self.outcome, "scenario": self.scenario, "n": p.n,
                "mean": _finite(p.mean), "rel_half_width": _finite(p.rel_half_width),
                "needed": _finite(p.needed), "status": p.status, "reason": p.reason}


def _finite(value: float) -> float | None:
    """A number for JSON: NaN and infinities as null."""
    return float(value) if value is not None and math.isfinite(value) else None


def assess(summaries: pd.DataFrame, scenarios: list[str], rule: Rule) -> list[Verdict]:
    """Every watched outcome of every scenario, from the done runs' summaries."""
    verdicts = []
    for outcome in rule.outcomes:
        for scenario in scenarios:
            runs = summaries[summaries["scenario"] == scenario] if len(summaries) else summaries
            values = runs[outcome] if outcome in runs.columns else pd.Series(dtype=float)
            verdicts.append(Verdict(outcome, scenario,
                                    precision(values.to_numpy(dtype=float), rule.precision)))
    return verdicts


def worst(verdicts: list[Verdict]) -> Verdict | None:
    """The assessable pair furthest from the rule (largest relative half-width)."""
    assessable = [v for v in verdicts if v.status != "not assessable"]
    return max(assessable, key=lambda v: v.precision.rel_half_width, default=None)


# ------------------------------------------------------------------ rounds


@dataclass
class Rounds:
    """Drives a batch round by round: `extend` is called after each round's runs and returns
    the next round's plan, or None to stop. Everything it decides goes to replications.json
    as it happens, so an interrupted batch keeps its rounds."""

    rule: Rule
    folder: Path
    on_round: Callable[[dict], None] | None = None
    started: float = field(default_factory=time.monotonic)
    record: dict = field(default_factory=dict)
    _ran: int = 0           # runs and run time this session, at the end of the last round
    _seconds: float = 0.0
    _wave_times: list[float] = field(default_factory=list)  # per round: seconds a wave of
    #                         `workers` runs side by side took (rounds that ran something)
    _assess_seconds: float = 0.0  # the last assessment's time (the next one follows a round)

    def _begin(self) -> None:
        """Carry on the rounds of earlier sessions (read once the plan is published: a
        forced re-plan has moved them to history/, and its rounds start afresh)."""
        previous = read_replications(self.folder) or {}
        self.record = {"rule": self.rule.record(), "rounds": previous.get("rounds", []),
                       "session": previous.get("session", 0) + 1}

    def extend(self, plan: Plan, report) -> Plan | None:
        """After a round: assess, record, and plan the next round (None: stop)."""
        from analysis.store import Store

        if not self.record:
            self._begin()
        workers = max(1, int(report.engine.get("workers", 1) or 1))
        ran, seconds = report.ran - self._ran, report.seconds - self._seconds
        self._ran, self._seconds = report.ran, report.seconds
        if ran:
            self._wave_times.append(seconds / math.ceil(ran / workers))
        assessing = time.monotonic()
        verdicts = assess(Store(self.folder).summaries(), list(plan.scenarios), self.rule)
        self._assess_seconds = time.monotonic() - assessing
        next_reps, stop = self.decide(plan, report, verdicts, workers)
        self._note_round(plan, ran, seconds, verdicts, next_reps)
        if stop is not None:
            self.record["stop"] = {"reason": stop[0], "text": stop[1], "reps": plan.reps,
                                   "rounds": len(self.record["rounds"]), "time": now_iso()}
        self.record["pairs"] = [v.record() for v in verdicts]
        write_replications(self.folder, self.record)
        if self.on_round:
            self.on_round(self.record)
        return None if next_reps is None else plan.with_reps(next_reps)

    def decide(self, plan: Plan, report, verdicts: list[Verdict],
               workers: int) -> tuple[int | None, tuple[str, str] | None]:
        """The next round's replications per scenario, or None and why the rule stops."""
        reps, rule = plan.reps, self.rule
        short = [v for v in verdicts if v.status == "not met"]
        if report.failed:
            return _stop("failed", f"{report.failed} runs failed (see failures/); 'corridor "
                         "batch --resume' retries them and goes on with the rule")
        if reps < rule.min_reps:
            target = rule.min_reps  # a resumed batch smaller than the first round
        elif not short:
            if not any(v.status == "met" for v in verdicts):
                return _stop("nothing to assess", "no outcome of any scenario can be held "
                             "against the rule (each has a mean of 0 or no values)")
            return _stop("met", f"every assessable outcome of every scenario has a 95% CI "
                         f"half-width at most {rule.precision:.0%} of its mean")
        elif reps >= rule.max_reps:
            return _stop("cap", f"the cap of {rule.max_reps} replications per scenario is "
                         f"reached and {len(short)} outcome-scenario pairs do not meet the rule")
        else:
            needed = max(math.ceil(min(v.precision.needed, MAX_REPS)) for v in short)
            target = min(max(needed, reps + 1), GROWTH * reps, rule.max_reps)
        affordable = self._affordable(reps, len(plan.scenarios), workers)
        if affordable is not None and affordable < target:
            if affordable <= reps:
                return _stop("time", self._time_text())
            target = affordable
        return target, None

    def _affordable(self, reps: int, scenarios: int, workers: int) -> int | None:
        """The most replications per scenario the time budget leaves room for: whole waves
        of runs (one per worker, side by side) at the slowest wave time of the rounds so
        far, times MARGIN, and the assessment after them. None: no budget, or nothing
        measured yet."""
        per_wave = max(self._wave_times, default=0.0) * MARGIN
        if self.rule.max_minutes is None or per_wave <= 0:
            return None
        used = time.monotonic() - self.started
        left = self.rule.max_minutes * 60 - used - self._assess_seconds
        waves = max(0, math.floor(left / per_wave))
        return reps + waves * workers // scenarios

    def _time_text(self) -> str:
        per_wave = max(self._wave_times, default=0.0)
        used = (time.monotonic() - self.started) / 60
        return (f"the time budget of {self.rule.max_minutes:g} min leaves no room for another "
                f"round ({used:.1f} min used; a wave of runs, one per worker, took up to "
                f"{per_wave:.1f} s)")

    def _note_round(self, plan: Plan, ran: int, seconds: float, verdicts: list[Verdict],
                    next_reps: int | None) -> None:
        counts = {s: sum(v.status == s for v in verdicts)
                  for s in ("met", "not met", "not assessable")}
        bad = worst(verdicts)
        self.record["rounds"].append({
            "session": self.record["session"], "round": len(self.record["rounds"]) + 1,
            "reps": plan.reps, "runs": ran, "seconds": round(seconds, 2),
            "met": counts["met"], "assessable": counts["met"] + counts["not met"],
            "not_assessable": counts["not assessable"],
            "worst": None if bad is None else {
                "outcome": bad.outcome, "scenario": bad.scenario,
                "rel_half_width": _finite(bad.precision.rel_half_width)},
            "next_reps": next_reps})


def _stop(reason: str, text: str) -> tuple[None, tuple[str, str]]:
    """No next round, and why (one of STOP_REASONS, and in words)."""
    return None, (reason, text)


# ------------------------------------------------------------------ the file


def write_replications(folder: Path, record: dict) -> None:
    text = json.dumps(record, indent=1, allow_nan=False) + "\n"
    atomic_write(folder / REPLICATIONS_FILE, lambda f: f.write(text.encode()))


def read_replications(folder: Path) -> dict | None:
    """replications.json of a batch folder, checked enough to be read; None if absent."""
    from analysis.store import StoreError
    from analysis.userfiles import UserFileError, read_text

    path = folder / REPLICATIONS_FILE
    if not os.path.lexists(path):
        return None
    try:
        record = json.loads(read_text(path))
    except UserFileError as exc:
        raise StoreError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise StoreError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not (isinstance(record, dict) and isinstance(record.get("rounds", []), list)
            and all(isinstance(r, dict) for r in record.get("rounds", []))
            and isinstance(record.get("pairs", []), list)
            and all(isinstance(p, dict) for p in record.get("pairs", []))
            and isinstance(record.get("stop", {}), dict)
            and _whole(record.get("session", 0))):
        raise StoreError(f"{path}: not a replications record (a JSON object with a rule, "
                         "a list of rounds and a list of pairs)")
    return record


def recorded_rule(folder: Path) -> Rule | None:
    """The rule a batch was run under, for `--resume` to go on with it; None if it had none."""
    record = read_replications(folder)
    return None if record is None else Rule.from_record(record.get("rule"), folder / REPLICATIONS_FILE)


# ------------------------------------------------------------------ words


def round_line(record: dict) -> str:
    """One line per round: 'round 2: 10 reps per scenario; 58 of 66 pairs meet ...'."""
    last, rule = record["rounds"][-1], record["rule"]
    line = (f"round {last['round']}: {last['reps']} reps per scenario; {last['met']} of "
            f"{last['assessable']} outcome-scenario pairs meet the {rule['precision']:.0%} rule")
    if last["not_assessable"]:
        line += f" ({last['not_assessable']} not assessable)"
    bad = last.get("worst")
    if bad and bad.get("rel_half_width") is not None:
        line += (f"; worst: {bad['outcome']} in {bad['scenario']}, half-width "
                 f"{bad['rel_half_width']:.1%} of the mean")
    nxt = last.get("next_reps")
    return line + (f"; next: {nxt} reps" if nxt is not None else "; stop")


def final_lines(record: dict) -> list[str]:
    """How the rule ended: the stopping reason, the pairs short of it, those not assessable."""
    stop = record.get("stop") or {}
    rule = record.get("rule") or {}
    lines = [f"replications: {stop_summary(record)}: {stop.get('text', '?')}"]
    pairs = record.get("pairs", [])
    short = [p for p in pairs if p.get("status") == "not met"]
    if short:
        lines.append(f"not meeting the {rule.get('precision', 0.1):.0%} rule (95% CI half-width "
                     "over the mean; replications it would need):")
        lines += [f"  {p['outcome']:<32}{p['scenario']:<26}{_percent(p.get('rel_half_width'))}"
                  f"  {_count(p.get('needed'))}" for p in short]
    closed = [p for p in pairs if p.get("status") == "not assessable"]
    for reason in dict.fromkeys(p.get("reason", "") for p in closed):
        which = [p for p in closed if p.get("reason", "") == reason]
        named = "; ".join(f"{outcome} in " + ", ".join(p["scenario"] for p in which
                                                      if p["outcome"] == outcome)
                          for outcome in dict.fromkeys(p["outcome"] for p in which))
        lines.append(f"not assessable ({reason}): {named}")
    return lines


def stop_summary(record: dict) -> str:
    """'20 per scenario after 4 rounds; stopped (time)' (or that the rule has not stopped)."""
    stop = record.get("stop") or {}
    rounds = stop.get("rounds", len(record.get("rounds", [])))
    reps = stop.get("reps", "?")
    if not stop:
        return f"chosen by the rule, {_plural(rounds, 'round')} so far, not stopped yet"
    return (f"{reps} per scenario after {_plural(rounds, 'round')}; stopped "
            f"({stop.get('reason', '?')})")


def _plural(count, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _percent(value) -> str:
    return f"{value:7.1%}" if isinstance(value, int | float) else "      ?"


def _count(value) -> str:
    return f"about {value:,.0f}" if isinstance(value, int | float) else "very many"
