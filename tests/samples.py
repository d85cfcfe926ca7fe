"""Sample records shared by several test modules."""

from __future__ import annotations

from schemas.records import MirrorAlert


def sample_alert(**changes: object) -> MirrorAlert:
    """A fully populated critical alert; keyword arguments override fields."""
    values: dict[str, object] = {
        "alert_id": "a1" * 16,  # 32 lowercase hex digits, as Miroir makes them
        "team_id": "team-lyon",
        "window_start": 1_700_000_000_000,
        "window_end": 1_700_086_400_000,
        "kind": "mirror_decline",
        "severity": "critical",
        "detector": "mirror_change",
        "detector_version": "1",
        "message": "Employees and customers of team-lyon both report less trust than usual.",
        "created_at": 1_700_086_401_000,
        "dimension": "trust",
        "customer_n": 120,
        "employee_n": 14,
        "customer_index": 61.5,
        "employee_index": 48.0,
        "customer_baseline": 70.25,
        "employee_baseline": 60.0,
        "customer_delta": -8.75,
        "employee_delta": -12.0,
        "customer_z": -2.6,
        "employee_z": -2.1,
        "evidence": {"customer_se": 2.4, "employee_se": 5.0},
    }
    values.update(changes)
    return MirrorAlert(**values)  # type: ignore[arg-type]
