"""Mirror-change detector: both sides' indices against their own normal, one alert per window.

| outcome            | employee index E          | customer index C          | severity |
|--------------------|---------------------------|---------------------------|----------|
| ``mirror_decline`` | falls                     | falls                     | critical |
| ``mirror_rise``    | rises                     | rises                     | info     |
| ``inner_warning``  | falls significantly       | no confirmed fall, no rise | warning |
| ``outer_warning``  | no confirmed fall, no rise | falls significantly      | warning  |

For the mirrors, one side moves significantly and the other at least confirms the move.
"Falls significantly" is either test of ``streams.detectors.control`` at its full bar: this
window against the team's quiet baseline (``z_crit``), or the EWMA chart of the last few
windows (``sequential_z_crit``: a sustained moderate fall). Only that full bar decides whether
a team-window alerts at all; once one side has passed it, the other side's move the same way at
``confirm_z_crit`` (one-sided 10 % by default) names the alert a mirror rather than a one-sided
warning. This costs no false alerts — the alert fires either way — and a mirror decline is no
longer reported as a one-sided warning because its smaller side missed a bar meant for
deciding whether to page at all.

The side without a significant move is called *steady* only when its interval rules out a
fall of ``min_effect`` (an equivalence test); otherwise the alert says it is *inconclusive*,
with its n and interval, and still fires: a significant fall on one side is news whether or
not the other side's silence is informative, and docs/statistics.md shows that holding it
back would cost most of the recall on small teams. Anything else (no significant move, a rise
on one side only, or opposite significant moves) produces no alert here; a lasting divergence
is the symmetry-gap detector's job. Nothing fires unless the current window has a usable
employee side (never a suppressed one) and at least ``min_customer_n`` customers, and both
sides have a baseline of ``min_history`` quiet windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from schemas.records import MirrorAlert
from streams.core.model import TeamWindowMetrics
from streams.detectors.base import DetectionSettings, Detector, paired_dimension, signed
from streams.detectors.control import SideEvidence, side_evidence


def _moved(label: str, side: SideEvidence) -> str:
    moved = side.strongest
    verb = "fell" if moved.direction == "down" else "rose"
    if moved is side.sequential:
        where = "above" if moved.direction == "up" else "below"
        return (
            f"{label} index has been {abs(moved.delta):.1f} points {where} its baseline over the "
            f"last {side.sequential_windows} windows (z = {moved.z:.1f}, n = {side.n})"
        )
    return f"{label} index {verb} {abs(moved.delta):.1f} points (z = {moved.z:.1f}, n = {side.n})"


def _other(label: str, side: SideEvidence, min_effect: float) -> str:
    """The side without a significant move: steady only when a fall of min_effect is ruled out."""
    low, high = side.interval
    if side.steady:
        return (
            f"{label} index held steady ({signed(side.single.delta)} points; a fall of "
            f"{min_effect:g} points is ruled out, n = {side.n})"
        )
    return (
        f"{label} index is inconclusive ({signed(side.single.delta)} points, 90% interval "
        f"{signed(low)} to {signed(high)}, n = {side.n}: a fall of {min_effect:g} points "
        "cannot be ruled out)"
    )


class MirrorChangeDetector(Detector):
    """E and C against their baselines: mirror_decline, mirror_rise, inner/outer warnings."""

    name: ClassVar[str] = "mirror_change"
    # 2: control-chart evidence (pooled spread, τ, EWMA chart) and the equivalence test.
    version: ClassVar[str] = "2"
    kinds: ClassVar[tuple[str, ...]] = (
        "mirror_decline",
        "mirror_rise",
        "inner_warning",
        "outer_warning",
    )

    def detect(
        self,
        current: TeamWindowMetrics,
        history: Sequence[TeamWindowMetrics],
        settings: DetectionSettings,
    ) -> list[MirrorAlert]:
        employee = side_evidence(current, history, "employee", settings)
        customer = side_evidence(current, history, "customer", settings)
        if employee is None or customer is None:
            return []
        team = current.team_id
        min_effect = settings.min_effect
        if (employee.fell and customer.fell_or_confirms) or (
            customer.fell and employee.fell_or_confirms
        ):
            kind, severity = "mirror_decline", "critical"
            dimension = paired_dimension(current, history, settings, direction="down")
            with_dimension = f", with {dimension} down on both sides" if dimension else ""
            message = (
                f"Team {team}: {_moved('employee', employee)} and "
                f"{_moved('customer', customer)} versus their baselines"
                f"{with_dimension}; both sides are moving together, so check for a shared cause."
            )
        elif (employee.rose and customer.rose_or_confirms) or (
            customer.rose and employee.rose_or_confirms
        ):
            kind, severity = "mirror_rise", "info"
            dimension = paired_dimension(current, history, settings, direction="up")
            with_dimension = f", with {dimension} up on both sides" if dimension else ""
            message = (
                f"Team {team}: {_moved('employee', employee)} and "
                f"{_moved('customer', customer)} versus their baselines"
                f"{with_dimension}; both sides are improving together, a good moment to say "
                "thank you."
            )
        elif employee.fell and not customer.rose:
            kind, severity = "inner_warning", "warning"
            dimension = paired_dimension(current, history, settings, direction="down")
            message = (
                f"Team {team}: {_moved('employee', employee)} versus its baseline, while the "
                f"{_other('customer', customer, min_effect)}; customers may follow, so look "
                "inside the team early."
            )
        elif customer.fell and not employee.rose:
            kind, severity = "outer_warning", "warning"
            dimension = paired_dimension(current, history, settings, direction="down")
            message = (
                f"Team {team}: {_moved('customer', customer)} versus its baseline, while the "
                f"{_other('employee', employee, min_effect)}; look at product or process first."
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
                customer_baseline=customer.baseline.value,
                customer_delta=customer.single.delta,
                customer_z=customer.single.z,
                employee_baseline=employee.baseline.value,
                employee_delta=employee.single.delta,
                employee_z=employee.single.z,
                evidence={
                    **customer.evidence(),
                    **employee.evidence(),
                    "min_effect": min_effect,
                    "z_crit": settings.z_crit,
                    "sequential_z_crit": settings.sequential_z_crit,
                },
            )
        ]


__all__ = ["MirrorChangeDetector"]
