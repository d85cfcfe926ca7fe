"""Incidents: a shared shock is one incident at the right unit, and its teams are not paged."""

from __future__ import annotations

import random

from streams.core.incidents import IncidentConfig, IncidentTracker, make_incident_id
from streams.core.index import Moments
from streams.core.org import OrgChart, TeamInfo
from streams.core.units import EpisodeMark, TeamWindowPart, roll_up_units

W = 1000
DEPTS = 4
TEAMS_PER_DEPT = 10


def org() -> OrgChart:
    chart = OrgChart()
    for d in range(DEPTS):
        for t in range(TEAMS_PER_DEPT):
            team = f"d{d}-t{t}"
            chart.update(TeamInfo(team, team, ("acme", f"d{d}"), ("company", "department")), team)
    return chart


def parts(window: int, marks: dict[str, list[EpisodeMark]]) -> list[TeamWindowPart]:
    customer, employee = Moments(), Moments()
    customer.add(70.0)
    employee.add(60.0)
    return [
        TeamWindowPart(
            team, window * W, (window + 1) * W, customer, employee, tuple(marks.get(team, ()))
        )
        for team in org().teams
    ]


def opened(team: str, window: int) -> EpisodeMark:
    return EpisodeMark(f"ep-{team}-{window}", "fall", "opened", "critical")


def run(tracker: IncidentTracker, window: int, marks: dict[str, list[EpisodeMark]]):
    chart = org()
    window_parts = parts(window, marks)
    units = roll_up_units(chart, window_parts, 5, "idx-v2")
    events = tracker.observe(chart, window_parts, units)
    pages = [m for p in window_parts for m in tracker.page_worthy(p)]
    return events, pages


def test_a_department_shock_is_one_incident_at_that_department_and_pages_no_team() -> None:
    tracker = IncidentTracker()
    hit = [f"d2-t{t}" for t in range(4)]  # 40 % of d2, 10 % of the company
    events, pages = run(tracker, 5, {team: [opened(team, 5)] for team in hit})
    assert [(e.type, e.incident.unit_id, e.incident.level) for e in events] == [
        ("opened", "acme/d2", "department")
    ]
    incident = events[0].incident
    assert incident.incident_id == make_incident_id("acme/d2", "fall", 5 * W)
    assert incident.teams == tuple(sorted(hit)) and incident.unit_teams == TEAMS_PER_DEPT
    assert pages == []  # the teams' episodes are covered by the incident


def test_a_third_of_the_company_is_one_incident_at_the_company_not_one_per_department() -> None:
    tracker = IncidentTracker()
    rng = random.Random(3)
    hit = rng.sample(sorted(org().teams), 14)  # a third of the company, spread everywhere
    events, pages = run(tracker, 9, {team: [opened(team, 9)] for team in hit})
    assert [(e.type, e.incident.unit_id) for e in events] == [("opened", "acme")]
    assert len(events[0].incident.teams) == 14 and pages == []


def test_a_lone_team_still_pages_and_an_incident_resolves_with_its_episodes() -> None:
    tracker = IncidentTracker()
    _, pages = run(tracker, 1, {"d0-t0": [opened("d0-t0", 1)]})
    assert [m.episode_id for m in pages] == ["ep-d0-t0-1"]
    hit = [f"d1-t{t}" for t in range(5)]
    run(tracker, 2, {team: [opened(team, 2)] for team in hit})
    # a sixth team of d1 joins later: updated, not paged; then every episode resolves
    events, pages = run(tracker, 3, {"d1-t9": [opened("d1-t9", 3)]})
    assert [e.type for e in events] == ["updated"] and pages == []
    done = {
        team: [EpisodeMark(f"ep-{team}-{w}", "fall", "resolved", "critical")]
        for team, w in [*((t, 2) for t in hit), ("d1-t9", 3)]
    }
    events, _ = run(tracker, 6, done)
    assert [(e.type, e.incident.unit_id) for e in events] == [("resolved", "acme/d1")]
    assert tracker.open == {}


def test_steady_units_raise_no_incident_over_a_thousand_unit_windows() -> None:
    """Independent false episodes at the measured false-alert rate (0.32 % per team-window,
    docs/evaluation.md) do not look like a shared shock: a department qualifies with 3 of its
    10 teams at once, P ≈ C(10, 3)·0.0032³ ≈ 3.9e-6 per department-window, 0.004 expected over
    this run. The rule is a count, not a miracle: at 1 % it is 1.2e-4 per department-window
    (one in about 8,000), and with seed 11 this very loop meets one at window 74."""
    tracker = IncidentTracker(IncidentConfig())
    rng = random.Random(0)
    unit_windows = incidents = 0
    for window in range(250):  # 250 windows × 5 units (4 departments and the company)
        marks = {team: [opened(team, window)] for team in org().teams if rng.random() < 0.0032}
        events, _ = run(tracker, window, marks)
        incidents += sum(e.type == "opened" for e in events)
        unit_windows += DEPTS + 1
    assert unit_windows >= 1000 and incidents == 0


def test_a_company_shock_after_a_department_incident_is_its_own_incident() -> None:
    tracker = IncidentTracker()
    run(tracker, 2, {f"d1-t{t}": [opened(f"d1-t{t}", 2)] for t in range(4)})
    rng = random.Random(5)
    others = [t for t in sorted(org().teams) if not t.startswith("d1-t") or t >= "d1-t4"]
    hit = rng.sample(others, 14)
    events, pages = run(tracker, 7, {team: [opened(team, 7)] for team in hit})
    assert [(e.type, e.incident.unit_id) for e in events] == [("opened", "acme")]
    assert sorted(events[0].incident.teams) == sorted(hit) and pages == []
    assert tracker.open[("acme/d1", "fall")].teams == tuple(f"d1-t{t}" for t in range(4))


def test_an_incident_resolves_when_its_episodes_are_resolved_by_hand_and_joins_raise_it() -> None:
    tracker = IncidentTracker()
    hit = [f"d3-t{t}" for t in range(3)]
    run(
        tracker, 2, {team: [EpisodeMark(f"ep-{team}", "fall", "opened", "warning")] for team in hit}
    )
    assert tracker.open[("acme/d3", "fall")].severity == "warning"
    run(tracker, 3, {"d3-t5": [EpisodeMark("ep-d3-t5", "fall", "opened", "critical")]})
    assert tracker.open[("acme/d3", "fall")].severity == "critical"  # the joiner raised it
    chart = org()
    window_parts = parts(4, {})
    units = roll_up_units(chart, window_parts, 5, "idx-v2")
    by_hand = [f"ep-{team}" for team in [*hit, "d3-t5"]]
    events = tracker.observe(chart, window_parts, units, resolved_by_hand=by_hand)
    assert [(e.type, e.incident.unit_id) for e in events] == [("resolved", "acme/d3")]
