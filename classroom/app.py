"""The classroom page: the corridor live in a browser (run with `corridor classroom`).

Laid out like Mesa's SolaraViz (an app bar, a sidebar of controls, the model's views), but
with our own pieces where Mesa's fall short here (docs/ARCHITECTURE.md, "Classroom page"):

- a model per browser session (`Page` makes its own `Classroom`), never one per server;
- our own Step / Play / Reset, which step under the session's lock and hand the page a
  `Frame`, so a drawing never reads a model mid-step (Mesa's Play races its renderer);
- the corridor at the places' real positions and the charts drawn in the browser
  (Vega-Lite), instead of server-side matplotlib at about 140 ms a frame;
- every word from `i18n/<language>.toml`, switchable while the page runs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import solara
import solara.lab
from solara.alias import rv

from classroom.charts import corridor_map, enforcement_chart, funnel_chart, gap_chart
from classroom.frames import Frame
from classroom.session import Choice, Classroom, controls, settings, shipped_scenario
from classroom.words import LANGUAGES, Words, browser_language, words_in
from model.ledger import OUTCOME_BY_NAME

#: Set by `corridor classroom --lang`; otherwise each browser's own language is used.
LANGUAGE_VARIABLE = "CORRIDOR_CLASSROOM_LANG"
#: Charts shrink with their column (side by side on a projector), keeping their shape;
#: card titles break between words, not inside them.
CSS = """
.chart svg { max-width: 100%; height: auto; }
.v-card__title { word-break: normal; }
.scoreboard td { padding: 1px 0; }
.journey { list-style: none; padding-left: 0; }
"""


def first_language() -> str:
    """`--lang` if the lecturer gave one, else the browser's preferred language we know."""
    chosen = os.environ.get(LANGUAGE_VARIABLE)
    if chosen in LANGUAGES:
        return chosen
    headers = solara.lab.headers.value or {}
    accept = headers.get("accept-language") or [""]
    return browser_language(accept[0])


def page_is_open() -> Callable[[], bool]:
    """A test of whether this session's browser tab is still connected.

    Play stops when it fails: a closed tab must not keep a thread stepping a model that
    nobody watches (the server keeps a closed tab's session for a while).
    """
    from solara.server import kernel_context

    if not kernel_context.has_current_context():
        return lambda: True  # rendered outside a server (tests): nothing to watch for
    context = kernel_context.get_current_context()
    return lambda: (not context.closed_event.is_set()
                    and kernel_context.PageStatus.CONNECTED in context.page_status.values())


class Spec:
    """A Vega-Lite spec handed from component to component unopened.

    Reacton searches every dict and list in a component's arguments for child elements;
    a spec holds a frame's thousands of rows, and searching them cost more than drawing.
    """

    __slots__ = ("value",)

    def __init__(self, value: dict):
        self.value = value


@solara.component
def VegaChart(wrapped: Spec, name: str = ""):
    """A Vega-Lite chart drawn by the browser: Solara's widget, its spec set directly."""
    chart = solara.widgets.VegaLite.element()  # no spec here: reacton would reset it

    def send() -> None:
        solara.get_widget(chart).spec = wrapped.value

    solara.use_effect(send, [wrapped])
    rv.Html(tag="div", children=[chart], class_=f"chart {name}".strip())


@solara.component
def Page():
    """The page Solara serves: the lesson with its controls in the app's sidebar."""
    solara.Style(CSS)
    Lesson()


@solara.component
def Lesson(in_sidebar: bool = True):
    """Everything the page shows, and its state. With `in_sidebar=False` the controls are
    laid out inline instead of in the app bar and sidebar (headless tests find them there)."""
    language = solara.use_reactive(first_language())
    words = words_in(language.value)
    session = solara.use_memo(Classroom, [])  # one model per browser session
    choice = solara.use_reactive(session.choice)  # what the controls show
    applied = solara.use_reactive(session.choice)  # what the corridors were built with
    frames = solara.use_reactive(solara.use_memo(session.frames, []))
    finished = solara.use_reactive(False)
    playing = solara.use_reactive(False)
    days_per_step = solara.use_reactive(settings()["preset"]["days_per_step"][0])
    still_open = solara.use_memo(page_is_open, [])

    def show(new_frames: list[Frame]) -> None:
        """Hand the page new frames. Only the views read them, so only they redraw."""
        frames.set(new_frames)
        finished.set(session.finished)

    def step() -> None:
        with session.lock:  # step and render as one, apart from Play's thread
            show(session.step(days_per_step.value))

    def reset() -> None:
        playing.set(False)
        with session.lock:
            show(session.reset(choice.value))
        applied.set(choice.value)

    def play(cancel: threading.Event) -> None:
        pause = settings()["preset"]["pause_seconds"]
        while playing.value and not cancel.is_set():
            if session.finished or not still_open():
                playing.set(False)
                return
            with session.lock:
                if not playing.value:  # paused or reset while this thread waited
                    return
                show(session.step(days_per_step.value))
            time.sleep(pause)

    solara.use_thread(play, dependencies=[playing.value], intrusive_cancel=False)

    if in_sidebar:
        with solara.AppBar():
            solara.AppBarTitle(words("ui.title"))
            LanguageSwitch(language)
        with solara.Sidebar():
            Controls(words, choice, applied.value, playing, days_per_step, step, reset,
                     finished.value)
    else:
        LanguageSwitch(language)
        Controls(words, choice, applied.value, playing, days_per_step, step, reset,
                     finished.value)
    with solara.Column(style={"padding": "8px"}):
        Views(words, frames)
        Journey(words, session, frames)
        Explainer(words)


