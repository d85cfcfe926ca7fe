"""Follow the alerts topic live, and render alerts and episodes for a terminal."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from schemas.codec import decode_alert
from schemas.records import MirrorAlert
from streams.core.redact import printable
from streams.detectors.registry import known_alert_kinds
from streams.errors import DecodeError
from streams.kafka_config import KafkaTarget, as_connection

log = logging.getLogger("miroir.follow")

SEVERITY_COLOURS = {"critical": "\033[1;31m", "warning": "\033[33m", "info": "\033[32m"}
RESET = "\033[0m"


def format_alert(alert: MirrorAlert, colour: bool = False) -> str:
    """One line per alert, then its plain sentence, indented. A record of an episode's life
    leads with its event (OPENED, UPDATED, ESCALATED, RESOLVED, ACKNOWLEDGED) and ends with
    the episode's short id; who acted and why follow an action taken by hand."""
    window = datetime.fromtimestamp(alert.window_start / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    who = alert.team_id if alert.scope == "team" or not alert.unit_id else alert.unit_id
    head = f"{alert.severity.upper():8} {alert.kind:15} {who:12} window {window}Z"
    # "alert" is a record without an event: from a writer before episodes, or a replay.
    if alert.event != "alert":
        head = f"{alert.event.upper():12} {head}"
    if alert.dimension:
        head += f"  dimension={alert.dimension}"
    if alert.episode_id:
        head += f"  episode {short_id(alert.episode_id)}"
    if alert.actor:
        head += f"  by {alert.actor}"
    head = printable(head)  # ids and names from the topic must not drive the terminal
    if colour:
        head = SEVERITY_COLOURS.get(alert.severity, "") + head + RESET
    text = f"{head}\n         {printable(alert.message)}"
    if alert.note and alert.note not in alert.message:
        text += f"\n         note: {printable(alert.note)}"
    return text


def format_episode_row(row: Mapping[str, Any], colour: bool = False) -> str:
    """One open episode of the ``episodes`` table (as ``miroir alerts`` reads it), one line."""
    line = (
        f"{str(row['severity']).upper():8} {row['kind']:15} {row['team_id']:12} "
        f"opened {_when(row['opened_window_start'])}  {_alerts(int(row['alerts']))}"
        f"  episode {short_id(str(row['episode_id']))}"
    )
    if row.get("acknowledged_by"):
        line += f"  acknowledged by {row['acknowledged_by']}"
    line = printable(line)
    if colour:
        line = SEVERITY_COLOURS.get(str(row["severity"]), "") + line + RESET
    return line


def format_alert_row(row: Mapping[str, Any], colour: bool = False) -> str:
    """One stored alert of ``mirror_alerts`` (as ``miroir alerts`` reads it), one line."""
    episode = f"  [{short_id(row['episode_id'])}]" if row.get("episode_id") else ""
    line = (
        f"{str(row['severity']).upper():8} {row['kind']:15} {row['team_id']:12} "
        f"window {_when(row['window_start'])}{episode}  {row['message']}"
    )
    line = printable(line)
    if colour:
        line = SEVERITY_COLOURS.get(str(row["severity"]), "") + line + RESET
    return line


def short_id(episode_id: str) -> str:
    """The first 8 characters of an id: enough to tell episodes apart on a screen."""
    return episode_id[:8]


def _when(moment: object) -> str:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(moment, int):
        return datetime.fromtimestamp(moment / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return str(moment)


def _alerts(count: int) -> str:
    return f"{count} alert{'s' if count != 1 else ''}"


def follow_alerts(
    kafka: KafkaTarget,
    topic: str,
    on_alert: Callable[[MirrorAlert], None],
    stop: threading.Event,
    from_beginning: bool = False,
) -> None:
    """Call ``on_alert`` for every alert on ``topic`` until ``stop`` is set.

    Reads without a consumer group (assign, not subscribe), so followers never disturb each
    other or the workers. A record that is not a well-formed alert of a known kind (a forgery,
    or damage) is skipped with a warning and the follow goes on past it.
    """
    kinds = known_alert_kinds()
    consumer = KafkaConsumer(
        **as_connection(kafka).client_options(),
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
                    try:
                        alert = decode_alert(record.value, kinds)
                    except DecodeError as e:
                        # Not written by Miroir (or damaged): skipped, the follow goes on.
                        log.warning(
                            "skipped alert record %s[%d]@%d: %r",
                            record.topic,
                            record.partition,
                            record.offset,
                            e.reason,
                        )
                        continue
                    on_alert(alert)
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
