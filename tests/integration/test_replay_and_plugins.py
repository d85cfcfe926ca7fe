"""One detection path: the streaming worker and `miroir replay` find the same alerts, and a
detector from a separately installed package runs in both without editing Miroir."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schemas.codec import record_to_json, topic_of
from streams.runtime.publish import SignalPublisher
from streams.tools.simulator import Simulator, TeamPlan
from tests.integration.harness import (
    REPO,
    PipelineEnv,
    WorkerProcess,
    create_topics,
    read_alerts,
    wait_until,
)

pytestmark = pytest.mark.integration

WINDOW_MS = 10_000
PLUGIN = REPO / "tests" / "fixtures" / "miroir-example-detector"
DETECTORS = "mirror_change,symmetry_gap,customer_trust_drop"
PLANS = [
    TeamPlan("steady"),
    TeamPlan("decline", "mirror_decline"),
    TeamPlan("outer", "outer_warning"),
    TeamPlan("inner", "inner_warning"),
]


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example detector package, pip-installed into its own directory (not into Miroir)."""
    target = tmp_path_factory.mktemp("plugin-site")
    # Built from a copy: an in-tree build would leave build/ and egg-info in the repository.
    source = shutil.copytree(PLUGIN, tmp_path_factory.mktemp("plugin-src") / PLUGIN.name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert list(target.glob("miroir_example_detector-*.dist-info/entry_points.txt"))
    return target


def _events() -> list:
    now = int(time.time() * 1000)
    start = now - now % WINDOW_MS - 50 * WINDOW_MS
    simulator = Simulator(PLANS, WINDOW_MS, start, seed=21)
    return [event for _, window in simulator.windows(7) for event in window]


def _write_events(path: Path, events: list) -> None:
    with path.open("w") as out:
        for event in events:
            out.write(json.dumps({"topic": topic_of(event), "value": record_to_json(event)}) + "\n")


def _replay(
    env: PipelineEnv, events_file: Path, detectors: str
) -> subprocess.CompletedProcess[str]:
    return env.run_cli("replay", "--events", str(events_file), "--json", "--detectors", detectors)


@pytest.fixture
def plugin_env(kafka_broker, tmp_path: Path, unique_name, plugin_site: Path) -> PipelineEnv:
    env = PipelineEnv(
        kafka_broker.bootstrap,
        tmp_path,
        unique_name("r"),
        extra={
            "PYTHONPATH": str(plugin_site),
            "MIROIR_DETECTORS": DETECTORS,
            # Long enough that a topic delivered a little after the other is never taken as idle.
            "MIROIR_IDLE_CLOSE_SECONDS": "4",
        },
    )
    create_topics(env)
    return env


def test_replay_runs_a_detector_from_a_separately_installed_package(
    plugin_env: PipelineEnv,
) -> None:
    events_file = plugin_env.tmp / "events.jsonl"
    _write_events(events_file, _events())
    result = _replay(plugin_env, events_file, DETECTORS)
    assert result.returncode == 0, result.stderr
    kinds = {json.loads(line)["kind"] for line in result.stdout.splitlines()}
    assert {"mirror_decline", "outer_warning", "inner_warning", "customer_trust_drop"} <= kinds

    without = PipelineEnv(plugin_env.bootstrap, plugin_env.tmp, plugin_env.prefix)
    refused = _replay(without, events_file, DETECTORS)
    assert refused.returncode == 2
    assert "unknown detector 'customer_trust_drop'" in refused.stderr


def test_worker_and_replay_produce_the_same_alerts(plugin_env: PipelineEnv) -> None:
    events = _events()
    events_file = plugin_env.tmp / "events.jsonl"
    _write_events(events_file, events)
    replayed = _replay(plugin_env, events_file, DETECTORS)
    assert replayed.returncode == 0, replayed.stderr
    expected = sorted(
        (a["alert_id"], a["team_id"], a["kind"], a["window_start"])
        for a in map(json.loads, replayed.stdout.splitlines())
    )
    assert any(kind == "customer_trust_drop" for _, _, kind, _ in expected)

    with SignalPublisher(
        plugin_env.bootstrap, plugin_env.customer_topic, plugin_env.employee_topic
    ) as publisher:
        publisher.send_all(events)
    worker = WorkerProcess(plugin_env).start()
    try:
        wait_until(
            lambda: (
                len(read_alerts(plugin_env.bootstrap, plugin_env.alerts_topic)) >= len(expected)
            ),
            120,
            f"{len(expected)} alerts",
            worker,
        )
        time.sleep(3)  # room for an unexpected extra alert to show up
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]
    streamed = sorted(
        (a.alert_id, a.team_id, a.kind, a.window_start)
        for a in read_alerts(plugin_env.bootstrap, plugin_env.alerts_topic)
    )
    assert streamed == expected
    stored = plugin_env.query("SELECT alert_id FROM mirror_alerts FINAL")
    assert sorted(r["alert_id"] for r in stored) == [alert_id for alert_id, *_ in expected]


def test_simulate_sends_a_scenario_to_the_broker(plugin_env: PipelineEnv) -> None:
    from kafka import KafkaConsumer, TopicPartition

    from streams.tools.scenario import Scenario

    scenario_file = plugin_env.tmp / "tiny.json"
    scenario_file.write_text(
        json.dumps(
            {
                "name": "tiny",
                "seed": 3,
                "windows": 3,
                "window_seconds": 60,
                "teams": [
                    {"id": "t1", "employees": 6, "customers": 9},
                    {
                        "id": "t2",
                        "employees": 6,
                        "customers": 9,
                        "effects": [{"kind": "mirror_decline", "start": 2, "end": 3}],
                    },
                ],
            }
        )
    )
    result = plugin_env.run_cli("simulate", "--scenario", str(scenario_file))
    assert result.returncode == 0, result.stderr
    expected = sum(1 for _ in Scenario.load(scenario_file).events())
    consumer = KafkaConsumer(bootstrap_servers=plugin_env.bootstrap)
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in (plugin_env.customer_topic, plugin_env.employee_topic)
            for p in range(4)
        ]
        assert sum(consumer.end_offsets(partitions).values()) == expected == 2 * 3 * 15
    finally:
        consumer.close()
