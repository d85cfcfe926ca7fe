"""Produce signal records to Kafka (simulator, tests, tooling) with kafka-python."""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaProducer

from schemas.codec import encode
from schemas.records import CustomerFeedback, Signal
from streams.kafka_config import KafkaTarget, as_connection


class SignalPublisher:
    """Encodes signals as Avro and sends them keyed by ``team_id`` (the co-partitioning key)."""

    def __init__(self, kafka: KafkaTarget, customer_topic: str, employee_topic: str) -> None:
        self.customer_topic = customer_topic
        self.employee_topic = employee_topic
        self.sent = 0
        self._producer = KafkaProducer(
            **as_connection(kafka).client_options(),
            acks="all",
            linger_ms=20,
            batch_size=256 * 1024,
            retries=10,
        )

    def topic_for(self, record: Signal) -> str:
        return self.customer_topic if isinstance(record, CustomerFeedback) else self.employee_topic

    def send(self, record: Signal) -> None:
        self.send_raw(self.topic_for(record), record.team_id.encode(), encode(record))

    def send_raw(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Send bytes as they are (tests use it for malformed records)."""
        self._producer.send(topic, key=key, value=value)
        self.sent += 1

    def send_all(self, records: Iterable[Signal]) -> None:
        for record in records:
            self.send(record)

    def flush(self, timeout: float = 30.0) -> None:
        self._producer.flush(timeout=timeout)

    def close(self) -> None:
        self._producer.flush()
        self._producer.close()

    def __enter__(self) -> SignalPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
