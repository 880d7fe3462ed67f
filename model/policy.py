"""The policy in force: each intervention turned into the values the agents' rules use.

A scenario file switches interventions on and off; the rules never ask which. They read a
`Policy`, built once per run by `resolve`: first the values without any intervention (from
the scenario's non-intervention tables), then each enabled intervention's function applied
in turn. A block that is switched off is never applied, so it changes nothing; a value that
must act always lives in a non-intervention table (for example what training does to a
trained official, in `officials`).

Each intervention function's docstring is that intervention's paragraph in docs/ODD.md
(section 7, "Interventions"). To learn what an intervention does, read its function here
and the places that use the `Policy` fields it sets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from model.maths import logistic
from model.states import Status

if TYPE_CHECKING:
    from model.scenario import Scenario


@dataclass(frozen=True)
class Screening:
    """The screening classifier's parameters: sensitivity by training, sex and age; specificity.

    Sensitivity = untrained + (training gain if trained) + protocol gain by sex (+ protocol
    gain for minors), within [0, 0.99]; specificity = base + protocol gain, at most 1.
    """

    untrained: float
    trained_gain: float
    gain_female: float = 0.0
    gain_male: float = 0.0
    gain_minor: float = 0.0
    base_specificity: float = 1.0
    specificity_gain: float = 0.0
    recognition_no_interpreter: float = 1.0

    def sensitivity(self, sex: str, minor: bool, trained: bool,
                    language_barrier: bool = False) -> float:
        """Chance that a screener recognises this victim as a victim. Without a shared
        language (and no interpreter) the screener misses what the person would say, so
        only part of the recognition is left (`language.recognition_no_interpreter`)."""
        sensitivity = self.untrained
        if trained:
            sensitivity += self.trained_gain
        sensitivity += self.gain_female if sex == "female" else self.gain_male
        if minor:
            sensitivity += self.gain_minor
        sensitivity = min(max(sensitivity, 0.0), 0.99)
        if language_barrier:
            sensitivity *= self.recognition_no_interpreter
        return sensitivity

    @property
    def specificity(self) -> float:
        """Chance that a screener correctly clears a person who is not a victim."""
        return min(self.base_specificity + self.specificity_gain, 1.0)


#: Where a victim meets someone who may identify them.
OFFICIAL_SETTINGS = frozenset({"checkpoint", "raid", "inspection"})


@dataclass(frozen=True)
class Disclosure:
    """Whether a victim who meets a screener discloses: logistic in what makes speaking
    feel safe or dangerous. With `base = 1` every victim discloses (recognition alone
    decides, as in the first versions of the model)."""

    base: float
    weight_irregular: float = 0.0
    weight_security: float = 0.0
    weight_detention_context: float = 0.0
    weight_safe_interview: float = 0.0
    weight_visa_promise: float = 0.0
    weight_support_staff: float = 0.0
    weight_no_interpreter: float = 0.0
    security_posture: bool = False
    safe_interview: bool = False
    visa_promise: bool = False

    def chance(self, person, setting: str, language_barrier: bool = False) -> float:
        """Chance this person discloses in this setting (checkpoint, raid, inspection,
        hotline, consulate). Without a shared language and no interpreter, telling what
        happened is hard whoever listens (`language.weight_no_interpreter`)."""
        if self.base >= 1.0 or self.base <= 0.0:
            return self.base
        z = math.log(self.base / (1.0 - self.base))
        if language_barrier:
            z += self.weight_no_interpreter
        if setting in OFFICIAL_SETTINGS:
            if person.status is Status.IRREGULAR:
                z += self.weight_irregular
            if self.security_posture:
                z += self.weight_security
            if setting == "raid":
                z += self.weight_detention_context
        else:
            z += self.weight_support_staff
        if self.safe_interview and (person.sex == "female" or person.minor):
            z += self.weight_safe_interview
        if self.visa_promise:
            z += self.weight_visa_promise
        return logistic(z)


@dataclass(frozen=True)
class Policy:
    """The effective values of one run, after every enabled intervention.

    Attributes:
        check_probability: per place id, the chance INM checks a passer-by's papers (zero
            where no INM officer is posted).
        detention_capacity: places in immigration stations.
        deport_share: share of detained people deported when detention ends.
        raid_find_per_day: daily chance an INM operation reaches an exploited person.
        outreach_coverage: chance a person reaching the hub is told how deceptive offers work.
        hotline_contact_per_day: daily chance an informed exploited person calls a hotline.
        hotline_capacity_per_day: calls answered a day (the rest are lost).
        shelter_beds: beds for identified victims.
        referral_days: days from identification to referral.
        visa_processing_days: days to a humanitarian visa (TVRH) for a sheltered victim, or
            None when no visas are issued (the victim leaves after the shelter stay).
        trained_share: share of officials trained at the start.
        screening: the screening classifier (recognition).
        disclosure: whether a victim discloses (fear and safety).
        complicity_probability: an untrained official's chance of being complicit.
        trained_complicity_reduction: share of that chance a trained official loses.
        complicity_oversight: share of complicity deterred by oversight, for every official.
        arrest_probability: chance an investigated case ends in an arrest (state prosecutor).
        specialised_arrest_multiplier: how much more often the special prosecutor arrests.
        cooperation_gain: arrest odds multiplier when the victim is protected and cooperates.
        interpreter_coverage: chance an interpreter is there when a Spanish-speaking screener
            meets a person who does not speak Spanish.
        children_to_dif_from: the counted day (1 = first day after the warm-up) from which no
            child is detained and children go to the child protection system (DIF), or None
            while the child protection reform is not law.
        dif_capacity, dif_days: places in DIF care for children, and the days a child stays.
    """

    check_probability: MappingProxyType
    detention_capacity: int
    deport_share: float
    raid_find_per_day: float
    outreach_coverage: float
    hotline_contact_per_day: float
    hotline_capacity_per_day: int
    shelter_beds: int
    referral_days: int
    visa_processing_days: int | None
    trained_share: float
    screening: Screening
    disclosure: Disclosure
    complicity_probability: float
    trained_complicity_reduction: float
    complicity_oversight: float
    arrest_probability: float
    specialised_arrest_multiplier: float
    cooperation_gain: float
    interpreter_coverage: float = 0.0
    children_to_dif_from: int | None = None
    dif_capacity: int = 0
    dif_days: int = 1

    def language_barrier(self, person, setting: str, rng) -> bool:
        """No shared language in this screening: the person does not speak Spanish, the
        screener is Mexican staff (not their consulate), and no interpreter is there (one
        draw from `rng` for every such screening, whatever the coverage, so runs that differ
        only in coverage draw the same numbers)."""
        if person.speaks_spanish or setting == "consulate":
            return False
        return bool(rng.random() >= self.interpreter_coverage)

    def complicity_chance(self, trained: bool) -> float:
        """An official's chance of being complicit: less when trained or overseen."""
        chance = self.complicity_probability
        if trained:
            chance *= 1.0 - self.trained_complicity_reduction
        return chance * (1.0 - self.complicity_oversight)

    def arrest_chance(self, cooperating: bool, specialised: bool) -> float:
        """Chance an investigated case ends in the exploiter's arrest."""
        chance = self.arrest_probability
        if specialised:
            chance *= self.specialised_arrest_multiplier
        if cooperating:
            chance *= self.cooperation_gain
        return min(chance, 1.0)


