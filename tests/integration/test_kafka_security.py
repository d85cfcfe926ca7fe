"""Miroir on a secured Kafka: the real Apache Kafka broker with a SASL_SSL listener (SCRAM and
PLAIN users) and a mutual-TLS listener, certificates from a CA the test session made.

The whole pipeline runs through SASL_SSL (topics created, records produced, the worker and its
unit stage, the live page's feed and the webhook relay, the alerts read back), and so do the
command-line tools; wrong credentials, an untrusted CA and a missing client certificate stop
start-up at once with a message naming the setting to fix, never the secret.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pydantic import SecretStr

from schemas.codec import decode_alert
from sinks.webhook import ALERT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from streams.errors import ConfigError
from streams.kafka_config import KafkaConnection
from streams.runtime.broker_probe import wait_for_broker
from streams.runtime.kafka_read import read_to_end
from streams.runtime.publish import SignalPublisher
from streams.runtime.topics import ensure_topics
from streams.tools.kafka_broker import free_port
from streams.tools.secured_broker import SecuredKafkaBroker
from streams.tools.simulator import Simulator, TeamPlan
from tests.http_server import RecordingServer
from tests.integration.harness import (
    REPO,
    PipelineEnv,
    WorkerProcess,
    alert_keys,
    recent_base_ms,
    wait_until,
)

pytestmark = pytest.mark.integration

WINDOW_MS = 10_000
WEBHOOK_SECRET = "webhook-secret-for-the-sasl-test-0123456789"
PLANTED = [TeamPlan("steady"), TeamPlan("decline", "mirror_decline")]


def _alerts(connection: KafkaConnection, topic: str) -> list:
    return [decode_alert(r.value) for r in read_to_end(connection, topic, range(4), timeout=30)]


def _live_connected(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as page:
        return bool(json.loads(page.read())["live"]["connected"])


def _secured_env(broker: SecuredKafkaBroker, tmp: Path, prefix: str, **extra: str) -> PipelineEnv:
    return PipelineEnv(
        broker.sasl_ssl_bootstrap, tmp, prefix, extra={**broker.settings_env(), **extra}
    )


def test_the_pipeline_runs_end_to_end_through_sasl_ssl(
    secured_kafka_broker: SecuredKafkaBroker, tmp_path: Path, unique_name
) -> None:
    broker = secured_kafka_broker
    web_port = free_port()
    receiver = RecordingServer().start()  # the webhook relay's consumer reads through SASL_SSL
    env = _secured_env(
        broker,
        tmp_path,
        unique_name("sasl"),
        MIROIR_WEB_PORT=str(web_port),
        MIROIR_WEBHOOK_URLS=receiver.url("/hook"),
        MIROIR_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    connection = broker.sasl_connection()
    ensure_topics(
        connection,
        dict.fromkeys(
            (env.customer_topic, env.employee_topic, env.alerts_topic, env.dead_letter_topic), 4
        ),
    )
    simulator = Simulator(PLANTED, WINDOW_MS, recent_base_ms(WINDOW_MS), seed=5)
    events = [e for index in range(5) for e in simulator.window(index)]
    with SignalPublisher(connection, env.customer_topic, env.employee_topic) as publisher:
        publisher.send_all(events)
    worker = WorkerProcess(env).start()
    try:
        wait_until(
            lambda: bool(_alerts(connection, env.alerts_topic)), 120, "the planted alert", worker
        )
        # The live page's own consumer (aiokafka, no group) reads the alerts through SASL_SSL.
        wait_until(lambda: _live_connected(web_port), 60, "the live page's alert feed", worker)
        wait_until(lambda: bool(receiver.received), 60, "the page posted to the webhook", worker)
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/metrics", timeout=10) as page:
            metrics = page.read().decode()
    finally:
        try:
            assert worker.stop() == 0, worker.log()[-4000:]
        finally:
            receiver.stop()
    path, headers, body = receiver.received[0]
    assert path == "/hook" and json.loads(body)["miroir"]["kind"] == "mirror_decline"
    assert verify(
        body,
        WEBHOOK_SECRET.encode(),
        headers.get(TIMESTAMP_HEADER),
        headers.get(SIGNATURE_HEADER),
        alert_id=headers.get(ALERT_ID_HEADER),
    )
    assert alert_keys(_alerts(connection, env.alerts_topic)) == [
        ("decline", simulator.start_ms + 4 * WINDOW_MS, "mirror_decline")
    ]
    windows = env.query("SELECT count() AS n FROM team_window_metrics FINAL")
    assert windows[0]["n"] >= 8  # both teams' first four windows, at least
    assert "miroir_events_consumed" in metrics
    # The password went to the broker only: not to the log, not to /metrics.
    assert broker.password not in worker.log()
    assert broker.password not in metrics


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN"])
def test_every_sasl_mechanism_produces_and_reads(
    secured_kafka_broker: SecuredKafkaBroker, unique_name, mechanism: str
) -> None:
    connection = secured_kafka_broker.sasl_connection(mechanism)
    _round_trip(connection, unique_name("mech"))


def test_mutual_tls_works_with_a_client_certificate_and_refuses_without(
    secured_kafka_broker: SecuredKafkaBroker, unique_name
) -> None:
    _round_trip(secured_kafka_broker.mtls_connection(), unique_name("mtls"))
    without = secured_kafka_broker.mtls_connection(ssl_certfile=None, ssl_keyfile=None)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="MIROIR_KAFKA_SSL_CERTFILE"):
        wait_for_broker(without, timeout=30)
    assert time.monotonic() - started < 5


def _round_trip(connection: KafkaConnection, prefix: str) -> None:
    simulator = Simulator([TeamPlan("t")], WINDOW_MS, recent_base_ms(WINDOW_MS), seed=1)
    events = simulator.window(0)
    customer, employee = f"{prefix}-c", f"{prefix}-e"
    ensure_topics(connection, {customer: 1, employee: 1})
    with SignalPublisher(connection, customer, employee) as publisher:
        publisher.send_all(events)
    read = len(list(read_to_end(connection, customer, [0]))) + len(
        list(read_to_end(connection, employee, [0]))
    )
    assert read == len(events)


def _worker_start_fails(env: PipelineEnv) -> tuple[str, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "streams", "worker"],
        env=env.env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode != 0, result.stderr[-2000:]
    return result.stdout + result.stderr, time.monotonic() - started


def test_a_wrong_password_stops_the_worker_at_once_naming_the_settings(
    secured_kafka_broker: SecuredKafkaBroker, tmp_path: Path, unique_name
) -> None:
    wrong = "not-the-Password-123"
    env = _secured_env(
        secured_kafka_broker, tmp_path, unique_name("badpw"), MIROIR_KAFKA_SASL_PASSWORD=wrong
    )
    output, seconds = _worker_start_fails(env)
    assert "refused the SASL login" in output
    assert "MIROIR_KAFKA_SASL_PASSWORD" in output
    assert wrong not in output and secured_kafka_broker.password not in output
    assert seconds < 20, output[-2000:]  # one login attempt, not the whole broker wait


def test_an_untrusted_ca_stops_the_worker_at_once_naming_the_setting(
    secured_kafka_broker: SecuredKafkaBroker, tmp_path: Path, unique_name
) -> None:
    rogue = str(secured_kafka_broker.pki.rogue_ca_cert)
    env = _secured_env(
        secured_kafka_broker, tmp_path, unique_name("rogue"), MIROIR_KAFKA_SSL_CAFILE=rogue
    )
    output, seconds = _worker_start_fails(env)
    assert "not trusted" in output and "MIROIR_KAFKA_SSL_CAFILE" in output
    assert secured_kafka_broker.password not in output
    assert seconds < 30, output[-2000:]


def test_a_client_trusting_another_ca_cannot_read(
    secured_kafka_broker: SecuredKafkaBroker,
) -> None:
    connection = secured_kafka_broker.sasl_connection(
        ssl_cafile=secured_kafka_broker.pki.rogue_ca_cert, sasl_password=SecretStr("x")
    )
    with pytest.raises(ConfigError, match="not trusted"):
        wait_for_broker(connection, timeout=30)


def test_the_command_line_tools_work_through_sasl_ssl(
    secured_kafka_broker: SecuredKafkaBroker, tmp_path: Path, unique_name
) -> None:
    """The tools a data engineer runs by hand open their own Kafka clients: ``simulate``
    (admin and producer), ``teams load`` (producer) and ``backfill`` (reader, teams reader)
    all go through SASL_SSL with the same settings as the worker."""
    broker = secured_kafka_broker
    env = _secured_env(broker, tmp_path, unique_name("sasl-cli"))
    simulated = env.run_cli("simulate", "--teams", "2", "--windows", "2", "--seed", "3")
    assert simulated.returncode == 0, simulated.stderr[-3000:]
    sent = int(simulated.stderr.rsplit("simulate: ", 1)[1].split()[0])
    assert sent > 0
    teams = tmp_path / "teams.csv"
    teams.write_text("team_id,display_name,company,site\nteam-00,Paris,acme,paris\n")
    loaded = env.run_cli("teams", "load", str(teams))
    assert loaded.returncode == 0 and "1 teams written" in loaded.stderr, loaded.stderr[-3000:]
    since = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86_400))
    backfill = env.run_cli("backfill", "--from", since)
    assert backfill.returncode == 0, backfill.stderr[-3000:]
    assert f"{sent:,} events" in backfill.stderr, backfill.stderr
    for result in (simulated, loaded, backfill):
        assert broker.password not in result.stdout + result.stderr
