"""The organisation's compacted topic: load it from a CSV, and follow it as a table.

``OrgReader`` is the table side of a stream–table join: it reads the whole teams topic once,
then only what was written since, each time ``refresh`` is called (the unit stage calls it
before each batch, so a change takes effect from the next window it closes). A record that
does not decode, or names an impossible path, becomes a dead letter (``take_rejected``; the unit
stage stores it) and the team stays where it was (or unassigned): a bad row in the
organisation must not stop the pipeline.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from schemas.codec import decode_team_info, encode_team_info
from streams.core.model import DeadLetter
from streams.core.org import OrgChart, TeamInfo
from streams.errors import BrokerError, DecodeError
from streams.kafka_config import KafkaTarget, as_connection

__all__ = ["OrgReader", "publish_teams"]

log = logging.getLogger("miroir.org")

POLL_MS: Final = 200


class OrgReader:
    """The teams topic as an ``OrgChart``, kept up to date by ``refresh`` (blocking)."""

    def __init__(self, kafka: KafkaTarget, topic: str) -> None:
        self.topic = topic
        self.chart = OrgChart()
        self._consumer = KafkaConsumer(
            **as_connection(kafka).client_options(),
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="earliest",
            consumer_timeout_ms=POLL_MS,
        )
        self._partitions: list[TopicPartition] = []
        self.rejected: list[DeadLetter] = []

    def _assign(self) -> None:
        partitions = self._consumer.partitions_for_topic(self.topic) or set()
        if partitions:
            self._partitions = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            self._consumer.assign(self._partitions)
            self._consumer.seek_to_beginning(*self._partitions)

    def refresh(self, timeout: float = 30.0) -> OrgChart:
        """Apply everything written to the topic up to now; return the chart."""
        if not self._partitions:
            self._assign()  # the topic may not exist yet: nobody loaded the organisation
        if not self._partitions:
            return self.chart
        ends = self._consumer.end_offsets(self._partitions)
        deadline = time.monotonic() + timeout
        while any(self._consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise BrokerError(f"reading the teams topic {self.topic!r} took over {timeout}s")
            for records in self._consumer.poll(timeout_ms=POLL_MS).values():
                for record in records:
                    self._apply(record)
        return self.chart

    def _apply(self, record: Any) -> None:
        key, value = record.key, record.value
        team_id = key.decode("utf-8", "replace") if key else None
        if value is None:
            if team_id:
                self.chart.update(None, team_id)
            return
        try:
            fields = decode_team_info(value)
            info = TeamInfo(
                str(fields["team_id"]),
                str(fields["display_name"]),
                tuple(fields["path"]),
                tuple(fields.get("levels") or ()),
            )
        except (DecodeError, ValueError, KeyError) as e:
            reason = f"teams topic: {getattr(e, 'reason', None) or e}"
            kind = getattr(e, "kind", "invalid")
            log.warning("%r (offset %d); the team keeps its previous place", reason, record.offset)
            self.rejected.append(
                DeadLetter(
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    reason=reason[:500],
                    payload=value,  # the organisation is not personal data
                    payload_sha256=hashlib.sha256(value).hexdigest(),
                    key=key,
                    seen_at=int(time.time() * 1000),
                    error_kind=kind,
                )
            )
            return
        self.chart.update(info, info.team_id)

    def take_rejected(self) -> list[DeadLetter]:
        """The records found unusable since the last call (for the dead letters)."""
        rejected, self.rejected = self.rejected, []
        return rejected

    def close(self) -> None:
        self._consumer.close()


def publish_teams(
    kafka: KafkaTarget,
    topic: str,
    teams: Sequence[TeamInfo],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write ``teams`` to the teams topic (key team_id), waiting until the broker has them all."""
    producer = KafkaProducer(**as_connection(kafka).client_options(), acks="all", linger_ms=20)
    try:
        sent = []
        for number, team in enumerate(teams, start=1):
            value = encode_team_info(team.team_id, team.display_name, team.path, team.levels)
            sent.append(producer.send(topic, key=team.team_id.encode("utf-8"), value=value))
            if progress and number % 1000 == 0:
                progress(number)
        producer.flush(timeout=60)
        for future in sent:  # a record the broker refused raises here, naming why
            try:
                future.get(timeout=60)
            except Exception as e:
                raise BrokerError(f"writing the teams topic {topic!r} failed: {e!r}") from e
    finally:
        producer.close()
    if progress:
        progress(len(teams))
    return len(teams)
