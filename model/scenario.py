"""Scenario files: TOML on disk, one typed, validated `Scenario` in memory.

A scenario is data, never code: the corridor (places and links) and every
behavioural and institutional parameter come from the file. Values have no
defaults here on purpose: `scenarios/baseline_2018.toml` is the one place
where each value is written down next to its provenance, and every other
scenario `extends` it and overrides only what differs.

Errors in a file are turned into `ScenarioError`s that name the file, the
key path and what is allowed, so the command line can print one clear line.
Whatever a run would choke on is refused here, not met halfway through a run:
every number is finite and bounded, shares sum to 1, every place has a way north.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import networkx as nx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from model.errors import UserError, one_line
from model.validation import KeyedProblem, did_you_mean, first_problem

PlaceKind = Literal["crossing", "hub", "checkpoint", "transit", "bypass", "exit"]
RouteType = Literal["highway", "bypass"]
Probability = Field(ge=0.0, le=1.0)

#: What may name a run folder (`runs/<name>-seed<N>`, `summaries/scenario=<name>/`): one
#: path component that is never hidden, never read as an option, and never climbs out.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
#: A language's name in `language.spoken`: lower case letters and underscores.
LANGUAGE_PATTERN = r"^[a-z][a-z_]{0,39}$"
NAME_RULE = "1 to 100 letters, digits, '_', '-' or '.', starting with a letter or digit"
#: Shares this close to a sum of 1 are rescaled to sum to 1 (numpy's sampler demands it
#: to about 1e-8); further off is a mistake in the file and is refused.
SHARE_TOLERANCE = 1e-6
#: The longest run a scenario (or --days) may ask for.
MAX_DAYS = 3650
#: How many files an `extends` chain may pass through (a longer one is a mistake or a trap).
MAX_EXTENDS_DEPTH = 32
#: The largest scenario file read (the shipped baseline is about 25 kB).
MAX_FILE_BYTES = 10_000_000


class ScenarioError(UserError):
    """A user mistake in a scenario file: printed as one line, exit status 2."""

    def __init__(self, file: Path | str, key: str, message: str):
        self.file, self.key, self.message = str(file), key, message
        where = f"{self.file}: {key}: " if key else f"{self.file}: "
        super().__init__(one_line(where + message))


class _Strict(BaseModel):
    """Unknown keys are errors, so a typo never silently falls back to nothing; inf and nan
    (which TOML allows) are errors too, so every number a run uses is finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --------------------------------------------------------------------- corridor


class Place(_Strict):
    """A node of the corridor graph (a town, a checkpoint, a path through the hills)."""

    id: int = Field(ge=0, le=1_000_000,
                    description="integer node id (Mesa's network drawers need integers)")
    name: str = Field(min_length=1)
    kind: PlaceKind
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    shelter_beds: int = Field(0, ge=0, le=100000, description="beds in humanitarian shelters")
    asylum_office: bool = Field(False, description="a COMAR office that takes asylum claims")
    detention_capacity: int = Field(0, ge=0, le=100000,
                                    description="places in an INM immigration station")
    informality: float = Field(
        0.0, ge=0, le=1, description="chance that one job search (every hub.job_search_days) "
        "finds informal work at the hub"
    )
    check_probability: float = Field(
        0.0, ge=0, le=1, description="chance INM checks the papers of a person passing through"
    )
    trafficker_presence: float = Field(
        0.0, ge=0, le=1000, description="relative weight of traffickers starting here"
    )
    sexual_site_capacity: int = Field(
        0, ge=0, le=100000, description="victims of sexual exploitation the place's bars, "
        "cantinas and rented rooms can hold at once (0: no such site here)"
    )
    labour_site_capacity: int = Field(
        0, ge=0, le=100000, description="victims of labour exploitation the place's farms, "
        "building sites and workshops can hold at once (0: no such site here)"
    )


class Link(_Strict):
    """An undirected road or path between two places."""

    a: int
    b: int
    km: float = Field(gt=0, le=2000)
    route: RouteType = "highway"
    bus: bool = Field(False, description="buses run here (usable by people with papers)")


class Corridor(_Strict):
    places: list[Place] = Field(min_length=2)
    links: list[Link] = Field(min_length=1)


# ------------------------------------------------------------------ behaviour


class Arrivals(_Strict):
    """Who arrives at the crossing each day."""

    daily_rate: float = Field(ge=0, le=20000, description="mean arrivals per day (Poisson)")
    share_female: float = Probability
    share_minor: float = Probability
    share_alone: float = Field(ge=0, le=1, description="share of adults travelling alone (not "
                               "with family)")
    share_minor_alone: float = Field(ge=0, le=1, description="share of children travelling "
                                     "without family (unaccompanied minors)")
    nationalities: dict[str, float] = Field(min_length=1)
    money_median_usd: float = Field(gt=0, le=100000)
    money_sigma: float = Field(ge=0, le=3, description="log-normal spread of money carried")
    monthly_rates: dict[str, Annotated[float, Field(gt=0, le=20000)]] | None = Field(
        None, description="mean arrivals per day by calendar month ('YYYY-MM' = rate); needs "
        "start_date; a month not listed uses daily_rate")

    @field_validator("monthly_rates")
    @classmethod
    def _months_are_months(cls, rates: dict[str, float] | None) -> dict[str, float] | None:
        """Keys are calendar months written YYYY-MM, so a typo cannot silently fall back to
        daily_rate."""
        for key in rates or {}:
            if parse_month(key) is None:
                raise KeyedProblem(key, "not a month: write months as "
                                   "\"YYYY-MM\" (e.g. \"2018-01\")")
        return rates

    @field_validator("nationalities")
    @classmethod
    def _rescaled(cls, shares: dict[str, float]) -> dict[str, float]:
        """Shares within SHARE_TOLERANCE of 1 are scaled to sum to 1, so three shares of
        0.3333333 work; anything else is left for `_shares_sum_to_one` to refuse."""
        total = math.fsum(shares.values())
        if min(shares.values(), default=0) >= 0 and abs(total - 1.0) <= SHARE_TOLERANCE:
            return {key: value / total for key, value in shares.items()}
        return shares

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> Arrivals:
        total = math.fsum(self.nationalities.values())
        if any(v < 0 for v in self.nationalities.values()) or abs(total - 1.0) > SHARE_TOLERANCE:
            raise ValueError(
                f"nationality shares must be >= 0 and sum to 1 within {SHARE_TOLERANCE:g} "
                f"(they sum to {total:.10g})"
            )
        return self


