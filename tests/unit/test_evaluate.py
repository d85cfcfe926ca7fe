"""Evaluation against ground truth: the matching rule, the table, the JSON, the files, and the
evaluation report (false alerts on steady team-windows, recall by size, time to detection,
the acceptance check)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from schemas.codec import record_from_json
from schemas.records import MirrorAlert
from streams.errors import ConfigError
from streams.tools.evaluate import (
    BUILTIN_KINDS,
    TruthItem,
    evaluate,
    format_table,
    read_events,
    read_truth,
    write_events,
    write_truth,
)
from streams.tools.evaluation_report import (
    EvaluationReport,
    SteadyFalseAlerts,
    acceptance_check,
    build_report,
    delay_summaries,
    effect_size_bucket,
    is_targeted,
    pool_evaluations,
    pool_reports,
    recall_by_effect_size,
    recall_by_team_size,
    steady_false_alerts,
    team_size_bucket,
    time_to_detection,
)
from streams.tools.evaluation_text import format_report
from streams.tools.simulator import Effect, Simulator, TeamPlan

DAY = 86_400_000


def alert(team: str, window: int, kind: str, alert_id: str | None = None) -> MirrorAlert:
    """An alert of ``kind`` for ``team`` on daily window number ``window``."""
    return MirrorAlert(
        alert_id=alert_id or f"{team}-{window}-{kind}",
        team_id=team,
        window_start=window * DAY,
        window_end=(window + 1) * DAY,
        kind=kind,
        severity="warning",
        detector="test",
        detector_version="1",
        message="test",
        created_at=0,
    )


TRUTH = [
    TruthItem("a", "mirror_decline", 4 * DAY, 6 * DAY),  # windows 4 and 5
    TruthItem("b", "inner_warning", 8 * DAY, 10 * DAY),
    TruthItem("c", "outer_warning", 2 * DAY, 3 * DAY),  # never alerted: a miss
]


def test_the_matching_rule() -> None:
    alerts = [
        alert("a", 4, "mirror_decline"),  # TP
        alert("a", 5, "mirror_decline"),  # TP (same item, second window)
        alert("a", 4, "inner_warning"),  # FP: another kind for the same team and window
        alert("a", 9, "mirror_decline"),  # FP: outside the interval
        alert("z", 4, "mirror_decline"),  # FP: another team
        alert("b", 9, "inner_warning"),  # TP
    ]
    result = evaluate(alerts, TRUTH)
    decline = result.row("mirror_decline")
    assert (decline.alerts, decline.true_positives, decline.false_positives) == (4, 2, 2)
    assert (decline.truth_items, decline.detected, decline.missed) == (1, 1, 0)
    assert decline.precision == 0.5 and decline.recall == 1.0
    inner = result.row("inner_warning")
    assert (inner.alerts, inner.true_positives, inner.false_positives) == (2, 1, 1)
    assert (inner.detected, inner.missed) == (1, 0)
    outer = result.row("outer_warning")
    assert (outer.alerts, outer.truth_items, outer.detected, outer.missed) == (0, 1, 0, 1)
    assert outer.precision is None and outer.recall == 0.0
    gap = result.row("symmetry_gap")
    assert gap.precision is None and gap.recall is None
    total = result.total
    assert (total.alerts, total.true_positives, total.truth_items, total.detected) == (6, 3, 3, 2)


@pytest.mark.parametrize(
    ("window", "matched"),
    [
        (3, False),  # [3d, 4d) ends exactly where the truth starts: no overlap
        (4, True),  # first window of the truth
        (5, True),  # last window: [5d, 6d) inside [4d, 6d)
        (6, False),  # starts exactly where the truth ends (end is exclusive)
    ],
)
def test_intervals_are_half_open(window: int, matched: bool) -> None:
    row = evaluate([alert("a", window, "mirror_decline")], TRUTH).row("mirror_decline")
    assert row.true_positives == int(matched)
    assert row.detected == int(matched)


def test_an_alert_overlapping_a_truth_partly_counts() -> None:
    truth = [TruthItem("a", "mirror_decline", DAY + DAY // 2, 3 * DAY)]
    assert evaluate([alert("a", 1, "mirror_decline")], truth).row("mirror_decline").detected == 1


def test_one_alert_can_detect_two_overlapping_truth_items() -> None:
    truth = [
        TruthItem("a", "symmetry_gap", 0, 10 * DAY),
        TruthItem("a", "symmetry_gap", 5 * DAY, 8 * DAY),
    ]
    row = evaluate([alert("a", 6, "symmetry_gap")], truth).row("symmetry_gap")
    assert (row.true_positives, row.detected, row.missed) == (1, 2, 0)


def test_a_re_emitted_alert_counts_once() -> None:
    same = alert("a", 9, "mirror_decline", alert_id="same")
    row = evaluate([same, same], TRUTH).row("mirror_decline")
    assert (row.alerts, row.false_positives) == (1, 1)


def test_every_built_in_kind_has_a_row_and_custom_kinds_follow() -> None:
    result = evaluate([alert("a", 1, "trust_drop")], [TruthItem("b", "another_kind", 0, DAY)])
    assert [row.kind for row in result.rows] == [*BUILTIN_KINDS, "another_kind", "trust_drop"]
    assert result.row("trust_drop").false_positives == 1
    assert result.row("another_kind").missed == 1
    with pytest.raises(KeyError):
        result.row("unknown")


def test_nothing_at_all_gives_empty_rows() -> None:
    result = evaluate([], [])
    assert all(row.precision is None and row.recall is None for row in result.rows)
    assert result.total.alerts == 0


def test_the_table_is_aligned_and_shows_missing_ratios_as_a_dash() -> None:
    table = format_table(evaluate([alert("a", 4, "mirror_decline")], TRUTH))
    lines = table.splitlines()
    assert lines[0].split() == [
        "kind",
        "alerts",
        "tp",
        "fp",
        "truth",
        "detected",
        "missed",
        "precision",
        "recall",
    ]
    assert len({len(line) for line in lines}) == 1  # every line as wide as the others
    rows = {line.split()[0]: line.split() for line in lines if not line.startswith("-")}
    assert rows["mirror_decline"][1:] == ["1", "1", "0", "1", "1", "0", "1.000", "1.000"]
    assert rows["outer_warning"][-2:] == ["-", "0.000"]
    assert rows["symmetry_gap"][-2:] == ["-", "-"]
    assert rows["all"][1:3] == ["1", "1"]
    # numbers are right-aligned under their header
    end = lines[0].index("precision") + len("precision")
    for line in lines:
        if not line.startswith("-"):
            assert line[end] == " " and line[end - 1] != " "


def test_json_output() -> None:
    data = evaluate([alert("a", 4, "mirror_decline")], TRUTH).to_json()
    json.dumps(data)  # plain values only
    decline = next(row for row in data["kinds"] if row["kind"] == "mirror_decline")
    assert decline == {
        "kind": "mirror_decline",
        "alerts": 1,
        "true_positives": 1,
        "false_positives": 0,
        "truth_items": 1,
        "detected": 1,
        "missed": 0,
        "precision": 1.0,
        "recall": 1.0,
    }
    assert data["total"]["kind"] == "all"
    assert data["total"]["recall"] == pytest.approx(1 / 3)


# --- files -----------------------------------------------------------------------------------


def test_events_round_trip(tmp_path: Path) -> None:
    plans = [TeamPlan("a", effects=(Effect("mirror_decline", 1, 2),)), TeamPlan("b")]
    records = list(Simulator(plans, DAY, 0, seed=4).stream(3))
    path = tmp_path / "events.jsonl"
    assert write_events(path, records) == len(records)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(records)
    assert set(json.loads(lines[0])) == {"topic", "value"}
    back = [record_from_json(topic, value) for topic, value in read_events(path)]
    assert back == records


def test_truth_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    write_truth(path, TRUTH)
    assert isinstance(json.loads(path.read_text(encoding="utf-8")), list)
    assert read_truth(path) == TRUTH
    write_truth(path, [])
    assert read_truth(path) == []


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected an object"),
        ('{"topic": "customer-feedback"}', "missing value"),
        ('{"value": {}}', "missing topic"),
        ('{"topic": "elsewhere", "value": {}}', "topic 'elsewhere' is not one of"),
        ('{"topic": "employee-pulse", "value": 3}', "value must be an object"),
    ],
)
def test_a_bad_events_line_names_the_file_and_the_line(
    tmp_path: Path, line: str, reason: str
) -> None:
    path = tmp_path / "events.jsonl"
    good = json.dumps({"topic": "employee-pulse", "value": {"event_id": "e"}})
    path.write_text(f"{good}\n\n{line}\n{good}\n", encoding="utf-8")
    events = read_events(path)
    assert next(events)[0] == "employee-pulse"
    with pytest.raises(ConfigError) as caught:
        next(events)
    assert f"{path}:3:" in str(caught.value)  # blank line 2 skipped, but counted
    assert reason in str(caught.value)


def test_a_missing_events_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the events file"):
        list(read_events(tmp_path / "nope.jsonl"))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{", "not JSON"),
        ('{"team_id": "a"}', "expected a JSON list"),
        ('[{"team_id": "a", "kind": "mirror_decline", "start": 0}]', "item 0: missing end"),
        ('[{"team_id": "", "kind": "k", "start": 0, "end": 1}]', "team_id must be"),
        ('[{"team_id": "a", "kind": "k", "start": "0", "end": 1}]', "start must be epoch"),
        ('[{"team_id": "a", "kind": "k", "start": 5, "end": 5}]', "end (5) must be after"),
        ("[3]", "item 0: expected an object"),
    ],
)
def test_a_bad_truth_file_says_what_is_wrong(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "truth.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_truth(path)
    assert str(path) in str(caught.value) and reason in str(caught.value)


def test_a_truth_item_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="end after it starts"):
        TruthItem("a", "mirror_decline", 5, 5)


def test_truth_round_trip_with_the_report_fields(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    items = [
        TruthItem("a", "mirror_decline", 0, DAY, effect_points=1.2, employee_respondents=9.5),
        TruthItem("b", "outer_warning", 0, 2 * DAY, effect_points=0.4, ramp_windows=2),
        TruthItem("c", "inner_warning", DAY, 2 * DAY),  # sizes unknown
    ]
    write_truth(path, items)
    assert read_truth(path) == items
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written[0] == {
        "team_id": "a",
        "kind": "mirror_decline",
        "start": 0,
        "end": DAY,
        "effect_points": 1.2,
        "employee_respondents": 9.5,
    }
    assert written[1]["ramp_windows"] == 2 and "employee_respondents" not in written[1]
    # Without the new fields an item is written exactly as before they existed.
    assert set(written[2]) == {"team_id", "kind", "start", "end"}


def test_an_old_truth_file_reads_with_unknown_sizes(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    path.write_text('[{"team_id": "a", "kind": "mirror_decline", "start": 0, "end": 5}]')
    (item,) = read_truth(path)
    assert (item.effect_points, item.employee_respondents, item.ramp_windows) == (None, None, 0)
    path.write_text(
        '[{"team_id": "a", "kind": "k", "start": 0, "end": 5, "effect_points": null, '
        '"employee_respondents": 12, "ramp_windows": 0}]'
    )
    (item,) = read_truth(path)
    assert item.effect_points is None and item.employee_respondents == 12.0


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ('"effect_points": "big"', "effect_points must be a number or null"),
        ('"effect_points": true', "effect_points must be a number or null"),
        ('"employee_respondents": -3', "employee_respondents must not be negative"),
        ('"ramp_windows": 1.5', "ramp_windows must be a whole number >= 0"),
        ('"ramp_windows": -1', "ramp_windows must be a whole number >= 0"),
    ],
)
def test_a_bad_report_field_in_a_truth_file_is_named(
    tmp_path: Path, extra: str, reason: str
) -> None:
    path = tmp_path / "truth.json"
    path.write_text(f'[{{"team_id": "a", "kind": "k", "start": 0, "end": 5, {extra}}}]')
    with pytest.raises(ConfigError, match=reason):
        read_truth(path)


# --- the evaluation report -------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A closed team-window as the report sees it (TeamWindowMetrics has the same three)."""

    team_id: str
    window_start: int
    window_end: int


