"""Hostile identifiers and forged alerts on the real broker, the real worker and ClickHouse.

A team id carrying a newline (forged log lines), a terminal escape, a bidi override or 60,000
characters is a dead letter naming why (topic with the original bytes, and table), the good
records around it are counted, and the worker's log holds no line the data made. A forged
alert written to the alerts topics (an id with a newline, a kind no detector emits) is skipped
by ``miroir alerts -f``'s follower and the live page's reader (never streamed) and refused by
the webhook relay (dead-lettered, never posted to a real receiver), which all go on to the real
alert after it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from schemas.codec import encode, encode_alert
from schemas.records import CustomerFeedback, MirrorAlert
from sinks.clickhouse import ClickHouseSink
from streams.runtime.follow import follow_alerts
from streams.runtime.publish import SignalPublisher
from streams.runtime.topics import ensure_topics
from streams.runtime.webhooks import WebhookRelay
from streams.web.live import kafka_alert_source
from tests.integration.harness import (
    PipelineEnv,
    WorkerProcess,
    create_topics,
    read_topic,
    wait_until,
)
from tests.integration.test_webhooks import (
    Receiver,
    _alert,
    _dead_letters,
    _relay_until,
    _settings,
)
from tests.samples import sample_alert

pytestmark = pytest.mark.integration

FORGED_LINE = "INFO miroir: all clear, nothing to see"
HOSTILE_TEAMS = {
    "newline": f"team-a\n{FORGED_LINE}",
    "escape": "team-a\x1b[2J\x1b[31m",
    "bidi": "team-a\u202enimda",
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
    hostile = {
        f"bad-{name}": encode(CustomerFeedback(f"bad-{name}", at + 10, team, "web", "s", csat=4))
        for name, team in HOSTILE_TEAMS.items()
    }
    with SignalPublisher(env.bootstrap, env.customer_topic, env.employee_topic) as publisher:
        for record in good[:3]:
            publisher.send_raw(env.customer_topic, b"team-a", encode(record))
        for value in hostile.values():
            publisher.send_raw(env.customer_topic, b"team-a", value)
        for record in good[3:]:
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

    # The topic: one letter each, the original bytes, the reason naming field and character.
    letters = read_topic(env.bootstrap, env.dead_letter_topic)
    assert len(letters) == len(hostile)
    assert sorted(letter.value for letter in letters) == sorted(hostile.values())
    reasons = sorted(dict(letter.headers)["miroir.error.reason"].decode() for letter in letters)
    assert reasons == sorted(
        [
            "team_id holds a control or format character (U+000A at position 6)",
            "team_id holds a control or format character (U+001B at position 6)",
            "team_id holds a control or format character (U+202E at position 6)",
            "team_id is 60000 characters, over the 256 limit",
        ]
    )
    # The table: the same reasons and kinds.
    table = env.query("SELECT reason, error_kind FROM dead_letters FINAL ORDER BY reason")
    assert sorted(r["reason"] for r in table) == reasons
    assert sorted(r["error_kind"] for r in table) == ["invalid", "invalid", "invalid", "oversize"]
    # No line the data made, no escape sequence, in the worker's whole log.
    log = worker.log()
    assert f"\n{FORGED_LINE}" not in log
    assert "\x1b[" not in log and "\u202e" not in log
    # The pipeline went on: every good record around them counted.
    rows = env.query("SELECT event_id FROM customer_feedback FINAL ORDER BY event_id")
    assert [r["event_id"] for r in rows] == [f"ok-{i}" for i in range(6)]
    # `miroir query` prints data with control characters escaped, in a table.
    shown = env.run_cli("query", "SELECT concat('team', char(10), 'x', char(27), '[31m') AS t")
    assert shown.returncode == 0, shown.stderr
    assert "team\\nx\\x1b[31m" in shown.stdout
    assert "\x1b" not in shown.stdout and "team\nx" not in shown.stdout


def _forgeries() -> list[MirrorAlert]:
    """What someone with write access to the topic could write (encoding does not check,
    only reading does): an SSE/log injection in the id, a kind no detector emits, a terminal
    escape in the team."""
    return [
        sample_alert(alert_id="abc\nevent: alert", team_id="team-x"),
        sample_alert(alert_id="f" * 32, kind="page_everyone"),
        sample_alert(alert_id="e" * 32, team_id="team\x1b[2J"),
    ]


def _produce_forgeries_then(real: MirrorAlert, bootstrap: str, topic: str) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for alert in [*_forgeries(), real]:
        producer.send(topic, key=b"team-lyon", value=encode_alert(alert))
    producer.flush(30)
    producer.close()


def _no_raw_line_breaks(records: list[logging.LogRecord]) -> None:
    for record in records:
        message = record.getMessage()
        assert "\n" not in message and "\x1b" not in message, message


def test_a_forged_alert_on_the_topic_is_skipped_by_the_follower(
    kafka_broker, unique_name, caplog: pytest.LogCaptureFixture
) -> None:
    topic = unique_name("alerts")
    ensure_topics(kafka_broker.bootstrap, {topic: 1})
    real = sample_alert()
    _produce_forgeries_then(real, kafka_broker.bootstrap, topic)

    shown: list[str] = []
    stop = threading.Event()

    def on_alert(alert: MirrorAlert) -> None:
        shown.append(alert.alert_id)
        stop.set()

    caplog.set_level(logging.WARNING, logger="miroir.follow")
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
    skipped = [r for r in caplog.records if r.name == "miroir.follow"]
    assert len(skipped) == 3
    assert "not emitted by any installed detector" in skipped[1].getMessage()
    _no_raw_line_breaks(caplog.records)


def test_the_webhook_relay_posts_no_forged_alert_and_goes_on(
    kafka_broker, topic_factory, unique_name, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = topic_factory(partitions=1, prefix="pages")
    receiver = Receiver().start()
    sink = ClickHouseSink(f"chdb://{tmp_path / 'clickhouse'}")
    sink.open()
    try:
        relay = WebhookRelay(
            _settings(bootstrap, topic, unique_name("wh"), [receiver.url("/ok")]), sink
        )
        real = _alert("team-real", "critical")
        forged = _forgeries()

        def produce() -> None:
            _produce_forgeries_then(real, bootstrap, topic)

        caplog.set_level(logging.WARNING, logger="miroir.webhooks")
        _relay_until(relay, lambda: bool(receiver.at("/ok")), "the real alert", then=produce)
        # Only the real alert reached the receiver, signed; the forgeries were refused and
        # dead-lettered with their bytes and why, and the relay went on past them.
        assert [(r.alert_id, r.signed) for r in receiver.at("/ok")] == [(real.alert_id, True)]
        assert relay.counters["refused"] == len(forged)
        assert relay.counters["delivered"] == 1
        letters = _dead_letters(sink)
        assert [row[4] for row in letters] == ["invalid"] * len(forged)
        assert [bytes.fromhex(row[5]) for row in letters] == [encode_alert(a) for a in forged]
        assert "alert_id 'abc\\nevent: alert' is not 32 lowercase hex digits" in letters[0][3]
        assert "kind 'page_everyone' is not emitted by any installed detector" in letters[1][3]
        assert "team_id 'team\\x1b[2J' holds a control" in letters[2][3]
        refusals = [r for r in caplog.records if "refused, not posted" in r.getMessage()]
        assert len(refusals) == len(forged)
        _no_raw_line_breaks(caplog.records)
    finally:
        sink.close()
        receiver.stop()


def test_the_live_page_streams_no_forged_alert(
    kafka_broker, unique_name, caplog: pytest.LogCaptureFixture
) -> None:
    topic = unique_name("alerts")
    ensure_topics(kafka_broker.bootstrap, {topic: 1})
    real = sample_alert()

    def produce() -> None:
        _produce_forgeries_then(real, kafka_broker.bootstrap, topic)

    async def first_streamed() -> MirrorAlert:
        ready = asyncio.Event()
        alerts = kafka_alert_source(kafka_broker.bootstrap, topic)(ready.set)
        assert isinstance(alerts, AsyncGenerator)
        first = asyncio.ensure_future(anext(alerts))
        try:
            await asyncio.wait_for(ready.wait(), 30)
            await asyncio.to_thread(produce)
            return await asyncio.wait_for(first, 30)
        finally:
            first.cancel()
            await alerts.aclose()

    caplog.set_level(logging.WARNING, logger="miroir.web")
    assert asyncio.run(first_streamed()) == real  # the three forgeries before it were skipped
    skipped = [r for r in caplog.records if "live page: skipped" in r.getMessage()]
    assert len(skipped) == 3
    _no_raw_line_breaks(caplog.records)
