"""Late and out-of-order events on the real broker, with the worker as its own process.

Window 10 s, allowed lateness 2 s (PipelineEnv's defaults). The watermark of a partition is the
slowest *active* side's max event time minus the lateness, so a test that wants a window closed
advances both the customer and the employee side past it, and waits for the worker to have
processed each phase (its committed offsets) before sending the next: Kafka keeps the order
within one topic-partition only, never across the two topics.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from schemas.codec import encode, record_to_json, topic_of
from schemas.records import CustomerFeedback, EmployeePulse, MirrorAlert, Signal
from streams.settings import load_settings
from streams.tools.replay import replay
from streams.tools.simulator import Simulator, TeamPlan
from tests.integration.harness import (
    PipelineEnv,
    WorkerProcess,
    committed_offsets,
    create_topics,
    publish,
    read_alerts,
    read_topic,
    recent_base_ms,
    wait_until,
)

pytestmark = pytest.mark.integration

WINDOW_MS = 10_000
LATENESS_MS = 2_000
PARTITIONS = 4
LATE_COMMENT = "late pulse zq7-marker"  # must never reach ClickHouse


@pytest.fixture
def pipeline(kafka_broker, tmp_path: Path, unique_name) -> PipelineEnv:
    env = PipelineEnv(kafka_broker.bootstrap, tmp_path, unique_name("late"))
    create_topics(env, PARTITIONS)
    return env


def _customer(event_id: str, team: str, at: int) -> CustomerFeedback:
    return CustomerFeedback(
        event_id=event_id,
        occurred_at=at,
        team_id=team,
        channel="web",
        source="test",
        nps=8,
        csat=4,
        ces=5,
        listened=4,
        trust=4,
        courtesy=4,
    )


def _pulse(event_id: str, team: str, at: int, comment: str | None = None) -> EmployeePulse:
    return EmployeePulse(
        event_id=event_id,
        occurred_at=at,
        team_id=team,
        source="test",
        respondent_ref=f"resp-{event_id}",
        comment=comment,
        enps=8,
        vision=4,
        meaning=4,
        belonging=4,
        recognition=4,
        trust=4,
        ambiance=4,
        empowerment=4,
        customer_proximity=4,
        workload=3,
    )


def _wait_consumed(env: PipelineEnv, total: int, worker: WorkerProcess, what: str) -> None:
    """Committed offsets reach ``total``: every output of those events is durable."""
    wait_until(lambda: committed_offsets(env) >= total, 60, what, worker)


def _metrics(env: PipelineEnv) -> dict[tuple[str, int], tuple[int, int | None]]:
    rows = env.query(
        "SELECT team_id, toUnixTimestamp64Milli(window_start) AS start, customer_n, employee_n "
        "FROM team_window_metrics FINAL"
    )
    return {(r["team_id"], r["start"]): (r["customer_n"], r["employee_n"]) for r in rows}


def _late_counts(env: PipelineEnv) -> dict[tuple[str, int, str], int]:
    rows = env.query(
        "SELECT team_id, toUnixTimestamp64Milli(window_start) AS start, side, "
        "sum(events) AS events FROM late_events FINAL GROUP BY team_id, start, side"
    )
    return {(r["team_id"], r["start"], r["side"]): int(r["events"]) for r in rows}


def test_out_of_order_events_within_the_lateness_count_in_their_window(
    pipeline: PipelineEnv,
) -> None:
    base = recent_base_ms(WINDOW_MS)
    teams = ("ooo-a", "ooo-b")
    phase1: list[Signal] = []
    expected: dict[tuple[str, int], tuple[int, int | None]] = {}
    for team in teams:
        in_order: list[Signal] = [
            _customer(f"{team}-c{i}", team, base + 500 + 600 * i) for i in range(12)
        ]
        in_order += [_pulse(f"{team}-p{i}", team, base + 700 + 1_000 * i) for i in range(6)]
        # The next window starts: both sides reach base + 11 s, so the watermark is base + 9 s.
        ahead: list[Signal] = [
            _customer(f"{team}-c-next{i}", team, base + 10_500 + 250 * i) for i in range(3)
        ]
        ahead += [_pulse(f"{team}-p-next{i}", team, base + 10_600 + 400 * i) for i in range(2)]
        # Then, out of order but less than the allowed lateness behind: window 0 still open.
        behind: list[Signal] = [
            _customer(f"{team}-c-ooo{i}", team, base + 9_100 + 200 * i) for i in range(4)
        ]
        behind += [_pulse(f"{team}-p-ooo{i}", team, base + 9_200 + 300 * i) for i in range(3)]
        assert max(e.occurred_at for e in ahead) - LATENESS_MS < min(e.occurred_at for e in behind)
        phase1 += sorted(in_order, key=lambda e: e.occurred_at) + ahead + behind
        expected[(team, base)] = (12 + 4, 6 + 3)
        expected[(team, base + WINDOW_MS)] = (3, None)  # 2 respondents: suppressed (k = 5)
    # Far later on both sides: the watermark passes windows 0 and 1.
    phase2: list[Signal] = [
        event
        for team in teams
        for event in (
            _customer(f"{team}-c-far", team, base + 35_000),
            _pulse(f"{team}-p-far", team, base + 35_100),
        )
    ]
    customers = [e.event_id for e in phase1 + phase2 if isinstance(e, CustomerFeedback)]

    publish(pipeline, phase1)
    worker = WorkerProcess(pipeline).start()
    try:
        _wait_consumed(pipeline, len(phase1), worker, "the first phase to be processed")
        publish(pipeline, phase2)
        _wait_consumed(pipeline, len(phase1) + len(phase2), worker, "the far-later events")
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]

    metrics = _metrics(pipeline)
    assert {key: metrics.get(key) for key in expected} == expected
    assert _late_counts(pipeline) == {}
    rows = pipeline.query("SELECT event_id, late FROM customer_feedback FINAL")
    assert sorted(r["event_id"] for r in rows) == sorted(customers)
    assert {r["late"] for r in rows} == {0}
    assert pipeline.query("SELECT count() AS n FROM dead_letters")[0]["n"] == 0
    assert read_topic(pipeline.bootstrap, pipeline.dead_letter_topic) == []


def test_events_beyond_the_lateness_are_kept_counted_and_never_re_fire(
    pipeline: PipelineEnv,
) -> None:
    plans = [TeamPlan("decline", "mirror_decline", effect_from_window=4), TeamPlan("steady")]
    simulator = Simulator(plans, WINDOW_MS, recent_base_ms(WINDOW_MS), seed=12)
    base = simulator.start_ms
    closed = base + 4 * WINDOW_MS  # the window the late events belong to; it raised an alert
    phase1: list[Signal] = [e for index in range(5) for e in simulator.window(index)]
    far = base + 20 * WINDOW_MS  # both sides of both teams: the watermark passes window 4
    phase2: list[Signal] = [
        event
        for team in ("decline", "steady")
        for i in range(2)
        for event in (
            _customer(f"{team}-far-c{i}", team, far + 500 + i),
            _pulse(f"{team}-far-p{i}", team, far + 600 + i),
        )
    ]
    late_plan = {("decline", "customer"): 3, ("decline", "employee"): 2}
    late_plan |= {("steady", "customer"): 2, ("steady", "employee"): 1}
    phase3: list[Signal] = []
    for (team, side), count in late_plan.items():
        for i in range(count):
            at = closed + 1_000 + 1_500 * i
            if side == "customer":
                phase3.append(_customer(f"{team}-late-c{i}", team, at))
            else:
                phase3.append(_pulse(f"{team}-late-p{i}", team, at, comment=LATE_COMMENT))
    late_customers = {e.event_id for e in phase3 if isinstance(e, CustomerFeedback)}
    late_pulses = [e for e in phase3 if isinstance(e, EmployeePulse)]

    # The clean reference: the same engine offline, on the same events in the same order.
    settings = load_settings(
        window_seconds=WINDOW_MS / 1000,
        allowed_lateness_seconds=LATENESS_MS / 1000,
        topic_partitions=PARTITIONS,
    )
    clean = replay(((topic_of(e), record_to_json(e)) for e in phase1 + phase2 + phase3), settings)
    assert clean.late == len(phase3)
    expected_alerts = _alert_keys(clean.alerts, far)
    assert ("decline", closed, "mirror_decline") in {(t, w, k) for _, t, w, k in expected_alerts}
    expected_windows = {
        (w.team_id, w.window_start): (w.customer.n, w.employee.n if w.employee else None)
        for w in clean.windows
        if w.window_start < far
    }

    publish(pipeline, phase1)
    worker = WorkerProcess(pipeline).start()
    try:
        _wait_consumed(pipeline, len(phase1), worker, "the first five windows")
        publish(pipeline, phase2)
        _wait_consumed(pipeline, len(phase1) + len(phase2), worker, "the far-later events")
        alerts_before = read_alerts(pipeline.bootstrap, pipeline.alerts_topic)
        publish(pipeline, phase3)
        total = len(phase1) + len(phase2) + len(phase3)
        _wait_consumed(pipeline, total, worker, "the late events")
        time.sleep(2)  # room for a re-fired alert to show up
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]

    # Alerts: exactly the clean run's, each once; the late events added none.
    streamed = _alert_keys(read_alerts(pipeline.bootstrap, pipeline.alerts_topic), far)
    assert streamed == _alert_keys(alerts_before, far)
    assert streamed == expected_alerts
    stored_alerts = pipeline.query(
        "SELECT alert_id, count() AS copies FROM mirror_alerts "
        f"WHERE toUnixTimestamp64Milli(window_start) < {far} GROUP BY alert_id"
    )
    assert sorted(r["alert_id"] for r in stored_alerts) == [a for a, *_ in expected_alerts]
    assert {r["copies"] for r in stored_alerts} == {1}

    # The closed windows: the clean run's counts (no late event in them), emitted once.
    windows = pipeline.query(
        "SELECT team_id, toUnixTimestamp64Milli(window_start) AS start, customer_n, employee_n "
        f"FROM team_window_metrics WHERE toUnixTimestamp64Milli(window_start) < {far}"
    )
    assert Counter((r["team_id"], r["start"]) for r in windows) == Counter(expected_windows.keys())
    assert {
        (r["team_id"], r["start"]): (r["customer_n"], r["employee_n"]) for r in windows
    } == expected_windows
    assert expected_windows[("decline", closed)] == (plans[0].customers, plans[0].employees)

    # Counted per team, window and side.
    assert _late_counts(pipeline) == {
        (team, closed, side): count for (team, side), count in late_plan.items()
    }

    # Late customer records are stored raw, flagged late.
    rows = pipeline.query("SELECT event_id, late FROM customer_feedback FINAL WHERE late = 1")
    assert {r["event_id"] for r in rows} == late_customers

    # Late pulses: on the dead-letter topic with their original bytes, kind "late" ...
    letters = read_topic(pipeline.bootstrap, pipeline.dead_letter_topic)
    assert len(letters) == len(late_pulses)
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["miroir.error.kind"] == b"late"
        assert headers["miroir.source.topic"] == pipeline.employee_topic.encode()
    assert sorted(letter.value for letter in letters) == sorted(encode(p) for p in late_pulses)

    # ... and nowhere in ClickHouse: not in dead_letters, no pulse row in any table.
    assert pipeline.query("SELECT count() AS n FROM dead_letters")[0]["n"] == 0
    _assert_nowhere_in_clickhouse(pipeline, [p.event_id for p in late_pulses] + [LATE_COMMENT])


def _alert_keys(alerts: Iterable[MirrorAlert], before: int) -> list[tuple[str, str, int, str]]:
    return sorted(
        (a.alert_id, a.team_id, a.window_start, a.kind) for a in alerts if a.window_start < before
    )


def _assert_nowhere_in_clickhouse(env: PipelineEnv, needles: Sequence[str]) -> None:
    """No row of any Miroir table mentions any of ``needles``."""
    tables = [
        r["name"]
        for r in env.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
    ]
    assert {"customer_feedback", "dead_letters", "late_events"} <= set(tables)
    union = " UNION ALL ".join(
        f"SELECT '{table}' AS tbl, toString(tuple(*)) AS row FROM {table}" for table in tables
    )
    rows = env.query(f"SELECT tbl, row FROM ({union})")
    leaks = [(r["tbl"], needle) for r in rows for needle in needles if needle in r["row"]]
    assert leaks == []
