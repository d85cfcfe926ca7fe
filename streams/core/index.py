"""What the customer index C and the employee index E are: weights, one respondent's composite,
and the mergeable moments the index and its standard error come from (pure).

The index of a side is measured per **respondent** (docs/statistics.md, "The index"): each
record's answers are scored on 0–100 — NPS/eNPS as 0 / 50 / 100 for a detractor / passive /
promoter, CSAT top-2-box as 0 / 100, Likert and CES scaled linearly — and averaged with the
index weights over the components that record answered. The window's index is the mean of
those composites and its SE their sample standard deviation over √n. One person's answers move
together (halo), and only their own composite knows by how much: an SE built from the
components as if they were independent is far too small.

With complete answers the mean of the composites equals the weighted mean of the component
metrics exactly (a promoter share p and detractor share d average to 50 + 50·(p − d), the
scaled NPS), so the published per-metric values and the index agree.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from schemas.records import CUSTOMER_SCORE_RANGES, EMPLOYEE_SCORE_RANGES

# idx-v2: the index is the mean of respondent composites (idx-v1 averaged component metrics).
DEFAULT_INDEX_VERSION: Final = "idx-v2"
# Equal weights over every customer score.
DEFAULT_CUSTOMER_WEIGHTS: Final[Mapping[str, float]] = MappingProxyType(
    {name: 1.0 for name in CUSTOMER_SCORE_RANGES}
)
# Equal weights over the employee scores except ``workload`` (weight 0: still computed and
# reported as a component, not part of E). Workload sustainability is a strain measure rather
# than a measure of the relationship with the team, it has no customer mirror, and it moves
# mechanically with customer demand (a busy season lowers it while other scores hold), which
# would make E partly a volume gauge. Give it a weight in an IndexConfig to include it.
DEFAULT_EMPLOYEE_WEIGHTS: Final[Mapping[str, float]] = MappingProxyType(
    {name: (0.0 if name == "workload" else 1.0) for name in EMPLOYEE_SCORE_RANGES}
)

# 0–10 recommend scales: promoters 9–10, detractors 0–6.
PROMOTER_MIN: Final = 9
DETRACTOR_MAX: Final = 6
NET_SCORES: Final = frozenset({"nps", "enps"})
TOP_TWO_BOX: Final = frozenset({"csat"})
# The SE of an index measured on one respondent: the largest standard deviation a 0–100 score
# can have (half its answers at 0, half at 100). One answer never looks precise.
ONE_RESPONDENT_SE: Final = 50.0


@dataclass(frozen=True)
class IndexConfig:
    """How the customer index C and the employee index E weigh their components.

    ``version`` is stored with every team-window (``TeamWindowMetrics.index_version``): change
    it whenever the weights change, so baselines and dashboards never mix definitions.
    A component a respondent did not answer is left out of their composite and the remaining
    weights renormalise; a weight of 0 keeps a component out of the index entirely.
    """

    version: str = DEFAULT_INDEX_VERSION
    customer_weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_CUSTOMER_WEIGHTS)
    employee_weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_EMPLOYEE_WEIGHTS)

    def __post_init__(self) -> None:
        if not self.version:
            raise ValueError("IndexConfig.version must be a non-empty string, e.g. 'idx-v3'")
        for side, weights, known in (
            ("customer", self.customer_weights, CUSTOMER_SCORE_RANGES),
            ("employee", self.employee_weights, EMPLOYEE_SCORE_RANGES),
        ):
            unknown = sorted(set(weights) - set(known))
            if unknown:
                raise ValueError(
                    f"IndexConfig: unknown {side} components {unknown}; known: {sorted(known)}"
                )
            for name, weight in weights.items():
                if not (isinstance(weight, int | float) and math.isfinite(weight) and weight >= 0):
                    raise ValueError(
                        f"IndexConfig: {side} weight of {name} must be a finite number >= 0"
                    )
            if not any(weight > 0 for weight in weights.values()):
                raise ValueError(f"IndexConfig: give at least one {side} component a weight > 0")
            # Freeze a private copy so the config cannot change under a running pipeline.
            object.__setattr__(self, f"{side}_weights", MappingProxyType(dict(weights)))

    def __hash__(self) -> int:
        return hash(
            (
                self.version,
                tuple(sorted(self.customer_weights.items())),
                tuple(sorted(self.employee_weights.items())),
            )
        )


DEFAULT_INDEX_CONFIG: Final = IndexConfig()


def answer_points(name: str, value: int, low: int, high: int) -> float:
    """One answer on the index's 0–100 scale: 0 / 50 / 100 for a detractor / passive / promoter
    of NPS and eNPS, 0 / 100 for CSAT outside / inside the top-2-box, else linear."""
    if name in NET_SCORES:
        return 100.0 if value >= PROMOTER_MIN else 0.0 if value <= DETRACTOR_MAX else 50.0
    if name in TOP_TWO_BOX:
        return 100.0 if value >= high - 1 else 0.0
    return (value - low) / (high - low) * 100.0


# (name, low, high, weight, points) of each component that counts in an index, in schema
# order; ``points[value - low]`` is ``answer_points`` of each value in low..high, worked out
# once rather than for every answer of every respondent.
Scoring = tuple[tuple[str, int, int, float, tuple[float, ...]], ...]


def scoring(
    ranges: Mapping[str, tuple[int, int]],
    weights: Mapping[str, float],
    excluded: Iterable[str] = (),
) -> Scoring:
    """The components an index averages: every scored field with a positive weight, except
    ``excluded`` (employee components answered by fewer than k people). Fields keep the
    order of ``ranges``, so a record's scores can be zipped against ``ranges``."""
    left_out = frozenset(excluded)
    return tuple(
        (
            name,
            low,
            high,
            0.0 if name in left_out else float(weights.get(name, 0.0)),
            _points_table(name, low, high),
        )
        for name, (low, high) in ranges.items()
    )


