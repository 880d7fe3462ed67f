"""The classroom page without a browser: its model class, frames, words, server options, and
the page rendered headless with Solara (as Mesa's own visualisation tests do)."""

from __future__ import annotations

import ast
import re
import socket
from pathlib import Path

import ipyvuetify as v
import pytest
import solara

from classroom import server
from classroom.frames import MAP_HEIGHT, MAP_WIDTH, _overlap
from classroom.session import (
    Choice,
    Classroom,
    ClassroomCorridor,
    controls,
    settings,
    shipped_scenario,
)
from classroom.words import LANGUAGES, Words, browser_language, table, template_for
from model.errors import UserError
from model.ledger import OUTCOME_BY_NAME, label
from model.states import State
from tests.conftest import ROOT, run_cli

#: One module fixture serves these tests: `--dist loadgroup` keeps them on one worker.
pytestmark = pytest.mark.xdist_group("test_classroom")

# ------------------------------------------------------------------ boundaries


def imported_packages(folder: Path) -> set[str]:
    """Top-level packages imported anywhere in a folder's Python files."""
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_neither_the_model_nor_the_classroom_imports_the_analysis():
    assert "analysis" not in imported_packages(ROOT / "model")
    assert "analysis" not in imported_packages(ROOT / "classroom")
    assert "classroom" not in imported_packages(ROOT / "model")


# ------------------------------------------------------------- the model class


def test_the_classroom_preset_is_a_shipped_scenario_at_classroom_size():
    preset = shipped_scenario("ffp_2020")
    assert preset.arrivals.daily_rate == settings()["preset"]["changes"]["arrivals.daily_rate"]
    assert preset.humanitarian_visa.enabled and not preset.border_tightening.enabled


def test_keyword_switches_build_the_scenario_with_changes():
    model = ClassroomCorridor("baseline_2018", seed=3, border_tightening=True,
                              check_multiplier=3.5, gender_responsive_screening=True)
    assert model.params.border_tightening.enabled
    assert model.params.border_tightening.check_multiplier == 3.5
    assert model.params.gender_responsive_screening.enabled
    assert not model.params.humanitarian_visa.enabled
    assert model.policy.screening.gain_female > 0
    assert model.seed == 3


def test_an_unknown_switch_or_a_value_out_of_range_is_a_user_error():
    with pytest.raises(UserError, match="unknown classroom switch"):
        ClassroomCorridor("baseline_2018", border_tightnening=True)
    with pytest.raises(UserError, match="coverage"):
        ClassroomCorridor("baseline_2018", coverage=1.5)
    with pytest.raises(UserError, match="unknown classroom scenario"):
        ClassroomCorridor("baseline_2019")


def test_every_control_names_a_parameter_and_a_range_the_schema_accepts():
    for intervention, control in controls().items():
        for value in (control["min"], control["max"]):
            model = ClassroomCorridor("baseline_2018", **{intervention: True,
                                                          control["parameter"]: value})
            assert getattr(getattr(model.params, intervention), control["parameter"]) == value


def test_choosing_a_scenario_sets_the_switches_as_it_sets_them():
    choice = Choice.default().with_scenario("ffp_2020")
    assert choice.switches["humanitarian_visa"] and not choice.switches["border_tightening"]
    assert choice.switches["coverage"] == shipped_scenario("ffp_2020").cross_sector_training.coverage


# ------------------------------------------------------------------- a session


@pytest.fixture(scope="module")
def side_by_side_after_60_days():
    classroom = Classroom(Choice(
        scenario="baseline_2018", seed=2, switches=Choice.default().switches,
        side_by_side=True, compare_with="ffp_full"))
    classroom.step(60)
    return classroom


def test_side_by_side_corridors_have_the_same_people_and_different_outcomes(
        side_by_side_after_60_days):
    left, right = side_by_side_after_60_days.frames()
    assert left.day == right.day == 60
    assert left.summary["arrivals"] == right.summary["arrivals"]  # the same people arrived
    assert left.summary["tvrh_issued"] == 0 < right.summary["tvrh_issued"]
    assert left.scenario == "baseline_2018" and right.scenario == "ffp_full"


def test_a_frame_draws_every_person_in_the_corridor_inside_the_map(side_by_side_after_60_days):
    model = side_by_side_after_60_days.models[0]
    frame = side_by_side_after_60_days.frames()[0]
    assert len(frame.people) == model.ledger.present
    assert sum(p.people for p in frame.places) + model.ledger.count(State.IN_TRANSIT) \
        == model.ledger.present
    for x, y, state in frame.people:
        assert 0 <= x <= MAP_WIDTH and 0 <= y <= MAP_HEIGHT
        assert state in settings()["colours"]


def test_the_places_names_do_not_overlap(side_by_side_after_60_days):
    frame = side_by_side_after_60_days.frames()[0]
    boxes = []
    for place in frame.places:
        width = (len(place.name) + 6) * 5.6
        left = place.label_x if place.label_align == "left" else place.label_x - width
        boxes.append((left, place.label_y - 6, width, 12))
    for i, a in enumerate(boxes):
        assert not any(_overlap(a, b) for b in boxes[i + 1:]), frame.places[i].name


def test_the_session_stops_at_the_scenarios_last_day():
    classroom = Classroom()
    classroom.models[0].params = classroom.models[0].params.model_copy(update={"days": 5})
    classroom.step(30)
    assert classroom.models[0].day == 5 and classroom.finished