def windows(team: str, count: int) -> list[Window]:
    return [Window(team, i * DAY, (i + 1) * DAY) for i in range(count)]


def test_false_alerts_are_counted_on_steady_team_windows_only() -> None:
    closed = windows("a", 10) + windows("c", 5) + windows("z", 10)
    closed.append(Window("z", 0, DAY))  # a window seen twice is one window
    alerts = [
        alert("a", 4, "mirror_decline"),  # on a's planted windows: not steady
        alert("a", 5, "inner_warning"),  # another kind, still a planted window: not steady
        alert("a", 8, "mirror_decline"),  # steady window of a planted team: a false alert
        alert("c", 2, "mirror_decline"),  # c's outer warning covers window 2 (any kind counts)
        alert("z", 2, "mirror_decline"),
        alert("z", 2, "inner_warning"),  # a second alert on the same steady window
        alert("z", 7, "outer_warning"),
        alert("z", 7, "outer_warning"),  # re-emitted: the same alert_id, counted once
    ]
    steady = steady_false_alerts(alerts, TRUTH, closed)
    # a: 10 − 2 planted windows, c: 5 − 1, z: 10 → 22 steady windows; alerts on a8, z2, z7.
    assert (steady.steady_windows, steady.windows_with_alert, steady.false_alerts) == (22, 3, 4)
    assert steady.rate == pytest.approx(3 / 22)
    assert steady_false_alerts([], [], []).rate is None


