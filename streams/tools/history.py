"""History to backfill, read in a deterministic order: a file of events, or the source topics
from an event time on (``miroir backfill``, docs/backfill.md).

Both give ``SourceItem`` s — a partition number, where the record came from, and the decoded
record or the ``DecodeError`` that refused it — in an order that depends only on the data, never
on timing, so the same history always makes the same batches:

- ``FileHistory``: the events of a JSON lines file (``miroir replay``'s format) in file order,
  each given the partition Kafka's partitioner would give its team, checked as replay checks
  them (``streams.tools.replay.decode_event``).
- ``KafkaHistory``: the customer and employee topics from the offsets of an event time
  (``offsets_for_times``: a record's Kafka timestamp is when it was produced, never before it
  occurred, so no event of the range lies before them) up to the ends they had when reading
  started. The partitions are assigned directly, without a consumer group: nothing is joined
  or committed, so no group (the live worker's least of all) is disturbed, and a rerun reads
  the same range again. Records are merged by (Kafka timestamp, topic, partition, offset):
  offset order within each topic-partition, and the two topics of a partition interleaved
  about as the live worker received them. A record is released only when every
  topic-partition still being read has one waiting, so fetch timing never changes the order.

``stop_partition`` ends the reading of one partition number (both topics) early: a backfill with
``--to`` needs nothing more of a partition once its watermark has passed it.
"""

from __future__ import annotations

import asyncio
import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from schemas.codec import SignalCodec
from schemas.records import Signal
from streams.core.partitioning import partition_for
from streams.errors import BrokerError, ConfigError, DecodeError
from streams.kafka_config import KafkaTarget, as_connection

if TYPE_CHECKING:
    from streams.runtime.schema_registry import SchemaRegistry

__all__ = ["FileHistory", "History", "KafkaHistory", "SourceItem"]

