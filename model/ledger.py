"""The ledger: everything a run observes, written through a few verbs, and what it reports.

Agents and institutions act; the ledger only counts. Rules never write a count of their own:
they tell the ledger what happened (`transition`, `add`, `sample`, `victim`, `at_place`,
`note`) and the ledger keeps

- people in each state by sex, now (`count`, `present`);
- named tallies (`tally`), victims by measure and group (`victims`), samples of durations
  and debts (`samples`);
- the event log: one row per change of state, with its day, place and cause;
- per-place totals over the run, and this month's per place (which traffickers adapt to).

The **outcome catalogue** (`OUTCOMES`) names every scalar a run reports, with its unit, a
one-line meaning and whether more is better; the daily series' columns are in `SERIES`.
The summary, the daily reporters, `corridor compare`, the report's labels, the sweep files'
check and the ODD test all read these two catalogues.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from model.states import (
    AGE_GROUPS,
    EXPLOITATION_FORMS,
    FINAL_STATES,
    LANGUAGE_GROUPS,
    SEXES,
    State,
)

#: Groups of people victims are also counted by: unaccompanied children, language groups.
PEOPLE_GROUPS = ("unaccompanied_minor", *LANGUAGE_GROUPS)

if TYPE_CHECKING:
    from model.agents import Migrant
    from model.model import CorridorModel

EVENT_COLUMNS = ["day", "person", "from_state", "to_state", "place", "cause"]
#: Keys of a run's summary that identify it rather than measure it.
RUN_KEYS = ("scenario", "seed", "days", "warmup_days", "people_per_agent")


@dataclass(frozen=True)
class Outcome:
    """One reported quantity: its name, unit, meaning, and whether more of it is better
    (None: descriptive, neither better nor worse)."""

    name: str
    unit: str
    meaning: str
    higher_is_better: bool | None = None


def _victim_outcomes() -> list[Outcome]:
    meanings = {"true": ("people trafficked in the run (true victims, identified or not)", False),
                "identified": ("victims identified by an official or the hotline", True),
                "protected": ("identified victims given a shelter place", True)}
    out = []
    for measure, (meaning, better) in meanings.items():
        for group in (*SEXES, *AGE_GROUPS):
            out.append(Outcome(f"victims_{measure}_{group}", "people", f"{meaning}: {group}",
                               better))
    for measure, (meaning, better) in meanings.items():
        for group in PEOPLE_GROUPS:
            out.append(Outcome(f"victims_{measure}_{group}", "people",
                               f"{meaning}: {group.replace('_', ' ')}", better))
    for measure in ("true", "identified"):
        meaning, better = meanings[measure]
        for form in EXPLOITATION_FORMS:
            out.append(Outcome(f"victims_{measure}_{form}", "people",
                               f"{meaning}, recruited for {form} exploitation", better))
    return out


def _journey_outcomes() -> list[Outcome]:
    """Victims' journeys to the sites, and identifications by the channel that made them."""
    channels = {"checkpoint": "papers checks (victims being taken to a site)",
                "raid": "INM operations at sites", "inspection": "inspections at sites",
                "hotline": "the hotline", "consulate": "consular staff"}
    return [
        Outcome("victims_moved", "journeys", "victims taken by a trafficker from where they "
                "were recruited to a site elsewhere"),
        Outcome("victims_detained_in_transfer", "detentions", "detentions at papers checks of "
                "victims being taken to a site (part of victims_detained_unidentified)", False),
        Outcome("victims_exploited_beyond_exits", "people", "victims put to work at sites "
                "beyond the corridor's exits (counted each time)"),
        Outcome("recruitments_prevented_sites_full", "offers", "accepted offers that led to no "
                "recruitment because no site the person could be taken to had room"),
        *(Outcome(f"identifications_{channel}", "identifications", f"identifications by "
                  f"{meaning}") for channel, meaning in channels.items()),
    ]


