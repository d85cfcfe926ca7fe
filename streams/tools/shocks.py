"""Shared shocks in a simulated organisation: one cause hitting many teams of a unit at once (pure).

A reorganisation, an outage or a product change moves many teams of one unit in the same
window — the shared shock the literature warns about (DOMAIN.md): co-movement within days more
often has such a cause than the employee–customer chain itself. A :class:`Shock` names its
unit, its kind and its window span, and the teams it hits; it is planted as the same
:class:`~streams.tools.plans.Effect` on each of them, from the same window, at full size at once
(a shock does not ramp in: that is what makes it one). Miroir should answer it with one
incident at that unit, opened in the shock's first window (``streams.core.incidents``).

Here: the shock itself, the teams of a unit in an organisation (a tuple of
:class:`~streams.core.org.TeamInfo`), how a shock picks its teams (spread over the unit's
departments, so a company-wide shock is not one department's), and planting shocks into team
plans.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from streams.core.org import UNIT_SEPARATOR, TeamInfo
from streams.tools.plans import Effect, TeamPlan

# Windows kept between two things planted on one team (shocks, its own effects): an episode
# takes a window or two to resolve, and a team still in one cannot open a new one of the same
# family — it would not be seen to move with the others.
SHOCK_MARGIN_WINDOWS: Final = 2

__all__ = [
    "SHOCK_MARGIN_WINDOWS",
    "Shock",
    "busy_teams",
    "meets",
    "level_of",
    "plant_shocks",
    "share_count",
    "spread_pick",
    "teams_under",
    "units_of",
]


@dataclass(frozen=True, slots=True)
class Shock:
    """``kind`` on ``teams`` of unit ``unit_id`` (at ``level``) from ``start_window`` up to
    ``end_window`` (exclusive; None = to the end of the run), by ``magnitude`` (a fraction of
    each score's range), led by ``dimension`` if given, recovering over ``recovery_windows``."""

    unit_id: str
    level: str
    kind: str
    start_window: int
    teams: tuple[str, ...]
    end_window: int | None = None
    magnitude: float = 0.25
    dimension: str | None = None
    recovery_windows: int = 0

    def __post_init__(self) -> None:
        if not self.teams:
            raise ValueError(f"the shock on {self.unit_id} hits no team")
        if len(set(self.teams)) != len(self.teams):
            raise ValueError(f"the shock on {self.unit_id} lists a team twice")
        _ = self.effect  # the effect checks the kind, windows, magnitude and dimension

    @property
    def reach_end(self) -> int | None:
        """The first window that carries no part of the shift (None: to the end of the run)."""
        return self.effect.reach_end

    @property
    def effect(self) -> Effect:
        """What each of its teams gets: the same effect, at full size from the first window."""
        return Effect(
            self.kind,
            self.start_window,
            self.end_window,
            self.magnitude,
            self.dimension,
            0,
            self.recovery_windows,
        )


def units_of(organisation: Iterable[TeamInfo]) -> list[str]:
    """Every unit of the organisation, top-down then by name."""
    units = {unit for info in organisation for unit in info.units()}
    return sorted(units, key=lambda unit: (unit.count(UNIT_SEPARATOR), unit))


def teams_under(organisation: Iterable[TeamInfo], unit_id: str) -> list[str]:
    """The teams of the unit, at any depth below it, in the organisation's order."""
    return [info.team_id for info in organisation if unit_id in info.units()]


def level_of(organisation: Iterable[TeamInfo], unit_id: str) -> str | None:
    """The level name of the unit (None when no team is under it)."""
    depth = unit_id.count(UNIT_SEPARATOR)
    for info in organisation:
        if unit_id in info.units():
            return info.level(depth)
    return None


def spread_pick(
    organisation: Sequence[TeamInfo],
    unit_id: str,
    count: int,
    rng: random.Random,
    exclude: Iterable[str] = (),
) -> tuple[str, ...]:
    """``count`` teams of the unit, dealt in turn from its lowest units (departments) in a
    random order, each taking a random team of its own: a shock on a site or the company is
    spread over its departments, as a company-wide cause is, instead of filling one of them."""
    excluded = set(exclude)
    by_leaf: dict[str, list[str]] = {}
    for info in organisation:
        if unit_id in info.units() and info.team_id not in excluded:
            by_leaf.setdefault(info.units()[-1], []).append(info.team_id)
    available = sum(map(len, by_leaf.values()))
    if count > available:
        raise ValueError(f"unit {unit_id} has {available} teams to hit, {count} asked")
    leaves = sorted(by_leaf)
    rng.shuffle(leaves)
    for leaf in leaves:
        rng.shuffle(by_leaf[leaf])
    picked: list[str] = []
    while len(picked) < count:
        for leaf in leaves:
            if by_leaf[leaf] and len(picked) < count:
                picked.append(by_leaf[leaf].pop())
    return tuple(sorted(picked))


def meets(start: int, end: int | None, other_start: int, other_end: int | None) -> bool:
    """Whether windows [start, end) and [other_start, other_end) come within
    SHOCK_MARGIN_WINDOWS of each other (None: to the end of the run)."""
    margin = SHOCK_MARGIN_WINDOWS
    return (other_end is None or start - margin < other_end) and (
        end is None or other_start < end + margin
    )


def busy_teams(shocks: Iterable[Shock], start: int, reach_end: int | None) -> set[str]:
    """The teams of ``shocks`` whose span comes within the margin of [start, reach_end)."""
    return {
        team
        for shock in shocks
        if meets(shock.start_window, shock.reach_end, start, reach_end)
        for team in shock.teams
    }


def share_count(share: float, teams: int) -> int:
    """How many of ``teams`` a share of them is: rounded, at least one."""
    return max(1, min(teams, math.floor(share * teams + 0.5)))


def plant_shocks(plans: Sequence[TeamPlan], shocks: Iterable[Shock]) -> tuple[TeamPlan, ...]:
    """The plans with each shock's effect added to each of its teams. ValueError when a shock
    names a team that has no plan, or its effect overlaps one the team already has."""
    by_team = {plan.team_id: plan for plan in plans}
    for shock in shocks:
        for team_id in shock.teams:
            plan = by_team.get(team_id)
            if plan is None:
                raise ValueError(f"the shock on {shock.unit_id} names {team_id}, not a team")
            try:
                by_team[team_id] = replace(
                    plan, effect="steady", effects=(*plan.planned_effects, shock.effect)
                )
            except ValueError as error:
                raise ValueError(
                    f"the {shock.kind} shock on {shock.unit_id} from window "
                    f"{shock.start_window}: {error}"
                ) from error
    return tuple(by_team[plan.team_id] for plan in plans)
