"""Synthetic teams for demos, tests and scenarios: steady teams plus planted mirror effects (pure).

Each team answers in every event-time window: about ``employees`` pulses and ``customers``
feedback records, scores drawn around the team's levels (a fraction of each score's range,
0 = worst, 1 = best) with Gaussian noise. Planted effects shift one or both sides over a span
of windows:

    mirror_decline  both sides fall          inner_warning  the employee side falls
    mirror_rise     both sides rise          outer_warning  the customer side falls

An effect may name a mirrored dimension (``trust``, ``recognition``, ``ambiance``,
``empowerment``, ``enps``): the paired items of the affected sides (trust↔trust,
recognition↔listened, ambiance↔courtesy, empowerment↔ces, enps↔nps) move by the effect's
magnitude once more, so a detector can name the dimension.

:meth:`Simulator.window` gives one window's events in event-time order. :meth:`Simulator.stream`
gives the emission order of a whole run: with ``disorder_ms`` each event is delivered up to that
long after it occurred (out of order, never re-timed), and ``late_fraction`` of the events are
held back until events beyond their window's end plus the allowed lateness have gone out, so a
replay sees them late. Everything is deterministic from the seed; disorder and lateness draw on
their own generators, so they change the order of a run, never its events.
"""

from __future__ import annotations

import heapq
import math
import random
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from schemas.records import (
    CHANNELS,
    CUSTOMER_SCORE_RANGES,
    EMPLOYEE_SCORE_RANGES,
    CustomerFeedback,
    EmployeePulse,
    Signal,
)
from streams.detectors.base import MIRRORED_PAIRS

__all__ = [
    "DEFAULT_ALLOWED_LATENESS_MS",
    "DIMENSIONS",
    "EFFECTS",
    "EFFECT_KINDS",
    "NOISE",
    "STEADY_LEVEL",
    "Effect",
    "Simulator",
    "TeamPlan",
    "demo_plans",
]

EFFECTS: Final = ("steady", "mirror_decline", "inner_warning", "outer_warning", "mirror_rise")
EFFECT_KINDS: Final = EFFECTS[1:]

# Where a healthy team sits, as a fraction of each score's range (0 = worst, 1 = best).
STEADY_LEVEL: Final = 0.75
NOISE: Final = 0.18  # standard deviation of one answer, as a fraction of the range
DEFAULT_ALLOWED_LATENESS_MS: Final = 3_600_000  # matches MIROIR_ALLOWED_LATENESS_SECONDS

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
    of each score's range) and the paired items of ``dimension`` by as much again."""

    kind: str
    start_window: int
    end_window: int | None = None
    magnitude: float = 0.30
    dimension: str | None = None

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

    def covers(self, window_index: int) -> bool:
        return self.start_window <= window_index and (
            self.end_window is None or window_index < self.end_window
        )

    def overlaps(self, other: Effect) -> bool:
        self_end = math.inf if self.end_window is None else self.end_window
        other_end = math.inf if other.end_window is None else other.end_window
        return self.start_window < other_end and other.start_window < self_end


