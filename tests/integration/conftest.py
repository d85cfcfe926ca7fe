"""Fixtures of the integration tests that use the embedded store (chDB) directly.

chDB hosts one store per process: a module's tests share the module's store path, each test
gets a database of its own, and its sinks are closed when it ends, so the engine is free again
for tests elsewhere that use another path.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sinks.clickhouse import ClickHouseSink

SinkFactory = Callable[..., ClickHouseSink]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb") / "store"


@pytest.fixture
def sink_factory(store_path: Path) -> Iterator[SinkFactory]:
    """Sinks on the module's store, in a database unique to the test; all closed afterwards."""
    database = f"miroir_test_{uuid.uuid4().hex[:12]}"
    sinks: list[ClickHouseSink] = []

    def make(**options: object) -> ClickHouseSink:
        options.setdefault("database", database)
        sink = ClickHouseSink(f"chdb://{store_path}", **options)  # type: ignore[arg-type]
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.close()


@pytest.fixture
def sink(sink_factory: SinkFactory) -> Iterator[ClickHouseSink]:
    with sink_factory() as opened:
        yield opened
