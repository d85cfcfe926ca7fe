"""`/metrics` on a real worker: the Prometheus counters match what the test produced."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from schemas.records import CustomerFeedback
from streams.runtime.publish import SignalPublisher
from streams.tools.kafka_broker import free_port
from streams.tools.simulator import Simulator, TeamPlan
from tests.integration.harness import (
    PipelineEnv,
    WorkerProcess,
    create_topics,
    read_alerts,
    wait_until,
)

pytestmark = pytest.mark.integration

WINDOW_MS = 10_000


def scrape(port: int) -> dict[str, float]:
    """Parse the text exposition into {'name{labels}': value} (samples only)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_metrics_count_what_the_worker_did(kafka_broker, tmp_path: Path, unique_name) -> None:
    port = free_port()
    env = PipelineEnv(
        kafka_broker.bootstrap, tmp_path, unique_name("m"), extra={"MIROIR_WEB_PORT": str(port)}
    )
    create_topics(env)
    now = int(time.time() * 1000)
    simulator = Simulator(
        [TeamPlan("steady"), TeamPlan("decline", "mirror_decline")],
        WINDOW_MS,
        now - now % WINDOW_MS - 40 * WINDOW_MS,
        seed=12,
    )
    events = [e for _, window in simulator.windows(5) for e in window]
    customers = sum(isinstance(e, CustomerFeedback) for e in events)
    with SignalPublisher(env.bootstrap, env.customer_topic, env.employee_topic) as publisher:
        publisher.send_all(events)
        for i in range(3):
            publisher.send_raw(env.customer_topic, b"steady", b"\xffnot avro %d" % i)
    worker = WorkerProcess(env).start()
    try:
        wait_until(
            lambda: len(read_alerts(env.bootstrap, env.alerts_topic)) >= 1,
            90,
            "the decline alert",
            worker,
        )
        time.sleep(3)
        samples = scrape(port)
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
    alerts = read_alerts(env.bootstrap, env.alerts_topic)
    consumed_customers = samples[f'miroir_events_consumed_total{{topic="{env.customer_topic}"}}']
    consumed_employees = samples[f'miroir_events_consumed_total{{topic="{env.employee_topic}"}}']
    assert consumed_customers == customers + 3
    assert consumed_employees == len(events) - customers
    assert (
        samples[f'miroir_dead_letters_total{{kind="undecodable",topic="{env.customer_topic}"}}']
        == 3
    )
    assert samples['miroir_alerts_total{kind="mirror_decline",severity="critical"}'] == len(
        [a for a in alerts if a.kind == "mirror_decline"]
    )
    assert samples["miroir_windows_closed_total"] == 2 * 5
    assert samples["miroir_windows_open"] == 0
    assert samples["miroir_sink_write_seconds_count"] >= 1
    assert samples["miroir_sink_paused"] == 0
    lags = [v for k, v in samples.items() if k.startswith("miroir_consumer_lag{")]
    assert lags and all(v == 0 for v in lags)  # everything produced was processed
