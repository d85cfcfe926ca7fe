"""Scenario files: simulated teams with planted effects, their event stream and their ground truth.

A scenario (YAML or JSON, chosen by the file's extension; docs/scenarios.md has the format)
names its seed, window size, length, start, delivery disorder and team groups. Effects are
given in WINDOW INDEXES (0 = the first window, ``end`` exclusive); :meth:`Scenario.truth` turns
them into epoch-ms intervals once the window size is known. Every mistake in a file is a
:class:`~streams.errors.ConfigError` naming the file, the team and the field.

A team group's numeric fields may be a two-element range, ``roster: [6, 40]``: each team of
the group draws its own value, uniformly (whole numbers for counts), from a generator seeded
by the scenario's seed, the team id and the field, so a file always gives the same teams.

A scenario may carry an organisation (a team group's ``unit``, the file's ``levels``) and
shared shocks on its units (``shocks``, ``streams.tools.shocks``): :meth:`Scenario.chart` is
the organisation a replay places incidents in, :meth:`Scenario.shock_truth` what was planted.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from schemas.records import Signal
from streams.core.org import MAX_DEPTH, UNIT_SEPARATOR, OrgChart, TeamInfo
from streams.errors import ConfigError
from streams.tools.evaluate import ShockTruth, TruthItem
from streams.tools.plans import (
    DEFAULT_DRIFT_RHO,
    DIMENSIONS,
    EFFECT_KINDS,
    NOISE,
    STEADY_LEVEL,
    Effect,
    TeamPlan,
)
from streams.tools.shocks import (
    Shock,
    busy_teams,
    level_of,
    plant_shocks,
    share_count,
    spread_pick,
    teams_under,
)
from streams.tools.simulator import DEFAULT_ALLOWED_LATENESS_MS, Simulator

__all__ = [
    "DEFAULT_EFFECT_MAGNITUDE",
    "DEFAULT_SCENARIO_START_MS",
    "DEFAULT_SEED",
    "Scenario",
]

DEFAULT_SCENARIO_START_MS: Final = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp() * 1000)
DEFAULT_SEED: Final = 7
DEFAULT_EFFECT_MAGNITUDE: Final = 0.25
DEFAULT_EMPLOYEES: Final = 12
DEFAULT_CUSTOMERS: Final = 40

_SCENARIO_KEYS: Final = frozenset(
    {
        "name",
        "description",
        "seed",
        "window_seconds",
        "windows",
        "start",
        "disorder_ms",
        "late_fraction",
        "allowed_lateness_seconds",
        "teams",
        "levels",
        "shocks",
    }
)
# Effects are given on a 1–5 scale in the truth: a fraction f of any range is 4·f such points.
_POINTS_PER_RANGE: Final = 4


@dataclass(frozen=True, slots=True)
class _NumberField:
    """A numeric team field: its bounds, its default, and whether it counts whole things."""

    whole: bool
    low: float
    high: float
    default: float | None
    low_open: bool = False
    high_open: bool = False


# Every numeric team field, in the order TeamPlan takes them; each takes one value, or a
# [low, high] range drawn per team.
_TEAM_NUMBERS: Final[Mapping[str, _NumberField]] = {
    "employees": _NumberField(True, 0, math.inf, DEFAULT_EMPLOYEES),
    "customers": _NumberField(True, 0, math.inf, DEFAULT_CUSTOMERS),
    "employee_level": _NumberField(False, 0, 1, STEADY_LEVEL),
    "customer_level": _NumberField(False, 0, 1, STEADY_LEVEL),
    "noise": _NumberField(False, 0, 1, NOISE),
    "respondent_jitter": _NumberField(False, 0, 1, 0.0),
    "roster": _NumberField(True, 1, math.inf, None),
    "response_rate": _NumberField(False, 0, 1, 1.0, low_open=True),
    "mood_sd": _NumberField(False, 0, 1, 0.0),
    "customer_mood_sd": _NumberField(False, 0, 1, None),
    "person_sd": _NumberField(False, 0, 1, 0.0),
    "drift_sd": _NumberField(False, 0, 1, 0.0),
    "drift_rho": _NumberField(False, 0, 1, DEFAULT_DRIFT_RHO, high_open=True),
    "pulse_days": _NumberField(True, 1, math.inf, None),
}
_TEAM_KEYS: Final = frozenset(
    {"id", "prefix", "count", "unit", "effects", "expect_symmetry_gap", *_TEAM_NUMBERS}
)
_EFFECT_KEYS: Final = frozenset(
    {"kind", "start", "end", "magnitude", "dimension", "ramp_windows", "recovery_windows"}
)
# A shock is an effect of many teams at once (never ramping in) and says which teams it hits.
_SHOCK_KEYS: Final = frozenset(
    {"unit", "kind", "start", "end", "magnitude", "dimension", "recovery_windows", "teams", "share"}
)
# A fixed value, or the (low, high) range each team of a group draws its own from.
_Spec = float | int | None | tuple[float, float] | tuple[int, int]
# Also accepted for a dimension: the name an alert gives the pair ("recognition/listened").
_DIMENSION_ALIASES: Final = {
    f"{employee}/{customer}": employee
    for employee, customer in DIMENSIONS.values()
    if employee != customer
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """A loaded, validated scenario. ``window_seconds``/``allowed_lateness_seconds`` are None
    when the file leaves them to the settings."""

    name: str
    description: str
    seed: int
    windows: int
    teams: tuple[TeamPlan, ...]
    start_ms: int = DEFAULT_SCENARIO_START_MS
    window_seconds: float | None = None
    disorder_ms: int = 0
    late_fraction: float = 0.0
    allowed_lateness_seconds: float | None = None
    symmetry_gap_teams: frozenset[str] = frozenset()
    source: str = "<scenario>"
    # The organisation (empty: every team unassigned) and the shared shocks planted on it; the
    # shocks' effects are already in their teams' plans.
    organisation: tuple[TeamInfo, ...] = ()
    shocks: tuple[Shock, ...] = ()

    # -- loading -----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Scenario:
        """Read and validate a scenario file (``.yaml``/``.yml`` or ``.json``)."""
        file = Path(path)
        suffix = file.suffix.lower()
        if suffix not in (".yaml", ".yml", ".json"):
            raise ConfigError(f"{file}: a scenario file ends in .yaml, .yml or .json")
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"cannot read the scenario file {file}: {error}") from error
        data = _parse_json(file, text) if suffix == ".json" else _parse_yaml(file, text)
        return cls.from_mapping(data, source=str(file), default_name=file.stem)

    @classmethod
    def from_mapping(
        cls, data: Any, source: str = "<scenario>", default_name: str = "scenario"
    ) -> Scenario:
        """Validate a scenario already parsed into plain values."""
        return _ScenarioReader(source).scenario(data, default_name)

    # -- what it produces --------------------------------------------------------------------
    @property
    def team_windows(self) -> int:
        return len(self.teams) * self.windows

    def chart(self) -> OrgChart:
        """The organisation as the pipeline holds it (the teams topic's table)."""
        chart = OrgChart()
        for info in self.organisation:
            chart.update(info, info.team_id)
        return chart

    def window_ms(self, default_ms: int | None = None) -> int:
        """The scenario's own window size, else ``default_ms`` (the settings' window)."""
        if self.window_seconds is not None:
            resolved: int | None = int(self.window_seconds * 1000)
        else:
            resolved = default_ms
        if resolved is None:
            raise ConfigError(
                f"{self.source}: no window size: set window_seconds in the scenario "
                "or pass the settings' window"
            )
        if resolved <= 0:
            raise ConfigError(f"{self.source}: the window size must be positive, got {resolved}")
        return resolved

    def allowed_lateness_ms(self, default_ms: int | None = None) -> int:
        """The lateness ``late_fraction`` is measured against: the scenario's own, else
        ``default_ms`` (the settings' lateness), else one hour."""
        if self.allowed_lateness_seconds is not None:
            return int(self.allowed_lateness_seconds * 1000)
        return DEFAULT_ALLOWED_LATENESS_MS if default_ms is None else default_ms

    def simulator(
        self, window_ms: int | None = None, allowed_lateness_ms: int | None = None
    ) -> Simulator:
        """The simulator of this scenario. ``window_ms`` and ``allowed_lateness_ms`` are used
        only where the file sets no ``window_seconds`` / ``allowed_lateness_seconds``."""
        return Simulator(
            list(self.teams),
            self.window_ms(window_ms),
            self.start_ms,
            self.seed,
            disorder_ms=self.disorder_ms,
            late_fraction=self.late_fraction,
            allowed_lateness_ms=self.allowed_lateness_ms(allowed_lateness_ms),
        )

    def events(
        self, window_ms: int | None = None, allowed_lateness_ms: int | None = None
    ) -> Iterator[Signal]:
        """Every event of the run in emission order (disorder and late events applied)."""
        return self.simulator(window_ms, allowed_lateness_ms).stream(self.windows)

    def truth(self, window_ms: int | None = None) -> list[TruthItem]:
        """One item per planted effect over its windows, and one ``symmetry_gap`` item over the
        whole run for every team marked ``expect_symmetry_gap``; by team, then time.

        An effect's item covers its ramp-in and the recovery windows that still carry part of
        the shift (the data are shifted there: an alert in them is not a false one). Items
        also say the effect's size in points of a 1–5 scale, the team's expected employee
        respondents per window and the effect's ramp."""
        size = self.window_ms(window_ms)
        start = self.start_ms - self.start_ms % size  # the simulator aligns the same way
        items: list[TruthItem] = []
        for plan in self.teams:
            respondents = round(plan.expected_employees, 6)
            for effect in plan.planned_effects:
                reach_end = effect.reach_end
                end_window = self.windows if reach_end is None else min(reach_end, self.windows)
                items.append(
                    TruthItem(
                        plan.team_id,
                        effect.kind,
                        start + effect.start_window * size,
                        start + end_window * size,
                        effect_points=round(effect.magnitude * _POINTS_PER_RANGE, 6),
                        employee_respondents=respondents,
                        ramp_windows=effect.ramp_windows,
                    )
                )
            if plan.team_id in self.symmetry_gap_teams:
                items.append(
                    TruthItem(
                        plan.team_id,
                        "symmetry_gap",
                        start,
                        start + self.windows * size,
                        employee_respondents=respondents,
                    )
                )
        return items

    def shock_truth(self, window_ms: int | None = None) -> list[ShockTruth]:
        """One item per shared shock, in start order: its unit, level, kind, teams, and
        [its first window's start, the end of the last window it shifts) — its teams' own
        items (:meth:`truth`) cover the same windows."""
        size = self.window_ms(window_ms)
        start = self.start_ms - self.start_ms % size
        items = []
        for shock in sorted(self.shocks, key=lambda s: (s.start_window, s.unit_id)):
            reach_end = shock.effect.reach_end
            end_window = self.windows if reach_end is None else min(reach_end, self.windows)
            items.append(
                ShockTruth(
                    shock.unit_id,
                    shock.level,
                    shock.kind,
                    start + shock.start_window * size,
                    start + end_window * size,
                    shock.teams,
                    effect_points=round(shock.magnitude * _POINTS_PER_RANGE, 6),
                )
            )
        return items


# --- parsing -----------------------------------------------------------------------------------


def _parse_json(file: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{file}: not JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from error


def _parse_yaml(file: Path, text: str) -> Any:
    try:
        import yaml
    except ImportError as error:  # pragma: no cover - pyyaml is a dependency
        raise ConfigError(
            f"{file}: reading YAML scenarios needs PyYAML (pip install pyyaml), "
            "or write the scenario as .json"
        ) from error
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{file}: not valid YAML: {error}") from error


class _ScenarioReader:
    """Validates the plain values of one scenario file; every error names where it is."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(
            f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}"
        )

    # -- typed getters -----------------------------------------------------------------------
    def integer(self, where: str, value: Any, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"must be a whole number, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(where, f"must be {minimum} or more, got {value}")
        return value

    def number(
        self,
        where: str,
        value: Any,
        low: float,
        high: float,
        *,
        low_open: bool = False,
        high_open: bool = False,
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise self.fail(where, f"must be a number, got {value!r}")
        if (
            value > high
            or value < low
            or (low_open and value == low)
            or (high_open and value == high)
        ):
            interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
            raise self.fail(where, f"must be in {interval}, got {value}")
        return float(value)

    def text(self, where: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"must be a non-empty string, got {value!r}")
        return value

    def mapping(self, where: str, value: Any, allowed: frozenset[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a mapping of fields, got {type(value).__name__}")
        unknown = sorted(str(key) for key in value if key not in allowed)
        if unknown:
            raise self.fail(
                where,
                f"unknown field {', '.join(unknown)} (known: {', '.join(sorted(allowed))})",
            )
        return value

    # -- the scenario ------------------------------------------------------------------------
    def one_value(self, where: str, value: Any, spec: _NumberField) -> float | int:
        if spec.whole:
            return self.integer(where, value, minimum=int(spec.low))
        return self.number(
            where, value, spec.low, spec.high, low_open=spec.low_open, high_open=spec.high_open
        )

    def team_number(self, where: str, fields: Mapping[str, Any], name: str) -> _Spec:
        """A numeric team field: absent = its default, a value, or a [low, high] range."""
        spec = _TEAM_NUMBERS[name]
        where = f"{where}: {name}"
        if name not in fields or (fields[name] is None and spec.default is None):
            return spec.default
        value = fields[name]
        if not isinstance(value, list):
            return self.one_value(where, value, spec)
        if len(value) != 2:
            raise self.fail(
                where, f"a range is a list of two values [low, high], got {len(value)}: {value!r}"
            )
        low, high = (self.one_value(where, bound, spec) for bound in value)
        if low > high:
            raise self.fail(where, f"the range [{low}, {high}] runs backwards: give [low, high]")
        return (low, high)

    def scenario(self, data: Any, default_name: str) -> Scenario:
        top = self.mapping("", data, _SCENARIO_KEYS)
        name = self.text("name", top.get("name", default_name))
        description = top.get("description", "")
        if not isinstance(description, str):
            raise self.fail("description", f"must be a string, got {description!r}")
        seed = self.integer("seed", top.get("seed", DEFAULT_SEED))
        if "windows" not in top:
            raise self.fail("windows", "missing: how many windows the run lasts")
        windows = self.integer("windows", top["windows"], minimum=1)
        window_seconds = None
        if top.get("window_seconds") is not None:
            window_seconds = self.number(
                "window_seconds", top["window_seconds"], 0, math.inf, low_open=True
            )
            if window_seconds < 0.001:
                raise self.fail("window_seconds", f"must be at least 0.001, got {window_seconds}")
        start_ms = self.start(top.get("start", DEFAULT_SCENARIO_START_MS))
        disorder_ms = self.integer("disorder_ms", top.get("disorder_ms", 0), minimum=0)
        late_fraction = self.number("late_fraction", top.get("late_fraction", 0.0), 0, 1)
        lateness_seconds = None
        if top.get("allowed_lateness_seconds") is not None:
            lateness_seconds = self.number(
                "allowed_lateness_seconds", top["allowed_lateness_seconds"], 0, math.inf
            )
        groups = top.get("teams")
        if not isinstance(groups, list) or not groups:
            raise self.fail("teams", "must be a non-empty list of team groups")
        levels = self.levels(top.get("levels"))
        plans: list[TeamPlan] = []
        organisation: list[TeamInfo] = []
        gap_teams: set[str] = set()
        seen: dict[str, str] = {}
        for position, group in enumerate(groups):
            path = self.unit_path(f"teams[{position}]", group, levels)
            for plan, expects_gap, where in self.team_group(position, group, windows, seed):
                if plan.team_id in seen:
                    raise self.fail(
                        where, f"team id {plan.team_id!r} is already used by {seen[plan.team_id]}"
                    )
                seen[plan.team_id] = where
                plans.append(plan)
                if path:
                    organisation.append(
                        TeamInfo(plan.team_id, plan.team_id, path, levels[: len(path)])
                    )
                if expects_gap:
                    gap_teams.add(plan.team_id)
        shocks = self.shocks(top.get("shocks"), organisation, windows, seed)
        try:
            planted = plant_shocks(plans, shocks)
        except ValueError as error:
            raise self.fail("shocks", str(error)) from error
        return Scenario(
            name=name,
            description=description.strip(),
            seed=seed,
            windows=windows,
            teams=planted,
            start_ms=start_ms,
            window_seconds=window_seconds,
            disorder_ms=disorder_ms,
            late_fraction=late_fraction,
            allowed_lateness_seconds=lateness_seconds,
            symmetry_gap_teams=frozenset(gap_teams),
            source=self.source,
            organisation=tuple(organisation),
            shocks=shocks,
        )

    def levels(self, value: Any) -> tuple[str, ...]:
        """The level names of a unit path, top-down (empty: the scenario has no organisation)."""
        if value is None:
            return ()
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_DEPTH:
            raise self.fail(
                "levels",
                f"must be a list of 1 to {MAX_DEPTH} level names, top-down "
                f"(e.g. [company, site, department]), got {value!r}",
            )
        names = tuple(self.text(f"levels[{index}]", name) for index, name in enumerate(value))
        if len(set(names)) != len(names):
            raise self.fail("levels", f"a level is named twice: {list(names)}")
        return names

    def unit_path(self, where: str, group: Any, levels: tuple[str, ...]) -> tuple[str, ...]:
        """A team group's unit as a path (empty: its teams are unassigned)."""
        if not isinstance(group, Mapping) or group.get("unit") is None:
            return ()
        unit = self.text(f"{where}.unit", group["unit"])
        if not levels:
            raise self.fail(
                f"{where}.unit",
                "needs the file's levels: the name of each level of a unit path, top-down, "
                "e.g. levels: [company, site, department]",
            )
        path = tuple(unit.split(UNIT_SEPARATOR))
        if len(path) > len(levels):
            raise self.fail(
                f"{where}.unit",
                f"{unit!r} is {len(path)} units deep, the levels name {len(levels)} "
                f"({', '.join(levels)})",
            )
        try:
            TeamInfo("check", "check", path, levels[: len(path)])
        except ValueError as error:
            raise self.fail(f"{where}.unit", str(error).removeprefix("team 'check': ")) from error
        return path

    def shocks(
        self, value: Any, organisation: list[TeamInfo], windows: int, seed: int
    ) -> tuple[Shock, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail("shocks", "must be a list of shocks")
        if value and not organisation:
            raise self.fail(
                "shocks", "a shock hits teams of a unit: give the team groups a unit first"
            )
        shocks: list[Shock] = []
        for index, raw in enumerate(value):
            shocks.append(
                self.shock(f"shocks[{index}]", index, raw, organisation, windows, seed, shocks)
            )
        return tuple(shocks)

    def shock(
        self,
        where: str,
        index: int,
        raw: Any,
        organisation: list[TeamInfo],
        windows: int,
        seed: int,
        earlier: list[Shock],
    ) -> Shock:
        fields = self.mapping(where, raw, _SHOCK_KEYS)
        if "unit" not in fields:
            raise self.fail(f"{where}.unit", "missing: the unit whose teams the shock hits")
        unit = self.text(f"{where}.unit", fields["unit"])
        level = level_of(organisation, unit)
        if level is None:
            raise self.fail(f"{where}.unit", f"{unit!r} is not a unit of any team group")
        effect_fields = {key: fields[key] for key in _EFFECT_KEYS if key in fields}
        effect = self.effect(where, effect_fields, windows)
        candidates = teams_under(organisation, unit)
        if ("teams" in fields) == ("share" in fields):
            raise self.fail(
                where,
                "give teams (how many of the unit's teams, or their ids) or share (of the "
                "unit's teams), one of the two",
            )
        # Seeded by the scenario, the shock's place and its unit: the same file hits the same
        # teams, and adding a shock after it changes nothing. Drawn teams avoid those an
        # earlier shock hits within the margin of this one, while the unit has enough others.
        rng = random.Random(f"miroir-shock-{seed}-{index}-{unit}")
        busy = busy_teams(earlier, effect.start_window, effect.reach_end) & set(candidates)
        if "share" in fields:
            share = self.number(f"{where}.share", fields["share"], 0, 1, low_open=True)
            count = share_count(share, len(candidates))
            avoid = busy if len(candidates) - len(busy) >= count else set()
            teams = spread_pick(organisation, unit, count, rng, exclude=avoid)
        elif isinstance(fields["teams"], list):
            teams = tuple(self.text(f"{where}.teams", team) for team in fields["teams"])
            strangers = [team for team in teams if team not in candidates]
            if strangers or not teams or len(set(teams)) != len(teams):
                raise self.fail(
                    f"{where}.teams",
                    f"must list distinct teams of {unit}, got {fields['teams']!r}"
                    + (f" ({', '.join(strangers)} not in it)" if strangers else ""),
                )
        else:
            count = self.integer(f"{where}.teams", fields["teams"], minimum=1)
            if count > len(candidates):
                raise self.fail(
                    f"{where}.teams", f"{unit} has {len(candidates)} teams, {count} asked"
                )
            avoid = busy if len(candidates) - len(busy) >= count else set()
            teams = spread_pick(organisation, unit, count, rng, exclude=avoid)
        return Shock(
            unit,
            level,
            effect.kind,
            effect.start_window,
            teams,
            effect.end_window,
            effect.magnitude,
            effect.dimension,
            effect.recovery_windows,
        )

    def start(self, value: Any) -> int:
        # YAML turns an unquoted 2026-01-05 into a date and 2026-01-05T00:00:00Z into a datetime.
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day)
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError as error:
                raise self.fail(
                    "start", f"{value!r} is not an ISO date or time (e.g. 2026-01-05T00:00:00Z)"
                ) from error
        else:
            return self.integer("start", value, minimum=0)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # a time without a zone is UTC
        return int(moment.timestamp() * 1000)

    def team_group(
        self, position: int, group: Any, windows: int, seed: int
    ) -> Iterator[tuple[TeamPlan, bool, str]]:
        where = f"teams[{position}]"
        fields = self.mapping(where, group, _TEAM_KEYS)
        if "id" in fields:
            if "prefix" in fields or "count" in fields:
                raise self.fail(where, "give either id, or prefix and count, not both")
            team_id = fields["id"]
            if isinstance(team_id, int) and not isinstance(team_id, bool):
                team_id = str(team_id)  # YAML reads `id: 7` as a number
            team_ids = [self.text(f"{where}.id", team_id)]
        elif "prefix" in fields and "count" in fields:
            prefix = self.text(f"{where}.prefix", fields["prefix"])
            count = self.integer(f"{where}.count", fields["count"], minimum=1)
            width = max(2, len(str(count)))
            team_ids = [f"{prefix}{index:0{width}d}" for index in range(1, count + 1)]
        else:
            raise self.fail(where, "needs an id, or a prefix and a count")
        label = team_ids[0] if len(team_ids) == 1 else f"{team_ids[0]}…{team_ids[-1]}"
        where = f"team {label} ({where})"
        numbers = {name: self.team_number(where, fields, name) for name in _TEAM_NUMBERS}
        if "roster" in fields and "employees" in fields:
            raise self.fail(
                f"{where}: roster",
                "give employees (pulses per window) or roster (the people who may answer), "
                "not both",
            )
        if numbers["roster"] is None and "response_rate" in fields:
            raise self.fail(
                f"{where}: response_rate", "needs a roster: the people who may answer each pulse"
            )
        expects_gap = fields.get("expect_symmetry_gap", False)
        if not isinstance(expects_gap, bool):
            raise self.fail(
                f"{where}: expect_symmetry_gap", f"must be true or false, got {expects_gap!r}"
            )
        raw_effects = fields.get("effects") or []
        if not isinstance(raw_effects, list):
            raise self.fail(f"{where}: effects", "must be a list of effects")
        effects = tuple(
            self.effect(f"{where}: effects[{index}]", raw, windows)
            for index, raw in enumerate(raw_effects)
        )
        for team_id in team_ids:
            values = {name: _resolve(spec, seed, team_id, name) for name, spec in numbers.items()}
            try:
                # Each value was checked against its field's type and bounds above.
                plan = TeamPlan(team_id, effects=effects, **values)  # type: ignore[arg-type]
            except ValueError as error:
                # Every field was checked above: what is left is how the effects fit together.
                raise self.fail(f"{where}: effects", str(error)) from error
            yield plan, expects_gap, where

    def effect(self, where: str, raw: Any, windows: int) -> Effect:
        fields = self.mapping(where, raw, _EFFECT_KEYS)
        kind = fields.get("kind")
        if kind not in EFFECT_KINDS:
            raise self.fail(f"{where}.kind", f"{kind!r} is not one of {', '.join(EFFECT_KINDS)}")
        if "start" not in fields:
            raise self.fail(f"{where}.start", "missing: the window index where the effect starts")
        start = self.integer(f"{where}.start", fields["start"], minimum=0)
        if start >= windows:
            raise self.fail(
                f"{where}.start", f"window {start} is past the run's last window ({windows - 1})"
            )
        end = None
        if fields.get("end") is not None:
            end = self.integer(f"{where}.end", fields["end"], minimum=0)
            if end <= start:
                raise self.fail(
                    f"{where}.end", f"must be after start ({start}); end is exclusive, got {end}"
                )
            if end > windows:
                raise self.fail(
                    f"{where}.end", f"window {end} is past the end of the run ({windows} windows)"
                )
        magnitude = self.number(
            f"{where}.magnitude",
            fields.get("magnitude", DEFAULT_EFFECT_MAGNITUDE),
            0,
            1,
            low_open=True,
        )
        dimension = fields.get("dimension")
        if dimension is not None:
            dimension = _DIMENSION_ALIASES.get(dimension, dimension)
            if dimension not in DIMENSIONS:
                raise self.fail(
                    f"{where}.dimension",
                    f"{fields['dimension']!r} is not one of {', '.join(DIMENSIONS)}",
                )
        ramp = self.integer(f"{where}.ramp_windows", fields.get("ramp_windows", 0), minimum=0)
        length = (windows if end is None else end) - start
        if ramp > length:
            raise self.fail(
                f"{where}.ramp_windows",
                f"a ramp of {ramp} windows does not fit in the effect's {length} windows "
                "(the shift must reach full size)",
            )
        recovery = self.integer(
            f"{where}.recovery_windows", fields.get("recovery_windows", 0), minimum=0
        )
        if recovery and end is None:
            raise self.fail(
                f"{where}.recovery_windows", "needs an end: the recovery follows the effect's end"
            )
        return Effect(kind, start, end, magnitude, dimension, ramp, recovery)


def _resolve(spec: _Spec, seed: int, team_id: str, name: str) -> float | int | None:
    """A fixed value as it is; a range drawn for this team, the same every time the file is
    read (seeded by the scenario's seed, the team and the field, so adding a range to one
    field or a team to the file draws nothing else differently)."""
    if not isinstance(spec, tuple):
        return spec
    low, high = spec
    rng = random.Random(f"miroir-range-{seed}-{team_id}-{name}")
    if isinstance(low, int) and isinstance(high, int):
        return rng.randint(low, high)
    # Four decimals read better in plans and truth files, and are plenty for a fraction.
    return min(high, max(low, round(rng.uniform(low, high), 4)))
