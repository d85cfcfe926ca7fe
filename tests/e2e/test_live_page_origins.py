"""What a real browser sends, against the live page's routes behind access control: Debian's
Chromium (Playwright) and a real aiohttp server on loopback, with episodes in the real ClickHouse
engine (chDB) and a stand-in producer that keeps the published actions (as in
tests/integration/test_web_episodes.py).

Proves: the episode form sent *without JavaScript* is accepted from the page itself (Chromium
says ``Origin: null`` there, because of the pages' ``Referrer-Policy: no-referrer``) and is
recorded as the signed-in user; the same form on another site is refused; the token link, clicked
on another site (a chat, an e-mail), opens the page.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from schemas.codec import decode_action
from sinks.clickhouse import ClickHouseSink
from streams.core.episodes import Episode
from streams.core.model import SinkBatch
from streams.web.access import WebAccess, hash_password, parse_users
from streams.web.actions import ActionPublisher
from streams.web.live import AlertHub
from streams.web.routes import WebContext, add_routes
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip

pytestmark = pytest.mark.e2e

T0 = 1_767_225_600_000
USER, PASSWORD = "alice", "a long and secret passphrase"
TOKEN = "k" * 48
EPISODE = Episode(
    episode_id="e" * 32,
    team_id="decline",
    family="fall",
    kind="mirror_decline",
    severity="critical",
    opened_window_start=T0,
    last_alert_window_start=T0,
    alerts=1,
    last_window_end=T0 + 10_000,
    detector_version="v1",
    revision=1,
)


class KeptActions:
    """The producer's stand-in: keeps what it is sent."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, topic: str, *, key: bytes, value: bytes) -> Any:
        self.sent.append(value)
        return self

    def get(self, timeout: float | None = None) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        return None


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseSink]:
    browser_or_skip()
    sink = ClickHouseSink(f"chdb://{tmp_path_factory.mktemp('origins') / 'store'}")
    sink.open()
    try:
        sink.write(SinkBatch(episodes=[EPISODE]))
        yield sink
    finally:
        sink.close()


@contextmanager
def serving(app: web.Application) -> Iterator[str]:
    """``app`` on a real server on loopback, run by its own event loop in a thread (Playwright's
    sync API wants this one); its base URL."""
    loop = asyncio.new_event_loop()
    started: Future[TestServer] = Future()

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = TestServer(app, host="127.0.0.1")
        loop.run_until_complete(server.start_server())
        started.set_result(server)
        loop.run_forever()
        loop.run_until_complete(server.close())
        loop.close()

    thread = threading.Thread(target=run, name="origins-server", daemon=True)
    thread.start()
    server = started.result(timeout=30)
    try:
        yield f"http://127.0.0.1:{server.port}/"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


def _guarded(store: ClickHouseSink, access: WebAccess, kept: KeptActions) -> web.Application:
    app = web.Application(middlewares=[access.middleware()])
    context = WebContext(store, AlertHub(None), 5, access=access)
    context.actions = ActionPublisher("actions", lambda: kept)
    add_routes(app, context)
    return app


def _other_site(page_html: str) -> web.Application:
    """Another site's page (served on ``localhost``, another site than ``127.0.0.1``)."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=page_html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    return app


@contextmanager
def chromium(**options: Any) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser.new_context(**options)
        finally:
            browser.close()


def test_the_form_without_javascript_acts_from_the_page_and_not_from_another_site(
    store: ClickHouseSink,
) -> None:
    from playwright.sync_api import expect

    access = WebAccess(mode="basic", users=parse_users(f"{USER}:{hash_password(PASSWORD)}"))
    kept = KeptActions()
    credentials = {"username": USER, "password": PASSWORD}
    with (
        serving(_guarded(store, access, kept)) as base,
        chromium(http_credentials=credentials, java_script_enabled=False) as context,
    ):
        page = context.new_page()
        origins: list[str | None] = []
        page.on(
            "request",
            lambda r: origins.append(r.headers.get("origin")) if r.method == "POST" else None,
        )
        page.goto(base + "episodes/" + EPISODE.episode_id)
        expect(page.locator("#ack-form input[name=by]")).to_have_value(USER)  # shown, fixed
        with page.expect_navigation():
            page.click("#ack-form button[type=submit]")
        expect(page.locator("h1")).to_have_text("Acknowledgement sent")
        assert origins == ["null"]  # what made an Origin-only check refuse the page's own form
        [sent] = kept.sent
        action = decode_action(sent)
        assert (action.action, action.actor, action.episode_id) == ("ack", USER, "e" * 32)
        # Another name sent by hand (with alice's credentials) is not what gets recorded.
        typed = context.request.post(
            f"{base}api/episodes/{EPISODE.episode_id}/resolve", form={"by": "mallory"}
        )
        assert typed.status == 202, typed.text()
        assert decode_action(kept.sent[-1]).actor == USER
        del kept.sent[-1]

        # The same form on another site, in the same signed-in browser: refused.
        target = f"{base}api/episodes/{EPISODE.episode_id}/ack"
        forged = (
            f'<form id="f" method="post" action="{target}"><input name="by" value="x">'
            '<button type="submit">go</button></form>'
        )
        with serving(_other_site(forged)) as other:
            attack = context.new_page()
            attack.goto(other.replace("127.0.0.1", "localhost"))
            with attack.expect_navigation():
                attack.click("#f button")
            assert "Acknowledgement sent" not in attack.content()
        assert len(kept.sent) == 1, "another site acted in the signed-in user's name"


def test_the_token_link_opens_the_page_when_clicked_on_another_site(
    store: ClickHouseSink,
) -> None:
    from playwright.sync_api import expect

    with (
        serving(_guarded(store, WebAccess(mode="token", token=TOKEN), KeptActions())) as base,
        chromium() as context,
    ):
        link = f'<a id="open" href="{base}episodes/{EPISODE.episode_id}?token={TOKEN}">open</a>'
        with serving(_other_site(link)) as chat:
            page = context.new_page()
            page.goto(chat.replace("127.0.0.1", "localhost"))
            with page.expect_navigation():
                page.click("#open")
            page.wait_for_load_state()
            # The cookie came with the redirect, and the token left the address bar.
            assert page.url == f"{base}episodes/{EPISODE.episode_id}"
            expect(page.locator("h1 .episode-id")).to_have_text(EPISODE.episode_id)
            # Later visits need no token.
            again = context.new_page()
            response = again.goto(base + "api/episodes")
            assert response is not None and response.status == 200
