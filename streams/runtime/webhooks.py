"""Follow the pages topic and deliver each page to the webhooks (``sinks.webhook``).

The pages topic (``MIROIR_TOPIC_PAGES``) holds what the unit stage decided should page: a team
episode's opened, escalated and resolved events that no incident covers, and incidents. Its
records are alerts-topic records (``MirrorAlert``), so "alert" below means one of them.

Delivery semantics: **at least once**, per alert and URL.

* Consumer group ``f"{app_id}-webhooks"``: with several workers, each alert partition is read
  by one of them, so each alert is delivered by one worker.
* An alert's offset is committed only after it was delivered to every URL, or dead-lettered
  (a ``dead_letters`` row with ``error_kind = "webhook"`` is durable in ClickHouse), or skipped
  (below ``MIROIR_WEBHOOK_MIN_SEVERITY``). A crash or rebalance in between delivers it again:
  receivers de-duplicate on the ``X-Miroir-Alert-Id`` header (the deterministic alert id).
  Within one process, an alert id already delivered is not sent again.
* Where a partition starts: at the group's committed offset; when the group has none (the
  first start with webhooks on), at the first alert written *after this relay was created*
  (the worker's start), found by timestamp. Old alerts are never replayed to the webhooks on
  a first start, and alerts written while the consumer was still joining its group are not
  missed either.
* Records are processed in order within a partition; partitions are processed concurrently,
  so one slow endpoint delays only the alerts behind it in the same partition.
* An alert record that cannot be decoded, or is not a well-formed alert of a kind an installed
  detector declares (``schemas.codec.check_alert``: a forgery by someone who can write to the
  topic), is dead-lettered with its decode error kind and counted (``refused``), never signed
  or posted; the relay goes on past it. A *well-formed* forgery is still posted: only Kafka
  ACLs on the topic stop that (docs/security.md).
* A webhook URL the sink refuses (``sinks.webhook.check_webhook_url``: port out of range, not
  http(s), …) never stops or restarts the relay: each alert is dead-lettered for that URL and
  delivered to the others.

Logs: one line per failed attempt or failure (``sinks.webhook``), never the secret, URLs
without credentials.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Final

import faust
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from schemas.codec import decode_alert
from sinks.base import Sink
from sinks.webhook import AlertSource, WebhookSink
from streams.core.model import DeadLetter, SinkBatch
from streams.detectors.registry import known_alert_kinds
from streams.errors import DecodeError, SinkStopped, SinkUnavailable
from streams.kafka_config import KafkaConnection
from streams.runtime.restarting import run_restarting
from streams.settings import Settings

__all__ = ["WebhookRelay", "register_webhooks", "webhook_group"]

log = logging.getLogger("miroir.webhooks")

MAX_RECORDS: Final = 10  # alerts per poll; bounds the time between two polls
MAX_SINK_BACKOFF_SECONDS: Final = 30.0
REMEMBERED_IDS: Final = 10_000


def webhook_group(settings: Settings) -> str:
    """The consumer group of the webhook relays of one app."""
    return f"{settings.app_id}-webhooks"


class WebhookRelay:
    """Consumes the pages topic in its own consumer group and hands each alert to a
    ``WebhookSink``; dead letters go to ``sink`` (blocking: run in an executor).

    ``start_from_ms`` (default: now) is where partitions without a committed offset start,
    as a record timestamp (see the module docstring). ``run`` returns when ``stop`` is set;
    cancelling it is also clean (the current alert is then not committed, and comes again).
    """

    def __init__(
        self,
        settings: Settings,
        sink: Sink,
        *,
        webhooks: WebhookSink | None = None,
        start_from_ms: int | None = None,
        group_id: str | None = None,
    ) -> None:
        self.kafka = KafkaConnection.from_settings(settings)
        self.settings = settings
        self.sink = sink
        self.webhooks = webhooks or WebhookSink.from_settings(settings)
        self.start_from_ms = int(time.time() * 1000) if start_from_ms is None else start_from_ms
        self.group_id = group_id or webhook_group(settings)
        # Pages, not every event: the unit stage chose them (one per problem, one per shared
        # shock; see streams.core.unit_stage).
        self.topic = settings.pages_topic
        self.counters = {"delivered": 0, "skipped": 0, "dead_letters": 0, "refused": 0}
        self.kinds = known_alert_kinds()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._consumer: AIOKafkaConsumer | None = None

    # -- running --------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Relay alerts until ``stop`` is set (or the task is cancelled); a broken consumer
        is logged and restarted, so the worker's pipeline never depends on the webhooks."""
        await run_restarting("webhook relay", self._run_once, stop or asyncio.Event(), log)

    async def _run_once(self, stop: asyncio.Event) -> None:
        consumer = self._make_consumer()
        self._consumer = consumer
        await self.webhooks.open()
        try:
            consumer.subscribe([self.topic], listener=_StartAtCreation(self, consumer))
            await consumer.start()
            log.info(
                "webhooks: following %s in group %s to %d endpoint(s), min severity %s",
                self.topic,
                self.group_id,
                len(self.webhooks.urls),
                self.webhooks.min_severity,
            )
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=MAX_RECORDS)
                if batches:
                    await asyncio.gather(
                        *(self._handle_partition(consumer, tp, rs) for tp, rs in batches.items())
                    )
        finally:
            self._consumer = None
            try:
                await consumer.stop()
            finally:
                await self.webhooks.close()

    def _make_consumer(self) -> AIOKafkaConsumer:
        settings = self.settings
        # Worst case for one alert: every attempt times out and every wait is the cap.
        per_alert = settings.webhook_attempts * (settings.webhook_timeout_seconds + 60.0)
        session_ms = int(settings.session_timeout_seconds * 1000)
        return AIOKafkaConsumer(
            **self.kafka.client_options(),
            group_id=self.group_id,
            client_id=f"{settings.app_id}-webhooks",
            enable_auto_commit=False,
            # Used only when a committed offset is out of range (the listener positions the
            # partitions the group has no offset for): everything retained is then newer.
            auto_offset_reset="latest",
            isolation_level="read_committed",
            max_poll_interval_ms=int(max(300.0, per_alert * MAX_RECORDS + 60.0) * 1000),
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(1000, session_ms // 3),
        )

    async def _handle_partition(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, records: Sequence[Any]
    ) -> None:
        for record in records:
            if tp not in consumer.assignment():
                return  # revoked meanwhile: the new owner takes over from the committed offset
            await self._handle(record)
            try:
                await consumer.commit({tp: record.offset + 1})
            except KafkaError as e:
                log.warning(
                    "webhooks: could not commit %s[%d]@%d (%s); it may be delivered again",
                    tp.topic,
                    tp.partition,
                    record.offset,
                    type(e).__name__,
                )
                return

    async def _handle(self, record: Any) -> None:
        source = AlertSource(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            value=record.value or b"",
            key=record.key,
        )
        try:
            alert = decode_alert(source.value, self.kinds)
        except DecodeError as e:
            log.warning(
                "webhooks: alert record %s[%d]@%d refused, not posted (%s: %r); dead-lettered",
                source.topic,
                source.partition,
                source.offset,
                e.kind,
                e.reason,
            )
            self.counters["refused"] += 1
            await self.write_dead_letters([_undecodable(source, e)])
            return
        if alert.alert_id in self._recent:
            self.counters["skipped"] += 1
            return
        result = await self.webhooks.deliver(alert, source)
        if result.dead_letters:
            await self.write_dead_letters(list(result.dead_letters))
            self.counters["dead_letters"] += len(result.dead_letters)
        elif result.skipped:
            self.counters["skipped"] += 1
        else:
            self.counters["delivered"] += 1
        self._remember(alert.alert_id)

    def _remember(self, alert_id: str) -> None:
        self._recent[alert_id] = None
        while len(self._recent) > REMEMBERED_IDS:
            self._recent.popitem(last=False)

    async def write_dead_letters(self, letters: list[DeadLetter]) -> None:
        """Make the dead letters durable before the alert's offset is committed; while the
        sink is down, retry with capped backoff (the relay pauses, nothing is lost). An error
        retrying cannot fix is logged with the letters' coordinates and not retried: the
        relay must not stall on it for good."""
        first = letters[0]
        batch = SinkBatch(
            token=f"webhook:{first.topic}:{first.partition}:{first.offset}",
            dead_letters=letters,
        )
        loop = asyncio.get_running_loop()
        delay = 0.5
        while True:
            try:
                await loop.run_in_executor(None, self.sink.write, batch)
                return
            except SinkUnavailable as e:
                delay = min(
                    max(delay * 2, getattr(e, "retry_after", 0.0)), MAX_SINK_BACKOFF_SECONDS
                )
                log.warning(
                    "webhooks: dead letter for %s[%d]@%d not stored (%s); retrying in %.1fs",
                    first.topic,
                    first.partition,
                    first.offset,
                    type(e).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
            except SinkStopped:
                raise
            except Exception as e:  # noqa: BLE001 - whatever it is, retrying will not fix it
                log.error(
                    "webhooks: %d dead letters from %s[%d]@%d could not be stored and are "
                    "given up (%s: %s); they stay on the alerts topic",
                    len(letters),
                    first.topic,
                    first.partition,
                    first.offset,
                    type(e).__name__,
                    e,
                )
                return


class _StartAtCreation(ConsumerRebalanceListener):  # type: ignore[misc]
    """Positions newly assigned partitions that have no committed offset at the first record
    written at or after ``relay.start_from_ms`` (or at the end when there is none)."""

    def __init__(self, relay: WebhookRelay, consumer: AIOKafkaConsumer) -> None:
        self.relay = relay
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        """Nothing to do: offsets are committed alert by alert."""

    async def on_partitions_assigned(self, assigned: Any) -> None:
        partitions = sorted(assigned, key=lambda tp: (tp.topic, tp.partition))
        if not partitions:
            return
        consumer = self.consumer
        # Hold them while we look: nothing is fetched from a position we are about to change.
        consumer.pause(*partitions)
        try:
            fresh = [tp for tp in partitions if await consumer.committed(tp) is None]
            if fresh:
                # The ends first: a record written after this snapshot lies beyond it.
                ends = await consumer.end_offsets(fresh)
                found = await consumer.offsets_for_times(
                    {tp: self.relay.start_from_ms for tp in fresh}
                )
                for tp in fresh:
                    hit = found.get(tp)
                    consumer.seek(tp, hit.offset if hit is not None else ends[tp])
                log.info(
                    "webhooks: %d partition(s) without a committed offset start at alerts "
                    "written since %d (epoch ms)",
                    len(fresh),
                    self.relay.start_from_ms,
                )
        except KafkaError as e:
            log.warning(
                "webhooks: could not position new partitions (%s); they start at the latest alert",
                type(e).__name__,
            )
        finally:
            consumer.resume(*partitions)


def _undecodable(source: AlertSource, error: DecodeError) -> DeadLetter:
    return DeadLetter(
        topic=source.topic,
        partition=source.partition,
        offset=source.offset,
        reason=f"webhooks: the alert record could not be decoded: {error.reason}",
        payload=source.value,
        payload_sha256=hashlib.sha256(source.value).hexdigest(),
        key=source.key,
        seen_at=int(time.time() * 1000),
        error_kind=error.kind,
    )


def register_webhooks(app: faust.App, settings: Settings, sink: Sink) -> None:
    """Run a ``WebhookRelay`` as a task of ``app``: it starts when the worker is ready and is
    cancelled when it stops. Partitions new to the group start at alerts written from now on
    (the worker's start), not at old ones."""
    relay = WebhookRelay(settings, sink)

    @app.task
    async def webhooks() -> None:
        await relay.run()
