"""Control-chart evidence for one side of a team-window: how far it sits from the team's normal,
measured with all the uncertainty there is (pure, no I/O; docs/statistics.md has the formulas).

For the side's index x of the closing window and the team's previous *quiet* windows:

- **Sampling error** from respondents: the spread of respondent composites, pooled over the
  team's quiet windows and the current one (s²ₚ = Σ (nᵢ − 1)·sdᵢ² / Σ (nᵢ − 1)), so a window of
  six people is not judged on the spread of six answers alone. A window's SE is sₚ / √n.
- **Baseline** b: the EWMA or last-K mean of the newest quiet windows before the guard band
  (the r − 1 windows just before this one), with sampling variance Σ wᵢ²·seᵢ².
- **Normal week-to-week spread** τ² (control-chart logic): how far the team's own quiet
  windows (before the guard band) landed from the baseline that preceded each of them, beyond
  what sampling explains — τ̂² solves median(eⱼ² / (vⱼ + τ̂²)) = median of χ²₁ over those
  one-step errors (a median, so a slow change that never alerted cannot inflate it) — shrunk
  toward the prior ``between_window_sd``² with the weight of ``prior_windows`` windows:
  τ² = max(0, (c·τ̂² + ν₀·τ₀²) / (c + ν₀)). A short history leans on the prior; a long one on
  the team itself. Measuring τ on the very predictor the test uses makes it honest whether
  the team's level jitters or drifts.
- **Single window**: Δ = x − b, σ = √(se² + var_b + τ²), z = Δ / max(σ, se_floor).
- **Sequential** (EWMA chart): the deviations of the last r windows (this one included, those
  that already raised a change alert left out, as a CUSUM restarts after its signal) from the
  same baseline b, weighted λ, λ(1 − λ), … (newest first, normalised),
  D = Σ aⱼ (xⱼ − b), σ_D = √(Σ aⱼ² seⱼ² + var_b + τ²). τ² is not averaged down: a drift
  is shared by neighbouring windows, so r windows do not make it r times smaller.
  The chart counts only while the closing window itself is off normal in the same direction
  at the one-sided 5 % level (|z| ≥ ``CURRENT_WINDOW_Z``), so an ended problem does not keep
  paging.
- **Recovery**: after an episode (windows that raised change alerts), a move back toward the
  level before it is the episode ending, not a change — unless it also goes past that level
  (by ``min_effect``, at ``confirm_z_crit``).
- **Steady** only if the one-sided interval Δ − z_eq·σ rules out a fall of ``min_effect``
  (an equivalence test); otherwise a side without a significant move is *inconclusive*.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from streams.core.model import TeamWindowMetrics
from streams.detectors.base import (
    CHANGE_KINDS,
    Baseline,
    Change,
    DetectionSettings,
    Direction,
    Side,
    baseline_weights,
    usable_side,
)

# One-sided 95 %: the confidence of "held steady" (a fall of min_effect ruled out).
EQUIVALENCE_Z: Final = 1.645
# The chart counts only while the closing window itself is off normal in the chart's
# direction at the one-sided 5 % level: an EWMA remembers the windows before, and without this
# rule a problem that has ended would keep paging for a window or two after the team is back.
CURRENT_WINDOW_Z: Final = 1.645


@dataclass(frozen=True, slots=True)
class _Point:
    """One window's index for a side: value, respondents, composite sd (None if unknown)."""

    window_start: int
    value: float
    n: int
    sd: float | None
    own_se: float


