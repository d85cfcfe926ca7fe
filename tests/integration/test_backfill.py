"""`miroir backfill` against the live worker, on the real broker and the real ClickHouse engine.

A month of daily history for an organisation of 12 teams (a department shock, a customer-side
fall, an employee-side fall, steady teams; answers delivered up to 20 minutes out of order) is
produced to the source topics, the live worker runs over it until it has caught up and stops,
then `miroir backfill --from <the first day> --to-store` runs through the CLI into a fresh store.
It must write the same alerts, team-windows, episodes, unit windows and incidents; twice
without a second row; without touching the worker's consumer groups or publishing anything; and
its run row says done with its counts. Progress shows as a bar on a terminal and as plain lines
elsewhere; Ctrl-C records the run as stopped; bad requests fail clearly.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from schemas.codec import decode_alert, record_to_json, topic_of
from streams.runtime.topics import ensure_topics
from streams.tools.plans import Effect
from streams.tools.simulator import Simulator, TeamPlan
from tests.integration.harness import (
    REPO,
    PipelineEnv,
    WorkerProcess,
    create_topics,
    publish,
    read_alerts,
    read_topic,
    wait_until,
)

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
WINDOWS = 30  # a month of daily windows
SETTINGS = {
    "MIROIR_WINDOW_SECONDS": "86400",
    "MIROIR_ALLOWED_LATENESS_SECONDS": "3600",
    "MIROIR_IDLE_CLOSE_SECONDS": "1",
}
DEPARTMENT_SHOCK = {"d1-t0", "d1-t1", "d1-t2"}  # three of d1's four teams, windows 14-19


def plans() -> list[TeamPlan]:
    result = []
    for department in range(3):
        for number in range(4):
            team = f"d{department}-t{number}"
            effects: tuple[Effect, ...] = ()
            if team in DEPARTMENT_SHOCK:
                effects = (Effect("mirror_decline", 14, 20, recovery_windows=2),)
            elif team == "d0-t1":
                effects = (Effect("outer_warning", 8, 13),)
            elif team == "d2-t3":
                effects = (Effect("inner_warning", 22),)
            result.append(TeamPlan(team, effects=effects, employees=12, customers=40, mood_sd=0.05))
    return result


def teams_csv(path: Path) -> Path:
    lines = ["team_id,display_name,company,department"]
    lines += [f"{p.team_id},Team {p.team_id},acme,{p.team_id.split('-')[0]}" for p in plans()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class LiveRun:
    """The live worker's run over the history, and what it left behind."""

    env: PipelineEnv
    tmp: Path
    start_ms: int
    events: int
    store: dict[str, Any]
    alert_ids_on_topic: set[str]

    def backfill_env(self, name: str, **extra: str) -> PipelineEnv:
        """The same topics and settings, another ClickHouse store (and directory)."""
        directory = self.tmp / name
        directory.mkdir(exist_ok=True)
        return PipelineEnv(
            self.env.bootstrap, directory, self.env.prefix, {**self.env.extra, **extra}
        )

    @property
    def start_text(self) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(self.start_ms / 1000))


def _group_offsets(bootstrap: str, group: str, tps: list[TopicPartition]) -> dict[str, int | None]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {f"{tp.topic}/{tp.partition}": consumer.committed(tp) for tp in tps}
    finally:
        consumer.close()


