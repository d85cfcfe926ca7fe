"""Backfill: the live worker's detection over history — the source topics (or a file) from an
event time on — at full speed, written to ClickHouse under a run id (docs/backfill.md).

What it reads: ``streams.tools.history`` — the topics from the offsets of ``--from`` to the ends
they had at the start, partitions assigned directly (no consumer group: nothing joined or
committed, so the live worker's group is never disturbed; client id
``{app_id}-backfill-{run_id}``), merged in an order that depends only on the data; or a file.

What it computes: the worker's own path — the codec, the time bounds, the engine
(``streams.core.engine``: windows, watermarks, detectors, episodes), then the unit stage
(``streams.core.unit_stage``) over the organisation on the teams topic (or ``--org``). Events
dated before ``--from`` (aligned down to a window start, so the first window is whole) are read
only for the warm-up: ``--warm-up`` windows before it (by default as many as a team's history
keeps) rebuild each team's baselines, episodes and control charts as the live worker had them,
and write nothing. There is no wall clock: a window closes when its partition's watermark passes it,
exactly as in the worker. At the end of the input each partition's watermark moves to where the
worker's idle rule puts a caught-up partition (its latest event time minus the allowed
lateness), so the backfill closes the windows the live worker has closed and leaves open those
it still holds open, which have no complete data yet (``miroir replay`` closes them: a file has
nothing after it). With ``--to`` (aligned down too) each partition is read until its watermark
passes it; the windows ending by then are closed and written, nothing after them.

What it writes, only with ``--to-store``: the engine's and the unit stage's rows (alerts,
team-window metrics and their per-tag rows, episodes, unit windows, incidents) with the run id
in their ``run_id`` column, the organisation to ``teams``, and the run's state in
``backfill_runs`` (running, then done, failed or stopped, with its counts). Raw rows (customer
feedback, late and duplicate events, dead letters) are the live worker's: records that cannot be
used are counted and reported, never sent to the dead-letter topic. Inserts are deduplicated by
``backfill:{run_id}:{seq}:{digest of the rows}``, written every ``FLUSH_ROWS`` rows (a count,
never a time), so a rerun of the same history writes nothing twice, and a batch whose rows
changed is a new token. A stopped run drops what it had not written yet: its batches are a
prefix of a whole run's. The run id is derived from the source, the range, the detectors and
the detection settings, unless ``--run-id`` gives one. Only with ``--publish`` do the alerts
topic's records (episode and incident events) go to the live alerts topic, skipping those
already there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Final, TextIO

from schemas.codec import SignalCodec, encode_alert, load_writer_schemas
from schemas.records import CUSTOMER_FEEDBACK_TOPIC, EMPLOYEE_PULSE_TOPIC, MirrorAlert
from streams.core.bounds import TimeBounds
from streams.core.engine import EngineConfig, EngineOutput, Inbound, MirrorEngine
from streams.core.episodes import Episode
from streams.core.incidents import Incident
from streams.core.model import BackfillRun, SinkBatch, TeamWindowMetrics
from streams.core.org import OrgChart
from streams.core.redact import printable
from streams.core.unit_stage import (
    NO_PROGRESS,
    Heartbeat,
    LooseEvent,
    UnitInput,
    UnitOutput,
    UnitStage,
    UnitStageConfig,
)
from streams.core.units import UnitWindow
from streams.detectors import Detector, load_detectors
from streams.errors import BrokerError, ConfigError, DecodeError
from streams.kafka_config import KafkaConnection
from streams.settings import Settings
from streams.tools.history import FileHistory, History, KafkaHistory, SourceItem
from streams.tools.progress import progress_line

__all__ = [
    "BackfillOptions",
    "BackfillPlan",
    "BackfillRunner",
    "Outputs",
    "ProgressReporter",
    "align_down",
    "client_id_for",
    "default_warm_up",
    "detection_fingerprint",
    "parse_time",
    "plan_backfill",
    "progress_bar",
    "run_backfill",
    "run_id_for",
]

DEFAULT_BROKER_WAIT_SECONDS: Final = 10.0
DEFAULT_PROGRESS_EVERY: Final = 10.0  # seconds between plain progress lines (no terminal)
TTY_REDRAW_SECONDS: Final = 0.2  # at most this often the bar is redrawn on a terminal
BAR_WIDTH: Final = 24
PROGRESS_ITEMS: Final = 1_000  # records between two looks at the progress clock
FLUSH_ROWS: Final = 10_000  # rows waiting before they are written: a count, so runs agree
EXIT_STOPPED: Final = {signal.SIGINT: 130, signal.SIGTERM: 143}
RUN_ID_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_ISO_HELP: Final = (
    "give an ISO 8601 date (2026-01-01) or date and time (2026-01-01T06:00:00Z); "
    "a time without an offset is UTC"
)


# -- the request: pure ------------------------------------------------------------------------
def parse_time(text: str, flag: str) -> int:
    """Epoch ms of a ``--from``/``--to`` value; ConfigError naming the flag otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a date or time: {_ISO_HELP}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return int(moment.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):
        raise ConfigError(f"{flag} {text!r} is out of range: {_ISO_HELP}") from None


