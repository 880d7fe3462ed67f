"""The corridor model: one replication of one scenario.

A day (one Mesa step, then the day's wake-ups, then the day's record):

1. people arrive at the crossing;
2. officials work: the asylum office decides the claims at the head of its queue;
3. travellers walk or ride on, in random order; checkpoints check the papers of
   the people passing (detention up to the station's capacity);
4. sleeping people whose wake-up falls today decide (Mesa events, default priority);
5. the day's counts are recorded (a recurring Mesa event at low priority).

Randomness comes from one stream per subsystem, spawned from the run's seed,
so two scenarios run with the same seed see the same arrivals.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from functools import partial
from itertools import accumulate

import numpy as np
from mesa import DataCollector, Model
from mesa.agent import AgentSet
from mesa.discrete_space import Network
from mesa.time import Priority, Schedule

from model.agents import FINAL_STATES, Migrant, State, Status
from model.corridor import PlaceCell, Route, RouteBook, build_graph, positions
from model.scenario import Place, Scenario

#: One random stream per subsystem, spawned in this order from the run's seed.
STREAMS = ("arrivals", "movement", "decisions", "recruitment", "screening", "enforcement")
SEXES = ("female", "male")


class CorridorModel(Model):
    """Migrants crossing a Tapachula-style corridor, for one scenario and one seed.

    Args:
        params: a validated `Scenario` (see `model.scenario.load_scenario`).
        seed: the run's seed; every random stream is derived from it.
    """

    def __init__(self, params: Scenario, seed: int = 0):
        super().__init__(rng=seed)
        self.params = params
        self.seed = seed
        self.streams = {
            name: np.random.default_rng(child)
            for name, child in zip(STREAMS, np.random.SeedSequence(seed).spawn(len(STREAMS)),
                                   strict=True)
        }
        self._build_corridor()
        self.travellers: AgentSet = AgentSet([], random=self.random)
        self.asylum_queue: deque[Migrant] = deque()
        self.counts: Counter = Counter()  # (state, sex) -> people in that state now
        self.events: list[tuple] = []  # (day, person, from, to, place, cause)
        self.arrivals = 0
        self.asylum_claims = 0
        self.asylum_decided = 0
        self.gave_up = 0
        self.detentions = 0
        self.detention_refused_full = 0
        self.detained_now = 0
        self.agent_days = 0
        self.hub_waits: list[int] = []  # days claimants waited before a decision or giving up
        self.transits_via_bypass = 0
        self.datacollector = DataCollector(model_reporters=self._reporters())
        self.schedule_recurring(self.record_day, Schedule(interval=1.0, start=1.0),
                                priority=Priority.LOW)

    # ------------------------------------------------------------- building

    def _build_corridor(self) -> None:
        graph = build_graph(self.params.corridor)
        self.space = Network(graph, random=self.random, cell_klass=PlaceCell,
                             layout=positions(self.params.corridor))
        for node, data in graph.nodes(data=True):
            self.space[node].place = data["place"]
        places = self.params.corridor.places
        self.crossing = self.space[next(p.id for p in places if p.kind == "crossing")]
        self.hub = self.space[next(p.id for p in places if p.kind == "hub")]
        exits = [p.id for p in places if p.kind == "exit"]
        self.routes = RouteBook(graph, self.hub.coordinate, exits)
        self._route_choice: dict[int, list[float]] = {}
        self.station = next(
            (self.space[p.id] for p in places if p.detention_capacity > 0), None
        )
        self.detention_capacity = sum(p.detention_capacity for p in places)

    @property
    def day(self) -> int:
        return self.steps

    # ----------------------------------------------------------------- a day

    def step(self) -> None:
        self.admit_arrivals()
        self.decide_asylum_claims()
        self.travellers.shuffle_do("travel")

    def admit_arrivals(self) -> None:
        """Today's arrivals at the crossing, with traits drawn from the arrivals stream."""
        for traits in self.draw_arrivals():
            person = Migrant(self, self.crossing, traits)
            self.arrivals += 1
            person.set_out(self.routes.to_hub(self.crossing.coordinate), "arrived at the crossing")

    def draw_arrivals(self) -> list[dict]:
        """How many arrive today and who they are: one vectorised draw per trait."""
        rng = self.streams["arrivals"]
        spec = self.params.arrivals
        n = int(rng.poisson(spec.daily_rate))
        nations = list(spec.nationalities)
        shares = np.array([spec.nationalities[k] for k in nations])
        movement = self.params.movement
        columns = {
            "sex": np.where(rng.random(n) < spec.share_female, "female", "male"),
            "minor": rng.random(n) < spec.share_minor,
            "alone": rng.random(n) < spec.share_alone,
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

    def decide_asylum_claims(self) -> None:
        """The asylum office decides up to its daily capacity, first come first served."""
        capacity = self.params.hub.asylum_capacity_per_day
        decided = 0
        while decided < capacity and self.asylum_queue:
            person = self.asylum_queue.popleft()
            if person.status is not Status.ASYLUM_APPLICANT:
                continue  # gave up or left the queue some other way
            granted = bool(self.streams["decisions"].random() < self.params.hub.grant_rate)
            person.receive_decision(granted)
            decided += 1
        self.asylum_decided += decided

    # --------------------------------------------------------- enforcement

    def papers_checked(self, place: Place) -> bool:
        """Whether INM checks the papers of a person passing this place today."""
        p = place.check_probability
        return p > 0 and self.streams["enforcement"].random() < p

    def detain(self, person: Migrant, cause: str) -> None:
        """Detain in the immigration station if a place is free; otherwise let them go."""
        if self.station is None or self.detained_now >= self.detention_capacity:
            self.detention_refused_full += 1
            return
        self.detained_now += 1
        self.detentions += 1
        person.be_detained(self.station, cause)

    # ------------------------------------------------------------ recording

    def record_transition(self, person: Migrant, old: State | None, new: State, cause: str):
        if old is not None:
            self.counts[(old, person.sex)] -= 1
        self.counts[(new, person.sex)] += 1
        if new is State.EXITED and person.used_bypass:
            self.transits_via_bypass += 1
        self.events.append((self.day, person.unique_id, old, new, person.place_id, cause))

    def record_hub_wait(self, person: Migrant) -> None:
        """A claimant's wait at the hub ended (decision or giving up)."""
        if person.hub_day is not None:
            self.hub_waits.append(self.day - person.hub_day)

    def record_day(self) -> None:
        self.agent_days += self.present
        self.datacollector.collect(self)

    def count(self, state: State, sex: str | None = None) -> int:
        if sex is not None:
            return self.counts[(state, sex)]
        return sum(self.counts[(state, s)] for s in SEXES)

    @property
    def present(self) -> int:
        """People still in the corridor (not exited, not deported)."""
        return sum(n for (state, _), n in self.counts.items() if state not in FINAL_STATES)

    @property
    def claimants_waiting_days(self) -> list[int]:
        """Days waited so far by claimants still waiting (censored at the last day)."""
        return [self.day - p.hub_day for p in self.asylum_queue
                if p.status is Status.ASYLUM_APPLICANT]

    def _reporters(self) -> dict:
        reporters = {"day": "day", "arrivals": "arrivals", "present": "present"}
        for state in State:
            reporters[state.value] = partial(CorridorModel.count, state=state)
            for sex in SEXES:
                reporters[f"{state.value}_{sex}"] = partial(CorridorModel.count, state=state,
                                                            sex=sex)
        return reporters
