"""Start the long-running pipeline: check the broker, create topics, open ClickHouse, run Faust."""

from __future__ import annotations

import asyncio
import gc
import logging

from streams.errors import ConfigError
from streams.runtime.topics import TopicSpec
from streams.runtime.units import STATE_MAX_BYTES
from streams.settings import Settings

log = logging.getLogger("miroir.worker")

# CPython collects generation 0 every 700 net allocations: a batch allocates a few objects per
# record, so the collector ran every hundred records or so and re-scanned everything the batch
# still held. Every 10,000 (ratios kept) costs a few MB and about 15 % of the batch path's CPU
# (benchmarks/batch_path.py: 37 → 31 µs per event).
GC_GENERATION0_THRESHOLD = 10_000


def required_topics(settings: Settings) -> list[TopicSpec]:
    """Every topic the worker reads or writes, with the partition count it needs."""
    co_partitioned = [
        TopicSpec(name, settings.topic_partitions)
        for name in (
            settings.topic_customer,
            settings.topic_employee,
            settings.topic_alerts,
            settings.topic_dead_letters,
            settings.actions_topic,
        )
    ]
    compacted = {"cleanup.policy": "compact"}
    return [
        *co_partitioned,
        TopicSpec(settings.pages_topic, settings.topic_partitions),
        # The organisation, read whole by every worker: any partition count will do.
        TopicSpec(settings.topic_teams, 1, configs=compacted, any_partitions=True),
        # The unit stage sees the whole organisation: one partition, one owner at a time.
        TopicSpec(settings.unit_inputs_topic, 1),
        TopicSpec(
            settings.unit_state_topic,
            1,
            configs={**compacted, "max.message.bytes": str(STATE_MAX_BYTES)},
        ),
    ]


def tune_garbage_collector() -> None:
    """Fewer generation-0 collections, and the start-up objects (modules, the app) frozen out
    of every collection: they live as long as the process."""
    gc.collect()
    gc.freeze()
    _, generation1, generation2 = gc.get_threshold()
    gc.set_threshold(GC_GENERATION0_THRESHOLD, generation1, generation2)


def check_secrets(settings: Settings) -> None:
    """Refuse the public demo secrets outside demos and tests: with them anyone can reverse
    the stored pseudonyms and sign forged webhook requests."""
    demo = settings.demo_secrets_in_use()
    if demo and not settings.allow_demo_secrets:
        names = " and ".join(demo)
        raise ConfigError(
            f"{names} {'is' if len(demo) == 1 else 'are'} the public demo value: set "
            f"{'it' if len(demo) == 1 else 'each'} to a secret of your own, e.g. "
            "`export MIROIR_HMAC_SECRET=$(openssl rand -hex 32)`, or point "
            "MIROIR_HMAC_SECRET_FILE / MIROIR_WEBHOOK_SECRET_FILE at a file holding it "
            "(MIROIR_ALLOW_DEMO_SECRETS=true is for demos and tests only)"
        )


def run_worker(settings: Settings) -> None:
    """Run the worker until SIGINT/SIGTERM. Returns when it has stopped cleanly."""
    from sinks.clickhouse import ClickHouseSink
    from streams.kafka_config import KafkaConnection
    from streams.runtime.broker_probe import wait_for_broker
    from streams.runtime.schema_registry import SchemaRegistry
    from streams.runtime.topics import ensure_topics

    if not settings.kafka_bootstrap:
        raise ConfigError(
            "MIROIR_KAFKA_BOOTSTRAP is not set: point the worker at a Kafka broker "
            "(host:port), or run `miroir demo` for the embedded one"
        )
    check_secrets(settings)
    kafka = KafkaConnection.from_settings(settings)
    wait_for_broker(kafka, timeout=30.0)
    if settings.create_topics:
        ensure_topics(kafka, required_topics(settings))
    registry = SchemaRegistry.from_settings(settings)
    if registry is not None:
        asyncio.run(registry.check())  # a refused login stops start-up here
    sink = ClickHouseSink.from_settings(settings)
    sink.open()  # fails fast (StoreLockedError) when another process owns the embedded store
    import faust

    from streams.app import configure

    app = configure(settings, sink)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    tune_garbage_collector()
    try:
        worker.execute_from_commandline()
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    finally:
        sink.close()