class Movement(_Strict):
    """How fast people travel and how they weigh the risk of a checkpoint."""

    foot_km_min: float = Field(gt=0, le=100)
    foot_km_max: float = Field(gt=0, le=100)
    bus_km_per_day: float = Field(gt=0, le=1500)
    detection_aversion: float = Field(
        ge=0, le=50, description="utility lost per unit chance of being checked on a route"
    )
    km_scale: float = Field(ge=1, le=1000, description="km that cost one unit of utility")
    bypass_effort: float = Field(
        ge=1, le=5, description="a bypass km is this many times slower and harder than a road km"
    )

    @model_validator(mode="after")
    def _min_below_max(self) -> Movement:
        if self.foot_km_min > self.foot_km_max:
            raise ValueError("foot_km_min must not exceed foot_km_max")
        return self


class Hub(_Strict):
    """Waiting at the hub: the asylum queue, money and informal work."""

    asylum_share: float = Field(ge=0, le=1, description="share of arrivals who claim asylum")
    asylum_capacity_per_day: int = Field(ge=0, le=100000)
    grant_rate: float = Field(ge=0, le=1, description="grant rate of nationalities not in "
                              "grant_rate_by_nationality")
    grant_rate_by_nationality: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        description="COMAR's grant rate for claimants of each nationality")
    daily_spend_usd: float = Field(ge=0.01, le=1000, description="spent each day at the hub "
                                   "(at least a cent, so the days money lasts stay finite)")
    job_search_days: int = Field(ge=1, le=365, description="days between tries to find work")
    give_up_per_day: float = Field(ge=0, le=1, description="daily chance a claimant gives up "
                                   "when the road north is open")
    containment: float = Field(ge=0, le=1, description="how much a sure check on the road north "
                               "lowers giving up: the rate is multiplied by 1 - containment x "
                               "P(checked on the way north)")
    rest_days: int = Field(ge=0, le=60, description="days a non-claimant stays before moving on")


class Language(_Strict):
    """Which language each nationality speaks, and what screening by Spanish-speaking
    screeners without an interpreter does to a person who does not speak Spanish."""

    spoken: dict[str, Annotated[str, Field(pattern=LANGUAGE_PATTERN)]] = Field(
        min_length=1, description="each nationality's language ('spanish' needs no interpreter)")
    interpreter_coverage: float = Field(ge=0, le=1, description="chance an interpreter is there "
                                        "when a screener meets a person who does not speak "
                                        "Spanish")
    weight_no_interpreter: float = Field(ge=-10, le=10, description="disclosure log-odds without "
                                         "an interpreter (no shared language)")
    recognition_no_interpreter: float = Field(ge=0, le=1, description="sensitivity multiplier "
                                              "without an interpreter")


class Consular(_Strict):
    """The countries of origin's consulates in Tapachula: a way out for exploited people and
    assistance for identified victims of their nationality."""

    consulates: dict[str, bool] = Field(description="nationalities whose country has a "
                                        "consulate in Tapachula (true)")
    contact_per_day: float = Field(ge=0, le=1, description="daily chance an exploited person "
                                   "whose country has a consulate reaches it")


class Enforcement(_Strict):
    """What happens to a person INM detains."""

    detention_days: int = Field(ge=1, le=365)
    deport_share: float = Probability
    reentry_share: float = Field(ge=0, le=1, description="share of deported people who try "
                                 "the journey again")
    reentry_days: int = Field(ge=1, le=3650, description="days from deportation to re-entry at "
                              "the crossing")
    claim_in_detention_share: float = Field(
        ge=0, le=1, description="share of detained people who claim asylum from the station; "
        "they are not deported and join the queue at the hub on release")


class Traffickers(_Strict):
    """Recruiters (and smugglers turned exploiters): how many, whom they target, how they adapt.

    An offer's success is a logistic function of a linear predictor: the base log-odds
    plus one weight per vulnerability the person has (see `Migrant.offer_log_odds`).
    """

    initial: int = Field(ge=0, le=10000)
    maximum: int = Field(ge=0, le=100000)
    approaches_per_day: int = Field(ge=0, le=100)
    pool_size: int = Field(ge=1, le=1000, description="people a trafficker looks over per day")
    offer_success: float = Field(ge=0, le=1, description="success of an offer to a person "
                                 "with no vulnerability")
    weight_female: float = Field(ge=-10, le=10)
    weight_minor: float = Field(ge=-10, le=10)
    weight_alone: float = Field(ge=-10, le=10)
    weight_no_money: float = Field(ge=-10, le=10)
    weight_irregular: float = Field(ge=-10, le=10)
    weight_debt: float = Field(ge=-10, le=10)
    weight_wait_month: float = Field(ge=-10, le=10, description="per 30 days waited at the hub")
    weight_informed: float = Field(ge=-10, le=10, description="outreach information (negative)")
    weight_papers: float = Field(ge=-10, le=10, description="TVRH or refugee papers (negative)")
    transfer_days: int = Field(ge=0, le=90, description="days from recruitment to being put "
                               "to work at a site here, or to setting off for a site elsewhere")
    escape_per_day: float = Field(ge=0, le=1)
    entry_rule: Literal["market", "recruits", "fixed"] = Field(
        description="how new recruiters enter: the market's room (market), in proportion to "
        "last month's recruitments (recruits), or to keep the number fixed (fixed)")
    market_size: float = Field(ge=0, le=100000, description="recruiters the corridor's trade "
                               "supports where no enforcement presses (market rule)")
    market_entry_share: float = Field(ge=0, le=1, description="share of a place's unfilled "
                                      "room taken up each month (market rule)")
    replacement_lag_days: int = Field(ge=0, le=365, description="days from a newcomer's "
                                      "decision to enter to their first day working (market)")
    entry_per_recruit: float = Field(ge=0, le=10, description="monthly entrants per recruitment "
                                     "(recruits rule)")
    exit_per_month: float = Probability
    relocate_share: float = Probability
    enforcement_aversion: float = Field(ge=0, le=50)


