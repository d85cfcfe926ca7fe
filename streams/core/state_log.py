"""The changelog form of the engine's state, written by difference (pure, no I/O).

Writing every dirty team whole after every batch made the changelog the worker's largest
output: a team's closed-window history and the event keys of its open windows were rewritten
each time one record arrived (about 1.3 KB per event on the throughput benchmark's data, see
docs/performance.md). Each team is therefore kept as several records of one compacted topic:

    team:{id}               the head: everything except the history and the event keys
    history:{id}:{start}    one closed window of the history, written once when it closes;
                            forgotten (a tombstone) when the history no longer keeps it
    keys:{id}:{start}:{n}   the n-th chunk of window ``start``'s event keys, in arrival order,
                            written once; forgotten (a tombstone) with the window's keys
    partition:{p}           the partition clock (streams.core.windows.PartitionClock)

The head says how many key chunks each window has (``kc``); chunks past that count were written
by a batch whose head never made it (a crash) and are ignored, then overwritten. For the same
reason history entries newer than the head's ``closed_through`` are dropped on reading, and only
the newest ``hn`` (the head's history length) are kept.
Writes go in three phases, each durable before the next (``write_phase``): chunks and history,
then heads, then clocks and tombstones. So a head never names a chunk that is not there, and a
clock never vouches for a team that is not saved.

A head written whole by an older version (with ``history`` and ``ids`` inline) still reads: the
next write of that team saves its history and all its keys in the new form.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.core.aggregate import KEY_BYTES, pack_keys
from streams.core.metrics import team_window_to_dict
from streams.core.windows import PartitionClock, TeamState

TEAM_KEY_PREFIX = "team:"
HISTORY_KEY_PREFIX = "history:"
KEYS_KEY_PREFIX = "keys:"
CLOCK_KEY_PREFIX = "partition:"

StateUpdate = tuple[int, str, dict[str, Any] | None]  # partition, key, value (None: tombstone)


def write_phase(key: str, value: dict[str, Any] | None) -> int:
    """When a record is written within a batch: 0 chunks and history, 1 heads, 2 clocks and
    tombstones (a tombstone only after the head that stopped naming the record)."""
    if value is None or key.startswith(CLOCK_KEY_PREFIX):
        return 2
    return 1 if key.startswith(TEAM_KEY_PREFIX) else 0


@dataclass(slots=True)
class _Written:
    """What of one window's event keys is on the changelog: bytes of its packed keys, chunks.
    ``packed`` is the window's own packed keys while it may still grow: a window that closes
    in a batch was given its last keys in that batch, after which only ``closed_keys`` (a set,
    without arrival order) remains of it."""

    size: int = 0
    chunks: int = 0
    packed: bytes | bytearray | None = None


@dataclass(slots=True)
class StateLog:
    """Remembers what of each team is on the changelog, and turns a dirty team into the records
    that bring the changelog up to date."""

    _keys: dict[str, dict[int, _Written]] = field(default_factory=dict)  # team → window start
    # team → window starts of its history entries on the changelog (absent: not known, so all
    # are written)
    _history: dict[str, set[int]] = field(default_factory=dict)

    def team_updates(self, team_id: str, team: TeamState) -> list[StateUpdate]:
        """The records of a dirty team, in write-phase order."""
        partition = team.partition
        updates: list[StateUpdate] = []
        written = self._keys.setdefault(team_id, {})
        for start, aggregate in team.open_windows.items():
            written.setdefault(start, _Written()).packed = aggregate.packed_keys()
        key_chunks: dict[str, int] = {}
        closed_chunks: dict[str, int] = {}
        for start, keys in team.closed_keys.items():
            if start not in written:  # closed before this log knew the window (an older head)
                written[start] = _Written(packed=_packed(keys))
        for start, done in written.items():
            if done.packed is not None and len(done.packed) > done.size:
                chunk = bytes(done.packed[done.size :])
                updates.append(
                    (
                        partition,
                        f"{KEYS_KEY_PREFIX}{team_id}:{start}:{done.chunks}",
                        {"k": base64.b64encode(chunk).decode("ascii")},
                    )
                )
                done.size, done.chunks = len(done.packed), done.chunks + 1
            if start in team.open_windows:
                key_chunks[str(start)] = done.chunks
            else:
                done.packed = None  # closed: its keys are all written now
                if start in team.closed_keys:
                    closed_chunks[str(start)] = done.chunks
        saved = self._history.setdefault(team_id, set())
        kept = {entry.window_start for entry in team.history}
        for entry in team.history:
            if entry.window_start not in saved:
                updates.append(
                    (
                        partition,
                        f"{HISTORY_KEY_PREFIX}{team_id}:{entry.window_start}",
                        team_window_to_dict(entry),
                    )
                )
                saved.add(entry.window_start)
        head = team.to_dict(whole=False)
        head["hn"] = len(team.history)
        for start, stored in head["open"].items():
            stored["kc"] = key_chunks[start]
        if closed_chunks:
            head["closed_kc"] = closed_chunks
        updates.append((partition, TEAM_KEY_PREFIX + team_id, head))
        live = set(team.open_windows) | set(team.closed_keys)
        for start in [s for s in written if s not in live]:  # keys forgotten by the team
            updates.extend(
                (partition, f"{KEYS_KEY_PREFIX}{team_id}:{start}:{n}", None)
                for n in range(written.pop(start).chunks)
            )
        for start in sorted(saved - kept):  # windows the history no longer keeps
            updates.append((partition, f"{HISTORY_KEY_PREFIX}{team_id}:{start}", None))
            saved.discard(start)
        return updates

    def forget(self, team_ids: Iterable[str]) -> None:
        """Teams this worker no longer holds (their partitions went elsewhere)."""
        for team_id in team_ids:
            self._keys.pop(team_id, None)
            self._history.pop(team_id, None)

    def restore(
        self,
        items: Iterable[tuple[str, Mapping[str, Any] | None]],
        partitions: set[int],
        now_wall_ms: float,
    ) -> tuple[dict[str, TeamState], dict[int, PartitionClock]]:
        """Rebuild teams and clocks of ``partitions`` from the newest value of every changelog
        key, and remember what of them is written."""
        heads: dict[str, Mapping[str, Any]] = {}
        histories: dict[str, dict[int, Any]] = {}
        chunks: dict[tuple[str, int], dict[int, bytes]] = {}
        clocks: dict[int, PartitionClock] = {}
        for key, value in items:
            if value is None:
                continue
            if key.startswith(TEAM_KEY_PREFIX):
                heads[key[len(TEAM_KEY_PREFIX) :]] = value
            elif key.startswith(HISTORY_KEY_PREFIX):
                team_id, start = key[len(HISTORY_KEY_PREFIX) :].rsplit(":", 1)
                histories.setdefault(team_id, {})[int(start)] = value
            elif key.startswith(KEYS_KEY_PREFIX):
                team_id, start, n = key[len(KEYS_KEY_PREFIX) :].rsplit(":", 2)
                chunks.setdefault((team_id, int(start)), {})[int(n)] = base64.b64decode(value["k"])
            elif key.startswith(CLOCK_KEY_PREFIX):
                partition = int(key[len(CLOCK_KEY_PREFIX) :])
                if partition in partitions:
                    clocks[partition] = PartitionClock.from_dict(dict(value), now_wall_ms)
        teams: dict[str, TeamState] = {}
        for team_id, head in heads.items():
            if int(head["partition"]) not in partitions:
                continue
            teams[team_id] = self._team_from(team_id, head, histories.get(team_id), chunks)
        return teams, clocks

    def _team_from(
        self,
        team_id: str,
        head: Mapping[str, Any],
        history: Mapping[int, Any] | None,
        chunks: Mapping[tuple[str, int], Mapping[int, bytes]],
    ) -> TeamState:
        full = dict(head)
        full["open"] = {start: dict(stored) for start, stored in head["open"].items()}
        written: dict[int, _Written] = {}

        def joined(start: int, count: int) -> bytes:
            have = chunks.get((team_id, start), {})
            missing = [n for n in range(count) if n not in have]
            if missing:
                raise ValueError(
                    f"window state of team {team_id!r}: key chunks {missing} of window {start} "
                    "are missing from the changelog"
                )
            data = b"".join(have[n] for n in range(count))
            written[start] = _Written(len(data), count)
            return data

        for start, stored in full["open"].items():
            count = stored.pop("kc", None)
            if count is not None:  # else: an older head, with its keys inline
                stored["ids"] = base64.b64encode(joined(int(start), int(count))).decode("ascii")
        closed = head.get("closed_kc")
        if closed is not None:
            full.pop("closed_kc")
            full["closed_keys"] = {
                start: pack_keys(_keys_of(joined(int(start), int(count))))
                for start, count in closed.items()
            }
        if "history" not in full:  # else: an older head, with its history inline
            through = head.get("closed_through")
            entries = [
                entry
                for _, entry in sorted((history or {}).items())
                if through is not None and entry["window_end"] <= through
            ]
            length = int(head.get("hn", len(entries)))
            full.pop("hn", None)
            full["history"] = entries[max(0, len(entries) - length) :] if length else []
            # Entries left over by a crash are on the changelog too: written, to be forgotten.
            self._history[team_id] = set(history or {})
        self._keys[team_id] = written
        return TeamState.from_dict(full)


def _packed(keys: set[int]) -> bytes:
    return base64.b64decode(pack_keys(keys))


def _keys_of(packed: bytes) -> set[int]:
    return {
        int.from_bytes(packed[i : i + KEY_BYTES], "big") for i in range(0, len(packed), KEY_BYTES)
    }


__all__ = [
    "CLOCK_KEY_PREFIX",
    "HISTORY_KEY_PREFIX",
    "KEYS_KEY_PREFIX",
    "TEAM_KEY_PREFIX",
    "StateLog",
    "StateUpdate",
    "write_phase",
]
