"""Scenarios and the generalised simulator: validation, truth, determinism, disorder, lateness."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from schemas.records import CustomerFeedback, EmployeePulse, Signal
from streams.core.windows import window_start_for
from streams.errors import ConfigError
from streams.tools.evaluate import TruthItem
from streams.tools.scenario import DEFAULT_SCENARIO_START_MS, Scenario
from streams.tools.simulator import Effect, Simulator, TeamPlan

DAY = 86_400_000
HOUR = 3_600_000
SHIPPED = Path(__file__).resolve().parents[2] / "examples" / "scenarios"

BASIC_YAML = """
name: basic
description: two steady teams and one planted team
seed: 11
window_seconds: 86400
windows: 12
start: 2026-01-05
teams:
  - prefix: steady-
    count: 2
    employees: 8
    customers: 10
  - id: planted
    employees: 8
    customers: 10
    effects:
      - {kind: inner_warning, start: 4, end: 6, magnitude: 0.25}
      - {kind: mirror_decline, start: 6, end: 8, magnitude: 0.3, dimension: trust}
      - {kind: outer_warning, start: 10}
"""


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def basic(tmp_path: Path) -> Scenario:
    return Scenario.load(write(tmp_path, BASIC_YAML))


def small(**overrides: object) -> Scenario:
    """A small in-memory scenario (no file) for stream properties."""
    data: dict[str, object] = {
        "seed": 5,
        "window_seconds": 86400,
        "windows": 6,
        "teams": [{"prefix": "t", "count": 3, "employees": 10, "customers": 15}],
    }
    data.update(overrides)
    return Scenario.from_mapping(data)


# --- loading and validation --------------------------------------------------------------------


def test_a_yaml_scenario_loads(tmp_path: Path) -> None:
    scenario = basic(tmp_path)
    assert scenario.name == "basic" and scenario.seed == 11 and scenario.windows == 12
    assert [plan.team_id for plan in scenario.teams] == ["steady-01", "steady-02", "planted"]
    assert scenario.start_ms == DEFAULT_SCENARIO_START_MS
    assert scenario.window_ms() == DAY and scenario.team_windows == 36
    planted = scenario.teams[2]
    assert planted.planned_effects[1] == Effect("mirror_decline", 6, 8, 0.3, "trust")
    assert planted.planned_effects[2].end_window is None


def test_a_json_scenario_loads_the_same(tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(BASIC_YAML)
    data["start"] = "2026-01-05T00:00:00Z"
    from_json = Scenario.load(write(tmp_path, json.dumps(data), "basic.json"))
    from_yaml = basic(tmp_path)
    assert from_json.teams == from_yaml.teams
    assert from_json.truth() == from_yaml.truth()


def test_truth_covers_each_effects_windows(tmp_path: Path) -> None:
    scenario = basic(tmp_path)
    start = DEFAULT_SCENARIO_START_MS
    # Each item also gives the size on a 1–5 scale (4 × magnitude) and the employees per window.
    assert scenario.truth() == [
        TruthItem("planted", "inner_warning", start + 4 * DAY, start + 6 * DAY, 1.0, 8.0),
        TruthItem("planted", "mirror_decline", start + 6 * DAY, start + 8 * DAY, 1.2, 8.0),
        TruthItem(  # to the end
            "planted", "outer_warning", start + 10 * DAY, start + 12 * DAY, 1.0, 8.0
        ),
    ]


def test_the_window_falls_back_to_the_settings_and_start_is_aligned() -> None:
    scenario = Scenario.from_mapping(
        {
            "windows": 3,
            "start": 1_000_123,
            "teams": [{"id": "a", "effects": [{"kind": "mirror_rise", "start": 1, "end": 2}]}],
        }
    )
    assert scenario.window_seconds is None
    assert scenario.window_ms(10_000) == 10_000
    with pytest.raises(ConfigError, match="no window size"):
        scenario.truth()
    assert scenario.truth(10_000) == [
        TruthItem("a", "mirror_rise", 1_010_000, 1_020_000, 1.0, 12.0)
    ]
    assert scenario.simulator(10_000).start_ms == 1_000_000
    assert all(1_000_000 <= e.occurred_at < 1_030_000 for e in scenario.events(10_000))


def test_symmetry_gap_truth_spans_the_run() -> None:
    scenario = small(
        teams=[
            {"id": "gap", "employee_level": 0.9, "customer_level": 0.4, "expect_symmetry_gap": True}
        ]
    )
    start = DEFAULT_SCENARIO_START_MS
    assert scenario.truth() == [
        TruthItem("gap", "symmetry_gap", start, start + 6 * DAY, employee_respondents=12.0)
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"windows": None}, "windows: must be a whole number"),
        ({"windows": 0}, "windows: must be 1 or more"),
        ({"colour": "red"}, "unknown field colour"),
        ({"seed": "x"}, "seed: must be a whole number"),
        ({"start": "yesterday"}, "start: 'yesterday' is not an ISO date"),
        ({"late_fraction": 1.5}, "late_fraction: must be in [0, 1]"),
        ({"disorder_ms": -1}, "disorder_ms: must be 0 or more"),
        ({"window_seconds": 0}, "window_seconds: must be in (0"),
        ({"teams": []}, "teams: must be a non-empty list"),
        ({"teams": [{"employees": 3}]}, "teams[0]: needs an id, or a prefix and a count"),
        ({"teams": [{"id": "a", "prefix": "b", "count": 2}]}, "either id, or prefix and count"),
        ({"teams": [{"id": "a"}, {"id": "a"}]}, "team id 'a' is already used"),
        ({"teams": [{"id": "a", "employees": -1}]}, "team a (teams[0]): employees: must be 0"),
        ({"teams": [{"id": "a", "noise": "lots"}]}, "team a (teams[0]): noise: must be a number"),
        ({"teams": [{"id": "a", "customer_level": 2}]}, "customer_level: must be in [0, 1]"),
        ({"teams": [{"id": "a", "effects": {"kind": "x"}}]}, "effects: must be a list"),
        (
            {"teams": [{"id": "a", "effects": [{"kind": "meltdown", "start": 4}]}]},
            "team a (teams[0]): effects[0].kind: 'meltdown' is not one of",
        ),
        (
            {"teams": [{"id": "a", "effects": [{"kind": "mirror_rise"}]}]},
            "effects[0].start: missing",
        ),
        (
            {"teams": [{"id": "a", "effects": [{"kind": "mirror_rise", "start": 12}]}]},
            "effects[0].start: window 12 is past the run's last window (11)",
        ),
        (
            {"teams": [{"id": "a", "effects": [{"kind": "mirror_rise", "start": 4, "end": 4}]}]},
            "effects[0].end: must be after start (4); end is exclusive",
        ),
        (
            {"teams": [{"id": "a", "effects": [{"kind": "mirror_rise", "start": 4, "end": 13}]}]},
            "effects[0].end: window 13 is past the end of the run",
        ),
        (
            {
                "teams": [
                    {"id": "a", "effects": [{"kind": "mirror_rise", "start": 4, "magnitude": 0}]}
                ]
            },
            "effects[0].magnitude: must be in (0",
        ),
        (
            {
                "teams": [
                    {
                        "id": "a",
                        "effects": [{"kind": "mirror_rise", "start": 4, "dimension": "salary"}],
                    }
                ]
            },
            "effects[0].dimension: 'salary' is not one of trust, recognition",
        ),
        (
            {
                "teams": [
                    {
                        "prefix": "p-",
                        "count": 2,
                        "effects": [
                            {"kind": "mirror_decline", "start": 4, "end": 7},
                            {"kind": "inner_warning", "start": 6, "end": 8},
                        ],
                    }
                ]
            },
            "team p-01…p-02 (teams[0]): effects: team p-01: effects overlap",
        ),
    ],
)
def test_validation_errors_name_the_file_the_team_and_the_field(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    data = {"windows": 12, "teams": [{"id": "fine"}]}
    data.update(change)
    path = write(tmp_path, json.dumps(data), "broken.json")
    with pytest.raises(ConfigError) as caught:
        Scenario.load(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("s.toml", "windows = 3", "ends in .yaml, .yml or .json"),
        ("s.yaml", "windows: [3", "not valid YAML"),
        ("s.json", "{", "not JSON"),
        ("s.yaml", "- just\n- a list\n", "must be a mapping of fields"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="s\\.(toml|yaml|json)") as caught:
        Scenario.load(write(tmp_path, text, name))
    assert message in str(caught.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the scenario file"):
        Scenario.load(tmp_path / "absent.yaml")


def test_dimension_aliases_and_numeric_ids() -> None:
    scenario = small(
        teams=[
            {
                "id": 7,
                "effects": [
                    {
                        "kind": "mirror_decline",
                        "start": 2,
                        "end": 4,
                        "dimension": "recognition/listened",
                    }
                ],
            }
        ]
    )
    assert scenario.teams[0].team_id == "7"
    assert scenario.teams[0].planned_effects[0].dimension == "recognition"


# --- the simulator ----------------------------------------------------------------------------


def test_the_short_form_still_means_one_effect_to_the_end() -> None:
    plan = TeamPlan("x", "mirror_rise", effect_from_window=3, magnitude=0.3)
    assert plan.shift(2) == (0.0, 0.0)
    assert plan.shift(3) == plan.shift(50) == pytest.approx((0.18, 0.18))
    assert TeamPlan("y", "outer_warning").shift(4) == (0.0, -0.30)
    assert TeamPlan("z").planned_effects == ()


def test_plans_reject_overlaps_and_mixed_forms() -> None:
    with pytest.raises(ValueError, match="effects overlap"):
        TeamPlan("x", effects=(Effect("mirror_decline", 4), Effect("inner_warning", 9, 10)))
    with pytest.raises(ValueError, match="either effect= or effects="):
        TeamPlan("x", "mirror_decline", effects=(Effect("inner_warning", 1, 2),))
    with pytest.raises(ValueError, match="not one of"):
        Effect("meltdown", 1)
    with pytest.raises(ValueError, match="end_window"):
        Effect("mirror_rise", 3, 3)
    adjacent = TeamPlan(
        "x", effects=(Effect("mirror_decline", 6, 8), Effect("inner_warning", 4, 6))
    )
    assert [e.kind for e in adjacent.planned_effects] == ["inner_warning", "mirror_decline"]
    assert adjacent.shift(5) == (-0.30, 0.0) and adjacent.shift(8) == (0.0, 0.0)


def test_a_dimension_moves_its_paired_items_further() -> None:
    plan = TeamPlan(
        "x",
        employees=400,
        customers=400,
        effects=(Effect("mirror_decline", 0, 1, magnitude=0.2, dimension="recognition"),),
    )
    events = Simulator([plan], DAY, 0, seed=3).window(0)
    pulses = [e for e in events if isinstance(e, EmployeePulse)]
    feedback = [e for e in events if isinstance(e, CustomerFeedback)]
    # 1–5 items: a 0.2 shift of the range is 0.8 points; the paired items move 0.8 more.
    assert (
        statistics.mean(_scores(pulses, "recognition"))
        < statistics.mean(_scores(pulses, "vision")) - 0.5
    )
    assert (
        statistics.mean(_scores(feedback, "listened"))
        < statistics.mean(_scores(feedback, "courtesy")) - 0.5
    )


def test_levels_set_where_a_side_sits() -> None:
    plan = TeamPlan("x", employees=300, customers=300, employee_level=0.25, customer_level=1.0)
    events = Simulator([plan], DAY, 0, seed=3).window(0)
    assert (
        statistics.mean(_scores([e for e in events if isinstance(e, EmployeePulse)], "trust")) < 2.5
    )
    assert (
        statistics.mean(_scores([e for e in events if isinstance(e, CustomerFeedback)], "trust"))
        > 4.5
    )


def test_respondent_counts_are_fixed_unless_jittered() -> None:
    def counts(plan: TeamPlan) -> set[tuple[int, int]]:
        simulator = Simulator([plan], DAY, 0, seed=2)
        return {
            (
                sum(isinstance(e, EmployeePulse) for e in events),
                sum(isinstance(e, CustomerFeedback) for e in events),
            )
            for _, events in simulator.windows(60)
        }

    assert counts(TeamPlan("x", employees=12, customers=40)) == {(12, 40)}
    jittered = counts(TeamPlan("x", employees=5, customers=40, respondent_jitter=0.3))
    assert {employees for employees, _ in jittered} == {4, 5, 6, 7}  # 3.5 → 4 … 6.5 → 7
    assert {customers for _, customers in jittered} <= set(range(28, 53))


def _ids(events: list) -> list[str]:
    return [event.event_id for event in events]


def test_same_seed_same_events_other_seed_other_events() -> None:
    first = list(small(disorder_ms=HOUR, late_fraction=0.05).events())
    again = list(small(disorder_ms=HOUR, late_fraction=0.05).events())
    assert first == again
    other = list(small(seed=6, disorder_ms=HOUR, late_fraction=0.05).events())
    assert not set(_ids(first)) & set(_ids(other))


def test_without_disorder_events_go_out_in_event_time_order() -> None:
    events = list(small().events())
    assert [e.occurred_at for e in events] == sorted(e.occurred_at for e in events)


def test_disorder_reorders_but_keeps_every_event_and_its_time() -> None:
    ordered = list(small().events())
    disordered = list(small(disorder_ms=2 * HOUR).events())
    assert Counter(disordered) == Counter(ordered)  # same records, occurred_at untouched
    assert _ids(disordered) != _ids(ordered)
    # never delivered more than disorder_ms after an event that occurred later
    newest = 0
    for event in disordered:
        assert event.occurred_at >= newest - 2 * HOUR
        newest = max(newest, event.occurred_at)


def test_late_events_go_out_after_events_beyond_their_lateness() -> None:
    scenario = small(windows=10, late_fraction=0.1, allowed_lateness_seconds=3600)
    events = list(scenario.events())
    assert Counter(events) == Counter(small(windows=10).events())
    late, newest = 0, 0
    for event in events:
        window_end = window_start_for(event.occurred_at, DAY) + DAY
        if newest >= window_end + HOUR:  # the watermark has passed this event's window
            late += 1
        newest = max(newest, event.occurred_at)
    assert 0.05 < late / len(events) < 0.12  # the last window's events cannot be held back


def test_late_fraction_uses_the_lateness_it_is_given() -> None:
    scenario = small(windows=10, late_fraction=0.1)
    simulator = scenario.simulator(allowed_lateness_ms=5 * HOUR)
    assert simulator.allowed_lateness_ms == 5 * HOUR
    events = list(simulator.stream(scenario.windows))
    newest, late = 0, 0
    for event in events:
        if newest >= window_start_for(event.occurred_at, DAY) + DAY + 5 * HOUR:
            late += 1
        newest = max(newest, event.occurred_at)
    assert late > 0


def test_the_window_view_is_unchanged_by_disorder() -> None:
    plain = small().simulator()
    shaken = small(disorder_ms=HOUR, late_fraction=0.2).simulator()
    assert list(plain.windows(3)) == list(shaken.windows(3))


# --- the shipped scenarios ---------------------------------------------------------------------


SHIPPED_NAMES = [
    "steady",
    "declines",
    "inner-then-outer",
    "outer",
    "small-teams",
    "late-and-disorder",
    "symmetry-gap",
]


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_shipped_scenarios_load(name: str) -> None:
    scenario = Scenario.load(SHIPPED / f"{name}.yaml")
    assert scenario.name == name
    assert scenario.window_ms(1_000) == DAY  # the file's own window wins
    assert scenario.start_ms == DEFAULT_SCENARIO_START_MS


def test_steady_is_big_enough_and_plants_nothing() -> None:
    scenario = Scenario.load(SHIPPED / "steady.yaml")
    assert scenario.team_windows >= 1000
    assert scenario.truth() == []


def _least(mean: int, jitter: float) -> int:
    return int(mean * (1 - jitter) + 0.5)


@pytest.mark.parametrize(
    "name", ["steady", "declines", "inner-then-outer", "outer", "late-and-disorder"]
)
def test_precision_scenarios_follow_the_detector_rules(name: str) -> None:
    scenario = Scenario.load(SHIPPED / f"{name}.yaml")
    for plan in scenario.teams:
        assert _least(plan.employees, plan.respondent_jitter) >= 30, plan.team_id
        assert _least(plan.customers, plan.respondent_jitter) >= 30, plan.team_id
        previous_end = None
        for effect in plan.planned_effects:
            assert effect.end_window is not None
            assert 2 <= effect.end_window - effect.start_window <= 3, plan.team_id
            assert 0.2 <= effect.magnitude <= 0.3, plan.team_id
            if previous_end is None:
                assert effect.start_window >= 4, plan.team_id
            elif not (name == "inner-then-outer" and effect.kind == "mirror_decline"):
                assert effect.start_window - previous_end >= 3, plan.team_id
            previous_end = effect.end_window


def test_inner_warnings_lead_straight_into_declines() -> None:
    scenario = Scenario.load(SHIPPED / "inner-then-outer.yaml")
    planted = [plan for plan in scenario.teams if plan.planned_effects]
    assert len(planted) >= 3
    for plan in planted:
        inner, decline = plan.planned_effects
        assert (inner.kind, decline.kind) == ("inner_warning", "mirror_decline")
        assert inner.end_window == decline.start_window


def test_small_teams_sit_around_k() -> None:
    scenario = Scenario.load(SHIPPED / "small-teams.yaml")
    for plan in scenario.teams:
        assert _least(plan.employees, plan.respondent_jitter) == 4
        assert int(plan.employees * (1 + plan.respondent_jitter) + 0.5) == 7


def test_late_and_disorder_scenario_has_both() -> None:
    scenario = Scenario.load(SHIPPED / "late-and-disorder.yaml")
    assert scenario.disorder_ms > 0 and scenario.late_fraction > 0
    assert scenario.allowed_lateness_ms(5 * HOUR) == HOUR


def _scores(records: Sequence[Signal], item: str) -> list[int]:
    """One score item of every record (the simulator fills every item it plans)."""
    values = [getattr(r, item) for r in records]
    assert None not in values
    return values
