"""Team-window metrics pinned to hand-computed values (the arithmetic is in the comments)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.records import CustomerFeedback, EmployeePulse
from streams.core.aggregate import WindowAggregate
from streams.core.metrics import (
    DEFAULT_INDEX_CONFIG,
    IndexConfig,
    compute_team_window,
    team_window_from_dict,
    team_window_to_dict,
)
from streams.core.model import TeamWindowMetrics
from streams.detectors import (
    DetectionSettings,
    MirrorChangeDetector,
    SymmetryGapDetector,
)

approx = pytest.approx


def aggregate(
    customers: Sequence[dict[str, Any]] = (),
    employees: Sequence[dict[str, Any]] = (),
    index_config: IndexConfig = DEFAULT_INDEX_CONFIG,
) -> WindowAggregate:
    agg = WindowAggregate(index_config)
    for i, scores in enumerate(customers):
        agg.add(CustomerFeedback(f"c{i}", 0, "team-a", "web", "survey", **scores))
    for i, scores in enumerate(employees):
        agg.add(EmployeePulse(f"e{i}", 0, "team-a", "pulse", **scores))
    return agg


def window(agg: WindowAggregate, k: int = 5, **kwargs: object) -> TeamWindowMetrics:
    return compute_team_window("team-a", 0, 1000, agg, k_anonymity=k, **kwargs)  # type: ignore[arg-type]


def customers(field: str, values: Sequence[int]) -> list[dict[str, int]]:
    return [{field: value} for value in values]


# -- NPS ------------------------------------------------------------------------------------
def test_nps_and_se_small_example() -> None:
    # 10, 10, 9 promoters; 8 passive; 3 detractor. n = 5, p = 3/5 = 0.6, d = 1/5 = 0.2.
    # NPS = 100 * (0.6 - 0.2) = 40.
    # v = p + d - (p - d)^2 = 0.8 - 0.16 = 0.64; SE = 100 * sqrt(0.64 / 5) = 100 * sqrt(0.128)
    #   = 35.7771.
    # Scaled: (40 + 100) / 2 = 70, SE 35.7771 / 2 = 17.8885.
    side = window(aggregate(customers("nps", [10, 10, 9, 8, 3]))).customer
    assert side.raw == {"nps": approx(40.0), "nps_se": approx(35.77709)}
    assert side.components == {"nps": approx(70.0)}
    assert side.component_se == {"nps": approx(17.88854)}
    assert side.component_n == {"nps": 5}
    assert side.n == 5
    # The only component: the index is its mean. Its SE comes from the composites 100, 100,
    # 100, 50, 0 (mean 70): deviations 30, 30, 30, -20, -70, squares 8000, sample variance
    # 8000 / 4 = 2000, SE = sqrt(2000 / 5) = 20 — the sample sd (n - 1), where DOMAIN.md's
    # NPS formula above divides by n: 17.8885 * sqrt(5 / 4) = 20.
    assert side.index == approx(70.0)
    assert side.index_se == approx(20.0)
    assert (side.index_n, side.index_sd) == (5, approx(math.sqrt(2000)))


def test_nps_all_promoters_is_100_with_zero_se() -> None:
    # p = 1, d = 0: NPS 100, v = 1 + 0 - 1^2 = 0, SE 0. Scaled 100, SE 0.
    side = window(aggregate(customers("nps", [9, 10, 10, 9]))).customer
    assert side.raw == {"nps": 100.0, "nps_se": 0.0}
    assert side.components["nps"] == 100.0
    assert side.component_se["nps"] == 0.0


def test_nps_boundaries_6_is_detractor_7_8_passive() -> None:
    # 6 detractor, 7 and 8 passive: p = 0, d = 1/3, NPS = -33.33.
    # v = 1/3 - 1/9 = 2/9; SE = 100 * sqrt(2/27) = 27.2166.
    side = window(aggregate(customers("nps", [6, 7, 8]))).customer
    assert side.raw["nps"] == approx(-100 / 3)
    assert side.raw["nps_se"] == approx(27.21655)
    assert side.components["nps"] == approx((-100 / 3 + 100) / 2)  # 33.33


def test_one_respondent_gets_the_conservative_se() -> None:
    # n = 1 rule: the largest variance the scale allows. NPS: v = 1 (p = d = 1/2) so
    # SE = 100 * sqrt(1/1) = 100, scaled 50 (the *reported* nps_se keeps DOMAIN.md's formula:
    # p = 1, d = 0, v = 1 + 0 - 1 = 0, SE = 0). Likert: sd = (5 - 1) / 2 = 2, SE = 2, scaled
    # 2 * 25 = 50. CSAT: p(1-p) = 1/4, SE = 100 * 1/2 = 50. CES: sd = (7 - 1) / 2 = 3,
    # scaled 3 / 6 * 100 = 50.
    side = window(aggregate([{"nps": 10, "trust": 4, "csat": 5, "ces": 6}])).customer
    assert side.raw["nps"] == 100.0
    assert side.raw["nps_se"] == approx(0.0)
    assert side.components == {
        "nps": approx(100.0),
        "csat": approx(100.0),
        "ces": approx((6 - 1) / 6 * 100),  # 83.33
        "trust": approx(75.0),  # (4 - 1) / 4 * 100
    }
    assert side.component_se == {
        "nps": approx(50.0),
        "csat": approx(50.0),
        "ces": approx(50.0),
        "trust": approx(50.0),
    }


def test_enps_is_computed_like_nps() -> None:
    # enps 10, 0, 0, 9, 7: p = 2/5, d = 2/5, eNPS 0; v = 0.8 - 0 = 0.8;
    # SE = 100 * sqrt(0.8 / 5) = 40; scaled 50, SE 20.
    side = window(aggregate(employees=[{"enps": v} for v in (10, 0, 0, 9, 7)])).employee
    assert side is not None
    assert side.raw == {"enps": approx(0.0), "enps_se": approx(40.0)}
    assert side.components == {"enps": approx(50.0)}
    assert side.component_se == {"enps": approx(20.0)}


# -- CSAT, CES, Likert ----------------------------------------------------------------------
def test_csat_is_top_2_box_not_the_mean() -> None:
    # 5, 4, 3, 2, 4: top-2-box = 3/5 = 60 % (the mean, 3.6, is not CSAT).
    # SE = 100 * sqrt(0.6 * 0.4 / 5) = 100 * sqrt(0.048) = 21.9089.
    side = window(aggregate(customers("csat", [5, 4, 3, 2, 4]))).customer
    assert side.raw == {"csat": approx(60.0)}
    assert side.components == {"csat": approx(60.0)}
    assert side.component_se == {"csat": approx(21.90890)}


def test_ces_mean_easy_pct_and_scaling() -> None:
    # 7, 5, 4, 1: mean 17/4 = 4.25; 5–7 share 2/4 = 50 %; scaled (4.25 - 1) / 6 * 100 = 54.1667.
    # Deviations 2.75, .75, -.25, -3.25; squares sum 7.5625 + .5625 + .0625 + 10.5625 = 18.75;
    # sample var 18.75 / 3 = 6.25, sd 2.5; SE of mean 2.5 / 2 = 1.25; scaled 1.25 / 6 * 100
    # = 20.8333.
    side = window(aggregate(customers("ces", [7, 5, 4, 1]))).customer
    assert side.raw == {"ces_mean": approx(4.25), "ces_easy_pct": approx(50.0)}
    assert side.components == {"ces": approx(54.16667)}
    assert side.component_se == {"ces": approx(20.83333)}


def test_likert_mean_scaled_with_sample_sd() -> None:
    # trust 5, 4, 4, 3: mean 4, scaled (4 - 1) / 4 * 100 = 75.
    # Deviations 1, 0, 0, -1: sample var 2/3, sd 0.81650; SE 0.81650 / 2 = 0.40825;
    # scaled 0.40825 * 25 = 10.2062.
    side = window(aggregate(customers("trust", [5, 4, 4, 3]))).customer
    assert side.raw == {"trust_mean": approx(4.0)}
    assert side.components == {"trust": approx(75.0)}
    assert side.component_se == {"trust": approx(10.20621)}


def test_identical_answers_give_zero_se_from_two_respondents() -> None:
    side = window(aggregate(customers("courtesy", [5, 5]))).customer
    assert side.components == {"courtesy": 100.0}
    assert side.component_se == {"courtesy": 0.0}


# -- indices --------------------------------------------------------------------------------
NPS_AND_TRUST = [
    {"nps": 10, "trust": 5},
    {"nps": 10, "trust": 4},
    {"nps": 9, "trust": 4},
    {"nps": 8, "trust": 3},
    {"nps": 3},
]


def test_index_is_the_mean_of_respondent_composites() -> None:
    # Each respondent's composite is the equal-weight mean of the points of what they answered
    # (promoter 100, passive 50, detractor 0; trust (x - 1) / 4 * 100):
    #   (100 + 100) / 2 = 100, (100 + 75) / 2 = 87.5, 87.5, (50 + 50) / 2 = 50, 0 (nps only).
    # C = 325 / 5 = 65. Deviations 35, 22.5, 22.5, -15, -65; squares 1225 + 506.25 + 506.25
    # + 225 + 4225 = 6687.5; sample variance 1671.875; SE = sqrt(1671.875 / 5) = 18.28593.
    side = window(aggregate(NPS_AND_TRUST)).customer
    assert set(side.components) == {"nps", "trust"}  # the missing ones are simply absent
    assert side.component_n == {"nps": 5, "trust": 4}
    assert side.n == side.index_n == 5
    assert side.index == approx(65.0)
    assert side.index_se == approx(18.28593)


def test_state_without_composites_falls_back_to_the_component_formula() -> None:
    # State written by an older Miroir (format 2: no composite moments). Components: nps
    # scaled 70, SE 17.8885 (first test); trust 5, 4, 4, 3: 75, SE 10.2062.
    # C = (70 + 75) / 2 = 72.5.
    # SE = sqrt(17.8885^2 + 10.2062^2) / 2 = sqrt(320 + 104.1667) / 2 = 20.5954 / 2 = 10.2977.
    stored = aggregate(NPS_AND_TRUST).to_dict()
    stored["v"] = 2
    del stored["customer"]["m"], stored["customer"]["iv"]
    side = window(WindowAggregate.from_dict(stored)).customer
    assert side.index == approx(72.5)
    assert side.index_se == approx(10.29765)


def test_index_weights_from_config() -> None:
    # Weights nps 3, trust 1; composites (3 * points(nps) + points(trust)) / 4 where both exist:
    #   (300 + 100) / 4 = 100, (300 + 75) / 4 = 93.75, 93.75, (150 + 50) / 4 = 50, 0.
    # C = 337.5 / 5 = 67.5. Deviations 32.5, 26.25, 26.25, -17.5, -67.5; squares 1056.25
    # + 689.0625 + 689.0625 + 306.25 + 4556.25 = 7296.875; variance / 4 = 1824.21875;
    # SE = sqrt(1824.21875 / 5) = 19.10088.
    config = IndexConfig(version="idx-test", customer_weights={"nps": 3, "trust": 1})
    metrics = window(aggregate(NPS_AND_TRUST, index_config=config), index_config=config)
    assert metrics.index_version == "idx-test"
    assert metrics.customer.index == approx(67.5)
    assert metrics.customer.index_se == approx(19.10088)


def test_zero_weight_component_is_reported_but_not_in_the_index() -> None:
    # Default: workload has weight 0. enps 10 x5: scaled 100, SE 0; workload 1 x5: scaled 0.
    # E = 100 (workload left out), not (100 + 0) / 2.
    employees = [{"enps": 10, "workload": 1}] * 5
    side = window(aggregate(employees=employees)).employee
    assert side is not None
    assert side.components == {"enps": 100.0, "workload": 0.0}
    assert side.index == 100.0
    assert DEFAULT_INDEX_CONFIG.employee_weights["workload"] == 0.0
    assert DEFAULT_INDEX_CONFIG.version == "idx-v2"


def test_side_without_components_has_no_index() -> None:
    metrics = window(aggregate(employees=[{"trust": 4}] * 5))
    assert metrics.customer.n == 0
    assert metrics.customer.index is None
    assert metrics.customer.index_se is None
    assert metrics.customer.components == {}
    # Weighted components absent but a zero-weight one present: still no index.
    only_workload = window(aggregate(employees=[{"workload": 4}] * 5)).employee
    assert only_workload is not None
    assert only_workload.index is None
    assert only_workload.components == {"workload": 75.0}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"version": ""},
        {"customer_weights": {"mood": 1.0}},
        {"customer_weights": {"nps": -1.0}},
        {"customer_weights": {"nps": math.nan}},
        {"employee_weights": {"enps": 0.0}},
    ],
)
def test_index_config_rejects_bad_weights(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        IndexConfig(**kwargs)


def test_index_config_is_frozen_and_hashable() -> None:
    weights = {"nps": 1.0}
    config = IndexConfig(customer_weights=weights)
    weights["nps"] = 5.0  # the config took a copy
    assert config.customer_weights["nps"] == 1.0
    assert hash(config) == hash(IndexConfig(customer_weights={"nps": 1.0}))


# -- k-anonymity ----------------------------------------------------------------------------
def test_employee_side_suppressed_at_k_minus_1_and_shown_at_k() -> None:
    pulse = {"enps": 9, "trust": 4}
    below = window(aggregate(employees=[pulse] * 4), k=5)
    assert below.employee is None
    assert below.employee_suppressed is True
    at_k = window(aggregate(employees=[pulse] * 5), k=5)
    assert at_k.employee_suppressed is False
    assert at_k.employee is not None
    assert at_k.employee.n == 5


def test_no_employee_answers_is_suppressed_too() -> None:
    metrics = window(aggregate(customers("nps", [9])))
    assert metrics.employee is None
    assert metrics.employee_suppressed is True


@pytest.mark.parametrize("k", [2, 1, 0, -5])
def test_k_floor_is_3(k: int) -> None:
    with pytest.raises(ValueError, match="at least 3"):
        window(aggregate(), k=k)


def test_k_of_3_is_allowed() -> None:
    metrics = window(aggregate(employees=[{"trust": 3}] * 3), k=3)
    assert metrics.employee is not None


def test_late_events_are_carried() -> None:
    assert window(aggregate(), late_events=7).late_events == 7


# -- storage ----------------------------------------------------------------------------------
def test_team_window_dict_round_trip_is_json_safe() -> None:
    agg = aggregate(NPS_AND_TRUST, employees=[{"enps": 9, "trust": 4}] * 6)
    for metrics in (window(agg), window(agg, k=10)):
        data = json.loads(json.dumps(team_window_to_dict(metrics)))
        assert team_window_from_dict(data) == metrics


def test_stored_suppressed_window_with_employee_data_is_refused() -> None:
    data = team_window_to_dict(window(aggregate(employees=[{"enps": 9}] * 6)))
    data["employee_suppressed"] = True
    with pytest.raises(ValueError, match="suppressed"):
        team_window_from_dict(data)


# -- privacy property -------------------------------------------------------------------------
EMPLOYEE_FIELDS = ("enps", "vision", "trust", "workload", "recognition", "ambiance")


@st.composite
def pulses(draw: st.DrawFn, max_size: int) -> list[dict[str, int]]:
    records = []
    for _ in range(draw(st.integers(0, max_size))):
        names = draw(st.sets(st.sampled_from(EMPLOYEE_FIELDS), min_size=1))
        records.append(
            {n: draw(st.integers(0, 10) if n == "enps" else st.integers(1, 5)) for n in names}
        )
    return records


@given(
    k=st.integers(3, 12),
    data=st.data(),
    customer_scores=st.lists(st.integers(0, 10), min_size=0, max_size=25),
)
def test_no_window_under_k_exposes_employee_values(
    k: int, data: st.DataObject, customer_scores: list[int]
) -> None:
    employee_records = data.draw(pulses(max_size=k - 1))
    metrics = window(aggregate(customers("nps", customer_scores), employee_records), k=k)
    assert metrics.employee is None
    assert metrics.employee_suppressed is True
    stored = team_window_to_dict(metrics)
    assert stored["employee"] is None
    assert "employee_n" not in json.dumps(stored)
    # Nor can any built-in detector reveal them, even after windows with a visible, very
    # different employee side (which would otherwise make every detector fire).
    visible = window(aggregate(customers("nps", [0] * 12), [{"enps": 10}] * k), k=k)
    history = [visible] * 6
    settings = DetectionSettings(min_customer_n=1)
    for detector in (MirrorChangeDetector(), SymmetryGapDetector()):
        for alert in detector.detect(metrics, history, settings):
            assert alert.employee_n is None
            assert alert.employee_index is None
            assert alert.employee_delta is None
            assert not any(key.startswith("employee") for key in alert.evidence)


# -- the index SE and the halo (issue 11, acceptance 2) -------------------------------------
def test_perfectly_correlated_answers_give_the_single_item_se() -> None:
    # Five people who answer trust, ambiance and belonging identically: three items carry no
    # more information than one. trust 2, 3, 4, 4, 5: mean 3.6, squares of deviations 2.56
    # + 0.36 + 0.16 + 0.16 + 1.96 = 5.2, sd = sqrt(5.2 / 4) = 1.14018; SE on 0–100
    # = 1.14018 / sqrt(5) * 25 = 12.74755. Each composite equals the person's item points,
    # so the index SE is exactly that item's SE — not the 12.74755 / sqrt(3) = 7.35980 the
    # independence formula would claim.
    people = [{"trust": x, "ambiance": x, "belonging": x} for x in (2, 3, 4, 4, 5)]
    side = window(aggregate(employees=people)).employee
    assert side is not None
    assert side.component_se["trust"] == approx(12.74755)
    assert side.index_se == approx(side.component_se["trust"])
    assert side.index_se != approx(12.74755 / math.sqrt(3))


def test_uncorrelated_answers_give_the_independence_formula() -> None:
    # trust and courtesy in a balanced design (1, 1), (1, 5), (5, 1), (5, 5): their sample
    # covariance is exactly 0. Each item: values 1, 1, 5, 5, sd = sqrt(16 / 3) = 2.30940,
    # scaled SE = 2.30940 / 2 * 25 = 28.86751; independence formula
    # sqrt(2 * 28.86751^2) / 2 = 20.41241. Composites 0, 50, 50, 100: squares of deviations
    # 5000, variance 5000 / 3, SE = sqrt(5000 / 3 / 4) = 20.41241 — the same.
    people = [{"trust": t, "courtesy": c} for t in (1, 5) for c in (1, 5)]
    side = window(aggregate(people)).customer
    independent = math.sqrt(sum(se**2 for se in side.component_se.values())) / 2
    assert independent == approx(20.41241)
    assert side.index_se == approx(independent)
