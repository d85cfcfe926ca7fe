"""The built-in detectors on arbitrary team histories: they never raise, every number an alert
carries is finite (alerts are JSON), and no alert rests on a suppressed employee side."""

from __future__ import annotations

import math
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.model import SideMetrics, TeamWindowMetrics
from streams.detectors import DetectionSettings, MirrorChangeDetector, SymmetryGapDetector

WINDOW_MS = 1000
KINDS = ("mirror_decline", "mirror_rise", "inner_warning", "outer_warning", "symmetry_gap")


# A team around its own level with small moves, sometimes a jump (as in the current window of
# a real change) or a value anywhere on the scale; spreads of zero, unknown, or anything.
MOVES = st.sampled_from((0.0, 1.0, -1.0, 2.0, -2.0, -30.0, 25.0)) | st.floats(-100, 100)
JUMPS = st.sampled_from((-30.0, -20.0, 25.0, 0.0)) | MOVES
SPREADS = st.sampled_from((0.0, 0.5, 2.0, 10.0)) | st.floats(0, 60)


@st.composite
def sides(draw: st.DrawFn, level: float, moves: st.SearchStrategy[float]) -> SideMetrics:
    n = draw(st.sampled_from((100, 100, 100, 12, 3, 1, 0)) | st.integers(0, 500))
    index = None if draw(st.integers(0, 19)) == 0 else min(100.0, max(0.0, level + draw(moves)))
    sd = draw(st.sampled_from((2.0, 5.0)) | st.none() | SPREADS)
    se = None if index is None else draw(SPREADS)
    index_n = n if draw(st.integers(0, 3)) else draw(st.integers(0, n))
    return SideMetrics(n=n, index=index, index_se=se, index_n=index_n, index_sd=sd)


@st.composite
def windows(
    draw: st.DrawFn, i: int, levels: tuple[float, float], moves: st.SearchStrategy[float] = MOVES
) -> TeamWindowMetrics:
    suppressed = draw(st.integers(0, 6)) == 0
    return TeamWindowMetrics(
        team_id="team-a",
        window_start=i * WINDOW_MS,
        window_end=(i + 1) * WINDOW_MS,
        customer=draw(sides(levels[0], moves)),
        employee=None if suppressed else draw(sides(levels[1], moves)),
        employee_suppressed=suppressed,
        index_version="idx-v2",
        alert_kinds=()
        if draw(st.integers(0, 5))
        else tuple(draw(st.lists(st.sampled_from(KINDS), max_size=2, unique=True))),
    )


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[TeamWindowMetrics], TeamWindowMetrics]:
    # Windows in time order, with holes now and then.
    steps = draw(st.lists(st.sampled_from((1, 1, 1, 1, 2, 3)), min_size=6, max_size=16))
    levels = (draw(st.floats(0, 100)), draw(st.floats(0, 100)))
    starts, position = [], 0
    for step in steps:
        starts.append(position)
        position += step
    history = [draw(windows(i, levels)) for i in starts]
    return history, draw(windows(position, levels, JUMPS))


DETECTION = st.builds(
    DetectionSettings,
    baseline_mode=st.sampled_from(("ewma", "last_k")),
    z_crit=st.floats(0.5, 5),
    sequential_windows=st.integers(1, 5),
    sequential_z_crit=st.floats(0.5, 5),
    between_window_sd=st.floats(0, 20),
    prior_windows=st.floats(0, 20),
    min_effect=st.floats(0, 20),
    min_customer_n=st.sampled_from((10, 1, 50)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), DETECTION)
def test_detectors_never_raise_and_alerts_stay_finite_and_private(case, detection) -> None:  # type: ignore[no-untyped-def]
    history, current = case
    for detector in (MirrorChangeDetector(), SymmetryGapDetector()):
        for alert in detector.detect(current, history, detection):
            numbers = [
                alert.customer_index,
                alert.employee_index,
                alert.customer_baseline,
                alert.employee_baseline,
                alert.customer_delta,
                alert.employee_delta,
                alert.customer_z,
                alert.employee_z,
                *alert.evidence.values(),
            ]
            assert all(v is None or math.isfinite(v) for v in numbers), alert
            assert not current.employee_suppressed
            assert alert.message.startswith("Team team-a:")


def test_the_fuzzed_histories_do_raise_alerts() -> None:
    # The property above is only worth something if alerts fire on a fair share of examples
    # (about one in ten). Counted on 300 examples drawn the same way with a seeded generator:
    # Hypothesis mixes constants of whatever project modules are loaded into its draws, so its
    # "fixed" draw changes with the modules a test run happens to import.
    rng = random.Random(2026)
    fired = 0
    for _ in range(300):
        history, current = _random_case(rng)
        detection = DetectionSettings(
            baseline_mode=rng.choice(("ewma", "last_k")),
            z_crit=rng.uniform(0.5, 5),
            sequential_windows=rng.randint(1, 5),
            sequential_z_crit=rng.uniform(0.5, 5),
            between_window_sd=rng.uniform(0, 20),
            prior_windows=rng.uniform(0, 20),
            min_effect=rng.uniform(0, 20),
            min_customer_n=rng.choice((10, 1, 50)),
        )
        for detector in (MirrorChangeDetector(), SymmetryGapDetector()):
            fired += len(detector.detect(current, history, detection))
    assert fired >= 10


def _random_move(rng: random.Random, jumps: bool = False) -> float:
    fixed = (-30.0, -20.0, 25.0, 0.0) if jumps else (0.0, 1.0, -1.0, 2.0, -2.0, -30.0, 25.0)
    return rng.choice(fixed) if rng.random() < 0.5 else rng.uniform(-100, 100)


def _random_side(rng: random.Random, level: float, jumps: bool) -> SideMetrics:
    n = rng.choice((100, 100, 100, 12, 3, 1, 0)) if rng.random() < 0.5 else rng.randint(0, 500)
    index = (
        None if rng.randint(0, 19) == 0 else min(100.0, max(0.0, level + _random_move(rng, jumps)))
    )
    spread = rng.choice((0.0, 0.5, 2.0, 10.0)) if rng.random() < 0.5 else rng.uniform(0, 60)
    sd = rng.choice((2.0, 5.0, None, spread))
    index_n = n if rng.randint(0, 3) else rng.randint(0, n)
    return SideMetrics(
        n=n, index=index, index_se=None if index is None else spread, index_n=index_n, index_sd=sd
    )


def _random_window(
    rng: random.Random, i: int, levels: tuple[float, float], jumps: bool = False
) -> TeamWindowMetrics:
    suppressed = rng.randint(0, 6) == 0
    kinds = () if rng.randint(0, 5) else tuple(rng.sample(KINDS, rng.randint(0, 2)))
    return TeamWindowMetrics(
        team_id="team-a",
        window_start=i * WINDOW_MS,
        window_end=(i + 1) * WINDOW_MS,
        customer=_random_side(rng, levels[0], jumps),
        employee=None if suppressed else _random_side(rng, levels[1], jumps),
        employee_suppressed=suppressed,
        index_version="idx-v2",
        alert_kinds=kinds,
    )


def _random_case(rng: random.Random) -> tuple[list[TeamWindowMetrics], TeamWindowMetrics]:
    levels = (rng.uniform(0, 100), rng.uniform(0, 100))
    starts, position = [], 0
    for _ in range(rng.randint(6, 16)):
        starts.append(position)
        position += rng.choice((1, 1, 1, 1, 2, 3))
    history = [_random_window(rng, i, levels) for i in starts]
    return history, _random_window(rng, position, levels, jumps=True)
