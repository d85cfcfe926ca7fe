"""What a peer consumer of ``benchmarks/throughput.py`` shares with the others: its command line,
the Avro schemas it decodes with, and the JSON lines it reports on stdout.

Standard library and fastavro only, so the Quix Streams peer can import it from its own
virtualenv. Every line the benchmark reads starts with ``{"bench":`` (anything else a library
prints to stdout is ignored):

    {"bench": "progress", "events": 120000, "time": 1764851234.5}
    {"bench": "done", "events": 357000, "first": …, "last": …, "cpu_first": …, "cpu_last": …}

``first``/``last`` are wall-clock times (``time.time()``) of the first and last record consumed,
``cpu_*`` the process CPU time (all threads) at those moments.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The score each job sums per team-window: one 0-10 item per side.
SCORE_FIELD = {"CustomerFeedback": "nps", "EmployeePulse": "enps"}
WEEK_MS = 7 * 86_400_000
PROGRESS_SECONDS = 1.0


def arguments(description: str) -> argparse.Namespace:
    """The command line every peer takes (the benchmark builds it)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--group", required=True, help="consumer group / app id (fresh)")
    parser.add_argument(
        "--topic",
        action="append",
        required=True,
        metavar="NAME=SCHEMA.avsc",
        help="a source topic and the Avro schema its records were written with (repeat)",
    )
    parser.add_argument("--expect", type=int, required=True, help="stop after this many records")
    parser.add_argument("--partitions", type=int, required=True, help="partitions per topic")
    parser.add_argument("--state-dir", required=True, help="a fresh directory for local state")
    return parser.parse_args()


def topics(args: argparse.Namespace) -> dict[str, Path]:
    """``--topic NAME=SCHEMA`` options as {topic: schema path}."""
    pairs = (item.partition("=") for item in args.topic)
    return {name: Path(schema) for name, _, schema in pairs}


def _without_timestamp_logical_type(schema: Any) -> Any:
    # As the project's codec reads them: timestamps stay epoch-millisecond longs.
    if isinstance(schema, list):
        return [_without_timestamp_logical_type(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("logicalType") == "timestamp-millis" and schema.get("type") == "long":
        return "long"
    return {key: _without_timestamp_logical_type(value) for key, value in schema.items()}


def load_schema(path: Path) -> tuple[dict[str, Any], str]:
    """The parsed writer schema in ``path`` and the field its job sums."""
    from fastavro import parse_schema

    raw = json.loads(path.read_text(encoding="utf-8"))
    parsed: dict[str, Any] = parse_schema(_without_timestamp_logical_type(raw))  # type: ignore[assignment]
    return parsed, SCORE_FIELD[raw["name"]]


def decoder(path: Path) -> Callable[[bytes], dict[str, Any]]:
    """Bytes of a plain (schemaless) Avro body to its record dict, with fastavro."""
    from fastavro import schemaless_reader

    schema, _ = load_schema(path)

    def decode(value: bytes) -> dict[str, Any]:
        record: dict[str, Any] = schemaless_reader(io.BytesIO(value), schema, None)  # type: ignore[call-arg,assignment]
        return record

    return decode


def emit(kind: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"bench": kind, **fields}) + "\n")
    sys.stdout.flush()


class Counter:
    """Counts consumed records; reports progress about once a second and ``done`` at N."""

    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.count = 0
        self.first = 0.0
        self.cpu_first = 0.0
        self.finished = False
        self._next_report = 0.0

    def add(self, records: int = 1) -> bool:
        """Count ``records`` more; True once the expected number has been reached."""
        if not self.count:
            self.first, self.cpu_first = time.time(), time.process_time()
            self._next_report = time.monotonic() + PROGRESS_SECONDS
        self.count += records
        if self.count >= self.expect:
            if not self.finished:
                self.finished = True
                emit(
                    "done",
                    events=self.count,
                    first=self.first,
                    last=time.time(),
                    cpu_first=self.cpu_first,
                    cpu_last=time.process_time(),
                )
            return True
        if self.count % 1024 < records and time.monotonic() >= self._next_report:
            self._next_report = time.monotonic() + PROGRESS_SECONDS
            emit("progress", events=self.count, time=time.time())
        return False


def run_faust_worker(app: Any) -> None:
    """Run a Faust peer's worker until it stops (Faust is imported here: the Quix peer, in its
    own virtualenv, shares this module without Faust)."""
    import faust

    worker = faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False)
    # As the Miroir worker does: Faust leaves the root logger at DEBUG, and aiokafka would build
    # a log record per message for nothing.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    worker.execute_from_commandline()
