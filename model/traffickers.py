"""Traffickers: recruiters who approach the people present where they operate.

A trafficker looks over a few people at its place each day, approaches the
most vulnerable-looking ones with a deceptive offer (a job, a ride, a room), and
some accept; the recruiter places them at an exploitation site with room
(`SiteMarket`). Once a month traffickers adapt: some leave the trade, some move to
where enforcement is weak, and new ones enter while the trade pays.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

import numpy as np
from mesa.discrete_space import CellAgent

from model.states import EXPLOITATION_FORMS

if TYPE_CHECKING:
    from model.agents import Migrant
    from model.corridor import PlaceCell
    from model.model import CorridorModel


class Trafficker(CellAgent):
    """A recruiter operating at one place of the corridor (synthetic)."""

    def __init__(self, model: CorridorModel, cell: PlaceCell):
        super().__init__(model)
        self.cell = cell
        self.active = True
        self.recruits = 0

    def act(self, people_here: list[Migrant]) -> None:
        """Look over a few people here and make today's deceptive offers.

        Targets are picked with probability proportional to how likely they are to
        accept, so vulnerability both draws attention and makes an offer succeed.
        """
        spec = self.model.params.traffickers
        if not people_here or spec.approaches_per_day == 0:
            return
        rng = self.model.streams["recruitment"]
        picks = rng.integers(len(people_here), size=spec.pool_size).tolist()
        pool = list(dict.fromkeys(people_here[i] for i in picks if people_here[i].recruitable))
        # one chance per person for the day: an offer to one person changes no one else's
        chances = [person.offer_acceptance() for person in pool]
        for _ in range(spec.approaches_per_day):
            if not pool:
                return
            total = sum(chances)
            if total <= 0:
                return
            target = _weighted_index(chances, rng.random() * total)
            person, chance = pool.pop(target), chances.pop(target)
            if rng.random() < chance:
                self.recruit(person)

    def recruit(self, person: Migrant) -> None:
        """The person accepted: place them at a site with room, or, when no site the person
        could be taken to has room, recruit no one (the trade recruits for its demand)."""
        site = self.model.sites.choose(person)
        if site is None:
            self.model.ledger.add("recruitments_prevented_sites_full")
            return
        self.recruits += 1
        person.accept_offer(self, site)

    def be_arrested(self) -> None:
        """An arrest removes the trafficker from the trade."""
        self.active = False
        self.model.ledger.add("traffickers_arrested")
        self.model.ledger.at_place(self.cell.coordinate, "arrests")
        self.remove()

    def leave_trade(self) -> None:
        self.active = False
        self.remove()

    def relocate(self, cell: PlaceCell) -> None:
        self.cell = cell


#: Kinds of place where traffickers can operate.
TRAFFICKER_GROUND = ("hub", "transit", "bypass")


class TraffickerMarket:
    """Once a month the trade adapts: some recruiters leave, some move to where enforcement
    is weak, and new ones enter by the scenario's `traffickers.entry_rule`:

    - `market` (default): entry follows the room the market leaves. The trade at a place
      supports a share of `traffickers.market_size` recruiters (its `trafficker_presence`:
      where demand for exploited labour and sex is), less where the risk of arrest is high
      (last month's arrests per recruiter there and the chance of a check:
      `enforcement_aversion`). Each month a share (`market_entry_share`) of the corridor's
      unfilled room is taken up; newcomers go to places in proportion to what they support
      and start `replacement_lag_days` later: arrested recruiters are replaced after a lag
      while the market pays.
    - `recruits`: new recruiters in proportion to last month's recruitments
      (`entry_per_recruit`, at most `maximum`) - the rule of the first versions, which sits
      on a knife edge between growth and extinction.
    - `fixed`: the number stays at `initial` (leavers and arrested recruiters are replaced at
      the month's end), for runs that hold the supply of recruiters constant.
    """

    def __init__(self, model):
        self.model = model
        self.spec = model.params.traffickers
        self.ground = [p for p in model.params.corridor.places if p.kind in TRAFFICKER_GROUND]
        self.pending: dict[int, int] = {}  # place id -> newcomers on their way
        self._cohorts: deque[list[int]] = deque()  # newcomers by month, oldest first
        self._arrive = self.arrive  # keep a strong reference: Mesa events hold weak ones

    def adapt(self) -> None:
        """The month's exits, relocations and entry; then a new month starts."""
        rng = self.model.streams["recruitment"]
        log_attraction = np.array([self.log_attraction(p) for p in self.ground])
        attraction = np.exp(log_attraction - log_attraction.max())  # no underflow to all zeros
        attraction = attraction / attraction.sum()
        for trafficker in self.model.traffickers.to_list():
            if rng.random() < self.spec.exit_per_month:
                trafficker.leave_trade()
            elif rng.random() < self.spec.relocate_share:
                place = self.ground[rng.choice(len(self.ground), p=attraction)]
                trafficker.relocate(self.model.space[place.id])
        if self.spec.entry_rule == "recruits":
            self.enter_by_recruits(rng, attraction)
        elif self.spec.entry_rule == "fixed":
            self.enter_to_fixed_number(rng, attraction)
        else:
            self.enter_by_market(rng)
        self.model.ledger.close_month()

    def log_attraction(self, place) -> float:
        """More recruits draw traffickers; identifications, arrests and checks repel them.

        The attraction is (1 + recruits) x exp(-enforcement_aversion x pressure); its log is
        returned, because with strong aversion the attraction of every place can underflow
        to 0, and then no place could be chosen."""
        log = self.model.ledger.month[place.id]
        return (math.log1p(log["recruited"])
                - self.spec.enforcement_aversion * self.pressure(place))

    def pressure(self, place) -> float:
        """Last month's risk at a place: identifications and arrests per recruitment, and
        the chance of a papers check there."""
        log = self.model.ledger.month[place.id]
        pressure = (log["identified"] + log["arrests"]) / (1 + log["recruited"])
        return pressure + self.model.policy.check_probability[place.id]

    def enter_by_recruits(self, rng, attraction) -> None:
        recruits = sum(log["recruited"] for log in self.model.ledger.month.values())
        room = max(0, self.spec.maximum - len(self.model.traffickers))
        entrants = min(room, int(rng.poisson(self.spec.entry_per_recruit * recruits)))
        for i in rng.choice(len(self.ground), size=entrants, p=attraction).tolist():
            Trafficker(self.model, self.model.space[self.ground[i].id])

    def enter_to_fixed_number(self, rng, attraction) -> None:
        entrants = max(0, self.spec.initial - len(self.model.traffickers))
        for i in rng.choice(len(self.ground), size=entrants, p=attraction).tolist():
            Trafficker(self.model, self.model.space[self.ground[i].id])

    def capacity(self, place, working_here: int) -> float:
        """Recruiters the trade at this place supports now, given the risk of arrest there."""
        total = sum(p.trafficker_presence for p in self.ground)
        if total <= 0:
            return 0.0
        share = place.trafficker_presence / total
        return (self.spec.market_size * share
                * math.exp(-self.spec.enforcement_aversion
                           * self.arrest_risk(place, working_here)))

    def arrest_risk(self, place, working_here: int) -> float:
        """Last month's arrests per recruiter at a place, plus the chance of a check there:
        what a newcomer weighs against the profit of the trade."""
        arrests = self.model.ledger.month[place.id]["arrests"]
        return (arrests / max(1, working_here + arrests)
                + self.model.policy.check_probability[place.id])

    def enter_by_market(self, rng) -> None:
        """A share of the market's unfilled room is taken up; newcomers go where the trade
        pays best and start after the lag.

        The room is counted over the whole corridor (every recruiter, wherever relocation
        took them, and every newcomer on their way), so the number returns to what the
        market supports instead of drifting."""
        here = {p.id: 0 for p in self.ground}
        for trafficker in self.model.traffickers:
            if trafficker.cell.coordinate in here:
                here[trafficker.cell.coordinate] += 1
        supported = np.array([self.capacity(p, here[p.id]) for p in self.ground])
        room = supported.sum() - len(self.model.traffickers) - sum(self.pending.values())
        if room <= 0:
            return
        entrants = int(rng.poisson(self.spec.market_entry_share * room))
        if not entrants:
            return
        picks = rng.choice(len(self.ground), size=entrants, p=supported / supported.sum())
        cohort = [self.ground[i].id for i in picks.tolist()]
        for place_id in cohort:
            self.pending[place_id] = self.pending.get(place_id, 0) + 1
        self._cohorts.append(cohort)
        if self.spec.replacement_lag_days == 0:
            self.arrive()
        else:
            self.model.schedule_event(self._arrive, after=self.spec.replacement_lag_days)

    def arrive(self) -> None:
        """The oldest cohort of newcomers starts working where they were drawn to."""
        for place_id in self._cohorts.popleft():
            self.pending[place_id] -= 1
            Trafficker(self.model, self.model.space[place_id])


def _weighted_index(weights: list[float], threshold: float) -> int:
    running = 0.0
    for i, weight in enumerate(weights):
        running += weight
        if threshold < running:
            return i
    return len(weights) - 1


class SiteMarket:
    """The places where exploited people are held, and how full they are.

    Each place of the corridor may have room for victims of sexual exploitation (bars,
    cantinas, rented rooms) and of labour exploitation (farms, building sites): its sites.
    A recruiter places a victim at a site with probability proportional to the demand for
    the victim's group (woman, man, girl, boy) in that site's form times the room left there,
    among the sites a route can reach. So the form of exploitation follows from who the
    victim is and where the market has room, not from a fixed share; a full market recruits
    no one. A place is taken at recruitment (the recruiter recruits for a job) and freed when
    the person stops being a victim (escape, identification, detention).
    (Not a Mesa agent: it has no rules of its own to schedule.)
    """

    def __init__(self, model: CorridorModel):
        self.model = model
        self.spec = model.params.exploitation
        self.capacity: dict[tuple[int, str], int] = {}
        for place in model.params.corridor.places:
            for form in EXPLOITATION_FORMS:
                room = getattr(place, f"{form}_site_capacity")
                if room > 0:
                    self.capacity[(place.id, form)] = room
        self.used: dict[tuple[int, str], int] = dict.fromkeys(self.capacity, 0)

    def choose(self, person: Migrant) -> tuple[int, str] | None:
        """A site (place id, form) for this person, or None when no site they can be taken
        to has room. One draw on the recruitment stream."""
        reachable = self.model.routes.reachable(person.place_id)
        group = demand_group(person)
        sites, weights = [], []
        for site, capacity in self.capacity.items():
            weight = self.spec.demand(group, site[1]) * (capacity - self.used[site])
            if weight > 0 and site[0] in reachable:
                sites.append(site)
                weights.append(weight)
        if not sites:
            return None
        total = sum(weights)
        return sites[_weighted_index(weights, self.model.streams["recruitment"].random() * total)]

    def take(self, site: tuple[int, str]) -> None:
        self.used[site] += 1

    def release(self, site: tuple[int, str]) -> None:
        self.used[site] -= 1


def demand_group(person: Migrant) -> str:
    """The group the market tells apart: woman, man, girl or boy."""
    if person.sex == "female":
        return "girl" if person.minor else "woman"
    return "boy" if person.minor else "man"
