"""``miroir ack``'s broker side: find an episode's team on the alerts topic, and publish an
acknowledgement or a resolution by hand to the actions topic (blocking, kafka-python)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from schemas.codec import decode_alert, encode_action
from schemas.records import EpisodeAction
from streams.detectors.registry import known_alert_kinds
from streams.errors import BrokerError, DecodeError, MiroirError
from streams.kafka_config import KafkaTarget, as_connection

__all__ = [
    "DEFAULT_LOOKUP_SECONDS",
    "EpisodeLookupError",
    "EpisodeRef",
    "find_episode",
    "send_action",
]

DEFAULT_LOOKUP_SECONDS: Final = 30.0
POLL_MS: Final = 500


class EpisodeLookupError(MiroirError):
    """No record of the alerts topic names the episode, or a short id names several."""


@dataclass(frozen=True, slots=True)
class EpisodeRef:
    """An episode's full id and its team: what an action must name."""

    episode_id: str
    team_id: str


def find_episode(
    kafka: KafkaTarget, topic: str, episode_id: str, timeout: float = DEFAULT_LOOKUP_SECONDS
) -> EpisodeRef:
    """The episode whose id is ``episode_id``, or starts with it (the short ids ``miroir
    alerts`` prints), read from the alerts topic from its beginning up to its end when the
    search started. An exact id stops the search at its first record.

    Raises EpisodeLookupError when nothing matches or a short id matches several episodes,
    BrokerError when the topic cannot be read within ``timeout`` seconds.
    """
    found: set[EpisodeRef] = set()
    try:
        for ref in _episodes_on(kafka, topic, episode_id, timeout):
            if ref.episode_id == episode_id:
                return ref
            found.add(ref)
    except KafkaError as e:
        raise BrokerError(f"reading the alerts topic {topic!r} failed: {e!r}") from e
    if not found:
        raise EpisodeLookupError(
            f"no record of the alerts topic {topic!r} names episode {episode_id!r}: check the "
            "id (`miroir alerts` lists the open episodes), or give its team with --team"
        )
    if len(found) > 1:
        names = ", ".join(sorted(ref.episode_id for ref in found))
        raise EpisodeLookupError(
            f"{episode_id!r} starts several episode ids ({names}): give more of it"
        )
    return found.pop()


def _episodes_on(kafka: KafkaTarget, topic: str, prefix: str, timeout: float) -> set[EpisodeRef]:
    """Every episode on the topic whose id starts with ``prefix`` (an exact id first found is
    returned alone, to stop early)."""
    consumer = KafkaConsumer(
        **as_connection(kafka).client_options(),
        enable_auto_commit=False,
        isolation_level="read_committed",
        bootstrap_timeout_ms=int(timeout * 1000),
    )
    found: set[EpisodeRef] = set()
    try:
        numbers = consumer.partitions_for_topic(topic) or set()
        partitions = [TopicPartition(topic, p) for p in sorted(numbers)]
        if not partitions:
            return found
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        reading = {tp for tp in partitions if consumer.position(tp) < ends[tp]}
        deadline = time.monotonic() + timeout
        while reading:
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"reading the alerts topic {topic!r} to its end took over {timeout:.0f}s: "
                    "give the episode's team with --team to skip the search"
                )
            for tp, records in consumer.poll(timeout_ms=POLL_MS).items():
                for record in records:
                    if record.offset >= ends[tp]:
                        break
                    ref = _episode_of(record.value, prefix)
                    if ref is not None and ref.episode_id == prefix:
                        return {ref}
                    if ref is not None:
                        found.add(ref)
                if consumer.position(tp) >= ends[tp]:
                    reading.discard(tp)
                    consumer.pause(tp)
        return found
    finally:
        consumer.close()


def _episode_of(value: bytes | None, prefix: str) -> EpisodeRef | None:
    try:
        alert = decode_alert(value or b"", known_alert_kinds())
    except DecodeError:
        return None  # not ours to judge here: the worker's dead letters tell about such records
    if alert.episode_id is None or not alert.episode_id.startswith(prefix):
        return None
    return EpisodeRef(alert.episode_id, alert.team_id)


def send_action(
    kafka: KafkaTarget, topic: str, action: EpisodeAction, timeout: float = 30.0
) -> None:
    """Publish ``action`` (key = its team, so it reaches the worker holding the team) and wait
    until the broker has it; BrokerError when it does not."""
    value = encode_action(action)
    timeout_ms = int(timeout * 1000)
    try:
        producer = KafkaProducer(
            **as_connection(kafka).client_options(),
            acks="all",
            retries=3,
            max_block_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
    except KafkaError as e:
        raise BrokerError(
            f"no Kafka broker answered at {as_connection(kafka).describe()} ({e!r})"
        ) from e
    try:
        producer.send(topic, key=action.team_id.encode("utf-8"), value=value).get(timeout=timeout)
    except KafkaError as e:
        raise BrokerError(f"sending the action to {topic!r} failed: {e!r}") from e
    finally:
        producer.close(timeout=timeout)
