"""The shared detection path: windows, watermarks, close-once, lateness, restarts (no I/O)."""

from __future__ import annotations

import dataclasses

import pytest

from schemas.records import CustomerFeedback, EmployeePulse, EpisodeAction
from streams.core.engine import EngineConfig, Inbound, MirrorEngine
from streams.core.partitioning import partition_for
from streams.core.windows import PartitionClock, TeamState, window_start_for
from streams.detectors import DetectionSettings, load_detectors
from streams.tools.simulator import Simulator, TeamPlan, demo_plans

WINDOW = 10_000
LATENESS = 2_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def make_engine(clock: FakeClock | None = None, idle_ms: int = 5_000) -> MirrorEngine[int]:
    config = EngineConfig(
        window_ms=WINDOW,
        allowed_lateness_ms=LATENESS,
        idle_close_ms=idle_ms,
        k_anonymity=5,
        detection=DetectionSettings(),
    )
    return MirrorEngine(
        config, load_detectors(["mirror_change", "symmetry_gap"]), clock or FakeClock()
    )


def feedback(team: str, at: int, score: int = 4, event_id: str | None = None) -> CustomerFeedback:
    return CustomerFeedback(
        event_id=event_id or f"c-{team}-{at}",
        occurred_at=at,
        team_id=team,
        channel="web",
        source="t",
        csat=score,
        trust=score,
    )


def pulse(team: str, at: int, score: int = 4) -> EmployeePulse:
    return EmployeePulse(
        event_id=f"e-{team}-{at}", occurred_at=at, team_id=team, source="t", trust=score, enps=8
    )


def inbound(records, partition: int = 0) -> list[Inbound[int]]:
    return [Inbound(partition, r, i) for i, r in enumerate(records)]


def test_window_start_is_aligned_to_size() -> None:
    assert window_start_for(0, WINDOW) == 0
    assert window_start_for(9_999, WINDOW) == 0
    assert window_start_for(10_000, WINDOW) == 10_000
    assert window_start_for(25_123, WINDOW) == 20_000


def _clock(*events: tuple[str, int, float], now: float = 0.0) -> PartitionClock:
    clock = PartitionClock(created_wall_ms=0.0)
    for side, at, wall in events:
        clock.observe(side, at, wall)
    clock.advance(now, LATENESS, 5_000)
    return clock


def test_watermark_is_the_slowest_active_side_minus_lateness() -> None:
    clock = _clock(("customer", 50_000, 0.0), ("employee", 30_000, 0.0))
    assert clock.watermark == 28_000
    clock.observe("employee", 60_000, 1.0)
    assert clock.advance(1.0, LATENESS, 5_000) == 48_000


def test_watermark_waits_for_a_side_that_has_not_shown_up_yet() -> None:
    clock = _clock(("customer", 50_000, 0.0))
    assert clock.watermark is None  # employee-pulse may simply be delivered later
    assert clock.advance(6_000.0, LATENESS, 5_000) == 49_000  # ... until all is idle (1 s beyond)


def test_watermark_never_moves_back() -> None:
    clock = _clock(("customer", 50_000, 0.0), ("employee", 50_000, 0.0))
    clock.observe("customer", 30_000, 1.0)  # out of order
    assert clock.advance(1.0, LATENESS, 5_000) == 48_000


def test_idle_partition_advances_with_the_wall_clock_after_the_grace_period() -> None:
    clock = _clock(("customer", 50_000, 0.0), ("employee", 50_000, 0.0))
    assert clock.advance(4_000.0, LATENESS, 5_000) == 48_000  # within the grace period
    assert clock.advance(8_000.0, LATENESS, 5_000) == 51_000  # 3 s beyond it
    assert clock.advance(9_000.0, LATENESS, 5_000) == 52_000


def test_restored_clock_does_not_count_downtime_as_idleness() -> None:
    clock = _clock(("customer", 50_000, 0.0), ("employee", 50_000, 0.0))
    restored = PartitionClock.from_dict(clock.to_dict(), now_wall_ms=10_000_000.0)
    assert restored.advance(10_001_000.0, LATENESS, 5_000) == 48_000


def both(team: str, at: int) -> list:
    return [feedback(team, at), pulse(team, at)]


def test_a_window_closes_once_when_the_watermark_passes_its_end() -> None:
    engine = make_engine()
    out = engine.process(inbound([*both("a", 1_000), *both("a", 9_000)]))
    assert out.closed == []
    # max event time 11_999 → watermark 9_999: window [0, 10_000) still open
    out = engine.process(inbound(both("a", 11_999)))
    assert out.closed == []
    out = engine.process(inbound(both("a", 12_000)))  # watermark 10_000 reaches the end
    assert [(m.team_id, m.window_start, m.customer.n) for m in out.closed] == [("a", 0, 2)]
    out = engine.process(inbound(both("a", 30_000)))
    assert [(m.window_start, m.customer.n) for m in out.closed] == [(10_000, 2)]


def test_one_topic_running_ahead_does_not_make_the_other_late() -> None:
    engine = make_engine()
    out = engine.process(inbound([feedback("a", t) for t in range(0, 60_000, 1_000)]))
    assert out.closed == [] and out.late == []  # employee side not seen yet: nothing closes
    out = engine.process(inbound([pulse("a", t) for t in range(0, 60_000, 1_000)]))
    assert out.late == []
    assert [m.window_start for m in out.closed] == [0, 10_000, 20_000, 30_000, 40_000]


