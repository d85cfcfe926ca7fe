"""Every Grafana panel query and every example query of docs/bi.md runs on a store that a real
pipeline run filled (real Apache Kafka broker, the worker as its own process, chDB), and returns
rows: acceptance 1 of issue 14.

One run, shared by the module: an organisation of 3 departments of 4 teams plus a team the
teams topic does not name (unassigned), 9 windows of 10 s of simulated answers with customer
tags, ending a minute ago so the docs' ``now() - INTERVAL …`` ranges hold them. Three teams of
department d1 decline together from window 6 (critical episodes, still open, and one incident
at acme/d1); a team of d0 warns from window 4; garbage records become dead letters; once every
window has closed, a few answers of d1-t3 arrive for window 2 (late events). Then the worker
stops and the store is read through ``ClickHouseSink(read_only=True)``, as a BI user would.

Dashboard queries are expanded as Grafana and the plugin would (the expander is documented in
tests/unit/test_grafana_dashboard.py): the time range from a window before the first to a
minute after the run (dead letters carry wall-clock times), a 10 s interval, the team
``d1-t0``, and the unit once All and once ``acme/d1``. The docs' queries run as written.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from schemas.records import CustomerFeedback, EmployeePulse
from sinks.clickhouse import ClickHouseSink
from streams.runtime.publish import SignalPublisher
from streams.tools.plans import Effect
from streams.tools.simulator import Simulator, TeamPlan
from tests.integration.harness import (
    PipelineEnv,
    WorkerProcess,
    all_windows_closed,
    create_topics,
    uncommitted_records,
    wait_until,
)
from tests.unit.test_grafana_dashboard import (
    ALL,
    Expansion,
    Query,
    dashboard_queries,
    docs_queries,
    expand,
    load_dashboard,
)

pytestmark = pytest.mark.integration

WINDOW_MS = 10_000
WINDOWS = 9
DEPARTMENTS = 3
TEAMS_PER_DEPARTMENT = 4
DECLINE = ("d1-t0", "d1-t1", "d1-t2")  # together from window 6: one incident at acme/d1
WARNING = "d0-t0"  # inner warning from window 4
LATE_TEAM = "d1-t3"
UNASSIGNED = "solo"
TEAM = "d1-t0"  # the dashboard's team
UNITS = (ALL, "acme/d1")  # the dashboard's unit, each in turn

DASHBOARD_QUERIES = dashboard_queries(load_dashboard())
DOCS_QUERIES = docs_queries()


@dataclass
class BiStore:
    sink: ClickHouseSink
    start: datetime
    end: datetime
    units: list[str]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.sink.query(sql)[1]

    def expansion(self, unit: str) -> Expansion:
        return Expansion(
            start=self.start,
            end=self.end,
            interval_seconds=WINDOW_MS // 1000,
            values={"unit": unit, "team": TEAM},
            options={"unit": self.units},
        )


def _plans() -> list[TeamPlan]:
    plans = []
    for department in range(DEPARTMENTS):
        for number in range(TEAMS_PER_DEPARTMENT):
            team = f"d{department}-t{number}"
            effects: tuple[Effect, ...] = ()
            if team in DECLINE:
                effects = (Effect("mirror_decline", 6),)
            elif team == WARNING:
                effects = (Effect("inner_warning", 4),)
            plans.append(TeamPlan(team, effects=effects, employees=12, customers=40))
    plans.append(TeamPlan(UNASSIGNED, employees=12, customers=40))
    return plans


def _organisation(path: Path) -> Path:
    lines = ["team_id,display_name,company,department"]
    for plan in _plans():
        if plan.team_id != UNASSIGNED:
            department = plan.team_id.split("-")[0]
            lines.append(f"{plan.team_id},Team {plan.team_id},acme,{department}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _garbage(env: PipelineEnv) -> list[tuple[str, bytes]]:
    return [
        (env.customer_topic, b"\xff" + os.urandom(40)),
        (env.customer_topic, b"\x00\x01\x02 not avro"),
        (env.employee_topic, b""),
        (env.employee_topic, b"\x7fgarbage"),
    ]


def _late(start_ms: int) -> list[CustomerFeedback | EmployeePulse]:
    """Answers of window 2 for LATE_TEAM, sent once every window has closed."""
    at = start_ms + 2 * WINDOW_MS + 500
    customers: list[CustomerFeedback | EmployeePulse] = [
        CustomerFeedback(
            event_id=f"late-c{i}",
            occurred_at=at + i,
            team_id=LATE_TEAM,
            channel="phone",
            source="test",
            tags=("billing",),
            nps=6,
            trust=3,
        )
        for i in range(4)
    ]
    pulses = [
        EmployeePulse(
            event_id=f"late-e{i}", occurred_at=at + i, team_id=LATE_TEAM, source="test", enps=7
        )
        for i in range(2)
    ]
    return customers + pulses


def _units_caught_up(env: PipelineEnv) -> bool:
    """Whether the unit stage has committed every input written so far (its outputs, incidents
    and unit windows, are durable before its offset is committed)."""
    consumer = KafkaConsumer(
        bootstrap_servers=env.bootstrap, group_id=f"{env.prefix}-units", enable_auto_commit=False
    )
    try:
        inputs = TopicPartition(f"{env.prefix}-unit-inputs", 0)
        end = consumer.end_offsets([inputs])[inputs]
        return end > 0 and (consumer.committed(inputs) or 0) >= end
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def store(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BiStore]:
    tmp = tmp_path_factory.mktemp("bi")
    env = create_topics(PipelineEnv(kafka_broker.bootstrap, tmp, f"bi-{uuid.uuid4().hex[:8]}"))
    loaded = env.run_cli("teams", "load", str(_organisation(tmp / "teams.csv")))
    assert loaded.returncode == 0, loaded.stderr

    now = int(time.time() * 1000)
    origin = now - now % WINDOW_MS - (WINDOWS + 6) * WINDOW_MS  # the last window ends ~1 min ago
    simulator = Simulator(_plans(), WINDOW_MS, origin, seed=7)
    events = [e for index in range(WINDOWS) for e in simulator.window(index)]
    assert any(e.tags for e in events if isinstance(e, CustomerFeedback))
    with SignalPublisher(env.bootstrap, env.customer_topic, env.employee_topic) as publisher:
        publisher.send_all(events)
        for topic, value in _garbage(env):
            publisher.send_raw(topic, b"d0-t1", value)

    worker = WorkerProcess(env).start()
    try:
        last_end = {plan.team_id: origin + WINDOWS * WINDOW_MS for plan in _plans()}
        wait_until(lambda: all_windows_closed(env, last_end), 90, "every window closed", worker)
        with SignalPublisher(env.bootstrap, env.customer_topic, env.employee_topic) as publisher:
            publisher.send_all(_late(origin))
        wait_until(lambda: not uncommitted_records(env), 60, "the late events", worker)
        wait_until(lambda: _units_caught_up(env), 60, "the unit stage", worker)
    finally:
        assert worker.stop() == 0, worker.log()[-4000:]

    sink = ClickHouseSink(f"chdb://{env.store}", read_only=True)
    sink.open()
    try:
        _, units = sink.query("SELECT DISTINCT unit_id FROM v_unit_windows ORDER BY unit_id")
        yield BiStore(
            sink=sink,
            start=datetime.fromtimestamp(origin / 1000, UTC) - timedelta(milliseconds=WINDOW_MS),
            end=datetime.now(UTC) + timedelta(minutes=1),
            units=[unit for (unit,) in units],
        )
    finally:
        sink.close()


def test_the_run_produced_what_every_panel_shows(store: BiStore) -> None:
    """The data the checks below rely on, so an empty panel points at the query, not the run."""
    counts = {
        view: store.rows(f"SELECT count() FROM {view}")[0][0]
        for view in ("v_open_episodes", "v_incidents", "v_late_events", "v_dead_letters")
    }
    assert all(counts.values()), counts
    assert {unit for unit in store.units} >= {"acme", "acme/d0", "acme/d1", "unassigned"}
    tags = store.rows("SELECT DISTINCT tag FROM v_customer_tags")
    assert ("sustainability",) in tags


@pytest.mark.parametrize("query", DASHBOARD_QUERIES, ids=lambda q: q.name)
def test_every_dashboard_query_returns_rows(store: BiStore, query: Query) -> None:
    for unit in UNITS:
        sql = expand(query.sql, store.expansion(unit))
        rows = store.rows(sql)
        assert rows, f"no row with unit {unit}:\n{sql}"
        if query.panel_type == "stat":
            # A count always gives one row: the panel only shows something if it is not 0.
            assert rows[0][0], f"0 with unit {unit}:\n{sql}"


def test_the_team_variable_offers_the_teams_of_the_unit(store: BiStore) -> None:
    (variable,) = [q for q in DASHBOARD_QUERIES if q.name == "variable team"]
    teams = store.rows(expand(variable.sql, store.expansion("acme/d1")))
    assert [team for team, _ in teams] == [f"d1-t{n}" for n in range(TEAMS_PER_DEPARTMENT)]
    everyone = store.rows(expand(variable.sql, store.expansion(ALL)))
    assert len(everyone) == DEPARTMENTS * TEAMS_PER_DEPARTMENT + 1


@pytest.mark.parametrize("query", DOCS_QUERIES, ids=lambda q: q.name[:60])
def test_every_documented_example_query_returns_rows(store: BiStore, query: Query) -> None:
    assert store.rows(query.sql), query.sql
