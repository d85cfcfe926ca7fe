"""Shared test infrastructure: the real Kafka broker, unique names, and what-ran report lines.

The broker starts lazily, the first time a test asks for ``kafka_broker`` (or ``topic_factory``
without an explicit bootstrap), so unit-only runs never start a JVM. Set
``MIROIR_TEST_KAFKA_BOOTSTRAP=host:port`` to run against an already running broker instead.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field

import pytest

from streams.runtime.broker_probe import wait_for_broker
from streams.runtime.topics import delete_topics, ensure_topics
from streams.tools.kafka_broker import DEFAULT_KAFKA_VERSION, ApacheKafkaBroker
from streams.tools.secured_broker import SecuredKafkaBroker

BOOTSTRAP_ENV = "MIROIR_TEST_KAFKA_BOOTSTRAP"


@dataclass(frozen=True)
class ExternalKafkaBroker:
    """A broker the test session did not start (``MIROIR_TEST_KAFKA_BOOTSTRAP``): no restart."""

    bootstrap: str
    version: str = "unknown"


@dataclass
class _ServicesUsed:
    kafka: str | None = None
    notes: list[str] = field(default_factory=list)


_services_key = pytest.StashKey[_ServicesUsed]()


def _clickhouse_line() -> str:
    try:
        import chdb
    except ImportError:
        return "ClickHouse: chDB not installed (integration tests that need it will fail)"
    return (
        f"ClickHouse: chDB {chdb.__version__} (real ClickHouse engine "
        f"{getattr(chdb, 'engine_version', '?')}, in-process)"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_services_key] = _ServicesUsed()
    # kafka-python 3 loads its protocol schemas with importlib.resources' legacy read_text /
    # open_text, which warn on import; with warnings as errors that would fail any test touching
    # Kafka. (Candidate for pyproject's filterwarnings.)
    config.addinivalue_line(
        "filterwarnings", "ignore:(read_text|open_text) is deprecated:DeprecationWarning"
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    external = os.environ.get(BOOTSTRAP_ENV)
    if external:
        kafka = f"Kafka: existing broker at {external} ({BOOTSTRAP_ENV})"
    else:
        kafka = (
            f"Kafka: real Apache Kafka {DEFAULT_KAFKA_VERSION} broker (KRaft), "
            "started on loopback when a test first needs it"
        )
    return [kafka, _clickhouse_line()]


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    used = config.stash.get(_services_key, None)
    if used is None:
        return
    terminalreporter.write_sep("-", "real services")
    terminalreporter.write_line(
        used.kafka or "Kafka: the session broker not started (no test needed it)"
    )
    terminalreporter.write_line(_clickhouse_line())
    for note in used.notes:
        terminalreporter.write_line(note)


@pytest.fixture(scope="session")
def kafka_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApacheKafkaBroker | ExternalKafkaBroker]:
    """The session's Kafka broker: a real Apache Kafka (KRaft) node, or the external one."""
    used = request.config.stash[_services_key]
    external = os.environ.get(BOOTSTRAP_ENV)
    if external:
        wait_for_broker(external, timeout=30)
        used.kafka = f"Kafka: existing broker at {external} ({BOOTSTRAP_ENV})"
        yield ExternalKafkaBroker(external)
        return
    # Under pytest's basetemp, so the broker's server.log outlives a failed session.
    broker = ApacheKafkaBroker(tmp_path_factory.mktemp("kafka-broker"))
    with broker:
        used.kafka = (
            f"Kafka: real Apache Kafka {broker.version} broker (KRaft) at {broker.bootstrap} "
            f"(ready in {broker.startup_seconds:.1f} s, log {broker.log_path})"
        )
        yield broker


@pytest.fixture
def dedicated_kafka_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApacheKafkaBroker]:
    """A private Apache Kafka broker for one test, for tests that stop or restart it."""
    with ApacheKafkaBroker(tmp_path_factory.mktemp("kafka-dedicated")) as broker:
        request.config.stash[_services_key].notes.append(
            f"Kafka: dedicated broker for {request.node.nodeid} "
            f"(ready in {broker.startup_seconds:.1f} s)"
        )
        yield broker


@pytest.fixture(scope="session")
def secured_kafka_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecuredKafkaBroker]:
    """A second Apache Kafka broker, with SASL_SSL (PLAIN, SCRAM) and mutual-TLS listeners and
    certificates from a CA made for the session (started only when a test asks for it)."""
    with SecuredKafkaBroker(tmp_path_factory.mktemp("kafka-secured")) as broker:
        request.config.stash[_services_key].notes.append(
            f"Kafka: secured broker, SASL_SSL at {broker.sasl_ssl_bootstrap} and mutual TLS at "
            f"{broker.ssl_bootstrap} (ready in {broker.startup_seconds:.1f} s)"
        )
        yield broker


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:limit].strip("-").lower()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``unique_name("group")`` -> ``group-<test name>-<random>``: for groups, app ids, topics."""

    def make(prefix: str = "miroir") -> str:
        return f"{_slug(prefix, 30)}-{_slug(request.node.name)}-{uuid.uuid4().hex[:8]}"

    return make


TopicFactory = Callable[..., str]


@pytest.fixture
def topic_factory(
    request: pytest.FixtureRequest, unique_name: Callable[[str], str]
) -> Iterator[TopicFactory]:
    """``topic_factory(partitions=1, prefix="topic", configs=None, bootstrap=None) -> name``.

    Creates a uniquely named topic (on the session broker unless ``bootstrap`` is given) and
    waits until every partition has a leader; the topics are deleted after the test.
    """
    created: dict[str, list[str]] = {}

    def create(
        partitions: int = 1,
        *,
        prefix: str = "topic",
        configs: Mapping[str, str] | None = None,
        bootstrap: str | None = None,
    ) -> str:
        if bootstrap is None:
            bootstrap = request.getfixturevalue("kafka_broker").bootstrap
        name = unique_name(prefix)
        ensure_topics(bootstrap, {name: partitions}, configs=configs)
        created.setdefault(bootstrap, []).append(name)
        return name

    yield create
    for bootstrap, names in created.items():
        # Best effort: the test may have stopped the broker it created topics on.
        with suppress(Exception):
            delete_topics(bootstrap, names, timeout=5)
