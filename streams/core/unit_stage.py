"""The unit stage: unit windows, unit detection, incidents and pages, for the whole
organisation at once (pure, no I/O).

The team stage (``streams.core.engine``) closes team-windows partition by partition. Each
closed team-window becomes a ``TeamWindowPart`` and, with each batch, every source partition
reports how far its windows are closed (a ``Heartbeat``: its watermark; None while it holds no
team). All of it travels on one internal topic partition to this stage, which therefore sees
the whole organisation (``streams.runtime.units``). A window of the organisation closes when
every source partition has reported and the watermarks of those holding teams have passed its
end: by then every team-window of that window has arrived, whichever worker closed it. Then:

1. every unit's window is rolled up from its teams (``streams.core.units``), without
   complementary disclosure;
2. the detectors run on each unit's window against the unit's own history, as they do for a
   team (a significant pooled change of the unit);
3. incidents are decided (``streams.core.incidents``);
4. **pages** are chosen: the team episode events of the window that page (``page_events``) and
   that no incident covers, and the incidents' own opened/resolved events. The webhooks follow
   these pages, so a shared shock pages once, at its unit.

Events that happen outside a window close (an acknowledgement, a resolution by hand) come as
``LooseEvent`` and page at once unless an incident covers their episode.

The same inputs in the same order give the same outputs: ids are deterministic and nothing
reads a clock, so a stage restarted from its saved state and re-reading its input agrees with
a clean run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

from schemas.records import MirrorAlert
from streams.core.engine import EngineConfig
from streams.core.episodes import family_of
from streams.core.incidents import Incident, IncidentConfig, IncidentEvent, IncidentTracker
from streams.core.index import DEFAULT_INDEX_CONFIG, Moments
from streams.core.metrics import team_window_from_dict, team_window_to_dict
from streams.core.model import TeamWindowMetrics
from streams.core.org import OrgChart
from streams.core.units import EpisodeMark, TeamWindowPart, UnitWindow, roll_up_units
from streams.detectors import DetectionSettings, Detector

if TYPE_CHECKING:
    from streams.settings import Settings

DEFAULT_PAGE_EVENTS: Final = frozenset({"opened", "escalated", "resolved"})
DEFAULT_INCIDENT_SPAN: Final = 2
# How an incident's message names its family.
FAMILY_WORDS: Final = {
    "fall": "falling (mirror decline, inner or outer warning)",
    "rise": "rising",
    "gap": "a lasting gap between E and C",
}
END_OF_TIME: Final = 2**62  # the watermark of a partition whose input has ended (replay)
# The watermark of a partition holding records whose watermark is not formed yet (one side
# seen so far): it holds every window back. None, in a heartbeat, means "holds no record".
NO_PROGRESS: Final = -(2**62)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Source partition ``partition`` has closed (and sent) every team-window ending at or
    before ``watermark``; ``NO_PROGRESS``: it holds records but no watermark yet; None: it has
    never held a record (only a caught-up partition says so)."""

    partition: int
    watermark: int | None


@dataclass(frozen=True, slots=True)
class LooseEvent:
    """A team episode event that no window close made (acknowledged, resolved by hand)."""

    record: MirrorAlert


UnitInput = TeamWindowPart | Heartbeat | LooseEvent


@dataclass(frozen=True, slots=True)
class UnitStageConfig:
    partitions: int
    k_anonymity: int
    detection: DetectionSettings
    index_version: str
    incident: IncidentConfig = field(default_factory=IncidentConfig)
    page_events: frozenset[str] = DEFAULT_PAGE_EVENTS
    # Windows over which teams opening episodes count as one shock; a team's "opened" page
    # waits span − 1 windows for an incident to cover it (Alertmanager's group_wait).
    incident_span_windows: int = DEFAULT_INCIDENT_SPAN

    @classmethod
    def from_settings(cls, settings: Settings) -> UnitStageConfig:
        """The unit stage's configuration from Miroir settings (worker and replay alike)."""
        engine = EngineConfig.from_settings(settings)
        return cls(
            partitions=settings.topic_partitions,
            k_anonymity=settings.k_anonymity,
            detection=engine.detection,
            index_version=DEFAULT_INDEX_CONFIG.version,
            incident=IncidentConfig(settings.incident_team_share, settings.incident_min_teams),
            page_events=frozenset(settings.webhook_events),
            incident_span_windows=settings.incident_span_windows,
        )