def _end_offsets(bootstrap: str, tps: list[TopicPartition]) -> dict[str, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return {f"{tp.topic}/{tp.partition}": end for tp, end in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def _groups(bootstrap: str) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {_group_name(group) for group in admin.list_groups()}
    finally:
        admin.close()


def _group_name(group: Any) -> str:
    if isinstance(group, dict):
        return str(group.get("group_id", group.get("groupId")))
    return str(group[0])


def _source_tps(env: PipelineEnv) -> list[TopicPartition]:
    return [
        TopicPartition(t, p) for t in (env.customer_topic, env.employee_topic) for p in range(4)
    ]


def _unit_tps(env: PipelineEnv) -> list[TopicPartition]:
    return [TopicPartition(f"{env.prefix}-unit-inputs", 0)]


def _caught_up(env: PipelineEnv) -> bool:
    """The worker has committed every source record, and its unit stage every input."""
    sources = _source_tps(env)
    ends = _end_offsets(env.bootstrap, sources)
    if _group_offsets(env.bootstrap, env.prefix, sources) != ends:
        return False
    units = _unit_tps(env)
    unit_ends = _end_offsets(env.bootstrap, units)
    return _group_offsets(env.bootstrap, f"{env.prefix}-units", units) == unit_ends


def stored(env: PipelineEnv) -> dict[str, Any]:
    """Everything the engine and the unit stage wrote, in comparable form (FINAL)."""
    alerts = {
        (r["alert_id"], r["kind"], r["team_id"], r["start"], r["end"], r["event"])
        for r in env.query(
            "SELECT alert_id, kind, team_id, toUnixTimestamp64Milli(window_start) AS start, "
            "toUnixTimestamp64Milli(window_end) AS end, event FROM mirror_alerts FINAL"
        )
    }
    windows = {
        (r["team_id"], r["start"], r["end"]): r
        for r in env.query(
            "SELECT team_id, toUnixTimestamp64Milli(window_start) AS start, "
            "toUnixTimestamp64Milli(window_end) AS end, customer_n, employee_n, "
            "customer_index, employee_index, nps, csat, employee_suppressed, alert_kinds "
            "FROM team_window_metrics FINAL"
        )
    }
    episodes = {
        (r["episode_id"], r["team_id"], r["family"], r["state"], r["alerts"], r["revision"])
        for r in env.query(
            "SELECT episode_id, team_id, family, state, alerts, revision FROM episodes FINAL"
        )
    }
    units = {
        (r["unit_id"], r["start"], r["customer_n"], r["teams"])
        for r in env.query(
            "SELECT unit_id, toUnixTimestamp64Milli(window_start) AS start, customer_n, "
            "length(teams) AS teams FROM unit_window_metrics FINAL"
        )
    }
    incidents = {
        (r["incident_id"], r["unit_id"], r["state"], tuple(r["teams"]), r["revision"])
        for r in env.query(
            "SELECT incident_id, unit_id, state, teams, revision FROM incidents FINAL"
        )
    }
    tags = {
        (r["team_id"], r["start"], r["tag"], r["customer_n"])
        for r in env.query(
            "SELECT team_id, toUnixTimestamp64Milli(window_start) AS start, tag, customer_n "
            "FROM customer_tag_metrics FINAL"
        )
    }
    return {
        "alerts": alerts,
        "windows": windows,
        "episodes": episodes,
        "units": units,
        "incidents": incidents,
        "tags": tags,
    }


@pytest.fixture(scope="module")
def live(kafka_broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    tmp = tmp_path_factory.mktemp("backfill")
    env = PipelineEnv(
        kafka_broker.bootstrap, tmp / "live", f"bf-{uuid.uuid4().hex[:10]}", dict(SETTINGS)
    )
    env.tmp.mkdir()
    create_topics(env)
    ensure_topics(env.bootstrap, {f"{env.prefix}-teams": 1}, configs={"cleanup.policy": "compact"})
    loaded = env.run_cli("teams", "load", str(teams_csv(tmp / "teams.csv")))
    assert loaded.returncode == 0, loaded.stderr

    now = int(time.time() * 1000)
    start = now - now % DAY_MS - (WINDOWS + 5) * DAY_MS
    simulator = Simulator(plans(), DAY_MS, start, seed=14, disorder_ms=20 * 60_000)
    events = list(simulator.stream(WINDOWS))
    publish(env, events)

    worker = WorkerProcess(env).start()
    started = time.monotonic()
    try:
        wait_until(lambda: _caught_up(env), 240, "the worker to catch up", worker, poll=1.0)
        time.sleep(4)  # the idle timer's turn, then caught up again
        wait_until(lambda: _caught_up(env), 60, "the worker to settle", worker, poll=1.0)
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]
    live_seconds = time.monotonic() - started
    print(f"\nlive worker: {len(events):,} events in {live_seconds:.1f} s (until stopped)")
    alert_ids = {a.alert_id for a in read_alerts(env.bootstrap, env.alerts_topic)}
    store = stored(env)
    print("live store: " + ", ".join(f"{len(rows)} {name}" for name, rows in store.items()))
    yield LiveRun(env, tmp, start, len(events), store, alert_ids)


@pytest.fixture(scope="module")
def backfilled(live: LiveRun) -> tuple[PipelineEnv, list[subprocess.CompletedProcess[str]], dict]:
    """`miroir backfill --from <first day> --to-store`, twice, into a fresh store; the worker's
    group offsets, the consumer groups and the alerts topic before and after."""
    env = live.backfill_env("backfill")
    watched = [*_source_tps(env), *_unit_tps(env)]
    outputs = [TopicPartition(env.alerts_topic, p) for p in range(4)]
    before = {
        "offsets": _group_offsets(env.bootstrap, env.prefix, _source_tps(env)),
        "unit_offsets": _group_offsets(env.bootstrap, f"{env.prefix}-units", _unit_tps(env)),
        "groups": _groups(env.bootstrap),
        "alerts_ends": _end_offsets(env.bootstrap, outputs),
        "input_ends": _end_offsets(env.bootstrap, watched),
    }
    runs = []
    for _ in range(2):
        started = time.monotonic()
        result = env.run_cli("backfill", "--from", live.start_text, "--to-store", timeout=300)
        print(f"backfill: {time.monotonic() - started:.1f} s (CLI, start to exit)")
        assert result.returncode == 0, result.stderr
        runs.append(result)
    after = {
        "offsets": _group_offsets(env.bootstrap, env.prefix, _source_tps(env)),
        "unit_offsets": _group_offsets(env.bootstrap, f"{env.prefix}-units", _unit_tps(env)),
        "groups": _groups(env.bootstrap),
        "alerts_ends": _end_offsets(env.bootstrap, outputs),
        "input_ends": _end_offsets(env.bootstrap, watched),
    }
    return env, runs, {"before": before, "after": after}


def test_backfill_writes_what_the_live_worker_wrote(live: LiveRun, backfilled) -> None:
    env, runs, _ = backfilled
    theirs = live.store
    ours = stored(env)
    assert theirs["alerts"], "the live worker raised no alert: the comparison would be vacuous"
    kinds = {kind for _, kind, *_ in theirs["alerts"]}
    assert {"mirror_decline", "outer_warning", "inner_warning"} <= kinds, kinds
    assert ours["alerts"] == theirs["alerts"]
    assert ours["windows"].keys() == theirs["windows"].keys()
    assert len(theirs["windows"]) >= 12 * (WINDOWS - 2)
    for key, row in theirs["windows"].items():
        mine = ours["windows"][key]
        for column, value in row.items():
            if isinstance(value, float):
                assert mine[column] == pytest.approx(value, rel=1e-9, abs=1e-9), (key, column)
            else:
                assert mine[column] == value, (key, column)
    assert ours["episodes"] == theirs["episodes"]
    assert ours["units"] == theirs["units"] and ours["units"]
    assert ours["incidents"] == theirs["incidents"]
    assert {unit for _, unit, *_ in theirs["incidents"]} == {"acme/d1"}
    assert ours["tags"] == theirs["tags"]
    # Each row carries the run id; the run id is what the CLI printed.
    run_id = runs[0].stdout.strip()
    assert re.fullmatch(r"bf-[0-9a-f]{16}", run_id)
    assert runs[1].stdout.strip() == run_id  # derived, so the same request, the same id
    ids = env.query(
        "SELECT DISTINCT run_id FROM (SELECT run_id FROM mirror_alerts UNION ALL "
        "SELECT run_id FROM team_window_metrics UNION ALL SELECT run_id FROM episodes UNION ALL "
        "SELECT run_id FROM unit_window_metrics UNION ALL SELECT run_id FROM incidents)"
    )
    assert [r["run_id"] for r in ids] == [run_id]


def test_a_second_run_writes_no_row_twice(backfilled) -> None:
    env, runs, _ = backfilled
    tables = (
        "mirror_alerts",
        "team_window_metrics",
        "customer_tag_metrics",
        "episodes",
        "unit_window_metrics",
        "incidents",
        "teams",
    )
    counts = env.query(
        "SELECT "
        + ", ".join(
            f"(SELECT count() FROM {t}) AS {t}, (SELECT count() FROM {t} FINAL) AS {t}_final"
            for t in tables
        )
    )[0]
    for table in tables:
        # The second run's inserts carried the first run's tokens: deduplicated, not merged.
        assert counts[table] == counts[f"{table}_final"] > 0, (table, counts)
    assert "wrote" in runs[1].stderr


def test_the_live_worker_is_left_alone(backfilled) -> None:
    env, _, seen = backfilled
    before, after = seen["before"], seen["after"]
    assert after["offsets"] == before["offsets"]
    assert all(offset for offset in before["offsets"].values())
    assert after["unit_offsets"] == before["unit_offsets"]
    assert after["groups"] == before["groups"]  # no group joined, none left behind
    assert not any("backfill" in group for group in after["groups"])
    assert after["alerts_ends"] == before["alerts_ends"]  # nothing published
    assert after["input_ends"] == before["input_ends"]


def test_the_run_row_says_done_with_its_counts(live: LiveRun, backfilled) -> None:
    env, runs, _ = backfilled
    (row,) = env.query(
        "SELECT run_id, state, events, alerts, windows, note, source, detectors, "
        "toUnixTimestamp64Milli(from_time) AS from_ms, to_time, finished_at "
        "FROM backfill_runs FINAL"
    )
    assert row["run_id"] == runs[0].stdout.strip()
    assert row["state"] == "done" and row["note"] == ""
    assert row["events"] == live.events
    assert row["alerts"] == len(live.store["alerts"])
    assert row["windows"] == len(live.store["windows"])
    assert row["from_ms"] == live.start_ms and row["to_time"] is None
    assert row["finished_at"] is not None
    assert row["source"] == f"kafka:{env.customer_topic},{env.employee_topic}"
    assert row["detectors"] == ["mirror_change", "symmetry_gap"]
    summary = runs[0].stderr
    assert f"{live.events:,} events" in summary and "done: wrote" in summary


def test_to_writes_the_live_windows_and_alerts_up_to_it_and_nothing_after(live: LiveRun) -> None:
    env = live.backfill_env("until")
    until = live.start_ms + 20 * DAY_MS + 6 * 3_600_000  # not a window boundary: aligned down
    to_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until / 1000))
    result = env.run_cli("backfill", "--from", live.start_text, "--to", to_text, "--to-store")
    assert result.returncode == 0, result.stderr
    assert "--to aligned down" in result.stderr
    end = live.start_ms + 20 * DAY_MS
    ours = stored(env)
    theirs = live.store
    assert ours["alerts"] == {a for a in theirs["alerts"] if a[4] <= end}
    assert any(a[4] <= end for a in theirs["alerts"]) and any(a[4] > end for a in theirs["alerts"])
    assert ours["windows"].keys() == {k for k in theirs["windows"] if k[2] <= end}
    assert len(ours["windows"]) == 12 * 20
    assert ours["units"] == {u for u in theirs["units"] if u[1] + DAY_MS <= end}
    (row,) = env.query(
        "SELECT state, toUnixTimestamp64Milli(to_time) AS to_ms, windows FROM backfill_runs FINAL"
    )
    assert (row["state"], row["to_ms"], row["windows"]) == ("done", end, 12 * 20)


