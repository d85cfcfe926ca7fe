"""Team-window metrics from a window's histograms: NPS, CSAT, CES, Likert, the C and E indices.

Definitions (DOMAIN.md, "Metrics"), every component scaled to 0–100 for the indices:

- NPS / eNPS = %promoters (9–10) − %detractors (0–6), −100…100; with p, d the shares,
  v = p + d − (p − d)², SE = 100·√(v/n). Scaled (x + 100) / 2, so the SE halves.
- CSAT = top-2-box % (4s and 5s of 1–5), SE of a proportion 100·√(p(1 − p)/n). Already 0–100.
- CES = mean of 1–7, scaled (mean − 1) / 6 · 100; also reported as % of 5–7 (``ces_easy_pct``).
- Likert 1–5 items: mean, scaled (mean − 1) / 4 · 100, SE = sd / √n (sample sd, n − 1) · 25.
- One respondent (conservative rule): a single answer has no spread to measure, and the
  formulas above would give SE 0 (NPS, proportions) or leave it undefined (sample sd). Every
  component with n = 1 instead gets the largest SE its scale allows for one answer — the
  maximum variance (p = d = ½ for NPS, p = ½ for CSAT, sd = (high − low) / 2 for means) —
  which is 50 points on the 0–100 scale. One answer then never looks precise.
- Index (C for customers, E for employees) = the mean of the respondents' composites
  (``streams.core.index``: each respondent's answers scored 0–100 and averaged with the index
  weights), SE = sd(composites) / √n with the sample sd — the halo of one person's answers is
  in the spread of their composites, which no formula over separate components can see. One
  respondent: SE 50 (the one-respondent rule below). State written before composites were
  kept (format 1 or 2) falls back to the component formula √(Σ wᵢ² seᵢ²) / Σ wᵢ, which treats
  the components as independent; docs/statistics.md explains both.
- k-anonymity counts distinct people (``streams.core.aggregate``: one respondent's pulses of a
  window count once). An employee side with fewer than k respondents (zero included, so
  "nobody answered" and "a few answered" look the same) is replaced by None, its n hidden too;
  in a side that is shown, a component answered by fewer than k respondents is left out
  everywhere — value, SE, raw metric and index — as if nobody had answered it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from schemas.records import CUSTOMER_SCORE_RANGES, EMPLOYEE_SCORE_RANGES
from streams.core.aggregate import WindowAggregate
from streams.core.index import (
    DEFAULT_CUSTOMER_WEIGHTS,
    DEFAULT_EMPLOYEE_WEIGHTS,
    DEFAULT_INDEX_CONFIG,
    DEFAULT_INDEX_VERSION,
    DETRACTOR_MAX,
    NET_SCORES,
    PROMOTER_MIN,
    IndexConfig,
    Moments,
    composite,
    scoring,
)
from streams.core.model import SideMetrics, TeamWindowMetrics
from streams.core.tags import WindowTags

K_ANONYMITY_FLOOR: Final = 3
DEFAULT_K_ANONYMITY: Final = 5


# -- one component -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Component:
    scaled: float
    scaled_se: float
    n: int
    raw: dict[str, float]


def _net_score(bins: Sequence[int], name: str) -> _Component | None:
    n = sum(bins)
    if n == 0:
        return None
    p = sum(bins[PROMOTER_MIN:]) / n
    d = sum(bins[: DETRACTOR_MAX + 1]) / n
    score = 100.0 * (p - d)
    # The reported SE is DOMAIN.md's formula exactly (0 for a single answer). The SE used for
    # the index and the z-tests applies the one-respondent rule instead: the largest v the
    # scale allows, 1 (p = d = ½), so one answer never looks precise.
    reported_se = 100.0 * math.sqrt(max(p + d - (p - d) ** 2, 0.0) / n)
    testing_se = 100.0 if n == 1 else reported_se
    return _Component(
        (score + 100.0) / 2.0, testing_se / 2.0, n, {name: score, f"{name}_se": reported_se}
    )


def _top2_box(bins: Sequence[int]) -> _Component | None:
    n = sum(bins)
    if n == 0:
        return None
    p = (bins[3] + bins[4]) / n  # values 4 and 5 of 1–5
    variance = 0.25 if n == 1 else p * (1.0 - p)
    pct = 100.0 * p
    return _Component(pct, 100.0 * math.sqrt(variance / n), n, {"csat": pct})


def _mean_sd(bins: Sequence[int], low: int, high: int) -> tuple[int, float, float]:
    """(n, mean, sd) of a histogram; sd is the sample sd, or the scale's max with n = 1."""
    n = sum(bins)
    total = sum((low + i) * count for i, count in enumerate(bins))
    mean = total / n
    if n == 1:
        return n, mean, (high - low) / 2.0
    squares = sum(count * (low + i - mean) ** 2 for i, count in enumerate(bins))
    return n, mean, math.sqrt(squares / (n - 1))


