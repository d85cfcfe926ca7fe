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
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

from streams.tools.plans import DIMENSIONS, EFFECT_KINDS, Effect, TeamPlan
from streams.tools.scenario import DEFAULT_SCENARIO_START_MS, Scenario

__all__ = [
    "EFFECT_MAGNITUDES",
    "FIRST_EFFECT_WINDOW",
    "WEEK_SECONDS",
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


# A handful of small teams (many of their windows fall under k = 5), most of medium size,
# a third large.
_SIZES: Final = (_Size(0.25, (4, 8)), _Size(0.45, (9, 20)), _Size(0.30, (21, 40)))


def realistic_scenario(
    seed: int, *, teams: int = 80, windows: int = 26, effect_share: float = 0.3
) -> Scenario:
    """A company of ``teams`` teams over ``windows`` weekly windows, ``effect_share`` of them
    with one planted effect; everything deterministic from ``seed``."""
    if teams < 1:
        raise ValueError(f"teams must be 1 or more, got {teams}")
    if not 0 <= effect_share <= 1:
        raise ValueError(f"effect_share must be in [0, 1], got {effect_share}")
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
    steady = teams - planted_count
    return Scenario(
        name=f"realistic-{seed}",
        description=(
            f"A generated company (seed {seed}): {teams} teams over {windows} weekly windows, "
            f"{steady} steady and {planted_count} with one planted effect of 0.4 to 1.0 points."
        ),
        seed=seed,
        windows=windows,
        teams=tuple(plans),
        # Windows are aligned on the epoch like the pipeline's: weeks run Thursday to
        # Wednesday (UTC), from 2026-01-01; a pulse goes out when its week opens.
        start_ms=DEFAULT_SCENARIO_START_MS,
        window_seconds=float(WEEK_SECONDS),
        source=f"realistic_scenario(seed={seed})",
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
