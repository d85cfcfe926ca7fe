"""The single Faust app of Miroir, configured from Settings when a worker starts."""

from __future__ import annotations

from typing import Any

import faust

from sinks.base import Sink
from streams.kafka_config import KafkaConnection
from streams.settings import Settings

# Created bare at import time (no broker contacted, no environment read); ``configure`` fills
# in the settings and registers the agents just before a worker starts.
app = faust.App("miroir", autodiscover=False)

_configured = False


def faust_config(settings: Settings) -> dict[str, Any]:
    """Translate Miroir settings into Faust settings."""
    kafka = KafkaConnection.from_settings(settings)
    return {
        "broker": kafka.faust_broker(),
        "broker_credentials": kafka.faust_credentials(),
        "store": "memory://",  # state lives in the changelog topic; recovery reads it back
        "datadir": str(settings.data_dir),
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": 1,
        "topic_allow_declare": True,
        "consumer_auto_offset_reset": "earliest",
        "processing_guarantee": "at_least_once",
        "web_enabled": settings.web_port > 0,
        "web_port": settings.web_port or 6066,
        "web_bind": settings.web_bind,
        # Our events are acked only after their batch is durable, but Faust also acks records
        # it skips during a rebalance; so a worker resumes where its saved state stops, not at
        # the committed offset (streams.runtime.resume), and commits serve lag monitoring.
        "broker_commit_every": 10_000,
        "broker_commit_interval": 1.0,
        "stream_buffer_maxsize": max(4096, settings.batch_size * 2),
        # A fetch is handed over whole (streams.runtime.intake): at most one batch per fetch.
        "broker_max_poll_records": settings.batch_size,
        "producer_acks": -1,
        "broker_session_timeout": settings.session_timeout_seconds,
        "broker_heartbeat_interval": min(3.0, settings.session_timeout_seconds / 3),
        "table_cleanup_interval": 3600.0,
    }


def configure(settings: Settings, sink: Sink) -> faust.App:
    """Apply settings to ``app`` and register the pipeline's agents (once per process)."""
    global _configured
    if _configured:
        raise RuntimeError("the Faust app is already configured in this process")
    # The app id is fixed at construction in Faust; set it here, before the config is loaded.
    _, defaults = app._default_options
    app._default_options = (settings.app_id, defaults)
    app.config_from_object(faust_config(settings))
    from streams.runtime.agents import (
        register_pipeline,  # import late: agents need the configured app
    )

    register_pipeline(app, settings, sink)
    _configured = True
    return app