class Smugglers(_Strict):
    """Guides on bypass paths; their fee, unpaid, becomes debt."""

    hire_share: float = Field(ge=0, le=1, description="share of bypass walkers hiring a guide")
    fee_usd: float = Field(ge=0, le=100000)
    price_response: float = Field(
        ge=0, le=50, description="fee rises by this factor per unit chance of a check on the road"
    )


Institution = Literal["INM", "inspector", "FEVIMTRA"]


class OfficialPost(_Strict):
    """A group of officials of one institution posted at one place."""

    institution: Institution
    place: int
    count: int = Field(ge=0, le=10000)
    capacity_per_day: int = Field(ge=0, le=10000, description="people each handles per day")


class Officials(_Strict):
    """Who works where, how well they screen, how often they are complicit."""

    posts: list[OfficialPost]
    trained_share: float = Field(ge=0, le=1, description="share trained without the FFP programme")
    sensitivity_untrained: float = Probability
    trained_sensitivity_gain: float = Field(
        ge=0, le=1, description="added to a trained screener's sensitivity, whoever trained them")
    trained_complicity_reduction: float = Field(
        ge=0, le=1, description="share of complicity a trained official no longer shows")
    specificity: float = Probability
    complicity_probability: float = Probability
    bribe_usd: float = Field(ge=0, le=10000)


class Exploitation(_Strict):
    """Whom the market for exploited people wants, and how victims are moved to its sites.

    Where the sites are is in the corridor (`Place.sexual_site_capacity`,
    `Place.labour_site_capacity`). A recruiter places a victim at a site with probability
    proportional to the demand for the victim's group in the site's form times the room left
    there, so the form comes from who the victim is and where the market has room."""

    transfer_km_per_day: float = Field(
        gt=0, le=1500, description="km a day a trafficker moves a victim by car, van or bus "
        "(bypass paths count movement.bypass_effort times)")
    sexual_demand_woman: float = Field(ge=0, le=1000, description="relative demand for women "
                                       "in sexual exploitation, per place of room")
    labour_demand_woman: float = Field(ge=0, le=1000, description="relative demand for women "
                                       "in labour exploitation, per place of room")
    sexual_demand_man: float = Field(ge=0, le=1000)
    labour_demand_man: float = Field(ge=0, le=1000)
    sexual_demand_girl: float = Field(ge=0, le=1000)
    labour_demand_girl: float = Field(ge=0, le=1000)
    sexual_demand_boy: float = Field(ge=0, le=1000)
    labour_demand_boy: float = Field(ge=0, le=1000)

    @model_validator(mode="after")
    def _every_group_is_wanted(self) -> Exploitation:
        """A group with no demand in either form could never be recruited: a silent way to
        switch trafficking off for it, which the traffickers' weights say openly instead."""
        for group in DEMAND_GROUPS:
            if self.demand(group, "sexual") + self.demand(group, "labour") <= 0:
                raise KeyedProblem(f"sexual_demand_{group}", f"sexual_demand_{group} and "
                                   f"labour_demand_{group} are both 0: at least one must be > 0 "
                                   "(to make offers to this group fail, use traffickers.weight_*)")
        return self

    def demand(self, group: str, form: str) -> float:
        return getattr(self, f"{form}_demand_{group}")


#: The groups the market tells apart (sex by age): woman, man, girl, boy.
DEMAND_GROUPS = ("woman", "man", "girl", "boy")


class Detection(_Strict):
    """How exploited people come to officials' attention, by the form of their exploitation.

    Labour inspections visit farms and building sites more than bars; INM and police
    operations target bars and rooms more than farms."""

    inspection_find_per_day: float = Field(
        ge=0, le=1, description="chance a labour/police inspection finds an exploited person "
        "at a labour site"
    )
    raid_find_per_day: float = Field(
        ge=0, le=1, description="chance an INM operation reaches an exploited person at a "
        "sexual-exploitation site (bars, rooms)"
    )
    inspection_reach_sexual: float = Field(
        ge=0, le=1, description="inspections reach a person in sexual exploitation this many "
        "times as often as one in labour exploitation")
    raid_reach_labour: float = Field(
        ge=0, le=1, description="INM operations reach a person in labour exploitation this many "
        "times as often as one in sexual exploitation")


class Disclosure(_Strict):
    """Whether a victim who meets a screener tells what is happening to them.

    Identification = encounter x disclosure x recognition. Disclosure is logistic: the
    log-odds of `base` plus the weights that apply; `base = 1` means every victim discloses
    (recognition alone decides), whatever the weights."""

    base: float = Field(ge=0, le=1, description="chance a victim discloses to an official in "
                        "neutral conditions")
    weight_irregular: float = Field(ge=-10, le=10, description="no papers: fear of detention")
    weight_security: float = Field(ge=-10, le=10, description="a security posture (border "
                                   "tightening on): fear of deportation")
    weight_detention_context: float = Field(ge=-10, le=10, description="screened in an "
                                            "immigration operation that detains")
    weight_safe_interview: float = Field(ge=-10, le=10, description="a female interviewer and "
                                         "safe space (gender-responsive protocol), for women, "
                                         "girls and children")
    weight_visa_promise: float = Field(ge=-10, le=10, description="a humanitarian visa (TVRH) "
                                       "is on offer to victims")
    weight_support_staff: float = Field(ge=-10, le=10, description="talking to shelter or "
                                        "hotline staff rather than an official")


