"""The live feed: one alerts-topic reader per worker process, fanned out to browsers over SSE.

One aiokafka consumer *without a consumer group* (it gets every partition, commits nothing,
never joins the workers' group nor disturbs other followers) reads the alerts topic from its
end, decodes each alert, and hands it to every connected client's bounded queue. A client that falls
behind (a slow browser, a stalled connection) cannot grow memory: when its queue is full it is
emptied and given one ``resync`` notice instead, and the page reloads its list from
ClickHouse. The hub also keeps the last ``replay`` alerts, sent to each new connection, so an
alert fired while a browser was (re)connecting is not lost; the page de-duplicates by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from schemas.codec import decode_alert
from schemas.records import MirrorAlert
from streams.detectors.registry import known_alert_kinds
from streams.errors import DecodeError, MiroirError
from streams.kafka_config import KafkaTarget, as_connection

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = [
    "CLOSE",
    "DEFAULT_CLIENT_QUEUE",
    "DEFAULT_MAX_CLIENTS",
    "DEFAULT_REPLAY",
    "RESYNC",
    "AlertHub",
    "AddressFull",
    "HubFull",
    "Subscription",
    "kafka_alert_source",
]

log = logging.getLogger("miroir.web.live")

DEFAULT_CLIENT_QUEUE: Final = 256  # alerts waiting per client before it must resync
DEFAULT_REPLAY: Final = 100  # latest alerts sent to every new connection
DEFAULT_MAX_CLIENTS: Final = 200  # concurrent SSE connections per worker
DEFAULT_MAX_PER_ADDRESS: Final = 8  # of them from one client address (a few tabs, not all)
RETRY_SECONDS: Final = 2.0  # wait before reconnecting the reader after a broker error
STEP_TIMEOUT_SECONDS: Final = 30.0  # connecting or positioning the reader, at most

RESYNC: Final = "resync"  # queue marker: the client missed alerts, reload the list
CLOSE: Final = "close"  # queue marker: the server is stopping

# A source calls its argument once it is positioned, then yields alerts as they come.
AlertSource = Callable[[Callable[[], None]], AsyncIterator[MirrorAlert]]


class HubFull(MiroirError):
    """Too many live connections on this worker; the client should retry later."""


class AddressFull(HubFull):
    """Too many live connections from one client address; it should close some first."""


@dataclass(eq=False)
class Subscription:
    """One connected client: a bounded queue of alerts and markers."""

    queue: asyncio.Queue[MirrorAlert | str] = field(
        default_factory=lambda: asyncio.Queue(DEFAULT_CLIENT_QUEUE)
    )
    resyncs: int = 0

    def offer(self, item: MirrorAlert | str) -> None:
        """Queue ``item``; a full queue is dropped and replaced by one RESYNC marker."""
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.resyncs += 1
            self.queue.put_nowait(RESYNC)

    async def get(self) -> MirrorAlert | str:
        return await self.queue.get()


class AlertHub:
    """Fans alerts out to subscribers; ``start`` runs the source in a background task."""

    def __init__(
        self,
        source: AlertSource | None,
        *,
        client_queue: int = DEFAULT_CLIENT_QUEUE,
        replay: int = DEFAULT_REPLAY,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        max_per_address: int = DEFAULT_MAX_PER_ADDRESS,
    ) -> None:
        self._source = source
        self._client_queue = client_queue
        self._recent: deque[MirrorAlert] = deque(maxlen=replay)
        self._subscribers: set[Subscription] = set()
        self._max_clients = max_clients
        self._max_per_address = max_per_address
        self._per_address: dict[str, int] = {}
        self._address_of: dict[Subscription, str] = {}
        self._task: asyncio.Task[None] | None = None
        self.connected = False  # the reader is positioned on the topic
        self.received = 0
        self.failures = 0

    @classmethod
    def from_settings(cls, source: AlertSource | None, settings: Settings) -> AlertHub:
        """A hub with the stream caps of ``settings`` (MIROIR_WEB_MAX_STREAMS, _PER_CLIENT)."""
        return cls(
            source,
            max_clients=settings.web_max_streams,
            max_per_address=settings.web_max_streams_per_client,
        )

    # -- subscribers ------------------------------------------------------------------------
    def subscribe(self, address: str = "") -> tuple[Subscription, list[MirrorAlert]]:
        """A new subscription for a client at ``address`` and the recent alerts to send first
        (oldest first). HubFull when the worker has its maximum of connections, AddressFull
        when that address has its share: one client cannot lock everyone else out."""
        if self._per_address.get(address, 0) >= self._max_per_address:
            raise AddressFull(
                f"{self._max_per_address} live connections from this address already; "
                "close a tab first"
            )
        if len(self._subscribers) >= self._max_clients:
            raise HubFull(
                f"{self._max_clients} live connections already; close a tab or try again later"
            )
        subscription = Subscription(asyncio.Queue(self._client_queue))
        self._subscribers.add(subscription)
        self._address_of[subscription] = address
        self._per_address[address] = self._per_address.get(address, 0) + 1
        return subscription, list(self._recent)

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)
        address = self._address_of.pop(subscription, None)
        if address is not None:
            left = self._per_address[address] - 1
            if left:
                self._per_address[address] = left
            else:
                del self._per_address[address]

    @property
    def clients(self) -> int:
        return len(self._subscribers)

    def publish(self, alert: MirrorAlert) -> None:
        """Hand ``alert`` to every subscriber (never blocks)."""
        self.received += 1
        self._recent.append(alert)
        for subscription in self._subscribers:
            subscription.offer(alert)

    def _broadcast(self, marker: str) -> None:
        for subscription in self._subscribers:
            subscription.offer(marker)

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "clients": self.clients,
            "received": self.received,
            "reader_failures": self.failures,
            "resyncs": sum(s.resyncs for s in self._subscribers),
        }

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._source is not None and self._task is None:
            self._task = asyncio.create_task(self._run(self._source), name="miroir-live-hub")

    async def stop(self) -> None:
        """Stop the reader and end every open stream (so the web server can shut down)."""
        self._broadcast(CLOSE)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.connected = False

    async def _run(self, source: AlertSource) -> None:
        first = True
        while True:
            reconnected = not first

            def ready(reconnected: bool = reconnected) -> None:
                self.connected = True
                if reconnected:
                    # Alerts fired while the reader was away are only in ClickHouse.
                    self._broadcast(RESYNC)

            try:
                async for alert in source(ready):
                    self.publish(alert)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the live page must outlive broker hiccups
                self.failures += 1
                log.warning("live page: alerts reader failed (%r); retrying", e)
            self.connected = False
            first = False
            await asyncio.sleep(RETRY_SECONDS)


def kafka_alert_source(kafka: KafkaTarget, topic: str) -> AlertSource:
    """Alerts published on ``topic`` from now on, read without a consumer group."""

    async def alerts(ready: Callable[[], None]) -> AsyncIterator[MirrorAlert]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        # No group: aiokafka then assigns every partition of the topic to this consumer and
        # commits nothing; with no committed offset, "latest" starts it at the end.
        consumer = AIOKafkaConsumer(
            topic,
            **as_connection(kafka).client_options(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            isolation_level="read_committed",
            client_id="miroir-live-page",
        )
        try:
            # Bounded: a reader stuck connecting is retried rather than waited on forever.
            await asyncio.wait_for(consumer.start(), STEP_TIMEOUT_SECONDS)
            partitions: set[TopicPartition] = set()
            for _ in range(100):
                partitions = consumer.assignment()
                if partitions:
                    break
                await asyncio.sleep(0.1)
            if not partitions:
                raise MiroirError(f"topic {topic!r} not found on the broker")
            for tp in partitions:
                # Resolve "end" now, so every alert published from here on is seen.
                await asyncio.wait_for(consumer.position(tp), STEP_TIMEOUT_SECONDS)
            log.info("live page: following %s (%d partitions)", topic, len(partitions))
            ready()
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                for records in batches.values():
                    for record in records:
                        try:
                            # Checked: a forgery on the topic is never streamed (SSE lines).
                            yield decode_alert(record.value, known_alert_kinds())
                        except DecodeError as e:
                            log.warning("live page: skipped an alert record: %r", e.reason)
        finally:
            await consumer.stop()

    return alerts
