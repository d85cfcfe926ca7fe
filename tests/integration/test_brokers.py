"""The real brokers start, carry records, survive a restart, and take Miroir's topic set-up."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.errors import BrokerError, ConfigError
from streams.runtime.broker_probe import wait_for_broker
from streams.runtime.topics import TopicSpec, delete_topics, describe_partitions, ensure_topics
from streams.tools.kafka_broker import ApacheKafkaBroker, TansuBroker, free_port

pytestmark = pytest.mark.integration

Record = tuple[bytes, bytes]


def produce(bootstrap: str, topic: str, records: list[Record]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    try:
        for key, value in records:
            producer.send(topic, key=key, value=value).get(timeout=30)
    finally:
        producer.close()


def consume(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[Record]:
    """Read ``count`` records from the start of every partition (no consumer group)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        assert partitions, f"{topic} has no partitions"
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend((r.key, r.value) for r in batch)
        return records
    finally:
        consumer.close()


def port_is_closed(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return False
    except OSError:
        return True


@pytest.fixture(scope="module")
def tansu_broker() -> Iterator[TansuBroker]:
    with TansuBroker() as broker:
        yield broker


@pytest.fixture(params=["apache", "tansu"])
def bootstrap(request: pytest.FixtureRequest) -> str:
    """Each topic test runs on both brokers Miroir supports."""
    fixture = "kafka_broker" if request.param == "apache" else "tansu_broker"
    return str(request.getfixturevalue(fixture).bootstrap)


def test_apache_broker_carries_a_record(kafka_broker, topic_factory) -> None:
    topic = topic_factory(partitions=3)

    produce(kafka_broker.bootstrap, topic, [(b"team-7", b"hello")])

    assert consume(kafka_broker.bootstrap, topic, 1) == [(b"team-7", b"hello")]


def test_ensure_topics_creates_then_is_idempotent(
    bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    feedback, pulse, alerts = (unique_name(p) for p in ("feedback", "pulse", "alerts"))
    try:
        created = ensure_topics(bootstrap, {feedback: 6, pulse: 6})
        assert sorted(created) == sorted([feedback, pulse])

        again = ensure_topics(
            bootstrap,
            [
                TopicSpec(feedback, 6),
                TopicSpec(pulse, 6),
                TopicSpec(alerts, 2, configs={"cleanup.policy": "delete"}),
            ],
        )

        assert again == [alerts]
        assert describe_partitions(bootstrap, [feedback, pulse, alerts, unique_name("absent")]) == {
            feedback: 6,
            pulse: 6,
            alerts: 2,
        }
    finally:
        delete_topics(bootstrap, [feedback, pulse, alerts])


def test_ensure_topics_refuses_a_partition_mismatch(
    bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("feedback")
    try:
        ensure_topics(bootstrap, {topic: 3})

        with pytest.raises(ConfigError) as raised:
            ensure_topics(bootstrap, {topic: 8})

        message = str(raised.value)
        assert topic in message
        assert "has 3 partitions, expected 8" in message
        assert "delete the topic" in message
        assert describe_partitions(bootstrap, [topic]) == {topic: 3}, "nothing was changed"
    finally:
        delete_topics(bootstrap, [topic])


def test_deleted_topic_can_be_recreated_with_another_partition_count(
    bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("recreate")
    ensure_topics(bootstrap, {topic: 2})

    assert delete_topics(bootstrap, [topic, unique_name("absent")]) == [topic]
    assert ensure_topics(bootstrap, {topic: 4}) == [topic]
    assert describe_partitions(bootstrap, [topic]) == {topic: 4}
    delete_topics(bootstrap, [topic])


def test_tansu_broker_starts_carries_records_and_stops(unique_name) -> None:
    broker = TansuBroker()
    with broker:
        assert broker.running
        topic = unique_name("demo")
        assert ensure_topics(broker.bootstrap, {topic: 4}) == [topic]

        produce(broker.bootstrap, topic, [(b"team-1", b"a"), (b"team-2", b"b")])

        assert sorted(consume(broker.bootstrap, topic, 2)) == [(b"team-1", b"a"), (b"team-2", b"b")]
    assert not broker.running
    assert port_is_closed(broker.bootstrap)


def test_broker_restart_keeps_a_topics_data(dedicated_kafka_broker, topic_factory) -> None:
    broker: ApacheKafkaBroker = dedicated_kafka_broker
    bootstrap_before = broker.bootstrap
    topic = topic_factory(partitions=2, bootstrap=broker.bootstrap)
    before = [(f"team-{i}".encode(), f"before-{i}".encode()) for i in range(5)]
    produce(broker.bootstrap, topic, before)

    broker.restart()

    assert broker.bootstrap == bootstrap_before
    assert describe_partitions(broker.bootstrap, [topic]) == {topic: 2}
    produce(broker.bootstrap, topic, [(b"team-9", b"after")])
    assert sorted(consume(broker.bootstrap, topic, 6)) == sorted([*before, (b"team-9", b"after")])
    assert "Kafka Server started" in broker.log_path.read_text()


def test_unreachable_broker_is_a_broker_error() -> None:
    nowhere = f"127.0.0.1:{free_port()}"

    with pytest.raises(BrokerError, match="not ready"):
        wait_for_broker(nowhere, timeout=1)
    with pytest.raises(BrokerError, match="cannot reach the Kafka broker"):
        ensure_topics(nowhere, {"never": 1}, timeout=1)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux setpriv (Linux)")
def test_a_broker_ends_with_the_process_that_started_it_even_when_killed(tmp_path) -> None:
    """A test session killed with SIGKILL runs no exit handler: the broker gets SIGTERM from
    the kernel when its parent dies (setpriv --pdeathsig), instead of holding its port."""
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\n"
            "from streams.tools.kafka_broker import ApacheKafkaBroker\n"
            f"broker = ApacheKafkaBroker({str(tmp_path / 'broker')!r}).start()\n"
            "print(broker._process.pid, broker.bootstrap, flush=True)\n"
            "time.sleep(600)\n",
        ],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert starter.stdout is not None
        pid_text, bootstrap = starter.stdout.readline().split()
        pid = int(pid_text)
        assert not port_is_closed(bootstrap)
        starter.kill()  # SIGKILL: no atexit, no context manager
        starter.wait()
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(pid), "the broker outlived the process that started it"
        assert port_is_closed(bootstrap)
    finally:
        starter.kill()
        with contextlib.suppress(ProcessLookupError, NameError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie of another parent counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
