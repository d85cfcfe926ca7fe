"""The pure parts of `miroir backfill`: times, the plan and its run id, progress, the run over
history (what closes, what is skipped, what --to keeps), the file reader, and the command over a
file without a store."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from schemas.codec import record_to_json, topic_of
from schemas.records import CustomerFeedback, Signal
from streams.core.engine import EngineConfig, Inbound, MirrorEngine
from streams.core.org import OrgChart
from streams.core.partitioning import partition_for
from streams.detectors import load_detectors
from streams.errors import ConfigError, DecodeError
from streams.settings import Settings, load_settings
from streams.tools.backfill import (
    BackfillOptions,
    BackfillPlan,
    BackfillRunner,
    Outputs,
    ProgressReporter,
    align_down,
    client_id_for,
    detection_fingerprint,
    parse_time,
    plan_backfill,
    progress_bar,
    run_backfill,
    run_id_for,
)
from streams.tools.history import FileHistory, SourceItem
from streams.tools.simulator import Simulator, TeamPlan

DAY_MS = 86_400_000
JAN_1 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
NOW = JAN_1 + 200 * DAY_MS


def settings(**overrides: object) -> Settings:
    return load_settings(**overrides)


# -- times ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01", JAN_1),
        ("2026-01-01T06:00", JAN_1 + 6 * 3_600_000),
        ("2026-01-01T06:00:00Z", JAN_1 + 6 * 3_600_000),
        ("2026-01-01 08:00:00+02:00", JAN_1 + 6 * 3_600_000),
        (" 2026-01-01T00:00:00.250Z ", JAN_1 + 250),
    ],
)
def test_times_are_iso_dates_or_times_in_utc_unless_they_say_otherwise(
    text: str, expected: int
) -> None:
    assert parse_time(text, "--from") == expected


@pytest.mark.parametrize("text", ["2026-13-01", "yesterday", "", "1767225600000", "01/02/2026"])
def test_a_bad_time_names_its_flag_and_the_forms_that_work(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_time(text, "--to")
    message = str(raised.value)
    assert message.startswith(f"--to {text!r} is not a date or time")
    assert "2026-01-01T06:00:00Z" in message and "UTC" in message


def test_windows_align_on_the_epoch() -> None:
    assert align_down(JAN_1 + 5, DAY_MS) == JAN_1
    assert align_down(JAN_1, DAY_MS) == JAN_1
    assert align_down(JAN_1 + 90_000, 60_000) == JAN_1 + 60_000


# -- the plan and its run id ------------------------------------------------------------------
def plan(options: BackfillOptions, **overrides: object) -> BackfillPlan:
    return plan_backfill(settings(**overrides), options, NOW)


def test_the_range_is_aligned_to_whole_windows_and_says_so() -> None:
    planned = plan(BackfillOptions("2026-01-01T05:00Z", "2026-01-11T12:00Z"))
    assert (planned.from_ms, planned.to_ms) == (JAN_1, JAN_1 + 10 * DAY_MS)
    assert any(
        "--from aligned down" in note and "2026-01-01T00:00:00Z" in note for note in planned.notes
    )
    assert any(
        "--to aligned down" in note and "2026-01-11T00:00:00Z" in note for note in planned.notes
    )
    assert plan(BackfillOptions("2026-01-01")).notes == ()
    assert plan(BackfillOptions("2026-01-01")).to_ms is None
    # The warm-up: a team's whole kept history (16 daily windows by default) read first.
    assert plan(BackfillOptions("2026-01-01")).reads_from == JAN_1 - 16 * DAY_MS
    assert plan(BackfillOptions("2026-01-01", warm_up=0)).reads_from == JAN_1


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (BackfillOptions("2026-02-01", "2026-01-01"), "--to '2026-01-01' is not after --from"),
        (BackfillOptions("2026-01-01T01:00", "2026-01-01T05:00"), "ends inside the window"),
        (BackfillOptions("2026-01-01", "2026-07-20T00:30Z"), "is not yet complete"),
        (BackfillOptions("2026-09-01"), "is in the future"),
        (BackfillOptions("2026-01-01", org="teams.csv"), "--org places the teams of a --file"),
        (BackfillOptions("2026-01-01", run_id="has space"), "--run-id 'has space'"),
        (BackfillOptions("2026-01-01", run_id="x" * 65), "1 to 64 letters"),
    ],
)
def test_a_bad_request_is_refused_before_anything_is_read(
    options: BackfillOptions, says: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        plan(options)
    assert says in str(raised.value)


def test_history_older_than_the_age_bound_is_announced() -> None:
    planned = plan(BackfillOptions("2026-01-01"), max_age_days=30)
    assert any("MIROIR_MAX_AGE_DAYS" in note for note in planned.notes)


def test_the_run_id_is_derived_from_everything_that_decides_the_rows() -> None:
    base = plan(BackfillOptions("2026-01-01"))
    assert base.run_id == plan(BackfillOptions("2026-01-01T03:00")).run_id  # same window
    assert base.run_id.startswith("bf-") and len(base.run_id) == 19
    assert base.source == "kafka:customer-feedback,employee-pulse"
    different = [
        plan(BackfillOptions("2026-01-02")),
        plan(BackfillOptions("2026-01-01", "2026-02-01")),
        plan(BackfillOptions("2026-01-01"), detectors="mirror_change"),
        plan(BackfillOptions("2026-01-01"), z_crit=4.0),
        plan(BackfillOptions("2026-01-01"), window_seconds=3600),
        plan(BackfillOptions("2026-01-01"), topic_customer="other-feedback"),
        plan(BackfillOptions("2026-01-01", file="events.jsonl")),
        plan(BackfillOptions("2026-01-01", warm_up=3)),
    ]
    ids = {p.run_id for p in different}
    assert len(ids) == len(different) and base.run_id not in ids
    assert plan(BackfillOptions("2026-01-01"), hmac_secret="another").run_id == base.run_id
    assert plan(BackfillOptions("2026-01-01", run_id="trial-1.b")).run_id == "trial-1.b"


def test_the_run_id_never_hashes_the_secret() -> None:
    fingerprint = detection_fingerprint(settings(hmac_secret="s3cr3t-value"))
    assert "s3cr3t" not in fingerprint
    assert run_id_for("kafka:a,b", JAN_1, None, ("d",), fingerprint) == run_id_for(
        "kafka:a,b", JAN_1, None, ("d",), fingerprint
    )


def test_a_file_source_is_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert plan(BackfillOptions("2026-01-01", file="events.jsonl")).source == (
        f"file:{tmp_path / 'events.jsonl'}"
    )


def test_the_reader_is_named_after_the_app_and_the_run() -> None:
    assert client_id_for("miroir", "bf-0123") == "miroir-backfill-bf-0123"


# -- progress ---------------------------------------------------------------------------------
def test_the_bar_shows_the_share_done_the_rate_and_the_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("streams.tools.progress.time.monotonic", lambda: 110.0)
    assert progress_bar(2_500, 10_000, started=100.0, width=8) == (
        "[##------] backfill: 2,500/10,000 events (25%), 250/s, ETA 30 s"
    )
    assert progress_bar(12_000, 10_000, started=100.0, width=4).startswith("[####] ")
    assert progress_bar(2_500, 0, started=100.0) == "backfill: 2,500 events (250/s)"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_ended_once() -> None:
    clock, stream = FakeClock(), io.StringIO()
    reporter = ProgressReporter(stream, 100, live=True, clock=clock)
    reporter.update(10)  # too soon after the start: not drawn
    clock.now += 0.5
    reporter.update(50)
    clock.now += 0.05
    reporter.update(60)  # too soon after the last draw
    clock.now += 0.5
    reporter.finish(100)
    shown = stream.getvalue()
    assert shown.count("\r[") == 2 and shown.endswith("\n") and shown.count("\n") == 1
    assert "50/100 events (50%)" in shown and "100/100 events (100%)" in shown
    assert "60/100" not in shown and "\x1b[K" in shown


def test_elsewhere_plain_lines_come_every_so_often() -> None:
    clock, stream = FakeClock(), io.StringIO()
    reporter = ProgressReporter(stream, 0, live=False, every=10.0, clock=clock)
    for done in range(1, 40):
        clock.now += 1.0
        reporter.update(done * 100)
    reporter.finish(4_000)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4  # at 10 s, 20 s, 30 s, and the end
    assert lines[0].startswith("backfill: 1,000 events (")
    assert lines[-1].startswith("backfill: 4,000 events (")
    assert "\r" not in stream.getvalue()


# -- the run ----------------------------------------------------------------------------------
def events(windows: int, start: int = JAN_1, teams: int = 3, seed: int = 1) -> list[Signal]:
    plans = [TeamPlan(f"team-{i}") for i in range(teams)]
    return list(Simulator(plans, DAY_MS, start, seed=seed).stream(windows))


def items(history: list[Signal], partitions: int) -> Iterator[SourceItem]:
    for number, record in enumerate(history):
        yield SourceItem(partition_for(record.team_id, partitions), f"event {number}", record)


def runner(options: BackfillOptions, partitions: int = 2, **overrides: object) -> BackfillRunner:
    config = settings(topic_partitions=partitions, batch_size=100, **overrides)
    planned = plan_backfill(config, options, NOW)
    detectors = load_detectors(planned.detectors)
    return BackfillRunner(config, planned, detectors, partitions, OrgChart(), NOW)


def run(backfill: BackfillRunner, history: list[Signal], partitions: int = 2) -> Outputs:
    for item in items(history, partitions):
        if backfill.add(item):
            backfill.process()
    backfill.settle()
    return backfill.outputs.take()


def test_the_end_closes_what_the_workers_idle_rule_closes_and_no_more() -> None:
    history = events(6)
    backfilled = run(runner(BackfillOptions("2026-01-01")), history)
    # The worker: the same records, then every partition idle (no drift: just past the timer).
    config = settings(topic_partitions=2)
    now = [0.0]
    engine: MirrorEngine[int] = MirrorEngine(
        EngineConfig.from_settings(config),
        load_detectors(config.detectors),
        wall_clock_ms=lambda: now[0],
    )
    closed = engine.process(
        Inbound(partition_for(r.team_id, 2), r, n) for n, r in enumerate(history)
    ).closed
    now[0] = config.idle_close_seconds * 1000 + 0.5
    closed += engine.tick().closed
    keys = sorted((m.team_id, m.window_start) for m in closed)
    assert sorted((m.team_id, m.window_start) for m in backfilled.team_windows) == keys
    assert len(keys) == 3 * 5  # the last window of each team stays open, as in the worker


def test_events_before_from_are_skipped_and_bad_ones_counted() -> None:
    backfill = runner(BackfillOptions("2026-01-03", warm_up=0))
    history = events(6)
    for item in items(history, 2):
        backfill.add(item)
    backfill.add(SourceItem(0, "t/0@7", DecodeError("not Avro", "undecodable")))
    backfill.add(
        SourceItem(0, "t/0@8", CustomerFeedback("late", NOW + 9 * DAY_MS, "x", "web", "s", csat=3))
    )
    backfill.settle()
    counts = backfill.counts
    assert counts.before_from == sum(1 for e in history if e.occurred_at < JAN_1 + 2 * DAY_MS)
    assert counts.events == len(history) + 2
    assert dict(counts.invalid) == {"undecodable": 1, "future": 1}
    assert counts.invalid_examples[0] == "t/0@7: not Avro"
    starts = {m.window_start for m in backfill.outputs.team_windows}
    assert min(starts) == JAN_1 + 2 * DAY_MS


def test_to_keeps_the_windows_ending_by_then_and_stops_the_partitions_past_it() -> None:
    backfill = runner(BackfillOptions("2026-01-01", "2026-01-04"))
    passed: list[int] = []
    for item in items(events(8), 2):
        if item.partition in passed:
            continue  # a history reads no more of a partition past --to
        if backfill.add(item):
            passed += backfill.process()
    backfill.settle()
    outputs = backfill.outputs.take()
    to_ms = JAN_1 + 3 * DAY_MS
    assert sorted(passed) == sorted({partition_for(f"team-{i}", 2) for i in range(3)})
    assert {m.window_end for m in outputs.team_windows} == {JAN_1 + d * DAY_MS for d in (1, 2, 3)}
    assert all(a.window_end <= to_ms for a in outputs.alerts)
    assert all(w.metrics.window_end <= to_ms for w in outputs.unit_windows)
    assert {w.metrics.window_start for w in outputs.unit_windows} == {
        JAN_1 + d * DAY_MS for d in range(3)
    }


def test_the_warm_up_gives_each_team_the_history_the_live_worker_had() -> None:
    plans = [TeamPlan("steady"), TeamPlan("decline", "mirror_decline", effect_from_window=7)]
    history = list(Simulator(plans, DAY_MS, JAN_1, seed=8).stream(10))
    whole = run(runner(BackfillOptions("2026-01-01", warm_up=0)), history)
    later = runner(BackfillOptions("2026-01-05", warm_up=4))
    assert later.plan.reads_from == JAN_1 and later.plan.from_ms == JAN_1 + 4 * DAY_MS
    warmed = run(later, history)
    cold = run(runner(BackfillOptions("2026-01-05", warm_up=0)), history)

    def written_from(outputs: Outputs, start: int) -> Outputs:
        return Outputs(
            [a for a in outputs.alerts if a.window_start >= start],
            [m for m in outputs.team_windows if m.window_start >= start],
            [e for e in outputs.episodes if e.last_window_end > start],
            [w for w in outputs.unit_windows if w.metrics.window_start >= start],
            [i for i in outputs.incidents if i.last_window_end > start],
        )

    expected = written_from(whole, JAN_1 + 4 * DAY_MS)
    assert any(a.kind == "mirror_decline" for a in expected.alerts)
    assert warmed.digest() == expected.digest()  # the same rows, baselines included
    assert min(m.window_start for m in warmed.team_windows) == JAN_1 + 4 * DAY_MS
    assert cold.digest() != expected.digest()  # without it, baselines start from nothing


def test_a_quiet_partition_is_closed_up_to_to_at_the_end() -> None:
    history = [e for e in events(8) if e.occurred_at < JAN_1 + 2 * DAY_MS]  # data stops early
    outputs = run(runner(BackfillOptions("2026-01-01", "2026-01-05")), history)
    assert {m.window_end for m in outputs.team_windows} == {JAN_1 + DAY_MS, JAN_1 + 2 * DAY_MS}


def test_the_same_history_gives_the_same_rows_and_digest() -> None:
    history = events(6, teams=4)
    first = run(runner(BackfillOptions("2026-01-01")), history)
    again = BackfillRunner(
        settings(topic_partitions=2, batch_size=100),
        plan_backfill(settings(topic_partitions=2), BackfillOptions("2026-01-01"), NOW),
        load_detectors(("mirror_change", "symmetry_gap")),
        2,
        OrgChart(),
        NOW + 12_345,  # another wall clock: only the alerts' created_at differs
    )
    second = run(again, history)
    assert first.rows() == second.rows() > 0
    assert first.digest() == second.digest()
    fewer = run(runner(BackfillOptions("2026-01-01")), history[50:])  # the first window changes
    assert fewer.digest() != first.digest()


def test_partitions_with_nothing_to_read_do_not_hold_the_unit_windows_back() -> None:
    history = events(5, teams=1)
    backfill = runner(BackfillOptions("2026-01-01"), partitions=4)
    used = {partition_for(e.team_id, 4) for e in history}
    backfill.announce_empty(set(range(4)) - used)
    for item in items(history, 4):
        if backfill.add(item):
            backfill.process()
    # Before the end of the input: the windows the watermark passed are rolled up already.
    assert backfill.outputs.unit_windows


# -- the file reader --------------------------------------------------------------------------
def write_events(path: Path, records: list[Signal], extra: Sequence[str] = ()) -> Path:
    lines = [json.dumps({"topic": topic_of(r), "value": record_to_json(r)}) for r in records]
    path.write_text("\n".join([*lines, *extra]) + "\n", encoding="utf-8")
    return path


def test_a_file_is_read_in_order_on_the_partitions_kafka_would_use(tmp_path: Path) -> None:
    history = events(2, teams=5)
    bad = json.dumps({"topic": "customer-feedback", "value": {"event_id": "x"}})
    path = write_events(tmp_path / "events.jsonl", history, [bad])
    reader = FileHistory(str(path), partitions=3)
    assert reader.total == len(history) + 1 and reader.empty_partitions() == set()
    read = list(reader.items(threading.Event()))
    assert [i.record for i in read[:-1]] == history
    assert [i.partition for i in read[:-1]] == [partition_for(e.team_id, 3) for e in history]
    assert isinstance(read[-1].record, DecodeError) and read[-1].ref == f"event {len(history) + 1}"
    reader.close()


def test_a_partition_stopped_is_not_read_further(tmp_path: Path) -> None:
    history = events(2, teams=5)
    reader = FileHistory(str(write_events(tmp_path / "e.jsonl", history)), partitions=2)
    reader.stop_partition(0)
    kept = list(reader.items(threading.Event()))
    assert {i.partition for i in kept} == {1}
    assert reader.skipped_after_to == len(history) - len(kept) > 0


def test_a_missing_file_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        FileHistory(str(tmp_path / "nowhere.jsonl"), partitions=2)


# -- the command over a file, without a store ---------------------------------------------------
def test_without_to_store_the_alerts_are_printed_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = int(time.time() * 1000)
    start = now - now % DAY_MS - 20 * DAY_MS
    plans = [TeamPlan("steady"), TeamPlan("decline", "mirror_decline")]
    history = list(Simulator(plans, DAY_MS, start, seed=4).stream(8))
    path = write_events(tmp_path / "events.jsonl", history)
    monkeypatch.setenv("MIROIR_CLICKHOUSE_DSN", f"chdb://{tmp_path / 'store'}")
    out, err = io.StringIO(), io.StringIO()
    first_day = time.strftime("%Y-%m-%d", time.gmtime(start / 1000))
    code = run_backfill(
        load_settings(), BackfillOptions(first_day, file=str(path), json=True), out=out, err=err
    )
    assert code == 0, err.getvalue()
    alerts = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {(a["team_id"], a["kind"]) for a in alerts} == {("decline", "mirror_decline")}
    summary = err.getvalue()
    assert f"{len(history):,} events" in summary and "nothing written" in summary
    assert "left to the live worker" in summary
    assert not (tmp_path / "store").exists()
