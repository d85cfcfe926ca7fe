"""The core's murmur2 partitioner agrees with Kafka's (kafka-python's implementation)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_murmur2

from streams.core.partitioning import murmur2, partition_for


@given(st.binary(max_size=64))
def test_murmur2_matches_kafka(data: bytes) -> None:
    assert murmur2(data) & 0x7FFFFFFF == kafka_murmur2(data) & 0x7FFFFFFF


@given(st.text(max_size=40), st.integers(1, 64))
def test_partition_matches_the_default_partitioner(team_id: str, partitions: int) -> None:
    expected = (kafka_murmur2(team_id.encode("utf-8")) & 0x7FFFFFFF) % partitions
    assert partition_for(team_id, partitions) == expected


def test_known_values() -> None:
    # Pinned values (signed 32-bit, as Kafka's Java returns them), made non-negative.
    assert murmur2(b"21") & 0x7FFFFFFF == -973932308 & 0x7FFFFFFF
    assert murmur2(b"") & 0x7FFFFFFF == 275646681 & 0x7FFFFFFF
