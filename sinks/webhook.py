"""Webhook sink: alerts as Slack-compatible JSON, signed, retried, dead-lettered; no Kafka/Faust.

What one delivery does (``WebhookSink.deliver``):

1. Skip the record when it does not page: an episode event not in ``events`` (by default
   ``opened``, ``escalated``, ``resolved``: one page per problem, not one per window), or a
   severity below ``min_severity`` (info < warning < critical).
2. Build one JSON body (``payload``): Slack's ``text`` and ``blocks``, plus a ``miroir`` object
   holding the whole alert (``schemas.codec.alert_to_json``). The same bytes go to every URL
   and on every attempt.
3. POST it to every URL concurrently. Each request carries::

       Content-Type: application/json; charset=utf-8
       X-Miroir-Alert-Id: <alert_id>         deterministic; receivers de-duplicate on it
       X-Miroir-Timestamp: <unix seconds>     when this attempt was signed
       X-Miroir-Signature: v2=<hex>          HMAC-SHA256(secret, "<timestamp>.<alert_id>." + body)
       X-Miroir-Attempt: <n>                 1 for the first try

   Signature v2 covers the alert id header too (v1, ``sha256=<hex>`` over
   ``"<timestamp>." + body``, let anyone re-label a captured request's id and slip past a
   receiver's de-duplication); v1 is no longer sent. An alert id that is not a plain token
   (letters, digits, ``-``, ``_``; at most 128) is never sent: it could not travel in a header,
   and it keeps the signed string unambiguous. It is dead-lettered instead.

   ``verify`` checks a request on the receiving side (see docs/webhooks.md).
4. Retry a URL on connection errors, timeouts, HTTP 429 and 5xx, waiting
   ``backoff_seconds * 2**(retry - 1)`` (capped at ``MAX_BACKOFF_SECONDS``; a longer
   ``Retry-After`` in seconds is honoured up to the same cap), up to ``attempts`` tries in all.
   Any other status outside 2xx (4xx, and 3xx: redirects are not followed) is final at once.
   Of a refusing answer's body only the first ``MAX_RESPONSE_BODY_BYTES`` are read (for the
   log and the dead letter); the connection is then closed, so a huge body costs nothing.
5. When a URL is given up on, the result carries one ``DeadLetter`` for the alert
   (``error_kind="webhook"``; its reason names every failed URL, without credentials, and the
   last error), for the caller to store. Nothing here raises for a failed delivery.

This is the asynchronous counterpart of ``sinks.base.Sink`` (open, deliver, close; nothing to
flush): HTTP is I/O-bound and runs on the caller's event loop rather than in an executor.
``streams.runtime.webhooks`` feeds it from the alerts topic.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

import aiohttp

from schemas.codec import alert_to_json, encode_alert
from schemas.records import MirrorAlert
from streams.core.model import DeadLetter
from streams.core.redact import check_webhook_url, redact_url
from streams.errors import ConfigError, SinkError

__all__ = [
    "ALERT_ID_HEADER",
    "ATTEMPT_HEADER",
    "DEFAULT_TOLERANCE_SECONDS",
    "MAX_BACKOFF_SECONDS",
    "MAX_RESPONSE_BODY_BYTES",
    "SEVERITIES",
    "SIGNATURE_HEADER",
    "SIGNATURE_VERSION",
    "TIMESTAMP_HEADER",
    "AlertSource",
    "DeliveryResult",
    "EndpointOutcome",
    "WebhookSink",
    "backoff_delays",
    "check_webhook_url",
    "payload",
    "redact_url",
    "severity_at_least",
    "sign",
    "verify",
]

log = logging.getLogger("miroir.webhooks")

SIGNATURE_HEADER: Final = "X-Miroir-Signature"
TIMESTAMP_HEADER: Final = "X-Miroir-Timestamp"
ALERT_ID_HEADER: Final = "X-Miroir-Alert-Id"
ATTEMPT_HEADER: Final = "X-Miroir-Attempt"
SIGNATURE_VERSION: Final = "v2"  # the scheme, named in the header value
SIGNATURE_PREFIX: Final = SIGNATURE_VERSION + "="
DEFAULT_TOLERANCE_SECONDS: Final = 300  # receivers reject signatures older (or newer) than this
MAX_BACKOFF_SECONDS: Final = 60.0
DEFAULT_ALERTS_TOPIC: Final = "mirror-alerts"
DEFAULT_PAGING_EVENTS: Final = ("opened", "escalated", "resolved")  # see WebhookSink.qualifies
ERROR_KIND: Final = "webhook"
USER_AGENT: Final = "miroir-webhooks/1"
# Severity ranks. A severity outside this table (a plug-in's own) ranks as critical: an alert
# is never dropped silently because its detector invented a word.
SEVERITIES: Final[Mapping[str, int]] = {"info": 0, "warning": 1, "critical": 2}
# A refusing receiver's body is read only this far (bytes; the rest is never buffered: the
# connection is closed instead), and only its first _MAX_ERROR_BODY characters are kept.
MAX_RESPONSE_BODY_BYTES: Final = 4096
_MAX_ERROR_BODY = 200
# What an alert id may be to be sent: it goes in a header and in the signed string (where a
# "." would make the split ambiguous). Real ids are 32 hex digits.
_SENDABLE_ALERT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


# -- the payload ----------------------------------------------------------------------------


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _slack_escape(text: str) -> str:
    """Slack's three control characters; stops a team name from becoming ``<!channel>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such figures become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _figure(value: float | None, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _evidence_line(alert: MirrorAlert) -> str:
    customer = (
        f"customers n={alert.customer_n} index {_figure(alert.customer_index)} "
        f"(Δ {_figure(alert.customer_delta, True)}, z {_figure(alert.customer_z, True)})"
    )
    if alert.employee_n is None:
        employees = "employees: suppressed (fewer respondents than k)"
    else:
        employees = (
            f"employees n={alert.employee_n} index {_figure(alert.employee_index)} "
            f"(Δ {_figure(alert.employee_delta, True)}, z {_figure(alert.employee_z, True)})"
        )
    return f"{customer}; {employees}; detector {alert.detector} v{alert.detector_version}"


