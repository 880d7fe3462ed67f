"""A `Frame`: what the page draws of one corridor on one day, as plain data.

The page never reads a model while it may be stepping; it reads a frame, taken under the
session's lock (`session.Classroom`). A frame is also what the headless tests look at.

The map is laid out in pixels here, not in the browser: places at their real longitude and
latitude (Mesa's network drawers ignore positions and stack every agent on one point), each
place's people as a sunflower of dots around it, grouped by state, and people on the road
drawn where they are along the link they are walking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from model.ledger import summarise
from model.model import CorridorModel
from model.scenario import INTERVENTIONS
from model.states import FINAL_STATES, State

MAP_WIDTH, MAP_HEIGHT, MARGIN = 520, 380, 28
DOT_SPACING = 3.4  # pixels between neighbouring dots of one place's crowd
GOLDEN_ANGLE = math.pi * (3 - math.sqrt(5))
LABEL_HEIGHT, CHAR_WIDTH = 12, 5.6
#: States of people in the corridor, in the order their dots ring a place (inside out).
MAP_STATES = tuple(s for s in State if s not in FINAL_STATES)


@dataclass(frozen=True)
class PlaceMark:
    """A place on the map: where it is drawn, how many people are there, where its name goes."""

    id: int
    name: str
    kind: str
    x: float
    y: float
    people: int
    label_x: float
    label_y: float
    label_align: str


@dataclass(frozen=True)
class Frame:
    """One corridor on one day, ready to draw."""

    scenario: str
    seed: int
    day: int
    days: int
    interventions: tuple[str, ...]  # the interventions switched on
    places: tuple[PlaceMark, ...]
    links: tuple[tuple[float, float, float, float, bool], ...]  # x, y, x2, y2, bypass
    people: tuple[tuple[float, float, str], ...]  # x, y, state
    summary: dict  # every outcome of the catalogue, so far
    history: tuple[dict, ...]  # one row per day: day and the charted outcomes


def take_frame(model: CorridorModel, history: list[dict]) -> Frame:
    """Read a model into a frame (call it under the session's lock)."""
    params = model.params
    layout = map_layout(tuple((p.id, p.name, p.kind, p.lon, p.lat)
                              for p in params.corridor.places))
    crowds = place_crowds(model)
    places = tuple(PlaceMark(id=pid, name=name, kind=kind, x=x, y=y,
                             people=sum(len(v) for v in crowds.get(pid, {}).values()),
                             label_x=lx, label_y=ly, label_align=align)
                   for pid, name, kind, x, y, lx, ly, align in layout)
    position = {p.id: (p.x, p.y) for p in places}
    links = tuple((*position[link.a], *position[link.b], link.route == "bypass")
                  for link in params.corridor.links)
    people = [*crowd_dots(crowds, position), *traveller_dots(model, position)]
    return Frame(scenario=getattr(model, "scenario_name", params.name), seed=model.seed,
                 day=model.day, days=params.days,
                 interventions=tuple(n for n in INTERVENTIONS if getattr(params, n).enabled),
                 places=places, links=links, people=tuple(people),
                 summary=summarise(model, model.day), history=tuple(history))


def place_crowds(model: CorridorModel) -> dict[int, dict[str, list[int]]]:
    """Who is at each place (ids by state), for everyone not on the road. People in the
    immigration station or the shelters are drawn at the town those stand in."""
    town_of = {model.station.cell.coordinate: model.station.site.coordinate,
               model.shelter.cell.coordinate: model.shelter.site.coordinate}
    crowds: dict[int, dict[str, list[int]]] = {}
    for state in MAP_STATES:
        if state is State.IN_TRANSIT:
            continue
        for person in model.by_state[state]:
            place_id = town_of.get(person.place_id, person.place_id)
            crowds.setdefault(place_id, {}).setdefault(state.value, []).append(
                person.unique_id)
    return crowds


def crowd_dots(crowds: dict, position: dict) -> list[tuple[float, float, str]]:
    """Each place's people as a sunflower around it, one ring of colour per state."""
    dots = []
    for place_id, by_state in crowds.items():
        cx, cy = position[place_id]
        states = [s.value for s in MAP_STATES if s.value in by_state]
        ordered = [state for state in states for _ in by_state[state]]
        for i, state in enumerate(ordered):
            radius = DOT_SPACING * 0.56 * math.sqrt(i + 0.5)
            angle = i * GOLDEN_ANGLE
            dots.append((round(cx + radius * math.cos(angle), 1),
                         round(cy + radius * math.sin(angle), 1), state))
    return dots


def traveller_dots(model: CorridorModel, position: dict) -> list[tuple[float, float, str]]:
    """People on the road, where they are along the link they are walking."""
    dots = []
    for person in model.by_state[State.IN_TRANSIT]:
        route, leg = person.route, person.leg
        if route is None or leg + 1 >= len(route.nodes):
            x, y = position[person.place_id]
        else:
            (x1, y1), (x2, y2) = position[route.nodes[leg]], position[route.nodes[leg + 1]]
            share = min(1.0, person.km_into_leg / route.legs_km[leg])
            # a fixed sideways offset per person, so people on one road do not hide each other
            side = ((person.unique_id * 2654435761) % 997) / 997 - 0.5
            length = math.hypot(x2 - x1, y2 - y1) or 1.0
            x = x1 + share * (x2 - x1) - side * 8 * (y2 - y1) / length
            y = y1 + share * (y2 - y1) + side * 8 * (x2 - x1) / length
        dots.append((round(x, 1), round(y, 1), State.IN_TRANSIT.value))
    return dots


@cache
def map_layout(places: tuple[tuple[int, str, str, float, float], ...]) -> tuple:
    """Pixel positions of the places (north up) and of their names, placed not to overlap.

    Returns (id, name, kind, x, y, label_x, label_y, label_align) per place.
    """
    lons, lats = [p[3] for p in places], [p[4] for p in places]
    squeeze = math.cos(math.radians(sum(lats) / len(lats)))  # a degree of longitude is shorter
    width_deg = (max(lons) - min(lons)) * squeeze or 1.0
    height_deg = (max(lats) - min(lats)) or 1.0
    scale = min((MAP_WIDTH - 2 * MARGIN) / width_deg, (MAP_HEIGHT - 2 * MARGIN) / height_deg)
    placed: list[tuple[float, float, float, float]] = []
    layout = []
    for pid, name, kind, lon, lat in sorted(places, key=lambda p: -p[4]):
        x = MARGIN + (lon - min(lons)) * squeeze * scale
        y = MARGIN + (max(lats) - lat) * scale
        label = place_label(x, y, len(name) + 6, placed)
        layout.append((pid, name, kind, round(x, 1), round(y, 1), *label))
    return tuple(sorted(layout))


def place_label(x: float, y: float, chars: int, placed: list) -> tuple[float, float, str]:
    """Where a place's name goes: right of it, else left, else a line above or below."""
    width = chars * CHAR_WIDTH
    candidates = [(x + 7, y, "left"), (x - 7, y, "right")]
    for shift in (LABEL_HEIGHT, -LABEL_HEIGHT, 2 * LABEL_HEIGHT, -2 * LABEL_HEIGHT):
        candidates += [(x + 7, y + shift, "left"), (x - 7, y + shift, "right")]
    for lx, ly, align in candidates:
        box = (lx if align == "left" else lx - width, ly - LABEL_HEIGHT / 2, width,
               LABEL_HEIGHT)
        inside = box[0] >= 0 and box[0] + width <= MAP_WIDTH
        if inside and not any(_overlap(box, other) for other in placed):
            placed.append(box)
            return round(lx, 1), round(ly, 1), align
    return round(x + 7, 1), round(y, 1), "left"


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