def resolve(scenario: Scenario) -> Policy:
    """The policy in force: the scenario's own values, then each law in force, then each
    enabled intervention."""
    policy = without_interventions(scenario)
    for name, apply in LAW_RULES.items():
        block = getattr(scenario, name)
        if block.enabled:
            policy = apply(block, policy)
    for name, apply in INTERVENTION_RULES.items():
        block = getattr(scenario, name)
        if block.enabled:
            policy = apply(block, policy)
    return policy


def without_interventions(scenario: Scenario) -> Policy:
    """The corridor as its institutions work with every intervention switched off."""
    places = scenario.corridor.places
    officials = scenario.officials
    language = scenario.language
    posted = {post.place for post in officials.posts
              if post.institution == "INM" and post.count > 0 and post.capacity_per_day > 0}
    return Policy(
        check_probability=MappingProxyType(
            {p.id: p.check_probability if p.id in posted else 0.0 for p in places}),
        detention_capacity=sum(p.detention_capacity for p in places),
        deport_share=scenario.enforcement.deport_share,
        raid_find_per_day=scenario.detection.raid_find_per_day,
        outreach_coverage=0.0,
        hotline_contact_per_day=0.0,
        hotline_capacity_per_day=0,
        shelter_beds=sum(p.shelter_beds for p in places),
        referral_days=scenario.protection.referral_days,
        visa_processing_days=None,
        trained_share=officials.trained_share,
        screening=Screening(untrained=officials.sensitivity_untrained,
                            trained_gain=officials.trained_sensitivity_gain,
                            base_specificity=officials.specificity,
                            recognition_no_interpreter=language.recognition_no_interpreter),
        disclosure=Disclosure(**scenario.disclosure.model_dump(),
                              weight_no_interpreter=language.weight_no_interpreter),
        complicity_probability=officials.complicity_probability,
        trained_complicity_reduction=officials.trained_complicity_reduction,
        complicity_oversight=0.0,
        arrest_probability=scenario.protection.prosecution_arrest_probability,
        specialised_arrest_multiplier=1.0,
        cooperation_gain=scenario.protection.cooperation_gain,
        interpreter_coverage=language.interpreter_coverage,
    )


