"""The memory row of ``benchmarks/throughput.py``: what the pure engine holds for many teams that
each have a window open, above an empty engine. No broker, no ClickHouse.

    python benchmarks/peers/engine_memory.py                 # 10,000 teams
    python benchmarks/peers/engine_memory.py --teams 2000 --customers 20

Every team gets one full 7-day window of events (``--customers`` feedback records and
``--employees`` pulses, the simulator's defaults), decoded and aggregated through the same batch
path as the worker (``streams.core.pipeline.BatchPreparer``, as ``benchmarks/batch_path.py``
drives it), in batches; the watermark never passes the window's end, so every window stays
open. Teams are generated a chunk at a time, so the input never sits in memory whole.

Reports one JSON line on stdout (``{"bench": "memory", ...}``): the process's resident memory
with the empty engine and with every window open (after a full collection; what the input
left behind in the allocator's free lists counts too, as it would in a worker), and with
``--tracemalloc`` the Python heap the engine holds above the empty one (exact, but about five
times slower).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from pathlib import Path

from schemas.codec import SignalCodec, encode
from schemas.records import CustomerFeedback
from streams.core.bounds import TimeBounds
from streams.core.engine import EngineConfig, MirrorEngine
from streams.core.partitioning import partition_for
from streams.core.pipeline import BatchPreparer, RawMessage
from streams.detectors import DetectionSettings, load_detectors
from streams.tools.simulator import Simulator, TeamPlan

WEEK_MS = 7 * 86_400_000
START_MS = 1_764_806_400_000 - 4 * WEEK_MS  # an aligned week in the past


def rss_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teams", type=int, default=10_000, help="teams (default 10,000)")
    parser.add_argument("--customers", type=int, default=40, help="feedback per team (40)")
    parser.add_argument("--employees", type=int, default=12, help="pulses per team (12)")
    parser.add_argument("--partitions", type=int, default=8, help="partitions (default 8)")
    parser.add_argument("--batch", type=int, default=5000, help="events per batch (5000)")
    parser.add_argument("--chunk", type=int, default=250, help="teams generated at a time")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace the heap (about 5x slower)"
    )
    args = parser.parse_args()

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
    gc.collect()
    rss_before = rss_kib()
    if args.tracemalloc:
        tracemalloc.start()
    heap_before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    offsets: dict[tuple[str, int], int] = {}
    events = 0
    for first in range(0, args.teams, args.chunk):
        plans = [
            TeamPlan(f"team-{i:05d}", customers=args.customers, employees=args.employees)
            for i in range(first, min(first + args.chunk, args.teams))
        ]
        messages: list[RawMessage] = []
        for event in Simulator(plans, WEEK_MS, START_MS, seed=first).window(0):
            topic = "customer" if isinstance(event, CustomerFeedback) else "employee"
            partition = partition_for(event.team_id, args.partitions)
            offset = offsets.get((topic, partition), 0)
            offsets[(topic, partition)] = offset + 1
            key = event.team_id.encode()
            messages.append(RawMessage(topic, partition, offset, key, encode(event)))
        for start in range(0, len(messages), args.batch):
            preparer.prepare(messages[start : start + args.batch])
        events += len(messages)
        del messages, plans
    seconds = time.perf_counter() - started
    gc.collect()
    heap, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    gc.collect()
    open_windows = sum(len(team.open_windows) for team in engine.teams.values())
    result = {
        "bench": "memory",
        "teams": len(engine.teams),
        "open_windows": open_windows,
        "events": events,
        "seconds": round(seconds, 1),
        "heap_mb": (heap - heap_before) / 1e6 if args.tracemalloc else None,
        "rss_empty_mb": rss_before / 1024,
        "rss_mb": rss_kib() / 1024,
        "rss_peak_mb": rss_kib("VmHWM") / 1024,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
