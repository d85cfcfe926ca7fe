"""Sample sink batches for the store tests: every table's rows, with values worth checking."""

from __future__ import annotations

import hashlib

from schemas.records import CustomerFeedback, MirrorAlert
from streams.core.episodes import Episode
from streams.core.incidents import Incident
from streams.core.model import (
    BackfillRun,
    DeadLetter,
    DuplicateEvent,
    EmployeeComment,
    LateEvent,
    SideMetrics,
    SinkBatch,
    TeamWindowMetrics,
)
from streams.core.org import TeamInfo
from streams.core.units import UnitWindow

WINDOW_START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
WINDOW_END = WINDOW_START + 86_400_000


def employee(n: int = 12) -> SideMetrics:
    return SideMetrics(
        n=n,
        index=61.5,
        index_se=3.25,
        components={"enps": 55.0, "trust": 70.0},
        raw={"enps": 10.0, "enps_se": 8.5, "trust_mean": 3.8, "workload_mean": 2.9},
    )


def team_window(team_id: str, employee: SideMetrics | None, suppressed: bool) -> TeamWindowMetrics:
    return TeamWindowMetrics(
        team_id=team_id,
        window_start=WINDOW_START,
        window_end=WINDOW_END,
        customer=SideMetrics(
            n=40,
            index=72.0,
            index_se=2.5,
            components={"nps": 66.0, "csat": 80.0},
            raw={"nps": 32.0, "nps_se": 11.0, "csat": 80.0, "trust_mean": 4.1},
        ),
        employee=employee,
        employee_suppressed=suppressed,
        index_version="idx-v1",
        late_events=3,
        customer_tags=(
            ("billing", SideMetrics(n=4, index=55.0, index_se=9.0, raw={"nps": -25.0})),
        ),
    )


def full_batch(token: str = "customer-feedback:0:0-99") -> SinkBatch:
    alert = MirrorAlert(
        alert_id="a-1",
        team_id="team-a",
        window_start=WINDOW_START,
        window_end=WINDOW_END,
        kind="mirror_decline",
        severity="critical",
        detector="mirror",
        detector_version="1",
        message="Trust fell on both sides of team-a this window.",
        created_at=WINDOW_END + 1_000,
        dimension="trust",
        customer_n=40,
        employee_n=12,
        customer_index=58.0,
        employee_index=49.5,
        customer_delta=-9.0,
        employee_delta=-11.25,
        customer_z=-3.1,
        employee_z=-2.7,
        evidence={"min_effect": 5.0, "z_crit": 2.0},
    )
    feedback = CustomerFeedback(
        event_id="evt-1",
        occurred_at=WINDOW_START + 1_234,
        team_id="team-a",
        channel="chat",
        source="survey-x",
        customer_ref="c-hmac-1",
        tags=("billing", "sustainability"),
        language="fr",
        comment="Très aimable",
        nps=9,
        ces=6,
        trust=4,
    )
    late_feedback = CustomerFeedback(
        event_id="evt-2",
        occurred_at=WINDOW_START - 5_000,
        team_id="team-a",
        channel="phone",
        source="survey-x",
        csat=2,
    )
    payload = b"\x00\xff\xfe not avro \x80"
    return SinkBatch(
        token=token,
        alerts=[alert],
        team_windows=[team_window("team-a", employee(), suppressed=False)],
        customer_feedback=[(feedback, False), (late_feedback, True)],
        employee_comments=[EmployeeComment("team-a", WINDOW_START, WINDOW_END, "On s'entraide.")],
        dead_letters=[
            DeadLetter(
                topic="customer-feedback",
                partition=2,
                offset=41,
                reason="not an Avro body",
                payload=payload,
                payload_sha256=hashlib.sha256(payload).hexdigest(),
                key=b"team-a",
                seen_at=WINDOW_END + 5,
                error_kind="undecodable",
            )
        ],
        late_events=[
            LateEvent("team-a", WINDOW_START - 86_400_000, "customer", "customer-feedback", 2, 40)
        ],
        duplicate_events=[
            DuplicateEvent("team-a", WINDOW_START, "customer", "event", "customer-feedback", 2, 42)
        ],
        episodes=[
            Episode(
                episode_id="ep-1",
                team_id="team-a",
                family="fall",
                kind="mirror_decline",
                severity="critical",
                opened_window_start=WINDOW_START,
                last_alert_window_start=WINDOW_START,
                alerts=1,
                peak_customer_delta=-9.0,
                last_window_end=WINDOW_END,
                detector_version="1",
                revision=1,
            )
        ],
        unit_windows=[
            UnitWindow(
                "acme",
                "company",
                team_window("acme", employee(), suppressed=False),
                ("team-a",),
                ("team-a",),
            )
        ],
        incidents=[
            Incident(
                "inc-1",
                "acme",
                "company",
                "fall",
                "critical",
                WINDOW_START,
                WINDOW_END,
                ("team-a", "team-b", "team-c"),
                ("ep-1", "ep-2", "ep-3"),
                3,
            )
        ],
        teams=[("team-a", TeamInfo("team-a", "Support Paris", ("acme", "emea", "paris")))],
        backfill_runs=[
            BackfillRun(
                "run-1",
                "done",
                WINDOW_END + 5_000,
                WINDOW_END + 9_000,
                WINDOW_START,
                None,
                "kafka:customer-feedback,employee-pulse",
                ("mirror",),
                events=3,
                alerts=1,
                windows=1,
            )
        ],
    )
