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

Finally, the consumer hands the source topics' records to the pipeline a whole fetch at a time
(streams.runtime.intake) instead of one event at a time through Faust's streams.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import ConsumerT

from streams.runtime.intake import SourceIntake, drain_in_fetches

ResumeHook = Callable[[ConsumerT], Awaitable[None]]
StopHook = Callable[[], None]


class ResumingConsumer(aiokafka_driver.Consumer):
    """Faust's Kafka consumer, with a hook after every seek to committed offsets, one when
    the app starts waiting for in-flight batches on shutdown, and source records handed over
    by the fetch."""

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
        intake = getattr(self.transport, "intake", None)
        if intake is not None:
            # The batch being processed is in flight, as Faust's own unacknowledged events are.
            await intake.wait_idle()
        await super().wait_empty()

    async def _drain_messages(self, fetcher: Any) -> None:
        intake = getattr(self.transport, "intake", None)
        if intake is None:
            await super()._drain_messages(fetcher)
        else:
            await drain_in_fetches(self, fetcher, intake)


class ResumingTransport(aiokafka_driver.Transport):
    """Faust's Kafka transport, creating :class:`ResumingConsumer` consumers."""

    Consumer: ClassVar[type[ConsumerT]] = ResumingConsumer
    resume_hook: ResumeHook | None = None
    stop_hook: StopHook | None = None
    intake: SourceIntake | None = None


def resume_at_saved_positions(
    app: faust.App,
    hook: ResumeHook,
    on_stopping: StopHook | None = None,
    intake: SourceIntake | None = None,
) -> None:
    """Make ``app`` call ``hook(consumer)`` whenever Faust has sought its partitions to their
    committed offsets (each assignment, before records flow); the hook seeks them where the
    saved state resumes. ``on_stopping()`` is called when the app, stopping, starts waiting for
    the batches in flight; ``intake`` receives the records of its topics a fetch at a time.
    Call before the worker starts, after the broker is configured."""
    transport = ResumingTransport(app.conf.broker_consumer, app)
    transport.resume_hook = hook
    transport.stop_hook = on_stopping
    transport.intake = intake
    app.transport = transport


__all__ = [
    "ResumeHook",
    "ResumingConsumer",
    "ResumingTransport",
    "StopHook",
    "resume_at_saved_positions",
]
