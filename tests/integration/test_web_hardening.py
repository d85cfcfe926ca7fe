"""The web server under abuse, on real servers on loopback: a live client that stops reading is
cut off (its slot *and* its connection), a half-sent request is closed by the worker's own (Faust)
web server, a flood of wrong basic-auth passwords does not stall the event loop the pipeline
shares, and behind an SSO proxy each person, not the proxy's one address, has a share of the
live streams."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
import time
import uuid
from pathlib import Path

import aiohttp
import faust
import pytest
from faust.web.drivers.aiohttp import Web as AiohttpWeb

import streams.web
import streams.web.routes
from schemas.records import MirrorAlert
from sinks.clickhouse import ClickHouseSink
from streams.settings import load_settings
from streams.tools.kafka_broker import free_port
from streams.web.access import WebAccess, hash_password, parse_users
from streams.web.live import AlertHub
from tests.integration.test_web_access import serve_live_page
from tests.samples import sample_alert

pytestmark = pytest.mark.integration


def _alert(index: int) -> MirrorAlert:
    # Big events fill the socket buffers sooner.
    return sample_alert(alert_id=f"{index:032x}", message="both fell " + "x" * 3000)


async def _until(condition: object, seconds: float) -> float:
    """Seconds until ``condition()`` held; fails after ``seconds``."""
    start = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - start > seconds:
            raise AssertionError(f"still not true after {seconds} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def test_a_live_client_that_stops_reading_loses_its_slot_and_its_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(streams.web.routes, "SSE_WRITE_TIMEOUT_SECONDS", 0.5)
    hub = AlertHub(None, client_queue=100_000)  # no resync: the writes themselves must stall

    async def test() -> None:
        server = await serve_live_page(WebAccess(), hub)
        runner = server.runner
        assert runner is not None and runner.server is not None
        web_server = runner.server
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(stalled, ("127.0.0.1", server.port))
            stalled.send(b"GET /alerts/stream HTTP/1.1\r\nHost: miroir\r\n\r\n")
            await _until(lambda: hub.clients == 1, 5)
            for index in range(4_000):  # ~12 MB, far more than the socket buffers hold
                hub.publish(_alert(index))
                if index % 50 == 0:
                    await asyncio.sleep(0.005)  # let the stream write
                if not hub.clients:
                    break
            await _until(lambda: hub.clients == 0, 10)
            # ... and the connection itself is cut, though the client still reads nothing.
            await _until(lambda: not web_server.connections, 3)
            async with (
                aiohttp.ClientSession() as session,
                session.get(server.make_url("/alerts/stream")) as fresh,
            ):
                assert fresh.status == 200  # the slot is free for someone else
        finally:
            stalled.close()
            await server.close()

    asyncio.run(test())


def test_the_workers_web_server_closes_a_half_sent_request(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Through ``register_web`` on a Faust app's own aiohttp driver, as a worker starts it."""
    monkeypatch.setattr(streams.web, "KEEPALIVE_SECONDS", 1.0)
    port = free_port()
    app = faust.App(
        f"half-open-{uuid.uuid4().hex[:8]}",
        web_enabled=True,
        web_port=port,
        web_bind="127.0.0.1",
        autodiscover=False,
    )
    settings = load_settings(web_port=port, web_bind="127.0.0.1")
    streams.web.register_web(app, settings, ClickHouseSink(f"chdb://{tmp_path / 'store'}"))

    driver = app.web
    assert isinstance(driver, AiohttpWeb)  # Faust's default driver, as the worker's

    async def test() -> None:
        loop = asyncio.get_running_loop()
        await driver.start_server()
        try:
            for sent in (b"", b"GET /healthz HTTP/1.1\r\nHost: mir"):
                client = socket.socket()
                client.setblocking(False)
                await loop.sock_connect(client, ("127.0.0.1", port))
                if sent:
                    await loop.sock_sendall(client, sent)
                start = time.monotonic()
                try:
                    answer = await asyncio.wait_for(loop.sock_recv(client, 1024), 10)
                except ConnectionResetError:
                    answer = b""
                finally:
                    client.close()
                assert answer == b"", answer  # closed without an answer ...
                assert 0.8 < time.monotonic() - start < 3  # ... after the idle timeout
            # A whole request is still answered.
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/healthz") as response,
            ):
                assert response.status == 200
        finally:
            await driver.stop_server()

    asyncio.run(test())


