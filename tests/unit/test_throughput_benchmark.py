"""benchmarks/throughput.py, its pure parts: reading /metrics, quantiles from histogram buckets,
rates over the timed span, the table and the notes beneath it, the rows it accepts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "throughput.py"

METRICS = """\
# HELP miroir_events_consumed_total Source records consumed.
# TYPE miroir_events_consumed_total counter
miroir_events_consumed_total{topic="b-customer"} 3000.0
miroir_events_consumed_total{topic="b-employee"} 500.0
miroir_events_consumed_total{topic="other"} 7.0
# TYPE miroir_window_close_to_store_seconds histogram
miroir_window_close_to_store_seconds_bucket{le="0.1"} 10.0
miroir_window_close_to_store_seconds_bucket{le="0.5"} 60.0
miroir_window_close_to_store_seconds_bucket{le="1.0"} 90.0
miroir_window_close_to_store_seconds_bucket{le="+Inf"} 100.0
miroir_window_close_to_store_seconds_count 100.0
miroir_window_close_to_store_seconds_sum 42.0
"""


@pytest.fixture
def benchmark(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The script loaded as a module (benchmarks/ is not a package)."""
    name = "throughput_under_test"
    spec = importlib.util.spec_from_file_location(name, BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_consumed_sums_the_source_topics_only(benchmark: ModuleType) -> None:
    samples = benchmark.parse_metrics(METRICS)
    assert benchmark.consumed(samples, ("b-customer", "b-employee")) == 3500
    assert benchmark.consumed([], ("b-customer",)) == 0


def test_quantiles_interpolate_inside_the_bucket_that_holds_them(benchmark: ModuleType) -> None:
    buckets = benchmark.histogram(
        benchmark.parse_metrics(METRICS), "miroir_window_close_to_store_seconds"
    )
    assert buckets == [(0.1, 10.0), (0.5, 60.0), (1.0, 90.0), (float("inf"), 100.0)]
    assert benchmark.quantile(buckets, 0.5) == pytest.approx(0.1 + 0.4 * 40 / 50)
    assert benchmark.quantile(buckets, 0.9) == pytest.approx(1.0)
    # In the +Inf bucket: the last finite bound is all that can be said.
    assert benchmark.quantile(buckets, 0.99) == pytest.approx(1.0)
    assert benchmark.quantile([(1.0, 0.0), (float("inf"), 0.0)], 0.5) is None
    assert benchmark.histogram(benchmark.parse_metrics(METRICS), "absent_seconds") is None
    summary = benchmark.latency_summary(buckets)
    assert summary["count"] == 100 and summary["p50"] == pytest.approx(0.42)
    assert benchmark.latency_summary(None) is None


def test_histograms_of_two_workers_add_bound_by_bound(benchmark: ModuleType) -> None:
    merged = benchmark.merge_histograms(
        [[(0.5, 1.0), (float("inf"), 2.0)], None, [(0.5, 3.0), (float("inf"), 3.0)]]
    )
    assert merged == [(0.5, 4.0), (float("inf"), 5.0)]
    assert benchmark.merge_histograms([None, None]) is None


def test_rates_and_cpu_run_over_the_timed_span(benchmark: ModuleType) -> None:
    peer = benchmark.Row("ceiling", "ceiling", events=1000, seconds=0.5, cpu_seconds=0.01)
    assert peer.rate == pytest.approx(2000) and peer.cpu_us == pytest.approx(10)
    # The worker's first reading had already counted 200: the span holds the other 800.
    worker = benchmark.Row(
        "worker", "worker", events=1000, timed_events=800, seconds=2.0, cpu_seconds=0.08
    )
    assert worker.rate == pytest.approx(400) and worker.cpu_us == pytest.approx(100)
    assert benchmark.Row("x", "x", events=10, timed_events=0, seconds=0.0).rate is None
    assert benchmark.ratio(worker, peer) == pytest.approx(0.2)
    assert benchmark.ratio(worker, None) is None


def test_the_table_has_every_column_and_marks_failures(benchmark: ModuleType) -> None:
    rows = [
        benchmark.Row("ceiling", "ceiling", 4000, None, 0.1, 0.04, 80.0),
        benchmark.Row("quix", "Quix", 4000, None, 0.4, 0.16, 190.0),
        benchmark.Row("worker", "Miroir worker", 4000, 3000, 0.2, 0.3, 600.4),
        benchmark.Row("faust", "plain Faust", error="exited with code 1"),
    ]
    lines = benchmark.format_table(rows).splitlines()
    assert [cell.strip() for cell in lines[0].split("|")] == [
        "consumer",
        "events",
        "events/s",
        "CPU µs/event",
        "peak RSS MB",
        "ratio to ceiling",
        "ratio to Quix",
    ]
    assert set(lines[1]) <= {"-", "+"}
    cells = {line.split("|")[0].strip(): [c.strip() for c in line.split("|")] for line in lines}
    assert cells["ceiling"][1:] == ["4,000", "40,000", "10.0", "80", "1.00", "4.00"]
    assert cells["Miroir worker"][1:] == ["4,000", "15,000", "100.0", "600", "0.38", "1.50"]
    assert cells["plain Faust"][1] == "FAILED"
    assert len({len(line) for line in lines if "FAILED" not in line}) == 1  # aligned


def test_the_notes_give_the_ratios_latencies_memory_and_failures(benchmark: ModuleType) -> None:
    worker = benchmark.Row("worker", "Miroir worker", 4000, 3000, 0.2, 0.3, 600.0, 10.0)
    worker.details = {
        "startup_seconds": 6.0,
        "idle_rss_mb": 350.0,
        "committed_seconds_after_last": 0.8,
        "miroir_window_close_to_store_seconds": {"count": 60.0, "p50": 0.2, "p99": 0.9},
        "miroir_fetch_to_store_seconds": None,
    }
    rows = [
        benchmark.Row("quix", "Quix", 4000, None, 0.4, 0.16, 190.0),
        worker,
        benchmark.Row("workers2", "two Miroir workers", error="timed out"),
    ]
    memory = benchmark.Row("memory", "engine")
    memory.details = {
        "full": {"teams": 100, "open_windows": 100, "events": 5200, "above_empty_mb": 2.0},
        "single": {"teams": 100, "open_windows": 100, "events": 100, "above_empty_mb": 0.5},
    }
    notes = benchmark.format_notes(rows, memory)
    assert "worker ÷ Quix: 1.50 (target ≥ 1.5)" in notes
    assert "two workers ÷ one worker: n/a (target ≥ 1.6)" in notes
    assert "idle 350 MB" in notes and "+250 MB while consuming" in notes
    assert "window close → ClickHouse: p50 0.20 s, p99 0.90 s over 60 observations" in notes
    assert "fetch → ClickHouse: n/a" in notes
    assert "100 teams, a window open each (52 events in it): 2 MB RSS above" in notes
    assert "FAILED two Miroir workers: timed out" in notes


def test_rows_are_checked_and_kept_in_their_order(benchmark: ModuleType) -> None:
    assert benchmark.parse_rows(None, False) == list(benchmark.ROWS)
    assert benchmark.parse_rows("worker, ceiling", False) == ["ceiling", "worker"]
    assert "quix" not in benchmark.parse_rows(None, True)
    with pytest.raises(SystemExit, match="unknown rows nope"):
        benchmark.parse_rows("worker,nope", False)
