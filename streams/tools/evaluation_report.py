"""The evaluation report: false alerts on steady team-windows, recall by effect and team size,
time to detection, and the acceptance check of issue 11 — beside precision and recall per kind.

The text forms are in ``streams.tools.evaluation_text``. Everything here is a pure function
of the alerts, the truth and the closed team-windows of one
replay (``streams.tools.replay.ReplayResult``), so `miroir evaluate` and the benchmarks compute
the same figures. docs/evaluation.md explains each figure and the matching rule.

- A **steady team-window** is a closed (team, window) that overlaps no truth item of that team,
  whatever the kind: nothing was planted there, so any alert on it is a false alert. The closed
  windows of the replay are the universe (a window whose employee side was suppressed is still
  a team-window an alert could wrongly fire on).
- **Time to detection** of a truth item: whole windows from its onset (its ``start``) to the
  ``window_start`` of its first matching alert (``TruthItem.matches``); 0 = the onset window.
- **Incidents** (with an organisation): for each planted shared shock (``ShockTruth``), the
  incidents of its family opened during it on its teams — one, at its unit, in its first
  window, is what it should get — and the team pages its teams still caused; incidents that
  belong to no shock are false incidents, counted against the **steady unit-windows** (a
  unit's closed window that no shock overlaps on a team of the unit).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from schemas.records import MirrorAlert
from streams.core.incidents import Incident
from streams.core.units import UnitWindow
from streams.tools.evaluate import (
    BUILTIN_KINDS,
    Evaluation,
    KindScore,
    ShockTruth,
    TruthItem,
    evaluate,
)

__all__ = [
    "share",
    "CUSTOMER_ONLY_KINDS",
    "DEADLINE_WINDOWS",
    "EMPLOYEE_KINDS",
    "MAX_FALSE_ALERT_RATE",
    "TARGET_EFFECT_POINTS",
    "TARGET_EMPLOYEE_RESPONDENTS",
    "UNKNOWN",
    "Acceptance",
    "FOUND_OUTCOMES",
    "SHOCK_OUTCOMES",
    "TEAM_PAGE_EVENTS",
    "BucketRecall",
    "DelaySummary",
    "EvaluationReport",
    "FoundIncident",
    "IncidentFigures",
    "ItemDetection",
    "ShockDetection",
    "SteadyFalseAlerts",
    "TeamWindow",
    "acceptance_check",
    "build_report",
    "delay_summaries",
    "effect_size_bucket",
    "incident_figures",
    "is_targeted",
    "pool_evaluations",
    "pool_incident_figures",
    "pool_reports",
    "recall_by_effect_size",
    "recall_by_team_size",
    "steady_false_alerts",
    "team_size_bucket",
    "time_to_detection",
]

# The acceptance of issue 11. An ops team pages on these alerts across hundreds of teams every
# window, so false alerts are held to half a percent of the windows where nothing happened, and
# a clear effect (0.6 point on a 1–5 scale) in a team large enough to measure must be seen while
# it still matters: within two windows of its onset.
MAX_FALSE_ALERT_RATE: Final = 0.005
TARGET_EFFECT_POINTS: Final = 0.6
TARGET_EMPLOYEE_RESPONDENTS: Final = 8
DEADLINE_WINDOWS: Final = 2  # alerted at most this many windows after the onset window
# Kinds that need the employee side measured, so the team's size limits what can be seen; an
# outer warning is found on the customer side alone.
EMPLOYEE_KINDS: Final = ("mirror_decline", "inner_warning", "mirror_rise")
CUSTOMER_ONLY_KINDS: Final = ("outer_warning",)

UNKNOWN: Final = "unknown"
_Buckets = tuple[tuple[str, Callable[[float], bool]], ...]  # (label, "below its upper bound")
# Effect size in points of a 1–5 scale.
_EFFECT_BUCKETS: Final[_Buckets] = (
    ("<0.5", lambda points: points < 0.5),
    ("0.5-0.75", lambda points: points < 0.75),
    ("0.75-1.0", lambda points: points < 1.0),
    (">=1.0", lambda points: True),
)
# Employee respondents per window; averages may be fractions, so the bounds are explicit:
# n < 8, 8 ≤ n < 16, 16 ≤ n ≤ 30, n > 30.
_TEAM_BUCKETS: Final[_Buckets] = (
    ("<8", lambda respondents: respondents < 8),
    ("8-15", lambda respondents: respondents < 16),
    ("16-30", lambda respondents: respondents <= 30),
    (">30", lambda respondents: True),
)


class TeamWindow(Protocol):
    """What the report needs of a closed team-window (``TeamWindowMetrics`` is one)."""

    @property
    def team_id(self) -> str: ...
    @property
    def window_start(self) -> int: ...
    @property
    def window_end(self) -> int: ...


# --- false alerts on steady team-windows ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class SteadyFalseAlerts:
    """Closed team-windows where nothing was planted, and the alerts that fired on them."""

    steady_windows: int
    windows_with_alert: int
    false_alerts: int  # alerts on steady windows (a window may carry several)

    @property
    def rate(self) -> float | None:
        """Steady windows with at least one alert over steady windows; None without any."""
        return self.windows_with_alert / self.steady_windows if self.steady_windows else None

    def to_json(self) -> dict[str, Any]:
        return {
            "steady_team_windows": self.steady_windows,
            "with_alert": self.windows_with_alert,
            "false_alerts": self.false_alerts,
            "rate": self.rate,
        }


def steady_false_alerts(
    alerts: Sequence[MirrorAlert], truth: Sequence[TruthItem], windows: Iterable[TeamWindow]
) -> SteadyFalseAlerts:
    """Count the steady team-windows among ``windows`` and the alerts on them.

    An alert is on a window when it is of the same team and their intervals overlap (with one
    window size that is the same window); a re-emitted alert (same ``alert_id``) counts once.
    """
    truth_of: dict[str, list[TruthItem]] = defaultdict(list)
    for item in truth:
        truth_of[item.team_id].append(item)
    alerts_of: dict[str, list[MirrorAlert]] = defaultdict(list)
    for alert in {alert.alert_id: alert for alert in alerts}.values():
        alerts_of[alert.team_id].append(alert)
    seen: set[tuple[str, int, int]] = set()
    steady = with_alert = 0
    false_ids: set[str] = set()
    for window in windows:
        key = (window.team_id, window.window_start, window.window_end)
        if key in seen:
            continue
        seen.add(key)
        start, end = window.window_start, window.window_end
        if any(item.start < end and start < item.end for item in truth_of[window.team_id]):
            continue
        steady += 1
        on_window = [
            a for a in alerts_of[window.team_id] if a.window_start < end and start < a.window_end
        ]
        if on_window:
            with_alert += 1
            false_ids.update(alert.alert_id for alert in on_window)
    return SteadyFalseAlerts(steady, with_alert, len(false_ids))


# --- time to detection -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemDetection:
    """One truth item and when it was first alerted (``None``: never — a miss)."""

    item: TruthItem
    first_alert_start: int | None  # window_start of the first matching alert
    windows_to_detection: int | None  # 0 = alerted in the onset window

    @property
    def detected(self) -> bool:
        return self.windows_to_detection is not None

    def within(self, windows: int = DEADLINE_WINDOWS) -> bool:
        """Detected at most ``windows`` windows after the onset window."""
        return self.windows_to_detection is not None and self.windows_to_detection <= windows

    def to_json(self) -> dict[str, Any]:
        return {
            **self.item.to_json(),
            "effect_points": self.item.effect_points,
            "employee_respondents": self.item.employee_respondents,
            "ramp_windows": self.item.ramp_windows,
            "detected": self.detected,
            "first_alert_window_start": self.first_alert_start,
            "windows_to_detection": self.windows_to_detection,
        }


def time_to_detection(
    alerts: Sequence[MirrorAlert], truth: Sequence[TruthItem], window_ms: int
) -> tuple[ItemDetection, ...]:
    """For each truth item, in truth order: its first matching alert and how many windows after
    the onset it came.

    The count is rounded up, so a truth starting mid-window is "0" for an alert on the window
    holding its start and "1" for the next one; an alert on a window that began before the
    onset (and overlaps it) is 0, never negative.
    """
    if window_ms <= 0:
        raise ValueError(f"the window size must be positive, got {window_ms} ms")
    alerts_of: dict[tuple[str, str], list[MirrorAlert]] = defaultdict(list)
    for alert in alerts:
        alerts_of[(alert.team_id, alert.kind)].append(alert)
    detections = []
    for item in truth:
        starts = [a.window_start for a in alerts_of[(item.team_id, item.kind)] if item.matches(a)]
        if not starts:
            detections.append(ItemDetection(item, None, None))
            continue
        first = min(starts)
        windows = max(0, -(-(first - item.start) // window_ms))  # ceil of a whole-ms division
        detections.append(ItemDetection(item, first, windows))
    return tuple(detections)


@dataclass(frozen=True, slots=True)
class DelaySummary:
    """Time to detection of the truth items of one kind (or ``all``), in windows."""

    kind: str
    truth_items: int
    detected: int
    median_windows: float | None  # None when nothing was detected
    max_windows: int | None
    within_deadline: int  # detected at most DEADLINE_WINDOWS windows after the onset window

    @property
    def share_of_detected(self) -> float | None:
        return self.within_deadline / self.detected if self.detected else None

    @property
    def share_of_items(self) -> float | None:
        return self.within_deadline / self.truth_items if self.truth_items else None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "truth_items": self.truth_items,
            "detected": self.detected,
            "median_windows": self.median_windows,
            "max_windows": self.max_windows,
            "within_deadline": self.within_deadline,
            "share_of_detected": self.share_of_detected,
            "share_of_items": self.share_of_items,
        }


def _summary(kind: str, detections: Sequence[ItemDetection]) -> DelaySummary:
    delays = [d.windows_to_detection for d in detections if d.windows_to_detection is not None]
    return DelaySummary(
        kind=kind,
        truth_items=len(detections),
        detected=len(delays),
        median_windows=float(statistics.median(delays)) if delays else None,
        max_windows=max(delays) if delays else None,
        within_deadline=sum(1 for delay in delays if delay <= DEADLINE_WINDOWS),
    )


def delay_summaries(detections: Sequence[ItemDetection]) -> tuple[DelaySummary, ...]:
    """One summary per kind present in the truth (built-in order first), then ``all``."""
    kinds = _kinds_in_order(d.item.kind for d in detections)
    rows = [_summary(kind, [d for d in detections if d.item.kind == kind]) for kind in kinds]
    return (*rows, _summary("all", detections))


def _kinds_in_order(kinds: Iterable[str]) -> list[str]:
    # The order of the per-kind table: the built-in kinds, then the others by name.
    present = set(kinds)
    return [k for k in BUILTIN_KINDS if k in present] + sorted(present - set(BUILTIN_KINDS))


# --- recall by effect size and team size ---------------------------------------------------


def _bucket(value: float | None, buckets: _Buckets) -> str:
    if value is None:
        return UNKNOWN
    return next(label for label, below in buckets if below(value))


def effect_size_bucket(effect_points: float | None) -> str:
    """ "<0.5", "0.5-0.75", "0.75-1.0", ">=1.0" (points of a 1–5 scale, sign ignored), or
    "unknown"."""
    return _bucket(None if effect_points is None else abs(effect_points), _EFFECT_BUCKETS)


def team_size_bucket(employee_respondents: float | None) -> str:
    """ "<8", "8-15" (8 ≤ n < 16), "16-30" (16 ≤ n ≤ 30), ">30", or "unknown"."""
    return _bucket(employee_respondents, _TEAM_BUCKETS)


@dataclass(frozen=True, slots=True)
class BucketRecall:
    """Recall of the truth items that fall in one bucket."""

    bucket: str
    truth_items: int
    detected: int
    within_deadline: int

    @property
    def recall(self) -> float | None:
        return self.detected / self.truth_items if self.truth_items else None

    @property
    def recall_within_deadline(self) -> float | None:
        return self.within_deadline / self.truth_items if self.truth_items else None

    def to_json(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "truth_items": self.truth_items,
            "detected": self.detected,
            "recall": self.recall,
            "within_deadline": self.within_deadline,
            "recall_within_deadline": self.recall_within_deadline,
        }


def _recall_by(
    detections: Sequence[ItemDetection],
    bucket_of: Callable[[TruthItem], str],
    labels: Sequence[str],
) -> tuple[BucketRecall, ...]:
    # Every bucket is listed, empty ones too, so two reports line up row for row; "unknown"
    # only when some item falls in it.
    groups: dict[str, list[ItemDetection]] = {label: [] for label in labels}
    for detection in detections:
        groups.setdefault(bucket_of(detection.item), []).append(detection)
    return tuple(
        BucketRecall(
            bucket=label,
            truth_items=len(group),
            detected=sum(1 for d in group if d.detected),
            within_deadline=sum(1 for d in group if d.within()),
        )
        for label, group in groups.items()
        if group or label != UNKNOWN
    )


def recall_by_effect_size(detections: Sequence[ItemDetection]) -> tuple[BucketRecall, ...]:
    labels = [label for label, _ in _EFFECT_BUCKETS] + [UNKNOWN]
    return _recall_by(detections, lambda item: effect_size_bucket(item.effect_points), labels)


def recall_by_team_size(detections: Sequence[ItemDetection]) -> tuple[BucketRecall, ...]:
    """By the team's average employee respondents per window — for every kind: an outer
    warning's team has a size too, it just does not limit what can be seen."""
    labels = [label for label, _ in _TEAM_BUCKETS] + [UNKNOWN]
    return _recall_by(detections, lambda item: team_size_bucket(item.employee_respondents), labels)


