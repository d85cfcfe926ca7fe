"""Nothing lost, nothing twice: the worker is killed with SIGKILL at random points of a stream,
ten times, and restarted; workers join and leave a running group; each time the end result
equals a single clean run over the same events. On failure, worker logs, stores, the state
changelog (JSON lines) and the group's offsets are copied to test-artifacts/."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import time
from pathlib import Path

import pytest

from streams.core.org import OrgChart, TeamInfo
from streams.runtime.publish import SignalPublisher
from streams.tools.plans import Effect
from streams.tools.simulator import Simulator, TeamPlan
from tests.integration.harness import (
    REPO,
    PipelineEnv,
    WorkerProcess,
    all_windows_closed,
    clean_episodes,
    clean_run,
    clean_tags,
    clean_units,
    create_topics,
    read_alerts,
    read_topic,
    source_partitions,
    stored_episodes,
    stored_tags,
    stored_units,
    stored_windows,
    uncommitted_records,
    wait_until,
)

pytestmark = pytest.mark.integration

WINDOW_MS = 10_000
KILLS = 10
PLANS = [
    TeamPlan("steady-1", employees=14, customers=60),
    TeamPlan("steady-2", employees=14, customers=60),
    TeamPlan("decline", "mirror_decline", effect_from_window=4, employees=14, customers=60),
    TeamPlan("inner", "inner_warning", effect_from_window=5, employees=14, customers=60),
    TeamPlan("outer", "outer_warning", effect_from_window=6, employees=14, customers=60),
    TeamPlan("small", employees=4, customers=30),  # employee side always suppressed (k = 5)
    # A problem that comes and goes: its episode opens, and resolves after quiet windows.
    TeamPlan(
        "blip",
        effects=(Effect("mirror_decline", 3, end_window=4),),
        employees=14,
        customers=60,
    ),
    # A shared shock: three teams of one department decline together (an incident).
    *(
        TeamPlan(f"shock-{n}", "mirror_decline", effect_from_window=6, employees=14, customers=60)
        for n in range(3)
    ),
]
DEPARTMENTS = {"ops": ("shock-0", "shock-1", "shock-2", "steady-2")}


def organisation() -> OrgChart:
    chart = OrgChart()
    for plan in PLANS:
        department = next((d for d, teams in DEPARTMENTS.items() if plan.team_id in teams), "care")
        info = TeamInfo(plan.team_id, plan.team_id, ("acme", department), ("company", "department"))
        chart.update(info, plan.team_id)
    return chart


def load_organisation(env: PipelineEnv) -> OrgChart:
    chart = organisation()
    path = env.tmp / "teams.csv"
    rows = [f"{t.team_id},{t.display_name},{','.join(t.path)}" for t in chart.teams.values()]
    path.write_text("team_id,display_name,company,department\n" + "\n".join(rows) + "\n")
    loaded = env.run_cli("teams", "load", str(path))
    assert loaded.returncode == 0, loaded.stderr
    return chart


@pytest.fixture
def crash_env(kafka_broker, tmp_path: Path, unique_name) -> PipelineEnv:
    env = PipelineEnv(
        kafka_broker.bootstrap,
        tmp_path,
        unique_name("k"),
        extra={
            "MIROIR_BATCH_SIZE": "150",  # many small batches: kills land between and inside them
            "MIROIR_SESSION_TIMEOUT_SECONDS": "6",  # a killed member is replaced quickly
            "MIROIR_IDLE_CLOSE_SECONDS": "4",
        },
    )
    create_topics(env)
    load_organisation(env)
    return env


def test_ten_kill_minus_nine_restarts_lose_nothing_and_duplicate_nothing(
    crash_env: PipelineEnv,
) -> None:
    now = int(time.time() * 1000)
    simulator = Simulator(PLANS, WINDOW_MS, now - now % WINDOW_MS - 60 * WINDOW_MS, seed=17)
    events = [e for _, window in simulator.windows(9) for e in window]
    expected_alerts, expected_windows = clean_run(events)
    assert expected_alerts, "the scenario must raise alerts to make the test meaningful"

    rng = random.Random(4)
    # Consecutive slices of the stream, one per worker life.
    size = -(-len(events) // KILLS)
    chunks = [events[i * size : (i + 1) * size] for i in range(KILLS)]
    kills = []
    with SignalPublisher(
        crash_env.bootstrap, crash_env.customer_topic, crash_env.employee_topic
    ) as publisher:
        for round_number, chunk in enumerate(chunks):
            publisher.send_all(chunk)
            publisher.flush()
            worker = WorkerProcess(crash_env, f"worker-{round_number}").start()
            delay = rng.uniform(2.0, 9.0)  # start-up, recovery, rebalance or mid-batch
            time.sleep(delay)
            assert worker.alive(), worker.log()[-4000:]
            worker.kill()
            kills.append(round(delay, 1))
    final = WorkerProcess(crash_env, "worker-final").start()

    try:
        _let_everything_come(crash_env, expected_alerts, expected_windows, final)
    finally:
        assert final.stop() == 0, final.log()[-4000:]
    print(f"killed after {kills} s")

    try:
        expected_records, expected_episodes = clean_episodes(events, organisation())
        _assert_each_alert_once_on_topic(crash_env, expected_records)
        stored = crash_env.query("SELECT alert_id FROM mirror_alerts FINAL")
        assert sorted(r["alert_id"] for r in stored) == sorted(expected_alerts)
        assert stored_windows(crash_env) == expected_windows  # no event lost or counted twice
        # The per-tag rows, like the windows they come from.
        expected_tags = clean_tags(events)
        assert expected_tags, "the simulated feedback must carry tags to make this meaningful"
        assert stored_tags(crash_env) == expected_tags
        # Episodes, like alerts: the same ones, each in the same final state, as a clean run.
        assert expected_episodes, "the scenario must open episodes to make this meaningful"
        assert stored_episodes(crash_env) == expected_episodes
        # The unit stage too: the same incidents in the same state, the same unit windows.
        expected_incidents, expected_unit_windows = clean_units(events, organisation())
        assert expected_incidents, "the scenario must open an incident to make this meaningful"
        assert stored_units(crash_env) == (expected_incidents, expected_unit_windows)
        customers = crash_env.query("SELECT count() AS n FROM customer_feedback FINAL")
        assert customers[0]["n"] == sum(1 for e in events if type(e).__name__ == "CustomerFeedback")
    except AssertionError:
        _keep_evidence(crash_env, "crash-recovery")
        raise


def _let_everything_come(
    env: PipelineEnv,
    expected_alerts: dict[str, tuple[str, int, str]],
    expected_windows: list[tuple[str, int, int, int | None]],
    worker: WorkerProcess,
) -> None:
    """Wait until every expected alert is on the topic and the saved state has every window
    closed (the last ones by the idle timer, which can start late when a partition came back
    from a killed member after its session timeout), then a little more: extra alerts would
    show up. Differences are asserted afterwards, with a diff."""
    last_window_end: dict[str, int] = {}
    for team, start, *_ in expected_windows:
        last_window_end[team] = max(last_window_end.get(team, 0), start + WINDOW_MS)
    with contextlib.suppress(AssertionError):
        wait_until(
            lambda: (
                {a.alert_id for a in read_alerts(env.bootstrap, env.alerts_topic)}
                >= set(expected_alerts)
                and all_windows_closed(env, last_window_end)
            ),
            150,
            "every alert and every window",
            worker,
        )
    time.sleep(4)
    # Nothing left for a lag monitor to report: Faust's own commit can stick behind records it
    # dropped around a rebalance; the worker then commits its saved positions itself.
    wait_until(lambda: not uncommitted_records(env), 40, "no committed lag", worker)


def _assert_each_alert_once_on_topic(
    env: PipelineEnv, expected: dict[str, tuple[str, int, str, str]]
) -> None:
    """Every episode event of a clean run (its alerts as opened/updated/escalated events, and
    the resolutions) is on the topic exactly once, and nothing else is."""
    on_topic = read_alerts(env.bootstrap, env.alerts_topic)
    found = {a.alert_id: (a.team_id, a.window_start, a.kind, a.event) for a in on_topic}
    missing = sorted(v for k, v in expected.items() if k not in found)
    extra = sorted(v for k, v in found.items() if k not in expected)
    assert (missing, extra) == ([], [])
    assert len(on_topic) == len(found), "an alert was published twice"


def _keep_evidence(env: PipelineEnv, name: str) -> None:
    """Worker logs, chDB stores, the state changelog (JSON lines) and the group's offsets, where
    pytest's rotation won't delete them."""
    target = REPO / "test-artifacts" / f"{name}-{time.time_ns()}"
    shutil.copytree(env.tmp, target, dirs_exist_ok=True)
    with (target / "changelog.jsonl").open("w") as out:
        for record in read_topic(env.bootstrap, f"{env.prefix}-window-state-changelog"):
            entry = {
                "partition": record.partition,
                "offset": record.offset,
                "timestamp": record.timestamp,
                "key": record.key.decode(errors="replace"),
                "value": json.loads(record.value),
            }
            out.write(json.dumps(entry) + "\n")
    _dump_offsets(env, target / "offsets.json")


def _dump_offsets(env: PipelineEnv, path: Path) -> None:
    """Committed offsets of the worker's group and the ends of the source partitions."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        bootstrap_servers=env.bootstrap, group_id=env.prefix, enable_auto_commit=False
    )
    try:
        tps = source_partitions(env)
        ends = consumer.end_offsets(tps)
        path.write_text(
            json.dumps(
                {
                    f"{tp.topic}/{tp.partition}": {
                        "committed": consumer.committed(tp),
                        "end": ends[tp],
                    }
                    for tp in tps
                },
                indent=1,
            )
        )
    finally:
        consumer.close()