class Protection(_Strict):
    """What follows identification."""

    referral_days: int = Field(ge=0, le=365)
    shelter_days: int = Field(ge=1, le=3650)
    prosecution_arrest_probability: float = Probability
    cooperation_gain: float = Field(ge=1, le=20, description="arrest odds multiplier when the "
                                    "victim is protected")


class Intervention(_Strict):
    enabled: bool


class HumanitarianVisa(Intervention):
    """TVRH for identified victims: legal stay and work, travel with papers."""

    processing_days: int = Field(ge=0, le=365)


class GenderResponsiveScreening(Intervention):
    """A screening protocol with gender- and age-specific indicators and safe disclosure."""

    sensitivity_gain_female: float = Field(ge=0, le=1)
    sensitivity_gain_male: float = Field(ge=0, le=1)
    sensitivity_gain_minor: float = Field(ge=0, le=1)
    specificity_gain: float = Field(ge=0, le=1)


class CrossSectorTraining(Intervention):
    """Cross-sector training: modelled for the officials who screen (INM, inspectors, FEVIMTRA).

    What training does to a trained official is in `officials` (it acts on officials trained
    before the FFP too); this block says how many are trained."""

    coverage: float = Field(ge=0, le=1, description="share of officials trained")


class IOCollaboration(Intervention):
    """IOM and UN Women: outreach information, shelter beds, a hotline, faster referral."""

    outreach_coverage: float = Field(ge=0, le=1)
    extra_shelter_beds: int = Field(ge=0, le=100000)
    hotline_contact_per_day: float = Field(ge=0, le=1, description="daily chance an informed "
                                           "exploited person calls")
    hotline_capacity_per_day: int = Field(ge=0, le=100000, description="calls answered a day; "
                                          "the rest are lost")
    referral_days: int = Field(ge=0, le=365)


class SpecialProsecutor(Intervention):
    """FEVIMTRA: specialised prosecution of trafficking and oversight of officials."""

    arrest_multiplier: float = Field(ge=1, le=20)
    complicity_oversight: float = Field(ge=0, le=1, description="share of complicity deterred")


class BorderTightening(Intervention):
    """Security first: more checks, more detention, more deportation, more raids."""

    check_multiplier: float = Field(ge=1, le=20)
    extra_detention_capacity: int = Field(ge=0, le=100000)
    deport_share: float = Probability
    raid_multiplier: float = Field(ge=1, le=50)


class ChildProtectionReform(_Strict):
    """The 2020 reform of the Migration and Refugee Laws (in force 11 January 2021): no child
    in an immigration station; detained or identified children go to the child protection
    system (DIF). A law, not an FFP intervention (see docs/ODD.md 7.18)."""

    enabled: bool
    effective_day: int = Field(ge=1, le=MAX_DAYS, description="counted day from which the "
                               "reform is in force (day 1 is the first day after the warm-up)")
    dif_capacity: int = Field(ge=0, le=100000, description="places for children in DIF "
                              "shelters (centros de asistencia social)")
    days_in_care: int = Field(ge=1, le=3650, description="days a child stays in DIF care")


class TimelineEntry(_Strict):
    """A change to the scenario that takes effect at the start of one day of the run."""

    day: int | None = Field(None, ge=1, le=MAX_DAYS, description="counted day (day 1 is the "
                            "first day after the warm-up)")
    date: dt.date | None = Field(None, description="calendar date (needs start_date)")
    set: dict[str, Any] = Field(min_length=1, description="dotted keys and their new values, "
                                "as with_changes takes them")
    note: str = ""

    @model_validator(mode="after")
    def _day_or_date(self) -> TimelineEntry:
        if (self.day is None) == (self.date is None):
            raise ValueError("give exactly one of day (a counted day, 1 = first day after the "
                             "warm-up) or date (a calendar date, with start_date set)")
        return self