# --- the acceptance check ----------------------------------------------------------------------


def is_targeted(item: TruthItem) -> bool:
    """Whether the acceptance holds this item to detection within DEADLINE_WINDOWS: an effect of
    at least TARGET_EFFECT_POINTS, and for the kinds needing the employee side a team of at
    least TARGET_EMPLOYEE_RESPONDENTS. Unknown sizes and other kinds are not targeted."""
    if item.effect_points is None or abs(item.effect_points) < TARGET_EFFECT_POINTS:
        return False
    if item.kind in CUSTOMER_ONLY_KINDS:
        return True
    return (
        item.kind in EMPLOYEE_KINDS
        and item.employee_respondents is not None
        and item.employee_respondents >= TARGET_EMPLOYEE_RESPONDENTS
    )


@dataclass(frozen=True, slots=True)
class Acceptance:
    """(a) false alerts on at most MAX_FALSE_ALERT_RATE of the steady team-windows; (b) every
    targeted truth item detected within DEADLINE_WINDOWS of its onset. ``None``: nothing to
    check (no steady window, no targeted item)."""

    steady: SteadyFalseAlerts
    targeted: tuple[ItemDetection, ...]
    others: tuple[ItemDetection, ...]  # no target: smaller effects and teams, unknown sizes

    @property
    def false_alerts_passed(self) -> bool | None:
        rate = self.steady.rate
        return None if rate is None else rate <= MAX_FALSE_ALERT_RATE

    @property
    def late_or_missed(self) -> tuple[ItemDetection, ...]:
        return tuple(d for d in self.targeted if not d.within())

    @property
    def detection_passed(self) -> bool | None:
        return not self.late_or_missed if self.targeted else None

    @property
    def passed(self) -> bool | None:
        """True when every check that could be made passed (and one could be made)."""
        checks = [self.false_alerts_passed, self.detection_passed]
        if False in checks:
            return False
        return True if True in checks else None

    def to_json(self) -> dict[str, Any]:
        within = sum(1 for d in self.targeted if d.within())
        others_within = sum(1 for d in self.others if d.within())
        others_detected = sum(1 for d in self.others if d.detected)
        return {
            "passed": self.passed,
            "false_alert_rate": {
                "target_max": MAX_FALSE_ALERT_RATE,
                "measured": self.steady.rate,
                "steady_team_windows": self.steady.steady_windows,
                "with_alert": self.steady.windows_with_alert,
                "passed": self.false_alerts_passed,
            },
            "detection": {
                "min_effect_points": TARGET_EFFECT_POINTS,
                "min_employee_respondents": TARGET_EMPLOYEE_RESPONDENTS,
                "employee_kinds": list(EMPLOYEE_KINDS),
                "customer_only_kinds": list(CUSTOMER_ONLY_KINDS),
                "deadline_windows": DEADLINE_WINDOWS,
                "items": len(self.targeted),
                "within_deadline": within,
                "late_or_missed": [d.to_json() for d in self.late_or_missed],
                "passed": self.detection_passed,
            },
            "outside_target": {
                "items": len(self.others),
                "detected": others_detected,
                "recall": share(others_detected, len(self.others)),
                "within_deadline": others_within,
                "recall_within_deadline": share(others_within, len(self.others)),
            },
        }


