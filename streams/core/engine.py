"""The detection path shared by the streaming worker and offline replay (pure, no I/O).

Feed it decoded signals with their source partition; it aggregates them per team and
event-time window, closes windows as watermarks pass, runs the detectors on each closed
window and returns what must be written. It never talks to Kafka or ClickHouse: the Faust
agent (``streams.runtime.agents``) and the replay command wrap it with I/O.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from schemas.records import CustomerFeedback, EpisodeAction, MirrorAlert, Signal
from streams.core.aggregate import WindowAggregate
from streams.core.episodes import (
    DEFAULT_RESOLVE_AFTER,
    Episode,
    TeamEpisodes,
    event_record,
    family_of,
)
from streams.core.identity import UNKEYED, IdentityKeys
from streams.core.index import DEFAULT_INDEX_CONFIG, Moments
from streams.core.metrics import compute_team_window, employee_composites, side_moments
from streams.core.model import EmployeeComment, LateEventCount, TeamWindowMetrics
from streams.core.units import EpisodeMark, TeamWindowPart
from streams.core.windows import PartitionClock, TeamState, window_start_for
from streams.detectors import DetectionSettings, Detector, baseline

if TYPE_CHECKING:
    from streams.settings import Settings

ACTIONS_SIDE = "actions"  # the source "side" of episode actions, for positions and replays
EMPLOYEE_COMMENTS_MIN_RESPONDENTS = 10  # DOMAIN.md: comments only for windows of ≥ 10 people

Ref = TypeVar("Ref")  # whatever the caller needs to find the source record again


@dataclass(frozen=True, slots=True)
class EngineConfig:
    window_ms: int
    allowed_lateness_ms: int
    idle_close_ms: int
    k_anonymity: int
    detection: DetectionSettings
    history_windows: int = 12  # closed windows kept per team for baselines and gap runs
    store_employee_comments: bool = False
    # Keys of event ids and respondents (keyed with the HMAC secret in the worker).
    identity_keys: IdentityKeys = UNKEYED
    # Quiet windows in a row after which a team's episode resolves (streams.core.episodes).
    episode_resolve_after: int = DEFAULT_RESOLVE_AFTER

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineConfig:
        """The engine's configuration from Miroir settings (worker and offline paths alike)."""
        shared = {f.name for f in dataclasses.fields(DetectionSettings)} & set(
            type(settings).model_fields
        )
        return cls(
            window_ms=settings.window_ms,
            allowed_lateness_ms=settings.allowed_lateness_ms,
            idle_close_ms=int(settings.idle_close_seconds * 1000),
            k_anonymity=settings.k_anonymity,
            detection=DetectionSettings(**{name: getattr(settings, name) for name in shared}),
            store_employee_comments=settings.store_employee_comments,
            identity_keys=IdentityKeys(settings.hmac_secret.get_secret_value().encode()),
            episode_resolve_after=settings.episode_resolve_after,
        )


@dataclass(frozen=True, slots=True)
class Inbound(Generic[Ref]):
    """One decoded, validated signal and where it came from."""

    partition: int
    record: Signal | EpisodeAction
    ref: Ref
    position: int | None = None  # source offset; lets a replayed event be recognised


@dataclass(frozen=True, slots=True)
class Duplicate(Generic[Ref]):
    """An event its window had already counted (``kind``: see
    ``streams.core.aggregate.AddOutcome``)."""

    item: Inbound[Ref]
    window_start: int
    kind: str  # "event" | "respondent"


@dataclass(frozen=True, slots=True)
class Rejected(Generic[Ref]):
    """An event the engine refused: it becomes a dead letter with ``reason``."""

    item: Inbound[Ref]
    reason: str
    kind: str  # dead-letter kind, e.g. "duplicate"


