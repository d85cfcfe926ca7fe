"""Score alerts against a scenario's ground truth: the EVENTS, TRUTH and TEAMS files, precision
and recall.

EVENTS is JSON lines, one signal a line: ``{"topic": "customer-feedback" | "employee-pulse",
"value": <the record's JSON form, schemas.codec.record_to_json, occurred_at in epoch ms>}``.
TRUTH is a JSON list of ``{"team_id", "kind", "start", "end"}`` (epoch ms, [start, end)),
optionally with ``effect_points``, ``employee_respondents`` and ``ramp_windows`` (what the
evaluation report breaks recall down by; a file without them reads as "unknown"). A planted
shared shock is an item with a ``unit_id`` instead of a ``team_id``: ``{"unit_id", "level",
"kind", "start", "end", "teams"}`` (:class:`ShockTruth`); its teams also have their own items.
TEAMS is the organisation CSV ``miroir teams load`` reads (``streams.core.org.read_teams_csv``).

The matching rule: an alert of kind K for team T whose window [window_start, window_end)
overlaps a truth item's [start, end) of the same K and T is a true positive; any other alert is
a false positive; a truth item that no alert matches is a miss. Alerts are counted once per
``alert_id`` (a re-emitted alert is the same alert).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from schemas.codec import record_to_json, topic_of
from schemas.records import CUSTOMER_FEEDBACK_TOPIC, EMPLOYEE_PULSE_TOPIC, MirrorAlert, Signal
from streams.core.episodes import family_of
from streams.core.org import OrgChart, TeamInfo, read_teams_csv
from streams.errors import ConfigError

__all__ = [
    "BUILTIN_KINDS",
    "EVENT_TOPICS",
    "Evaluation",
    "KindScore",
    "ShockTruth",
    "Truth",
    "TruthItem",
    "evaluate",
    "format_table",
    "organisation_csv",
    "read_events",
    "read_organisation",
    "read_truth",
    "read_truth_file",
    "write_events",
    "write_organisation",
    "write_truth",
]

BUILTIN_KINDS: Final = (
    "mirror_decline",
    "mirror_rise",
    "inner_warning",
    "outer_warning",
    "symmetry_gap",
)
EVENT_TOPICS: Final = (CUSTOMER_FEEDBACK_TOPIC, EMPLOYEE_PULSE_TOPIC)

PathLike = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class TruthItem:
    """A planted effect: ``kind`` on ``team_id`` over [start, end) in epoch ms."""

    team_id: str
    kind: str
    start: int
    end: int
    # What the evaluation report breaks recall down by (None when the truth does not say):
    # the effect's size in points of a 1–5 scale (a fraction f of any score's range is 4·f
    # such points), how many employees answer a window on average, and over how many windows
    # the effect ramps in (0: at full size from its first window).
    effect_points: float | None = None
    employee_respondents: float | None = None
    ramp_windows: int = 0

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"a truth item must end after it starts: [{self.start}, {self.end})")

    def matches(self, alert: MirrorAlert) -> bool:
        """Same team, same kind, and the alert's window overlaps [start, end)."""
        return (
            alert.team_id == self.team_id
            and alert.kind == self.kind
            and alert.window_start < self.end
            and self.start < alert.window_end
        )

    def to_json(self) -> dict[str, Any]:
        """The item as a TRUTH file holds it; the optional fields only when known, so a truth
        without them is written exactly as before they existed."""
        data: dict[str, Any] = {
            "team_id": self.team_id,
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
        }
        if self.effect_points is not None:
            data["effect_points"] = self.effect_points
        if self.employee_respondents is not None:
            data["employee_respondents"] = self.employee_respondents
        if self.ramp_windows:
            data["ramp_windows"] = self.ramp_windows
        return data


@dataclass(frozen=True, slots=True)
class ShockTruth:
    """A planted shared shock: ``kind`` on ``teams`` of unit ``unit_id`` (a ``level`` such as
    "department") over [start, end) in epoch ms; ``start`` is its first window's start, the
    window its incident should open in."""

    unit_id: str
    level: str
    kind: str
    start: int
    end: int
    teams: tuple[str, ...]
    effect_points: float | None = None  # the shift of each team, in points of a 1–5 scale

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"a shock must end after it starts: [{self.start}, {self.end})")
        if not self.teams:
            raise ValueError(f"the shock on {self.unit_id} hits no team")

    @property
    def family(self) -> str:
        """The episode family its teams open (fall, rise): what its incident is of."""
        return family_of(self.kind)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "unit_id": self.unit_id,
            "level": self.level,
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "teams": list(self.teams),
        }
        if self.effect_points is not None:
            data["effect_points"] = self.effect_points
        return data


