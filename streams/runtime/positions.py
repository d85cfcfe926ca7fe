"""Check what the Faust consumer delivers against the positions the saved state has absorbed
(pure, no I/O).

Each partition clock knows the next source offset of both sides (``resume_offsets``). The
consumer should hand over exactly the records from there on, in order. It does not always:
around rebalances Faust skips records it had fetched (and acknowledges them), or drops records
below a read offset it moved; the records are still in Kafka, but this worker will never be
given them. So every batch is checked here first:

* records below the position are already in the state or the outputs: dropped;
* a jump above the position is a gap: its records are read from Kafka directly
  (``streams.runtime.kafka_read.read_ranges``) and handled in order before the rest of the batch.

Offsets inside a gap may legitimately not exist (compaction, transaction markers); reading the
range then returns fewer records, which is fine — the check only guarantees nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from streams.core.pipeline import RawMessage

TopicPartition = tuple[str, int]


@dataclass(slots=True)
class DeliveryCheck:
    """A batch checked against the saved positions."""

    fresh: list[RawMessage] = field(default_factory=list)  # not yet absorbed, in batch order
    gaps: dict[TopicPartition, tuple[int, int]] = field(default_factory=dict)  # [start, end)
    already_absorbed: int = 0


def check_delivery(
    messages: Sequence[RawMessage], position_of: Callable[[str, int], int | None]
) -> DeliveryCheck:
    """Split a batch into fresh records and the offset ranges the consumer skipped.

    ``position_of(topic, partition)`` is the next offset the saved state expects, or None when
    nothing is known (no state yet: the consumer's position is taken as it is). One range per
    partition covers every gap of the batch, from the first missing offset to the last.
    """
    check = DeliveryCheck()
    expected: dict[TopicPartition, int | None] = {}
    for message in messages:
        key = (message.topic, message.partition)
        if key not in expected:
            expected[key] = position_of(*key)
        position = expected[key]
        if position is not None and message.offset < position:
            check.already_absorbed += 1
            continue
        if position is not None and message.offset > position:
            start = check.gaps.get(key, (position, message.offset))[0]
            check.gaps[key] = (start, message.offset)
        expected[key] = message.offset + 1
        check.fresh.append(message)
    return check


def with_gaps_filled(fresh: Sequence[RawMessage], filled: Iterable[RawMessage]) -> list[RawMessage]:
    """The batch with the records read for its gaps, each partition in offset order (the
    engine recognises re-read records by offset, so a partition must never go backwards)."""
    have = {(m.topic, m.partition, m.offset) for m in fresh}
    extra = [m for m in filled if (m.topic, m.partition, m.offset) not in have]
    if not extra:
        return list(fresh)
    return sorted([*fresh, *extra], key=lambda m: (m.topic, m.partition, m.offset))


__all__ = ["DeliveryCheck", "check_delivery", "with_gaps_filled"]
