"""Naive Faust, for ``benchmarks/throughput.py``: the textbook design of the windowed job. One
agent over both source topics decodes each record (fastavro, the project's writer schemas) and
updates a changelog-backed Table once per event: per team and 7-day event-time window, the
count and the sum of a score.

    python benchmarks/peers/faust_naive.py --bootstrap 127.0.0.1:9092 --group g3 \\
        --topic customer-feedback=schemas/customer_feedback.avsc \\
        --topic employee-pulse=schemas/employee_pulse.avsc \\
        --expect 357000 --partitions 8 --state-dir /tmp/faust-naive

Every table write is a changelog record (Faust's memory store, state recoverable from Kafka).
Reports on stdout (``report.py``); runs until stopped.
"""

from __future__ import annotations

from typing import Any

import faust
from report import WEEK_MS, Counter, arguments, decoder, load_schema, run_faust_worker, topics


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0])
    sources = topics(args)
    decoders = {topic: decoder(schema) for topic, schema in sources.items()}
    scores = {topic: load_schema(schema)[1] for topic, schema in sources.items()}
    app = faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        datadir=args.state_dir,
        topic_partitions=args.partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        autodiscover=False,
    )
    source = app.topic(*sources, key_serializer="raw", value_serializer="raw")
    # key "team|window start" -> [count, sum of the score]
    windows = app.Table("team-windows", default=None, partitions=args.partitions)
    counter = Counter(args.expect)

    @app.agent(source)
    async def aggregate(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            topic = event.message.topic
            record: dict[str, Any] = decoders[topic](event.value)  # type: ignore[arg-type]
            occurred = record["occurred_at"]
            key = f"{record['team_id']}|{occurred - occurred % WEEK_MS}"
            count, total = windows.get(key) or (0, 0)
            windows[key] = (count + 1, total + (record[scores[topic]] or 0))
            counter.add()

    run_faust_worker(app)


if __name__ == "__main__":
    main()
