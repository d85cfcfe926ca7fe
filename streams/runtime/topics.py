"""Create Miroir's Kafka topics with the partition counts it needs, and check existing ones.

Faust refuses a table whose changelog's partition count differs from its source topic's, and
co-partitioning by ``team_id`` only holds when both input topics agree; so topics are created
explicitly (never left to broker auto-creation) and a mismatch stops start-up with a ConfigError.
Works against Apache Kafka and Tansu alike.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streams.errors import BrokerError, ConfigError
from streams.kafka_config import KafkaTarget, as_connection

if TYPE_CHECKING:
    from kafka.admin import KafkaAdminClient

__all__ = [
    "DEFAULT_ADMIN_TIMEOUT",
    "TopicSpec",
    "admin_client",
    "delete_topics",
    "describe_partitions",
    "ensure_topics",
]

#: Seconds an admin call (connect, create, wait for leaders) may take.
DEFAULT_ADMIN_TIMEOUT = 30.0

# Kafka protocol error codes this module tells apart (see kafka.errors).
_UNKNOWN_TOPIC_OR_PARTITION = 3
_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class TopicSpec:
    """A topic Miroir needs: its name, partition count, and optional overrides.

    ``replication`` and ``configs`` left as None take the values given to :func:`ensure_topics`;
    ``configs`` given here are merged over those.
    """

    name: str
    partitions: int
    replication: int | None = None
    configs: Mapping[str, str] | None = field(default=None)
    # True: ``partitions`` is only the count a missing topic is created with; an existing one
    # may have any (a topic read whole, like the organisation's, does not care).
    any_partitions: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("a topic needs a non-empty name")
        if self.partitions < 1:
            raise ConfigError(
                f"topic {self.name!r}: partitions must be >= 1, got {self.partitions}"
            )


@contextmanager
def admin_client(
    kafka: KafkaTarget, timeout: float = DEFAULT_ADMIN_TIMEOUT
) -> Iterator[KafkaAdminClient]:
    """A kafka-python admin client for ``kafka``, closed on exit; BrokerError if unreachable."""
    from kafka.admin import KafkaAdminClient

    timeout_ms = int(timeout * 1000)
    connection = as_connection(kafka)
    try:
        admin = KafkaAdminClient(
            **connection.client_options(),
            client_id="miroir-admin",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
        )
    except Exception as e:
        raise BrokerError(
            f"cannot reach the Kafka broker at {connection.describe()}: {e!r}; "
            "check MIROIR_KAFKA_BOOTSTRAP and that the broker is running"
        ) from e
    try:
        yield admin
    finally:
        admin.close()


def _as_specs(topics: Mapping[str, int] | Sequence[TopicSpec]) -> list[TopicSpec]:
    if isinstance(topics, Mapping):
        specs = [TopicSpec(name, partitions) for name, partitions in topics.items()]
    else:
        specs = list(topics)
        if not all(isinstance(spec, TopicSpec) for spec in specs):
            raise TypeError("topics must be a {name: partitions} mapping or a list of TopicSpec")
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"topics listed twice: {', '.join(duplicates)}")
    return specs


def _partition_counts(admin: KafkaAdminClient, names: Sequence[str]) -> dict[str, int]:
    """Partition count of each existing topic among ``names``; missing topics are left out."""
    counts: dict[str, int] = {}
    for topic in admin.describe_topics(list(names)):
        error_code = topic.get("error_code", 0)
        if error_code == _UNKNOWN_TOPIC_OR_PARTITION:
            continue
        if error_code != 0:
            raise BrokerError(f"describing topic {topic.get('name')!r} failed: error {error_code}")
        counts[topic["name"]] = len(topic.get("partitions") or [])
    return counts


def describe_partitions(
    kafka: KafkaTarget, names: Iterable[str], *, timeout: float = DEFAULT_ADMIN_TIMEOUT
) -> dict[str, int]:
    """Partition count of each existing topic among ``names`` (missing topics are left out)."""
    with admin_client(kafka, timeout) as admin:
        return _partition_counts(admin, list(names))


def _check_partitions(
    specs: Sequence[TopicSpec], found: Mapping[str, int], kafka: KafkaTarget
) -> None:
    for spec in specs:
        have = found.get(spec.name)
        if have is not None and have != spec.partitions and not spec.any_partitions:
            raise ConfigError(
                f"topic {spec.name!r} on {as_connection(kafka).bootstrap} has {have} partitions, "
                "expected "
                f"{spec.partitions}. Either set MIROIR_TOPIC_PARTITIONS={have} to match it, or "
                f"delete the topic (and the app's changelog/repartition topics) so it is "
                f"recreated with {spec.partitions}; Kafka cannot shrink a topic, and growing it "
                "would move keys to other partitions."
            )


def _wait_for_leaders(admin: KafkaAdminClient, names: Sequence[str], timeout: float) -> None:
    """Wait until every partition of ``names`` has a leader, so producers do not race creation."""
    deadline = time.monotonic() + timeout
    pending: dict[str, str] = {}
    while True:
        pending = {}
        for topic in admin.describe_topics(list(names)):
            partitions = topic.get("partitions") or []
            if topic.get("error_code", 0) != 0:
                pending[topic["name"]] = f"error {topic['error_code']}"
            elif not partitions or any(p.get("leader_id", -1) < 0 for p in partitions):
                pending[topic["name"]] = "partitions without a leader"
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise BrokerError(f"topics not ready after {timeout:.0f}s: {pending}")
        time.sleep(0.05)


def ensure_topics(
    kafka: KafkaTarget,
    topics: Mapping[str, int] | Sequence[TopicSpec],
    replication: int = 1,
    configs: Mapping[str, str] | None = None,
    *,
    timeout: float = DEFAULT_ADMIN_TIMEOUT,
) -> list[str]:
    """Create the missing ``topics``, check the existing ones; return the names created.

    ``topics`` is ``{name: partitions}`` or a list of :class:`TopicSpec`. Raises ConfigError if an
    existing topic has a different partition count, BrokerError if the broker fails us.
    Idempotent, and safe when another process creates the same topics at the same time.
    """
    specs = _as_specs(topics)
    if not specs:
        return []
    names = [spec.name for spec in specs]
    with admin_client(kafka, timeout) as admin:
        found = _partition_counts(admin, names)
        _check_partitions(specs, found, kafka)
        missing = [spec for spec in specs if spec.name not in found]
        created: list[str] = []
        if missing:
            request: dict[str, dict[str, Any]] = {
                spec.name: {
                    "num_partitions": spec.partitions,
                    "replication_factor": spec.replication or replication,
                    "configs": {**(configs or {}), **(spec.configs or {})},
                }
                for spec in missing
            }
            try:
                response = admin.create_topics(
                    request, timeout_ms=int(timeout * 1000), raise_errors=False
                )
            except Exception as e:
                raise BrokerError(f"creating topics {sorted(request)} failed: {e!r}") from e
            raced: list[str] = []
            for result in response["topics"]:
                code = result.get("error_code", 0)
                if code == 0:
                    created.append(result["name"])
                elif code == _TOPIC_ALREADY_EXISTS:
                    raced.append(result["name"])  # someone else created it since we looked
                else:
                    raise BrokerError(
                        f"creating topic {result['name']!r} failed: error {code} "
                        f"{result.get('error_message') or ''}".rstrip()
                    )
            if raced:
                _check_partitions(specs, _partition_counts(admin, raced), kafka)
        _wait_for_leaders(admin, names, timeout)
        return created


def delete_topics(
    kafka: KafkaTarget,
    names: Iterable[str],
    *,
    timeout: float = DEFAULT_ADMIN_TIMEOUT,
) -> list[str]:
    """Delete the topics among ``names`` that exist; return the names deleted (for tests)."""
    wanted = list(names)
    if not wanted:
        return []
    with admin_client(kafka, timeout) as admin:
        existing = [name for name in wanted if name in _partition_counts(admin, wanted)]
        if not existing:
            return []
        try:
            response = admin.delete_topics(
                existing, timeout_ms=int(timeout * 1000), raise_errors=False
            )
        except Exception as e:
            raise BrokerError(f"deleting topics {existing} failed: {e!r}") from e
        deleted: list[str] = []
        for result in response["topics"]:
            code = result.get("error_code", 0)
            if code == 0:
                deleted.append(result["name"])
            elif code != _UNKNOWN_TOPIC_OR_PARTITION:
                raise BrokerError(f"deleting topic {result.get('name')!r} failed: error {code}")
        # The controller answers before every broker's metadata has dropped the topic: wait,
        # or an immediate re-create can still find the old one (and its partition count).
        deadline = time.monotonic() + timeout
        while deleted and _partition_counts(admin, deleted):
            if time.monotonic() >= deadline:
                raise BrokerError(f"topics still listed {timeout:.0f}s after deletion: {deleted}")
            time.sleep(0.05)
        return deleted
