"""Episodes: one problem of one team, from its first alert to its resolution (pure).

The engine keeps each team's open episodes in its state and feeds them every closed window
(``streams.core.engine``); what happens to an episode becomes a typed event on the alerts
topic and a row of the ``episodes`` table. A team's alerts are grouped by family — falls
(``mirror_decline``, ``inner_warning``, ``outer_warning``), rises (``mirror_rise``), gaps
(``symmetry_gap``); any other kind is a family of its own. Each closed window of the team is
observed once, in window order:

- an alert of a family with no open episode **opens** one (a page);
- an alert of a family with an open episode **updates** it (no page), or **escalates** it when
  its severity is higher than the episode's so far (a page);
- a window without an alert of an open episode's family counts as quiet — if it held enough
  data to be tested at all; after ``resolve_after`` quiet windows in a row the episode
  **resolves** (a page);
- a person may **acknowledge** an open episode (who, when, a note; no page) or **resolve it by
  hand** (a page); a later alert of the family then opens a new episode.

Episode ids are deterministic — team, family, the opening window and the detector version —
so a replay, or a restart that observes the same windows again, names the same episodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Literal

from schemas.records import MirrorAlert

EventType = Literal["opened", "updated", "escalated", "resolved", "acknowledged"]

FAMILIES: Final[Mapping[str, str]] = {
    "mirror_decline": "fall",
    "inner_warning": "fall",
    "outer_warning": "fall",
    "mirror_rise": "rise",
    "symmetry_gap": "gap",
}
SEVERITY_RANK: Final[Mapping[str, int]] = {"info": 0, "warning": 1, "critical": 2}
PAGING_EVENTS: Final = frozenset({"opened", "escalated", "resolved"})
DEFAULT_RESOLVE_AFTER: Final = 2
_EPISODE_ID_NAMESPACE: Final = "miroir.episode.v1"


def family_of(kind: str) -> str:
    """The family an alert kind belongs to (an unknown kind is a family of its own)."""
    return FAMILIES.get(kind, kind)


def make_episode_id(team_id: str, family: str, opened_window_start: int, version: str) -> str:
    """sha256 hex (first 32 digits) of team, family, opening window and detector version."""
    key = "\x1f".join(
        (_EPISODE_ID_NAMESPACE, team_id, family, str(int(opened_window_start)), version)
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Episode:
    """An open episode: what it is, where it started, how bad it got, how long it is quiet."""

    episode_id: str
    team_id: str
    family: str
    kind: str  # the latest alert's kind
    severity: str  # the highest severity so far
    opened_window_start: int
    last_alert_window_start: int
    alerts: int  # windows that raised an alert of this family
    quiet_windows: int = 0
    peak_customer_delta: float | None = None  # the largest move, in the family's direction
    peak_employee_delta: float | None = None
    last_window_end: int = 0  # end of the newest window that touched the episode
    detector_version: str = ""
    revision: int = 0  # +1 per event: the newest row of an episode wins in ClickHouse
    state: str = "open"  # open | resolved
    acknowledged_by: str | None = None
    acknowledged_at: int | None = None  # epoch ms, wall clock of the acknowledgement
    note: str | None = None  # the latest note given by hand
    resolved_by: str | None = None  # who resolved it by hand (None: Miroir, after quiet windows)


@dataclass(frozen=True, slots=True)
class EpisodeEvent:
    """What one window did to one episode; ``pages`` says whether ops are notified."""

    type: EventType
    episode: Episode
    window_start: int
    window_end: int
    alert_id: str | None = None  # the alert behind an opened/updated/escalated event
    at: int | None = None  # wall clock of an action taken by hand (epoch ms)

    @property
    def pages(self) -> bool:
        return self.type in PAGING_EVENTS


def _peak(previous: float | None, delta: float | None, family: str) -> float | None:
    if delta is None:
        return previous
    if previous is None:
        return delta
    if family == "fall":
        return min(previous, delta)
    if family == "rise":
        return max(previous, delta)
    return max(previous, delta, key=abs)


class TeamEpisodes:
    """The open episodes of one team; feed it the team's closed windows in order."""

    def __init__(
        self,
        team_id: str,
        resolve_after: int = DEFAULT_RESOLVE_AFTER,
        open_episodes: dict[str, Episode] | None = None,
    ) -> None:
        if resolve_after < 1:
            raise ValueError(f"resolve_after must be at least 1, got {resolve_after}")
        self.team_id = team_id
        self.resolve_after = resolve_after
        # Family → open episode. Given by the caller, it is updated in place (the engine keeps
        # it in the team's state).
        self.open: dict[str, Episode] = {} if open_episodes is None else open_episodes

    def observe(
        self,
        window_start: int,
        window_end: int,
        alerts: Sequence[MirrorAlert],
        *,
        testable: bool = True,
    ) -> list[EpisodeEvent]:
        """The episode events of one closed window of this team and its alerts.

        ``testable`` False: the window held too little to test (fewer customers than the
        detectors need): no alert is no evidence, so it does not count as quiet — an episode
        never resolves because the data stopped.
        """
        events: list[EpisodeEvent] = []
        by_family: dict[str, MirrorAlert] = {}
        for alert in alerts:
            if alert.team_id != self.team_id:
                raise ValueError(f"alert of team {alert.team_id!r} given to {self.team_id!r}")
            family = family_of(alert.kind)
            current = by_family.get(family)
            if current is None or _rank(alert) > _rank(current):
                by_family[family] = alert  # one alert per family and window: the most severe
        for family, alert in sorted(by_family.items()):
            events.append(self._alerted(family, alert, window_start, window_end))
        for family in sorted(set(self.open) - set(by_family)):
            if not testable:
                break
            episode = self.open[family]
            quiet = replace(
                episode, quiet_windows=episode.quiet_windows + 1, last_window_end=window_end
            )
            if quiet.quiet_windows >= self.resolve_after:
                del self.open[family]
                resolved = replace(quiet, state="resolved", revision=quiet.revision + 1)
                events.append(EpisodeEvent("resolved", resolved, window_start, window_end))
            else:
                self.open[family] = quiet
        return events

    def find(self, episode_id: str) -> Episode | None:
        """The open episode with this id, if any."""
        return next((e for e in self.open.values() if e.episode_id == episode_id), None)

    def act(
        self, episode_id: str, action: str, actor: str, note: str | None, at: int
    ) -> EpisodeEvent:
        """Acknowledge (``action`` "ack") or resolve by hand ("resolve") an open episode.

        Raises LookupError when the team has no open episode with that id (resolved already,
        or never opened) and ValueError for an unknown action.
        """
        episode = self.find(episode_id)
        if episode is None:
            raise LookupError(f"team {self.team_id!r} has no open episode {episode_id!r}")
        if action == "ack":
            changed = replace(
                episode,
                acknowledged_by=actor,
                acknowledged_at=at,
                note=note if note is not None else episode.note,
                revision=episode.revision + 1,
            )
            self.open[episode.family] = changed
            kind: EventType = "acknowledged"
        elif action == "resolve":
            changed = replace(
                episode,
                state="resolved",
                resolved_by=actor,
                note=note if note is not None else episode.note,
                revision=episode.revision + 1,
            )
            del self.open[episode.family]
            kind = "resolved"
        else:
            raise ValueError(f"unknown episode action {action!r} (ack or resolve)")
        return EpisodeEvent(
            kind,
            changed,
            episode.last_alert_window_start,
            episode.last_window_end,
            at=at,
        )

    def _alerted(
        self, family: str, alert: MirrorAlert, window_start: int, window_end: int
    ) -> EpisodeEvent:
        episode = self.open.get(family)
        kind: EventType
        if episode is None:
            kind = "opened"
            episode = Episode(
                episode_id=make_episode_id(
                    self.team_id, family, window_start, alert.detector_version
                ),
                team_id=self.team_id,
                family=family,
                kind=alert.kind,
                severity=alert.severity,
                opened_window_start=window_start,
                last_alert_window_start=window_start,
                alerts=1,
                peak_customer_delta=alert.customer_delta,
                peak_employee_delta=alert.employee_delta,
                last_window_end=window_end,
                detector_version=alert.detector_version,
                revision=1,
            )
        else:
            escalates = SEVERITY_RANK.get(alert.severity, 0) > SEVERITY_RANK.get(
                episode.severity, 0
            )
            kind = "escalated" if escalates else "updated"
            episode = replace(
                episode,
                kind=alert.kind,
                severity=alert.severity if escalates else episode.severity,
                last_alert_window_start=window_start,
                alerts=episode.alerts + 1,
                quiet_windows=0,
                last_window_end=window_end,
                revision=episode.revision + 1,
                peak_customer_delta=_peak(
                    episode.peak_customer_delta, alert.customer_delta, family
                ),
                peak_employee_delta=_peak(
                    episode.peak_employee_delta, alert.employee_delta, family
                ),
            )
        self.open[family] = episode
        return EpisodeEvent(kind, episode, window_start, window_end, alert.alert_id)

    # -- state ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state (the open episodes), for the team's changelog entry."""
        return {"open": [asdict(self.open[family]) for family in sorted(self.open)]}

    @classmethod
    def from_dict(
        cls, team_id: str, data: Mapping[str, Any], resolve_after: int = DEFAULT_RESOLVE_AFTER
    ) -> TeamEpisodes:
        """Inverse of ``to_dict``; ValueError on anything it cannot trust."""
        tracker = cls(team_id, resolve_after)
        for stored in data.get("open", []):
            try:
                episode = Episode(**stored)
            except TypeError as e:
                raise ValueError(f"episode state: malformed episode ({e})") from e
            if episode.team_id != team_id:
                raise ValueError("episode state: an episode of another team")
            tracker.open[episode.family] = episode
        return tracker