def share(part: int, whole: int) -> float | None:
    """part / whole, None when there is no whole."""
    return part / whole if whole else None


def acceptance_check(steady: SteadyFalseAlerts, detections: Sequence[ItemDetection]) -> Acceptance:
    return Acceptance(
        steady=steady,
        targeted=tuple(d for d in detections if is_targeted(d.item)),
        others=tuple(d for d in detections if not is_targeted(d.item)),
    )


# --- incidents: shared shocks ------------------------------------------------------------------

# What became of a shock. found: exactly one incident opened in its first window, at its unit;
# split: found, and more incidents of it opened later; late: its only incidents at its unit
# opened after the first window; wrong_unit: its only incident is at another unit; several:
# more than one, none found; missed: none.
SHOCK_OUTCOMES: Final = ("found", "split", "late", "wrong_unit", "several", "missed")
FOUND_OUTCOMES: Final = ("found", "split")
TEAM_PAGE_EVENTS: Final = ("opened", "escalated")


@dataclass(frozen=True, slots=True)
class FoundIncident:
    """An incident the replay opened, as the report needs it (its teams in its last state)."""

    incident_id: str
    unit_id: str
    level: str
    family: str
    opened_window_start: int
    teams: tuple[str, ...]

    @classmethod
    def of(cls, incident: Incident) -> FoundIncident:
        return cls(
            incident.incident_id,
            incident.unit_id,
            incident.level,
            incident.family,
            incident.opened_window_start,
            incident.teams,
        )

    def could_belong_to(self, shock: ShockTruth) -> int:
        """How many of the shock's teams it lists, when it is of the shock's family and opened
        during it (0 otherwise)."""
        if self.family != shock.family or not shock.start <= self.opened_window_start < shock.end:
            return 0
        return len(set(self.teams) & set(shock.teams))

    def to_json(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "unit_id": self.unit_id,
            "level": self.level,
            "family": self.family,
            "opened_window_start": self.opened_window_start,
            "teams": list(self.teams),
        }