def test_from_mid_history_the_warm_up_gives_the_live_rows(live: LiveRun) -> None:
    env = live.backfill_env("middle")
    middle = live.start_ms + 12 * DAY_MS  # the department shock starts two windows later
    from_text = time.strftime("%Y-%m-%d", time.gmtime(middle / 1000))
    result = env.run_cli("backfill", "--from", from_text, "--to-store")
    assert result.returncode == 0, result.stderr
    assert "16 windows of warm-up" in result.stderr
    ours, theirs = stored(env), live.store
    assert ours["alerts"] == {a for a in theirs["alerts"] if a[3] >= middle} != set()
    assert ours["windows"] == {k: v for k, v in theirs["windows"].items() if k[1] >= middle}
    assert ours["units"] == {u for u in theirs["units"] if u[1] >= middle}
    assert ours["incidents"] == theirs["incidents"]  # the shock's incident starts after it


def test_the_merge_order_depends_on_the_data_alone(live: LiveRun) -> None:
    """Fetch sizes and holding partitions back (tiny buffers) change nothing in the order."""
    from schemas.codec import SignalCodec
    from streams.tools.history import KafkaHistory

    env = live.env
    topics = [(env.customer_topic, "customer-feedback"), (env.employee_topic, "employee-pulse")]

    def order(**limits: Any) -> tuple[list[str], int]:
        history = KafkaHistory(
            env.bootstrap, topics, live.start_ms, "order-test", SignalCodec(), print, **limits
        )
        try:
            return [item.ref for item in history.items(threading.Event())], history.holds
        finally:
            history.close()

    usual, _ = order()
    assert len(usual) == live.events
    held_back, holds = order(max_buffered=40, poll_records=500)
    assert holds > 0 and held_back == usual
    assert order(poll_records=7)[0] == usual


