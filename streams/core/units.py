"""Unit windows: a window of every unit rolled up from its teams, with no complementary
disclosure, and the same detectors run on it (pure, no I/O).

Each closed team-window contributes a ``TeamWindowPart``: the mergeable moments of both
sides' respondent composites (``streams.core.index.Moments``) — the employee side *before*
k-anonymity, since a unit of several small teams may well hold k people — and what the
window did to the team's episodes. A unit's window is the sum of its teams' parts.

What may be published, over the whole tree at once (``publishable``). Published values are
sums over disjoint groups of teams arranged in a tree, so what any combination of them reveals
about the hidden teams is spanned by each published unit's *residual*: the unit minus its
published children. Each residual must therefore cover 0 or at least k people:

- a team is shown when it has k respondents; a unit when its total reaches k;
- going up the tree (deepest units first), a published unit whose residual holds 1 to k − 1
  people hides more (secondary suppression, as statistical agencies do for tables): its
  smallest published child that adds hidden people, teams and units alike; when none can, the
  unit itself is hidden, and its hidden people pass to its parent's residual.

A property test (tests/unit/test_unit_rollup.py) checks by linear algebra that no group of
hidden teams under k people is ever recoverable from what is published.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from schemas.records import MirrorAlert
from streams.core.index import Moments
from streams.core.metrics import check_k_anonymity
from streams.core.model import SideMetrics, TeamWindowMetrics
from streams.core.org import TEAM_NODE, UNIT_SEPARATOR, OrgChart, children_of

__all__ = [
    "EpisodeMark",
    "Publication",
    "TeamWindowPart",
    "UnitWindow",
    "publishable",
    "roll_up_units",
]


@dataclass(frozen=True, slots=True)
class EpisodeMark:
    """What one team-window did to one of the team's episodes (or that it stays open)."""

    episode_id: str
    family: str
    event: str  # opened | updated | escalated | resolved | acknowledged | open (no event)
    severity: str


@dataclass(frozen=True, slots=True)
class TeamWindowPart:
    """One closed team-window as its units need it. Internal: the employee moments are
    not k-anonymised, so a part is never stored or shown, only rolled up."""

    team_id: str
    window_start: int
    window_end: int
    customer: Moments
    employee: Moments
    episodes: tuple[EpisodeMark, ...] = ()
    # The window's episode events as published on the alerts topic: the unit stage pages
    # those no incident covers.
    records: tuple[MirrorAlert, ...] = ()


@dataclass(frozen=True, slots=True)
class Publication:
    """Which nodes may be shown: units by id, teams by id."""

    units: frozenset[str]
    teams: frozenset[str]


@dataclass(frozen=True, slots=True)
class UnitWindow:
    """One unit's window: its metrics (employee None when hidden) and its teams."""

    unit_id: str
    level: str
    metrics: TeamWindowMetrics  # team_id is the unit id
    teams: tuple[str, ...]
    published_teams: tuple[str, ...]  # teams whose own employee side may be shown


def publishable(
    children: Mapping[str, Sequence[str]], respondents: Mapping[str, int], k_anonymity: int
) -> Publication:
    """The units and teams whose employee side may be published (see the module docstring).

    ``children``: unit → its child units and teams (``team:<id>``); ``respondents``: team → its
    distinct employee respondents in the window.
    """
    check_k_anonymity(k_anonymity)
    shown_teams = {team for team, n in respondents.items() if n >= k_anonymity}
    shown_units: set[str] = set()
    total: dict[str, int] = {}
    # A unit's residual: its people that its shown children do not pin down. A shown unit
    # hides none of its people from its parent; a hidden one hides its residual.
    residual_of: dict[str, int] = {}

    def mass(node: str) -> int:
        return respondents.get(node[len(TEAM_NODE) :], 0) if _is_team(node) else total[node]

    def shown(node: str) -> bool:
        return node[len(TEAM_NODE) :] in shown_teams if _is_team(node) else node in shown_units

    def hidden_if_hidden(node: str) -> int:
        return mass(node) if _is_team(node) else residual_of[node]

    def hidden_of(node: str) -> int:
        return 0 if shown(node) else hidden_if_hidden(node)

    for unit in sorted(children, key=lambda u: (-u.count(UNIT_SEPARATOR), u)):
        kids = children[unit]
        total[unit] = sum(mass(kid) for kid in kids)
        residual = sum(hidden_of(kid) for kid in kids)
        while 0 < residual < k_anonymity and total[unit] >= k_anonymity:
            # Secondary suppression: hide the shown child that adds the fewest hidden people.
            candidates = [
                (hidden_if_hidden(kid), kid)
                for kid in kids
                if shown(kid) and hidden_if_hidden(kid) > 0
            ]
            if not candidates:
                break
            _, smallest = min(candidates)
            if _is_team(smallest):
                shown_teams.discard(smallest[len(TEAM_NODE) :])
            else:
                shown_units.discard(smallest)
            residual = sum(hidden_of(kid) for kid in kids)
        residual_of[unit] = residual
        if total[unit] >= k_anonymity and not 0 < residual < k_anonymity:
            shown_units.add(unit)
    return Publication(frozenset(shown_units), frozenset(shown_teams))


def _is_team(node: str) -> bool:
    return node.startswith(TEAM_NODE)


def roll_up_units(
    chart: OrgChart,
    parts: Sequence[TeamWindowPart],
    k_anonymity: int,
    index_version: str,
) -> list[UnitWindow]:
    """Every unit's window from the parts of one window (all of the same window)."""
    if not parts:
        return []
    window_start, window_end = parts[0].window_start, parts[0].window_end
    by_team = {part.team_id: part for part in parts}
    children = children_of(chart, by_team)
    respondents = {team: part.employee.n for team, part in by_team.items()}
    shown = publishable(children, respondents, k_anonymity)
    windows = []
    for unit in sorted(children):
        teams = sorted(team for team, part in by_team.items() if unit in chart.units_of(team))
        customer, employee = Moments(), Moments()
        for team in teams:
            customer.merge(by_team[team].customer)
            employee.merge(by_team[team].employee)
        metrics = TeamWindowMetrics(
            team_id=unit,
            window_start=window_start,
            window_end=window_end,
            customer=_side(customer),
            employee=_side(employee) if unit in shown.units else None,
            employee_suppressed=unit not in shown.units,
            index_version=index_version,
        )
        windows.append(
            UnitWindow(
                unit_id=unit,
                level=chart.unit_level(unit),
                metrics=metrics,
                teams=tuple(teams),
                published_teams=tuple(t for t in teams if t in shown.teams),
            )
        )
    return windows


def _side(moments: Moments) -> SideMetrics:
    return SideMetrics(
        n=moments.n,
        index=moments.mean,
        index_se=moments.se,
        index_n=moments.n,
        index_sd=moments.sd,
    )