@functools.cache
def _points_table(name: str, low: int, high: int) -> tuple[float, ...]:
    return tuple(answer_points(name, value, low, high) for value in range(low, high + 1))


def composite(scores: Iterable[int | None], components: Scoring) -> float | None:
    """One respondent's composite (0–100): the weighted mean of the points of the components
    they answered (``scores`` in the order of ``components``); None when they answered none
    that counts."""
    total = weight_total = 0.0
    for value, (name, low, high, weight, points) in zip(scores, components, strict=True):
        if value is not None and weight > 0:
            # Out of range only in state nobody validated: scored as it always was.
            scored = (
                points[value - low]
                if low <= value <= high
                else answer_points(name, value, low, high)
            )
            total += weight * scored
            weight_total += weight
    return total / weight_total if weight_total else None


@dataclass(slots=True)
class Moments:
    """Count, sum and sum of squares of respondent composites: everything the index and its
    SE need, and mergeable by addition (a unit's moments are the sum of its teams')."""

    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0

    def add(self, value: float, step: int = 1) -> None:
        """Count ``value`` once (``step`` = -1 takes a counted value back out)."""
        self.n += step
        self.total += step * value
        self.total_sq += step * value * value

    def merge(self, other: Moments) -> Moments:
        self.n += other.n
        self.total += other.total
        self.total_sq += other.total_sq
        return self

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def sd(self) -> float | None:
        """Sample standard deviation (n − 1); None below two respondents."""
        if self.n < 2:
            return None
        mean = self.total / self.n
        # Clamp: float cancellation can leave a tiny negative for identical composites.
        return math.sqrt(max(self.total_sq - self.n * mean * mean, 0.0) / (self.n - 1))

    @property
    def se(self) -> float | None:
        """SE of the mean: sd / √n; ``ONE_RESPONDENT_SE`` for one respondent."""
        if self.n == 0:
            return None
        if self.n == 1:
            return ONE_RESPONDENT_SE
        sd = self.sd
        assert sd is not None
        return sd / math.sqrt(self.n)

    def to_list(self) -> list[float]:
        return [self.n, self.total, self.total_sq]

    @classmethod
    def from_list(cls, stored: object) -> Moments:
        """Inverse of ``to_list``; ValueError on anything else."""
        if not (
            isinstance(stored, list)
            and len(stored) == 3
            and isinstance(stored[0], int)
            and stored[0] >= 0
            and all(isinstance(v, int | float) and math.isfinite(v) for v in stored[1:])
        ):
            raise ValueError("window state: composite moments must be [n, sum, sum of squares]")
        return cls(stored[0], float(stored[1]), float(stored[2]))


__all__ = [
    "DEFAULT_CUSTOMER_WEIGHTS",
    "DEFAULT_EMPLOYEE_WEIGHTS",
    "DEFAULT_INDEX_CONFIG",
    "DEFAULT_INDEX_VERSION",
    "ONE_RESPONDENT_SE",
    "IndexConfig",
    "Moments",
    "Scoring",
    "answer_points",
    "composite",
    "scoring",
]