def test_publish_sends_what_the_live_worker_published_once(live: LiveRun) -> None:
    topic = f"{live.env.prefix}-republished"
    ensure_topics(live.env.bootstrap, {topic: 4})
    env = live.backfill_env("publish", MIROIR_TOPIC_ALERTS=topic)
    for _ in range(2):
        result = env.run_cli("backfill", "--from", live.start_text, "--publish")
        assert result.returncode == 0, result.stderr
    published = [decode_alert(r.value).alert_id for r in read_topic(env.bootstrap, topic)]
    assert len(published) == len(set(published))  # the second run published nothing again
    assert set(published) == live.alert_ids_on_topic
    assert not env.store.exists()  # no --to-store: nothing written


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_elsewhere(live: LiveRun) -> None:
    env = live.backfill_env("progress", MIROIR_BATCH_SIZE="500")
    command = [sys.executable, "-m", "streams", "backfill", "--from", live.start_text]
    # On a terminal (a pseudo-terminal as stderr): the bar, redrawn in place.
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        command,
        env=env.env(),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    chunks: list[bytes] = []

    def drain() -> None:
        with contextlib.suppress(OSError):  # EIO once the child has closed its side
            while chunk := os.read(controller, 4096):
                chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    assert process.wait(timeout=120) == 0
    reader.join(timeout=10)
    os.close(controller)
    shown = b"".join(chunks).decode("utf-8", "replace")
    bar = re.search(r"\r\[#+\] backfill: ([\d,]+)/([\d,]+) events \(100%\), [\d,]+/s, ETA", shown)
    assert bar, shown[-2000:]
    assert bar.group(1) == bar.group(2) == f"{live.events:,}"
    # Elsewhere (a pipe): plain lines, as often as asked, never a carriage return.
    piped = env.run_cli("backfill", "--from", live.start_text, "--progress-every", "0.001")
    assert piped.returncode == 0, piped.stderr
    lines = re.findall(r"^backfill: [\d,]+/[\d,]+ events \(\d+%\)", piped.stderr, re.MULTILINE)
    assert len(lines) >= 3, piped.stderr
    assert "\r" not in piped.stderr and "[#" not in piped.stderr


