"""Control-chart evidence pinned to hand computations (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest

from streams.core.model import SideMetrics, TeamWindowMetrics
from streams.detectors import DetectionSettings, MirrorChangeDetector
from streams.detectors.control import side_evidence

approx = pytest.approx
WINDOW_MS = 1000


def side(value: float, n: int = 100, se: float = 2.0, sd: float | None = None) -> SideMetrics:
    return SideMetrics(n=n, index=value, index_se=se, index_n=n, index_sd=sd)


def tw(
    i: int,
    customer: SideMetrics,
    employee: SideMetrics | None = None,
    alerts: tuple[str, ...] = (),
) -> TeamWindowMetrics:
    return TeamWindowMetrics(
        team_id="team-a",
        window_start=i * WINDOW_MS,
        window_end=(i + 1) * WINDOW_MS,
        customer=customer,
        employee=employee if employee is not None else side(70.0, n=12),
        employee_suppressed=False,
        index_version="idx-v2",
        alert_kinds=alerts,
    )


def test_between_window_spread_comes_from_the_teams_own_one_step_errors() -> None:
    # last-2 baselines, no chart (no guard band), prior τ₀ = 3 worth ν₀ = 2 windows.
    # Quiet history 70, 80, 70, 80 (SE 2). One-step errors (the first two have no baseline):
    #   window 2: baseline (70 + 80) / 2 = 75, its variance (4 + 4) / 4 = 2; e = -5, v = 6
    #   window 3: baseline (80 + 70) / 2 = 75; e = +5, v = 6
    # τ̂² solves median(e² / (v + τ²)) = 0.454936 (the median of χ²₁):
    #   25 / (6 + τ²) = 0.454936 → τ̂² = 54.95279 - 6 = 48.95279, c = 2.
    # τ² = (2 * 48.95279 + 2 * 9) / (2 + 2) = 28.97640, τ = 5.38297.
    # Current 60: baseline 75, σ = sqrt(4 + 2 + 28.97640) = 5.91408, Δ = -15, z = -2.53632.
    settings = DetectionSettings(
        baseline_mode="last_k",
        baseline_windows=2,
        between_window_sd=3.0,
        prior_windows=2.0,
        sequential_windows=1,
    )
    history = [tw(i, side(v)) for i, v in enumerate((70.0, 80.0, 70.0, 80.0))]
    evidence = side_evidence(tw(4, side(60.0)), history, "customer", settings)
    assert evidence is not None
    assert evidence.between_errors == 2
    assert evidence.prior_weight == approx(0.5)
    assert evidence.between_sd == approx(5.38297, abs=1e-5)
    assert evidence.sigma == approx(5.91408, abs=1e-5)
    assert evidence.single.delta == approx(-15.0)
    assert evidence.single.z == approx(-2.53632, abs=1e-5)
    assert evidence.sequential is None


def test_the_normal_spread_ignores_a_few_windows_of_a_change_that_never_alerted() -> None:
    # The median of the one-step errors, not their mean: eight quiet windows land exactly on
    # their baseline, two far off (a change under way). The median ratio is 0, so τ̂² = 0
    # and, with τ₀ = 0, τ = 0; a mean would have made the team look far noisier. (No chart
    # here, so no guard band keeps the two out of the errors.)
    settings = DetectionSettings(
        baseline_mode="last_k", between_window_sd=0.0, sequential_windows=1
    )
    history = [tw(i, side(70.0, se=4.0)) for i in range(10)]
    history += [tw(i, side(50.0, se=4.0)) for i in (10, 11)]
    evidence = side_evidence(tw(12, side(70.0, se=4.0)), history, "customer", settings)
    assert evidence is not None
    assert evidence.between_errors == 10
    assert evidence.between_sd == 0.0


def test_a_short_history_leans_on_the_prior_spread() -> None:
    # Two quiet windows: no one-step error yet (c = 0), so τ = τ₀ = 3 exactly.
    settings = DetectionSettings(baseline_mode="last_k", sequential_windows=1)
    history = [tw(i, side(70.0)) for i in range(2)]
    evidence = side_evidence(tw(2, side(70.0)), history, "customer", settings)
    assert evidence is not None
    assert (evidence.between_errors, evidence.prior_weight) == (0, 1.0)
    assert evidence.between_sd == approx(3.0)


def test_sampling_spread_is_pooled_over_the_teams_windows() -> None:
    # Two quiet windows of 10 people with composite sd 20 and the current one of 5 with sd 30:
    # s_p² = (9 * 400 * 2 + 4 * 900) / (9 * 2 + 4) = 10800 / 22 = 490.90909, s_p = 22.15647;
    # the current SE is s_p / sqrt(5) = 9.90868 (its own would be 30 / sqrt(5) = 13.41641).
    settings = DetectionSettings(baseline_mode="last_k", sequential_windows=1, min_customer_n=5)
    history = [tw(i, side(70.0, n=10, se=20 / math.sqrt(10), sd=20.0)) for i in range(2)]
    current = tw(2, side(60.0, n=5, se=30 / math.sqrt(5), sd=30.0))
    evidence = side_evidence(current, history, "customer", settings)
    assert evidence is not None
    assert evidence.se == approx(math.sqrt(10800 / 22) / math.sqrt(5))
    # The baseline's SE uses the pooled spread too: two windows of 10, sqrt(2 * 49.09091) / 2.
    assert evidence.baseline.se == approx(math.sqrt(2 * 490.90909 / 10) / 2)


SEQUENTIAL = DetectionSettings(
    baseline_mode="last_k",
    baseline_windows=6,
    between_window_sd=0.0,
    prior_windows=4.0,
    sequential_windows=3,
    sequential_lambda=0.5,
    sequential_z_crit=2.5,
)


def test_the_ewma_chart_finds_a_sustained_moderate_fall() -> None:
    # Windows 0–9 at 70, 10–11 at 64, current (12) at 60; SE 4 everywhere, τ₀ = 0.
    # The baseline skips the guard band (the r - 1 = 2 windows before the current one) and
    # looks back at most 8 windows: windows 4–9, mean 70, variance 16 / 6 = 2.66667.
    # τ: one-step errors of the windows before the guard band, 4–9 (each against its own
    # guarded baseline): six 0s, so τ = 0 (c = 6, prior weight 4 / 10).
    # Single window: σ = sqrt(16 + 2.66667) = 4.32049, Δ = -10, z = -2.31455 (< 3.5).
    # Chart over windows 10, 11, 12: λ = 0.5 weights 0.125, 0.25, 0.5 normalised by 0.875
    #   → 1/7, 2/7, 4/7; D = -6/7 - 12/7 - 40/7 = -8.28571; sampling (1 + 4 + 16) / 49 · 16
    #   = 6.85714; σ_D = sqrt(6.85714 + 2.66667) = 3.08607; z = -2.68488 (≥ 2.5, and the
    #   closing window itself has z ≤ -1.645).
    history = [tw(i, side(70.0, se=4.0)) for i in range(10)]
    history += [tw(i, side(64.0, se=4.0)) for i in (10, 11)]
    evidence = side_evidence(tw(12, side(60.0, se=4.0)), history, "customer", SEQUENTIAL)
    assert evidence is not None
    assert (evidence.between_sd, evidence.between_errors) == (0.0, 6)
    assert evidence.prior_weight == approx(4 / 10)
    assert evidence.baseline.value == approx(70.0)
    assert evidence.baseline.se**2 == approx(16 / 6)
    assert evidence.single.z == approx(-2.31455, abs=1e-5)
    assert not evidence.single.significant
    assert evidence.sequential is not None
    assert evidence.sequential.delta == approx(-8.28571, abs=1e-5)
    assert evidence.sequential.z == approx(-2.68488, abs=1e-5)
    assert evidence.fell and evidence.sequential_windows == 3


def test_the_chart_stops_counting_once_the_team_is_back() -> None:
    # Two windows far below, then a window back at normal: the EWMA still remembers the fall
    # (D = (-20 - 40) / 7 = -8.57), but the closing window itself is not below normal.
    history = [tw(i, side(70.0, se=4.0)) for i in range(10)]
    history += [tw(i, side(50.0, se=4.0)) for i in (10, 11)]
    evidence = side_evidence(tw(12, side(70.0, se=4.0)), history, "customer", SEQUENTIAL)
    assert evidence is not None and evidence.sequential is not None
    assert evidence.sequential.delta == approx(-60 / 7)
    assert evidence.single.z > -1.645
    assert not evidence.fell


@pytest.mark.parametrize(("se", "steady"), [(1.0, True), (5.0, False)])
def test_held_steady_needs_an_interval_that_rules_out_a_fall(se: float, steady: bool) -> None:
    # Six quiet windows at 70 (SE 1), τ₀ = 0; current 69. Baseline SE 1/√6, so
    #   SE 1: σ = sqrt(1 + 1/6) = 1.08012; lower bound -1 - 1.645 σ = -2.77680 > -5: steady.
    #   SE 5: σ = sqrt(25 + 1/6) (the pooled spread is ignored: sd unknown) = 5.01664;
    #         lower bound -1 - 8.25237 = -9.25237: a fall of 5 cannot be ruled out.
    settings = DetectionSettings(
        baseline_mode="last_k", between_window_sd=0.0, sequential_windows=1
    )
    history = [tw(i, side(70.0, se=1.0)) for i in range(6)]
    evidence = side_evidence(tw(6, side(69.0, se=se)), history, "customer", settings)
    assert evidence is not None
    assert evidence.steady is steady
    low, _high = evidence.interval
    expected_sigma = math.sqrt(se**2 + 1 / 6)
    assert low == approx(-1 - 1.645 * expected_sigma)


def test_an_inner_warning_with_an_uninformative_customer_side_says_inconclusive() -> None:
    # Employee index falls 20 points (SE 2, τ₀ = 0: z far beyond 3.5); the customer side moves
    # -1 with SE 5: not significant, but not steady either.
    settings = DetectionSettings(
        baseline_mode="last_k", between_window_sd=0.0, sequential_windows=1
    )
    history = [tw(i, side(70.0, se=1.0), side(70.0, n=12)) for i in range(6)]
    current = tw(6, side(69.0, se=5.0), side(50.0, n=12))
    [alert] = MirrorChangeDetector().detect(current, history, settings)
    assert alert.kind == "inner_warning"
    assert "inconclusive" in alert.message and "cannot be ruled out" in alert.message
    assert "held steady" not in alert.message
    assert alert.evidence["customer_inconclusive"] == 1.0
    assert alert.evidence["customer_steady"] == 0.0
    assert alert.evidence["employee_between_sd_prior_weight"] == approx(4 / (4 + 4))


@pytest.mark.parametrize(("value", "rose"), [(70.0, False), (74.0, False), (80.0, True)])
def test_a_return_to_the_level_before_an_episode_is_a_recovery_not_a_rise(
    value: float, rose: bool
) -> None:
    # Windows 0–5 at 70; a decline to 50 from window 6 (6 and 7 alerted, 8–13 did not and
    # became the team's normal). At window 14 the baseline is 50 (windows 8–13), so 70 would
    # look like a 20-point rise; but the level before the episode (windows 0–5) is 70: back to
    # it, or less than min_effect (5) beyond it, is the decline ending. 80 is news.
    settings = DetectionSettings(
        baseline_mode="last_k", between_window_sd=0.0, sequential_windows=1
    )
    history = [tw(i, side(70.0)) for i in range(6)]
    history += [tw(i, side(50.0), alerts=("mirror_decline",)) for i in (6, 7)]
    history += [tw(i, side(50.0)) for i in range(8, 14)]
    evidence = side_evidence(tw(14, side(value)), history, "customer", settings)
    assert evidence is not None
    assert evidence.baseline.value == approx(50.0)
    assert evidence.single.delta == approx(value - 50.0)
    assert evidence.rose is rose
    assert not evidence.confirmed_rise or rose