def test_a_suppressed_or_silent_team_window_is_in_the_universe() -> None:
    # The universe is the closed windows given, whatever their sides held; an alert on a window
    # that never closed (not in the universe) is not counted.
    steady = steady_false_alerts([alert("q", 3, "mirror_decline")], [], windows("q", 2))
    assert (steady.steady_windows, steady.windows_with_alert) == (2, 0)


@pytest.mark.parametrize(
    ("points", "bucket"),
    [
        (None, "unknown"),
        (0.2, "<0.5"),
        (0.4999, "<0.5"),
        (0.5, "0.5-0.75"),
        (0.75, "0.75-1.0"),
        (-0.8, "0.75-1.0"),  # a decline written as negative points: its size counts
        (1.0, ">=1.0"),
        (2.4, ">=1.0"),
    ],
)
def test_effect_size_buckets(points: float | None, bucket: str) -> None:
    assert effect_size_bucket(points) == bucket


@pytest.mark.parametrize(
    ("respondents", "bucket"),
    [
        (None, "unknown"),
        (4, "<8"),
        (7.9, "<8"),
        (8, "8-15"),
        (15.5, "8-15"),
        (16, "16-30"),
        (30, "16-30"),
        (30.5, ">30"),
        (120, ">30"),
    ],
)
def test_team_size_buckets(respondents: float | None, bucket: str) -> None:
    assert team_size_bucket(respondents) == bucket


