"""Run the real worker as a process against the real broker, and read what it produced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from schemas.codec import decode_alert
from schemas.records import MirrorAlert

REPO = Path(__file__).resolve().parents[2]


@dataclass
class PipelineEnv:
    """One isolated pipeline: unique topics, app id and ClickHouse store."""

    bootstrap: str
    tmp: Path
    prefix: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def customer_topic(self) -> str:
        return f"{self.prefix}-customer"

    @property
    def employee_topic(self) -> str:
        return f"{self.prefix}-employee"

    @property
    def alerts_topic(self) -> str:
        return f"{self.prefix}-alerts"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.prefix}-dead"

    @property
    def store(self) -> Path:
        return self.tmp / "clickhouse"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIROIR_")}
        env.update(
            {
                "MIROIR_KAFKA_BOOTSTRAP": self.bootstrap,
                "MIROIR_APP_ID": self.prefix,
                "MIROIR_TOPIC_CUSTOMER": self.customer_topic,
                "MIROIR_TOPIC_EMPLOYEE": self.employee_topic,
                "MIROIR_TOPIC_ALERTS": self.alerts_topic,
                "MIROIR_TOPIC_DEAD_LETTERS": self.dead_letter_topic,
                "MIROIR_TOPIC_TEAMS": f"{self.prefix}-teams",
                "MIROIR_TOPIC_PARTITIONS": "4",
                "MIROIR_CLICKHOUSE_DSN": f"chdb://{self.store}",
                "MIROIR_DATA_DIR": str(self.tmp / "worker"),
                "MIROIR_WINDOW_SECONDS": "10",
                "MIROIR_ALLOWED_LATENESS_SECONDS": "2",
                "MIROIR_IDLE_CLOSE_SECONDS": "1",
                "MIROIR_BATCH_SECONDS": "0.1",
                "MIROIR_WEB_PORT": "0",
                "MIROIR_MAX_FUTURE_SECONDS": "86400",
                # The reference runs (clean_run) re-key with the default secret too.
                "MIROIR_ALLOW_DEMO_SECRETS": "true",
            }
        )
        env.update(self.extra)
        return env

    def run_cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "streams", *args],
            env=self.env(),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Read the store through ``miroir query`` (the worker must have stopped)."""
        result = self.run_cli("query", sql, "--format", "json")
        if result.returncode != 0:
            raise AssertionError(f"miroir query failed: {result.stderr}")
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


class WorkerProcess:
    """``python -m streams worker`` in its own process, stopped gracefully or killed."""

    def __init__(self, env: PipelineEnv, name: str = "worker") -> None:
        self.env = env
        self.log_path = env.tmp / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker"],
            env=self.env.env(),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 60) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired as e:
                self.process.kill()
                self.process.wait()
                raise AssertionError(
                    f"worker did not stop in {timeout}s:\n{self.log()[-4000:]}"
                ) from e
        return self.process.returncode

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()


def read_topic(bootstrap: str, topic: str, timeout: float = 5.0) -> list[Any]:
    """Every record currently on ``topic`` (committed reads), from the beginning."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        consumer_timeout_ms=1000,
    )
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        if not partitions:
            return []  # the topic does not exist (yet)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[Any] = []
        deadline = time.time() + timeout
        while time.time() < deadline and any(consumer.position(tp) < ends[tp] for tp in partitions):
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def read_alerts(bootstrap: str, topic: str) -> list[MirrorAlert]:
    return [decode_alert(r.value) for r in read_topic(bootstrap, topic)]


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    worker: WorkerProcess | None = None,
    poll: float = 0.5,
) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        if worker is not None and not worker.alive():
            raise AssertionError(f"worker exited while waiting for {what}:\n{worker.log()[-6000:]}")
        time.sleep(poll)
    log = worker.log()[-6000:] if worker else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{log}")


def alert_keys(alerts: Iterable[MirrorAlert]) -> list[tuple[str, int, str]]:
    return sorted((a.team_id, a.window_start, a.kind) for a in alerts)


def create_topics(env: PipelineEnv, partitions: int = 4) -> PipelineEnv:
    """Create the pipeline's four topics with ``partitions`` partitions each."""
    from streams.runtime.topics import ensure_topics

    names = (env.customer_topic, env.employee_topic, env.alerts_topic, env.dead_letter_topic)
    ensure_topics(env.bootstrap, dict.fromkeys(names, partitions))
    return env


