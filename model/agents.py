"""Agents' rules: what a person on the corridor does each day, or when woken.

A person travelling decides every day (they walk or ride on). A person waiting
at the hub has nothing to decide on most days, so they sleep until an event
wakes them: their money runs out, they give up waiting, their detention ends.
Every change of state goes through `Migrant.set_state`, which records it as
an event with its day, place and cause.
"""

from __future__ import annotations

from bisect import bisect
from enum import StrEnum
from typing import TYPE_CHECKING

from mesa.discrete_space import CellAgent

if TYPE_CHECKING:
    from model.corridor import PlaceCell, Route
    from model.model import CorridorModel


class State(StrEnum):
    """Where a person is in their journey; exactly one at any time."""

    IN_TRANSIT = "in_transit"
    WAITING = "waiting"
    WORKING_INFORMALLY = "working_informally"
    RECRUITED = "recruited"
    EXPLOITED = "exploited"
    IDENTIFIED = "identified"
    PROTECTED = "protected"
    DETAINED = "detained"
    DEPORTED = "deported"
    EXITED = "exited"


#: States a person leaves the corridor by; they are then removed from the model.
FINAL_STATES = frozenset({State.DEPORTED, State.EXITED})


class Status(StrEnum):
    """Legal status in Mexico."""

    IRREGULAR = "irregular"
    ASYLUM_APPLICANT = "asylum_applicant"
    TVRH_HOLDER = "tvrh_holder"
    REFUGEE = "refugee"


#: Statuses that let a person travel openly and take buses.
TRAVEL_PAPERS = frozenset({Status.TVRH_HOLDER, Status.REFUGEE})


