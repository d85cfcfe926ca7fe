"""Detectors on constructed team-window histories: what fires, what stays quiet, what is hidden."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import astuple
from importlib.metadata import EntryPoint

import pytest

from schemas.records import MirrorAlert
from streams.core.model import SideMetrics, TeamWindowMetrics
from streams.detectors import (
    BUILTIN_DETECTORS,
    Baseline,
    DetectionSettings,
    Detector,
    DetectorLoadError,
    MirrorChangeDetector,
    SymmetryGapDetector,
    UnknownDetectorError,
    available_detectors,
    baseline,
    change,
    load_detectors,
    make_alert_id,
    paired_dimension,
)
from streams.detectors import registry as registry_module
from streams.errors import ConfigError

# The arithmetic below is written for z_crit = 2 on sampling error alone: no prior week-to-week
# spread and no EWMA chart (tests/unit/test_control_chart.py covers those).
SETTINGS = DetectionSettings(z_crit=2.0, between_window_sd=0.0, sequential_windows=1)
WINDOW_MS = 1000
# Mirrored pairs: (employee component, customer component).
PAIRS = {
    "trust": ("trust", "trust"),
    "recognition/listened": ("recognition", "listened"),
    "ambiance/courtesy": ("ambiance", "courtesy"),
}


def side(
    index: float, n: int, se: float = 2.0, components: Mapping[str, float] | None = None
) -> SideMetrics:
    components = dict(components or {})
    return SideMetrics(
        n=n,
        index=index,
        index_se=se,
        components=components,
        component_se={name: se for name in components},
        component_n={name: n for name in components},
    )


def tw(
    i: int,
    customer: float,
    employee: float | None,
    *,
    customer_n: int = 100,
    employee_n: int = 12,
    customer_components: Mapping[str, float] | None = None,
    employee_components: Mapping[str, float] | None = None,
    team_id: str = "team-a",
) -> TeamWindowMetrics:
    """Window number i of a team; ``employee=None`` means a suppressed employee side."""
    return TeamWindowMetrics(
        team_id=team_id,
        window_start=i * WINDOW_MS,
        window_end=(i + 1) * WINDOW_MS,
        customer=side(customer, customer_n, components=customer_components),
        employee=None
        if employee is None
        else side(employee, employee_n, components=employee_components),
        employee_suppressed=employee is None,
        index_version="idx-v1",
    )


def steady_history(count: int = 6, value: float = 70.0) -> list[TeamWindowMetrics]:
    return [tw(i, value, value) for i in range(count)]


def detect(
    detector: Detector, history: Sequence[TeamWindowMetrics], current: TeamWindowMetrics
) -> list[MirrorAlert]:
    return detector.detect(current, history, SETTINGS)


# Claims of causality. ("check for a shared cause" is advice, not a claim.)
CAUSAL = re.compile(
    r"\b(because|caused|causes|causing|due to|leads? to|driven by|drives|results? in)\b",
    re.IGNORECASE,
)


def check_message(alert: MirrorAlert) -> None:
    assert alert.message.startswith(f"Team {alert.team_id}:")
    assert alert.message.endswith(".")
    assert ". " not in alert.message  # one sentence
    assert not CAUSAL.search(alert.message)


# -- statistics helpers -----------------------------------------------------------------------
def test_last_k_baseline_is_the_mean_with_combined_se() -> None:
    # 60 (se 3), 70 (se 4), 80 (se 5): mean 70; SE = sqrt(9 + 16 + 25) / 3 = sqrt(50) / 3 = 2.3570.
    history = [
        TeamWindowMetrics("t", i, i + 1, side(v, 100, se), None, True, "idx-v1")
        for i, (v, se) in enumerate([(60, 3), (70, 4), (80, 5)])
    ]
    settings = DetectionSettings(baseline_mode="last_k")
    base = baseline(history, "customer", settings)
    assert base is not None
    assert astuple(base) == pytest.approx((70.0, 2.357023, 3))
    # K = 2: only the newest two windows, (70 + 80) / 2 = 75.
    short = DetectionSettings(baseline_mode="last_k", baseline_windows=2)
    assert baseline(history, "customer", short).value == pytest.approx(75.0)  # type: ignore[union-attr]


def test_ewma_baseline_and_its_se() -> None:
    # alpha 0.5 over 60, 70, 80: b = 60; 0.5 * 70 + 0.5 * 60 = 65; 0.5 * 80 + 0.5 * 65 = 72.5.
    # Window weights 0.25, 0.25, 0.5: SE = sqrt(0.0625 * 9 + 0.0625 * 16 + 0.25 * 25)
    #   = sqrt(7.8125) = 2.7951.
    history = [
        TeamWindowMetrics("t", i, i + 1, side(v, 100, se), None, True, "idx-v1")
        for i, (v, se) in enumerate([(60, 3), (70, 4), (80, 5)])
    ]
    base = baseline(history, "customer", DetectionSettings(ewma_alpha=0.5))
    assert base is not None
    assert astuple(base) == pytest.approx((72.5, 2.795085, 3))


def test_baseline_skips_suppressed_and_small_windows_and_needs_min_history() -> None:
    history = [tw(0, 70, 70), tw(1, 70, None), tw(2, 70, 70, customer_n=5)]
    # Employee: window 1 is suppressed, so windows 0 and 2.
    employee_base = baseline(history, "employee", SETTINGS)
    assert employee_base is not None and employee_base.n_windows == 2
    # Customer: window 2 has n = 5 < min_customer_n, so windows 0 and 1.
    customer_base = baseline(history, "customer", SETTINGS)
    assert customer_base is not None and customer_base.n_windows == 2
    assert baseline(history, "customer", DetectionSettings(min_history=3)) is None
    assert baseline(history[:1], "customer", SETTINGS) is None


def test_change_z_and_significance() -> None:
    base = Baseline(value=70.0, se=4.0, n_windows=6)
    # delta 10, z = 10 / sqrt(3^2 + 4^2) = 10 / 5 = 2.0: significant (|Δ| >= 5, |z| >= 2).
    moved = change(side(80.0, 100, se=3.0), base, SETTINGS)
    assert (moved.delta, moved.z, moved.significant, moved.direction) == (10.0, 2.0, True, "up")
    # delta -4.9 < min_effect: not significant whatever z.
    small = change(side(65.1, 100, se=0.1), base, SETTINGS)
    assert small.direction == "down" and not small.significant
    # delta -6, z = -6 / 5 = -1.2: not significant.
    noisy = change(side(64.0, 100, se=3.0), base, SETTINGS)
    assert noisy.z == pytest.approx(-1.2) and not noisy.significant
    # Zero standard errors: the se_floor (1.0) keeps z finite: z = -6 / 1.
    exact = change(side(64.0, 100, se=0.0), Baseline(70.0, 0.0, 3), SETTINGS)
    assert exact.z == pytest.approx(-6.0) and exact.significant


def test_settings_validation() -> None:
    for bad in (
        {"baseline_mode": "median"},
        {"ewma_alpha": 0.0},
        {"min_employee_n": 2},
        {"min_history": 7},
        {"se_floor": 0.0},
        {"min_effect": -1.0},
    ):
        with pytest.raises(ValueError):
            DetectionSettings(**bad)  # type: ignore[arg-type]
    # The control chart's look-back is the longest: the baseline age limit (8) + the chart's
    # windows (1 here) + min_history (2) + 2 = 13 windows of history.
    assert SETTINGS.history_windows == 13
    assert DetectionSettings(symmetry_gap_windows=20).history_windows == 20


# -- alert ids ----------------------------------------------------------------------------------
def test_alert_id_is_deterministic_and_distinguishes_its_inputs() -> None:
    alert_id = make_alert_id("team-a", 1000, "mirror_decline", "1")
    assert alert_id == make_alert_id("team-a", 1000, "mirror_decline", "1")
    assert re.fullmatch(r"[0-9a-f]{32}", alert_id)
    others = {
        make_alert_id("team-b", 1000, "mirror_decline", "1"),
        make_alert_id("team-a", 2000, "mirror_decline", "1"),
        make_alert_id("team-a", 1000, "mirror_rise", "1"),
        make_alert_id("team-a", 1000, "mirror_decline", "2"),
    }
    assert alert_id not in others and len(others) == 4


def test_same_inputs_give_identical_alerts() -> None:
    history = steady_history()
    current = tw(6, 60, 58)
    first = detect(MirrorChangeDetector(), history, current)
    second = detect(MirrorChangeDetector(), list(history), current)
    assert first == second and len(first) == 1
    assert first[0].created_at == current.window_end  # not the wall clock


# -- mirror change ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("customer", "employee", "kind", "severity"),
    [
        (60.0, 58.0, "mirror_decline", "critical"),
        (80.0, 82.0, "mirror_rise", "info"),
        (70.5, 60.0, "inner_warning", "warning"),
        (60.0, 70.5, "outer_warning", "warning"),
    ],
)
def test_mirror_change_kinds(customer: float, employee: float, kind: str, severity: str) -> None:
    history = steady_history()
    current = tw(6, customer, employee)
    [alert] = detect(MirrorChangeDetector(), history, current)
    assert (alert.kind, alert.severity) == (kind, severity)
    assert alert.detector == "mirror_change" and alert.detector_version == "2"
    assert alert.alert_id == make_alert_id("team-a", 6000, kind, "2")
    assert (alert.window_start, alert.window_end) == (6000, 7000)
    # Evidence: steady history of 70 gives baselines of exactly 70.
    assert alert.customer_n == 100 and alert.employee_n == 12
    assert alert.customer_index == customer and alert.employee_index == employee
    assert alert.customer_baseline == pytest.approx(70.0)
    assert alert.employee_baseline == pytest.approx(70.0)
    assert alert.customer_delta == pytest.approx(customer - 70.0)
    assert alert.employee_delta == pytest.approx(employee - 70.0)
    assert alert.customer_z is not None and alert.employee_z is not None
    assert alert.evidence["customer_baseline_windows"] == 6
    assert alert.evidence["employee_index_se"] == 2.0
    check_message(alert)


def test_decline_message_states_the_evidence() -> None:
    [alert] = detect(MirrorChangeDetector(), steady_history(), tw(6, 60, 58))
    assert "employee index fell 12.0 points" in alert.message
    assert "customer index fell 10.0 points" in alert.message
    assert "n = 12" in alert.message and "n = 100" in alert.message
    assert "shared cause" in alert.message


@pytest.mark.parametrize(
    ("customer", "employee"),
    [
        (70.5, 69.0),  # steady
        (73.0, 66.0),  # moves below min_effect
        (80.0, 60.0),  # opposite significant moves: not a mirror alert
        (70.0, 76.0),  # one side rises, the other stays: nothing
    ],
)
def test_mirror_change_stays_quiet(customer: float, employee: float) -> None:
    assert detect(MirrorChangeDetector(), steady_history(), tw(6, customer, employee)) == []


def test_mirror_change_needs_history_sample_sizes_and_a_visible_employee_side() -> None:
    detector = MirrorChangeDetector()
    assert detect(detector, steady_history(1), tw(1, 60, 58)) == []  # min_history = 2
    assert detect(detector, steady_history(2), tw(2, 60, 58)) != []
    assert detect(detector, steady_history(), tw(6, 60, 58, customer_n=9)) == []
    assert detect(detector, steady_history(), tw(6, 60, None)) == []
    suppressed_history = [tw(i, 70, None) for i in range(6)]
    assert detect(detector, suppressed_history, tw(6, 60, 58)) == []


def test_noisy_windows_are_not_significant() -> None:
    history = steady_history()
    current = TeamWindowMetrics(
        "team-a", 6000, 7000, side(60, 100, se=8.0), side(58, 12, se=8.0), False, "idx-v1"
    )
    # z = -10 / sqrt(64 + ~1.9) ≈ -1.2: no alert.
    assert detect(MirrorChangeDetector(), history, current) == []


# -- paired dimension ---------------------------------------------------------------------------
def components(values: Mapping[str, float], employee: bool) -> dict[str, float]:
    return {PAIRS[name][0 if employee else 1]: value for name, value in values.items()}


def window_with_pairs(
    i: int, index: float, employee_pairs: Mapping[str, float], customer_pairs: Mapping[str, float]
) -> TeamWindowMetrics:
    return tw(
        i,
        index,
        index,
        customer_components=components(customer_pairs, employee=False),
        employee_components=components(employee_pairs, employee=True),
    )


STEADY_PAIRS = {"trust": 70.0, "recognition/listened": 70.0, "ambiance/courtesy": 70.0}


def test_paired_dimension_is_the_largest_fall_on_both_sides() -> None:
    history = [window_with_pairs(i, 70, STEADY_PAIRS, STEADY_PAIRS) for i in range(6)]
    current = window_with_pairs(
        6,
        58,
        {"trust": 55.0, "recognition/listened": 50.0, "ambiance/courtesy": 40.0},
        {"trust": 55.0, "recognition/listened": 58.0, "ambiance/courtesy": 69.0},
    )
    # trust fell 15 + 15 = 30, recognition/listened 20 + 12 = 32: the larger wins.
    # ambiance fell 30 inside but courtesy only 1 outside: not on both sides.
    assert paired_dimension(current, history, SETTINGS) == "recognition/listened"
    [alert] = detect(MirrorChangeDetector(), history, current)
    assert alert.kind == "mirror_decline"
    assert alert.dimension == "recognition/listened"
    assert "with recognition/listened down on both sides" in alert.message
    check_message(alert)


def test_paired_dimension_shared_name_and_none() -> None:
    history = [window_with_pairs(i, 70, STEADY_PAIRS, STEADY_PAIRS) for i in range(6)]
    trust_only = window_with_pairs(
        6, 60, {**STEADY_PAIRS, "trust": 50.0}, {**STEADY_PAIRS, "trust": 60.0}
    )
    assert paired_dimension(trust_only, history, SETTINGS) == "trust"
    assert paired_dimension(trust_only, history, SETTINGS, direction="up") is None
    nothing = window_with_pairs(6, 60, {**STEADY_PAIRS, "trust": 50.0}, STEADY_PAIRS)
    assert paired_dimension(nothing, history, SETTINGS) is None
    # A suppressed employee side never names a dimension.
    hidden = tw(6, 60, None, customer_components={"trust": 40.0})
    assert paired_dimension(hidden, history, SETTINGS) is None


def test_mirror_rise_names_a_dimension_that_rose() -> None:
    history = [window_with_pairs(i, 70, STEADY_PAIRS, STEADY_PAIRS) for i in range(6)]
    up = {**STEADY_PAIRS, "ambiance/courtesy": 85.0}
    [alert] = detect(MirrorChangeDetector(), history, window_with_pairs(6, 80, up, up))
    assert alert.kind == "mirror_rise"
    assert alert.dimension == "ambiance/courtesy"
    assert "thank you" in alert.message


# -- symmetry gap -------------------------------------------------------------------------------
def gap_window(i: int, gap: float | None, customer: float = 50.0) -> TeamWindowMetrics:
    """E − C = gap; None: a suppressed employee side."""
    return tw(i, customer, None if gap is None else customer + gap)


def run_sequence(gaps: Sequence[float | None]) -> list[list[str]]:
    """Feed windows one by one like the engine; the alert kinds of each window."""
    detector = SymmetryGapDetector()
    history: list[TeamWindowMetrics] = []
    fired = []
    for i, gap in enumerate(gaps):
        current = gap_window(i, gap)
        fired.append([a.kind for a in detector.detect(current, history, SETTINGS)])
        history = (history + [current])[-SETTINGS.history_windows :]
    return fired


def test_symmetry_gap_fires_once_when_the_run_reaches_m() -> None:
    # threshold 25, M = 3: windows 2 (3rd of the run) fires; 3 and 4 extend the run, quiet.
    assert run_sequence([30, 30, 30, 30, 30]) == [[], [], ["symmetry_gap"], [], []]


def test_symmetry_gap_fires_again_on_a_new_run() -> None:
    fired = run_sequence([30, 30, 30, 10, 30, 30, 30, 30])
    assert fired == [[], [], ["symmetry_gap"], [], [], [], ["symmetry_gap"], []]


def test_symmetry_gap_quiet_cases() -> None:
    assert run_sequence([20, 20, 20, 20]) == [[]] * 4  # under the threshold
    assert run_sequence([30, None, 30, 30]) == [[]] * 4  # suppressed window breaks the run
    assert run_sequence([30, -30, 30, -30]) == [[]] * 4  # sides swap: not one run
    # A hole in time (window 2 missing) breaks the run too.
    detector = SymmetryGapDetector()
    history = [gap_window(0, 30), gap_window(1, 30)]
    assert detector.detect(gap_window(3, 30), history, SETTINGS) == []
    assert detector.detect(gap_window(2, 30), history, SETTINGS) != []


def test_symmetry_gap_needs_a_run_whose_mean_clears_the_threshold_beyond_noise() -> None:
    # Every window has SE 2 on both sides: a window's gap has variance 8, the mean of a run of
    # 3 has SE sqrt(24) / 3 = 1.63299 and its one-sided 95 % bound is mean - 2.68627.
    # Gaps 26, 26, 26: bound 23.31 < 25, noise could lift a team just under 25 this far: quiet.
    # Gaps 28, 28, 28: bound 25.31 >= 25: fires.
    assert run_sequence([26, 26, 26]) == [[], [], []]
    assert run_sequence([28, 28, 28]) == [[], [], ["symmetry_gap"]]
    history = [gap_window(0, 28), gap_window(1, 28)]
    [alert] = SymmetryGapDetector().detect(gap_window(2, 28), history, SETTINGS)
    assert alert.evidence["mean_gap_se"] == pytest.approx(math.sqrt(24) / 3)
    assert alert.evidence["mean_gap_lower_bound"] == pytest.approx(28 - 1.645 * math.sqrt(24) / 3)


def test_symmetry_gap_inside_a_change_episode_is_not_paged_again() -> None:
    # The run's first window already raised an inner warning: the gap is that episode's.
    history = [dataclasses.replace(gap_window(0, 30), alert_kinds=("inner_warning",))]
    history.append(gap_window(1, 30))
    assert SymmetryGapDetector().detect(gap_window(2, 30), history, SETTINGS) == []
    # A symmetry-gap alert of its own is not a change episode.
    history[0] = dataclasses.replace(gap_window(0, 30), alert_kinds=("symmetry_gap",))
    assert SymmetryGapDetector().detect(gap_window(2, 30), history, SETTINGS) != []


def test_symmetry_gap_alert_evidence() -> None:
    history = [gap_window(0, 30), gap_window(1, 40)]
    [alert] = SymmetryGapDetector().detect(gap_window(2, -30 + 60), history, SETTINGS)
    assert (alert.kind, alert.severity, alert.detector) == (
        "symmetry_gap",
        "warning",
        "symmetry_gap",
    )
    assert alert.evidence["gap"] == 30.0
    assert alert.evidence["run_windows"] == 3
    assert alert.evidence["smallest_gap_in_run"] == 30.0
    assert alert.evidence["gap_threshold"] == 25.0
    assert alert.customer_index == 50.0 and alert.employee_index == 80.0
    # Baselines from the two previous windows (EWMA, alpha 0.3): customer 50;
    # employee 0.7 * 80 + 0.3 * 90 = 83.
    assert alert.customer_baseline == pytest.approx(50.0)
    assert alert.employee_baseline == pytest.approx(83.0)
    assert alert.employee_delta == pytest.approx(-3.0)
    assert alert.created_at == alert.window_end
    assert "employee side above the customer side" in alert.message
    check_message(alert)


# -- privacy ------------------------------------------------------------------------------------
def test_no_detector_reveals_a_suppressed_employee_side() -> None:
    histories = [steady_history(), [gap_window(i, 30) for i in range(6)]]
    for history in histories:
        for current in (tw(6, 40, None), tw(6, 90, None), gap_window(6, None)):
            for cls in BUILTIN_DETECTORS.values():
                assert cls().detect(current, history, SETTINGS) == []


def test_make_alert_refuses_employee_figures_on_a_suppressed_window() -> None:
    detector = MirrorChangeDetector()
    current = tw(6, 60, None)
    kind = "mirror_rise"
    with pytest.raises(ValueError, match="suppressed"):
        detector.make_alert(current, kind=kind, severity="info", message="x.", employee_delta=-3.0)
    with pytest.raises(ValueError, match="suppressed"):
        detector.make_alert(
            current, kind=kind, severity="info", message="x.", evidence={"employee_gap": 1.0}
        )
    alert = detector.make_alert(current, kind=kind, severity="info", message="x.")
    assert alert.employee_n is None and alert.employee_index is None


def test_make_alert_refuses_a_kind_the_detector_does_not_declare() -> None:
    # Readers of the alerts topic refuse undeclared kinds: the author must hear it first.
    with pytest.raises(ValueError, match="kind 'custom' is not declared"):
        MirrorChangeDetector().make_alert(
            tw(6, 60, 12), kind="custom", severity="info", message="x."
        )


# -- registry -----------------------------------------------------------------------------------
def fake_entry_points(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    points = [EntryPoint(name, value, "miroir.detectors") for name, value in values.items()]
    monkeypatch.setattr(
        registry_module, "entry_points", lambda group: [p for p in points if p.group == group]
    )


def test_load_builtin_detectors_in_order() -> None:
    detectors = load_detectors(["symmetry_gap", "mirror_change"])
    assert [type(d) for d in detectors] == [SymmetryGapDetector, MirrorChangeDetector]
    assert available_detectors()["mirror_change"] == "streams.detectors.mirror:MirrorChangeDetector"


def test_unknown_detector_lists_the_available_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, third_party="streams.detectors.mirror:MirrorChangeDetector")
    with pytest.raises(
        ValueError,
        match="unknown detector 'nope'; available: mirror_change, symmetry_gap, third_party",
    ) as info:
        load_detectors(["nope"])
    assert isinstance(info.value, ConfigError) and isinstance(info.value, UnknownDetectorError)
    with pytest.raises(ValueError, match="listed twice"):
        load_detectors(["mirror_change", "mirror_change"])
    with pytest.raises(TypeError):
        load_detectors("mirror_change")


def test_third_party_detectors_come_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(
        monkeypatch,
        extra="streams.detectors.symmetry_gap:SymmetryGapDetector",
        mirror_change="collections:OrderedDict",  # a built-in name always wins
    )
    assert available_detectors() == {
        "mirror_change": "streams.detectors.mirror:MirrorChangeDetector",
        "symmetry_gap": "streams.detectors.symmetry_gap:SymmetryGapDetector",
        "extra": "streams.detectors.symmetry_gap:SymmetryGapDetector",
    }
    [extra, builtin] = load_detectors(["extra", "mirror_change"])
    assert isinstance(extra, SymmetryGapDetector) and isinstance(builtin, MirrorChangeDetector)


@pytest.mark.parametrize("value", ["collections:OrderedDict", "miroir_no_such_module_xyz:Thing"])
def test_broken_plugins_are_reported(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    fake_entry_points(monkeypatch, broken=value)
    with pytest.raises(DetectorLoadError, match="broken"):
        load_detectors(["broken"])


def test_alerting_windows_stay_out_of_the_baseline() -> None:
    quiet = [tw(i, 70.0, 70.0) for i in range(4)]
    declining = dataclasses.replace(tw(4, 50.0, 50.0), alert_kinds=("mirror_decline",))
    base = baseline([*quiet, declining], "employee", SETTINGS)
    assert base is not None and base.value == pytest.approx(70.0) and base.n_windows == 4
    # A symmetry gap is not a change of level: that window still counts.
    gap = dataclasses.replace(tw(4, 70.0, 70.0), alert_kinds=("symmetry_gap",))
    counted = baseline([*quiet, gap], "employee", SETTINGS)
    assert counted is not None and counted.n_windows == 5


def test_a_lasting_shift_becomes_the_new_normal_after_the_age_limit() -> None:
    settings = DetectionSettings(baseline_max_age_windows=3)
    history = [tw(i, 70.0, 70.0) for i in range(3)] + [
        dataclasses.replace(tw(i, 50.0, 50.0), alert_kinds=("mirror_decline",)) for i in range(3, 6)
    ]
    assert baseline(history, "employee", settings) is None  # only episode windows are recent
