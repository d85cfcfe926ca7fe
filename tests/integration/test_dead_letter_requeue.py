"""The documented way to read dead letters again (docs/guarantees.md, 'Reading dead letters
again') runs as written against the real broker: the letters of the chosen kinds go back to the
topic each came from, key and bytes unchanged; the others stay where they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from tests.integration.harness import read_topic

pytestmark = pytest.mark.integration

GUARANTEES = (Path(__file__).resolve().parents[2] / "docs" / "guarantees.md").read_text()


def test_the_documented_requeue_sends_the_chosen_dead_letters_back_to_their_topics(
    kafka_broker, topic_factory
) -> None:
    code = GUARANTEES.split("# requeue_dead_letters.py\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/guarantees.md", "exec"), namespace)  # noqa: S102 - our own docs
    bootstrap = kafka_broker.bootstrap
    dead_letters, customers, employees = (topic_factory(partitions=2) for _ in range(3))
    letters = [
        (customers, "schema", b"team-a", b"\x00\x00\x00\x03\xe7customer bytes"),
        (employees, "schema", b"team-b", b"\x00\x00\x00\x03\xe7pulse bytes"),
        (customers, "range", b"team-a", b"out of range"),
        (employees, "late", b"team-b", b"late pulse"),
    ]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for source, kind, key, value in letters:
        headers = [("miroir.source.topic", source.encode()), ("miroir.error.kind", kind.encode())]
        producer.send(dead_letters, key=key, value=value, headers=headers)
    producer.flush()
    producer.close()

    sent = namespace["requeue"](bootstrap, {"schema"}, dead_letters=dead_letters)

    assert sent == 2
    back = {t: [(r.key, r.value) for r in read_topic(bootstrap, t)] for t in (customers, employees)}
    assert back == {
        customers: [(b"team-a", b"\x00\x00\x00\x03\xe7customer bytes")],
        employees: [(b"team-b", b"\x00\x00\x00\x03\xe7pulse bytes")],
    }
    assert len(read_topic(bootstrap, dead_letters)) == len(letters)  # nothing taken away
