"""Event-time tumbling windows per team, closed by each partition's watermark (pure, no I/O).

A window [start, start + size) of a team closes when the watermark of the team's partition
(max event time seen minus the allowed lateness) reaches its end. When a partition goes quiet,
its watermark also advances with the wall clock after ``idle_close_ms`` so that the last
windows of a quiet team still close. Wall-clock anchors are never persisted: after a restart
a partition starts "fresh", so a worker that was down does not mistake its own downtime for
idleness and close windows before it has read its backlog.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from streams.core.aggregate import WindowAggregate, pack_keys, unpack_keys
from streams.core.episodes import Episode
from streams.core.metrics import team_window_from_dict, team_window_to_dict
from streams.core.model import TeamWindowMetrics


def window_start_for(occurred_at: int, size_ms: int) -> int:
    """Start (inclusive, epoch ms) of the tumbling window that holds ``occurred_at``."""
    return occurred_at - occurred_at % size_ms


SIDES = ("customer", "employee")


@dataclass(slots=True)
class PartitionClock:
    """Event-time progress of one partition number, fed by both co-partitioned topics.

    Kafka delivers the two topics' partitions independently (Faust may hand over a chunk of
    one before the other), so each side keeps its own max event time and the watermark is the
    minimum over the *active* sides, minus the allowed lateness — the way stream processors
    combine inputs. A side that has sent nothing for ``idle_ms`` of wall-clock time stops
    holding the watermark back; when every side is idle the watermark moves on with the wall
    clock, so the last windows of a quiet partition still close.
    """

    max_event_time: dict[str, int] = field(default_factory=dict)  # side → max occurred_at
    watermark: int | None = None  # monotonic; never moves back
    # side → the next source offset to read: every record before it is in the saved state or
    # in the outputs. A restarted worker resumes here, not at the consumer group's committed
    # offset, which Faust can move past records it skipped during a rebalance
    # (see streams.runtime.resume).
    resume_offsets: dict[str, int] = field(default_factory=dict)
    last_seen_wall_ms: dict[str, float] = field(default_factory=dict)  # not persisted
    created_wall_ms: float = 0.0  # not persisted

    def observe(self, side: str, occurred_at: int, now_wall_ms: float) -> bool:
        """Record an event; return whether its side's max event time moved."""
        self.last_seen_wall_ms[side] = now_wall_ms
        previous = self.max_event_time.get(side)
        if previous is None or occurred_at > previous:
            self.max_event_time[side] = occurred_at
            return True
        return False

    def absorb(self, side: str, offset: int) -> None:
        """Record that the source record at ``offset`` of ``side`` has been handled."""
        if offset >= self.resume_offsets.get(side, 0):
            self.resume_offsets[side] = offset + 1

    def touch(self, now_wall_ms: float) -> None:
        """Count every side as just seen: this partition still has records waiting to be
        processed, so silence here is our own delay (back-pressure, a rebalance, a backlog),
        not the sources going quiet."""
        self.last_seen_wall_ms = dict.fromkeys(SIDES, now_wall_ms)

    def advance(
        self, now_wall_ms: float, lateness_ms: int, idle_ms: int, *, allow_idle: bool = True
    ) -> int | None:
        """Recompute the watermark from the sides' progress and idleness; return it.

        With ``allow_idle`` False every side counts as active (used while reading records:
        only the idle timer, which knows whether the partition is caught up, may declare a
        side idle).
        """
        if not allow_idle:
            # The path taken for every record read: both sides count, no idleness to weigh.
            customer = self.max_event_time.get("customer")
            employee = self.max_event_time.get("employee")
            if customer is None or employee is None:
                return self.watermark  # a side has not shown where it is yet
            candidate = (customer if customer < employee else employee) - lateness_ms
            if self.watermark is None or candidate > self.watermark:
                self.watermark = candidate
            return self.watermark
        active = [
            side
            for side in SIDES
            if now_wall_ms - self.last_seen_wall_ms.get(side, self.created_wall_ms) <= idle_ms
        ]
        if active:
            progress = [self.max_event_time.get(side) for side in active]
            if any(p is None for p in progress):
                return self.watermark  # an active side has not shown where it is yet
            candidate = min(p for p in progress if p is not None) - lateness_ms
        elif self.max_event_time:
            quiet_since = max(self.last_seen_wall_ms.values(), default=self.created_wall_ms)
            idle_beyond = int(now_wall_ms - quiet_since - idle_ms)
            candidate = max(self.max_event_time.values()) - lateness_ms + idle_beyond
        else:
            return self.watermark
        if self.watermark is None or candidate > self.watermark:
            self.watermark = candidate
        return self.watermark

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "max_event_time": dict(self.max_event_time),
            "watermark": self.watermark,
        }
        if self.resume_offsets:
            data["resume_offsets"] = dict(self.resume_offsets)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], now_wall_ms: float) -> PartitionClock:
        # Restored clocks start with every side "just seen": a worker that was down must not
        # mistake its downtime for idleness and close windows before reading its backlog.
        return cls(
            max_event_time={str(k): int(v) for k, v in (data.get("max_event_time") or {}).items()},
            watermark=data.get("watermark"),
            resume_offsets={
                str(side): int(offset)
                for side, offset in (data.get("resume_offsets") or {}).items()
            },
            last_seen_wall_ms=dict.fromkeys(SIDES, now_wall_ms),
            created_wall_ms=now_wall_ms,
        )


