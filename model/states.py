"""Where a person is in their journey (`State`), their legal status (`Status`), and the sets
of states and statuses the rules ask about."""

from __future__ import annotations

from enum import StrEnum


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


class Status(StrEnum):
    """Legal status in Mexico."""

    IRREGULAR = "irregular"
    ASYLUM_APPLICANT = "asylum_applicant"
    TVRH_HOLDER = "tvrh_holder"
    REFUGEE = "refugee"


#: States a person leaves the corridor by; they are then removed from the model.
FINAL_STATES = frozenset({State.DEPORTED, State.EXITED})
#: Statuses that let a person travel openly and take buses.
TRAVEL_PAPERS = frozenset({Status.TVRH_HOLDER, Status.REFUGEE})
#: States in which a trafficker can approach a person.
RECRUITABLE = frozenset({State.IN_TRANSIT, State.WAITING, State.WORKING_INFORMALLY})
#: States of a person who is being trafficked now (a true victim, identified or not).
VICTIM_STATES = frozenset({State.RECRUITED, State.EXPLOITED})

SEXES = ("female", "male")
AGE_GROUPS = ("adult", "minor")
#: Victims counted by language: Spanish speakers, and people Mexican screeners need an
#: interpreter for.
LANGUAGE_GROUPS = ("spanish_speaking", "other_language")
EXPLOITATION_FORMS = ("sexual", "labour")
