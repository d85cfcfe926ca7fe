"""The provisioned Grafana dashboard and the BI docs' queries, checked without any I/O but reading
the repository: the JSON parses, every query reads the provisioned datasource and only the
analyst views, uses only macros and variables the expander below knows, panel ids are unique,
and the provider file points where docker-compose mounts the dashboard.

The expander is shared with tests/integration/test_bi_queries.py, which runs every expanded
query on a store a real pipeline run filled. It does to a query what Grafana 12 and the
ClickHouse plugin (grafana-clickhouse-datasource 4.x) do before ClickHouse sees it, in their
order, for the constructs this dashboard uses:

1. the plugin's front end replaces ``$__conditionalAll(condition, $var)`` by ``condition``, or
   by ``1=1`` when ``$var`` is All (``applyConditionalAll`` in src/data/CHDatasource.ts; its
   arguments split at the commas outside nested parentheses);
2. Grafana interpolates the dashboard variables: ``${var:singlequote}`` gives ``'value'``
   (a quote inside escaped with a backslash), ``${var}`` / ``$var`` the value as is; when
   the variable is All (and has no custom all value) every value of the variable, each
   formatted so and joined by commas (the plugin quotes a list it is given unformatted);
3. the plugin's back end expands its macros (pkg/macros/macros.go), with the time range in
   whole seconds: ``$__timeFilter(col)`` is ``col >= toDateTime(<from>) AND col <=
   toDateTime(<to>)``; ``$__timeInterval(col)`` is ``toStartOfInterval(toDateTime(col),
   INTERVAL <interval> second)``; ``$__fromTime`` / ``$__toTime`` are ``toDateTime(<s>)``;
   ``$__interval_s`` is the interval in seconds (at least 1).

Anything else starting with ``$`` is an error: a macro or variable the expander does not know,
so a panel can never use one that the integration test would silently leave unexpanded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from sinks.schema import VIEWS

REPO: Final = Path(__file__).resolve().parents[2]
GRAFANA: Final = REPO / "deploy" / "grafana" / "provisioning"
DASHBOARD_PATH: Final = GRAFANA / "dashboards" / "miroir.json"
PROVIDER_PATH: Final = GRAFANA / "dashboards" / "miroir.yaml"
DATASOURCES_PATH: Final = GRAFANA / "datasources" / "clickhouse.yaml"
COMPOSE_PATH: Final = REPO / "deploy" / "docker-compose.yml"
BI_DOCS_PATH: Final = REPO / "docs" / "bi.md"

# Grafana 12's classic dashboard schema version.
SCHEMA_VERSION: Final = 41
# Tables the dashboard may read besides the analyst views: none (views apply FINAL and name
# teams). The docs may also show a raw table the BI role can read, with FINAL.
DASHBOARD_ALLOWED_TABLES: Final[frozenset[str]] = frozenset()
DOCS_ALLOWED_TABLES: Final = frozenset({"customer_feedback"})
EXAMPLE_QUERIES: Final = 10

ALL: Final = "$__all"  # the value Grafana gives a variable whose All option is selected
KNOWN_MACROS: Final = frozenset(
    {"conditionalAll", "timeFilter", "timeInterval", "fromTime", "toTime", "interval_s"}
)
KNOWN_FORMATS: Final = frozenset({"raw", "singlequote"})
# The plugin's SQL-editor query types and the numeric format its back end reads (sqlds:
# 0 time series, 1 table; src/data/utils.ts mapQueryTypeToGrafanaFormat).
FORMATS: Final[Mapping[str, int]] = {"timeseries": 0, "table": 1}


class ExpansionError(ValueError):
    """A query uses a macro, variable or format the expander does not know."""


@dataclass(frozen=True)
class Expansion:
    """What a panel's query is expanded with: the dashboard's time range, the interval Grafana
    would derive from it, each variable's current value (``ALL`` for All) and every variable's
    values (what All stands for)."""

    start: datetime
    end: datetime
    interval_seconds: int = 10
    values: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Query:
    """One query of the dashboard or the docs, named for test ids and failure messages."""

    name: str
    sql: str
    panel_type: str = ""  # the panel's visualisation; empty for variables and the docs


def expand(sql: str, expansion: Expansion) -> str:
    """``sql`` as ClickHouse would receive it from Grafana and the plugin (module doc)."""
    sql = _conditional_all(sql, expansion)
    sql = _variables(sql, expansion)
    sql = _macros(sql, expansion)
    if "$" in sql:
        raise ExpansionError(f"unexpanded {sql[sql.index('$') :][:40]!r}")
    return sql


def macros_used(sql: str) -> set[str]:
    return set(re.findall(r"\$__(\w+)", sql))


def variables_used(sql: str) -> set[str]:
    return {
        braced or plain for braced, plain in re.findall(r"\$\{(\w+)(?::\w+)?\}|\$(?!__)(\w+)", sql)
    }


def _arguments(sql: str, open_paren: int) -> tuple[list[str], int]:
    """The arguments of the call whose ``(`` is at ``open_paren`` (split at the commas of its
    own level) and the index just past its ``)``."""
    depth, start, arguments = 0, open_paren + 1, []
    for index in range(open_paren, len(sql)):
        char = sql[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                arguments.append(sql[start:index])
                return arguments, index + 1
        elif char == "," and depth == 1:
            arguments.append(sql[start:index])
            start = index + 1
    raise ExpansionError(f"unbalanced parentheses after {sql[:open_paren][-30:]!r}")


def _conditional_all(sql: str, expansion: Expansion) -> str:
    macro = "$__conditionalAll("
    while (at := sql.rfind(macro)) != -1:
        arguments, end = _arguments(sql, at + len(macro) - 1)
        if len(arguments) != 2:
            raise ExpansionError(f"$__conditionalAll takes 2 arguments, got {arguments}")
        condition, variable = arguments
        name = variable.strip().removeprefix("$").strip("{}")
        if name not in expansion.values:
            raise ExpansionError(f"$__conditionalAll on an unknown variable {variable!r}")
        replacement = "1=1" if expansion.values[name] in ("", ALL) else condition
        sql = sql[:at] + replacement + sql[end:]
    return sql


def _singlequote(value: str) -> str:
    return "'" + value.replace("'", "\\'") + "'"


def _variables(sql: str, expansion: Expansion) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        form = match.group(2) or "raw"
        if name not in expansion.values:
            raise ExpansionError(f"unknown variable ${name}")
        if form not in KNOWN_FORMATS:
            raise ExpansionError(f"unknown variable format {form!r} in {match.group(0)}")
        value = expansion.values[name]
        if value == ALL:
            values = list(expansion.options.get(name, ()))
            if not values:
                raise ExpansionError(f"${name} is All, but its values are not given")
            return ",".join(_singlequote(v) for v in values)
        return _singlequote(value) if form == "singlequote" else value

    return re.sub(r"\$\{(\w+)(?::(\w+))?\}|\$(?!__)(\w+)", replace, sql)


def _seconds(moment: datetime) -> str:
    return f"toDateTime({int(moment.timestamp())})"


def _macros(sql: str, expansion: Expansion) -> str:
    out: list[str] = []
    position = 0
    for match in re.finditer(r"\$__(\w+)", sql):
        if match.start() < position:
            continue  # inside the arguments of a macro already expanded
        name = match.group(1)
        out.append(sql[position : match.start()])
        position = match.end()
        if name in ("fromTime", "toTime"):
            out.append(_seconds(expansion.start if name == "fromTime" else expansion.end))
        elif name == "interval_s":
            out.append(str(max(expansion.interval_seconds, 1)))
        elif name in ("timeFilter", "timeInterval"):
            if position >= len(sql) or sql[position] != "(":
                raise ExpansionError(f"$__{name} needs (column)")
            arguments, position = _arguments(sql, position)
            if len(arguments) != 1:
                raise ExpansionError(f"$__{name} takes 1 argument, got {arguments}")
            column = arguments[0].strip()
            if name == "timeFilter":
                out.append(
                    f"{column} >= {_seconds(expansion.start)} "
                    f"AND {column} <= {_seconds(expansion.end)}"
                )
            else:
                seconds = max(expansion.interval_seconds, 1)
                out.append(f"toStartOfInterval(toDateTime({column}), INTERVAL {seconds} second)")
        else:
            raise ExpansionError(f"unknown macro $__{name}")
    out.append(sql[position:])
    return "".join(out)


# -- the dashboard and the docs ------------------------------------------------------------
def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD_PATH.read_text(encoding="utf-8"))
    return dashboard


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those nested in collapsed rows too."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(dashboard: Mapping[str, Any]) -> list[Query]:
    """Every SQL the dashboard sends: panel targets, variable queries, annotation queries."""
    queries = []
    for variable in dashboard["templating"]["list"]:
        if variable.get("type") == "query":
            queries.append(Query(f"variable {variable['name']}", variable["query"]))
    for annotation in dashboard["annotations"]["list"]:
        if not annotation.get("builtIn"):
            queries.append(
                Query(f"annotation {annotation['name']}", annotation["target"]["rawSql"])
            )
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            name = f"panel {panel['id']} {panel['title']} {target['refId']}"
            queries.append(Query(name, target["rawSql"], panel["type"]))
    return queries


def docs_queries(markdown: str | None = None) -> list[Query]:
    """The ```sql blocks of docs/bi.md's "Example queries" section, each named by the
    question (the ### heading) above it."""
    text = BI_DOCS_PATH.read_text(encoding="utf-8") if markdown is None else markdown
    section = re.search(r"^## Example queries\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    if section is None:
        return []
    queries = []
    for match in re.finditer(
        r"^### (.+?)\n(?:(?!^### ).)*?^```sql\n(.*?)^```", section.group(1), re.M | re.S
    ):
        queries.append(Query(match.group(1).strip(), match.group(2).strip()))
    return queries


def tables_read(sql: str) -> set[str]:
    """The tables and views a query names after FROM or JOIN (string literals, comments and
    ARRAY JOINs, which name columns, left out)."""
    sql = re.sub(r"'(?:\\.|[^'\\])*'", "''", sql)
    sql = re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL)
    sql = re.sub(r"\bARRAY\s+JOIN\b", "ARRAY_JOIN", sql, flags=re.IGNORECASE)
    return set(re.findall(r"\b(?:FROM|JOIN)\s+([A-Za-z_][\w.]*)", sql, flags=re.IGNORECASE))


def _sample_expansion(unit: str) -> Expansion:
    return Expansion(
        start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2026, 1, 2, tzinfo=UTC),
        values={"unit": unit, "team": "d1-t0"},
        options={"unit": ["acme", "acme/d1"]},
    )


DASHBOARD: Final = load_dashboard()
QUERIES: Final = dashboard_queries(DASHBOARD)


# -- the dashboard -------------------------------------------------------------------------
def test_the_dashboard_is_a_grafana_12_dashboard_with_panels() -> None:
    assert DASHBOARD["schemaVersion"] == SCHEMA_VERSION
    assert DASHBOARD["uid"] and DASHBOARD["title"]
    assert DASHBOARD.get("id") is None  # provisioned: Grafana assigns the database id
    kinds = {panel["type"] for panel in panels(DASHBOARD)}
    assert {"timeseries", "table", "stat"} <= kinds
    assert {v["name"] for v in DASHBOARD["templating"]["list"]} == {"unit", "team"}


def test_every_query_reads_the_provisioned_clickhouse_datasource() -> None:
    provisioned = yaml.safe_load(DATASOURCES_PATH.read_text(encoding="utf-8"))
    datasources = {d["uid"]: d["type"] for d in provisioned["datasources"]}
    used = [
        *(p["datasource"] for p in panels(DASHBOARD) if p["type"] != "row"),
        *(t["datasource"] for p in panels(DASHBOARD) for t in p.get("targets", [])),
        *(v["datasource"] for v in DASHBOARD["templating"]["list"]),
        *(a["datasource"] for a in DASHBOARD["annotations"]["list"] if not a.get("builtIn")),
    ]
    assert used
    for datasource in used:
        assert datasources.get(datasource["uid"]) == datasource["type"], datasource


@pytest.mark.parametrize(
    "panel",
    [p for p in panels(DASHBOARD) if p.get("targets")],
    ids=lambda p: f"panel {p['id']} {p['title']}",
)
def test_targets_are_sql_editor_queries_in_the_format_of_their_panel(
    panel: dict[str, Any],
) -> None:
    wanted = "timeseries" if panel["type"] == "timeseries" else "table"
    for target in panel["targets"]:
        assert target["editorType"] == "sql"
        assert target["queryType"] == wanted
        assert target["format"] == FORMATS[wanted]
        assert target["refId"] and target["rawSql"].strip()


def test_panel_ids_are_unique_and_panels_fit_the_grid() -> None:
    ids = [panel["id"] for panel in panels(DASHBOARD)]
    assert len(ids) == len(set(ids))
    for panel in panels(DASHBOARD):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_every_query_reads_only_the_analyst_views(query: Query) -> None:
    read = tables_read(query.sql)
    assert read, "no FROM found"
    assert read <= set(VIEWS) | DASHBOARD_ALLOWED_TABLES, read - set(VIEWS)
    assert not re.search(r"\bFINAL\b", query.sql), "the views apply FINAL already"


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_every_macro_and_variable_is_one_the_expander_knows(query: Query) -> None:
    assert macros_used(query.sql) <= KNOWN_MACROS
    assert variables_used(query.sql) <= {v["name"] for v in DASHBOARD["templating"]["list"]}
    for unit in (ALL, "acme/d1"):
        expanded = expand(query.sql, _sample_expansion(unit))
        assert "$" not in expanded


def test_time_series_queries_return_time_first_in_time_order() -> None:
    """The plugin reads the first column, aliased time, as the time of a series, and turns a
    long result (time, a string column, values) into one series per string value only when it
    comes sorted by time."""
    for query in QUERIES:
        if query.panel_type == "timeseries":
            assert re.match(r"SELECT\s+\S.*? AS time,", query.sql, re.S), query.name
            assert query.sql.rstrip().endswith("ORDER BY time"), query.name


def test_the_provider_loads_the_folder_compose_mounts_the_dashboard_in() -> None:
    provider = yaml.safe_load(PROVIDER_PATH.read_text(encoding="utf-8"))
    (config,) = provider["providers"]
    assert config["type"] == "file"
    compose = yaml.safe_load(COMPOSE_PATH.read_text(encoding="utf-8"))
    mounts = [v.split(":") for v in compose["services"]["grafana"]["volumes"]]
    in_container = None
    for host, container, *_ in mounts:
        source = (COMPOSE_PATH.parent / host).resolve()
        if DASHBOARD_PATH.is_relative_to(source):
            in_container = Path(container) / DASHBOARD_PATH.relative_to(source)
    assert in_container is not None, "docker-compose mounts no folder holding the dashboard"
    assert in_container.parent == Path(config["options"]["path"])


# -- the docs ------------------------------------------------------------------------------
def test_the_docs_give_ten_example_queries_each_under_its_question() -> None:
    queries = docs_queries()
    assert len(queries) == EXAMPLE_QUERIES
    assert all(q.name.endswith("?") for q in queries), [q.name for q in queries]
    assert len({q.name for q in queries}) == EXAMPLE_QUERIES


@pytest.mark.parametrize("query", docs_queries(), ids=lambda q: q.name[:60])
def test_the_docs_queries_read_the_views_or_an_allowed_table_with_final(query: Query) -> None:
    read = tables_read(query.sql)
    assert read and read <= set(VIEWS) | DOCS_ALLOWED_TABLES, read
    for table in read & DOCS_ALLOWED_TABLES:
        assert re.search(rf"\b{table}\s+FINAL\b", query.sql), f"{table} needs FINAL"
    assert re.search(r"now\(\)\s*-\s*INTERVAL", query.sql), "relative time, so it stays true"
    assert not macros_used(query.sql) and not variables_used(query.sql)


# -- the expander, against the plugin's documented outputs ---------------------------------
def test_the_expander_writes_the_plugins_time_macros() -> None:
    expansion = Expansion(
        start=datetime.fromtimestamp(1415792726, UTC),
        end=datetime.fromtimestamp(1447328726, UTC),
        interval_seconds=20,
    )
    assert expand("WHERE $__timeFilter(time)", expansion) == (
        "WHERE time >= toDateTime(1415792726) AND time <= toDateTime(1447328726)"
    )
    assert expand("$__timeInterval(column)", expansion) == (
        "toStartOfInterval(toDateTime(column), INTERVAL 20 second)"
    )
    assert expand("$__fromTime, $__toTime, $__interval_s", expansion) == (
        "toDateTime(1415792726), toDateTime(1447328726), 20"
    )


def test_the_expander_interpolates_variables_and_conditional_all() -> None:
    sql = (
        "WHERE $__conditionalAll(u = ${unit:singlequote} "
        "OR f(concat(${unit:singlequote}, '/')), $unit) AND t = ${team:singlequote}"
    )
    one = Expansion(datetime.now(UTC), datetime.now(UTC), values={"unit": "a'b", "team": "t1"})
    assert expand(sql, one) == (r"WHERE u = 'a\'b' OR f(concat('a\'b', '/')) AND t = 't1'")
    everything = Expansion(datetime.now(UTC), datetime.now(UTC), values={"unit": ALL, "team": "t1"})
    assert expand(sql, everything) == "WHERE 1=1 AND t = 't1'"
    listed = Expansion(
        datetime.now(UTC), datetime.now(UTC), values={"unit": ALL}, options={"unit": ["x", "y"]}
    )
    assert expand("unit_id IN (${unit:singlequote}) OR u = $unit", listed) == (
        "unit_id IN ('x','y') OR u = 'x','y'"
    )


@pytest.mark.parametrize(
    "sql",
    ["$__timeGroup(t, 5m)", "$__timeFilter_ms(t)", "${unit:regex}", "$nothing", "$__timeFilter"],
)
def test_the_expander_refuses_what_it_does_not_know(sql: str) -> None:
    with pytest.raises(ExpansionError):
        expand(sql, _sample_expansion("acme"))
