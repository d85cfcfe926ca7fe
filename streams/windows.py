"""Event-time tumbling windows per team, closed by each partition's watermark (pure, no I/O).

A window [start, start + size) of a team closes when the watermark of the team's partition
(max event time seen minus the allowed lateness) reaches its end. When a partition goes quiet,
its watermark also advances with the wall clock after ``idle_close_ms`` so that the last
windows of a quiet team still close. The wall-clock anchor is never persisted: after a
restart a partition starts "fresh", so a worker that was down does not mistake its own
downtime for idleness and close windows before it has read its backlog.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.aggregate import WindowAggregate
from streams.metrics import team_window_from_dict, team_window_to_dict
from streams.model import TeamWindowMetrics


def window_start_for(occurred_at: int, size_ms: int) -> int:
    """Start (inclusive, epoch ms) of the tumbling window that holds ``occurred_at``."""
    return occurred_at - occurred_at % size_ms


@dataclass(slots=True)
class PartitionClock:
    """Event-time progress of one source partition (both topics share it: co-partitioned)."""

    max_event_time: int | None = None
    watermark: int | None = None  # monotonic; never moves back
    last_event_wall_ms: float = 0.0  # not persisted, see module docstring

    def observe(self, occurred_at: int, lateness_ms: int, now_wall_ms: float) -> None:
        if self.max_event_time is None or occurred_at > self.max_event_time:
            self.max_event_time = occurred_at
            self._raise_watermark(occurred_at - lateness_ms)
        self.last_event_wall_ms = now_wall_ms

    def tick(self, now_wall_ms: float, idle_close_ms: int) -> None:
        """Advance an idle partition's watermark with the wall clock."""
        if self.watermark is None:
            return
        idle_for = now_wall_ms - self.last_event_wall_ms
        if idle_for > idle_close_ms:
            # Move by the idle time beyond the grace period, then re-anchor so the next tick
            # only adds what elapsed since this one.
            self._raise_watermark(self.watermark + int(idle_for - idle_close_ms))
            self.last_event_wall_ms = now_wall_ms - idle_close_ms

    def _raise_watermark(self, candidate: int) -> None:
        if self.watermark is None or candidate > self.watermark:
            self.watermark = candidate

    def to_dict(self) -> dict[str, Any]:
        return {"max_event_time": self.max_event_time, "watermark": self.watermark}

    @classmethod
    def from_dict(cls, data: dict[str, Any], now_wall_ms: float) -> PartitionClock:
        return cls(data.get("max_event_time"), data.get("watermark"), now_wall_ms)


@dataclass(slots=True)
class TeamState:
    """Everything the pipeline remembers about one team: open windows and closed history."""

    partition: int
    open_windows: dict[int, WindowAggregate] = field(default_factory=dict)
    closed_through: int | None = None  # end of the newest closed window: nothing before re-opens
    history: list[TeamWindowMetrics] = field(default_factory=list)  # oldest → newest

    def to_dict(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "open": {str(start): agg.to_dict() for start, agg in self.open_windows.items()},
            "closed_through": self.closed_through,
            "history": [team_window_to_dict(m) for m in self.history],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeamState:
        return cls(
            partition=int(data["partition"]),
            open_windows={
                int(start): WindowAggregate.from_dict(agg) for start, agg in data["open"].items()
            },
            closed_through=data.get("closed_through"),
            history=[team_window_from_dict(m) for m in data.get("history", [])],
        )