@dataclass(frozen=True, slots=True)
class Truth:
    """What a TRUTH file holds: the team items and the shared shocks."""

    items: tuple[TruthItem, ...] = ()
    shocks: tuple[ShockTruth, ...] = ()


# --- files -----------------------------------------------------------------------------------


def write_events(path: PathLike, records: Iterable[Signal]) -> int:
    """Write ``records`` to an EVENTS file in the given (emission) order; return how many."""
    written = 0
    with Path(path).open("w", encoding="utf-8") as out:
        for record in records:
            line = {"topic": topic_of(record), "value": record_to_json(record)}
            out.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
            out.write("\n")
            written += 1
    return written


def read_events(path: PathLike) -> Iterator[tuple[str, dict[str, Any]]]:
    """(topic, value) of each line of an EVENTS file, in file order; blank lines are skipped.

    Only the envelope is checked here (ConfigError naming the line); the value is the codec's
    to validate (``schemas.codec.record_from_json``), like a message read from Kafka.
    """
    name = str(path)
    try:
        events_file = Path(path).open(encoding="utf-8")  # noqa: SIM115  # closed below
    except OSError as error:
        raise ConfigError(f"cannot read the events file {name}: {error}") from error
    with events_file:
        for number, line in enumerate(events_file, start=1):
            if not line.strip():
                continue
            yield _event_line(name, number, line)


def _event_line(name: str, number: int, line: str) -> tuple[str, dict[str, Any]]:
    where = f"{name}:{number}"
    try:
        item = json.loads(line)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{where}: not JSON ({error.msg} at column {error.colno})") from error
    if not isinstance(item, dict):
        raise ConfigError(
            f'{where}: expected an object {{"topic": ..., "value": {{...}}}}, '
            f"got {type(item).__name__}"
        )
    missing = [key for key in ("topic", "value") if key not in item]
    if missing:
        raise ConfigError(f"{where}: missing {' and '.join(missing)}")
    topic, value = item["topic"], item["value"]
    if topic not in EVENT_TOPICS:
        raise ConfigError(f"{where}: topic {topic!r} is not one of {', '.join(EVENT_TOPICS)}")
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: value must be an object, got {type(value).__name__}")
    return topic, value


def write_truth(
    path: PathLike, items: Iterable[TruthItem], shocks: Iterable[ShockTruth] = ()
) -> None:
    """Write a TRUTH file: a JSON list, one item a line, the team items then the shocks."""
    data = [item.to_json() for item in items] + [shock.to_json() for shock in shocks]
    lines = [json.dumps(entry, ensure_ascii=False) for entry in data]
    body = "[\n" + ",\n".join(f"  {line}" for line in lines) + "\n]\n" if lines else "[]\n"
    Path(path).write_text(body, encoding="utf-8")


def read_truth(path: PathLike) -> list[TruthItem]:
    """The team items of a TRUTH file (:func:`read_truth_file` has its shocks too)."""
    return list(read_truth_file(path).items)


def read_truth_file(path: PathLike) -> Truth:
    """The team items and shocks of a TRUTH file; ConfigError naming the file and the item when
    one is wrong."""
    name = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read the truth file {name}: {error}") from error
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{name}: not JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from error
    if not isinstance(data, list):
        raise ConfigError(f"{name}: expected a JSON list of truth items, got {type(data).__name__}")
    items: list[TruthItem] = []
    shocks: list[ShockTruth] = []
    for index, item in enumerate(data):
        where = f"{name}: item {index}"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: expected an object, got {type(item).__name__}")
        if "unit_id" in item:
            shocks.append(_shock_item(where, item))
        else:
            items.append(_truth_item(where, item))
    return Truth(tuple(items), tuple(shocks))


