"""Outages mid-stream, on the real broker with the worker as its own process: ClickHouse going
away (back-pressure, bounded memory, nothing lost) and the Kafka broker restarting. Either way the
final ClickHouse contents must be what a clean run computes: ``streams.tools.replay.replay``
runs the same engine in-process over the same events, in the order they were produced."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from schemas.codec import record_to_json, topic_of
from schemas.records import Signal
from streams.settings import load_settings
from streams.tools.replay import ReplayResult, replay
from streams.tools.simulator import Simulator, TeamPlan
from tests.integration.harness import (
    PipelineEnv,
    WorkerProcess,
    committed_offsets,
    create_topics,
    publish,
    read_alerts,
    recent_base_ms,
    wait_until,
)

pytestmark = pytest.mark.integration

WINDOW_MS = 10_000
LATENESS_MS = 2_000
PARTITIONS = 4
IDLE_CLOSE_SECONDS = 4  # a delivery hiccup is not idleness
OUTAGE_SECONDS = 15.0
RSS_GROWTH_LIMIT_MB = 150.0
PLANTED = [
    TeamPlan("steady-a"),
    TeamPlan("steady-b"),
    TeamPlan("decline", "mirror_decline"),
    TeamPlan("inner", "inner_warning"),
    TeamPlan("outer", "outer_warning"),
]
# Busy steady teams: they make the backlog of an outage worth measuring.
BULK = [TeamPlan(f"bulk-{i:02d}", customers=400, employees=20) for i in range(10)]

Metrics = dict[tuple[str, int], tuple[int, int | None]]


def _env(bootstrap: str, tmp: Path, prefix: str, **extra: str) -> PipelineEnv:
    env = PipelineEnv(
        bootstrap,
        tmp,
        prefix,
        extra={"MIROIR_IDLE_CLOSE_SECONDS": str(IDLE_CLOSE_SECONDS), **extra},
    )
    create_topics(env, PARTITIONS)
    return env


def _windows(simulator: Simulator, first: int, last: int) -> list[Signal]:
    return [e for index in range(first, last) for e in simulator.window(index)]


def _clean_run(events: Sequence[Signal]) -> ReplayResult:
    """What the pipeline computes when nothing goes wrong (same engine, same settings)."""
    settings = load_settings(
        window_seconds=WINDOW_MS / 1000,
        allowed_lateness_seconds=LATENESS_MS / 1000,
        idle_close_seconds=IDLE_CLOSE_SECONDS,
        topic_partitions=PARTITIONS,
    )
    return replay(((topic_of(e), record_to_json(e)) for e in events), settings)


def _expected_windows(clean: ReplayResult) -> Metrics:
    return {
        (w.team_id, w.window_start): (w.customer.n, w.employee.n if w.employee else None)
        for w in clean.windows
    }


def _wait_done(env: PipelineEnv, total: int, clean: ReplayResult, worker: WorkerProcess) -> None:
    """Everything consumed and the clean run's alerts out; then the last windows close idle."""
    wait_until(lambda: committed_offsets(env) >= total, 90, "every event to be consumed", worker)
    # The clean run's alert count, if it comes: a shortfall is reported by the comparison.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and worker.alive():
        if len(read_alerts(env.bootstrap, env.alerts_topic)) >= len(clean.alerts):
            break
        time.sleep(0.5)
    # The newest windows close on the idle timer: idle delay + lateness + room to write.
    time.sleep(IDLE_CLOSE_SECONDS + LATENESS_MS / 1000 + 3)


def _assert_same_as_clean_run(env: PipelineEnv, clean: ReplayResult) -> None:
    rows = env.query(
        "SELECT team_id, toUnixTimestamp64Milli(window_start) AS start, customer_n, employee_n "
        "FROM team_window_metrics FINAL"
    )
    windows: Metrics = {
        (r["team_id"], r["start"]): (r["customer_n"], r["employee_n"]) for r in rows
    }
    expected = _expected_windows(clean)
    differing = {
        key: (windows.get(key), expected.get(key))
        for key in windows.keys() | expected.keys()
        if windows.get(key) != expected.get(key)
    }
    late = env.query(
        "SELECT team_id, toUnixTimestamp64Milli(window_start) AS start, side, "
        "sum(events) AS events FROM late_events FINAL GROUP BY team_id, start, side"
    )
    assert differing == {}, f"(worker, clean run) (customer_n, employee_n) differ; late: {late}"
    assert len(rows) == len(expected)
    assert [r for r in late if r["events"]] == []

    alerts = env.query("SELECT alert_id, team_id, kind FROM mirror_alerts FINAL")
    stored = {r["alert_id"]: (r["team_id"], r["kind"]) for r in alerts}
    wanted = {a.alert_id: (a.team_id, a.kind) for a in clean.alerts}
    assert (
        {i: k for i, k in stored.items() if i not in wanted},
        {i: k for i, k in wanted.items() if i not in stored},
    ) == ({}, {}), "(alerts only in the worker's run, alerts only in the clean run)"
    assert len(alerts) == len(stored)


