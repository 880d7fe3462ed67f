"""Officials and support organisations: who checks, screens, inspects, detains, prosecutes,
shelters.

Screening is a classifier. An official flags a true victim with a sensitivity that depends
on training, on the screening protocol in force and on the person's sex and age; a person
who is not a victim is wrongly flagged with probability 1 - specificity (both from the
run's `Policy`). Officials may be complicit (extortion, tipping off traffickers, dropping
cases), less often when trained or overseen.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import TYPE_CHECKING

from mesa.discrete_space import FixedAgent

from model.states import State, Status

if TYPE_CHECKING:
    from model.agents import Migrant
    from model.corridor import PlaceCell
    from model.model import CorridorModel


def screen(model: CorridorModel, person: Migrant, trained: bool, setting: str) -> bool:
    """Is this person flagged as a victim? A victim is flagged if they disclose and the
    screener recognises the signs (one draw against the product of the two chances), both
    lower when they share no language and no interpreter is there; anyone else is wrongly
    flagged with probability 1 - specificity."""
    rng = model.streams["screening"]
    policy = model.policy
    if person.is_victim:
        barrier = policy.language_barrier(person, setting, rng)
        chance = (policy.disclosure.chance(person, setting, barrier)
                  * policy.screening.sensitivity(person.sex, person.minor, trained, barrier))
        return bool(rng.random() < chance)
    return bool(rng.random() >= policy.screening.specificity)


def act_on_flag(model: CorridorModel, person: Migrant, by: str, channel: str) -> None:
    """A screener flagged the person: a victim is identified, anyone else is cleared."""
    if person.is_victim:
        person.be_identified(by, channel)
    else:
        model.ledger.add("false_positive_referrals")


class Official(FixedAgent):
    """One official of one institution at one place, trained or not, complicit or not.

    Attributes:
        institution: "INM" (immigration: papers checks, raids, detention), "inspector"
            (labour inspection and police operations), "FEVIMTRA" (special prosecutor).
        capacity_per_day: people (or cases) the official can handle in a day.
    """

    def __init__(self, model: CorridorModel, cell: PlaceCell, institution: str,
                 capacity_per_day: int):
        super().__init__(model)
        self.cell = cell
        self.institution = institution
        self.capacity_per_day = capacity_per_day
        self.handled_today = 0
        self.handled_on_day = 0
        rng = model.streams["enforcement"]
        # Each official's two draws are kept, so a policy change on a later day re-reads
        # them (`follow_policy`) instead of drawing again: the days before stay as they were.
        self.training_draw = rng.random()
        self.trained = bool(self.training_draw < model.policy.trained_share)
        self.complicity_draw = rng.random()
        self.complicit = bool(self.complicity_draw < model.policy.complicity_chance(self.trained))

    def follow_policy(self, policy) -> None:
        """A changed policy (a timeline entry). Officials already trained stay trained; when
        coverage rises from a to b, an untrained official is trained if their training draw
        falls below b: a chance of (b - a) / (1 - a), as a fresh draw would give. Complicity
        is re-read against the same draw: an official stays complicit only while their draw
        is below the new chance (training or oversight lower it; withdrawn oversight raises
        it again)."""
        self.trained = self.trained or bool(self.training_draw < policy.trained_share)
        self.complicit = bool(self.complicity_draw < policy.complicity_chance(self.trained))

    @property
    def available(self) -> bool:
        if self.handled_on_day != self.model.day:
            self.handled_on_day, self.handled_today = self.model.day, 0
        return self.handled_today < self.capacity_per_day

    def take_one(self) -> None:
        self.available  # noqa: B018 - resets the daily tally on a new day
        self.handled_today += 1

    def be_complicit(self, person: Migrant, what: str) -> None:
        self.model.ledger.add("complicity_events")
        self.model.ledger.note(person, what)

    # ------------------------------------------------------------------ INM

    def check_papers(self, person: Migrant) -> bool:
        """A papers check at a checkpoint. Returns True when the journey stops here."""
        self.take_one()
        if self.complicit:
            self.be_complicit(person, f"extortion at {self.cell.place.name}")
            person.pay_bribe(self.model.params.officials.bribe_usd)
            return False
        if screen(self.model, person, self.trained, "checkpoint"):
            victim = person.is_victim
            act_on_flag(self.model, person, self.institution, "checkpoint")
            if victim:
                return True  # identified: referral follows, not detention
            # not a victim after all: cleared by the interview, then processed like anyone
        return self.model.station.detain(person, f"papers checked at {self.cell.place.name}")

    def raid(self, person: Migrant) -> None:
        """An immigration operation reaches an exploited person: identified, or detained."""
        self.take_one()
        if self.complicit:
            self.be_complicit(person, f"tip-off before a raid at {self.cell.place.name}")
            return
        if screen(self.model, person, self.trained, "raid"):
            act_on_flag(self.model, person, self.institution, "raid")
            return
        if person.status is Status.IRREGULAR:
            self.model.station.detain(person, f"picked up in an INM operation at "
                                              f"{self.cell.place.name}")

    # ------------------------------------------------------------ inspector

    def inspect(self, person: Migrant) -> None:
        """A labour inspection or police operation at a place of exploitation."""
        self.take_one()
        if self.complicit:
            self.be_complicit(person, f"tip-off before an inspection at {self.cell.place.name}")
            return
        if screen(self.model, person, self.trained, "inspection"):
            act_on_flag(self.model, person, self.institution, "inspection")

    # ------------------------------------------------------------ prosecutor

    def prosecute(self, person: Migrant, cooperating: bool) -> None:
        """Investigate an identified case; an arrest removes the exploiter."""
        self.take_one()
        trafficker = person.exploiter
        if trafficker is None or not trafficker.active:
            return
        if self.complicit:
            self.be_complicit(person, "case dropped")
            return
        chance = self.model.policy.arrest_chance(cooperating, specialised=True)
        if self.model.streams["enforcement"].random() < chance:
            trafficker.be_arrested()


class Roster:
    """Who is on duty where: the officials of each institution at each place."""

    def __init__(self, model: CorridorModel):
        self.model = model
        self.staff: dict[tuple[int, str], list[Official]] = defaultdict(list)
        for post in model.params.officials.posts:
            for _ in range(post.count):
                official = Official(model, model.space[post.place], post.institution,
                                    post.capacity_per_day)
                self.staff[(post.place, post.institution)].append(official)

    def follow_policy(self, policy) -> None:
        """Every official follows a changed policy (training, complicity)."""
        for staff in self.staff.values():
            for official in staff:
                official.follow_policy(policy)

    def on_duty(self, place_id: int, institution: str) -> Official | None:
        """An official of this institution here with capacity left today, picked at random."""
        staff = self.staff.get((place_id, institution))
        if not staff:
            return None
        start = int(self.model.streams["enforcement"].integers(len(staff)))
        for offset in range(len(staff)):
            official = staff[(start + offset) % len(staff)]
            if official.available:
                return official
        return None

    def papers_checker(self, place_id: int) -> Official | None:
        """The INM officer who checks this passer-by, or None if nobody checks them."""
        chance = self.model.policy.check_probability[place_id]
        if chance <= 0 or self.model.streams["enforcement"].random() >= chance:
            return None
        return self.on_duty(place_id, "INM")

    def take_up_case(self, person: Migrant, cooperating: bool) -> None:
        """FEVIMTRA takes up an identified case; when it has no capacity left today (or no
        post), a state prosecutor does, without the special prosecutor's strengthening."""
        model = self.model
        prosecutor = self.on_duty(model.hub.coordinate, "FEVIMTRA")
        if prosecutor is not None:
            prosecutor.prosecute(person, cooperating)
            return
        trafficker = person.exploiter
        chance = model.policy.arrest_chance(cooperating, specialised=False)
        if (trafficker is not None and trafficker.active
                and model.streams["enforcement"].random() < chance):
            trafficker.be_arrested()