class Scenario(_Strict):
    """One complete, validated scenario: everything a run needs besides its seed."""

    name: str
    description: str = ""
    days: int = Field(ge=1, le=MAX_DAYS, description="days whose outcomes are counted")
    warmup_days: int = Field(ge=0, le=MAX_DAYS, description="days simulated before counting "
                             "starts, so the queue and the trafficker market settle first")
    start_date: dt.date | None = Field(None, description="calendar date of counted day 1; "
                                       "without it the run has no calendar")
    corridor: Corridor
    arrivals: Arrivals
    movement: Movement
    hub: Hub
    enforcement: Enforcement
    traffickers: Traffickers
    smugglers: Smugglers
    officials: Officials
    exploitation: Exploitation
    detection: Detection
    disclosure: Disclosure
    protection: Protection
    humanitarian_visa: HumanitarianVisa
    gender_responsive_screening: GenderResponsiveScreening
    cross_sector_training: CrossSectorTraining
    io_collaboration: IOCollaboration
    special_prosecutor: SpecialProsecutor
    border_tightening: BorderTightening
    language: Language
    consular: Consular
    child_protection_reform: ChildProtectionReform
    timeline: list[TimelineEntry] | None = Field(None, description="changes that take effect "
                                                 "on a day of the run, in day order")

    @field_validator("name")
    @classmethod
    def _name_can_name_a_folder(cls, name: str) -> str:
        """The name becomes a folder under runs/, so it may not climb out of it."""
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(f"cannot name a run folder: use {NAME_RULE}; without a `name` "
                             "key the file's name is used, so set name = \"...\" in the file")
        return name

    @model_validator(mode="after")
    def _corridor_is_usable(self) -> Scenario:
        check_corridor(self.corridor)
        known = {p.id for p in self.corridor.places}
        for i, post in enumerate(self.officials.posts):
            if post.place not in known:
                raise _CorridorProblem(f"officials.posts[{i}].place",
                                       f"no place has id {post.place} (place ids: {sorted(known)})")
        check_nationality_tables(self)
        check_sites(self.corridor)
        return self

    @model_validator(mode="after")
    def _calendar_is_consistent(self) -> Scenario:
        """Monthly rates name months of the run, and need a calendar to be read by."""
        rates = self.arrivals.monthly_rates
        if not rates:
            return self
        if self.start_date is None:
            raise KeyedProblem("arrivals.monthly_rates", "needs start_date (the calendar date "
                               "of counted day 1), e.g. start_date = 2018-01-01")
        first, last = month_key(self.date_of(1)), month_key(self.date_of(self.days))
        for key in rates:
            if not first <= key <= last:
                raise KeyedProblem(f"arrivals.monthly_rates.{key}",
                                   f"outside the run: months from {first} to {last} allowed")
        return self

    @model_validator(mode="after")
    def _timeline_applies(self) -> Scenario:
        """Every timeline change validates where it falls, applied after the ones before it,
        so a run never meets a bad value halfway through."""
        timeline_states(self)
        return self

    def date_of(self, day: int) -> dt.date | None:
        """The calendar date of a counted day (day 1 = start_date; warm-up days are <= 0)."""
        if self.start_date is None:
            return None
        return self.start_date + dt.timedelta(days=day - 1)

    def day_of(self, date: dt.date) -> int:
        """The counted day number of a calendar date (needs start_date)."""
        return (date - self.start_date).days + 1

    def daily_rate_on(self, day: int) -> float:
        """Mean arrivals on a counted day: the month's rate if listed, else daily_rate.
        Warm-up days (day <= 0) use the first counted day's rate, so the queue and the market
        settle at the level the run starts with."""
        rates = self.arrivals.monthly_rates
        if not rates:
            return self.arrivals.daily_rate
        return rates.get(month_key(self.date_of(max(day, 1))), self.arrivals.daily_rate)

    @property
    def interventions(self) -> dict[str, bool]:
        """Each intervention block's name and whether it is switched on."""
        return {name: getattr(self, name).enabled for name in INTERVENTIONS}

    @property
    def place_by_id(self) -> dict[int, Place]:
        return {p.id: p for p in self.corridor.places}


#: What a timeline may not change: the run's frame (its name, length, calendar and corridor),
#: the timeline itself, and the official posts (officials are hired once, at the start).
TIMELINE_FIXED = ("name", "days", "warmup_days", "start_date", "corridor", "timeline",
                  "officials.posts")


def parse_month(key: str) -> tuple[int, int] | None:
    """(year, month) of a "YYYY-MM" key, or None if it is not one."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", key)
    if not match or not 1 <= int(match[2]) <= 12:
        return None
    return int(match[1]), int(match[2])


def month_key(date: dt.date) -> str:
    return f"{date.year:04d}-{date.month:02d}"


def timeline_states(scenario: Scenario) -> list[tuple[int, str, Scenario]]:
    """(day, note, scenario in force from that day) for each timeline entry, in day order
    (entries on the same day in file order), each change applied after the ones before it.

    A change that would not validate is a `KeyedProblem` naming `timeline[i].set.<key>`.
    The scenarios returned keep the original timeline, so `params.timeline` always shows
    the whole plan."""
    entries = scenario.timeline or []
    if not entries:
        return []
    dated = [(_entry_day(scenario, i, entry), i, entry) for i, entry in enumerate(entries)]
    current = scenario.model_copy(update={"timeline": None})
    states = []
    for day, i, entry in sorted(dated, key=lambda item: (item[0], item[1])):
        for key in entry.set:
            _check_changeable(i, str(key))
        try:
            current = with_changes(current, entry.set, source=f"timeline[{i}]")
        except ScenarioError as exc:
            raise KeyedProblem(f"timeline[{i}].set.{exc.key or ''}".rstrip("."),
                               exc.message) from None
        states.append((day, entry.note, current.model_copy(update={"timeline": entries})))
    return states


def _entry_day(scenario: Scenario, i: int, entry: TimelineEntry) -> int:
    """The counted day an entry takes effect on; within the run."""
    if entry.date is not None:
        if scenario.start_date is None:
            raise KeyedProblem(f"timeline[{i}].date", "a date needs start_date (the calendar "
                               "date of counted day 1); or give day = N instead")
        day = scenario.day_of(entry.date)
        last = scenario.date_of(scenario.days)
        where = f"dates from {scenario.start_date} to {last} allowed"
        key = f"timeline[{i}].date"
    else:
        day, where, key = entry.day, f"days 1 to {scenario.days} allowed", f"timeline[{i}].day"
    if not 1 <= day <= scenario.days:
        raise KeyedProblem(key, f"outside the run: {where}")
    return day


def _check_changeable(i: int, key: str) -> None:
    """A timeline changes behaviour and policy, not the run's frame."""
    for fixed in TIMELINE_FIXED:
        if key == fixed or key.startswith(fixed + ".") or fixed.startswith(key + "."):
            raise KeyedProblem(f"timeline[{i}].set.{key}", f"a timeline cannot change "
                               f"'{fixed}' (fixed for the whole run: "
                               f"{', '.join(TIMELINE_FIXED)})")


INTERVENTIONS = (
    "humanitarian_visa",
    "gender_responsive_screening",
    "cross_sector_training",
    "io_collaboration",
    "special_prosecutor",
    "border_tightening",
)


class _CorridorProblem(KeyedProblem):
    """Raised inside validation with the key path of the offending entry (from the root)."""


