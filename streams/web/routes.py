"""The worker's web routes, on Faust's own aiohttp server (same process, same event loop).

| route | what |
|---|---|
| ``GET /`` | the live page |
| ``GET /alerts/stream`` | server-sent events: ``alert`` (JSON), ``resync``, heartbeat comments |
| ``GET /api/alerts?limit=&team=&kind=`` | recent alerts from ClickHouse, newest first |
| ``GET /api/teams?q=&offset=&limit=`` | teams with their latest alert, filtered and paged |
| ``GET /teams?q=&offset=`` | the team index (HTML) |
| ``GET /teams/{team_id}?windows=`` | a team's chart and alerts |
| ``GET /api/episodes?state=open|all&limit=`` | episodes from ClickHouse, open ones first |
| ``GET /episodes/{episode_id}`` | an episode, its history, and forms to acknowledge or resolve it |
| ``POST /api/episodes/{episode_id}/ack`` | acknowledge it (JSON or form: ``by``, ``note``); 202 |
| ``POST /api/episodes/{episode_id}/resolve`` | resolve it by hand, the same way; 202 |
| ``GET /api/incidents?state=open|all&limit=`` | incidents from ClickHouse, open ones first |
| ``GET /incidents/{incident_id}?windows=`` | an incident, its teams and episodes, the unit |
| ``GET /static/{name}`` | the page's stylesheet and scripts |
| ``GET /healthz`` | liveness, and the live feed's state |
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Mapping
from dataclasses import asdict
from importlib import resources
from typing import Any, Final, TypeVar

from aiohttp import web
from yarl import URL

from schemas.records import MirrorAlert
from streams.errors import MiroirError
from streams.kafka_config import KafkaTarget
from streams.web.access import WebAccess, request_user
from streams.web.actions import (
    VERBS,
    ActionPublisher,
    ActionRequestError,
    ActionsUnavailable,
    kafka_producer_factory,
    new_action,
    parse_action_request,
)
from streams.web.chart import AlertMark, format_time, render_chart
from streams.web.describe import alert_payload, episode_payload, incident_payload, kind_label
from streams.web.live import CLOSE, RESYNC, AddressFull, AlertHub, HubFull
from streams.web.store import EPISODE_STATES, INCIDENT_STATES, AlertStore, Queryable
from streams.web.templates import (
    action_sent_page,
    episode_page,
    incident_page,
    live_page,
    message_page,
    team_page,
    teams_index,
)

__all__ = ["HEARTBEAT_SECONDS", "STATIC_FILES", "WebContext", "add_routes"]

log = logging.getLogger("miroir.web")

HEARTBEAT_SECONDS: Final = 15.0
SSE_WRITE_TIMEOUT_SECONDS: Final = 10.0  # a live client that stops reading is dropped after it
_SSE_SAFE_ID: Final = re.compile(r"[0-9A-Za-z_.:-]{1,128}")
DEFAULT_CHART_WINDOWS: Final = 30
DEFAULT_UNIT_WINDOWS: Final = 12  # the unit's windows on an incident's page
STATIC_FILES: Final = {
    "style.css": "text/css",
    "live.js": "text/javascript",
    "team.js": "text/javascript",
    "episode.js": "text/javascript",
}
# Fetch metadata a browser sends with a POST: anything but the page's own origin (another site,
# or another port of the same host) must not act on episodes in a visitor's name.
_OWN_FETCH_SITES: Final = frozenset({"same-origin", "none"})
_HEADERS: Final = {
    # Everything the pages use is served from here: no CDN, no inline script.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

T = TypeVar("T")


class WebContext:
    """What the handlers share: the store reader, the live hub, the k-anonymity k, and the
    publisher of episode actions (None without a broker: acting answers 503)."""

    def __init__(
        self,
        reader: Queryable | None,
        hub: AlertHub,
        k_anonymity: int,
        *,
        kafka: KafkaTarget | None = None,
        actions_topic: str | None = None,
        access: WebAccess | None = None,
    ) -> None:
        self.access = access or WebAccess()
        self.store = AlertStore(reader) if reader is not None else None
        self.hub = hub
        self.k_anonymity = k_anonymity
        self.actions = (
            ActionPublisher(actions_topic, kafka_producer_factory(kafka))
            if kafka and actions_topic
            else None
        )
        self.static = {
            name: resources.files("streams.web").joinpath("static", name).read_bytes()
            for name in STATIC_FILES
        }


def add_routes(web_app: web.Application, context: WebContext) -> None:
    """Register the routes and tie the live hub to the server's start and stop."""
    handlers = _Handlers(context)
    router = web_app.router
    router.add_get("/", handlers.live)
    router.add_get("/alerts/stream", handlers.stream)
    router.add_get("/api/alerts", handlers.api_alerts)
    router.add_get("/api/teams", handlers.api_teams)
    router.add_get("/teams", handlers.teams)
    router.add_get("/teams/{team_id:.+}", handlers.team)
    router.add_get("/api/episodes", handlers.api_episodes)
    router.add_get("/episodes/{episode_id}", handlers.episode)
    router.add_post("/api/episodes/{episode_id}/{verb:ack|resolve}", handlers.act)
    router.add_get("/api/incidents", handlers.api_incidents)
    router.add_get("/incidents/{incident_id}", handlers.incident)
    router.add_get("/static/{name}", handlers.static)
    router.add_get("/healthz", handlers.health)

    async def start_hub(_: web.Application) -> None:
        await context.hub.start()

    async def stop_hub(_: web.Application) -> None:
        # on_shutdown runs before the server waits for open handlers: end the streams first.
        await context.hub.stop()

    async def close_actions(_: web.Application) -> None:
        if context.actions is not None:
            await context.actions.close()

    web_app.on_startup.append(start_hub)
    web_app.on_shutdown.append(stop_hub)
    web_app.on_cleanup.append(close_actions)