class AsylumOffice:
    """The asylum office (COMAR) at the hub: one queue, decided first come first served up
    to its daily capacity. (Not a Mesa agent: it has no rules of its own to schedule.)"""

    def __init__(self, model: CorridorModel):
        self.model = model
        self.queue: deque[Migrant] = deque()

    def file_claim(self, person: Migrant) -> None:
        self.queue.append(person)
        self.model.ledger.add("asylum_claims")

    def decide_claims(self) -> None:
        """Decide up to today's capacity; people who left the queue are skipped. COMAR's grant
        rate differs by nationality (`hub.grant_rate_by_nationality`; `hub.grant_rate` for
        any other)."""
        hub = self.model.params.hub
        decided = 0
        while decided < hub.asylum_capacity_per_day and self.queue:
            person = self.queue.popleft()
            if person.status is not Status.ASYLUM_APPLICANT or not person.recruitable:
                continue  # gave up, or abandoned the claim some other way
            rate = hub.grant_rate_by_nationality.get(person.nationality, hub.grant_rate)
            granted = bool(self.model.streams["decisions"].random() < rate)
            person.receive_decision(granted)
            decided += 1
        self.model.ledger.add("asylum_decisions", decided)

    def days_waited_so_far(self) -> list[int]:
        """Days waited so far by claimants still waiting (censored at the last day)."""
        day = self.model.day
        return [day - p.hub_day for p in self.queue
                if p.status is Status.ASYLUM_APPLICANT and p.recruitable]