@dataclass(frozen=True, slots=True)
class SideEvidence:
    """Everything the tests of one side found; the mirror detector reads it, alerts show it."""

    side: Side
    n: int
    value: float
    baseline: Baseline
    se: float  # sampling SE of the current window (pooled spread over √n)
    between_sd: float  # τ used
    between_errors: int  # c: the team's own one-step errors behind τ (0: the prior alone)
    prior_weight: float  # ν₀ / (c + ν₀)
    sigma: float  # √(se² + var_b + τ²)
    single: Change
    sequential: Change | None  # None when the chart is off or holds fewer than two windows
    sequential_windows: int
    steady: bool  # a fall of min_effect is ruled out (equivalence test)
    # The side moved by at least min_effect at the confirmation level (|z| ≥ confirm_z_crit,
    # either test): enough to name the kind once the other side has passed the full bar.
    confirmed_fall: bool = False
    confirmed_rise: bool = False

    @property
    def fell(self) -> bool:
        return self.single.fell or (self.sequential is not None and self.sequential.fell)

    @property
    def rose(self) -> bool:
        return self.single.rose or (self.sequential is not None and self.sequential.rose)

    @property
    def significant(self) -> bool:
        return self.fell or self.rose

    @property
    def fell_or_confirms(self) -> bool:
        return self.fell or self.confirmed_fall

    @property
    def rose_or_confirms(self) -> bool:
        return self.rose or self.confirmed_rise

    @property
    def strongest(self) -> Change:
        """The significant test (the single window first), else the single-window one."""
        if self.single.significant or self.sequential is None:
            return self.single
        return self.sequential if self.sequential.significant else self.single

    @property
    def interval(self) -> tuple[float, float]:
        """The 90 % interval of Δ, as (low, high): Δ ∓ z_eq·σ; each end is a one-sided 95 % bound,
        and the low end is what the equivalence test compares with −min_effect."""
        delta = self.single.delta
        return delta - EQUIVALENCE_Z * self.sigma, delta + EQUIVALENCE_Z * self.sigma

    def evidence(self) -> dict[str, float]:
        """Named figures for the alert's evidence block, prefixed by the side."""
        low, high = self.interval
        figures = {
            "index_se": self.se,
            "baseline_se": self.baseline.se,
            "baseline_windows": float(self.baseline.n_windows),
            "between_sd": self.between_sd,
            "between_sd_team_windows": float(self.between_errors),
            "between_sd_prior_weight": self.prior_weight,
            "sigma": self.sigma,
            "delta_low": low,
            "delta_high": high,
            "steady": float(self.steady),
            "confirmed_fall": float(self.confirmed_fall),
            # Neither moved, nor confirmed a move, nor shown steady: the data cannot tell.
            "inconclusive": float(
                not (self.significant or self.steady or self.confirmed_fall or self.confirmed_rise)
            ),
        }
        if self.sequential is not None:
            figures["sequential_delta"] = self.sequential.delta
            figures["sequential_z"] = self.sequential.z
            figures["sequential_windows"] = float(self.sequential_windows)
        return {f"{self.side}_{name}": value for name, value in figures.items()}


def _point(window: TeamWindowMetrics, side: Side, settings: DetectionSettings) -> _Point | None:
    metrics = usable_side(window, side, settings)
    if metrics is None:
        return None
    assert metrics.index is not None and metrics.index_se is not None  # usable_side
    n = metrics.index_n or metrics.n  # windows built by hand may not say index_n
    return _Point(window.window_start, metrics.index, n, metrics.index_sd, metrics.index_se)


def _quiet(window: TeamWindowMetrics) -> bool:
    return not CHANGE_KINDS.intersection(window.alert_kinds)


def _pooled_sd(points: Sequence[_Point]) -> float | None:
    """√(Σ (nᵢ − 1)·sdᵢ² / Σ (nᵢ − 1)) over the points that know their spread."""
    squares = degrees = 0.0
    for point in points:
        if point.sd is not None and point.n >= 2:
            squares += (point.n - 1) * point.sd**2
            degrees += point.n - 1
    return math.sqrt(squares / degrees) if degrees else None


def _se(point: _Point, pooled_sd: float | None) -> float:
    if pooled_sd is None or point.n < 1:
        return point.own_se
    return pooled_sd / math.sqrt(point.n)


def _baseline(
    points: Sequence[_Point], pooled_sd: float | None, settings: DetectionSettings
) -> Baseline | None:
    """EWMA / last-K baseline of the newest ``baseline_windows`` points, or None if too few."""
    used = list(points)[-settings.baseline_windows :]
    m = len(used)
    if m < settings.min_history or m == 0:
        return None
    weights = baseline_weights(m, settings)
    value = math.fsum(w * p.value for w, p in zip(weights, used, strict=True))
    variance = math.fsum((w * _se(p, pooled_sd)) ** 2 for w, p in zip(weights, used, strict=True))
    return Baseline(value=value, se=math.sqrt(variance), n_windows=m)


def _guarded(
    points: Sequence[_Point], newest_start: int, size: int, settings: DetectionSettings
) -> list[_Point]:
    """The points a baseline for the window at ``newest_start`` may use: no older than
    ``baseline_max_age_windows`` windows, and not among the ``sequential_windows − 1`` windows
    just before it (the guard band: the first windows of a slow change that has not alerted
    yet must not drag the baseline into the change they belong to)."""
    guard = settings.sequential_windows - 1
    oldest = newest_start - settings.baseline_max_age_windows * size
    newest = newest_start - guard * size
    return [p for p in points if oldest <= p.window_start < newest]


# Median of a χ² variable with one degree of freedom: a squared standard normal is below it
# half of the time.
_CHI2_1_MEDIAN: Final = 0.454936


