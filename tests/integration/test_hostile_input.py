"""Hostile input on the real Apache Kafka broker, through the real worker, into ClickHouse (chDB).

The traffic is generated deterministically with a seeded ``random.Random`` (the generator of
``benchmarks/hostile_input.py``, which runs the same thing at 100,000 records): ~2,000 hostile
messages of every kind (random bytes, truncated Avro, trailing garbage, Confluent framing with
garbage, scores out of range, no score, empty identifiers, records over 64 KiB, comments over
the limit, unknown channel symbols, empty values and tombstones, far-future timestamps, the
other signal's schema) interleaved with ~3,000 valid simulator records of teams of 12
employees (so no window is suppressed). Each hostile message is keyed ``hostile-<n>`` so its
topic/partition/offset can be read back from the broker.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.hostile_input import WORKER_SETTINGS, make_traffic, report, run_pipeline
from tests.integration.harness import PipelineEnv

pytestmark = pytest.mark.integration


def test_every_hostile_message_is_one_dead_letter_and_every_valid_record_is_counted(
    kafka_broker, tmp_path: Path, unique_name
) -> None:
    traffic = make_traffic(records=5_000, hostile_share=0.4, seed=20)
    assert len(traffic.hostile) == 2_000 and len(traffic.valid) >= 2_800
    env = PipelineEnv(
        kafka_broker.bootstrap, tmp_path, unique_name("hostile"), extra=dict(WORKER_SETTINGS)
    )
    outcome = run_pipeline(env, traffic, timeout=60)

    summary = report(outcome, traffic)
    assert outcome.worker_alive and outcome.worker_exit == 0, summary
    # Every hostile message exactly once, at its source coordinates, with a reason.
    assert len(outcome.expected) == len(traffic.hostile), summary
    stored = {(r["topic"], int(r["partition"]), int(r["offset"])) for r in outcome.letters}
    assert stored == set(outcome.expected), summary
    assert len(outcome.letters) == outcome.letters_raw == len(traffic.hostile), summary
    assert all(r["reason"].strip() for r in outcome.letters), summary
    # Every valid record exactly once: raw customer rows, and both sides in the windows.
    assert outcome.customer_rows == outcome.customer_rows_raw == traffic.customers, summary
    assert outcome.window_sums["customers"] == traffic.customers, summary
    assert outcome.window_sums["employees"] == traffic.employees, summary
    assert outcome.window_sums["suppressed"] == 0 and outcome.late == 0, summary
    # Kinds and payload privacy, message by message (check() lists any mismatch).
    assert outcome.problems == [], summary
