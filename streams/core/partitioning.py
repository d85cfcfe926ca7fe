"""Which partition a team's records land on: Kafka's default partitioner, in pure Python.

Offline replay must see the same per-partition watermarks as the worker, so it assigns each
event to the partition the producer's default partitioner picks for its key: murmur2 of the
key bytes (the 32-bit MurmurHash2 variant of Kafka's ``Utils.murmur2``, seed 0x9747b28c), made
non-negative, modulo the partition count. Written here from the algorithm so that the core has
no Kafka client import; ``tests/unit/test_partitioning.py`` checks it against kafka-python's.
"""

from __future__ import annotations

import functools
from typing import Final

_SEED: Final = 0x9747B28C
_M: Final = 0x5BD1E995
_R: Final = 24
_MASK: Final = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of ``data`` as an unsigned 32-bit integer."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> _R
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length % 4
    if tail == 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


@functools.lru_cache(maxsize=65_536)
def partition_for(team_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a ``team_id`` key. Cached: it runs per
    event in replay."""
    return (murmur2(team_id.encode("utf-8")) & 0x7FFFFFFF) % partitions


__all__ = ["murmur2", "partition_for"]
