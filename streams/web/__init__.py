"""The live web page of a Miroir worker, served by the worker's own (Faust/aiohttp) web server.

``register_web(app, settings, sink)`` adds the routes (see ``streams.web.routes``) to the
worker's web server: the live alert page fed from the alerts topic over server-sent events,
with the open incidents and the open episodes above the alerts; the team index, and a page per
team with E and C on one server-rendered SVG chart; a page per episode with its history and the
forms that acknowledge or resolve it (published to the actions topic); a page per incident with
its teams, their episodes and the unit's C and E. Pages read ClickHouse through the
worker's own sink (in embedded mode the worker owns chDB). No asset comes from outside the
worker.
"""

from __future__ import annotations

import faust
from aiohttp import web

from sinks.base import Sink
from streams.errors import ConfigError
from streams.kafka_config import KafkaConnection
from streams.settings import Settings
from streams.web.live import AlertHub, kafka_alert_source
from streams.web.routes import WebContext, add_routes
from streams.web.store import as_queryable

__all__ = ["register_web", "web_url"]


def register_web(app: faust.App, settings: Settings, sink: Sink) -> None:
    """Add the live page's routes to ``app``'s web server (call before the worker starts);
    pages read ClickHouse through ``sink``, the worker's own."""
    web_app = getattr(app.web, "web_app", None)
    if not isinstance(web_app, web.Application):
        raise ConfigError(
            "The live page needs Faust's aiohttp web driver (the default); "
            f"this app's web server is {type(app.web).__name__}"
        )
    kafka = KafkaConnection.from_settings(settings) if settings.kafka_bootstrap else None
    source = kafka_alert_source(kafka, settings.topic_alerts) if kafka else None
    context = WebContext(
        as_queryable(sink),
        AlertHub(source),
        settings.k_anonymity,
        kafka=kafka,
        actions_topic=settings.actions_topic,
    )
    add_routes(web_app, context)


def web_url(settings: Settings) -> str | None:
    """The URL of the live page of a worker started with ``settings`` (None when off)."""
    if not settings.web_port:
        return None
    host = settings.web_bind
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.web_port}/"
