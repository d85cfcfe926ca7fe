"""The web side of incidents without I/O: the store's reads (through a fake reader that records
the SQL and its bound parameters), the incident JSON, the incident record on the live feed, the
incident page, and where the live page puts the incidents."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import pytest

from schemas.records import MirrorAlert
from streams.core.episodes import Episode
from streams.web.describe import (
    alert_payload,
    incident_path,
    incident_payload,
    kind_label,
    record_family,
)
from streams.web.store import (
    AlertStore,
    EpisodeHistory,
    IncidentDetail,
    StoredIncident,
    UnitWindowPoint,
)
from streams.web.templates import episode_page, incident_page, live_page

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STEP = 10_000
ODD_UNIT = 'acme/<b>d1</b> & "co"'
ODD_TEAM = "<i>t0</i>"
INCIDENT = StoredIncident(
    incident_id="i" * 32,
    unit_id=ODD_UNIT,
    level="department",
    family="fall",
    severity="critical",
    state="open",
    opened_window_start=T0 + 2 * STEP,
    last_window_end=T0 + 3 * STEP,
    teams=(ODD_TEAM, "t1", "t2"),
    episode_ids=("a" * 32, "b" * 32, "c" * 32),
    unit_teams=4,
    revision=1,
)


def _episode(team: str, episode_id: str, **changes: Any) -> Episode:
    episode = Episode(
        episode_id=episode_id,
        team_id=team,
        family="fall",
        kind="mirror_decline",
        severity="critical",
        opened_window_start=T0 + 2 * STEP,
        last_alert_window_start=T0 + 2 * STEP,
        alerts=1,
    )
    return dataclasses.replace(episode, **changes)


def _window(
    index: int, *, suppressed: bool = False, kinds: tuple[str, ...] = ()
) -> UnitWindowPoint:
    return UnitWindowPoint(
        window_start=T0 + index * STEP,
        window_end=T0 + (index + 1) * STEP,
        teams=4,
        customer_n=160,
        customer_index=70.0 - index,
        customer_index_se=0.9,
        employee_suppressed=suppressed,
        employee_n=None if suppressed else 48,
        employee_index=None if suppressed else 72.0,
        employee_index_se=None if suppressed else 1.2,
        alert_kinds=kinds,
    )


# -- the store -----------------------------------------------------------------------------------
class FakeReader:
    """Answers each query with the rows given for the first table it names; keeps every call."""

    def __init__(self, answers: Mapping[str, tuple[list[str], list[tuple[Any, ...]]]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def query(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        self.calls.append((sql, dict(parameters or {})))
        table = next(t for t in self.answers if f"FROM {t} FINAL" in sql)
        return self.answers[table]


INCIDENT_COLUMNS = [
    "incident_id",
    "unit_id",
    "level",
    "family",
    "severity",
    "state",
    "opened_window_start",
    "last_window_end",
    "teams",
    "episode_ids",
    "unit_teams",
    "revision",
]
INCIDENT_ROW = (
    INCIDENT.incident_id,
    ODD_UNIT,
    "department",
    "fall",
    "critical",
    "open",
    T0 + 2 * STEP,
    T0 + 3 * STEP,
    [ODD_TEAM, "t1", "t2"],
    ["a" * 32, "b" * 32, "c" * 32],
    4,
    1,
)


def test_incidents_are_read_final_with_every_value_bound() -> None:
    reader = FakeReader({"incidents": (INCIDENT_COLUMNS, [INCIDENT_ROW])})
    store = AlertStore(reader)
    assert asyncio.run(store.open_incidents(10)) == [INCIDENT]
    assert asyncio.run(store.find_incident("x' OR 1=1 --")) == INCIDENT
    (listing, listing_params), (finding, finding_params) = reader.calls
    assert "FROM incidents FINAL" in listing and listing_params == {"every": False, "limit": 10}
    assert "x' OR" not in finding and finding_params == {"incident": "x' OR 1=1 --"}
    asyncio.run(store.incidents(100_000, "all"))
    assert reader.calls[-1][1] == {"every": True, "limit": 500}  # clamped
    with pytest.raises(ValueError, match="state must be one of open, all"):
        asyncio.run(store.incidents(10, "closed"))


def test_an_incident_comes_with_its_teams_episodes_in_its_order() -> None:
    columns = [f.name for f in dataclasses.fields(Episode)]
    stored = [_episode("t2", "c" * 32), _episode(ODD_TEAM, "a" * 32)]  # t1's is not written yet
    rows = [tuple(getattr(e, c) for c in columns) for e in stored]
    reader = FakeReader(
        {"incidents": (INCIDENT_COLUMNS, [INCIDENT_ROW]), "episodes": (columns, rows)}
    )
    detail = asyncio.run(AlertStore(reader).incident(INCIDENT.incident_id))
    assert detail is not None and detail.incident == INCIDENT
    assert [e.team_id for e in detail.episodes] == [ODD_TEAM, "t2"]
    assert reader.calls[-1][1]["episodes"] == ["a" * 32, "b" * 32, "c" * 32]
    assert "IN {episodes:Array(String)}" in reader.calls[-1][0]
    assert detail.episode_of("t1") is None and detail.episode_of("nobody") is None
    assert detail.episode_of("t2") == stored[0]
    assert (
        asyncio.run(AlertStore(FakeReader({"incidents": (INCIDENT_COLUMNS, [])})).incident("x"))
        is None
    )


def test_unit_windows_come_oldest_first_and_never_leak_a_hidden_employee_side() -> None:
    columns = [
        "window_start",
        "window_end",
        "teams",
        "customer_n",
        "customer_index",
        "customer_index_se",
        "employee_suppressed",
        "employee_n",
        "employee_index",
        "employee_index_se",
        "alert_kinds",
    ]
    rows = [  # newest first, as the query orders them
        (T0 + STEP, T0 + 2 * STEP, 4, 160, 60.0, 1.0, 1, 3, 55.0, 2.0, ["mirror_decline"]),
        (T0, T0 + STEP, 4, 160, 70.0, 0.9, 0, 48, 72.0, 1.2, []),
    ]
    reader = FakeReader({"unit_window_metrics": (columns, rows)})
    store = AlertStore(reader)
    older, newer_hidden = asyncio.run(store.unit_windows("acme/d1", 12))
    assert older.window_start == T0 and older.employee_index == 72.0 and older.employee_n == 48
    # A suppressed row's figures stay in the store, whatever it holds.
    assert newer_hidden.employee_suppressed
    assert (newer_hidden.employee_n, newer_hidden.employee_index) == (None, None)
    assert newer_hidden.alert_kinds == ("mirror_decline",)
    assert reader.calls[-1][1] == {"unit": "acme/d1", "unbounded": True, "until": 0, "limit": 12}
    asyncio.run(store.unit_windows("acme/d1", 0, until_ms=T0 + STEP))
    assert reader.calls[-1][1] == {
        "unit": "acme/d1",
        "unbounded": False,
        "until": T0 + STEP,
        "limit": 1,
    }
    # The bound compares the column, not the epoch-ms alias of the same name.
    assert "unit_window_metrics.window_start < " in reader.calls[-1][0]


def test_a_team_pages_alerts_are_bounded_by_the_column_not_its_alias() -> None:
    reader = FakeReader({"mirror_alerts": ([], [])})
    asyncio.run(AlertStore(reader).team_alerts("t0", since_ms=T0))
    sql, parameters = reader.calls[-1]
    # The bare name is the epoch-ms alias, which compared with a DateTime64 let every row in.
    assert "mirror_alerts.window_start >= fromUnixTimestamp64Milli({since:Int64}" in sql
    assert parameters["since"] == T0


# -- JSON and the live feed ------------------------------------------------------------------------
def test_incident_json_is_json_safe_and_links_its_page_and_teams() -> None:
    payload = incident_payload(INCIDENT)
    assert payload["incident_url"] == "/incidents/" + "i" * 32
    assert payload["teams"] == [ODD_TEAM, "t1", "t2"]
    assert payload["episode_ids"] == ["a" * 32, "b" * 32, "c" * 32]
    assert payload["team_urls"][0] == "/teams/%3Ci%3Et0%3C%2Fi%3E"
    assert payload["unit_label"] == "department " + ODD_UNIT
    assert payload["kind_label"] == "decline incident"
    assert (payload["unit_teams"], payload["opened_window_start"]) == (4, T0 + 2 * STEP)
    assert incident_path("a/b?c") == "/incidents/a%2Fb%3Fc"


def _incident_record(**changes: Any) -> MirrorAlert:
    record = MirrorAlert(
        alert_id="r" * 32,
        team_id="",
        window_start=T0 + 2 * STEP,
        window_end=T0 + 3 * STEP,
        kind="incident_fall",
        severity="critical",
        detector="incidents",
        detector_version="1",
        message="Department acme/d1: 3 of its 4 teams opened fall episodes in the same window.",
        created_at=T0 + 3 * STEP,
        evidence={"teams": 3.0, "unit_teams": 4.0},
        event="opened",
        scope="department",
        unit_id="acme/d1",
        incident_id="i" * 32,
        teams=("t0", "t1", "t2"),
    )
    return dataclasses.replace(record, **changes)


def test_an_incident_record_on_the_feed_names_its_teams_family_and_page() -> None:
    payload = alert_payload(_incident_record())
    assert payload["scope"] == "department" and payload["unit_id"] == "acme/d1"
    assert payload["teams"] == ["t0", "t1", "t2"]
    assert payload["family"] == "fall"
    assert payload["incident_url"] == "/incidents/" + "i" * 32
    assert payload["kind_label"] == "decline incident"
    assert payload["evidence"]["unit_teams"] == 4.0
    # Its figures are its teams, not a team's respondents ("Customers: n = 0" would mislead).
    assert payload["evidence_text"] == ["Teams: t0, t1, t2 (3 of the 4 teams of the department)."]
    nan = alert_payload(_incident_record(evidence={"unit_teams": math.nan}))
    assert nan["evidence_text"] == ["Teams: t0, t1, t2."]
    assert nan["evidence"]["unit_teams"] is None  # NaN is not JSON


def test_a_team_record_carries_its_episode_family_and_no_incident() -> None:
    record = _incident_record(
        team_id="t0",
        kind="inner_warning",
        scope="team",
        unit_id=None,
        incident_id=None,
        teams=(),
        episode_id="a" * 32,
    )
    payload = alert_payload(record)
    assert (payload["family"], payload["incident_url"]) == ("fall", None)
    assert payload["evidence_text"][0].startswith("Customers: n = ")
    assert record_family(dataclasses.replace(record, kind="churn_spike")) == "churn_spike"
    assert record_family(_incident_record(kind="incident_churn_spike")) == "churn_spike"
    assert kind_label("incident_rise") == "rise incident"
    assert kind_label("incident_gap") == "symmetry gap incident"


# -- pages -----------------------------------------------------------------------------------------
def test_the_live_page_puts_the_incidents_above_the_open_episodes() -> None:
    html = live_page()
    assert html.index('id="incidents"') < html.index('id="episodes"') < html.index('id="alerts"')
    assert 'id="incidents-empty"' in html and "No open incident." in html
    assert "<script>" not in html and 'src="/static/live.js"' in html


def test_the_incident_page_lists_its_teams_episodes_and_the_unit_escaped() -> None:
    detail = IncidentDetail(
        INCIDENT,
        [_episode(ODD_TEAM, "a" * 32, acknowledged_by="<b>Dana</b>"), _episode("t2", "c" * 32)],
    )
    windows = [_window(0), _window(1, suppressed=True), _window(2, kinds=("mirror_decline",))]
    html = incident_page(detail, windows, 5)
    # Data from the store is text, never markup.
    assert "<b>d1</b>" not in html and "acme/&lt;b&gt;d1&lt;/b&gt; &amp; &quot;co&quot;" in html
    assert "<i>t0</i>" not in html and "&lt;i&gt;t0&lt;/i&gt;" in html
    assert "<b>Dana</b>" not in html and "acknowledged by &lt;b&gt;Dana&lt;/b&gt;" in html
    assert "3 of 4 teams" in html and "<script" not in html
    # Every team, linked to its page and to its episode's; t1's episode is not stored yet.
    assert html.count('<tr class="incident-team') == 3
    assert 'href="/teams/%3Ci%3Et0%3C%2Fi%3E"' in html and 'href="/teams/t1"' in html
    for episode_id in ("a" * 32, "b" * 32, "c" * 32):
        assert f'href="/episodes/{episode_id}"' in html
    assert "(not stored yet)" in html
    # The unit's windows: C always; E only where it may be shown; the opening window marked.
    assert html.count('<tr class="unit-window') == 3
    assert html.count("70.0 ± 0.9 (n = 160)") == 1
    assert html.count("72.0 ± 1.2 (n = 48)") == 2
    assert '<td class="number employee"><span class="muted">hidden</span></td>' in html
    assert (
        f'class="unit-window incident-opened in-incident" data-window-start="{T0 + 2 * STEP}"'
        in html
    )
    assert f'class="unit-window" data-window-start="{T0}"' in html
    assert "incident opened" in html and "mirror decline" in html
    assert "fewer than 5 people answered" in html
    assert 'data-incident-id="' + "i" * 32 + '"' in html


def test_a_resolved_incident_marks_only_the_windows_it_lived_in() -> None:
    resolved = dataclasses.replace(INCIDENT, state="resolved", last_window_end=T0 + 3 * STEP)
    html = incident_page(IncidentDetail(resolved, []), [_window(2), _window(3)], 5)
    assert (
        f'class="unit-window incident-opened in-incident" data-window-start="{T0 + 2 * STEP}"'
        in html
    )
    assert f'class="unit-window" data-window-start="{T0 + 3 * STEP}"' in html
    assert "Resolved: the episodes of all its teams have resolved." in html
    empty = incident_page(IncidentDetail(resolved, []), [], 5)
    assert "No closed window of this unit is stored." in empty


def test_an_episode_page_leads_to_its_incident() -> None:
    episode = _episode(ODD_TEAM, "a" * 32)
    html = episode_page(EpisodeHistory(episode, []), INCIDENT)
    assert 'class="incident-link" href="/incidents/' + "i" * 32 + '"' in html
    assert "at department acme/&lt;b&gt;d1&lt;/b&gt;" in html and "3 of 4 teams, open" in html
    assert "Part of incident" not in episode_page(EpisodeHistory(episode, []))