def test_ctrl_c_records_the_run_as_stopped(tmp_path: Path) -> None:
    """From a FIFO, so the run is surely in the middle of its input when the signal comes."""
    now = int(time.time() * 1000)
    start = now - now % DAY_MS - 20 * DAY_MS
    events = list(Simulator(plans()[:4], DAY_MS, start, seed=3).stream(6))
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    env = PipelineEnv("127.0.0.1:9", tmp_path, "stop", {**SETTINGS, "MIROIR_BATCH_SIZE": "50"})
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streams",
            "backfill",
            "--from",
            time.strftime("%Y-%m-%d", time.gmtime(start / 1000)),
            "--file",
            str(fifo),
            "--to-store",
            "--progress-every",
            "0.001",
        ],
        env=env.env(),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    progressed = threading.Event()

    def follow() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if re.match(r"backfill: [\d,]+ events", line):
                progressed.set()

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()

    def line(event: Any) -> str:
        return json.dumps({"topic": topic_of(event), "value": record_to_json(event)}) + "\n"

    try:
        feed = _open_for_writing(fifo, process)
        try:
            feed.writelines(line(e) for e in events[:600])
            feed.flush()
            assert progressed.wait(60), "".join(lines)
            process.send_signal(signal.SIGINT)
            time.sleep(0.5)
            # Blocked reading, more input wakes the run up to see the stop; if it had read
            # ahead, it has already stopped and closed the pipe.
            with contextlib.suppress(BrokenPipeError):
                feed.writelines(line(e) for e in events[600:650])
                feed.flush()
        finally:
            with contextlib.suppress(BrokenPipeError):
                feed.close()
        assert process.wait(timeout=60) == 130, "".join(lines)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()
    follower.join(timeout=10)
    text = "".join(lines)
    assert "stopped by SIGINT" in text and "Traceback" not in text
    (row,) = env.query("SELECT state, note, events FROM backfill_runs FINAL")
    assert row["state"] == "stopped" and row["note"] == "stopped by SIGINT"
    assert 0 < row["events"] <= 650


