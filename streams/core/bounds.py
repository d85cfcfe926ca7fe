"""Which event times Miroir accepts: not too far in the future, not too old (pure, no I/O).

Both bounds are measured from "now" by the wall clock, in the worker and in offline replay
alike, so a record is accepted or refused the same way on both paths. Without them one
record dated in year 1 or 9999 opens a window no watermark will ever reach (or that closes
everything else at once), and a batch spread over a century of months is more partitions
than one ClickHouse insert may touch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from streams.errors import DecodeError

if TYPE_CHECKING:
    from streams.settings import Settings

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """The accepted range of ``occurred_at`` around the wall clock's now."""

    max_future_ms: int
    max_age_ms: int

    @classmethod
    def from_settings(cls, settings: Settings) -> TimeBounds:
        return cls(
            max_future_ms=int(settings.max_future_seconds * 1000),
            max_age_ms=int(settings.max_age_days * DAY_MS),
        )

    def check(self, occurred_at: int, now_ms: int) -> None:
        """Raise DecodeError (kind ``future`` or ``too_old``) for a time outside the bounds."""
        if occurred_at > now_ms + self.max_future_ms:
            raise DecodeError(
                f"occurred_at {occurred_at} is more than {self.max_future_ms} ms in the future "
                "(MIROIR_MAX_FUTURE_SECONDS)",
                "future",
            )
        if occurred_at < now_ms - self.max_age_ms:
            raise DecodeError(
                f"occurred_at {occurred_at} is more than {self.max_age_ms // DAY_MS} days in "
                "the past (MIROIR_MAX_AGE_DAYS)",
                "too_old",
            )


__all__ = ["TimeBounds"]