@dataclass
class _RssSampler:
    """VmRSS of a process every ``interval`` seconds, in a background thread."""

    pid: int
    interval: float = 0.5
    samples: list[tuple[float, float]] = field(default_factory=list)  # (monotonic s, MB)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError(f"no VmRSS for process {self.pid}")

    def start(self) -> _RssSampler:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), self.rss_mb()))
            except (OSError, AssertionError):
                return  # the process is gone; the test reports it
            self._stop.wait(self.interval)


def _during(seconds: float, actions: dict[float, Callable[[], Any]]) -> None:
    """Run each action at its offset (seconds from now), then wait out ``seconds``."""
    began = time.monotonic()
    for offset, action in sorted(actions.items()):
        time.sleep(max(0.0, began + offset - time.monotonic()))
        action()
    time.sleep(max(0.0, began + seconds - time.monotonic()))


def test_clickhouse_outage_pauses_consumption_in_bounded_memory_and_loses_nothing(
    kafka_broker, tmp_path: Path, unique_name
) -> None:
    fault = tmp_path / "ch-down"
    env = _env(
        kafka_broker.bootstrap,
        tmp_path,
        unique_name("chdown"),
        MIROIR_CLICKHOUSE_FAULT_FILE=str(fault),
    )
    simulator = Simulator(PLANTED + BULK, WINDOW_MS, recent_base_ms(WINDOW_MS), seed=12)
    before = _windows(simulator, 0, 4)
    during = [simulator.window(index) for index in range(4, 8)]  # the stream goes on
    events = before + [e for chunk in during for e in chunk]
    clean = _clean_run(events)
    assert {a.kind for a in clean.alerts} >= {"mirror_decline", "inner_warning", "outer_warning"}

    worker = WorkerProcess(env).start()
    try:
        publish(env, before)
        wait_until(lambda: committed_offsets(env) >= len(before), 90, "the first part", worker)
        assert worker.process is not None
        sampler = _RssSampler(worker.process.pid)
        rss_at_outage = sampler.rss_mb()
        fault.touch()
        down_at = time.monotonic()
        sampler.start()
        committed: list[tuple[float, int]] = []

        def sample_committed() -> None:
            committed.append((time.monotonic() - down_at, committed_offsets(env)))

        actions: dict[float, Callable[[], Any]] = {
            1.5 * i: functools.partial(publish, env, chunk) for i, chunk in enumerate(during)
        }
        actions |= {offset: sample_committed for offset in (5.0, 8.0, 11.0, 14.5)}
        _during(OUTAGE_SECONDS, actions)
        assert worker.alive(), worker.log()[-4000:]
        fault.unlink()
        up_at = time.monotonic()
        stuck = committed[-1][1]
        wait_until(lambda: committed_offsets(env) > stuck, 60, "consumption to resume", worker)
        resumed_after = time.monotonic() - up_at
        _wait_done(env, len(events), clean, worker)
        sampler.stop()
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]

    during_outage = [mb for at, mb in sampler.samples if at <= up_at]
    peak = max(during_outage)
    print(
        f"\nClickHouse outage {OUTAGE_SECONDS:.0f} s, {len(events) - len(before)} events "
        f"produced meanwhile: RSS {rss_at_outage:.1f} MB when it began, peak {peak:.1f} MB "
        f"(+{peak - rss_at_outage:.1f} MB) over {len(during_outage)} samples; committed "
        f"offsets during the outage {committed} of {len(events)}; consumption resumed "
        f"{resumed_after:.1f} s after ClickHouse came back"
    )
    # Back-pressure: nothing new is committed while ClickHouse is down (the first sample leaves
    # room for a commit of what was durable before), and the backlog stays in Kafka.
    assert len({offsets for _, offsets in committed}) == 1, committed
    assert stuck < len(events)
    assert peak - rss_at_outage < RSS_GROWTH_LIMIT_MB
    assert "ClickHouse unavailable" in worker.log()
    _assert_same_as_clean_run(env, clean)


def test_a_broker_restart_mid_stream_loses_nothing(
    dedicated_kafka_broker, tmp_path: Path, unique_name
) -> None:
    broker = dedicated_kafka_broker
    env = _env(broker.bootstrap, tmp_path, unique_name("restart"))
    simulator = Simulator(PLANTED, WINDOW_MS, recent_base_ms(WINDOW_MS), seed=12)
    before, after = _windows(simulator, 0, 4), _windows(simulator, 4, 8)
    clean = _clean_run(before + after)
    assert {a.kind for a in clean.alerts} >= {"mirror_decline", "inner_warning", "outer_warning"}

    worker = WorkerProcess(env).start()
    try:
        publish(env, before)
        wait_until(lambda: committed_offsets(env) >= len(before), 90, "the first part", worker)
        stopped_at = time.monotonic()
        broker.restart()
        restart_seconds = time.monotonic() - stopped_at
        publish(env, after)
        _wait_done(env, len(before) + len(after), clean, worker)
        assert worker.alive(), worker.log()[-4000:]
    finally:
        code = worker.stop()
    print(f"\nbroker restart took {restart_seconds:.1f} s; worker exit code {code}")
    assert code == 0, worker.log()[-4000:]
    _assert_same_as_clean_run(env, clean)