@dataclass(slots=True)
class EngineOutput(Generic[Ref]):
    """What one call to the engine produced; the caller makes it durable."""

    closed: list[TeamWindowMetrics] = field(default_factory=list)
    alerts: list[MirrorAlert] = field(default_factory=list)  # each with its episode id
    # The alerts topic's records: every alert as the episode event it makes (opened, updated,
    # escalated), and the events without an alert (resolved, acknowledged).
    events: list[MirrorAlert] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)  # each episode as an event left it
    # For the unit stage: each closed team-window's part, and the episode events that no
    # window close made (acknowledgements, resolutions by hand).
    parts: list[TeamWindowPart] = field(default_factory=list)
    loose_events: list[MirrorAlert] = field(default_factory=list)
    accepted_customer: list[CustomerFeedback] = field(default_factory=list)
    late: list[Inbound[Ref]] = field(default_factory=list)
    late_counts: list[LateEventCount] = field(default_factory=list)
    employee_comments: list[EmployeeComment] = field(default_factory=list)
    duplicates: list[Duplicate[Ref]] = field(default_factory=list)
    rejected: list[Rejected[Ref]] = field(default_factory=list)
    replayed: int = 0  # events skipped because the state already held them
    dirty_teams: set[str] = field(default_factory=set)
    dirty_partitions: set[int] = field(default_factory=set)

    def extend(self, other: EngineOutput[Ref]) -> None:
        self.closed += other.closed
        self.alerts += other.alerts
        self.events += other.events
        self.episodes += other.episodes
        self.parts += other.parts
        self.loose_events += other.loose_events
        self.accepted_customer += other.accepted_customer
        self.late += other.late
        self.late_counts += other.late_counts
        self.employee_comments += other.employee_comments
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.replayed += other.replayed
        self.dirty_teams |= other.dirty_teams
        self.dirty_partitions |= other.dirty_partitions


def _wall_ms() -> float:
    return time.time() * 1000.0


