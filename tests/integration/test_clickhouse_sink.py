"""The ClickHouse sink against the real engine (chDB in-process, on disk in a temporary store).

chDB hosts one store per process: every test here uses the module's store path, gives itself
a database of its own, and closes its sinks when it ends, so the engine is free again for
tests elsewhere that use another path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.records import CustomerFeedback
from sinks.clickhouse import MAX_PARTITIONS_PER_INSERT, PARTITION_COLUMNS, TABLES, ClickHouseSink
from sinks.schema import VIEWS
from streams.core.model import (
    DeadLetter,
    DuplicateEvent,
    LateEvent,
    SinkBatch,
)
from streams.errors import ConfigError, SinkError, SinkStopped, SinkUnavailable, StoreLockedError
from tests.integration.conftest import SinkFactory
from tests.integration.sample_rows import (
    WINDOW_END,
    WINDOW_START,
    employee,
    full_batch,
    team_window,
)

pytestmark = pytest.mark.integration


def _counts(sink: ClickHouseSink) -> dict[str, int]:
    return {table: sink.query(f"SELECT count() FROM {table}")[1][0][0] for table in TABLES}


def test_open_creates_every_table_and_is_idempotent(sink_factory: SinkFactory) -> None:
    first = sink_factory()
    first.open()
    first.open()  # a second open on the same sink is a no-op
    first.close()

    second = sink_factory()
    second.open()  # IF NOT EXISTS: reopening an existing store changes nothing
    _, rows = second.query(
        "SELECT name, engine, comment FROM system.tables WHERE database = currentDatabase() "
        "AND engine != 'View' ORDER BY name"
    )
    assert sorted(name for name, _, _ in rows) == sorted(TABLES)
    _, views = second.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine = 'View'"
    )
    assert sorted(name for (name,) in views) == sorted(VIEWS)
    _, keys = second.query(
        "SELECT name, partition_key FROM system.tables WHERE database = currentDatabase() "
        "AND engine != 'View'"
    )
    assert dict(keys) == {
        table: f"toYYYYMM({column})" if column else ""
        for table, column in PARTITION_COLUMNS.items()
    }
    engines = {name: engine for name, engine, _ in rows}
    assert engines["late_events"] == "ReplacingMergeTree"
    assert {engines[t] for t in TABLES if t != "late_events"} == {"ReplacingMergeTree"}
    assert all(comment for _, _, comment in rows)
    _, undocumented = second.query(
        "SELECT table, name FROM system.columns WHERE database = currentDatabase() AND comment = ''"
    )
    assert undocumented == []


def test_written_batch_lands_with_its_values(sink: ClickHouseSink) -> None:
    sink.write(full_batch())

    columns, rows = sink.query(
        "SELECT team_id, window_start, kind, severity, dimension, employee_n, employee_delta, "
        "evidence, customer_baseline FROM mirror_alerts FINAL"
    )
    assert columns[0] == "team_id"
    [(team, start, kind, severity, dimension, employee_n, delta, evidence, baseline)] = rows
    assert (team, kind, severity, dimension, employee_n) == (
        "team-a",
        "mirror_decline",
        "critical",
        "trust",
        12,
    )
    assert int(start.timestamp() * 1000) == WINDOW_START
    assert start.utcoffset().total_seconds() == 0
    assert delta == -11.25
    assert evidence == {"min_effect": 5.0, "z_crit": 2.0}
    assert baseline is None

    _, [window] = sink.query(
        "SELECT customer_n, customer_index, nps, csat, trust_mean, ces_mean, "
        "customer_components, employee_suppressed, employee_n, employee_index, enps, "
        "employee_trust_mean, employee_workload_mean, employee_components, late_events "
        "FROM team_window_metrics FINAL WHERE team_id = {team:String}",
        {"team": "team-a"},
    )
    assert window == (
        40,
        72.0,
        32.0,
        80.0,
        4.1,
        None,
        {"nps": 66.0, "csat": 80.0},
        0,
        12,
        61.5,
        10.0,
        3.8,
        2.9,
        {"enps": 55.0, "trust": 70.0},
        3,
    )

    _, feedback = sink.query(
        "SELECT event_id, channel, tags, comment, nps, csat, ces, late "
        "FROM customer_feedback FINAL ORDER BY event_id"
    )
    assert feedback == [
        ("evt-1", "chat", ["billing", "sustainability"], "Très aimable", 9, None, 6, 0),
        ("evt-2", "phone", [], None, None, 2, None, 1),
    ]
    _, late = sink.query("SELECT side, sum(events) FROM late_events GROUP BY side")
    assert late == [("customer", 1)]


def test_rewriting_the_same_batch_token_is_deduplicated(sink: ClickHouseSink) -> None:
    batch = full_batch(token="customer-feedback:0:100-199")
    sink.write(batch)
    sink.write(batch)
    assert _counts(sink) == {
        "mirror_alerts": 1,
        "team_window_metrics": 1,
        "customer_feedback": 2,
        "dead_letters": 1,
        "late_events": 1,
        "duplicate_events": 1,
        "employee_comments": 1,
        "episodes": 1,
        "unit_window_metrics": 1,
        "incidents": 1,
        "backfill_runs": 1,
        "customer_tag_metrics": 1,
        "teams": 1,
    }

    # The token decides, not the data: other rows under a written token are dropped (the
    # engine tracks tokens per partition, so the row goes to the partition already written) ...
    earlier_window = batch.late_events[0].window_start
    other_rows = SinkBatch(
        token=batch.token,
        late_events=[LateEvent("team-z", earlier_window, "employee", "employee-pulse", 1, 7)],
    )
    sink.write(other_rows)
    # ... and the same rows under a new token are written again, but a late event is one row
    # per source coordinate, so FINAL still counts it once.
    sink.write(SinkBatch(token="customer-feedback:0:200-299", late_events=batch.late_events))
    _, late = sink.query("SELECT team_id, sum(events) FROM late_events FINAL GROUP BY team_id")
    assert late == [("team-a", 1)]


def test_batches_without_token_are_not_mistaken_for_duplicates(sink: ClickHouseSink) -> None:
    # Identical blocks would be dropped by hash-based deduplication; a one-off token keeps them.
    first = LateEvent("team-a", WINDOW_START, "customer", "customer-feedback", 0, 1)
    second = LateEvent("team-a", WINDOW_START, "customer", "customer-feedback", 0, 2)
    sink.write(SinkBatch(late_events=[first]))
    sink.write(SinkBatch(late_events=[second]))
    _, [(events,)] = sink.query("SELECT sum(events) FROM late_events FINAL")
    assert events == 2


def test_suppressed_employee_side_stores_only_nulls(sink: ClickHouseSink) -> None:
    sink.write(
        SinkBatch(
            token="suppressed",
            team_windows=[
                team_window("team-none", None, suppressed=True),
                # Flag set: even a present employee side must not be stored.
                team_window("team-flagged", employee(), suppressed=True),
                # Under the k-anonymity floor but not flagged upstream: stored as suppressed.
                team_window("team-tiny", employee(n=2), suppressed=False),
            ],
        )
    )
    _, rows = sink.query(
        "SELECT team_id, employee_suppressed, employee_n, employee_index, employee_index_se, "
        "enps, enps_se, employee_trust_mean, employee_workload_mean, employee_components, "
        "customer_n FROM team_window_metrics FINAL ORDER BY team_id"
    )
    assert [row[0] for row in rows] == ["team-flagged", "team-none", "team-tiny"]
    for row in rows:
        assert row[1:] == (1, None, None, None, None, None, None, None, {}, 40)


def test_dead_letter_keeps_the_original_bytes(sink: ClickHouseSink) -> None:
    batch = full_batch()
    pulse_digest = hashlib.sha256(b"personal").hexdigest()
    batch.dead_letters.append(
        DeadLetter(
            topic="employee-pulse",
            partition=0,
            offset=7,
            reason="score out of range",
            payload=None,  # employee bytes never leave the dead-letter topic
            payload_sha256=pulse_digest,
            error_kind="range",
        )
    )
    sink.write(batch)
    _, rows = sink.query(
        "SELECT topic, partition, offset, error_kind, hex(payload), "
        "lower(hex(SHA256(payload))) = payload_sha256, payload_sha256, hex(key), seen_at "
        "FROM dead_letters FINAL ORDER BY topic"
    )
    customer, pulse = rows
    original = batch.dead_letters[0].payload
    assert original is not None
    assert customer[:6] == ("customer-feedback", 2, 41, "undecodable", original.hex().upper(), 1)
    assert customer[7] == b"team-a".hex().upper()
    assert int(customer[8].timestamp() * 1000) == WINDOW_END + 5
    assert pulse[:5] == ("employee-pulse", 0, 7, "range", None)
    assert pulse[6] == pulse_digest


def test_read_only_sink_refuses_writes(sink: ClickHouseSink, sink_factory: SinkFactory) -> None:
    sink.write(full_batch())
    with sink_factory(read_only=True) as reader:
        assert reader.query("SELECT count() FROM mirror_alerts")[1] == [(1,)]
        assert reader.query("  -- latest first\n(SELECT 1 AS one)")[1] == [(1,)]
        assert reader.query("WITH 2 AS two SELECT two")[1] == [(2,)]
        assert reader.query("DESCRIBE TABLE late_events")[1]
        for statement in (
            "INSERT INTO late_events (team_id, side, events) VALUES ('x', 'customer', 1)",
            "/* sneaky */ insert into late_events (team_id) values ('x')",
            "DROP TABLE mirror_alerts",
            "ALTER TABLE customer_feedback DELETE WHERE 1",
            "SYSTEM STOP MERGES",
        ):
            with pytest.raises(SinkError, match="Read-only query refused"):
                reader.query(statement)
        with pytest.raises(SinkError, match="read-only"):
            reader.write(full_batch(token="other"))
    # The writer's own handle is unaffected by the reader's read-only setting.
    sink.write(SinkBatch(token="after-reader", late_events=full_batch().late_events))
    assert _counts(sink)["late_events"] == 2


def _open_in_subprocess(store_path: Path) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(
        f"""
        from sinks.clickhouse import ClickHouseSink
        try:
            with ClickHouseSink("chdb://{store_path}", database="miroir_probe"):
                print("OPENED")
        except Exception as e:
            print(type(e).__name__, e)
        """
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )


def test_second_process_on_the_store_gets_store_locked_error(
    sink: ClickHouseSink, store_path: Path
) -> None:
    result = _open_in_subprocess(store_path)
    assert result.stdout.startswith(StoreLockedError.__name__), result.stdout + result.stderr
    assert f"process {os.getpid()}" in result.stdout
    assert "Stop that worker, or query through it" in result.stdout

    sink.close()  # closing the last client releases the store
    result = _open_in_subprocess(store_path)
    assert result.stdout.strip() == "OPENED", result.stdout + result.stderr


def test_another_store_in_the_same_process_is_refused(sink: ClickHouseSink, tmp_path: Path) -> None:
    other = ClickHouseSink(f"chdb://{tmp_path / 'other'}")
    with pytest.raises(ConfigError, match="one store per process"):
        other.open()


def test_unreachable_server_raises_sink_unavailable_after_retries() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits: list[float] = []
    sink = ClickHouseSink(
        f"http://default:@127.0.0.1:{port}",
        insert_retries=3,
        retry_backoff=0.5,
        retry_backoff_max=1.0,
        connect_timeout=1,
        sleep=waits.append,
    )
    with pytest.raises(SinkUnavailable) as caught:
        sink.open()
    assert waits == [0.5, 1.0, 1.0]
    assert caught.value.retry_after == 1.0
    assert caught.value.__cause__ is not None
    assert "write the same batch again" in str(caught.value)


@pytest.mark.parametrize(
    "dsn",
    ["chdb://memory", "chdb://somehost/path", "postgres://x@y/z", "nothing", "http://"],
)
def test_unusable_dsn_is_a_config_error(dsn: str) -> None:
    with pytest.raises(ConfigError):
        ClickHouseSink(dsn)


def test_relative_chdb_path_resolves_against_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert ClickHouseSink("chdb:data/store").store_path == tmp_path.resolve() / "data" / "store"
    assert ClickHouseSink("chdb:///abs/store/").store_path == Path("/abs/store")


def test_bi_role_script_is_valid_clickhouse_sql(sink: ClickHouseSink) -> None:
    # chDB has no access management, so the script can only be parsed here, not run.
    script = Path(__file__).parents[2] / "deploy" / "clickhouse" / "bi_readonly_role.sql"
    code = "\n".join(
        line for line in script.read_text().splitlines() if not line.lstrip().startswith("--")
    )
    statements = [statement.strip() for statement in code.split(";") if statement.strip()]
    assert any(s.startswith("GRANT SELECT ON miroir.*") for s in statements)
    # Dead letters hold record contents: BI users must not read them.
    assert "REVOKE SELECT ON miroir.dead_letters FROM miroir_bi_reader" in statements
    for statement in statements:
        _, [(formatted,)] = sink.query(
            "SELECT formatQuerySingleLine({sql:String})", {"sql": statement}
        )
        assert formatted


def _feedback(event_id: str, occurred_at: int, team_id: str = "team-a") -> CustomerFeedback:
    return CustomerFeedback(
        event_id=event_id,
        occurred_at=occurred_at,
        team_id=team_id,
        channel="email",
        source="import",
        customer_ref=f"ref-{event_id}",
        csat=4,
    )


def _month_ms(index: int) -> int:
    """The 15th of the index-th month from January 2010, epoch ms (UTC)."""
    return int(datetime(2010 + index // 12, index % 12 + 1, 15, tzinfo=UTC).timestamp() * 1000)


def test_a_batch_spanning_150_months_is_written_whole_and_once(
    sink: ClickHouseSink, caplog: pytest.LogCaptureFixture
) -> None:
    # One insert may touch 100 partitions (months); this batch touches 150.
    assert 150 > 100 > MAX_PARTITIONS_PER_INSERT
    rows = [(_feedback(f"m-{i}", _month_ms(i), f"archive-{i % 7}"), False) for i in range(150)]
    batch = SinkBatch(token="customer-feedback:0:0-149", customer_feedback=rows)
    with caplog.at_level(logging.WARNING, logger="sinks.clickhouse"):
        assert sink.write(batch) == []
    # Split by month up front: no insert was refused and bisected, none retried.
    assert [r.getMessage() for r in caplog.records] == []
    _, [(count, months)] = sink.query(
        "SELECT count(), uniqExact(toYYYYMM(occurred_at)) FROM customer_feedback FINAL"
    )
    assert (count, months) == (150, 150)

    assert sink.write(batch) == []  # the same batch splits the same way: every chunk is known
    assert sink.query("SELECT count() FROM customer_feedback")[1] == [(150,)]  # without FINAL


def _poison_batch(token: str) -> SinkBatch:
    rows = [
        (_feedback(f"evt-{i}", WINDOW_START + i, "poison" if i == 6 else "team-a"), False)
        for i in range(10)
    ]
    return SinkBatch(token=token, customer_feedback=rows)


def test_a_row_the_store_refuses_is_a_dead_letter_and_the_others_are_written(
    sink: ClickHouseSink,
) -> None:
    sink.query("ALTER TABLE customer_feedback ADD CONSTRAINT no_poison CHECK team_id != 'poison'")
    batch = _poison_batch("customer-feedback:0:300-309")

    [letter] = sink.write(batch)

    assert (letter.topic, letter.partition, letter.error_kind) == (
        "clickhouse:customer_feedback",
        0,
        "store",
    )
    assert letter.reason.startswith("customer_feedback: ")
    assert "no_poison" in letter.reason
    assert letter.payload is not None
    assert letter.payload_sha256 == hashlib.sha256(letter.payload).hexdigest()
    assert 0 <= letter.offset < 2**63
    row = json.loads(letter.payload)
    assert (row["event_id"], row["team_id"], row["occurred_at"]) == (
        "evt-6",
        "poison",
        WINDOW_START + 6,
    )
    _, written = sink.query("SELECT event_id FROM customer_feedback FINAL ORDER BY event_id")
    assert [event_id for (event_id,) in written] == [f"evt-{i}" for i in range(10) if i != 6]
    _, stored = sink.query(
        "SELECT topic, `partition`, `offset`, error_kind, reason, payload, payload_sha256 "
        "FROM dead_letters FINAL"
    )
    assert stored == [
        (
            letter.topic,
            0,
            letter.offset,
            "store",
            letter.reason,
            letter.payload.decode(),
            letter.payload_sha256,
        )
    ]

    # The same batch again (a retry, a replay): the same dead letter, nothing stored twice.
    [again] = sink.write(batch)
    assert (again.offset, again.payload) == (letter.offset, letter.payload)
    assert sink.query("SELECT count() FROM customer_feedback")[1] == [(9,)]  # without FINAL
    assert sink.query("SELECT count() FROM dead_letters")[1] == [(1,)]


def test_a_dead_letter_the_store_refuses_too_is_a_sink_error(sink: ClickHouseSink) -> None:
    sink.query("ALTER TABLE customer_feedback ADD CONSTRAINT no_poison CHECK team_id != 'poison'")
    sink.query("ALTER TABLE dead_letters ADD CONSTRAINT no_store CHECK error_kind != 'store'")
    with pytest.raises(SinkError, match="refused the dead letters") as caught:
        sink.write(_poison_batch("customer-feedback:0:400-409"))
    assert not isinstance(caught.value, SinkUnavailable | SinkStopped)


def test_a_stop_request_ends_the_retries_of_a_write_at_once(
    sink_factory: SinkFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fault = tmp_path / "clickhouse-down"
    stopping = sink_factory(
        fault_file=fault, insert_retries=5, retry_backoff=30.0, retry_backoff_max=60.0
    )
    stopping.open()
    fault.touch()  # every insert now fails like an unreachable server
    outcome: list[BaseException | None] = []

    def write() -> None:
        try:
            stopping.write(full_batch(token="customer-feedback:0:500-599"))
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            outcome.append(e)

    writer = threading.Thread(target=write, name="sink-writer", daemon=True)
    with caplog.at_level(logging.WARNING, logger="sinks.clickhouse"):
        writer.start()
        deadline = time.monotonic() + 10
        while not any("retry 1/5 in 30.00s" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the write never started retrying"
            time.sleep(0.01)
        asked = time.monotonic()
        stopping.request_stop()
        writer.join(timeout=5)
        waited = time.monotonic() - asked

    assert not writer.is_alive()
    assert waited < 1.0
    [error] = outcome
    assert isinstance(error, SinkStopped)
    assert "must not be acknowledged" in str(error)
    with pytest.raises(SinkStopped):  # a stopped sink tries once and never retries
        stopping.write(full_batch(token="customer-feedback:0:600-699"))

    fault.unlink()
    with sink_factory() as reader:
        assert set(_counts(reader).values()) == {0}
    # A stop never cuts a working write short: a graceful stop finishes its batch.
    assert stopping.write(full_batch(token="customer-feedback:0:700-799")) == []
    with sink_factory() as reader:
        assert _counts(reader)["customer_feedback"] > 0


def test_a_late_copy_never_replaces_the_counted_customer_row(sink: ClickHouseSink) -> None:
    counted = _feedback("evt-once", WINDOW_START + 5)
    sink.write(SinkBatch(token="customer-feedback:0:0-0", customer_feedback=[(counted, False)]))
    sink.write(SinkBatch(token="customer-feedback:0:9-9", customer_feedback=[(counted, True)]))
    assert sink.query("SELECT event_id, late FROM customer_feedback FINAL")[1] == [("evt-once", 0)]
    late_only = _feedback("evt-late", WINDOW_START + 6)
    sink.write(SinkBatch(token="customer-feedback:0:10-10", customer_feedback=[(late_only, True)]))
    assert sink.query("SELECT late FROM customer_feedback FINAL WHERE event_id = 'evt-late'")[
        1
    ] == [(1,)]


def test_duplicate_events_are_written_once_per_source_record(sink: ClickHouseSink) -> None:
    duplicates = [
        DuplicateEvent("team-a", WINDOW_START, "customer", "event", "customer-feedback", 0, 17),
        DuplicateEvent("team-a", WINDOW_START, "employee", "respondent", "employee-pulse", 1, 4),
    ]
    batch = SinkBatch(token="customer-feedback:0:700-799", duplicate_events=duplicates)
    assert sink.write(batch) == []
    sink.write(batch)
    assert sink.query("SELECT count() FROM duplicate_events")[1] == [(2,)]  # same token: dropped
    # A replay under another token writes the rows again, but FINAL keeps one per source record.
    sink.write(SinkBatch(token="customer-feedback:0:700-899", duplicate_events=duplicates))
    _, counted = sink.query(
        "SELECT side, kind, source_topic, source_partition, source_offset, sum(events) "
        "FROM duplicate_events FINAL GROUP BY ALL ORDER BY side"
    )
    assert counted == [
        ("customer", "event", "customer-feedback", 0, 17, 1),
        ("employee", "respondent", "employee-pulse", 1, 4, 1),
    ]


def test_open_refuses_tables_missing_a_column_the_sink_writes(sink_factory: SinkFactory) -> None:
    with sink_factory() as first:
        first.query("ALTER TABLE customer_feedback DROP COLUMN language")
        first.query("ALTER TABLE late_events DROP COLUMN events")
    with pytest.raises(ConfigError) as caught:
        sink_factory().open()
    message = str(caught.value)
    assert "customer_feedback lacks language" in message
    assert "late_events lacks events" in message
    assert "sinks/ddl" in message


def test_open_migrates_a_store_written_before_episodes(sink_factory: SinkFactory) -> None:
    with sink_factory() as first:
        first.query("ALTER TABLE mirror_alerts DROP COLUMN episode_id")
        first.query("ALTER TABLE mirror_alerts DROP COLUMN event")
    with sink_factory() as second:  # ADD COLUMN IF NOT EXISTS, then the column check passes
        second.write(full_batch(token="after-the-migration"))
        _, rows = second.query("SELECT alert_id, episode_id, event FROM mirror_alerts FINAL")
    assert rows == [("a-1", None, "alert")]
