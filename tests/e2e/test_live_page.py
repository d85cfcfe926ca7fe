"""The live page in a real browser: Debian's Chromium driven by Playwright, against a real worker
(its own web server on loopback), a real Apache Kafka broker and the real ClickHouse engine.

Proves: the page loads from the worker with no external asset; an alert fired *during* the test
shows up without a reload (SSE fed from the alerts topic), coloured by severity, with its
evidence in plain words; the filters work; the list survives a reload (read back from
ClickHouse); the team page draws E and C with the alert marked; text from data is escaped; a
problem lasting several windows is one open-episode card, which an acknowledgement sent from
the episode's page marks "acknowledged by" (back through the worker, the alerts topic and
ClickHouse), and a resolution by hand removes. Screenshots go to test-artifacts/ at the
repository root.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from streams.runtime.publish import SignalPublisher
from streams.runtime.topics import ensure_topics
from streams.tools.kafka_broker import free_port
from streams.tools.simulator import Simulator, TeamPlan
from tests.e2e.browser import ARTIFACTS, browser_or_skip, offline_browser
from tests.integration.harness import PipelineEnv, WorkerProcess, wait_until

pytestmark = pytest.mark.e2e

WINDOW_MS = 10_000
ODD_TEAM = '<b>odd</b> & "co"'  # a team id that must come out as text, never as markup
PLANS = [
    TeamPlan("steady-a"),
    TeamPlan("decline", "mirror_decline"),
    TeamPlan("inner", "inner_warning"),
    TeamPlan("outer", "outer_warning"),
    TeamPlan(ODD_TEAM),
]
ALERT_TIMEOUT_MS = 120_000


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _post_json(url: str, body: object, timeout: float = 30.0) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _json(url: str) -> Any:
    status, body = _get(url)
    assert status == 200, (url, status, body[:500])
    return json.loads(body)


def _feed_connected(base: str) -> bool:
    try:
        return bool(_json(base + "healthz")["live"]["connected"])
    except (OSError, AssertionError, ValueError):
        return False


class LiveWorker:
    def __init__(self, env: PipelineEnv, worker: WorkerProcess, base: str) -> None:
        self.env, self.worker, self.base = env, worker, base
        self.simulator: Simulator | None = None
        self.windows_sent = 0

    def publish_planted_windows(self) -> None:
        """Five windows of history a little in the past: the planted effects fire on the last
        window, which closes on the idle timer a few seconds after this returns."""
        if self.simulator is not None:
            return  # once per worker: the tests share it
        now = int(time.time() * 1000)
        base = now - now % WINDOW_MS - 100 * WINDOW_MS
        self.simulator = Simulator(PLANS, WINDOW_MS, base, seed=12)
        self.publish_windows(5)

    def publish_windows(self, count: int) -> None:
        """The next ``count`` windows; the planted effects go on, so their alerts continue."""
        assert self.simulator is not None
        first = self.windows_sent
        events = [e for index in range(first, first + count) for e in self.simulator.window(index)]
        with SignalPublisher(
            self.env.bootstrap, self.env.customer_topic, self.env.employee_topic
        ) as publisher:
            publisher.send_all(events)
        self.windows_sent += count


@pytest.fixture(scope="module")
def live_worker(kafka_broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveWorker]:
    browser_or_skip()
    port = free_port()
    env = PipelineEnv(
        kafka_broker.bootstrap,
        tmp_path_factory.mktemp("live-page"),
        f"web-{uuid.uuid4().hex[:8]}",
        extra={"MIROIR_WEB_PORT": str(port), "MIROIR_WEB_BIND": "127.0.0.1"},
    )
    ensure_topics(
        env.bootstrap,
        {t: 4 for t in (env.customer_topic, env.employee_topic, env.alerts_topic)}
        | {env.dead_letter_topic: 4},
    )
    worker = WorkerProcess(env).start()
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_until(lambda: _feed_connected(base), 90, "the live page's alert feed", worker)
        yield LiveWorker(env, worker, base)
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]


@pytest.fixture(scope="module")
def browser_context(live_worker: LiveWorker, tmp_path_factory: pytest.TempPathFactory):
    with offline_browser(live_worker.base, tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


def test_alert_fired_during_the_test_appears_without_reload(
    live_worker: LiveWorker, browser_context
) -> None:
    from playwright.sync_api import expect

    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_worker.base)
    expect(page.locator("h1")).to_have_text("Live alerts")
    expect(page.locator("#status")).to_have_text("live")  # the SSE connection is open
    assert page.locator("li.alert").count() == 0
    page.evaluate("window.__sameDocument = true")

    live_worker.publish_planted_windows()  # the planted alerts fire while the page is open

    decline = page.locator('li.alert[data-team="decline"]')
    expect(decline).to_be_visible(timeout=ALERT_TIMEOUT_MS)
    expect(page.locator("li.alert")).to_have_count(3, timeout=30_000)
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    expect(decline).to_have_class("alert sev-critical new")
    expect(decline.locator(".badge")).to_have_text("critical")
    expect(decline.locator(".kind")).to_have_text("mirror decline")
    expect(decline.locator(".message")).to_contain_text("decline")
    expect(decline.locator(".evidence li").first).to_contain_text("Customers: n = ")
    expect(decline.locator(".evidence")).to_contain_text("Employees: n = ")
    colour = decline.evaluate("e => getComputedStyle(e).borderLeftColor")
    assert colour == "rgb(198, 40, 40)"  # critical red
    warning = page.locator('li.alert[data-team="inner"]')
    expect(warning).to_have_class("alert sev-warning new")
    # Newest first: each row fired no earlier than the one below it.
    fired = [
        int(v)
        for v in page.locator("li.alert").evaluate_all("rows => rows.map(r => r.dataset.createdAt)")
    ]
    assert fired == sorted(fired, reverse=True)
    # The team finder (searched and paged by the server) follows the new alerts.
    expect(page.locator("#teams li a").first).to_have_text("decline", timeout=40_000)
    page.wait_for_timeout(2_600)  # let the "new" highlight fade for the screenshot
    page.screenshot(path=str(ARTIFACTS / "live-page.png"), full_page=True)

    # Filters: by team (part of the id) and by kind.
    page.fill("#filter-team", "inn")
    expect(page.locator("li.alert:visible")).to_have_count(1)
    expect(page.locator("li.alert:visible")).to_have_attribute("data-team", "inner")
    page.fill("#filter-team", "")
    page.select_option("#filter-kind", "outer_warning")
    expect(page.locator("li.alert:visible")).to_have_count(1)
    expect(page.locator("li.alert:visible")).to_have_attribute("data-team", "outer")
    page.select_option("#filter-kind", "")
    expect(page.locator("li.alert:visible")).to_have_count(3)

    # After a reload the list comes back from ClickHouse (mirror_alerts FINAL).
    page.reload()
    expect(page.locator("li.alert")).to_have_count(3)
    expect(page.locator('li.alert[data-team="decline"]')).not_to_have_class("new")
    # The team finder is searched by the server; odd ids stay text.
    page.fill("#team-search", "odd")
    expect(page.locator("#teams li a")).to_have_text([ODD_TEAM])
    assert not errors, errors


def test_team_page_draws_both_series_with_the_alert_marked(
    live_worker: LiveWorker, browser_context
) -> None:
    from playwright.sync_api import expect

    live_worker.publish_planted_windows()  # unless the first test did (run alone)
    wait_until(
        lambda: len(_json(live_worker.base + "api/alerts?team=decline")["alerts"]) == 1,
        ALERT_TIMEOUT_MS / 1000,
        "the decline alert in ClickHouse",
        live_worker.worker,
    )
    page = browser_context.new_page()
    page.goto(live_worker.base + "teams/decline")
    chart = page.locator("svg.team-chart")
    expect(chart).to_be_visible()
    for side in ("employee", "customer"):
        expect(chart.locator(f'path[data-series="{side}"]')).to_have_count(1)
        expect(chart.locator(f"circle.point-{side}")).to_have_count(5)
    marker = chart.locator("g.alert-marker")
    expect(marker).to_have_count(1)
    expect(marker).to_have_attribute("data-kind", "mirror_decline")
    expect(marker).to_have_attribute("data-severity", "critical")
    box = chart.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 150
    row = page.locator("tr.alert-row")
    expect(row).to_have_count(1)
    expect(row).to_have_class("alert-row sev-critical")
    expect(row.locator(".evidence")).to_contain_text("Customers: n = ")
    expect(row.locator(".evidence")).to_contain_text("against a baseline of")
    expect(row.locator(".dimension")).not_to_be_empty()
    page.screenshot(path=str(ARTIFACTS / "team-page.png"), full_page=True)

    # A team id that looks like markup is shown as text, on its own page too.
    odd = browser_context.new_page()
    odd.goto(live_worker.base + "teams/" + quote(ODD_TEAM, safe=""))
    expect(odd.locator("h1 .team-id")).to_have_text(ODD_TEAM)
    assert odd.locator("b", has_text="odd").count() == 0
    expect(odd.locator("svg.team-chart path[data-series='customer']")).to_have_count(1)


def test_team_index_api_and_health(live_worker: LiveWorker) -> None:
    base = live_worker.base
    live_worker.publish_planted_windows()  # unless an earlier test did (run alone)
    wait_until(
        lambda: _json(base + "api/teams")["total"] == len(PLANS),
        60,
        "every team's windows in ClickHouse",
        live_worker.worker,
    )
    teams = _json(base + "api/teams?limit=2")
    assert teams["total"] == len(PLANS) and len(teams["teams"]) == 2
    assert all(t["alerts"] == 1 for t in teams["teams"])  # teams with alerts come first
    found = _json(base + "api/teams?q=DECL")
    assert [t["team_id"] for t in found["teams"]] == ["decline"]
    assert found["teams"][0]["latest_kind"] == "mirror_decline"
    status, html = _get(base + "teams?q=" + quote("<b>"))
    assert status == 200 and ODD_TEAM.encode() not in html
    assert b"&lt;b&gt;odd&lt;/b&gt; &amp; &quot;co&quot;" in html
    assert _get(base + "teams/nobody")[0] == 404
    assert _get(base + "api/alerts?limit=x")[0] == 400
    health = _json(base + "healthz")
    assert health["status"] == "ok" and health["live"]["connected"] is True
    status, css = _get(base + "static/style.css")
    assert status == 200 and b"--critical" in css
    assert _get(base + "static/../app.py")[0] == 404


def _episodes(base: str, state: str = "open") -> list[dict[str, Any]]:
    episodes: list[dict[str, Any]] = _json(f"{base}api/episodes?state={state}")["episodes"]
    return episodes


def _episode_of(base: str, team: str, state: str = "open") -> dict[str, Any] | None:
    return next((e for e in _episodes(base, state) if e["team_id"] == team), None)


ACTOR = 'Dana <i>ops</i> & "co"'  # who acknowledges: must come back as text, never as markup


def test_an_episode_shows_once_and_is_acknowledged_and_resolved_from_the_pages(
    live_worker: LiveWorker, browser_context
) -> None:
    """Runs last: it sends more windows, which the earlier tests' counts do not expect."""
    from playwright.sync_api import expect

    base = live_worker.base
    live_worker.publish_planted_windows()  # unless an earlier test did (run alone)
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base)
    expect(page.locator("#status")).to_have_text("live")
    card = page.locator('li.episode[data-team="decline"]')
    expect(card).to_have_count(1, timeout=ALERT_TIMEOUT_MS)
    # The open episodes sit above the alert list.
    assert page.evaluate(
        "document.getElementById('episodes').compareDocumentPosition("
        "document.getElementById('alerts')) & Node.DOCUMENT_POSITION_FOLLOWING"
    )

    # Two more windows of the same decline, while the page is open: one problem, one card.
    live_worker.publish_windows(2)
    wait_until(
        lambda: (_episode_of(base, "decline") or {}).get("alerts") == 3,
        ALERT_TIMEOUT_MS / 1000,
        "the decline episode's third alerted window in ClickHouse",
        live_worker.worker,
    )
    decline = _episode_of(base, "decline")
    assert decline is not None and decline["severity"] == "critical"
    episode_id = decline["episode_id"]
    expect(page.locator('li.alert[data-team="decline"]')).to_have_count(3)  # every window
    expect(card).to_have_count(1)  # ... and the problem once
    expect(card).to_have_attribute("data-episode-id", episode_id)
    expect(card.locator(".episode-alerts")).to_have_text("3 alerts")
    expect(page.locator('li.alert[data-event="updated"][data-team="decline"]')).to_have_count(2)
    expect(page.locator('li.alert[data-event="opened"][data-team="decline"]')).to_have_count(1)

    # Acknowledge from the episode's page: its history, then its form.
    card.locator("a.episode-link").click()
    expect(page).to_have_url(base + "episodes/" + episode_id)
    expect(page.locator("h1 .episode-id")).to_have_text(episode_id)
    expect(page.locator("tr.alert-row")).to_have_count(3)
    page.fill("#ack-form input[name=by]", ACTOR)
    page.fill("#ack-form input[name=note]", "looking into it")
    page.click("#ack-form button[type=submit]")
    # "Sent", then the worker's answer from the feed (which may even come first).
    expect(page.locator('[data-field="acknowledged"]')).to_have_text("by " + ACTOR, timeout=60_000)
    expect(page.locator("#action-status")).to_have_text("Acknowledged by " + ACTOR + ".")
    assert page.locator("i", has_text="ops").count() == 0
    page.screenshot(path=str(ARTIFACTS / "episode-page.png"), full_page=True)

    # Back on the live page the card says who acknowledged it, live and after a reload.
    page.goto(base)
    expect(card.locator(".episode-ack")).to_have_text("acknowledged by " + ACTOR, timeout=60_000)
    wait_until(
        lambda: (_episode_of(base, "decline") or {}).get("acknowledged_by") == ACTOR,
        60,
        "acknowledged_by on the decline episode's row",
        live_worker.worker,
    )
    assert (_episode_of(base, "decline") or {}).get("note") == "looking into it"
    page.reload()
    expect(card.locator(".episode-ack")).to_have_text("acknowledged by " + ACTOR)
    expect(card).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "live-page-episodes.png"), full_page=True)

    # Resolve another one by hand through the API: its card goes.
    outer = _episode_of(base, "outer")
    assert outer is not None
    status, sent = _post_json(
        f"{base}api/episodes/{outer['episode_id']}/resolve", {"by": "ops", "note": "fixed"}
    )
    assert status == 202 and len(sent["action_id"]) == 32, sent
    assert (sent["action"], sent["team_id"]) == ("resolve", "outer")
    expect(page.locator('li.episode[data-team="outer"]')).to_have_count(0, timeout=60_000)
    expect(card).to_have_count(1)
    wait_until(
        lambda: (_episode_of(base, "outer", "all") or {}).get("resolved_by") == "ops",
        60,
        "the outer episode resolved by hand in ClickHouse",
        live_worker.worker,
    )
    assert _episode_of(base, "outer") is None  # no longer open

    # Refusals: who acts is required, the episode must exist and be open.
    url = f"{base}api/episodes/{episode_id}/ack"
    assert _post_json(url, {"note": "x"})[0] == 400
    assert _post_json(url, {"by": "x" * 257})[0] == 400
    assert _post_json(url, {"by": "ops", "note": "x" * 1001})[0] == 400
    assert _post_json(f"{base}api/episodes/nobody/ack", {"by": "ops"})[0] == 404
    assert _post_json(f"{base}api/episodes/{outer['episode_id']}/ack", {"by": "ops"})[0] == 409
    assert _get(f"{base}episodes/nobody")[0] == 404
    assert _get(f"{base}api/episodes?state=closed")[0] == 400
    assert not errors, errors
