"""What a simulated team is: its levels, sizes, planted effects and realism options (pure).

A :class:`TeamPlan` says how one team answers in every event-time window: about ``employees``
pulses and ``customers`` feedback records, scores drawn around the team's levels (a fraction of
each score's range, 0 = worst, 1 = best) with Gaussian noise. Planted :class:`Effect` s shift one
or both sides over a span of windows:

    mirror_decline  both sides fall          inner_warning  the employee side falls
    mirror_rise     both sides rise          outer_warning  the customer side falls

An effect may name a mirrored dimension (``trust``, ``recognition``, ``ambiance``,
``empowerment``, ``enps``): the paired items of the affected sides (trust↔trust,
recognition↔listened, ambiance↔courtesy, empowerment↔ces, enps↔nps) move by the effect's
magnitude once more, so a detector can name the dimension. An effect may ramp in over its
first windows and recover over the windows after its end.

The realism options of a plan (all off by default; ``streams.tools.realism`` has the model)
make the answers look like real survey data: a halo mood shared by one respondent's items, a
roster of people with stable personal offsets of whom only some answer each pulse, a true
level that drifts from window to window, and pulses answered in the first days of a window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from streams.detectors.base import MIRRORED_PAIRS

__all__ = [
    "DEFAULT_DRIFT_RHO",
    "DIMENSIONS",
    "EFFECTS",
    "EFFECT_KINDS",
    "NOISE",
    "STEADY_LEVEL",
    "Effect",
    "TeamPlan",
    "demo_plans",
]

EFFECTS: Final = ("steady", "mirror_decline", "inner_warning", "outer_warning", "mirror_rise")
EFFECT_KINDS: Final = EFFECTS[1:]

# Where a healthy team sits, as a fraction of each score's range (0 = worst, 1 = best).
STEADY_LEVEL: Final = 0.75
# Standard deviation of one answer (of its own part, with the realism options), as a fraction
# of the range.
NOISE: Final = 0.18
# Week-to-week correlation of a drifting level when a plan sets drift_sd but no drift_rho.
DEFAULT_DRIFT_RHO: Final = 0.5

# Dimension name (the employee item) -> (employee item, customer item).
DIMENSIONS: Final[Mapping[str, tuple[str, str]]] = {
    employee: (employee, customer) for employee, customer in MIRRORED_PAIRS
}

# (employee sign, customer sign) of each effect kind.
_DIRECTIONS: Final[Mapping[str, tuple[int, int]]] = {
    "mirror_decline": (-1, -1),
    "inner_warning": (-1, 0),
    "outer_warning": (0, -1),
    "mirror_rise": (1, 1),
}
_LEGACY_RISE_SCALE: Final = 0.6  # the legacy ``effect="mirror_rise"`` rises by 0.6 × magnitude


@dataclass(frozen=True, slots=True)
class Effect:
    """One planted effect: ``kind`` from ``start_window`` up to ``end_window`` (exclusive;
    None = until the end of the run), shifting the affected side(s) by ``magnitude`` (a fraction
    of each score's range) and the paired items of ``dimension`` by as much again.

    Real changes build up and fade. ``ramp_windows`` r: the shift grows linearly and reaches
    full size in the effect's r-th window (1/r, 2/r, …, full; 0 and 1 both mean full from the
    first window). ``recovery_windows`` q: after ``end_window`` the side climbs back linearly
    and is back to normal in the q-th window after the end ((q − 1)/q, …, 1/q, then nothing;
    0 and 1 both mean back at once), so q − 1 windows after the end still carry part of the
    shift (:attr:`reach_end`).
    """

    kind: str
    start_window: int
    end_window: int | None = None
    magnitude: float = 0.30
    dimension: str | None = None
    ramp_windows: int = 0
    recovery_windows: int = 0

    def __post_init__(self) -> None:
        if self.kind not in _DIRECTIONS:
            raise ValueError(f"effect kind {self.kind!r} is not one of {', '.join(EFFECT_KINDS)}")
        if self.start_window < 0:
            raise ValueError(f"start_window must be 0 or more, got {self.start_window}")
        if self.end_window is not None and self.end_window <= self.start_window:
            raise ValueError(
                f"end_window ({self.end_window}) must be after start_window "
                f"({self.start_window}); it is exclusive"
            )
        if not 0 < self.magnitude <= 1:
            raise ValueError(
                f"magnitude is a fraction of the score range in (0, 1], got {self.magnitude}"
            )
        if self.dimension is not None and self.dimension not in DIMENSIONS:
            raise ValueError(f"dimension {self.dimension!r} is not one of {', '.join(DIMENSIONS)}")
        if self.ramp_windows < 0:
            raise ValueError(f"ramp_windows must be 0 or more, got {self.ramp_windows}")
        if self.end_window is not None and self.ramp_windows > self.length:
            raise ValueError(
                f"ramp_windows ({self.ramp_windows}) must fit in the effect's {self.length} "
                "windows: the shift must reach full size before it ends"
            )
        if self.recovery_windows < 0:
            raise ValueError(f"recovery_windows must be 0 or more, got {self.recovery_windows}")
        if self.recovery_windows and self.end_window is None:
            raise ValueError("recovery_windows needs an end_window: the recovery follows the end")

    @property
    def length(self) -> float:
        """Windows from start to end (inf for an effect that lasts to the end of the run)."""
        return math.inf if self.end_window is None else self.end_window - self.start_window

    @property
    def reach_end(self) -> int | None:
        """The first window (exclusive end) that carries no part of the shift: ``end_window``
        plus the recovery windows that still carry some; None = to the end of the run."""
        if self.end_window is None:
            return None
        return self.end_window + max(0, self.recovery_windows - 1)

    def covers(self, window_index: int) -> bool:
        return self.start_window <= window_index and (
            self.end_window is None or window_index < self.end_window
        )

    def strength(self, window_index: int) -> float:
        """The share of the full shift that this window carries: 1 inside the effect once
        ramped in, a fraction while ramping in or recovering, 0 elsewhere."""
        if self.covers(window_index):
            step = window_index - self.start_window + 1
            return 1.0 if step >= self.ramp_windows else step / self.ramp_windows
        end, reach_end = self.end_window, self.reach_end
        if end is not None and reach_end is not None and end <= window_index < reach_end:
            after = window_index - end + 1
            return (self.recovery_windows - after) / self.recovery_windows
        return 0.0

    def overlaps(self, other: Effect) -> bool:
        """Whether the two effects shift a common window (recovery tails included)."""
        self_end = math.inf if self.reach_end is None else self.reach_end
        other_end = math.inf if other.reach_end is None else other.reach_end
        return self.start_window < other_end and other.start_window < self_end


@dataclass(frozen=True, slots=True)
class TeamPlan:
    """One simulated team.

    ``effect``/``effect_from_window``/``magnitude`` are the short form of one effect from that
    window to the end of the run; ``effects`` lists any number of non-overlapping effects (give
    one form or the other). ``respondent_jitter`` j > 0 draws each window's counts uniformly
    from round(n·(1 − j)) … round(n·(1 + j)) (halves up); 0 keeps them fixed.

    Realism (all off by default; standard deviations are fractions of each score's range):

    * ``roster``: the people on the team; replaces ``employees``. Each window each person
      answers with probability ``response_rate`` (a binomial count) and person i is always
      ``respondent_ref`` "{team_id}/emp-{i}". ``respondent_jitter`` then applies to customers.
    * ``mood_sd``: each respondent's mood, shared by all items of one record (the halo
      effect), on both sides; ``customer_mood_sd`` sets the customers' own (None = mood_sd).
    * ``person_sd``: each employee's stable offset from the team level, the same every window.
    * ``drift_sd``, ``drift_rho``: the true level of each side wanders as an AR(1) process,
      independently per side, with stationary spread ``drift_sd`` and correlation
      ``drift_rho`` between consecutive windows.
    * ``pulse_days``: pulses are answered in the first ``pulse_days`` days of the window, each
      day half as many as the day before (customers still answer all through the window).

    ``noise`` stays the SD of each item's own part, so an answer's total SD is
    √(noise² + mood_sd² + person_sd²).
    """

    team_id: str
    effect: str = "steady"
    effect_from_window: int = 4  # window index (0-based) where the planted effect starts
    magnitude: float = 0.30  # shift of the affected side(s), as a fraction of each range
    employees: int = 12  # pulses per window
    customers: int = 40  # feedback records per window
    effects: tuple[Effect, ...] = ()
    employee_level: float = STEADY_LEVEL
    customer_level: float = STEADY_LEVEL
    noise: float = NOISE
    respondent_jitter: float = 0.0
    roster: int | None = None
    response_rate: float = 1.0
    mood_sd: float = 0.0
    customer_mood_sd: float | None = None
    person_sd: float = 0.0
    drift_sd: float = 0.0
    drift_rho: float = DEFAULT_DRIFT_RHO
    pulse_days: int | None = None
    _planned: tuple[Effect, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.team_id:
            raise ValueError("team_id must not be empty")
        if self.effect not in EFFECTS:
            raise ValueError(f"effect {self.effect!r} is not one of {', '.join(EFFECTS)}")
        for name in ("employees", "customers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")
        for name in ("employee_level", "customer_level"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(
                    f"{name} is a fraction of the score range in [0, 1], got {getattr(self, name)}"
                )
        if self.noise < 0:
            raise ValueError(f"noise must be 0 or more, got {self.noise}")
        if not 0 <= self.respondent_jitter <= 1:
            raise ValueError(f"respondent_jitter must be in [0, 1], got {self.respondent_jitter}")
        self._check_realism()
        planned = tuple(self.effects)
        if self.effect != "steady":
            if planned:
                raise ValueError(f"team {self.team_id}: give either effect= or effects=, not both")
            magnitude = self.magnitude
            if self.effect == "mirror_rise":
                magnitude *= _LEGACY_RISE_SCALE
            planned = (Effect(self.effect, self.effect_from_window, None, magnitude),)
        ordered = sorted(planned, key=lambda effect: effect.start_window)
        for earlier, later in zip(ordered, ordered[1:], strict=False):
            if earlier.overlaps(later):
                recovery = ""
                if earlier.reach_end != earlier.end_window:
                    recovery = f" (recovering until window {earlier.reach_end})"
                raise ValueError(
                    f"team {self.team_id}: effects overlap: {earlier.kind} from window "
                    f"{earlier.start_window} to {earlier.end_window}{recovery} and {later.kind} "
                    f"from window {later.start_window}; one team has one effect at a time"
                )
        object.__setattr__(self, "_planned", tuple(ordered))

    def _check_realism(self) -> None:
        if self.roster is not None and self.roster < 1:
            raise ValueError(f"roster must be 1 or more, got {self.roster}")
        if not 0 < self.response_rate <= 1:
            raise ValueError(f"response_rate must be in (0, 1], got {self.response_rate}")
        if self.response_rate < 1 and self.roster is None:
            raise ValueError("response_rate needs a roster: the people who may answer")
        for name in ("mood_sd", "customer_mood_sd", "person_sd", "drift_sd"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"{name} is a fraction of the score range in [0, 1], got {value}")
        if not 0 <= self.drift_rho < 1:
            raise ValueError(f"drift_rho must be in [0, 1), got {self.drift_rho}")
        if self.pulse_days is not None and self.pulse_days < 1:
            raise ValueError(f"pulse_days must be 1 or more, got {self.pulse_days}")

    @property
    def planned_effects(self) -> tuple[Effect, ...]:
        """Every effect of this team, the short form included, in window order."""
        return self._planned

    @property
    def customer_mood(self) -> float:
        """The customers' mood SD: ``customer_mood_sd``, else ``mood_sd``."""
        return self.mood_sd if self.customer_mood_sd is None else self.customer_mood_sd

    @property
    def expected_employees(self) -> float:
        """Employee respondents per window on average: roster × response rate, or employees."""
        if self.roster is None:
            return float(self.employees)
        return self.roster * self.response_rate

    @property
    def uses_realism(self) -> bool:
        """Whether any option needs per-team random state (pulse_days needs none)."""
        return self.roster is not None or bool(
            self.mood_sd or self.customer_mood or self.person_sd or self.drift_sd
        )

    def effect_at(self, window_index: int) -> Effect | None:
        """The effect active in this window, if any (its recovery tail excluded)."""
        for effect in self._planned:
            if effect.covers(window_index):
                return effect
        return None

    def acting(self, window_index: int) -> tuple[Effect, float] | None:
        """The effect that shifts this window, ramp or recovery included, and its strength."""
        for effect in self._planned:
            strength = effect.strength(window_index)
            if strength:
                return effect, strength
        return None

    def shift(self, window_index: int) -> tuple[float, float]:
        """(employee shift, customer shift) in this window."""
        acting = self.acting(window_index)
        if acting is None:
            return 0.0, 0.0
        effect, strength = acting
        magnitude = effect.magnitude
        if strength != 1.0:  # leaves full-size shifts bit-for-bit what they always were
            magnitude *= strength
        employee_sign, customer_sign = _DIRECTIONS[effect.kind]
        return employee_sign * magnitude, customer_sign * magnitude


def demo_plans(teams: int = 6) -> list[TeamPlan]:
    """The demo's teams: one planted mirror decline, one inner warning, the rest steady."""
    if teams < 2:
        raise ValueError("the demo needs at least 2 teams")
    plans = [
        TeamPlan("team-01", "mirror_decline"),
        TeamPlan("team-02", "inner_warning"),
    ]
    plans += [TeamPlan(f"team-{i:02d}") for i in range(3, teams + 1)]
    return plans
