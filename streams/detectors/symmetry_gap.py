"""Symmetry-gap detector: E and C far apart, the same way round, for M consecutive windows.

A window counts towards a run when both sides are usable (employee side present and not
suppressed, at least ``min_customer_n`` customers) and |E − C| ≥ ``symmetry_gap_threshold``
with the same sign as the current window's gap. A run breaks on a window that does not
count, on a suppressed employee side, and on a hole in time (a window with no metrics at all:
no evidence either way). The alert fires once per run, on the window where the run reaches
exactly M; the run continuing does not re-fire, a new run (after a break) fires again.
Callers must pass at least ``settings.history_windows`` previous windows so the detector can
see where a run started.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from schemas.records import MirrorAlert
from streams.core.model import TeamWindowMetrics
from streams.detectors.base import DetectionSettings, Detector, baseline, change, usable_side


def _gap(window: TeamWindowMetrics, settings: DetectionSettings) -> float | None:
    employee = usable_side(window, "employee", settings)
    customer = usable_side(window, "customer", settings)
    if employee is None or customer is None:
        return None
    assert employee.index is not None and customer.index is not None  # usable_side
    return employee.index - customer.index


class SymmetryGapDetector(Detector):
    """|E − C| ≥ threshold for M consecutive windows: one warning per run."""

    name: ClassVar[str] = "symmetry_gap"
    version: ClassVar[str] = "1"

    def detect(
        self,
        current: TeamWindowMetrics,
        history: Sequence[TeamWindowMetrics],
        settings: DetectionSettings,
    ) -> list[MirrorAlert]:
        threshold = settings.symmetry_gap_threshold
        windows = settings.symmetry_gap_windows
        gap = _gap(current, settings)
        if gap is None or abs(gap) < threshold or gap == 0:
            return []
        employee_higher = gap > 0
        run = 1
        smallest = abs(gap)
        newer = current
        for older in reversed(history):
            if run > windows or older.window_end != newer.window_start:
                break
            older_gap = _gap(older, settings)
            if (
                older_gap is None
                or abs(older_gap) < threshold
                or (older_gap > 0) != employee_higher
            ):
                break
            run += 1
            smallest = min(smallest, abs(older_gap))
            newer = older
        if run != windows:
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
