"""How the ClickHouse sink reads failures, without a server: which errors are retried, which
refuse rows for good, and the month split that keeps one insert within ClickHouse's limit."""

from __future__ import annotations

import hashlib
import json
import struct
from datetime import UTC, datetime
from typing import Any

import pytest
from clickhouse_connect.driver._backend.httpcommon import build_http_error
from clickhouse_connect.driver.exceptions import (
    DatabaseError,
    DataError,
    OperationalError,
    ProgrammingError,
    StreamFailureError,
    error_name_from_body,
)

from sinks.clickhouse import (
    MAX_PARTITIONS_PER_INSERT,
    _classify,
    _is_transient,
    _Refused,
    _refused_row,
    _split_by_month,
    _utc_month,
)

TOO_MANY_PARTITIONS = (
    "Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100). "
    "The limit is controlled by 'max_partitions_per_insert_block' setting. (TOO_MANY_PARTS) "
    "(version 26.9.1.1)"
)
TOO_MANY_PARTS = (
    "Code: 252. DB::Exception: Too many parts (3001 with average size of 1.20 MiB) in table "
    "'miroir.customer_feedback'. Merges are processing significantly slower than inserts. "
    "(TOO_MANY_PARTS) (version 26.9.1.1)"
)
VIOLATED_CONSTRAINT = (
    "Code: 469. DB::Exception: Constraint `no_poison` for table miroir.customer_feedback is "
    "violated at row 1. Expression: (team_id != 'poison'). (VIOLATED_CONSTRAINT)"
)


def _server_error(status: int, code: int, body: str, *, retried: bool = False) -> DatabaseError:
    """The exception clickhouse-connect raises for a ClickHouse server's error response."""
    return build_http_error(status, str(code), body, True, "http://clickhouse:8123", retried)


def _engine_error(code: int, body: str) -> DatabaseError:
    """The exception clickhouse-connect raises for an error of the embedded engine (chDB)."""
    return DatabaseError(body, code=code, name=error_name_from_body(body))


def test_the_helpers_build_errors_the_way_clickhouse_connect_reports_them() -> None:
    error = _server_error(500, 252, TOO_MANY_PARTITIONS)
    assert type(error) is DatabaseError
    assert (error.code, error.name) == (252, "TOO_MANY_PARTS")
    assert type(_server_error(503, 252, TOO_MANY_PARTS, retried=True)) is OperationalError
    assert _engine_error(469, VIOLATED_CONSTRAINT).name == "VIOLATED_CONSTRAINT"


@pytest.mark.parametrize(
    "error",
    [
        _server_error(500, 252, TOO_MANY_PARTITIONS),
        _server_error(503, 252, TOO_MANY_PARTITIONS, retried=True),  # an OperationalError
        _engine_error(252, TOO_MANY_PARTITIONS),
    ],
    ids=["server", "server-retried", "engine"],
)
def test_too_many_partitions_is_permanent_though_its_code_is_too_many_parts(
    error: BaseException,
) -> None:
    assert not _is_transient(error)
    assert _classify(error) == "rows"  # a smaller insert of the same rows can succeed


def test_too_many_parts_is_merge_pressure_and_transient() -> None:
    assert _is_transient(_server_error(500, 252, TOO_MANY_PARTS))
    assert _is_transient(_engine_error(252, TOO_MANY_PARTS))


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (159, "TIMEOUT_EXCEEDED"),
        (202, "TOO_MANY_SIMULTANEOUS_QUERIES"),
        (241, "MEMORY_LIMIT_EXCEEDED"),
        (319, "UNKNOWN_STATUS_OF_INSERT"),
    ],
)
def test_an_overloaded_or_unreachable_server_is_transient(code: int, name: str) -> None:
    assert _is_transient(_server_error(500, code, f"Code: {code}. DB::Exception: … ({name})"))


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError("injected outage"),
        TimeoutError("timed out"),
        OperationalError("Error HTTPConnectionPool: read timed out executing HTTP request"),
        StreamFailureError("Failed to read response data from server"),
        DatabaseError("HTTP driver received HTTP status 502, server response: Bad Gateway"),
    ],
    ids=["refused", "timeout", "network", "stream", "proxy-502"],
)
def test_network_failures_are_transient(error: BaseException) -> None:
    assert _is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        _server_error(500, 469, VIOLATED_CONSTRAINT),
        _engine_error(469, VIOLATED_CONSTRAINT),
        _server_error(400, 53, "Code: 53. DB::Exception: Type mismatch. (TYPE_MISMATCH)"),
        DataError("Unable to create native array for column `nps`: error"),
        DatabaseError("HTTP driver received HTTP status 400, server response: bad request"),
        ValueError("invalid literal for int() with base 10: 'x'"),
        struct.error("ubyte format requires 0 <= number <= 255"),
    ],
    ids=["constraint", "engine-constraint", "type", "encode", "http-400", "value", "struct"],
)
def test_refused_data_is_permanent_and_concerns_the_rows(error: BaseException) -> None:
    assert not _is_transient(error)
    assert _classify(error) == "rows"


