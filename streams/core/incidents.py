"""Incidents: many teams of one unit moving together in one window is one problem (pure).

When a window closes for the whole organisation, the teams whose episodes of one family
*opened* in it are the window's newly affected teams. A unit **qualifies** for an incident of
that family when

- at least ``min_teams`` of its reporting teams are newly affected and they are at least
  ``team_share`` of them, or
- the unit's own pooled window raised a change alert of that family (the detectors run on
  unit windows too) and at least ``min_teams`` of its teams are affected.

Teams missing from the organisation (``unassigned``) never form an incident: they share no
unit. Exactly one incident per shock, at the right unit: of the qualifying units, the highest one
is taken (a company-wide shock qualifies every department as well), then Miroir walks down
while a single child unit holds at least ``CONCENTRATION`` of the affected teams and qualifies
itself (a department's shock must not be blamed on its whole site). The incident lists the
affected teams; their episodes link to it and are not paged on their own. Later windows add
newly affected teams of the unit (an ``updated`` event, no page); the incident resolves when
none of its teams' episodes of the family is still open.

Incident ids are deterministic — unit, family, opening window — like episode ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from streams.core.episodes import FAMILIES, PAGING_EVENTS
from streams.core.org import UNASSIGNED, UNIT_SEPARATOR, OrgChart
from streams.core.units import EpisodeMark, TeamWindowPart, UnitWindow

CONCENTRATION: Final = 0.8
DEFAULT_TEAM_SHARE: Final = 0.3
DEFAULT_MIN_TEAMS: Final = 3
_NAMESPACE: Final = "miroir.incident.v1"


def make_incident_id(unit_id: str, family: str, opened_window_start: int) -> str:
    key = "\x1f".join((_NAMESPACE, unit_id, family, str(int(opened_window_start))))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class IncidentConfig:
    team_share: float = DEFAULT_TEAM_SHARE
    min_teams: int = DEFAULT_MIN_TEAMS

    def __post_init__(self) -> None:
        if not 0 < self.team_share <= 1:
            raise ValueError(f"team_share must be in (0, 1], got {self.team_share}")
        if self.min_teams < 2:
            raise ValueError(f"min_teams must be at least 2, got {self.min_teams}")


@dataclass(frozen=True, slots=True)
class Incident:
    incident_id: str
    unit_id: str
    level: str
    family: str
    severity: str
    opened_window_start: int
    last_window_end: int
    teams: tuple[str, ...]
    episode_ids: tuple[str, ...]
    unit_teams: int  # teams of the unit reporting in the opening window
    open_episodes: tuple[str, ...] = ()  # its teams' episodes not resolved yet
    state: str = "open"
    revision: int = 1


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    type: str  # opened | updated | resolved
    incident: Incident
    window_start: int
    window_end: int

    @property
    def pages(self) -> bool:
        return self.type in ("opened", "resolved")


@dataclass(slots=True)
class IncidentTracker:
    """Open incidents of the organisation by (unit, family); feed it each window in order."""

    config: IncidentConfig = field(default_factory=IncidentConfig)
    open: dict[tuple[str, str], Incident] = field(default_factory=dict)

    def covered(self) -> dict[str, str]:
        """Episode id → the open incident it belongs to."""
        return {e: i.incident_id for i in self.open.values() for e in i.episode_ids}

    def page_worthy(self, part: TeamWindowPart) -> list[EpisodeMark]:
        """The team's paging episode events of a window that no open incident covers (call
        after ``observe`` for the window): those still page on their own."""
        covered = self.covered()
        return [
            mark
            for mark in part.episodes
            if mark.event in PAGING_EVENTS and mark.episode_id not in covered
        ]

    def observe(
        self,
        chart: OrgChart,
        parts: Sequence[TeamWindowPart],
        units: Sequence[UnitWindow],
        unit_alert_families: Mapping[str, set[str]] | None = None,
        recent: Sequence[tuple[int, str, EpisodeMark]] = (),
        resolved_by_hand: Collection[str] = (),
    ) -> list[IncidentEvent]:
        """The incident events of one closed window of the organisation.

        ``recent``: (window start, team, mark) of the episodes opened in the windows just
        before this one that may still count as the same shock (``UnitStage`` keeps them for
        ``incident_span_windows``); this window's openings come from ``parts``.
        """
        if not parts:
            return []
        start, end = parts[0].window_start, parts[0].window_end
        unit_alert_families = unit_alert_families or {}
        teams_of = {unit.unit_id: set(unit.teams) for unit in units}
        level_of = {unit.unit_id: unit.level for unit in units}
        events: list[IncidentEvent] = []
        families = sorted({m.family for p in parts for m in p.episodes} | set(FAMILIES.values()))
        for family in families:
            opened = {
                part.team_id: mark
                for part in parts
                for mark in part.episodes
                if mark.family == family and mark.event == "opened"
            }
            resolved = {
                mark.episode_id
                for part in parts
                for mark in part.episodes
                if mark.family == family and mark.event == "resolved"
            } | set(resolved_by_hand)
            # A new shock first: the teams that opened now, or within the span before, and
            # that no incident covers, may form an incident of their own (a company-wide
            # shock must not be swallowed by a department's older incident).
            covered = self.covered()
            since: dict[str, int] = {}
            candidates: dict[str, EpisodeMark] = {}
            for window_start, team, mark in recent:
                if mark.family == family and mark.episode_id not in covered:
                    candidates[team], since[team] = mark, window_start
            for team, mark in opened.items():
                candidates[team], since[team] = mark, start
            unit = self._place(family, candidates, teams_of, unit_alert_families)
            placed: set[str] = set()
            if unit is not None:
                affected = sorted(t for t in candidates if t in teams_of[unit])
                placed = set(affected)
                ids = tuple(candidates[t].episode_id for t in affected)
                first = min(since[t] for t in affected)  # when the shock's first team moved
                incident = Incident(
                    incident_id=make_incident_id(unit, family, first),
                    unit_id=unit,
                    level=level_of[unit],
                    family=family,
                    severity=max((candidates[t].severity for t in affected), key=_rank),
                    opened_window_start=first,
                    last_window_end=end,
                    teams=tuple(affected),
                    episode_ids=ids,
                    unit_teams=len(teams_of[unit]),
                    open_episodes=ids,
                )
            rest = {t: m for t, m in opened.items() if t not in placed}
            events += self._grow_or_resolve(family, rest, resolved, teams_of, start, end)
            if unit is not None:
                self.open[(unit, family)] = incident
                events.append(IncidentEvent("opened", incident, start, end))
        return events

    def _qualifies(
        self,
        unit: str,
        affected: Mapping[str, EpisodeMark],
        teams_of: Mapping[str, set[str]],
        alerted: Mapping[str, set[str]],
        family: str,
    ) -> bool:
        if unit == UNASSIGNED:
            # Teams nobody placed share no unit: their moving together is not a shock of an
            # organisation Miroir knows (load the organisation to get incidents).
            return False
        teams = teams_of[unit]
        hit = sum(1 for team in affected if team in teams)
        if hit < self.config.min_teams:
            return False
        return hit >= self.config.team_share * len(teams) or family in alerted.get(unit, set())

    def _place(
        self,
        family: str,
        affected: Mapping[str, EpisodeMark],
        teams_of: Mapping[str, set[str]],
        alerted: Mapping[str, set[str]],
    ) -> str | None:
        qualifying = [
            u for u in teams_of if self._qualifies(u, affected, teams_of, alerted, family)
        ]
        qualifying = [u for u in qualifying if (u, family) not in self.open]
        if not qualifying:
            return None
        unit = min(qualifying, key=lambda u: (u.count(UNIT_SEPARATOR), u))
        while True:
            hits = {team for team in affected if team in teams_of[unit]}
            children = [
                u
                for u in teams_of
                if u.startswith(unit + UNIT_SEPARATOR)
                and u.count(UNIT_SEPARATOR) == unit.count(UNIT_SEPARATOR) + 1
            ]
            narrower = [
                child
                for child in children
                if len(hits & teams_of[child]) >= CONCENTRATION * len(hits)
                and self._qualifies(child, affected, teams_of, alerted, family)
            ]
            if not narrower:
                return unit
            unit = narrower[0]

    def _grow_or_resolve(
        self,
        family: str,
        opened: Mapping[str, EpisodeMark],
        resolved: set[str],
        teams_of: Mapping[str, set[str]],
        start: int,
        end: int,
    ) -> list[IncidentEvent]:
        """Open incidents of ``family``: newly affected teams of the unit join (updated), and
        one whose teams' episodes have all resolved resolves."""
        events = []
        for key, incident in sorted(self.open.items()):
            if incident.family != family:
                continue
            joining = sorted(
                t
                for t in opened
                if t in teams_of.get(incident.unit_id, set()) and t not in incident.teams
            )
            still_open = tuple(e for e in incident.open_episodes if e not in resolved)
            if joining:
                new_ids = tuple(opened[t].episode_id for t in joining)
                incident = replace(
                    incident,
                    severity=max(
                        (incident.severity, *(opened[t].severity for t in joining)), key=_rank
                    ),
                    teams=(*incident.teams, *joining),
                    episode_ids=(*incident.episode_ids, *new_ids),
                    open_episodes=(*still_open, *new_ids),
                    last_window_end=end,
                    revision=incident.revision + 1,
                )
                self.open[key] = incident
                events.append(IncidentEvent("updated", incident, start, end))
            elif not still_open:
                del self.open[key]
                done = replace(
                    incident,
                    open_episodes=(),
                    state="resolved",
                    last_window_end=end,
                    revision=incident.revision + 1,
                )
                events.append(IncidentEvent("resolved", done, start, end))
            elif still_open != incident.open_episodes:
                self.open[key] = replace(incident, open_episodes=still_open)
        return events


def _rank(severity: str) -> int:
    return {"info": 0, "warning": 1, "critical": 2}.get(severity, 0)


__all__ = [
    "CONCENTRATION",
    "Incident",
    "IncidentConfig",
    "IncidentEvent",
    "IncidentTracker",
    "make_incident_id",
]
