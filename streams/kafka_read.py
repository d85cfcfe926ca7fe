"""Read some partitions of a topic up to their current end, without a consumer group.

Used at assignment time (window state, published alerts): blocking, run it in a thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition


def read_to_end(
    bootstrap: str,
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
        bootstrap_servers=bootstrap.split(","),
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