@solara.component
def Views(words: Words, frames: solara.Reactive[list[Frame]]):
    """The day, the corridor(s), the charts and the scoreboard: what changes every step."""
    current = frames.value
    DayCounter(words, current[0])
    if len(current) == 1:
        SingleView(words, current[0])
    else:
        SideBySide(words, current)


@solara.component
def LanguageSwitch(language: solara.Reactive[str]):
    rv.Spacer()
    with rv.BtnToggle(v_model=language.value, on_v_model=language.set, mandatory=True,
                      dense=True, class_="language-switch"):
        for code in LANGUAGES:
            rv.Btn(value=code, children=[code.upper()], small=True)


@solara.component
def DayCounter(words: Words, frame: Frame):
    rv.Html(tag="h2", children=[words("ui.day", day=frame.day)], class_="day-counter")
    if frame.day >= frame.days:
        solara.Info(words("ui.finished", days=frame.days))


@solara.component
def Controls(words: Words, choice, applied: Choice, playing, days_per_step, step, reset,
             finished: bool):
    """Step, Play/Pause, Reset; the scenario, the seed and the policy switches."""
    pending = choice.value != applied
    with solara.Card(subtitle=words("ui.subtitle")):
        with solara.Row():
            solara.Button(words("ui.step"), on_click=step, color="primary",
                          disabled=playing.value or finished)
            solara.Button(words("ui.pause") if playing.value else words("ui.play"),
                          on_click=lambda: playing.set(not playing.value), color="primary",
                          disabled=finished and not playing.value)
            solara.Button(words("ui.reset"), on_click=reset,
                          color="warning" if pending else "primary")
        choices = settings()["preset"]["days_per_step"]
        rv.Select(label=words("ui.days_per_step"), items=choices, v_model=days_per_step.value,
                  on_v_model=days_per_step.set, class_="days-per-step")
        if pending:
            solara.Warning(words("ui.pending"), dense=True)
        ScenarioMenu(words("ui.scenario"), choice.value.scenario, words,
                     lambda name: choice.set(choice.value.with_scenario(name)))
        solara.InputInt(words("ui.seed"), value=choice.value.seed,
                        on_value=lambda seed: choice.set(replace_choice(choice.value,
                                                                        seed=max(0, seed or 0))))
    with solara.Card(words("ui.interventions")):
        for intervention in controls():
            InterventionControl(words, intervention, choice)
    with solara.Card(words("ui.side_by_side")):
        solara.Switch(label=words("ui.side_by_side"), value=choice.value.side_by_side,
                      on_value=lambda on: choice.set(replace_choice(choice.value,
                                                                    side_by_side=on)))
        ScenarioMenu(words("ui.compare_with"), choice.value.compare_with, words,
                     lambda name: choice.set(replace_choice(choice.value, compare_with=name)))


def replace_choice(choice: Choice, **changes) -> Choice:
    return replace(choice, **changes)


@solara.component
def ScenarioMenu(label: str, value: str, words: Words, on_value):
    items = [{"text": words.get("scenarios", name), "value": name}
             for name in settings()["preset"]["scenarios"]]
    rv.Select(label=label, items=items, v_model=value, on_v_model=on_value)


@solara.component
def InterventionControl(words: Words, intervention: str, choice):
    """One intervention's switch and its main parameter."""
    control = controls()[intervention]
    parameter = control["parameter"]
    switches = choice.value.switches

    def set_switch(key: str, value) -> None:
        choice.set(replace_choice(choice.value, switches={**switches, key: value}))

    on = switches[intervention]
    solara.Switch(label=words.get("interventions", intervention), value=on,
                  on_value=lambda value: set_switch(intervention, value),
                  classes=[f"switch-{intervention}"])
    value = switches[parameter]
    shown = f"{value:g}" if words.language == "en" else f"{value:g}".replace(".", ",")
    solara.Text(f"{words.get('parameters', parameter)}: {shown}",
                style={"font-size": "0.8em", "opacity": 1 if on else 0.5})
    slider = solara.SliderInt if isinstance(control["step"], int) else solara.SliderFloat
    slider("", value=value, min=control["min"], max=control["max"], step=control["step"],
           on_value=lambda new: set_switch(parameter, new), disabled=not on, thumb_label=False)


