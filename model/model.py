"""The corridor model: one replication of one scenario.

A day (one Mesa step, then the day's wake-ups, then the day's record):

1. people arrive at the crossing;
2. officials work: the asylum office decides the claims at the head of its queue;
   inspections, INM operations and the hotline reach exploited people, who are
   screened (identified or not); some exploited people escape;
3. travellers walk or ride on, in random order; INM officers at checkpoints check
   the papers of some people passing (screening, detention, or extortion);
4. traffickers approach the people present where they operate;
5. sleeping people whose wake-up falls today act (Mesa events, default priority):
   money runs out, giving up, end of detention, referral, shelter, visa;
6. every 30 days traffickers adapt (entry, exit, relocation);
7. the day's counts are recorded (a recurring Mesa event at low priority).

Randomness comes from one stream per subsystem, spawned from the run's seed,
so two scenarios run with the same seed see the same arrivals.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque
from functools import partial
from itertools import accumulate

import numpy as np
from mesa import DataCollector, Model
from mesa.agent import AgentSet
from mesa.discrete_space import Network
from mesa.time import Priority, Schedule

from model.agents import FINAL_STATES, Migrant, State, Status
from model.corridor import PlaceCell, Route, RouteBook, build_graph, positions
from model.institutions import Official, SupportOrganisation
from model.scenario import Place, Scenario
from model.traffickers import Trafficker

#: One random stream per subsystem, spawned in this order from the run's seed.
STREAMS = ("arrivals", "decisions", "recruitment", "screening", "enforcement")
SEXES = ("female", "male")
AGE_GROUPS = ("adult", "minor")
#: Kinds of place where traffickers can operate.
TRAFFICKER_GROUND = ("hub", "transit", "bypass")
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
        self.streams = {
            name: np.random.default_rng(child)
            for name, child in zip(STREAMS, np.random.SeedSequence(seed).spawn(len(STREAMS)),
                                   strict=True)
        }
        self._init_tallies()
        self._build_corridor()
        self._post_officials()
        self._place_traffickers()
        self.asylum_queue: deque[Migrant] = deque()
        self.datacollector = DataCollector(model_reporters=self._reporters())
        self.schedule_recurring(self.adapt_traffickers,
                                Schedule(interval=ADAPTATION_DAYS, start=ADAPTATION_DAYS))
        self.schedule_recurring(self.record_day, Schedule(interval=1.0, start=1.0),
                                priority=Priority.LOW)

    # ------------------------------------------------------------- building

    def _init_tallies(self) -> None:
        self.counts: Counter = Counter()  # (state, sex) -> people in that state now
        self.by_state: dict[State, dict[Migrant, None]] = defaultdict(dict)
        self.events: list[tuple] = []  # (day, person, from, to, place, cause)
        self.tally: Counter = Counter()  # named event counts (see summarise)
        self.victims: Counter = Counter()  # (measure, group) -> people
        self.days_to_identification: list[int] = []
        self.hub_waits: list[int] = []  # days claimants waited before a decision or giving up
        self.smuggler_debts: list[float] = []
        self.place_log: dict[int, Counter] = defaultdict(Counter)  # this month, per place
        self.place_totals: dict[int, Counter] = defaultdict(Counter)  # whole run, per place
        self.arrivals = self.asylum_claims = self.asylum_decided = self.gave_up = 0
        self.detentions = self.detention_refused_full = 0
        self.agent_days = self.transits_via_bypass = 0
        self.traffickers_arrested = self.tvrh_issued = self.identified_deported = 0

    def _build_corridor(self) -> None:
        params = self.params
        graph = build_graph(params.corridor)
        self.space = Network(graph, random=self.random, cell_klass=PlaceCell,
                             layout=positions(params.corridor))
        for node, data in graph.nodes(data=True):
            self.space[node].place = data["place"]
        places = params.corridor.places
        self.crossing = self.space[next(p.id for p in places if p.kind == "crossing")]
        self.hub = self.space[next(p.id for p in places if p.kind == "hub")]
        exits = [p.id for p in places if p.kind == "exit"]
        self.check_probability = self._effective_checks()
        self.routes = RouteBook(graph, self.hub.coordinate, exits, self.check_probability)
        self._route_choice: dict[int, list[float]] = {}
        self.station = next((self.space[p.id] for p in places if p.detention_capacity > 0),
                            self.hub)
        tightening = params.border_tightening
        self.detention_capacity = sum(p.detention_capacity for p in places) + (
            tightening.extra_detention_capacity if tightening.enabled else 0)
        self.deport_share = (tightening.deport_share if tightening.enabled
                             else params.enforcement.deport_share)
        io = params.io_collaboration
        beds = sum(p.shelter_beds for p in places) + (io.extra_shelter_beds if io.enabled else 0)
        self.shelter = SupportOrganisation(self, self.hub, beds)
        self.referral_days = io.referral_days if io.enabled else params.protection.referral_days
        spec = params.traffickers
        self.offer_base_log_odds = (math.log(spec.offer_success / (1 - spec.offer_success))
                                    if 0 < spec.offer_success < 1 else 0.0)

    def _effective_checks(self) -> dict[int, float]:
        """Each place's chance of a papers check: tightened, and zero without INM posted."""
        tightening = self.params.border_tightening
        factor = tightening.check_multiplier if tightening.enabled else 1.0
        posted = {post.place for post in self.params.officials.posts
                  if post.institution == "INM" and post.count > 0 and post.capacity_per_day > 0}
        return {p.id: min(1.0, p.check_probability * factor) if p.id in posted else 0.0
                for p in self.params.corridor.places}

    def _post_officials(self) -> None:
        self.officials: dict[tuple[int, str], list[Official]] = defaultdict(list)
        for post in self.params.officials.posts:
            for _ in range(post.count):
                official = Official(self, self.space[post.place], post.institution,
                                    post.capacity_per_day)
                self.officials[(post.place, post.institution)].append(official)

    @property
    def trained_share(self) -> float:
        training = self.params.cross_sector_training
        base = self.params.officials.trained_share
        return max(base, training.coverage) if training.enabled else base

    def complicity_chance(self, trained: bool) -> float:
        """Complicity falls with training and with the special prosecutor's oversight."""
        chance = self.params.officials.complicity_probability
        if trained:
            chance *= 1.0 - self.params.cross_sector_training.complicity_reduction
        prosecutor = self.params.special_prosecutor
        if prosecutor.enabled:
            chance *= 1.0 - prosecutor.complicity_oversight
        return chance

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
        return self.steps

    @property
    def traffickers(self):
        return self.agents_by_type.get(Trafficker, AgentSet([], random=self.random))

    # ----------------------------------------------------------------- a day

    def step(self) -> None:
        self.admit_arrivals()
        self.decide_asylum_claims()
        self.reach_exploited_people()
        self.move_travellers()
        self.traffickers_act()

    def move_travellers(self) -> None:
        """Everyone in transit walks or rides on, in random order.

        The people in transit are read from the model's by-state index rather than an
        `AgentSet`, so no weak references are made and dropped for thousands of trips a day.
        """
        travellers = list(self.by_state[State.IN_TRANSIT])
        self.random.shuffle(travellers)
        for person in travellers:
            person.travel()

    def admit_arrivals(self) -> None:
        """Today's arrivals at the crossing, with traits drawn from the arrivals stream."""
        for traits in self.draw_arrivals():
            person = Migrant(self, self.crossing, traits)
            self.arrivals += 1
            self.record_passage(person)
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
        """The asylum office (COMAR) decides up to its daily capacity, first come first served."""
        capacity = self.params.hub.asylum_capacity_per_day
        decided = 0
        while decided < capacity and self.asylum_queue:
            person = self.asylum_queue.popleft()
            if person.status is not Status.ASYLUM_APPLICANT or not person.recruitable:
                continue  # gave up, or abandoned the claim some other way
            granted = bool(self.streams["decisions"].random() < self.params.hub.grant_rate)
            person.receive_decision(granted)
            decided += 1
        self.asylum_decided += decided

    def reach_exploited_people(self) -> None:
        """Each exploited person may escape, call the hotline, or meet an inspection or raid."""
        params = self.params
        decisions, enforcement = self.streams["decisions"], self.streams["enforcement"]
        io = params.io_collaboration
        tightening = params.border_tightening
        raid_chance = params.detection.raid_find_per_day * (
            tightening.raid_multiplier if tightening.enabled else 1.0)
        for person in list(self.by_state[State.EXPLOITED]):
            place = person.place_id
            if decisions.random() < params.traffickers.escape_per_day:
                person.escape_exploitation()
            elif io.enabled and decisions.random() < io.hotline_contact_per_day:
                self.shelter.take_call(person)
            elif enforcement.random() < params.detection.inspection_find_per_day:
                inspector = self.on_duty(place, "inspector")
                if inspector is not None:
                    inspector.inspect(person)
            elif enforcement.random() < raid_chance:
                officer = self.on_duty(place, "INM")
                if officer is not None:
                    officer.raid(person)

    def traffickers_act(self) -> None:
        """Traffickers, place by place in random order, approach the people there."""
        by_place: dict[int, list[Trafficker]] = defaultdict(list)
        for trafficker in self.traffickers.shuffle():
            by_place[trafficker.cell.coordinate].append(trafficker)
        for place_id in sorted(by_place):
            people_here = [a for a in self.space[place_id]._agents if isinstance(a, Migrant)]
            for trafficker in by_place[place_id]:
                trafficker.act(people_here)

    # --------------------------------------------------------- enforcement

    def on_duty(self, place_id: int, institution: str) -> Official | None:
        """An official of this institution here with capacity left today, picked at random."""
        staff = self.officials.get((place_id, institution))
        if not staff:
            return None
        start = int(self.streams["enforcement"].integers(len(staff)))
        for offset in range(len(staff)):
            official = staff[(start + offset) % len(staff)]
            if official.available:
                return official
        return None

    def papers_check_officer(self, place: Place) -> Official | None:
        """The INM officer who checks this passer-by, or None if nobody checks them."""
        chance = self.check_probability[place.id]
        if chance <= 0 or self.streams["enforcement"].random() >= chance:
            return None
        return self.on_duty(place.id, "INM")

    def detain(self, person: Migrant, cause: str) -> bool:
        """Detain in the immigration station if a place is free; otherwise let them go."""
        if self.count(State.DETAINED) >= self.detention_capacity:
            self.detention_refused_full += 1
            return False
        if person.is_victim:
            self.tally["victims_detained_unidentified"] += 1
        self.detentions += 1
        person.be_detained(self.station, cause)
        return True

    def arrest_chance(self, cooperating: bool, specialised: bool = True) -> float:
        """Chance an investigated case ends in the exploiter's arrest."""
        params = self.params
        chance = params.protection.prosecution_arrest_probability
        if specialised and params.special_prosecutor.enabled:
            chance *= params.special_prosecutor.arrest_multiplier
        if cooperating:
            chance *= params.protection.cooperation_gain
        return min(chance, 1.0)

    def prosecute(self, person: Migrant, cooperating: bool) -> None:
        """FEVIMTRA takes up an identified case; when it has no capacity left today (or no
        post), a state prosecutor does, without the special prosecutor's strengthening."""
        prosecutor = self.on_duty(self.hub.coordinate, "FEVIMTRA")
        if prosecutor is not None:
            prosecutor.prosecute(person, cooperating)
            return
        trafficker = person.exploiter
        if trafficker is not None and trafficker.active and (
                self.streams["enforcement"].random() < self.arrest_chance(cooperating,
                                                                          specialised=False)):
            trafficker.be_arrested()

    # --------------------------------------------------------- adaptation

    def adapt_traffickers(self) -> None:
        """Monthly: some leave, some move to where enforcement is weak, new ones enter."""
        spec = self.params.traffickers
        rng = self.streams["recruitment"]
        ground = [p for p in self.params.corridor.places if p.kind in TRAFFICKER_GROUND]
        attraction = np.array([self._attraction(p) for p in ground])
        attraction = attraction / attraction.sum()
        for trafficker in self.traffickers.to_list():
            if rng.random() < spec.exit_per_month:
                trafficker.leave_trade()
            elif rng.random() < spec.relocate_share:
                trafficker.relocate(self.space[ground[rng.choice(len(ground), p=attraction)].id])
        recruits = sum(log["recruits"] for log in self.place_log.values())
        room = max(0, spec.maximum - len(self.traffickers))
        entrants = min(room, int(rng.poisson(spec.entry_per_recruit * recruits)))
        for i in rng.choice(len(ground), size=entrants, p=attraction).tolist():
            Trafficker(self, self.space[ground[i].id])
        self.place_log.clear()

    def _attraction(self, place: Place) -> float:
        """More recruits draw traffickers; identifications, arrests and checks repel them."""
        log = self.place_log[place.id]
        pressure = (log["identified"] + log["arrests"]) / (1 + log["recruits"])
        pressure += self.check_probability[place.id]
        return (1 + log["recruits"]) * math.exp(-self.params.traffickers.enforcement_aversion
                                                * pressure)

    # ------------------------------------------------------------ recording

    def record_transition(self, person: Migrant, old: State | None, new: State, cause: str):
        if old is not None:
            self.counts[(old, person.sex)] -= 1
            self.by_state[old].pop(person, None)
        self.counts[(new, person.sex)] += 1
        if new not in FINAL_STATES:
            self.by_state[new][person] = None
        if new is State.EXITED and person.used_bypass:
            self.transits_via_bypass += 1
        self.events.append((self.day, person.unique_id, old, new, person.place_id, cause))

    def record_hub_wait(self, person: Migrant) -> None:
        """A claimant's wait at the hub ended (decision or giving up)."""
        if person.hub_day is not None:
            self.hub_waits.append(self.day - person.hub_day)

    def _groups(self, person: Migrant) -> tuple[str, str, str]:
        return ("all", person.sex, person.age_group)

    def record_passage(self, person: Migrant) -> None:
        self.place_totals[person.place_id]["passed"] += 1

    def record_recruitment(self, person: Migrant) -> None:
        self.place_log[person.place_id]["recruits"] += 1
        self.place_totals[person.place_id]["recruited"] += 1
        if person.times_trafficked == 1:
            for group in self._groups(person):
                self.victims[("true", group)] += 1
        else:
            self.tally["retrafficked"] += 1
            if person.identified:
                self.tally["retrafficked_after_identification"] += 1

    def record_identification(self, person: Migrant) -> None:
        """Count a person once, at their first identification (as victims_true counts)."""
        self.place_log[person.place_id]["identified"] += 1
        self.place_totals[person.place_id]["identified"] += 1
        self.days_to_identification.append(self.day - person.victim_since)
        self.tally["identifications"] += 1
        if not person.identified:
            for group in (*self._groups(person), person.exploitation_form or "not_yet"):
                self.victims[("identified", group)] += 1

    def record_protection(self, person: Migrant) -> None:
        """Count a person once, at their first protection."""
        if not person.protected:
            person.protected = True
            for group in self._groups(person):
                self.victims[("protected", group)] += 1

    def record_exploitation(self, person: Migrant) -> None:
        if person.times_trafficked == 1:
            self.victims[("true", person.exploitation_form)] += 1

    def record_screening_flag(self, person: Migrant, screener) -> None:
        """A screener flagged the person: a victim is identified, anyone else is cleared."""
        if person.is_victim:
            person.be_identified(screener.institution)
        else:
            self.tally["false_positive_referrals"] += 1

    def record_complicity(self, person: Migrant, cause: str) -> None:
        self.tally["complicity_events"] += 1
        self.events.append((self.day, person.unique_id, person.state, person.state,
                            person.place_id, cause))

    def record_smuggling(self, person: Migrant, fee: float) -> None:
        self.tally["smuggled"] += 1
        self.smuggler_debts.append(max(0.0, fee - person.money))

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
    def traffickers_active(self) -> int:
        return len(self.traffickers)

    @property
    def victims_true(self) -> int:
        return self.victims[("true", "all")]

    @property
    def victims_identified(self) -> int:
        return self.victims[("identified", "all")]

    @property
    def claimants_waiting_days(self) -> list[int]:
        """Days waited so far by claimants still waiting (censored at the last day)."""
        return [self.day - p.hub_day for p in self.asylum_queue
                if p.status is Status.ASYLUM_APPLICANT and p.recruitable]

    def _reporters(self) -> dict:
        reporters = {"day": "day", "arrivals": "arrivals", "present": "present",
                     "traffickers_active": "traffickers_active", "victims_true": "victims_true",
                     "victims_identified": "victims_identified"}
        for state in State:
            reporters[state.value] = partial(CorridorModel.count, state=state)
            for sex in SEXES:
                reporters[f"{state.value}_{sex}"] = partial(CorridorModel.count, state=state,
                                                            sex=sex)
        return reporters
