"""The live page behind access control, in a real browser: Chromium against a real worker whose
web server requires basic-auth users (MIROIR_WEB_AUTH=basic), with the real broker and store.

Without credentials the page, its API, its live stream and /metrics are refused; with them the
page loads and its feed is live; an acknowledgement sent from the page is recorded with the
signed-in user, whatever name the form was given.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from streams.runtime.publish import SignalPublisher
from streams.runtime.topics import ensure_topics
from streams.tools.kafka_broker import free_port
from streams.tools.simulator import Simulator, TeamPlan
from streams.web.access import hash_password
from tests.e2e.browser import ARTIFACTS, browser_or_skip, offline_browser
from tests.integration.harness import PipelineEnv, WorkerProcess, recent_base_ms, wait_until

pytestmark = pytest.mark.e2e

WINDOW_MS = 10_000
USER, PASSWORD = "alice", "a long and secret passphrase"


def _get(url: str, user: str | None = None, password: str = PASSWORD) -> tuple[int, bytes]:
    headers = {}
    if user is not None:
        credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {credentials}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""  # not listening yet


def _open_episode(base: str, team: str) -> dict[str, Any] | None:
    status, body = _get(base + "api/episodes?state=open", USER)
    if status != 200:
        return None
    return next((e for e in json.loads(body)["episodes"] if e["team_id"] == team), None)


@pytest.fixture(scope="module")
def guarded_worker(kafka_broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    browser_or_skip()
    port = free_port()
    env = PipelineEnv(
        kafka_broker.bootstrap,
        tmp_path_factory.mktemp("guarded-page"),
        f"guard-{uuid.uuid4().hex[:8]}",
        extra={
            "MIROIR_WEB_PORT": str(port),
            "MIROIR_WEB_BIND": "127.0.0.1",
            "MIROIR_WEB_AUTH": "basic",
            "MIROIR_WEB_USERS": f"{USER}:{hash_password(PASSWORD, iterations=20_000)}",
        },
    )
    ensure_topics(
        env.bootstrap,
        dict.fromkeys(
            (env.customer_topic, env.employee_topic, env.alerts_topic, env.dead_letter_topic), 4
        ),
    )
    simulator = Simulator(
        [TeamPlan("steady"), TeamPlan("decline", "mirror_decline")],
        WINDOW_MS,
        recent_base_ms(WINDOW_MS),
        seed=7,
    )
    events = [e for index in range(6) for e in simulator.window(index)]
    with SignalPublisher(env.bootstrap, env.customer_topic, env.employee_topic) as publisher:
        publisher.send_all(events)
    worker = WorkerProcess(env).start()
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_until(
            lambda: _open_episode(base, "decline") is not None,
            120,
            "the decline episode",
            worker,
        )
        yield base, worker
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]
    assert PASSWORD not in worker.log()


def test_without_credentials_everything_but_healthz_is_refused(guarded_worker: Any) -> None:
    base, _ = guarded_worker
    for path in ("", "api/alerts", "alerts/stream", "teams", "metrics", "static/live.js"):
        assert _get(base + path)[0] == 401, path
        assert _get(base + path, USER, "wrong passphrase")[0] == 401, path
    assert _get(base + "healthz")[0] == 200
    assert _get(base + "api/alerts", USER)[0] == 200


def test_the_browser_is_refused_without_credentials_and_works_with_them(
    guarded_worker: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect

    base, worker = guarded_worker
    with offline_browser(base, tmp_path_factory.mktemp("no-credentials")) as context:
        page = context.new_page()
        statuses: list[int] = []
        page.on("response", lambda r: statuses.append(r.status))
        # Headless Chromium cannot ask for a password: the navigation fails on the challenge.
        with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
            page.goto(base)
        assert statuses == [401]
        expect(page.locator("#status")).to_have_count(0)  # none of the page was served

    credentials = {"username": USER, "password": PASSWORD}
    profile = tmp_path_factory.mktemp("signed-in")
    with offline_browser(base, profile, http_credentials=credentials) as context:
        page = context.new_page()
        response = page.goto(base)
        assert response is not None and response.status == 200
        expect(page.locator("#status")).to_have_text("live", timeout=30_000)
        expect(page.locator('li.episode[data-team="decline"]')).to_have_count(1, timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "live-page-signed-in.png"), full_page=True)

        # Acknowledge from the episode's page: the form shows, fixed, the signed-in user the
        # worker records (tests/e2e/test_live_page_origins.py sends another name by hand).
        episode = _open_episode(base, "decline")
        assert episode is not None
        page.goto(base + "episodes/" + episode["episode_id"])
        expect(page.locator("#ack-form input[name=by]")).to_have_value(USER)
        expect(page.locator("#ack-form input[name=by]")).not_to_be_editable()
        page.click("#ack-form button[type=submit]")
        expect(page.locator('[data-field="acknowledged"]')).to_have_text(
            "by " + USER, timeout=60_000
        )
    wait_until(
        lambda: (_open_episode(base, "decline") or {}).get("acknowledged_by") == USER,
        60,
        "the acknowledgement by the signed-in user in ClickHouse",
        worker,
    )
    assert "signed in as 'alice'" in worker.log()
