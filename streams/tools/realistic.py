"""A generated company of realistic teams, with planted effects of several sizes (pure).

:func:`realistic_scenario` builds, from a seed alone, the kind of data a real deployment sees:
weekly windows; teams from a handful of people to about forty, of whom 45–85 % answer a given
pulse (so small teams often fall under k = 5); levels that differ between teams; answers of one
respondent that move together (items of one pulse correlate about 0.5, of one customer survey
about 0.65); stable personal offsets; true levels that drift a little from week to week; pulses
answered mostly in the first days of the window, customer feedback all week. A share of the teams
carries one planted effect — any of the four kinds, 0.4 to 1.0 points on a 1–5 scale, ramping
in over up to three windows, lasting three to eight weeks, sometimes fading out — starting late
enough for a baseline. Benchmarks and tests call it with seeds nobody tuned on.

The company has an organisation: departments of 4–8 teams, 2–4 departments a site, one company
(``acme/<site>/<department>``). Shared shocks hit it (``streams.tools.shocks``): a department
shock hits 40–70 % of one department's teams (at least three), a company shock about a third of
all teams spread over the departments, each in one window, at full size at once, 0.6 to 1.2
points, mostly falls. A team hit by a shock carries no effect of its own from two windows
before the shock to two after it (an effect that would is moved, or dropped when the run has no
room): a team still in an episode cannot open the shock's one. The organisation and the shocks
draw on generators of their own, so the teams' levels, sizes and own effects are drawn as they
were before the company had them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from streams.core.org import TeamInfo
from streams.tools.plans import DIMENSIONS, EFFECT_KINDS, Effect, TeamPlan
from streams.tools.scenario import DEFAULT_SCENARIO_START_MS, Scenario
from streams.tools.shocks import (
    Shock,
    busy_teams,
    meets,
    plant_shocks,
    spread_pick,
    teams_under,
)

__all__ = [
    "COMPANY",
    "COMPANY_SHOCK_SHARE",
    "DEPARTMENT_SHOCK_SHARE",
    "DEPARTMENT_TEAMS",
    "EFFECT_MAGNITUDES",
    "FIRST_EFFECT_WINDOW",
    "LEVELS",
    "MIN_SHOCK_TEAMS",
    "SHOCK_MAGNITUDES",
    "WEEK_SECONDS",
    "default_shocks",
    "realistic_scenario",
]

WEEK_SECONDS: Final = 7 * 86_400
# Fractions of the range: 0.4, 0.6, 0.8 and 1.0 points on a 1–5 scale.
EFFECT_MAGNITUDES: Final = (0.10, 0.15, 0.20, 0.25)
# Eight quiet weeks first: the detectors' baseline and between-window spread need a history.
FIRST_EFFECT_WINDOW: Final = 8
MIN_EFFECT_WEEKS: Final = 3
MAX_EFFECT_WEEKS: Final = 8
RAMPS: Final = (0, 0, 2, 3)  # at full size in the effect's 1st, 1st, 2nd or 3rd window
RECOVERIES: Final = (0, 0, 2, 3)  # back to normal at once, or over 2 or 3 windows

# The answer model (fractions of each score's range), chosen so that the items of one pulse
# correlate about 0.5 and those of one customer survey about 0.65 within a team-window, as
# survey research reports (the halo effect, DOMAIN.md); measured in the tests.
ITEM_NOISE: Final = 0.15
EMPLOYEE_MOOD_SD: Final = 0.15
PERSON_SD: Final = 0.08
CUSTOMER_MOOD_SD: Final = 0.24
DRIFT_SD_RANGE: Final = (0.015, 0.035)  # 0.06–0.14 points on 1–5: a little, week to week
DRIFT_RHO: Final = 0.5
PULSE_DAYS: Final = 3


@dataclass(frozen=True, slots=True)
class _Size:
    """One class of team size: its share of the company and its roster range."""

    share: float
    roster: tuple[int, int]


# The organisation: teams in departments, departments in sites, one company.
COMPANY: Final = "acme"
LEVELS: Final = ("company", "site", "department")
DEPARTMENT_TEAMS: Final = (4, 8)
SITE_DEPARTMENTS: Final = (2, 4)
_SITES: Final = (
    "lyon", "lille", "nantes", "rennes", "bordeaux", "toulouse", "marseille", "strasbourg",
    "grenoble", "dijon", "rouen", "tours", "metz", "brest", "nice", "angers",
)  # fmt: skip
_DEPARTMENTS: Final = (
    "support", "sales", "billing", "claims", "retail", "field", "onboarding", "collections",
)  # fmt: skip

# Shared shocks. A reorganisation or an outage hits a share of one unit's teams in one window,
# at full size at once; mostly falls (a rise is rarer news), 0.6 to 1.2 points.
SHOCK_KINDS: Final = (
    "mirror_decline", "mirror_decline", "mirror_decline", "inner_warning", "inner_warning",
    "outer_warning", "outer_warning", "mirror_rise",
)  # fmt: skip
SHOCK_MAGNITUDES: Final = (0.15, 0.20, 0.25, 0.30)
DEPARTMENT_SHOCK_SHARE: Final = (0.4, 0.7)
COMPANY_SHOCK_SHARE: Final = 1 / 3
MIN_SHOCK_TEAMS: Final = 3  # an incident needs three teams (MIROIR_INCIDENT_MIN_TEAMS)
MIN_SHOCK_WEEKS: Final = 3
MAX_SHOCK_WEEKS: Final = 6
SHOCK_RECOVERIES: Final = (0, 0, 2, 3)
# Shocks start at least this many windows apart: two shocks opening in one window are one
# incident (one per family and window, streams.core.incidents).
SHOCK_START_GAP: Final = 2
TEAMS_PER_DEPARTMENT_SHOCK: Final = 40  # by default, one department shock per 40 teams
MIN_TEAMS_FOR_COMPANY_SHOCK: Final = 24  # and a company shock from 24 teams on

# A handful of small teams (many of their windows fall under k = 5), most of medium size,
# a third large.
_SIZES: Final = (_Size(0.25, (4, 8)), _Size(0.45, (9, 20)), _Size(0.30, (21, 40)))


def default_shocks(teams: int, windows: int) -> tuple[int, int]:
    """(department shocks, company shocks) of a generated company by default: one department
    shock per 40 teams (rounded) and one company shock from 24 teams on; none when the run
    is too short for a baseline and a shock."""
    if windows < FIRST_EFFECT_WINDOW + MIN_SHOCK_WEEKS:
        return 0, 0
    return round(teams / TEAMS_PER_DEPARTMENT_SHOCK), int(teams >= MIN_TEAMS_FOR_COMPANY_SHOCK)


def realistic_scenario(
    seed: int,
    *,
    teams: int = 80,
    windows: int = 26,
    effect_share: float = 0.3,
    department_shocks: int | None = None,
    company_shocks: int | None = None,
) -> Scenario:
    """A company of ``teams`` teams over ``windows`` weekly windows, ``effect_share`` of them
    with one planted effect, hit by ``department_shocks`` and ``company_shocks`` shared shocks
    (None: :func:`default_shocks`); everything deterministic from ``seed``."""
    if teams < 1:
        raise ValueError(f"teams must be 1 or more, got {teams}")
    if not 0 <= effect_share <= 1:
        raise ValueError(f"effect_share must be in [0, 1], got {effect_share}")
    by_default = default_shocks(teams, windows)
    department_shocks = by_default[0] if department_shocks is None else department_shocks
    company_shocks = by_default[1] if company_shocks is None else company_shocks
    if department_shocks < 0 or company_shocks < 0:
        raise ValueError("the numbers of shocks must be 0 or more")
    if (department_shocks or company_shocks) and windows < FIRST_EFFECT_WINDOW + MIN_SHOCK_WEEKS:
        raise ValueError(
            f"shocks need at least {FIRST_EFFECT_WINDOW + MIN_SHOCK_WEEKS} windows "
            f"({FIRST_EFFECT_WINDOW} quiet ones first), got {windows}"
        )
    planted_count = round(teams * effect_share)
    if planted_count and windows < FIRST_EFFECT_WINDOW + MIN_EFFECT_WEEKS:
        raise ValueError(
            f"planted effects need at least {FIRST_EFFECT_WINDOW + MIN_EFFECT_WEEKS} windows "
            f"({FIRST_EFFECT_WINDOW} quiet ones first), got {windows}"
        )
    if windows < 1:
        raise ValueError(f"windows must be 1 or more, got {windows}")
    rng = random.Random(f"miroir-realistic-{seed}")
    width = max(2, len(str(teams)))
    team_ids = [f"team-{index:0{width}d}" for index in range(1, teams + 1)]
    planted = set(rng.sample(range(teams), planted_count))
    # Kinds and magnitudes dealt in turn, then shuffled, so every combination is represented
    # as evenly as the number of planted teams allows.
    deals = [
        (EFFECT_KINDS[index % len(EFFECT_KINDS)], EFFECT_MAGNITUDES[index // 4 % 4])
        for index in range(planted_count)
    ]
    rng.shuffle(deals)
    # Sizes dealt in their shares, then shuffled: every company has its small teams.
    sizes = [size for size in _SIZES[:-1] for _ in range(round(size.share * teams))]
    sizes += [_SIZES[-1]] * (teams - len(sizes))
    rng.shuffle(sizes)
    plans: list[TeamPlan] = []
    for index, team_id in enumerate(team_ids):
        effect = None
        if index in planted:
            kind, magnitude = deals.pop()
            effect = _effect(rng, kind, magnitude, windows)
        plans.append(_team(rng, team_id, sizes[index], effect))
    organisation = _organisation(random.Random(f"miroir-realistic-org-{seed}"), team_ids)
    shock_rng = random.Random(f"miroir-realistic-shocks-{seed}")
    shocks = _shocks(shock_rng, organisation, plans, windows, department_shocks, company_shocks)
    plans = _clear_for_shocks(shock_rng, plans, shocks, windows)
    own = sum(1 for plan in plans if plan.planned_effects)
    hit = len({team for shock in shocks for team in shock.teams})
    departments = len({info.path for info in organisation})
    return Scenario(
        name=f"realistic-{seed}",
        description=(
            f"A generated company (seed {seed}): {teams} teams in {departments} departments "
            f"over {windows} weekly windows, {own} with one planted effect of 0.4 to 1.0 points, "
            f"{len(shocks)} shared shocks ({department_shocks} of a department, "
            f"{company_shocks} of the company) on {hit} teams."
        ),
        seed=seed,
        windows=windows,
        teams=plant_shocks(plans, shocks),
        # Windows are aligned on the epoch like the pipeline's: weeks run Thursday to
        # Wednesday (UTC), from 2026-01-01; a pulse goes out when its week opens.
        start_ms=DEFAULT_SCENARIO_START_MS,
        window_seconds=float(WEEK_SECONDS),
        source=f"realistic_scenario(seed={seed})",
        organisation=organisation,
        shocks=shocks,
    )


def _team(rng: random.Random, team_id: str, size: _Size, effect: Effect | None) -> TeamPlan:
    roster = rng.randint(*size.roster)
    employee_level = rng.uniform(0.58, 0.80)
    customer_level = rng.uniform(0.66, 0.86)
    if effect is not None and effect.kind == "mirror_rise":
        # Room to rise: a level near the top would saturate and hide most of the effect.
        headroom = 0.90 - effect.magnitude
        employee_level = min(employee_level, headroom)
        customer_level = min(customer_level, headroom)
    return TeamPlan(
        team_id,
        customers=max(10, round(roster * rng.uniform(1.5, 4.0))),
        effects=() if effect is None else (effect,),
        employee_level=round(employee_level, 3),
        customer_level=round(customer_level, 3),
        noise=ITEM_NOISE,
        roster=roster,
        response_rate=round(rng.uniform(0.45, 0.85), 3),
        mood_sd=EMPLOYEE_MOOD_SD,
        customer_mood_sd=CUSTOMER_MOOD_SD,
        person_sd=PERSON_SD,
        drift_sd=round(rng.uniform(*DRIFT_SD_RANGE), 4),
        drift_rho=DRIFT_RHO,
        pulse_days=PULSE_DAYS,
    )


def _effect(rng: random.Random, kind: str, magnitude: float, windows: int) -> Effect:
    weeks = rng.randint(MIN_EFFECT_WEEKS, min(MAX_EFFECT_WEEKS, windows - FIRST_EFFECT_WINDOW))
    start = rng.randint(FIRST_EFFECT_WINDOW, windows - weeks)
    ramp = min(rng.choice(RAMPS), weeks)
    recovery = rng.choice(RECOVERIES)
    # A third of the effects are led by one mirrored dimension, as real declines often are.
    dimension = rng.choice(tuple(DIMENSIONS)) if rng.random() < 1 / 3 else None
    return Effect(kind, start, start + weeks, magnitude, dimension, ramp, recovery)


# --- the organisation and its shocks ---------------------------------------------------------


def _split(rng: random.Random, total: int, sizes: tuple[int, int]) -> list[int]:
    """``total`` things in groups of sizes[0]…sizes[1] where it can be (fewer than sizes[0]
    make one group), about halfway between the bounds, dealt at random."""
    low, high = sizes
    if total <= low:
        return [total]
    count = min(max(round(total / ((low + high) / 2)), math.ceil(total / high)), total // low)
    groups = [low] * count
    for _ in range(total - low * count):
        groups[rng.choice([index for index, size in enumerate(groups) if size < high])] += 1
    return groups


def _organisation(rng: random.Random, team_ids: Sequence[str]) -> tuple[TeamInfo, ...]:
    """Consecutive teams in departments, consecutive departments in sites, one company."""
    department_sizes = _split(rng, len(team_ids), DEPARTMENT_TEAMS)
    site_sizes = _split(rng, len(department_sizes), SITE_DEPARTMENTS)
    sites = rng.sample(_SITES, len(site_sizes)) if len(site_sizes) <= len(_SITES) else []
    sites = sites or [f"site{index + 1}" for index in range(len(site_sizes))]
    infos: list[TeamInfo] = []
    teams = iter(team_ids)
    sizes = iter(department_sizes)
    for site, departments in zip(sites, site_sizes, strict=True):
        names = rng.sample(_DEPARTMENTS, min(departments, len(_DEPARTMENTS)))
        names += [f"department{index + 1}" for index in range(len(names), departments)]
        for department in names:
            for number in range(1, next(sizes) + 1):
                team_id = next(teams)
                infos.append(
                    TeamInfo(
                        team_id,
                        f"{department.capitalize()} {site.capitalize()} {number}",
                        (COMPANY, site, department),
                        LEVELS,
                    )
                )
    return tuple(infos)


def _shocks(
    rng: random.Random,
    organisation: Sequence[TeamInfo],
    plans: Sequence[TeamPlan],
    windows: int,
    department_shocks: int,
    company_shocks: int,
) -> tuple[Shock, ...]:
    """The shocks: their windows first (starts apart), then their teams: never a team in two
    shocks at once, and a team whose own effect could not move clear of the shock only when
    the unit has too few others."""
    own = {plan.team_id: plan.planned_effects for plan in plans}
    spans = _shock_spans(rng, windows, department_shocks + company_shocks)
    # Department shocks in departments big enough for three teams to be at most 70 % of them.
    departments = sorted({"/".join(info.path) for info in organisation})
    eligible = [
        unit
        for unit in departments
        if math.floor(DEPARTMENT_SHOCK_SHARE[1] * len(teams_under(organisation, unit)))
        >= MIN_SHOCK_TEAMS
    ]
    if department_shocks > len(eligible):
        raise ValueError(
            f"{department_shocks} department shocks asked, {len(eligible)} departments have "
            f"the {math.ceil(MIN_SHOCK_TEAMS / DEPARTMENT_SHOCK_SHARE[1])} teams or more "
            "one needs"
        )
    units = rng.sample(eligible, department_shocks) + [COMPANY] * company_shocks
    rng.shuffle(units)  # which comes first in time
    shocks: list[Shock] = []
    for unit, (start, end, recovery) in zip(units, spans, strict=True):
        # Teams of shocks whose spans (with the margin) meet this one's are not hit again.
        busy = busy_teams(shocks, start, end + max(0, recovery - 1))
        if unit == COMPANY:
            count = max(MIN_SHOCK_TEAMS, round(COMPANY_SHOCK_SHARE * len(organisation)))
            level = LEVELS[0]
        else:
            size = len(teams_under(organisation, unit))
            low = max(MIN_SHOCK_TEAMS, math.ceil(DEPARTMENT_SHOCK_SHARE[0] * size))
            high = math.floor(DEPARTMENT_SHOCK_SHARE[1] * size)
            count = min(max(round(rng.uniform(*DEPARTMENT_SHOCK_SHARE) * size), low), high)
            level = LEVELS[-1]
        free = [team for team in teams_under(organisation, unit) if team not in busy]
        if len(free) < count:
            raise ValueError(f"the shock on {unit} needs {count} teams, {len(free)} are free")
        span = (start, end + max(0, recovery - 1))
        stuck = {
            team
            for team in free
            if any(
                not _starts_clear(effect, [*_spans_of(shocks, team), span], windows)
                for effect in own[team]
            )
        }
        if len(free) - len(stuck) >= count:
            busy |= stuck
        dimension = rng.choice(tuple(DIMENSIONS)) if rng.random() < 1 / 3 else None
        shocks.append(
            Shock(
                unit,
                level,
                rng.choice(SHOCK_KINDS),
                start,
                spread_pick(organisation, unit, count, rng, exclude=busy),
                end,
                rng.choice(SHOCK_MAGNITUDES),
                dimension,
                recovery,
            )
        )
    return tuple(sorted(shocks, key=lambda shock: shock.start_window))


def _shock_spans(rng: random.Random, windows: int, count: int) -> list[tuple[int, int, int]]:
    """(start, end, recovery windows) of ``count`` shocks, starts SHOCK_START_GAP apart."""
    spans: list[tuple[int, int, int]] = []
    for _ in range(count):
        weeks = rng.randint(MIN_SHOCK_WEEKS, min(MAX_SHOCK_WEEKS, windows - FIRST_EFFECT_WINDOW))
        taken = {span[0] for span in spans}
        starts = [
            start
            for start in range(FIRST_EFFECT_WINDOW, windows - weeks + 1)
            if all(abs(start - other) >= SHOCK_START_GAP for other in taken)
        ]
        if not starts:
            raise ValueError(f"{count} shocks do not fit {SHOCK_START_GAP} windows apart")
        start = rng.choice(starts)
        spans.append((start, start + weeks, rng.choice(SHOCK_RECOVERIES)))
    return spans


def _spans_of(shocks: Sequence[Shock], team: str) -> list[tuple[int, int]]:
    return [(shock.start_window, _reach(shock)) for shock in shocks if team in shock.teams]


def _reach(shock: Shock) -> int:
    reach_end = shock.effect.reach_end
    assert reach_end is not None  # generated shocks always end
    return reach_end


def _clear_for_shocks(
    rng: random.Random, plans: Sequence[TeamPlan], shocks: Sequence[Shock], windows: int
) -> list[TeamPlan]:
    """The plans ready for the shocks: a shocked team's own effect moved away from its shocks
    (margin included) to a start drawn among those that keep clear of them, or dropped when
    none does; and a team a rise hits given room to rise, as ``_team`` gives its own."""
    spans: dict[str, list[tuple[int, int]]] = {}
    ceiling: dict[str, float] = {}
    for shock in shocks:
        for team in shock.teams:
            spans.setdefault(team, []).append((shock.start_window, _reach(shock)))
            if shock.kind == "mirror_rise":
                ceiling[team] = min(ceiling.get(team, 1.0), 0.90 - shock.magnitude)
    cleared = []
    for plan in plans:
        busy = spans.get(plan.team_id, [])
        effects = [_moved(rng, effect, busy, windows) for effect in plan.planned_effects]
        kept = tuple(effect for effect in effects if effect is not None)
        if kept != plan.planned_effects:
            plan = replace(plan, effects=kept)
        if plan.team_id in ceiling:
            top = ceiling[plan.team_id]
            plan = replace(
                plan,
                employee_level=round(min(plan.employee_level, top), 3),
                customer_level=round(min(plan.customer_level, top), 3),
            )
        cleared.append(plan)
    return cleared


def _moved(
    rng: random.Random, effect: Effect, busy: Sequence[tuple[int, int]], windows: int
) -> Effect | None:
    """The effect as it is when it keeps clear of the busy spans, else at a start drawn among
    those that do (None: no start does)."""
    if not any(meets(effect.start_window, _effect_end(effect), *span) for span in busy):
        return effect
    starts = _starts_clear(effect, busy, windows)
    if not starts:
        return None
    start = rng.choice(starts)
    assert effect.end_window is not None  # generated effects end
    return replace(effect, start_window=start, end_window=start + int(effect.length))


def _starts_clear(effect: Effect, busy: Sequence[tuple[int, int]], windows: int) -> list[int]:
    """The starts at which the effect (recovery included) keeps clear of the busy spans."""
    length = int(effect.length)
    tail = _effect_end(effect) - effect.start_window - length
    return [
        start
        for start in range(FIRST_EFFECT_WINDOW, windows - length + 1)
        if not any(meets(start, start + length + tail, *span) for span in busy)
    ]


def _effect_end(effect: Effect) -> int:
    reach_end = effect.reach_end
    assert reach_end is not None  # generated effects always end
    return reach_end
