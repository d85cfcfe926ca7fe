"""Plain data passed between the pure pipeline core, the Faust shell and the sinks (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from schemas.records import CustomerFeedback, MirrorAlert
from streams.core.episodes import Episode

if TYPE_CHECKING:  # both import this module: a runtime import would be a cycle
    from streams.core.incidents import Incident
    from streams.core.org import TeamInfo
    from streams.core.units import UnitWindow


@dataclass(frozen=True, slots=True)
class SideMetrics:
    """The metrics of one side (customer or employee) of one team-window.

    ``components`` holds every available component scaled to 0–100 (NPS/eNPS mapped from
    −100…100), ``component_se`` their standard errors on the same scale; ``index`` is the
    mean of the respondents' composites and ``index_se`` its standard error. ``raw`` holds the
    metrics in their natural units: ``nps`` (−100…100), ``nps_se``, ``csat`` (top-2-box %),
    ``ces_mean``, ``ces_easy_pct``, Likert means such as ``trust_mean`` ...
    """

    n: int
    index: float | None
    index_se: float | None
    components: dict[str, float] = field(default_factory=dict)
    component_se: dict[str, float] = field(default_factory=dict)
    component_n: dict[str, int] = field(default_factory=dict)
    raw: dict[str, float] = field(default_factory=dict)
    # The respondents behind the index (those whose answers include a weighted component) and
    # the sample sd of their composites (None below two): with ``index`` these are the
    # mergeable moments of the side (docs/statistics.md).
    index_n: int = 0
    index_sd: float | None = None


@dataclass(frozen=True, slots=True)
class TeamWindowMetrics:
    """Both sides of one closed team-window.

    ``employee`` is None when the window had fewer than k employee respondents: suppressed
    everywhere downstream (k-anonymity), including its respondent count.
    """

    team_id: str
    window_start: int  # epoch ms, inclusive
    window_end: int  # epoch ms, exclusive
    customer: SideMetrics
    employee: SideMetrics | None
    employee_suppressed: bool
    index_version: str
    late_events: int = 0
    alert_kinds: tuple[str, ...] = ()  # kinds the detectors raised on this window (at close)
    # The customer side cut by tag (streams.core.tags): (tag, its metrics), by tag name. Not
    # kept in a team's history: baselines never look at tags.
    customer_tags: tuple[tuple[str, SideMetrics], ...] = ()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that could not be used, with where it came from and why.

    ``payload`` is the original bytes, except for employee pulses, whose bytes are personal
    data and stay only on the dead-letter topic (``payload`` is then None, ``payload_sha256`` set).
    """

    topic: str
    partition: int
    offset: int
    reason: str
    payload: bytes | None
    payload_sha256: str
    key: bytes | None = None
    seen_at: int = 0  # epoch ms, wall clock
    # undecodable | schema | range | no_score | oversize | invalid | future | too_old | late |
    # duplicate | webhook | store (a row the ClickHouse store refused for good)
    error_kind: str = "invalid"


@dataclass(frozen=True, slots=True)
class LateEventCount:
    """How many events arrived after their team-window had closed (they never re-fire alerts)."""

    team_id: str
    window_start: int
    side: str  # "customer" | "employee"
    events: int


@dataclass(frozen=True, slots=True)
class LateEvent:
    """One event that arrived after its team-window had closed, by its source coordinates.

    Carries no answers and no reference: the row exists so that a replayed batch counts each
    late event once (ClickHouse keeps one row per source coordinate).
    """

    team_id: str
    window_start: int
    side: str  # "customer" | "employee"
    source_topic: str
    source_partition: int
    source_offset: int


@dataclass(frozen=True, slots=True)
class DuplicateEvent:
    """One event that did not count because its window already held it, by source coordinates.

    ``kind`` says why: ``event`` — its ``event_id`` was already counted in this window (a
    producer re-sent it); ``respondent`` — an employee pulse of a person who already answered
    in this window (one person counts once: their latest pulse by event time is the one kept).
    Carries no answers and no reference, like ``LateEvent``.
    """

    team_id: str
    window_start: int
    side: str  # "customer" | "employee"
    kind: str  # "event" | "respondent"
    source_topic: str
    source_partition: int
    source_offset: int


@dataclass(frozen=True, slots=True)
class EmployeeComment:
    """An employee comment released with its team-window (opt-in; ≥ 10 respondents)."""

    team_id: str
    window_start: int
    window_end: int
    comment: str


@dataclass(frozen=True, slots=True)
class BackfillRun:
    """One ``miroir backfill`` run, as recorded in the ``backfill_runs`` table (one row per
    run, its latest state winning): what it read, with which detectors, and what it wrote."""

    run_id: str
    state: str  # "running" | "done" | "failed" | "stopped"
    started_at: int  # epoch ms, wall clock
    finished_at: int | None  # epoch ms; None while running
    from_ms: int  # event time the run read from (inclusive)
    to_ms: int | None  # event time it read up to (exclusive); None: the end of the topics
    source: str  # "kafka:<topic>,<topic>" or "file:<path>"
    detectors: tuple[str, ...]
    events: int = 0
    alerts: int = 0
    windows: int = 0
    note: str = ""  # the error of a failed run, in plain words


@dataclass(slots=True)
class SinkBatch:
    """Everything one processed batch produced, written to the sinks as one unit.

    ``token`` identifies the batch deterministically (source topic-partition-offset ranges), so
    a replayed batch is deduplicated by ClickHouse instead of being written twice.
    """

    token: str = ""
    # The backfill run that produced the batch's alerts, windows, episodes and incidents (their
    # run_id column); "" for the live worker.
    run_id: str = ""
    alerts: list[MirrorAlert] = field(default_factory=list)
    team_windows: list[TeamWindowMetrics] = field(default_factory=list)
    customer_feedback: list[tuple[CustomerFeedback, bool]] = field(
        default_factory=list
    )  # (row, late)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    late_events: list[LateEvent] = field(default_factory=list)
    duplicate_events: list[DuplicateEvent] = field(default_factory=list)
    employee_comments: list[EmployeeComment] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)  # as their events left them
    unit_windows: list[UnitWindow] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)  # as their events left them
    backfill_runs: list[BackfillRun] = field(default_factory=list)
    # The organisation as read from the teams topic: (team_id, its TeamInfo, or None once
    # the team was removed).
    teams: list[tuple[str, TeamInfo | None]] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (
            self.teams
            or self.backfill_runs
            or self.unit_windows
            or self.incidents
            or self.episodes
            or self.employee_comments
            or self.duplicate_events
            or self.alerts
            or self.team_windows
            or self.customer_feedback
            or self.dead_letters
            or self.late_events
        )
