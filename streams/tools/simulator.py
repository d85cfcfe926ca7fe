"""The simulator: the events of simulated teams, window after window, and their delivery (pure).

Each team answers in every event-time window as its :class:`~streams.tools.plans.TeamPlan`
says (levels, sizes, planted effects and realism options; ``streams.tools.plans`` describes
them). A plan that uses none of the realism options gives exactly the events it gave before
they existed: those options draw on their own generators, only when they are on.

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
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from schemas.records import (
    CHANNELS,
    CUSTOMER_SCORE_RANGES,
    EMPLOYEE_SCORE_RANGES,
    CustomerFeedback,
    EmployeePulse,
    Signal,
)
from streams.tools.feedback_tags import draw_tags
from streams.tools.plans import (
    DEFAULT_DRIFT_RHO,
    DIMENSIONS,
    EFFECT_KINDS,
    EFFECTS,
    NOISE,
    STEADY_LEVEL,
    Effect,
    TeamPlan,
    demo_plans,
)
from streams.tools.realism import TeamRealism, pulse_offset

# The plans' names stay importable from here, where they lived first.
__all__ = [
    "DEFAULT_ALLOWED_LATENESS_MS",
    "DEFAULT_DRIFT_RHO",
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

DEFAULT_ALLOWED_LATENESS_MS: Final = 3_600_000  # matches MIROIR_ALLOWED_LATENESS_SECONDS
_TAG_SEED: Final = 0x7A6753  # the tag generator's seed is the run's, xor this


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
        # Tags draw on their own generator: adding them changed no answer, time or id.
        self.tag_rng = random.Random(seed ^ _TAG_SEED)
        # Separate generators: respondent counts, delivery order and lateness never change the
        # draws of the answers themselves.
        self._count_rng = random.Random(f"miroir-counts-{seed}")
        # Realism state only for the plans that use it: the others draw nothing new.
        self._realism = {
            plan.team_id: TeamRealism(
                plan.team_id,
                seed,
                roster=plan.roster,
                response_rate=plan.response_rate,
                employee_mood_sd=plan.mood_sd,
                customer_mood_sd=plan.customer_mood,
                person_sd=plan.person_sd,
                drift_sd=plan.drift_sd,
                drift_rho=plan.drift_rho,
            )
            for plan in plans
            if plan.uses_realism
        }

    def window(self, index: int) -> list[Signal]:
        """All events of window ``index``, shuffled in time inside the window, sorted by time."""
        start = self.start_ms + index * self.window_ms
        events: list[Signal] = []
        for plan in self.plans:
            employee_shift, customer_shift = plan.shift(index)
            acting = plan.acting(index)
            employee_item = customer_item = None
            if acting is not None and acting[0].dimension is not None:
                pair = DIMENSIONS[acting[0].dimension]
                employee_item = pair[0] if employee_shift else None
                customer_item = pair[1] if customer_shift else None
            employee_level = plan.employee_level + employee_shift
            customer_level = plan.customer_level + customer_shift
            realism = self._realism.get(plan.team_id)
            if realism is not None:
                employee_level += realism.drift("employee", index)
                customer_level += realism.drift("customer", index)
            if realism is not None and plan.roster is not None:
                people: Iterable[int] = realism.respondents(index)
            else:
                people = range(self._count(plan.employees, plan.respondent_jitter))
            for person in people:
                level = employee_level
                if realism is not None:
                    level += realism.person_offset(person) + realism.mood("employee")
                events.append(
                    self._pulse(plan, person, start, level, employee_item, employee_shift)
                )
            for _ in range(self._count(plan.customers, plan.respondent_jitter)):
                level = customer_level
                if realism is not None:
                    level += realism.mood("customer")
                events.append(self._feedback(plan, start, level, customer_item, customer_shift))
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

    def _when(self, start: int, pulse_days: int | None = None) -> int:
        drawn = self.rng.randrange(self.window_ms)
        if pulse_days is None:
            return start + drawn
        # The same draw, mapped onto the pulse's first days: timing changes no answer.
        return start + pulse_offset(drawn / self.window_ms, self.window_ms, pulse_days)

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
            occurred_at=self._when(start, plan.pulse_days),
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
        event_id, occurred_at = self._id(), self._when(start)
        channel = self.rng.choice(CHANNELS)
        return CustomerFeedback(
            event_id=event_id,
            occurred_at=occurred_at,
            team_id=plan.team_id,
            channel=channel,
            source="simulator",
            customer_ref=f"cust-{self.rng.randrange(1_000_000)}",
            tags=draw_tags(self.tag_rng, channel, scores),
            **scores,  # type: ignore[arg-type]  # names come from the score tables
        )
