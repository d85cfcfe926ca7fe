"""Shared shocks in simulated organisations, and the incident figures of the evaluation.

Pure, no broker: the organisation and the shocks of scenario files and generated companies,
the TRUTH and TEAMS formats that carry them, the incident figures computed from a replay with
the organisation — and what the incident rules make of planted shocks, measured on a scenario
and on generated companies with seeds nobody tuned on (`pytest -s` prints the figures).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from schemas.codec import record_to_json, topic_of
from schemas.records import MirrorAlert
from streams.core.episodes import family_of
from streams.core.incidents import Incident
from streams.core.index import Moments
from streams.core.org import OrgChart, TeamInfo, read_teams_csv
from streams.core.units import TeamWindowPart, UnitWindow, roll_up_units
from streams.errors import ConfigError
from streams.settings import load_settings
from streams.tools.evaluate import (
    ShockTruth,
    Truth,
    TruthItem,
    organisation_csv,
    read_organisation,
    read_truth,
    read_truth_file,
    write_organisation,
    write_truth,
)
from streams.tools.evaluation_report import (
    EvaluationReport,
    IncidentFigures,
    build_report,
    incident_figures,
    pool_reports,
)
from streams.tools.evaluation_text import format_incidents, format_report
from streams.tools.realistic import realistic_scenario
from streams.tools.replay import ReplayResult, replay
from streams.tools.scenario import Scenario
from streams.tools.shocks import Shock, plant_shocks, spread_pick
from streams.tools.simulator import Effect, TeamPlan

SHIPPED = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
W = 1_000  # a window, in the hand-made cases
# Drawn once from the system's random source on 2026-12-05 and never changed to make a test
# pass: a generated company with its default shocks, another one, and a steady company.
UNTUNED_SEEDS = (44_752, 75_363)
STEADY_SEED = 38_087


# --- hand-made replays: the figures themselves ------------------------------------------------


def org(departments: int = 2, teams: int = 5) -> OrgChart:
    chart = OrgChart()
    for d in range(departments):
        for t in range(teams):
            team = f"d{d}-t{t}"
            chart.update(TeamInfo(team, team, ("acme", f"d{d}"), ("company", "department")), team)
    return chart


def unit_windows(chart: OrgChart, windows: int) -> list[UnitWindow]:
    customer, employee = Moments(), Moments()
    customer.add(70.0)
    employee.add(60.0)
    result = []
    for window in range(windows):
        parts = [
            TeamWindowPart(team, window * W, (window + 1) * W, customer, employee)
            for team in sorted(chart.teams)
        ]
        result += roll_up_units(chart, parts, 5, "idx-v2")
    return result


def incident(unit: str, window: int, teams: Sequence[str], family: str = "fall") -> Incident:
    level = "company" if "/" not in unit else "department"
    return Incident(
        incident_id=f"{unit}@{window}/{family}",
        unit_id=unit,
        level=level,
        family=family,
        severity="critical",
        opened_window_start=window * W,
        last_window_end=(window + 2) * W,
        teams=tuple(teams),
        episode_ids=tuple(f"ep-{team}" for team in teams),
        unit_teams=5,
    )


def page(team: str, window: int, event: str = "opened", scope: str = "team") -> MirrorAlert:
    return MirrorAlert(
        alert_id=f"{team}-{window}-{event}-{scope}",
        team_id=team,
        window_start=window * W,
        window_end=(window + 1) * W,
        kind="mirror_decline",
        severity="critical",
        detector="mirror",
        detector_version="1",
        message="",
        created_at=0,
        event=event,
        scope=scope,
    )


def shock(unit: str, window: int, teams: Sequence[str], end: int = 3) -> ShockTruth:
    level = "company" if "/" not in unit else "department"
    return ShockTruth(unit, level, "mirror_decline", window * W, (window + end) * W, tuple(teams))


D0 = ("d0-t0", "d0-t1", "d0-t2")


@pytest.mark.parametrize(
    ("incidents", "outcome", "found"),
    [
        ([incident("acme/d0", 4, D0)], "found", True),
        ([incident("acme/d0", 4, D0), incident("acme", 5, ("d0-t2", "d1-t0"))], "split", True),
        ([incident("acme/d0", 5, D0)], "late", False),
        ([incident("acme", 4, (*D0, "d1-t0"))], "wrong_unit", False),
        ([incident("acme", 4, D0[:1]), incident("acme/d0", 4, D0)], "several", False),
        ([incident("acme/d0", 4, D0, family="rise")], "missed", False),  # another family
        ([incident("acme/d0", 7, D0)], "missed", False),  # after the shock
        ([incident("acme/d1", 4, ("d1-t0", "d1-t1", "d1-t2"))], "missed", False),  # other teams
        ([], "missed", False),
    ],
)
def test_what_became_of_a_shock(incidents: list[Incident], outcome: str, found: bool) -> None:
    figures = incident_figures([shock("acme/d0", 4, D0)], incidents, [], unit_windows(org(), 8), W)
    (detection,) = figures.shocks
    assert (detection.outcome, detection.found) == (outcome, found)
    assert figures.found == int(found)


def test_team_pages_of_a_shock_are_its_teams_new_or_worse_problems_during_it() -> None:
    pages = [
        page("d0-t0", 4),  # counts
        page("d0-t0", 5, "escalated"),  # counts
        page("d0-t1", 6),  # counts: the shock runs over windows 4, 5 and 6
        page("d0-t1", 6),  # the same page again: once
        page("d0-t2", 7),  # after the shock
        page("d0-t2", 3),  # before it
        page("d0-t2", 5, "resolved"),  # the end of a problem, not a new one
        page("d0-t3", 4),  # not one of its teams
        page("", 4, "opened", scope="department"),  # an incident's own page
    ]
    figures = incident_figures([shock("acme/d0", 4, D0)], [], pages, unit_windows(org(), 8), W)
    (detection,) = figures.shocks
    assert (detection.team_pages, detection.paged_teams) == (3, 2)
    assert figures.team_pages == 6  # every team opened/escalated page of the run, once each


def test_false_incidents_are_counted_against_steady_unit_windows() -> None:
    chart = org()
    planted = shock("acme/d0", 4, D0)  # windows 4, 5, 6
    incidents = [
        incident("acme/d0", 4, D0),  # the shock's
        incident("acme/d1", 1, ("d1-t0", "d1-t1", "d1-t2")),  # false, on a steady window
        incident("acme", 5, ("d1-t0", "d1-t3", "d1-t4")),  # false, acme is shocked at 5
    ]
    figures = incident_figures([planted], incidents, [], unit_windows(chart, 8), W)
    assert figures.unit_windows == 3 * 8  # acme, acme/d0, acme/d1 over 8 windows
    # The shock's teams are under acme and acme/d0: 2 units × 3 windows are not steady.
    assert figures.steady_unit_windows == 3 * 8 - 2 * 3
    assert [i.unit_id for i in figures.false_incidents] == ["acme/d1", "acme"]
    assert figures.false_on_steady == 1
    assert figures.false_rate == pytest.approx(1 / 18)
    assert figures.incidents_opened == 3


def test_an_incident_belongs_to_the_shock_whose_teams_it_lists_most() -> None:
    # A department shock from window 2 and a company shock from window 4; the company's
    # incident took in a team of the department's shock: it is still the company's.
    department = shock("acme/d0", 2, D0, end=5)
    company = shock("acme", 4, ("d0-t3", "d1-t0", "d1-t1", "d1-t2"))
    incidents = [
        incident("acme/d0", 2, D0),
        incident("acme", 4, ("d0-t2", "d0-t3", "d1-t0", "d1-t1", "d1-t2")),
    ]
    figures = incident_figures([department, company], incidents, [], unit_windows(org(), 8), W)
    assert [d.outcome for d in figures.shocks] == ["found", "found"]
    assert [d.covered for d in figures.shocks] == [3, 4]
    assert figures.false_incidents == ()


def test_the_incident_figures_in_json_and_text() -> None:
    figures = incident_figures(
        [shock("acme/d0", 4, D0), shock("acme", 6, ("d0-t4", "d1-t0", "d1-t1"))],
        [incident("acme/d0", 4, D0), incident("acme/d1", 6, ("d1-t0", "d1-t1", "d1-t4"))],
        [page("d0-t4", 6)],
        unit_windows(org(), 10),
        W,
    )
    data = json.loads(json.dumps(figures.to_json()))
    assert data["shocks_planted"] == 2 and data["shocks_found"] == 1
    assert data["outcomes"] == {
        "found": 1,
        "split": 0,
        "late": 0,
        "wrong_unit": 1,
        "several": 0,
        "missed": 0,
    }
    company = data["shocks"][1]
    assert company["unit_id"] == "acme" and company["outcome"] == "wrong_unit"
    assert [i["unit_id"] for i in company["incidents"]] == ["acme/d1"]
    assert company["incidents"][0]["windows_after_onset"] == 0
    assert (company["team_pages"], company["covered_teams"]) == (1, 0)
    assert data["false_incidents"] == [] and data["unit_windows"] == 30
    text = format_incidents(figures)
    lines = text.splitlines()
    assert lines[0].startswith("incidents (shared shocks")
    assert "acme/d0  department  mirror_decline" in lines[3]
    assert "wrong unit" in lines[4] and "acme/d1 +0" in lines[4]
    assert "found: 1 of 2 shocks" in text
    assert "team pages from the shocks' teams during their shocks: 1 (1 teams)" in text
    assert "false incidents: 0 on" in text


def test_the_report_carries_the_incidents_and_pools_them() -> None:
    figures = incident_figures(
        [shock("acme/d0", 4, D0)], [incident("acme/d0", 4, D0)], [], unit_windows(org(), 8), W
    )
    report = build_report([], [], [], W, incidents=figures)
    assert report.to_json()["incidents"]["shocks_found"] == 1
    assert "incidents (shared shocks" in format_report(report)
    plain = build_report([], [], [], W)
    assert plain.to_json()["incidents"] is None
    assert "incidents (shared shocks" not in format_report(plain)
    pooled = pool_reports([report, report, plain])
    assert pooled.incidents is not None
    assert (len(pooled.incidents.shocks), pooled.incidents.found) == (2, 2)
    assert pooled.incidents.unit_windows == 2 * figures.unit_windows
    assert pool_reports([plain]).incidents is None


# --- the formats: TRUTH with shocks, TEAMS ---------------------------------------------------


def test_truth_with_shocks_round_trips(tmp_path: Path) -> None:
    items = [TruthItem("d0-t0", "mirror_decline", 4000, 7000, effect_points=1.0)]
    shocks = [
        ShockTruth("acme/d0", "department", "mirror_decline", 4000, 7000, D0, effect_points=1.0),
        ShockTruth("acme", "company", "outer_warning", 9000, 12000, ("d0-t4", "d1-t0")),
    ]
    path = tmp_path / "truth.json"
    write_truth(path, items, shocks)
    assert read_truth_file(path) == Truth(tuple(items), tuple(shocks))
    assert read_truth(path) == items  # the team items alone, as before
    data = json.loads(path.read_text())
    assert data[1] == {
        "unit_id": "acme/d0",
        "level": "department",
        "kind": "mirror_decline",
        "start": 4000,
        "end": 7000,
        "teams": list(D0),
        "effect_points": 1.0,
    }
    assert "effect_points" not in data[2]
    assert shocks[1].family == family_of("outer_warning") == "fall"
    write_truth(path, items)
    assert read_truth_file(path).shocks == ()  # no shock: written exactly as before


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"unit_id": "acme", "level": "company", "kind": "k", "start": 0, "end": 1}, "teams"),
        (
            {"unit_id": "a", "team_id": "t", "level": "l", "kind": "k", "start": 0, "end": 1},
            "not both",
        ),
        (
            {"unit_id": "a", "level": "l", "kind": "k", "start": 0, "end": 1, "teams": []},
            "non-empty list",
        ),
        (
            {"unit_id": "a", "level": "l", "kind": "k", "start": 0, "end": 1, "teams": ["x", "x"]},
            "twice",
        ),
        (
            {"unit_id": "a", "level": "l", "kind": "k", "start": 2, "end": 1, "teams": ["x"]},
            "must be after start",
        ),
        (
            {"unit_id": "", "level": "l", "kind": "k", "start": 0, "end": 1, "teams": ["x"]},
            "unit_id must be a non-empty string",
        ),
    ],
)
def test_a_bad_shock_in_a_truth_file_is_named(
    tmp_path: Path, item: dict[str, Any], reason: str
) -> None:
    path = tmp_path / "truth.json"
    path.write_text(json.dumps([item]), encoding="utf-8")
    with pytest.raises(ConfigError, match=reason) as caught:
        read_truth_file(path)
    assert str(caught.value).startswith(f"{path}: item 0")


def test_the_organisation_round_trips_through_the_teams_csv(tmp_path: Path) -> None:
    scenario = realistic_scenario(seed=11)
    path = tmp_path / "teams.csv"
    assert write_organisation(path, scenario.organisation) == len(scenario.teams)
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "team_id,display_name,company,site,department"
    teams, problems = read_teams_csv(text)  # what `miroir teams load` reads
    assert problems == [] and tuple(teams) == scenario.organisation
    assert read_organisation(path).teams == scenario.chart().teams


def test_a_shallower_team_leaves_its_last_levels_empty(tmp_path: Path) -> None:
    infos = [
        TeamInfo("a", "Team, A", ("acme", "lyon", "support"), ("company", "site", "department")),
        TeamInfo("hq", "HQ", ("acme",), ("company",)),
    ]
    text = organisation_csv(infos)
    assert text.splitlines() == [
        "team_id,display_name,company,site,department",
        'a,"Team, A",acme,lyon,support',
        "hq,HQ,acme,,",
    ]
    assert read_teams_csv(text) == (infos, [])
    with pytest.raises(ValueError, match="do not follow"):
        organisation_csv([*infos, TeamInfo("b", "b", ("acme", "x"), ("company", "region"))])


def test_a_bad_teams_file_is_a_config_error_by_line(tmp_path: Path) -> None:
    path = tmp_path / "teams.csv"
    path.write_text("team_id,display_name,company\na,A,acme\na,A,acme\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 3: team 'a' listed twice"):
        read_organisation(path)
    with pytest.raises(ConfigError, match="cannot read the organisation file"):
        read_organisation(tmp_path / "missing.csv")


# --- shocks in scenario files ------------------------------------------------------------------


def company_file(**shock: object) -> dict[str, Any]:
    return {
        "windows": 12,
        "seed": 5,
        "start": 0,
        "levels": ["company", "site", "department"],
        "teams": [
            {"prefix": "ly-sup-", "count": 6, "unit": "acme/lyon/support"},
            {"prefix": "ly-sal-", "count": 6, "unit": "acme/lyon/sales"},
            {"prefix": "li-sup-", "count": 6, "unit": "acme/lille/support"},
            {"prefix": "free-", "count": 2},
        ],
        "shocks": [{"unit": "acme/lyon/support", "kind": "mirror_decline", "start": 6, **shock}],
    }


def test_a_scenario_file_carries_its_organisation_and_shocks() -> None:
    scenario = Scenario.from_mapping(company_file(end=9, magnitude=0.2, teams=4))
    assert len(scenario.organisation) == 18  # the two free- teams are unassigned
    chart = scenario.chart()
    assert chart.place("ly-sup-01").path == ("acme", "lyon", "support")
    assert chart.place("free-01").path == ("unassigned",)
    (planted,) = scenario.shocks
    assert (planted.unit_id, planted.level, planted.start_window) == (
        "acme/lyon/support",
        "department",
        6,
    )
    assert len(planted.teams) == 4 and all(t.startswith("ly-sup-") for t in planted.teams)
    plans = {plan.team_id: plan for plan in scenario.teams}
    for team in plans:
        expected = (Effect("mirror_decline", 6, 9, 0.2),) if team in planted.teams else ()
        assert plans[team].planned_effects == expected
    (item,) = scenario.shock_truth(1000)
    assert (item.start, item.end, item.teams) == (6000, 9000, planted.teams)
    assert item.effect_points == pytest.approx(0.8)
    assert len(scenario.truth(1000)) == 4  # each team's own item
    # The same file draws the same teams; another seed other ones (most likely).
    assert Scenario.from_mapping(company_file(end=9, teams=4)).shocks[0].teams == planted.teams


def test_a_company_shock_by_share_is_spread_over_the_departments() -> None:
    data = company_file(teams=["ly-sup-01", "ly-sup-02", "ly-sup-03"], end=8)
    data["shocks"].append({"unit": "acme", "kind": "outer_warning", "start": 9, "share": 0.34})
    department, company = Scenario.from_mapping(data).shocks
    assert department.teams == ("ly-sup-01", "ly-sup-02", "ly-sup-03")
    assert company.level == "company" and len(company.teams) == 6  # a third of 18
    assert sorted(team[:6] for team in company.teams) == ["li-sup", "li-sup"] + [
        "ly-sal",
        "ly-sal",
        "ly-sup",
        "ly-sup",
    ]
    # Within two windows of the department's shock: its teams are not hit again.
    assert set(company.teams).isdisjoint(department.teams)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"levels": None}, "teams[0].unit: needs the file's levels"),
        ({"levels": "company"}, "levels: must be a list of 1 to 8 level names"),
        ({"levels": ["company", "company"]}, "levels: a level is named twice"),
        ({"levels": ["company"]}, "teams[0].unit: 'acme/lyon/support' is 3 units deep"),
    ],
)
def test_organisation_mistakes_are_named(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    data = {**company_file(teams=3), **change}
    if data["levels"] is None:
        del data["levels"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Scenario.load(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("shock", "message"),
    [
        ({}, "shocks\\[0\\]: give teams .* or share"),
        ({"teams": 3, "share": 0.5}, "give teams .* or share"),
        ({"teams": 7}, "shocks\\[0\\].teams: acme/lyon/support has 6 teams, 7 asked"),
        ({"teams": ["ly-sal-01"]}, "must list distinct teams of acme/lyon/support"),
        ({"teams": 2, "ramp_windows": 2}, "unknown field ramp_windows"),
        ({"teams": 2, "unit": "acme/paris"}, "'acme/paris' is not a unit"),
        ({"teams": 2, "kind": "boom"}, "shocks\\[0\\].kind: 'boom' is not one of"),
        ({"teams": 2, "start": 20}, "past the run's last window"),
        ({"share": 0}, "share: must be in \\(0, 1\\]"),
    ],
)
def test_shock_mistakes_are_named(tmp_path: Path, shock: dict[str, object], message: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(company_file(**shock)), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        Scenario.load(path)


def test_a_shock_on_a_team_with_its_own_effect_at_that_time_is_refused(tmp_path: Path) -> None:
    data = company_file(teams=["ly-sup-01", "ly-sup-02", "ly-sup-03"])
    data["teams"][0] = {
        "prefix": "ly-sup-",
        "count": 6,
        "unit": "acme/lyon/support",
        "effects": [{"kind": "inner_warning", "start": 5, "end": 7}],
    }
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="shocks: the mirror_decline shock on acme/lyon/support"):
        Scenario.load(path)
    with pytest.raises(ConfigError, match="give the team groups a unit first"):
        Scenario.from_mapping({"windows": 4, "teams": [{"id": "a"}], "shocks": [{"unit": "x"}]})


def test_a_shock_refuses_what_makes_no_sense() -> None:
    with pytest.raises(ValueError, match="hits no team"):
        Shock("acme", "company", "mirror_decline", 3, ())
    with pytest.raises(ValueError, match="lists a team twice"):
        Shock("acme", "company", "mirror_decline", 3, ("a", "a"))
    with pytest.raises(ValueError, match="effect kind"):
        Shock("acme", "company", "outage", 3, ("a",))
    with pytest.raises(ValueError, match="not a team"):
        plant_shocks([TeamPlan("a")], [Shock("acme", "company", "mirror_decline", 3, ("b",))])
    organisation = [
        TeamInfo(f"t{i}", "t", ("acme", "d"), ("company", "department")) for i in range(3)
    ]
    with pytest.raises(ValueError, match="has 3 teams to hit, 4 asked"):
        spread_pick(organisation, "acme", 4, random.Random(1))


def test_the_shipped_shock_scenario_loads() -> None:
    scenario = Scenario.load(SHIPPED / "shared-shocks.yaml")
    assert len(scenario.teams) == 36 and len(scenario.organisation) == 36
    assert [(s.unit_id, s.start_window, len(s.teams)) for s in scenario.shocks] == [
        ("acme/lyon/support", 10, 4),
        ("acme", 16, 12),
    ]
    company = scenario.shocks[1]
    departments = {
        "/".join(info.path) for info in scenario.organisation if info.team_id in company.teams
    }
    assert len(departments) == 6  # two teams in each department


# --- what the incident rules make of planted shocks ---------------------------------------------


def run(scenario: Scenario) -> tuple[ReplayResult, EvaluationReport]:
    settings = load_settings()
    window_ms = scenario.window_ms(settings.window_ms)
    settings = settings.model_copy(
        update={"window_seconds": window_ms / 1000, "allowed_lateness_seconds": 3600}
    )
    events = ((topic_of(r), record_to_json(r)) for r in scenario.events(window_ms))
    result = replay(events, settings, org=scenario.chart())
    figures = incident_figures(
        scenario.shock_truth(window_ms),
        result.incidents.values(),
        result.pages,
        result.unit_windows,
        window_ms,
    )
    report = build_report(
        result.alerts, scenario.truth(window_ms), result.windows, window_ms, incidents=figures
    )
    return result, report


def covered_teams_never_page(result: ReplayResult) -> None:
    """No team an incident lists pages a new problem of the incident's family while it is
    open: the incident is its page."""
    for found in result.incidents.values():
        for record in result.pages:
            if (
                record.scope == "team"
                and record.event in ("opened", "escalated")
                and record.team_id in found.teams
                and family_of(record.kind) == found.family
                and found.opened_window_start <= record.window_start < found.last_window_end
            ):
                episode = result.episodes[record.episode_id or ""]
                assert episode.episode_id not in found.episode_ids, (found.unit_id, record)


@pytest.fixture(scope="module")
def shipped() -> tuple[Scenario, ReplayResult, IncidentFigures]:
    scenario = Scenario.load(SHIPPED / "shared-shocks.yaml")
    result, report = run(scenario)
    assert report.incidents is not None
    print(format_incidents(report.incidents))
    return scenario, result, report.incidents


def test_a_department_shock_is_one_incident_at_the_department_in_its_first_window(
    shipped: tuple[Scenario, ReplayResult, IncidentFigures],
) -> None:
    _, result, figures = shipped
    department = figures.shocks[0]
    assert department.shock.unit_id == "acme/lyon/support"
    assert department.outcome == "found"
    (found,) = department.incidents
    assert found.opened_window_start == department.shock.start
    assert department.covered == len(department.shock.teams)
    assert department.team_pages == 0  # no team page for the teams it covers
    covered_teams_never_page(result)
    assert figures.false_incidents == ()


@pytest.mark.xfail(
    strict=True,
    reason="measured: the outage hits 12 of the 36 teams from window 16; 10 open an episode "
    "in that window (27.8 %, under MIROIR_INCIDENT_TEAM_SHARE 0.3), one a window later, and "
    "the company's pooled customer fall (-7.2 points) has z = -2.9 against z_crit 3.5 (its "
    "between-window spread includes the department's shock), so no company incident: the "
    "incident opens at the site acme/lille instead, and the 5 hit teams of acme/lyon page "
    "their falls on their own (docs/evaluation.md, 'Incidents')",
)
def test_a_company_shock_is_one_incident_at_the_company_in_its_first_window(
    shipped: tuple[Scenario, ReplayResult, IncidentFigures],
) -> None:
    _, _, figures = shipped
    company = figures.shocks[1]
    assert company.shock.unit_id == "acme"
    assert company.outcome == "found", [(i.unit_id, i.teams) for i in company.incidents]
    assert company.team_pages == 0


def test_a_steady_company_raises_no_incident() -> None:
    scenario = realistic_scenario(
        STEADY_SEED,
        teams=120,
        windows=40,
        effect_share=0.0,
        department_shocks=0,
        company_shocks=0,
    )
    result, report = run(scenario)
    units = {unit for info in scenario.organisation for unit in info.units()}
    assert len(result.unit_windows) == len(units) * scenario.windows >= 1_000
    assert report.incidents is not None
    assert report.incidents.steady_unit_windows == len(result.unit_windows)
    print(format_incidents(report.incidents))
    assert result.incidents == {}


def test_generated_companies_with_shocks() -> None:
    """Two generated companies with their default shocks (two department shocks and one
    company shock each). Asserted: no false incident, and no covered team paged; the shocks
    found are printed and in docs/evaluation.md — the rules find a shock when three teams and
    30 % of its unit open in its first window, which small teams and small shocks often miss."""
    reports = []
    for seed in UNTUNED_SEEDS:
        scenario = realistic_scenario(seed)
        result, report = run(scenario)
        covered_teams_never_page(result)
        reports.append(report)
    pooled = pool_reports(reports)
    figures = pooled.incidents
    assert figures is not None
    print(format_incidents(figures))
    assert len(figures.shocks) == 6
    assert figures.unit_windows >= 900
    assert figures.false_incidents == ()
