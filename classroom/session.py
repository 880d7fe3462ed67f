"""The corridors one browser session watches, and the lock that keeps stepping and drawing apart.

`ClassroomCorridor` is the model the page runs: the project's `CorridorModel` built from a
shipped scenario, the classroom preset and the page's switches, passed as keyword arguments
the way Mesa's SolaraViz passes its model parameters. It adds no rules of its own.

`Classroom` holds one session's corridor (and, side by side, a second one with the same
seed), steps them together, and turns them into `Frame`s, plain data the page draws. Play
runs in a thread while a click on Step or Reset arrives in another, and Mesa's own controller
races its renderer (see docs/ARCHITECTURE.md): here every step, every reset and every frame
is taken under one lock, and the page draws only frames, never a model that is mid-step.
"""

from __future__ import annotations

import random
import threading
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from classroom.frames import Frame, take_frame
from model.errors import UserError
from model.ledger import summarise
from model.model import CorridorModel
from model.scenario import INTERVENTIONS, Scenario, load_scenario, with_changes
from model.states import State

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
SETTINGS_FILE = Path(__file__).resolve().parent / "settings.toml"


@cache
def settings() -> dict:
    """The classroom's preset, controls, scoreboard and colours (`settings.toml`)."""
    with open(SETTINGS_FILE, "rb") as handle:
        return tomllib.load(handle)


def controls() -> dict[str, dict]:
    """Each intervention's control: its main parameter and the slider's range."""
    return {c["intervention"]: c for c in settings()["controls"]}


@cache
def shipped_scenario(name: str) -> Scenario:
    """A shipped scenario file with the classroom preset's changes (read once per process)."""
    if name not in settings()["preset"]["scenarios"]:
        raise UserError(f"unknown classroom scenario {name!r}; choose one of "
                        f"{', '.join(settings()['preset']['scenarios'])}")
    return with_changes(load_scenario(SCENARIOS / f"{name}.toml"),
                        settings()["preset"]["changes"], source=f"classroom preset ({name})")


def switches_of(scenario: Scenario) -> dict:
    """The page's switches as a scenario sets them: each intervention on or off, and its
    main parameter (keyword names as `ClassroomCorridor` takes them)."""
    values: dict = {}
    for intervention, control in controls().items():
        block = getattr(scenario, intervention)
        values[intervention] = block.enabled
        values[control["parameter"]] = getattr(block, control["parameter"])
    return values


class ClassroomCorridor(CorridorModel):
    """The corridor of a shipped scenario, at classroom size, with the page's switches.

    Args:
        scenario: a shipped scenario's name (`baseline_2018`, `ffp_2020`, ...).
        seed: the run's seed; the same seed brings the same people on the same days.
        **switches: an intervention's name with True or False (`border_tightening=True`),
            or an intervention's main parameter (`check_multiplier=3.0`), as in settings.toml.
    """

    def __init__(self, scenario: str = "baseline_2018", seed: int = 1, **switches):
        self.scenario_name = scenario
        super().__init__(classroom_scenario(scenario, switches), seed=seed)


def classroom_scenario(name: str, switches: dict) -> Scenario:
    """The scenario with the switches applied by dotted key, validated like a file."""
    by_parameter = {c["parameter"]: c["intervention"] for c in controls().values()}
    changes = {}
    for key, value in switches.items():
        if key in INTERVENTIONS:
            changes[f"{key}.enabled"] = bool(value)
        elif key in by_parameter:
            changes[f"{by_parameter[key]}.{key}"] = value
        else:
            known = [*INTERVENTIONS, *by_parameter]
            raise UserError(f"unknown classroom switch {key!r}; known: {', '.join(known)}")
    return with_changes(shipped_scenario(name), changes, source="classroom switches")


@dataclass(frozen=True)
class Choice:
    """What the page asks for: the scenario, the seed, the switches, and side by side."""

    scenario: str
    seed: int
    switches: dict = field(default_factory=dict)
    side_by_side: bool = False
    compare_with: str = ""

    @classmethod
    def default(cls) -> Choice:
        preset = settings()["preset"]
        return cls(scenario=preset["scenario"], seed=preset["seed"],
                   switches=switches_of(shipped_scenario(preset["scenario"])),
                   compare_with=preset["compare_with"])

    def with_scenario(self, name: str) -> Choice:
        """Another scenario, with the switches set as that scenario sets them."""
        return Choice(name, self.seed, switches_of(shipped_scenario(name)), self.side_by_side,
                      self.compare_with)


class Classroom:
    """One session's corridor (and its side-by-side twin), stepped and read under one lock."""

    def __init__(self, choice: Choice | None = None):
        self.lock = threading.RLock()
        self.reset(choice or Choice.default())

    def reset(self, choice: Choice) -> list[Frame]:
        """Start again from day 0 with `choice`; return the first frames."""
        with self.lock:
            self.choice = choice
            self.models = [ClassroomCorridor(choice.scenario, choice.seed, **choice.switches)]
            if choice.side_by_side:
                self.models.append(ClassroomCorridor(choice.compare_with, choice.seed))
            self.histories: list[list[dict]] = [[] for _ in self.models]
            self.picker = random.Random(choice.seed)
            return self.frames()

    @property
    def days(self) -> int:
        return self.models[0].params.days

    @property
    def finished(self) -> bool:
        return self.models[0].day >= self.days

    def step(self, days: int = 1) -> list[Frame]:
        """Advance every corridor `days` days (not past the scenario's end); new frames."""
        with self.lock:
            for _ in range(min(days, self.days - self.models[0].day)):
                for model, history in zip(self.models, self.histories, strict=True):
                    model.step()
                    history.append(history_row(model))
            return self.frames()

    def frames(self) -> list[Frame]:
        with self.lock:
            return [take_frame(model, history)
                    for model, history in zip(self.models, self.histories, strict=True)]

    # ------------------------------------------------------------ a journey

    def journey(self, person_id: int) -> list[dict]:
        """One person's events in the main corridor, oldest first."""
        with self.lock:
            return self.models[0].ledger.journey(person_id)

    def pick_person(self, kind: str) -> int | None:
        """A person to follow: someone `trafficked`, `identified`, or `anyone` who arrived."""
        wanted = {"trafficked": State.RECRUITED, "identified": State.IDENTIFIED}.get(kind)
        with self.lock:
            people = sorted({event[1] for event in self.models[0].ledger.events
                             if wanted is None or event[3] is wanted})
            return self.picker.choice(people) if people else None


def history_row(model: CorridorModel) -> dict:
    """The day's values of the outcomes the charts follow over time."""
    charts = settings()["charts"]
    summary = summarise(model, model.day)
    names = dict.fromkeys([*charts["gap"], *charts["enforcement"]])
    return {"day": model.day, **{name: summary[name] for name in names}}
