"""False alerts across many teams: the union bound and the thresholds for a budget, by hand."""

from __future__ import annotations

import pytest

from streams.detectors.multiplicity import (
    expected_false_alerts,
    false_alert_rate,
    side_fall_probability,
    thresholds_for_budget,
)

approx = pytest.approx


def test_the_defaults_cost_at_most_half_a_percent_of_steady_team_windows() -> None:
    # Φ(-3.5) = 0.000232629, Φ(-2.85) = 0.002185961: a side falls by chance with probability
    # at most 0.002418590; a team-window (either side) 0.004837181 ≤ 0.5 %.
    assert side_fall_probability(3.5, 2.85) == approx(0.002418590, abs=1e-9)
    assert false_alert_rate(3.5, 2.85) == approx(0.004837181, abs=1e-9)
    assert false_alert_rate(3.5, 2.85) <= 0.005
    # 500 teams closing together: at most 2.42 false change alerts a window.
    assert expected_false_alerts(500, 3.5, 2.85) == approx(2.418590, abs=1e-6)
    # Without the chart only the single-window bar counts: 2 · Φ(-3.5) = 0.000465258.
    assert false_alert_rate(3.5, None) == approx(0.000465258, abs=1e-9)


def test_thresholds_for_a_budget_spend_it_exactly() -> None:
    # 500 teams, 0.5 false alerts a window: 0.0005 per side; 80 % to the chart (0.0004:
    # z = 3.35279), 20 % to the single window (0.0001: z = 3.71902).
    single, chart = thresholds_for_budget(500, 0.5)
    assert single == approx(3.71902, abs=1e-5)
    assert chart == approx(3.35279, abs=1e-5)
    assert expected_false_alerts(500, single, chart) == approx(0.5)


@pytest.mark.parametrize(
    ("teams", "budget", "share"), [(0, 1.0, 0.8), (10, 0.0, 0.8), (10, 1.0, 1.0)]
)
def test_thresholds_refuse_nonsense(teams: int, budget: float, share: float) -> None:
    with pytest.raises(ValueError):
        thresholds_for_budget(teams, budget, share)
