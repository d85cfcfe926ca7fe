"""Settings: defaults, environment parsing, and start-up errors that name the setting."""

from __future__ import annotations

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
