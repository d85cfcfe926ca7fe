"""Summarise a py-spy profile of a worker by stage: where the worker's CPU goes.

    py-spy record --gil --rate 100 --format raw --output worker.raw --pid <worker pid> -d 15
    python benchmarks/profile_summary.py worker.raw

``--gil`` keeps only the samples of the thread holding the GIL: the worker is one Python process,
so that is the CPU its throughput is bound by. Each sample is charged to the innermost frame of
its stack that belongs to a stage of ``STAGES``, else to the event loop (``FALLBACK``), else to
"other". The figures in
docs/performance.md were made this way.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

# (stage, substrings of a frame that put a sample in it). A sample is charged to the innermost
# frame of its stack that matches a stage (the first stage listed wins within one frame).
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Avro decode and record checks", ("schemas/codec.py",)),
    ("rows for ClickHouse (re-keying, columns)", ("core/privacy.py", "_columns (sinks/")),
    ("ClickHouse insert", ("sinks/clickhouse.py", "clickhouse_connect", "chdb")),
    (
        "window state to the changelog (dicts, JSON)",
        ("to_dict", "core/state_log.py", "json/", "faust/serializers", "history_to_list"),
    ),
    (
        "engine: windows, counting, detectors",
        (
            "core/engine.py",
            "core/aggregate.py",
            "core/windows.py",
            "core/identity.py",
            "core/index.py",
            "core/metrics.py",
            "core/episodes.py",
            "detectors/",
        ),
    ),
    (
        "Faust per-event stream path",
        (
            "faust/streams.py",
            "transport/conductor.py",
            "faust/channels.py",
            "faust/events.py",
            "Consumer._drain_messages (faust/",
            "wait_first",
        ),
    ),
    (
        "Kafka produce (outputs, changelog)",
        ("faust/topics.py", "aiokafka/producer", "faust/transport/producer.py", "send_changelog"),
    ),
    (
        "Kafka fetch and record parsing",
        ("aiokafka/consumer", "aiokafka/conn", "aiokafka/client", "aiokafka/record", "intake.py"),
    ),
    (
        "batch bookkeeping (positions, metrics, unit inputs)",
        ("core/pipeline.py", "runtime/", "core/unit_stage.py"),
    ),
)
# Charged only when no stage above matches anywhere in the stack: the event loop's own work.
FALLBACK: tuple[str, tuple[str, ...]] = (
    "asyncio and Faust services",
    ("asyncio/", "mode/", "faust/"),
)


def summarise(path: Path) -> tuple[int, list[tuple[str, int]]]:
    """Samples in the profile, and per stage (largest first)."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        samples = int(number)
        total += samples
        frames = stack.split(";")
        counts[_stage_of(frames)] += samples
    return total, counts.most_common()


def _stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):  # innermost first
        for stage, markers in STAGES:
            if any(marker in frame for marker in markers):
                return stage
    stage, markers = FALLBACK
    if any(marker in frame for frame in frames for marker in markers):
        return stage
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path, help="py-spy --format raw output")
    args = parser.parse_args()
    total, stages = summarise(args.profile)
    print(f"{total} samples")
    for stage, samples in stages:
        print(f"{samples / total * 100:5.1f} %  {stage}")


if __name__ == "__main__":
    main()
