"""Rolling team-windows up into a unit, without complementary disclosure (pure).

A unit's employee side is the sum of its teams' mergeable moments (``streams.core.index``:
respondents, Σ composite, Σ composite²). Publishing it next to the unit's published teams
must not reveal a team that k-anonymity hides: whatever is hidden can be recovered *together*
by subtracting the published teams from the published unit, so the hidden teams together must
hold at least k people. When they do not, more teams are hidden (secondary suppression, the
classic cell-suppression rule of statistical agencies): the published team with the fewest
respondents first, ties by team id, until the hidden group holds k people. A unit of fewer
than k people is hidden itself.

What one publication can reveal is then the pooled aggregate of at least k people — never a
team under k, never one person. Scope, for the roll-ups of issue 12 to build on: one level
(teams into their unit) and the index moments; several levels of units, and the per-component
rule of k, need the same treatment at each level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from streams.core.index import Moments
from streams.core.metrics import check_k_anonymity


@dataclass(frozen=True, slots=True)
class TeamPart:
    """One team's employee side in a unit's window: distinct respondents and the moments of
    their composites (what the team's window aggregate holds before any suppression)."""

    team_id: str
    respondents: int
    composites: Moments


@dataclass(frozen=True, slots=True)
class UnitRollup:
    """What may be published for a unit's window: the unit's moments (None: hidden) and the
    teams whose own employee side may be shown (every other team is hidden)."""

    unit: Moments | None
    respondents: int | None
    published_teams: frozenset[str]


def roll_up(parts: Iterable[TeamPart], k_anonymity: int) -> UnitRollup:
    """The unit's moments and the teams that may be shown, with no complementary disclosure.

    Raises ValueError when ``k_anonymity`` is below the floor, or a team appears twice.
    """
    check_k_anonymity(k_anonymity)
    teams = list(parts)
    ids = [part.team_id for part in teams]
    if len(set(ids)) != len(ids):
        raise ValueError("a team may appear once in a unit's roll-up")
    shown = {part.team_id for part in teams if part.respondents >= k_anonymity}
    total = sum(part.respondents for part in teams)
    if total < k_anonymity:
        # The unit itself is under k: nothing about it is shown, and the teams keep their own
        # rule (every team is under k here too).
        return UnitRollup(None, None, frozenset(shown))
    hidden_people = total - sum(part.respondents for part in teams if part.team_id in shown)
    for part in _smallest_first(part for part in teams if part.team_id in shown):
        if hidden_people == 0 or hidden_people >= k_anonymity:
            break
        shown.discard(part.team_id)  # secondary suppression
        hidden_people += part.respondents
    unit = Moments()
    for part in teams:
        unit.merge(part.composites)
    return UnitRollup(unit, total, frozenset(shown))


def _smallest_first(parts: Iterable[TeamPart]) -> Sequence[TeamPart]:
    return sorted(parts, key=lambda part: (part.respondents, part.team_id))


__all__ = ["TeamPart", "UnitRollup", "roll_up"]