def test_wrong_basic_auth_passwords_do_not_stall_the_event_loop() -> None:
    password = "a long and secret passphrase"
    # Full-strength hashes: each check costs a real fraction of a second.
    access = WebAccess(mode="basic", users=parse_users(f"alice:{hash_password(password)}"))

    def basic(user: str, secret: str) -> dict[str, str]:
        token = base64.b64encode(f"{user}:{secret}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def test() -> None:
        server = await serve_live_page(access, AlertHub(None))
        stalls: list[float] = []

        async def ticker() -> None:
            while True:
                start = time.monotonic()
                await asyncio.sleep(0.01)
                stalls.append(time.monotonic() - start - 0.01)

        ticking = asyncio.create_task(ticker())
        try:
            async with aiohttp.ClientSession() as session:

                async def attempt(headers: dict[str, str]) -> int:
                    async with session.get(server.make_url("/"), headers=headers) as response:
                        return response.status

                guesses = [basic("alice", f"guess {i}") for i in range(6)]
                guesses += [basic("mallory", f"guess {i}") for i in range(6)]
                statuses = await asyncio.gather(*(attempt(h) for h in guesses))
                assert statuses == [401] * len(guesses)
                assert await attempt(basic("alice", password)) == 200
        finally:
            ticking.cancel()
            await server.close()
        # Twelve full PBKDF2 checks take seconds of CPU; the loop never waited on one.
        assert max(stalls) < 0.1, max(stalls)

    asyncio.run(test())


def test_behind_an_sso_proxy_each_person_has_a_share_of_the_live_streams() -> None:
    access = WebAccess(mode="proxy", trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    hub = AlertHub(None, max_clients=20, max_per_address=2)

    async def test() -> None:
        server = await serve_live_page(access, hub)
        url = server.make_url("/alerts/stream")
        try:
            async with aiohttp.ClientSession() as session:
                alice = {"X-Forwarded-User": "alice@example.com"}
                streams_open = [await session.get(url, headers=alice) for _ in range(2)]
                assert [s.status for s in streams_open] == [200, 200]
                async with session.get(url, headers=alice) as refused:
                    assert refused.status == 429
                # Bob comes through the same proxy address and still gets in.
                bob = {"X-Forwarded-User": "bob@example.com"}
                async with session.get(url, headers=bob) as admitted:
                    assert admitted.status == 200
                    assert hub.clients == 3
                for stream in streams_open:
                    stream.close()
        finally:
            await server.close()

    asyncio.run(test())


def test_behind_a_trusted_reverse_proxy_each_client_address_has_a_share() -> None:
    """Token mode names nobody: behind nginx the share goes by the address the proxy reports
    (the last X-Forwarded-For hop), and only a trusted proxy is believed."""
    token = "k" * 40
    trusted = WebAccess(
        mode="token", token=token, trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),)
    )
    untrusted = WebAccess(mode="token", token=token)

    def through_proxy(client: str) -> dict[str, str]:
        # What a client claims first, then the address the proxy saw.
        return {"Authorization": f"Bearer {token}", "X-Forwarded-For": f"6.6.6.6, {client}"}

    async def test() -> None:
        hub = AlertHub(None, max_clients=20, max_per_address=2)
        server = await serve_live_page(trusted, hub)
        url = server.make_url("/alerts/stream")
        try:
            async with aiohttp.ClientSession() as session:
                first = [await session.get(url, headers=through_proxy("10.0.0.1")) for _ in "ab"]
                assert [s.status for s in first] == [200, 200]
                async with session.get(url, headers=through_proxy("10.0.0.1")) as refused:
                    assert refused.status == 429
                async with session.get(url, headers=through_proxy("10.0.0.2")) as admitted:
                    assert admitted.status == 200
                for stream in first:
                    stream.close()
        finally:
            await server.close()

        # From an address that is not a trusted proxy, X-Forwarded-For is ignored.
        hub = AlertHub(None, max_clients=20, max_per_address=2)
        server = await serve_live_page(untrusted, hub)
        url = server.make_url("/alerts/stream")
        try:
            async with aiohttp.ClientSession() as session:
                claims = [through_proxy(f"10.0.0.{i}") for i in range(3)]
                opened = [await session.get(url, headers=claim) for claim in claims]
                assert [s.status for s in opened] == [200, 200, 429]
                for stream in opened:
                    stream.close()
        finally:
            await server.close()

    asyncio.run(test())