class Migrant(CellAgent):
    """One person crossing the corridor. Synthetic: no real individual is represented.

    Attributes:
        sex, minor, alone, nationality: who the person is (drawn at arrival).
        money_at_hub: US dollars when they reached the hub; it runs down while they wait.
        foot_km_per_day: their own walking pace.
        asylum_propensity: a personal uniform draw; they claim asylum if it is below the
            scenario's asylum share (so scenarios with the same seed share decisions).
        state, status: see `State` and `Status`.
    """

    def __init__(self, model: CorridorModel, cell: PlaceCell, traits: dict):
        super().__init__(model)
        self.sex: str = traits["sex"]
        self.minor: bool = traits["minor"]
        self.alone: bool = traits["alone"]
        self.nationality: str = traits["nationality"]
        self.money: float = traits["money"]
        self.foot_km_per_day: float = traits["foot_km_per_day"]
        self.asylum_propensity: float = traits["asylum_propensity"]
        self.status = Status.IRREGULAR
        self.state: State | None = None
        self.arrival_day: int = model.day
        self.hub_day: int | None = None
        self.visited_hub = False
        self.used_bypass = False
        self.route: Route | None = None
        self.leg = 0
        self.km_into_leg = 0.0
        self.cell = cell
        self._wakeup = None

    # ------------------------------------------------------------ bookkeeping

    @property
    def place_id(self) -> int:
        return self.cell.coordinate

    @property
    def age_group(self) -> str:
        return "minor" if self.minor else "adult"

    def set_state(self, new: State, cause: str) -> None:
        """Change state and let the model record the event."""
        old, self.state = self.state, new
        self.model.record_transition(self, old, new, cause)
        if new in FINAL_STATES:
            self.cancel_wakeup()
            self.remove()

    def sleep_until(self, day: int, wake: callable) -> None:
        """Nothing to decide until the evening of `day`: schedule one wake-up and rest.

        Wake-ups are Mesa events at default priority, so they run after that day's step;
        someone who wakes and sets out starts walking the next morning.
        """
        self.cancel_wakeup()
        self._wakeup = self.model.schedule_event(wake, at=max(day, self.model.day))

    def cancel_wakeup(self) -> None:
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup = None

    # ---------------------------------------------------------------- travel

    def set_out(self, routes: list[Route], cause: str) -> None:
        """Choose a route and start (or resume) walking."""
        self.route = self.choose_route(routes)
        self.leg, self.km_into_leg = 0, 0.0
        self.used_bypass |= self.route.uses_bypass
        self.model.travellers.add(self)
        if self.state is not State.IN_TRANSIT:
            self.set_state(State.IN_TRANSIT, cause)

    def choose_route(self, routes: list[Route]) -> Route:
        """People with papers take the shortest way; others trade distance against checks.

        A multinomial logit: utility = -effort_km / km_scale - detection_aversion * P(checked),
        where bypass paths count as longer than roads (`movement.bypass_effort`).
        """
        if len(routes) == 1 or self.status in TRAVEL_PAPERS:
            return min(routes, key=lambda r: r.km)
        cumulative = self.model.route_choice_probabilities(routes)
        pick = bisect(cumulative, self.model.streams["decisions"].random())
        return routes[min(pick, len(routes) - 1)]

    def travel(self) -> None:
        """Walk (or ride) today's distance; deal with each place reached on the way."""
        if self.state is not State.IN_TRANSIT:
            return
        day_left = 1.0
        while day_left > 0 and self.state is State.IN_TRANSIT:
            leg_km = self.route.legs_km[self.leg]
            speed = self.speed_on_leg(self.leg)
            days_needed = (leg_km - self.km_into_leg) / speed
            if days_needed > day_left:
                self.km_into_leg += speed * day_left
                return
            day_left -= days_needed
            self.leg += 1
            self.km_into_leg = 0.0
            self.arrive_at(self.model.space[self.route.nodes[self.leg]])

    def speed_on_leg(self, leg: int) -> float:
        """Bus speed where buses run and the person has papers; on foot otherwise."""
        movement = self.model.params.movement
        if self.route.legs_bus[leg] and self.status in TRAVEL_PAPERS:
            return movement.bus_km_per_day
        if self.route.legs_bypass[leg]:
            return self.foot_km_per_day / movement.bypass_effort
        return self.foot_km_per_day

    def arrive_at(self, cell: PlaceCell) -> None:
        """Reach a place: a papers check may stop the journey; the end of a route ends it."""
        self.cell = cell
        place = cell.place
        if self.status not in TRAVEL_PAPERS and self.model.papers_checked(place):
            self.model.detain(self, f"papers checked at {place.name}")
            return
        if self.leg < len(self.route.nodes) - 1:
            return
        self.model.travellers.discard(self)
        if place.kind == "exit":
            self.set_state(State.EXITED, f"reached {place.name}")
        elif place.kind == "hub":
            self.reach_hub()
        else:  # an unusual corridor where the route ends elsewhere: carry on north
            self.set_out(self.model.routes.to_exit(self.place_id), "moving on")

    # ------------------------------------------------------------------- hub

    def reach_hub(self) -> None:
        """At the hub a share claim asylum and wait; the others rest a few days and move on."""
        self.visited_hub = True
        self.hub_day = self.model.day
        hub = self.model.params.hub
        if self.asylum_propensity < hub.asylum_share and self.cell.place.asylum_office:
            self.status = Status.ASYLUM_APPLICANT
            self.set_state(State.WAITING, "claimed asylum")
            self.model.asylum_queue.append(self)
            self.model.asylum_claims += 1
            self.plan_waiting()
        else:
            self.set_state(State.WAITING, "resting at the hub")
            self.sleep_until(self.model.day + hub.rest_days, self.finish_resting)

    def plan_waiting(self) -> None:
        """Sleep until the first of: money runs out, or the person gives up."""
        hub = self.model.params.hub
        money_days = int(self.money // hub.daily_spend_usd)
        give_up_days = self.days_until_giving_up()
        if give_up_days is not None and give_up_days <= money_days:
            self.sleep_until(self.model.day + give_up_days, self.give_up_waiting)
        else:
            self.sleep_until(self.model.day + money_days, self.run_out_of_money)

    def days_until_giving_up(self) -> int | None:
        rate = self.model.params.hub.give_up_per_day
        if rate <= 0:
            return None
        return int(self.model.streams["decisions"].geometric(rate))

    def finish_resting(self) -> None:
        self._wakeup = None
        self.set_out(self.model.routes.to_exit(self.place_id), "moved on from the hub")

    def run_out_of_money(self) -> None:
        """No money left: look for informal work; keep the give-up clock running."""
        self._wakeup = None
        self.money = 0.0
        self.look_for_work()

    def look_for_work(self) -> None:
        self._wakeup = None
        if self.model.streams["decisions"].random() < self.cell.place.informality:
            self.set_state(State.WORKING_INFORMALLY, "found informal work")
            give_up = self.days_until_giving_up()
            if give_up is not None:
                self.sleep_until(self.model.day + give_up, self.give_up_waiting)
            return
        give_up = self.days_until_giving_up()
        search = self.model.params.hub.job_search_days
        if give_up is not None and give_up <= search:
            self.sleep_until(self.model.day + give_up, self.give_up_waiting)
        else:
            self.sleep_until(self.model.day + search, self.look_for_work)

    def give_up_waiting(self) -> None:
        """Leave the queue and the state: irregular again, heading north."""
        self._wakeup = None
        if self.status is not Status.ASYLUM_APPLICANT:
            return
        self.status = Status.IRREGULAR
        self.model.gave_up += 1
        self.model.record_hub_wait(self)
        self.set_out(self.model.routes.to_exit(self.place_id), "gave up waiting for asylum")

    def receive_decision(self, granted: bool) -> None:
        """The asylum office decided: refugees travel on openly, others irregularly."""
        self.cancel_wakeup()
        self.status = Status.REFUGEE if granted else Status.IRREGULAR
        self.model.record_hub_wait(self)
        cause = "asylum granted" if granted else "asylum refused"
        self.set_out(self.model.routes.to_exit(self.place_id), cause)

    # ------------------------------------------------------------- detention

    def be_detained(self, station: PlaceCell, cause: str) -> None:
        self.model.travellers.discard(self)
        self.cancel_wakeup()
        self.cell = station
        self.set_state(State.DETAINED, cause)
        days = self.model.params.enforcement.detention_days
        self.sleep_until(self.model.day + days, self.end_detention)

    def end_detention(self) -> None:
        """Deported, or released at the station without papers and heading north."""
        self._wakeup = None
        self.model.detained_now -= 1
        if self.model.streams["enforcement"].random() < self.model.params.enforcement.deport_share:
            self.set_state(State.DEPORTED, "deported after detention")
            return
        self.status = Status.IRREGULAR
        self.set_out(self.model.routes.to_exit(self.place_id), "released from detention")
