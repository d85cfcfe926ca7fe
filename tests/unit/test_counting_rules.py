"""Each event counted once, each person counted once, k over people — through the whole pure path.

Streams are drawn by hypothesis and fed as Avro messages through ``BatchPreparer`` (decode →
engine → metrics → what the sinks receive), the way the worker does, with a frozen wall clock.
The originals are in event-time order (so none is late); a hostile or sloppy producer then adds
copies of any of them anywhere later in the stream — exact re-sends, re-sends with other
answers, re-sends dated elsewhere — and one person may answer many times. Expected values are
computed here from the drawn records, independently of the aggregate.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import alert_to_json, encode
from schemas.records import EMPLOYEE_SCORES, CustomerFeedback, EmployeePulse, Signal
from streams.core.bounds import TimeBounds
from streams.core.engine import EngineConfig, MirrorEngine
from streams.core.identity import IdentityKeys
from streams.core.metrics import team_window_to_dict
from streams.core.model import TeamWindowMetrics
from streams.core.pipeline import BatchPreparer, RawMessage
from streams.detectors import DetectionSettings, load_detectors

CUSTOMER, EMPLOYEE = "cf-rules", "ep-rules"
WINDOW_MS, LATENESS_MS, K = 10_000, 1_000, 3
SECRET = b"counting-secret"
KEYS = IdentityKeys(SECRET)
TEAMS = ("t0", "t1")
WINDOWS = 6
PEOPLE = ("ann", "bob", "cy", "dee", None)  # None: a pulse without a reference


def preparer() -> BatchPreparer:
    detection = DetectionSettings(min_history=1, min_customer_n=1, min_employee_n=K, z_crit=1.0)
    config = EngineConfig(WINDOW_MS, LATENESS_MS, 60_000, K, detection, identity_keys=KEYS)
    engine: MirrorEngine[RawMessage] = MirrorEngine(
        config, load_detectors(["mirror_change", "symmetry_gap"]), lambda: 0.0
    )
    from schemas.codec import SignalCodec

    return BatchPreparer(
        engine,
        SignalCodec(),
        customer_topic=CUSTOMER,
        employee_topic=EMPLOYEE,
        hmac_secret=SECRET,
        time_bounds=TimeBounds(max_future_ms=10**15, max_age_ms=10**15),
    )


# -- drawing streams ------------------------------------------------------------------------
scores_1_5 = st.one_of(st.none(), st.integers(1, 5))


@st.composite
def pulses(draw: st.DrawFn, number: int) -> EmployeePulse:
    values = {name: draw(scores_1_5) for name in EMPLOYEE_SCORES if name != "enps"}
    values["enps"] = draw(st.one_of(st.none(), st.integers(0, 10)))
    if all(v is None for v in values.values()):
        values["trust"] = draw(st.integers(1, 5))
    return EmployeePulse(
        event_id=f"e{number}",
        occurred_at=draw(st.integers(0, WINDOWS * WINDOW_MS - 1)),
        team_id=draw(st.sampled_from(TEAMS)),
        source="s",
        respondent_ref=draw(st.sampled_from(PEOPLE)),
        **values,  # type: ignore[arg-type]
    )


@st.composite
def feedback(draw: st.DrawFn, number: int) -> CustomerFeedback:
    return CustomerFeedback(
        event_id=f"c{number}",
        occurred_at=draw(st.integers(0, WINDOWS * WINDOW_MS - 1)),
        team_id=draw(st.sampled_from(TEAMS)),
        channel="chat",
        source="s",
        nps=draw(st.integers(0, 10)),
        trust=draw(scores_1_5),
    )


@st.composite
def originals(draw: st.DrawFn) -> list[Signal]:
    count = draw(st.integers(0, 60))
    records: list[Signal] = [draw(st.one_of(pulses(i), feedback(i))) for i in range(count)]
    return sorted(records, key=lambda r: r.occurred_at)  # in event-time order: nothing late


@dataclass(frozen=True)
class Copy:
    of: int  # index of the original
    after: int  # inserted after this many stream items following the original
    how: str  # "exact" | "other answers" (a sloppy producer's re-send of the same event)


@st.composite
def copies(draw: st.DrawFn, count: int) -> list[Copy]:
    if not count:
        return []
    return draw(
        st.lists(
            st.builds(
                Copy,
                st.integers(0, count - 1),
                st.integers(0, 80),
                st.sampled_from(("exact", "other answers")),
            ),
            max_size=25,
        )
    )


def copy_of(record: Signal, how: str) -> Signal:
    if how == "other answers":
        if isinstance(record, CustomerFeedback):
            return dataclasses.replace(record, nps=10 - (record.nps or 0))
        return dataclasses.replace(record, trust=6 - record.trust if record.trust else 3)
    return record


def with_copies(records: list[Signal], extra: list[Copy]) -> list[Signal]:
    stream: list[tuple[float, Signal]] = [(float(i), r) for i, r in enumerate(records)]
    for n, item in enumerate(extra):
        # Strictly after the original; the fraction keeps copies in their drawn order.
        stream.append((item.of + 1 + item.after + n / 1000, copy_of(records[item.of], item.how)))
    return [record for _, record in sorted(stream, key=lambda pair: pair[0])]


def run(records: list[Signal], batch_size: int) -> tuple[list[TeamWindowMetrics], list[dict]]:
    p = preparer()
    messages = []
    offsets = {CUSTOMER: 0, EMPLOYEE: 0}
    for record in records:
        topic = CUSTOMER if isinstance(record, CustomerFeedback) else EMPLOYEE
        messages.append(
            RawMessage(topic, 0, offsets[topic], record.team_id.encode(), encode(record))
        )
        offsets[topic] += 1
    windows: list[TeamWindowMetrics] = []
    alerts = []
    for start in range(0, len(messages), batch_size):
        prepared = p.prepare(messages[start : start + batch_size])
        windows += prepared.sink.team_windows
        alerts += prepared.sink.alerts
    rest = p.engine.flush_all()
    windows += rest.closed
    alerts += rest.alerts
    return windows, [alert_to_json(a) for a in alerts]


# -- the expected counts, computed from the records ------------------------------------------
def expected_people(records: list[Signal]) -> dict[tuple[str, int], dict[str, int]]:
    """Per team-window: for each employee component, how many people's latest pulse (by event
    time, then event key) answered it; plus "" → the number of people."""
    latest: dict[tuple[str, int], dict[str, tuple[int, int, EmployeePulse]]] = defaultdict(dict)
    for record in records:
        if not isinstance(record, EmployeePulse):
            continue
        where = (record.team_id, record.occurred_at - record.occurred_at % WINDOW_MS)
        person = record.respondent_ref or f"event:{record.event_id}"
        rank = (record.occurred_at, KEYS.event(record.event_id), record)
        if person not in latest[where] or rank[:2] > latest[where][person][:2]:
            latest[where][person] = rank
    counts: dict[tuple[str, int], dict[str, int]] = {}
    for where, people in latest.items():
        answered = {"": len(people)}
        for _t, _k, pulse in people.values():
            for name, _value in pulse.scores().items():
                answered[name] = answered.get(name, 0) + 1
        counts[where] = answered
    return counts


SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(originals(), st.data(), st.integers(1, 40))
def test_no_shown_employee_value_comes_from_fewer_than_k_people(
    records: list[Signal], data: st.DataObject, batch_size: int
) -> None:
    stream = with_copies(records, data.draw(copies(len(records))))
    windows, alerts = run(stream, batch_size)
    people = expected_people(records)
    for window in windows:
        answered = people.get((window.team_id, window.window_start), {"": 0})
        if answered[""] < K:
            assert window.employee is None and window.employee_suppressed
            continue
        employee = window.employee
        assert employee is not None
        assert employee.n == answered[""]  # distinct people, never records
        for name, n in employee.component_n.items():
            assert n == answered[name] >= K, name
        assert set(employee.components) == {name for name, n in answered.items() if name and n >= K}
    for alert in alerts:
        employee_n = alert["employee_n"]
        assert employee_n is None or employee_n >= K


@SLOW
@given(originals(), st.data(), st.integers(1, 40))
def test_resending_any_subset_changes_no_stored_window_and_no_alert(
    records: list[Signal], data: st.DataObject, batch_size: int
) -> None:
    clean_windows, clean_alerts = run(records, batch_size)
    windows, alerts = run(with_copies(records, data.draw(copies(len(records)))), batch_size)

    # As stored: by key (batch boundaries move with the copies, and with them the order in
    # which windows of different teams close).
    def stored(found: list[TeamWindowMetrics]) -> list[dict]:
        return sorted(
            (team_window_to_dict(w) for w in found), key=lambda w: (w["team_id"], w["window_start"])
        )

    assert stored(windows) == stored(clean_windows)
    assert sorted(alerts, key=lambda a: a["alert_id"]) == sorted(
        clean_alerts, key=lambda a: a["alert_id"]
    )


def test_one_person_answering_five_times_does_not_unlock_k() -> None:
    """The attack of the hostile-testing report: one employee, five pulses, same window."""
    records: list[Signal] = [
        *(
            EmployeePulse(f"e{i}", 1_000 + i, "t0", "s", respondent_ref="mallory", trust=1)
            for i in range(5)
        ),
        *(EmployeePulse("same", 2_000, "t0", "s", trust=1) for _ in range(5)),
    ]
    windows, _ = run(records, 3)
    assert len(windows) == 1 and windows[0].employee is None


def test_a_component_of_fewer_than_k_people_is_left_out_of_a_shown_side() -> None:
    records: list[Signal] = [
        *(
            EmployeePulse(f"e{i}", 1_000 + i, "t0", "s", respondent_ref=f"p{i}", trust=4)
            for i in range(K)
        ),
        EmployeePulse("only", 1_500, "t0", "s", respondent_ref="p0", trust=4, recognition=1),
    ]
    (window,), _ = run(records, 10)
    assert window.employee is not None and window.employee.n == K
    # p0's latest pulse is the one with recognition: 1 person answered it, fewer than k.
    assert "recognition" not in window.employee.components
    assert "recognition_mean" not in window.employee.raw
    assert window.employee.component_n["trust"] == K