def check_nationality_tables(scenario: Scenario) -> None:
    """Every table keyed by nationality names only nationalities that arrive (a misspelt name
    would silently fall back), and every arriving nationality has a language."""
    arriving = list(scenario.arrivals.nationalities)
    tables = {"language.spoken": scenario.language.spoken,
              "hub.grant_rate_by_nationality": scenario.hub.grant_rate_by_nationality,
              "consular.consulates": scenario.consular.consulates}
    for key, table in tables.items():
        for name in table:
            if name not in arriving:
                raise _CorridorProblem(
                    f"{key}.{name}", f"no arrivals of this nationality{did_you_mean(name, arriving)}"
                    f" (arrivals.nationalities: {', '.join(arriving)})")
    for name in arriving:
        if name not in scenario.language.spoken:
            raise _CorridorProblem("language.spoken", f"no language given for '{name}' (every "
                                   "nationality in arrivals.nationalities needs one)")


def check_corridor(corridor: Corridor) -> None:
    """Ids unique, links between existing places and each pair joined once, one crossing
    and hub, an exit, connected, and a way north from every place."""
    ids = [p.id for p in corridor.places]
    for i, pid in enumerate(ids):
        if ids.index(pid) != i:
            raise _CorridorProblem(f"corridor.places[{i}].id", f"duplicate place id {pid}")
    known = set(ids)
    for i, link in enumerate(corridor.links):
        for end in ("a", "b"):
            if getattr(link, end) not in known:
                raise _CorridorProblem(
                    f"corridor.links[{i}].{end}",
                    f"no place has id {getattr(link, end)} (place ids: {sorted(known)})",
                )
        if link.a == link.b:
            raise _CorridorProblem(f"corridor.links[{i}]", "a link must join two different places")
    kinds = [p.kind for p in corridor.places]
    for kind, rule in (("crossing", 1), ("hub", 1)):
        if kinds.count(kind) != rule:
            raise _CorridorProblem(
                "corridor.places", f"exactly one place of kind '{kind}' is needed, found "
                f"{kinds.count(kind)}"
            )
    if "exit" not in kinds:
        raise _CorridorProblem("corridor.places", "at least one place of kind 'exit' is needed")
    graph = nx.Graph()
    graph.add_nodes_from(ids)
    graph.add_edges_from((link.a, link.b) for link in corridor.links)
    if not nx.is_connected(graph):
        parts = sorted((sorted(c) for c in nx.connected_components(graph)), key=len)
        raise _CorridorProblem(
            "corridor.links", f"the corridor is disconnected: places {parts[0]} cannot be reached"
        )
    _check_links_unique(corridor)
    _check_way_north(corridor, graph)


def check_sites(corridor: Corridor) -> None:
    """Exploitation sites stand where a victim can be taken: not at the crossing (routes
    never pass back through it) and reachable from the hub without crossing it (a site in a
    part of the corridor joined to the rest only through the crossing could never be filled
    by the recruiters north of it)."""
    kind = {p.id: p.kind for p in corridor.places}
    crossing = next(pid for pid, k in kind.items() if k == "crossing")
    hub = next(pid for pid, k in kind.items() if k == "hub")
    graph = nx.Graph()
    graph.add_nodes_from(pid for pid in kind if pid != crossing)
    graph.add_edges_from((link.a, link.b) for link in corridor.links
                         if crossing not in (link.a, link.b))
    north = nx.node_connected_component(graph, hub)
    for i, place in enumerate(corridor.places):
        if not (place.sexual_site_capacity or place.labour_site_capacity):
            continue
        field = "sexual" if place.sexual_site_capacity else "labour"
        if place.kind == "crossing":
            raise _CorridorProblem(
                f"corridor.places[{i}].{field}_site_capacity", "the crossing cannot hold "
                "exploitation sites (victims are never taken back through it); put them at a "
                "place north of it")
        if place.id not in north:
            raise _CorridorProblem(
                f"corridor.places[{i}].{field}_site_capacity", f"place {place.id} cannot be "
                f"reached from the hub without passing the crossing, so no victim could be "
                "taken there; link it to the corridor north of the crossing")


def _check_links_unique(corridor: Corridor) -> None:
    """Two places are joined once: the graph keeps one edge per pair, so a second link
    would silently replace the first."""
    joined: dict[frozenset[int], int] = {}
    for i, link in enumerate(corridor.links):
        pair = frozenset((link.a, link.b))
        if pair in joined:
            raise _CorridorProblem(
                f"corridor.links[{i}]", f"places {link.a} and {link.b} are already joined by "
                f"corridor.links[{joined[pair]}]; join two places once")
        joined[pair] = i


def _check_way_north(corridor: Corridor, graph: nx.Graph) -> None:
    """Every place has a route to an exit that does not pass back through the crossing.

    Routes north never go back through the crossing (`model.corridor._turns_back`), so a
    place whose only way to an exit runs through it would leave its people with no route at
    all. The graph is connected, so every part left when the crossing is taken out touches
    the crossing: each part needs an exit, and then the hub, too, is reachable from the
    crossing and has a way on.
    """
    kind = {p.id: p.kind for p in corridor.places}
    crossing = next(pid for pid, k in kind.items() if k == "crossing")
    north = graph.subgraph(pid for pid in graph if pid != crossing)
    for part in nx.connected_components(north):
        if not any(kind[pid] == "exit" for pid in part):
            raise _CorridorProblem(
                "corridor.links", f"places {sorted(part)} have no route to an exit that avoids "
                f"the crossing (place {crossing}); routes north never pass back through it")


# ---------------------------------------------------------------------- loading


