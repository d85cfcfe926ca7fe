"""Records that used to stop the pipeline for good, and stopping while ClickHouse is down: on the
real broker, with the worker as its own process and the real ClickHouse engine (chDB).

- 150 ordinary customer records dated in 150 different months made one ClickHouse insert touch
  150 partitions ("Too many partitions for single INSERT block"): the worker retried forever,
  and again after a restart. Now the insert is split by month, records older than
  ``MIROIR_MAX_AGE_DAYS`` are dead letters, and the pipeline goes on.
- A worker asked to stop (SIGTERM) while it retries a ClickHouse write stops in seconds,
  without acknowledging the batch; the next worker writes it once ClickHouse is back.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from schemas.records import CustomerFeedback, EmployeePulse
from tests.integration.harness import (
    PipelineEnv,
    WorkerProcess,
    all_windows_closed,
    committed_offsets,
    create_topics,
    publish,
    recent_base_ms,
    wait_until,
)

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
MONTH_MS = 31 * DAY_MS
MAX_AGE_DAYS = 3_650


def _old_customer_records(now_ms: int, months: int) -> list[CustomerFeedback]:
    """One record per month back from now, oldest first, each in a team of its own."""
    return [
        CustomerFeedback(
            event_id=f"old-{i}",
            occurred_at=now_ms - (months - i) * MONTH_MS,
            team_id=f"archive-{i % 7}",
            channel="email",
            source="import",
            customer_ref=f"client-{i}@example.com",
            csat=4,
        )
        for i in range(months)
    ]


def _recent_window(base_ms: int, team: str, customers: int, employees: int) -> list[object]:
    events: list[object] = [
        CustomerFeedback(f"{team}-c{i}", base_ms + i, team, "chat", "s", csat=5)
        for i in range(customers)
    ]
    events += [
        EmployeePulse(
            f"{team}-e{i}", base_ms + i, team, "s", respondent_ref=f"{team}-p{i}", trust=4
        )
        for i in range(employees)
    ]
    return events


def test_a_batch_spanning_150_months_is_written_or_dead_lettered_and_the_pipeline_goes_on(
    kafka_broker, tmp_path: Path, unique_name
) -> None:
    env = create_topics(
        PipelineEnv(
            kafka_broker.bootstrap,
            tmp_path,
            unique_name("months"),
            extra={"MIROIR_MAX_AGE_DAYS": str(MAX_AGE_DAYS)},
        )
    )
    now = int(time.time() * 1000)
    old = _old_customer_records(now, 150)
    too_old = [r for r in old if r.occurred_at < now - MAX_AGE_DAYS * DAY_MS]
    assert 20 < len(too_old) < 40  # the rest still spans ~120 months: more than one insert may
    base = recent_base_ms(10_000, windows_back=5)
    recent = _recent_window(base, "live", customers=12, employees=6)
    publish(env, old)  # all before the worker starts: they arrive as one batch
    worker = WorkerProcess(env).start()
    try:
        wait_until(lambda: committed_offsets(env) >= len(old), 120, "the 150-month batch", worker)
        publish(env, recent)
        wait_until(
            lambda: committed_offsets(env) >= len(old) + len(recent), 60, "the next records", worker
        )
        # No later event time arrives: the idle timer closes the window (read from the state).
        wait_until(
            lambda: all_windows_closed(env, {"live": base + 10_000}), 60, "the window", worker
        )
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]
    assert "Too many partitions" not in worker.log()

    (rows,) = env.query("SELECT count() AS n FROM customer_feedback FINAL")
    assert rows["n"] == len(old) - len(too_old) + 12
    letters = env.query(
        "SELECT error_kind, reason, payload FROM dead_letters FINAL WHERE topic = "
        f"'{env.customer_topic}'"
    )
    assert len(letters) == len(too_old)
    assert {r["error_kind"] for r in letters} == {"too_old"}
    assert all("MIROIR_MAX_AGE_DAYS" in r["reason"] for r in letters)
    assert not any("@example.com" in (r["payload"] or "") for r in letters)  # re-keyed
    windows = env.query(
        "SELECT customer_n, employee_n FROM team_window_metrics FINAL WHERE team_id = 'live'"
    )
    assert windows == [{"customer_n": 12, "employee_n": 6}]


def test_sigterm_while_clickhouse_writes_are_retried_stops_the_worker_in_seconds(
    kafka_broker, tmp_path: Path, unique_name
) -> None:
    fault = tmp_path / "clickhouse-down"
    env = create_topics(
        PipelineEnv(
            kafka_broker.bootstrap,
            tmp_path,
            unique_name("stop"),
            extra={"MIROIR_CLICKHOUSE_FAULT_FILE": str(fault)},
        )
    )
    base = recent_base_ms(10_000, windows_back=5)
    events = _recent_window(base, "blue", customers=20, employees=5)
    fault.touch()
    worker = WorkerProcess(env).start()
    try:
        publish(env, events)
        wait_until(lambda: "ClickHouse unavailable" in worker.log(), 90, "a retried write", worker)
        asked = time.monotonic()
        code = worker.stop(timeout=20)
        stopped_after = time.monotonic() - asked
    finally:
        if worker.alive():
            worker.kill()
    print(f"\nSIGTERM during a ClickHouse retry loop: exited {code} after {stopped_after:.1f} s")
    assert stopped_after < 10, worker.log()[-4000:]
    assert code == 75, worker.log()[-4000:]  # EX_TEMPFAIL: the batch was not acknowledged
    assert "read again on restart" in worker.log()
    assert committed_offsets(env) == 0

    fault.unlink()  # ClickHouse is back: a new worker writes what the stopped one could not
    again = WorkerProcess(env, "worker-2").start()
    try:
        wait_until(lambda: committed_offsets(env) >= len(events), 90, "the backlog", again)
    finally:
        assert again.stop() == 0, again.log()[-4000:]
    (rows,) = env.query("SELECT count() AS n, uniqExact(event_id) AS ids FROM customer_feedback")
    assert rows == {"n": 20, "ids": 20}