def payload(alert: MirrorAlert) -> dict[str, Any]:
    """The alert as a Slack-compatible message.

    ``text`` (what Slack shows in notifications, and all a plain receiver needs) reads
    ``[SEVERITY] kind · team T · window start – end · dimension D`` on its first line and the
    alert's plain sentence on the second. ``blocks`` lays out the same plus the evidence.
    ``miroir`` is the whole alert as plain JSON values (times in epoch ms) for machines;
    Slack ignores it.
    """
    window = f"{_utc(alert.window_start)} – {_utc(alert.window_end)}"
    where = f"team {alert.team_id}" if alert.scope == "team" else f"{alert.scope} {alert.unit_id}"
    head = f"[{alert.severity.upper()}] {alert.kind} · {where} · window {window}"
    if alert.event not in ("alert", "opened"):
        head = f"{alert.event.upper()} · {head}"
    if alert.dimension:
        head += f" · dimension {alert.dimension}"
    text = _slack_escape(f"{head}\n{alert.message}")
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _slack_escape(_evidence_line(alert))}],
            },
        ],
        "miroir": _finite(alert_to_json(alert)),
    }


def body(alert: MirrorAlert) -> bytes:
    """The exact bytes POSTed (and signed): ``payload`` as compact UTF-8 JSON."""
    return json.dumps(
        payload(alert), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


# -- signatures -----------------------------------------------------------------------------


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(body: bytes, secret: str | bytes, timestamp: int, *, alert_id: str) -> str:
    """``v2=<hex HMAC-SHA256(secret, f"{timestamp}.{alert_id}.".encode() + body)>``.

    ``timestamp`` (integer Unix seconds) travels in ``X-Miroir-Timestamp``; signing it with the
    body lets a receiver refuse a captured request replayed later. ``alert_id`` travels in
    ``X-Miroir-Alert-Id``; signing it stops a replay under a new id getting past de-duplication.
    """
    message = f"{int(timestamp)}.{alert_id}.".encode() + body
    return SIGNATURE_PREFIX + hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def verify(
    body: bytes,
    secret: str | bytes,
    timestamp: str | int | None,
    signature: str | None,
    *,
    alert_id: str | None,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether a received request is authentic and fresh (the receiver's side of ``sign``).

    ``timestamp``, ``signature`` and ``alert_id`` are the raw ``X-Miroir-Timestamp``,
    ``X-Miroir-Signature`` and ``X-Miroir-Alert-Id`` header values; ``body`` the raw request
    body, before any JSON parsing. False when a header is missing or malformed, when the
    timestamp is further than ``tolerance_seconds`` from ``now``, or when the HMAC does not
    match.
    """
    if timestamp is None or signature is None or alert_id is None:
        return False
    if not signature.startswith(SIGNATURE_PREFIX):
        return False
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(body, secret, ts, alert_id=alert_id), signature)


# -- policy helpers -------------------------------------------------------------------------


def severity_at_least(severity: str, minimum: str) -> bool:
    """``info < warning < critical``; an unknown severity ranks as critical."""
    top = max(SEVERITIES.values())
    return SEVERITIES.get(severity.lower(), top) >= SEVERITIES.get(minimum.lower(), top)


def backoff_delays(
    attempts: int, backoff_seconds: float, cap: float = MAX_BACKOFF_SECONDS
) -> list[float]:
    """The waits before each retry: ``backoff * 2**k`` for k = 0 … attempts - 2, capped."""
    return [min(backoff_seconds * 2**k, cap) for k in range(max(attempts - 1, 0))]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: fall back to our own schedule
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertSource:
    """Where the alert was read: its record on the alerts topic (for the dead letter)."""

    topic: str
    partition: int
    offset: int
    value: bytes  # the record's bytes: the dead letter's payload
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class EndpointOutcome:
    """What happened at one URL (shown redacted)."""

    url: str
    delivered: bool
    attempts: int
    status: int | None = None  # the last HTTP status, None when no response came
    error: str | None = None  # the last error, None when delivered


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of ``WebhookSink.deliver`` for one alert."""

    alert_id: str
    skipped: bool = False  # below the severity threshold, or no URL configured
    outcomes: tuple[EndpointOutcome, ...] = ()
    dead_letters: tuple[DeadLetter, ...] = field(default_factory=tuple)

    @property
    def delivered(self) -> bool:
        """True when every URL accepted the alert (vacuously for a skipped one)."""
        return all(o.delivered for o in self.outcomes)

    @property
    def failed(self) -> tuple[EndpointOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.delivered)


class _Retryable(Exception):
    def __init__(self, error: str, status: int | None = None, wait: float | None = None):
        super().__init__(error)
        self.error = error
        self.status = status
        self.wait = wait


class _Final(Exception):
    def __init__(self, error: str, status: int | None = None):
        super().__init__(error)
        self.error = error
        self.status = status


# -- the sink -------------------------------------------------------------------------------


class WebhookSink:
    """Posts alerts to webhook URLs; see the module docstring for the exact protocol.

    Use it as ``async with WebhookSink(...) as sink: result = await sink.deliver(alert)``, or
    call ``open()`` / ``close()`` from the event loop it runs on. ``sleep`` and ``clock`` are
    injectable for tests.
    """

    def __init__(
        self,
        urls: Iterable[str],
        secret: str | bytes,
        *,
        min_severity: str = "warning",
        events: Iterable[str] = DEFAULT_PAGING_EVENTS,
        attempts: int = 5,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 5.0,
        alerts_topic: str = DEFAULT_ALERTS_TOPIC,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.urls = tuple(urls)
        # A URL that can never work is refused here, once, and each alert for it is
        # dead-lettered with the reason: raising would stop (or restart-loop) the relay and
        # starve the good URLs. Settings normally refuse such a URL before this.
        self.refused: dict[str, str] = {}
        for index, url in enumerate(self.urls, 1):
            try:
                for warning in check_webhook_url(url):
                    log.warning("webhook #%d: %s", index, warning)
            except ValueError as e:
                self.refused[url] = f"{e}; fix MIROIR_WEBHOOK_URLS"
                log.error(
                    "webhook #%d: %s; alerts for it are dead-lettered, never sent",
                    index,
                    self.refused[url],
                )
        if min_severity.lower() not in SEVERITIES:
            raise ConfigError(
                f"min_severity must be one of {', '.join(SEVERITIES)}, got {min_severity!r}"
            )
        if attempts < 1:
            raise ConfigError(f"attempts must be at least 1, got {attempts}")
        if backoff_seconds <= 0 or timeout_seconds <= 0:
            raise ConfigError("backoff_seconds and timeout_seconds must be positive")
        self._secret = _key(secret)
        self.min_severity = min_severity.lower()
        self.events = frozenset(events)
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.alerts_topic = alerts_topic
        self._sleep = sleep
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> WebhookSink:
        """A sink configured by ``streams.settings.Settings`` (its ``webhook_*`` fields)."""
        options: dict[str, Any] = {
            "min_severity": settings.webhook_min_severity,
            "events": settings.webhook_events,
            "attempts": settings.webhook_attempts,
            "backoff_seconds": settings.webhook_backoff_seconds,
            "timeout_seconds": settings.webhook_timeout_seconds,
            "alerts_topic": settings.topic_alerts,
        }
        options.update(overrides)
        return cls(settings.webhook_urls, settings.webhook_secret.get_secret_value(), **options)

    def __repr__(self) -> str:  # never shows the secret or a URL's credentials
        urls = ", ".join(redact_url(u) for u in self.urls)
        return f"<WebhookSink [{urls}] min_severity={self.min_severity}>"

    # -- lifecycle ------------------------------------------------------------------------
    async def open(self) -> None:
        """Create the HTTP session (idempotent); call it on the loop that will deliver."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
                headers={"User-Agent": USER_AGENT},
            )

    async def close(self) -> None:
        """Close the HTTP session (idempotent)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- delivery -------------------------------------------------------------------------
    def qualifies(self, alert: MirrorAlert) -> bool:
        """Whether the record pages: an episode or incident event of one of ``events`` (by
        default opened, escalated, resolved — not every window of a lasting problem), at or
        above ``min_severity``. A record of a writer older than episodes (event "alert")
        always passes the event check, as it did then."""
        if alert.event != "alert" and alert.event not in self.events:
            return False
        return severity_at_least(alert.severity, self.min_severity)

    def payload(self, alert: MirrorAlert) -> dict[str, Any]:
        """See the module function ``payload``."""
        return payload(alert)

    def headers(self, alert: MirrorAlert, data: bytes, attempt: int = 1) -> dict[str, str]:
        """The headers of one attempt, signed now."""
        timestamp = int(self._clock())
        return {
            "Content-Type": "application/json; charset=utf-8",
            ALERT_ID_HEADER: alert.alert_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(data, self._secret, timestamp, alert_id=alert.alert_id),
            ATTEMPT_HEADER: str(attempt),
        }

    async def deliver(
        self, alert: MirrorAlert, source: AlertSource | None = None
    ) -> DeliveryResult:
        """Post the alert to every URL, retrying each as the policy says.

        ``source`` is where the alert was read (for the dead letter's coordinates and bytes);
        without it the dead letter points at partition -1, offset -1 and re-encodes the alert.
        Never raises for a failed delivery: failures come back as ``dead_letters``.
        """
        if not self.urls or not self.qualifies(alert):
            return DeliveryResult(alert.alert_id, skipped=True)
        if self._session is None:
            raise SinkError("The webhook sink is not open; call open() or use `async with`")
        if not _SENDABLE_ALERT_ID.fullmatch(alert.alert_id):
            reason = (
                f"alert id {_shown_id(alert.alert_id)} is not a plain token (letters, digits, - "
                "and _, at most 128): not sent"
            )
            log.warning("webhooks: %s", reason)
            outcomes: tuple[EndpointOutcome, ...] = tuple(
                EndpointOutcome(redact_url(url), False, 0, error=reason) for url in self.urls
            )
            return DeliveryResult(
                alert.alert_id,
                outcomes=outcomes,
                dead_letters=(self._dead_letter(alert, list(outcomes), source),),
            )
        data = body(alert)
        outcomes = tuple(
            await asyncio.gather(
                *(
                    self._deliver_to(index, url, alert, data)
                    for index, url in enumerate(self.urls, 1)
                )
            )
        )
        failed = [o for o in outcomes if not o.delivered]
        letters = (self._dead_letter(alert, failed, source),) if failed else ()
        return DeliveryResult(alert.alert_id, outcomes=outcomes, dead_letters=letters)

    async def _deliver_to(
        self, index: int, url: str, alert: MirrorAlert, data: bytes
    ) -> EndpointOutcome:
        shown = redact_url(url)
        if url in self.refused:
            return EndpointOutcome(shown, False, 0, error=self.refused[url])
        delays = backoff_delays(self.attempts, self.backoff_seconds)
        status: int | None = None
        error = ""
        for attempt in range(1, self.attempts + 1):
            try:
                status = await self._post(url, alert, data, attempt)
                return EndpointOutcome(shown, True, attempt, status)
            except _Final as e:
                status, error = e.status, e.error
                log.warning(
                    "webhook #%d %s: alert %s refused (%s), not retried",
                    index,
                    shown,
                    alert.alert_id,
                    error,
                )
                return EndpointOutcome(shown, False, attempt, status, error)
            except _Retryable as e:
                status, error = e.status, e.error
                if attempt == self.attempts:
                    log.warning(
                        "webhook #%d %s: alert %s attempt %d/%d failed (%s); giving up",
                        index,
                        shown,
                        alert.alert_id,
                        attempt,
                        self.attempts,
                        error,
                    )
                    break
                wait = delays[attempt - 1]
                if e.wait is not None:
                    wait = min(max(wait, e.wait), MAX_BACKOFF_SECONDS)
                log.warning(
                    "webhook #%d %s: alert %s attempt %d/%d failed (%s); retrying in %.2fs",
                    index,
                    shown,
                    alert.alert_id,
                    attempt,
                    self.attempts,
                    error,
                    wait,
                )
                await self._sleep(wait)
        return EndpointOutcome(shown, False, self.attempts, status, error)

    async def _post(self, url: str, alert: MirrorAlert, data: bytes, attempt: int) -> int:
        """One attempt: the status on 2xx, else ``_Retryable`` or ``_Final``."""
        assert self._session is not None
        try:
            async with self._session.post(
                url,
                data=data,
                headers=self.headers(alert, data, attempt),
                allow_redirects=False,  # a redirect would re-send the signed alert elsewhere
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    return status
                # Never response.text(): a receiver answering 500 with gigabytes would be
                # held in memory whole. A prefix is enough to explain the failure.
                head = await response.content.read(MAX_RESPONSE_BODY_BYTES)
                response.close()  # drops the unread rest with the connection
                text = head.decode("utf-8", errors="replace")[:_MAX_ERROR_BODY]
                detail = " ".join(text.split())
                error = f"HTTP {status}" + (f": {detail}" if detail else "")
                if status == 429 or status >= 500:
                    raise _Retryable(
                        error, status, _retry_after(response.headers.get("Retry-After"))
                    )
                if 300 <= status < 400:
                    error += " (redirects are not followed: configure the final URL)"
                raise _Final(error, status)
        except (_Retryable, _Final):
            raise
        except TimeoutError as e:
            raise _Retryable(f"timed out after {self.timeout_seconds:g}s") from e
        except aiohttp.ClientError as e:
            raise _Retryable(_scrub(f"{type(e).__name__}: {e}", url)) from e

    def _dead_letter(
        self, alert: MirrorAlert, failed: list[EndpointOutcome], source: AlertSource | None
    ) -> DeadLetter:
        raw = source.value if source is not None else encode_alert(alert)
        reasons = "; ".join(
            f"{o.url} after {o.attempts} attempt{'s' if o.attempts > 1 else ''}: {o.error}"
            if o.attempts
            else f"{o.url} not tried: {o.error}"
            for o in failed
        )
        return DeadLetter(
            topic=source.topic if source is not None else self.alerts_topic,
            partition=source.partition if source is not None else -1,
            offset=source.offset if source is not None else -1,
            reason=f"webhook delivery of alert {_shown_id(alert.alert_id)} failed: {reasons}",
            payload=raw,
            payload_sha256=hashlib.sha256(raw).hexdigest(),
            key=source.key if source is not None else alert.team_id.encode(),
            seen_at=int(self._clock() * 1000),
            error_kind=ERROR_KIND,
        )


def _shown_id(alert_id: str) -> str:
    """An alert id as logs and dead letters show it: quoted and cut when it is not a token."""
    return alert_id if _SENDABLE_ALERT_ID.fullmatch(alert_id) else repr(alert_id[:64])


def _scrub(text: str, url: str) -> str:
    """Remove a URL (and its user info) from an error message before it is logged or stored."""
    parts = urlsplit(url)
    text = text.replace(url, redact_url(url))
    if parts.password:
        text = text.replace(parts.password, "***")
    if parts.username:
        text = text.replace(parts.username + "@", "***@")
    return " ".join(text.split())
