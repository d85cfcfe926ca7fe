"""The simulator's model of real survey data: halo moods, personal offsets, rosters, drift (pure).

Real answers are not independent draws around a fixed team level:

* one respondent's answers move together (the halo effect): each record draws one *mood*, a
  Gaussian offset shared by all of its items, on top of each item's own noise;
* employees are a roster of people, each with a stable personal offset, and only some of them
  answer a given pulse (each person independently, with the team's response rate);
* a team's true level wanders from window to window even when nothing happens: an AR(1)
  process per side, independent between the two sides;
* pulses are answered in the first days after they go out, not evenly over the window.

:class:`TeamRealism` holds one team's random state. Every feature draws on its own generator,
seeded from the run's seed and the team id, and only when the feature is on: a run that uses
none of them draws exactly what it drew before they existed, and turning one on for one team
changes nothing else in the run.
"""

from __future__ import annotations

import math
import random
from typing import Final, Literal

__all__ = ["DAY_MS", "SIDES", "Side", "TeamRealism", "pulse_offset"]

DAY_MS: Final = 86_400_000
Side = Literal["employee", "customer"]
SIDES: Final[tuple[Side, Side]] = ("employee", "customer")


class TeamRealism:
    """The drift path, personal offsets, moods and respondents of one team.

    ``drift_sd`` is the stationary standard deviation of the team's true level around its
    long-run level (a fraction of the range) and ``drift_rho`` the correlation of consecutive
    windows, so the spread does not depend on ``drift_rho``. ``roster`` None means the team has
    no roster: its respondents are numbered 0 … n − 1 each window, and ``person_sd`` still gives
    person i the same offset every window.
    """

    def __init__(
        self,
        team_id: str,
        seed: int,
        *,
        roster: int | None = None,
        response_rate: float = 1.0,
        employee_mood_sd: float = 0.0,
        customer_mood_sd: float = 0.0,
        person_sd: float = 0.0,
        drift_sd: float = 0.0,
        drift_rho: float = 0.0,
    ) -> None:
        self.team_id = team_id
        self.seed = seed
        self.roster = roster
        self.response_rate = response_rate
        self.mood_sd: dict[Side, float] = {
            "employee": employee_mood_sd,
            "customer": customer_mood_sd,
        }
        self.person_sd = person_sd
        self.drift_sd = drift_sd
        self.drift_rho = drift_rho
        # Paths and offsets grow lazily from their own generators, so window i gets the same
        # drift and person p the same offset whichever windows were asked for first.
        self._drift_rng = {
            side: random.Random(f"miroir-drift-{seed}-{team_id}-{side}") for side in SIDES
        }
        self._drift: dict[Side, list[float]] = {side: [] for side in SIDES}
        self._mood_rng = {
            side: random.Random(f"miroir-mood-{seed}-{team_id}-{side}") for side in SIDES
        }
        self._person_rng = random.Random(f"miroir-person-{seed}-{team_id}")
        self._offsets: list[float] = []

    def drift(self, side: Side, window_index: int) -> float:
        """How far the side's true level sits from its long-run level in this window."""
        if not self.drift_sd:
            return 0.0
        path = self._drift[side]
        rng = self._drift_rng[side]
        # Innovations scaled so the process keeps drift_sd as its stationary spread.
        innovation_sd = self.drift_sd * math.sqrt(1.0 - self.drift_rho**2)
        while len(path) <= window_index:
            if path:
                path.append(self.drift_rho * path[-1] + rng.gauss(0.0, innovation_sd))
            else:
                path.append(rng.gauss(0.0, self.drift_sd))  # start in the stationary state
        return path[window_index]

    def person_offset(self, person: int) -> float:
        """Person ``person``'s stable offset from the team level (0 without ``person_sd``)."""
        if not self.person_sd:
            return 0.0
        while len(self._offsets) <= person:
            self._offsets.append(self._person_rng.gauss(0.0, self.person_sd))
        return self._offsets[person]

    def mood(self, side: Side) -> float:
        """One respondent's mood: the offset all the items of one record share."""
        sd = self.mood_sd[side]
        return self._mood_rng[side].gauss(0.0, sd) if sd else 0.0

    def respondents(self, window_index: int) -> list[int]:
        """The roster members who answer this window's pulse, each with ``response_rate``.

        Seeded per window, so a window's respondents do not depend on the windows before it.
        """
        if self.roster is None:
            raise ValueError(f"team {self.team_id} has no roster")
        if self.response_rate >= 1:
            return list(range(self.roster))
        rng = random.Random(f"miroir-response-{self.seed}-{self.team_id}-{window_index}")
        return [person for person in range(self.roster) if rng.random() < self.response_rate]


def pulse_offset(fraction: float, window_ms: int, pulse_days: int) -> int:
    """Where in its window a pulse is answered, given a uniform ``fraction`` in [0, 1).

    The pulse goes out when the window opens and is answered within its first ``pulse_days``
    days, each day half as many answers as the day before (reminders fade): with 3 days,
    57 %, 29 % and 14 %. A window shorter than that is split into ``pulse_days`` equal parts.
    """
    if pulse_days < 1:
        raise ValueError(f"pulse_days must be 1 or more, got {pulse_days}")
    span = min(window_ms, pulse_days * DAY_MS)
    part = span / pulse_days
    weights = [0.5**day for day in range(pulse_days)]
    target = fraction * sum(weights)
    for day, weight in enumerate(weights):
        if target < weight or day == pulse_days - 1:
            within = min(max(target / weight, 0.0), 1.0)
            return min(span - 1, int((day + within) * part))
        target -= weight
    raise AssertionError("unreachable: the last day takes what is left")  # pragma: no cover
