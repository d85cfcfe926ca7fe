"""Incidents on the live page, in a real browser: Debian's Chromium driven by Playwright, against a
real worker (its own web server on loopback), a real Apache Kafka broker and the real ClickHouse
engine, with the organisation loaded by ``miroir teams load``.

Proves: a decline hitting three of the four teams of department d1 while the page is open becomes
one incident card at that department, above the open episodes and without a reload, naming its
three teams ("3 of 4 teams"); each of those teams' episode cards says it is part of the incident,
and no other card does; the incident's page lists the three teams with a link to each episode and
the department's C and E over its recent windows; the team's episode page links back to it; when
the decline is over and the episodes resolve, the incident card goes, live. Screenshots go to
test-artifacts/ at the repository root.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas.codec import record_to_json, topic_of
from streams.core.org import OrgChart, TeamInfo
from streams.runtime.publish import SignalPublisher
from streams.settings import load_settings
from streams.tools.kafka_broker import free_port
from streams.tools.plans import Effect
from streams.tools.replay import replay
from streams.tools.simulator import Simulator, TeamPlan
from tests.e2e.browser import ARTIFACTS, browser_or_skip, offline_browser
from tests.integration.harness import PipelineEnv, WorkerProcess, create_topics, wait_until

pytestmark = pytest.mark.e2e

WINDOW_MS = 10_000
SHOCK_FROM, SHOCK_UNTIL = 4, 6  # windows of the decline (the end is exclusive)
OPENING_WINDOWS = SHOCK_FROM + 1  # the incident opens when the shock's first window closes
RESOLVING_WINDOWS = 3  # two quiet windows after the decline resolve its episodes
SHOCKED = ("d1-t0", "d1-t1", "d1-t2")  # three of the four teams of department d1
UNIT = "acme/d1"
INCIDENT_TIMEOUT_MS = 180_000


def _plans() -> list[TeamPlan]:
    plans = []
    for department in range(2):
        for number in range(4):
            team = f"d{department}-t{number}"
            effects = (
                (Effect("mirror_decline", SHOCK_FROM, end_window=SHOCK_UNTIL),)
                if team in SHOCKED
                else ()
            )
            plans.append(TeamPlan(team, effects=effects, employees=12, customers=40))
    return plans


def _organisation_csv(path: Path) -> OrgChart:
    """The org CSV ``miroir teams load`` reads, and the same chart for an in-process run."""
    chart = OrgChart()
    lines = ["team_id,display_name,company,department"]
    for plan in _plans():
        department = plan.team_id.split("-")[0]
        lines.append(f"{plan.team_id},Team {plan.team_id},acme,{department}")
        info = TeamInfo(
            plan.team_id, f"Team {plan.team_id}", ("acme", department), ("company", "department")
        )
        chart.update(info, plan.team_id)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return chart


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _json(url: str) -> Any:
    status, body = _get(url)
    assert status == 200, (url, status, body[:500])
    return json.loads(body)


def _feed_connected(base: str) -> bool:
    try:
        return bool(_json(base + "healthz")["live"]["connected"])
    except (OSError, AssertionError, ValueError):
        return False


class OrgWorker:
    """A worker of an organisation of two departments, and the simulator feeding it."""

    def __init__(
        self, env: PipelineEnv, worker: WorkerProcess, base: str, simulator: Simulator
    ) -> None:
        self.env, self.worker, self.base, self.simulator = env, worker, base, simulator
        self.windows_sent = 0

    def publish_windows(self, count: int) -> None:
        first = self.windows_sent
        events = [e for index in range(first, first + count) for e in self.simulator.window(index)]
        with SignalPublisher(
            self.env.bootstrap, self.env.customer_topic, self.env.employee_topic
        ) as publisher:
            publisher.send_all(events)
        self.windows_sent += count


@pytest.fixture(scope="module")
def org_worker(kafka_broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrgWorker]:
    browser_or_skip()
    tmp = tmp_path_factory.mktemp("live-incidents")
    port = free_port()
    env = PipelineEnv(
        kafka_broker.bootstrap,
        tmp,
        f"webinc-{os.urandom(4).hex()}",
        extra={"MIROIR_WEB_PORT": str(port), "MIROIR_WEB_BIND": "127.0.0.1"},
    )
    create_topics(env)
    chart = _organisation_csv(tmp / "teams.csv")
    loaded = env.run_cli("teams", "load", str(tmp / "teams.csv"))
    assert loaded.returncode == 0, loaded.stderr

    now = int(time.time() * 1000)
    base_ms = now - now % WINDOW_MS - 100 * WINDOW_MS
    # The plan itself, in process first: exactly one incident, at d1, with the shocked teams.
    planned = Simulator(_plans(), WINDOW_MS, base_ms, seed=12)
    events = [e for index in range(OPENING_WINDOWS) for e in planned.window(index)]
    clean = replay(
        ((topic_of(e), record_to_json(e)) for e in events),
        load_settings(window_seconds=10, allowed_lateness_seconds=2, topic_partitions=4),
        org=chart,
    )
    assert [(i.unit_id, i.teams) for i in clean.incidents.values()] == [(UNIT, SHOCKED)]

    worker = WorkerProcess(env).start()
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until(lambda: _feed_connected(url), 90, "the live page's alert feed", worker)
        # The unit stage drops what it reads before its state is loaded: a partition's only
        # heartbeat lost there (partition 3 holds no team) would keep every window open.
        wait_until(
            lambda: "unit stage assigned" in worker.log(), 90, "the unit stage's start", worker
        )
        yield OrgWorker(env, worker, url, Simulator(_plans(), WINDOW_MS, base_ms, seed=12))
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]


@pytest.fixture(scope="module")
def browser_context(org_worker: OrgWorker, tmp_path_factory: pytest.TempPathFactory):
    with offline_browser(org_worker.base, tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


def test_a_department_shock_is_one_live_incident_card_with_its_teams_and_page(
    org_worker: OrgWorker, browser_context
) -> None:
    from playwright.sync_api import expect

    base = org_worker.base
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base)
    expect(page.locator("#status")).to_have_text("live")
    expect(page.locator("#incidents-empty")).to_be_visible()
    assert page.locator("li.incident").count() == 0
    # The incidents sit above the open episodes, which sit above the alerts.
    assert page.evaluate(
        "document.getElementById('incidents').compareDocumentPosition("
        "document.getElementById('episodes')) & Node.DOCUMENT_POSITION_FOLLOWING"
    )
    page.evaluate("window.__sameDocument = true")

    org_worker.publish_windows(OPENING_WINDOWS)  # the shock's first window closes: one incident

    card = page.locator("li.incident")
    wait_until(  # with the worker's log, should it never come
        lambda: page.locator("li.incident").count() > 0,
        INCIDENT_TIMEOUT_MS / 1000,
        "the incident card on the live page",
        org_worker.worker,
    )
    expect(card).to_have_count(1)
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    expect(card).to_have_attribute("data-unit", UNIT)
    expect(card).to_have_attribute("data-level", "department")
    expect(card.locator(".unit")).to_have_text("department " + UNIT)
    expect(card.locator(".kind")).to_have_text("decline incident")
    expect(card.locator(".incident-teams")).to_have_text("3 of 4 teams")
    expect(card.locator(".incident-opened")).to_contain_text("opened window ")
    expect(card.locator(".incident-team-list a.team")).to_have_text(list(SHOCKED))
    expect(page.locator("#incidents-empty")).to_be_hidden()

    # The shocked teams' episodes: each card says it is part of the incident, and only those.
    for team in SHOCKED:
        episode_card = page.locator(f'li.episode[data-team="{team}"]')
        expect(episode_card).to_have_count(1)
        expect(episode_card.locator(".episode-incident")).to_have_text(
            "part of incident at department " + UNIT
        )
        expect(episode_card).to_have_class(re.compile(r"\bin-incident\b"))
    expect(page.locator("li.episode:not(.in-incident)")).to_have_count(0)
    # The incident's record is in the alert list too, naming the unit (and leading to its page).
    incident_row = page.locator("li.alert[data-incident-id]")
    expect(incident_row).to_have_count(1)
    expect(incident_row.locator("a.unit")).to_have_text("department " + UNIT)
    incidents = _json(base + "api/incidents")["incidents"]
    assert [(i["unit_id"], i["teams"], i["unit_teams"]) for i in incidents] == [
        (UNIT, list(SHOCKED), 4)
    ]
    incident = incidents[0]
    expect(card).to_have_attribute("data-incident-id", incident["incident_id"])
    page.wait_for_timeout(2_600)  # let the "new" highlight fade for the screenshot
    page.screenshot(path=str(ARTIFACTS / "live-page-incident.png"), full_page=True)
    # After a reload the card comes back from ClickHouse, the same.
    page.reload()
    expect(card.locator(".incident-teams")).to_have_text("3 of 4 teams")
    expect(page.locator("li.episode.in-incident")).to_have_count(3)

    # The incident's page: its teams, each with its episode, and the department over time.
    episodes = {e["team_id"]: e for e in _json(base + "api/episodes")["episodes"]}
    card.locator("a.incident-link").click()
    expect(page).to_have_url(base + "incidents/" + incident["incident_id"])
    expect(page.locator("h1 .unit")).to_have_text("department " + UNIT)
    rows = page.locator("tr.incident-team")
    expect(rows).to_have_count(3)
    expect(rows.locator("a.team")).to_have_text(list(SHOCKED))
    for team in SHOCKED:
        link = page.locator(f'tr.incident-team[data-team="{team}"] a.episode-link')
        expect(link).to_have_attribute("href", "/episodes/" + episodes[team]["episode_id"])
    windows = page.locator("tr.unit-window")
    expect(windows).to_have_count(OPENING_WINDOWS)
    expect(page.locator("tr.unit-window.incident-opened")).to_have_count(1)
    expect(page.locator("tr.unit-window.incident-opened")).to_have_attribute(
        "data-window-start", str(incident["opened_window_start"])
    )
    # Four teams of twelve people: the department's employee side may be shown.
    expect(page.locator("tr.unit-window td.employee .muted")).to_have_count(0)
    expect(windows.locator("td.employee").first).to_have_text(
        re.compile(r"^\d+\.\d ± \d+\.\d \(n = \d+\)$")
    )
    page.screenshot(path=str(ARTIFACTS / "incident-page.png"), full_page=True)

    # Each episode's page leads back to the incident.
    page.locator('tr.incident-team[data-team="d1-t0"] a.episode-link').click()
    expect(page.locator("a.incident-link")).to_have_attribute(
        "href", "/incidents/" + incident["incident_id"]
    )
    assert _get(base + "incidents/nobody")[0] == 404
    assert _get(base + "api/incidents?state=closed")[0] == 400

    # The decline ends; after quiet windows its episodes resolve, and so does the incident.
    page.goto(base)
    expect(card).to_have_count(1)
    org_worker.publish_windows(RESOLVING_WINDOWS)
    expect(card).to_have_count(0, timeout=INCIDENT_TIMEOUT_MS)
    expect(page.locator("li.episode")).to_have_count(0, timeout=30_000)
    expect(page.locator("#incidents-empty")).to_be_visible()
    wait_until(
        lambda: (
            [i["state"] for i in _json(base + "api/incidents?state=all")["incidents"]]
            == ["resolved"]
        ),
        60,
        "the incident resolved in ClickHouse",
        org_worker.worker,
    )
    assert _json(base + "api/incidents")["incidents"] == []
    assert not errors, errors
