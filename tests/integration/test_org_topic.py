"""The organisation's topic on a real broker: written by `miroir teams load`'s publisher, read
as a table (updates, tombstones), and an unusable record kept as a dead letter, not fatal."""

from __future__ import annotations

import pytest
from kafka import KafkaProducer

from streams.core.org import TeamInfo
from streams.runtime.org_topic import OrgReader, publish_teams

pytestmark = pytest.mark.integration


def test_the_teams_topic_reads_as_a_table_and_bad_records_become_dead_letters(
    kafka_broker, topic_factory
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = topic_factory(partitions=2, prefix="teams", configs={"cleanup.policy": "compact"})
    reader = OrgReader(bootstrap, topic)
    try:
        assert reader.refresh().teams == {}  # nothing loaded yet: everyone is unassigned
        publish_teams(
            bootstrap,
            topic,
            [
                TeamInfo("t1", "Paris", ("acme", "emea", "paris"), ("company", "region", "site")),
                TeamInfo("t2", "Lyon", ("acme", "emea", "lyon"), ("company", "region", "site")),
            ],
        )
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        producer.send(topic, key=b"t3", value=b"\x00 not avro").get(30)
        producer.send(topic, key=b"t2", value=None).get(30)  # a tombstone forgets t2
        producer.close()
        publish_teams(bootstrap, topic, [TeamInfo("t1", "Paris", ("acme", "france"))])

        chart = reader.refresh()
        assert chart.place("t1").units() == ["acme", "acme/france"]  # the newest record wins
        assert chart.place("t2").units() == ["unassigned"]
        assert chart.place("t3").units() == ["unassigned"]
        [letter] = reader.take_rejected()
        assert (letter.topic, letter.key, letter.error_kind) == (topic, b"t3", "undecodable")
        assert letter.reason.startswith("teams topic:")
        assert reader.take_rejected() == []  # handed over once
    finally:
        reader.close()
