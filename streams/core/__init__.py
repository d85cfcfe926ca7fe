"""The pure core of the pipeline: windows, counting, metrics, the engine and the batch path.

Nothing here does I/O — no Kafka, Faust, ClickHouse, HTTP or filesystem imports
(``tests/unit/test_architecture.py`` reads the imports to keep it so) — so the same code runs in
the worker, in offline replay, in benchmarks and in unit tests without a broker.
"""