def publish(env: PipelineEnv, events: Iterable[Any]) -> None:
    """Produce signal records to the pipeline's topics (keyed by team, flushed)."""
    from streams.runtime.publish import SignalPublisher

    with SignalPublisher(env.bootstrap, env.customer_topic, env.employee_topic) as publisher:
        publisher.send_all(events)


def source_partitions(env: PipelineEnv, partitions: int = 4) -> list[TopicPartition]:
    """Every partition of the pipeline's two source topics."""
    return [
        TopicPartition(topic, p)
        for topic in (env.customer_topic, env.employee_topic)
        for p in range(partitions)
    ]


def uncommitted_records(env: PipelineEnv, partitions: int = 4) -> dict[str, int]:
    """Per source partition with a backlog: records between the group's committed offset and
    the end (what a lag monitor reading the group reports)."""
    consumer = KafkaConsumer(
        bootstrap_servers=env.bootstrap, group_id=env.prefix, enable_auto_commit=False
    )
    try:
        tps = source_partitions(env, partitions)
        ends = consumer.end_offsets(tps)
        lag = {f"{tp.topic}/{tp.partition}": ends[tp] - (consumer.committed(tp) or 0) for tp in tps}
        return {name: records for name, records in lag.items() if records}
    finally:
        consumer.close()


def committed_offsets(env: PipelineEnv, partitions: int = 4) -> int:
    """Source offsets the worker's consumer group has committed (read without joining it)."""
    consumer = KafkaConsumer(
        bootstrap_servers=env.bootstrap, group_id=env.prefix, enable_auto_commit=False
    )
    try:
        return sum(consumer.committed(tp) or 0 for tp in source_partitions(env, partitions))
    finally:
        consumer.close()


def recent_base_ms(window_ms: int, windows_back: int = 100) -> int:
    """An aligned event-time origin a little in the past (a replay of recent history)."""
    now = int(time.time() * 1000)
    return now - now % window_ms - windows_back * window_ms


def clean_run(
    events: list[Any], **settings: Any
) -> tuple[dict[str, tuple[str, int, str]], list[tuple[str, int, int, int | None]]]:
    """The reference a worker's result is compared with: the same engine over the same events,
    once, in-process, without any crash. Returns the alerts by id and every team-window's
    (team, start, customer n, employee n or None when suppressed)."""
    from schemas.codec import record_to_json, topic_of
    from streams.settings import load_settings
    from streams.tools.replay import replay

    config = {"window_seconds": 10, "allowed_lateness_seconds": 2, "topic_partitions": 4}
    result = replay(
        ((topic_of(e), record_to_json(e)) for e in events),
        load_settings(**{**config, **settings}),
    )
    alerts = {a.alert_id: (a.team_id, a.window_start, a.kind) for a in result.alerts}
    windows = sorted(
        (m.team_id, m.window_start, m.customer.n, None if m.employee is None else m.employee.n)
        for m in result.windows
    )
    return alerts, windows


def clean_episodes(
    events: list[Any], org: Any = None, **settings: Any
) -> tuple[dict[str, tuple[str, int, str, str]], dict[str, tuple[str, str, str, int, int]]]:
    """The same reference for episodes: the alerts topic's records by id (team or unit, window,
    kind, event) and each episode's last state by id (team, family, state, alerts, revision)."""
    result = _clean_replay(events, org, **settings)
    records = {
        r.alert_id: (r.team_id or r.unit_id or "", r.window_start, r.kind, r.event)
        for r in result.topic_records
    }
    episodes = {
        e.episode_id: (e.team_id, e.family, e.state, e.alerts, e.revision)
        for e in result.episodes.values()
    }
    return records, episodes


TagRow = tuple[str, int, str, int, float | None]


