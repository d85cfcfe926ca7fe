"""Offline replay: the worker's detection path over a file of events, without a broker.

Events are assigned to the partition Kafka's default partitioner would give their ``team_id``
(with ``MIROIR_TOPIC_PARTITIONS`` partitions), so each partition's watermark sees the same
events as in the worker, and the same engine, windows and detectors run. There is no wall
clock here: no partition ever goes idle, and the windows still open at the end of the file are
closed in order when it ends. Records are refused exactly as the worker refuses them: the
codec's checks, the size limit of one encoded record, and the time bounds (``streams.core.bounds``,
measured from the wall clock's now); duplicates and repeated respondents count once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from schemas.codec import DEFAULT_MAX_RECORD_BYTES, encode, record_from_json
from schemas.records import MirrorAlert, Signal
from streams.core.bounds import TimeBounds
from streams.core.engine import EngineConfig, EngineOutput, Inbound, MirrorEngine
from streams.core.episodes import Episode
from streams.core.incidents import Incident
from streams.core.model import TeamWindowMetrics
from streams.core.org import OrgChart
from streams.core.partitioning import partition_for
from streams.core.unit_stage import (
    END_OF_TIME,
    NO_PROGRESS,
    Heartbeat,
    LooseEvent,
    UnitInput,
    UnitOutput,
    UnitStage,
    UnitStageConfig,
)
from streams.core.units import TeamWindowPart, UnitWindow
from streams.detectors import Detector, load_detectors
from streams.errors import DecodeError
from streams.settings import Settings

DEFAULT_BATCH = 5_000

Progress = Callable[[int], None]  # called with the number of events read so far


@dataclass(slots=True)
class ReplayResult:
    alerts: list[MirrorAlert] = field(default_factory=list)
    windows: list[TeamWindowMetrics] = field(default_factory=list)
    events: int = 0
    late: int = 0
    duplicates: int = 0  # events their window had already counted (event or respondent)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (event number, reason)
    # What the worker would publish on the alerts topic (episode events), and each episode in
    # its last state, by id.
    topic_records: list[MirrorAlert] = field(default_factory=list)
    episodes: dict[str, Episode] = field(default_factory=dict)
    # The unit stage over the same run: unit windows, incidents (latest state by id), the
    # incident records of the alerts topic, and the pages the webhooks would get.
    unit_windows: list[UnitWindow] = field(default_factory=list)
    incidents: dict[str, Incident] = field(default_factory=dict)
    pages: list[MirrorAlert] = field(default_factory=list)
    _positions: int = 0
    chart: OrgChart = field(default_factory=OrgChart)
    pending_parts: list[TeamWindowPart] = field(default_factory=list)
    pending_loose: list[LooseEvent] = field(default_factory=list)

    def absorb_units(self, out: UnitOutput) -> None:
        self.unit_windows.extend(out.windows)
        self.incidents.update((i.incident_id, i) for i in out.incidents)
        self.topic_records.extend(out.records)
        self.pages.extend(out.pages)

    def absorb(self, out: EngineOutput[int]) -> None:
        self.pending_parts.extend(out.parts)
        self.pending_loose.extend(LooseEvent(r) for r in out.loose_events)
        self.alerts.extend(out.alerts)
        self.topic_records.extend(out.events)
        self.episodes.update((episode.episode_id, episode) for episode in out.episodes)
        self.windows.extend(out.closed)
        self.late += len(out.late)
        self.duplicates += len(out.duplicates)
        if out.rejected:
            self.invalid.extend((rejected.item.ref, rejected.reason) for rejected in out.rejected)
            self.invalid.sort()  # by event number, like the ones refused while reading


def replay(
    events: Iterable[tuple[str, dict[str, object]]],
    settings: Settings,
    *,
    detectors: Sequence[Detector] | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    org: OrgChart | None = None,
) -> ReplayResult:
    """Run ``events`` — (topic, Avro-JSON value) pairs in stream order — through the engine,
    and its closed team-windows through the unit stage (``org``: the organisation; None: every
    team unassigned)."""
    detectors = list(detectors) if detectors is not None else load_detectors(settings.detectors)
    engine: MirrorEngine[int] = MirrorEngine(
        EngineConfig.from_settings(settings),
        detectors,
        wall_clock_ms=lambda: 0.0,  # offline: nothing is ever idle
    )
    units = UnitStage(UnitStageConfig.from_settings(settings), detectors)
    partitions = settings.topic_partitions
    bounds = TimeBounds.from_settings(settings)
    now_ms = int(time.time() * 1000)
    result = ReplayResult(chart=org or OrgChart())
    batch: list[Inbound[int]] = []
    for number, (topic, value) in enumerate(events, start=1):
        result.events = number
        try:
            record = decode_event(topic, value)
            bounds.check(record.occurred_at, now_ms)
        except DecodeError as e:
            result.invalid.append((number, e.reason))
            continue
        batch.append(Inbound(partition_for(record.team_id, partitions), record, number))
        if len(batch) >= batch_size:
            result.absorb(engine.process(batch))
            _feed_units(units, engine, result)
            batch = []
            if progress:
                progress(number)
    result.absorb(engine.process(batch))
    result.absorb(engine.flush_all())
    _feed_units(units, engine, result, final=True)
    if progress:
        progress(result.events)
    return result


def _feed_units(
    units: UnitStage, engine: MirrorEngine[int], result: ReplayResult, *, final: bool = False
) -> None:
    """Hand the unit stage what the worker would send it after a batch: the parts and loose
    events, then each partition's heartbeat (the end of time after the last batch)."""
    inputs: list[UnitInput] = [*result.pending_parts, *result.pending_loose]
    result.pending_parts.clear()
    result.pending_loose.clear()
    for partition in range(units.config.partitions):
        clock = engine.clocks.get(partition)
        watermark = None if clock is None else clock.watermark
        if final:
            watermark = END_OF_TIME
        elif watermark is None:
            # Offline, a partition without records so far may still get some later in the
            # file: it holds the unit windows back (the worker knows when one never will).
            watermark = NO_PROGRESS
        inputs.append(Heartbeat(partition, watermark))
    numbered = []
    for item in inputs:
        result._positions += 1
        numbered.append((result._positions, item))
    result.absorb_units(units.process(numbered, result.chart))


def decode_event(topic: str, value: dict[str, object]) -> Signal:
    """The record of one event of a file, checked as the worker's codec checks a message (its
    fields, then the size limit of one encoded record); DecodeError otherwise. Shared with
    ``miroir backfill --file``."""
    record = record_from_json(topic, value)
    _check_size(record)
    return record


def _check_size(record: Signal) -> None:
    """The worker's codec refuses messages over its size limit; so does replay."""
    size = len(encode(record))
    if size > DEFAULT_MAX_RECORD_BYTES:
        raise DecodeError(
            f"the record is {size} bytes encoded, over the {DEFAULT_MAX_RECORD_BYTES}-byte limit",
            "oversize",
        )
