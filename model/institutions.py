"""Officials and support organisations: who checks, screens, inspects, prosecutes, shelters.

Screening is a classifier. An official flags a true victim with a sensitivity
that depends on training, on the screening protocol in force and on the
person's sex and age; a person who is not a victim is wrongly flagged with
probability 1 - specificity. Officials may be complicit (extortion, tipping
off traffickers, dropping cases), less often when trained or overseen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mesa.discrete_space import FixedAgent

if TYPE_CHECKING:
    from model.agents import Migrant
    from model.corridor import PlaceCell
    from model.model import CorridorModel


def screening_sensitivity(model: CorridorModel, person: Migrant, trained: bool) -> float:
    """Chance that a screener recognises this victim as a victim."""
    params = model.params
    sensitivity = params.officials.sensitivity_untrained
    if trained:
        sensitivity += params.cross_sector_training.sensitivity_gain
    protocol = params.gender_responsive_screening
    if protocol.enabled:
        sensitivity += (protocol.sensitivity_gain_female if person.sex == "female"
                        else protocol.sensitivity_gain_male)
        if person.minor:
            sensitivity += protocol.sensitivity_gain_minor
    return min(max(sensitivity, 0.0), 0.99)


def screening_specificity(model: CorridorModel) -> float:
    """Chance that a screener correctly clears a person who is not a victim."""
    specificity = model.params.officials.specificity
    protocol = model.params.gender_responsive_screening
    if protocol.enabled:
        specificity += protocol.specificity_gain
    return min(specificity, 1.0)


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
        self.trained = bool(rng.random() < model.trained_share)
        self.complicit = bool(rng.random() < model.complicity_chance(self.trained))

    @property
    def available(self) -> bool:
        if self.handled_on_day != self.model.day:
            self.handled_on_day, self.handled_today = self.model.day, 0
        return self.handled_today < self.capacity_per_day

    def take_one(self) -> None:
        self.available  # noqa: B018 - resets the daily tally on a new day
        self.handled_today += 1

    def screen(self, person: Migrant) -> bool:
        """The screening classifier: does this official flag the person as a victim?"""
        return classify(self.model, person, self.trained)

    # ------------------------------------------------------------------ INM

    def check_papers(self, person: Migrant) -> bool:
        """A papers check at a checkpoint. Returns True when the journey stops here."""
        self.take_one()
        if self.complicit:
            self.model.record_complicity(person, f"extortion at {self.cell.place.name}")
            person.pay_bribe(self.model.params.officials.bribe_usd)
            return False
        if self.screen(person):
            self.model.record_screening_flag(person, self)
            if person.is_victim:
                return True
            # not a victim after all: cleared by the interview, then processed like anyone
        return self.model.detain(person, f"papers checked at {self.cell.place.name}")

    def raid(self, person: Migrant) -> None:
        """An immigration operation reaches an exploited person: identified, or detained."""
        self.take_one()
        if self.complicit:
            self.model.record_complicity(person, f"tip-off before a raid at {self.cell.place.name}")
            return
        if self.screen(person):
            self.model.record_screening_flag(person, self)
            return
        if person.status == "irregular":
            self.model.detain(person, f"picked up in an INM operation at {self.cell.place.name}")

    # ------------------------------------------------------------ inspector

    def inspect(self, person: Migrant) -> None:
        """A labour inspection or police operation at a place of exploitation."""
        self.take_one()
        if self.complicit:
            self.model.record_complicity(person, f"tip-off before an inspection at "
                                                 f"{self.cell.place.name}")
            return
        if self.screen(person):
            self.model.record_screening_flag(person, self)

    # ------------------------------------------------------------ prosecutor

    def prosecute(self, person: Migrant, cooperating: bool) -> None:
        """Investigate an identified case; an arrest removes the exploiter."""
        self.take_one()
        trafficker = person.exploiter
        if trafficker is None or not trafficker.active:
            return
        if self.complicit:
            self.model.record_complicity(person, "case dropped")
            return
        if self.model.streams["enforcement"].random() < self.model.arrest_chance(cooperating):
            trafficker.be_arrested()


def classify(model: CorridorModel, person: Migrant, trained: bool) -> bool:
    rng = model.streams["screening"]
    if person.is_victim:
        return bool(rng.random() < screening_sensitivity(model, person, trained))
    return bool(rng.random() >= screening_specificity(model))


class SupportOrganisation(FixedAgent):
    """IOM, UN Women and NGO shelters at the hub: beds, outreach, a hotline.

    Outreach tells people how deceptive offers work (they accept fewer); the
    hotline lets exploited people reach trained staff, who screen them.
    """

    def __init__(self, model: CorridorModel, cell: PlaceCell, beds: int):
        super().__init__(model)
        self.cell = cell
        self.beds = beds
        self.beds_used = 0

    def reach_out(self, person: Migrant) -> None:
        """Outreach at the hub (only with IOM/UN Women collaboration)."""
        io = self.model.params.io_collaboration
        if io.enabled and self.model.streams["decisions"].random() < io.outreach_coverage:
            person.informed = True

    def take_call(self, person: Migrant) -> None:
        """An exploited person reaches the hotline; trained staff screen them."""
        if classify(self.model, person, trained=True):
            self.model.record_screening_flag(person, self)

    def admit(self) -> bool:
        if self.beds_used >= self.beds:
            return False
        self.beds_used += 1
        return True

    def release(self) -> None:
        self.beds_used -= 1

    @property
    def institution(self) -> str:
        return "IOM/UN Women"