SIZED = [
    # onset window 2; alerted on window 2 → 0 windows
    TruthItem("a", "mirror_decline", 2 * DAY, 5 * DAY, effect_points=1.2, employee_respondents=34),
    # onset window 4; first alert on window 7 → 3 windows (late)
    TruthItem("b", "inner_warning", 4 * DAY, 9 * DAY, effect_points=0.8, employee_respondents=10),
    # never alerted
    TruthItem("c", "mirror_decline", 3 * DAY, 5 * DAY, effect_points=0.3, employee_respondents=5),
    # onset window 6; alerted on window 7 → 1 window; customer-only: team size irrelevant
    TruthItem("d", "outer_warning", 6 * DAY, 8 * DAY, effect_points=0.6, employee_respondents=5),
    # sizes unknown; onset window 1, alerted on window 3 → 2 windows
    TruthItem("e", "mirror_decline", DAY, 4 * DAY),
]
SIZED_ALERTS = [
    alert("a", 3, "mirror_decline"),
    alert("a", 2, "mirror_decline"),  # the earliest matching alert counts, not the first listed
    alert("b", 7, "inner_warning"),
    alert("b", 8, "inner_warning"),
    alert("b", 4, "mirror_decline"),  # another kind: not a detection of b's inner warning
    alert("d", 7, "outer_warning"),
    alert("e", 3, "mirror_decline"),
]


