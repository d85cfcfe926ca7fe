"""What the web pages read from ClickHouse, through the worker's own sink.

In embedded mode the worker owns the chDB store, so the pages must read through its sink
(thread-safe, blocking): every query here runs in an executor thread, never on the loop.
Tables are read with ``FINAL`` (ReplacingMergeTree). Every value from a request is bound as a
query parameter, never pasted into SQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, runtime_checkable

from schemas.records import MirrorAlert
from streams.core.episodes import Episode
from streams.web.chart import WindowPoint

__all__ = [
    "EPISODE_STATES",
    "INCIDENT_STATES",
    "MAX_ALERTS",
    "MAX_EPISODES",
    "MAX_INCIDENTS",
    "MAX_TEAMS_PAGE",
    "MAX_WINDOWS",
    "AlertStore",
    "EpisodeHistory",
    "IncidentDetail",
    "Queryable",
    "StoredIncident",
    "TeamSummary",
    "TeamsPage",
    "UnitWindowPoint",
]

MAX_ALERTS: Final = 500
MAX_WINDOWS: Final = 200
MAX_TEAMS_PAGE: Final = 100
MAX_EPISODES: Final = 500
MAX_INCIDENTS: Final = 500
EPISODE_STATES: Final = ("open", "all")  # what /api/episodes?state= may ask for
INCIDENT_STATES: Final = ("open", "all")  # what /api/incidents?state= may ask for

_ALERT_COLUMNS: Final = (
    "alert_id, team_id, toUnixTimestamp64Milli(window_start) AS window_start, "
    "toUnixTimestamp64Milli(window_end) AS window_end, kind, severity, detector, "
    "detector_version, message, toUnixTimestamp64Milli(created_at) AS created_at, dimension, "
    "customer_n, employee_n, customer_index, employee_index, customer_baseline, "
    "employee_baseline, customer_delta, employee_delta, customer_z, employee_z, evidence, "
    "episode_id"
)
_EPISODE_COLUMNS: Final = (
    "episode_id, team_id, family, kind, severity, state, "
    "toUnixTimestamp64Milli(opened_window_start) AS opened_window_start, "
    "toUnixTimestamp64Milli(last_alert_window_start) AS last_alert_window_start, "
    "toUnixTimestamp64Milli(last_window_end) AS last_window_end, alerts, quiet_windows, "
    "peak_customer_delta, peak_employee_delta, detector_version, acknowledged_by, "
    "toUnixTimestamp64Milli(acknowledged_at) AS acknowledged_at, resolved_by, note, revision"
)
_INCIDENT_COLUMNS: Final = (
    "incident_id, unit_id, level, family, severity, state, "
    "toUnixTimestamp64Milli(opened_window_start) AS opened_window_start, "
    "toUnixTimestamp64Milli(last_window_end) AS last_window_end, teams, episode_ids, "
    "unit_teams, revision"
)
_UNIT_WINDOW_COLUMNS: Final = (
    "toUnixTimestamp64Milli(window_start) AS window_start, "
    "toUnixTimestamp64Milli(window_end) AS window_end, length(teams) AS teams, customer_n, "
    "customer_index, customer_index_se, employee_suppressed, employee_n, employee_index, "
    "employee_index_se, alert_kinds"
)


@runtime_checkable
class Queryable(Protocol):
    """A blocking, thread-safe reader: ``ClickHouseSink.query``."""

    def query(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]: ...


@dataclass(frozen=True, slots=True)
class TeamSummary:
    """A team in the index: its windows and its latest alert, if any."""

    team_id: str
    windows: int
    last_window_end: int  # epoch ms
    alerts: int
    latest_kind: str | None
    latest_severity: str | None
    latest_window_start: int | None
    latest_message: str | None


@dataclass(frozen=True, slots=True)
class EpisodeHistory:
    """One episode in its latest state, and every alert it gathered, oldest window first."""

    episode: Episode
    alerts: list[MirrorAlert]


@dataclass(frozen=True, slots=True)
class StoredIncident:
    """An ``incidents`` row in its latest state: many teams of one unit with one problem.
    ``teams`` and ``episode_ids`` run in step (the i-th episode is the i-th team's)."""

    incident_id: str
    unit_id: str
    level: str
    family: str
    severity: str
    state: str  # open | resolved
    opened_window_start: int  # epoch ms
    last_window_end: int  # epoch ms
    teams: tuple[str, ...]
    episode_ids: tuple[str, ...]
    unit_teams: int  # teams of the unit reporting in the opening window
    revision: int


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    """An incident and the stored episodes of its teams (in the incident's team order; a team
    whose episode row is not written yet has none)."""

    incident: StoredIncident
    episodes: list[Episode]

    def episode_of(self, team_id: str) -> Episode | None:
        """The team's episode in this incident, if stored."""
        wanted = dict(zip(self.incident.teams, self.incident.episode_ids, strict=False))
        episode_id = wanted.get(team_id)
        return next((e for e in self.episodes if e.episode_id == episode_id), None)


@dataclass(frozen=True, slots=True)
class UnitWindowPoint:
    """One closed window of a unit: C always, E only when its employee side may be shown
    (never under k, never when it would reveal a hidden team by differencing)."""

    window_start: int  # epoch ms
    window_end: int
    teams: int  # teams of the unit that closed the window
    customer_n: int
    customer_index: float | None
    customer_index_se: float | None
    employee_suppressed: bool
    employee_n: int | None = None
    employee_index: float | None = None
    employee_index_se: float | None = None
    alert_kinds: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TeamsPage:
    teams: list[TeamSummary]
    total: int
    offset: int
    limit: int


class AlertStore:
    """Async reads for the pages; each call is one or two bounded queries."""

    def __init__(self, reader: Queryable) -> None:
        self._reader = reader

    async def _rows(self, sql: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        columns, rows = await loop.run_in_executor(None, self._reader.query, sql, parameters)
        return [dict(zip(columns, row, strict=True)) for row in rows]

    async def recent_alerts(
        self, limit: int = 200, team: str = "", kind: str = ""
    ) -> list[MirrorAlert]:
        """Newest first (by firing time); ``team`` matches a part of the id, ``kind`` exactly."""
        rows = await self._rows(
            f"SELECT {_ALERT_COLUMNS} FROM mirror_alerts FINAL "
            "WHERE ({team:String} = '' OR positionCaseInsensitiveUTF8(team_id, {team:String}) > 0) "
            "AND ({kind:String} = '' OR kind = {kind:String}) "
            "ORDER BY created_at DESC, window_start DESC, alert_id LIMIT {limit:UInt32}",
            {"team": team, "kind": kind, "limit": _clamp(limit, 1, MAX_ALERTS)},
        )
        return [_alert(row) for row in rows]

    async def episodes(self, limit: int = 100, state: str = "open") -> list[Episode]:
        """Episodes in their latest state: open ones first, then the newest opened first.
        ``state`` is "open" (only those) or "all"."""
        if state not in EPISODE_STATES:
            raise ValueError(f"state must be one of {', '.join(EPISODE_STATES)}, got {state!r}")
        rows = await self._rows(
            f"SELECT {_EPISODE_COLUMNS} FROM episodes FINAL "
            "WHERE {every:Bool} OR state = 'open' "
            "ORDER BY state = 'open' DESC, opened_window_start DESC, team_id, episode_id "
            "LIMIT {limit:UInt32}",
            {"every": state == "all", "limit": _clamp(limit, 1, MAX_EPISODES)},
        )
        return [_episode(row) for row in rows]

    async def open_episodes(self, limit: int = 100) -> list[Episode]:
        """The open episodes, the newest opened first."""
        return await self.episodes(limit, "open")

    async def find_episode(self, episode_id: str) -> Episode | None:
        """The episode with this id in its latest state, or None."""
        rows = await self._rows(
            f"SELECT {_EPISODE_COLUMNS} FROM episodes FINAL "
            "WHERE episode_id = {episode:String} LIMIT 1",
            {"episode": episode_id},
        )
        return _episode(rows[0]) if rows else None

    async def episode(self, episode_id: str) -> EpisodeHistory | None:
        """The episode with this id and its alerts (its history, oldest window first), or None
        when no episode has that id."""
        episode = await self.find_episode(episode_id)
        if episode is None:
            return None
        alerts = await self._rows(
            f"SELECT {_ALERT_COLUMNS} FROM mirror_alerts FINAL "
            "WHERE team_id = {team:String} AND episode_id = {episode:String} "
            "ORDER BY window_start, kind, alert_id LIMIT {limit:UInt32}",
            {"team": episode.team_id, "episode": episode_id, "limit": MAX_ALERTS},
        )
        return EpisodeHistory(episode, [_alert(row) for row in alerts])

    async def incidents(self, limit: int = 100, state: str = "open") -> list[StoredIncident]:
        """Incidents in their latest state: open ones first, then the newest opened first.
        ``state`` is "open" (only those) or "all"."""
        if state not in INCIDENT_STATES:
            raise ValueError(f"state must be one of {', '.join(INCIDENT_STATES)}, got {state!r}")
        rows = await self._rows(
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents FINAL "
            "WHERE {every:Bool} OR state = 'open' "
            "ORDER BY state = 'open' DESC, opened_window_start DESC, unit_id, incident_id "
            "LIMIT {limit:UInt32}",
            {"every": state == "all", "limit": _clamp(limit, 1, MAX_INCIDENTS)},
        )
        return [_incident(row) for row in rows]

    async def open_incidents(self, limit: int = 100) -> list[StoredIncident]:
        """The open incidents, the newest opened first."""
        return await self.incidents(limit, "open")

    async def find_incident(self, incident_id: str) -> StoredIncident | None:
        """The incident with this id in its latest state, or None."""
        rows = await self._rows(
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents FINAL "
            "WHERE incident_id = {incident:String} LIMIT 1",
            {"incident": incident_id},
        )
        return _incident(rows[0]) if rows else None

    async def incident_of_episode(self, episode_id: str) -> StoredIncident | None:
        """The incident a team episode belongs to (the newest, should there be several)."""
        rows = await self._rows(
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents FINAL "
            "WHERE has(episode_ids, {episode:String}) "
            "ORDER BY opened_window_start DESC LIMIT 1",
            {"episode": episode_id},
        )
        return _incident(rows[0]) if rows else None

    async def incident(self, incident_id: str) -> IncidentDetail | None:
        """The incident with this id and its teams' episodes (by episode id), or None."""
        incident = await self.find_incident(incident_id)
        if incident is None:
            return None
        rows = await self._rows(
            f"SELECT {_EPISODE_COLUMNS} FROM episodes FINAL "
            "WHERE episode_id IN {episodes:Array(String)} LIMIT {limit:UInt32}",
            {"episodes": list(incident.episode_ids), "limit": MAX_EPISODES},
        )
        found = {row["episode_id"]: _episode(row) for row in rows}
        episodes = [found[e] for e in incident.episode_ids if e in found]
        return IncidentDetail(incident, episodes)

    async def unit_windows(
        self, unit_id: str, windows: int = 12, until_ms: int | None = None
    ) -> list[UnitWindowPoint]:
        """The unit's latest ``windows`` closed windows (starting before ``until_ms`` when
        given), oldest first. The employee side of a suppressed window is never returned."""
        rows = await self._rows(
            f"SELECT {_UNIT_WINDOW_COLUMNS} FROM unit_window_metrics FINAL "
            "WHERE unit_id = {unit:String} AND ({unbounded:Bool} "
            # Qualified: the bare name is the epoch-ms alias of the SELECT list.
            "OR unit_window_metrics.window_start < fromUnixTimestamp64Milli({until:Int64}, 'UTC')) "
            "ORDER BY window_start DESC LIMIT {limit:UInt32}",
            {
                "unit": unit_id,
                "unbounded": until_ms is None,
                "until": until_ms or 0,
                "limit": _clamp(windows, 1, MAX_WINDOWS),
            },
        )
        return [_unit_window(row) for row in reversed(rows)]

    async def team_windows(self, team_id: str, windows: int = 30) -> list[WindowPoint]:
        """The team's latest ``windows`` closed windows, oldest first."""
        rows = await self._rows(
            "SELECT toUnixTimestamp64Milli(window_start) AS window_start, customer_index, "
            "employee_index, employee_suppressed FROM team_window_metrics FINAL "
            "WHERE team_id = {team:String} ORDER BY window_start DESC LIMIT {limit:UInt32}",
            {"team": team_id, "limit": _clamp(windows, 1, MAX_WINDOWS)},
        )
        return [
            WindowPoint(
                window_start=int(r["window_start"]),
                customer_index=r["customer_index"],
                employee_index=r["employee_index"],
                employee_suppressed=bool(r["employee_suppressed"]),
            )
            for r in reversed(rows)
        ]

    async def team_alerts(
        self, team_id: str, since_ms: int = 0, limit: int = 200
    ) -> list[MirrorAlert]:
        """The team's alerts of windows starting at ``since_ms`` or later, newest window first."""
        rows = await self._rows(
            f"SELECT {_ALERT_COLUMNS} FROM mirror_alerts FINAL "
            "WHERE team_id = {team:String} "
            # Qualified: the bare name is the epoch-ms alias of the SELECT list, which compared
            # with a DateTime64 let every window through.
            "AND mirror_alerts.window_start >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
            "ORDER BY window_start DESC, kind LIMIT {limit:UInt32}",
            {"team": team_id, "since": since_ms, "limit": _clamp(limit, 1, MAX_ALERTS)},
        )
        return [_alert(row) for row in rows]

    async def teams(self, query: str = "", offset: int = 0, limit: int = 25) -> TeamsPage:
        """Teams whose id contains ``query``: those with the latest alerts first, then by id."""
        limit = _clamp(limit, 1, MAX_TEAMS_PAGE)
        offset = max(0, offset)
        matching = "({q:String} = '' OR positionCaseInsensitiveUTF8(team_id, {q:String}) > 0)"
        parameters = {"q": query, "offset": offset, "limit": limit}
        total = await self._rows(
            "SELECT uniqExact(team_id) AS n FROM team_window_metrics FINAL WHERE " + matching,
            parameters,
        )
        rows = await self._rows(
            "SELECT w.team_id AS team_id, w.windows AS windows, w.last_end AS last_end, "
            "a.alerts AS alerts, a.kind AS kind, a.severity AS severity, "
            "a.latest_start AS alert_start, a.message AS message "
            "FROM (SELECT team_id, count() AS windows, "
            "toUnixTimestamp64Milli(max(window_end)) AS last_end "
            f"FROM team_window_metrics FINAL WHERE {matching} GROUP BY team_id) AS w "
            "LEFT JOIN (SELECT team_id, count() AS alerts, "
            "argMax(kind, (window_start, created_at)) AS kind, "
            "argMax(severity, (window_start, created_at)) AS severity, "
            "toUnixTimestamp64Milli(max(window_start)) AS latest_start, "
            "argMax(message, (window_start, created_at)) AS message "
            f"FROM mirror_alerts FINAL WHERE {matching} GROUP BY team_id) AS a "
            "ON w.team_id = a.team_id "
            "ORDER BY a.alerts > 0 DESC, a.latest_start DESC, w.team_id "
            "LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
            parameters,
        )
        teams = [
            TeamSummary(
                team_id=r["team_id"],
                windows=int(r["windows"]),
                last_window_end=int(r["last_end"]),
                alerts=int(r["alerts"] or 0),
                latest_kind=r["kind"] or None,
                latest_severity=r["severity"] or None,
                latest_window_start=int(r["alert_start"]) if r["alerts"] else None,
                latest_message=r["message"] or None,
            )
            for r in rows
        ]
        return TeamsPage(teams, int(total[0]["n"]) if total else 0, offset, limit)


def _episode(row: Mapping[str, Any]) -> Episode:
    return Episode(**row)


def _incident(row: Mapping[str, Any]) -> StoredIncident:
    values = dict(row)
    values["teams"] = tuple(values["teams"])
    values["episode_ids"] = tuple(values["episode_ids"])
    for name in ("opened_window_start", "last_window_end", "unit_teams", "revision"):
        values[name] = int(values[name])
    return StoredIncident(**values)


def _unit_window(row: Mapping[str, Any]) -> UnitWindowPoint:
    suppressed = bool(row["employee_suppressed"])
    shown = not suppressed and row["employee_n"] is not None
    return UnitWindowPoint(
        window_start=int(row["window_start"]),
        window_end=int(row["window_end"]),
        teams=int(row["teams"]),
        customer_n=int(row["customer_n"]),
        customer_index=row["customer_index"],
        customer_index_se=row["customer_index_se"],
        employee_suppressed=suppressed,
        employee_n=int(row["employee_n"]) if shown else None,
        employee_index=row["employee_index"] if shown else None,
        employee_index_se=row["employee_index_se"] if shown else None,
        alert_kinds=tuple(row["alert_kinds"]),
    )


def _alert(row: Mapping[str, Any]) -> MirrorAlert:
    values = dict(row)
    values["evidence"] = {k: float(v) for k, v in (values.get("evidence") or {}).items()}
    for name in ("window_start", "window_end", "created_at", "customer_n"):
        values[name] = int(values[name])
    if values.get("employee_n") is not None:
        values["employee_n"] = int(values["employee_n"])
    return MirrorAlert(**values)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def as_queryable(sink: object) -> Queryable | None:
    """The sink if it can answer queries (the ClickHouse sink can), else None."""
    return sink if isinstance(sink, Queryable) else None