def _robust_excess(errors: Sequence[tuple[float, float]]) -> float:
    """τ̂²: the excess variance that makes the median of eⱼ² / (vⱼ + τ²) the median of χ²₁.

    ``errors``: (eⱼ, vⱼ) one-step errors and their sampling variances. The median, not the
    mean, so that the windows of a change that never alerted (a slow decline, a drift) do not
    inflate the team's normal spread and hide the change itself.
    """

    def median_ratio(tau2: float) -> float:
        ratios = sorted(e * e / max(v + tau2, 1e-12) for e, v in errors)
        middle = len(ratios) // 2
        if len(ratios) % 2:
            return ratios[middle]
        return (ratios[middle - 1] + ratios[middle]) / 2

    if median_ratio(0.0) <= _CHI2_1_MEDIAN:
        return 0.0
    low, high = 0.0, max(e * e for e, _v in errors) / _CHI2_1_MEDIAN
    for _ in range(60):  # bisection on a decreasing function: 60 halvings reach float precision
        middle = (low + high) / 2
        if median_ratio(middle) > _CHI2_1_MEDIAN:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _between_variance(
    quiet: Sequence[_Point], pooled_sd: float | None, size: int, settings: DetectionSettings
) -> tuple[float, int]:
    """(τ², c): the team's excess one-step error variance, shrunk toward the prior."""
    errors: list[tuple[float, float]] = []
    for j, point in enumerate(quiet):
        base = _baseline(
            _guarded(quiet[:j], point.window_start, size, settings), pooled_sd, settings
        )
        if base is None:
            continue
        errors.append((point.value - base.value, _se(point, pooled_sd) ** 2 + base.se**2))
    count = len(errors)
    prior = settings.between_window_sd**2
    nu = settings.prior_windows
    own = _robust_excess(errors) if count else 0.0
    return ((count * own + nu * prior) / (count + nu) if count + nu else 0.0), count


def _change(delta: float, sigma: float, settings: DetectionSettings, z_crit: float) -> Change:
    z = delta / max(sigma, settings.se_floor)
    significant = abs(delta) >= settings.min_effect and abs(z) >= z_crit
    direction: Direction = "up" if delta > 0 else "down" if delta < 0 else "flat"
    return Change(delta=delta, z=z, significant=significant, direction=direction)


def _sequential(
    current: _Point,
    quiet: Sequence[_Point],
    base: Baseline,
    pooled_sd: float | None,
    tau2: float,
    size: int,
    settings: DetectionSettings,
) -> tuple[Change | None, int]:
    """EWMA of the deviations of the last r windows (the guard band and this one) from the
    baseline before them."""
    span = settings.sequential_windows
    if span < 2:
        return None, 1
    first_start = current.window_start - (span - 1) * size
    # Only quiet windows: those that already raised a change alert have paged, and like a CUSUM
    # that restarts after its signal, the chart accumulates only evidence nobody has acted on
    # yet, so the memory of an ended problem cannot page again once the team is back.
    recent = [point for point in quiet if point.window_start >= first_start]
    recent.append(current)
    if len(recent) < 2:
        return None, len(recent)
    lam = settings.sequential_lambda
    raw = [lam * (1 - lam) ** (len(recent) - 1 - i) for i in range(len(recent))]
    total = math.fsum(raw)
    weights = [w / total for w in raw]
    delta = math.fsum(w * (p.value - base.value) for w, p in zip(weights, recent, strict=True))
    sampling = math.fsum((w * _se(p, pooled_sd)) ** 2 for w, p in zip(weights, recent, strict=True))
    sigma = math.sqrt(sampling + base.se**2 + tau2)
    return _change(delta, sigma, settings, settings.sequential_z_crit), len(recent)