def _scaled_mean(bins: Sequence[int], low: int, high: int) -> tuple[int, float, float, float]:
    """(n, mean, scaled 0–100, scaled SE)."""
    n, mean, sd = _mean_sd(bins, low, high)
    span = high - low
    return n, mean, (mean - low) / span * 100.0, sd / math.sqrt(n) / span * 100.0


def _ces(bins: Sequence[int], low: int, high: int) -> _Component | None:
    if sum(bins) == 0:
        return None
    n, mean, scaled, scaled_se = _scaled_mean(bins, low, high)
    easy = 100.0 * sum(bins[5 - low :]) / n  # values 5–7 of 1–7
    return _Component(scaled, scaled_se, n, {"ces_mean": mean, "ces_easy_pct": easy})


def _likert(bins: Sequence[int], name: str, low: int, high: int) -> _Component | None:
    if sum(bins) == 0:
        return None
    n, mean, scaled, scaled_se = _scaled_mean(bins, low, high)
    return _Component(scaled, scaled_se, n, {f"{name}_mean": mean})


def _component(name: str, bins: Sequence[int], low: int, high: int) -> _Component | None:
    if name in NET_SCORES:
        return _net_score(bins, name)
    if name == "csat":
        return _top2_box(bins)
    if name == "ces":
        return _ces(bins, low, high)
    return _likert(bins, name, low, high)


# -- one side --------------------------------------------------------------------------------
def compute_side(
    n: int,
    histograms: Mapping[str, Sequence[int]],
    ranges: Mapping[str, tuple[int, int]],
    weights: Mapping[str, float],
    *,
    min_component_n: int = 1,
    composites: Moments | None = None,
) -> SideMetrics:
    """The metrics of one side from its histograms (bin i counts value ``low + i``).

    Components answered fewer than ``min_component_n`` times are left out entirely (the
    employee side passes k: a component of fewer than k people is never shown).
    ``composites``: the moments of the side's respondent composites over the components
    left in (``composites_of``); the index and its SE come from them. Without them (state
    from before composites were kept) the index is the weighted mean of the components and
    its SE treats them as independent.
    """
    components: dict[str, float] = {}
    component_se: dict[str, float] = {}
    component_n: dict[str, int] = {}
    raw: dict[str, float] = {}
    weighted_sum = weight_total = variance_sum = 0.0
    for name, (low, high) in ranges.items():
        bins = histograms.get(name)
        if bins is None:
            continue
        result = _component(name, bins, low, high)
        if result is None or result.n < min_component_n:
            continue
        components[name] = result.scaled
        component_se[name] = result.scaled_se
        component_n[name] = result.n
        raw.update(result.raw)
        weight = weights.get(name, 0.0)
        if weight > 0:
            weighted_sum += weight * result.scaled
            weight_total += weight
            variance_sum += (weight * result.scaled_se) ** 2
    index: float | None = None
    index_se: float | None = None
    index_sd: float | None = None
    index_n = 0
    if composites is not None:
        index, index_se, index_sd, index_n = (
            composites.mean,
            composites.se,
            composites.sd,
            composites.n,
        )
    elif weight_total > 0:
        index = weighted_sum / weight_total
        index_se = math.sqrt(variance_sum) / weight_total
        index_n = n
    return SideMetrics(
        n=n,
        index=index,
        index_se=index_se,
        components=components,
        component_se=component_se,
        component_n=component_n,
        raw=raw,
        index_n=index_n,
        index_sd=index_sd,
    )


