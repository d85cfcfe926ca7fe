"""The organisation: which unit each team belongs to, at any depth (pure, no I/O).

Teams belong to units given as a path from the top down — company, region, site, department,
as deep as a company needs. A unit is named by its path joined with ``/`` (``acme/emea/paris``),
so two departments called "support" in different sites stay apart. The mapping arrives on the
compacted ``miroir-teams`` topic (``schemas/team_info.avsc``) or from a CSV
(``miroir teams load``); a team missing from it belongs to ``unassigned``, a unit of its own.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from schemas.records import MAX_IDENTIFIER_CHARS, identifier_fault

UNASSIGNED: Final = "unassigned"
UNIT_SEPARATOR: Final = "/"
MAX_DEPTH: Final = 8
DEFAULT_LEVELS: Final = (
    "company",
    "region",
    "site",
    "department",
    "unit5",
    "unit6",
    "unit7",
    "unit8",
)


@dataclass(frozen=True, slots=True)
class TeamInfo:
    """One team's place in the organisation: display name, unit path and the path's levels."""

    team_id: str
    display_name: str
    path: tuple[str, ...]  # top-down unit names, e.g. ("acme", "emea", "paris", "support")
    levels: tuple[str, ...] = ()  # level of each path element, e.g. ("company", "region", ...)

    def __post_init__(self) -> None:
        fault = identifier_fault(self.team_id)  # not blank, at most 256, no control character
        if fault is not None:
            raise ValueError(f"team_id {self.team_id[:40]!r} {fault}")
        if not self.path or len(self.path) > MAX_DEPTH:
            raise ValueError(f"team {self.team_id!r}: a unit path of 1 to {MAX_DEPTH} names")
        for name in self.path:
            if not name or UNIT_SEPARATOR in name or len(name) > MAX_IDENTIFIER_CHARS:
                raise ValueError(
                    f"team {self.team_id!r}: unit name {name[:40]!r} must be 1 to "
                    f"{MAX_IDENTIFIER_CHARS} characters without {UNIT_SEPARATOR!r}"
                )
        # Unit names and levels become unit ids, page text and log lines like team ids do.
        named = [("unit name", name, False) for name in self.path]
        named += [("level", level, False) for level in self.levels]
        named.append(("display_name", self.display_name, True))
        for what, value, may_be_blank in named:
            fault = identifier_fault(value, may_be_blank=may_be_blank)
            if fault is not None:
                raise ValueError(f"team {self.team_id!r}: {what} {value[:40]!r} {fault}")
        if self.levels and len(self.levels) != len(self.path):
            raise ValueError(
                f"team {self.team_id!r}: {len(self.path)} units but levels {self.levels}"
            )

    def units(self) -> list[str]:
        """The ids of the units the team belongs to, top-down (the company first)."""
        return [UNIT_SEPARATOR.join(self.path[: depth + 1]) for depth in range(len(self.path))]

    def level(self, depth: int) -> str:
        return self.levels[depth] if self.levels else DEFAULT_LEVELS[depth]


@dataclass(slots=True)
class OrgChart:
    """Team → ``TeamInfo``; a team missing from it is placed under ``unassigned``."""

    teams: dict[str, TeamInfo] = field(default_factory=dict)

    def place(self, team_id: str) -> TeamInfo:
        """The team's record; a team not on the chart is placed under ``UNASSIGNED``.
        ValueError for a team id no record may have (see ``units_of``)."""
        info = self.teams.get(team_id)
        if info is not None:
            return info
        return TeamInfo(team_id, team_id, (UNASSIGNED,), ("company",))

    def units_of(self, team_id: str) -> list[str]:
        """The ids of the units the team belongs to, top-down; never raises. A team id from
        state saved before the identifier rules (schemas.records.identifier_fault) may break
        them: such a team is placed under ``UNASSIGNED`` like any team not on the chart,
        rather than stopping the roll-ups of the whole organisation."""
        info = self.teams.get(team_id)
        return info.units() if info is not None else [UNASSIGNED]

    def update(self, info: TeamInfo | None, team_id: str) -> None:
        """Apply one record of the teams topic (None: a tombstone, the team is forgotten)."""
        if info is None:
            self.teams.pop(team_id, None)
        else:
            self.teams[team_id] = info

    def unit_level(self, unit_id: str) -> str:
        """The level name of a unit (from any team under it)."""
        depth = unit_id.count(UNIT_SEPARATOR)
        for info in self.teams.values():
            if UNIT_SEPARATOR.join(info.path[: depth + 1]) == unit_id:
                return info.level(depth)
        return "company" if depth == 0 else DEFAULT_LEVELS[min(depth, MAX_DEPTH - 1)]


@dataclass(frozen=True, slots=True)
class CsvProblem:
    line: int
    reason: str


def read_teams_csv(text: str) -> tuple[list[TeamInfo], list[CsvProblem]]:
    """Teams from a CSV: a header ``team_id,display_name,<level>,<level>,...`` (levels top-down,
    e.g. ``company,region,site,department``), one team per line; trailing level cells may be
    empty for a shallower team. Returns the teams and every problem found, by line."""
    reader = csv.reader(text.splitlines())
    teams: list[TeamInfo] = []
    problems: list[CsvProblem] = []
    header = next(reader, None)
    if header is None or [h.strip() for h in header[:2]] != ["team_id", "display_name"]:
        return [], [CsvProblem(1, "the header must start with team_id,display_name")]
    levels = tuple(h.strip() for h in header[2:])
    if not levels or len(levels) > MAX_DEPTH or not all(levels):
        return [], [CsvProblem(1, f"after display_name, 1 to {MAX_DEPTH} named level columns")]
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row] + [""] * (len(header) - len(row))
        team_id, name, path_cells = cells[0], cells[1], cells[2 : 2 + len(levels)]
        if len(row) > len(header):
            problems.append(CsvProblem(line, f"{len(row)} cells, the header has {len(header)}"))
            continue
        depth = len(path_cells)
        while depth and not path_cells[depth - 1]:
            depth -= 1
        path = tuple(path_cells[:depth])
        if "" in path:
            problems.append(CsvProblem(line, "an empty unit between two named ones"))
            continue
        if team_id in seen:
            problems.append(CsvProblem(line, f"team {team_id!r} listed twice"))
            continue
        try:
            teams.append(TeamInfo(team_id, name or team_id, path, levels[:depth]))
        except ValueError as e:
            problems.append(CsvProblem(line, str(e)))
            continue
        seen.add(team_id)
    return teams, problems


def children_of(chart: OrgChart, team_ids: Iterable[str]) -> Mapping[str, list[str]]:
    """Unit id → its direct child units and teams (teams as ``team:<id>``), for ``team_ids``."""
    children: dict[str, set[str]] = {}
    for team_id in team_ids:
        units = chart.units_of(team_id)
        for parent, child in zip(units, units[1:], strict=False):
            children.setdefault(parent, set()).add(child)
        children.setdefault(units[-1], set()).add(TEAM_NODE + team_id)
    return {unit: sorted(kids) for unit, kids in children.items()}


TEAM_NODE: Final = "team:"


def iter_units_bottom_up(children: Mapping[str, list[str]]) -> Iterator[str]:
    """Units deepest first, so a unit comes after every unit under it."""
    yield from sorted(children, key=lambda unit: (-unit.count(UNIT_SEPARATOR), unit))


__all__ = [
    "DEFAULT_LEVELS",
    "TEAM_NODE",
    "UNASSIGNED",
    "UNIT_SEPARATOR",
    "CsvProblem",
    "OrgChart",
    "TeamInfo",
    "children_of",
    "iter_units_bottom_up",
    "read_teams_csv",
]
