"""Shared shocks end to end: a real broker, the real worker, the real ClickHouse engine and a real
HTTP receiver for the webhooks.

The organisation (3 departments of 6 teams) is loaded with ``miroir teams load``. A decline
hits half of department d1 in window 5, then a third of the company (two teams in each
department) in window 8. Exactly one incident each, at the right unit, opened in the shock's
first window; the webhooks get the two incidents and no page for a team they cover; and the
stored incidents, unit windows and pages equal a clean in-process run of the same events.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from schemas.codec import record_to_json, topic_of
from streams.core.org import OrgChart, TeamInfo
from streams.runtime.publish import SignalPublisher
from streams.settings import load_settings
from streams.tools.plans import Effect
from streams.tools.replay import replay
from streams.tools.simulator import Simulator, TeamPlan
from tests.integration.harness import (
    PipelineEnv,
    WorkerProcess,
    all_windows_closed,
    create_topics,
    wait_until,
)
from tests.integration.test_webhooks import SECRET, Receiver

pytestmark = pytest.mark.integration

WINDOW_MS = 10_000
WINDOWS = 11
DEPARTMENT_SHOCK = {"d1-t0", "d1-t1", "d1-t2"}  # half of d1, from window 5
COMPANY_SHOCK = {"d0-t0", "d0-t1", "d1-t3", "d1-t4", "d2-t0", "d2-t1"}  # a third, from 8


def plans() -> list[TeamPlan]:
    result = []
    for department in range(3):
        for number in range(6):
            team = f"d{department}-t{number}"
            start = 5 if team in DEPARTMENT_SHOCK else 8 if team in COMPANY_SHOCK else None
            effects = () if start is None else (Effect("mirror_decline", start),)
            result.append(TeamPlan(team, effects=effects, employees=12, customers=40))
    return result


def organisation_csv(path: Path) -> OrgChart:
    chart = OrgChart()
    lines = ["team_id,display_name,company,department"]
    for plan in plans():
        department = plan.team_id.split("-")[0]
        lines.append(f"{plan.team_id},Team {plan.team_id},acme,{department}")
        chart.update(
            TeamInfo(
                plan.team_id,
                f"Team {plan.team_id}",
                ("acme", department),
                ("company", "department"),
            ),
            plan.team_id,
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return chart


def test_a_department_shock_and_a_company_shock_are_one_incident_each(
    kafka_broker, tmp_path: Path, unique_name
) -> None:
    receiver = Receiver().start()
    try:
        env = PipelineEnv(
            kafka_broker.bootstrap,
            tmp_path,
            unique_name("inc"),
            extra={
                "MIROIR_WEBHOOK_URLS": receiver.url("/ok"),
                "MIROIR_WEBHOOK_SECRET": SECRET,
                "MIROIR_WEBHOOK_MIN_SEVERITY": "info",
            },
        )
        create_topics(env)
        chart = organisation_csv(tmp_path / "teams.csv")
        loaded = env.run_cli("teams", "load", str(tmp_path / "teams.csv"))
        assert loaded.returncode == 0, loaded.stderr
        assert "18 teams written" in loaded.stderr

        now = int(time.time() * 1000)
        simulator = Simulator(plans(), WINDOW_MS, now - now % WINDOW_MS - 60 * WINDOW_MS, seed=7)
        events = [e for index in range(WINDOWS) for e in simulator.window(index)]
        clean = replay(
            ((topic_of(e), record_to_json(e)) for e in events),
            load_settings(window_seconds=10, allowed_lateness_seconds=2, topic_partitions=4),
            org=chart,
        )
        expected = sorted(
            (i.unit_id, i.level, i.opened_window_start, tuple(sorted(i.teams)))
            for i in clean.incidents.values()
        )
        assert [(unit, level) for unit, level, *_ in expected] == [
            ("acme", "company"),
            ("acme/d1", "department"),
        ], expected

        with SignalPublisher(env.bootstrap, env.customer_topic, env.employee_topic) as publisher:
            publisher.send_all(events)
        first = min(e.occurred_at for e in events)
        origin = first - first % WINDOW_MS
        worker = WorkerProcess(env).start()
        try:
            wait_until(
                lambda: sum(r.body["miroir"]["scope"] != "team" for r in receiver.accepted()) >= 2,
                180,
                "two incident pages",
                worker,
            )
            last_end = {plan.team_id: origin + WINDOWS * WINDOW_MS for plan in plans()}
            wait_until(
                lambda: all_windows_closed(env, last_end), 120, "the last windows closed", worker
            )
            time.sleep(5)  # the unit stage closes it too, and an extra page would show up
        finally:
            assert worker.stop() == 0, worker.log()[-4000:]

        stored = env.query(
            "SELECT unit_id, level, toUnixTimestamp64Milli(opened_window_start) AS opened, teams "
            "FROM incidents FINAL ORDER BY unit_id"
        )
        got = sorted(
            (r["unit_id"], r["level"], r["opened"], tuple(sorted(r["teams"]))) for r in stored
        )
        assert got == expected
        # In the shock's first window: the windows the effects start in.
        assert {unit: (opened - origin) // WINDOW_MS for unit, _, opened, _ in got} == {
            "acme": 8,
            "acme/d1": 5,
        }
        # One page per incident, none for a team an incident covers.
        pages = [r.body["miroir"] for r in receiver.accepted()]
        incident_pages = [p for p in pages if p["scope"] != "team"]
        assert sorted((p["unit_id"], p["event"]) for p in incident_pages) == [
            ("acme", "opened"),
            ("acme/d1", "opened"),
        ]
        covered = DEPARTMENT_SHOCK | COMPANY_SHOCK
        assert [p for p in pages if p["team_id"] in covered and p["event"] == "opened"] == []
        assert sorted(p["alert_id"] for p in pages) == sorted(
            p.alert_id for p in clean.pages if p.event in ("opened", "escalated", "resolved")
        )
        # Unit windows: every unit of every window, the employee side shown (18 teams of 12).
        units = env.query(
            "SELECT unit_id, count() AS windows, sum(employee_suppressed) AS hidden "
            "FROM unit_window_metrics FINAL GROUP BY unit_id ORDER BY unit_id"
        )
        assert [(u["unit_id"], u["windows"], u["hidden"]) for u in units] == [
            ("acme", WINDOWS, 0),
            ("acme/d0", WINDOWS, 0),
            ("acme/d1", WINDOWS, 0),
            ("acme/d2", WINDOWS, 0),
        ]
    finally:
        receiver.stop()