def test_a_picked_persons_journey_is_their_events_in_order(side_by_side_after_60_days):
    person = side_by_side_after_60_days.pick_person("trafficked")
    journey = side_by_side_after_60_days.journey(person)
    assert journey[0]["cause"] == "arrived at the crossing"
    assert State.RECRUITED in [event["to_state"] for event in journey]
    assert [e["day"] for e in journey] == sorted(e["day"] for e in journey)


# ------------------------------------------------------------------------ words


def keys(node: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in node.items():
        if isinstance(value, dict):
            out |= keys(value, f"{prefix}{key}.")
        else:
            out.add(f"{prefix}{key}")
    return out


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_language_has_every_english_text(language):
    english, other = table("en"), table(language)
    assert keys(english) <= keys(other), sorted(keys(english) - keys(other))
    assert len(other["explainer"]["paragraphs"]) == len(english["explainer"]["paragraphs"])
    for template, text in other["causes"].items():  # the same placeholders
        assert placeholders(text) == placeholders(english["causes"][template]), template


def placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"\{(\w+)\}", text))


def shown_outcomes() -> set[str]:
    charts = settings()["charts"]
    return {*settings()["scoreboard"]["outcomes"], *charts["gap"], *charts["funnel"],
            *charts["enforcement"]}


def test_outcome_labels_come_from_the_catalogue_and_are_translated():
    for name in shown_outcomes():
        assert Words("en").outcome(name) == label(name)
        for language in ("id", "es"):
            assert name in table(language)["outcomes"], (language, name)
            assert OUTCOME_BY_NAME[name].unit in table(language)["units"], (language, name)
            assert Words(language).outcome(name) != label(name)


def test_every_cause_the_model_writes_has_a_template():
    model = ClassroomCorridor("ffp_under_security", seed=4, special_prosecutor=True)
    for _ in range(90):
        model.step()
    causes = {event[5] for event in model.ledger.events}
    assert len(causes) > 15
    assert [cause for cause in causes if template_for(cause) is None] == []
    spanish = Words("es")
    assert spanish.cause("papers checked at Tonala").endswith("en Tonala")
    assert "INM" in spanish.cause("identified by INM")


def test_the_browsers_language_is_used_when_we_have_it():
    assert browser_language("es-MX,es;q=0.9,en;q=0.8") == "es"
    assert browser_language("id-ID,id") == "id"
    assert browser_language("fr-FR,de") == "en"
    assert browser_language(None) == "en"


# ------------------------------------------------------------- server options


def test_a_bad_port_is_one_line_and_exit_status_2():
    done = run_cli("classroom", "--port", "eighty")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --port must be a whole number from 1 to 65535, got 'eighty'"]
    with pytest.raises(UserError, match="from 1 to 65535, got 70000"):
        server.parse_port("70000")


def test_a_port_in_use_is_one_line_and_exit_status_2():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_cli("classroom", "--port", str(port))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        (f"error: port {port} on 127.0.0.1 is in use (another classroom page?); "
         "choose another with --port")]


def test_the_server_binds_loopback_unless_told_and_warns_when_told(monkeypatch, capsys):
    started = []
    monkeypatch.setattr(server.os, "execve", lambda exe, cmd, env: started.append((cmd, env)))
    monkeypatch.setattr(server, "fetch_missing_assets", lambda cache: None)
    server.serve(port=server.free_port(), language="id")
    command, env = started[-1]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert env["CORRIDOR_CLASSROOM_LANG"] == "id"
    assert env["SOLARA_ASSETS_PROXY_CACHE_DIR"]
    assert "warning" not in capsys.readouterr().err
    server.serve(host="0.0.0.0", port=server.free_port())
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err
    assert "CORRIDOR_CLASSROOM_LANG" not in started[-1][1]


# --------------------------------------------------------- the page, headless


@pytest.fixture()
def page():
    from classroom.app import Lesson

    _, rendered = solara.render(Lesson(in_sidebar=False), handle_error=False)
    yield rendered
    rendered.close()


def button(page, text: str):
    return page.find(v.Btn, children=[text]).widget


def day_shown(page) -> str:
    return page.find(v.Html, class_="day-counter").widget.children[0]


def score(page, name: str, side: int = 0) -> str:
    return page.find(v.Html, class_=f"score score-{name} side-{side}").widget.children[0]


def test_step_advances_the_day_and_the_scoreboard(page):
    assert day_shown(page) == "Day 0"
    page.find(v.Select, class_="days-per-step").widget.v_model = 7
    button(page, "Step").click()
    assert day_shown(page) == "Day 7"
    assert int(score(page, "arrivals").replace(",", "")) > 0


def test_a_switch_applies_on_reset_and_reset_starts_from_day_0(page):
    button(page, "Step").click()
    screening = page.find(v.Switch, label="Gender-responsive screening").widget
    screening.v_model = True
    assert page.find(v.Alert).widget  # "press Reset" notice
    button(page, "Reset").click()
    assert day_shown(page) == "Day 0"
    assert page.find(v.Alert).widgets == []


def test_the_language_switch_changes_the_labels(page):
    page.find(v.BtnToggle, class_="language-switch").widget.v_model = "es"
    assert button(page, "Paso")
    assert day_shown(page) == "Día 0"
    assert page.find(v.Html, children=["víctimas identificadas (personas)"]).widget


def test_side_by_side_adds_a_second_corridor_on_reset(page):
    page.find(v.Switch, label="Side by side").widget.v_model = True
    button(page, "Reset").click()
    assert score(page, "arrivals", side=1) == score(page, "arrivals", side=0)
