"""Is the Kafka broker there? Wait until it answers admin requests (the worker's first step).

Used by the worker before it creates topics and by the broker launchers of ``streams.tools``
(which wait for the broker they started, and stop waiting when its process exits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from streams.errors import BrokerError, ConfigError
from streams.kafka_config import KafkaConnection, KafkaTarget, as_connection
from streams.runtime.topics import admin_client

DEFAULT_WAIT_SECONDS: Final = 60.0


def _port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _split_bootstrap(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise BrokerError(f"bootstrap {bootstrap!r} is not host:port; use e.g. 127.0.0.1:9092")
    return host.strip("[]"), int(port)


def _admin_answers(kafka: KafkaTarget, timeout: float) -> str | None:
    """None when an admin client can list topics, else why not. Raises ConfigError at once
    when the broker refused our SASL credentials: waiting cannot fix that."""
    connection = as_connection(kafka)
    # kafka-python retries a refused login until its timeout and then reports only "unable to
    # bootstrap"; the reason is in what it logs on the way, so that is where it is read.
    with _KafkaLogReasons() as reasons:
        try:
            with admin_client(connection, max(timeout, 1.0)) as admin:
                admin.list_topics()
        except Exception as e:  # noqa: BLE001 - any other failure means "not ready yet"
            refused = sasl_refusal(connection, [str(e), *reasons.texts])
            if refused is not None:
                raise refused from e
            return str(e) if isinstance(e, BrokerError) else f"list_topics failed: {e!r}"
    return None


def sasl_refusal(kafka: KafkaConnection, reasons: list[str]) -> ConfigError | None:
    """The settings to fix when one of ``reasons`` says the broker refused our SASL login."""
    text = "\n".join(reasons)
    if "SaslAuthenticationFailed" in text or "AuthenticationFailed" in text:
        return ConfigError(
            f"the Kafka broker at {kafka.bootstrap} refused the SASL login of user "
            f"{kafka.sasl_username!r} with {kafka.sasl_mechanism}: check "
            "MIROIR_KAFKA_SASL_USERNAME, MIROIR_KAFKA_SASL_PASSWORD and "
            "MIROIR_KAFKA_SASL_MECHANISM"
        )
    if "UnsupportedSaslMechanism" in text:
        return ConfigError(
            f"the Kafka broker at {kafka.bootstrap} does not offer SASL mechanism "
            f"{kafka.sasl_mechanism}: check MIROIR_KAFKA_SASL_MECHANISM"
        )
    return None


def sasl_login_refusal(kafka: KafkaConnection, host: str, port: int) -> ConfigError | None:
    """Log in once with aiokafka's connection, which raises the broker's typed answer at once
    (kafka-python retries a refused login until its timeout, and may even lose the reason);
    the settings to fix when the login is refused, else None (other failures are for the
    readiness loop to judge)."""
    if not kafka.uses_sasl:
        return None

    async def log_in() -> None:
        from aiokafka.conn import create_conn

        connection = await create_conn(
            host,
            port,
            client_id="miroir-probe",
            request_timeout_ms=10_000,
            ssl_context=kafka.ssl_context,
            security_protocol=kafka.security_protocol,
            sasl_mechanism=kafka.sasl_mechanism or "PLAIN",
            sasl_plain_username=kafka.sasl_username,
            sasl_plain_password=kafka.client_options().get("sasl_plain_password"),
        )
        connection.close()

    # A loop of its own, in a thread of its own: callers may already run one (a test, a tool).
    with ThreadPoolExecutor(1, thread_name_prefix="miroir-probe") as pool:
        try:
            pool.submit(asyncio.run, asyncio.wait_for(log_in(), 15.0)).result()
        except Exception as e:  # noqa: BLE001 - anything but a refusal is not ours to judge
            return sasl_refusal(kafka, [f"{type(e).__name__}: {e}"])
    return None


def tls_refusal(kafka: KafkaConnection, host: str, port: int) -> ConfigError | None:
    """Shake hands with ``host:port`` the way the Kafka clients will; the settings to fix when
    we refuse the broker's certificate or it refuses ours. None when TLS works (or the failure
    is something else, such as the broker not listening yet)."""
    context = kafka.ssl_context
    if context is None:
        return None
    try:
        with (
            socket.create_connection((host, port), timeout=5.0) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            # With TLS 1.3 a refused client certificate shows only after the handshake: a
            # broker that accepted us waits for a request, so a short read times out.
            tls.settimeout(0.5)
            with contextlib.suppress(TimeoutError, socket.timeout):
                tls.recv(1)
    except ssl.SSLCertVerificationError as e:
        return ConfigError(
            f"the Kafka broker's certificate at {host}:{port} is not trusted "
            f"({e.verify_message}): check MIROIR_KAFKA_SSL_CAFILE (the CA that signed it) and "
            "MIROIR_KAFKA_SSL_CHECK_HOSTNAME (the names it lists)"
        )
    except ssl.SSLError as e:
        if "CERTIFICATE" in str(e).upper():
            return ConfigError(
                f"the Kafka broker at {host}:{port} refused our TLS client certificate "
                f"({e.reason}): set MIROIR_KAFKA_SSL_CERTFILE and MIROIR_KAFKA_SSL_KEYFILE to a "
                "certificate its CA signed"
            )
        return None
    except OSError:
        return None
    return None


class _KafkaLogReasons(logging.Handler):
    """Collects what kafka-python logs at WARNING and above while it is installed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.texts: list[str] = []
        self._logger = logging.getLogger("kafka")

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(record.getMessage())

    def __enter__(self) -> _KafkaLogReasons:
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)


def wait_ready(
    kafka: KafkaTarget,
    timeout: float,
    exited: Callable[[], str | None] = lambda: None,
) -> None:
    """Wait until the port accepts and an admin client can list topics; raise BrokerError if not.

    ``exited`` reports why the broker process is gone (or None while it runs), so a crashed
    broker fails fast instead of after the whole timeout.
    """
    bootstrap = as_connection(kafka).bootstrap
    host, port = _split_bootstrap(bootstrap)
    deadline = time.monotonic() + timeout
    last_problem = "port never accepted a connection"
    while True:
        why_exited = exited()
        if why_exited is not None:
            raise BrokerError(f"broker at {bootstrap} exited while starting: {why_exited}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrokerError(
                f"broker at {bootstrap} not ready after {timeout:.0f}s ({last_problem})"
            )
        if _port_accepts(host, port):
            connection = as_connection(kafka)
            refused = tls_refusal(connection, host, port) or sasl_login_refusal(
                connection, host, port
            )
            if refused is not None:
                raise refused
            problem = _admin_answers(kafka, min(remaining, 10.0))
            if problem is None:
                return
            last_problem = problem
        time.sleep(0.1)


def wait_for_broker(kafka: KafkaTarget, timeout: float = DEFAULT_WAIT_SECONDS) -> None:
    """Block until the broker at ``kafka`` answers admin requests, or raise BrokerError."""
    wait_ready(kafka, timeout)


__all__ = ["DEFAULT_WAIT_SECONDS", "wait_for_broker", "wait_ready"]