class MirrorEngine(Generic[Ref]):
    """Per-team event-time windows, watermark-driven close, detectors on close."""

    def __init__(
        self,
        config: EngineConfig,
        detectors: Sequence[Detector],
        wall_clock_ms: Callable[[], float] = _wall_ms,
    ) -> None:
        self.config = config
        self.detectors = list(detectors)
        self._wall_clock_ms = wall_clock_ms
        self.teams: dict[str, TeamState] = {}
        self.clocks: dict[int, PartitionClock] = {}

    # -- state -------------------------------------------------------------------------
    def load(self, teams: dict[str, TeamState], clocks: dict[int, PartitionClock]) -> None:
        """Replace the in-memory state (after a restart or a rebalance)."""
        self.teams = dict(teams)
        self.clocks = dict(clocks)

    def clock(self, partition: int) -> PartitionClock:
        clock = self.clocks.get(partition)
        if clock is None:
            clock = self.clocks[partition] = PartitionClock(created_wall_ms=self._wall_clock_ms())
        return clock

    def open_episodes(self) -> dict[str, int]:
        """Open episodes of the teams held, by severity."""
        counts: dict[str, int] = {}
        for team in self.teams.values():
            for episode in team.episodes.values():
                counts[episode.severity] = counts.get(episode.severity, 0) + 1
        return counts

    def open_window_count(self) -> int:
        return sum(len(team.open_windows) for team in self.teams.values())

    # -- the path ------------------------------------------------------------------------
    def process(self, batch: Iterable[Inbound[Ref]]) -> EngineOutput[Ref]:
        """Aggregate a batch, then close every window its watermarks passed."""
        out: EngineOutput[Ref] = EngineOutput()
        now = self._wall_clock_ms()
        late_counts: dict[tuple[str, int, str], int] = {}
        window_ms = self.config.window_ms
        lateness, idle = self.config.allowed_lateness_ms, self.config.idle_close_ms
        keys = self.config.identity_keys
        for item in batch:
            record = item.record
            if isinstance(record, EpisodeAction):
                self._act(item, record, out)
                continue
            is_customer = isinstance(record, CustomerFeedback)
            side = "customer" if is_customer else "employee"
            clock = self.clock(item.partition)
            start = window_start_for(record.occurred_at, window_ms)
            end = start + window_ms
            team = self.teams.get(record.team_id)
            position = item.position
            if position is not None:
                if team is not None and position <= team.applied.get(side, -1):
                    # Already in this team's state: read again after a crash or a rebalance,
                    # because its offset was not committed when the state was saved. It still
                    # moves the clock, exactly as it did the first time.
                    out.replayed += 1
                    if clock.observe(side, record.occurred_at, now):
                        clock.advance(now, lateness, idle, allow_idle=False)
                    out.dirty_partitions.add(item.partition)
                    continue
                if team is not None:
                    team.applied[side] = position
                    out.dirty_teams.add(record.team_id)
            event_key = keys.event(record.event_id)
            elsewhere = None if team is None else team.window_holding(event_key, besides=start)
            if elsewhere is not None:
                # The same event_id at another time: which one is right cannot be told, so the
                # one counted first stays and this one is set aside, with where the first is.
                out.rejected.append(
                    Rejected(
                        item,
                        f"duplicate event_id: already counted in the window starting at "
                        f"{elsewhere} (epoch ms); this copy is dated {record.occurred_at}",
                        "duplicate",
                    )
                )
                out.dirty_partitions.add(item.partition)
                continue
            if self._is_late(end, clock, team):
                if team is not None and event_key in team.closed_keys.get(start, ()):
                    out.duplicates.append(Duplicate(item, start, "event"))
                    out.dirty_partitions.add(item.partition)
                    continue
                out.late.append(item)
                key = (record.team_id, start, side)
                late_counts[key] = late_counts.get(key, 0) + 1
            else:
                if team is None:  # only a counted event makes a team known (not a late one)
                    team = self.teams[record.team_id] = TeamState(partition=item.partition)
                    if position is not None:
                        team.applied[side] = position
                aggregate = team.open_windows.get(start)
                if aggregate is None:
                    aggregate = team.open_windows[start] = WindowAggregate()
                outcome = aggregate.add(record, keys, event_key=event_key)
                out.dirty_teams.add(record.team_id)
                if outcome == "event":
                    # A copy says nothing new, not even about time: it leaves the clock alone,
                    # so re-sending records never changes which windows close when.
                    out.duplicates.append(Duplicate(item, start, outcome))
                    out.dirty_partitions.add(item.partition)
                    continue
                if outcome == "respondent":
                    out.duplicates.append(Duplicate(item, start, outcome))
                elif isinstance(record, CustomerFeedback):
                    out.accepted_customer.append(record)
                elif record.comment and self.config.store_employee_comments:
                    team.comments.setdefault(start, []).append(record.comment)
            if clock.observe(side, record.occurred_at, now):
                clock.advance(now, lateness, idle, allow_idle=False)
            out.dirty_partitions.add(item.partition)
        out.late_counts = [
            LateEventCount(team_id, window_start, side, events)
            for (team_id, window_start, side), events in late_counts.items()
        ]
        out.extend(self._close_ready())
        return out

    def tick(self, caught_up: Collection[int] | None = None) -> EngineOutput[Ref]:
        """Advance idle partitions with the wall clock and close what that makes ready.

        ``caught_up``: the partitions whose every source record has been processed (None: all).
        Only those can be idle; the others are waiting on us, not on their sources.
        """
        now = self._wall_clock_ms()
        for partition, clock in self.clocks.items():
            if caught_up is None or partition in caught_up:
                clock.advance(now, self.config.allowed_lateness_ms, self.config.idle_close_ms)
            else:
                clock.touch(now)
        out: EngineOutput[Ref] = self._close_ready()
        out.dirty_partitions |= set(self.clocks)
        return out

    def flush_all(self) -> EngineOutput[Ref]:
        """Close every open window regardless of watermarks (end of an offline replay)."""
        out: EngineOutput[Ref] = EngineOutput()
        for team_id, team in self.teams.items():
            for start in sorted(team.open_windows):
                self._close(team_id, team, start, out)
        return out

    # -- internals -----------------------------------------------------------------------
    def _testable(self, metrics: TeamWindowMetrics, history: list[TeamWindowMetrics]) -> bool:
        """Whether the detectors could have alerted on this window: enough customers, and a
        baseline on some side. A window they could not test says nothing about the team's
        problem, so it does not count toward resolving an episode (the data stopping, or a
        lasting shift whose baseline has aged out, are not "back to normal")."""
        detection = self.config.detection
        if metrics.customer.n < detection.min_customer_n:
            return False
        return any(
            baseline(history, side, detection) is not None for side in ("customer", "employee")
        )

    def _act(self, item: Inbound[Ref], action: EpisodeAction, out: EngineOutput[Ref]) -> None:
        """Apply an acknowledgement or a resolution by hand to the team's open episode."""
        out.dirty_partitions.add(item.partition)
        team = self.teams.get(action.team_id)
        position = item.position
        if team is not None and position is not None:
            if position <= team.applied.get(ACTIONS_SIDE, -1):
                out.replayed += 1  # applied before a crash; its outputs are out already
                return
            team.applied[ACTIONS_SIDE] = position
            out.dirty_teams.add(action.team_id)
        if team is None:
            out.rejected.append(
                Rejected(item, f"unknown team {action.team_id!r}: no episode to act on", "invalid")
            )
            return
        tracker = TeamEpisodes(action.team_id, self.config.episode_resolve_after, team.episodes)
        try:
            event = tracker.act(
                action.episode_id, action.action, action.actor, action.note, action.at
            )
        except (LookupError, ValueError) as e:
            reason = e.args[0] if e.args else str(e)
            out.rejected.append(Rejected(item, f"{reason} (already resolved?)", "invalid"))
            return
        record = event_record(event, None, int(self._wall_clock_ms()))
        out.events.append(record)
        out.loose_events.append(record)
        out.episodes.append(event.episode)

    @staticmethod
    def _is_late(window_end: int, clock: PartitionClock, team: TeamState | None) -> bool:
        if clock.watermark is not None and window_end <= clock.watermark:
            return True
        return (
            team is not None
            and team.closed_through is not None
            and window_end <= team.closed_through
        )

    def _close_ready(self) -> EngineOutput[Ref]:
        out: EngineOutput[Ref] = EngineOutput()
        for team_id, team in self.teams.items():
            if not (team.open_windows or team.closed_keys):
                continue
            watermark = self.clock(team.partition).watermark
            if watermark is None:
                continue
            team.forget_closed_keys(
                watermark - self.config.window_ms - self.config.allowed_lateness_ms
            )
            for start in sorted(team.open_windows):
                if start + self.config.window_ms > watermark:
                    break
                self._close(team_id, team, start, out)
        return out

    def _close(self, team_id: str, team: TeamState, start: int, out: EngineOutput[Ref]) -> None:
        """Close one window exactly once: metrics, detectors, history, state."""
        end = start + self.config.window_ms
        aggregate = team.open_windows.pop(start)
        if aggregate.event_keys:
            # Kept for the allowed lateness after the close: a copy re-sent meanwhile is
            # recognised as a duplicate rather than counted as a late event.
            team.closed_keys[start] = aggregate.event_keys
        metrics = compute_team_window(
            team_id, start, end, aggregate, k_anonymity=self.config.k_anonymity
        )
        comments = team.comments.pop(start, [])
        if metrics.employee is not None and metrics.employee.n >= max(
            EMPLOYEE_COMMENTS_MIN_RESPONDENTS, self.config.k_anonymity
        ):
            # Sorted, not in arrival order: nothing links a comment to when it was written.
            out.employee_comments.extend(
                EmployeeComment(team_id, start, end, text) for text in sorted(comments)
            )
        history = team.history
        alerts = [
            alert
            for detector in self.detectors
            for alert in detector.detect(metrics, history, self.config.detection)
        ]
        tracker = TeamEpisodes(team_id, self.config.episode_resolve_after, team.episodes)
        events = tracker.observe(start, end, alerts, testable=self._testable(metrics, history))
        episode_of = {e.alert_id: e.episode.episode_id for e in events if e.alert_id}
        created_at = int(self._wall_clock_ms())
        # Every alert belongs to its family's episode; of several in one family and window,
        # the most severe is the episode's event and the others ride along with its id.
        alerts = [
            dataclasses.replace(
                alert,
                episode_id=episode_of.get(alert.alert_id)
                or tracker.open[family_of(alert.kind)].episode_id,
            )
            for alert in alerts
        ]
        by_id = {alert.alert_id: alert for alert in alerts}
        records = []
        for event in events:
            alert = by_id.pop(event.alert_id, None) if event.alert_id else None
            records.append(event_record(event, alert, created_at))
            out.episodes.append(event.episode)
        # Another alert of a family in the same window: on the topic too, as an update.
        records.extend(dataclasses.replace(a, event="updated") for a in by_id.values())
        out.events.extend(records)
        marks = [
            EpisodeMark(e.episode.episode_id, e.episode.family, e.type, e.episode.severity)
            for e in events
        ]
        marked = {mark.episode_id for mark in marks}
        marks += [
            EpisodeMark(e.episode_id, e.family, "open", e.severity)
            for e in team.episodes.values()
            if e.episode_id not in marked
        ]
        out.parts.append(
            TeamWindowPart(
                team_id,
                start,
                end,
                customer=side_moments(metrics.customer),
                employee=employee_composites(aggregate, DEFAULT_INDEX_CONFIG.employee_weights, 1)
                or Moments(),
                episodes=tuple(marks),
                records=tuple(records),
            )
        )
        # The stored alerts carry their event too (opened, updated or escalated).
        out.alerts.extend(r for r in records if r.event in ("opened", "updated", "escalated"))
        if alerts:
            # Detectors read this back: a window that raised a change alert is not "quiet"
            # and stays out of the team's baseline (see streams.detectors.base.baseline).
            metrics = dataclasses.replace(metrics, alert_kinds=tuple(a.kind for a in alerts))
        # Baselines never look at tags: the history keeps the window without them.
        history.append(
            dataclasses.replace(metrics, customer_tags=()) if metrics.customer_tags else metrics
        )
        keep = max(self.config.history_windows, self.config.detection.history_windows + 1)
        del history[:-keep]
        team.closed_through = max(end, team.closed_through or end)
        out.closed.append(metrics)
        out.dirty_teams.add(team_id)


__all__ = [
    "Duplicate",
    "EngineConfig",
    "EngineOutput",
    "Inbound",
    "MirrorEngine",
    "Rejected",
]
