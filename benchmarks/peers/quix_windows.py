"""Quix Streams, for ``benchmarks/throughput.py``: the windowed job as its users would write it.
Both source topics (concatenated), a custom deserializer decoding each record with fastavro (the
project's writer schemas), event time from the record's ``occurred_at``, and per team (the
message key) 7-day tumbling windows with one hour of grace counting the records and summing a
score, each window emitted once, when it closes, to an output topic.

Runs with the Quix Streams virtualenv the benchmark makes (never a Miroir dependency):

    ~/.cache/miroir/bench-quix-venv/bin/python benchmarks/peers/quix_windows.py \\
        --bootstrap 127.0.0.1:9092 --group g4 \\
        --topic customer-feedback=schemas/customer_feedback.avsc \\
        --topic employee-pulse=schemas/employee_pulse.avsc \\
        --expect 357000 --partitions 8 --state-dir /tmp/quix

Reports on stdout (``report.py``) and stops at the expected count.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from quixstreams import Application
from quixstreams.dataframe.windows import Count, Sum
from quixstreams.models.serializers import Deserializer
from report import Counter, arguments, decoder, load_schema, topics


class AvroDeserializer(Deserializer):
    """A schemaless Avro body to its record dict, plus ``score`` (the side's summed item)."""

    def __init__(self, schema_path: Any) -> None:
        super().__init__()
        self.decode = decoder(schema_path)
        self.score = load_schema(schema_path)[1]

    def __call__(self, value: bytes, ctx: Any) -> dict[str, Any]:
        record = self.decode(value)
        record["score"] = record[self.score] or 0
        return record


def occurred_at(value: Any, headers: Any, timestamp: int, timestamp_type: Any) -> int:
    occurred: int = value["occurred_at"]
    return occurred


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0])
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        loglevel="WARNING",
    )
    logging.getLogger("quixstreams").setLevel(logging.WARNING)
    frames = [
        app.dataframe(
            app.topic(
                name,
                value_deserializer=AvroDeserializer(schema),
                key_deserializer="str",
                timestamp_extractor=occurred_at,
            )
        )
        for name, schema in topics(args).items()
    ]
    sdf = frames[0]
    for other in frames[1:]:
        sdf = sdf.concat(other)
    counter = Counter(args.expect)

    def count(value: Any) -> None:
        if counter.add():
            app.stop()

    sdf = sdf.update(count)
    sdf = (
        sdf.tumbling_window(timedelta(days=7), grace_ms=timedelta(hours=1))
        .agg(count=Count(), total=Sum("score"))
        .final()
    )
    sdf.to_topic(app.topic(f"{args.group}-windows", key_serializer="str"))
    app.run()


if __name__ == "__main__":
    main()
