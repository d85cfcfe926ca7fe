"""The organisation: unit paths, the teams CSV and its errors, unassigned teams."""

from __future__ import annotations

import pytest

from streams.core.org import OrgChart, TeamInfo, read_teams_csv

CSV = """team_id,display_name,company,region,site,department
t-101,Paris support,acme,emea,paris,support
t-102,Lyon sales,acme,emea,lyon,sales
t-900,Head office,acme,,,
"""


def test_a_csv_gives_each_team_its_path_at_its_own_depth() -> None:
    teams, problems = read_teams_csv(CSV)
    assert problems == []
    by_id = {t.team_id: t for t in teams}
    assert by_id["t-101"].units() == [
        "acme",
        "acme/emea",
        "acme/emea/paris",
        "acme/emea/paris/support",
    ]
    assert by_id["t-101"].level(3) == "department"
    assert by_id["t-900"].path == ("acme",) and by_id["t-900"].levels == ("company",)


def test_every_problem_is_reported_with_its_line() -> None:
    text = CSV + "t-101,again,acme\nt-7,Gap,acme,,paris\nt-8,Slash,acme,a/b\nt-9,Long,a,b,c,d,e\n"
    _teams, problems = read_teams_csv(text)
    assert [(p.line, p.reason.split(":")[0][:20]) for p in problems] == [
        (5, "team 't-101' listed "),
        (6, "an empty unit betwee"),
        (7, "team 't-8'"),
        (8, "7 cells, the header "),
    ]
    assert read_teams_csv("id,name\n")[1][0].line == 1  # the header is checked first


def test_a_team_missing_from_the_chart_is_unassigned_and_a_tombstone_forgets() -> None:
    chart = OrgChart()
    chart.update(TeamInfo("t", "T", ("acme", "care")), "t")
    assert chart.place("t").units() == ["acme", "acme/care"]
    chart.update(None, "t")
    assert chart.place("t").units() == ["unassigned"]
    with pytest.raises(ValueError, match="without"):
        TeamInfo("x", "X", ("a/b",))