@solara.component
def SingleView(words: Words, frame: Frame):
    with solara.Columns([3, 2]):
        with solara.Card(words("ui.corridor"), subtitle=words("ui.map_caption")):
            VegaChart(Spec(corridor_map(frame, words)), "corridor-map")
        with solara.Column():
            VegaChart(Spec(gap_chart(frame, words)), "gap-chart")
            VegaChart(Spec(funnel_chart(frame, words)), "funnel-chart")
            VegaChart(Spec(enforcement_chart(frame, words)), "enforcement-chart")
    Scoreboard(words, [frame])


@solara.component
def SideBySide(words: Words, frames: list[Frame]):
    solara.Text(words("ui.same_seed", seed=frames[0].seed))
    with solara.Columns([1, 1]):
        for side, frame in enumerate(frames):
            with solara.Card(words.get("scenarios", frame.scenario), classes=[f"side-{side}"]):
                InterventionsOn(words, frame)
                VegaChart(Spec(corridor_map(frame, words)), "corridor-map")
                VegaChart(Spec(gap_chart(frame, words)), "gap-chart")
    Scoreboard(words, frames)


@solara.component
def InterventionsOn(words: Words, frame: Frame):
    names = [words.get("interventions", n) for n in frame.interventions]
    solara.Text(" · ".join(names) if names else "—", style={"font-size": "0.85em"})


@solara.component
def Scoreboard(words: Words, frames: list[Frame]):
    """The headline outcomes so far, labelled from the outcome catalogue; one column per
    corridor, so side by side the difference is read across a row."""
    with solara.Card(words("ui.scoreboard")):
        header = [rv.Html(tag="th", children=[""])]
        if len(frames) > 1:
            header += [rv.Html(tag="th", children=[words.get("scenarios", f.scenario)])
                       for f in frames]
        rows = [rv.Html(tag="tr", children=header)]
        for name in settings()["scoreboard"]["outcomes"]:
            cells = [rv.Html(tag="td", children=[words.outcome(name)])]
            for side, frame in enumerate(frames):
                text = format_value(frame.summary[name], OUTCOME_BY_NAME[name].unit,
                                    words.language)
                cells.append(rv.Html(tag="td", children=[text],
                                     class_=f"score score-{name} side-{side}",
                                     style_="text-align: right; padding-left: 16px"))
            rows.append(rv.Html(tag="tr", children=cells))
        rv.Html(tag="table", children=rows, class_="scoreboard")


def format_value(value, unit: str, language: str) -> str:
    """A number as a reader expects it: shares as percentages, decimals where they matter,
    and the language's digit grouping (1,234.5 in English; 1.234,5 in Indonesian and Spanish)."""
    if value is None:
        return "—"
    if unit == "share":
        text = f"{100 * value:,.1f} %"
    elif isinstance(value, float):
        text = f"{value:,.1f}"
    else:
        text = f"{value:,}"
    if language != "en":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


@solara.component
def Journey(words: Words, session: Classroom, frames: solara.Reactive[list[Frame]]):
    """One synthetic person's path through the corridor, as a short timeline (read again
    each day, so it grows while the person's story goes on)."""
    frames.value  # noqa: B018 - redraw when the day changes
    person = solara.use_reactive(None)
    nobody = solara.use_reactive(False)

    def pick(kind: str) -> None:
        found = session.pick_person(kind)
        nobody.set(found is None)
        if found is not None:
            person.set(found)

    events = session.journey(person.value) if person.value is not None else []
    places = shipped_scenario(session.choice.scenario).place_by_id
    with solara.Card(words("ui.journey"), subtitle=words("ui.journey_intro")):
        with solara.Row():
            solara.Button(words("ui.pick_trafficked"), on_click=lambda: pick("trafficked"),
                          outlined=True)
            solara.Button(words("ui.pick_identified"), on_click=lambda: pick("identified"),
                          outlined=True)
            solara.Button(words("ui.pick_anyone"), on_click=lambda: pick("anyone"),
                          outlined=True)
            solara.InputInt(words("ui.person"), value=person.value or 0,
                            on_value=person.set, style={"max-width": "160px"})
        if nobody.value:
            solara.Text(words("ui.nobody_yet"))
        elif person.value is not None and not events:
            solara.Text(words("ui.no_events"))
        items = []
        for event in events:
            place = places[event["place"]].name if event["place"] in places else ""
            items.append(rv.Html(tag="li", children=[
                rv.Html(tag="b", children=[words("ui.journey_day", day=event["day"])]),
                f" · {place} · {words.cause(event['cause'])}"]))
        rv.Html(tag="ul", children=items, class_="journey")


@solara.component
def Explainer(words: Words):
    with solara.Card(words("ui.explainer"), classes=["explainer"]):
        for paragraph in words.paragraphs:
            rv.Html(tag="p", children=[paragraph])


page = Page
