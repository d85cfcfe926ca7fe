"""The whole pipeline on the real Apache Kafka broker and the real ClickHouse engine (chDB):
the worker runs as its own process, exactly as `miroir worker` does in production."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest

from schemas.codec import encode
from schemas.records import CustomerFeedback
from streams.runtime.publish import SignalPublisher
from streams.tools.simulator import Simulator, TeamPlan
from tests.integration.harness import (
    PipelineEnv,
    WorkerProcess,
    alert_keys,
    committed_offsets,
    create_topics,
    publish,
    read_alerts,
    recent_base_ms,
    wait_until,
)

pytestmark = pytest.mark.integration

WINDOW_MS = 10_000
PLANTED = [
    TeamPlan("steady-a"),
    TeamPlan("steady-b"),
    TeamPlan("decline", "mirror_decline"),
    TeamPlan("inner", "inner_warning"),
    TeamPlan("outer", "outer_warning"),
]


@pytest.fixture
def pipeline(kafka_broker, tmp_path: Path, unique_name) -> PipelineEnv:
    env = PipelineEnv(kafka_broker.bootstrap, tmp_path, unique_name("p"))
    create_topics(env)
    return env


def _windows(simulator: Simulator, first: int, last: int) -> list:
    return [e for index in range(first, last) for e in simulator.window(index)]


def test_planted_effects_give_exactly_the_expected_alerts(pipeline: PipelineEnv) -> None:
    simulator = Simulator(PLANTED, WINDOW_MS, recent_base_ms(WINDOW_MS), seed=12)
    publish(pipeline, _windows(simulator, 0, 5))
    base = simulator.start_ms
    expected = [
        ("decline", base + 4 * WINDOW_MS, "mirror_decline"),
        ("inner", base + 4 * WINDOW_MS, "inner_warning"),
        ("outer", base + 4 * WINDOW_MS, "outer_warning"),
    ]
    worker = WorkerProcess(pipeline).start()
    try:
        # The last window closes on the idle timer (no later events): wait for its alerts, then
        # a little longer so that an unexpected extra alert would have time to show up.
        wait_until(
            lambda: len(read_alerts(pipeline.bootstrap, pipeline.alerts_topic)) >= 3,
            120,
            "the planted alerts",
            worker,
        )
        time.sleep(5)
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]
    on_topic = read_alerts(pipeline.bootstrap, pipeline.alerts_topic)
    assert alert_keys(on_topic) == expected
    stored = pipeline.query(
        "SELECT team_id, toUnixTimestamp64Milli(window_start) AS start, kind, severity, dimension "
        "FROM mirror_alerts FINAL ORDER BY team_id"
    )
    assert sorted((r["team_id"], r["start"], r["kind"]) for r in stored) == expected
    assert {r["kind"]: r["severity"] for r in stored} == {
        "mirror_decline": "critical",
        "inner_warning": "warning",
        "outer_warning": "warning",
    }
    windows = pipeline.query(
        "SELECT team_id, count() AS n FROM team_window_metrics FINAL GROUP BY team_id"
    )
    assert {r["team_id"]: r["n"] for r in windows} == {plan.team_id: 5 for plan in PLANTED}


def test_malformed_records_go_to_dead_letters_and_good_ones_are_processed(
    pipeline: PipelineEnv,
) -> None:
    simulator = Simulator(
        [TeamPlan("alpha"), TeamPlan("beta")], WINDOW_MS, recent_base_ms(WINDOW_MS), seed=5
    )
    good = _windows(simulator, 0, 3)
    base = simulator.start_ms
    valid = encode(
        CustomerFeedback(
            event_id="cut", occurred_at=base + 1, team_id="alpha", channel="web", source="t", csat=4
        )
    )
    bad = {
        "random bytes": (pipeline.customer_topic, b"\xff" + os.urandom(40)),
        "truncated": (pipeline.customer_topic, valid[: len(valid) // 2]),
        "empty": (pipeline.employee_topic, b""),
        "employee bytes on customer topic": (pipeline.employee_topic, b"\x00\x01\x02garbage"),
        "no score": (pipeline.customer_topic, _unchecked_customer(base, nps=None)),
        "out of range": (pipeline.customer_topic, _unchecked_customer(base, nps=42)),
    }
    with SignalPublisher(
        pipeline.bootstrap, pipeline.customer_topic, pipeline.employee_topic
    ) as publisher:
        for i, event in enumerate(good):
            publisher.send(event)
            if i % 50 == 0 and bad:
                _, (topic, value) = bad.popitem()
                publisher.send_raw(topic, b"alpha", value)
        for topic, value in bad.values():
            publisher.send_raw(topic, b"alpha", value)
    bad_count = 6
    worker = WorkerProcess(pipeline).start()
    good_customers = sum(isinstance(e, CustomerFeedback) for e in good)
    try:
        wait_until(
            lambda: _dead_letter_count(pipeline) >= bad_count, 90, "the dead letters", worker
        )
        time.sleep(8)  # let the last window close on the idle timer
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]
    letters = pipeline.query("SELECT topic, reason, error_kind FROM dead_letters")
    assert len(letters) == bad_count
    assert all(r["reason"] for r in letters)
    assert Counter(r["error_kind"] for r in letters)["range"] == 1
    assert Counter(r["error_kind"] for r in letters)["no_score"] == 1
    rows = pipeline.query("SELECT count() AS n FROM customer_feedback FINAL WHERE late = 0")
    assert rows[0]["n"] == good_customers
    sums = pipeline.query(
        "SELECT sum(customer_n) AS customers, sum(employee_n) AS employees, count() AS windows "
        "FROM team_window_metrics FINAL"
    )
    assert sums[0]["customers"] == good_customers
    assert sums[0]["employees"] == len(good) - good_customers
    assert sums[0]["windows"] == 6


def _dead_letter_count(env: PipelineEnv) -> int:
    from tests.integration.harness import read_topic

    return len(read_topic(env.bootstrap, env.dead_letter_topic))


def _unchecked_customer(base: int, **scores) -> bytes:
    """A customer record encoded without the codec's validation (what a buggy producer sends)."""
    import io

    import fastavro

    from schemas.codec import load_schema

    schema = fastavro.parse_schema(load_schema("customer_feedback.avsc"))
    value = {
        "event_id": "unchecked",
        "occurred_at": base + 5,
        "team_id": "alpha",
        "channel": "web",
        "customer_ref": None,
        "source": "t",
        "tags": [],
        "language": None,
        "comment": None,
        "nps": None,
        "csat": None,
        "ces": None,
        "listened": None,
        "trust": None,
        "courtesy": None,
    }
    value.update(scores)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, value)
    return buffer.getvalue()


