"""k-anonymity holds for any input: property tests over the whole detection path (no I/O)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.records import CustomerFeedback, EmployeePulse
from sinks.clickhouse import _team_window_columns
from streams.core.engine import EngineConfig, Inbound, MirrorEngine
from streams.detectors import DetectionSettings, load_detectors

WINDOW = 1_000
EMPLOYEE_COLUMNS = ("employee_n", "employee_index", "employee_index_se", "enps", "enps_se")

likert = st.integers(1, 5)
team_window = st.tuples(
    st.integers(0, 12),  # employees who answered
    st.integers(0, 14),  # customers who answered
    st.lists(likert, min_size=14, max_size=14),  # the scores they gave (cycled)
)


@st.composite
def streams_of_teams(draw: st.DrawFn) -> tuple[int, dict[str, list[tuple[int, int, list[int]]]]]:
    k = draw(st.integers(3, 7))
    teams = draw(
        st.dictionaries(
            st.sampled_from(["a", "b", "c"]),
            st.lists(team_window, min_size=1, max_size=7),
            min_size=1,
        )
    )
    return k, teams


def build_events(teams: dict[str, list[tuple[int, int, list[int]]]]) -> list:
    events: list = []
    for team, windows in teams.items():
        for w, (employees, customers, scores) in enumerate(windows):
            for i in range(employees):
                events.append(
                    EmployeePulse(
                        event_id=f"{team}-e-{w}-{i}",
                        occurred_at=w * WINDOW + i,
                        team_id=team,
                        source="t",
                        trust=scores[i % 14],
                        recognition=scores[(i + 3) % 14],
                        enps=scores[(i + 1) % 14] * 2,
                        comment=f"comment {team} {w} {i}",
                    )
                )
            for i in range(customers):
                events.append(
                    CustomerFeedback(
                        event_id=f"{team}-c-{w}-{i}",
                        occurred_at=w * WINDOW + i,
                        team_id=team,
                        channel="web",
                        source="t",
                        trust=scores[i % 14],
                        csat=scores[(i + 5) % 14],
                        nps=scores[(i + 2) % 14] * 2,
                    )
                )
    events.sort(key=lambda e: e.occurred_at)
    return events


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams_of_teams())
def test_no_output_reveals_an_employee_aggregate_of_fewer_than_k_people(case) -> None:
    k, teams = case
    detection = DetectionSettings(min_history=1, min_customer_n=1, min_effect=0.5, z_crit=0.5)
    config = EngineConfig(WINDOW, 0, 10**9, k, detection, store_employee_comments=True)
    engine: MirrorEngine[int] = MirrorEngine(
        config, load_detectors(["mirror_change", "symmetry_gap"]), lambda: 0.0
    )
    out = engine.process([Inbound(0, e, i) for i, e in enumerate(build_events(teams))])
    out.extend(engine.flush_all())

    respondents = {
        (team, w * WINDOW): employees
        for team, windows in teams.items()
        for w, (employees, _, _) in enumerate(windows)
    }
    closed = {(m.team_id, m.window_start): m for m in out.closed}
    for key, m in closed.items():
        if respondents[key] < k:
            assert m.employee is None and m.employee_suppressed
        else:
            assert m.employee is not None and m.employee.n == respondents[key]

    for alert in out.alerts:
        if respondents[(alert.team_id, alert.window_start)] < k:
            assert alert.employee_n is None and alert.employee_index is None
            assert alert.employee_delta is None and alert.employee_z is None
            assert not any(name.startswith("employee_index") for name in alert.evidence)
            assert "employee index" not in alert.message

    for comment in out.employee_comments:
        assert respondents[(comment.team_id, comment.window_start)] >= max(10, k)

    rows = _team_window_columns(list(closed.values()), version=1)
    for i, m in enumerate(closed.values()):
        if respondents[(m.team_id, m.window_start)] < k:
            assert all(rows[column][i] is None for column in EMPLOYEE_COLUMNS)
            assert rows["employee_components"][i] == {}