def clean_tags(events: list[Any], **settings: Any) -> list[TagRow]:
    """The per-tag customer rows of a clean run: (team, start, tag, n, C to 6 places)."""
    result = _clean_replay(events, None, **settings)
    return sorted(
        (m.team_id, m.window_start, tag, side.n, _rounded(side.index))
        for m in result.windows
        for tag, side in m.customer_tags
    )


def stored_tags(env: PipelineEnv) -> list[TagRow]:
    """Every per-tag row in ClickHouse, in ``clean_tags``' form (the worker must have stopped)."""
    rows = env.query(
        "SELECT team_id, toUnixTimestamp64Milli(window_start) AS start, tag, customer_n, "
        "customer_index FROM customer_tag_metrics FINAL"
    )
    return sorted(
        (r["team_id"], r["start"], r["tag"], r["customer_n"], _rounded(r["customer_index"]))
        for r in rows
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _clean_replay(events: list[Any], org: Any = None, **settings: Any) -> Any:
    from schemas.codec import record_to_json, topic_of
    from streams.settings import load_settings
    from streams.tools.replay import replay

    config = {"window_seconds": 10, "allowed_lateness_seconds": 2, "topic_partitions": 4}
    return replay(
        ((topic_of(e), record_to_json(e)) for e in events),
        load_settings(**{**config, **settings}),
        org=org,
    )


UnitReference = tuple[dict[str, tuple[str, str, tuple[str, ...], int]], set[tuple[str, int, int]]]


def clean_units(events: list[Any], org: Any, **settings: Any) -> UnitReference:
    """The unit stage's reference: incidents by id (unit, state, teams, revision) and unit
    windows (unit, window start, customer n)."""
    result = _clean_replay(events, org, **settings)
    incidents = {
        i.incident_id: (i.unit_id, i.state, tuple(i.teams), i.revision)
        for i in result.incidents.values()
    }
    windows = {
        (w.unit_id, w.metrics.window_start, w.metrics.customer.n) for w in result.unit_windows
    }
    return incidents, windows


def stored_units(env: PipelineEnv) -> UnitReference:
    """The unit stage's results in ClickHouse, in ``clean_units``' form."""
    incidents = {
        r["incident_id"]: (r["unit_id"], r["state"], tuple(r["teams"]), r["revision"])
        for r in env.query(
            "SELECT incident_id, unit_id, state, teams, revision FROM incidents FINAL"
        )
    }
    windows = {
        (r["unit_id"], r["start"], r["customer_n"])
        for r in env.query(
            "SELECT unit_id, toUnixTimestamp64Milli(window_start) AS start, customer_n "
            "FROM unit_window_metrics FINAL"
        )
    }
    return incidents, windows


def stored_episodes(env: PipelineEnv) -> dict[str, tuple[str, str, str, int, int]]:
    """Every episode in ClickHouse in its latest state, in ``clean_episodes``' form."""
    rows = env.query(
        "SELECT episode_id, team_id, family, state, alerts, revision FROM episodes FINAL"
    )
    return {
        r["episode_id"]: (r["team_id"], r["family"], r["state"], r["alerts"], r["revision"])
        for r in rows
    }


def stored_windows(env: PipelineEnv) -> list[tuple[str, int, int, int | None]]:
    """Every team-window in ClickHouse, in ``clean_run``'s form (the worker must have stopped)."""
    rows = env.query(
        "SELECT team_id, toUnixTimestamp64Milli(window_start) AS start, customer_n, employee_n "
        "FROM team_window_metrics FINAL"
    )
    return sorted((r["team_id"], r["start"], r["customer_n"], r["employee_n"]) for r in rows)


def all_windows_closed(env: PipelineEnv, last_window_end: Mapping[str, int]) -> bool:
    """Whether the worker's saved (changelog) state has each team's windows closed through
    ``last_window_end[team]``, none left open: the idle timer closes the last windows, since no
    later event time arrives. Read from the changelog, so it holds across worker lives."""
    latest: dict[str, Any] = {}
    for record in read_topic(env.bootstrap, f"{env.prefix}-window-state-changelog", timeout=60):
        latest[json.loads(record.key)] = json.loads(record.value) if record.value else None
    for team, end in last_window_end.items():
        state = latest.get(f"team:{team}")
        if not state or state["open"] or state.get("closed_through") != end:
            return False
    return True
