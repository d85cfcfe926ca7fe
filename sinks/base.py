"""The contract every Miroir sink honours: open, write a batch, flush, close; no Faust, no Kafka."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from streams.core.model import DeadLetter, SinkBatch

__all__ = ["Sink"]


class Sink(ABC):
    """A destination for what one processed batch produced.

    The caller (the Faust shell, the replay path, a benchmark) owns the loop; a sink only
    stores. ``write`` must be idempotent for a batch with the same ``SinkBatch.token``, so the
    caller can retry a batch after a failure or a crash without duplicating anything.

    Rows the destination refuses for good (a constraint, a value it cannot store) do not fail
    the batch: ``write`` stores every other row and returns the refused ones as dead letters.

    Errors (see ``streams.errors``): ``SinkUnavailable`` means back off ``retry_after``
    seconds and write the same batch again (pause consumption meanwhile); ``SinkStopped``
    means a stop was requested (``request_stop``) before the batch was written: do not
    acknowledge it; ``SinkError`` means retrying will not help.

    Calls are blocking; an asyncio caller runs them in an executor.
    """

    @abstractmethod
    def open(self) -> None:
        """Connect and prepare the destination (idempotent: opening twice is harmless)."""

    @abstractmethod
    def write(self, batch: SinkBatch) -> list[DeadLetter]:
        """Store every row of ``batch``; durable when this returns.

        Returns the rows the destination refused for good, already stored as dead letters where
        it can (an empty list normally); the caller forwards them to the dead-letter topic.
        Writing the same batch again returns them again and stores nothing twice.
        """

    @abstractmethod
    def flush(self) -> None:
        """Make anything buffered durable (a no-op for sinks that write synchronously)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and handles (idempotent)."""

    def request_stop(self) -> None:  # noqa: B027 - optional: sinks that never wait need nothing
        """The caller is stopping: end any retry wait at once and raise ``SinkStopped`` from a
        ``write`` in progress instead of retrying. Thread-safe. Default: nothing to interrupt."""

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self.close()