def employee_composites(
    agg: WindowAggregate, weights: Mapping[str, float], k_anonymity: int
) -> Moments | None:
    """Moments of the employee composites of a window, each respondent's latest pulse scored
    over the components at least k people answered. None when the window holds employee
    counts without their respondents (state written before de-duplication)."""
    if agg.employee_n != len(agg.respondents):
        return None
    too_few = [name for name, bins in agg.employee_histograms.items() if sum(bins) < k_anonymity]
    components = scoring(EMPLOYEE_SCORE_RANGES, weights, excluded=too_few)
    moments = Moments()
    for _occurred_at, _event_key, scores in agg.respondents.values():
        value = composite(scores, components)
        if value is not None:
            moments.add(value)
    return moments


def check_k_anonymity(k_anonymity: int) -> int:
    """Return ``k_anonymity`` if it is an int at or above the privacy floor, else ValueError."""
    if isinstance(k_anonymity, bool) or not isinstance(k_anonymity, int):
        raise ValueError(f"k_anonymity must be an int, got {k_anonymity!r}")
    if k_anonymity < K_ANONYMITY_FLOOR:
        raise ValueError(
            f"k_anonymity must be at least {K_ANONYMITY_FLOOR} (the privacy floor), "
            f"got {k_anonymity}"
        )
    return k_anonymity


def side_moments(side: SideMetrics) -> Moments:
    """The mergeable moments behind a side's index (n, Σ y, Σ y²), from its mean and sample sd:
    what a unit sums (``streams.core.units``)."""
    n, mean = side.index_n, side.index
    if not n or mean is None:
        return Moments()
    sd = side.index_sd or 0.0
    return Moments(n, mean * n, (n - 1) * sd * sd + n * mean * mean)


def compute_team_window(
    team_id: str,
    window_start: int,
    window_end: int,
    agg: WindowAggregate,
    *,
    k_anonymity: int,
    index_config: IndexConfig = DEFAULT_INDEX_CONFIG,
    late_events: int = 0,
) -> TeamWindowMetrics:
    """Both sides' metrics of one closed team-window, the employee side k-anonymised.

    Raises ValueError when ``k_anonymity`` is below the floor of 3.
    """
    check_k_anonymity(k_anonymity)
    tracked = agg.customer_untracked == 0 and agg.index_version == index_config.version
    customer = compute_side(
        agg.customer_n,
        agg.customer_histograms,
        CUSTOMER_SCORE_RANGES,
        index_config.customer_weights,
        composites=agg.customer_composites if tracked else None,
    )
    suppressed = agg.employee_n < k_anonymity
    employee = (
        None
        if suppressed
        else compute_side(
            agg.employee_n,
            agg.employee_histograms,
            EMPLOYEE_SCORE_RANGES,
            index_config.employee_weights,
            min_component_n=k_anonymity,
            composites=employee_composites(agg, index_config.employee_weights, k_anonymity),
        )
    )
    return TeamWindowMetrics(
        team_id=team_id,
        window_start=window_start,
        window_end=window_end,
        customer=customer,
        employee=employee,
        employee_suppressed=suppressed,
        index_version=index_config.version,
        late_events=late_events,
        customer_tags=tag_metrics(
            agg.customer_tags, index_config.customer_weights, with_composites=tracked
        ),
    )


