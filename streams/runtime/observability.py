"""Prometheus metrics of a worker, served at ``/metrics`` by the worker's web server."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from streams.core.episodes import family_of

if TYPE_CHECKING:
    import faust

    from streams.core.model import DeadLetter
    from streams.core.pipeline import PreparedBatch, RawMessage


class PipelineMetrics:
    """Counters and gauges of one worker process, in their own registry (no global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.consumed = Counter(
            "miroir_events_consumed", "Source records consumed.", ["topic"], registry=r
        )
        self.dead_letters = Counter(
            "miroir_dead_letters",
            "Records sent to the dead letters.",
            ["topic", "kind"],
            registry=r,
        )
        self.late = Counter(
            "miroir_late_events",
            "Events that arrived after their window closed.",
            ["side"],
            registry=r,
        )
        self.duplicates = Counter(
            "miroir_duplicate_events",
            "Events their window had already counted: the same event_id again (kind=event) or "
            "another pulse of a person who already answered (kind=respondent).",
            ["side", "kind"],
            registry=r,
        )
        self.alerts = Counter("miroir_alerts", "Alerts raised.", ["kind", "severity"], registry=r)
        self.episode_events = Counter(
            "miroir_episode_events",
            "Episode events on the alerts topic (opened, updated, escalated, resolved, "
            "acknowledged).",
            ["event", "family"],
            registry=r,
        )
        self.open_episodes = Gauge(
            "miroir_open_episodes",
            "Team episodes open right now, among the teams this worker holds.",
            ["severity"],
            registry=r,
        )
        self.incident_events = Counter(
            "miroir_incident_events",
            "Incident events of the unit stage (opened, updated, resolved), by unit level.",
            ["event", "level"],
            registry=r,
        )
        self.unit_windows = Counter(
            "miroir_unit_windows_closed", "Unit windows closed by the unit stage.", registry=r
        )
        self.pages = Counter(
            "miroir_pages", "Pages sent to the pages topic (what the webhooks deliver).", registry=r
        )
        self.windows_closed = Counter("miroir_windows_closed", "Team-windows closed.", registry=r)
        self.windows_open = Gauge("miroir_windows_open", "Team-windows open right now.", registry=r)
        self.lag = Gauge(
            "miroir_consumer_lag",
            "Records between the last one processed and the end of the partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.sink_seconds = Histogram(
            "miroir_sink_write_seconds",
            "ClickHouse batch write time.",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        latency_buckets = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30)
        self.close_to_store = Histogram(
            "miroir_window_close_to_store_seconds",
            "From a team-window's close (the batch or tick whose watermark passed its end was "
            "taken) to its metrics and alert rows being visible in ClickHouse; one per window.",
            registry=r,
            buckets=latency_buckets,
        )
        self.fetch_to_store = Histogram(
            "miroir_fetch_to_store_seconds",
            "From a batch's records being fetched to its rows being visible in ClickHouse; one "
            "per batch that wrote rows.",
            registry=r,
            buckets=latency_buckets,
        )
        self.sink_failures = Counter(
            "miroir_sink_failures", "ClickHouse writes that failed and were retried.", registry=r
        )
        self.skipped_records_read = Counter(
            "miroir_skipped_ranges_read",
            "Source ranges the Faust consumer skipped, read directly from Kafka instead.",
            registry=r,
        )
        self.sink_paused = Gauge(
            "miroir_sink_paused",
            "1 while consumption is paused because ClickHouse or the Schema Registry is "
            "unavailable.",
            registry=r,
        )
        self.schema_registry_failures = Counter(
            "miroir_schema_registry_failures",
            "Schema Registry requests that got no usable answer (unreachable, timeout, 5xx, "
            "401/403) and are asked again while the batch waits.",
            registry=r,
        )
        self.schema_registry_ids = Counter(
            "miroir_schema_registry_ids",
            "Schema ids the Schema Registry was asked about, by outcome: schema (cached for "
            "the life of the process) or unusable (its records are dead letters).",
            ["outcome"],
            registry=r,
        )
        self._positions: dict[tuple[str, int], int] = {}
        self._highwater: Callable[[str, int], int | None] | None = None

    # -- updates ---------------------------------------------------------------------------
    def observe_messages(self, messages: list[RawMessage]) -> None:
        counts = collections.Counter(message.topic for message in messages)
        highest: dict[tuple[str, int], int] = {}
        for message in messages:  # a partition's offsets may go back (gaps read again)
            key = (message.topic, message.partition)
            if message.offset > highest.get(key, -1):
                highest[key] = message.offset
        for key, offset in highest.items():
            if offset >= self._positions.get(key, -1):
                self._positions[key] = offset
        for topic, count in counts.items():
            self.consumed.labels(topic).inc(count)

    def observe_batch(
        self,
        prepared: PreparedBatch,
        open_windows: int,
        refused: Sequence[DeadLetter] = (),
        open_episodes: Mapping[str, int] | None = None,
    ) -> None:
        """Count what a durable batch produced; ``refused``: rows the store refused for good."""
        sink = prepared.sink
        for letter in (*sink.dead_letters, *refused):
            self.dead_letters.labels(letter.topic, letter.error_kind).inc()
        for event in sink.late_events:
            self.late.labels(event.side).inc()
        for duplicate in sink.duplicate_events:
            self.duplicates.labels(duplicate.side, duplicate.kind).inc()
        for alert in sink.alerts:
            self.alerts.labels(alert.kind, alert.severity).inc()
        for record in prepared.events:
            self.episode_events.labels(record.event, family_of(record.kind)).inc()
        if open_episodes is not None:
            for severity in ("info", "warning", "critical", *open_episodes):
                self.open_episodes.labels(severity).set(open_episodes.get(severity, 0))
        self.windows_closed.inc(len(sink.team_windows))
        self.windows_open.set(open_windows)

    def observe_stored(
        self, prepared: PreparedBatch, fetched_at: float | None, closed_at: float
    ) -> None:
        """A batch's rows are visible in ClickHouse now (monotonic times: ``fetched_at`` its
        records' fetch, None for a tick; ``closed_at`` when its windows closed)."""
        now = time.monotonic()
        if fetched_at is not None:
            self.fetch_to_store.observe(now - fetched_at)
        for _ in prepared.sink.team_windows:
            self.close_to_store.observe(now - closed_at)

    @contextmanager
    def timed_sink_write(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.sink_seconds.observe(time.perf_counter() - started)

    def follow_highwaters(self, highwater: Callable[[str, int], int | None]) -> None:
        """Where partitions end (asked at scrape time, so lag is current)."""
        self._highwater = highwater

    # -- exposition ------------------------------------------------------------------------
    def render(self) -> bytes:
        if self._highwater is not None:
            for (topic, partition), offset in self._positions.items():
                end = self._highwater(topic, partition)
                if end is not None and end >= 0:
                    self.lag.labels(topic, str(partition)).set(max(end - offset - 1, 0))
        return generate_latest(self.registry)


def register_metrics_page(app: faust.App, metrics: PipelineMetrics) -> None:
    """Serve the metrics at ``/metrics`` on the worker's web server."""
    from faust.web import Request, Response, View

    @app.page("/metrics")
    class MetricsView(View):
        async def get(self, request: Request) -> Response:
            body = metrics.render()
            return self.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    del MetricsView


def faust_highwater(app: faust.App) -> Callable[[str, int], int | None]:
    def highwater(topic: str, partition: int) -> int | None:
        from faust.types import TP

        try:
            value: Any = app.consumer.highwater(TP(topic, partition))
        except Exception:  # noqa: BLE001 - not assigned (any more): no lag to report
            return None
        return int(value) if value is not None else None

    return highwater