#: Every scalar outcome of a run, in the order `summary.json` lists them.
OUTCOMES: tuple[Outcome, ...] = (
    Outcome("arrivals", "people", "people who arrived at the crossing"),
    Outcome("transit_completed", "people", "people who left the corridor by an exit"),
    Outcome("still_in_corridor", "people", "people still in the corridor on the last day"),
    Outcome("asylum_claims", "claims", "asylum claims filed at the hub"),
    Outcome("asylum_decisions", "decisions", "claims the asylum office decided"),
    Outcome("gave_up_waiting", "people", "claimants who gave up waiting and moved on"),
    Outcome("mean_wait_days_hub", "days", "mean days claimants waited at the hub (decided, "
            "gave up, or still waiting at the end)", False),
    Outcome("detentions", "detentions", "people taken into an immigration station"),
    Outcome("reentries", "people", "deported people who re-entered at the crossing"),
    Outcome("detention_refused_full", "people", "detentions not made because stations were "
            "full"),
    Outcome("deportations", "deportations", "deportations after detention (a person who "
            "re-enters can be deported again)"),
    Outcome("bypass_share", "share", "share of completed transits that used a bypass path",
            False),
    Outcome("agent_days", "person-days", "days spent in the corridor by all people"),
    Outcome("victims_true", "people", "people trafficked in the run (true victims, identified "
            "or not)", False),
    Outcome("incidence_per_1000", "per 1,000 arrivals", "people trafficked per 1,000 arrivals",
            False),
    Outcome("incidence_per_100k_person_days", "per 100,000 person-days", "people trafficked "
            "per 100,000 days spent in the corridor", False),
    Outcome("victims_identified", "people", "victims identified (each person once)", True),
    Outcome("identification_rate", "share", "victims identified / victims true", True),
    Outcome("median_days_to_identification", "days", "median days from recruitment to "
            "identification", False),
    Outcome("victims_protected", "people", "identified victims given a shelter place", True),
    Outcome("tvrh_issued", "visas", "humanitarian visas (TVRH) issued to victims", True),
    Outcome("retrafficked", "recruitments", "recruitments of people trafficked before", False),
    Outcome("retrafficked_after_identification", "recruitments", "recruitments of people "
            "identified as victims before", False),
    Outcome("identified_deported", "people", "identified victims deported", False),
    Outcome("victims_detained_unidentified", "detentions", "detentions of victims not "
            "identified as victims: a harm, not protection", False),
    Outcome("victims_deported_unidentified", "deportations", "deportations of victims never "
            "identified as victims", False),
    Outcome("false_positive_referrals", "people", "people wrongly flagged as victims"),
    Outcome("traffickers_arrested", "people", "traffickers arrested", True),
    Outcome("traffickers_active_end", "people", "traffickers active on the last day", False),
    Outcome("hotline_calls", "calls", "calls the hotline answered", True),
    Outcome("hotline_calls_lost", "calls", "calls beyond the hotline's daily capacity", False),
    Outcome("complicity_events", "events", "extortions, tip-offs and dropped cases by "
            "complicit officials", False),
    Outcome("smuggled", "people", "people who hired a guide for a bypass path"),
    Outcome("mean_smuggler_debt_usd", "USD", "mean debt owed to a guide by people who hired "
            "one", False),
    *_victim_outcomes(),
    Outcome("identifications", "identifications", "identifications, counting a person "
            "identified twice twice"),
    Outcome("children_detained", "detentions", "detentions of children in an immigration "
            "station", False),
    Outcome("children_referred_dif", "referrals", "children taken into DIF care (child "
            "protection reform)", True),
    Outcome("dif_full", "referrals", "children the DIF could not take in because it was full",
            False),
    Outcome("consular_contacts", "contacts", "exploited people who reached their consulate",
            True),
    Outcome("consular_assisted", "people", "identified victims without a shelter bed assisted "
            "by their consulate instead of detained", True),
    *_journey_outcomes(),
)
OUTCOME_BY_NAME = {o.name: o for o in OUTCOMES}
OUTCOME_NAMES = tuple(OUTCOME_BY_NAME)


