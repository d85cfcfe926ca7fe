"""The episode routes of the web server against the real ClickHouse engine (chDB): listing,
the episode page, and acknowledging or resolving through the routes (the producer is a fake
that keeps what it was given, so no broker is needed)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from schemas.codec import decode_action
from schemas.records import MirrorAlert
from sinks.clickhouse import ClickHouseSink
from streams.core.episodes import Episode
from streams.core.model import SinkBatch
from streams.web.actions import ActionPublisher
from streams.web.live import AlertHub
from streams.web.routes import WebContext, add_routes

pytestmark = pytest.mark.integration

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STEP = 10_000
ODD = '<b>odd</b> & "co"'
DECLINE = Episode(
    episode_id="d" * 32,
    team_id=ODD,
    family="fall",
    kind="mirror_decline",
    severity="critical",
    opened_window_start=T0,
    last_alert_window_start=T0 + 2 * STEP,
    alerts=3,
    last_window_end=T0 + 3 * STEP,
    detector_version="v1",
    revision=3,
    peak_customer_delta=-12.5,
)
RESOLVED = Episode(
    episode_id="r" * 32,
    team_id="rise",
    family="rise",
    kind="mirror_rise",
    severity="info",
    opened_window_start=T0 + STEP,
    last_alert_window_start=T0 + STEP,
    alerts=1,
    revision=2,
    state="resolved",
)
NEWER = dataclasses.replace(
    DECLINE,
    episode_id="n" * 32,
    team_id="inner",
    kind="inner_warning",
    severity="warning",
    opened_window_start=T0 + 2 * STEP,
    alerts=1,
    revision=1,
)


def _alert(index: int) -> MirrorAlert:
    return MirrorAlert(
        alert_id=f"a{index}",
        team_id=ODD,
        window_start=T0 + index * STEP,
        window_end=T0 + (index + 1) * STEP,
        kind="mirror_decline",
        severity="critical",
        detector="mirror_change",
        detector_version="v1",
        message=f"window {index}: <script>alert(1)</script>",
        created_at=T0 + (index + 1) * STEP,
        customer_delta=-10.0 - index,
        employee_delta=-8.0,
        episode_id=DECLINE.episode_id,
    )


class FakeProducer:
    """Keeps what it is sent; ``fail`` makes the next send raise as a dead broker does."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.closed = False
        self.fail: Exception | None = None

    def send(self, topic: str, *, key: bytes, value: bytes) -> Any:
        if self.fail is not None:
            raise self.fail
        self.sent.append((topic, key, value))
        return self

    def get(self, timeout: float | None = None) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseSink]:
    path: Path = tmp_path_factory.mktemp("web-episodes") / "store"
    sink = ClickHouseSink(f"chdb://{path}")
    sink.open()
    try:
        sink.write(SinkBatch(alerts=[_alert(i) for i in (2, 0, 1)], episodes=[DECLINE, RESOLVED]))
        sink.write(SinkBatch(episodes=[NEWER]))
        yield sink
    finally:
        sink.close()  # chDB hosts one store per process: free it for the other tests


Scenario = Callable[[TestClient[Any, Any], FakeProducer], Awaitable[None]]


def _run(store: ClickHouseSink, scenario: Scenario, *, broker: bool = True) -> FakeProducer:
    producer = FakeProducer()

    async def main() -> None:
        context = WebContext(store, AlertHub(None), 5)
        if broker:
            context.actions = ActionPublisher("actions", lambda: producer)
        app = web.Application()
        add_routes(app, context)
        async with TestClient(TestServer(app)) as client:
            await scenario(client, producer)

    asyncio.run(main())
    return producer


def test_episodes_are_listed_open_first_and_newest_first(store: ClickHouseSink) -> None:
    async def scenario(client: TestClient[Any, Any], _: FakeProducer) -> None:
        response = await client.get("/api/episodes")
        assert response.status == 200
        body = await response.json()
        assert [e["episode_id"] for e in body["episodes"]] == [NEWER.episode_id, "d" * 32]
        first = body["episodes"][1]
        assert first["alerts"] == 3 and first["team_id"] == ODD
        assert first["episode_url"] == "/episodes/" + "d" * 32
        assert first["opened_window_start"] == T0 and first["acknowledged_by"] is None
        every = await (await client.get("/api/episodes?state=all&limit=10")).json()
        assert [e["state"] for e in every["episodes"]] == ["open", "open", "resolved"]
        assert (await client.get("/api/episodes?state=closed")).status == 400

    _run(store, scenario)


