"""One Kafka client configuration for every client Miroir opens: Faust, aiokafka and kafka-python.

Every consumer, producer and admin client (the worker, the unit stage, the webhook relay, the
live page's follower, ``miroir alerts -f``, publishers, backfill) takes a :class:`KafkaConnection`
and asks it for its library's keyword arguments, so a secured cluster (TLS with a private CA,
mutual TLS, SASL PLAIN or SCRAM) is configured once, in settings, and reaches them all.

Both libraries get the same :class:`ssl.SSLContext`, built once from the settings, so they trust
the same CAs and check host names the same way. Call sites that only know a ``host:port`` string
(tests, benchmarks, the demo's embedded broker) pass it as is: :func:`as_connection` makes it a
plaintext connection.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from pydantic import SecretStr

from streams.errors import ConfigError

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

    from streams.settings import Settings

__all__ = ["SECURITY_PROTOCOLS", "KafkaConnection", "KafkaTarget", "as_connection"]

SECURITY_PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are and how to authenticate to them; secrets stay out of ``repr``."""

    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = field(default=None, repr=False)
    ssl_check_hostname: bool = True

    def __post_init__(self) -> None:
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(
                f"MIROIR_KAFKA_SECURITY_PROTOCOL: {self.security_protocol!r} is not one of "
                f"{', '.join(SECURITY_PROTOCOLS)}"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaConnection:
        """The connection of ``settings``; ConfigError when no broker is set."""
        if not settings.kafka_bootstrap:
            raise ConfigError(
                "MIROIR_KAFKA_BOOTSTRAP is not set: point Miroir at a Kafka broker (host:port)"
            )
        return cls(
            bootstrap=settings.kafka_bootstrap,
            security_protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_username=settings.kafka_sasl_username,
            sasl_password=settings.kafka_sasl_password,
            ssl_cafile=settings.kafka_ssl_cafile,
            ssl_certfile=settings.kafka_ssl_certfile,
            ssl_keyfile=settings.kafka_ssl_keyfile,
            ssl_key_password=settings.kafka_ssl_key_password,
            ssl_check_hostname=settings.kafka_ssl_check_hostname,
        )

    @property
    def servers(self) -> list[str]:
        """The bootstrap servers, one ``host:port`` each."""
        return [server.strip() for server in self.bootstrap.split(",") if server.strip()]

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def describe(self) -> str:
        """For logs and errors: where and how, never a secret."""
        how = self.security_protocol
        if self.uses_sasl:
            how += f" {self.sasl_mechanism} as {self.sasl_username!r}"
        if self.ssl_certfile is not None:
            how += " with a client certificate"
        return f"{self.bootstrap} ({how})"

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context every client shares (None without TLS); ConfigError naming the
        setting whose file cannot be used."""
        if not self.uses_tls:
            return None
        try:
            context = ssl.create_default_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None
            )
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(
                f"MIROIR_KAFKA_SSL_CAFILE: cannot load CA certificates from "
                f"{str(self.ssl_cafile)!r} ({e}); give a PEM bundle"
            ) from e
        # Verification stays on even without host-name checking: a certificate must still be
        # signed by a trusted CA.
        context.check_hostname = self.ssl_check_hostname
        context.verify_mode = ssl.CERT_REQUIRED
        if self.ssl_certfile is not None:
            try:
                context.load_cert_chain(
                    str(self.ssl_certfile),
                    str(self.ssl_keyfile) if self.ssl_keyfile else None,
                    self.ssl_key_password.get_secret_value() if self.ssl_key_password else None,
                )
            except (OSError, ssl.SSLError) as e:
                raise ConfigError(
                    "MIROIR_KAFKA_SSL_CERTFILE/MIROIR_KAFKA_SSL_KEYFILE: cannot load the client "
                    f"certificate {str(self.ssl_certfile)!r} ({type(e).__name__}: "
                    f"{getattr(e, 'reason', None) or e.strerror or 'unreadable'}); check the "
                    "files and MIROIR_KAFKA_SSL_KEY_PASSWORD"
                ) from e
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for any client of kafka-python (KafkaConsumer, KafkaProducer,
        KafkaAdminClient) or aiokafka (AIOKafkaConsumer, AIOKafkaProducer): both libraries
        take the same names for these."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.servers,
            "security_protocol": self.security_protocol,
        }
        if self.uses_sasl:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self._password()
        if self.ssl_context is not None:
            options["ssl_context"] = self.ssl_context
        return options

    def _password(self) -> str | None:
        return self.sasl_password.get_secret_value() if self.sasl_password else None

    def faust_broker(self) -> list[str]:
        """Faust's ``broker`` setting."""
        return [f"kafka://{server}" for server in self.servers]

    def faust_credentials(self) -> CredentialsT | None:
        """Faust's ``broker_credentials``: Faust hands them to aiokafka for all its clients."""
        import faust

        if self.uses_sasl:
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self._password(),
                ssl_context=self.ssl_context,
                mechanism=self.sasl_mechanism,
            )
        if self.ssl_context is not None:
            return faust.SSLCredentials(self.ssl_context)
        return None


#: What a Kafka-using function accepts: a full connection, or a bare plaintext ``host:port``.
KafkaTarget: TypeAlias = "KafkaConnection | str"


def as_connection(target: KafkaConnection | str) -> KafkaConnection:
    """``target`` as a connection: a bare bootstrap string means plaintext."""
    if isinstance(target, KafkaConnection):
        return target
    return KafkaConnection(bootstrap=target)
