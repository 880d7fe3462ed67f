"""Traffickers: recruiters who approach the people present where they operate.

A trafficker looks over a few people at its place each day, approaches the
most vulnerable-looking ones with a deceptive offer (a job, a ride, a room), and
some accept. Once a month traffickers adapt: some leave the trade, some move to
where enforcement is weak, and new ones enter while the trade pays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mesa.discrete_space import CellAgent

if TYPE_CHECKING:
    from model.agents import Migrant
    from model.corridor import PlaceCell
    from model.model import CorridorModel


class Trafficker(CellAgent):
    """A recruiter operating at one place of the corridor (synthetic)."""

    def __init__(self, model: CorridorModel, cell: PlaceCell):
        super().__init__(model)
        self.cell = cell
        self.active = True
        self.recruits = 0

    def act(self, people_here: list[Migrant]) -> None:
        """Look over a few people here and make today's deceptive offers.

        Targets are picked with probability proportional to how likely they are to
        accept, so vulnerability both draws attention and makes an offer succeed.
        """
        spec = self.model.params.traffickers
        if not people_here or spec.approaches_per_day == 0:
            return
        rng = self.model.streams["recruitment"]
        picks = rng.integers(len(people_here), size=spec.pool_size).tolist()
        pool = list(dict.fromkeys(people_here[i] for i in picks if people_here[i].recruitable))
        for _ in range(spec.approaches_per_day):
            if not pool:
                return
            chances = [person.offer_acceptance() for person in pool]
            total = sum(chances)
            if total <= 0:
                return
            target = _weighted_index(chances, rng.random() * total)
            person = pool.pop(target)
            if rng.random() < chances[target]:
                self.recruits += 1
                person.accept_offer(self)

    def be_arrested(self) -> None:
        """An arrest removes the trafficker from the trade."""
        self.active = False
        self.model.ledger.add("traffickers_arrested")
        self.model.ledger.at_place(self.cell.coordinate, "arrests")
        self.remove()

    def leave_trade(self) -> None:
        self.active = False
        self.remove()

    def relocate(self, cell: PlaceCell) -> None:
        self.cell = cell


def _weighted_index(weights: list[float], threshold: float) -> int:
    running = 0.0
    for i, weight in enumerate(weights):
        running += weight
        if threshold < running:
            return i
    return len(weights) - 1
