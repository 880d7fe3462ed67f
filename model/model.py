"""The corridor model: one replication of one scenario, and the order of its day.

The model builds the corridor, the institutions and the people, and runs the day. The
agents' rules are in `agents.py`, `traffickers.py` and `institutions.py`; what the
interventions in force change is resolved once into `self.policy` (`policy.py`); every
count and event goes to `self.ledger` (`ledger.py`).

A day (one Mesa step, then the day's wake-ups, then the day's record):

0. the scenario's timeline changes due today take effect (`apply_scenario`);
1. people arrive at the crossing;
2. officials work: the asylum office decides the claims at the head of its queue;
   inspections, INM operations and the hotline reach exploited people, who are
   screened (identified or not); some exploited people escape; then exploited people
   whose country has a consulate in the hub may reach it;
3. travellers walk or ride on, and victims are driven to their exploitation sites, in
   random order; INM officers at checkpoints check the papers of some people passing
   (screening, detention, or extortion);
4. traffickers approach the people present where they operate, and place those who
   accept at a site with room;
5. sleeping people whose wake-up falls today act (Mesa events, default priority):
   money runs out, giving up, end of detention, referral, shelter, visa;
6. every 30 days traffickers adapt (entry, exit, relocation);
7. the day's counts are recorded (a recurring Mesa event at low priority).

Randomness comes from one stream per subsystem, spawned from the run's seed,
so two scenarios run with the same seed see the same arrivals.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict, deque
from itertools import accumulate

import numpy as np
from mesa import DataCollector, Model
from mesa.agent import AgentSet
from mesa.discrete_space import Network
from mesa.time import Event, Priority, Schedule

from model.agents import Migrant
from model.corridor import (
    PlaceCell,
    Route,
    RouteBook,
    add_facility,
    build_graph,
    positions,
    road_chance_checked,
)
from model.institutions import (
    AsylumOffice,
    ChildProtection,
    Consulates,
    ImmigrationStation,
    Roster,
    SupportOrganisation,
)
from model.ledger import Ledger, series_reporters
from model.policy import resolve
from model.scenario import Scenario, timeline_states
from model.states import FINAL_STATES, State
from model.traffickers import SiteMarket, Trafficker, TraffickerMarket

#: One random stream per subsystem, spawned in this order from the run's seed.
STREAMS = ("arrivals", "decisions", "recruitment", "screening", "enforcement")
ADAPTATION_DAYS = 30  # assumption: traffickers revise where they work about monthly


class CorridorModel(Model):
    """Migrants, traffickers and officials on a Tapachula-style corridor, for one seed.

    Args:
        params: a validated `Scenario` (see `model.scenario.load_scenario`).
        seed: the run's seed; every random stream is derived from it.
    """

    def __init__(self, params: Scenario, seed: int = 0):
        super().__init__(rng=seed)
        self.params = params
        self.seed = seed
        self.policy = resolve(params)
        self.ledger = Ledger(clock=lambda: self.steps)
        self.by_state: dict[State, dict[Migrant, None]] = defaultdict(dict)
        self.streams = {
            name: np.random.default_rng(child)
            for name, child in zip(STREAMS, np.random.SeedSequence(seed).spawn(len(STREAMS)),
                                   strict=True)
        }
        self._build_corridor()
        self.sites = SiteMarket(self)
        self._open_institutions()
        self._place_traffickers()
        self._timeline = deque((day, state) for day, _, state in timeline_states(params))
        self.datacollector = DataCollector(
            model_reporters=series_reporters(calendar=params.start_date is not None))
        self.market = TraffickerMarket(self)
        self.schedule_recurring(self.market.adapt,
                                Schedule(interval=ADAPTATION_DAYS, start=ADAPTATION_DAYS))
        self.schedule_recurring(self.record_day, Schedule(interval=1.0, start=1.0),
                                priority=Priority.LOW)

    # ------------------------------------------------------------- building

    def _build_corridor(self) -> None:
        params = self.params
        graph = build_graph(params.corridor)
        places = params.corridor.places
        hub = next(p for p in places if p.kind == "hub")
        station_site = next((p for p in places if p.detention_capacity > 0), hub)
        station_id = add_facility(graph, station_site, "Immigration station", "station")
        shelter_id = add_facility(graph, hub, "Shelters", "shelter")
        self.space = Network(graph, random=self.random, cell_klass=PlaceCell,
                             layout=positions(graph))
        for node, data in graph.nodes(data=True):
            self.space[node].place = data["place"]
        self.station_cell, self.station_site = self.space[station_id], self.space[station_site.id]
        self.shelter_cell = self.space[shelter_id]
        self.crossing = self.space[next(p.id for p in places if p.kind == "crossing")]
        self.hub = self.space[next(p.id for p in places if p.kind == "hub")]
        self._graph = graph
        self._exits = [p.id for p in places if p.kind == "exit"]
        self._derive_from_params()

    def _derive_from_params(self) -> None:
        """What the corridor's rules precompute from the scenario and the policy: the routes
        (their chance of a check), the route-choice cache, the give-up rate (containment)
        and the offers' base log-odds. Called at the start and by `apply_scenario`."""
        params = self.params
        self.routes = RouteBook(self._graph, self.hub.coordinate, self._exits,
                                self.policy.check_probability)
        self._route_choice: dict[int, list[float]] = {}
        hub_spec = params.hub
        watched = road_chance_checked(self.routes.to_exit(self.hub.coordinate))
        self.give_up_per_day = hub_spec.give_up_per_day * (1.0 - hub_spec.containment * watched)
        spec = params.traffickers
        self.offer_base_log_odds = (math.log(spec.offer_success / (1 - spec.offer_success))
                                    if 0 < spec.offer_success < 1 else 0.0)

    def _open_institutions(self) -> None:
        """The shelter, the officials at their posts, the asylum office, the station, the
        child protection system (DIF) and the consulates."""
        self.shelter = SupportOrganisation(self, self.shelter_cell, self.hub,
                                           self.policy.shelter_beds)
        self.roster = Roster(self)
        self.asylum_office = AsylumOffice(self)
        self.station = ImmigrationStation(self, self.station_cell, self.station_site,
                                          self.policy.detention_capacity)
        self.child_protection = ChildProtection(self, self.shelter_cell, self.hub)
        self.consulates = Consulates(self)

    def _place_traffickers(self) -> None:
        spec = self.params.traffickers
        ground = [p for p in self.params.corridor.places if p.trafficker_presence > 0]
        if not ground or spec.initial == 0:
            return
        weights = np.array([p.trafficker_presence for p in ground])
        picks = self.streams["recruitment"].choice(len(ground), size=spec.initial,
                                                   p=weights / weights.sum())
        for i in picks.tolist():
            Trafficker(self, self.space[ground[i].id])

    @property
    def day(self) -> int:
        """Days simulated so far, warm-up included (today's number during a day)."""
        return self.steps

    @property
    def scenario_day(self) -> int:
        """Today's number as scenario files count days: 1 is the first day after the warm-up
        (warm-up days are 0 and below)."""
        return self.steps - self.params.warmup_days

    @property
    def today(self) -> dt.date | None:
        """Today's calendar date, when the scenario has a start_date."""
        return self.params.date_of(self.scenario_day)

    # ------------------------------------------------------------- the timeline

    def begin_day(self) -> None:
        """Before anything else today: the ledger learns the calendar year, and the timeline's
        changes due today take effect."""
        if self.params.start_date is not None:
            self.ledger.year = self.today.year
        while self._timeline and self._timeline[0][0] <= self.scenario_day:
            self.apply_scenario(self._timeline.popleft()[1])

    def apply_scenario(self, params: Scenario) -> None:
        """Put a changed scenario in force from now on: the one place that follows a change.

        Everything built once from the scenario or the policy is rebuilt or told: the policy;
        the routes, the route-choice cache, the give-up rate and the offers' base log-odds
        (`_derive_from_params`); the station's capacity and the shelters' beds; the
        officials' training and complicity (`Roster.follow_policy`); the child protection
        reform and the DIF's places; the consulates; the trafficker and site markets' specs. The rest of the rules read `self.params` and `self.policy` when they act.
        Decisions already made stand: a traveller keeps the route they chose, a sleeper
        their wake-up day (rest, detention, referral, shelter and visa delays, the day they
        give up). No random number is drawn here, so the days before the change are exactly
        those of the run without it."""
        self.params, self.policy = params, resolve(params)
        self._derive_from_params()
        self.station.capacity = self.policy.detention_capacity
        self.shelter.beds = self.policy.shelter_beds
        self.roster.follow_policy(self.policy)
        self.child_protection.follow_policy(self.policy)
        self.consulates.follow(params.consular)
        self.market.spec = params.traffickers
        self.sites.spec = params.exploitation

    def schedule_wakeup(self, wake, day: int) -> WakeUp:
        """Schedule a sleeping person's wake-up (`Migrant.sleep_until`) on `day` (today or
        later): what `schedule_event(wake, at=day)` does, in the same place of Mesa's event
        list, without its weak references (see `WakeUp`)."""
        wakeup = WakeUp(day, wake)
        self._event_list.add_event(wakeup)
        return wakeup

    @property
    def traffickers(self):
        return self.agents_by_type.get(Trafficker, AgentSet([], random=self.random))

    # ----------------------------------------------------------------- a day

    def step(self) -> None:
        self.begin_day()
        self.admit_arrivals()
        self.asylum_office.decide_claims()
        self.reach_exploited_people()
        self.consulates.reach_exploited_people()
        self.move_travellers()
        self.traffickers_act()

    def move_travellers(self) -> None:
        """Everyone in transit walks or rides on, and victims being taken to their site are
        driven on, all in random order.

        The people in transit are read from the model's by-state index rather than an
        `AgentSet`, so no weak references are made and dropped for thousands of trips a day.
        """
        travellers = list(self.by_state[State.IN_TRANSIT])
        travellers += [p for p in self.by_state[State.RECRUITED] if p.moving]
        self.random.shuffle(travellers)
        for person in travellers:
            person.travel()

    def admit_arrivals(self) -> None:
        """Today's arrivals at the crossing, with traits drawn from the arrivals stream."""
        for traits in self.draw_arrivals():
            person = Migrant(self, self.crossing, traits)
            self.ledger.arrive(self.crossing.coordinate)
            person.set_out(self.routes.to_hub(self.crossing.coordinate), "arrived at the crossing")

    def draw_arrivals(self) -> list[dict]:
        """How many arrive today and who they are: one vectorised draw per trait. Minor and
        alone are drawn jointly: a child travels without family with `share_minor_alone`,
        an adult with `share_alone` (children mostly travel with family)."""
        rng = self.streams["arrivals"]
        spec = self.params.arrivals
        n = int(rng.poisson(self.params.daily_rate_on(self.scenario_day)))
        nations = list(spec.nationalities)
        shares = np.array([spec.nationalities[k] for k in nations])
        movement = self.params.movement
        sex = np.where(rng.random(n) < spec.share_female, "female", "male")
        minor = rng.random(n) < spec.share_minor
        columns = {
            "sex": sex,
            "minor": minor,
            "alone": rng.random(n) < np.where(minor, spec.share_minor_alone, spec.share_alone),
            "nationality": np.array(nations)[rng.choice(len(nations), size=n, p=shares)],
            "money": spec.money_median_usd * np.exp(spec.money_sigma * rng.normal(size=n)),
            "foot_km_per_day": rng.uniform(movement.foot_km_min, movement.foot_km_max, size=n),
            "asylum_propensity": rng.random(n),
        }
        lists = {key: values.tolist() for key, values in columns.items()}
        return [{key: lists[key][i] for key in lists} for i in range(n)]

    def route_choice_probabilities(self, routes: list[Route]) -> list[float]:
        """Cumulative logit probabilities over routes for a traveller without papers.

        Utility = -effort_km / km_scale - detection_aversion * P(checked); the result depends
        only on the routes and the scenario, so it is computed once per route list.
        """
        key = id(routes)
        if key not in self._route_choice:
            movement = self.params.movement
            utility = [-r.effort_km(movement.bypass_effort) / movement.km_scale
                       - movement.detection_aversion * r.chance_checked for r in routes]
            top = max(utility)
            weights = [math.exp(u - top) for u in utility]
            total = sum(weights)
            self._route_choice[key] = list(accumulate(w / total for w in weights))
        return self._route_choice[key]

    def detection_per_day(self) -> tuple[dict[str, float], dict[str, float]]:
        """Daily chances of an inspection and of an INM operation reaching an exploited
        person, by the form of their exploitation: inspections visit farms and building
        sites more than bars, operations bars and rooms more than farms."""
        detection = self.params.detection
        inspection = {"labour": detection.inspection_find_per_day,
                      "sexual": detection.inspection_find_per_day
                      * detection.inspection_reach_sexual}
        raid = {"sexual": self.policy.raid_find_per_day,
                "labour": self.policy.raid_find_per_day * detection.raid_reach_labour}
        return inspection, raid

    def reach_exploited_people(self) -> None:
        """Each exploited person may escape, call the hotline, or meet an inspection or raid
        at their site's place (only where inspectors or INM officers are posted)."""
        params, policy = self.params, self.policy
        decisions, enforcement = self.streams["decisions"], self.streams["enforcement"]
        hotline = policy.hotline_contact_per_day
        inspection, raid = self.detection_per_day()
        escape = params.traffickers.escape_per_day
        for person in list(self.by_state[State.EXPLOITED]):
            form = person.exploitation_form
            if decisions.random() < escape:
                person.escape_exploitation()
            elif hotline > 0 and person.informed and decisions.random() < hotline:
                self.shelter.take_call(person)
            elif enforcement.random() < inspection[form]:
                inspector = self.roster.on_duty(person.place_id, "inspector")
                if inspector is not None:
                    inspector.inspect(person)
            elif enforcement.random() < raid[form]:
                officer = self.roster.on_duty(person.place_id, "INM")
                if officer is not None:
                    officer.raid(person)

    def traffickers_act(self) -> None:
        """Traffickers, place by place in random order, approach the people there who can be
        recruited (not those in the station or the shelters), listed in the order they
        arrived in the corridor, so that who a recruiter meets does not depend on who went in
        and out of a place before."""
        by_place: dict[int, list[Trafficker]] = defaultdict(list)
        for trafficker in self.traffickers.shuffle():
            by_place[trafficker.cell.coordinate].append(trafficker)
        for place_id in sorted(by_place):
            # a copy: recruitments change the place's index while traffickers act
            people_here = self.space[place_id].people_to_approach()
            for trafficker in by_place[place_id]:
                trafficker.act(people_here)

    # ------------------------------------------------------------ the day's record

    def reindex(self, person: Migrant, old: State | None, new: State) -> None:
        """Keep the by-state index the day's loops read (people who left are dropped)."""
        if old is not None:
            self.by_state[old].pop(person, None)
        if new not in FINAL_STATES:
            self.by_state[new][person] = None

    def record_day(self) -> None:
        self.ledger.add("agent_days", self.ledger.present)
        self.datacollector.collect(self)

    @property
    def traffickers_active(self) -> int:
        return len(self.traffickers)

    @property
    def claimants_waiting_days(self) -> list[int]:
        """Days waited so far by claimants still waiting (censored at the last day)."""
        return self.asylum_office.days_waited_so_far()


#: Mesa's default event priority as a plain number (reading an enum member's value is a
#: property call, paid once per wake-up otherwise).
DEFAULT_PRIORITY = Priority.DEFAULT.value


class WakeUp(Event):
    """A person's wake-up: a Mesa event at default priority that holds its callback directly.

    Mesa's `schedule_event` wraps each callback in a weak reference twice (so events of
    removed agents fail silently); tens of thousands of wake-ups a year made that a visible
    share of a run. A person who leaves the corridor cancels their wake-up first
    (`Migrant.set_state`), so a strong reference changes nothing. The order is Mesa's:
    time, priority, then creation, numbered by the same counter as every other event.
    """

    def __init__(self, time: int, wake):
        self.time = time
        self.priority = DEFAULT_PRIORITY
        self._canceled = False
        self.fn = wake
        self.unique_id = next(Event._ids)

    def execute(self) -> None:
        if not self._canceled:
            self.fn()

    def cancel(self) -> None:
        self._canceled = True
        self.fn = None

    def __getstate__(self) -> dict:
        return self.__dict__.copy()  # Mesa's would call the callback to undo a weak reference

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
