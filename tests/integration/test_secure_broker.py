"""The secured test broker itself, proven with the Kafka libraries alone (no Miroir client code):
SASL_SSL with every mechanism, mutual TLS, and how each library fails on a refused login, an
untrusted CA, a host name the certificate does not list and a missing client certificate.

Those failures are what Miroir's start-up checks (``streams.runtime.broker_probe``) are built on,
so they are pinned here:

- kafka-python retries a refused login or handshake until ``bootstrap_timeout_ms`` (30 s by
  default), then raises only ``KafkaTimeoutError("Unable to bootstrap from ...")``; the reason is
  in its log alone, and for a refused login not even reliably there: kafka-python 3.0 drops the
  broker's answer when the connection's close arrives in the same read, and logs "socket
  disconnected" instead (half the attempts or more, here).
- aiokafka's clients give up after one attempt, within a second, with
  ``KafkaConnectionError("Unable to bootstrap from ...")``, the reason again only in the log; its
  ``aiokafka.conn.create_conn`` raises the reason itself, typed: ``SaslAuthenticationFailed``,
  ``ssl.SSLCertVerificationError``, or ``KafkaConnectionError`` when a mutual-TLS broker hangs
  up on a client without a certificate.
"""

from __future__ import annotations

import asyncio
import logging
import re
import select
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiokafka
import pytest
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed
from aiokafka.helpers import create_ssl_context
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError

from streams.tools.secured_broker import SecuredKafkaBroker

pytestmark = pytest.mark.integration

MECHANISMS = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
#: kafka-python's bootstrap deadline in the failure tests: short, since it only retries the same
#: refusal until then.
FAIL_AFTER_MS = 1500
#: Another loopback address: it reaches this host but is not in the broker certificate.
OTHER_LOOPBACK = "127.0.0.2"

#: (mechanism, user, password) the broker must refuse; None means the broker's own value.
REFUSED_LOGINS = [
    pytest.param("SCRAM-SHA-512", None, "wrong-password", id="scram512-wrong-password"),
    pytest.param("SCRAM-SHA-256", None, "wrong-password", id="scram256-wrong-password"),
    pytest.param("PLAIN", None, "wrong-password", id="plain-wrong-password"),
    pytest.param("SCRAM-SHA-512", "mallory", None, id="scram512-unknown-user"),
    pytest.param("PLAIN", "mallory", None, id="plain-unknown-user"),
]
# What the broker answers, word for word: an unknown user reads exactly like a wrong password.
SCRAM_REFUSAL = "Authentication failed during authentication due to invalid credentials"
PLAIN_REFUSAL = "Authentication failed: Invalid username or password"


def _sasl(
    broker: SecuredKafkaBroker, mechanism: str, user: str | None = None, password: str | None = None
) -> dict[str, Any]:
    return {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": user or broker.username,
        "sasl_plain_password": password or broker.password,
    }


def _refusal(mechanism: str) -> str:
    return (
        PLAIN_REFUSAL
        if mechanism == "PLAIN"
        else f"{SCRAM_REFUSAL} with SASL mechanism {mechanism}"
    )


def _logged(caplog: pytest.LogCaptureFixture, logger: str) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(logger))


# --- kafka-python ---------------------------------------------------------------------------


def _kafka_python_round_trip(bootstrap: str, topic: str, **options: Any) -> list[bytes]:
    """Produce one record with kafka-python and read it back (no group: assigned partition)."""
    with KafkaProducer(bootstrap_servers=bootstrap, **options) as producer:
        producer.send(topic, b"through " + bootstrap.encode()).get(timeout=30)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **options)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=500)
            if batches:
                return [record.value for records in batches.values() for record in records]
        return []
    finally:
        consumer.close()


def _kafka_python_fails(
    caplog: pytest.LogCaptureFixture, bootstrap: str, **options: Any
) -> tuple[str, float]:
    """Start a kafka-python producer that must fail; what its log said, and how long it took."""
    caplog.set_level(logging.WARNING, logger="kafka")
    started = time.monotonic()
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap from"):
        KafkaProducer(bootstrap_servers=bootstrap, bootstrap_timeout_ms=FAIL_AFTER_MS, **options)
    return _logged(caplog, "kafka"), time.monotonic() - started


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kafka_python_produces_and_consumes_through_sasl_ssl(
    secured_kafka_broker: SecuredKafkaBroker, topic_factory: Callable[..., str], mechanism: str
) -> None:
    broker = secured_kafka_broker
    topic = topic_factory(bootstrap=broker.bootstrap)  # created over the plaintext listener
    values = _kafka_python_round_trip(
        broker.sasl_ssl_bootstrap,
        topic,
        ssl_cafile=str(broker.pki.ca_cert),
        **_sasl(broker, mechanism),
    )
    assert values == [f"through {broker.sasl_ssl_bootstrap}".encode()]