class ImmigrationStation:
    """INM's immigration stations, as one: detention up to their combined capacity.
    (Not a Mesa agent: it has no rules of its own to schedule.)"""

    def __init__(self, model: CorridorModel, cell: PlaceCell, site: PlaceCell, capacity: int):
        self.model = model
        self.cell = cell  # the station itself
        self.site = site  # the town it stands in, where released people find themselves
        self.capacity = capacity

    def detain(self, person: Migrant, cause: str) -> bool:
        """Detain if a place is free; otherwise let the person go. Once the child protection
        reform is in force a child is never detained: the DIF takes them in instead.
        Returns True when the person was taken somewhere (their journey stops here)."""
        ledger = self.model.ledger
        if person.minor and self.model.child_protection.in_force:
            return self.model.child_protection.take_in(person, cause)
        if ledger.count(State.DETAINED) >= self.capacity:
            ledger.add("detention_refused_full")
            return False
        if person.is_victim:
            ledger.add("victims_detained_unidentified")
        ledger.add("detentions")
        if person.minor:
            ledger.add("children_detained")
        person.be_detained(self.cell, cause)
        return True


class ChildProtection:
    """The child protection system (DIF and the Procuradurias de Proteccion de Ninas, Ninos
    y Adolescentes) in the hub town: places for children, taken up by referral once the
    child protection reform is law. Children in its care are in state `protected`, at the
    shelters' place, out of recruiters' reach. (Not a Mesa agent: no rules of its own.)"""

    def __init__(self, model: CorridorModel, cell: PlaceCell, site: PlaceCell):
        self.model = model
        self.cell = cell  # where children in care are (the hub town's shelters)
        self.site = site  # the town, where children leaving care find themselves
        policy = model.policy
        self.from_day = (None if policy.children_to_dif_from is None
                         else model.params.warmup_days + policy.children_to_dif_from)
        self.capacity = policy.dif_capacity
        self.in_care = 0
        if self.from_day is not None:
            model.schedule_event(self.transfer_detained_children, at=self.from_day)

    @property
    def in_force(self) -> bool:
        return self.from_day is not None and self.model.day >= self.from_day

    def follow_policy(self, policy) -> None:
        """A timeline change: the reform comes into force (at once if its day has passed), or
        its day or the DIF's capacity changes. Children in care stay in care."""
        self.capacity = policy.dif_capacity
        from_day = (None if policy.children_to_dif_from is None
                    else self.model.params.warmup_days + policy.children_to_dif_from)
        if from_day != self.from_day:
            self.from_day = from_day
            if from_day is not None:
                self.model.schedule_event(self.transfer_detained_children,
                                          at=max(from_day, self.model.day))

    def admit(self) -> bool:
        """A place in DIF care, if one is free."""
        if self.in_care >= self.capacity:
            self.model.ledger.add("dif_full")
            return False
        self.in_care += 1
        self.model.ledger.add("children_referred_dif")
        return True

    def release(self) -> None:
        self.in_care -= 1

    def take_in(self, person: Migrant, cause: str) -> bool:
        """Instead of detention: DIF care; if the DIF is full, a shelter bed if one is free;
        otherwise the child is let go (with the family, or alone). Never the station."""
        if self.admit():
            person.enter_child_care(f"referred to the DIF ({cause})")
            return True
        if self.model.shelter.admit():
            person.enter_shelter_as_child(f"DIF full: sheltered ({cause})")
            return True
        return False

    def transfer_detained_children(self) -> None:
        """The evening the reform takes effect, children still held in the station leave it."""
        if not self.in_force:  # the reform's day moved, or it was repealed, since scheduling
            return
        for person in list(self.model.by_state[State.DETAINED]):
            if person.minor and not self.take_in(person, "transferred from the station"):
                person.leave_station("released from the station: DIF full")


