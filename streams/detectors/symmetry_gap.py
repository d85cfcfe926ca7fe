"""Symmetry-gap detector: E and C far apart, the same way round, for M consecutive windows.

A window counts towards a run when both sides are usable (employee side present and not
suppressed, at least ``min_customer_n`` customers) and |E − C| ≥ ``symmetry_gap_threshold``
with the same sign as the current window's gap. A run breaks on a window that does not
count, on a suppressed employee side, and on a hole in time (a window with no metrics at all:
no evidence either way). The alert fires once per run, on the window where the run reaches
exactly M; the run continuing does not re-fire, a new run (after a break) fires again.
Noise alone must not make a run: the mean |E − C| over the run must stay above the threshold
beyond its uncertainty (mean − 1.645·SE_mean ≥ threshold, SE_mean = √(Σ (se_E² + se_C²)) / M,
a one-sided 95 % bound), so a team whose sides sit just under the threshold is not paged when
sampling noise lifts three windows in a row over it. A run that overlaps a change episode (a
window of the run already raised a decline, rise or warning) is that episode's gap, already
paged: it raises no second alert, as an inhibition rule would in Alertmanager.
Callers must pass at least ``settings.history_windows`` previous windows so the detector can
see where a run started.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from schemas.records import MirrorAlert
from streams.core.model import TeamWindowMetrics
from streams.detectors.base import (
    CHANGE_KINDS,
    DetectionSettings,
    Detector,
    baseline,
    change,
    usable_side,
)

# One-sided 95 %: how sure the run's mean gap must be to sit above the threshold.
GAP_BOUND_Z = 1.645


def _gap(window: TeamWindowMetrics, settings: DetectionSettings) -> tuple[float, float] | None:
    """(E − C, its sampling variance) of a window, or None when a side is not usable."""
    employee = usable_side(window, "employee", settings)
    customer = usable_side(window, "customer", settings)
    if employee is None or customer is None:
        return None
    assert employee.index is not None and customer.index is not None  # usable_side
    assert employee.index_se is not None and customer.index_se is not None
    return employee.index - customer.index, employee.index_se**2 + customer.index_se**2


class SymmetryGapDetector(Detector):
    """|E − C| ≥ threshold for M consecutive windows: one warning per run."""

    name: ClassVar[str] = "symmetry_gap"
    # 2: the run's mean gap must clear the threshold beyond its sampling uncertainty, and a run
    # inside a change episode is that episode's.
    version: ClassVar[str] = "2"

    def detect(
        self,
        current: TeamWindowMetrics,
        history: Sequence[TeamWindowMetrics],
        settings: DetectionSettings,
    ) -> list[MirrorAlert]:
        threshold = settings.symmetry_gap_threshold
        windows = settings.symmetry_gap_windows
        measured = _gap(current, settings)
        if measured is None or abs(measured[0]) < threshold or measured[0] == 0:
            return []
        gap, variance = measured
        employee_higher = gap > 0
        run = 1
        smallest = total = abs(gap)
        newer = current
        in_episode = False
        for older in reversed(history):
            if run > windows or older.window_end != newer.window_start:
                break
            older_measured = _gap(older, settings)
            if older_measured is None:
                break
            older_gap, older_variance = older_measured
            if abs(older_gap) < threshold or (older_gap > 0) != employee_higher:
                break
            run += 1
            in_episode = in_episode or bool(CHANGE_KINDS.intersection(older.alert_kinds))
            smallest = min(smallest, abs(older_gap))
            total += abs(older_gap)
            variance += older_variance
            newer = older
        if run != windows or in_episode:
            return []
        mean_gap = total / run
        mean_se = math.sqrt(variance) / run
        if mean_gap - GAP_BOUND_Z * mean_se < threshold:
            return []

        employee = current.employee
        assert employee is not None and employee.index is not None  # _gap checked
        customer = current.customer
        assert customer.index is not None
        evidence: dict[str, float] = {
            "gap": gap,
            "gap_threshold": threshold,
            "run_windows": run,
            "smallest_gap_in_run": smallest,
            "mean_gap_in_run": mean_gap,
            "mean_gap_se": mean_se,
            "mean_gap_lower_bound": mean_gap - GAP_BOUND_Z * mean_se,
        }
        figures: dict[str, float | None] = {}
        for side, metrics in (("customer", customer), ("employee", employee)):
            base = baseline(history, side, settings)  # type: ignore[arg-type]
            if base is None:
                continue
            moved = change(metrics, base, settings)
            figures[f"{side}_baseline"] = base.value
            figures[f"{side}_delta"] = moved.delta
            figures[f"{side}_z"] = moved.z
            evidence[f"{side}_baseline_se"] = base.se
            evidence[f"{side}_baseline_windows"] = base.n_windows
        assert customer.index_se is not None and employee.index_se is not None
        evidence["customer_index_se"] = customer.index_se
        evidence["employee_index_se"] = employee.index_se
        higher, lower = ("employee", "customer") if employee_higher else ("customer", "employee")
        message = (
            f"Team {current.team_id}: employee index {employee.index:.1f} (n = {employee.n}) and "
            f"customer index {customer.index:.1f} (n = {customer.n}) have been at least "
            f"{threshold:g} points apart for {run} consecutive windows, the {higher} side above "
            f"the {lower} side each time; the two sides tell different stories, worth a look at "
            "both."
        )
        return [
            self.make_alert(
                current,
                kind="symmetry_gap",
                severity="warning",
                message=message,
                evidence=evidence,
                **figures,  # type: ignore[arg-type]
            )
        ]


__all__ = ["SymmetryGapDetector"]
