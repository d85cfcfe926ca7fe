"""Unit roll-ups: publication rules over the organisation tree, proved against linear algebra."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from streams.core.index import Moments
from streams.core.org import TEAM_NODE, OrgChart, TeamInfo, children_of
from streams.core.units import TeamWindowPart, publishable, roll_up_units

K = 5


def random_org(rng: random.Random) -> tuple[OrgChart, dict[str, int]]:
    chart = OrgChart()
    respondents: dict[str, int] = {}
    for i in range(rng.randint(2, 9)):
        depth = rng.randint(1, 3)
        path = tuple(f"u{rng.randint(0, 2 - d // 2)}" for d in range(depth))
        chart.update(TeamInfo(f"t{i}", f"Team {i}", ("acme", *path)), f"t{i}")
        respondents[f"t{i}"] = rng.choice([0, 1, 2, 3, 4, 5, 6, 8, 12, 20])
    return chart, respondents


def in_row_space(rows: np.ndarray, vector: np.ndarray) -> bool:
    if rows.size == 0:
        return False
    return bool(np.linalg.matrix_rank(np.vstack([rows, vector])) == np.linalg.matrix_rank(rows))


@pytest.mark.parametrize("seed", range(300))
def test_no_group_of_hidden_teams_under_k_people_is_recoverable(seed: int) -> None:
    """Property: every published value is a sum of team moments; whatever linear combination
    of them an analyst forms, no group of hidden teams holding 1 to k − 1 people comes out."""
    rng = random.Random(seed)
    chart, respondents = random_org(rng)
    children = children_of(chart, respondents)
    shown = publishable(children, respondents, K)
    teams = sorted(respondents)
    rows = [np.eye(len(teams))[teams.index(t)] for t in shown.teams]
    for unit in shown.units:
        rows.append(np.array([1.0 if unit in chart.place(t).units() else 0.0 for t in teams]))
    published = np.array(rows) if rows else np.zeros((0, len(teams)))
    hidden = [t for t in teams if t not in shown.teams and respondents[t] > 0]
    assert all(respondents[t] >= K for t in shown.teams)
    for size in range(1, len(hidden) + 1):
        for group in itertools.combinations(hidden, size):
            people = sum(respondents[t] for t in group)
            if 0 < people < K:
                indicator = np.array([1.0 if t in group else 0.0 for t in teams])
                assert not in_row_space(published, indicator), (group, shown, respondents)


def test_a_small_team_beside_one_published_sibling_hides_the_sibling_too() -> None:
    children = {"acme": [TEAM_NODE + "big", TEAM_NODE + "small"]}
    shown = publishable(children, {"big": 12, "small": 3}, K)
    # acme − big = small: so big is hidden as well (secondary suppression), acme stays shown.
    assert shown.units == {"acme"} and shown.teams == frozenset()


def test_nothing_hidden_needs_no_suppression_and_units_under_k_are_hidden() -> None:
    children = {"acme": [TEAM_NODE + "a", TEAM_NODE + "b"], "tiny": [TEAM_NODE + "c"]}
    shown = publishable(children, {"a": 6, "b": 9, "c": 2}, K)
    assert shown.units == {"acme"} and shown.teams == {"a", "b"}


def moments(values: list[float]) -> Moments:
    m = Moments()
    for value in values:
        m.add(value)
    return m


def test_unit_windows_pool_the_teams_moments_by_hand() -> None:
    chart = OrgChart()
    chart.update(TeamInfo("a", "A", ("acme", "sales")), "a")
    chart.update(TeamInfo("b", "B", ("acme", "sales")), "b")
    chart.update(TeamInfo("c", "C", ("acme", "care")), "c")
    parts = [
        TeamWindowPart("a", 0, 10, moments([60.0, 80.0]), moments([50.0] * 3 + [70.0] * 3)),
        TeamWindowPart("b", 0, 10, moments([40.0]), moments([90.0] * 5)),
        TeamWindowPart("c", 0, 10, moments([100.0]), moments([30.0] * 2)),
    ]
    windows = {w.unit_id: w for w in roll_up_units(chart, parts, K, "idx-v2")}
    assert set(windows) == {"acme", "acme/sales", "acme/care"}
    sales = windows["acme/sales"].metrics
    assert sales.customer.index == pytest.approx((60 + 80 + 40) / 3)
    # E of sales by hand: (3·50 + 3·70 + 5·90) / 11
    assert sales.employee is not None
    assert sales.employee.index == pytest.approx((150 + 210 + 450) / 11)
    # care holds 2 people: hidden; then acme − sales = care, so sales must hide too... unless
    # sales' own residual is ≥ k: it is 0 (a, b shown), so acme is the one left hidden.
    assert windows["acme/care"].metrics.employee is None
    assert windows["acme"].metrics.employee is None
    assert windows["acme/sales"].published_teams == ("a", "b")


def test_a_team_id_from_state_older_than_the_identifier_rules_is_rolled_up_unassigned() -> None:
    """State saved before control characters were refused may hold such a team id: it cannot
    be a team record (TeamInfo refuses it), so it is unassigned, and the roll-up goes on."""
    chart = OrgChart()
    chart.update(TeamInfo("a", "A", ("acme", "sales")), "a")
    old = "team\n\x1b[31m"
    with pytest.raises(ValueError, match="control"):
        chart.place(old)
    assert chart.units_of(old) == ["unassigned"]
    parts = [
        TeamWindowPart("a", 0, 10, moments([60.0]), moments([50.0] * 6)),
        TeamWindowPart(old, 0, 10, moments([40.0]), moments([90.0] * 6)),
    ]
    windows = {w.unit_id: w for w in roll_up_units(chart, parts, K, "idx-v2")}
    assert set(windows) == {"acme", "acme/sales", "unassigned"}
    assert windows["unassigned"].teams == (old,)
    assert windows["unassigned"].metrics.customer.index == pytest.approx(40.0)