@dataclass(slots=True)
class UnitOutput:
    windows: list[UnitWindow] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)  # rows, as their events left them
    records: list[MirrorAlert] = field(default_factory=list)  # incident events, alerts topic
    pages: list[MirrorAlert] = field(default_factory=list)  # what the webhooks deliver
    late_parts: int = 0  # parts of a window of the organisation already closed
    replayed: int = 0  # inputs at or below the applied position, skipped

    def is_empty(self) -> bool:
        return not (self.windows or self.incidents or self.records or self.pages)


@dataclass(slots=True)
class UnitState:
    """Everything the unit stage remembers (saved after each batch)."""

    watermarks: dict[int, int | None] = field(default_factory=dict)
    open: dict[int, dict[str, TeamWindowPart]] = field(default_factory=dict)
    closed_through: int | None = None  # end of the newest closed window of the organisation
    history: dict[str, list[TeamWindowMetrics]] = field(default_factory=dict)
    incidents: dict[tuple[str, str], Incident] = field(default_factory=dict)
    applied: int = -1  # highest input position applied
    # Episodes opened in the last windows of the span: (window start, team, mark).
    recent: list[tuple[int, str, EpisodeMark]] = field(default_factory=list)
    # "opened" pages waiting for the span to pass: (the watermark that releases it, record).
    held: list[tuple[int, MirrorAlert]] = field(default_factory=list)
    resolved_by_hand: list[str] = field(default_factory=list)  # episode ids, since last close

    def to_dict(self) -> dict[str, Any]:
        return {
            "watermarks": {str(p): w for p, w in self.watermarks.items()},
            "open": {
                str(start): [part_to_dict(p) for p in parts.values()]
                for start, parts in self.open.items()
            },
            "closed_through": self.closed_through,
            "history": {
                unit: [team_window_to_dict(m) for m in windows]
                for unit, windows in self.history.items()
            },
            "incidents": [asdict(i) for i in self.incidents.values()],
            "applied": self.applied,
            "recent": [[start, team, asdict(mark)] for start, team, mark in self.recent],
            "held": [[release, _record_to_dict(record)] for release, record in self.held],
            "resolved_by_hand": list(self.resolved_by_hand),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UnitState:
        incidents = [_incident_from_dict(i) for i in data.get("incidents", [])]
        return cls(
            watermarks={int(p): w for p, w in (data.get("watermarks") or {}).items()},
            open={
                int(start): {p["team_id"]: part_from_dict(p) for p in parts}
                for start, parts in (data.get("open") or {}).items()
            },
            closed_through=data.get("closed_through"),
            history={
                unit: [team_window_from_dict(m) for m in windows]
                for unit, windows in (data.get("history") or {}).items()
            },
            incidents={(i.unit_id, i.family): i for i in incidents},
            applied=int(data.get("applied", -1)),
            recent=[
                (int(start), str(team), EpisodeMark(**mark))
                for start, team, mark in data.get("recent", [])
            ],
            held=[(int(release), record_from_dict(r)) for release, r in data.get("held", [])],
            resolved_by_hand=[str(e) for e in data.get("resolved_by_hand", [])],
        )


class UnitStage:
    """Feed it the internal topic's inputs in order, with their positions."""

    def __init__(
        self,
        config: UnitStageConfig,
        detectors: Sequence[Detector],
        state: UnitState | None = None,
    ) -> None:
        self.config = config
        self.detectors = list(detectors)
        self.state = state or UnitState()

    def process(self, inputs: Iterable[tuple[int, UnitInput]], chart: OrgChart) -> UnitOutput:
        out = UnitOutput()
        state = self.state
        tracker = IncidentTracker(self.config.incident, state.incidents)
        for position, item in inputs:
            if position <= state.applied:
                out.replayed += 1
                continue
            state.applied = position
            if isinstance(item, Heartbeat):
                previous = state.watermarks.get(item.partition)
                if item.watermark is None:
                    state.watermarks.setdefault(item.partition, None)
                elif previous is None or item.watermark > previous:
                    state.watermarks[item.partition] = item.watermark
            elif isinstance(item, LooseEvent):
                record = item.record
                if record.event == "resolved" and record.episode_id:
                    # An incident whose episodes are all resolved by hand resolves too, at
                    # the next window of the organisation.
                    state.resolved_by_hand.append(record.episode_id)
                if record.event in self.config.page_events and (
                    record.episode_id not in tracker.covered()
                ):
                    out.pages.append(record)
            else:
                if state.closed_through is not None and item.window_end <= state.closed_through:
                    out.late_parts += 1
                    continue
                state.open.setdefault(item.window_start, {})[item.team_id] = item
        floor = self._floor()
        if floor is not None:
            for start in sorted(state.open):
                parts = state.open[start]
                end = next(iter(parts.values())).window_end
                if end > floor:
                    break
                del state.open[start]
                self._close(sorted(parts.values(), key=lambda p: p.team_id), chart, tracker, out)
                state.closed_through = max(end, state.closed_through or end)
            self._release(floor, tracker, out)
        return out

    def _release(self, floor: int, tracker: IncidentTracker, out: UnitOutput) -> None:
        """Page the held "opened" events whose span has passed, unless an incident now covers
        their episode (then the incident was the page)."""
        due = [(release, record) for release, record in self.state.held if release <= floor]
        if not due:
            return
        self.state.held = [(r, record) for r, record in self.state.held if r > floor]
        covered = tracker.covered()
        out.pages.extend(record for _, record in due if record.episode_id not in covered)

    def _floor(self) -> int | None:
        """How far every source partition has closed its team-windows (None: not known yet)."""
        marks = self.state.watermarks
        if len(marks) < self.config.partitions:
            return None  # a partition has not reported: it may hold any window
        known = [w for w in marks.values() if w is not None]
        return min(known) if known else None

    def _close(
        self,
        parts: Sequence[TeamWindowPart],
        chart: OrgChart,
        tracker: IncidentTracker,
        out: UnitOutput,
    ) -> None:
        config = self.config
        units = roll_up_units(chart, parts, config.k_anonymity, config.index_version)
        alerted: dict[str, set[str]] = {}
        for unit in units:
            history = self.state.history.setdefault(unit.unit_id, [])
            alerts = [
                alert
                for detector in self.detectors
                for alert in detector.detect(unit.metrics, history, config.detection)
            ]
            metrics = unit.metrics
            if alerts:
                alerted[unit.unit_id] = {family_of(a.kind) for a in alerts}
                metrics = dataclasses.replace(metrics, alert_kinds=tuple(a.kind for a in alerts))
                unit = dataclasses.replace(unit, metrics=metrics)
            history.append(metrics)
            del history[: -(config.detection.history_windows + 1)]
            out.windows.append(unit)
        start, end = parts[0].window_start, parts[0].window_end
        span_ms = (config.incident_span_windows - 1) * (end - start)
        state = self.state
        state.recent = [item for item in state.recent if item[0] >= start - span_ms]
        events = tracker.observe(chart, parts, units, alerted, state.recent, state.resolved_by_hand)
        state.resolved_by_hand = []
        for event in events:
            record = incident_record(event)
            out.incidents.append(event.incident)
            out.records.append(record)
            if event.pages and event.type in config.page_events:
                out.pages.append(record)
        state.recent += [
            (start, part.team_id, mark)
            for part in parts
            for mark in part.episodes
            if mark.event == "opened"
        ]
        covered = tracker.covered()
        for part in parts:
            for record in part.records:
                if record.event not in config.page_events or record.episode_id in covered:
                    continue
                if record.event == "opened" and span_ms:
                    state.held.append((end + span_ms, record))  # may join a shock next window
                else:
                    out.pages.append(record)


def incident_record(event: IncidentEvent) -> MirrorAlert:
    """An incident event as a record of the alerts topic (``scope`` = its unit's level)."""
    incident = event.incident
    family = FAMILY_WORDS.get(incident.family, incident.family.replace("_", " "))
    teams = len(incident.teams)
    if event.type == "resolved":
        message = (
            f"{incident.level.capitalize()} {incident.unit_id}: the shared incident is over — "
            f"the episodes of its {teams} teams ({family}) have all resolved."
        )
    else:
        message = (
            f"{incident.level.capitalize()} {incident.unit_id}: {teams} of its "
            f"{incident.unit_teams} teams started {family} together "
            f"({', '.join(incident.teams[:10])}{', …' if teams > 10 else ''}). One incident "
            "instead of a page per team: a shared shock (a reorganisation, an outage, a "
            "product change) is the usual reason. Co-movement, not causation."
        )
    key = "\x1f".join(
        ("miroir.incident.event", incident.incident_id, event.type, str(incident.revision))
    )
    return MirrorAlert(
        alert_id=hashlib.sha256(key.encode("utf-8")).hexdigest()[:32],
        team_id="",
        window_start=event.window_start,
        window_end=event.window_end,
        kind=f"incident_{incident.family}",
        severity=incident.severity,
        detector="incidents",
        detector_version="1",
        message=message,
        created_at=event.window_end,
        evidence={"teams": float(teams), "unit_teams": float(incident.unit_teams)},
        event=event.type,
        scope=incident.level,
        unit_id=incident.unit_id,
        incident_id=incident.incident_id,
        teams=incident.teams,
    )


# -- the internal topic's records (JSON: internal, written and read by Miroir only) ------------
def encode_input(item: UnitInput) -> bytes:
    """One input of the unit stage as the internal topic's record value."""
    if isinstance(item, Heartbeat):
        data: dict[str, Any] = {"type": "heartbeat", "partition": item.partition}
        data["watermark"] = item.watermark
    elif isinstance(item, LooseEvent):
        data = {"type": "event", "record": _record_to_dict(item.record)}
    else:
        data = {"type": "part", **part_to_dict(item)}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def decode_input(value: bytes) -> UnitInput:
    """Inverse of ``encode_input``; ValueError on anything else."""
    try:
        data = json.loads(value)
        kind = data["type"]
        if kind == "heartbeat":
            return Heartbeat(int(data["partition"]), data["watermark"])
        if kind == "event":
            return LooseEvent(record_from_dict(data["record"]))
        if kind == "part":
            return part_from_dict(data)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"not a unit-stage record: {e!r}") from e
    raise ValueError(f"not a unit-stage record: type {kind!r}")