MAX_BUFFERED: Final = 20_000  # records held per topic-partition while merging
POLL_RECORDS: Final = 5_000  # records one poll may return
REGISTRY_PATIENCE_SECONDS: Final = 60.0  # a schema registry not answering stops a backfill
NO_RECORDS_TIMEOUT: Final = 60.0  # seconds without a record while some are still due
POLL_MS: Final = 200


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One source record: its partition number, where it came from (for messages), and its
    record — or why it could not be used."""

    partition: int
    ref: str
    record: Signal | DecodeError


class History(Protocol):
    """What the run reads from: ``items`` in a deterministic order; ``read`` counts them."""

    partitions: int
    total: int  # records expected (an upper bound; 0 when unknown)
    read: int
    skipped_after_to: int  # records read but not needed: their partition had passed --to
    description: str

    def empty_partitions(self) -> set[int]:
        """Partition numbers known from the start to hold nothing to read."""
        ...

    def items(self, stop: threading.Event) -> Iterator[SourceItem]: ...

    def stop_partition(self, partition: int) -> None: ...

    def close(self) -> None: ...


class FileHistory:
    """The events of a JSON lines file (``miroir replay``'s format), in file order."""

    def __init__(self, path: str, partitions: int) -> None:
        from streams.tools.evaluate import read_events

        if not Path(path).exists():
            raise ConfigError(f"cannot read the events file {path}: there is no such file")
        self.path = path
        self.partitions = partitions
        # A pipe or a FIFO is not counted ahead: that would consume it.
        self.total = _count_lines(path) if Path(path).is_file() else 0
        self.read = 0
        self.skipped_after_to = 0  # records of partitions already past --to
        self.description = f"{path} ({partitions} partitions, as MIROIR_TOPIC_PARTITIONS says)"
        self._events = read_events(path)  # ConfigError for a missing file, at the first item
        self._stopped: set[int] = set()

    def empty_partitions(self) -> set[int]:
        return set()  # a file's teams are known only once it is read

    def items(self, stop: threading.Event) -> Iterator[SourceItem]:
        from streams.tools.replay import decode_event

        for topic, value in self._events:
            if stop.is_set():
                return
            self.read += 1
            ref = f"event {self.read}"
            try:
                record = decode_event(topic, value)
            except DecodeError as e:
                yield SourceItem(0, ref, e)
                continue
            partition = partition_for(record.team_id, self.partitions)
            if partition in self._stopped:
                self.skipped_after_to += 1
            else:
                yield SourceItem(partition, ref, record)

    def stop_partition(self, partition: int) -> None:
        self._stopped.add(partition)

    def close(self) -> None:
        close = getattr(self._events, "close", None)
        if close is not None:
            close()


class KafkaHistory:
    """The source topics from the offsets of an event time to the ends they had at the start,
    merged by (Kafka timestamp, topic, partition, offset): see the module doc."""

    def __init__(
        self,
        kafka: KafkaTarget,
        topics: Sequence[tuple[str, str]],  # (topic, its signal: customer-feedback | ...)
        from_ms: int,
        client_id: str,
        codec: SignalCodec,
        warn: Callable[[str], None],
        *,
        max_buffered: int = MAX_BUFFERED,
        poll_records: int = POLL_RECORDS,
        registry: SchemaRegistry | None = None,
    ) -> None:
        from kafka import KafkaConsumer, TopicPartition
        from kafka.errors import KafkaError

        self.codec = codec
        self._warn = warn
        self._registry = registry
        codec.strict_ids = registry is not None  # as the worker: never read an id by guess
        self.max_buffered = max_buffered
        self.holds = 0  # times a partition was held back for having too many records waiting
        self._signal_of = dict(topics)
        self.read = 0
        self.skipped_after_to = 0  # a partition past --to is not read further at all
        where = as_connection(kafka)
        try:
            self._consumer = KafkaConsumer(
                **where.client_options(),
                client_id=client_id,
                group_id=None,  # no group: nothing joined, nothing committed
                enable_auto_commit=False,
                isolation_level="read_committed",
                auto_offset_reset="earliest",
                max_poll_records=poll_records,
            )
        except KafkaError as e:
            raise BrokerError(
                f"cannot read from the Kafka broker at {where.describe()}: {e}"
            ) from e
        try:
            existing = self._consumer.topics()
            counts = {}
            for topic, _ in topics:
                if topic not in existing:
                    raise ConfigError(
                        f"topic {topic!r} does not exist on the broker at {where.bootstrap}: check "
                        "MIROIR_TOPIC_CUSTOMER / MIROIR_TOPIC_EMPLOYEE"
                    )
                counts[topic] = len(self._consumer.partitions_for_topic(topic) or ())
            if len(set(counts.values())) != 1:
                raise ConfigError(
                    f"the source topics are not co-partitioned ({counts}): the worker could not "
                    "have read them either"
                )
            self.partitions = next(iter(counts.values()))
            self._tps = [
                TopicPartition(topic, p) for topic, _ in topics for p in range(self.partitions)
            ]
            consumer = self._consumer
            consumer.assign(self._tps)
            self._ends: dict[Any, int] = consumer.end_offsets(self._tps)
            beginnings = consumer.beginning_offsets(self._tps)
            found = consumer.offsets_for_times(dict.fromkeys(self._tps, from_ms))
            self._starts: dict[Any, int] = {}
            for tp in self._tps:
                at = found.get(tp)
                start = self._ends[tp] if at is None else at.offset
                self._starts[tp] = start
                consumer.seek(tp, start)
                if start == beginnings[tp] and 0 < start < self._ends[tp]:
                    warn(
                        f"{tp.topic}/{tp.partition}: records before offset {start} are gone "
                        "(retention); the history from --from may start later there"
                    )
        except KafkaError as e:
            self._consumer.close()
            raise BrokerError(f"reading the source topics' offsets failed: {e}") from e
        except BaseException:
            self._consumer.close()
            raise
        self.total = sum(self._ends[tp] - self._starts[tp] for tp in self._tps)
        self.description = (
            f"{', '.join(t for t, _ in topics)} ({self.partitions} partitions, "
            f"{self.total:,} records from the offsets of --from to the ends)"
        )
        self._order = {tp: index for index, tp in enumerate(self._tps)}
        self._active = {tp for tp in self._tps if self._starts[tp] < self._ends[tp]}
        self._buffers: dict[Any, deque[Any]] = {tp: deque() for tp in self._tps}
        self._held: dict[Any, int] = {}  # partition held back → the offset to fetch it from

    def empty_partitions(self) -> set[int]:
        return set(range(self.partitions)) - {tp.partition for tp in self._active}

    def items(self, stop: threading.Event) -> Iterator[SourceItem]:
        for record in self._merged(stop):
            self.read += 1
            signal_topic = self._signal_of[record.topic]
            ref = f"{record.topic}/{record.partition}@{record.offset}"
            if self._registry is not None:
                self._learn_writer_schema(self._registry, record.value, stop)
            try:
                decoded: Signal | DecodeError = self.codec.decode(signal_topic, record.value)
            except DecodeError as e:
                decoded = e
            yield SourceItem(record.partition, ref, decoded)

    def _learn_writer_schema(
        self, registry: SchemaRegistry, value: bytes | None, stop: threading.Event
    ) -> None:
        """Ask the registry for the writer schema of ``value``'s id when it is new, as the
        worker does before decoding. A registry that does not answer is asked again for
        ``REGISTRY_PATIENCE_SECONDS``, then the backfill stops (a rerun writes only what is
        missing); one that refuses our login or certificate stops it at once."""
        from streams.runtime.schema_registry import RegistryRefused, RegistryUnavailable

        if not self.codec.unknown_schema_ids([value]):
            return
        deadline = time.monotonic() + REGISTRY_PATIENCE_SECONDS
        delay = 0.5
        while True:
            try:
                asyncio.run(registry.teach(self.codec, [value]))
                return
            except RegistryRefused as e:
                raise ConfigError(str(e)) from e
            except RegistryUnavailable as e:
                if time.monotonic() + delay > deadline or stop.is_set():
                    raise RegistryUnavailable(
                        f"{e}; asked for {REGISTRY_PATIENCE_SECONDS:.0f}s: backfill stopped, "
                        "run it again when the registry answers"
                    ) from e
                self._warn(f"{e}; asking again in {delay:.1f}s")
                stop.wait(delay)
                delay = min(delay * 2, 8.0)

    def stop_partition(self, partition: int) -> None:
        """Read nothing more of this partition number (both topics): its watermark passed --to.
        What it still had to read no longer counts in ``total``."""
        stopped = [tp for tp in self._active if tp.partition == partition]
        for tp in stopped:
            self._active.discard(tp)
            remaining = self._ends[tp] - self._next_offset(tp) + len(self._buffers[tp])
            self.total -= max(remaining, 0)
            self._buffers[tp].clear()
            self._held.pop(tp, None)
        if stopped:
            self._reassign()

    def close(self) -> None:
        self._consumer.close()

    def _key(self, tp: Any) -> tuple[int, int, int]:
        head = self._buffers[tp][0]
        return (head.timestamp, self._order[tp], head.offset)

    def _next_offset(self, tp: Any) -> int:
        held = self._held.get(tp)
        return self._consumer.position(tp) if held is None else held

    def _reassign(self) -> None:
        """Fetch only the partitions still read and not held back. Holding back is done by
        leaving a partition out of the assignment (its position kept in ``_held``) rather than
        with pause(): kafka-python 3.0.12 can leave a resumed partition's parked records
        unreturned for ever (its restore checks ``is None`` where an exhausted record set is
        merely empty), and the merge then waits on it until it times out."""
        wanted = [tp for tp in self._tps if tp in self._active and tp not in self._held]
        if wanted:
            self._consumer.assign(wanted)

    def _hold(self, tp: Any) -> None:
        """Fetch no more of ``tp`` for now: it has ``max_buffered`` records waiting."""
        self._held[tp] = self._consumer.position(tp)
        self.holds += 1
        self._reassign()

    def _release(self, tp: Any) -> None:
        """Fetch ``tp`` again, from where it was held."""
        offset = self._held.pop(tp)
        self._reassign()
        self._consumer.seek(tp, offset)

    def _merged(self, stop: threading.Event) -> Iterator[Any]:
        """A k-way merge: a record is released only when every partition still being read has
        one waiting, so the order never depends on fetch timing."""
        buffers, active = self._buffers, self._active
        waiting = set(active)  # active, with nothing buffered
        heap: list[tuple[int, int, int]] = []
        while active:
            if stop.is_set():
                return
            if waiting:
                for tp in self._fetch(waiting, stop):
                    heapq.heappush(heap, self._key(tp))
                continue
            _, index, _ = heapq.heappop(heap)
            tp = self._tps[index]
            if tp not in active:
                continue  # stopped meanwhile (--to)
            buffer = buffers[tp]
            yield buffer.popleft()
            if tp not in active:
                continue
            if tp in self._held and len(buffer) < self.max_buffered // 2:
                self._release(tp)  # never empty while held: half a buffer is left
            if buffer:
                heapq.heappush(heap, self._key(tp))
            elif self._consumer.position(tp) >= self._ends[tp]:
                active.discard(tp)
            else:
                waiting.add(tp)

    def _fetch(self, waiting: set[Any], stop: threading.Event) -> list[Any]:
        """Poll until some waiting partition has records or has reached its end; return those
        that now have records (their heads go on the heap)."""
        consumer, buffers = self._consumer, self._buffers
        deadline = time.monotonic() + NO_RECORDS_TIMEOUT
        while not stop.is_set():
            filled = []
            full = []
            for tp, records in consumer.poll(timeout_ms=POLL_MS).items():
                if tp not in self._active or tp in self._held:
                    continue
                end = self._ends[tp]
                buffer = buffers[tp]
                buffer.extend(r for r in records if r.offset < end)
                if buffer and tp in waiting:
                    waiting.discard(tp)
                    filled.append(tp)
                if len(buffer) >= self.max_buffered:
                    full.append(tp)
            for tp in full:
                self._hold(tp)
            for tp in list(waiting):
                if consumer.position(tp) >= self._ends[tp]:  # nothing left (gaps, markers)
                    waiting.discard(tp)
                    self._active.discard(tp)
            if filled or not waiting:
                return filled
            if time.monotonic() > deadline:
                names = ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(waiting))
                raise BrokerError(
                    f"no records from {names} for {NO_RECORDS_TIMEOUT:.0f} s, though they "
                    "have some left to read: is the broker still up?"
                )
        return []


def _count_lines(path: str) -> int:
    """Lines of a file (an upper bound of its events); 0 when it cannot be read (reading it
    then reports why)."""
    try:
        with open(path, "rb") as lines:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: lines.read(1 << 20), b""))
    except OSError:
        return 0