def test_the_episode_page_shows_its_history_and_its_forms_escaped(store: ClickHouseSink) -> None:
    async def scenario(client: TestClient[Any, Any], _: FakeProducer) -> None:
        response = await client.get("/episodes/" + "d" * 32)
        assert response.status == 200
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        html = await response.text()
        assert html.count('<tr class="alert-row') == 3
        # Oldest window first: its history.
        assert html.index("window 0:") < html.index("window 1:") < html.index("window 2:")
        assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html
        assert ODD not in html and "&lt;b&gt;odd&lt;/b&gt;" in html
        assert 'action="/api/episodes/' + "d" * 32 + '/ack"' in html
        assert 'action="/api/episodes/' + "d" * 32 + '/resolve"' in html
        assert "−12.5" in html  # the peak move, in plain figures
        resolved = await (await client.get("/episodes/" + "r" * 32)).text()
        assert "<form" not in resolved and "is resolved" in resolved
        assert (await client.get("/episodes/nobody")).status == 404

    _run(store, scenario)


def test_acknowledging_publishes_the_action_keyed_by_team(store: ClickHouseSink) -> None:
    async def scenario(client: TestClient[Any, Any], producer: FakeProducer) -> None:
        url = "/api/episodes/" + "d" * 32
        response = await client.post(url + "/ack", json={"by": " Dana ", "note": "on it"})
        assert response.status == 202, await response.text()
        body = await response.json()
        (topic, key, value) = producer.sent[-1]
        action = decode_action(value)
        assert (topic, key) == ("actions", ODD.encode())
        assert (action.action, action.actor, action.note) == ("ack", "Dana", "on it")
        assert (action.team_id, action.episode_id) == (ODD, "d" * 32)
        assert body["action_id"] == action.action_id and len(action.action_id) == 32
        # A form sent by a browser without JavaScript gets a page back.
        form = await client.post(
            url + "/resolve", data={"by": "Lee", "note": ""}, headers={"Accept": "text/html"}
        )
        assert form.status == 202 and "Resolution sent" in await form.text()
        resolution = decode_action(producer.sent[-1][2])
        assert (resolution.action, resolution.actor, resolution.note) == ("resolve", "Lee", None)

    producer = _run(store, scenario)
    assert len(producer.sent) == 2 and producer.closed  # closed with the server


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("d" * 32 + "/ack", {"note": "who?"}, {}, 400),
        ("d" * 32 + "/ack", {"by": "x" * 257}, {}, 400),
        ("d" * 32 + "/ack", {"by": "ops", "note": "x" * 1001}, {}, 400),
        ("d" * 32 + "/ack", ["not", "an", "object"], {}, 400),
        ("nobody/ack", {"by": "ops"}, {}, 404),
        ("r" * 32 + "/resolve", {"by": "ops"}, {}, 409),
        ("d" * 32 + "/ack", {"by": "ops"}, {"Sec-Fetch-Site": "cross-site"}, 403),
        ("d" * 32 + "/ack", {"by": "ops"}, {"Sec-Fetch-Site": "same-site"}, 403),
    ],
)
def test_refused_actions_are_not_published(
    store: ClickHouseSink, path: str, body: object, headers: dict[str, str], status: int
) -> None:
    async def scenario(client: TestClient[Any, Any], _: FakeProducer) -> None:
        response = await client.post("/api/episodes/" + path, json=body, headers=headers)
        assert response.status == status, await response.text()
        assert "error" in await response.json()

    assert _run(store, scenario).sent == []


def test_without_a_broker_or_with_a_dead_one_acting_answers_503(store: ClickHouseSink) -> None:
    async def without(client: TestClient[Any, Any], _: FakeProducer) -> None:
        response = await client.post("/api/episodes/" + "d" * 32 + "/ack", json={"by": "ops"})
        assert response.status == 503
        assert "MIROIR_KAFKA_BOOTSTRAP" in (await response.json())["error"]

    _run(store, without, broker=False)

    async def dead(client: TestClient[Any, Any], producer: FakeProducer) -> None:
        from kafka.errors import KafkaTimeoutError

        producer.fail = KafkaTimeoutError("Unable to bootstrap")
        response = await client.post("/api/episodes/" + "d" * 32 + "/ack", json={"by": "ops"})
        assert response.status == 503
        assert "try again" in (await response.json())["error"]

    _run(store, dead)