def test_time_to_detection_counts_windows_from_the_onset() -> None:
    detections = time_to_detection(SIZED_ALERTS, SIZED, DAY)
    assert [d.item for d in detections] == SIZED  # truth order
    assert [d.windows_to_detection for d in detections] == [0, 3, None, 1, 2]
    assert [d.first_alert_start for d in detections] == [2 * DAY, 7 * DAY, None, 7 * DAY, 3 * DAY]
    assert [d.within() for d in detections] == [True, False, False, True, True]
    assert [d.detected for d in detections] == [True, True, False, True, True]


def test_time_to_detection_of_an_onset_inside_a_window_rounds_up() -> None:
    truth = [TruthItem("a", "mirror_decline", DAY + DAY // 2, 4 * DAY)]
    on_onset_window = time_to_detection([alert("a", 1, "mirror_decline")], truth, DAY)
    next_window = time_to_detection([alert("a", 2, "mirror_decline")], truth, DAY)
    assert on_onset_window[0].windows_to_detection == 0  # never negative
    assert next_window[0].windows_to_detection == 1
    with pytest.raises(ValueError, match="window size"):
        time_to_detection([], truth, 0)


def test_delay_summaries_per_kind_and_overall() -> None:
    summaries = {
        row.kind: row for row in delay_summaries(time_to_detection(SIZED_ALERTS, SIZED, DAY))
    }
    assert list(summaries) == ["mirror_decline", "inner_warning", "outer_warning", "all"]
    everything = summaries["all"]
    assert (everything.truth_items, everything.detected) == (5, 4)
    assert everything.median_windows == 1.5  # of 0, 1, 2, 3
    assert everything.max_windows == 3
    assert everything.within_deadline == 3
    assert everything.share_of_detected == 0.75 and everything.share_of_items == 0.6
    decline = summaries["mirror_decline"]
    assert (decline.truth_items, decline.detected, decline.median_windows) == (3, 2, 1.0)
    assert summaries["inner_warning"].share_of_items == 0.0
    nothing = delay_summaries(time_to_detection([], SIZED[2:3], DAY))[-1]
    assert (nothing.median_windows, nothing.max_windows, nothing.share_of_detected) == (
        None,
        None,
        None,
    )


def test_recall_by_effect_size_and_team_size() -> None:
    detections = time_to_detection(SIZED_ALERTS, SIZED, DAY)
    by_effect = {row.bucket: row for row in recall_by_effect_size(detections)}
    assert list(by_effect) == ["<0.5", "0.5-0.75", "0.75-1.0", ">=1.0", "unknown"]
    assert [(r.truth_items, r.detected, r.within_deadline) for r in by_effect.values()] == [
        (1, 0, 0),  # c
        (1, 1, 1),  # d
        (1, 1, 0),  # b: found, but late
        (1, 1, 1),  # a
        (1, 1, 1),  # e
    ]
    assert by_effect["0.75-1.0"].recall == 1.0
    assert by_effect["0.75-1.0"].recall_within_deadline == 0.0
    by_team = {row.bucket: row for row in recall_by_team_size(detections)}
    assert list(by_team) == ["<8", "8-15", "16-30", ">30", "unknown"]
    assert [(r.truth_items, r.detected) for r in by_team.values()] == [
        (2, 1),  # c (missed), d
        (1, 1),  # b
        (0, 0),
        (1, 1),  # a
        (1, 1),  # e
    ]
    assert by_team["16-30"].recall is None
    # "unknown" is listed only when some item falls in it
    assert [r.bucket for r in recall_by_team_size(detections[:1])][-1] == ">30"


@pytest.mark.parametrize(
    ("item", "targeted"),
    [
        (TruthItem("t", "mirror_decline", 0, DAY, 0.6, 8), True),
        (TruthItem("t", "mirror_decline", 0, DAY, 0.59, 30), False),  # effect too small
        (TruthItem("t", "inner_warning", 0, DAY, 1.0, 7.9), False),  # team too small
        (TruthItem("t", "mirror_rise", 0, DAY, 1.0, 8), True),
        (TruthItem("t", "mirror_rise", 0, DAY, 1.0, None), False),  # team size unknown
        (TruthItem("t", "outer_warning", 0, DAY, 0.6, 3), True),  # customer-only: any team
        (TruthItem("t", "outer_warning", 0, DAY, 0.6, None), True),
        (TruthItem("t", "outer_warning", 0, DAY, None, 30), False),  # effect unknown
        (TruthItem("t", "mirror_decline", 0, DAY, -0.9, 20), True),  # signed: its size
        (TruthItem("t", "symmetry_gap", 0, DAY, 2.0, 30), False),  # not a kind of the target
    ],
)
def test_which_items_the_acceptance_targets(item: TruthItem, targeted: bool) -> None:
    assert is_targeted(item) is targeted


def test_the_acceptance_check() -> None:
    detections = time_to_detection(SIZED_ALERTS, SIZED, DAY)
    # targeted: a (0 windows), b (3: late), d (1); others: c (small team, missed), e (unknown)
    steady = SteadyFalseAlerts(steady_windows=1000, windows_with_alert=5, false_alerts=6)
    check = acceptance_check(steady, detections)
    assert [d.item.team_id for d in check.targeted] == ["a", "b", "d"]
    assert [d.item.team_id for d in check.others] == ["c", "e"]
    assert check.false_alerts_passed is True  # 0.5 % exactly
    assert [d.item.team_id for d in check.late_or_missed] == ["b"]
    assert check.detection_passed is False and check.passed is False
    on_time = acceptance_check(steady, [d for d in detections if d.item.team_id != "b"])
    assert on_time.passed is True
    noisy = SteadyFalseAlerts(steady_windows=1000, windows_with_alert=6, false_alerts=6)
    assert acceptance_check(noisy, on_time.targeted).passed is False
    # Nothing to check on one side: the other decides; nothing at all: no verdict.
    no_steady = SteadyFalseAlerts(0, 0, 0)
    assert acceptance_check(no_steady, on_time.targeted).false_alerts_passed is None
    assert acceptance_check(no_steady, on_time.targeted).passed is True
    assert acceptance_check(steady, on_time.others).detection_passed is None
    assert acceptance_check(no_steady, []).passed is None


def sized_report() -> EvaluationReport:
    closed = [w for team in "abcdez" for w in windows(team, 10)]
    extra = [*SIZED_ALERTS, alert("z", 5, "mirror_decline")]  # one false alert on a steady window
    return build_report(extra, SIZED, closed, DAY)


def test_the_report_json_keeps_the_old_keys_and_adds_the_new_ones() -> None:
    report = sized_report()
    data = report.to_json()
    json.dumps(data)  # plain values only
    assert list(data) == [
        "kinds",
        "total",
        "steady_false_alerts",
        "recall_by_effect_size",
        "recall_by_team_size",
        "time_to_detection",
        "acceptance",
        "incidents",
    ]
    assert data["incidents"] is None  # evaluated without an organisation
    assert data["kinds"] == report.evaluation.to_json()["kinds"]
    assert data["total"]["alerts"] == 8
    # a: 10 − 3, b: 10 − 5, c: 10 − 2, d: 10 − 2, e: 10 − 3, z: 10 → 45 steady windows
    assert data["steady_false_alerts"] == {
        "steady_team_windows": 45,
        "with_alert": 1,  # z5 (b's stray mirror_decline on window 4 is inside b's truth)
        "false_alerts": 1,
        "rate": pytest.approx(1 / 45),
    }
    assert set(data["recall_by_effect_size"][0]) == {
        "bucket",
        "truth_items",
        "detected",
        "recall",
        "within_deadline",
        "recall_within_deadline",
    }
    timing = data["time_to_detection"]
    assert timing["deadline_windows"] == 2
    assert timing["summary"][-1]["kind"] == "all"
    assert timing["items"][1] == {
        "team_id": "b",
        "kind": "inner_warning",
        "start": 4 * DAY,
        "end": 9 * DAY,
        "effect_points": 0.8,
        "employee_respondents": 10,
        "ramp_windows": 0,
        "detected": True,
        "first_alert_window_start": 7 * DAY,
        "windows_to_detection": 3,
    }
    assert timing["items"][4]["effect_points"] is None  # unknown sizes are null, not absent
    acceptance = data["acceptance"]
    assert acceptance["passed"] is False
    assert acceptance["false_alert_rate"]["target_max"] == 0.005
    assert acceptance["false_alert_rate"]["passed"] is False
    assert acceptance["detection"]["items"] == 3
    assert acceptance["detection"]["within_deadline"] == 2
    assert [i["team_id"] for i in acceptance["detection"]["late_or_missed"]] == ["b"]
    assert acceptance["outside_target"] == {
        "items": 2,
        "detected": 1,
        "recall": 0.5,
        "within_deadline": 1,
        "recall_within_deadline": 0.5,
    }


def test_the_report_text_has_every_section_aligned() -> None:
    text = format_report(sized_report())
    sections = text.split("\n\n")
    assert sections[0] == format_table(sized_report().evaluation)
    titles = [section.splitlines()[0] for section in sections[1:]]
    assert titles[0].startswith("false alerts on steady team-windows")
    assert titles[1].startswith("recall by effect size")
    assert titles[2].startswith("recall by team size")
    assert titles[3].startswith("time to detection")
    assert titles[4] == "per truth item"
    assert titles[5] == "acceptance (issue 11)"
    for section in sections[2:6]:  # the tables: no row wider than its rule, numbers flush right
        lines = section.splitlines()
        header, rule, rows = lines[1], lines[2], lines[3:]
        assert rule.startswith("---")
        assert all(len(line) <= len(rule) for line in [header, *rows])
        assert all(len(line) == len(rule) for line in rows)  # the last column is a number
    steady = sections[1].splitlines()
    assert steady[1].split() == ["steady", "team-windows", "45"]
    assert steady[-1].split() == ["rate", "2.22%", "(target", "<=", "0.50%)"]
    value_ends = {len(line) for line in steady[1:-1]} | {steady[-1].index("%") + 1}
    assert len(value_ends) == 1  # the values end in one column
    items = sections[5].splitlines()
    assert items[4].split() == [
        "b",
        "inner_warning",
        "1970-01-05",
        "00:00:00",
        "0.80",
        "10.0",
        "3",
    ]
    assert items[5].split()[-1] == "missed"
    acceptance = sections[6].splitlines()
    assert acceptance[1].startswith("FAIL  false alerts on 1 of 45 steady team-windows = 2.22%")
    assert acceptance[2].startswith("FAIL  2 of 3 targeted truth items detected within 2 windows")
    assert any(line.strip().startswith("late or missed: b inner_warning") for line in acceptance)
    assert acceptance[-1] == "FAIL  overall"
    assert "per truth item" not in format_report(sized_report(), items=False)


def test_reports_pool_by_adding_up() -> None:
    one = sized_report()
    both = pool_reports([one, one])
    assert both.steady == SteadyFalseAlerts(90, 2, 2)
    assert len(both.detections) == 2 * len(one.detections)
    assert both.evaluation.total.alerts == 2 * one.evaluation.total.alerts
    assert (
        both.evaluation.row("mirror_decline").detected
        == 2 * one.evaluation.row("mirror_decline").detected
    )
    assert [row.kind for row in both.evaluation.rows] == [row.kind for row in one.evaluation.rows]
    assert pool_evaluations([]).rows == ()


# --- `miroir evaluate --org`: incidents against the truth's shocks ----------------------------

SHOCKED_COMPANY = """\
name: cli-shocks
seed: 3
window_seconds: 86400
windows: 10
levels: [company, department]
teams:
  - {prefix: d0-, count: 5, unit: acme/d0, employees: 25, customers: 40}
  - {prefix: d1-, count: 5, unit: acme/d1, employees: 25, customers: 40}
shocks:
  - {unit: acme/d0, kind: mirror_decline, start: 6, end: 9, magnitude: 0.3, teams: 3}
"""


def test_simulate_writes_the_organisation_and_evaluate_reports_incidents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from streams.cli import main
    from streams.tools.evaluate import read_organisation, read_truth_file

    scenario = tmp_path / "shocks.yaml"
    scenario.write_text(SHOCKED_COMPANY, encoding="utf-8")
    events, truth, teams = tmp_path / "e.jsonl", tmp_path / "t.json", tmp_path / "teams.csv"
    argv = ["simulate", "--scenario", str(scenario), "--to-file", str(events)]
    assert main([*argv, "--truth", str(truth), "--org", str(teams)]) == 0
    said = capsys.readouterr().err
    assert "10 teams of the organisation written to" in said
    assert "3 truth items and 1 shocks written to" in said
    assert read_organisation(teams).place("d1-03").path == ("acme", "d1")
    (planted,) = read_truth_file(truth).shocks
    assert planted.unit_id == "acme/d0" and len(planted.teams) == 3

    evaluate_argv = ["evaluate", "--events", str(events), "--truth", str(truth)]
    assert main([*evaluate_argv, "--window", "86400"]) == 2
    assert "plants 1 shared shocks: add --org TEAMS_CSV" in capsys.readouterr().err
    assert main([*evaluate_argv, "--window", "86400", "--org", str(teams), "--json"]) == 0
    incidents = json.loads(capsys.readouterr().out)["incidents"]
    assert incidents["shocks_planted"] == 1
    (shock,) = incidents["shocks"]
    assert (shock["unit_id"], shock["outcome"], shock["team_pages"]) == ("acme/d0", "found", 0)
    assert incidents["unit_windows"] == 3 * 10 and incidents["false_incidents"] == []
    assert main([*evaluate_argv, "--window", "86400", "--org", str(teams)]) == 0
    assert "incidents (shared shocks" in capsys.readouterr().out


def test_simulate_refuses_an_organisation_the_scenario_does_not_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from streams.cli import main

    scenario = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "declines.yaml"
    argv = ["simulate", "--scenario", str(scenario), "--to-file", str(tmp_path / "e.jsonl")]
    assert main([*argv, "--org", str(tmp_path / "teams.csv")]) == 2
    assert "has no organisation" in capsys.readouterr().err
    assert main(["simulate", "--org", str(tmp_path / "teams.csv")]) == 2
    assert "--org need a scenario file" in capsys.readouterr().err
    assert not (tmp_path / "teams.csv").exists()
