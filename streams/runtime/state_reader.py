"""Read the latest window state of some partitions straight from the changelog topic.

Why not Faust's recovered table: Faust resumes the stream while its table recovery is still
applying changelog records, so a worker that loads its state from the table at that moment can
get a team as it was several batches ago — whose later records' source offsets are already
committed, and whose events would therefore never be seen again. Reading the changelog to its
end ourselves, once per newly assigned partition, has no such window.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from streams.kafka_config import KafkaTarget
from streams.runtime.kafka_read import read_to_end


def read_latest_state(
    kafka: KafkaTarget, changelog_topic: str, partitions: Iterable[int], timeout: float = 60.0
) -> dict[str, Any]:
    """The newest value of every key in these changelog partitions (blocking: run in a thread).

    Keys and values are JSON, as the worker writes them; a tombstone (None) removes a key.
    """
    latest: dict[str, Any] = {}
    for record in read_to_end(kafka, changelog_topic, partitions, timeout=timeout):
        key = json.loads(record.key) if record.key is not None else None
        if not isinstance(key, str):
            continue
        if record.value is None:
            latest.pop(key, None)
        else:
            latest[key] = json.loads(record.value)
    return latest
