"""Webhook URLs checked before any request: errors that can never work, warnings worth a look,
credentials never echoed; a sink given a bad URL dead-letters for it instead of raising."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sinks.webhook import WebhookSink, check_webhook_url, redact_url
from tests.samples import sample_alert

SECRET = "s3cret-for-tests"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/x", "must start with https://"),
        ("hooks.example.com/x", "must start with https://"),
        ("https:///services/x", "has no host"),
        ("https://hooks.example.com:99999/x", "has port '99999': a port is a number in 1-65535"),
        ("https://hooks.example.com:0/x", "has port '0'"),
        ("https://hooks.example.com:http/x", "has port 'http'"),
        ("https://[2001:db8::1]:70000/x", "has port '70000'"),
        ("https://hooks.example.com/a b", "whitespace or control characters"),
        ("https://hooks.example.com/a\r\nX-Evil: 1", "whitespace or control characters"),
    ],
)
def test_a_url_that_can_never_work_is_an_error(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_webhook_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://hook-user:hook-password@hooks.example.com:99999/services/T0/SECRETPATH?token=tok",
        "ftp://hook-user:hook-password@hooks.example.com/services/SECRETPATH?token=tok",
        "https://hook-user:hook-password@:443/services/T0/SECRETPATH?token=tok",
    ],
)
def test_error_messages_never_echo_credentials_query_or_deep_path(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_webhook_url(url)
    text = str(caught.value)
    for secret in ("hook-user", "hook-password", "SECRETPATH", "tok"):
        assert secret not in text


def test_credentials_are_accepted_and_redacted_in_warnings() -> None:
    warnings = check_webhook_url("http://hook-user:hook-password@10.1.2.3:8080/a/SECRET?t=tok")
    assert len(warnings) == 2
    assert all("hook-password" not in w and "SECRET" not in w and "tok" not in w for w in warnings)
    assert all("http://10.1.2.3:8080/a/***?***" in w for w in warnings)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hooks.example.com/services/T0", []),
        ("https://hooks.example.com:8443/x", []),
        ("https://hooks.example.com:/x", []),  # an empty port is the default (RFC 3986)
        ("https://93.184.216.34/x", []),
        ("http://hooks.example.com/x", ["plain http"]),
        ("https://169.254.169.254/latest/meta-data", ["link-local address (where cloud metadata"]),
        ("https://[fe80::1]/x", ["link-local"]),
        ("https://[::ffff:169.254.169.254]/x", ["link-local"]),
        ("https://127.0.0.1:8080/x", ["loopback"]),
        ("https://[::1]/x", ["loopback"]),
        ("https://10.0.0.7/x", ["private-network"]),
        ("https://192.168.1.20/x", ["private-network"]),
        ("https://[fd00::1]/x", ["private-network"]),
        ("http://169.254.169.254/", ["plain http", "link-local"]),
    ],
)
def test_warnings_for_plain_http_and_private_loopback_link_local_literals(
    url: str, expected: list[str]
) -> None:
    warnings = check_webhook_url(url)
    assert len(warnings) == len(expected)
    for warning, word in zip(warnings, expected, strict=True):
        assert word in warning


def test_redact_url_never_raises_on_a_bad_port() -> None:
    assert (
        redact_url("https://u:pw@h.example.com:99999/a/b?q=1")
        == "https://h.example.com:99999/a/***?***"
    )
    assert redact_url("http://[::1") == "<unparsable URL>"


def test_a_sink_given_a_bad_url_logs_once_and_dead_letters_for_it_without_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = "https://hook-user:hook-password@hooks.example.com:99999/services/T0/SECRETPATH"
    with caplog.at_level(logging.WARNING, logger="miroir.webhooks"):
        sink = WebhookSink([bad, "ftp://example.com/x"], SECRET)
    assert set(sink.refused) == {bad, "ftp://example.com/x"}
    refusals = [r for r in caplog.records if "dead-lettered, never sent" in r.getMessage()]
    assert len(refusals) == 2
    assert all("hook-password" not in r.getMessage() for r in caplog.records)

    async def go() -> None:
        caplog.clear()
        async with sink:
            for _ in range(3):
                result = await sink.deliver(sample_alert())
                assert not result.delivered
                assert [o.attempts for o in result.outcomes] == [0, 0]
                [letter] = result.dead_letters
                assert "https://hooks.example.com:99999/services/*** not tried: " in letter.reason
                assert "a port is a number in 1-65535; fix MIROIR_WEBHOOK_URLS" in letter.reason
                assert "hook-password" not in letter.reason and "SECRETPATH" not in letter.reason
        assert not [r for r in caplog.records if "dead-lettered, never sent" in r.getMessage()]

    asyncio.run(go())
