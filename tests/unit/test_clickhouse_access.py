"""ClickHouse server access: a password kept out of the DSN, TLS with a private CA or mTLS."""

from __future__ import annotations

from pathlib import Path

import pytest

from sinks.clickhouse import ClickHouseSink
from streams.errors import ConfigError
from streams.settings import load_settings

SECRET = "ch-Secret-2026"


def test_settings_reach_the_client_options(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / name for name in ("ca.pem", "client.pem", "client.key"))
    for path in (ca, cert, key):
        path.write_text("pem\n")
    settings = load_settings(
        clickhouse_dsn="https://miroir@clickhouse.example:8443",
        clickhouse_password=SECRET,
        clickhouse_ca_file=str(ca),
        clickhouse_client_cert=str(cert),
        clickhouse_client_key=str(key),
    )
    sink = ClickHouseSink.from_settings(settings)
    assert sink.access.client_options() == {
        "verify": True,
        "password": SECRET,
        "ca_cert": str(ca),
        "client_cert": str(cert),
        "client_cert_key": str(key),
    }
    assert SECRET not in repr(sink) and SECRET not in repr(sink.access)


def test_the_password_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "clickhouse-password"
    secret.write_text(SECRET + "\n")
    settings = load_settings(
        clickhouse_dsn="https://miroir@clickhouse.example:8443",
        clickhouse_password_file=str(secret),
    )
    assert ClickHouseSink.from_settings(settings).access.client_options()["password"] == SECRET


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"clickhouse_verify": False}, "MIROIR_CLICKHOUSE_VERIFY"),
        ({"clickhouse_ca_file": "/nonexistent.pem"}, "MIROIR_CLICKHOUSE_CA_FILE"),
    ],
)
def test_tls_settings_need_an_https_dsn(settings: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(clickhouse_dsn="http://miroir@clickhouse.example:8123", **settings)


def test_a_missing_file_and_a_lone_key_are_named(tmp_path: Path) -> None:
    https = "https://miroir@clickhouse.example:8443"
    with pytest.raises(ConfigError, match="MIROIR_CLICKHOUSE_CA_FILE.*not a readable file"):
        load_settings(clickhouse_dsn=https, clickhouse_ca_file=str(tmp_path / "none.pem"))
    key = tmp_path / "client.key"
    key.write_text("pem\n")
    with pytest.raises(ConfigError, match="go together"):
        load_settings(clickhouse_dsn=https, clickhouse_client_key=str(key))


def test_a_bad_setting_never_echoes_the_dsn_password() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            clickhouse_dsn=f"https://miroir:{SECRET}@clickhouse.example:8443",
            clickhouse_verify="maybe",
            min_history=99,
        )
    assert SECRET not in str(caught.value)