@dataclass(frozen=True, slots=True)
class ShockDetection:
    """One planted shock: the incidents that belong to it and the team pages of its teams."""

    shock: ShockTruth
    incidents: tuple[FoundIncident, ...]
    window_ms: int
    team_pages: int  # TEAM_PAGE_EVENTS pages of its teams on windows during it
    paged_teams: int  # how many of its teams those pages were about

    def windows_after_onset(self, incident: FoundIncident) -> int:
        return (incident.opened_window_start - self.shock.start) // self.window_ms

    @property
    def outcome(self) -> str:
        """One of SHOCK_OUTCOMES."""
        if not self.incidents:
            return "missed"
        first = [i for i in self.incidents if self.windows_after_onset(i) == 0]
        at_unit = [i for i in self.incidents if i.unit_id == self.shock.unit_id]
        if len(first) == 1 and first[0].unit_id == self.shock.unit_id:
            return "found" if len(self.incidents) == 1 else "split"
        if len(self.incidents) > 1:
            return "several"
        return "late" if at_unit else "wrong_unit"

    @property
    def found(self) -> bool:
        """Exactly one incident opened in its first window, and at its unit."""
        return self.outcome in FOUND_OUTCOMES

    @property
    def covered(self) -> int:
        """The shock's teams listed by its incidents at its unit (joiners included)."""
        listed = {
            team
            for incident in self.incidents
            if incident.unit_id == self.shock.unit_id
            for team in incident.teams
        }
        return len(listed & set(self.shock.teams))

    def to_json(self) -> dict[str, Any]:
        return {
            **self.shock.to_json(),
            "outcome": self.outcome,
            "found": self.found,
            "incidents": [
                {**i.to_json(), "windows_after_onset": self.windows_after_onset(i)}
                for i in self.incidents
            ],
            "covered_teams": self.covered,
            "team_pages": self.team_pages,
            "paged_teams": self.paged_teams,
        }


