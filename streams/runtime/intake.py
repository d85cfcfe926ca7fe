"""Source records taken from Faust's consumer one whole fetch at a time, past the per-event
``Stream`` machinery.

Faust hands every record to an agent through its conductor and ``Stream``: a message object,
an event, a queue put, a ``wait_first`` task pair and an acknowledgement per record. Measured on
this project's workload that path alone costs more per event than the whole budget (see
docs/performance.md). The pipeline needs none of it: it processes whole batches, keeps its own
read positions with its state (streams.runtime.resume) and commits them once a batch is durable.

So the consumer's drain loop (:func:`drain_in_fetches`) hands each fetch of the *source* topics
over to a :class:`SourceIntake` as one list of ``RawMessage``; records of every other topic (the
table changelog Faust reads while recovering) still take Faust's own path. Faust keeps
everything else: the app, the consumer group and assignment, flow control around rebalances,
the tables, timers and the web server.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from faust.types import TP

from streams.core.pipeline import RawMessage

log = logging.getLogger("miroir.intake")

FETCH_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Fetch:
    """Records fetched together, under one consumer generation (rebalance count);
    ``fetched_at``: when (monotonic seconds), for the latency metrics."""

    generation: int
    messages: list[RawMessage]
    fetched_at: float = 0.0


class SourceIntake:
    """A bounded hand-over between the consumer's drain loop and the pipeline's batch loop.

    ``put`` waits while ``capacity`` records are already waiting: the drain loop then stops
    fetching, aiokafka's own buffer fills and the broker is no longer read — back-pressure
    all the way, with the next fetch already in memory while a batch is processed.
    """

    def __init__(self, topics: frozenset[str], capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.topics = topics
        self.capacity = capacity
        self._fetches: collections.deque[Fetch] = collections.deque()
        self._waiting = 0  # records in _fetches
        self._changed = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def waiting(self) -> int:
        """Records handed over and not yet taken."""
        return self._waiting

    async def put(self, fetch: Fetch) -> None:
        while self._waiting >= self.capacity:
            await self._wait_change()
        self._fetches.append(fetch)
        self._waiting += len(fetch.messages)
        self._changed.set()

    async def take(self, max_records: int, max_wait: float) -> Fetch:
        """The next batch: waiting fetches of one generation, joined up to ``max_records``
        (a fetch is never split), waiting up to ``max_wait`` seconds for more to fill it."""
        while not self._fetches:
            await self._wait_change()
        deadline = time.monotonic() + max_wait
        while self._waiting < max_records and len(self._fetches) < 64:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_change(), remaining)
        first = self._fetches.popleft()
        messages, generation = list(first.messages), first.generation
        while (
            self._fetches
            and self._fetches[0].generation == generation
            and len(messages) + len(self._fetches[0].messages) <= max_records
        ):
            messages.extend(self._fetches.popleft().messages)
        self._waiting -= len(messages)
        self._changed.set()
        self._idle.clear()
        return Fetch(generation, messages, first.fetched_at)

    def done(self) -> None:
        """The batch last taken is finished (durable, or abandoned)."""
        self._idle.set()

    async def wait_idle(self) -> None:
        """Wait until no taken batch is being processed (Faust waits for in-flight records
        before it revokes partitions; the intake's batch is in flight until ``done``)."""
        await self._idle.wait()

    def discard(self) -> int:
        """Forget the fetches not taken yet (their partitions were sought elsewhere); return
        how many records that was."""
        dropped = self._waiting
        self._fetches.clear()
        self._waiting = 0
        self._changed.set()
        return dropped

    async def _wait_change(self) -> None:
        self._changed.clear()
        await self._changed.wait()


async def drain_in_fetches(consumer: Any, fetcher: Any, intake: SourceIntake) -> None:
    """Faust's ``Consumer._drain_messages``, handing source records over a fetch at a time.

    It keeps what Faust's loop guarantees: no records while the flow is stopped (a fetch made
    then is thrown away and the partitions sought again, as ``getmany`` does), only active
    partitions, read offsets kept for ``streams.runtime.agents``' skipped-tail check, and the
    hand-over interrupted by a rebalance (``suspend_flow``), whose records are read again.
    """
    try:
        await _drain(consumer, fetcher, intake)
    except consumer.consumer_stopped_errors:
        if not consumer.transport.app.should_stop:
            raise
        log.info("the broker stopped the consumer: shutting down")  # as Faust's own loop
    except asyncio.CancelledError:
        if not consumer.transport.app.should_stop:
            raise


async def _drain(consumer: Any, fetcher: Any, intake: SourceIntake) -> None:
    callback = consumer.callback
    read_offset = consumer._read_offset
    consumer_stopped = consumer._stopped.is_set
    fetcher_stopped = fetcher._stopped.is_set
    while not (consumer_stopped() or fetcher_stopped()):
        records, active = await consumer._wait_next_records(FETCH_TIMEOUT_SECONDS)
        await asyncio.sleep(0)  # a fetch can return at once, again and again: let others run
        if not records or consumer.should_stop:
            continue
        if not consumer.flow_active:
            with contextlib.suppress(Exception):  # Faust's getmany logs and goes on, too
                await consumer.perform_seek()
            continue
        generation = consumer.app.consumer_generation_id
        fetched: list[RawMessage] = []
        positions: dict[TP, int] = {}
        for tp, batch in records.items():
            if not batch or (
                active is not None and tp not in active and tp not in consumer._buffered_partitions
            ):
                continue
            if tp.topic not in intake.topics:
                await _deliver_each(consumer, callback, tp, batch)
                continue
            last = read_offset.get(tp)
            fetched.extend(
                RawMessage(r.topic, r.partition, r.offset, r.key, r.value)
                for r in batch
                if last is None or r.offset >= last
            )
            positions[tp] = batch[-1].offset
            consumer.app.monitor.track_tp_end_offset(tp, consumer.highwater(tp))
        if not fetched:
            continue
        put = intake.put(Fetch(generation, fetched, time.monotonic()))
        handed = await consumer.wait_first(put, consumer.suspend_flow.wait())
        if put not in handed.done:
            continue  # a rebalance or a stop came first: the records are read again
        read_offset.update(positions)


async def _deliver_each(consumer: Any, callback: Any, tp: TP, batch: list[Any]) -> None:
    """Faust's own per-record path, for the topics the intake does not take."""
    read_offset = consumer._read_offset
    for record in batch:
        last = read_offset.get(tp)
        if last is not None and record.offset < last:
            continue
        message = consumer._to_message(tp, record)
        await consumer.wait_first(callback(message), consumer.suspend_flow.wait())
        read_offset[tp] = record.offset


__all__ = ["FETCH_TIMEOUT_SECONDS", "Fetch", "SourceIntake", "drain_in_fetches"]
