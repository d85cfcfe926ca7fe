"""Read parts of topics directly, without a consumer group (blocking: run in a thread).

Used at assignment time (window state, published alerts) and to fetch source records the Faust
consumer skipped (``streams.runtime.positions``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streams.kafka_config import KafkaTarget, as_connection


def read_to_end(
    kafka: KafkaTarget,
    topic: str,
    partitions: Iterable[int],
    *,
    last: int | None = None,
    timeout: float = 60.0,
) -> Iterator[Any]:
    """Every record of these partitions from the beginning (or only the ``last`` N of each) up
    to the end they had when reading started, in offset order per partition. A topic that does
    not exist yet yields nothing. Raises TimeoutError past ``timeout`` seconds."""
    consumer = KafkaConsumer(
        **as_connection(kafka).client_options(),
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    try:
        # topics() fetches fresh metadata, so an existing topic is never taken for a new one.
        if topic not in consumer.topics():
            return
        existing = consumer.partitions_for_topic(topic) or set()
        wanted = [TopicPartition(topic, p) for p in sorted(partitions) if p in existing]
        if not wanted:
            return
        consumer.assign(wanted)
        ends = consumer.end_offsets(wanted)
        starts = consumer.beginning_offsets(wanted)
        for tp in wanted:
            consumer.seek(tp, starts[tp] if last is None else max(starts[tp], ends[tp] - last))
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in wanted):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} to its end took over {timeout:.0f}s")
            for records in consumer.poll(timeout_ms=500).values():
                yield from records
    finally:
        consumer.close()


def read_ranges(
    kafka: KafkaTarget,
    ranges: Mapping[tuple[str, int], tuple[int, int]],
    *,
    isolation_level: str = "read_committed",
    timeout: float = 60.0,
) -> Iterator[Any]:
    """Records of each (topic, partition) with offsets in [start, end), in offset order per
    partition. Offsets that no longer exist (retention) are skipped; raises TimeoutError past
    ``timeout`` seconds."""
    if not ranges:
        return
    consumer = KafkaConsumer(
        **as_connection(kafka).client_options(),
        enable_auto_commit=False,
        isolation_level=isolation_level,
        auto_offset_reset="earliest",
    )
    try:
        wanted = {TopicPartition(topic, p): bounds for (topic, p), bounds in ranges.items()}
        consumer.assign(list(wanted))
        ends = consumer.end_offsets(list(wanted))
        for tp, (start, _) in wanted.items():
            consumer.seek(tp, start)
        stop = {tp: min(end, ends[tp]) for tp, (_, end) in wanted.items()}
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < stop[tp] for tp in wanted):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"reading {len(ranges)} partition range(s) took over {timeout:.0f}s"
                )
            for tp, records in consumer.poll(timeout_ms=500).items():
                yield from (r for r in records if r.offset < stop[tp])
                if consumer.position(tp) >= stop[tp]:
                    consumer.pause(tp)
    finally:
        consumer.close()