def _series_columns() -> tuple[Outcome, ...]:
    columns = [Outcome("day", "day", "day of the run"),
               Outcome("date", "date", "calendar date (YYYY-MM-DD; only in scenarios with a "
                        "start_date)"),
               Outcome("arrivals", "people", "arrivals so far"),
               Outcome("present", "people", "people in the corridor (not exited or deported)"),
               Outcome("traffickers_active", "people", "traffickers active"),
               Outcome("victims_true", "people", "people trafficked so far", False),
               Outcome("victims_identified", "people", "victims identified so far", True)]
    for state in State:
        columns.append(Outcome(state.value, "people", f"people {state.value.replace('_', ' ')}"
                               f"{' so far' if state in FINAL_STATES else ' now'}"))
        for sex in SEXES:
            columns.append(Outcome(f"{state.value}_{sex}", "people",
                                   f"{sex} people {state.value.replace('_', ' ')}"))
    return tuple(columns)


#: The daily series' columns, in order.
SERIES: tuple[Outcome, ...] = _series_columns()
#: Series columns that only a scenario with a calendar (`start_date`) has.
CALENDAR_COLUMNS = ("date",)


def series_columns(calendar: bool) -> list[str]:
    """The series' column names for a run with or without a calendar."""
    return [c.name for c in SERIES if calendar or c.name not in CALENDAR_COLUMNS]


#: The summary's key for outcomes by calendar year (scenarios with a start_date only).
PER_YEAR = "per_year"


def label(name: str) -> str:
    """A reader's label for an outcome: its name in words and its unit."""
    outcome = OUTCOME_BY_NAME.get(name)
    words = name.replace("_", " ")
    return f"{words} ({outcome.unit})" if outcome else words


class Ledger:
    """Counts, tallies, samples, events and per-place totals of one run.

    Args:
        clock: returns today's day number (events are dated by it).
    """

    def __init__(self, clock: Callable[[], int]):
        self._clock = clock
        self.counts: Counter = Counter()  # (state, sex) -> people in that state now
        self.tally: Counter = Counter()  # named counts
        self.victims: Counter = Counter()  # (measure, group) -> people
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.events: list[tuple] = []  # (day, person, from, to, place, cause)
        self.month: dict[int, Counter] = defaultdict(Counter)  # this month, per place
        self.place_totals: dict[int, Counter] = defaultdict(Counter)  # whole run, per place
        self.entered = 0  # arrivals since day 0, warm-up included (the series' arrivals)
        self.year: int | None = None  # today's calendar year, set daily when there is a calendar
        self.yearly: dict[int, Counter] = defaultdict(Counter)  # year -> tallies and victims

    # ------------------------------------------------------------------- verbs

    def transition(self, person: Migrant, old: State | None, new: State, cause: str) -> None:
        """A person changed state: move them between counts and log the event."""
        if old is not None:
            self.counts[(old, person.sex)] -= 1
        self.counts[(new, person.sex)] += 1
        if new is State.EXITED:
            self.add("exits")
            if person.used_bypass:
                self.add("transits_via_bypass")
        self.events.append((self._clock(), person.unique_id, old, new, person.place_id, cause))

    def note(self, person: Migrant, cause: str) -> None:
        """Something happened to a person that is not a change of state (an extortion)."""
        self.events.append((self._clock(), person.unique_id, person.state, person.state,
                            person.place_id, cause))

    def add(self, name: str, n: int = 1) -> None:
        """Add to a named tally (and to this calendar year's, when there is a calendar)."""
        self.tally[name] += n
        if self.year is not None:
            self.yearly[self.year][name] += n

    def sample(self, name: str, value: float) -> None:
        """Keep one observation of a duration or an amount."""
        self.samples[name].append(value)

    def passed(self, place_id: int) -> None:
        """A person passed a place (a run total only: the month's log, which traffickers
        adapt to, never asks how many passed, and this is counted at every step of every
        journey)."""
        self.place_totals[place_id]["passed"] += 1

    def at_place(self, place_id: int, name: str) -> None:
        """Count something at a place, for this month and for the whole run."""
        self.month[place_id][name] += 1
        self.place_totals[place_id][name] += 1

    def victim(self, measure: str, groups: tuple[str, ...]) -> None:
        """Count a person once under a measure (true, identified, protected) for each group."""
        for group in groups:
            self.victims[(measure, group)] += 1
            if self.year is not None:
                self.yearly[self.year][(measure, group)] += 1

    def arrive(self, place_id: int) -> None:
        """A person arrived at the crossing."""
        self.entered += 1
        self.add("arrivals")
        self.passed(place_id)

    def close_month(self) -> None:
        self.month.clear()

    def start_counting(self) -> None:
        """The warm-up is over: flows, samples, events and place totals start from zero;
        the people in each state now (stocks) stay as they are."""
        self.tally.clear()
        self.victims.clear()
        self.yearly.clear()
        self.samples.clear()
        self.events.clear()
        self.place_totals.clear()

    # ------------------------------------------------------------------ reading

    def count(self, state: State, sex: str | None = None) -> int:
        if sex is not None:
            return self.counts[(state, sex)]
        female, male = SEXES  # two lookups, not a generator: called at every detention
        return self.counts[(state, female)] + self.counts[(state, male)]

    @property
    def present(self) -> int:
        """People still in the corridor (not exited, not deported)."""
        return sum(n for (state, _), n in self.counts.items() if state not in FINAL_STATES)

    def journey(self, person_id: int) -> list[dict]:
        """One person's events in the order they happened: day, from, to, place, cause."""
        return [dict(zip(EVENT_COLUMNS, event, strict=True)) for event in self.events
                if event[1] == person_id]

    def events_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.events, columns=EVENT_COLUMNS)
        for column in ("from_state", "to_state", "cause"):
            frame[column] = frame[column].astype("string").astype("category")
        return frame


