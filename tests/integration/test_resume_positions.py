"""A worker resumes where its saved state stops, not at the consumer group's committed offset:
Faust can commit offsets of records it skipped during a rebalance (see
streams.runtime.resume), which this test stages by moving the group's offsets to the end of
every partition while the worker is down."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata

from streams.tools.simulator import Simulator, TeamPlan
from tests.integration.harness import (
    PipelineEnv,
    WorkerProcess,
    clean_run,
    committed_offsets,
    create_topics,
    publish,
    recent_base_ms,
    source_partitions,
    stored_windows,
    wait_until,
)

pytestmark = pytest.mark.integration

WINDOW_MS = 10_000
TEAMS = [
    TeamPlan("one", "mirror_decline", effect_from_window=3, employees=8, customers=30),
    TeamPlan("two", employees=8, customers=30),
    TeamPlan("three", employees=8, customers=30),
]


@pytest.fixture
def env(kafka_broker, tmp_path: Path, unique_name) -> PipelineEnv:
    env = PipelineEnv(kafka_broker.bootstrap, tmp_path, unique_name("r"))
    create_topics(env)
    return env


def _commit_at_end(env: PipelineEnv) -> int:
    """Move the (empty) group's committed offsets to the end of every source partition, as a
    commit of skipped records would; return how many records that jumps over."""
    consumer = KafkaConsumer(
        bootstrap_servers=env.bootstrap, group_id=env.prefix, enable_auto_commit=False
    )
    try:
        tps = source_partitions(env)
        ends = consumer.end_offsets(tps)
        before = {tp: consumer.committed(tp) or 0 for tp in tps}
        consumer.commit({tp: OffsetAndMetadata(ends[tp], "", -1) for tp in tps})
        return sum(ends[tp] - before[tp] for tp in tps)
    finally:
        consumer.close()


def test_a_worker_resumes_at_its_saved_positions_when_committed_offsets_run_ahead(
    env: PipelineEnv,
) -> None:
    simulator = Simulator(TEAMS, WINDOW_MS, recent_base_ms(WINDOW_MS), seed=5)
    first_half = [e for i in range(3) for e in simulator.window(i)]
    second_half = [e for i in range(3, 6) for e in simulator.window(i)]
    expected_alerts, expected_windows = clean_run(first_half + second_half)

    publish(env, first_half)
    worker = WorkerProcess(env, "worker-1").start()
    try:
        wait_until(lambda: committed_offsets(env) >= len(first_half), 90, "the first half", worker)
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]

    publish(env, second_half)
    jumped = _commit_at_end(env)
    assert jumped == len(second_half)  # every record of the second half "committed", unread

    second = WorkerProcess(env, "worker-2").start()
    try:
        wait_until(
            lambda: "ahead of the saved state" in second.log(), 60, "the resume warning", second
        )
        # Every team-window closes (the last ones on the idle timer) in one life or the other.
        wait_until(
            lambda: (
                worker.log().count("closed team=") + second.log().count("closed team=")
                >= len(expected_windows)
            ),
            120,
            "every window to close",
            second,
        )
    finally:
        assert second.stop() == 0, second.log()[-4000:]

    assert stored_windows(env) == expected_windows  # nothing of the second half was skipped
    stored = env.query("SELECT alert_id FROM mirror_alerts FINAL")
    assert sorted(r["alert_id"] for r in stored) == sorted(expected_alerts)
    assert expected_alerts, "the planted decline must raise alerts"
