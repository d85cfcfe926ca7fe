"""Checking the consumer's delivery against the saved positions (streams.runtime.positions)."""

from __future__ import annotations

from collections.abc import Callable

from streams.core.pipeline import RawMessage
from streams.runtime.positions import check_delivery, with_gaps_filled

C, E = "customer", "employee"


def m(topic: str, offset: int, partition: int = 0) -> RawMessage:
    return RawMessage(topic, partition, offset, b"team", b"v")


def positions(**known: int) -> Callable[[str, int], int | None]:
    table = {("customer", 0): known.get("c"), ("employee", 0): known.get("e")}
    return lambda topic, partition: table.get((topic, partition))


def test_a_delivery_that_continues_the_saved_position_passes_unchanged() -> None:
    batch = [m(C, 5), m(E, 2), m(C, 6), m(E, 3)]
    check = check_delivery(batch, positions(c=5, e=2))
    assert check.fresh == batch
    assert check.gaps == {}
    assert check.already_absorbed == 0


def test_records_below_the_position_are_already_absorbed_and_dropped() -> None:
    check = check_delivery([m(C, 3), m(C, 4), m(C, 5)], positions(c=5))
    assert [x.offset for x in check.fresh] == [5]
    assert check.already_absorbed == 2


def test_a_jump_past_the_position_is_a_gap_to_read() -> None:
    # The consumer resumed at a committed offset ahead of the state, then skipped again.
    batch = [m(C, 9), m(C, 10), m(C, 14), m(E, 0)]
    check = check_delivery(batch, positions(c=4, e=0))
    assert check.gaps == {(C, 0): (4, 14)}  # one range from the first missing to the last
    assert [x.offset for x in check.fresh] == [9, 10, 14, 0]


def test_without_saved_state_the_consumer_position_stands_but_later_jumps_count() -> None:
    check = check_delivery([m(C, 40), m(C, 41), m(C, 45)], positions())
    assert check.gaps == {(C, 0): (42, 45)}
    assert len(check.fresh) == 3


def test_filled_records_go_back_in_offset_order_per_partition_without_repeats() -> None:
    fresh = [m(E, 7), m(C, 9), m(C, 12)]
    filled = [m(C, 5), m(C, 6), m(C, 9), m(C, 10), m(C, 11)]
    merged = with_gaps_filled(fresh, filled)
    assert [(x.topic, x.offset) for x in merged] == [
        (C, 5),
        (C, 6),
        (C, 9),
        (C, 10),
        (C, 11),
        (C, 12),
        (E, 7),
    ]
    assert with_gaps_filled(fresh, []) == fresh  # nothing read: the batch keeps its order