def make_event_id(episode_id: str, event: str, detail: str = "") -> str:
    """Id of an episode event that is not an alert (resolved, acknowledged): deterministic, so
    the same event re-emitted after a crash is recognised."""
    key = "\x1f".join((_EPISODE_ID_NAMESPACE, episode_id, event, detail))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def event_record(event: EpisodeEvent, alert: MirrorAlert | None, created_at: int) -> MirrorAlert:
    """The record of ``event`` on the alerts topic.

    An opened, updated or escalated event *is* its window's alert, tagged with the event and
    the episode (same ``alert_id``, so the topic and ``mirror_alerts`` name it alike). A
    resolution or an acknowledgement has no alert: its record repeats the episode's kind,
    severity and peak moves, with a sentence saying what happened.
    """
    episode = event.episode
    if alert is not None:
        return replace(alert, event=event.type, episode_id=episode.episode_id)
    if event.type == "acknowledged":
        message = (
            f"Team {episode.team_id}: {episode.kind.replace('_', ' ')} episode acknowledged by "
            f"{episode.acknowledged_by}" + (f": {episode.note}" if episode.note else ".")
        )
        detail = f"{event.at}:{episode.acknowledged_by}"
        actor = episode.acknowledged_by
    elif episode.resolved_by is not None:
        message = (
            f"Team {episode.team_id}: {episode.kind.replace('_', ' ')} episode resolved by hand "
            f"by {episode.resolved_by}" + (f": {episode.note}" if episode.note else ".")
        )
        detail, actor = "hand", episode.resolved_by
    else:
        message = (
            f"Team {episode.team_id}: no {episode.kind.replace('_', ' ')} alert for "
            f"{episode.quiet_windows} tested windows (the episode lasted {episode.alerts} "
            f"alerted window{'s' if episode.alerts != 1 else ''}): the team is back within its "
            "normal range, or a lasting shift has become its new baseline. The alerts stopped; "
            "that does not say the cause is gone."
        )
        detail, actor = "", None
    return MirrorAlert(
        alert_id=make_event_id(episode.episode_id, event.type, detail),
        team_id=episode.team_id,
        window_start=event.window_start,
        window_end=event.window_end,
        kind=episode.kind,
        severity=episode.severity,
        detector="episodes",
        detector_version=episode.detector_version,
        message=message,
        created_at=created_at,
        customer_delta=episode.peak_customer_delta,
        employee_delta=episode.peak_employee_delta,
        evidence={
            "episode_alerts": float(episode.alerts),
            "episode_quiet_windows": float(episode.quiet_windows),
            "episode_opened_window_start": float(episode.opened_window_start),
        },
        event=event.type,
        episode_id=episode.episode_id,
        actor=actor,
        note=episode.note if actor is not None else None,
    )


def _rank(alert: MirrorAlert) -> int:
    return SEVERITY_RANK.get(alert.severity, 0)


__all__ = [
    "DEFAULT_RESOLVE_AFTER",
    "FAMILIES",
    "PAGING_EVENTS",
    "Episode",
    "EpisodeEvent",
    "EventType",
    "TeamEpisodes",
    "event_record",
    "family_of",
    "make_episode_id",
    "make_event_id",
]
