"""The page's charts, as Vega-Lite specifications built with Altair and drawn in the browser.

Drawing in the browser is what makes Play smooth: a server-side matplotlib frame costs about
140 ms (docs/ARCHITECTURE.md). Building a chart with Altair costs tens of milliseconds too,
so each chart is built once per language as a template whose data are named datasets, and a
frame only fills in the rows (`with_data`). Each public function takes a `Frame` and the
page's `Words` and returns a Vega-Lite spec dict.
"""

from __future__ import annotations

import copy
from functools import cache

import altair as alt

from classroom.frames import MAP_HEIGHT, MAP_STATES, MAP_WIDTH, Frame
from classroom.session import settings
from classroom.words import Words

#: Solara's browser side runs Vega-Lite 5; Altair 6 writes v6 specs, which Vega-Lite 5 draws
#: the same for the marks used here but warns about. The specs say 5.
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
CHART_WIDTH = 300
LINE_COLOURS = ["#D55E00", "#CC79A7", "#009E73", "#0072B2"]


def with_data(template: dict, **datasets: list[dict]) -> dict:
    """A chart template with this frame's rows in its named datasets."""
    out = dict(template)
    out["datasets"] = datasets
    return out


def _spec(chart: alt.TopLevelMixin) -> dict:
    """A chart as a Vega-Lite 5 dict, without Altair's schema validation (slow)."""
    out = chart.to_dict(validate=False)
    out["$schema"] = VEGA_LITE_SCHEMA
    out["usermeta"] = {"embedOptions": {"renderer": "svg", "actions": False}}
    out.pop("datasets", None)
    return out


# ------------------------------------------------------------------------ the map


def corridor_map(frame: Frame, words: Words) -> dict:
    """Places at their real positions, sized by the people there; people as coloured dots."""
    places = [{"x": p.x, "y": p.y, "name": p.name, "people": p.people,
               "area": 40 + 12 * p.people, "label": f"{p.name} ({p.people})",
               "lx": p.label_x, "ly": p.label_y, "align": p.label_align}
              for p in frame.places]
    links = [{"x": x, "y": y, "x2": x2, "y2": y2, "bypass": bypass}
             for x, y, x2, y2, bypass in frame.links]
    people = [{"x": x, "y": y, "state": words.state(state)} for x, y, state in frame.people]
    return with_data(map_template(words.language), places=places, links=links, people=people)


@cache
def map_template(language: str) -> dict:
    words = Words(language)
    x = alt.X("x:Q", scale=alt.Scale(domain=[0, MAP_WIDTH]), axis=None)
    y = alt.Y("y:Q", scale=alt.Scale(domain=[0, MAP_HEIGHT], reverse=True), axis=None)
    roads = alt.Chart(alt.NamedData(name="links")).mark_rule(color="#999999").encode(
        x=x, y=y, x2="x2:Q", y2="y2:Q",
        strokeDash=alt.condition("datum.bypass", alt.value([3, 3]), alt.value([1, 0])))
    circles = alt.Chart(alt.NamedData(name="places")).mark_circle(
        color="#dddddd", stroke="#666666", strokeWidth=0.8, opacity=0.5).encode(
        x=x, y=y, size=alt.Size("area:Q", scale=None, legend=None),
        tooltip=[alt.Tooltip("name:N", title=words("ui.corridor")),
                 alt.Tooltip("people:Q", title=words("ui.people_here"))])
    colours = settings()["colours"]
    dots = alt.Chart(alt.NamedData(name="people")).mark_circle(size=9, opacity=0.9).encode(
        x=x, y=y, color=alt.Color(
            "state:N", legend=alt.Legend(title=words("ui.state"), orient="bottom", columns=4,
                                         symbolSize=60, labelLimit=220),
            scale=alt.Scale(domain=[words.state(s.value) for s in MAP_STATES],
                            range=[colours[s.value] for s in MAP_STATES])))
    layers = [roads, circles, dots]
    for align in ("left", "right"):
        text = alt.Chart(alt.NamedData(name="places")).transform_filter(
            f"datum.align == '{align}'").encode(
            x=alt.X("lx:Q", scale=alt.Scale(domain=[0, MAP_WIDTH]), axis=None),
            y=alt.Y("ly:Q", scale=alt.Scale(domain=[0, MAP_HEIGHT], reverse=True), axis=None),
            text="label:N")
        halo = text.mark_text(align=align, baseline="middle", fontSize=10, fontWeight="bold",
                              stroke="white", strokeWidth=3, strokeOpacity=0.8)
        layers += [halo, text.mark_text(align=align, baseline="middle", fontSize=10,
                                        fontWeight="bold", color="#222222")]
    chart = alt.layer(*layers).properties(width=MAP_WIDTH, height=MAP_HEIGHT)
    return _spec(chart.configure_view(stroke=None))


# ----------------------------------------------------------------- over time


def gap_chart(frame: Frame, words: Words) -> dict:
    """True victims against those identified and protected: the gap is the point."""
    return over_time(frame, "gap", words)


def enforcement_chart(frame: Frame, words: Words) -> dict:
    """Detentions, deportations and guides hired for bypass paths, so far."""
    return over_time(frame, "enforcement", words)


def over_time(frame: Frame, chart: str, words: Words) -> dict:
    """Outcomes so far, day by day, one line each (labels from the outcome catalogue)."""
    names = settings()["charts"][chart]
    labels = {name: words.outcome(name) for name in names}
    rows = [{"day": row["day"], "outcome": labels[name], "value": row[name]}
            for row in frame.history for name in names]
    spec = copy.deepcopy(over_time_template(chart, words.language))
    spec["encoding"]["x"]["scale"]["domain"] = [0, max(frame.day, 7)]
    return with_data(spec, history=rows)


@cache
def over_time_template(chart: str, language: str) -> dict:
    words = Words(language)
    order = [words.outcome(name) for name in settings()["charts"][chart]]
    title = words(f"ui.{chart}_chart")
    line = alt.Chart(alt.NamedData(name="history")).mark_line(strokeWidth=2.5).encode(
        x=alt.X("day:Q", title=words("ui.days"), scale=alt.Scale(domain=[0, 7])),
        y=alt.Y("value:Q", title=None),
        color=alt.Color("outcome:N", sort=order, title=None,
                        scale=alt.Scale(domain=order, range=LINE_COLOURS[:len(order)]),
                        legend=alt.Legend(orient="bottom", direction="vertical",
                                          labelLimit=400)))
    return _spec(line.properties(width=CHART_WIDTH, height=150, title=title))


# ------------------------------------------------------------------- funnel


def funnel_chart(frame: Frame, words: Words) -> dict:
    """From trafficked to identified, protected and a visa: how many reach each stage."""
    rows = [{"stage": words.outcome(name), "people": frame.summary[name]}
            for name in settings()["charts"]["funnel"]]
    return with_data(funnel_template(words.language), funnel=rows)


@cache
def funnel_template(language: str) -> dict:
    words = Words(language)
    order = [words.outcome(name) for name in settings()["charts"]["funnel"]]
    bars = alt.Chart(alt.NamedData(name="funnel")).mark_bar(color="#0072B2").encode(
        y=alt.Y("stage:N", sort=order, title=None, axis=alt.Axis(labelLimit=260)),
        x=alt.X("people:Q", title=None))
    counts = bars.mark_text(align="left", dx=3).encode(text="people:Q")
    chart = alt.layer(bars, counts).properties(width=CHART_WIDTH - 120, height=100,
                                               title=words("ui.funnel_chart"))
    return _spec(chart)