def test_late_events_are_counted_and_never_reopen_a_closed_window() -> None:
    engine = make_engine()
    engine.process(inbound([*both("a", 1_000), *both("a", 15_000)]))  # closes [0, 10s)
    out = engine.process(inbound([feedback("a", 2_000), pulse("a", 3_000)]))
    late_records = [item.record for item in out.late]
    assert all(not isinstance(r, EpisodeAction) for r in late_records)
    assert [r.event_id for r in late_records if not isinstance(r, EpisodeAction)] == [
        "c-a-2000",
        "e-a-3000",
    ]
    assert sorted((c.side, c.window_start, c.events) for c in out.late_counts) == [
        ("customer", 0, 1),
        ("employee", 0, 1),
    ]
    assert out.closed == [] and out.accepted_customer == []


def test_within_lateness_an_out_of_order_event_still_counts() -> None:
    engine = make_engine()
    engine.process(inbound(both("a", 11_000)))  # watermark 9_000: window 0 open
    out = engine.process(inbound([feedback("a", 9_500)]))
    assert out.late == []
    out = engine.process(inbound(both("a", 40_000)))
    assert [(m.window_start, m.customer.n) for m in out.closed] == [(0, 1), (10_000, 1)]


def test_partitions_have_their_own_watermarks() -> None:
    engine = make_engine()
    engine.process(inbound(both("a", 1_000), partition=0))
    out = engine.process(inbound(both("b", 50_000), partition=1))
    assert out.closed == []  # partition 1's progress does not close partition 0's windows


def test_idle_tick_closes_the_last_window() -> None:
    clock = FakeClock()
    engine = make_engine(clock, idle_ms=5_000)
    engine.process(inbound(both("a", 1_000)))
    clock.now += 5_000 + 9_000 + LATENESS  # grace + the rest of the window + lateness
    out = engine.tick()
    assert [(m.team_id, m.window_start) for m in out.closed] == [("a", 0)]
    assert engine.tick().closed == []


def _run(engine: MirrorEngine[int], events, batch: int) -> list[tuple[str, int, str]]:
    alerts = []
    for i in range(0, len(events), batch):
        out = engine.process(inbound(events[i : i + batch]))
        alerts += [(a.team_id, a.window_start, a.kind) for a in out.alerts]
    alerts += [(a.team_id, a.window_start, a.kind) for a in engine.flush_all().alerts]
    return alerts


def _demo_events(windows: int = 8) -> list:
    simulator = Simulator(demo_plans(5), WINDOW, 0, seed=3)
    return [event for _, events in simulator.windows(windows) for event in events]


def test_planted_effects_are_found_and_steady_teams_stay_quiet() -> None:
    alerts = _run(make_engine(), _demo_events(), batch=500)
    first: dict[str, tuple[int, str]] = {}
    for team, start, kind in alerts:
        first.setdefault(team, (start, kind))
    assert first["team-01"] == (4 * WINDOW, "mirror_decline")
    assert first["team-02"] == (4 * WINDOW, "inner_warning")
    assert not [a for a in alerts if a[0] not in ("team-01", "team-02")]


def test_results_do_not_depend_on_batch_boundaries() -> None:
    events = _demo_events()
    assert sorted(_run(make_engine(), events, batch=1)) == sorted(
        _run(make_engine(), events, batch=997)
    )


def test_state_round_trip_mid_stream_gives_the_same_alerts() -> None:
    events = _demo_events()
    half = len(events) // 2
    straight = _run(make_engine(), events, batch=400)

    first = make_engine()
    alerts = [
        (a.team_id, a.window_start, a.kind) for a in first.process(inbound(events[:half])).alerts
    ]
    # A restart: state goes through its changelog form and back.
    teams = {t: TeamState.from_dict(s.to_dict()) for t, s in first.teams.items()}
    clocks = {p: PartitionClock.from_dict(c.to_dict(), 0.0) for p, c in first.clocks.items()}
    second = make_engine()
    second.load(teams, clocks)
    alerts += _run(second, events[half:], batch=400)
    assert sorted(alerts) == sorted(straight)


def test_small_teams_never_alert_on_their_employee_side() -> None:
    plans = [TeamPlan("tiny", "mirror_decline", employees=4, customers=40)]  # 4 < k = 5
    simulator = Simulator(plans, WINDOW, 0, seed=1)
    events = [e for _, batch in simulator.windows(8) for e in batch]
    engine = make_engine()
    alerts = _run(engine, events, batch=100)
    assert alerts == [] or all(kind == "outer_warning" for _, _, kind in alerts)


def test_partition_for_matches_kafkas_default_partitioner() -> None:
    # murmur2 of the key, as Kafka's Java client and kafka-python compute it
    assert partition_for("team-01", 4) == partition_for("team-01", 4)
    assert {partition_for(f"team-{i}", 4) for i in range(50)} == {0, 1, 2, 3}


@pytest.mark.parametrize("field", ["window_ms", "allowed_lateness_ms"])
def test_engine_config_is_frozen(field: str) -> None:
    config = make_engine().config
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config, field, 1)
