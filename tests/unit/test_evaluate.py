"""Evaluation against ground truth: the matching rule, the table, the JSON, the files."""

from __future__ import annotations

import json
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