@pytest.mark.parametrize(("mechanism", "user", "password"), REFUSED_LOGINS)
def test_kafka_python_on_a_refused_login_retries_until_its_deadline(
    secured_kafka_broker: SecuredKafkaBroker,
    caplog: pytest.LogCaptureFixture,
    mechanism: str,
    user: str | None,
    password: str | None,
) -> None:
    broker = secured_kafka_broker
    _, seconds = _kafka_python_fails(
        caplog,
        broker.sasl_ssl_bootstrap,
        ssl_cafile=str(broker.pki.ca_cert),
        **_sasl(broker, mechanism, user, password),
    )
    lost = [r.getMessage() for r in caplog.records if "Connection lost" in r.getMessage()]
    assert len(lost) >= 2, f"kafka-python did not retry: {lost}"
    # Each attempt ends in the broker's refusal, or in a bare "socket disconnected" when
    # kafka-python dropped that refusal (see the module docstring); only the last one may end
    # otherwise, cut short by the deadline.
    refused = f"SaslAuthenticationFailedError: {_refusal(mechanism)}"
    assert all(refused in line or "socket disconnected" in line for line in lost[:-1]), lost
    assert refused in lost[-1] or "socket disconnected" in lost[-1] or "timed out" in lost[-1]
    assert FAIL_AFTER_MS / 1000 <= seconds < FAIL_AFTER_MS / 1000 + 5


def test_kafka_python_trusting_another_ca_times_out_and_only_its_log_says_why(
    secured_kafka_broker: SecuredKafkaBroker, caplog: pytest.LogCaptureFixture
) -> None:
    broker = secured_kafka_broker
    logged, _ = _kafka_python_fails(
        caplog,
        broker.sasl_ssl_bootstrap,
        ssl_cafile=str(broker.pki.rogue_ca_cert),
        **_sasl(broker, "SCRAM-SHA-512"),
    )
    assert "CERTIFICATE_VERIFY_FAILED" in logged
    assert "unable to get local issuer certificate" in logged
    assert "SaslAuthenticationFailed" not in logged  # refused before any password was sent


def test_kafka_python_checks_the_host_name_against_the_certificate(
    secured_kafka_broker: SecuredKafkaBroker,
    topic_factory: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = secured_kafka_broker
    options = {"ssl_cafile": str(broker.pki.ca_cert), **_sasl(broker, "SCRAM-SHA-512")}
    # "localhost" is in the certificate (DNS:localhost) ...
    topic = topic_factory(bootstrap=broker.bootstrap)
    by_name = f"localhost:{broker.sasl_ssl_port}"
    assert _kafka_python_round_trip(by_name, topic, **options) == [f"through {by_name}".encode()]
    # ... another address of the same host is not.
    with _relay(OTHER_LOOPBACK, broker.sasl_ssl_bootstrap) as elsewhere:
        logged, _ = _kafka_python_fails(caplog, elsewhere, **options)
    assert "CERTIFICATE_VERIFY_FAILED" in logged
    assert f"IP address mismatch, certificate is not valid for '{OTHER_LOOPBACK}'" in logged


def test_kafka_python_mutual_tls_needs_the_client_certificate(
    secured_kafka_broker: SecuredKafkaBroker,
    topic_factory: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = secured_kafka_broker
    topic = topic_factory(bootstrap=broker.bootstrap)
    tls = {"security_protocol": "SSL", "ssl_cafile": str(broker.pki.ca_cert)}
    with_certificate = {
        **tls,
        "ssl_certfile": str(broker.pki.client_cert),
        "ssl_keyfile": str(broker.pki.client_key),
    }
    values = _kafka_python_round_trip(broker.ssl_bootstrap, topic, **with_certificate)
    assert values == [f"through {broker.ssl_bootstrap}".encode()]
    logged, _ = _kafka_python_fails(caplog, broker.ssl_bootstrap, **tls)
    # TLS 1.3: the handshake completes and the broker's alert arrives with the first read.
    assert "SSLV3_ALERT_BAD_CERTIFICATE" in logged


# --- aiokafka -------------------------------------------------------------------------------


async def _aiokafka_round_trip(bootstrap: str, topic: str, **options: Any) -> list[bytes]:
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, **options)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"through " + bootstrap.encode())
    finally:
        await producer.stop()
    consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=bootstrap, **options)
    await consumer.start()
    try:
        partition = aiokafka.TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        batches = await consumer.getmany(partition, timeout_ms=30_000, max_records=1)
        return [record.value for records in batches.values() for record in records]
    finally:
        await consumer.stop()


