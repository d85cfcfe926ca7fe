"""Unit roll-ups: no suppressed team can be recovered as "unit minus its published siblings"."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.index import Moments
from streams.core.rollup import TeamPart, roll_up


def part(team_id: str, composites: list[float]) -> TeamPart:
    moments = Moments()
    for value in composites:
        moments.add(value)
    return TeamPart(team_id, len(composites), moments)


def test_a_lone_team_under_k_takes_its_smallest_sibling_with_it() -> None:
    # k = 5. A (10 people) and C (8) may be shown, B (3) may not. Publishing the unit with A
    # and C would give B's sum away (unit - A - C), so the smallest shown team, C, is hidden
    # too: what can be recovered is B and C together, 11 people.
    parts = [part("a", [50.0] * 10), part("b", [10.0, 20.0, 30.0]), part("c", [70.0] * 8)]
    rollup = roll_up(parts, k_anonymity=5)
    assert rollup.published_teams == frozenset({"a"})
    assert rollup.respondents == 21
    assert rollup.unit is not None
    assert rollup.unit.total == pytest.approx(500 + 60 + 560)


def test_teams_at_or_above_k_and_units_under_k() -> None:
    everyone = [part("a", [50.0] * 5), part("b", [60.0] * 6)]
    assert roll_up(everyone, 5).published_teams == frozenset({"a", "b"})
    tiny = [part("a", [50.0] * 2), part("b", [60.0] * 2)]
    rollup = roll_up(tiny, 5)
    assert (rollup.unit, rollup.respondents, rollup.published_teams) == (None, None, frozenset())
    # Two hidden teams that hold k people together need no more suppression.
    pair = [part("a", [50.0] * 9), part("b", [1.0] * 3), part("c", [2.0] * 2)]
    assert roll_up(pair, 5).published_teams == frozenset({"a"})


def test_a_team_twice_or_k_below_the_floor_is_refused() -> None:
    with pytest.raises(ValueError):
        roll_up([part("a", [1.0] * 5), part("a", [2.0] * 5)], 5)
    with pytest.raises(ValueError):
        roll_up([part("a", [1.0] * 5)], 2)


TEAMS = st.lists(st.lists(st.floats(0, 100), max_size=14), min_size=1, max_size=8).map(
    lambda teams: [part(f"team-{i}", values) for i, values in enumerate(teams)]
)


@given(TEAMS, st.sampled_from((3, 5, 7)))
def test_no_suppressed_team_is_recoverable_from_the_unit_and_its_published_siblings(
    teams: list[TeamPart], k: int
) -> None:
    rollup = roll_up(teams, k)
    by_id = {team.team_id: team for team in teams}
    # Primary suppression holds: no team under k is shown.
    assert all(by_id[team_id].respondents >= k for team_id in rollup.published_teams)
    if rollup.unit is None:
        assert sum(team.respondents for team in teams) < k
        return
    # The attacker's best: the unit minus every published team is the hidden teams' pool.
    assert rollup.respondents is not None
    residual = rollup.respondents - sum(
        by_id[team_id].respondents for team_id in rollup.published_teams
    )
    assert residual == 0 or residual >= k
    # And that pool holds every hidden team under k with at least k people in all.
    hidden_small = [t for t in teams if t.team_id not in rollup.published_teams and t.respondents]
    if any(t.respondents < k for t in hidden_small):
        assert residual >= k
    # Nothing is hidden that needed no hiding: with no team under k, every team is shown.
    if all(team.respondents >= k or team.respondents == 0 for team in teams):
        assert rollup.published_teams == {t.team_id for t in teams if t.respondents >= k}
