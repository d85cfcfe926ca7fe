"""Which alerts are already on the alerts topic, so a worker restarted after a crash does not
publish an alert twice.

Alerts are keyed by ``team_id``, and the alerts topic has as many partitions as the source
topics, so the alerts of the teams of source partition *p* all live in alerts partition *p*.
When a worker is assigned *p*, it reads the tail of that partition once and remembers the
alert ids it finds; an alert is only published if its id is not among them. Only alerts closed
in the last moments before a crash can be re-produced, so a bounded tail is enough.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable

from schemas.codec import decode_alert
from streams.core.partitioning import partition_for
from streams.detectors.registry import known_alert_kinds
from streams.errors import DecodeError
from streams.kafka_config import KafkaTarget
from streams.runtime.kafka_read import read_to_end

log = logging.getLogger("miroir.emitted")

DEFAULT_LOOKBACK = 20_000  # alerts per partition read back at assignment


class EmittedAlerts:
    """Alert ids known to be on the alerts topic, per partition, bounded."""

    def __init__(
        self, kafka: KafkaTarget, topic: str, partitions: int, lookback: int = DEFAULT_LOOKBACK
    ) -> None:
        self.kafka = kafka
        self.topic = topic
        self.partitions = partitions
        self.lookback = lookback
        self._ids: dict[int, OrderedDict[str, None]] = {}

    def seen(self, team_id: str, alert_id: str) -> bool:
        return alert_id in self._ids.get(partition_for(team_id, self.partitions), ())

    def add(self, team_id: str, alert_id: str) -> None:
        ids = self._ids.setdefault(partition_for(team_id, self.partitions), OrderedDict())
        ids[alert_id] = None
        while len(ids) > self.lookback:
            ids.popitem(last=False)

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._ids.pop(partition, None)

    def load(self, partitions: Iterable[int]) -> int:
        """Read the tail of these alerts partitions (blocking: run it in a thread)."""
        wanted = sorted(partitions)
        for partition in wanted:
            self._ids.setdefault(partition, OrderedDict())
        found = 0
        kinds = known_alert_kinds()
        for record in read_to_end(self.kafka, self.topic, wanted, last=self.lookback):
            try:
                self._ids[record.partition][decode_alert(record.value, kinds).alert_id] = None
                found += 1
            except DecodeError:
                log.warning(
                    "unreadable alert at %s/%d offset %d",
                    self.topic,
                    record.partition,
                    record.offset,
                )
        return found