def tag_metrics(
    tags: WindowTags, weights: Mapping[str, float], *, with_composites: bool
) -> tuple[tuple[str, SideMetrics], ...]:
    """Each tag's customer metrics, by tag name, with the window's own estimators
    (``compute_side`` on the tag's histograms and composite moments). ``with_composites``
    False (state under another index definition) falls back to the component formula, as
    the window's own row does."""
    return tuple(
        (
            tag,
            compute_side(
                tally.n,
                tally.histograms,
                CUSTOMER_SCORE_RANGES,
                weights,
                composites=tally.composites if with_composites else None,
            ),
        )
        for tag, tally in sorted(tags.tallies.items())
    )


# -- storage ---------------------------------------------------------------------------------
def _side_to_dict(side: SideMetrics) -> dict[str, Any]:
    return {
        "n": side.n,
        "index": side.index,
        "index_se": side.index_se,
        "components": dict(side.components),
        "component_se": dict(side.component_se),
        "component_n": dict(side.component_n),
        "raw": dict(side.raw),
        "index_n": side.index_n,
        "index_sd": side.index_sd,
    }


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _side_from_dict(data: Mapping[str, Any]) -> SideMetrics:
    return SideMetrics(
        n=int(data["n"]),
        index=_optional_float(data.get("index")),
        index_se=_optional_float(data.get("index_se")),
        components={k: float(v) for k, v in data.get("components", {}).items()},
        component_se={k: float(v) for k, v in data.get("component_se", {}).items()},
        component_n={k: int(v) for k, v in data.get("component_n", {}).items()},
        raw={k: float(v) for k, v in data.get("raw", {}).items()},
        # Windows stored before idx-v2 have no composite moments: their n stands in.
        index_n=int(data.get("index_n", data["n"])),
        index_sd=_optional_float(data.get("index_sd")),
    )


def team_window_to_dict(metrics: TeamWindowMetrics) -> dict[str, Any]:
    """JSON-safe dict of a team-window (a suppressed employee side is stored as null)."""
    return {
        "team_id": metrics.team_id,
        "window_start": metrics.window_start,
        "window_end": metrics.window_end,
        "customer": _side_to_dict(metrics.customer),
        "employee": None if metrics.employee is None else _side_to_dict(metrics.employee),
        "employee_suppressed": metrics.employee_suppressed,
        "index_version": metrics.index_version,
        "late_events": metrics.late_events,
        "alert_kinds": list(metrics.alert_kinds),
    }


def team_window_from_dict(data: Mapping[str, Any]) -> TeamWindowMetrics:
    """Inverse of ``team_window_to_dict``; refuses a suppressed window with employee data."""
    suppressed = bool(data["employee_suppressed"])
    employee_data = data.get("employee")
    if suppressed and employee_data is not None:
        raise ValueError("stored team-window is suppressed but carries employee data; refusing it")
    if not suppressed and employee_data is None:
        raise ValueError("stored team-window is not suppressed but has no employee side")
    return TeamWindowMetrics(
        team_id=str(data["team_id"]),
        window_start=int(data["window_start"]),
        window_end=int(data["window_end"]),
        customer=_side_from_dict(data["customer"]),
        employee=None if employee_data is None else _side_from_dict(employee_data),
        employee_suppressed=suppressed,
        index_version=str(data["index_version"]),
        late_events=int(data.get("late_events", 0)),
        alert_kinds=tuple(str(kind) for kind in data.get("alert_kinds", ())),
    )


__all__ = [
    "DEFAULT_CUSTOMER_WEIGHTS",
    "DEFAULT_EMPLOYEE_WEIGHTS",
    "DEFAULT_INDEX_CONFIG",
    "DEFAULT_INDEX_VERSION",
    "DEFAULT_K_ANONYMITY",
    "K_ANONYMITY_FLOOR",
    "IndexConfig",
    "check_k_anonymity",
    "compute_side",
    "compute_team_window",
    "tag_metrics",
    "employee_composites",
    "team_window_from_dict",
    "team_window_to_dict",
]
