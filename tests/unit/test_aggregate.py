"""WindowAggregate: counting, merging, and the changelog round trip."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.records import CustomerFeedback, EmployeePulse
from streams.aggregate import WindowAggregate


def customer(**scores: Any) -> CustomerFeedback:
    return CustomerFeedback("c-1", 0, "team-a", "phone", "survey", **scores)


def employee(**scores: Any) -> EmployeePulse:
    return EmployeePulse("e-1", 0, "team-a", "pulse", **scores)


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
    agg.add(customer(nps=10, courtesy=5))
    agg.add(employee(enps=3))
    data = agg.to_dict()
    assert data == {
        "v": 1,
        "customer": {"n": 1, "h": {"nps": [0] * 10 + [1], "courtesy": [0, 0, 0, 0, 1]}},
        "employee": {"n": 1, "h": {"enps": [0, 0, 0, 1] + [0] * 7}},
    }
    restored = WindowAggregate.from_dict(json.loads(json.dumps(data)))
    assert restored == agg
    assert WindowAggregate().to_dict() == {"v": 1}
    assert WindowAggregate.from_dict({"v": 1}).is_empty()


@pytest.mark.parametrize(
    "data",
    [
        {"v": 99},
        {"v": 1, "customer": {"n": -1, "h": {}}},
        {"v": 1, "customer": {"n": 1, "h": {"nps": [1, 2]}}},
        {"v": 1, "customer": {"n": 1, "h": {"mood": [1]}}},
        {"v": 1, "employee": {"n": 1, "h": {"trust": [0, 0, -1, 0, 0]}}},
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
        left.add(customer(nps=score))
        whole.add(customer(nps=score))
    for score in second:
        right.add(employee(enps=score))
        whole.add(employee(enps=score))
    assert left.merge(right) == whole
    assert WindowAggregate.from_dict(json.loads(json.dumps(whole.to_dict()))) == whole
