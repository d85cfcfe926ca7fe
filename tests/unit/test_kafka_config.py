"""One Kafka client configuration: settings → kafka-python, aiokafka and Faust options."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest

from streams.errors import ConfigError
from streams.kafka_config import KafkaConnection, as_connection
from streams.settings import load_settings

PASSWORD = "s3cret-Kafka-pass"


def sasl_settings(**extra: object) -> dict[str, object]:
    return {
        "kafka_bootstrap": "b1:9093,b2:9093",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_sasl_username": "miroir",
        "kafka_sasl_password": PASSWORD,
        **extra,
    }


def test_a_bare_bootstrap_is_plaintext() -> None:
    connection = as_connection(" a:1, b:2 ")
    assert connection.client_options() == {
        "bootstrap_servers": ["a:1", "b:2"],
        "security_protocol": "PLAINTEXT",
    }
    assert connection.faust_broker() == ["kafka://a:1", "kafka://b:2"]
    assert connection.faust_credentials() is None
    assert connection.ssl_context is None
    assert as_connection(connection) is connection


def test_sasl_ssl_settings_reach_every_client_library() -> None:
    connection = KafkaConnection.from_settings(load_settings(**sasl_settings()))
    options = connection.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "miroir"
    assert options["sasl_plain_password"] == PASSWORD
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    credentials = connection.faust_credentials()
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.ssl_context is context  # one context: both libraries trust the same CAs


def test_tls_only_gives_faust_ssl_credentials_and_no_sasl() -> None:
    settings = load_settings(kafka_bootstrap="b:9093", kafka_security_protocol="SSL")
    connection = KafkaConnection.from_settings(settings)
    assert "sasl_mechanism" not in connection.client_options()
    assert isinstance(connection.faust_credentials(), faust.SSLCredentials)


def test_host_name_checking_can_be_turned_off_but_verification_stays() -> None:
    settings = load_settings(**sasl_settings(kafka_ssl_check_hostname=False))
    context = KafkaConnection.from_settings(settings).ssl_context
    assert context is not None
    assert not context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_the_password_never_shows_in_repr_or_describe() -> None:
    connection = KafkaConnection.from_settings(load_settings(**sasl_settings()))
    assert PASSWORD not in repr(connection)
    assert PASSWORD not in connection.describe()
    assert connection.describe() == "b1:9093,b2:9093 (SASL_SSL SCRAM-SHA-512 as 'miroir')"


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        (
            {"kafka_security_protocol": "SASL_SSL"},
            [
                "MIROIR_KAFKA_SASL_MECHANISM",
                "MIROIR_KAFKA_SASL_USERNAME",
                "MIROIR_KAFKA_SASL_PASSWORD",
            ],
        ),
        ({"kafka_sasl_username": "u", "kafka_sasl_password": PASSWORD}, ["SASL_SSL"]),
        ({"kafka_ssl_cafile": "/nonexistent/ca.pem"}, ["MIROIR_KAFKA_SSL_CAFILE", "SSL"]),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nonexistent/ca.pem"},
            ["MIROIR_KAFKA_SSL_CAFILE", "not a readable file"],
        ),
        ({"kafka_security_protocol": "TLS"}, ["MIROIR_KAFKA_SECURITY_PROTOCOL"]),
        (
            {"kafka_security_protocol": "SASL_SSL", **sasl_settings(kafka_sasl_mechanism="GSSAPI")},
            ["MIROIR_KAFKA_SASL_MECHANISM"],
        ),
    ],
)
def test_inconsistent_security_settings_stop_start_up_naming_them(
    settings: dict[str, object], names: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**{"kafka_bootstrap": "b:9093", **settings})
    message = str(caught.value)
    for name in names:
        assert name in message
    assert PASSWORD not in message


def test_the_password_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text(PASSWORD + "\n")
    settings = sasl_settings(kafka_sasl_password_file=str(secret))
    del settings["kafka_sasl_password"]
    connection = KafkaConnection.from_settings(load_settings(**settings))
    assert connection.client_options()["sasl_plain_password"] == PASSWORD


def test_an_unusable_ca_file_is_named(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    settings = load_settings(
        kafka_bootstrap="b:9093", kafka_security_protocol="SSL", kafka_ssl_cafile=str(bogus)
    )
    with pytest.raises(ConfigError, match="MIROIR_KAFKA_SSL_CAFILE"):
        KafkaConnection.from_settings(settings).client_options()


def test_an_unusable_client_certificate_is_named(tmp_path: Path) -> None:
    bogus = tmp_path / "client.pem"
    bogus.write_text("not a certificate\n")
    settings = load_settings(
        kafka_bootstrap="b:9093", kafka_security_protocol="SSL", kafka_ssl_certfile=str(bogus)
    )
    with pytest.raises(ConfigError, match="MIROIR_KAFKA_SSL_CERTFILE"):
        KafkaConnection.from_settings(settings).client_options()


def test_no_bootstrap_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="MIROIR_KAFKA_BOOTSTRAP"):
        KafkaConnection.from_settings(load_settings(kafka_bootstrap=None))