def align_down(time_ms: int, window_ms: int) -> int:
    """The start of the window holding ``time_ms`` (windows are aligned on the epoch)."""
    return time_ms - time_ms % window_ms


def iso(time_ms: int) -> str:
    """``2026-01-01T00:00:00Z`` (to the second; milliseconds when there are any)."""
    moment = datetime.fromtimestamp(time_ms / 1000, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if time_ms % 1000:
        text += f".{time_ms % 1000:03d}"
    return text + "Z"


def detection_fingerprint(settings: Settings) -> str:
    """What, besides the source, the range and the detectors, decides a run's rows: window,
    lateness, k, every detection threshold, episodes, incidents, the partition count of a file
    and Miroir's version. Never the HMAC secret (it changes no row a backfill writes)."""
    engine = EngineConfig.from_settings(settings)
    units = UnitStageConfig.from_settings(settings)
    parts = {
        "window_ms": engine.window_ms,
        "allowed_lateness_ms": engine.allowed_lateness_ms,
        "k_anonymity": engine.k_anonymity,
        "detection": dataclasses.asdict(engine.detection),
        "history_windows": engine.history_windows,
        "episode_resolve_after": engine.episode_resolve_after,
        "incident": dataclasses.asdict(units.incident),
        "incident_span_windows": units.incident_span_windows,
        "index_version": units.index_version,
        "topic_partitions": settings.topic_partitions,
        "miroir": _miroir_version(),
    }
    return json.dumps(parts, sort_keys=True, default=str)


def run_id_for(
    source: str,
    from_ms: int,
    to_ms: int | None,
    detectors: Sequence[str],
    fingerprint: str,
    warm_up: int = 0,
) -> str:
    """``bf-`` and 16 hex digits of a hash of everything that decides the run's rows: the same
    request gives the same id, so a rerun replaces (and deduplicates) its own rows."""
    key = "\x1f".join(
        (
            "miroir.backfill.v1",
            source,
            str(from_ms),
            "" if to_ms is None else str(to_ms),
            ",".join(detectors),
            fingerprint,
            str(warm_up),
        )
    )
    return "bf-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def client_id_for(app_id: str, run_id: str) -> str:
    """The Kafka client id of a run's reader (no consumer group: see the module doc)."""
    return f"{app_id}-backfill-{run_id}"


@dataclass(frozen=True, slots=True)
class BackfillOptions:
    """The command line of ``miroir backfill``, as given (``streams.cli``)."""

    from_text: str
    to_text: str | None = None
    file: str | None = None
    org: str | None = None
    to_store: bool = False
    publish: bool = False
    run_id: str | None = None
    json: bool = False
    progress_every: float = DEFAULT_PROGRESS_EVERY
    warm_up: int | None = None  # windows read before --from; None: default_warm_up()


@dataclass(frozen=True, slots=True)
class BackfillPlan:
    """A checked request: the aligned range, the source, the detectors and the run id.

    Events are read from ``reads_from`` (the warm-up windows before ``from_ms``, which rebuild
    each team's history); rows are written for the windows from ``from_ms`` on."""

    from_ms: int
    to_ms: int | None
    reads_from: int
    source: str  # "kafka:<customer topic>,<employee topic>" or "file:<absolute path>"
    detectors: tuple[str, ...]
    run_id: str
    notes: tuple[str, ...] = ()  # what was adjusted, for the user


def default_warm_up(settings: Settings) -> int:
    """The windows of history a team's state keeps (what its baselines, gap runs and control
    chart look back over): read that many before ``--from`` and each team enters the range with
    the history the live worker had."""
    engine = EngineConfig.from_settings(settings)
    return max(engine.history_windows, engine.detection.history_windows + 1)


def plan_backfill(settings: Settings, options: BackfillOptions, now_ms: int) -> BackfillPlan:
    """Check and complete a request (no I/O): ConfigError for a bad time or range, an option
    that needs another, or a bad run id."""
    window_ms, lateness_ms = settings.window_ms, settings.allowed_lateness_ms
    notes: list[str] = []
    given_from = parse_time(options.from_text, "--from")
    from_ms = align_down(given_from, window_ms)
    if from_ms != given_from:
        notes.append(f"--from aligned down to the start of its window: {iso(from_ms)}")
    if from_ms > now_ms:
        raise ConfigError(f"--from {options.from_text!r} is in the future: nothing to backfill")
    to_ms = None
    if options.to_text is not None:
        given_to = parse_time(options.to_text, "--to")
        if given_to <= given_from:
            raise ConfigError(f"--to {options.to_text!r} is not after --from {options.from_text!r}")
        to_ms = align_down(given_to, window_ms)
        if to_ms <= from_ms:
            raise ConfigError(
                f"--to {options.to_text!r} ends inside the window --from starts "
                f"({iso(from_ms)}, windows of {window_ms / 1000:g} s): no window would be whole"
            )
        if to_ms != given_to:
            notes.append(f"--to aligned down to the end of the last whole window: {iso(to_ms)}")
        if to_ms > now_ms - lateness_ms:
            raise ConfigError(
                f"--to {options.to_text!r} is not yet complete: events dated up to "
                f"MIROIR_ALLOWED_LATENESS_SECONDS ({lateness_ms / 1000:g} s) before now may "
                "still arrive. Give an earlier --to, or leave it out to read to the end of the "
                "topics (the windows still open are then left to the live worker)"
            )
    if options.publish and not settings.kafka_bootstrap:
        raise ConfigError(
            "--publish sends to the live alerts topic: it needs MIROIR_KAFKA_BOOTSTRAP"
        )
    if options.org and not options.file:
        raise ConfigError(
            "--org places the teams of a --file; from Kafka the organisation is read from the "
            "teams topic (MIROIR_TOPIC_TEAMS)"
        )
    warm_up = default_warm_up(settings) if options.warm_up is None else options.warm_up
    if warm_up < 0:
        raise ConfigError(f"--warm-up must be 0 or more windows, got {warm_up}")
    read_from_ms = from_ms - warm_up * window_ms
    oldest = now_ms - int(settings.max_age_days * 86_400_000)
    if read_from_ms < oldest:
        notes.append(
            f"events dated before {iso(oldest)} are refused (MIROIR_MAX_AGE_DAYS="
            f"{settings.max_age_days:g}): raise it to backfill older history"
        )
    if options.file:
        source = f"file:{Path(options.file).resolve()}"
    else:
        source = f"kafka:{settings.topic_customer},{settings.topic_employee}"
    detectors = tuple(settings.detectors)
    if options.run_id is not None:
        if not re.fullmatch(RUN_ID_PATTERN, options.run_id):
            raise ConfigError(
                f"--run-id {options.run_id!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        run_id = options.run_id
    else:
        fingerprint = detection_fingerprint(settings)
        run_id = run_id_for(source, from_ms, to_ms, detectors, fingerprint, warm_up)
    return BackfillPlan(from_ms, to_ms, read_from_ms, source, detectors, run_id, tuple(notes))


# -- progress ---------------------------------------------------------------------------------
def progress_bar(done: int, total: int, started: float, width: int = BAR_WIDTH) -> str:
    """``[#####-----] backfill: done/total events (pct), rate/s, ETA`` (``started``:
    ``time.monotonic()`` at the start; total 0: unknown, no bar)."""
    text = progress_line("backfill", done, total, started)
    if total <= 0:
        return text
    filled = min(width, width * done // total)
    return f"[{'#' * filled}{'-' * (width - filled)}] {text}"


class ProgressReporter:
    """The bar, redrawn in place on a terminal; elsewhere (a log, a pipe) a plain line every
    ``every`` seconds, so a long run is still seen to move."""

    def __init__(
        self,
        stream: TextIO,
        total: int,
        *,
        live: bool,
        every: float = DEFAULT_PROGRESS_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.total = total
        self.live = live
        self.every = every
        self._clock = clock
        self.started = clock()
        self._shown_at = self.started
        self._drawn = False

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        now = self._clock()
        if now - self._shown_at < (TTY_REDRAW_SECONDS if self.live else self.every):
            return
        self._shown_at = now
        self._show(done)

    def finish(self, done: int) -> None:
        """The last state, always shown; on a terminal the bar's line is then ended."""
        self._show(done, final=True)
        if self.live and self._drawn:
            print(file=self.stream, flush=True)

    def _show(self, done: int, *, final: bool = False) -> None:
        total = max(self.total, done) if final and self.total > 0 else self.total
        if self.live:
            # \r and erase-to-end: the bar shrinks as the ETA does.
            line = progress_bar(done, total, self.started)
            print(f"\r{line}\x1b[K", end="", file=self.stream, flush=True)
            self._drawn = True
        else:
            print(
                progress_line("backfill", done, total, self.started), file=self.stream, flush=True
            )


# -- the run: the worker's engine and unit stage ----------------------------------------------
@dataclass(slots=True)
class Outputs:
    """Rows waiting to be written (and records waiting to be published)."""

    alerts: list[MirrorAlert] = field(default_factory=list)
    team_windows: list[TeamWindowMetrics] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    unit_windows: list[UnitWindow] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    records: list[MirrorAlert] = field(default_factory=list)  # the alerts topic's

    def rows(self) -> int:
        return (
            len(self.alerts)
            + len(self.team_windows)
            + len(self.episodes)
            + len(self.unit_windows)
            + len(self.incidents)
        )

    def take(self) -> Outputs:
        taken = Outputs(
            self.alerts,
            self.team_windows,
            self.episodes,
            self.unit_windows,
            self.incidents,
            self.records,
        )
        self.alerts, self.team_windows, self.episodes = [], [], []
        self.unit_windows, self.incidents, self.records = [], [], []
        return taken

    def digest(self) -> str:
        """A hash of every row (an alert's wall-clock ``created_at`` left out): the same rows,
        the same digest, whatever run computed them."""
        hasher = hashlib.sha256()
        rows: Iterable[object] = (
            *(dataclasses.replace(a, created_at=0) for a in self.alerts),
            *self.team_windows,
            *self.episodes,
            *self.unit_windows,
            *self.incidents,
        )
        for row in rows:
            hasher.update(repr(row).encode("utf-8"))
            hasher.update(b"\x1e")
        return hasher.hexdigest()[:16]


@dataclass(slots=True)
class Counts:
    """What the run saw and made, for the summary and the ``backfill_runs`` row."""

    events: int = 0  # records given to the run (those of partitions past --to are not)
    before_from: int = 0
    late: int = 0
    duplicates: int = 0
    invalid: Counter[str] = field(default_factory=Counter)  # by kind
    invalid_examples: list[str] = field(default_factory=list)
    alerts: Counter[str] = field(default_factory=Counter)  # by kind
    windows: int = 0
    episodes: set[str] = field(default_factory=set)
    unit_windows: int = 0
    incidents: set[str] = field(default_factory=set)
    written_alerts: int = 0
    written_windows: int = 0
    refused_rows: int = 0  # rows ClickHouse refused for good (stored in dead_letters)


class BackfillRunner:
    """The engine and the unit stage over one history (pure: fed items, gives outputs)."""

    def __init__(
        self,
        settings: Settings,
        plan: BackfillPlan,
        detectors: Sequence[Detector],
        partitions: int,
        chart: OrgChart,
        wall_ms: int,
    ) -> None:
        self.plan = plan
        # The wall clock only stamps the alerts' created_at: constant, so nothing is ever idle
        # and the same history closes the same windows (see settle()).
        self.engine: MirrorEngine[str] = MirrorEngine(
            EngineConfig.from_settings(settings), detectors, wall_clock_ms=lambda: float(wall_ms)
        )
        config = dataclasses.replace(UnitStageConfig.from_settings(settings), partitions=partitions)
        self.units = UnitStage(config, detectors)
        self.partitions = partitions
        self.chart = chart
        self.bounds = TimeBounds.from_settings(settings)
        self.batch_size = settings.batch_size
        self.now_ms = wall_ms
        self.counts = Counts()
        self.outputs = Outputs()
        self._batch: list[Inbound[str]] = []
        self._unit_position = 0
        self._passed: set[int] = set()  # partitions whose watermark passed --to

    def add(self, item: SourceItem) -> bool:
        """Take one item; True when a batch is full (call ``process``)."""
        counts = self.counts
        counts.events += 1
        record = item.record
        if isinstance(record, DecodeError):
            self._refuse(item.ref, record)
            return False
        try:
            self.bounds.check(record.occurred_at, self.now_ms)
        except DecodeError as e:
            self._refuse(item.ref, e)
            return False
        if record.occurred_at < self.plan.reads_from:
            counts.before_from += 1
            return False
        self._batch.append(Inbound(item.partition, record, item.ref))
        return len(self._batch) >= self.batch_size

    def announce_empty(self, partitions: Iterable[int]) -> None:
        """Partitions with nothing to read say so at once (as the worker's idle timer does for
        a caught-up partition without records), so the unit stage does not wait for them."""
        inputs = [(self._next_position(), Heartbeat(p, None)) for p in sorted(partitions)]
        if inputs:
            self._absorb_units(self.units.process(inputs, self.chart))

    def process(self) -> list[int]:
        """Run the batch through the engine and the unit stage; return the partitions whose
        watermark has just passed ``--to`` (read no more of them)."""
        batch, self._batch = self._batch, []
        out = self.engine.process(batch)
        self._collect(out, out.dirty_partitions)
        to_ms = self.plan.to_ms
        if to_ms is None:
            return []
        passed = [
            partition
            for partition, clock in self.engine.clocks.items()
            if partition not in self._passed
            and clock.watermark is not None
            and clock.watermark >= to_ms
        ]
        self._passed.update(passed)
        return passed

    def settle(self) -> None:
        """The end of the input: every partition's watermark moves to where the worker's idle
        rule puts a caught-up partition (its latest event time minus the allowed lateness), or
        to ``--to``; the windows it passes close. Partitions that never held a record say so,
        as the worker's idle timer does, so the unit stage does not wait for them."""
        if self._batch:
            self.process()
        lateness = self.engine.config.allowed_lateness_ms
        for clock in self.engine.clocks.values():
            if self.plan.to_ms is not None:
                target: int | None = self.plan.to_ms
            elif clock.max_event_time:
                target = max(clock.max_event_time.values()) - lateness
            else:
                target = None
            if target is not None and (clock.watermark is None or target > clock.watermark):
                clock.watermark = target  # monotonic, as PartitionClock.advance keeps it
        # Nothing counts as idle by the wall clock (caught_up empty): only the watermarks set
        # above close windows.
        out = self.engine.tick(caught_up=())
        self._collect(out, set(range(self.partitions)))

    def open_windows(self) -> int:
        return self.engine.open_window_count()

    def _refuse(self, ref: str, error: DecodeError) -> None:
        self.counts.invalid[error.kind] += 1
        if len(self.counts.invalid_examples) < 10:
            # A topic/partition@offset and a reason that may quote the record: escaped.
            self.counts.invalid_examples.append(printable(f"{ref}: {error.reason}"))

    def _collect(self, out: EngineOutput[str], partitions: Iterable[int]) -> None:
        from_ms, to_ms = self.plan.from_ms, self.plan.to_ms
        counts, outputs = self.counts, self.outputs
        counts.late += len(out.late)
        counts.duplicates += len(out.duplicates)
        for rejected in out.rejected:
            self._refuse(rejected.item.ref, DecodeError(rejected.reason, rejected.kind))
        closed, alerts, episodes = out.closed, out.alerts, out.episodes
        records, parts = out.events, out.parts
        if self.plan.reads_from < from_ms:
            # Warm-up windows rebuild the teams' histories (and the unit stage's: every part
            # goes there); their own rows are not the run's to write.
            closed = [m for m in closed if m.window_start >= from_ms]
            alerts = [a for a in alerts if a.window_start >= from_ms]
            episodes = [e for e in episodes if e.last_window_end > from_ms]
            records = [r for r in records if r.window_start >= from_ms]
        if to_ms is not None:
            # A batch that carried a watermark past --to may have closed windows after it.
            closed = [m for m in closed if m.window_end <= to_ms]
            alerts = [a for a in alerts if a.window_end <= to_ms]
            episodes = [e for e in episodes if e.last_window_end <= to_ms]
            records = [r for r in records if r.window_end <= to_ms]
            parts = [p for p in parts if p.window_end <= to_ms]
        outputs.team_windows += closed
        outputs.alerts += alerts
        outputs.episodes += episodes
        outputs.records += records
        counts.windows += len(closed)
        counts.alerts.update(a.kind for a in alerts)
        counts.episodes.update(e.episode_id for e in episodes)
        inputs: list[UnitInput] = [*parts, *(LooseEvent(r) for r in out.loose_events)]
        for partition in sorted(partitions):
            clock = self.engine.clocks.get(partition)
            if clock is None:
                inputs.append(Heartbeat(partition, None))  # it never held a record
                continue
            watermark = NO_PROGRESS if clock.watermark is None else clock.watermark
            if to_ms is not None and watermark > to_ms:
                watermark = to_ms
            inputs.append(Heartbeat(partition, watermark))
        numbered = [(self._next_position(), item) for item in inputs]
        self._absorb_units(self.units.process(numbered, self.chart))

    def _next_position(self) -> int:
        self._unit_position += 1
        return self._unit_position

    def _absorb_units(self, unit_out: UnitOutput) -> None:
        outputs, counts = self.outputs, self.counts
        from_ms = self.plan.from_ms
        windows = [w for w in unit_out.windows if w.metrics.window_start >= from_ms]
        incidents = [i for i in unit_out.incidents if i.last_window_end > from_ms]
        outputs.unit_windows += windows
        outputs.incidents += incidents
        outputs.records += [r for r in unit_out.records if r.window_start >= from_ms]
        counts.unit_windows += len(windows)
        counts.incidents.update(i.incident_id for i in incidents)


# -- output: the store, the alerts topic ------------------------------------------------------
class RunStore:
    """Writes a run's rows (deterministic tokens) and its ``backfill_runs`` row."""

    def __init__(self, sink: Any, run: BackfillRunner, started_at: int) -> None:
        self.sink = sink
        self.run = run
        self.started_at = started_at
        self._sequence = 0

    def record(self, state: str, note: str = "") -> None:
        """The run's row in ``backfill_runs`` (its latest state wins). Each state of each
        attempt is its own insert: a rerun that stops must not be hidden by an earlier done."""
        run, counts = self.run, self.run.counts
        finished = None if state == "running" else int(time.time() * 1000)
        row = BackfillRun(
            run_id=run.plan.run_id,
            state=state,
            started_at=self.started_at,
            finished_at=finished,
            from_ms=run.plan.from_ms,
            to_ms=run.plan.to_ms,
            source=run.plan.source,
            detectors=run.plan.detectors,
            events=counts.events,
            alerts=counts.written_alerts,
            windows=counts.written_windows,
            note=note[:1000],
        )
        token = f"backfill:{run.plan.run_id}:run:{self.started_at}:{state}"
        self.sink.write(SinkBatch(token=token, run_id=run.plan.run_id, backfill_runs=[row]))

    def write_teams(self, chart: OrgChart) -> None:
        """The organisation the run placed teams in (BI tools name teams and units from it)."""
        if not chart.teams:
            return
        teams = sorted(chart.teams.items())
        digest = hashlib.sha256(repr(teams).encode("utf-8")).hexdigest()[:16]
        token = f"backfill:{self.run.plan.run_id}:teams:{digest}"
        self.sink.write(SinkBatch(token=token, teams=[(team_id, info) for team_id, info in teams]))

    def write(self, outputs: Outputs) -> None:
        if not outputs.rows():
            return
        run_id = self.run.plan.run_id
        batch = SinkBatch(
            token=f"backfill:{run_id}:{self._sequence}:{outputs.digest()}",
            run_id=run_id,
            alerts=outputs.alerts,
            team_windows=outputs.team_windows,
            episodes=outputs.episodes,
            unit_windows=outputs.unit_windows,
            incidents=outputs.incidents,
        )
        self._sequence += 1
        # Rows the store refused for good are stored as dead letters by the sink itself.
        self.run.counts.refused_rows += len(self.sink.write(batch))
        self.run.counts.written_alerts += len(outputs.alerts)
        self.run.counts.written_windows += len(outputs.team_windows)


class AlertPublisher:
    """Sends the alerts topic's records to the live alerts topic (``--publish``), skipping the
    ones already there (``streams.runtime.emitted``): a rerun publishes nothing twice."""

    def __init__(self, kafka: KafkaConnection, topic: str, partitions: int) -> None:
        from kafka import KafkaProducer

        from streams.runtime.emitted import EmittedAlerts

        self.topic = topic
        self.sent = 0
        self.emitted = EmittedAlerts(kafka, topic, partitions)
        self.emitted.load(range(partitions))
        self._producer = KafkaProducer(**kafka.client_options(), acks="all", linger_ms=20)

    def publish(self, records: Sequence[MirrorAlert]) -> None:
        futures = []
        for record in records:
            key = record.team_id or record.unit_id or ""
            if self.emitted.seen(key, record.alert_id):
                continue
            futures.append(
                self._producer.send(self.topic, key=key.encode("utf-8"), value=encode_alert(record))
            )
            self.emitted.add(key, record.alert_id)
        self._producer.flush(timeout=60)
        for future in futures:
            try:
                future.get(timeout=60)
            except Exception as e:
                raise BrokerError(f"publishing to {self.topic!r} failed: {e!r}") from e
        self.sent += len(futures)

    def close(self) -> None:
        self._producer.close()


# -- the command ------------------------------------------------------------------------------
class _StopRequest:
    """SIGINT and SIGTERM ask the run to stop between two records (a second Ctrl-C interrupts
    at once); the previous handlers come back afterwards."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_number: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            for number in EXIT_STOPPED:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.event.is_set() and number == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_number = number
        self.event.set()


def run_backfill(
    settings: Settings,
    options: BackfillOptions,
    *,
    colour: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """``miroir backfill``: 0 when done, 130 (143) when stopped by SIGINT (SIGTERM); raises a
    MiroirError (a clear message) for a bad request, an unreachable broker or store."""
    out = out or sys.stdout
    err = err or sys.stderr

    def say(text: str) -> None:
        print(f"backfill: {text}", file=err, flush=True)

    wall_ms = int(time.time() * 1000)
    plan = plan_backfill(settings, options, wall_ms)
    detectors = load_detectors(plan.detectors)  # ConfigError naming an unknown one
    for note in plan.notes:
        say(note)
    history, chart = _open_history(settings, options, plan, say)
    with _StopRequest() as stop:
        try:
            return _run(
                settings, options, plan, detectors, history, chart, stop, say, out, err, colour
            )
        finally:
            history.close()


def _open_history(
    settings: Settings, options: BackfillOptions, plan: BackfillPlan, say: Callable[[str], None]
) -> tuple[History, OrgChart]:
    if options.file:
        from streams.tools.evaluate import read_organisation

        chart = read_organisation(options.org) if options.org else OrgChart()
        return FileHistory(options.file, settings.topic_partitions), chart
    if not settings.kafka_bootstrap:
        raise ConfigError(
            "MIROIR_KAFKA_BOOTSTRAP is not set: point it at the broker holding the source "
            "topics, or backfill from a file with --file EVENTS"
        )
    from streams.runtime.broker_probe import wait_for_broker
    from streams.runtime.org_topic import OrgReader
    from streams.runtime.schema_registry import SchemaRegistry

    kafka = KafkaConnection.from_settings(settings)
    try:
        wait_for_broker(kafka, timeout=DEFAULT_BROKER_WAIT_SECONDS)
    except BrokerError as e:
        raise BrokerError(
            f"cannot reach the Kafka broker: {e}. Check MIROIR_KAFKA_BOOTSTRAP, or backfill "
            "from a file with --file EVENTS"
        ) from e
    codec = SignalCodec(writer_schemas=load_writer_schemas(settings.writer_schemas_dir))
    registry = SchemaRegistry.from_settings(settings)
    if registry is not None:
        asyncio.run(registry.check())  # a refused login or certificate stops it here
    topics = [
        (settings.topic_customer, CUSTOMER_FEEDBACK_TOPIC),
        (settings.topic_employee, EMPLOYEE_PULSE_TOPIC),
    ]
    history = KafkaHistory(
        kafka,
        topics,
        plan.reads_from,
        client_id_for(settings.app_id, plan.run_id),
        codec,
        warn=say,
        registry=registry,
    )
    try:
        reader = OrgReader(kafka, settings.topic_teams)
        try:
            chart = reader.refresh()
        finally:
            reader.close()
    except BaseException:
        history.close()
        raise
    return history, chart


def _run(
    settings: Settings,
    options: BackfillOptions,
    plan: BackfillPlan,
    detectors: Sequence[Detector],
    history: History,
    chart: OrgChart,
    stop: _StopRequest,
    say: Callable[[str], None],
    out: TextIO,
    err: TextIO,
    colour: bool,
) -> int:
    wall_ms = int(time.time() * 1000)
    run = BackfillRunner(settings, plan, detectors, history.partitions, chart, wall_ms)
    range_text = f"from {iso(plan.from_ms)} " + (
        f"to {iso(plan.to_ms)}" if plan.to_ms is not None else "to the end of the input"
    )
    if plan.reads_from < plan.from_ms:
        warm_up = (plan.from_ms - plan.reads_from) // settings.window_ms
        range_text += f" (read from {iso(plan.reads_from)}: {warm_up} windows of warm-up)"
    say(f"run {plan.run_id}: {history.description}, {range_text}")
    store = _open_store(settings, run, wall_ms) if options.to_store else None
    publisher: AlertPublisher | None = None
    progress = ProgressReporter(err, history.total, live=err.isatty(), every=options.progress_every)
    try:
        try:
            if options.publish and settings.kafka_bootstrap:
                publisher = AlertPublisher(
                    KafkaConnection.from_settings(settings),
                    settings.topic_alerts,
                    settings.topic_partitions,
                )
            if store is not None:
                store.write_teams(chart)
            printed = _read_all(run, history, stop.event, progress, store, publisher)
        except BaseException as error:
            progress.finish(history.read)
            if store is not None:
                state = "stopped" if isinstance(error, KeyboardInterrupt) else "failed"
                _record_quietly(store, state, _plain(error), say)
            raise
        progress.finish(history.read)
        if stop.event.is_set():
            number = stop.signal_number or signal.SIGINT
            name = signal.Signals(number).name
            if store is not None:
                _record_quietly(store, "stopped", f"stopped by {name}", say)
            _summary(run, plan, history, say, store is not None, publisher, stopped=name)
            return EXIT_STOPPED.get(signal.Signals(number), 130)
        if store is not None:
            refused = run.counts.refused_rows
            store.record(
                "done", f"{refused} rows refused by the store (dead_letters)" if refused else ""
            )
        _summary(run, plan, history, say, store is not None, publisher)
        if store is not None:
            print(plan.run_id, file=out)
        else:
            _print_alerts(printed, options.json, colour, out)
        return 0
    finally:
        if publisher is not None:
            publisher.close()
        if store is not None:
            store.sink.close()


def _read_all(
    run: BackfillRunner,
    history: History,
    stop: threading.Event,
    progress: ProgressReporter,
    store: RunStore | None,
    publisher: AlertPublisher | None,
) -> list[MirrorAlert]:
    """Feed the whole history to the run, writing (or publishing) every ``FLUSH_ROWS`` rows and
    at the end; return the alerts, when there is no store to write them to. On a stop, what is
    still waiting is dropped: the batches written are a prefix of a whole run's, so a rerun
    deduplicates them and writes the rest."""
    printed: list[MirrorAlert] = []

    def flush(outputs: Outputs) -> None:
        if publisher is not None:
            publisher.publish(outputs.records)
        if store is not None:
            store.write(outputs)
        else:
            printed.extend(outputs.alerts)

    run.announce_empty(history.empty_partitions())
    for count, item in enumerate(history.items(stop), start=1):
        if run.add(item):
            for partition in run.process():
                history.stop_partition(partition)
            if run.outputs.rows() >= FLUSH_ROWS:
                flush(run.outputs.take())
            progress.update(history.read, history.total)
        elif count % PROGRESS_ITEMS == 0:  # records skipped or refused count too
            progress.update(history.read, history.total)
    if not stop.is_set():
        run.settle()
        flush(run.outputs.take())
    return printed


def _open_store(settings: Settings, run: BackfillRunner, wall_ms: int) -> RunStore:
    from sinks.clickhouse import ClickHouseSink

    sink = ClickHouseSink.from_settings(settings)
    sink.open()  # StoreLockedError when a worker owns the embedded store
    store = RunStore(sink, run, wall_ms)
    try:
        store.record("running")
    except BaseException:
        sink.close()
        raise
    return store


def _record_quietly(store: RunStore, state: str, note: str, say: Callable[[str], None]) -> None:
    """Record a failed or stopped run; if even that fails, say so (the first error matters)."""
    try:
        store.record(state, note)
    except Exception as e:  # noqa: BLE001 - reported, the run's own outcome is what counts
        say(f"could not record the run as {state}: {_plain(e)}")


def _plain(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return str(error) or type(error).__name__


def _summary(
    run: BackfillRunner,
    plan: BackfillPlan,
    history: History,
    say: Callable[[str], None],
    stored: bool,
    publisher: AlertPublisher | None,
    stopped: str | None = None,
) -> None:
    counts = run.counts
    kinds = ", ".join(f"{k}: {n}" for k, n in sorted(counts.alerts.items())) or "none"
    invalid = sum(counts.invalid.values())
    say(
        f"{counts.events:,} events, {counts.windows:,} team-windows closed, "
        f"{counts.late:,} late, {counts.duplicates:,} duplicates, {invalid:,} invalid, "
        f"{counts.before_from:,} dated before {iso(plan.reads_from)}; alerts: {kinds}"
    )
    if invalid:
        by_kind = ", ".join(f"{k}: {n}" for k, n in sorted(counts.invalid.items()))
        say(f"invalid records by kind ({by_kind}); not sent to the dead letters:")
        for example in counts.invalid_examples:
            say(f"  {example}")
    skipped = history.skipped_after_to
    if skipped:
        say(f"{skipped:,} events of partitions already past --to were not needed")
    if not stopped and plan.to_ms is None:
        open_windows = run.open_windows()
        if open_windows:
            say(
                f"{open_windows:,} team-windows still open at the end of the input, left to "
                "the live worker"
            )
    if stored:
        state = f"stopped by {stopped}" if stopped else "done"
        say(
            f"run {plan.run_id} {state}: wrote {counts.written_alerts:,} alerts, "
            f"{counts.written_windows:,} team-windows, {len(counts.episodes):,} episodes, "
            f"{counts.unit_windows:,} unit windows, {len(counts.incidents):,} incidents"
        )
        if counts.refused_rows:
            say(
                f"{counts.refused_rows:,} rows were refused by ClickHouse: see the dead_letters "
                "table (error_kind 'store')"
            )
    elif not stopped:
        say("nothing written (add --to-store to write to ClickHouse)")
    if publisher is not None:
        say(f"published {publisher.sent:,} records to {publisher.topic}")


def _print_alerts(alerts: Sequence[MirrorAlert], as_json: bool, colour: bool, out: TextIO) -> None:
    from schemas.codec import alert_to_json
    from streams.runtime.follow import format_alert

    for alert in sorted(alerts, key=lambda a: (a.window_start, a.team_id, a.kind)):
        print(
            json.dumps(alert_to_json(alert)) if as_json else format_alert(alert, colour), file=out
        )


def _miroir_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("miroir")
    except PackageNotFoundError:  # a checkout that was never installed
        return "unknown"
