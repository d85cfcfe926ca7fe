"""The pure batch path alone — decode, counting, windows, detectors, state to write — with no
broker and no ClickHouse: CPU per event, and the bytes of window state a worker would write to
its changelog.

    python benchmarks/batch_path.py                       # 120 teams, 4 weekly windows
    python benchmarks/batch_path.py --teams 240 --windows 8 --batch 2000

This is the part of the worker's cost that Miroir's own code decides (the rest is Faust, Kafka
and ClickHouse: see the throughput benchmark of the performance work). State bytes are the JSON
of every team and partition clock the batches mark dirty, summed over batches — what the
changelog receives when each dirty team is written whole.
"""

from __future__ import annotations

import argparse
import json
import time

from schemas.codec import SignalCodec, encode
from schemas.records import CustomerFeedback
from streams.core.bounds import TimeBounds
from streams.core.engine import EngineConfig, MirrorEngine
from streams.core.partitioning import partition_for
from streams.core.pipeline import BatchPreparer, RawMessage
from streams.detectors import DetectionSettings, load_detectors
from streams.tools.simulator import Simulator, TeamPlan

WEEK_MS = 7 * 86_400_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teams", type=int, default=120, help="teams (default 120)")
    parser.add_argument("--windows", type=int, default=4, help="weekly windows (default 4)")
    parser.add_argument("--customers", type=int, default=300, help="feedback per team-window")
    parser.add_argument("--employees", type=int, default=20, help="pulses per team-window")
    parser.add_argument("--partitions", type=int, default=8, help="partitions (default 8)")
    parser.add_argument("--batch", type=int, default=2000, help="events per batch (default 2000)")
    args = parser.parse_args()

    plans = [
        TeamPlan(f"t{i}", customers=args.customers, employees=args.employees)
        for i in range(args.teams)
    ]
    simulator = Simulator(plans, WEEK_MS, 1_700_000_000_000, seed=3)
    messages: list[RawMessage] = []
    offsets: dict[tuple[str, int], int] = {}
    for event in simulator.stream(args.windows):
        topic = "customer" if isinstance(event, CustomerFeedback) else "employee"
        partition = partition_for(event.team_id, args.partitions)
        offset = offsets.get((topic, partition), 0)
        offsets[(topic, partition)] = offset + 1
        messages.append(RawMessage(topic, partition, offset, event.team_id.encode(), encode(event)))

    engine: MirrorEngine[RawMessage] = MirrorEngine(
        EngineConfig(WEEK_MS, 3_600_000, 60_000, 5, DetectionSettings()),
        load_detectors(["mirror_change", "symmetry_gap"]),
        lambda: 0.0,
    )
    preparer = BatchPreparer(
        engine,
        SignalCodec(),
        customer_topic="customer",
        employee_topic="employee",
        hmac_secret=b"benchmark",
        time_bounds=TimeBounds(max_future_ms=10**15, max_age_ms=10**15),
    )
    state_bytes = 0
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    for start in range(0, len(messages), args.batch):
        prepared = preparer.prepare(messages[start : start + args.batch])
        state_bytes += sum(len(json.dumps(value)) for _, _, value in prepared.state_updates)
    cpu = time.process_time() - cpu_started
    wall = time.perf_counter() - wall_started
    events = len(messages)
    print(
        f"{events:,} events ({args.teams} teams × {args.windows} windows, batches of "
        f"{args.batch}): {events / wall:,.0f} events/s, {cpu / events * 1e6:.0f} µs CPU per "
        f"event, window state written {state_bytes / 1e6:.1f} MB "
        f"({state_bytes / events:.0f} bytes per event)"
    )


if __name__ == "__main__":
    main()