def test_a_run_that_fails_says_so_in_its_row(tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    start = now - now % DAY_MS - 20 * DAY_MS
    events = list(Simulator(plans()[:2], DAY_MS, start, seed=5).stream(3))
    path = tmp_path / "events.jsonl"
    lines = [json.dumps({"topic": topic_of(e), "value": record_to_json(e)}) for e in events]
    path.write_text("\n".join([*lines[:100], "{not json", *lines[100:]]) + "\n")
    env = PipelineEnv("127.0.0.1:9", tmp_path, "failing", dict(SETTINGS))
    day = time.strftime("%Y-%m-%d", time.gmtime(start / 1000))
    result = env.run_cli("backfill", "--from", day, "--file", str(path), "--to-store")
    assert result.returncode == 2
    assert f"{path}:101: not JSON" in result.stderr and "Traceback" not in result.stderr
    (row,) = env.query("SELECT state, note, events FROM backfill_runs FINAL")
    assert row["state"] == "failed" and "101: not JSON" in row["note"]
    assert row["events"] == 100


def _open_for_writing(fifo: Path, process: subprocess.Popen[str]) -> Any:
    """The FIFO's writing end, once the backfill has opened its reading end (never blocks on a
    process that died first)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: nobody reads it yet
            assert process.poll() is None, "the backfill exited before reading its input"
            assert time.monotonic() < deadline, "the backfill never opened its input"
            time.sleep(0.05)
            continue
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "w", encoding="utf-8")


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--from", "2026-13-01"], "--from '2026-13-01' is not a date or time"),
        (["--from", "2026-03-01", "--to", "2026-02-01"], "is not after --from"),
        (["--from", "2026-03-01", "--detectors", "mirror"], "unknown detector 'mirror'"),
        (["--from", "2026-03-01", "--run-id", "no spaces"], "--run-id 'no spaces'"),
        (["--from", "2026-03-01"], "cannot reach the Kafka broker"),
    ],
    ids=["bad-from", "to-before-from", "unknown-detector", "bad-run-id", "no-broker"],
)
def test_a_bad_request_fails_clearly(tmp_path: Path, arguments: list[str], says: str) -> None:
    from streams.tools.kafka_broker import free_port

    env = PipelineEnv(f"127.0.0.1:{free_port()}", tmp_path, "bad", dict(SETTINGS))
    result = env.run_cli("backfill", *arguments, "--to-store", timeout=60)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert not env.store.exists()  # nothing opened, nothing written