class SupportOrganisation(FixedAgent):
    """IOM, UN Women and NGO shelters at the hub: beds, outreach, a hotline.

    Outreach tells people how deceptive offers work (they accept fewer); the
    hotline lets exploited people reach trained staff, who screen them.
    """

    institution = "IOM/UN Women"

    def __init__(self, model: CorridorModel, cell: PlaceCell, site: PlaceCell, beds: int):
        super().__init__(model)
        self.cell = cell  # the shelters themselves
        self.site = site  # the town they stand in, where people leaving them find themselves
        self.beds = beds
        self.beds_used = 0
        self.calls_on_day = self.calls_today = 0

    def reach_out(self, person: Migrant) -> None:
        """Outreach at the hub: some people learn how deceptive offers work."""
        coverage = self.model.policy.outreach_coverage
        if coverage > 0 and self.model.streams["decisions"].random() < coverage:
            person.informed = True

    def take_call(self, person: Migrant) -> None:
        """An exploited person calls the hotline: trained staff screen them, if a line is
        free today; a call beyond the day's capacity is lost."""
        day = self.model.day
        if self.calls_on_day != day:
            self.calls_on_day, self.calls_today = day, 0
        if self.calls_today >= self.model.policy.hotline_capacity_per_day:
            self.model.ledger.add("hotline_calls_lost")
            return
        self.calls_today += 1
        self.model.ledger.add("hotline_calls")
        if screen(self.model, person, trained=True, setting="hotline"):
            act_on_flag(self.model, person, self.institution, "hotline")

    def admit(self) -> bool:
        if self.beds_used >= self.beds:
            return False
        self.beds_used += 1
        return True

    def release(self) -> None:
        self.beds_used -= 1


class Consulates:
    """The countries of origin's consulates in Tapachula (`consular.consulates`). An exploited
    person of a nationality with a consulate may reach it (a visit, a call, consular
    outreach), and its staff, who share the person's language and are not Mexican officials,
    screen them like support staff; an identified victim of such a nationality is assisted
    by the consulate instead of being detained when no shelter bed is free.
    (Not a Mesa agent: no rules of its own to schedule.)"""

    institution = "consulate"

    def __init__(self, model: CorridorModel):
        self.model = model
        self.follow(model.params.consular)

    def follow(self, spec) -> None:
        """The consulates open and their contact rate (at the start, and after a timeline
        change)."""
        self.nationalities = frozenset(n for n, open_ in spec.consulates.items() if open_)
        self.contact_per_day = spec.contact_per_day

    def serves(self, person: Migrant) -> bool:
        return person.nationality in self.nationalities

    def reach_exploited_people(self) -> None:
        """Each exploited person whose country has a consulate here may reach it today;
        consular staff screen them (untrained, in the support-staff setting)."""
        if self.contact_per_day <= 0 or not self.nationalities:
            return
        rng = self.model.streams["decisions"]
        for person in list(self.model.by_state[State.EXPLOITED]):
            if (person.state is State.EXPLOITED and self.serves(person)
                    and rng.random() < self.contact_per_day):
                self.model.ledger.add("consular_contacts")
                if screen(self.model, person, trained=False, setting="consulate"):
                    act_on_flag(self.model, person, self.institution, "consulate")

    def assist(self, person: Migrant) -> bool:
        """An identified victim without a shelter bed: their consulate, if any, assists them
        (documents and accompaniment), so they are not detained."""
        if not self.serves(person):
            return False
        self.model.ledger.add("consular_assisted")
        return True
