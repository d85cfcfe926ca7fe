"""Decode → engine → what a batch must make durable, without a broker (pure)."""

from __future__ import annotations

import hashlib
import time

from schemas.codec import encode
from schemas.records import CustomerFeedback, EmployeePulse
from streams.core.bounds import TimeBounds
from streams.core.engine import EngineConfig, MirrorEngine
from streams.core.pipeline import (
    BatchPreparer,
    RawMessage,
    batch_token,
    state_from_items,
)
from streams.core.privacy import rekey
from streams.core.state_log import CLOCK_KEY_PREFIX, TEAM_KEY_PREFIX
from streams.core.unit_stage import NO_PROGRESS, Heartbeat
from streams.core.units import TeamWindowPart
from streams.detectors import DetectionSettings, load_detectors

CUSTOMER, EMPLOYEE = "cf-custom", "ep-custom"  # topic names are settings
SECRET = b"test-secret"


def preparer() -> BatchPreparer:
    config = EngineConfig(10_000, 1_000, 60_000, 5, DetectionSettings())
    engine: MirrorEngine[RawMessage] = MirrorEngine(
        config, load_detectors(["mirror_change"]), lambda: 0.0
    )
    from schemas.codec import SignalCodec

    return BatchPreparer(
        engine,
        SignalCodec(),
        customer_topic=CUSTOMER,
        employee_topic=EMPLOYEE,
        hmac_secret=SECRET,
        time_bounds=TimeBounds(max_future_ms=10**15, max_age_ms=10**15),  # any time goes
    )


def message(topic: str, offset: int, value: bytes | None, partition: int = 0) -> RawMessage:
    return RawMessage(topic, partition, offset, b"team", value)


def customer(at: int, ref: str | None = "crm-42") -> bytes:
    return encode(
        CustomerFeedback(
            event_id=f"c{at}",
            occurred_at=at,
            team_id="team",
            channel="chat",
            source="s",
            customer_ref=ref,
            csat=5,
        )
    )


def pulse(at: int) -> bytes:
    return encode(
        EmployeePulse(
            event_id=f"e{at}",
            occurred_at=at,
            team_id="team",
            source="s",
            respondent_ref="emp-7",
            trust=4,
        )
    )


def test_bad_records_become_dead_letters_with_reasons_and_good_ones_flow_on() -> None:
    prepared = preparer().prepare(
        [
            message(CUSTOMER, 0, customer(1_000)),
            message(CUSTOMER, 1, b"\xff\xfenot avro"),
            message(EMPLOYEE, 2, b"\x00\x00garbage"),
            message(CUSTOMER, 3, None),
            message(EMPLOYEE, 4, pulse(1_500)),
        ]
    )
    letters = prepared.sink.dead_letters
    assert [(d.offset, d.error_kind) for d in letters] == [
        (1, "undecodable"),
        (2, "undecodable"),
        (3, "undecodable"),
    ]
    assert all(d.reason for d in letters)
    assert len(prepared.dead_letter_records) == 3
    assert [r.event_id for r, late in prepared.sink.customer_feedback] == ["c1000"]


def test_employee_dead_letters_never_carry_the_payload_into_storage() -> None:
    prepared = preparer().prepare([message(EMPLOYEE, 7, b"\x01personal?")])
    (letter,) = prepared.sink.dead_letters
    assert letter.payload is None
    assert letter.payload_sha256 == hashlib.sha256(b"\x01personal?").hexdigest()
    (record,) = prepared.dead_letter_records  # the topic keeps the bytes, with where and why
    assert record.value == b"\x01personal?"
    assert dict(record.headers)["miroir.source.offset"] == b"7"


def test_stored_customer_references_are_rekeyed_with_hmac() -> None:
    prepared = preparer().prepare([message(CUSTOMER, 0, customer(1_000, ref="crm-42"))])
    ((row, late),) = prepared.sink.customer_feedback
    assert row.customer_ref == rekey("crm-42", SECRET) != "crm-42"
    assert late is False


def test_late_events_are_kept_and_counted_but_employee_ones_stay_off_clickhouse() -> None:
    p = preparer()
    p.prepare(
        [
            message(CUSTOMER, 0, customer(1_000)),
            message(EMPLOYEE, 0, pulse(1_000)),
            message(CUSTOMER, 1, customer(30_000)),
            message(EMPLOYEE, 1, pulse(30_000)),
        ]
    )
    prepared = p.prepare(
        [message(CUSTOMER, 2, customer(2_000)), message(EMPLOYEE, 2, pulse(2_000))]
    )
    assert [(r.event_id, late) for r, late in prepared.sink.customer_feedback] == [("c2000", True)]
    assert sorted(
        (e.side, e.window_start, e.source_topic, e.source_offset) for e in prepared.sink.late_events
    ) == [("customer", 0, CUSTOMER, 2), ("employee", 0, EMPLOYEE, 2)]
    assert [dict(r.headers)["miroir.error.kind"] for r in prepared.dead_letter_records] == [b"late"]
    assert prepared.sink.dead_letters == []  # no individual pulse row for ClickHouse


