"""The corridor as a graph: places, links and the routes people can choose between.

The graph comes from the scenario file. Routes are precomputed once per run
(the corridor has a handful of nodes), so a person choosing a route only looks
up a short list of candidates and weighs distance against the chance of being
checked on the way.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from itertools import islice, pairwise

import networkx as nx
from mesa.discrete_space import Cell

from model.scenario import Corridor, Place
from model.states import RECRUITABLE

ROUTES_PER_DESTINATION = 4  # assumption: people weigh a few known alternatives, not every path


class PeopleById:
    """People kept in order of their unique id, with O(log n) search and a fast copy.

    Traffickers meet the people at a place in the order they arrived in the corridor
    (by unique id). Sorting everyone at the hub every day cost more than the rest of the
    recruitment; the few people who come and go each day are cheap to insert in place.
    """

    __slots__ = ["ids", "people"]

    def __init__(self):
        self.ids: list[int] = []
        self.people: list = []

    def add(self, person) -> None:
        at = bisect_left(self.ids, person.unique_id)
        self.ids.insert(at, person.unique_id)
        self.people.insert(at, person)

    def remove(self, person) -> None:
        at = bisect_left(self.ids, person.unique_id)
        del self.ids[at]
        del self.people[at]

    def __len__(self) -> int:
        return len(self.people)


class PlaceCell(Cell):
    """A Mesa network cell that knows which corridor place it is.

    Mesa 3.5 keeps a cell's agents in a list, so each departure is O(people there)
    (mesa/mesa#3364). Thousands wait at the hub, so this cell keeps them in an
    insertion-ordered dict instead: same behaviour, O(1) arrivals and departures.
    It also keeps the people here whom a trafficker can approach (`recruitable`, in
    `RECRUITABLE` states), in order of unique id, from the first day a trafficker works
    here (`people_to_approach`); from then on the cell follows people coming and going,
    and `Migrant.set_state` tells it when someone here changes state. Places no trafficker
    ever works at (checkpoints, exits, the station) keep no such index.
    """

    __slots__ = ["place", "recruitable"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._agents = {}
        self.place: Place | None = None
        self.recruitable: PeopleById | None = None

    def add_agent(self, agent) -> None:
        if self.capacity is not None and len(self._agents) >= self.capacity:
            raise ValueError(f"place {self.coordinate} is full")
        self._agents[agent] = None
        self._empty = False  # Mesa's `empty`, set without its property
        if self.recruitable is not None and getattr(agent, "state", None) in RECRUITABLE:
            self.recruitable.add(agent)

    def remove_agent(self, agent) -> None:
        del self._agents[agent]
        self._empty = not self._agents
        if self.recruitable is not None and getattr(agent, "state", None) in RECRUITABLE:
            self.recruitable.remove(agent)

    def people_to_approach(self) -> list:
        """The people here a trafficker can approach, in order of unique id (a new list)."""
        if self.recruitable is None:
            self.recruitable = PeopleById()
            for agent in sorted(self._agents, key=lambda a: a.unique_id):
                if getattr(agent, "state", None) in RECRUITABLE:
                    self.recruitable.add(agent)
        return list(self.recruitable.people)

    @property
    def agents(self) -> list:
        return list(self._agents)


@dataclass(frozen=True)
class Route:
    """One way from a place to a destination, with what a traveller cares about."""

    nodes: tuple[int, ...]
    legs_km: tuple[float, ...]
    legs_bus: tuple[bool, ...]
    legs_bypass: tuple[bool, ...]
    chance_checked: float  # chance of at least one papers check on the way (after the start)

    @property
    def km(self) -> float:
        return sum(self.legs_km)

    def effort_km(self, bypass_effort: float) -> float:
        """Distance as it feels on foot: bypass paths count `bypass_effort` times."""
        return sum(km * (bypass_effort if bypass else 1.0)
                   for km, bypass in zip(self.legs_km, self.legs_bypass, strict=True))

    @property
    def uses_bypass(self) -> bool:
        return any(self.legs_bypass)


def build_graph(corridor: Corridor) -> nx.Graph:
    """A networkx graph with integer node ids, place data on nodes and link data on edges."""
    graph = nx.Graph()
    for place in corridor.places:
        graph.add_node(place.id, place=place)
    for link in corridor.links:
        graph.add_edge(link.a, link.b, km=link.km, route=link.route, bus=link.bus)
    return graph


def add_facility(graph: nx.Graph, site: Place, name: str, kind: str) -> int:
    """A place with no roads, at another place's position: the immigration station or the
    shelter. People inside are not among the people out in the town (recruiters do not meet
    them there); they leave it back into the town it stands in."""
    facility_id = max(graph.nodes) + 1
    place = Place.model_construct(
        id=facility_id, name=f"{name} ({site.name})", kind=kind, lon=site.lon, lat=site.lat,
        shelter_beds=0, asylum_office=False, detention_capacity=0, informality=0.0,
        check_probability=0.0, trafficker_presence=0.0, sexual_site_capacity=0,
        labour_site_capacity=0)
    graph.add_node(facility_id, place=place)
    return facility_id


def positions(graph: nx.Graph) -> dict[int, tuple[float, float]]:
    """Real coordinates (longitude, latitude), for Mesa's layout and for drawing."""
    return {node: (data["place"].lon, data["place"].lat) for node, data in graph.nodes(data=True)}


def candidate_routes(
    graph: nx.Graph, origin: int, destinations: list[int], check: dict[int, float]
) -> list[Route]:
    """The few shortest simple paths from origin to each destination.

    `check` is each place's chance of a papers check as it really is in this run
    (after border tightening, and zero where no INM officer is posted).
    """
    routes = []
    for destination in destinations:
        if destination == origin:
            continue
        paths = (path for path in nx.shortest_simple_paths(graph, origin, destination,
                                                            weight="km")
                 if not _turns_back(graph, path))
        for path in islice(paths, ROUTES_PER_DESTINATION):
            routes.append(_route(graph, path, check))
    return routes


def _turns_back(graph: nx.Graph, path: list[int]) -> bool:
    """A way north never goes back through the border crossing."""
    return any(graph.nodes[node]["place"].kind == "crossing" for node in path[1:])


def _route(graph: nx.Graph, path: list[int], check: dict[int, float]) -> Route:
    legs = [graph.edges[u, v] for u, v in pairwise(path)]
    chance_passed = 1.0
    for node in path[1:]:
        chance_passed *= 1.0 - check[node]
    return Route(
        nodes=tuple(path),
        legs_km=tuple(leg["km"] for leg in legs),
        legs_bus=tuple(leg["bus"] for leg in legs),
        legs_bypass=tuple(leg["route"] == "bypass" for leg in legs),
        chance_checked=1.0 - chance_passed,
    )


def road_chance_checked(routes: list[Route]) -> float:
    """Chance of a check on the shortest route: what a smuggler's fee responds to."""
    return min(routes, key=lambda r: r.km).chance_checked


class RouteBook:
    """Candidate routes from every place to the hub, to the exits and to exploitation sites,
    computed lazily once."""

    def __init__(self, graph: nx.Graph, hub: int, exits: list[int], check: dict[int, float]):
        self._graph, self._hub, self._exits, self._check = graph, hub, exits, check
        self._cache: dict[tuple[int, str], list[Route]] = {}
        self._reach: dict[int, frozenset[int]] = {}

    def to_hub(self, origin: int) -> list[Route]:
        return self._lookup(origin, "hub", [self._hub])

    def to_exit(self, origin: int) -> list[Route]:
        return self._lookup(origin, "exit", self._exits)

    def to_place(self, origin: int, destination: int) -> list[Route]:
        """Routes to one place (an exploitation site), never back through the crossing."""
        return self._lookup(origin, f"place {destination}", [destination])

    def reachable(self, origin: int) -> frozenset[int]:
        """Places a route from `origin` can end at: those joined to it without passing back
        through the crossing (the origin itself included)."""
        if origin not in self._reach:
            crossing = [n for n, d in self._graph.nodes(data=True)
                        if d["place"].kind == "crossing" and n != origin]
            north = self._graph.subgraph(n for n in self._graph if n not in crossing)
            self._reach[origin] = frozenset(nx.node_connected_component(north, origin))
        return self._reach[origin]

    def _lookup(self, origin: int, goal: str, destinations: list[int]) -> list[Route]:
        key = (origin, goal)
        if key not in self._cache:
            self._cache[key] = candidate_routes(self._graph, origin, destinations, self._check)
        return self._cache[key]
