"""Miroir's error hierarchy: one root, a few precise children, messages that say what to do.

MiroirError
 ├── ConfigError          a setting is missing or invalid (start-up stops)
 ├── DecodeError          a record could not be used (it goes to the dead letters)
 ├── SinkError            a sink failed for good
 │    ├── SinkUnavailable a sink is down or slow: back off and retry (carries a retry hint)
 │    └── SinkStopped     a stop was requested while a sink was retrying: nothing acknowledged
 ├── StoreLockedError     the embedded ClickHouse store is held by another process
 └── BrokerError          the Kafka broker could not be reached or started
"""

from __future__ import annotations


class MiroirError(Exception):
    """Root of every error Miroir raises on purpose."""


class ConfigError(MiroirError):
    """A setting is missing or invalid; the message names it."""


class DecodeError(MiroirError):
    """A record could not be decoded or validated.

    ``kind`` classifies the failure for the dead-letter table: undecodable, schema, range,
    no_score, oversize, invalid.
    """

    def __init__(self, reason: str, kind: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


class SinkError(MiroirError):
    """A sink failed in a way retrying will not fix."""


class SinkUnavailable(SinkError):
    """A sink is unreachable or too slow right now; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SinkStopped(SinkError):
    """The worker is stopping: a sink gave up retrying. The batch was not (fully) written and
    must not be acknowledged; it is read again after the restart (writes are idempotent)."""


class StoreLockedError(MiroirError):
    """The embedded ClickHouse store (chDB) is owned by another process, usually a worker."""


class BrokerError(MiroirError):
    """The Kafka broker could not be reached or started."""
