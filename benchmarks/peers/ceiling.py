"""The ceiling of ``benchmarks/throughput.py``: a raw aiokafka consumer that decodes every record
with fastavro (the project's writer schemas) and does nothing else.

    python benchmarks/peers/ceiling.py --bootstrap 127.0.0.1:9092 --group g1 \\
        --topic customer-feedback=schemas/customer_feedback.avsc \\
        --topic employee-pulse=schemas/employee_pulse.avsc \\
        --expect 357000 --partitions 8 --state-dir /tmp/ceiling

Batches as large as the client gives (``getmany``); a fresh consumer group from the earliest
offset. Reports on stdout (``report.py``).
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer
from report import Counter, arguments, decoder, topics


async def consume() -> None:
    args = arguments(__doc__.split("\n\n")[0])
    sources = topics(args)
    decoders = {topic: decoder(schema) for topic, schema in sources.items()}
    counter = Counter(args.expect)
    consumer = AIOKafkaConsumer(
        *sources,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=32 * 1024 * 1024,
    )
    await consumer.start()
    try:
        while not counter.finished:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, records in batches.items():
                decode = decoders[tp.topic]
                for record in records:
                    decode(record.value)  # type: ignore[arg-type]
                counter.add(len(records))
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(consume())