def test_workers_joining_and_leaving_mid_stream_lose_nothing_and_duplicate_nothing(
    crash_env: PipelineEnv,
) -> None:
    """One worker runs throughout while a second one joins and leaves six times (three graceful
    stops, three SIGKILLs): every rebalance moves partitions, with records in flight, between
    live workers. Each worker owns its own chDB store; their union must equal a clean run."""
    now = int(time.time() * 1000)
    simulator = Simulator(PLANS, WINDOW_MS, now - now % WINDOW_MS - 60 * WINDOW_MS, seed=23)
    events = [e for _, window in simulator.windows(9) for e in window]
    expected_alerts, expected_windows = clean_run(events)
    second_env = PipelineEnv(
        crash_env.bootstrap, crash_env.tmp / "second", crash_env.prefix, crash_env.extra
    )
    second_env.tmp.mkdir()

    rng = random.Random(8)
    rounds = 6
    size = -(-len(events) // (rounds + 1))
    chunks = [events[i * size : (i + 1) * size] for i in range(rounds + 1)]
    steady = WorkerProcess(crash_env, "steady").start()
    try:
        with SignalPublisher(
            crash_env.bootstrap, crash_env.customer_topic, crash_env.employee_topic
        ) as publisher:
            for round_number in range(rounds):
                publisher.send_all(chunks[round_number])
                publisher.flush()
                joiner = WorkerProcess(second_env, f"joiner-{round_number}").start()
                time.sleep(rng.uniform(4.0, 9.0))
                assert joiner.alive(), joiner.log()[-4000:]
                if round_number % 2:
                    joiner.kill()
                else:
                    assert joiner.stop() == 0, joiner.log()[-4000:]
            publisher.send_all(chunks[rounds])
        _let_everything_come(crash_env, expected_alerts, expected_windows, steady)
    finally:
        assert steady.stop() == 0, steady.log()[-4000:]

    try:
        expected_records, expected_episodes = clean_episodes(events, organisation())
        _assert_each_alert_once_on_topic(crash_env, expected_records)
        # A window closed by both workers (one re-did the other's unsaved work) must agree.
        windows = set(stored_windows(crash_env)) | set(stored_windows(second_env))
        assert sorted(windows) == expected_windows
        tags = set(stored_tags(crash_env)) | set(stored_tags(second_env))
        assert sorted(tags) == clean_tags(events)
        # An episode moved between workers with its team: its newest row is the clean one.
        episodes = stored_episodes(second_env)
        for episode_id, row in stored_episodes(crash_env).items():
            if episode_id not in episodes or row[-1] > episodes[episode_id][-1]:
                episodes[episode_id] = row
        assert episodes == expected_episodes
        # The unit stage moved between the workers too: together they hold the clean result.
        incidents, unit_windows = stored_units(second_env)
        mine, my_windows = stored_units(crash_env)
        for incident_id, incident in mine.items():
            if incident_id not in incidents or incident[-1] > incidents[incident_id][-1]:
                incidents[incident_id] = incident
        assert (incidents, unit_windows | my_windows) == clean_units(events, organisation())
    except AssertionError:
        _keep_evidence(crash_env, "rebalances")
        raise
