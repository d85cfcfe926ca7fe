"""The contract every Miroir sink honours: open, write a batch, flush, close; no Faust, no Kafka."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from streams.model import SinkBatch

__all__ = ["Sink"]


class Sink(ABC):
    """A destination for what one processed batch produced.

    The caller (the Faust shell, the replay path, a benchmark) owns the loop; a sink only
    stores. ``write`` must be idempotent for a batch with the same ``SinkBatch.token``, so the
    caller can retry a batch after a failure or a crash without duplicating anything.

    Errors (see ``streams.errors``): ``SinkUnavailable`` means back off ``retry_after``
    seconds and write the same batch again (pause consumption meanwhile); ``SinkError`` means
    retrying will not help.

    Calls are blocking; an asyncio caller runs them in an executor.
    """

    @abstractmethod
    def open(self) -> None:
        """Connect and prepare the destination (idempotent: opening twice is harmless)."""

    @abstractmethod
    def write(self, batch: SinkBatch) -> None:
        """Store every row of ``batch``; durable when this returns."""

    @abstractmethod
    def flush(self) -> None:
        """Make anything buffered durable (a no-op for sinks that write synchronously)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and handles (idempotent)."""

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
