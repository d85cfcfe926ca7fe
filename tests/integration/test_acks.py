"""Acknowledging and resolving by hand, through the real actions topic, surviving kill -9.

A worker opens an episode for a planted decline. An acknowledgement is published to the
actions topic; the moment its event shows on the alerts topic the worker is killed (SIGKILL),
before it can have saved anything else, and a new one takes over. The acknowledgement must be
applied once: one ``acknowledged`` event on the topic, the ``episodes`` row carrying who and the
note. Then a resolution by hand closes the episode, and an acknowledgement of the closed episode
becomes a dead letter that says why.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer

from schemas.codec import encode_action
from schemas.records import EpisodeAction, MirrorAlert
from streams.runtime.publish import SignalPublisher
from streams.tools.simulator import Simulator, TeamPlan
from tests.integration.harness import (
    PipelineEnv,
    WorkerProcess,
    create_topics,
    read_alerts,
    wait_until,
)

pytestmark = pytest.mark.integration

WINDOW_MS = 10_000


def send_action(env: PipelineEnv, action: EpisodeAction) -> None:
    producer = KafkaProducer(bootstrap_servers=env.bootstrap, acks="all")
    try:
        producer.send(
            f"{env.alerts_topic}-actions", key=action.team_id.encode(), value=encode_action(action)
        ).get(30)
    finally:
        producer.close()


def events_of(env: PipelineEnv, event: str) -> list[MirrorAlert]:
    return [a for a in read_alerts(env.bootstrap, env.alerts_topic) if a.event == event]


def test_an_acknowledgement_survives_kill_minus_nine_and_a_closed_episode_refuses_one(
    kafka_broker, tmp_path: Path, unique_name
) -> None:
    env = PipelineEnv(kafka_broker.bootstrap, tmp_path, unique_name("ack"))
    create_topics(env)
    now = int(time.time() * 1000)
    simulator = Simulator(
        [TeamPlan("steady"), TeamPlan("decline", "mirror_decline", effect_from_window=3)],
        WINDOW_MS,
        now - now % WINDOW_MS - 60 * WINDOW_MS,
        seed=5,
    )
    events = [e for index in range(6) for e in simulator.window(index)]
    with SignalPublisher(env.bootstrap, env.customer_topic, env.employee_topic) as publisher:
        publisher.send_all(events)

    worker = WorkerProcess(env, "first").start()
    wait_until(lambda: bool(events_of(env, "opened")), 120, "the episode to open", worker)
    [opened] = events_of(env, "opened")
    ack = EpisodeAction(
        uuid.uuid4().hex, "decline", opened.episode_id or "", "ack", "ops@acme", now, "on it"
    )
    send_action(env, ack)
    wait_until(lambda: bool(events_of(env, "acknowledged")), 60, "the acknowledgement", worker)
    worker.kill()  # before the state that applied it can be relied on

    worker = WorkerProcess(env, "second").start()
    try:
        time.sleep(8)  # the acknowledgement would be re-applied now if it were going to be
        resolve = EpisodeAction(
            uuid.uuid4().hex, "decline", ack.episode_id, "resolve", "lead@acme", now + 1, "fixed"
        )
        send_action(env, resolve)
        wait_until(
            lambda: any(r.actor == "lead@acme" for r in events_of(env, "resolved")),
            60,
            "the resolution by hand",
            worker,
        )
        late = EpisodeAction(uuid.uuid4().hex, "decline", ack.episode_id, "ack", "me", now + 2)
        send_action(env, late)
        time.sleep(5)
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]

    acknowledged = events_of(env, "acknowledged")
    assert [(a.actor, a.note, a.episode_id) for a in acknowledged] == [
        ("ops@acme", "on it", ack.episode_id)
    ]
    [row] = env.query(
        "SELECT state, acknowledged_by, resolved_by, note FROM episodes FINAL "
        f"WHERE episode_id = '{ack.episode_id}'"
    )
    assert (row["state"], row["acknowledged_by"], row["resolved_by"], row["note"]) == (
        "resolved",
        "ops@acme",
        "lead@acme",
        "fixed",
    )
    letters = env.query("SELECT reason FROM dead_letters FINAL WHERE error_kind = 'invalid'")
    assert any("no open episode" in letter["reason"] for letter in letters), letters