def _interval(where: str, item: Mapping[str, Any]) -> None:
    for key in ("start", "end"):
        if isinstance(item[key], bool) or not isinstance(item[key], int):
            raise ConfigError(f"{where}: {key} must be epoch milliseconds, got {item[key]!r}")
    if item["end"] <= item["start"]:
        raise ConfigError(f"{where}: end ({item['end']}) must be after start ({item['start']})")


def _shock_item(where: str, item: Mapping[str, Any]) -> ShockTruth:
    if "team_id" in item:
        raise ConfigError(
            f"{where}: give team_id (a team's item) or unit_id (a shared shock), not both"
        )
    missing = [key for key in ("level", "kind", "start", "end", "teams") if key not in item]
    if missing:
        raise ConfigError(f"{where}: a shock (it has a unit_id) is missing {', '.join(missing)}")
    for key in ("unit_id", "level", "kind"):
        if not isinstance(item[key], str) or not item[key]:
            raise ConfigError(f"{where}: {key} must be a non-empty string, got {item[key]!r}")
    _interval(where, item)
    teams = item["teams"]
    if (
        not isinstance(teams, list)
        or not teams
        or not all(isinstance(team, str) and team for team in teams)
    ):
        raise ConfigError(f"{where}: teams must be a non-empty list of team ids, got {teams!r}")
    if len(set(teams)) != len(teams):
        raise ConfigError(f"{where}: teams lists a team twice")
    return ShockTruth(
        item["unit_id"],
        item["level"],
        item["kind"],
        item["start"],
        item["end"],
        tuple(teams),
        effect_points=_optional_size(where, item, "effect_points"),
    )


def _truth_item(where: str, item: Mapping[str, Any]) -> TruthItem:
    missing = [key for key in ("team_id", "kind", "start", "end") if key not in item]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    for key in ("team_id", "kind"):
        if not isinstance(item[key], str) or not item[key]:
            raise ConfigError(f"{where}: {key} must be a non-empty string, got {item[key]!r}")
    _interval(where, item)
    ramp_windows = item.get("ramp_windows", 0)
    if isinstance(ramp_windows, bool) or not isinstance(ramp_windows, int) or ramp_windows < 0:
        raise ConfigError(
            f"{where}: ramp_windows must be a whole number >= 0, got {ramp_windows!r}"
        )
    return TruthItem(
        item["team_id"],
        item["kind"],
        item["start"],
        item["end"],
        effect_points=_optional_size(where, item, "effect_points"),
        employee_respondents=_optional_size(where, item, "employee_respondents"),
        ramp_windows=ramp_windows,
    )


def _optional_size(where: str, item: Mapping[str, Any], key: str) -> float | None:
    """An optional number of the item (absent or null: unknown). A signed effect (a decline
    written as negative points) is accepted: the report looks at its size only."""
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: {key} must be a number or null, got {value!r}")
    if key == "employee_respondents" and value < 0:
        raise ConfigError(f"{where}: {key} must not be negative, got {value!r}")
    return float(value)


def organisation_csv(teams: Iterable[TeamInfo]) -> str:
    """The organisation as the CSV ``miroir teams load`` reads: ``team_id,display_name`` and one
    column per level, top-down; a shallower team leaves its last level cells empty. Every
    team's levels must be a prefix of the deepest team's (one header names them all)."""
    teams = list(teams)
    levels: tuple[str, ...] = max((info.levels for info in teams), key=len, default=())
    if not levels:
        raise ValueError("an organisation CSV needs the teams' levels (company, site, ...)")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["team_id", "display_name", *levels])
    for info in teams:
        if info.levels != levels[: len(info.levels)]:
            raise ValueError(
                f"team {info.team_id}: levels {', '.join(info.levels)} do not follow the "
                f"organisation's {', '.join(levels)}"
            )
        writer.writerow(
            [info.team_id, info.display_name, *info.path, *[""] * (len(levels) - len(info.path))]
        )
    return out.getvalue()


def write_organisation(path: PathLike, teams: Iterable[TeamInfo]) -> int:
    """Write the organisation CSV; return how many teams."""
    text = organisation_csv(teams)
    Path(path).write_text(text, encoding="utf-8")
    return text.count("\n") - 1


