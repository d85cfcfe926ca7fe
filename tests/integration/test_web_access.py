"""The live page's access control and stream limits on a real aiohttp server (loopback): every
mode's refusals and admissions, the token's cookie hand-over, the trusted proxy's address check,
the per-address cap of live streams, and alert ids that would inject SSE lines."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from streams.web.access import WebAccess, hash_password, parse_users
from streams.web.live import AlertHub
from streams.web.routes import WebContext, add_routes
from tests.samples import sample_alert

pytestmark = pytest.mark.integration

TOKEN = "t" * 40
PASSWORD = "correct horse battery staple"
USERS = parse_users(f"alice:{hash_password(PASSWORD, iterations=1_000)}")


async def serve_live_page(access: WebAccess, hub: AlertHub) -> TestServer:
    """The live page's routes behind ``access`` on a real, started server on loopback."""
    app = web.Application(middlewares=[access.middleware()])
    add_routes(app, WebContext(None, hub, 5, access=access))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@contextlib.asynccontextmanager
async def serving(access: WebAccess, hub: AlertHub | None = None) -> AsyncIterator[str]:
    """The live page's routes behind ``access`` on a real server on loopback; its base URL."""
    server = await serve_live_page(access, hub or AlertHub(None))
    try:
        yield str(server.make_url("/"))
    finally:
        await server.close()


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def _status(url: str, **kwargs: Any) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, allow_redirects=False, **kwargs) as response,
    ):
        return response.status


BASIC = WebAccess(mode="basic", users=USERS)
PROTECTED = ["", "api/alerts", "teams", "alerts/stream", "static/style.css", "metrics"]


@pytest.mark.parametrize("path", PROTECTED)
def test_basic_mode_refuses_every_route_without_valid_credentials(path: str) -> None:
    async def test() -> None:
        async with serving(BASIC) as base:
            assert await _status(base + path) == 401
            wrong = _basic("alice", "wrong password!")
            assert await _status(base + path, headers=wrong) == 401
            stranger = _basic("mallory", PASSWORD)
            assert await _status(base + path, headers=stranger) == 401

    run(test)


def test_basic_mode_admits_its_user_and_keeps_healthz_public() -> None:
    async def test() -> None:
        async with serving(BASIC) as base, aiohttp.ClientSession() as session:
            async with session.get(base) as response:
                assert response.status == 401
                assert response.headers["WWW-Authenticate"].startswith("Basic ")
            auth = _basic("alice", PASSWORD)
            async with session.get(base + "static/style.css", headers=auth) as response:
                assert response.status == 200
            assert await _status(base + "healthz") == 200

    run(test)


def test_metrics_and_healthz_are_configurable() -> None:
    access = WebAccess(mode="token", token=TOKEN, public_paths=frozenset({"/metrics"}))

    async def test() -> None:
        async with serving(access) as base:
            assert await _status(base + "healthz") == 401  # not public in this configuration
            assert await _status(base + "metrics") == 404  # public: let through (no route here)

    run(test)


def test_token_mode_takes_a_bearer_header_or_the_browser_cookie() -> None:
    async def test() -> None:
        async with serving(WebAccess(mode="token", token=TOKEN)) as base:
            css = base + "static/style.css"
            assert await _status(css) == 401
            assert await _status(css, headers={"Authorization": "Bearer nope"}) == 401
            assert await _status(css, headers={"Authorization": f"Bearer {TOKEN}"}) == 200
            jar = aiohttp.CookieJar(unsafe=True)  # cookies on a bare IP address
            async with aiohttp.ClientSession(cookie_jar=jar) as session:
                async with session.get(f"{css}?token={TOKEN}", allow_redirects=False) as r:
                    # The token moves into an HttpOnly cookie and out of the address bar.
                    assert r.status == 303
                    assert r.headers["Location"].endswith("/static/style.css")
                    cookie = r.headers["Set-Cookie"]
                    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
                async with session.get(css) as r:
                    assert r.status == 200

    run(test)


def test_proxy_mode_trusts_the_user_header_only_from_the_proxy() -> None:
    loopback = WebAccess(mode="proxy", trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))
    elsewhere = WebAccess(mode="proxy", trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
    signed_in = {"X-Forwarded-User": "alice@example.com"}

    async def test() -> None:
        async with serving(loopback) as base:
            assert await _status(base + "static/style.css") == 403  # no user header
            assert await _status(base + "static/style.css", headers=signed_in) == 200
        async with serving(elsewhere) as base:
            assert await _status(base + "static/style.css", headers=signed_in) == 403

    run(test)


def test_a_cross_origin_action_is_refused_even_with_credentials() -> None:
    async def test() -> None:
        async with (
            serving(BASIC) as base,
            aiohttp.ClientSession() as session,
            session.post(
                base + "api/episodes/abc/ack",
                json={"by": "alice"},
                headers={**_basic("alice", PASSWORD), "Origin": "http://evil.example"},
            ) as response,
        ):
            assert response.status == 403

    run(test)


def test_one_address_cannot_take_every_live_stream() -> None:
    hub = AlertHub(None, max_clients=20, max_per_address=3)

    async def test() -> None:
        async with serving(WebAccess(), hub) as base:
            url = base + "alerts/stream"
            first = aiohttp.TCPConnector(local_addr=("127.0.0.1", 0), force_close=True)
            async with aiohttp.ClientSession(connector=first) as session:
                streams = [await session.get(url) for _ in range(3)]
                assert [s.status for s in streams] == [200, 200, 200]
                async with session.get(url) as refused:
                    assert refused.status == 429
                # Another client address still gets in.
                second = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
                async with (
                    aiohttp.ClientSession(connector=second) as other,
                    other.get(url) as admitted,
                ):
                    assert admitted.status == 200
                    assert hub.clients == 4
                for stream in streams:
                    stream.close()

    run(test)


def test_an_alert_id_with_a_line_break_cannot_inject_events() -> None:
    hub = AlertHub(None)
    forged = 'abc\nevent: alert\ndata: {"team_id":"forged"}\n\nid: x'
    hub.publish(sample_alert(alert_id=forged))
    hub.publish(sample_alert(alert_id="0123456789abcdef0123456789abcdef"))

    async def test() -> str:
        async with (
            serving(WebAccess(), hub) as base,
            aiohttp.ClientSession() as session,
            session.get(base + "alerts/stream") as response,
        ):
            text = ""
            while "0123456789abcdef0123456789abcdef" not in text:
                text += (await asyncio.wait_for(response.content.readany(), 5)).decode()
            return text

    text = asyncio.run(test())
    events = [block for block in text.split("\n\n") if "\nevent: alert" in "\n" + block]
    assert len(events) == 2  # the two alerts, and no forged third one
    fields = {line.split(":", 1)[0] for event in events for line in event.split("\n")}
    assert fields <= {"id", "event", "data"}
    assert not events[0].startswith("id:")  # the unsafe id is left out
    assert events[1].startswith("id: 0123456789abcdef0123456789abcdef")
