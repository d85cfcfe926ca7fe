"""Follow the alerts topic live and render alerts for a terminal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from kafka import KafkaConsumer, TopicPartition

from schemas.codec import decode_alert
from schemas.records import MirrorAlert

SEVERITY_COLOURS = {"critical": "\033[1;31m", "warning": "\033[33m", "info": "\033[32m"}
RESET = "\033[0m"


def format_alert(alert: MirrorAlert, colour: bool = False) -> str:
    """One line per alert, then its plain sentence, indented."""
    window = datetime.fromtimestamp(alert.window_start / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    head = f"{alert.severity.upper():8} {alert.kind:15} {alert.team_id:12} window {window}Z"
    if alert.dimension:
        head += f"  dimension={alert.dimension}"
    if colour:
        head = SEVERITY_COLOURS.get(alert.severity, "") + head + RESET
    return f"{head}\n         {alert.message}"


def follow_alerts(
    bootstrap: str,
    topic: str,
    on_alert: Callable[[MirrorAlert], None],
    stop: threading.Event,
    from_beginning: bool = False,
) -> None:
    """Call ``on_alert`` for every alert on ``topic`` until ``stop`` is set.

    Reads without a consumer group (assign, not subscribe), so followers never disturb each
    other or the workers.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        enable_auto_commit=False,
        isolation_level="read_committed",
        consumer_timeout_ms=500,
    )
    try:
        partitions = _partitions(consumer, topic)
        consumer.assign(partitions)
        if from_beginning:
            consumer.seek_to_beginning(*partitions)
        else:
            consumer.seek_to_end(*partitions)
            for tp in partitions:
                consumer.position(tp)  # resolve "end" now, so alerts sent from here on are seen
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=300).values():
                for record in records:
                    on_alert(decode_alert(record.value))
    finally:
        consumer.close()


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    numbers = None
    for _ in range(50):
        numbers = consumer.partitions_for_topic(topic)
        if numbers:
            break
        stop_wait = threading.Event()
        stop_wait.wait(0.2)
    if not numbers:
        raise RuntimeError(f"topic {topic!r} not found on the broker")
    return [TopicPartition(topic, p) for p in sorted(numbers)]