def test_a_restart_mid_stream_loses_no_window_and_emits_none_twice(pipeline: PipelineEnv) -> None:
    teams = [
        TeamPlan("one", "mirror_decline", effect_from_window=4),
        TeamPlan("two"),
        TeamPlan("three"),
    ]
    simulator = Simulator(teams, WINDOW_MS, recent_base_ms(WINDOW_MS), seed=9)
    publish(pipeline, _windows(simulator, 0, 3))
    worker = WorkerProcess(pipeline).start()
    try:
        # Wait until the first windows were processed: no alert yet, so watch the worker's
        # committed offsets instead.
        wait_until(
            lambda: (
                committed_offsets(pipeline) >= 3 * sum(p.employees + p.customers for p in teams)
            ),
            90,
            "the first half to be consumed",
            worker,
        )
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]
    publish(pipeline, _windows(simulator, 3, 6))
    second = WorkerProcess(pipeline, "worker-2").start()
    try:
        wait_until(
            lambda: len(read_alerts(pipeline.bootstrap, pipeline.alerts_topic)) >= 1,
            120,
            "the decline alert",
            second,
        )
        time.sleep(8)
    finally:
        assert second.stop() == 0, second.log()[-4000:]
    rows = pipeline.query(
        "SELECT team_id, toUnixTimestamp64Milli(window_start) AS start, count() AS copies "
        "FROM team_window_metrics GROUP BY team_id, start"
    )
    assert len(rows) == 3 * 6, rows  # every team-window is there ...
    assert {r["copies"] for r in rows} == {1}  # ... and was emitted once
    alerts = read_alerts(pipeline.bootstrap, pipeline.alerts_topic)
    assert len({a.alert_id for a in alerts}) == len(alerts)
    assert ("one", simulator.start_ms + 4 * WINDOW_MS, "mirror_decline") in alert_keys(alerts)