# -- state ----------------------------------------------------------------------------------
def part_to_dict(part: TeamWindowPart) -> dict[str, Any]:
    return {
        "team_id": part.team_id,
        "window_start": part.window_start,
        "window_end": part.window_end,
        "customer": part.customer.to_list(),
        "employee": part.employee.to_list(),
        "episodes": [asdict(mark) for mark in part.episodes],
        "records": [_record_to_dict(r) for r in part.records],
    }


def part_from_dict(data: Mapping[str, Any]) -> TeamWindowPart:
    return TeamWindowPart(
        team_id=str(data["team_id"]),
        window_start=int(data["window_start"]),
        window_end=int(data["window_end"]),
        customer=Moments.from_list(data["customer"]),
        employee=Moments.from_list(data["employee"]),
        episodes=tuple(EpisodeMark(**mark) for mark in data.get("episodes", [])),
        records=tuple(record_from_dict(r) for r in data.get("records", [])),
    )


def _record_to_dict(record: MirrorAlert) -> dict[str, Any]:
    data = asdict(record)
    data["teams"] = list(record.teams)
    return data


def record_from_dict(data: Mapping[str, Any]) -> MirrorAlert:
    values = dict(data)
    values["teams"] = tuple(values.get("teams") or ())
    values["evidence"] = dict(values.get("evidence") or {})
    return MirrorAlert(**values)


def record_to_dict(record: MirrorAlert) -> dict[str, Any]:
    return _record_to_dict(record)


def _incident_from_dict(data: Mapping[str, Any]) -> Incident:
    values = dict(data)
    for name in ("teams", "episode_ids", "open_episodes"):
        values[name] = tuple(values.get(name) or ())
    return Incident(**values)


__all__ = [
    "DEFAULT_PAGE_EVENTS",
    "END_OF_TIME",
    "NO_PROGRESS",
    "Heartbeat",
    "LooseEvent",
    "UnitInput",
    "UnitOutput",
    "UnitStage",
    "UnitStageConfig",
    "UnitState",
    "decode_input",
    "encode_input",
    "incident_record",
    "part_from_dict",
    "part_to_dict",
    "record_from_dict",
    "record_to_dict",
]
