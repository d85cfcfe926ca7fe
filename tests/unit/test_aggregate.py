"""WindowAggregate: counting, merging, and the changelog round trip."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.records import CustomerFeedback, EmployeePulse
from streams.core.aggregate import WindowAggregate
from streams.core.identity import UNKEYED

_ids = itertools.count()


def customer(event_id: str | None = None, **scores: Any) -> CustomerFeedback:
    return CustomerFeedback(event_id or f"c-{next(_ids)}", 0, "team-a", "phone", "survey", **scores)


def employee(
    event_id: str | None = None, at: int = 0, ref: str | None = None, **scores: Any
) -> EmployeePulse:
    return EmployeePulse(
        event_id or f"e-{next(_ids)}", at, "team-a", "pulse", respondent_ref=ref, **scores
    )


def test_add_counts_records_and_bins_per_value() -> None:
    agg = WindowAggregate()
    agg.add(customer(nps=10, csat=4))
    agg.add(customer(nps=0, ces=7))
    agg.add(employee(enps=9, workload=1))
    assert agg.customer_n == 2
    assert agg.employee_n == 1
    # nps bins are values 0..10; csat bins values 1..5; ces bins values 1..7.
    assert agg.customer_histograms["nps"] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert agg.customer_histograms["csat"] == [0, 0, 0, 1, 0]
    assert agg.customer_histograms["ces"] == [0, 0, 0, 0, 0, 0, 1]
    assert agg.customer_histograms["trust"] == [0] * 5
    assert agg.employee_histograms["enps"][9] == 1
    assert agg.employee_histograms["workload"] == [1, 0, 0, 0, 0]


def test_out_of_range_score_raises_and_changes_nothing() -> None:
    agg = WindowAggregate()
    agg.add(customer(nps=5))
    before = WindowAggregate.from_dict(agg.to_dict())
    with pytest.raises(ValueError, match="ces=8 outside 1..7"):
        agg.add(customer(nps=7, csat=3, ces=8))  # nps and csat were counted first: rolled back
    assert agg == before


def test_add_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        WindowAggregate().add({"nps": 3})  # type: ignore[arg-type]


def test_merge_adds_counts_in_place() -> None:
    left, right = WindowAggregate(), WindowAggregate()
    left.add(customer(nps=9))
    right.add(customer(nps=9, trust=2))
    right.add(employee(trust=5))
    assert left.merge(right) is left
    assert left.customer_n == 2
    assert left.employee_n == 1
    assert left.customer_histograms["nps"][9] == 2
    assert left.customer_histograms["trust"] == [0, 1, 0, 0, 0]
    assert left.employee_histograms["trust"] == [0, 0, 0, 0, 1]
    assert right.customer_n == 1  # other untouched


def test_to_dict_is_compact_json_and_round_trips() -> None:
    agg = WindowAggregate()
    agg.add(customer("c", nps=10, courtesy=5))
    agg.add(employee("e", at=7, enps=3))
    data = agg.to_dict()
    respondent, event = UNKEYED.respondent(employee("e")), UNKEYED.event("e")
    assert data == {
        "v": 3,
        "customer": {
            "n": 1,
            "h": {"nps": [0] * 10 + [1], "courtesy": [0, 0, 0, 0, 1]},
            # The customer's composite (promoter 100, courtesy 5 → 100): n, sum, sum of squares.
            "m": [1, 100.0, 10000.0],
            "iv": "idx-v2",
        },
        "employee": {
            "n": 1,
            "h": {"enps": [0, 0, 0, 1] + [0] * 7},
            "r": [[respondent, 7, event, [3] + [None] * 9]],
        },
        # Every key seen, 8 bytes each in arrival order, base64.
        "ids": base64.b64encode(
            UNKEYED.event("c").to_bytes(8, "big") + event.to_bytes(8, "big")
        ).decode(),
    }
    restored = WindowAggregate.from_dict(json.loads(json.dumps(data)))
    assert restored == agg
    assert WindowAggregate().to_dict() == {"v": 3}
    assert WindowAggregate.from_dict({"v": 3}).is_empty()
    assert WindowAggregate.from_dict({"v": 2}).is_empty()


def test_state_written_before_deduplication_still_loads() -> None:
    old = {"v": 1, "employee": {"n": 4, "h": {"trust": [0, 0, 0, 4, 0]}}}
    agg = WindowAggregate.from_dict(old)
    assert agg.employee_n == 4 and not agg.respondents and not agg.event_keys
    agg.add(employee(ref="p", trust=5))
    assert agg.employee_n == 5
    assert agg.employee_histograms["trust"] == [0, 0, 0, 4, 1]


def test_the_same_event_counts_once_on_either_side() -> None:
    agg = WindowAggregate()
    assert agg.add(customer("c-dup", nps=10)) == "counted"
    assert agg.add(customer("c-dup", nps=0)) == "event"  # first copy stays
    assert agg.add(employee("e-dup", trust=5)) == "counted"
    assert agg.add(employee("e-dup", trust=1)) == "event"
    assert (agg.customer_n, agg.employee_n) == (1, 1)
    assert agg.customer_histograms["nps"][10] == 1 and agg.customer_histograms["nps"][0] == 0
    assert agg.employee_histograms["trust"] == [0, 0, 0, 0, 1]


def test_one_person_counts_once_with_their_latest_pulse() -> None:
    agg = WindowAggregate()
    assert agg.add(employee(at=20, ref="ann", trust=2, enps=3)) == "counted"
    assert agg.add(employee(at=10, ref="ann", trust=5)) == "respondent"  # older: ignored
    assert agg.add(employee(at=30, ref="ann", trust=4)) == "respondent"  # newer: replaces
    assert agg.employee_n == 1
    assert agg.employee_histograms["trust"] == [0, 0, 0, 1, 0]
    assert agg.employee_histograms["enps"] == [0] * 11  # the replaced pulse's answers are gone
    assert agg.add(employee(at=5, ref="bob", trust=1)) == "counted"
    assert agg.employee_n == 2


def test_without_a_reference_each_pulse_is_a_person() -> None:
    agg = WindowAggregate()
    for _ in range(3):
        agg.add(employee(trust=3))
    assert agg.employee_n == 3


@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 50), st.integers(1, 5)), max_size=15),
    st.randoms(),
)
def test_who_counts_never_depends_on_arrival_order(
    pulses: list[tuple[str, int, int]], rng: Any
) -> None:
    records = [
        employee(f"p{i}", at=at, ref=ref, trust=trust) for i, (ref, at, trust) in enumerate(pulses)
    ]
    shuffled = list(records)
    rng.shuffle(shuffled)
    in_order, out_of_order = WindowAggregate(), WindowAggregate()
    for record in records:
        in_order.add(record)
    for record in shuffled:
        out_of_order.add(record)
    assert in_order == out_of_order
    assert in_order.employee_n == len({ref for ref, _at, _trust in pulses})


@pytest.mark.parametrize(
    "data",
    [
        {"v": 99},
        {"v": 1, "customer": {"n": -1, "h": {}}},
        {"v": 1, "customer": {"n": 1, "h": {"nps": [1, 2]}}},
        {"v": 1, "customer": {"n": 1, "h": {"mood": [1]}}},
        {"v": 1, "employee": {"n": 1, "h": {"trust": [0, 0, -1, 0, 0]}}},
        {"v": 2, "ids": "not base64!"},
        {"v": 2, "ids": "AAAA"},  # 3 bytes: not whole keys
        {"v": 2, "employee": {"n": 0, "h": {}, "r": [[1, 2, 3, [None] * 10]]}},  # r > n
        {"v": 2, "employee": {"n": 1, "h": {}, "r": [[1, 2, 3, [1]]]}},
    ],
)
def test_from_dict_rejects_untrustworthy_state(data: dict) -> None:
    with pytest.raises(ValueError):
        WindowAggregate.from_dict(data)


nps_scores = st.lists(st.integers(0, 10), max_size=30)


@given(nps_scores, nps_scores)
def test_merge_equals_adding_everything_to_one(first: list[int], second: list[int]) -> None:
    left, right, whole = WindowAggregate(), WindowAggregate(), WindowAggregate()
    for score in first:
        record: CustomerFeedback | EmployeePulse = customer(nps=score)
        left.add(record)
        whole.add(record)
    for score in second:
        record = employee(enps=score)
        right.add(record)
        whole.add(record)
    assert left.merge(right) == whole
    assert WindowAggregate.from_dict(json.loads(json.dumps(whole.to_dict()))) == whole