async def _aiokafka_start(bootstrap: str, **options: Any) -> None:
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, **options)
    try:
        await producer.start()
    finally:
        await producer.stop()


def _aiokafka_fails(
    caplog: pytest.LogCaptureFixture, bootstrap: str, **options: Any
) -> tuple[str, float]:
    """Start an aiokafka producer that must fail; what its log said, and how long it took."""
    caplog.set_level(logging.WARNING, logger="aiokafka")
    started = time.monotonic()
    with pytest.raises(KafkaConnectionError, match="Unable to bootstrap from") as e:
        asyncio.run(_aiokafka_start(bootstrap, **options))
    assert e.value.__cause__ is None  # the reason is not attached: the log is the only source
    return _logged(caplog, "aiokafka"), time.monotonic() - started


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_aiokafka_produces_and_consumes_through_sasl_ssl(
    secured_kafka_broker: SecuredKafkaBroker, topic_factory: Callable[..., str], mechanism: str
) -> None:
    broker = secured_kafka_broker
    topic = topic_factory(bootstrap=broker.bootstrap)
    context = create_ssl_context(cafile=str(broker.pki.ca_cert))
    values = asyncio.run(
        _aiokafka_round_trip(
            broker.sasl_ssl_bootstrap, topic, ssl_context=context, **_sasl(broker, mechanism)
        )
    )
    assert values == [f"through {broker.sasl_ssl_bootstrap}".encode()]


@pytest.mark.parametrize(("mechanism", "user", "password"), REFUSED_LOGINS)
def test_aiokafka_on_a_refused_login_fails_at_once_and_only_its_log_says_why(
    secured_kafka_broker: SecuredKafkaBroker,
    caplog: pytest.LogCaptureFixture,
    mechanism: str,
    user: str | None,
    password: str | None,
) -> None:
    broker = secured_kafka_broker
    logged, seconds = _aiokafka_fails(
        caplog,
        broker.sasl_ssl_bootstrap,
        ssl_context=create_ssl_context(cafile=str(broker.pki.ca_cert)),
        **_sasl(broker, mechanism, user, password),
    )
    assert "[Error 58] SaslAuthenticationFailed" in logged
    assert _refusal(mechanism) in logged
    assert seconds < 5  # one attempt (the broker delays a failed login ~0.3 s), no retries


def test_aiokafka_trusting_another_ca_fails_at_once_and_only_its_log_says_why(
    secured_kafka_broker: SecuredKafkaBroker, caplog: pytest.LogCaptureFixture
) -> None:
    broker = secured_kafka_broker
    logged, seconds = _aiokafka_fails(
        caplog,
        broker.sasl_ssl_bootstrap,
        ssl_context=create_ssl_context(cafile=str(broker.pki.rogue_ca_cert)),
        **_sasl(broker, "SCRAM-SHA-512"),
    )
    assert "CERTIFICATE_VERIFY_FAILED" in logged
    assert "unable to get local issuer certificate" in logged
    assert seconds < 5