def test_state_updates_round_trip_through_the_changelog_form() -> None:
    p = preparer()
    prepared = p.prepare(
        [
            message(CUSTOMER, 0, customer(1_000), partition=2),
            message(EMPLOYEE, 0, pulse(1_000), partition=2),
        ]
    )
    keys = {(partition, key) for partition, key, _ in prepared.state_updates}
    assert keys == {
        (2, "keys:team:0:0"),  # the window's event keys, first chunk
        (2, TEAM_KEY_PREFIX + "team"),
        (2, CLOCK_KEY_PREFIX + "2"),
    }
    items = [(key, value) for _, key, value in prepared.state_updates]
    teams, clocks = state_from_items(items, {2}, now_wall_ms=0.0)
    assert teams["team"].open_windows[0].customer_n == 1
    assert clocks[2].max_event_time == {"customer": 1_000, "employee": 1_000}
    assert state_from_items(items, {0, 1}, now_wall_ms=0.0) == ({}, {})  # not our partitions


def test_the_saved_clock_says_where_to_resume_each_side_dead_letters_included() -> None:
    p = preparer()
    prepared = p.prepare(
        [
            message(CUSTOMER, 4, customer(1_000), partition=1),
            message(CUSTOMER, 5, b"\xffnot avro", partition=1),  # handled too: a dead letter
            message(EMPLOYEE, 9, b"\x00garbage", partition=3),  # a partition with no signal
        ]
    )
    clocks = {
        key: value or {} for _, key, value in prepared.state_updates if key.startswith("part")
    }
    assert clocks[CLOCK_KEY_PREFIX + "1"]["resume_offsets"] == {"customer": 6}
    assert clocks[CLOCK_KEY_PREFIX + "3"]["resume_offsets"] == {"employee": 10}
    # Written after the teams, so a restored position never runs ahead of a restored team.
    keys = [key for _, key, _ in prepared.state_updates]
    assert keys.index(TEAM_KEY_PREFIX + "team") < keys.index(CLOCK_KEY_PREFIX + "1")
    # Re-read records never move the position back.
    p.prepare([message(CUSTOMER, 4, customer(1_000), partition=1)])
    assert p.engine.clocks[1].resume_offsets == {"customer": 6}
    _, restored = state_from_items(
        [(key, value) for _, key, value in prepared.state_updates], {1, 3}, now_wall_ms=0.0
    )
    assert restored[1].resume_offsets == {"customer": 6}
    assert restored[3].resume_offsets == {"employee": 10}


def test_an_event_already_in_the_state_is_not_counted_twice_after_a_restart() -> None:
    first = preparer()
    first.prepare(
        [
            message(CUSTOMER, 0, customer(1_000)),
            message(EMPLOYEE, 0, pulse(1_000)),
            message(CUSTOMER, 1, customer(2_000)),
        ]
    )
    saved = {t: s.to_dict() for t, s in first.engine.teams.items()}
    # The worker crashed before committing offsets: the same records come again, plus a new one.
    second = preparer()
    teams, _ = state_from_items(
        [(TEAM_KEY_PREFIX + t, d) for t, d in saved.items()], {0}, now_wall_ms=0.0
    )
    second.engine.load(teams, {})
    again = second.prepare(
        [
            message(CUSTOMER, 0, customer(1_000)),
            message(EMPLOYEE, 0, pulse(1_000)),
            message(CUSTOMER, 1, customer(2_000)),
            message(CUSTOMER, 2, customer(3_000)),
        ]
    )
    assert [r.event_id for r, _ in again.sink.customer_feedback] == ["c3000"]
    assert second.engine.teams["team"].open_windows[0].customer_n == 3


def test_batch_token_names_the_offset_ranges_deterministically() -> None:
    messages = [message(CUSTOMER, 5, b""), message(CUSTOMER, 3, b""), message(EMPLOYEE, 9, b"", 1)]
    assert batch_token(messages) == f"{CUSTOMER}/0/3-5,{EMPLOYEE}/1/9-9"
    assert batch_token(list(reversed(messages))) == batch_token(messages)


def test_a_resent_event_is_a_duplicate_and_counts_once() -> None:
    p = preparer()
    prepared = p.prepare(
        [
            message(CUSTOMER, 0, customer(1_000)),
            message(CUSTOMER, 1, customer(1_000)),  # the producer retried
            message(EMPLOYEE, 0, pulse(1_500)),
            message(EMPLOYEE, 1, pulse(1_700)),  # emp-7 again: one person counts once
        ]
    )
    assert [row.event_id for row, _late in prepared.sink.customer_feedback] == ["c1000"]
    assert [(d.side, d.kind, d.source_offset) for d in prepared.sink.duplicate_events] == [
        ("customer", "event", 1),
        ("employee", "respondent", 1),
    ]
    aggregate = p.engine.teams["team"].open_windows[0]
    assert (aggregate.customer_n, aggregate.employee_n) == (1, 1)
    assert aggregate.employee_histograms["trust"] == [0, 0, 0, 1, 0]
    assert not prepared.sink.dead_letters


