"""From raw source messages to everything a batch must make durable (no I/O here).

The Faust agent hands over raw messages; this module decodes them, routes bad ones to the
dead letters, runs the shared engine and returns a ``PreparedBatch``: rows for the sinks,
records for the alerts and dead-letter topics, and the state changes for the changelog.
The agent then writes all of it before acknowledging the source offsets.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.codec import SignalCodec, decode_action, encode_alert, record_to_json
from schemas.records import (
    CUSTOMER_FEEDBACK_TOPIC,
    EMPLOYEE_PULSE_TOPIC,
    CustomerFeedback,
    EmployeePulse,
    EpisodeAction,
    MirrorAlert,
    Signal,
)
from streams.core.bounds import TimeBounds
from streams.core.engine import ACTIONS_SIDE, EngineOutput, Inbound, MirrorEngine
from streams.core.model import DeadLetter, DuplicateEvent, LateEvent, SinkBatch
from streams.core.privacy import customer_row_for_storage
from streams.core.state_log import (
    CLOCK_KEY_PREFIX,
    StateLog,
    StateUpdate,
    write_phase,
)
from streams.core.unit_stage import NO_PROGRESS, Heartbeat, LooseEvent, UnitInput
from streams.core.windows import PartitionClock, TeamState, window_start_for
from streams.errors import DecodeError


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A source record exactly as it came off the broker."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    """A record for an output topic."""

    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(slots=True)
class PreparedBatch:
    sink: SinkBatch
    # The alerts topic's records (episode events), and each one encoded, in the same order.
    events: list[MirrorAlert] = field(default_factory=list)
    alert_records: list[OutboundRecord] = field(default_factory=list)
    # For the unit stage, in this order: the closed team-windows' parts and the episode events
    # made by hand, then each touched partition's heartbeat (which vouches for the parts).
    unit_inputs: list[UnitInput] = field(default_factory=list)
    dead_letter_records: list[OutboundRecord] = field(default_factory=list)
    # The changelog records that bring the saved state up to date, in write-phase order
    # (streams.core.state_log).
    state_updates: list[StateUpdate] = field(default_factory=list)
    consumed: int = 0


def batch_token(messages: Sequence[RawMessage]) -> str:
    """A deterministic name for a batch: its topic-partition offset ranges (the way the
    ClickHouse Kafka connector names its inserts), used as the insert deduplication token."""
    ranges: dict[tuple[str, int], tuple[int, int]] = {}
    for m in messages:
        low, high = ranges.get((m.topic, m.partition), (m.offset, m.offset))
        ranges[(m.topic, m.partition)] = (min(low, m.offset), max(high, m.offset))
    return ",".join(f"{t}/{p}/{lo}-{hi}" for (t, p), (lo, hi) in sorted(ranges.items()))


def dead_letter_for(
    message: RawMessage, reason: str, kind: str, stored_payload: bytes | None
) -> DeadLetter:
    """The dead letter of ``message``. ``stored_payload`` is what the dead-letter *table* may
    keep (see ``storable_payload``); the original bytes stay on the dead-letter topic."""
    return DeadLetter(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        reason=reason,
        payload=stored_payload,
        payload_sha256=hashlib.sha256(message.value or b"").hexdigest(),
        key=message.key,
        seen_at=int(time.time() * 1000),
        error_kind=kind,
    )


def storable_payload(record: Signal | EpisodeAction | None, secret: bytes) -> bytes | None:
    """What of a dead-lettered record may be stored in ClickHouse, where BI users may look.

    A customer record that decoded: its JSON form with ``customer_ref`` re-keyed, exactly as
    the ``customer_feedback`` table would hold it. Anything else — an employee pulse (personal
    data), or bytes that did not decode (a reference in them cannot be found to re-key) —
    nothing: the original bytes stay on the dead-letter topic only.
    """
    if not isinstance(record, CustomerFeedback):
        return None
    stored = record_to_json(customer_row_for_storage(record, secret))
    return json.dumps(stored, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def dead_letter_record(message: RawMessage, letter: DeadLetter) -> OutboundRecord:
    """The dead-letter topic keeps the original bytes (the source topic holds them anyway) and
    says where they came from and why, in headers."""
    headers = (
        ("miroir.source.topic", message.topic.encode()),
        ("miroir.source.partition", str(message.partition).encode()),
        ("miroir.source.offset", str(message.offset).encode()),
        ("miroir.error.kind", letter.error_kind.encode()),
        ("miroir.error.reason", letter.reason.encode("utf-8", "replace")),
    )
    return OutboundRecord(key=message.key, value=message.value or b"", headers=headers)


class BatchPreparer:
    """Decode → engine → everything to make durable, for one batch of raw messages."""

    def __init__(
        self,
        engine: MirrorEngine[RawMessage],
        codec: SignalCodec,
        *,
        customer_topic: str,
        employee_topic: str,
        hmac_secret: bytes,
        time_bounds: TimeBounds,
        actions_topic: str | None = None,
    ) -> None:
        self.engine = engine
        self.actions_topic = actions_topic
        self.codec = codec
        self.customer_topic = customer_topic
        self.employee_topic = employee_topic
        self.hmac_secret = hmac_secret
        self.time_bounds = time_bounds
        self.state_log = StateLog()
        # Topic names are settings; the codec knows the signals by their canonical names.
        self._signal_of_topic = {
            customer_topic: CUSTOMER_FEEDBACK_TOPIC,
            employee_topic: EMPLOYEE_PULSE_TOPIC,
        }
        self.side_of_topic = {customer_topic: "customer", employee_topic: "employee"}
        if actions_topic is not None:
            # Acknowledgements and resolutions by hand: a third co-partitioned input (key =
            # team_id), with its own position, that never moves a watermark.
            self.side_of_topic[actions_topic] = ACTIONS_SIDE

    def prepare(self, messages: Sequence[RawMessage]) -> PreparedBatch:
        sink = SinkBatch(token=batch_token(messages))
        prepared = PreparedBatch(sink=sink, consumed=len(messages))
        inbound: list[Inbound[RawMessage]] = []
        now_ms = int(time.time() * 1000)
        # The highest offset of each partition's sides, in the order they first appear: what
        # the clocks must absorb once the batch is processed (absorbing it alone leaves a
        # clock as absorbing every offset of the batch in turn would).
        highest: dict[tuple[int, str], int] = {}
        for message in messages:
            side = self.side_of_topic.get(message.topic)
            if side is not None:
                position = (message.partition, side)
                if message.offset > highest.get(position, message.offset - 1):
                    highest[position] = message.offset
            if message.topic == self.actions_topic:
                try:
                    action = decode_action(message.value)
                except DecodeError as e:
                    self._dead_letter(prepared, message, e.reason, e.kind, None)
                    continue
                inbound.append(Inbound(message.partition, action, message, message.offset))
                continue
            try:
                record = self._decode(message)
            except DecodeError as e:
                self._dead_letter(prepared, message, e.reason, e.kind, None)
                continue
            try:
                self.time_bounds.check(record.occurred_at, now_ms)
            except DecodeError as e:
                self._dead_letter(prepared, message, e.reason, e.kind, record)
                continue
            inbound.append(Inbound(message.partition, record, message, message.offset))
        out = self.engine.process(inbound)
        # Every message of the batch is handled once its outputs and state are durable, dead
        # letters included: the clocks (written last) say where to resume after a restart.
        for (partition, side), offset in highest.items():
            self.engine.clock(partition).absorb(side, offset)
            out.dirty_partitions.add(partition)
        self._collect(prepared, out)
        return prepared

    def prepare_tick(self, caught_up: Collection[int] | None = None) -> PreparedBatch:
        """Idle-partition progress: windows closed by the wall clock, no source messages."""
        prepared = PreparedBatch(sink=SinkBatch())
        out = self.engine.tick(caught_up)
        if out.closed:
            first = out.closed[0]
            # Deterministic per set of closed windows, so a retried tick is deduplicated.
            ids = ",".join(f"{m.team_id}@{m.window_start}" for m in out.closed)
            prepared.sink.token = (
                f"tick:{first.window_end}:{hashlib.sha256(ids.encode()).hexdigest()[:16]}"
            )
        self._collect(prepared, out)
        return prepared

    def _decode(self, message: RawMessage) -> CustomerFeedback | EmployeePulse:
        if message.value is None:
            raise DecodeError("empty message value (tombstone)", "undecodable")
        signal = self._signal_of_topic.get(message.topic)
        if signal is None:
            raise DecodeError(f"message from unexpected topic {message.topic!r}", "invalid")
        return self.codec.decode(signal, message.value)

    def _dead_letter(
        self,
        prepared: PreparedBatch,
        message: RawMessage,
        reason: str,
        kind: str,
        record: Signal | EpisodeAction | None,
    ) -> None:
        payload = storable_payload(record, self.hmac_secret)
        letter = dead_letter_for(message, reason, kind, payload)
        prepared.sink.dead_letters.append(letter)
        prepared.dead_letter_records.append(dead_letter_record(message, letter))

    def _collect(self, prepared: PreparedBatch, out: EngineOutput[RawMessage]) -> None:
        sink = prepared.sink
        secret = self.hmac_secret
        sink.customer_feedback.extend(
            (customer_row_for_storage(r, secret), False) for r in out.accepted_customer
        )
        for item in out.late:
            if isinstance(item.record, CustomerFeedback):
                sink.customer_feedback.append((customer_row_for_storage(item.record, secret), True))
            else:
                # An individual pulse never reaches ClickHouse: the late one is counted in
                # late_events and kept (raw) only on the dead-letter topic.
                letter = dead_letter_for(
                    item.ref, "late event: its window had already closed", "late", None
                )
                prepared.dead_letter_records.append(dead_letter_record(item.ref, letter))
        for rejected in out.rejected:
            self._dead_letter(
                prepared, rejected.item.ref, rejected.reason, rejected.kind, rejected.item.record
            )
        sink.duplicate_events.extend(
            DuplicateEvent(
                team_id=duplicate.item.record.team_id,
                window_start=duplicate.window_start,
                side=_side_of(_signal(duplicate.item.record)),
                kind=duplicate.kind,
                source_topic=duplicate.item.ref.topic,
                source_partition=duplicate.item.ref.partition,
                source_offset=duplicate.item.ref.offset,
            )
            for duplicate in out.duplicates
        )
        sink.late_events.extend(
            LateEvent(
                team_id=item.record.team_id,
                window_start=window_start_for(
                    _signal(item.record).occurred_at, self.engine.config.window_ms
                ),
                side=_side_of(_signal(item.record)),
                source_topic=item.ref.topic,
                source_partition=item.ref.partition,
                source_offset=item.ref.offset,
            )
            for item in out.late
        )
        sink.employee_comments.extend(out.employee_comments)
        sink.team_windows.extend(out.closed)
        sink.alerts.extend(out.alerts)
        sink.episodes.extend(out.episodes)
        prepared.events.extend(out.events)
        prepared.alert_records.extend(
            OutboundRecord(key=e.team_id.encode(), value=encode_alert(e)) for e in out.events
        )
        prepared.unit_inputs.extend(out.parts)
        prepared.unit_inputs.extend(LooseEvent(record) for record in out.loose_events)
        for partition in sorted(out.dirty_partitions):
            watermark = self.engine.clock(partition).watermark
            # No watermark yet is not "no team": the partition holds records, so it holds
            # every unit window back until its watermark forms.
            prepared.unit_inputs.append(
                Heartbeat(partition, NO_PROGRESS if watermark is None else watermark)
            )
        prepared.state_updates.extend(self._state_updates(out))

    def _state_updates(self, out: EngineOutput[RawMessage]) -> list[StateUpdate]:
        updates: list[StateUpdate] = []
        for team_id in sorted(out.dirty_teams):
            updates.extend(self.state_log.team_updates(team_id, self.engine.teams[team_id]))
        updates.extend(
            (partition, CLOCK_KEY_PREFIX + str(partition), self.engine.clock(partition).to_dict())
            for partition in sorted(out.dirty_partitions)
        )
        updates.sort(key=lambda update: write_phase(update[1], update[2]))  # stable
        return updates


def _signal(record: Signal | EpisodeAction) -> Signal:
    """A late or duplicate item's record: always a signal (actions are never either)."""
    if isinstance(record, EpisodeAction):
        raise TypeError("an episode action cannot be late or a duplicate")
    return record


def _side_of(record: Signal) -> str:
    return "customer" if isinstance(record, CustomerFeedback) else "employee"


def state_from_items(
    items: Iterable[tuple[str, dict[str, Any] | None]], partitions: set[int], now_wall_ms: float
) -> tuple[dict[str, TeamState], dict[int, PartitionClock]]:
    """Rebuild the engine's state from changelog-backed table items, for the given partitions
    (a fresh ``StateLog``; a worker restores through its preparer's, which then knows what of
    the state is written)."""
    return StateLog().restore(items, partitions, now_wall_ms)