# ------------------------------------------------------------------ reporting


def series_reporters(calendar: bool = False) -> dict[str, Callable]:
    """Mesa DataCollector model reporters for the columns of `SERIES`, in order (the
    calendar's columns only for a run with a calendar, so other runs' series are unchanged)."""
    reporters: dict[str, Callable] = {
        "day": _day, "date": _date, "arrivals": _arrivals, "present": _present,
        "traffickers_active": _traffickers_active, "victims_true": _victims_true,
        "victims_identified": _victims_identified}
    for state in State:
        reporters[state.value] = partial(_in_state, state=state)
        for sex in SEXES:
            reporters[f"{state.value}_{sex}"] = partial(_in_state, state=state, sex=sex)
    assert tuple(reporters) == tuple(c.name for c in SERIES)
    return {name: reporters[name] for name in series_columns(calendar)}


def _day(model: CorridorModel) -> int:
    return model.day


def _date(model: CorridorModel) -> str:
    return model.today.isoformat()


def _arrivals(model: CorridorModel) -> int:
    return model.ledger.entered


def _present(model: CorridorModel) -> int:
    return model.ledger.present


def _traffickers_active(model: CorridorModel) -> int:
    return model.traffickers_active


def _victims_true(model: CorridorModel) -> int:
    return model.ledger.victims[("true", "all")]


def _victims_identified(model: CorridorModel) -> int:
    return model.ledger.victims[("identified", "all")]


def _in_state(model: CorridorModel, state: State, sex: str | None = None) -> int:
    return model.ledger.count(state, sex)


def summarise(model: CorridorModel, days: int) -> dict:
    """The run's summary: its identity, then every outcome of the catalogue, in order."""
    measured = _measure(model)
    extra = set(measured) - set(OUTCOME_NAMES)
    if extra:
        raise RuntimeError(f"outcomes missing from the catalogue: {sorted(extra)}")
    identity = {"scenario": model.params.name, "seed": model.seed, "days": days,
                "warmup_days": model.params.warmup_days, "people_per_agent": 1}
    summary = {**identity, **{name: measured[name] for name in OUTCOME_NAMES}}
    if model.params.start_date is not None:
        summary[PER_YEAR] = per_year(model.ledger)
    return summary


def per_year(ledger: Ledger) -> dict[str, dict[str, int]]:
    """The flows of each calendar year of the counted days: `{"2018": {"arrivals": ...}}`.

    Read from the same tallies and victim counts as the run's totals (the ledger keeps a
    copy per year as it counts), so the years add up to the totals. Stocks (people still in
    the corridor, traffickers active at the end) and ratios have no per-year value here."""
    return {str(year): _flows(counts, counts) for year, counts in sorted(ledger.yearly.items())}


