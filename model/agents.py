"""Agents' rules: what a person on the corridor does each day, or when woken.

A person travelling decides every day (they walk or ride on). A person waiting
at the hub has nothing to decide on most days, so they sleep until an event
wakes them: their money runs out, they give up waiting, their detention ends.
Every change of state goes through `Migrant.set_state`, which tells the
ledger (an event with its day, place and cause). People read the run's
`Policy` for what the interventions in force change, never a scenario block.
"""

from __future__ import annotations

from bisect import bisect
from typing import TYPE_CHECKING

from mesa.discrete_space import CellAgent

from model.corridor import road_chance_checked
from model.maths import logistic
from model.states import FINAL_STATES, RECRUITABLE, TRAVEL_PAPERS, VICTIM_STATES, State, Status

if TYPE_CHECKING:
    from model.corridor import PlaceCell, Route
    from model.institutions import Official
    from model.model import CorridorModel


class Migrant(CellAgent):
    """One person crossing the corridor. Synthetic: no real individual is represented.

    Attributes:
        sex, minor, alone, nationality: who the person is (drawn at arrival).
        speaks_spanish: the nationality's language (`language.spoken`) is Spanish, the
            language of Mexican screeners.
        money: US dollars; it runs down while they wait at the hub (settled when they
            set out again or are recruited), pays smugglers' fees and bribes.
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
        self.speaks_spanish: bool = model.params.language.spoken[self.nationality] == "spanish"
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
        self.informed = False  # reached by outreach about deceptive offers
        self.debt = 0.0  # owed to a smuggler
        self.smuggled = False
        self.exploiter = None  # the trafficker who recruited them, while exploited
        self.exploitation_form: str | None = None
        self.site: tuple[int, str] | None = None  # (place id, form) held for them, while a victim
        self.moving = False  # being taken to their site by the trafficker
        self.victim_since: int | None = None
        self.times_trafficked = 0
        self.times_detained = 0
        self.claimed_in_detention = False
        self.victim_when_detained = False  # a victim not identified as one, at detention
        self.returning = False  # deported, and will try the journey again
        self.identified = False
        self.protected = False
        self.cell = cell
        self._wakeup = None

    # ------------------------------------------------------------ bookkeeping

    @property
    def is_victim(self) -> bool:
        """Being trafficked now: recruited by deception or exploited (identified or not)."""
        return self.state in VICTIM_STATES

    @property
    def recruitable(self) -> bool:
        return self.state in RECRUITABLE

    @property
    def place_id(self) -> int:
        return self.cell.coordinate

    @property
    def age_group(self) -> str:
        return "minor" if self.minor else "adult"

    @property
    def unaccompanied(self) -> bool:
        """A child travelling without family."""
        return self.minor and self.alone

    @property
    def language_group(self) -> str:
        return "spanish_speaking" if self.speaks_spanish else "other_language"

    @property
    def groups(self) -> tuple[str, ...]:
        """The groups victims are counted by: everyone, sex, age group, language group, and
        unaccompanied children."""
        groups = ("all", self.sex, self.age_group, self.language_group)
        return (*groups, "unaccompanied_minor") if self.unaccompanied else groups

    def set_state(self, new: State, cause: str) -> None:
        """Change state; the ledger records the event and the model's index follows."""
        old, self.state = self.state, new
        if (old in RECRUITABLE) != (new in RECRUITABLE) and self.cell is not None:
            self.tell_place(new in RECRUITABLE)
        if old in VICTIM_STATES and new not in VICTIM_STATES:
            self.leave_site()
        self.model.ledger.transition(self, old, new, cause)
        self.model.reindex(self, old, new)
        if new in FINAL_STATES and not self.returning:
            self.cancel_wakeup()
            self.remove()

    def tell_place(self, recruitable: bool) -> None:
        """Tell the place's index of people traffickers can approach (if it keeps one) that
        this person became, or stopped being, one of them (see `PlaceCell`)."""
        index = self.cell.recruitable
        if index is None:
            return
        if recruitable:
            index.add(self)
        else:
            index.remove(self)

    def sleep_until(self, day: int, wake: callable) -> None:
        """Nothing to decide until the evening of `day`: schedule one wake-up and rest.

        Wake-ups are Mesa events at default priority, so they run after that day's step;
        someone who wakes and sets out starts walking the next morning.
        """
        self.cancel_wakeup()
        self._wakeup = self.model.schedule_wakeup(wake, max(day, self.model.day))

    def cancel_wakeup(self) -> None:
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup = None

    # ---------------------------------------------------------------- travel

    def set_out(self, routes: list[Route], cause: str) -> None:
        """Choose a route and start (or resume) walking; on a bypass maybe hire a guide."""
        self.money = self.money_left()  # settle what was spent while waiting
        self.route = self.choose_route(routes)
        self.leg, self.km_into_leg = 0, 0.0
        if self.route.uses_bypass:
            self.used_bypass = True
            self.maybe_hire_smuggler(routes)
        if self.state is not State.IN_TRANSIT:
            self.set_state(State.IN_TRANSIT, cause)

    def maybe_hire_smuggler(self, routes: list[Route]) -> None:
        """Pay a guide for the bypass; what the person cannot pay becomes debt.

        The fee rises with the chance of a check on the road, so a tighter border
        makes guides dearer and debts larger.
        """
        spec = self.model.params.smugglers
        if self.model.streams["decisions"].random() >= spec.hire_share:
            return
        fee = spec.fee_usd * (1.0 + spec.price_response * road_chance_checked(routes))
        self.smuggled = True
        self.model.ledger.add("smuggled")
        self.model.ledger.sample("smuggler_debts", max(0.0, fee - self.money))
        paid = min(self.money, fee)
        self.money -= paid
        self.debt += fee - paid

    def pay_bribe(self, usd: float) -> None:
        self.money = max(0.0, self.money - usd)

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

    @property
    def on_the_move(self) -> bool:
        """Travelling north, or being taken to an exploitation site."""
        return self.state is State.IN_TRANSIT or (self.moving and self.state is State.RECRUITED)

    def travel(self) -> None:
        """Walk (or ride) today's distance; deal with each place reached on the way.

        The hottest loop of a run (about a million calls a year), so the route, leg and
        kilometres are kept in local variables and written back only where the walk stops
        or someone else reads them (`arrive_at`), and cells are looked up in
        `space._cells` (what `space[...]` returns, without its call). A place passed
        without stopping (no check, not the route's end) is not entered: the person is put
        in the last such place when the day's walk ends. Nothing reads their cell in
        between, and the places' indexes keep people in id order, so this is the same as
        entering and leaving each place (and saves two dict updates per place passed)."""
        if not self.on_the_move:
            return
        cells = self.model.space._cells
        route, leg, km_into_leg = self.route, self.leg, self.km_into_leg
        day_left = 1.0
        passing = None  # the last place passed today without stopping there
        while True:
            speed = self.speed_on_leg(leg)
            days_needed = (route.legs_km[leg] - km_into_leg) / speed
            if days_needed > day_left:
                self.leg, self.km_into_leg = leg, km_into_leg + speed * day_left
                break
            day_left -= days_needed
            leg, km_into_leg = leg + 1, 0.0
            cell = cells[route.nodes[leg]]
            officer = self.pass_by(cell)
            if officer is None and leg < len(route.nodes) - 1:
                passing = cell
                if day_left > 0:
                    continue
                self.leg, self.km_into_leg = leg, km_into_leg
                break
            passing = None
            self.leg, self.km_into_leg = leg, km_into_leg
            self.arrive_at(cell, officer)
            if not (day_left > 0 and self.on_the_move):
                break
            route, leg, km_into_leg = self.route, self.leg, self.km_into_leg
        if passing is not None:
            self.cell = passing

    def speed_on_leg(self, leg: int) -> float:
        """Bus speed where buses run and the person has papers; on foot otherwise."""
        movement = self.model.params.movement
        if self.moving:  # in the trafficker's vehicle
            speed = self.model.params.exploitation.transfer_km_per_day
            return speed / movement.bypass_effort if self.route.legs_bypass[leg] else speed
        if self.route.legs_bus[leg] and self.status in TRAVEL_PAPERS:
            return movement.bus_km_per_day
        if self.route.legs_bypass[leg]:
            return self.foot_km_per_day / movement.bypass_effort
        return self.foot_km_per_day

    @property
    def at_route_end(self) -> bool:
        return self.leg >= len(self.route.nodes) - 1

    def pass_by(self, cell: PlaceCell) -> Official | None:
        """Reach a place on the way: counted as passed; returns the INM officer there who
        picks this person for a papers check, or None."""
        model = self.model
        place_id = cell.coordinate
        model.ledger.passed(place_id)
        if self.status in TRAVEL_PAPERS:
            return None
        return model.roster.papers_checker(place_id)

    def arrive_at(self, cell: PlaceCell, officer: Official | None = None) -> None:
        """Stop at a place: a papers check may end the journey here; the end of a route
        ends it.

        A victim being moved is checked like any traveller: the check is where screening
        can find them before exploitation begins."""
        self.cell = cell
        place = cell.place
        model = self.model
        if officer is not None:
            in_transfer = self.moving
            if officer.check_papers(self):
                if in_transfer and self.state is State.DETAINED:
                    model.ledger.add("victims_detained_in_transfer")
                return
        if not self.at_route_end:
            return
        if self.moving:
            self.become_exploited()
        elif place.kind == "exit":
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
        self.model.shelter.reach_out(self)
        hub = self.model.params.hub
        if self.asylum_propensity < hub.asylum_share and self.cell.place.asylum_office:
            self.status = Status.ASYLUM_APPLICANT
            self.set_state(State.WAITING, "claimed asylum")
            self.model.asylum_office.file_claim(self)
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
        """Claimants give up less when the road north is watched (containment)."""
        rate = self.model.give_up_per_day
        if rate <= 0:
            return None
        return int(self.model.streams["decisions"].geometric(rate))

    def finish_resting(self) -> None:
        self._wakeup = None
        self.set_out(self.model.routes.to_exit(self.place_id), "moved on from the hub")

    def money_left(self) -> float:
        """Money now: anyone waiting at the hub (claimants and people resting) spends daily."""
        if self.state in (State.WAITING,) and self.hub_day is not None:
            spent = self.model.params.hub.daily_spend_usd * (self.model.day - self.hub_day)
            return max(0.0, self.money - spent)
        return self.money

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
        self.model.ledger.add("gave_up_waiting")
        self.end_hub_wait()
        self.set_out(self.model.routes.to_exit(self.place_id), "gave up waiting for asylum")

    def receive_decision(self, granted: bool) -> None:
        """The asylum office decided: refugees travel on openly, others irregularly."""
        self.cancel_wakeup()
        self.status = Status.REFUGEE if granted else Status.IRREGULAR
        self.end_hub_wait()
        cause = "asylum granted" if granted else "asylum refused"
        self.set_out(self.model.routes.to_exit(self.place_id), cause)

    def end_hub_wait(self) -> None:
        """A claimant's wait at the hub ended (decision or giving up)."""
        if self.hub_day is not None:
            self.model.ledger.sample("hub_waits", self.model.day - self.hub_day)

    # ------------------------------------------------------------ trafficking

    def offer_acceptance(self) -> float:
        """Chance this person accepts a deceptive offer today (logistic in vulnerabilities)."""
        spec = self.model.params.traffickers
        if spec.offer_success <= 0 or spec.offer_success >= 1:
            return spec.offer_success
        z = self.model.offer_base_log_odds
        if self.sex == "female":
            z += spec.weight_female
        if self.minor:
            z += spec.weight_minor
        if self.alone:
            z += spec.weight_alone
        if self.money_left() <= 0:
            z += spec.weight_no_money
        if self.status is Status.IRREGULAR:
            z += spec.weight_irregular
        elif self.status in TRAVEL_PAPERS:
            z += spec.weight_papers
        if self.debt > 0:
            z += spec.weight_debt
        if self.informed:
            z += spec.weight_informed
        if self.state is not State.IN_TRANSIT and self.hub_day is not None:
            z += spec.weight_wait_month * (self.model.day - self.hub_day) / 30.0
        return logistic(z)

    def accept_offer(self, trafficker, site: tuple[int, str]) -> None:
        """Deceived: the journey, the claim and the job search stop here. The recruiter has
        a place for them at `site` (place id, form), which is held from now on."""
        self.cancel_wakeup()
        if self.status is Status.ASYLUM_APPLICANT:
            self.status = Status.IRREGULAR  # a claim is abandoned when the claimant stops reporting
        self.money = self.money_left()
        self.exploiter = trafficker
        self.victim_since = self.model.day
        self.times_trafficked += 1
        self.site, self.exploitation_form = site, site[1]
        self.model.sites.take(site)
        self.count_recruitment()
        self.set_state(State.RECRUITED, "accepted a deceptive offer")
        days = self.model.params.traffickers.transfer_days
        self.sleep_until(self.model.day + days, self.be_taken_to_site)

    def be_taken_to_site(self) -> None:
        """After the transfer days: put to work here, or driven to the site elsewhere."""
        self._wakeup = None
        destination = self.site[0]
        if destination == self.place_id:
            self.become_exploited()
            return
        self.route = self.choose_route(self.model.routes.to_place(self.place_id, destination))
        self.leg, self.km_into_leg = 0, 0.0
        self.moving = True
        self.model.ledger.add("victims_moved")

    def leave_site(self) -> None:
        """No longer a victim (escaped, identified, detained): their place at the site is
        free again and any journey to it stops."""
        if self.site is not None:
            self.model.sites.release(self.site)
            self.site = None
        self.moving = False

    def count_recruitment(self) -> None:
        """A first recruitment makes a true victim; a later one is re-trafficking."""
        ledger = self.model.ledger
        ledger.at_place(self.place_id, "recruited")
        if self.times_trafficked == 1:
            ledger.victim("true", (*self.groups, self.exploitation_form))
        else:
            ledger.add("retrafficked")
            if self.identified:
                ledger.add("retrafficked_after_identification")

    def become_exploited(self) -> None:
        """At the site's place: exploited there until they escape or are found."""
        self._wakeup = None
        self.moving = False
        place = self.cell.place
        if place.kind == "exit":
            self.model.ledger.add("victims_exploited_beyond_exits")
        self.set_state(State.EXPLOITED, f"{self.exploitation_form} exploitation at {place.name}")

    def escape_exploitation(self) -> None:
        """Leaves exploitation unidentified: a survivor no official counts."""
        self.exploiter = None
        self.head_north("left exploitation")

    def head_north(self, cause: str) -> None:
        """Set out for an exit; at a place beyond the corridor's exits, leave it there."""
        if self.cell.place.kind == "exit":
            self.set_state(State.EXITED, f"{cause} in {self.cell.place.name}")
        else:
            self.set_out(self.model.routes.to_exit(self.place_id), cause)

    def be_identified(self, by: str, channel: str) -> None:
        """Identified as a victim by `by` through `channel` (checkpoint, raid, inspection,
        hotline): referral follows after the referral delay.

        Identifications are all counted; a person is counted as an identified victim once,
        at their first identification (as victims_true counts them once)."""
        ledger = self.model.ledger
        ledger.at_place(self.place_id, "identified")
        ledger.sample("days_to_identification", self.model.day - self.victim_since)
        ledger.add("identifications")
        ledger.add(f"identifications_{channel}")
        if not self.identified:
            ledger.victim("identified", (*self.groups, self.exploitation_form))
        self.identified = True
        self.set_state(State.IDENTIFIED, f"identified by {by}")
        self.sleep_until(self.model.day + self.model.policy.referral_days,
                         self.complete_referral)

    def complete_referral(self) -> None:
        """Shelter if a bed is free (and a TVRH if visas are in force); else detention. Once
        the child protection reform is in force a child goes to the DIF first; a victim
        whose consulate is in Tapachula is assisted by it rather than detained."""
        self._wakeup = None
        if self.minor and self.model.child_protection.in_force and self.referred_to_dif():
            return
        shelter = self.model.shelter
        if shelter.admit():
            self.cell = shelter.cell
            self.count_protection()
            self.set_state(State.PROTECTED, "referred to a shelter")
            self.model.roster.take_up_case(self, cooperating=True)
            visa_days = self.model.policy.visa_processing_days
            if visa_days is not None:
                self.sleep_until(self.model.day + visa_days, self.receive_tvrh)
            else:
                self.sleep_until(self.model.day + self.model.params.protection.shelter_days,
                                 self.leave_shelter)
            return
        self.model.roster.take_up_case(self, cooperating=False)
        self.exploiter = None
        if self.model.consulates.assist(self):
            self.set_out(self.model.routes.to_exit(self.place_id), "assisted by the consulate")
            return
        if (self.status is Status.IRREGULAR
                and self.model.station.detain(self, "no shelter bed free")):
            return
        self.head_north("released without protection")

    def count_protection(self) -> None:
        if not self.protected:  # counted once, at the first protection
            self.protected = True
            self.model.ledger.victim("protected", self.groups)

    # ------------------------------------------------------- child protection

    def referred_to_dif(self) -> bool:
        """An identified child is referred to the DIF, if it has a place: protection, and
        the case goes ahead with the child's cooperation. False when the DIF is full."""
        if not self.model.child_protection.admit():
            return False
        self.count_protection()
        self.enter_child_care("identified: referred to the DIF")
        self.model.roster.take_up_case(self, cooperating=True)
        return True

    def enter_child_care(self, cause: str) -> None:
        """In DIF care (state `protected`, at the hub town's shelters) for the days in care."""
        self.cancel_wakeup()
        self.exploiter = None
        self.cell = self.model.child_protection.cell
        self.set_state(State.PROTECTED, cause)
        self.sleep_until(self.model.day + self.model.policy.dif_days, self.leave_child_care)

    def enter_shelter_as_child(self, cause: str) -> None:
        """The DIF is full: a shelter bed for the days the DIF would have kept the child."""
        self.cancel_wakeup()
        self.exploiter = None
        self.cell = self.model.shelter.cell
        self.set_state(State.PROTECTED, cause)
        self.sleep_until(self.model.day + self.model.policy.dif_days, self.leave_shelter)

    def leave_child_care(self) -> None:
        """The stay in DIF care ends; an identified child receives a TVRH if visas are in
        force (the Procuraduria asks for it), then sets out north."""
        self._wakeup = None
        care = self.model.child_protection
        care.release()
        self.cell = care.site
        if self.identified and self.model.policy.visa_processing_days is not None:
            self.status = Status.TVRH_HOLDER
            self.model.ledger.add("tvrh_issued")
        self.set_out(self.model.routes.to_exit(self.place_id), "left DIF care")

    def leave_station(self, cause: str) -> None:
        """Let go from the station before detention ends, irregular, in the station's town."""
        self.cancel_wakeup()
        self.claimed_in_detention = False
        self.status = Status.IRREGULAR
        self.cell = self.model.station.site
        self.set_out(self.model.routes.to_exit(self.place_id), cause)

    def receive_tvrh(self) -> None:
        """A humanitarian visa: legal stay and travel with papers."""
        self._wakeup = None
        self.model.shelter.release()
        self.cell = self.model.shelter.site
        self.exploiter = None
        self.status = Status.TVRH_HOLDER
        self.model.ledger.add("tvrh_issued")
        self.set_out(self.model.routes.to_exit(self.place_id), "received a humanitarian visa")

    def leave_shelter(self) -> None:
        self._wakeup = None
        self.model.shelter.release()
        self.cell = self.model.shelter.site
        self.exploiter = None
        self.set_out(self.model.routes.to_exit(self.place_id), "left the shelter")

    # ------------------------------------------------------------- detention

    def be_detained(self, station: PlaceCell, cause: str) -> None:
        """Taken to the station. A victim detained as an irregular migrant is harmed, not
        protected: their exploitation is interrupted, not ended, and may resume."""
        self.cancel_wakeup()
        self.victim_when_detained = self.is_victim
        self.times_detained += 1
        share = self.model.params.enforcement.claim_in_detention_share
        self.claimed_in_detention = (share > 0 and self.model.streams["decisions"].random()
                                     < share)
        self.exploiter = None
        self.cell = station
        self.set_state(State.DETAINED, cause)
        days = self.model.params.enforcement.detention_days
        self.sleep_until(self.model.day + days, self.end_detention)

    def end_detention(self) -> None:
        """Deported, or released at the station without papers and heading north."""
        self._wakeup = None
        if self.claimed_in_detention and self.model.station.site.place.asylum_office:
            self.join_queue_from_detention()
            return
        if self.model.streams["enforcement"].random() < self.model.policy.deport_share:
            self.be_deported()
            return
        self.status = Status.IRREGULAR
        self.cell = self.model.station.site
        self.set_out(self.model.routes.to_exit(self.place_id), "released from detention")

    def join_queue_from_detention(self) -> None:
        """A claim filed from the station: no deportation while it is pending (non-refoulement);
        on release the person waits at the hub like any claimant."""
        self.claimed_in_detention = False
        self.status = Status.ASYLUM_APPLICANT
        self.cell = self.model.station.site
        self.visited_hub = True
        self.hub_day = self.model.day
        self.set_state(State.WAITING, "claimed asylum in detention")
        self.model.asylum_office.file_claim(self)
        self.plan_waiting()

    def be_deported(self) -> None:
        """Returned across the border. Many try again: a returning person re-enters at the
        crossing after a while, with their history (debt, detentions, exploitation)."""
        ledger, enforcement = self.model.ledger, self.model.params.enforcement
        ledger.add("deportations")
        if self.identified:
            ledger.add("identified_deported")
        elif self.victim_when_detained:
            ledger.add("victims_deported_unidentified")
        self.returning = (enforcement.reentry_share > 0
                          and self.model.streams["enforcement"].random()
                          < enforcement.reentry_share)
        self.set_state(State.DEPORTED, "deported after detention")
        if self.returning:
            self.sleep_until(self.model.day + enforcement.reentry_days, self.reenter)

    def reenter(self) -> None:
        """Back at the crossing, irregular, heading for the hub again."""
        self._wakeup = None
        self.returning = False
        self.status = Status.IRREGULAR
        self.cell = self.model.crossing
        self.model.ledger.add("reentries")
        self.set_out(self.model.routes.to_hub(self.place_id), "re-entered after deportation")
