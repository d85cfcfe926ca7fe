"""The Faust agents: consume both signal topics, run each batch through the engine, make its
outputs durable (ClickHouse, alerts topic, dead-letter topic, changelog) and only then let
Faust acknowledge the source offsets."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust
from faust.types import TP, ConsumerT

from schemas.codec import SignalCodec, load_writer_schemas
from sinks.base import Sink
from streams.core.bounds import TimeBounds
from streams.core.engine import EngineConfig, MirrorEngine
from streams.core.model import DeadLetter
from streams.core.pipeline import BatchPreparer, PreparedBatch, RawMessage
from streams.core.state_log import CLOCK_KEY_PREFIX, write_phase
from streams.core.unit_stage import Heartbeat, UnitInput, encode_input
from streams.detectors import load_detectors
from streams.errors import ConfigError, SinkStopped, SinkUnavailable
from streams.kafka_config import KafkaConnection
from streams.runtime.emitted import EmittedAlerts
from streams.runtime.intake import Fetch, SourceIntake
from streams.runtime.kafka_read import read_ranges
from streams.runtime.observability import PipelineMetrics, faust_highwater, register_metrics_page
from streams.runtime.positions import check_delivery, with_gaps_filled
from streams.runtime.resume import resume_at_saved_positions
from streams.runtime.schema_registry import (
    RegistryRefused,
    RegistryUnavailable,
    SchemaRegistry,
)
from streams.runtime.state_reader import read_latest_state
from streams.runtime.units import register_units
from streams.runtime.webhooks import register_webhooks
from streams.settings import Settings
from streams.web import register_web

log = logging.getLogger("miroir.pipeline")

MAX_SINK_BACKOFF_SECONDS = 30.0
UNIT_INPUT_KEY = b"org"  # one partition: the unit stage sees the whole organisation
STOP_GRACE_SECONDS = 30.0  # a stopping worker waits this long for its batch to become durable
# A partition silent this long while Faust's read offset is past the saved position had its
# last records skipped by the consumer: they are read directly (see streams.runtime.positions).
SKIPPED_TAIL_SECONDS = 10.0
# A schema registry refusing our login or certificate this many times in a row (about 15 s
# with the back-off) stops the worker: long enough to ride out a rotation of credentials.
REGISTRY_REFUSALS_BEFORE_EXIT = 5


class PipelineRunner:
    """Holds the engine and the outputs of one worker; every batch and tick goes through here."""

    def __init__(self, app: faust.App, settings: Settings, sink: Sink) -> None:
        self.app = app
        self.settings = settings
        self.kafka = KafkaConnection.from_settings(settings)
        self.sink = sink
        self.source_topics = {
            settings.topic_customer,
            settings.topic_employee,
            settings.actions_topic,
        }
        self.engine: MirrorEngine[RawMessage] = MirrorEngine(
            EngineConfig.from_settings(settings), load_detectors(settings.detectors)
        )
        self.registry = SchemaRegistry.from_settings(settings)
        self.preparer = BatchPreparer(
            self.engine,
            SignalCodec(writer_schemas=load_writer_schemas(settings.writer_schemas_dir)),
            customer_topic=settings.topic_customer,
            employee_topic=settings.topic_employee,
            hmac_secret=settings.hmac_secret.get_secret_value().encode(),
            time_bounds=TimeBounds.from_settings(settings),
            actions_topic=settings.actions_topic,
        )
        # With a registry, a framed id is read only with the writer schema fetched for it.
        self.preparer.codec.strict_ids = self.registry is not None
        self.state = app.Table(
            "window-state",
            default=None,
            partitions=settings.topic_partitions,
            schema=faust.Schema(key_serializer="json", value_serializer="json"),
            help="Open windows, closed-window history and partition watermarks.",
        )
        self.alerts_topic = app.topic(
            settings.topic_alerts,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.topic_partitions,
        )
        self.unit_inputs_topic = app.topic(
            settings.unit_inputs_topic, key_serializer="raw", value_serializer="raw", partitions=1
        )
        # The last heartbeat sent per source partition: an unchanged one is not sent again.
        self._heartbeats: dict[int, int | None] = {}
        self.dead_letter_topic = app.topic(
            settings.topic_dead_letters,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.topic_partitions,
        )
        # ClickHouse clients are blocking; one thread keeps a single owner of the chDB store.
        self._sink_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="miroir-sink")
        self._lock = asyncio.Lock()
        self.metrics = PipelineMetrics()
        self.metrics.follow_highwaters(faust_highwater(app))
        self.emitted = EmittedAlerts(self.kafka, settings.topic_alerts, settings.topic_partitions)
        self._loaded_partitions: frozenset[int] | None = None
        # The consumer generation the loaded state belongs to: a partition is only "kept"
        # across a rebalance when no generation in between could have given it to another
        # worker.
        self._loaded_generation: int | None = None
        self._assignment_lock = asyncio.Lock()
        self._reported_resumes: set[tuple[TP, int]] = set()
        self._last_delivery: dict[tuple[str, int], float] = {}  # monotonic time per source TP
        self._topic_of_side = {side: topic for topic, side in self.preparer.side_of_topic.items()}
        self._stop_requested = asyncio.Event()
        self._broken = False  # a batch failed: see _exclusive
        # partition → side → next offset, as saved on the changelog (what may be committed)
        self._saved_positions: dict[int, dict[str, int]] = {}
        # Source records arrive a fetch at a time (streams.runtime.intake); two batches' worth
        # may wait, so the next one is in memory while one is processed.
        self.intake = SourceIntake(
            frozenset(self._topic_of_side.values()), capacity=2 * settings.batch_size
        )

    def request_stop(self) -> None:
        """The worker is stopping: end any retry loop now (the batch stays unacknowledged)."""
        self._stop_requested.set()
        self.sink.request_stop()

    # -- entry points -----------------------------------------------------------------------
    async def handle_fetch(self, fetch: Fetch) -> None:
        """Process one batch of source records handed over by the intake."""
        if fetch.generation != self.app.consumer_generation_id:
            # Fetched before the latest rebalance: the partitions have since been sought to
            # where their saved state resumes, so these records come again (or go to their
            # new owner). Handling them now would run ahead of that position.
            log.info(
                "%d records fetched before a rebalance left for re-reading", len(fetch.messages)
            )
            return
        messages = fetch.messages
        log.debug("batch of %d events", len(messages))
        async with self._exclusive():
            # Records flowing means the assignment is settled; their partitions must have their
            # state loaded before a single one is processed.
            await self._sync_assignment(
                during_rebalance_too=True, with_partitions={m.partition for m in messages}
            )
            await self._process(await self._in_order(messages), fetch.fetched_at)
            # Counted from the end of the batch: a batch held up by back-pressure does not make
            # the records fetched meanwhile look skipped (see _skipped_tails).
            now = time.monotonic()
            for topic, partition in {(m.topic, m.partition) for m in messages}:
                self._last_delivery[(topic, partition)] = now

    async def handle_tick(self) -> None:
        async with self._exclusive():
            if self._broken or not await self._sync_assignment():
                return
            skipped = self._skipped_tails()
            if skipped:
                await self._process(await self._read_skipped(skipped, []))
            await self._commit_positions()
            caught_up = await self._caught_up_partitions()
            closed_at = time.monotonic()
            prepared = self.preparer.prepare_tick(caught_up)
            # A partition that has never held a record says so once, or the unit stage would
            # wait for it forever. Only once caught up: a partition whose backlog is still
            # unread has no clock yet either, and must hold the unit stage back meanwhile.
            prepared.unit_inputs.extend(
                Heartbeat(partition, None)
                for partition in sorted(caught_up)
                if partition not in self.engine.clocks and partition not in self._heartbeats
            )
            if prepared.sink.is_empty() and not prepared.alert_records:
                if any(self._heartbeat_news(item) for item in prepared.unit_inputs):
                    await self._make_durable(prepared, None, closed_at)
                return  # clocks that only moved in memory need no changelog write
            log.info(
                "idle close: %d team-windows closed by the wall clock (caught-up partitions %s)",
                len(prepared.sink.team_windows),
                sorted(caught_up),
            )
            await self._make_durable(prepared, None, closed_at)

    # -- internals --------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """One batch or tick at a time. A failure leaves the engine's memory ahead of what is
        saved, and the worker is about to exit (``_stop_without_ack``): from then on the
        pipeline does nothing, or a tick getting the lock first would save or commit that."""
        async with self._lock:
            if self._broken:
                raise RuntimeError("the worker is exiting after a failed batch")
            try:
                yield
            except BaseException:
                self._broken = True
                raise

    async def _process(self, messages: list[RawMessage], fetched_at: float | None = None) -> None:
        if not messages:
            return
        self.metrics.observe_messages(messages)
        if self.registry is not None:
            await self._learn_writer_schemas(messages)
        closed_at = time.monotonic()
        prepared = self.preparer.prepare(messages)
        await self._make_durable(prepared, fetched_at, closed_at)

    def _position_of(self, topic: str, partition: int) -> int | None:
        """The next offset of this source partition the saved state expects (None: no state
        saved for the partition yet, so the consumer's position stands)."""
        clock = self.engine.clocks.get(partition)
        side = self.preparer.side_of_topic.get(topic)
        if clock is None or not clock.resume_offsets or side is None:
            return None
        return clock.resume_offsets.get(side, 0)  # a side never read starts at the beginning

    async def _in_order(self, messages: list[RawMessage]) -> list[RawMessage]:
        """The batch checked against the saved positions (see streams.runtime.positions): records
        already absorbed dropped, records the consumer skipped read directly and put back."""
        check = check_delivery(messages, self._position_of)
        if check.already_absorbed:
            log.debug("%d records already absorbed, dropped", check.already_absorbed)
        if not check.gaps:
            return check.fresh
        return await self._read_skipped(check.gaps, check.fresh)

    async def _read_skipped(
        self, gaps: dict[tuple[str, int], tuple[int, int]], fresh: list[RawMessage]
    ) -> list[RawMessage]:
        log.warning(
            "the consumer skipped source records %s; reading them directly",
            ", ".join(f"{t}/{p} [{a}, {b})" for (t, p), (a, b) in sorted(gaps.items())),
        )
        self.metrics.skipped_records_read.inc()
        loop = asyncio.get_running_loop()
        filled = await loop.run_in_executor(None, self._read_ranges, gaps)
        return with_gaps_filled(fresh, filled)

    def _read_ranges(self, gaps: dict[tuple[str, int], tuple[int, int]]) -> list[RawMessage]:
        # The same isolation as Faust's consumer under at-least-once, so the same records.
        return [
            RawMessage(r.topic, r.partition, r.offset, r.key, r.value)
            for r in read_ranges(self.kafka, gaps, isolation_level="read_uncommitted")
        ]

    def _skipped_tails(self) -> dict[tuple[str, int], tuple[int, int]]:
        """Ranges the consumer says it delivered but this worker never got, at the end of a
        partition (no later record shows the gap): nothing of the partition arrived for
        ``SKIPPED_TAIL_SECONDS`` while Faust's read offset is past the saved position."""
        consumer = self.app.consumer
        read_offsets = getattr(consumer, "_read_offset", {})
        now = time.monotonic()
        tails: dict[tuple[str, int], tuple[int, int]] = {}
        for partition in self._loaded_partitions or ():
            for topic in self._topic_of_side.values():
                position = self._position_of(topic, partition)
                delivered = read_offsets.get(TP(topic, partition))
                if position is None or delivered is None or delivered < position:
                    continue
                quiet_since = self._last_delivery.setdefault((topic, partition), now)
                if now - quiet_since < SKIPPED_TAIL_SECONDS:
                    continue
                try:
                    end = min(delivered + 1, consumer.highwater(TP(topic, partition)))
                except Exception:  # noqa: BLE001 - highwater unknown yet: look again later
                    continue
                if end > position:
                    tails[(topic, partition)] = (position, end)
                    self._last_delivery[(topic, partition)] = now
        return tails

    async def _commit_positions(self) -> None:
        """Commit the saved positions the consumer group has not committed yet.

        The intake hands records over without Faust's per-event acknowledgements, so Faust
        never commits the source topics itself. A position is committed only once its clock is
        on the changelog, after everything before it is durable; never the engine's position
        in memory, which runs ahead while a batch is being written. The committed offset
        serves lag monitoring and a partition's first start; a restarted worker resumes at its
        saved positions anyway (streams.runtime.resume).
        """
        consumer = self.app.consumer
        committed = getattr(consumer, "_committed_offset", {})
        behind: dict[TP, int] = {}
        for partition in self._loaded_partitions or ():
            saved = self._saved_positions.get(partition, {})
            for side, topic in self._topic_of_side.items():
                tp = TP(topic, partition)
                position = saved.get(side)
                if position and (committed.get(tp) or 0) < position:
                    behind[tp] = position
        if behind:
            log.debug(
                "committing saved positions %s",
                ", ".join(f"{tp.topic}/{tp.partition}@{o}" for tp, o in sorted(behind.items())),
            )
            await consumer._commit_offsets(behind)  # type: ignore[attr-defined]

    def _assigned_partitions(self) -> frozenset[int]:
        actives = self.app.assignor.assigned_actives()
        return frozenset(tp.partition for tp in actives if tp.topic in self.source_topics)

    async def _caught_up_partitions(self) -> set[int]:
        """Partitions whose records (both topics) have all been processed: the only ones whose
        silence may be the sources going quiet rather than this worker being behind."""
        consumer = self.app.consumer
        caught_up: set[int] = set()
        for partition in self._loaded_partitions or ():
            clock = self.engine.clocks.get(partition)
            behind = False
            for side, topic in self._topic_of_side.items():
                tp = TP(topic, partition)
                try:
                    end = consumer.highwater(tp)
                except Exception:  # noqa: BLE001 - not known yet: assume we are behind
                    end = None
                if end is None or end < 0:
                    behind = True
                    break
                done = clock.resume_offsets.get(side, 0) if clock is not None else 0
                if done < end:
                    behind = True
                    break
            if not behind:
                caught_up.add(partition)
        return caught_up

    def _table_ready(self) -> bool:
        """Whether Faust has settled the assignment (no rebalance or recovery under way): the
        idle timer runs during rebalances too, and must not act on a passing assignment."""
        app = self.app
        recovery = app.tables.recovery  # type: ignore[attr-defined]
        return not (app.rebalancing or app.in_recovery or not recovery.completed.is_set())

    async def resume_positions(self, consumer: ConsumerT) -> None:
        """Right after Faust sought the assigned partitions to their committed offsets (each
        rebalance, before records flow): load their state and seek every source partition to
        where that state resumes (see streams.runtime.resume for why not the committed offset)."""
        partitions = frozenset(
            tp.partition for tp in consumer.assignment() if tp.topic in self.source_topics
        )
        await self._load_partitions(partitions)
        committed = getattr(consumer, "_committed_offset", {})
        seeks: dict[TP, int] = {}
        for partition in sorted(partitions):
            clock = self.engine.clocks.get(partition)
            if clock is None or not clock.resume_offsets:
                continue  # nothing saved yet: the committed offset (or the reset policy) rules
            for side, topic in self._topic_of_side.items():
                tp = TP(topic, partition)
                # A side never read starts at the beginning (the broker's reset policy applies
                # when that offset is gone): nothing of it is in the state.
                position = clock.resume_offsets.get(side, 0)
                ahead = (committed.get(tp) or 0) > position
                if ahead and (tp, position) not in self._reported_resumes:
                    self._reported_resumes.add((tp, position))  # Faust seeks repeatedly
                    log.warning(
                        "%s/%d: the group's committed offset %s is ahead of the saved state; "
                        "resuming at %d",
                        topic,
                        partition,
                        committed.get(tp),
                        position,
                    )
                seeks[tp] = position
        await seek_on_consumer_thread(consumer, seeks)

    async def _sync_assignment(
        self, *, during_rebalance_too: bool = False, with_partitions: set[int] | None = None
    ) -> bool:
        """Make sure the state of the assigned partitions is loaded (normally done already by
        ``resume_positions``). Returns whether this worker owns any partition."""
        if not during_rebalance_too and not self._table_ready():
            return False  # the idle timer waits; records never arrive before the state is read
        partitions = self._assigned_partitions() | frozenset(with_partitions or ())
        await self._load_partitions(partitions)
        return bool(partitions)

    async def _load_partitions(self, partitions: frozenset[int]) -> None:
        """Load engine state for ``partitions`` and learn which of their alerts are published.

        Partitions held continuously since the last load keep their in-memory state (the
        newest there is); the others are read from the changelog itself, to its end (see
        streams.runtime.state_reader), since another worker may have written them meanwhile.
        """
        async with self._assignment_lock:
            generation = self.app.consumer_generation_id
            loaded = self._loaded_partitions or frozenset()
            continuous = (
                self._loaded_generation is not None
                and 0 <= generation - self._loaded_generation <= 1
            )
            self._loaded_generation = generation
            if continuous and partitions == loaded:
                return
            kept = loaded & partitions if continuous else frozenset()
            added = partitions - kept
            loop = asyncio.get_running_loop()
            latest = await loop.run_in_executor(
                None,
                read_latest_state,
                self.kafka,
                self.state.changelog_topic.get_topic_name(),
                added,
            )
            state_log = self.preparer.state_log
            state_log.forget(t for t, s in self.engine.teams.items() if s.partition not in kept)
            teams, clocks = state_log.restore(latest.items(), set(added), time.time() * 1000)
            kept_teams = {t: s for t, s in self.engine.teams.items() if s.partition in kept}
            kept_clocks = {p: c for p, c in self.engine.clocks.items() if p in kept}
            self._saved_positions = {
                **{p: o for p, o in self._saved_positions.items() if p in kept},
                **{p: dict(c.resume_offsets) for p, c in clocks.items()},
            }
            self.engine.load({**kept_teams, **teams}, {**kept_clocks, **clocks})
            # A rebalance is this worker's own delay, not its sources going quiet: the kept
            # partitions start their idle count again, as restored ones do. Otherwise a
            # partition quiet through a long rebalance looked idle the moment it ended, with
            # the consumer's highwater still from before it (records produced meanwhile
            # unseen), and its windows were closed short (the rebalance test caught it).
            now_wall = time.time() * 1000
            for clock in kept_clocks.values():
                clock.touch(now_wall)
            self.emitted.forget(loaded - kept)
            known = await loop.run_in_executor(None, self.emitted.load, added)
            self._loaded_partitions = partitions
            log.info(
                "assignment (generation %d): partitions %s, %d teams restored, "
                "%d open windows, %d published alerts known",
                generation,
                sorted(partitions),
                len(teams),
                self.engine.open_window_count(),
                known,
            )

    async def _make_durable(
        self,
        prepared: PreparedBatch,
        fetched_at: float | None = None,
        closed_at: float | None = None,
    ) -> None:
        """Write everything the batch produced; return only when all of it is durable.

        Order matters for crashes: the outputs (topics, ClickHouse) are durable *before* the
        state that says they were produced. A crash in between re-produces them on restart
        (idempotent: deterministic ids, replacing tables, alert de-duplication below), whereas
        the opposite order could save "window closed" and lose its alert.
        """
        outputs: list[Awaitable[Any]] = []
        for record in prepared.dead_letter_records:
            outputs.append(
                await self.dead_letter_topic.send(
                    key=record.key, value=record.value, headers=list(record.headers)
                )
            )
        for alert, record in zip(prepared.events, prepared.alert_records, strict=True):
            if self.emitted.seen(alert.team_id, alert.alert_id):
                continue  # already on the topic before a crash: readers see each alert once
            outputs.append(await self.alerts_topic.send(key=record.key, value=record.value))
            self.emitted.add(alert.team_id, alert.alert_id)
        for item in prepared.unit_inputs:
            if isinstance(item, Heartbeat):
                if item.partition in self._heartbeats and (
                    self._heartbeats[item.partition] == item.watermark
                ):
                    continue
                self._heartbeats[item.partition] = item.watermark
            outputs.append(
                await self.unit_inputs_topic.send(
                    key=UNIT_INPUT_KEY, value=encode_input(item), partition=0
                )
            )
        refused: list[DeadLetter] = []
        if not prepared.sink.is_empty():
            refused = await self._write_sink(prepared)
            self.metrics.observe_stored(
                prepared, fetched_at, time.monotonic() if closed_at is None else closed_at
            )
        for letter in refused:  # rows the store refused for good: stored as dead letters too
            outputs.append(await self._send_refused(letter))
        if outputs:
            await asyncio.gather(*outputs)
        # In write phases (streams.core.state_log), each durable before the next: a head never
        # names a key chunk that is not saved, and a restored watermark is never ahead of a
        # restored team (whose re-read records would be taken for late ones).
        for _phase, updates in itertools.groupby(
            prepared.state_updates, key=lambda update: write_phase(update[1], update[2])
        ):
            await asyncio.gather(
                *[
                    self.state.send_changelog(partition, key, value)
                    for partition, key, value in updates
                ]
            )
        for partition, key, value in prepared.state_updates:
            if key.startswith(CLOCK_KEY_PREFIX) and value is not None:
                self._saved_positions[partition] = dict(value.get("resume_offsets") or {})
        self._account(prepared, refused)

    def _heartbeat_news(self, item: UnitInput) -> bool:
        """Whether a unit-stage input says something not sent yet."""
        if not isinstance(item, Heartbeat):
            return True
        sent = self._heartbeats
        return item.partition not in sent or sent[item.partition] != item.watermark

    async def _send_refused(self, letter: DeadLetter) -> Awaitable[Any]:
        headers = [
            ("miroir.source.topic", letter.topic.encode()),
            ("miroir.error.kind", letter.error_kind.encode()),
            ("miroir.error.reason", letter.reason.encode("utf-8", "replace")),
        ]
        log.error("the store refused a row for good (%r); kept as a dead letter", letter.reason)
        return await self.dead_letter_topic.send(
            key=letter.key, value=letter.payload or b"", headers=headers
        )

    async def _learn_writer_schemas(self, messages: list[RawMessage]) -> None:
        """Fetch the writer schemas of this batch's new Confluent ids before decoding it. While
        the registry cannot answer, the batch waits (and is not acknowledged), as it does for
        ClickHouse: a framed record is never read without its writer's schema. A registry that
        keeps refusing our login or certificate (``REGISTRY_REFUSALS_BEFORE_EXIT`` times in a
        row) will not mend itself: the worker stops, the batch unacknowledged, so that its
        supervisor restarts it with the settings (or secret files) of now, and says why."""
        assert self.registry is not None
        signals = (self.settings.topic_customer, self.settings.topic_employee)
        values = [m.value for m in messages if m.topic in signals]
        delay = 0.5
        refusals = 0
        while True:
            try:
                learnt = await self.registry.teach(self.preparer.codec, values)
                self.metrics.sink_paused.set(0)
                for answer in learnt.values():
                    outcome = "schema" if answer.unusable is None else "unusable"
                    self.metrics.schema_registry_ids.labels(outcome).inc()
                return
            except RegistryUnavailable as e:
                self.metrics.schema_registry_failures.inc()
                refusals = refusals + 1 if isinstance(e, RegistryRefused) else 0
                if refusals >= REGISTRY_REFUSALS_BEFORE_EXIT:
                    raise ConfigError(
                        f"{e} ({refusals} times in a row); stopping, the batch not acknowledged"
                    ) from e
                delay = min(delay * 2, MAX_SINK_BACKOFF_SECONDS)
                # A refused login or certificate will not mend itself: say so loudly.
                level = logging.ERROR if isinstance(e, RegistryRefused) else logging.WARNING
                log.log(level, "%s; consumption paused, asking again in %.1fs", e, delay)
                await self._pause(delay, "the schema registry is unavailable", "decoded", e)

    async def _write_sink(self, prepared: PreparedBatch) -> list[DeadLetter]:
        """Back-pressure: while ClickHouse is down we keep retrying and do not consume more —
        until a stop is requested, which ends the retrying with SinkStopped (the batch is not
        acknowledged). A write that works is never cut short by a stop."""
        loop = asyncio.get_running_loop()
        delay = 0.5
        while True:
            try:
                with self.metrics.timed_sink_write():
                    refused = await loop.run_in_executor(
                        self._sink_thread, self.sink.write, prepared.sink
                    )
                self.metrics.sink_paused.set(0)
                return list(refused or ())  # a sink written before the contract returned rows
            except SinkUnavailable as e:
                self.metrics.sink_failures.inc()
                delay = min(max(delay * 2, e.retry_after), MAX_SINK_BACKOFF_SECONDS)
                log.warning(
                    "ClickHouse unavailable (%s); consumption paused, retrying in %.1fs", e, delay
                )
                await self._pause(delay, "ClickHouse is unavailable", "written", e)

    async def _pause(self, delay: float, why: str, undone: str, error: Exception) -> None:
        """Hold the batch (consumption is paused meanwhile) for ``delay`` seconds, or until a
        stop is requested: then SinkStopped, and the batch is not acknowledged."""
        self.metrics.sink_paused.set(1)
        with contextlib.suppress(TimeoutError):  # the wait ends early on a stop
            await asyncio.wait_for(self._stop_requested.wait(), delay)
        if self._stop_requested.is_set():
            raise SinkStopped(
                f"stopping while {why}: the batch is not {undone} and not acknowledged"
            ) from error

    def _account(self, prepared: PreparedBatch, refused: Sequence[DeadLetter]) -> None:
        sink = prepared.sink
        if sink.late_events:
            log.info("%d late events (their windows had closed)", len(sink.late_events))
        if sink.duplicate_events:
            log.info(
                "%d duplicate events (already counted in their window)", len(sink.duplicate_events)
            )
        for window in sink.team_windows:
            log.info(
                "closed team=%r window=%d customers=%d employees=%s alerts=%s",
                window.team_id,
                window.window_start,
                window.customer.n,
                "suppressed" if window.employee is None else window.employee.n,
                ",".join(window.alert_kinds) or "-",
            )
        self.metrics.observe_batch(
            prepared,
            self.engine.open_window_count(),
            refused,
            open_episodes=self.engine.open_episodes(),
        )
        for event in prepared.events:
            log.info(
                "ALERT %s %s %s team=%r window=%d episode=%s %r",
                event.event,
                event.severity,
                event.kind,
                event.team_id,
                event.window_start,
                event.episode_id,
                event.message,
            )

    def close(self) -> None:
        self._sink_thread.shutdown(wait=True)


async def seek_on_consumer_thread(consumer: ConsumerT, positions: dict[TP, int]) -> None:
    """Seek partitions from the thread that runs the Kafka client.

    Faust's ``Consumer.seek`` changes aiokafka's fetcher from the calling thread, while the
    consumer's own thread may be handing out fetched records: its ``del self._records[tp]``
    then raises KeyError and the Fetcher service crashes the worker (seen in the rebalance
    test; robinhood/aiokafka#19 reports the same crash). Faust's own seeks go through
    ``call_thread``; so do these.
    """
    if not positions:
        return
    thread = getattr(consumer, "_thread", None)
    if thread is None:  # a consumer without a client thread: its seek is safe as it is
        for tp, offset in positions.items():
            await consumer.seek(tp, offset)
        return

    def seek_all() -> None:
        for tp, offset in positions.items():
            thread.seek(tp, offset)

    await thread.call_thread(seek_all)
    read_offsets = getattr(consumer, "_read_offset", None)
    if read_offsets is not None:
        for tp, offset in positions.items():
            read_offsets[tp] = offset if offset else None  # as Faust's seek does


async def _durably(work: Awaitable[None], on_stop: Callable[[], None]) -> None:
    """Run one batch to the end, even through a graceful stop.

    A graceful stop cancels the agent mid-batch: the batch is shielded from the cancellation
    and given time to become durable, so the worker stops on a clean position instead of
    leaving half a batch to redo. If it cannot (or anything unexpected fails), the worker exits
    at once (see ``_stop_without_ack``). ``on_stop`` tells retry loops to give up at once
    instead of running out the grace time while ClickHouse is down.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        on_stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=STOP_GRACE_SECONDS)
        except BaseException as e:  # noqa: BLE001 - any failure here must not be acknowledged
            _stop_without_ack(
                e
                if not isinstance(e, asyncio.CancelledError)
                else TimeoutError("stopped before the batch was durable")
            )
        raise
    except BaseException as e:  # noqa: BLE001 - see _stop_without_ack
        _stop_without_ack(e)


def _stop_without_ack(error: BaseException) -> None:
    """An unexpected failure while making a batch durable ends the worker.

    The engine's state in memory may hold half of the failed batch, and Faust would restart
    the agent on that state. So the worker exits at once: its supervisor restarts it, the
    state is read back from the changelog and the batch is read again from the saved
    positions (outputs are idempotent). Bad *input* never gets here — it goes to the dead
    letters; this is for bugs, unrecoverable infrastructure errors, a stop requested while
    ClickHouse or the Schema Registry was down (``SinkStopped``, exit 75), and a setting found
    wrong while running (``ConfigError``, exit 78: a registry refusing our login).
    """
    if isinstance(error, SinkStopped):
        log.warning("stopped with a batch held: %s; it is read again on restart", error)
        logging.shutdown()
        os._exit(75)  # EX_TEMPFAIL: nothing wrong with the batch, try again later
    if isinstance(error, ConfigError):  # a setting the running worker found wrong: no bug
        log.critical("%s; it is read again on restart", error)
        logging.shutdown()
        os._exit(78)  # EX_CONFIG
    log.critical("batch failed, exiting without acknowledging it: %r", error, exc_info=error)
    logging.shutdown()
    os._exit(70)  # EX_SOFTWARE


def register_pipeline(app: faust.App, settings: Settings, sink: Sink) -> PipelineRunner:
    """Declare the source topic, the state table, the agent and the idle timer on ``app``."""
    runner = PipelineRunner(app, settings, sink)
    resume_at_saved_positions(
        app, runner.resume_positions, on_stopping=runner.request_stop, intake=runner.intake
    )
    # The unit stage: unit windows, incidents and pages for the whole organisation (one
    # worker of the group runs it at a time; the others stand by).
    register_units(app, settings, sink, runner.metrics)
    if settings.webhook_urls:
        register_webhooks(app, settings, sink)
    if settings.web_port:  # the live page, the team pages and /metrics
        register_metrics_page(app, runner.metrics)
        register_web(app, settings, sink)
    # One topic object over the three names: Faust assigns partition p of every one (and of
    # the state changelog) to the same worker, so a team's two sides and the actions on its
    # episodes meet in one place.
    source = app.topic(
        settings.topic_customer,
        settings.topic_employee,
        settings.actions_topic,  # acknowledgements and resolutions by hand, key team_id
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )

    @app.agent(source, name="mirror")
    async def mirror(stream: faust.StreamT) -> None:
        # The agent subscribes the worker to its sources (Faust assigns them to it), but its
        # records come from the intake a fetch at a time, never through the stream.
        intake = runner.intake
        while True:
            fetch = await intake.take(settings.batch_size, settings.batch_seconds)
            try:
                await _durably(runner.handle_fetch(fetch), runner.request_stop)
            finally:
                intake.done()

    @app.timer(interval=min(1.0, settings.idle_close_seconds))
    async def close_idle_windows() -> None:
        try:
            await runner.handle_tick()
        except asyncio.CancelledError:
            runner.request_stop()  # a tick acknowledges nothing: stopping here loses nothing
            raise

    return runner
