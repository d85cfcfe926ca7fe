"""False alerts across many teams: what the thresholds cost per window, and thresholds for a
budget (pure; docs/statistics.md, "Many teams at once").

Every closing team-window runs, per side, two one-sided tests for a fall (the window alone at
``z_crit``, the EWMA chart at ``sequential_z_crit``). On a steady team whose spread the tests
know, a side falls by chance with probability at most p = Φ(−z_crit) + Φ(−sequential_z_crit),
and a team-window raises a change alert with probability at most ≈ 2p (either side; a rise
needs both sides at once, p², negligible). With N teams closing together the expected number
of false alerts per window is therefore at most N·2p — a calibrated threshold: choose the
budget, and the thresholds follow. Worker and replay must agree alert for alert, and the
teams of one window are spread over workers, so a per-window rule across teams (such as a
false-discovery rate) would make a team's alert depend on which worker holds its neighbours;
a fixed, calibrated threshold keeps every alert a function of the team's own data.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Final

_NORMAL: Final = NormalDist()
SIDES: Final = 2  # customer and employee: either can fall


def side_fall_probability(z_crit: float, sequential_z_crit: float | None) -> float:
    """Upper bound of P(a steady side is called fallen): Φ(−z) + Φ(−z_seq) (union bound)."""
    chart = 0.0 if sequential_z_crit is None else _NORMAL.cdf(-sequential_z_crit)
    return _NORMAL.cdf(-z_crit) + chart


def false_alert_rate(z_crit: float, sequential_z_crit: float | None) -> float:
    """Upper bound of P(a steady team-window raises a change alert)."""
    return SIDES * side_fall_probability(z_crit, sequential_z_crit)


def expected_false_alerts(teams: int, z_crit: float, sequential_z_crit: float | None) -> float:
    """Expected false change alerts per window (upper bound) when ``teams`` steady teams close."""
    if teams < 0:
        raise ValueError(f"teams must be 0 or more, got {teams}")
    return teams * false_alert_rate(z_crit, sequential_z_crit)


def thresholds_for_budget(
    teams: int, false_alerts_per_window: float, chart_share: float = 0.8
) -> tuple[float, float]:
    """(z_crit, sequential_z_crit) keeping the expected false alerts per window of ``teams``
    steady teams at ``false_alerts_per_window``; ``chart_share`` of the budget goes to the
    EWMA chart (it carries most of the power for sustained moderate changes)."""
    if teams < 1:
        raise ValueError(f"teams must be at least 1, got {teams}")
    if false_alerts_per_window <= 0:
        raise ValueError(f"the budget must be positive, got {false_alerts_per_window}")
    if not 0 < chart_share < 1:
        raise ValueError(f"chart_share must be in (0, 1), got {chart_share}")
    per_side = min(false_alerts_per_window / (teams * SIDES), 0.5)
    z_single = -_NORMAL.inv_cdf(per_side * (1 - chart_share))
    z_chart = -_NORMAL.inv_cdf(per_side * chart_share)
    return z_single, z_chart


__all__ = [
    "expected_false_alerts",
    "false_alert_rate",
    "side_fall_probability",
    "thresholds_for_budget",
]
