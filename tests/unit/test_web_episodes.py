"""The web side of episodes without I/O: the action request checked, the action built and
published through a fake producer, the episode JSON and pages, the live page's layout."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from schemas.codec import decode_action
from schemas.records import MirrorAlert
from streams.core.episodes import Episode
from streams.web.actions import (
    ActionPublisher,
    ActionRequest,
    ActionRequestError,
    ActionsUnavailable,
    new_action,
    parse_action_request,
)
from streams.web.describe import alert_payload, episode_path, episode_payload
from streams.web.store import EpisodeHistory
from streams.web.templates import action_sent_page, episode_page, live_page

T0 = 1_767_225_600_000
EPISODE = Episode(
    episode_id="e" * 32,
    team_id="<b>team</b>",
    family="fall",
    kind="mirror_decline",
    severity="critical",
    opened_window_start=T0,
    last_alert_window_start=T0 + 10_000,
    alerts=2,
    acknowledged_by='Dana "ops" <i>',
    acknowledged_at=T0 + 20_000,
    note="<script>x</script>",
    peak_employee_delta=float("nan"),
)


def test_a_request_needs_who_and_keeps_a_short_note() -> None:
    assert parse_action_request({"by": "  Dana ", "note": " on it "}) == ActionRequest(
        "Dana", "on it"
    )
    assert parse_action_request({"by": "Dana", "note": "  "}) == ActionRequest("Dana", None)
    assert parse_action_request({"by": "x" * 256, "note": "n" * 1000}).note == "n" * 1000


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({}, "'by' is required"),
        ({"by": "   "}, "'by' is required"),
        ({"by": 7}, "'by' is required"),
        ({"by": "x" * 257}, "at most 256"),
        ({"by": "Dana", "note": "n" * 1001}, "at most 1000"),
        ({"by": "Dana", "note": ["a"]}, "'note' must be text"),
    ],
)
def test_a_bad_request_says_which_field(values: dict[str, Any], says: str) -> None:
    with pytest.raises(ActionRequestError, match=says):
        parse_action_request(values)


def test_an_action_gets_a_fresh_id_and_is_checked_as_the_worker_checks_it() -> None:
    request = ActionRequest("Dana", "on it")
    first = new_action("team", "e" * 32, "ack", request, T0)
    second = new_action("team", "e" * 32, "resolve", request, T0)
    assert first.action_id != second.action_id and len(first.action_id) == 32
    assert (first.action, second.action, first.at, first.note) == ("ack", "resolve", T0, "on it")
    with pytest.raises(ActionRequestError, match="team_id"):
        new_action("", "e" * 32, "ack", request, T0)


class _Producer:
    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.fail = fail
        self.closed = False

    def send(self, topic: str, *, key: bytes, value: bytes) -> Any:
        if self.fail is not None:
            raise self.fail
        self.sent.append((topic, key, value))
        return self

    def get(self, timeout: float | None = None) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


def test_the_producer_is_made_on_first_use_and_sends_keyed_by_team() -> None:
    producer = _Producer()
    made: list[_Producer] = []

    def factory() -> _Producer:
        made.append(producer)
        return producer

    publisher = ActionPublisher("actions", factory)
    action = new_action("team-a", "e" * 32, "ack", ActionRequest("Dana"), T0)

    async def scenario() -> None:
        assert made == []  # nothing made before anybody acts
        await publisher.publish(action)
        await publisher.publish(action)
        await publisher.close()

    asyncio.run(scenario())
    assert len(made) == 1 and producer.closed
    topic, key, value = producer.sent[0]
    assert (topic, key, decode_action(value)) == ("actions", b"team-a", action)


def test_a_broker_failure_is_unavailable_not_a_crash() -> None:
    publisher = ActionPublisher("actions", lambda: _Producer(KafkaTimeoutError("no broker")))
    action = new_action("team-a", "e" * 32, "ack", ActionRequest("Dana"), T0)
    with pytest.raises(ActionsUnavailable, match="try again"):
        asyncio.run(publisher.publish(action))


def test_episode_json_is_json_safe_and_links_its_page() -> None:
    payload = episode_payload(EPISODE)
    assert payload["episode_url"] == "/episodes/" + "e" * 32
    assert payload["team_url"] == "/teams/%3Cb%3Eteam%3C%2Fb%3E"
    assert payload["kind_label"] == "mirror decline"
    assert payload["peak_employee_delta"] is None  # NaN is not JSON
    assert payload["acknowledged_by"] == 'Dana "ops" <i>'
    assert episode_path("a/b?c") == "/episodes/a%2Fb%3Fc"


def test_the_browser_gets_the_event_the_episode_and_who_acted() -> None:
    alert = MirrorAlert(
        alert_id="x",
        team_id="t",
        window_start=T0,
        window_end=T0 + 1,
        kind="mirror_decline",
        severity="critical",
        detector="episodes",
        detector_version="v1",
        message="acknowledged",
        created_at=T0,
        event="acknowledged",
        episode_id="e" * 32,
        actor="Dana",
        note="on it",
    )
    payload = alert_payload(alert)
    assert (payload["event"], payload["event_label"], payload["actor"], payload["note"]) == (
        "acknowledged",
        "acknowledged",
        "Dana",
        "on it",
    )
    assert payload["episode_id"] == "e" * 32
    assert payload["evidence_text"] == []  # an action is no window's measurement
    assert payload["episode_url"] == "/episodes/" + "e" * 32
    plain = alert_payload(dataclasses.replace(alert, event="alert"))
    assert plain["event_label"] is None and plain["episode_url"] == "/episodes/" + "e" * 32
    assert plain["evidence_text"][0].startswith("Customers: n = 0")


def test_the_live_page_puts_the_open_episodes_above_the_alerts() -> None:
    html = live_page()
    assert html.index('id="episodes"') < html.index('id="alerts"')
    assert html.count("<h1>") == 1  # the page's title stays "Live alerts"
    assert "<script>" not in html and 'src="/static/live.js"' in html


def test_the_episode_page_escapes_data_and_offers_both_forms() -> None:
    html = episode_page(EpisodeHistory(EPISODE, []))
    assert "<b>team</b>" not in html and "&lt;b&gt;team&lt;/b&gt;" in html
    assert "<script>x" not in html and "&lt;script&gt;x" in html
    assert "by Dana &quot;ops&quot; &lt;i&gt; at 2026-01-01 00:00:20 UTC" in html
    assert html.count('<form class="episode-action"') == 2
    assert 'maxlength="256"' in html and 'maxlength="1000"' in html
    assert 'data-episode-id="' + "e" * 32 + '"' in html
    assert "No alert of this episode is stored yet" in html
    assert 'src="/static/episode.js"' in html
    resolved_episode = dataclasses.replace(EPISODE, state="resolved", resolved_by="Lee")
    resolved = episode_page(EpisodeHistory(resolved_episode, []))
    assert "<form" not in resolved and "resolved (by hand by Lee)" in resolved


def test_signed_in_the_forms_show_who_is_recorded_fixed() -> None:
    html = episode_page(EpisodeHistory(EPISODE, []), actor='ali"ce <a>')
    assert html.count('Signed in as <input name="by" value="ali&quot;ce &lt;a&gt;" readonly>') == 2
    assert "Your name" not in html


def test_a_form_sent_without_javascript_gets_a_page_back() -> None:
    html = action_sent_page("ack", "a<b", "123")
    assert "Acknowledgement sent" in html and 'href="/episodes/a%3Cb"' in html