@pytest.mark.parametrize(
    "error",
    [
        _server_error(404, 60, "Code: 60. DB::Exception: Unknown table miroir.x. (UNKNOWN_TABLE)"),
        _server_error(403, 497, "Code: 497. DB::Exception: Not enough privileges. (ACCESS_DENIED)"),
        _server_error(401, 516, "Code: 516. DB::Exception: Auth failed. (AUTHENTICATION_FAILED)"),
        ProgrammingError("The client has been closed"),
        RuntimeError("a bug"),
    ],
    ids=["unknown-table", "access-denied", "auth", "closed-client", "bug"],
)
def test_an_unusable_table_user_or_client_is_fatal_not_a_row_problem(
    error: BaseException,
) -> None:
    assert not _is_transient(error)
    assert _classify(error) == "fatal"  # dead-lettering every row would hide it


# -- the split by month ---------------------------------------------------------------------
def _month_ms(index: int) -> int:
    """Epoch ms of the 15th of the index-th month from January 2010 (UTC)."""
    return int(datetime(2010 + index // 12, index % 12 + 1, 15, tzinfo=UTC).timestamp() * 1000)


def test_a_batch_within_the_limit_is_one_insert_under_the_table_token() -> None:
    columns = {"at": [_month_ms(i % MAX_PARTITIONS_PER_INSERT) for i in range(200)]}
    assert _split_by_month(columns, "at", "tok:customer_feedback") == [
        ("tok:customer_feedback", columns)
    ]


def test_a_batch_over_the_limit_splits_into_consecutive_months_deterministically() -> None:
    assert MAX_PARTITIONS_PER_INSERT == 50  # the chunks below follow from it
    months = list(range(120))
    order = [(i * 37) % 120 for i in months]  # every month once, shuffled
    columns: dict[str, list[Any]] = {
        "at": [_month_ms(i) for i in order],
        "id": [f"row-{i}" for i in order],
    }
    chunks = _split_by_month(columns, "at", "tok:t")
    assert [token for token, _ in chunks] == [
        "tok:t:m201001-201402",
        "tok:t:m201403-201804",
        "tok:t:m201805-201912",
    ]
    assert [len(chunk["at"]) for _, chunk in chunks] == [50, 50, 20]
    first = chunks[0][1]
    # Rows keep their batch order inside a chunk, and stay column-oriented.
    assert first["id"] == [f"row-{i}" for i in order if i < 50]
    assert sorted(row for _, chunk in chunks for row in chunk["id"]) == sorted(columns["id"])
    assert _split_by_month(columns, "at", "tok:t") == chunks


def test_months_are_utc_and_rows_of_one_month_stay_together() -> None:
    def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
        return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)

    assert _utc_month(ms(2014, 4, 1) - 1) == 201403
    assert _utc_month(ms(2014, 4, 1, 0, 0)) == 201404
    assert _utc_month(-1) == 196912
    assert _utc_month(10**20) == 0  # beyond any date: one chunk of its own, ClickHouse decides

    stamps = [_month_ms(i) for i in range(50)] + [ms(2014, 4, 1), ms(2014, 4, 30, 23, 59)]
    chunks = _split_by_month({"at": stamps}, "at", "t")
    assert [token for token, _ in chunks] == ["t:m201001-201402", "t:m201404-201404"]
    assert chunks[1][1]["at"] == stamps[-2:]


# -- dead letters of refused rows ----------------------------------------------------------
def test_a_refused_row_becomes_a_dead_letter_with_a_stable_identity() -> None:
    refusal = _Refused("insert into late_events", _engine_error(469, VIOLATED_CONSTRAINT))
    row: dict[str, list[Any]] = {
        "team_id": ["team-a"],
        "window_start": [1_767_225_600_000],
        "key": [b"\x00\xff"],
        "tags": [("a", "b")],
        "score": [float("nan")],
        "version": [123],
    }
    letter = _refused_row("late_events", row, refusal)
    again = _refused_row("late_events", {**row, "version": [456]}, refusal)

    assert (letter.topic, letter.partition, letter.error_kind) == (
        "clickhouse:late_events",
        0,
        "store",
    )
    assert letter.reason.startswith("late_events: Code: 469.")
    assert "no_poison" in letter.reason
    assert letter.payload is not None
    assert json.loads(letter.payload) == {
        "team_id": "team-a",
        "window_start": 1_767_225_600_000,
        "key": "00ff",
        "tags": ["a", "b"],
        "score": "nan",
    }
    assert letter.payload_sha256 == hashlib.sha256(letter.payload).hexdigest()
    assert 0 <= letter.offset < 2**63
    assert letter.offset == int(letter.payload_sha256[:16], 16) >> 1
    # The write time is not part of the row's identity: a rewrite is the same dead letter.
    assert (again.payload, again.offset) == (letter.payload, letter.offset)


def test_a_refused_rows_reason_is_trimmed() -> None:
    refusal = _Refused("insert into t", _engine_error(469, VIOLATED_CONSTRAINT + " x" * 1000))
    assert len(_refused_row("t", {"a": [1]}, refusal).reason) == 500