# ------------------------------------------------------------------------- laws


def child_protection_reform(block, policy: Policy) -> Policy:
    """The child protection reform (a law, not an FFP intervention). Mexico's 2020 reform of
    the Migration Law and the Refugee Law, in force from 11 January 2021, ended the detention
    of children in immigration stations. From counted day `child_protection_reform.effective_day`
    a child whom INM would detain, or who is identified as a victim, is referred to the child
    protection system (DIF and the Procuradurias de Proteccion de Ninas, Ninos y
    Adolescentes) and stays in its care (state `protected`) for `days_in_care` days, up to
    `dif_capacity` children at a time. When the DIF is full the child gets a shelter bed if
    one is free, and otherwise is released (with their family, or alone): never the station.
    Children already detained on the day the reform takes effect are transferred the same
    way that evening. After their stay children set out north like anyone leaving a
    shelter."""
    return replace(policy, children_to_dif_from=block.effective_day,
                   dif_capacity=block.dif_capacity, dif_days=block.days_in_care)


#: Each law block's name and its rule, applied before the interventions.
LAW_RULES: dict[str, Callable] = {
    "child_protection_reform": child_protection_reform,
}


# ------------------------------------------------------------------ interventions


def humanitarian_visa(block, policy: Policy) -> Policy:
    """Humanitarian visas (TVRH). A victim who is sheltered after identification receives a
    visa for humanitarian reasons after `humanitarian_visa.processing_days`, instead of
    leaving when the shelter stay ends. With the visa the person holds papers: they take the
    shortest route and buses, pass papers checks and detention no longer applies to them, and
    recruiters' offers succeed less often (`traffickers.weight_papers`). A visa on offer also
    gives victims a reason to speak: every victim's disclosure odds gain
    `disclosure.weight_visa_promise`."""
    return replace(policy, visa_processing_days=block.processing_days,
                   disclosure=replace(policy.disclosure, visa_promise=True))


