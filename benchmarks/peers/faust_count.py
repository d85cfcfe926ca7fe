"""Plain Faust, for ``benchmarks/throughput.py``: one agent over both source topics that only
counts its records (no decoding, no state), Faust's per-event ``Stream`` path alone.

    python benchmarks/peers/faust_count.py --bootstrap 127.0.0.1:9092 --group g2 \\
        --topic customer-feedback=schemas/customer_feedback.avsc \\
        --topic employee-pulse=schemas/employee_pulse.avsc \\
        --expect 357000 --partitions 8 --state-dir /tmp/faust-count

Faust's defaults apart from what a fresh app on these topics needs (earliest offset, memory
store, no web server). Reports on stdout (``report.py``); runs until stopped.
"""

from __future__ import annotations

import faust
from report import Counter, arguments, run_faust_worker, topics


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0])
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
    source = app.topic(*topics(args), key_serializer="raw", value_serializer="raw")
    counter = Counter(args.expect)

    @app.agent(source)
    async def count(stream: faust.StreamT[bytes]) -> None:
        async for _ in stream:
            counter.add()

    run_faust_worker(app)


if __name__ == "__main__":
    main()