@dataclass(slots=True)
class TeamState:
    """Everything the pipeline remembers about one team: open windows and closed history."""

    partition: int
    open_windows: dict[int, WindowAggregate] = field(default_factory=dict)
    closed_through: int | None = None  # end of the newest closed window: nothing before re-opens
    history: list[TeamWindowMetrics] = field(default_factory=list)  # oldest → newest
    # Employee comments of open windows, held only when storing them is enabled; released at
    # close for windows with enough respondents, dropped otherwise.
    comments: dict[int, list[str]] = field(default_factory=dict)
    # Highest source offset applied to this state, per side (each side is one topic-partition,
    # since a team's key always lands on the same partition): replays below it are skipped.
    applied: dict[str, int] = field(default_factory=dict)
    # Event keys of recently closed windows (window start → keys), kept for the allowed
    # lateness after the close so that a copy re-sent meanwhile counts as a duplicate.
    closed_keys: dict[int, set[int]] = field(default_factory=dict)
    # The team's open episodes by family (streams.core.episodes): one problem, one page.
    episodes: dict[str, Episode] = field(default_factory=dict)

    def window_holding(self, event_key: int, *, besides: int) -> int | None:
        """Start of a window other than ``besides`` (open, or recently closed) that has
        counted the event with this key; None when there is none."""
        for start, aggregate in self.open_windows.items():
            if start != besides and aggregate.holds(event_key):
                return start
        for start, keys in self.closed_keys.items():
            if start != besides and event_key in keys:
                return start
        return None

    def forget_closed_keys(self, before: int) -> None:
        """Drop the keys of closed windows that started before ``before``."""
        for start in [s for s in self.closed_keys if s < before]:
            del self.closed_keys[start]

    def to_dict(self, *, whole: bool = True) -> dict[str, Any]:
        """JSON-safe. ``whole`` False leaves out the history and every event key, which
        streams.core.state_log writes apart, only when they change."""
        data: dict[str, Any] = {
            "partition": self.partition,
            "open": {
                str(start): agg.to_dict(with_keys=whole) for start, agg in self.open_windows.items()
            },
            "closed_through": self.closed_through,
        }
        if whole:
            data["history"] = self.history_to_list()
        if self.applied:
            data["applied"] = dict(self.applied)
        if self.comments:
            data["comments"] = {str(start): texts for start, texts in self.comments.items()}
        if whole and self.closed_keys:
            data["closed_keys"] = {
                str(start): pack_keys(keys) for start, keys in self.closed_keys.items()
            }
        if self.episodes:
            data["episodes"] = {family: asdict(e) for family, e in self.episodes.items()}
        return data

    def history_to_list(self) -> list[dict[str, Any]]:
        return [team_window_to_dict(m) for m in self.history]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeamState:
        return cls(
            partition=int(data["partition"]),
            open_windows={
                int(start): WindowAggregate.from_dict(agg) for start, agg in data["open"].items()
            },
            closed_through=data.get("closed_through"),
            history=[team_window_from_dict(m) for m in data.get("history", [])],
            applied={
                str(side): int(offset) for side, offset in (data.get("applied") or {}).items()
            },
            comments={
                int(start): list(texts) for start, texts in (data.get("comments") or {}).items()
            },
            closed_keys={
                int(start): unpack_keys(text)
                for start, text in (data.get("closed_keys") or {}).items()
            },
            episodes={
                str(family): Episode(**stored)
                for family, stored in (data.get("episodes") or {}).items()
            },
        )
