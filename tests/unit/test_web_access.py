"""Live-page access rules: password hashes, user lists, and settings that would expose the page."""

from __future__ import annotations

import pytest

from streams.errors import ConfigError
from streams.settings import load_settings
from streams.web.access import (
    hash_password,
    is_loopback,
    parse_users,
    startup_warning,
    verify_password,
)

TOKEN = "x" * 40


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("correct horse", iterations=1_000)
    assert stored.startswith("pbkdf2_sha256$1000$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsf", stored)
    assert stored != hash_password("correct horse", iterations=1_000)  # salted
    assert not verify_password("correct horse", "md5$1$x$y")
    assert not verify_password("correct horse", "garbage")


def test_users_are_parsed_from_commas_or_lines_and_checked() -> None:
    alice, bob = hash_password("a" * 12, iterations=10), hash_password("b" * 12, iterations=10)
    assert parse_users(f"alice:{alice}\nbob:{bob}") == {"alice": alice, "bob": bob}
    assert parse_users(f"alice:{alice}, bob:{bob}") == {"alice": alice, "bob": bob}
    with pytest.raises(ValueError, match="entry 2"):
        parse_users(f"alice:{alice},bob:plaintext")
    with pytest.raises(ValueError, match="twice"):
        parse_users(f"alice:{alice},alice:{bob}")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("miroir.example.com", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_listening_beyond_loopback_without_access_control_stops_start_up() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(web_bind="0.0.0.0")
    assert "MIROIR_WEB_BIND" in str(caught.value) and "MIROIR_WEB_AUTH" in str(caught.value)
    load_settings(web_bind="0.0.0.0", web_allow_anonymous=True)  # the explicit escape hatch
    load_settings(web_bind="0.0.0.0", web_port=0)  # no web server at all
    load_settings(web_bind="0.0.0.0", web_auth="token", web_token=TOKEN)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"web_auth": "token"}, "MIROIR_WEB_TOKEN"),
        ({"web_auth": "token", "web_token": "short"}, "at least 32"),
        ({"web_auth": "basic"}, "MIROIR_WEB_USERS"),
        ({"web_auth": "basic", "web_users": "alice:secret"}, "miroir web-user"),
        ({"web_auth": "proxy", "web_trusted_proxies": ""}, "MIROIR_WEB_TRUSTED_PROXIES"),
        ({"web_trusted_proxies": "10.0.0.0/8,not-a-network"}, "not-a-network"),
    ],
)
def test_a_mode_without_what_it_needs_is_named(settings: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as caught:
        load_settings(**settings)
    assert "secret" not in str(caught.value)


def test_the_token_can_come_from_a_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    settings = load_settings(web_auth="token", web_token_file=str(path))
    assert settings.web_token is not None and settings.web_token.get_secret_value() == TOKEN


def test_the_escape_hatch_and_every_interface_are_warned_about() -> None:
    anonymous = load_settings(web_bind="10.1.2.3", web_allow_anonymous=True)
    warning = startup_warning(anonymous)
    assert warning is not None and "without authentication" in warning
    everywhere = load_settings(web_bind="0.0.0.0", web_auth="token", web_token=TOKEN)
    warning = startup_warning(everywhere)
    assert warning is not None and "every interface" in warning and TOKEN not in warning
    assert startup_warning(load_settings(web_bind="127.0.0.1")) is None
    assert (
        startup_warning(load_settings(web_bind="10.1.2.3", web_auth="token", web_token=TOKEN))
        is None
    )


def test_the_stream_caps_come_from_the_settings() -> None:
    from streams.web.live import AddressFull, AlertHub, HubFull

    hub = AlertHub.from_settings(
        None, load_settings(web_max_streams=3, web_max_streams_per_client=2)
    )
    hub.subscribe("10.0.0.1")
    hub.subscribe("10.0.0.1")
    with pytest.raises(AddressFull, match="2 live connections from this address"):
        hub.subscribe("10.0.0.1")
    hub.subscribe("10.0.0.2")
    with pytest.raises(HubFull, match="3 live connections already"):
        hub.subscribe("10.0.0.3")
    with pytest.raises(ConfigError, match="MIROIR_WEB_MAX_STREAMS_PER_CLIENT"):
        load_settings(web_max_streams_per_client=0)