@dataclass(frozen=True, slots=True)
class TeamPlan:
    """One simulated team.

    ``effect``/``effect_from_window``/``magnitude`` are the short form of one effect from that
    window to the end of the run; ``effects`` lists any number of non-overlapping effects (give
    one form or the other). ``respondent_jitter`` j > 0 draws each window's counts uniformly
    from round(n·(1 − j)) … round(n·(1 + j)) (halves up); 0 keeps them fixed.
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
                raise ValueError(
                    f"team {self.team_id}: effects overlap: {earlier.kind} from window "
                    f"{earlier.start_window} to {earlier.end_window} and {later.kind} from "
                    f"window {later.start_window}; one team has one effect at a time"
                )
        object.__setattr__(self, "_planned", tuple(ordered))

    @property
    def planned_effects(self) -> tuple[Effect, ...]:
        """Every effect of this team, the short form included, in window order."""
        return self._planned

    def effect_at(self, window_index: int) -> Effect | None:
        """The effect active in this window, if any."""
        for effect in self._planned:
            if effect.covers(window_index):
                return effect
        return None

    def shift(self, window_index: int) -> tuple[float, float]:
        """(employee shift, customer shift) in this window."""
        effect = self.effect_at(window_index)
        if effect is None:
            return 0.0, 0.0
        employee_sign, customer_sign = _DIRECTIONS[effect.kind]
        return employee_sign * effect.magnitude, customer_sign * effect.magnitude


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


def _score(rng: random.Random, low: int, high: int, level: float, noise: float) -> int:
    value = rng.gauss(level, noise)
    value = min(1.0, max(0.0, value))
    return low + round(value * (high - low))


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


class Simulator:
    """Generates the events of every team, window after window, in event-time order per window.

    ``disorder_ms`` and ``late_fraction`` only shape :meth:`stream`; ``allowed_lateness_ms`` is
    the lateness the late events are made to exceed.
    """

    def __init__(
        self,
        plans: list[TeamPlan],
        window_ms: int,
        start_ms: int,
        seed: int = 7,
        *,
        disorder_ms: int = 0,
        late_fraction: float = 0.0,
        allowed_lateness_ms: int = DEFAULT_ALLOWED_LATENESS_MS,
    ) -> None:
        if window_ms <= 0:
            raise ValueError(f"window_ms must be positive, got {window_ms}")
        if disorder_ms < 0:
            raise ValueError(f"disorder_ms must be 0 or more, got {disorder_ms}")
        if not 0 <= late_fraction <= 1:
            raise ValueError(f"late_fraction must be in [0, 1], got {late_fraction}")
        if allowed_lateness_ms < 0:
            raise ValueError(f"allowed_lateness_ms must be 0 or more, got {allowed_lateness_ms}")
        team_ids = [plan.team_id for plan in plans]
        if len(set(team_ids)) != len(team_ids):
            duplicates = sorted({t for t in team_ids if team_ids.count(t) > 1})
            raise ValueError(f"team ids must be unique: {', '.join(duplicates)} repeat")
        self.plans = plans
        self.window_ms = window_ms
        self.start_ms = start_ms - start_ms % window_ms
        self.seed = seed
        self.disorder_ms = disorder_ms
        self.late_fraction = late_fraction
        self.allowed_lateness_ms = allowed_lateness_ms
        self.rng = random.Random(seed)
        # Separate generators: respondent counts, delivery order and lateness never change the
        # draws of the answers themselves.
        self._count_rng = random.Random(f"miroir-counts-{seed}")

    def window(self, index: int) -> list[Signal]:
        """All events of window ``index``, shuffled in time inside the window, sorted by time."""
        start = self.start_ms + index * self.window_ms
        events: list[Signal] = []
        for plan in self.plans:
            employee_shift, customer_shift = plan.shift(index)
            effect = plan.effect_at(index)
            employee_item = customer_item = None
            if effect is not None and effect.dimension is not None:
                pair = DIMENSIONS[effect.dimension]
                employee_item = pair[0] if employee_shift else None
                customer_item = pair[1] if customer_shift else None
            employee_level = plan.employee_level + employee_shift
            customer_level = plan.customer_level + customer_shift
            for person in range(self._count(plan.employees, plan.respondent_jitter)):
                events.append(
                    self._pulse(plan, person, start, employee_level, employee_item, employee_shift)
                )
            for _ in range(self._count(plan.customers, plan.respondent_jitter)):
                events.append(
                    self._feedback(plan, start, customer_level, customer_item, customer_shift)
                )
        events.sort(key=lambda e: e.occurred_at)
        return events

    def windows(self, count: int | None = None) -> Iterator[tuple[int, list[Signal]]]:
        index = 0
        while count is None or index < count:
            yield index, self.window(index)
            index += 1

    def stream(self, count: int | None = None) -> Iterator[Signal]:
        """The events of windows 0 … count − 1 in emission order (disorder and late applied).

        An event is delivered at its event time plus a uniform delay of up to ``disorder_ms``
        (so with ``disorder_ms`` ≤ the allowed lateness nothing is late). A late event is
        delivered after every event up to its window's end + lateness + disorder + at least
        half a window, so the watermark has passed its window; only events with such traffic
        after them in the run can be late (not those of the last window or so).
        """
        disorder_rng = random.Random(f"miroir-disorder-{self.seed}")
        late_rng = random.Random(f"miroir-late-{self.seed}")
        run_end = None if count is None else self.start_ms + count * self.window_ms
        pending: list[tuple[int, int, Signal]] = []
        sequence = 0
        for index, events in self.windows(count):
            window_start = self.start_ms + index * self.window_ms
            window_end = window_start + self.window_ms
            for event in events:
                delivery = event.occurred_at
                if self.disorder_ms:
                    delivery += disorder_rng.randint(0, self.disorder_ms)
                if self.late_fraction and late_rng.random() < self.late_fraction:
                    held = (
                        window_end
                        + self.allowed_lateness_ms
                        + self.disorder_ms
                        + self.window_ms // 2
                        + (event.occurred_at - window_start) // 2
                    )
                    if run_end is None or held < run_end:
                        delivery = held
                heapq.heappush(pending, (delivery, sequence, event))
                sequence += 1
            # Later windows' events occur at window_end or after: whatever is due before that
            # can go out now.
            while pending and pending[0][0] < window_end:
                yield heapq.heappop(pending)[2]
        while pending:
            yield heapq.heappop(pending)[2]

    def _count(self, mean: int, jitter: float) -> int:
        if not jitter or not mean:
            return mean
        low = max(0, _round_half_up(mean * (1 - jitter)))
        high = _round_half_up(mean * (1 + jitter))
        return self._count_rng.randint(low, high)

    def _when(self, start: int) -> int:
        return start + self.rng.randrange(self.window_ms)

    def _id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _scores(
        self,
        ranges: Mapping[str, tuple[int, int]],
        plan: TeamPlan,
        level: float,
        item: str | None,
        extra: float,
    ) -> dict[str, int]:
        rng = self.rng
        return {
            name: _score(rng, low, high, level + extra if name == item else level, plan.noise)
            for name, (low, high) in ranges.items()
        }

    def _pulse(
        self,
        plan: TeamPlan,
        person: int,
        start: int,
        level: float,
        item: str | None,
        extra: float,
    ) -> EmployeePulse:
        scores = self._scores(EMPLOYEE_SCORE_RANGES, plan, level, item, extra)
        return EmployeePulse(
            event_id=self._id(),
            occurred_at=self._when(start),
            team_id=plan.team_id,
            source="simulator",
            # One pulse per person and window: respondents are distinct people, as k counts.
            respondent_ref=f"{plan.team_id}/emp-{person}",
            **scores,  # type: ignore[arg-type]  # names come from the score tables
        )

    def _feedback(
        self, plan: TeamPlan, start: int, level: float, item: str | None, extra: float
    ) -> CustomerFeedback:
        scores = self._scores(CUSTOMER_SCORE_RANGES, plan, level, item, extra)
        return CustomerFeedback(
            event_id=self._id(),
            occurred_at=self._when(start),
            team_id=plan.team_id,
            channel=self.rng.choice(CHANNELS),
            source="simulator",
            customer_ref=f"cust-{self.rng.randrange(1_000_000)}",
            **scores,  # type: ignore[arg-type]  # names come from the score tables
        )
