"""Mirror-change detector: both sides' indices against their own baselines, one alert per window.

| outcome          | employee index E   | customer index C   | severity |
|------------------|--------------------|--------------------|----------|
| ``mirror_decline`` | falls significantly | falls significantly | critical |
| ``mirror_rise``    | rises significantly | rises significantly | info     |
| ``inner_warning``  | falls significantly | not significant     | warning  |
| ``outer_warning``  | not significant     | falls significantly | warning  |

Anything else (no significant move, a rise on one side only, or opposite significant moves)
produces no alert here; a lasting divergence is the symmetry-gap detector's job. Nothing fires
unless the current window has a usable employee side (never a suppressed one) and at least
``min_customer_n`` customers, and both sides have a baseline of ``min_history`` usable windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from schemas.records import MirrorAlert
from streams.core.model import SideMetrics, TeamWindowMetrics
from streams.detectors.base import (
    Baseline,
    Change,
    DetectionSettings,
    Detector,
    baseline,
    change,
    paired_dimension,
    signed,
    usable_side,
)


def _moved(label: str, moved: Change, n: int) -> str:
    verb = "fell" if moved.direction == "down" else "rose"
    return f"{label} index {verb} {abs(moved.delta):.1f} points (z = {moved.z:.1f}, n = {n})"


def _held(label: str, moved: Change, n: int) -> str:
    return f"{label} index held steady ({signed(moved.delta)} points, z = {moved.z:.1f}, n = {n})"


class MirrorChangeDetector(Detector):
    """E and C against their baselines: mirror_decline, mirror_rise, inner/outer warnings."""

    name: ClassVar[str] = "mirror_change"
    version: ClassVar[str] = "1"

    def detect(
        self,
        current: TeamWindowMetrics,
        history: Sequence[TeamWindowMetrics],
        settings: DetectionSettings,
    ) -> list[MirrorAlert]:
        employee = usable_side(current, "employee", settings)
        customer = usable_side(current, "customer", settings)
        if employee is None or customer is None:
            return []
        employee_base = baseline(history, "employee", settings)
        customer_base = baseline(history, "customer", settings)
        if employee_base is None or customer_base is None:
            return []
        employee_change = change(employee, employee_base, settings)
        customer_change = change(customer, customer_base, settings)

        team = current.team_id
        if employee_change.fell and customer_change.fell:
            kind, severity = "mirror_decline", "critical"
            dimension = paired_dimension(current, history, settings, direction="down")
            with_dimension = f", with {dimension} down on both sides" if dimension else ""
            message = (
                f"Team {team}: {_moved('employee', employee_change, employee.n)} and "
                f"{_moved('customer', customer_change, customer.n)} versus their baselines"
                f"{with_dimension}; both sides are moving together, so check for a shared cause."
            )
        elif employee_change.rose and customer_change.rose:
            kind, severity = "mirror_rise", "info"
            dimension = paired_dimension(current, history, settings, direction="up")
            with_dimension = f", with {dimension} up on both sides" if dimension else ""
            message = (
                f"Team {team}: {_moved('employee', employee_change, employee.n)} and "
                f"{_moved('customer', customer_change, customer.n)} versus their baselines"
                f"{with_dimension}; both sides are improving together, a good moment to say "
                "thank you."
            )
        elif employee_change.fell and not customer_change.significant:
            kind, severity = "inner_warning", "warning"
            dimension = paired_dimension(current, history, settings, direction="down")
            message = (
                f"Team {team}: {_moved('employee', employee_change, employee.n)} while "
                f"{_held('customer', customer_change, customer.n)} versus their baselines; "
                "customers may follow, so look inside the team early."
            )
        elif customer_change.fell and not employee_change.significant:
            kind, severity = "outer_warning", "warning"
            dimension = paired_dimension(current, history, settings, direction="down")
            message = (
                f"Team {team}: {_moved('customer', customer_change, customer.n)} while "
                f"{_held('employee', employee_change, employee.n)} versus their baselines; "
                "look at product or process first."
            )
        else:
            return []
        return [
            self.make_alert(
                current,
                kind=kind,
                severity=severity,
                message=message,
                dimension=dimension,
                customer_baseline=customer_base.value,
                customer_delta=customer_change.delta,
                customer_z=customer_change.z,
                employee_baseline=employee_base.value,
                employee_delta=employee_change.delta,
                employee_z=employee_change.z,
                evidence=_evidence(customer, customer_base, employee, employee_base, settings),
            )
        ]


def _evidence(
    customer: SideMetrics,
    customer_base: Baseline,
    employee: SideMetrics,
    employee_base: Baseline,
    settings: DetectionSettings,
) -> dict[str, float]:
    assert customer.index_se is not None and employee.index_se is not None  # usable_side
    return {
        "customer_index_se": customer.index_se,
        "customer_baseline_se": customer_base.se,
        "customer_baseline_windows": customer_base.n_windows,
        "employee_index_se": employee.index_se,
        "employee_baseline_se": employee_base.se,
        "employee_baseline_windows": employee_base.n_windows,
        "min_effect": settings.min_effect,
        "z_crit": settings.z_crit,
    }


__all__ = ["MirrorChangeDetector"]
