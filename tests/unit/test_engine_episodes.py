"""The engine keeps episodes in the team's state: one problem is one episode across windows,
its events go to the topic, and acknowledgements or resolutions by hand apply exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from schemas.records import CustomerFeedback, EmployeePulse, EpisodeAction, MirrorAlert
from streams.core.engine import EngineConfig, Inbound, MirrorEngine
from streams.core.model import TeamWindowMetrics
from streams.core.windows import TeamState
from streams.detectors import DetectionSettings, Detector, make_alert_id

WINDOW = 10_000
ALERTED = {2, 3, 4}  # windows the planted detector fires on


class Planted(Detector):
    """Fires an outer warning on windows 2 and 3, a mirror decline on window 4."""

    name: ClassVar[str] = "planted"
    version: ClassVar[str] = "1"

    def detect(
        self,
        current: TeamWindowMetrics,
        history: Sequence[TeamWindowMetrics],
        settings: DetectionSettings,
    ) -> list[MirrorAlert]:
        index = current.window_start // WINDOW
        if index not in ALERTED:
            return []
        kind, severity = (
            ("mirror_decline", "critical") if index == 4 else ("outer_warning", "warning")
        )
        return [
            MirrorAlert(
                alert_id=make_alert_id(current.team_id, current.window_start, kind, self.version),
                team_id=current.team_id,
                window_start=current.window_start,
                window_end=current.window_end,
                kind=kind,
                severity=severity,
                detector=self.name,
                detector_version=self.version,
                message="planted",
                created_at=0,
                customer_delta=-float(index),
            )
        ]


def engine() -> MirrorEngine[int]:
    config = EngineConfig(
        window_ms=WINDOW,
        allowed_lateness_ms=0,
        idle_close_ms=60_000,
        k_anonymity=5,
        detection=DetectionSettings(min_customer_n=1),  # one customer a window is testable here
        episode_resolve_after=2,
    )
    return MirrorEngine(config, [Planted()], lambda: 0.0)


def window(team: str, index: int) -> list[CustomerFeedback | EmployeePulse]:
    at = index * WINDOW + 1
    return [
        CustomerFeedback(f"c{index}", at, team, "web", "t", csat=4),
        EmployeePulse(f"e{index}", at, team, "t", trust=4),
    ]


def run(eng: MirrorEngine[int], windows: range, first_offset: int = 0):
    records = [r for i in windows for r in window("a", i)]
    return eng.process(
        [Inbound(0, r, first_offset + n, first_offset + n) for n, r in enumerate(records)]
    )


def test_one_problem_is_one_episode_and_the_topic_carries_its_events() -> None:
    eng = engine()
    out = run(eng, range(9))  # windows 0..7 close (8's end is not passed)
    events = [(r.event, r.kind, r.window_start // WINDOW) for r in out.events]
    assert events == [
        ("opened", "outer_warning", 2),
        ("updated", "outer_warning", 3),
        ("escalated", "mirror_decline", 4),
        ("resolved", "mirror_decline", 6),
    ]
    assert len({r.episode_id for r in out.events}) == 1
    assert {a.episode_id for a in out.alerts} == {out.events[0].episode_id}
    # The table row of an alert and its topic record share the alert id.
    assert [a.alert_id for a in out.alerts] == [r.alert_id for r in out.events[:3]]
    final = out.episodes[-1]
    assert (final.state, final.alerts, final.severity, final.revision) == (
        "resolved",
        3,
        "critical",
        4,
    )
    assert final.peak_customer_delta == -4.0


def test_open_episodes_survive_the_state_round_trip_and_acks_apply_once() -> None:
    eng = engine()
    run(eng, range(4))  # windows 0..2 close: the episode is open
    team = TeamState.from_dict(eng.teams["a"].to_dict())
    (episode,) = team.episodes.values()
    eng.teams["a"] = team
    ack = EpisodeAction("x1", "a", episode.episode_id, "ack", "ops@acme", 123, "on it")
    out = eng.process([Inbound(0, ack, 0, 100)])
    assert [(r.event, r.actor, r.note) for r in out.events] == [
        ("acknowledged", "ops@acme", "on it")
    ]
    assert out.episodes[0].acknowledged_by == "ops@acme"
    again = eng.process([Inbound(0, ack, 0, 100)])  # the same offset, read again
    assert again.events == [] and again.replayed == 1
    resolve = EpisodeAction("x2", "a", episode.episode_id, "resolve", "ops@acme", 124)
    out = eng.process([Inbound(0, resolve, 0, 101)])
    assert [(r.event, r.actor) for r in out.events] == [("resolved", "ops@acme")]
    assert eng.teams["a"].episodes == {}
    late = eng.process([Inbound(0, resolve, 0, 102)])  # nothing open any more
    assert late.events == [] and "no open episode" in late.rejected[0].reason
    unknown = eng.process([Inbound(0, EpisodeAction("x3", "b", "e", "ack", "me", 1), 0, 5)])
    assert "unknown team" in unknown.rejected[0].reason
