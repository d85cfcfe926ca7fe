"""Run the unit stage (``streams.core.unit_stage``) in the worker, exactly like the team stage:
outputs durable first, then the state, then the offset.

Input: the internal topic ``{app_id}-unit-inputs`` (one partition, so one worker at a time sees
the whole organisation — a consumer group ``{app_id}-units`` picks it; the others stand by and
take over on a rebalance). Every worker's team stage writes to it: each closed team-window's
part, episode events made by hand, and each source partition's heartbeat.

For each batch of inputs:

1. refresh the organisation from the teams topic (``streams.runtime.org_topic``);
2. run the stage;
3. make its outputs durable: ``unit_window_metrics`` and ``incidents`` rows in ClickHouse
   (insert tokens from the input offsets, so a replayed batch writes nothing twice), incident
   records on the alerts topic, pages on the pages topic — waiting for every acknowledgement,
   and skipping a record already there (the tails of both topics are read at assignment, as
   ``streams.runtime.emitted`` does for the team stage);
4. save the stage's state to the compacted ``{app_id}-unit-state`` topic;
5. commit the input offset.

A crash between 3 and 5 replays the batch from the saved state: the same outputs again (same
ids; the tables replace, receivers de-duplicate pages on ``X-Miroir-Alert-Id``). A new owner
reads the state topic to its end and resumes at the input position after the one it records,
whatever the group's committed offset says.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from collections.abc import Sequence
from typing import Any, Final

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from schemas.codec import encode_alert
from sinks.base import Sink
from streams.core.model import DeadLetter, SinkBatch
from streams.core.org import OrgChart, TeamInfo
from streams.core.pipeline import RawMessage, dead_letter_record
from streams.core.unit_stage import (
    UnitOutput,
    UnitStage,
    UnitStageConfig,
    UnitState,
    decode_input,
)
from streams.detectors import load_detectors
from streams.errors import SinkStopped, SinkUnavailable
from streams.kafka_config import KafkaConnection
from streams.runtime.emitted import EmittedAlerts
from streams.runtime.kafka_read import read_to_end
from streams.runtime.observability import PipelineMetrics
from streams.runtime.org_topic import OrgReader
from streams.runtime.restarting import run_restarting
from streams.settings import Settings

__all__ = ["UnitRunner", "register_units", "units_group"]

log = logging.getLogger("miroir.units")

STATE_KEY: Final = b"units"
MAX_RECORDS: Final = 5_000
UNIT_STATE_SAVE_SECONDS: Final = 1.0  # see UnitRunner._handle
# The state is one record, written whole and compressed (JSON of a whole organisation's open
# unit windows went past Kafka's default 1 MB on the throughput benchmark's data, and the stage
# restarted for ever). The state topic is created to accept this much too.
STATE_MAX_BYTES: Final = 16 * 1024 * 1024


def encode_state(state: UnitState) -> bytes:
    """The state record: zlib-compressed JSON (about a tenth of the JSON's size)."""
    return zlib.compress(json.dumps(state.to_dict(), separators=(",", ":")).encode(), 6)


def decode_state(value: bytes) -> UnitState:
    """Inverse of ``encode_state``; plain JSON (written before compression) reads too."""
    raw = value if value[:1] == b"{" else zlib.decompress(value)
    return UnitState.from_dict(json.loads(raw))


MAX_SINK_BACKOFF_SECONDS: Final = 30.0


def units_group(settings: Settings) -> str:
    return f"{settings.app_id}-units"


class UnitRunner:
    """Consumes the unit stage's input and makes its outputs durable (see the module doc)."""

    def __init__(
        self, settings: Settings, sink: Sink, metrics: PipelineMetrics | None = None
    ) -> None:
        self.kafka = KafkaConnection.from_settings(settings)
        self.settings = settings
        self.sink = sink
        self.metrics = metrics
        self.config = UnitStageConfig.from_settings(settings)
        self.detectors = load_detectors(settings.detectors)
        self.stage: UnitStage | None = None  # set when the input partition is assigned
        self._saved_at = 0.0  # monotonic time the state was last written
        self.org: OrgReader | None = None
        self.tp = TopicPartition(settings.unit_inputs_topic, 0)
        # What is already on the output topics: a batch replayed after a crash publishes only
        # what it had not published yet (the same bounded tail read as the team stage's).
        kafka, partitions = self.kafka, settings.topic_partitions
        self.emitted = {
            settings.topic_alerts: EmittedAlerts(kafka, settings.topic_alerts, partitions),
            settings.pages_topic: EmittedAlerts(kafka, settings.pages_topic, partitions),
        }
        self.counters = {"windows": 0, "incidents": 0, "pages": 0, "skipped": 0}
        # The organisation as last written to the teams table; None: nothing written since
        # this stage (re)started, so the whole chart is written once.
        self._written_teams: dict[str, TeamInfo] | None = None

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` (or cancellation); a failure is logged and the stage restarts
        from its saved state, so the team stage never depends on it."""
        await run_restarting("unit stage", self._run_once, stop or asyncio.Event(), log)

    async def _run_once(self, stop: asyncio.Event) -> None:
        settings = self.settings
        self._written_teams = None
        session_ms = int(settings.session_timeout_seconds * 1000)
        consumer = AIOKafkaConsumer(
            **self.kafka.client_options(),
            group_id=units_group(settings),
            client_id=f"{settings.app_id}-units",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(1000, session_ms // 3),
        )
        producer = AIOKafkaProducer(
            **self.kafka.client_options(), acks="all", max_request_size=STATE_MAX_BYTES
        )
        loop = asyncio.get_running_loop()
        self.org = await loop.run_in_executor(None, OrgReader, self.kafka, settings.topic_teams)
        await producer.start()
        try:
            consumer.subscribe([self.tp.topic], listener=_Resume(self, consumer))
            await consumer.start()
            log.info("unit stage: following %s in group %s", self.tp.topic, units_group(settings))
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=MAX_RECORDS)
                for tp, records in batches.items():
                    if records and self._in_order(consumer, tp, records):
                        await self._handle(consumer, producer, tp, records)
        finally:
            await consumer.stop()
            await producer.stop()
            org, self.org = self.org, None
            if org is not None:
                org.close()

    def _in_order(self, consumer: AIOKafkaConsumer, tp: TopicPartition, records: Any) -> bool:
        """Whether ``records`` may be handled now: the state is loaded and they start no later
        than the position right after it. Otherwise they are read again (a seek) rather than
        dropped: records fetched while the state was still loading, or before the seek to
        where it resumes, would otherwise be skipped — their offset committed with the next
        batch — and a unit window would close without some teams (the rebalance test
        caught it)."""
        stage = self.stage
        if stage is None:
            consumer.seek(tp, records[0].offset)
            return False
        expected = stage.state.applied + 1
        if stage.state.applied >= 0 and records[0].offset > expected:
            consumer.seek(tp, expected)
            return False
        return True

    async def load_state(self) -> UnitState:
        """The saved state: the newest value on the state topic (empty when none)."""
        loop = asyncio.get_running_loop()
        records = await loop.run_in_executor(
            None,
            lambda: list(
                read_to_end(
                    self.kafka,
                    self.settings.unit_state_topic,
                    [0],
                    last=1,
                )
            ),
        )
        latest = next((r.value for r in reversed(records) if r.key == STATE_KEY), None)
        return decode_state(latest) if latest else UnitState()

    async def _handle(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        tp: TopicPartition,
        records: Sequence[Any],
    ) -> None:
        assert self.stage is not None and self.org is not None
        inputs = []
        for record in records:
            try:
                inputs.append((record.offset, decode_input(record.value or b"")))
            except ValueError as e:
                self.counters["skipped"] += 1
                log.error("unit stage: input at offset %d skipped: %r", record.offset, str(e))
        loop = asyncio.get_running_loop()
        chart = await loop.run_in_executor(None, self.org.refresh)
        await self._write_teams(chart)
        out = self.stage.process(inputs, chart)
        first, last = records[0].offset, records[-1].offset
        log.debug(
            "unit stage: inputs %d-%d, watermarks %s", first, last, self.stage.state.watermarks
        )
        rejected = self.org.take_rejected()
        await self._make_durable(producer, out, f"units:{first}-{last}", rejected)
        # The state is written whole, so not after every batch while a backlog is read: at
        # most once a UNIT_STATE_SAVE_SECONDS, and whenever the stage has caught up. Inputs
        # handled since the last save are read again after a crash; their outputs are
        # idempotent (deterministic ids, replacing tables, published alerts remembered).
        now = time.monotonic()
        if len(records) < MAX_RECORDS or now - self._saved_at >= UNIT_STATE_SAVE_SECONDS:
            state = encode_state(self.stage.state)
            await producer.send_and_wait(self.settings.unit_state_topic, state, key=STATE_KEY)
            await consumer.commit({tp: last + 1})
            self._saved_at = now
        self._account(out)

    async def _write_teams(self, chart: OrgChart) -> None:
        """Write the teams that changed since the last write to the teams table (BI tools name
        teams and units from it). A batch of its own without a token: the rows replace each
        other by version, and a team changed back to an earlier state must still be written."""
        written = self._written_teams or {}
        changes: list[tuple[str, TeamInfo | None]] = [
            (team_id, info) for team_id, info in chart.teams.items() if written.get(team_id) != info
        ]
        if self._written_teams is not None:
            changes += [(team_id, None) for team_id in written if team_id not in chart.teams]
        if changes:
            await self._write_sink(SinkBatch(teams=sorted(changes, key=lambda c: c[0])))
        self._written_teams = dict(chart.teams)

    async def _make_durable(
        self,
        producer: AIOKafkaProducer,
        out: UnitOutput,
        token: str,
        rejected: Sequence[DeadLetter] = (),
    ) -> None:
        batch = SinkBatch(
            token=token,
            unit_windows=out.windows,
            incidents=out.incidents,
            dead_letters=list(rejected),
        )
        if not batch.is_empty():
            await self._write_sink(batch)
        sent = []
        outputs = [
            *((self.settings.topic_alerts, record.unit_id or "", record) for record in out.records),
            *(
                (self.settings.pages_topic, page.team_id or page.unit_id or "", page)
                for page in out.pages
            ),
        ]
        for topic, key, record in outputs:
            emitted = self.emitted[topic]
            if emitted.seen(key, record.alert_id):
                continue  # published before a crash: readers see it once
            sent.append(await producer.send(topic, encode_alert(record), key=key.encode()))
            emitted.add(key, record.alert_id)
        for letter in rejected:  # the teams topic's unusable records, on the topic too
            source = RawMessage(letter.topic, letter.partition, letter.offset, letter.key, None)
            outbound = dead_letter_record(source, letter)
            sent.append(
                await producer.send(
                    self.settings.topic_dead_letters,
                    letter.payload or b"",
                    key=outbound.key,
                    headers=list(outbound.headers),
                )
            )
        if sent:
            await asyncio.gather(*sent)

    async def _write_sink(self, batch: SinkBatch) -> None:
        loop = asyncio.get_running_loop()
        delay = 0.5
        while True:
            try:
                await loop.run_in_executor(None, self.sink.write, batch)
                return
            except SinkUnavailable as e:
                delay = min(max(delay * 2, e.retry_after), MAX_SINK_BACKOFF_SECONDS)
                log.warning("unit stage: ClickHouse unavailable (%s); retrying in %.1fs", e, delay)
                await asyncio.sleep(delay)
            except SinkStopped:
                raise

    def _account(self, out: UnitOutput) -> None:
        for window in out.windows:
            log.info(
                "unit window closed unit=%r window=%d teams=%d customers=%d",
                window.unit_id,
                window.metrics.window_start,
                len(window.teams),
                window.metrics.customer.n,
            )
        self.counters["windows"] += len(out.windows)
        self.counters["pages"] += len(out.pages)
        if self.metrics is not None:
            self.metrics.unit_windows.inc(len(out.windows))
            self.metrics.pages.inc(len(out.pages))
            for record in out.records:
                self.metrics.incident_events.labels(record.event, record.scope).inc()
        for record in out.records:
            self.counters["incidents"] += record.event == "opened"
            log.info(
                "INCIDENT %s %s %s=%r teams=%r %r",
                record.event,
                record.kind,
                record.scope,
                record.unit_id,
                ",".join(record.teams),
                record.message,
            )
        if out.late_parts:
            log.warning(
                "unit stage: %d team-windows came after their window closed", out.late_parts
            )


class _Resume(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment: load the saved state and resume right after the position it records."""

    def __init__(self, runner: UnitRunner, consumer: AIOKafkaConsumer) -> None:
        self.runner = runner
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.runner.stage = None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        runner = self.runner
        if runner.tp not in assigned:
            return
        state = await runner.load_state()
        loop = asyncio.get_running_loop()
        every = range(runner.settings.topic_partitions)
        for emitted in runner.emitted.values():
            emitted.forget(every)
            await loop.run_in_executor(None, emitted.load, every)
        runner.stage = UnitStage(runner.config, runner.detectors, state)
        if state.applied >= 0:
            self.consumer.seek(runner.tp, state.applied + 1)
        log.info(
            "unit stage assigned: resuming after input %d, %d open windows, %d open incidents",
            state.applied,
            len(state.open),
            len(state.incidents),
        )


def register_units(
    app: faust.App, settings: Settings, sink: Sink, metrics: PipelineMetrics | None = None
) -> UnitRunner:
    """Run a ``UnitRunner`` as a task of ``app`` (started with the worker, cancelled on stop)."""
    runner = UnitRunner(settings, sink, metrics)

    @app.task
    async def units() -> None:
        await runner.run()

    return runner
