"""Settings: defaults, environment parsing, and start-up errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.errors import ConfigError
from streams.settings import load_settings, settings_env


def test_defaults_are_sane(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("MIROIR_"):
            monkeypatch.delenv(name)
    settings = load_settings()
    assert settings.kafka_bootstrap is None
    assert settings.k_anonymity == 5
    assert settings.window_ms == 86_400_000
    assert settings.clickhouse_dsn.startswith("chdb:///")
    assert settings.detectors == ("mirror_change", "symmetry_gap")


def test_environment_values_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIROIR_DETECTORS", "mirror_change, custom ")
    monkeypatch.setenv("MIROIR_WINDOW_SECONDS", "5")
    settings = load_settings()
    assert settings.detectors == ("mirror_change", "custom")
    assert settings.window_ms == 5_000


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("MIROIR_K_ANONYMITY", "2", "privacy floor"),
        ("MIROIR_WINDOW_SECONDS", "soon", "valid number"),
        ("MIROIR_CLICKHOUSE_DSN", "mysql://x", "chdb://"),
        ("MIROIR_TOPIC_ALERTS", "customer-feedback", "distinct"),
        ("MIROIR_BASELINE_MODE", "median", "ewma"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, words: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert words in message
    if variable not in ("MIROIR_TOPIC_ALERTS",):
        assert variable in message


def test_secrets_are_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIROIR_HMAC_SECRET", "s3cr3t-value")
    settings = load_settings()
    assert "s3cr3t-value" not in repr(settings)
    assert settings_env(settings)["MIROIR_HMAC_SECRET"] == "s3cr3t-value"  # for child workers


SECRETS = {
    "MIROIR_HMAC_SECRET": "hmac-topsecret-1",
    "MIROIR_WEBHOOK_SECRET": "hook-topsecret-2",
    "MIROIR_CLICKHOUSE_DSN": "http://miroir:dsn-topsecret-3@clickhouse:8123/?password=q-topsecret-4",
    "MIROIR_WEBHOOK_URLS": "https://ops:url-topsecret-5@hooks.example/a?token=q-topsecret-6",
}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MIROIR_MIN_HISTORY", "9"),  # a check across settings: its input is every setting
        ("MIROIR_TOPIC_ALERTS", "customer-feedback"),  # ditto
        ("MIROIR_CLICKHOUSE_DSN", "ftp://miroir:dsn-topsecret-3@clickhouse:8123/?p=q-topsecret-4"),
        ("MIROIR_WEBHOOK_URLS", "ftp://ops:url-topsecret-5@hooks.example/?token=q-topsecret-6"),
        (
            "MIROIR_WEBHOOK_URLS",
            "https://ops:url-topsecret-5@hooks.example:99999/hooks/topsecret-7",
        ),
    ],
)
def test_a_bad_setting_never_echoes_a_secret(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    for name, secret in SECRETS.items():
        monkeypatch.setenv(name, secret)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert variable in message or "MIROIR_*" in message
    assert "topsecret" not in message, message


def test_urls_are_shown_without_credentials_or_query() -> None:
    from streams.core.redact import redact_url

    assert redact_url("http://u:p@h:8123/db?password=x") == "http://h:8123/db?***"
    assert redact_url("https://h:8443") == "https://h:8443"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("registry:8081", "registry:8081"),  # host:port, not scheme "registry" and path "8081"
        ("user:pw@host:1/a", "host:1/a"),  # the password was shown as a path before
        ("localhost:8081/x/y", "localhost:8081/x/***"),
        ("kafka:not-a-port", "kafka:***"),  # what follows a colon is shown only as a port
        ("http://[::1]:80/a", "http://[::1]:80/a"),
        ("http://[::1]/a", "http://[::1]/a"),
        ("clickhouse://default:pw@ch:9000/db", "clickhouse://ch:9000/db"),
    ],
)
def test_urls_without_a_scheme_or_with_odd_ports_never_show_credentials(
    url: str, shown: str
) -> None:
    from streams.core.redact import redact_url

    assert redact_url(url) == shown


def test_secrets_can_come_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "hmac").write_text("from-a-file-0123456789\n")
    monkeypatch.setenv("MIROIR_HMAC_SECRET_FILE", str(tmp_path / "hmac"))
    settings = load_settings()
    assert settings.hmac_secret.get_secret_value() == "from-a-file-0123456789"
    assert settings.demo_secrets_in_use() == []
    monkeypatch.setenv("MIROIR_HMAC_SECRET", "also-set")
    with pytest.raises(ConfigError, match="MIROIR_HMAC_SECRET_FILE are both set"):
        load_settings()
    monkeypatch.delenv("MIROIR_HMAC_SECRET")
    monkeypatch.setenv("MIROIR_HMAC_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="MIROIR_HMAC_SECRET_FILE: cannot read"):
        load_settings()


def test_the_demo_secrets_are_found() -> None:
    assert load_settings().demo_secrets_in_use() == ["MIROIR_HMAC_SECRET"]
    hooks = load_settings(webhook_urls="https://hooks.example/x", hmac_secret="x" * 32)
    assert hooks.demo_secrets_in_use() == ["MIROIR_WEBHOOK_SECRET"]


# -- Schema Registry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://registry:8081", "must be http(s)://host"),
        ("registry:8081", "must be http(s)://host"),
        ("https://", "must be http(s)://host"),
        ("http://registry:0", "must be http(s)://host"),
        ("http://registry:99999", "1 to 65535"),
        ("http://registry:abc", "1 to 65535"),
        ("http://regis try:8081", "whitespace or control"),
        ("https://user:reg-topsecret-8@registry:8081", "MIROIR_SCHEMA_REGISTRY_USERNAME/PASSWORD"),
        ("https://registry:99999/a/reg-topsecret-8?key=reg-topsecret-8", "1 to 65535"),
    ],
)
def test_a_bad_schema_registry_url_stops_start_up_without_echoing_secrets(
    monkeypatch: pytest.MonkeyPatch, url: str, words: str
) -> None:
    monkeypatch.setenv("MIROIR_SCHEMA_REGISTRY_PASSWORD", "reg-topsecret-9")
    monkeypatch.setenv("MIROIR_SCHEMA_REGISTRY_URL", url)
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert "MIROIR_SCHEMA_REGISTRY_URL" in message and words in message, message
    assert "topsecret" not in message, message


def test_the_schema_registry_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MIROIR_SCHEMA_REGISTRY_URL", "https://registry.internal:8081/")
    monkeypatch.setenv("MIROIR_SCHEMA_REGISTRY_USERNAME", "miroir")
    (tmp_path / "registry-password").write_text("reg-from-a-file\n")
    monkeypatch.setenv("MIROIR_SCHEMA_REGISTRY_PASSWORD_FILE", str(tmp_path / "registry-password"))
    settings = load_settings()
    assert settings.schema_registry_url == "https://registry.internal:8081"
    assert settings.schema_registry_password is not None
    assert settings.schema_registry_password.get_secret_value() == "reg-from-a-file"
    assert "reg-from-a-file" not in repr(settings)
    assert settings.schema_registry_timeout_seconds == 10.0
    monkeypatch.setenv("MIROIR_SCHEMA_REGISTRY_PASSWORD", "also-set")
    with pytest.raises(ConfigError, match="MIROIR_SCHEMA_REGISTRY_PASSWORD_FILE are both set"):
        load_settings()
    monkeypatch.setenv("MIROIR_SCHEMA_REGISTRY_TIMEOUT_SECONDS", "0")
    with pytest.raises(ConfigError, match="MIROIR_SCHEMA_REGISTRY_TIMEOUT_SECONDS"):
        load_settings(schema_registry_password_file=None)


def test_schema_registry_settings_that_would_be_ignored_are_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="PASSWORD is set without MIROIR_SCHEMA_REGISTRY_USERNAME"
    ):
        load_settings(schema_registry_url="https://r:8081", schema_registry_password="p")
    with pytest.raises(ConfigError, match="CA_FILE only applies to an https://"):
        load_settings(schema_registry_url="http://r:8081", schema_registry_ca_file=tmp_path)
    with pytest.raises(ConfigError, match="CA_FILE: .* is not a readable file"):
        load_settings(schema_registry_url="https://r:8081", schema_registry_ca_file=tmp_path)
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    settings = load_settings(
        schema_registry_url="https://r:8081", schema_registry_ca_file=tmp_path / "ca.pem"
    )
    assert settings.schema_registry_ca_file == tmp_path / "ca.pem"
