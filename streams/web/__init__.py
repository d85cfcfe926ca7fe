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

import logging
from typing import Final

import faust
from aiohttp import web

from sinks.base import Sink
from streams.errors import ConfigError
from streams.kafka_config import KafkaConnection
from streams.settings import Settings
from streams.web.access import WebAccess, startup_warning
from streams.web.live import AlertHub, kafka_alert_source
from streams.web.routes import WebContext, add_routes
from streams.web.store import as_queryable

__all__ = ["register_web", "web_url"]

log = logging.getLogger("miroir.web")

#: Seconds an idle keep-alive connection is held (aiohttp's default is an hour).
KEEPALIVE_SECONDS: Final = 15.0


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
    access = WebAccess.from_settings(settings)
    web_app.middlewares.append(access.middleware())
    warning = startup_warning(settings)
    if warning:
        log.warning(warning)
    _bound_idle_connections(app)
    context = WebContext(
        as_queryable(sink),
        AlertHub.from_settings(source, settings),
        settings.k_anonymity,
        kafka=kafka,
        actions_topic=settings.actions_topic,
        access=access,
    )
    add_routes(web_app, context)


def _bound_idle_connections(app: faust.App) -> None:
    """Close idle keep-alive connections after KEEPALIVE_SECONDS instead of aiohttp's hour, so
    idle clients cannot hold the server's connections. Faust builds the runner without these
    options; they are read when the server starts."""
    runner = getattr(app.web, "_runner", None)
    options = getattr(runner, "_kwargs", None)
    if isinstance(options, dict):
        options["keepalive_timeout"] = KEEPALIVE_SECONDS


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
