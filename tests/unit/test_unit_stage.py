"""The unit stage restarted from its saved state, re-reading inputs it had already applied
(a crash between its outputs and its offset commit), and fed team-windows twice (a team stage
that crashed), ends with exactly the outputs of a clean run."""

from __future__ import annotations

import json
import random

import pytest

from streams.core.engine import EngineConfig, Inbound, MirrorEngine
from streams.core.org import OrgChart, TeamInfo
from streams.core.partitioning import partition_for
from streams.core.unit_stage import (
    END_OF_TIME,
    NO_PROGRESS,
    Heartbeat,
    UnitInput,
    UnitOutput,
    UnitStage,
    UnitStageConfig,
    UnitState,
    decode_input,
    encode_input,
)
from streams.detectors import DetectionSettings, load_detectors
from streams.runtime.units import decode_state, encode_state
from streams.tools.plans import Effect
from streams.tools.simulator import Simulator, TeamPlan

WINDOW = 10_000
PARTITIONS = 3


def org() -> OrgChart:
    chart = OrgChart()
    for d in range(2):
        for t in range(5):
            team = f"d{d}-t{t}"
            chart.update(TeamInfo(team, team, ("acme", f"d{d}"), ("company", "department")), team)
    return chart


def inputs() -> list[UnitInput]:
    """What the team stage sends, batch by batch, for 2 departments with a shock in d1."""
    plans = [
        TeamPlan(
            team,
            effects=(Effect("mirror_decline", 5),) if team in ("d1-t0", "d1-t1", "d1-t2") else (),
            employees=10,
            customers=30,
        )
        for team in sorted(org().teams)
    ]
    simulator = Simulator(plans, WINDOW, 0, seed=3)
    config = EngineConfig(WINDOW, 0, 60_000, 5, DetectionSettings())
    engine: MirrorEngine[int] = MirrorEngine(config, load_detectors(["mirror_change"]), lambda: 0.0)
    items: list[UnitInput] = []
    for index in range(9):
        records = simulator.window(index)
        batch = [Inbound(partition_for(r.team_id, PARTITIONS), r, n) for n, r in enumerate(records)]
        out = engine.process(batch)
        items += out.parts
        for partition in range(PARTITIONS):  # as the worker's team stage reports them
            clock = engine.clocks.get(partition)
            watermark = None if clock is None else clock.watermark
            items.append(Heartbeat(partition, NO_PROGRESS if watermark is None else watermark))
    out = engine.flush_all()
    items += out.parts
    items += [Heartbeat(p, END_OF_TIME) for p in range(PARTITIONS)]
    return items


def stage(state: UnitState | None = None) -> UnitStage:
    config = UnitStageConfig(PARTITIONS, 5, DetectionSettings(), "idx-v2")
    return UnitStage(config, load_detectors(["mirror_change"]), state)


def ids(out: UnitOutput) -> tuple[list[str], list[str], list[tuple[str, int]]]:
    return (
        [r.alert_id for r in out.records],
        [p.alert_id for p in out.pages],
        [(w.unit_id, w.metrics.window_start) for w in out.windows],
    )


@pytest.fixture(scope="module")
def stream() -> list[UnitInput]:
    # Through the internal topic's encoding, as the worker sends them.
    return [decode_input(encode_input(item)) for item in inputs()]


def test_the_clean_run_opens_the_department_incident(stream: list[UnitInput]) -> None:
    out = stage().process(enumerate(stream), org())
    assert [(r.event, r.unit_id) for r in out.records] == [("opened", "acme/d1")]
    assert len({w.metrics.window_start for w in out.windows}) == 9


@pytest.mark.parametrize("seed", range(20))
def test_a_restart_from_saved_state_ends_exactly_like_a_clean_run(
    stream: list[UnitInput], seed: int
) -> None:
    clean = ids(stage().process(enumerate(stream), org()))
    rng = random.Random(seed)
    cut = rng.randrange(1, len(stream))
    first = stage()
    before = first.process(enumerate(stream[:cut]), org())
    record = encode_state(first.state)  # the state topic's record: compressed JSON
    saved = decode_state(record)
    assert len(record) < len(json.dumps(first.state.to_dict())) / 3
    # A record written before compression (plain JSON) still reads, to the same state.
    assert decode_state(json.dumps(first.state.to_dict()).encode()) == saved
    # The new owner re-reads from an earlier offset (not committed yet) and gets some
    # team-windows a second time (a team stage that crashed re-sends them).
    again = rng.randrange(0, cut)
    resent = [item for item in stream[again:cut] if not isinstance(item, Heartbeat)]
    replayed = [*enumerate(stream[again:], start=again)]
    replayed += [(len(stream) + n, item) for n, item in enumerate(resent)]
    after = stage(saved).process(replayed, org())
    first_records, first_pages, first_windows = ids(before)
    then_records, then_pages, then_windows = ids(after)
    joined = (first_records + then_records, first_pages + then_pages, first_windows + then_windows)
    assert joined == clean


def test_a_partition_without_a_watermark_yet_holds_every_window_back() -> None:
    """Found by the rebalance test: a partition that had seen one side only reported "no
    watermark" like an empty one, and unit windows closed without its teams."""
    from streams.core.index import Moments
    from streams.core.units import TeamWindowPart

    moments = Moments(12, 600.0, 31_000.0)
    stage_ = UnitStage(UnitStageConfig(2, 5, DetectionSettings(), "idx-v2"), [])
    part = TeamWindowPart("d0-t0", 0, WINDOW, moments, moments)
    out = stage_.process(
        [(0, part), (1, Heartbeat(0, 5 * WINDOW)), (2, Heartbeat(1, NO_PROGRESS))], org()
    )
    assert out.windows == []  # partition 1 holds records: its teams' windows may still come
    late = TeamWindowPart("d1-t0", 0, WINDOW, moments, moments)
    out = stage_.process([(3, late), (4, Heartbeat(1, 2 * WINDOW))], org())
    assert sorted(w.unit_id for w in out.windows) == ["acme", "acme/d0", "acme/d1"]
    stage_ = UnitStage(UnitStageConfig(2, 5, DetectionSettings(), "idx-v2"), [])
    out = stage_.process([(0, part), (1, Heartbeat(0, 5 * WINDOW)), (2, Heartbeat(1, None))], org())
    assert len(out.windows) == 2  # a partition that never held a record holds nothing back