@dataclass(frozen=True, slots=True)
class IncidentFigures:
    """The incident figures of one replay with an organisation (or several, pooled)."""

    shocks: tuple[ShockDetection, ...]
    false_incidents: tuple[FoundIncident, ...]  # belonging to no shock
    false_on_steady: int  # of those, opened on a steady unit-window
    steady_unit_windows: int
    unit_windows: int
    incidents_opened: int
    team_pages: int  # every TEAM_PAGE_EVENTS page of the run, shocks or not

    @property
    def found(self) -> int:
        return sum(1 for shock in self.shocks if shock.found)

    @property
    def shock_team_pages(self) -> int:
        return sum(shock.team_pages for shock in self.shocks)

    @property
    def false_rate(self) -> float | None:
        """False incidents opened on steady unit-windows over those windows."""
        return share(self.false_on_steady, self.steady_unit_windows)

    def to_json(self) -> dict[str, Any]:
        return {
            "shocks": [shock.to_json() for shock in self.shocks],
            "shocks_planted": len(self.shocks),
            "shocks_found": self.found,
            "outcomes": {
                outcome: sum(1 for shock in self.shocks if shock.outcome == outcome)
                for outcome in SHOCK_OUTCOMES
            },
            "shock_team_pages": self.shock_team_pages,
            "false_incidents": [incident.to_json() for incident in self.false_incidents],
            "false_incidents_on_steady": self.false_on_steady,
            "steady_unit_windows": self.steady_unit_windows,
            "false_incident_rate": self.false_rate,
            "unit_windows": self.unit_windows,
            "incidents_opened": self.incidents_opened,
            "team_pages": self.team_pages,
        }