def test_aiokafka_checks_the_host_name_against_the_certificate(
    secured_kafka_broker: SecuredKafkaBroker,
    topic_factory: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = secured_kafka_broker
    options = {
        "ssl_context": create_ssl_context(cafile=str(broker.pki.ca_cert)),
        **_sasl(broker, "SCRAM-SHA-512"),
    }
    topic = topic_factory(bootstrap=broker.bootstrap)
    by_name = f"localhost:{broker.sasl_ssl_port}"
    values = asyncio.run(_aiokafka_round_trip(by_name, topic, **options))
    assert values == [f"through {by_name}".encode()]
    with _relay(OTHER_LOOPBACK, broker.sasl_ssl_bootstrap) as elsewhere:
        logged, _ = _aiokafka_fails(caplog, elsewhere, **options)
    assert f"IP address mismatch, certificate is not valid for '{OTHER_LOOPBACK}'" in logged


def test_aiokafka_mutual_tls_needs_the_client_certificate(
    secured_kafka_broker: SecuredKafkaBroker,
    topic_factory: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = secured_kafka_broker
    topic = topic_factory(bootstrap=broker.bootstrap)
    ca, cert, key = (
        str(p) for p in (broker.pki.ca_cert, broker.pki.client_cert, broker.pki.client_key)
    )
    context = create_ssl_context(cafile=ca, certfile=cert, keyfile=key)
    values = asyncio.run(
        _aiokafka_round_trip(
            broker.ssl_bootstrap, topic, security_protocol="SSL", ssl_context=context
        )
    )
    assert values == [f"through {broker.ssl_bootstrap}".encode()]
    logged, seconds = _aiokafka_fails(
        caplog,
        broker.ssl_bootstrap,
        security_protocol="SSL",
        ssl_context=create_ssl_context(cafile=ca),
    )
    # Unlike kafka-python, aiokafka sees only the broker closing the connection: nothing in its
    # log names the certificate.
    assert f"Connection at {broker.ssl_bootstrap} closed" in logged
    assert seconds < 5


async def _connect(bootstrap: str, **options: Any) -> None:
    host, _, port = bootstrap.rpartition(":")
    connection = await create_conn(host, int(port), **options)
    connection.close()


def test_aiokafka_create_conn_raises_the_reason_itself_at_once(
    secured_kafka_broker: SecuredKafkaBroker,
) -> None:
    broker = secured_kafka_broker
    sasl_ssl: dict[str, Any] = {
        "ssl_context": create_ssl_context(cafile=str(broker.pki.ca_cert)),
        **_sasl(broker, "SCRAM-SHA-512"),
    }
    started = time.monotonic()
    asyncio.run(_connect(broker.sasl_ssl_bootstrap, **sasl_ssl))  # right settings: no error
    wrong = {**sasl_ssl, "sasl_plain_password": "wrong-password"}
    with pytest.raises(SaslAuthenticationFailed, match=re.escape(_refusal("SCRAM-SHA-512"))):
        asyncio.run(_connect(broker.sasl_ssl_bootstrap, **wrong))
    rogue = {**sasl_ssl, "ssl_context": create_ssl_context(cafile=str(broker.pki.rogue_ca_cert))}
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        asyncio.run(_connect(broker.sasl_ssl_bootstrap, **rogue))
    with (
        _relay(OTHER_LOOPBACK, broker.sasl_ssl_bootstrap) as elsewhere,
        pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"),
    ):
        asyncio.run(_connect(elsewhere, **sasl_ssl))
    no_certificate = {"security_protocol": "SSL", "ssl_context": sasl_ssl["ssl_context"]}
    with pytest.raises(KafkaConnectionError, match=f"Connection at {broker.ssl_bootstrap} closed"):
        asyncio.run(_connect(broker.ssl_bootstrap, **no_certificate))
    assert time.monotonic() - started < 10  # five connections, none retried


# --- a second address for the same broker ---------------------------------------------------


class _Forward(socketserver.BaseRequestHandler):
    """Copies bytes both ways between the accepted client and the server's ``target``."""

    server: _RelayServer

    def handle(self) -> None:
        with socket.create_connection(self.server.target, timeout=10) as upstream:
            peers = {self.request: upstream, upstream: self.request}
            while True:
                readable, _, _ = select.select(list(peers), [], [], 10)
                if not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)


class _RelayServer(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], target: tuple[str, int]) -> None:
        super().__init__(address, _Forward)
        self.target = target


@contextmanager
def _relay(host: str, target: str) -> Iterator[str]:
    """``host:port`` that reaches the broker at ``target``: the same broker, and the same
    certificate, under an address the certificate does not list."""
    target_host, _, target_port = target.rpartition(":")
    server = _RelayServer((host, 0), (target_host, int(target_port)))
    thread = threading.Thread(target=server.serve_forever, name="tls-relay", daemon=True)
    thread.start()
    try:
        yield f"{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