class _Handlers:
    def __init__(self, context: WebContext) -> None:
        self.context = context

    # -- pages ------------------------------------------------------------------------------
    async def live(self, request: web.Request) -> web.StreamResponse:
        return _html(live_page())

    async def teams(self, request: web.Request) -> web.StreamResponse:
        store = self._store()
        query = request.query.get("q", "")[:200]
        page = await _reading(store.teams(query, _int(request, "offset", 0), 25))
        return _html(teams_index(page, query))

    async def team(self, request: web.Request) -> web.StreamResponse:
        store = self._store()
        team_id = request.match_info["team_id"]
        windows = _int(request, "windows", DEFAULT_CHART_WINDOWS)
        points = await _reading(store.team_windows(team_id, windows))
        if not points:
            return _html(
                message_page("Team not found", f"No closed window for team {team_id!r} yet."),
                status=404,
            )
        alerts = await _reading(store.team_alerts(team_id, since_ms=points[0].window_start))
        marks = [_mark(alert) for alert in alerts]
        chart = render_chart(
            points,
            marks,
            k_anonymity=self.context.k_anonymity,
            title=f"Team {team_id}: employee index E and customer index C",
        )
        return _html(team_page(team_id, chart, points, alerts, self.context.k_anonymity))

    async def episode(self, request: web.Request) -> web.StreamResponse:
        store = self._store()
        episode_id = request.match_info["episode_id"]
        history = await _reading(store.episode(episode_id))
        if history is None:
            return _html(
                message_page("Episode not found", f"No episode {episode_id!r} is stored."),
                status=404,
            )
        incident = await _reading(store.incident_of_episode(episode_id))
        # Who the worker will record, when that is the signed-in user rather than a typed name.
        actor = request_user(request) if self.context.access.names_users else None
        return _html(episode_page(history, incident, actor=actor))

    async def incident(self, request: web.Request) -> web.StreamResponse:
        store = self._store()
        incident_id = request.match_info["incident_id"]
        detail = await _reading(store.incident(incident_id))
        if detail is None:
            return _html(
                message_page("Incident not found", f"No incident {incident_id!r} is stored."),
                status=404,
            )
        found = detail.incident
        # A resolved incident shows the windows it lived in, not whatever came long after.
        until = found.last_window_end if found.state != "open" else None
        windows = await _reading(
            store.unit_windows(
                found.unit_id, _int(request, "windows", DEFAULT_UNIT_WINDOWS), until_ms=until
            )
        )
        return _html(incident_page(detail, windows, self.context.k_anonymity))

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        return web.Response(
            body=self.context.static[name],
            content_type=STATIC_FILES[name],
            charset="utf-8",
            headers={**_HEADERS, "Cache-Control": "no-cache"},
        )

    # -- JSON -------------------------------------------------------------------------------
    async def api_alerts(self, request: web.Request) -> web.StreamResponse:
        store = self._store()
        alerts = await _reading(
            store.recent_alerts(
                _int(request, "limit", 200),
                team=request.query.get("team", "")[:200],
                kind=request.query.get("kind", "")[:100],
            )
        )
        return _json({"alerts": [alert_payload(a) for a in alerts]})

    async def api_teams(self, request: web.Request) -> web.StreamResponse:
        store = self._store()
        page = await _reading(
            store.teams(
                request.query.get("q", "")[:200],
                _int(request, "offset", 0),
                _int(request, "limit", 25),
            )
        )
        return _json(
            {
                "teams": [asdict(team) for team in page.teams],
                "total": page.total,
                "offset": page.offset,
                "limit": page.limit,
            }
        )

    async def api_episodes(self, request: web.Request) -> web.StreamResponse:
        store = self._store()
        state = request.query.get("state", "open")
        if state not in EPISODE_STATES:
            return _json({"error": f"state must be one of {', '.join(EPISODE_STATES)}"}, 400)
        episodes = await _reading(store.episodes(_int(request, "limit", 100), state))
        return _json({"episodes": [episode_payload(e) for e in episodes]})

    async def api_incidents(self, request: web.Request) -> web.StreamResponse:
        store = self._store()
        state = request.query.get("state", "open")
        if state not in INCIDENT_STATES:
            return _json({"error": f"state must be one of {', '.join(INCIDENT_STATES)}"}, 400)
        incidents = await _reading(store.incidents(_int(request, "limit", 100), state))
        return _json({"incidents": [incident_payload(i) for i in incidents]})

    async def act(self, request: web.Request) -> web.StreamResponse:
        """Acknowledge or resolve an open episode: publish the action, answer 202 with its id
        (the worker applies it and says so on the alerts topic, which the pages follow)."""
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in _OWN_FETCH_SITES:
            return _json({"error": "actions are only taken from this worker's own pages"}, 403)
        if not _same_origin(request):
            return _json({"error": "actions are only taken from this worker's own pages"}, 403)
        verb = VERBS[request.match_info["verb"]]
        episode_id = request.match_info["episode_id"]
        user = request_user(request)
        try:
            body = dict(await _body(request))
            if self.context.access.names_users:
                body["by"] = user  # who acts is who signed in, not what a form says
            wanted = parse_action_request(body)
        except ActionRequestError as e:
            return _json({"error": str(e)}, 400)
        if self.context.actions is None:
            return _json({"error": "no Kafka broker is configured (MIROIR_KAFKA_BOOTSTRAP)"}, 503)
        episode = await _reading(self._store().find_episode(episode_id))
        if episode is None:
            return _json({"error": f"no episode {episode_id!r} is stored"}, 404)
        if episode.state != "open":
            return _json({"error": f"episode {episode_id!r} is already resolved"}, 409)
        try:
            action = new_action(
                episode.team_id, episode.episode_id, verb, wanted, int(time.time() * 1000)
            )
            await self.context.actions.publish(action)
        except ActionRequestError as e:
            return _json({"error": str(e)}, 400)
        except ActionsUnavailable as e:
            log.warning("web: %s", e)
            return _json({"error": str(e)}, 503)
        log.info(
            "web: %s of episode %r (team %r) by %r (signed in as %r, %s) sent as action %s",
            verb,
            episode.episode_id,
            episode.team_id,
            action.actor,
            user,
            self.context.access.mode,
            action.action_id,
        )
        if _wants_html(request):  # a form sent without JavaScript
            return _html(action_sent_page(verb, episode.episode_id, action.action_id), 202)
        return _json(
            {
                "action_id": action.action_id,
                "action": action.action,
                "episode_id": action.episode_id,
                "team_id": action.team_id,
                "actor": action.actor,
                "note": action.note,
                "at": action.at,
            },
            status=202,
        )

    async def health(self, request: web.Request) -> web.StreamResponse:
        return _json({"status": "ok", "live": self.context.hub.status()})

    # -- live -------------------------------------------------------------------------------
    async def stream(self, request: web.Request) -> web.StreamResponse:
        try:
            subscription, recent = self.context.hub.subscribe(self._client_of(request))
        except AddressFull as e:
            return _json({"error": str(e)}, status=429)
        except HubFull as e:
            return _json({"error": str(e)}, status=503)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # a proxy in front must not buffer the stream
            }
        )

        async def send(data: bytes) -> None:
            # A client that stops reading fills the socket buffer and the write waits; past
            # the timeout it is dropped, so it cannot hold its connection slot for ever.
            await asyncio.wait_for(response.write(data), SSE_WRITE_TIMEOUT_SECONDS)

        try:
            await response.prepare(request)
            await send(b"retry: 3000\n\n")
            for alert in recent:
                await send(_event(alert))
            while True:
                try:
                    item = await asyncio.wait_for(subscription.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    await send(b": heartbeat\n\n")
                    continue
                if item == CLOSE:
                    break
                if item == RESYNC:
                    await send(b"event: resync\ndata: {}\n\n")
                elif isinstance(item, MirrorAlert):
                    await send(_event(item))
        except ConnectionError:
            pass  # the browser went away
        except TimeoutError:
            log.info("web: dropped a live client at %r that stopped reading", request.remote)
            # Closing politely would wait for the same full socket buffer (aiohttp's end of
            # the response drains it), holding the connection for as long as the client
            # likes: cut it instead.
            if request.transport is not None:
                request.transport.abort()
        finally:
            self.context.hub.unsubscribe(subscription)
        return response

    def _client_of(self, request: web.Request) -> str:
        """Whose share of the live streams a request takes: the signed-in person when the
        access mode names one (behind an SSO proxy every browser shares the proxy's address),
        else the client's address (as a trusted proxy in front reports it)."""
        user = request_user(request)
        if self.context.access.names_users and user:
            return f"user {user}"
        return self.context.access.client_address(request)

    def _store(self) -> AlertStore:
        if self.context.store is None:
            raise _unavailable("this worker's sink cannot answer queries")
        return self.context.store


def _same_origin(request: web.Request) -> bool:
    """A browser's POST from another origin (which would carry basic-auth credentials or the
    token cookie along) names that origin; only this server's own may act."""
    if request.headers.get("Sec-Fetch-Site") == "same-origin":
        # Set by the browser itself (no page can forge it), and reliable where Origin is not:
        # a form posted without JavaScript from a page with "Referrer-Policy: no-referrer"
        # says "Origin: null" (seen in Chromium).
        return True
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    own = {request.url.host_port_subcomponent, request.headers.get("X-Forwarded-Host")}
    return URL(origin).host_port_subcomponent in own


def _event(alert: MirrorAlert) -> bytes:
    """One SSE ``alert`` event. JSON escapes line breaks inside the data; the id is a field of
    its own line, so one with a line break would start forged events: it is left out."""
    data = json.dumps(alert_payload(alert), ensure_ascii=False, separators=(",", ":"))
    event_id = alert.alert_id if _SSE_SAFE_ID.fullmatch(alert.alert_id) else None
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: alert\ndata: {data}\n\n".encode()


def _mark(alert: MirrorAlert) -> AlertMark:
    label = f"{alert.severity}: {kind_label(alert.kind)}"
    if alert.dimension:
        label += f" ({alert.dimension})"
    label += f", window {format_time(alert.window_start)} UTC. {alert.message}"
    return AlertMark(alert.window_start, alert.kind, alert.severity, label)


async def _reading(query: Awaitable[T]) -> T:
    try:
        return await query
    except MiroirError as e:
        log.warning("web: store read failed: %s", e)
        raise _unavailable(f"the store could not be read ({e}); try again shortly") from e


def _unavailable(reason: str) -> web.HTTPServiceUnavailable:
    return web.HTTPServiceUnavailable(
        text=json.dumps({"error": reason}), content_type="application/json"
    )


def _int(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError as e:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{name} must be an integer"}),
            content_type="application/json",
        ) from e


async def _body(request: web.Request) -> Mapping[str, Any]:
    """The fields of a JSON object or of a form (urlencoded or multipart)."""
    if request.content_type == "application/json":
        try:
            values = await request.json()
        except ValueError as e:
            raise ActionRequestError(f"the body is not valid JSON ({e})") from e
        if not isinstance(values, dict):
            raise ActionRequestError("the body must be a JSON object with 'by' and 'note'")
        return values
    return await request.post()


def _wants_html(request: web.Request) -> bool:
    return request.content_type != "application/json" and "text/html" in request.headers.get(
        "Accept", ""
    )


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(
        text=text, content_type="text/html", charset="utf-8", status=status, headers=_HEADERS
    )


def _json(value: object, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(value, ensure_ascii=False),
        content_type="application/json",
        charset="utf-8",
        status=status,
        headers={**_HEADERS, "Cache-Control": "no-store"},
    )
