"""Hostile identifiers and forged alerts on the real broker, the real worker and ClickHouse.

A team id carrying a newline (forged log lines), a terminal escape or 60,000 characters is a
dead letter naming why, the good records around it are counted, and the worker's log holds no
line the data made. A forged alert written to the alerts topic is skipped by
``miroir alerts -f`` (it goes on, and shows the real alert after it).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from schemas.codec import encode, encode_alert
from schemas.records import CustomerFeedback
from streams.runtime.follow import follow_alerts
from streams.runtime.publish import SignalPublisher
from streams.runtime.topics import ensure_topics
from tests.integration.harness import (
    PipelineEnv,
    WorkerProcess,
    create_topics,
    read_topic,
    wait_until,
)
from tests.samples import sample_alert

pytestmark = pytest.mark.integration

FORGED_LINE = "INFO miroir: all clear, nothing to see"
HOSTILE_TEAMS = {
    "newline": f"team-a\n{FORGED_LINE}",
    "escape": "team-a\x1b[2J\x1b[31m",
    "huge": "t" * 60_000,
}


def test_hostile_team_ids_are_dead_letters_and_forge_no_log_line(
    kafka_broker, tmp_path: Path, unique_name
) -> None:
    env = PipelineEnv(kafka_broker.bootstrap, tmp_path, unique_name("ids"))
    create_topics(env)
    now = int(time.time() * 1000)
    at = now - now % 10_000 - 50_000
    good = [CustomerFeedback(f"ok-{i}", at + i, "team-a", "web", "s", csat=4) for i in range(6)]
    hostile = [
        CustomerFeedback(f"bad-{name}", at + 10, team, "web", "s", csat=4)
        for name, team in HOSTILE_TEAMS.items()
    ]
    with SignalPublisher(env.bootstrap, env.customer_topic, env.employee_topic) as publisher:
        for record in [*good[:3], *hostile, *good[3:]]:
            publisher.send_raw(env.customer_topic, b"team-a", encode(record))
    worker = WorkerProcess(env).start()
    try:
        wait_until(
            lambda: len(read_topic(env.bootstrap, env.dead_letter_topic)) >= len(hostile),
            60,
            "the hostile records as dead letters",
            worker,
        )
        time.sleep(2)
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]
    reasons = sorted(
        dict(letter.headers)["miroir.error.reason"].decode()
        for letter in read_topic(env.bootstrap, env.dead_letter_topic)
    )
    assert len(reasons) == 3
    assert any("U+000A at position 6" in r for r in reasons)
    assert any("U+001B at position 6" in r for r in reasons)
    assert any("60000 characters" in r or "bytes, over" in r for r in reasons)
    log = worker.log()
    assert not any(line.startswith(FORGED_LINE) for line in log.splitlines())
    assert "\x1b[" not in log
    rows = env.query("SELECT event_id FROM customer_feedback FINAL ORDER BY event_id")
    assert [r["event_id"] for r in rows] == [f"ok-{i}" for i in range(6)]


def test_a_forged_alert_on_the_topic_is_skipped_by_the_follower(kafka_broker, unique_name) -> None:
    topic = unique_name("alerts")
    ensure_topics(kafka_broker.bootstrap, {topic: 1})
    forged = sample_alert(alert_id="abc\nevent: alert", team_id="team\x1b[2J")
    real = sample_alert()
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    for alert in (forged, real):
        producer.send(topic, key=b"team-lyon", value=encode_alert_unchecked(alert))
    producer.flush()
    producer.close()

    shown: list[str] = []
    stop = threading.Event()

    def on_alert(alert: object) -> None:
        shown.append(alert.alert_id)  # type: ignore[attr-defined]
        stop.set()

    follower = threading.Thread(
        target=follow_alerts,
        args=(kafka_broker.bootstrap, topic, on_alert, stop),
        kwargs={"from_beginning": True},
        daemon=True,
    )
    follower.start()
    follower.join(timeout=60)
    assert not follower.is_alive()
    assert shown == [real.alert_id]


def encode_alert_unchecked(alert: object) -> bytes:
    """What someone with write access could put on the topic: the codec's encoding, which
    does not check (only reading does)."""
    return encode_alert(alert)  # type: ignore[arg-type]
