"""The webhook sink's pure parts: the Slack-compatible payload, signatures, severity, backoff."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from schemas.codec import alert_to_json
from sinks.webhook import (
    ALERT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSink,
    backoff_delays,
    body,
    payload,
    redact_url,
    severity_at_least,
    sign,
    verify,
)
from streams.errors import ConfigError
from streams.settings import load_settings
from tests.samples import sample_alert

ALERT = sample_alert()
SECRET = "s3cret-for-tests"


def test_payload_is_slack_compatible_and_carries_the_whole_alert() -> None:
    message = payload(ALERT)
    first, second = message["text"].split("\n")
    assert first == (
        "[CRITICAL] mirror_decline · team team-lyon · window 2023-11-14T22:13:20Z – "
        "2023-11-15T22:13:20Z · dimension trust"
    )
    assert second == ALERT.message
    assert message["blocks"][0] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": message["text"]},
    }
    context = message["blocks"][1]["elements"][0]["text"]
    assert "customers n=120" in context and "employees n=14" in context
    assert "z -2.1" in context
    assert message["miroir"] == alert_to_json(ALERT)
    # The signed bytes are that payload, as compact UTF-8 JSON.
    assert json.loads(body(ALERT)) == message


def test_payload_without_dimension_escapes_slack_controls_and_drops_non_finite_figures() -> None:
    alert = replace(
        ALERT,
        team_id="<!channel>&co",
        dimension=None,
        severity="warning",
        employee_n=None,
        evidence={"odd": float("nan")},
    )
    message = payload(alert)
    assert message["text"].startswith("[WARNING] mirror_decline · team &lt;!channel&gt;&amp;co ·")
    assert "dimension" not in message["text"].split("\n")[0]
    assert "employees: suppressed" in message["blocks"][1]["elements"][0]["text"]
    assert message["miroir"]["evidence"] == {"odd": None}
    assert message["miroir"]["team_id"] == "<!channel>&co"  # the machine copy is verbatim
    json.loads(body(alert))  # valid JSON (no NaN)


def test_signature_round_trip() -> None:
    data = body(ALERT)
    signature = sign(data, SECRET, 1_700_000_000, alert_id="a-1")
    assert signature.startswith("v2=") and len(signature) == len("v2=") + 64
    assert verify(data, SECRET, "1700000000", signature, alert_id="a-1", now=1_700_000_010)
    assert verify(
        data, SECRET.encode(), 1_700_000_000, signature, alert_id="a-1", now=1_700_000_010
    )
    # The signed string is exactly "<timestamp>.<alert id>." + body (docs/webhooks.md).
    expected = hmac.new(SECRET.encode(), b"1700000000.a-1." + data, hashlib.sha256).hexdigest()
    assert signature == "v2=" + expected


def test_signature_rejects_tampering_replay_and_malformed_headers() -> None:
    data = body(ALERT)
    signature = sign(data, SECRET, 1_700_000_000, alert_id="a-1")
    now = 1_700_000_010

    def check(
        data: bytes = data,
        secret: str = SECRET,
        timestamp: str | None = "1700000000",
        signature: str | None = signature,
        alert_id: str | None = "a-1",
        now: float = now,
    ) -> bool:
        return verify(data, secret, timestamp, signature, alert_id=alert_id, now=now)

    assert check()
    assert not check(data=data + b" ")  # body changed
    assert not check(secret="other-secret")  # wrong key
    assert not check(timestamp="1700000001")  # timestamp changed
    assert not check(alert_id="a-2")  # alert id header changed: a replay under a new id
    assert not check(alert_id="a-1.")  # the separator cannot be moved around either
    assert not check(now=now + 3600)  # replayed late
    assert not check(timestamp=None)
    assert not check(timestamp="soon")
    assert not check(signature=None)
    assert not check(alert_id=None)
    assert not check(signature=signature.removeprefix("v2="))
    # A v1 signature (timestamp and body only) is not accepted as v2.
    v1 = "sha256=" + hmac.new(SECRET.encode(), b"1700000000." + data, hashlib.sha256).hexdigest()
    assert not check(signature=v1)


def test_the_headers_are_signed_with_the_current_time() -> None:
    sink = WebhookSink(["http://127.0.0.1:9/hook"], SECRET, clock=lambda: 1_700_000_000.7)
    data = body(ALERT)
    headers = sink.headers(ALERT, data, attempt=2)
    assert headers[ALERT_ID_HEADER] == ALERT.alert_id
    assert headers[TIMESTAMP_HEADER] == "1700000000"
    assert verify(
        data,
        SECRET,
        headers[TIMESTAMP_HEADER],
        headers[SIGNATURE_HEADER],
        alert_id=headers[ALERT_ID_HEADER],
        now=1_700_000_001,
    )
    assert headers["X-Miroir-Attempt"] == "2"


@pytest.mark.parametrize(
    ("severity", "minimum", "expected"),
    [
        ("info", "info", True),
        ("info", "warning", False),
        ("warning", "warning", True),
        ("critical", "warning", True),
        ("warning", "critical", False),
        ("critical", "critical", True),
        ("CRITICAL", "warning", True),
        ("urgent", "critical", True),  # a plug-in's own word is never filtered out
    ],
)
def test_severity_filter(severity: str, minimum: str, expected: bool) -> None:
    assert severity_at_least(severity, minimum) is expected
    sink = WebhookSink(["http://127.0.0.1:9/"], SECRET, min_severity=minimum)
    assert sink.qualifies(replace(ALERT, severity=severity)) is expected


def test_an_alert_below_the_threshold_is_skipped_without_any_request() -> None:
    async def go() -> None:
        async with WebhookSink(["http://127.0.0.1:9/"], SECRET, min_severity="critical") as sink:
            result = await sink.deliver(replace(ALERT, severity="warning"))
        assert result.skipped and result.delivered and result.outcomes == ()
        assert result.dead_letters == ()

    asyncio.run(go())


def test_backoff_doubles_and_is_capped() -> None:
    assert backoff_delays(5, 0.5) == [0.5, 1.0, 2.0, 4.0]
    assert backoff_delays(1, 0.5) == []
    assert backoff_delays(10, 1.0)[-3:] == [60.0, 60.0, 60.0]


def test_urls_are_shown_without_credentials() -> None:
    assert redact_url("https://user:pw@hooks.example.com:8443/a/b/c?token=x#f") == (
        "https://hooks.example.com:8443/a/***?***"
    )
    assert redact_url("https://hooks.slack.com/services/T0/B0/XXXX") == (
        "https://hooks.slack.com/services/***"
    )
    assert redact_url("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"
    sink = WebhookSink(["https://u:pw@example.com/services/T0/SECRET"], SECRET)
    assert "pw" not in repr(sink) and "SECRET" not in repr(sink) and SECRET not in repr(sink)


def test_from_settings_and_bad_configuration() -> None:
    settings = load_settings(
        webhook_urls="http://127.0.0.1:9/a, http://127.0.0.1:9/b",
        webhook_min_severity="critical",
        webhook_attempts=3,
        topic_alerts="alerts-x",
    )
    sink = WebhookSink.from_settings(settings)
    assert sink.urls == ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b")
    assert (sink.min_severity, sink.attempts, sink.alerts_topic) == ("critical", 3, "alerts-x")
    # A URL that can never work is refused for delivery, not raised (test_webhook_hardening).
    assert (
        "MIROIR_WEBHOOK_URLS"
        in WebhookSink(["ftp://example.com/x"], SECRET).refused["ftp://example.com/x"]
    )
    with pytest.raises(ConfigError, match="min_severity"):
        WebhookSink(["http://example.com/x"], SECRET, min_severity="loud")
    with pytest.raises(ConfigError, match="attempts"):
        WebhookSink(["http://example.com/x"], SECRET, attempts=0)


def test_the_documented_receiver_snippet_verifies_our_signature() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    code = docs.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)  # noqa: S102 - our own docs
    verify_miroir = namespace["verify_miroir"]
    sink = WebhookSink(["http://127.0.0.1:9/"], SECRET)
    data = body(ALERT)
    headers = sink.headers(ALERT, data)
    assert verify_miroir(data, headers, SECRET)
    assert not verify_miroir(data + b"x", headers, SECRET)
    assert not verify_miroir(data, headers, "wrong")
    assert not verify_miroir(data, headers | {ALERT_ID_HEADER: "another-id"}, SECRET)
    assert not verify_miroir(
        data, {k: v for k, v in headers.items() if k != ALERT_ID_HEADER}, SECRET
    )
    stale = sink.headers(ALERT, data) | {TIMESTAMP_HEADER: "1000"}
    stale[SIGNATURE_HEADER] = sign(data, SECRET, 1000, alert_id=ALERT.alert_id)
    assert not verify_miroir(data, stale, SECRET)


def test_an_alert_id_that_is_not_a_plain_token_is_dead_lettered_not_sent() -> None:
    async def go() -> None:
        async with WebhookSink(["http://127.0.0.1:9/"], SECRET) as sink:
            result = await sink.deliver(replace(ALERT, alert_id="a-1\r\nX-Injected: 1"))
        assert not result.delivered
        [outcome] = result.outcomes
        assert outcome.attempts == 0 and "not a plain token" in (outcome.error or "")
        [letter] = result.dead_letters
        assert "http://127.0.0.1:9 not tried: alert id 'a-1\\r\\nX-Injected: 1'" in letter.reason
        assert "\n" not in letter.reason

    asyncio.run(go())
