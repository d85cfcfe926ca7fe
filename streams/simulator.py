"""Synthetic teams for demos and tests: steady teams plus planted mirror effects (pure, no I/O).

Each team answers in every event-time window: ``employees`` pulses and ``customers`` feedback
records, scores drawn around the team's levels. A planted effect shifts one or both sides
from a given window on: ``mirror_decline`` (both sides fall), ``inner_warning`` (employees
fall, customers steady), ``outer_warning`` (customers fall), ``mirror_rise`` (both rise).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from schemas.records import (
    CHANNELS,
    CUSTOMER_SCORE_RANGES,
    EMPLOYEE_SCORE_RANGES,
    CustomerFeedback,
    EmployeePulse,
    Signal,
)

EFFECTS = ("steady", "mirror_decline", "inner_warning", "outer_warning", "mirror_rise")

# Where a healthy team sits, as a fraction of each score's range (0 = worst, 1 = best).
STEADY_LEVEL = 0.75
NOISE = 0.18  # standard deviation of one answer, as a fraction of the range


@dataclass(frozen=True, slots=True)
class TeamPlan:
    team_id: str
    effect: str = "steady"
    effect_from_window: int = 4  # window index (0-based) where the planted effect starts
    magnitude: float = 0.30  # shift of the affected side(s), as a fraction of each range
    employees: int = 12  # pulses per window
    customers: int = 40  # feedback records per window

    def shift(self, window_index: int) -> tuple[float, float]:
        """(employee shift, customer shift) in this window."""
        if self.effect == "steady" or window_index < self.effect_from_window:
            return 0.0, 0.0
        m = self.magnitude
        return {
            "mirror_decline": (-m, -m),
            "inner_warning": (-m, 0.0),
            "outer_warning": (0.0, -m),
            "mirror_rise": (m * 0.6, m * 0.6),
        }[self.effect]


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


def _score(rng: random.Random, low: int, high: int, level: float) -> int:
    value = rng.gauss(level, NOISE)
    value = min(1.0, max(0.0, value))
    return low + round(value * (high - low))


class Simulator:
    """Generates the events of every team, window after window, in event-time order per window."""

    def __init__(self, plans: list[TeamPlan], window_ms: int, start_ms: int, seed: int = 7) -> None:
        self.plans = plans
        self.window_ms = window_ms
        self.start_ms = start_ms - start_ms % window_ms
        self.rng = random.Random(seed)

    def window(self, index: int) -> list[Signal]:
        """All events of window ``index``, shuffled in time inside the window."""
        start = self.start_ms + index * self.window_ms
        events: list[Signal] = []
        for plan in self.plans:
            employee_shift, customer_shift = plan.shift(index)
            for _ in range(plan.employees):
                events.append(self._pulse(plan.team_id, start, STEADY_LEVEL + employee_shift))
            for _ in range(plan.customers):
                events.append(self._feedback(plan.team_id, start, STEADY_LEVEL + customer_shift))
        events.sort(key=lambda e: e.occurred_at)
        return events

    def windows(self, count: int | None = None) -> Iterator[tuple[int, list[Signal]]]:
        index = 0
        while count is None or index < count:
            yield index, self.window(index)
            index += 1

    def _when(self, start: int) -> int:
        return start + self.rng.randrange(self.window_ms)

    def _id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _pulse(self, team_id: str, start: int, level: float) -> EmployeePulse:
        rng = self.rng
        scores = {
            name: _score(rng, lo, hi, level) for name, (lo, hi) in EMPLOYEE_SCORE_RANGES.items()
        }
        return EmployeePulse(
            event_id=self._id(),
            occurred_at=self._when(start),
            team_id=team_id,
            source="simulator",
            respondent_ref=f"emp-{rng.randrange(10_000)}",
            **scores,  # type: ignore[arg-type]  # names come from the score tables
        )

    def _feedback(self, team_id: str, start: int, level: float) -> CustomerFeedback:
        rng = self.rng
        scores = {
            name: _score(rng, lo, hi, level) for name, (lo, hi) in CUSTOMER_SCORE_RANGES.items()
        }
        return CustomerFeedback(
            event_id=self._id(),
            occurred_at=self._when(start),
            team_id=team_id,
            channel=rng.choice(CHANNELS),
            source="simulator",
            customer_ref=f"cust-{rng.randrange(1_000_000)}",
            **scores,  # type: ignore[arg-type]  # names come from the score tables
        )