def read_organisation(path: PathLike) -> OrgChart:
    """The organisation of a TEAMS CSV, as ``miroir teams load`` checks it: every problem by
    line in one ConfigError, nothing read when any line is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ConfigError(f"cannot read the organisation file {path}: {error}") from error
    teams, problems = read_teams_csv(text)
    if problems:
        lines = "\n".join(f"  line {problem.line}: {problem.reason}" for problem in problems[:20])
        raise ConfigError(f"{path}: {len(problems)} problem(s) in the organisation:\n{lines}")
    if not teams:
        raise ConfigError(f"{path}: no team in the organisation file")
    chart = OrgChart()
    for info in teams:
        chart.update(info, info.team_id)
    return chart


# --- scoring ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KindScore:
    """How the alerts of one kind compare with the truth of that kind."""

    kind: str
    alerts: int
    true_positives: int
    false_positives: int
    truth_items: int
    detected: int
    missed: int

    @property
    def precision(self) -> float | None:
        """True positives over alerts; None when there were no alerts."""
        return self.true_positives / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        """Detected truth items over truth items; None when there was no truth."""
        return self.detected / self.truth_items if self.truth_items else None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "alerts": self.alerts,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "truth_items": self.truth_items,
            "detected": self.detected,
            "missed": self.missed,
            "precision": self.precision,
            "recall": self.recall,
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One row per kind (the built-in kinds first, then any other in name order), and the
    totals over all kinds."""

    rows: tuple[KindScore, ...]

    @property
    def total(self) -> KindScore:
        return KindScore(
            kind="all",
            alerts=sum(row.alerts for row in self.rows),
            true_positives=sum(row.true_positives for row in self.rows),
            false_positives=sum(row.false_positives for row in self.rows),
            truth_items=sum(row.truth_items for row in self.rows),
            detected=sum(row.detected for row in self.rows),
            missed=sum(row.missed for row in self.rows),
        )

    def row(self, kind: str) -> KindScore:
        for row in self.rows:
            if row.kind == kind:
                return row
        raise KeyError(kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "kinds": [row.to_json() for row in self.rows],
            "total": self.total.to_json(),
        }


def evaluate(alerts: Sequence[MirrorAlert], truth: Sequence[TruthItem]) -> Evaluation:
    """Precision and recall per kind under the matching rule of the TRUTH format."""
    unique = list({alert.alert_id: alert for alert in alerts}.values())
    truth_by_team_kind: dict[tuple[str, str], list[TruthItem]] = {}
    for item in truth:
        truth_by_team_kind.setdefault((item.team_id, item.kind), []).append(item)
    kinds = list(BUILTIN_KINDS)
    kinds += sorted(({a.kind for a in unique} | {t.kind for t in truth}) - set(BUILTIN_KINDS))
    alerts_of = dict.fromkeys(kinds, 0)
    true_positives = dict.fromkeys(kinds, 0)
    detected_items: set[TruthItem] = set()
    for alert in unique:
        alerts_of[alert.kind] += 1
        matched = [
            item
            for item in truth_by_team_kind.get((alert.team_id, alert.kind), [])
            if item.matches(alert)
        ]
        if matched:
            true_positives[alert.kind] += 1
            detected_items.update(matched)
    rows = []
    for kind in kinds:
        items = [item for item in truth if item.kind == kind]
        detected = sum(1 for item in items if item in detected_items)
        rows.append(
            KindScore(
                kind=kind,
                alerts=alerts_of[kind],
                true_positives=true_positives[kind],
                false_positives=alerts_of[kind] - true_positives[kind],
                truth_items=len(items),
                detected=detected,
                missed=len(items) - detected,
            )
        )
    return Evaluation(tuple(rows))


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_table(evaluation: Evaluation) -> str:
    """An aligned text table: one line per kind, then the totals."""
    header = ("kind", "alerts", "tp", "fp", "truth", "detected", "missed", "precision", "recall")
    body = [
        (
            row.kind,
            str(row.alerts),
            str(row.true_positives),
            str(row.false_positives),
            str(row.truth_items),
            str(row.detected),
            str(row.missed),
            _ratio(row.precision),
            _ratio(row.recall),
        )
        for row in (*evaluation.rows, evaluation.total)
    ]
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]

    def render(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join((first, *rest)).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(header), rule, *map(render, body[:-1]), rule, render(body[-1])])