def incident_figures(
    shocks: Sequence[ShockTruth],
    incidents: Iterable[Incident],
    pages: Iterable[MirrorAlert],
    unit_windows: Iterable[UnitWindow],
    window_ms: int,
) -> IncidentFigures:
    """The incident figures of one replay: the planted shocks, the incidents in their last
    state (``ReplayResult.incidents``), the pages (``ReplayResult.pages``), the closed unit
    windows (``ReplayResult.unit_windows``) and the window size the replay ran with."""
    if window_ms <= 0:
        raise ValueError(f"the window size must be positive, got {window_ms} ms")
    found = sorted(
        (FoundIncident.of(incident) for incident in incidents),
        key=lambda i: (i.opened_window_start, i.unit_id, i.family),
    )
    team_pages = [
        page
        for page in {page.alert_id: page for page in pages}.values()
        if page.scope == "team" and page.event in TEAM_PAGE_EVENTS
    ]
    # Each incident belongs to one shock at most: of those it could belong to, the one whose
    # teams it lists most, then the latest (a team of an earlier shock may join a later one).
    owner: dict[str, int] = {}
    for incident in found:
        claims = [
            (incident.could_belong_to(shock), shock.start, index)
            for index, shock in enumerate(shocks)
        ]
        best = max(claims, default=(0, 0, -1))
        if best[0]:
            owner[incident.incident_id] = best[2]
    detections = []
    for index, shock in enumerate(shocks):
        teams = set(shock.teams)
        paged = [
            page
            for page in team_pages
            if page.team_id in teams and shock.start <= page.window_start < shock.end
        ]
        detections.append(
            ShockDetection(
                shock,
                tuple(i for i in found if owner.get(i.incident_id) == index),
                window_ms,
                team_pages=len(paged),
                paged_teams=len({page.team_id for page in paged}),
            )
        )
    false = tuple(i for i in found if i.incident_id not in owner)
    windows = {(unit.unit_id, unit.metrics.window_start): unit for unit in unit_windows}
    steady = {
        key
        for key, unit in windows.items()
        if not any(
            shock.start < unit.metrics.window_end
            and unit.metrics.window_start < shock.end
            and not set(shock.teams).isdisjoint(unit.teams)
            for shock in shocks
        )
    }
    return IncidentFigures(
        shocks=tuple(detections),
        false_incidents=false,
        false_on_steady=sum(1 for i in false if (i.unit_id, i.opened_window_start) in steady),
        steady_unit_windows=len(steady),
        unit_windows=len(windows),
        incidents_opened=len(found),
        team_pages=len(team_pages),
    )