def gender_responsive_screening(block, policy: Policy) -> Policy:
    """Gender-responsive screening. A protocol with gender- and age-specific indicators and
    safe disclosure adds to every screener's sensitivity: `sensitivity_gain_female` for women
    and girls, `sensitivity_gain_male` for men and boys, and `sensitivity_gain_minor` on top
    for children. Clearer indicators also raise specificity by `specificity_gain`, so fewer
    people who are not victims are wrongly referred. A female interviewer and a safe space
    make women, girls and children more likely to disclose (`disclosure.weight_safe_interview`
    on their odds)."""
    screening = replace(policy.screening,
                        gain_female=block.sensitivity_gain_female,
                        gain_male=block.sensitivity_gain_male,
                        gain_minor=block.sensitivity_gain_minor,
                        specificity_gain=block.specificity_gain)
    return replace(policy, screening=screening,
                   disclosure=replace(policy.disclosure, safe_interview=True))


def cross_sector_training(block, policy: Policy) -> Policy:
    """Cross-sector training of officials (INM, labour inspectors, FEVIMTRA; SEGOB and SRE are
    not agents). The share of officials trained at the start becomes the larger of the share
    trained without the programme and `cross_sector_training.coverage`. What training does
    to a trained official (a sensitivity gain, less complicity) is in `officials` and acts on
    every trained official, trained by the programme or before it."""
    return replace(policy, trained_share=max(policy.trained_share, block.coverage))


def io_collaboration(block, policy: Policy) -> Policy:
    """Collaboration with IOM and UN Women. Outreach at the hub tells a share
    (`outreach_coverage`) of the people arriving how deceptive offers work, so they accept
    fewer (`traffickers.weight_informed`), and gives them the hotline's number: an informed
    person who is exploited calls with a daily chance (`hotline_contact_per_day`), and
    trained staff answer up to `hotline_capacity_per_day` calls a day (the rest are lost);
    shelters gain `extra_shelter_beds`; and referral after identification takes
    `referral_days`."""
    return replace(policy, outreach_coverage=block.outreach_coverage,
                   hotline_contact_per_day=block.hotline_contact_per_day,
                   hotline_capacity_per_day=block.hotline_capacity_per_day,
                   shelter_beds=policy.shelter_beds + block.extra_shelter_beds,
                   referral_days=block.referral_days)


def special_prosecutor(block, policy: Policy) -> Policy:
    """The special prosecutor for violence against women and trafficking (FEVIMTRA),
    strengthened. Cases FEVIMTRA takes up end in an arrest `arrest_multiplier` times as often
    as with a state prosecutor; its oversight deters a share (`complicity_oversight`) of
    every official's complicity."""
    return replace(policy, specialised_arrest_multiplier=block.arrest_multiplier,
                   complicity_oversight=block.complicity_oversight)


def border_tightening(block, policy: Policy) -> Policy:
    """Border tightening (security first). Where INM officers are posted, the chance of a
    papers check is multiplied by `check_multiplier` (at most 1); immigration stations gain
    `extra_detention_capacity` places; a detained person is deported with `deport_share`;
    INM operations reach exploited people `raid_multiplier` times as often. Travellers see
    the tighter checks on each route and turn to bypass paths and guides, whose fee rises
    with the chance of a check on the road; claimants at the hub give up less (containment,
    `hub.containment`). The security posture makes victims fear deportation: their
    disclosure odds with officials change by `disclosure.weight_security` (a negative
    weight)."""
    checks = {place: min(1.0, chance * block.check_multiplier) if chance > 0 else 0.0
              for place, chance in policy.check_probability.items()}
    return replace(policy, check_probability=MappingProxyType(checks),
                   detention_capacity=policy.detention_capacity
                   + block.extra_detention_capacity,
                   deport_share=block.deport_share,
                   raid_find_per_day=policy.raid_find_per_day * block.raid_multiplier,
                   disclosure=replace(policy.disclosure, security_posture=True))


#: Each intervention block's name and its rule, in the order they are applied.
INTERVENTION_RULES: dict[str, Callable] = {
    "humanitarian_visa": humanitarian_visa,
    "gender_responsive_screening": gender_responsive_screening,
    "cross_sector_training": cross_sector_training,
    "io_collaboration": io_collaboration,
    "special_prosecutor": special_prosecutor,
    "border_tightening": border_tightening,
}