def test_the_same_event_id_dated_in_another_window_is_a_dead_letter() -> None:
    p = preparer()
    moved = encode(
        CustomerFeedback(
            event_id="c1000",  # the id of the first record, dated two windows later
            occurred_at=21_000,
            team_id="team",
            channel="chat",
            source="s",
            customer_ref="crm-42",
            csat=1,
        )
    )
    prepared = p.prepare([message(CUSTOMER, 0, customer(1_000)), message(CUSTOMER, 1, moved)])
    (letter,) = prepared.sink.dead_letters
    assert (letter.offset, letter.error_kind) == (1, "duplicate")
    assert "already counted in the window starting at 0" in letter.reason
    # Stored re-keyed: the dead-letter table never holds the clear reference.
    assert letter.payload is not None and b"crm-42" not in letter.payload
    assert hashlib.sha256(b"crm-42").hexdigest() not in letter.payload.decode()
    assert len(prepared.sink.customer_feedback) == 1
    assert p.engine.clocks[0].max_event_time["customer"] == 1_000  # it moved no clock


def test_a_copy_arriving_just_after_its_window_closed_is_a_duplicate_not_a_late_event() -> None:
    p = preparer()  # windows of 10 s, lateness 1 s
    p.prepare(
        [
            message(CUSTOMER, 0, customer(1_000)),
            message(CUSTOMER, 1, customer(11_500)),
            message(EMPLOYEE, 0, pulse(11_500)),  # both sides move the watermark
        ]
    )
    assert 0 not in p.engine.teams["team"].open_windows  # watermark 10.5 s: window 0 closed
    prepared = p.prepare([message(CUSTOMER, 2, customer(1_000))])
    assert [d.kind for d in prepared.sink.duplicate_events] == ["event"]
    assert not prepared.sink.late_events and not prepared.sink.customer_feedback
    # Once the watermark is past the window's end plus the lateness, its keys are dropped.
    p.prepare([message(CUSTOMER, 3, customer(30_000)), message(EMPLOYEE, 1, pulse(30_000))])
    assert 0 not in p.engine.teams["team"].closed_keys


def test_events_outside_the_time_bounds_are_dead_letters() -> None:
    p = preparer()
    p.time_bounds = TimeBounds(max_future_ms=1_000, max_age_ms=1_000)
    now = int(time.time() * 1000)
    prepared = p.prepare(
        [
            message(CUSTOMER, 0, customer(now - 60_000, ref="someone@example.com")),
            message(CUSTOMER, 1, customer(now + 60_000)),
            message(CUSTOMER, 2, customer(now)),
        ]
    )
    kinds = [(d.offset, d.error_kind) for d in prepared.sink.dead_letters]
    assert kinds == [(0, "too_old"), (1, "future")]
    assert b"someone@example.com" not in (prepared.sink.dead_letters[0].payload or b"")
    assert "MIROIR_MAX_AGE_DAYS" in prepared.sink.dead_letters[0].reason
    assert len(prepared.sink.customer_feedback) == 1


def test_a_late_event_of_an_unknown_team_leaves_no_state_behind() -> None:
    p = preparer()
    p.prepare([message(CUSTOMER, 0, customer(30_000)), message(EMPLOYEE, 0, pulse(30_000))])
    stranger = encode(CustomerFeedback("x1", 1_000, "stranger", "chat", "s", csat=3))
    prepared = p.prepare([message(CUSTOMER, 1, stranger)])
    assert len(prepared.sink.late_events) == 1
    # Hostile producers could send late records for endless made-up teams: none is kept.
    assert "stranger" not in p.engine.teams


def test_a_partition_seen_on_one_side_only_holds_the_unit_windows_back() -> None:
    p, t0 = preparer(), 1_000_000
    first = p.prepare([message(CUSTOMER, 0, customer(t0))])
    heartbeats = [i for i in first.unit_inputs if isinstance(i, Heartbeat)]
    assert heartbeats == [Heartbeat(0, NO_PROGRESS)]  # not None: the partition holds records
    later = t0 + 15_000
    both = p.prepare([message(EMPLOYEE, 0, pulse(later)), message(CUSTOMER, 1, customer(later))])
    [heartbeat] = [i for i in both.unit_inputs if isinstance(i, Heartbeat)]
    assert heartbeat.watermark is not None and heartbeat.watermark > NO_PROGRESS
    parts = [i for i in both.unit_inputs if isinstance(i, TeamWindowPart)]
    assert [part.team_id for part in parts] == ["team"]  # the window of t0 closed
