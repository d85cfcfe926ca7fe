"""Read the latest window state of some partitions straight from the changelog topic.

Why not Faust's recovered table: Faust resumes the stream while its table recovery is still
applying changelog records, so a worker that loads its state from the table at that moment can
get a team as it was several batches ago — whose later records' source offsets are already
committed, and whose events would therefore never be seen again. Reading the changelog to its
end ourselves, once per newly assigned partition, has no such window.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from kafka import KafkaConsumer, TopicPartition

log = logging.getLogger("miroir.state")


def read_latest_state(
    bootstrap: str, changelog_topic: str, partitions: Iterable[int], timeout: float = 60.0
) -> dict[str, Any]:
    """The newest value of every key in these changelog partitions (blocking: run in a thread).

    Keys and values are JSON, as the worker writes them; a tombstone (None) removes a key.
    """
    wanted = [TopicPartition(changelog_topic, p) for p in sorted(partitions)]
    latest: dict[str, Any] = {}
    if not wanted:
        return latest
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        enable_auto_commit=False,
        isolation_level="read_committed",
        consumer_timeout_ms=1000,
    )
    try:
        # topics() fetches fresh metadata: a consumer that has not asked yet reports no
        # partitions for a topic that exists, which would silently restore nothing.
        if changelog_topic not in consumer.topics():
            return latest  # no state written yet
        existing = consumer.partitions_for_topic(changelog_topic) or set()
        wanted = [tp for tp in wanted if tp.partition in existing]
        if not wanted:
            return latest  # no state written yet
        consumer.assign(wanted)
        consumer.seek_to_beginning(*wanted)
        ends = consumer.end_offsets(wanted)
        import time

        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in wanted):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {changelog_topic} took over {timeout:.0f}s")
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    key = json.loads(record.key) if record.key is not None else None
                    if not isinstance(key, str):
                        continue
                    if record.value is None:
                        latest.pop(key, None)
                    else:
                        latest[key] = json.loads(record.value)
    finally:
        consumer.close()
    return latest
