"""Webhook hardening against a real local HTTP server (aiohttp, loopback): a receiver answering
500 with a huge body costs bounded memory; the documented verification accepts a real delivery
and refuses it with a changed alert id; a URL the sink refuses never stops the relay."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from aiohttp import web

from sinks.clickhouse import ClickHouseSink
from sinks.webhook import ALERT_ID_HEADER, MAX_RESPONSE_BODY_BYTES, WebhookSink
from streams.runtime.webhooks import WebhookRelay
from tests.http_server import ThreadedServer
from tests.integration.test_webhooks import _alert, _dead_letters, _produce, _relay_until, _settings
from tests.samples import sample_alert

pytestmark = pytest.mark.integration

SECRET = "webhook-hardening-secret"
HUGE_BODY_BYTES = 200 * 1024 * 1024  # what the hostile receiver offers per answer
CHUNK = b"x" * (64 * 1024)
MAX_GROWTH_BYTES = 50 * 1024 * 1024  # peak RSS growth allowed over the whole delivery


class HostileReceiver(ThreadedServer):
    """An aiohttp server on a free loopback port, in its own thread and loop.

    ``/huge`` answers 500 with a 200 MB body generated lazily (never held in memory here);
    ``/ok`` answers 200. ``requests`` counts the requests per path; ``sent`` the body bytes the
    server managed to write to ``/huge`` callers before they hung up.
    """

    def __init__(self) -> None:
        super().__init__()
        self.requests: dict[str, int] = {}
        self.sent = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/huge", self._huge)
        app.router.add_post("/ok", self._ok)

    def _count(self, request: web.Request) -> None:
        self.requests[request.path] = self.requests.get(request.path, 0) + 1

    async def _ok(self, request: web.Request) -> web.Response:
        await request.read()
        self._count(request)
        return web.Response(text="ok")

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self._count(request)
        response = web.StreamResponse(status=500)
        response.content_type = "text/plain"
        await response.prepare(request)
        try:
            for _ in range(HUGE_BODY_BYTES // len(CHUNK)):
                await response.write(CHUNK)  # waits while the client does not read
                self.sent += len(CHUNK)
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client hung up: exactly what it should do
        return response


@pytest.fixture
def hostile() -> Iterator[HostileReceiver]:
    server = HostileReceiver().start()
    yield server
    server.stop()


class PeakRss:
    """Samples this process's resident set size every few milliseconds in a thread."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.start = self._process.memory_info().rss
        self.peak = self.start
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start


def test_a_huge_500_body_is_read_to_a_bound_and_the_delivery_retries_as_before(
    hostile: HostileReceiver,
) -> None:
    alert = sample_alert()

    async def go() -> tuple[object, PeakRss]:
        # Warm up (imports, the HTTP machinery) before measuring.
        async with WebhookSink([hostile.url("/ok")], SECRET) as warm_up:
            assert (await warm_up.deliver(alert)).delivered
        async with WebhookSink(
            [hostile.url("/huge"), hostile.url("/ok")],
            SECRET,
            attempts=3,
            backoff_seconds=0.01,
            timeout_seconds=30.0,
        ) as hooks:
            with PeakRss() as rss:
                result = await hooks.deliver(alert)
        return result, rss

    started = time.monotonic()
    result, rss = asyncio.run(go())
    elapsed = time.monotonic() - started
    print(
        f"peak RSS growth {rss.growth / 2**20:.1f} MiB (from {rss.start / 2**20:.1f} MiB); "
        f"server wrote {hostile.sent / 2**20:.1f} MiB of {3 * HUGE_BODY_BYTES / 2**20:.0f} "
        f"offered; {elapsed:.2f}s"
    )
    assert rss.growth < MAX_GROWTH_BYTES
    assert hostile.requests == {"/huge": 3, "/ok": 2}  # retried as before; /ok: warm-up + this
    [failed] = result.failed  # type: ignore[attr-defined]
    assert (failed.attempts, failed.status) == (3, 500)
    assert failed.error is not None and failed.error.startswith("HTTP 500: xxxx")
    assert len(failed.error) < MAX_RESPONSE_BODY_BYTES
    [letter] = result.dead_letters  # type: ignore[attr-defined]
    assert "after 3 attempts: HTTP 500" in letter.reason
    # The rest of each body was never read: the connection was dropped instead.
    assert hostile.sent < HUGE_BODY_BYTES


def test_the_documented_receiver_snippet_verifies_a_real_delivery() -> None:
    """The docs' snippet, run as a receiver's handler behind a real HTTP server, accepts what
    the sink actually posts, and refuses the same request with its alert id header changed."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    code = docs.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)  # noqa: S102 - our own docs
    verify_miroir = namespace["verify_miroir"]
    verdicts: list[bool] = []

    async def handle(request: web.Request) -> web.Response:
        raw = await request.read()
        headers = dict(request.headers)
        verdicts.append(verify_miroir(raw, headers, SECRET))
        verdicts.append(verify_miroir(raw, headers | {ALERT_ID_HEADER: "forged-id"}, SECRET))
        return web.Response(text="ok")

    async def go() -> None:
        app = web.Application()
        app.router.add_post("/hook", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with WebhookSink([f"http://127.0.0.1:{port}/hook"], SECRET) as sink:
                assert (await sink.deliver(sample_alert())).delivered
        finally:
            await runner.cleanup()

    asyncio.run(go())
    assert verdicts == [True, False]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ClickHouseSink]:
    sink = ClickHouseSink(f"chdb://{tmp_path / 'clickhouse'}")
    sink.open()
    yield sink
    sink.close()


def test_the_relay_given_a_bad_url_delivers_the_others_and_never_restarts(
    kafka_broker,
    topic_factory,
    unique_name,
    hostile: HostileReceiver,
    store: ClickHouseSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Settings bypassed: a port of 99999 once put the relay in a restart loop."""
    bootstrap = kafka_broker.bootstrap
    topic = topic_factory(partitions=1, prefix="alerts")
    bad = "https://hook-user:hook-password@127.0.0.1:99999/services/T0/SECRETPATH"
    good = hostile.url("/ok")
    settings = _settings(bootstrap, topic, unique_name("wh"), [good])
    alerts = [_alert("team-a", "critical"), _alert("team-b", "critical", window=1)]
    with caplog.at_level(logging.INFO, logger="miroir.webhooks"):
        # Built by hand, as if settings had let the bad URL through.
        hooks = WebhookSink(
            [bad, good], SECRET, backoff_seconds=0.05, alerts_topic=settings.topic_alerts
        )
        relay = WebhookRelay(settings, store, webhooks=hooks)
        _relay_until(
            relay,
            lambda: relay.counters["dead_letters"] >= len(alerts),
            "both alerts",
            then=lambda: _produce(bootstrap, topic, alerts),
        )
    assert hostile.requests == {"/ok": len(alerts)}  # the good URL got every alert
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "restarting" in m or "relay failed" in m]
    assert len([m for m in messages if "dead-lettered, never sent" in m]) == 1  # logged once
    rows = _dead_letters(store)
    assert len(rows) == len(alerts)
    for row in rows:
        reason = row[3]
        assert "https://127.0.0.1:99999/services/*** not tried: " in reason
        assert "a port is a number in 1-65535" in reason
        assert "hook-password" not in reason and "SECRETPATH" not in reason
    assert all("hook-password" not in m for m in messages)