def flat_summary(summary: dict) -> dict:
    """A summary as one flat row (for Parquet and tables): the per-year table becomes
    columns named `per_year.<year>.<outcome>`."""
    flat = {k: v for k, v in summary.items() if k != PER_YEAR}
    for year, flows in summary.get(PER_YEAR, {}).items():
        for name, value in flows.items():
            flat[f"{PER_YEAR}.{year}.{name}"] = value
    return flat


#: Outcomes that are counts of a flow, read from a tally of the same or another name.
_TALLIED_FLOWS = {
    "arrivals": "arrivals", "transit_completed": "exits", "asylum_claims": "asylum_claims",
    "asylum_decisions": "asylum_decisions", "gave_up_waiting": "gave_up_waiting",
    "detentions": "detentions", "detention_refused_full": "detention_refused_full",
    "deportations": "deportations", "agent_days": "agent_days",
    **{name: name for name in (
        "tvrh_issued", "retrafficked", "retrafficked_after_identification",
        "identified_deported", "victims_detained_unidentified",
        "victims_deported_unidentified", "reentries", "hotline_calls", "hotline_calls_lost",
        "false_positive_referrals", "traffickers_arrested", "complicity_events", "smuggled",
        "identifications", "children_detained", "children_referred_dif", "dif_full",
        "consular_contacts", "consular_assisted")},
}


def _flows(tally: Counter, victims: Counter) -> dict[str, int]:
    """Every outcome that counts a flow (people, events), from tallies and victim counts."""
    flows = {name: tally[key] for name, key in _TALLIED_FLOWS.items()}
    flows.update({o.name: tally[o.name] for o in _journey_outcomes()})
    for measure in ("true", "identified", "protected"):
        flows[f"victims_{measure}"] = victims[(measure, "all")]
        for group in (*SEXES, *AGE_GROUPS, *PEOPLE_GROUPS):
            flows[f"victims_{measure}_{group}"] = victims[(measure, group)]
    for measure in ("true", "identified"):
        for form in EXPLOITATION_FORMS:
            flows[f"victims_{measure}_{form}"] = victims[(measure, form)]
    return {name: flows[name] for name in OUTCOME_NAMES if name in flows}


def _measure(model: CorridorModel) -> dict:
    """Every outcome: the flows (`_flows`, shared with the per-year table), then stocks,
    ratios, means and medians."""
    ledger = model.ledger
    tally, victims, samples = ledger.tally, ledger.victims, ledger.samples
    measured = _flows(tally, victims)
    waits = samples["hub_waits"] + model.claimants_waiting_days
    exited = tally["exits"]
    arrivals = tally["arrivals"]
    true, identified = victims[("true", "all")], victims[("identified", "all")]
    to_identification, debts = samples["days_to_identification"], samples["smuggler_debts"]
    measured.update({
        "still_in_corridor": ledger.present,
        "mean_wait_days_hub": float(np.mean(waits)) if waits else 0.0,
        "bypass_share": tally["transits_via_bypass"] / exited if exited else 0.0,
        "incidence_per_1000": 1000.0 * true / arrivals if arrivals else 0.0,
        "incidence_per_100k_person_days": (1e5 * true / tally["agent_days"]
                                           if tally["agent_days"] else 0.0),
        "identification_rate": identified / true if true else 0.0,
        "median_days_to_identification": (float(np.median(to_identification))
                                          if to_identification else None),
        "traffickers_active_end": model.traffickers_active,
        "mean_smuggler_debt_usd": float(np.mean(debts)) if debts else 0.0,
    })
    return measured


def places_frame(model: CorridorModel) -> pd.DataFrame:
    """Where things happened, place by place, over the whole run."""
    totals = model.ledger.place_totals
    rows = [{"place": p.id, "name": p.name, "passed": totals[p.id]["passed"],
             "recruited": totals[p.id]["recruited"], "identified": totals[p.id]["identified"]}
            for p in model.params.corridor.places]
    return pd.DataFrame(rows)
