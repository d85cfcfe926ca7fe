"""The changelog written by difference (streams.core.state_log): what a restart reads back is the
engine's state exactly, after every batch and after a crash between write phases (pure)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from schemas.codec import SignalCodec, encode
from schemas.records import CustomerFeedback
from streams.core.bounds import TimeBounds
from streams.core.engine import EngineConfig, MirrorEngine
from streams.core.partitioning import partition_for
from streams.core.pipeline import BatchPreparer, RawMessage
from streams.core.state_log import (
    CLOCK_KEY_PREFIX,
    HISTORY_KEY_PREFIX,
    KEYS_KEY_PREFIX,
    TEAM_KEY_PREFIX,
    StateLog,
    write_phase,
)
from streams.detectors import DetectionSettings, load_detectors
from streams.tools.simulator import Simulator, TeamPlan

WINDOW_MS = 7 * 86_400_000
PARTITIONS = 4


def messages(
    teams: int = 6, windows: int = 5, plans: list[TeamPlan] | None = None, seed: int = 11
) -> list[RawMessage]:
    if plans is None:
        plans = [TeamPlan(f"t{i}", customers=60, employees=8) for i in range(teams)]
    out: list[RawMessage] = []
    offsets: dict[tuple[str, int], int] = {}
    for event in Simulator(plans, WINDOW_MS, 1_700_000_000_000, seed=seed).stream(windows):
        topic = "customer" if isinstance(event, CustomerFeedback) else "employee"
        partition = partition_for(event.team_id, PARTITIONS)
        offset = offsets.get((topic, partition), 0)
        offsets[(topic, partition)] = offset + 1
        out.append(RawMessage(topic, partition, offset, event.team_id.encode(), encode(event)))
    return out


def preparer() -> BatchPreparer:
    engine: MirrorEngine[RawMessage] = MirrorEngine(
        EngineConfig(WINDOW_MS, 3_600_000, 60_000, 5, DetectionSettings()),
        load_detectors(["mirror_change", "symmetry_gap"]),
        lambda: 0.0,
    )
    return BatchPreparer(
        engine,
        SignalCodec(),
        customer_topic="customer",
        employee_topic="employee",
        hmac_secret=b"state-log",
        time_bounds=TimeBounds(max_future_ms=10**15, max_age_ms=10**15),
    )


def applied(changelog: dict[str, Any], updates: Any) -> None:
    """What a compacted topic keeps: the newest value per key, a tombstone removes it. Values
    go through JSON, as on the topic."""
    for _, key, value in updates:
        if value is None:
            changelog.pop(key, None)
        else:
            changelog[key] = json.loads(json.dumps(value))


def restored(changelog: dict[str, Any]) -> dict[str, Any]:
    teams, clocks = StateLog().restore(changelog.items(), set(range(PARTITIONS)), 0.0)
    return {
        "teams": {team: state.to_dict() for team, state in sorted(teams.items())},
        "clocks": {p: clock.to_dict() for p, clock in sorted(clocks.items())},
    }


def live(p: BatchPreparer) -> dict[str, Any]:
    return {
        "teams": {team: state.to_dict() for team, state in sorted(p.engine.teams.items())},
        "clocks": {part: clock.to_dict() for part, clock in sorted(p.engine.clocks.items())},
    }


def test_the_changelog_restores_the_engine_state_exactly_after_every_batch() -> None:
    p = preparer()
    changelog: dict[str, Any] = {}
    records = messages()
    closed = 0
    for start in range(0, len(records), 150):
        prepared = p.prepare(records[start : start + 150])
        closed += len(prepared.sink.team_windows)
        applied(changelog, prepared.state_updates)
        assert restored(changelog) == live(p)
    assert closed >= 12  # windows closed, history grew and keys were forgotten on the way
    assert any(key.startswith(HISTORY_KEY_PREFIX) for key in changelog)
    # Keys of windows long closed are gone (tombstoned), not kept forever.
    starts = {int(key.split(":")[2]) for key in changelog if key.startswith(KEYS_KEY_PREFIX)}
    assert len(starts) <= 2


def test_writing_by_difference_writes_far_less_than_whole_teams() -> None:
    p = preparer()
    by_difference = whole = 0
    records = messages()
    for start in range(0, len(records), 100):
        prepared = p.prepare(records[start : start + 100])
        by_difference += sum(len(json.dumps(value)) for _, _, value in prepared.state_updates)
        dirty = {key[len(TEAM_KEY_PREFIX) :] for _, key, _ in prepared.state_updates}
        whole += sum(
            len(json.dumps(state.to_dict()))
            for team, state in p.engine.teams.items()
            if team in dirty
        )
    assert by_difference * 2 < whole, (by_difference, whole)


def test_a_crash_between_write_phases_restores_a_consistent_state() -> None:
    records = messages(teams=4, windows=4)
    p = preparer()
    changelog: dict[str, Any] = {}
    before = None
    for start in range(0, len(records), 120):
        before = live(p)
        prepared = p.prepare(records[start : start + 120])
        if prepared.sink.team_windows and start > 0:
            break  # a batch that closed windows: history, key chunks and tombstones all move
        applied(changelog, prepared.state_updates)
    assert before is not None and prepared.sink.team_windows
    phases = {
        phase: list(updates)
        for phase, updates in itertools.groupby(
            prepared.state_updates, key=lambda u: write_phase(u[1], u[2])
        )
    }
    assert set(phases) == {0, 1, 2}
    # Crash after phase 0 (chunks and history written, no head): the state before the batch.
    only_parts = dict(changelog)
    applied(only_parts, phases[0])
    assert restored(only_parts) == before
    # Crash after phase 1 (heads written, no clock): the teams after, the clocks before.
    with_heads = dict(only_parts)
    applied(with_heads, phases[1])
    after = live(p)
    assert restored(with_heads)["teams"] == after["teams"]
    assert restored(with_heads)["clocks"] == before["clocks"]


def test_a_team_saved_whole_by_an_older_version_reads_and_is_then_written_by_difference() -> None:
    records = messages(teams=3, windows=3)
    p = preparer()
    for start in range(0, len(records) // 2, 100):
        p.prepare(records[start : start + 100])
    old_form = {TEAM_KEY_PREFIX + team: state.to_dict() for team, state in p.engine.teams.items()}
    old_form.update(
        {CLOCK_KEY_PREFIX + str(part): c.to_dict() for part, c in p.engine.clocks.items()}
    )
    changelog = json.loads(json.dumps(old_form))
    assert restored(changelog) == live(p)
    # A worker restarts on it and goes on: its first writes bring every part into the new form.
    second = preparer()
    teams, clocks = second.state_log.restore(changelog.items(), set(range(PARTITIONS)), 0.0)
    second.engine.load(teams, clocks)
    for start in range(len(records) // 2, len(records), 100):
        prepared = second.prepare(records[start : start + 100])
        applied(changelog, prepared.state_updates)
        assert restored(changelog) == live(second)
    assert all("history" not in v for k, v in changelog.items() if k.startswith(TEAM_KEY_PREFIX))


def test_a_history_longer_than_kept_is_trimmed_on_the_changelog_too() -> None:
    """Each closed window is one record; those the history stops keeping are tombstoned, and
    a crash before the tombstones still restores exactly the history kept."""
    plans = [TeamPlan(f"h{i}", customers=12, employees=6) for i in range(2)]
    records = messages(windows=24, plans=plans, seed=5)
    p = preparer()
    changelog: dict[str, Any] = {}
    trimmed = False
    for start in range(0, len(records), 40):
        before = live(p)
        prepared = p.prepare(records[start : start + 40])
        tombstones = [u for u in prepared.state_updates if u[2] is None]
        if any(key.startswith(HISTORY_KEY_PREFIX) for _, key, _ in tombstones):
            trimmed = True
            cut = dict(changelog)  # a crash after the heads, before the tombstones
            applied(cut, [u for u in prepared.state_updates if write_phase(u[1], u[2]) < 2])
            assert restored(cut)["teams"] == live(p)["teams"]
            assert restored(cut)["clocks"] == before["clocks"]
        applied(changelog, prepared.state_updates)
        assert restored(changelog) == live(p)
    assert trimmed
    kept = [key for key in changelog if key.startswith(HISTORY_KEY_PREFIX)]
    assert len(kept) == sum(len(team.history) for team in p.engine.teams.values())