def _deep_merge(base: dict, override: dict) -> dict:
    """Tables merge key by key; any other value (lists included) is replaced whole."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict:
    """Parse one scenario file; a file that is not TOML is a one-line ScenarioError."""
    text = _read_text(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(path, "", f"TOML syntax error: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ScenarioError(path, "", "TOML nested too deeply to read") from None


def _read_text(path: Path) -> str:
    """The file's text, if it is a readable regular UTF-8 file of reasonable size.

    The path is checked with `os.stat` before it is opened, and opened without blocking,
    so a FIFO, a device or a socket is refused instead of waiting forever for a writer.
    """
    try:
        _check_regular(path, os.stat(path))
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            _check_regular(path, os.fstat(fh.fileno()))  # in case it changed since the stat
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError(path, "", "file not found") from None
    except PermissionError:
        raise ScenarioError(path, "", "cannot be read: permission denied") from None
    except OSError as exc:  # a symlink loop, a name too long, an I/O error
        raise ScenarioError(path, "", f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(path, "", f"larger than {MAX_FILE_BYTES:,} bytes: not a scenario file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(path, "", f"not UTF-8 text (byte {exc.start} is "
                            f"0x{data[exc.start]:02x}); save the file as UTF-8") from None


def _check_regular(path: Path, info: os.stat_result) -> None:
    """Refuse a folder, FIFO, device or socket: only a regular file is a scenario."""
    if stat.S_ISDIR(info.st_mode):
        raise ScenarioError(path, "", "is a folder, expected a .toml scenario file")
    if not stat.S_ISREG(info.st_mode):
        raise ScenarioError(path, "", "is not a regular file (a FIFO, device or socket?); "
                            "expected a .toml scenario file")


def _resolved(path: Path | str, referrer: Path | None = None) -> Path:
    """The absolute path with symlinks followed; a loop or a null byte is a ScenarioError.

    `referrer` is the file whose `extends` names `path`, so the error points at it.
    """
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # RuntimeError: a symlink loop
        reason = "contains a null byte" if "\0" in str(path) else f"cannot be resolved: {exc}"
        if referrer is None:
            raise ScenarioError(path, "", f"the path {reason}") from None
        raise ScenarioError(referrer, "extends", f"{str(path)!r}: the path {reason}") from None


def _scenario_root(path: Path) -> Path:
    """The `scenarios` folder a file lives in (or its own folder): `extends` stays inside it."""
    for parent in path.parents:
        if parent.name == "scenarios":
            return parent
    return path.parent


def load_raw(path: Path | str, _chain: tuple[Path, ...] = (), _root: Path | None = None) -> dict:
    """Read a scenario file and everything it extends, merged, before validation."""
    path = _resolved(path)
    root = _root or _scenario_root(path)
    if path in _chain:
        cycle = " -> ".join(p.name for p in (*_chain, path))
        raise ScenarioError(_chain[-1], "extends", f"extends cycle: {cycle}")
    if len(_chain) >= MAX_EXTENDS_DEPTH:
        raise ScenarioError(_chain[0], "extends", f"the extends chain passes through more than "
                            f"{MAX_EXTENDS_DEPTH} files (at {path.name})")
    data = _read_toml(path)
    _read_monthly_rates_file(path, data, root)
    parent = data.pop("extends", None)
    if parent is None:
        data.setdefault("name", path.stem)
        return data
    if not isinstance(parent, str):
        raise ScenarioError(path, "extends", "must be a file name (a string), e.g. 'baseline_2018.toml'")
    parent_path = _resolved(path.parent / parent, referrer=path)
    if not parent_path.is_relative_to(root):
        raise ScenarioError(
            path, "extends", f"'{parent}' is outside the scenarios folder {root}; only files "
            "inside it may be extended"
        )
    if not parent_path.exists():
        raise ScenarioError(path, "extends", f"'{parent}' not found (looked for {parent_path})")
    base = load_raw(parent_path, (*_chain, path), root)
    base.pop("name", None)
    merged = _deep_merge(base, data)
    merged.setdefault("name", path.stem)
    return merged


#: The key naming a CSV file of monthly rates, read into `arrivals.monthly_rates` on loading.
RATES_FILE_KEY = "monthly_rates_file"


def _read_monthly_rates_file(path: Path, data: dict, root: Path) -> None:
    """`arrivals.monthly_rates_file = "rates.csv"` (beside the scenario, inside the scenarios
    folder): lines `YYYY-MM,rate` (a header line `month,rate` may come first, `#` starts a
    comment), read into `arrivals.monthly_rates`. An untrusted file: each mistake is one
    line naming the CSV file and its line."""
    arrivals = data.get("arrivals")
    if not isinstance(arrivals, dict) or RATES_FILE_KEY not in arrivals:
        return
    key = f"arrivals.{RATES_FILE_KEY}"
    name = arrivals.pop(RATES_FILE_KEY)
    if not isinstance(name, str):
        raise ScenarioError(path, key, "must be a file name (a string), e.g. 'rates.csv'")
    if "monthly_rates" in arrivals:
        raise ScenarioError(path, key, "give monthly_rates or monthly_rates_file, not both")
    csv_path = _resolved(path.parent / name, referrer=path)
    if not csv_path.is_relative_to(root):
        raise ScenarioError(path, key, f"'{name}' is outside the scenarios folder {root}")
    try:
        text = _read_text(csv_path)
    except ScenarioError as exc:  # not found, a folder, not UTF-8...: name the key that named it
        raise ScenarioError(path, key, f"'{name}': {exc.message}") from None
    arrivals["monthly_rates"] = _parse_rates(csv_path, text)


def _parse_rates(csv_path: Path, text: str) -> dict[str, float]:
    rates: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line or (not rates and line.lower().replace(" ", "") == "month,rate"):
            continue
        where = f"line {number}"
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) != 2 or parse_month(cells[0]) is None:
            raise ScenarioError(csv_path, where, "expected YYYY-MM,rate (e.g. 2018-01,150)")
        try:
            rate = float(cells[1])
        except ValueError:
            rate = math.nan
        if not (math.isfinite(rate) and 0 < rate <= 20000):
            raise ScenarioError(csv_path, where, f"rate {cells[1]!r}: a number in (0, 20000] "
                                "(mean arrivals a day) is allowed")
        if cells[0] in rates:
            raise ScenarioError(csv_path, where, f"month {cells[0]} is listed twice")
        rates[cells[0]] = rate
    return rates


def load_scenario(path: Path | str) -> Scenario:
    """Load, merge and validate a scenario file; raise `ScenarioError` on any mistake."""
    path = Path(path)
    raw = load_raw(path)
    return validate_scenario(raw, path)


def validate_scenario(raw: dict, path: Path | str = "<scenario>") -> Scenario:
    """Validate merged scenario data; the first problem becomes a `ScenarioError`."""
    try:
        return Scenario.model_validate(raw)
    except _CorridorProblem as exc:
        raise ScenarioError(path, exc.key, str(exc)) from None
    except ValidationError as exc:
        raise _first_error(exc, path) from None


def _first_error(exc: ValidationError, path: Path | str) -> ScenarioError:
    """The first problem pydantic found, as one line naming the key (shaped in
    `model.validation`, which the sweep file loader shares)."""
    return ScenarioError(path, *first_problem(exc, Scenario))


def with_changes(scenario: Scenario, changes: Mapping[str, Any],
                 source: str = "<changes>") -> Scenario:
    """The scenario with some values changed by dotted key, validated like a file.

    `with_changes(s, {"hub.rest_days": 2, "border_tightening.enabled": True})`. A key may
    name a whole table or list (`"corridor.places"`) or an element of a list by its index
    (`"corridor.places.1.shelter_beds"`). A mistake raises the same one-line
    `ScenarioError` as a file would, with `source` in place of the file name.
    """
    raw = scenario.model_dump()
    for dotted, value in changes.items():
        _set_dotted(raw, str(dotted), value, source)
    return validate_scenario(raw, source)


def _set_dotted(raw: dict, dotted: str, value: Any, source: str) -> None:
    """Set one dotted key in nested scenario data; unknown keys are one-line errors."""
    *parents, last = dotted.split(".")
    node: Any = raw
    for depth, part in enumerate([*parents, last]):
        is_last = depth == len(parents)
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(source, dotted, f"'{part}' is not an index of this list "
                                    f"(0 to {len(node) - 1})")
            key: Any = int(part)
        elif isinstance(node, dict) and part in node:
            key = part
        else:
            allowed = list(node) if isinstance(node, dict) else []
            raise ScenarioError(source, dotted, f"unknown key{did_you_mean(part, allowed)} "
                                f"(allowed here: {', '.join(allowed) or 'nothing: not a table'})")
        if is_last:
            node[key] = value
        else:
            node = node[key]


# ------------------------------------------------------------------ describing


def flatten(scenario: Scenario) -> dict[str, Any]:
    """Every scalar parameter by its dotted key path (corridor and official posts left out)."""
    out: dict[str, Any] = {}
    for block, values in scenario.model_dump(exclude={"corridor"}).items():
        if isinstance(values, dict):
            for key, value in values.items():
                if not isinstance(value, list):
                    out[f"{block}.{key}"] = value
        else:
            out[block] = values
    return out


def describe_scenario(scenario: Scenario) -> str:
    """A readable account: name, interventions on/off, the corridor, every parameter."""
    lines = [f"scenario     {scenario.name}", f"description  {scenario.description}",
             f"days         {scenario.days}", "", "interventions"]
    for name, enabled in scenario.interventions.items():
        block = getattr(scenario, name).model_dump(exclude={"enabled"})
        detail = ", ".join(f"{k}={v}" for k, v in block.items()) if enabled else ""
        lines.append(f"  [{'on ' if enabled else 'off'}] {name:<28} {detail}")
    places, links = scenario.corridor.places, scenario.corridor.links
    lines += ["", (f"corridor     {len(places)} places, {len(links)} links "
              f"({sum(link.route == 'bypass' for link in links)} bypass)")]
    for place in places:
        extras = [f"{k}={v}" for k, v in place.model_dump(
            exclude={"id", "name", "kind", "lon", "lat"}).items() if v]
        lines.append(f"  {place.id:>3} {place.name:<24} {place.kind:<10} {' '.join(extras)}")
    posts = scenario.officials.posts
    lines += ["", "official posts"]
    for post in posts:
        where = scenario.place_by_id[post.place].name
        lines.append(f"  {post.count:>3} x {post.institution:<10} at {where:<24} "
                     f"{post.capacity_per_day}/day each")
    lines += ["", "parameters"]
    lines += [f"  {key} = {value}" for key, value in flatten(scenario).items()
              if "." in key and key.split(".")[0] not in INTERVENTIONS
              and key != "arrivals.monthly_rates"]
    return "\n".join(lines + _describe_calendar(scenario))


def _describe_calendar(scenario: Scenario) -> list[str]:
    """The calendar, the monthly rates in short and the timeline, when the scenario has them."""
    lines = []
    if scenario.start_date is not None:
        last = scenario.date_of(scenario.days)
        lines += ["", f"calendar     day 1 = {scenario.start_date}, day {scenario.days} = {last}"]
    rates = scenario.arrivals.monthly_rates or {}
    if rates:
        lines.append(f"monthly rates {len(rates)} months listed, {min(rates.values()):g} to "
                     f"{max(rates.values()):g} a day (others: daily_rate)")
    entries = scenario.timeline or []
    for day, entry in sorted((_entry_day(scenario, i, e), e) for i, e in enumerate(entries)):
        when = f"{scenario.date_of(day)} (day {day})" if scenario.start_date else f"day {day}"
        lines.append(f"  timeline {when}: {entry.note or ', '.join(map(str, entry.set))}")
    return lines
