"""Episodes: open on the first alert, update or escalate while it lasts, resolve when quiet."""

from __future__ import annotations

import json

import pytest

from schemas.records import MirrorAlert
from streams.core.episodes import TeamEpisodes, family_of, make_episode_id

W = 1000


def alert(i: int, kind: str, severity: str, customer: float = -10.0) -> MirrorAlert:
    return MirrorAlert(
        alert_id=f"a{i}-{kind}",
        team_id="team-a",
        window_start=i * W,
        window_end=(i + 1) * W,
        kind=kind,
        severity=severity,
        detector="mirror_change",
        detector_version="2",
        message="Team team-a: ...",
        created_at=(i + 1) * W,
        customer_delta=customer,
        employee_delta=-5.0,
    )


def run(windows: dict[int, list[MirrorAlert]], last: int, resolve_after: int = 2):
    tracker = TeamEpisodes("team-a", resolve_after)
    events = []
    for i in range(last + 1):
        events += tracker.observe(i * W, (i + 1) * W, windows.get(i, []))
    return tracker, events


def test_one_problem_is_one_episode_opened_updated_escalated_resolved() -> None:
    # An outer warning (window 1), the same problem again (2), both sides now (3: critical),
    # then two quiet windows (4, 5): resolved on the second.
    windows = {
        1: [alert(1, "outer_warning", "warning", -8.0)],
        2: [alert(2, "outer_warning", "warning", -12.0)],
        3: [alert(3, "mirror_decline", "critical", -9.0)],
    }
    tracker, events = run(windows, last=5)
    assert [e.type for e in events] == ["opened", "updated", "escalated", "resolved"]
    assert [e.pages for e in events] == [True, False, True, True]
    assert len({e.episode.episode_id for e in events}) == 1
    resolved = events[-1].episode
    assert resolved.episode_id == make_episode_id("team-a", "fall", 1 * W, "2")
    assert (resolved.kind, resolved.severity, resolved.alerts) == ("mirror_decline", "critical", 3)
    assert resolved.peak_customer_delta == -12.0  # the deepest fall
    assert events[-1].window_start == 5 * W
    assert tracker.open == {}


def test_one_quiet_window_does_not_resolve_and_an_alert_resets_the_count() -> None:
    windows = {1: [alert(1, "inner_warning", "warning")], 3: [alert(3, "inner_warning", "warning")]}
    _tracker, events = run(windows, last=4)
    assert [e.type for e in events] == ["opened", "updated"]


def test_families_are_separate_and_a_new_problem_gets_a_new_id() -> None:
    windows = {
        1: [alert(1, "inner_warning", "warning"), alert(1, "symmetry_gap", "warning")],
        6: [alert(6, "inner_warning", "warning")],
    }
    _tracker, events = run(windows, last=6)
    opened = [e for e in events if e.type == "opened"]
    assert [e.episode.family for e in opened] == ["fall", "gap", "fall"]
    assert opened[0].episode.episode_id != opened[2].episode.episode_id
    assert family_of("mirror_rise") == "rise" and family_of("custom_kind") == "custom_kind"


def test_the_same_windows_give_the_same_events_and_state_survives_a_round_trip() -> None:
    windows = {1: [alert(1, "outer_warning", "warning")], 2: [alert(2, "outer_warning", "warning")]}
    first, events = run(windows, last=2)
    _second, again = run(windows, last=2)
    assert events == again
    stored = json.loads(json.dumps(first.to_dict()))
    restored = TeamEpisodes.from_dict("team-a", stored)
    assert restored.open == first.open
    # Picking up after a restart: the episode resolves as if nothing had happened.
    tail = [restored.observe(i * W, (i + 1) * W, []) for i in (3, 4)]
    assert [e.type for batch in tail for e in batch] == ["resolved"]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        TeamEpisodes("team-a", resolve_after=0)
    with pytest.raises(ValueError):
        TeamEpisodes("team-b").observe(0, W, [alert(0, "inner_warning", "warning")])
    with pytest.raises(ValueError):
        TeamEpisodes.from_dict("team-a", {"open": [{"episode_id": "x"}]})


def test_windows_too_thin_to_test_are_not_quiet_so_a_stopped_feed_resolves_nothing() -> None:
    tracker = TeamEpisodes("team-a", resolve_after=2)
    assert [e.type for e in tracker.observe(W, 2 * W, [alert(1, "inner_warning", "warning")])] == [
        "opened"
    ]
    for i in range(2, 6):  # the data stopped: windows with too few customers to test
        assert tracker.observe(i * W, (i + 1) * W, [], testable=False) == []
    assert tracker.open["fall"].quiet_windows == 0
    events = [e.type for i in (6, 7) for e in tracker.observe(i * W, (i + 1) * W, [])]
    assert events == ["resolved"]  # two tested windows without an alert