def pool_incident_figures(figures: Iterable[IncidentFigures]) -> IncidentFigures:
    """Several runs' incident figures as one: counts added, shocks put together."""
    figures = list(figures)
    return IncidentFigures(
        shocks=tuple(shock for f in figures for shock in f.shocks),
        false_incidents=tuple(incident for f in figures for incident in f.false_incidents),
        false_on_steady=sum(f.false_on_steady for f in figures),
        steady_unit_windows=sum(f.steady_unit_windows for f in figures),
        unit_windows=sum(f.unit_windows for f in figures),
        incidents_opened=sum(f.incidents_opened for f in figures),
        team_pages=sum(f.team_pages for f in figures),
    )


# --- the report --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """Every figure of one evaluation. Holds the raw counts and the per-item detections, so
    reports of several runs pool by adding them up (:func:`pool_reports`)."""

    evaluation: Evaluation
    steady: SteadyFalseAlerts
    detections: tuple[ItemDetection, ...]
    incidents: IncidentFigures | None = None  # None: evaluated without an organisation

    @property
    def by_effect_size(self) -> tuple[BucketRecall, ...]:
        return recall_by_effect_size(self.detections)

    @property
    def by_team_size(self) -> tuple[BucketRecall, ...]:
        return recall_by_team_size(self.detections)

    @property
    def delays(self) -> tuple[DelaySummary, ...]:
        return delay_summaries(self.detections)

    @property
    def acceptance(self) -> Acceptance:
        return acceptance_check(self.steady, self.detections)

    def to_json(self) -> dict[str, Any]:
        """The per-kind ``kinds`` and ``total`` of :meth:`Evaluation.to_json`, and the rest."""
        return {
            **self.evaluation.to_json(),
            "steady_false_alerts": self.steady.to_json(),
            "recall_by_effect_size": [row.to_json() for row in self.by_effect_size],
            "recall_by_team_size": [row.to_json() for row in self.by_team_size],
            "time_to_detection": {
                "deadline_windows": DEADLINE_WINDOWS,
                "summary": [row.to_json() for row in self.delays],
                "items": [d.to_json() for d in self.detections],
            },
            "acceptance": self.acceptance.to_json(),
            "incidents": None if self.incidents is None else self.incidents.to_json(),
        }


def build_report(
    alerts: Sequence[MirrorAlert],
    truth: Sequence[TruthItem],
    windows: Iterable[TeamWindow],
    window_ms: int,
    *,
    incidents: IncidentFigures | None = None,
) -> EvaluationReport:
    """The whole report of one replay: its alerts, the truth, its closed team-windows
    (``ReplayResult.windows``) and the window size the replay ran with; ``incidents``: its
    :func:`incident_figures` when it ran with an organisation."""
    return EvaluationReport(
        evaluation=evaluate(alerts, truth),
        steady=steady_false_alerts(alerts, truth, windows),
        detections=time_to_detection(alerts, truth, window_ms),
        incidents=incidents,
    )


def pool_evaluations(evaluations: Iterable[Evaluation]) -> Evaluation:
    """The per-kind counts of several evaluations added up (rows in first-seen order)."""
    sums: dict[str, KindScore] = {}
    for evaluation in evaluations:
        for row in evaluation.rows:
            before = sums.get(row.kind)
            sums[row.kind] = (
                row
                if before is None
                else KindScore(
                    kind=row.kind,
                    alerts=before.alerts + row.alerts,
                    true_positives=before.true_positives + row.true_positives,
                    false_positives=before.false_positives + row.false_positives,
                    truth_items=before.truth_items + row.truth_items,
                    detected=before.detected + row.detected,
                    missed=before.missed + row.missed,
                )
            )
    return Evaluation(tuple(sums.values()))


def pool_reports(reports: Iterable[EvaluationReport]) -> EvaluationReport:
    """Several runs as one: counts added, detections put together (incident figures pooled
    over the runs that have them)."""
    reports = list(reports)
    incidents = [r.incidents for r in reports if r.incidents is not None]
    return EvaluationReport(
        evaluation=pool_evaluations(r.evaluation for r in reports),
        steady=SteadyFalseAlerts(
            steady_windows=sum(r.steady.steady_windows for r in reports),
            windows_with_alert=sum(r.steady.windows_with_alert for r in reports),
            false_alerts=sum(r.steady.false_alerts for r in reports),
        ),
        detections=tuple(d for r in reports for d in r.detections),
        incidents=pool_incident_figures(incidents) if incidents else None,
    )