def side_evidence(
    current: TeamWindowMetrics,
    history: Sequence[TeamWindowMetrics],
    side: Side,
    settings: DetectionSettings,
) -> SideEvidence | None:
    """The control-chart evidence of one side of ``current``; None when the side is not usable
    or the team has fewer than ``min_history`` quiet windows to compare with."""
    now = _point(current, side, settings)
    if now is None:
        return None
    size = current.window_end - current.window_start
    quiet = [
        point
        for window in history
        if _quiet(window) and (point := _point(window, side, settings)) is not None
    ]
    pooled_sd = _pooled_sd([*quiet, now])
    base = _baseline(_guarded(quiet, now.window_start, size, settings), pooled_sd, settings)
    if base is None:
        return None
    # The normal spread is learned where the baseline is: before the guard band, whose windows
    # may belong to the very change under test.
    guard_start = now.window_start - (settings.sequential_windows - 1) * size
    before_guard = [point for point in quiet if point.window_start < guard_start]
    tau2, errors = _between_variance(before_guard, pooled_sd, size, settings)
    se = _se(now, pooled_sd)
    sigma = math.sqrt(se**2 + base.se**2 + tau2)
    single = _change(now.value - base.value, sigma, settings, settings.z_crit)
    sequential, span = _sequential(now, quiet, base, pooled_sd, tau2, size, settings)
    if (
        sequential is not None
        and sequential.significant
        and (sequential.z * single.z <= 0 or abs(single.z) < CURRENT_WINDOW_Z)
    ):
        sequential = _not_significant(sequential)
    recovery = _recovery(now, history, quiet, pooled_sd, (size, se**2 + tau2), settings)
    if recovery is not None:
        single = _not_significant(single) if single.direction == recovery else single
        if sequential is not None and sequential.direction == recovery:
            sequential = _not_significant(sequential)
    nu = settings.prior_windows
    confirmed = _confirmed(single, sequential, settings) - {recovery}
    steady = single.delta - EQUIVALENCE_Z * sigma > -settings.min_effect
    return SideEvidence(
        side=side,
        n=now.n,
        value=now.value,
        baseline=base,
        se=se,
        between_sd=math.sqrt(tau2),
        between_errors=errors,
        prior_weight=nu / (errors + nu) if errors + nu else 0.0,
        sigma=sigma,
        single=single,
        sequential=sequential,
        sequential_windows=span,
        steady=steady and "down" not in confirmed,
        confirmed_fall="down" in confirmed,
        confirmed_rise="up" in confirmed,
    )


def _not_significant(test: Change) -> Change:
    return Change(test.delta, test.z, False, test.direction)


_RISE_KINDS: Final = frozenset({"mirror_rise"})


def _recovery(
    now: _Point,
    history: Sequence[TeamWindowMetrics],
    quiet: Sequence[_Point],
    pooled_sd: float | None,
    spread: tuple[int, float],
    settings: DetectionSettings,
) -> Direction | None:
    """The direction in which this side is merely returning to where it was before the team's
    last episode, if it is: "up" after a fall, "down" after a rise, else None.

    A long episode becomes the team's normal once its windows age past the baseline, and a team
    that then recovers would look like a new change the other way (a decline ending as a
    ``mirror_rise``). A move back toward the level before the episode b_pre is a recovery —
    the episode's end, not news — unless it goes beyond that level too: by ``min_effect`` and
    with |x − b_pre| / √(se² + se_pre² + τ²) ≥ ``confirm_z_crit``. ``spread``: (window size,
    the current window's se² + τ²).
    """
    size, current_variance = spread
    episode = [window for window in history if not _quiet(window)]
    if not episode:
        return None
    last = episode[-1]
    if now.window_start - last.window_start > settings.baseline_max_age_windows * size:
        return None
    rose = bool(_RISE_KINDS.intersection(last.alert_kinds))
    start = last.window_start
    gap = settings.sequential_windows * size  # alerted windows this close are one episode
    for window in reversed(episode[:-1]):
        if bool(_RISE_KINDS.intersection(window.alert_kinds)) != rose:
            break
        if start - window.window_start > gap:
            break
        start = window.window_start
    oldest = start - settings.baseline_max_age_windows * size
    before = [point for point in quiet if oldest <= point.window_start < start]
    level = _baseline(before, pooled_sd, settings)
    if level is None:
        return None
    # How far the side has gone past b_pre in the recovery's direction (> 0: beyond it).
    past = level.value - now.value if rose else now.value - level.value
    sigma = max(math.sqrt(current_variance + level.se**2), settings.se_floor)
    if past >= settings.min_effect and past / sigma >= settings.confirm_z_crit:
        return None  # not only back: beyond where the team was before, which is news
    return "down" if rose else "up"


def _confirmed(
    single: Change, sequential: Change | None, settings: DetectionSettings
) -> set[Direction]:
    """The directions in which a test moved ≥ min_effect with |z| ≥ confirm_z_crit; the chart
    only while the closing window itself leans the same way."""
    found: set[Direction] = set()
    candidates = [single]
    if sequential is not None and sequential.z * single.z > 0:
        candidates.append(sequential)
    for test in candidates:
        if abs(test.delta) >= settings.min_effect and abs(test.z) >= settings.confirm_z_crit:
            found.add(test.direction)
    return found


__all__ = ["EQUIVALENCE_Z", "SideEvidence", "side_evidence"]
