"""Webhooks against a real local HTTP receiver (aiohttp, loopback), the real Apache Kafka broker
and the real ClickHouse engine (chDB): delivery, signatures, retries, dead letters, and the
worker end to end."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from kafka import KafkaProducer

from schemas.codec import encode_alert
from schemas.records import MirrorAlert
from sinks.clickhouse import ClickHouseSink
from sinks.webhook import (
    ALERT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSink,
    verify,
)
from streams.runtime.publish import SignalPublisher
from streams.runtime.webhooks import WebhookRelay
from streams.settings import Settings, load_settings
from streams.tools.simulator import Simulator, TeamPlan
from tests.http_server import ThreadedServer
from tests.integration.harness import (
    PipelineEnv,
    WorkerProcess,
    create_topics,
    read_alerts,
    wait_until,
)

pytestmark = pytest.mark.integration

SECRET = "webhook-test-secret"


# -- a real HTTP receiver -------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    alert_id: str
    attempt: str
    status: int  # what the receiver answered
    signed: bool  # the signature verified with SECRET and a fresh timestamp
    body: dict


class Receiver(ThreadedServer):
    """An aiohttp server on a free loopback port, in its own thread with its own loop.

    Paths: ``/ok`` answers 200; ``/flaky`` answers 503 to the first three requests of each
    alert id, then 200; ``/down`` always 503; ``/reject`` always 400.
    """

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Received] = []
        self._lock = threading.Lock()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{name}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        path = request.path
        alert_id = request.headers.get(ALERT_ID_HEADER, "")
        with self._lock:
            earlier = sum(1 for r in self.received if r.path == path and r.alert_id == alert_id)
            if path == "/ok":
                status = 200
            elif path == "/flaky":
                status = 503 if earlier < 3 else 200
            elif path == "/reject":
                status = 400
            else:
                status = 503
            self.received.append(
                Received(
                    path=path,
                    alert_id=alert_id,
                    attempt=request.headers.get("X-Miroir-Attempt", ""),
                    status=status,
                    signed=verify(
                        raw,
                        SECRET,
                        request.headers.get(TIMESTAMP_HEADER),
                        request.headers.get(SIGNATURE_HEADER),
                        alert_id=request.headers.get(ALERT_ID_HEADER),
                    ),
                    body=json.loads(raw),
                )
            )
        return web.Response(status=status, text="ok" if status == 200 else "try later")

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def accepted(self, path: str = "/ok") -> list[Received]:
        return [r for r in self.at(path) if r.status == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[ClickHouseSink]:
    store = ClickHouseSink(f"chdb://{tmp_path / 'clickhouse'}")
    store.open()
    yield store
    store.close()


# -- helpers --------------------------------------------------------------------------------

WINDOW = 86_400_000


def _alert(team: str, severity: str, kind: str = "mirror_decline", window: int = 0) -> MirrorAlert:
    start = 1_700_000_000_000 - 1_700_000_000_000 % WINDOW + window * WINDOW
    return MirrorAlert(
        # 32 lowercase hex digits, as Miroir makes them (the readers refuse anything else).
        alert_id=hashlib.sha256(f"{team}-{kind}-{window}".encode()).hexdigest()[:32],
        team_id=team,
        window_start=start,
        window_end=start + WINDOW,
        kind=kind,
        severity=severity,
        detector="mirror_change",
        detector_version="1",
        message=f"Team {team}: employees and customers both report less trust than usual.",
        created_at=start + WINDOW + 1,
        dimension="trust",
        customer_n=60,
        employee_n=12,
        customer_index=55.0,
        employee_index=50.0,
        customer_delta=-12.0,
        employee_delta=-15.0,
        customer_z=-4.1,
        employee_z=-3.9,
    )


def _produce(bootstrap: str, topic: str, alerts: list[MirrorAlert]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for alert in alerts:
            producer.send(topic, key=alert.team_id.encode(), value=encode_alert(alert))
        producer.flush(30)
    finally:
        producer.close()


def _settings(
    bootstrap: str, topic: str, app_id: str, urls: list[str], **extra: object
) -> Settings:
    values: dict[str, object] = {
        "kafka_bootstrap": bootstrap,
        "app_id": app_id,
        # The relay follows the pages topic: here the test writes the pages itself.
        "topic_alerts": f"{topic}-events",
        "topic_pages": topic,
        "webhook_urls": tuple(urls),
        "webhook_secret": SECRET,
        "webhook_min_severity": "warning",
        "webhook_attempts": 5,
        "webhook_backoff_seconds": 0.05,
        "webhook_timeout_seconds": 3.0,
        "session_timeout_seconds": 10.0,
    }
    values.update(extra)
    return load_settings(**values)


def _relay_until(
    relay: WebhookRelay,
    done: Callable[[], bool],
    what: str,
    then: Callable[[], None] | None = None,
    timeout: float = 60.0,
    settle: float = 1.5,
) -> None:
    """Run the relay in this process until ``done()``, a moment longer (an unexpected extra
    delivery would show up), then stop it. ``then`` runs in a thread once the relay runs."""

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        try:
            if then is not None:
                await asyncio.to_thread(then)
            deadline = time.monotonic() + timeout
            while not done():
                if task.done():
                    task.result()
                    raise AssertionError(f"the relay stopped before {what}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
                await asyncio.sleep(0.1)
            await asyncio.sleep(settle)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)

    asyncio.run(go())


def _dead_letters(sink: ClickHouseSink) -> list[tuple]:
    return sink.query(
        "SELECT topic, `partition`, `offset`, reason, error_kind, hex(payload), key "
        "FROM dead_letters FINAL ORDER BY `offset`"
    )[1]


# -- the tests ------------------------------------------------------------------------------


def test_each_qualifying_alert_arrives_once_signed_and_committed(
    kafka_broker, topic_factory, unique_name, receiver: Receiver, sink: ClickHouseSink
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = topic_factory(partitions=2, prefix="alerts")
    app_id = unique_name("wh")
    # Written before the relay first starts: a new group must not replay it.
    old = _alert("team-a", "critical", window=-5)
    _produce(bootstrap, topic, [old])
    time.sleep(0.05)
    settings = _settings(bootstrap, topic, app_id, [receiver.url("/ok")])
    relay = WebhookRelay(settings, sink)
    fresh = [
        _alert("team-a", "critical"),
        _alert("team-b", "warning", kind="inner_warning"),
        _alert("team-c", "info", kind="mirror_rise"),  # below the threshold
        _alert("team-d", "critical", window=1),
    ]
    expected = {a.alert_id for a in fresh if a.severity != "info"}
    _relay_until(
        relay,
        lambda: len(receiver.at("/ok")) >= len(expected),
        "the qualifying alerts",
        then=lambda: _produce(bootstrap, topic, fresh),
    )
    got = receiver.at("/ok")
    assert sorted(r.alert_id for r in got) == sorted(expected)  # each once, no old, no info
    assert all(r.signed for r in got)
    for r in got:
        assert r.body["miroir"]["alert_id"] == r.alert_id
        assert r.body["text"].startswith(f"[{r.body['miroir']['severity'].upper()}] ")
    assert relay.counters == {"delivered": 3, "skipped": 1, "dead_letters": 0, "refused": 0}
    assert _dead_letters(sink) == []

    # Restarted in the same group: offsets were committed, nothing is delivered twice (the
    # start time is ignored for partitions with a committed offset: 0 would replay it all).
    again = WebhookRelay(settings, sink, start_from_ms=0)
    later = _alert("team-b", "critical", window=2)
    _relay_until(
        again,
        lambda: len(receiver.at("/ok")) >= len(expected) + 1,
        "the alert written after the restart",
        then=lambda: _produce(bootstrap, topic, [later]),
    )
    assert sorted(r.alert_id for r in receiver.at("/ok")) == sorted(expected | {later.alert_id})


def test_a_receiver_failing_three_times_then_recovering_still_gets_the_alert(
    kafka_broker, topic_factory, unique_name, receiver: Receiver, sink: ClickHouseSink
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = topic_factory(partitions=1, prefix="alerts")
    settings = _settings(bootstrap, topic, unique_name("wh"), [receiver.url("/flaky")])
    relay = WebhookRelay(settings, sink)
    alert = _alert("team-flaky", "critical")
    _relay_until(
        relay,
        lambda: bool(receiver.accepted("/flaky")),
        "the delivery after three failures",
        then=lambda: _produce(bootstrap, topic, [alert]),
    )
    attempts = receiver.at("/flaky")
    assert [(r.attempt, r.status) for r in attempts] == [
        ("1", 503),
        ("2", 503),
        ("3", 503),
        ("4", 200),
    ]
    assert all(r.signed and r.alert_id == alert.alert_id for r in attempts)
    # The same body every time (receivers may de-duplicate on it too).
    assert all(r.body == attempts[0].body for r in attempts)
    assert relay.counters["delivered"] == 1
    assert _dead_letters(sink) == []


def test_a_receiver_that_never_recovers_leaves_a_dead_letter_row(
    kafka_broker, topic_factory, unique_name, receiver: Receiver, sink: ClickHouseSink
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = topic_factory(partitions=1, prefix="alerts")
    closed_port = _closed_port()
    urls = [
        receiver.url("/down"),
        f"http://hook-user:hook-password@127.0.0.1:{closed_port}/services/T0/SECRETPATH",
        receiver.url("/ok"),
    ]
    settings = _settings(bootstrap, topic, unique_name("wh"), urls, webhook_attempts=3)
    relay = WebhookRelay(settings, sink)
    alert = _alert("team-down", "critical")
    _relay_until(
        relay,
        lambda: relay.counters["dead_letters"] >= 1,
        "the dead letter",
        then=lambda: _produce(bootstrap, topic, [alert]),
    )
    assert [r.status for r in receiver.at("/down")] == [503, 503, 503]  # webhook_attempts
    assert len(receiver.accepted("/ok")) == 1  # the healthy endpoint still got it, once
    [(row_topic, partition, offset, reason, kind, payload_hex, key)] = _dead_letters(sink)
    assert (row_topic, partition, offset, kind) == (topic, 0, 0, "webhook")
    assert bytes.fromhex(payload_hex) == encode_alert(alert)
    assert key in (b"team-down", "team-down")
    assert alert.alert_id in reason
    assert f"{receiver.url('/down')} after 3 attempts: HTTP 503" in reason
    assert f"http://127.0.0.1:{closed_port}/services/***" in reason
    assert "hook-password" not in reason and "SECRETPATH" not in reason
    assert "hook-user" not in reason
    assert "/ok" not in reason


def test_a_refusal_is_final_and_a_timeout_is_retried(receiver: Receiver) -> None:
    """4xx other than 429 is not retried; the rest of the policy without the broker."""

    async def go() -> None:
        async with WebhookSink(
            [receiver.url("/reject")], SECRET, attempts=5, backoff_seconds=0.01
        ) as hooks:
            result = await hooks.deliver(_alert("team-r", "warning"))
        assert not result.delivered
        [letter] = result.dead_letters
        assert letter.error_kind == "webhook" and "HTTP 400: try later" in letter.reason
        assert letter.partition == -1 and letter.payload == encode_alert(
            _alert("team-r", "warning")
        )

    asyncio.run(go())
    assert [r.status for r in receiver.at("/reject")] == [400]


def test_the_worker_delivers_its_critical_alert(
    kafka_broker, tmp_path: Path, unique_name, receiver: Receiver
) -> None:
    env = PipelineEnv(
        kafka_broker.bootstrap,
        tmp_path,
        unique_name("wh"),
        extra={
            "MIROIR_WEBHOOK_URLS": receiver.url("/ok"),
            "MIROIR_WEBHOOK_MIN_SEVERITY": "warning",
            "MIROIR_WEBHOOK_SECRET": SECRET,
            "MIROIR_WEBHOOK_BACKOFF_SECONDS": "0.1",
        },
    )
    create_topics(env)
    window_ms = 10_000
    now = int(time.time() * 1000)
    simulator = Simulator(
        [TeamPlan("steady-a"), TeamPlan("decline", "mirror_decline")],
        window_ms,
        now - now % window_ms - 100 * window_ms,
        seed=12,
    )
    events = [e for index in range(5) for e in simulator.window(index)]
    with SignalPublisher(env.bootstrap, env.customer_topic, env.employee_topic) as publisher:
        publisher.send_all(events)
    worker = WorkerProcess(env).start()
    try:
        wait_until(
            lambda: any(r.body["miroir"]["kind"] == "mirror_decline" for r in receiver.accepted()),
            120,
            "the critical alert at the webhook",
            worker,
        )
        time.sleep(3)  # a duplicate would have time to show up
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]
    [on_topic] = [a for a in read_alerts(env.bootstrap, env.alerts_topic) if a.team_id == "decline"]
    got = receiver.accepted()
    assert [r.alert_id for r in got] == [on_topic.alert_id]
    assert got[0].signed
    assert got[0].body["miroir"]["severity"] == "critical"
    assert got[0].body["miroir"]["team_id"] == "decline"


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
