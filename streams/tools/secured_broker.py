"""An Apache Kafka broker with the listeners of a secured production cluster, for tests.

Beside its plaintext loopback listener (for the readiness probe and the controller), the broker
listens with:

- ``SASL_SSL``: TLS with a certificate from a throw-away CA (``streams.tools.certificates``), and
  SASL ``PLAIN``, ``SCRAM-SHA-256`` and ``SCRAM-SHA-512`` for one user (SCRAM credentials are
  written when the storage is formatted, as KRaft requires);
- ``SSL``: mutual TLS, a client certificate signed by the same CA required.

Clients reach the secured listeners only through their bootstrap address; the broker advertises
each listener on the address the client came in by, so a client of the SASL_SSL port never
falls back to plaintext.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from streams.kafka_config import KafkaConnection
from streams.tools.certificates import PkiFiles, make_test_pki
from streams.tools.kafka_broker import ApacheKafkaBroker, free_port

__all__ = ["SecuredKafkaBroker"]

_SCRAM = ("SCRAM-SHA-256", "SCRAM-SHA-512")


class SecuredKafkaBroker(ApacheKafkaBroker):
    """An :class:`ApacheKafkaBroker` that also listens with SASL_SSL and with mutual TLS."""

    def __init__(self, work_dir: str | os.PathLike[str], username: str = "miroir", **kwargs: Any):
        work = Path(work_dir).resolve()
        self.pki: PkiFiles = make_test_pki(work / "pki")
        self.username = username
        self.password = secrets.token_urlsafe(18)
        self.sasl_ssl_port = free_port()
        self.ssl_port = free_port()
        super().__init__(work_dir=work, **kwargs)
        self.extra_config = {**self._security_config(), **self.extra_config}

    @property
    def sasl_ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_ssl_port}"

    @property
    def ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ssl_port}"

    def sasl_connection(self, mechanism: str = "SCRAM-SHA-512", **changes: Any) -> KafkaConnection:
        """A client connection to the SASL_SSL listener as the broker's user (``changes``
        override any field, e.g. a wrong password or another CA)."""
        from pydantic import SecretStr

        fields: dict[str, Any] = {
            "bootstrap": self.sasl_ssl_bootstrap,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": mechanism,
            "sasl_username": self.username,
            "sasl_password": SecretStr(self.password),
            "ssl_cafile": self.pki.ca_cert,
            **changes,
        }
        return KafkaConnection(**fields)

    def mtls_connection(self, **changes: Any) -> KafkaConnection:
        """A client connection to the mutual-TLS listener with the test client certificate."""
        fields: dict[str, Any] = {
            "bootstrap": self.ssl_bootstrap,
            "security_protocol": "SSL",
            "ssl_cafile": self.pki.ca_cert,
            "ssl_certfile": self.pki.client_cert,
            "ssl_keyfile": self.pki.client_key,
            **changes,
        }
        return KafkaConnection(**fields)

    def settings_env(self, mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
        """``MIROIR_*`` variables that point a worker at the SASL_SSL listener."""
        return {
            "MIROIR_KAFKA_BOOTSTRAP": self.sasl_ssl_bootstrap,
            "MIROIR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "MIROIR_KAFKA_SASL_MECHANISM": mechanism,
            "MIROIR_KAFKA_SASL_USERNAME": self.username,
            "MIROIR_KAFKA_SASL_PASSWORD": self.password,
            "MIROIR_KAFKA_SSL_CAFILE": str(self.pki.ca_cert),
        }

    def _security_config(self) -> dict[str, str]:
        plain = f'user_{self.username}="{self.password}"'
        scram_module = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return {
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},"
                f"SASL_SSL://127.0.0.1:{self.sasl_ssl_port},"
                f"SSL://127.0.0.1:{self.ssl_port},"
                f"CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},"
                f"SASL_SSL://127.0.0.1:{self.sasl_ssl_port},"
                f"SSL://127.0.0.1:{self.ssl_port}"
            ),
            "listener.security.protocol.map": (
                "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT"
            ),
            "sasl.enabled.mechanisms": "PLAIN," + ",".join(_SCRAM),
            "listener.name.sasl_ssl.plain.sasl.jaas.config": (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="{self.username}" password="{self.password}" {plain};'
            ),
            **{
                f"listener.name.sasl_ssl.{mechanism.lower()}.sasl.jaas.config": scram_module
                for mechanism in _SCRAM
            },
            # PEM files straight from openssl: no keystore conversion (Kafka reads PKCS#8 keys).
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self._keystore()),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.pki.ca_cert),
            "listener.name.ssl.ssl.client.auth": "required",
        }

    def _keystore(self) -> Path:
        """The broker's key and certificate in one PEM file, as Kafka's PEM keystore wants."""
        keystore = self.pki.broker_key.parent / "broker-keystore.pem"
        keystore.write_text(self.pki.broker_key.read_text() + self.pki.broker_cert.read_text())
        keystore.chmod(0o600)
        return keystore

    def _format_options(self) -> list[str]:
        return [
            option
            for mechanism in _SCRAM
            for option in (
                "--add-scram",
                f"{mechanism}=[name={self.username},password={self.password}]",
            )
        ]
