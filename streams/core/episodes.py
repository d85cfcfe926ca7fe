"""Episodes: one problem of one team, from its first alert to its resolution (pure).

Groundwork for issue 12 ("one page per problem"), not wired into the stream yet. A team's
alerts are grouped by family — falls (``mirror_decline``, ``inner_warning``,
``outer_warning``), rises (``mirror_rise``), gaps (``symmetry_gap``); any other kind is a family
of its own. Each closed window of the team is observed once, in window order:

- an alert of a family with no open episode **opens** one (a page);
- an alert of a family with an open episode **updates** it (no page), or **escalates** it when
  its severity is higher than the episode's so far (a page);
- a window without an alert of an open episode's family counts as quiet; after
  ``resolve_after`` quiet windows in a row the episode **resolves** (a page).

Episode ids are deterministic — team, family, the opening window and the detector version —
so a replay, or a restart that observes the same windows again, names the same episodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Literal

from schemas.records import MirrorAlert

EventType = Literal["opened", "updated", "escalated", "resolved"]

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


@dataclass(frozen=True, slots=True)
class EpisodeEvent:
    """What one window did to one episode; ``pages`` says whether ops are notified."""

    type: EventType
    episode: Episode
    window_start: int
    window_end: int
    alert_id: str | None = None  # the alert behind an opened/updated/escalated event

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

    def __init__(self, team_id: str, resolve_after: int = DEFAULT_RESOLVE_AFTER) -> None:
        if resolve_after < 1:
            raise ValueError(f"resolve_after must be at least 1, got {resolve_after}")
        self.team_id = team_id
        self.resolve_after = resolve_after
        self.open: dict[str, Episode] = {}

    def observe(
        self, window_start: int, window_end: int, alerts: Sequence[MirrorAlert]
    ) -> list[EpisodeEvent]:
        """The episode events of one closed window of this team and its alerts."""
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
            episode = self.open[family]
            quiet = replace(episode, quiet_windows=episode.quiet_windows + 1)
            if quiet.quiet_windows >= self.resolve_after:
                del self.open[family]
                events.append(EpisodeEvent("resolved", quiet, window_start, window_end))
            else:
                self.open[family] = quiet
        return events

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
    "family_of",
    "make_episode_id",
]
