"""Where a worker resumes reading: the source offsets its saved state has absorbed.

Faust positions every assigned partition at the consumer group's committed offset after each
rebalance. That offset can be *ahead* of the saved state: while a rebalance is under way, Faust
skips the records it had already fetched (flow stopped, or fetched under the previous
generation) and acknowledges them so that lag does not grow — and the next commit moves the
group past records nobody processed. If the worker dies before it reads them again, they are
lost (found by ``tests/integration/test_crash_recovery.py``: windows closed short of a few
records after a kill -9, with nothing late).

So the position is kept with the state, as stream processors with exactly-once state do: each
partition clock records the next offset of both source topics (``PartitionClock.resume_offsets``,
written to the changelog after everything the batch produced). This module lets the pipeline
seek there right after Faust's own seek on every assignment; the committed offset only decides
where a partition starts when no state was ever saved for it, and feeds lag monitoring. Faust
resumes the partitions slightly *before* that seek, so a few records can still be skipped around
it: ``streams.runtime.positions`` checks every batch against the saved positions and reads
those back.

The same consumer also says when the worker starts stopping. On shutdown Faust waits for every
batch in flight to be acknowledged before it stops the agents; a batch retrying a ClickHouse
write during an outage would hold the worker there for good (SIGTERM ignored). The stop hook
runs at that moment, so the pipeline ends its retrying and exits without acknowledging.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import ConsumerT

ResumeHook = Callable[[ConsumerT], Awaitable[None]]
StopHook = Callable[[], None]


class ResumingConsumer(aiokafka_driver.Consumer):
    """Faust's Kafka consumer, with a hook after every seek to committed offsets and one when
    the app starts waiting for in-flight batches on shutdown."""

    async def perform_seek(self) -> None:
        await super().perform_seek()
        hook = getattr(self.transport, "resume_hook", None)
        if hook is not None:
            await hook(self)

    async def wait_empty(self) -> None:
        # Faust waits here on shutdown and on every rebalance; only the shutdown (the app is
        # stopping) must end the batches' retrying.
        hook = getattr(self.transport, "stop_hook", None)
        if hook is not None and self.app.should_stop:
            hook()
        await super().wait_empty()


class ResumingTransport(aiokafka_driver.Transport):
    """Faust's Kafka transport, creating :class:`ResumingConsumer` consumers."""

    Consumer: ClassVar[type[ConsumerT]] = ResumingConsumer
    resume_hook: ResumeHook | None = None
    stop_hook: StopHook | None = None


def resume_at_saved_positions(
    app: faust.App, hook: ResumeHook, on_stopping: StopHook | None = None
) -> None:
    """Make ``app`` call ``hook(consumer)`` whenever Faust has sought its partitions to their
    committed offsets (each assignment, before records flow); the hook seeks them where the
    saved state resumes. ``on_stopping()`` is called when the app, stopping, starts waiting for
    the batches in flight. Call before the worker starts, after the broker is configured."""
    transport = ResumingTransport(app.conf.broker_consumer, app)
    transport.resume_hook = hook
    transport.stop_hook = on_stopping
    app.transport = transport


__all__ = [
    "ResumeHook",
    "ResumingConsumer",
    "ResumingTransport",
    "StopHook",
    "resume_at_saved_positions",
]
