"""Every statement that makes Miroir's ClickHouse schema, in order: database, tables, migrations,
views — for one node or a cluster — and the retention TTLs (pure: renders SQL, runs nothing).

The DDL lives in ``sinks/ddl/<table>.sql`` and ``sinks/ddl/views/<view>.sql`` with a
``{database}`` placeholder. ``ClickHouseSink.open()`` runs ``schema_statements()`` then
``retention_statement()`` per retained table (which needs the table's current TTL, read from
``system.tables``, so that an unchanged setting rewrites nothing). On a cluster
(``MIROIR_CLICKHOUSE_CLUSTER``) each table becomes a replicated ``<table>_local`` plus a
``Distributed`` table of the usual name (``sinks.cluster``), so views, inserts and readers use
the same names either way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Final

from streams.errors import ConfigError

__all__ = [
    "RETAINED_TABLES",
    "TABLES",
    "VIEWS",
    "Statement",
    "retention_statement",
    "schema_statements",
    "table_ddl",
    "view_ddl",
]

# Creation order; each has its DDL in sinks/ddl/<table>.sql.
TABLES: Final = (
    "mirror_alerts",
    "team_window_metrics",
    "customer_feedback",
    "dead_letters",
    "late_events",
    "duplicate_events",
    "employee_comments",
    "episodes",
    "unit_window_metrics",
    "incidents",
    "backfill_runs",
    "customer_tag_metrics",
    "teams",
)

# The analyst views (sinks/ddl/views/<view>.sql), in creation order: current state (FINAL), plain
# DateTime columns, team and unit names, a COMMENT on every view and column. Their joins are
# GLOBAL: on a cluster the small right side (teams, late counts) is computed once by the node
# that got the query and shipped to the shards, where a plain JOIN of two Distributed tables is
# refused (distributed_product_mode = deny); on one node GLOBAL changes nothing.
VIEWS: Final = (
    "v_teams",
    "v_alerts",
    "v_team_windows",
    "v_open_episodes",
    "v_incidents",
    "v_customer_tags",
    "v_unit_windows",
    "v_late_events",
    "v_dead_letters",
)

# Raw rows MIROIR_RAW_RETENTION_DAYS applies to, by the time column their age is measured on.
# Aggregates (team and unit windows, alerts, episodes) hold no individual row and are kept.
RETAINED_TABLES: Final[Mapping[str, str]] = {
    "customer_feedback": "occurred_at",
    "dead_letters": "seen_at",
    "employee_comments": "window_start",
}

_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The table TTL clause of a SHOW CREATE / system.tables.create_table_query text.
_TTL_CLAUSE: Final = re.compile(r"\bTTL\s+(.+?)\s+(?:SETTINGS|COMMENT)\b", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Statement:
    """One DDL statement and what it does, for logs and errors (``create table teams``)."""

    label: str
    sql: str


def identifier(value: str, what: str) -> str:
    """``value`` when it is a plain SQL identifier (it is spliced into DDL), else ConfigError."""
    if not _IDENTIFIER.match(value):
        raise ConfigError(f"Invalid ClickHouse {what} {value!r}: use letters, digits and _")
    return value


def _read(*parts: str) -> str:
    return resources.files("sinks").joinpath("ddl", *parts).read_text(encoding="utf-8")


def table_ddl(table: str, database: str) -> str:
    """The single-node ``CREATE TABLE IF NOT EXISTS`` statement of one Miroir table."""
    if table not in TABLES:
        raise ConfigError(f"Unknown table {table!r}; Miroir's tables are {', '.join(TABLES)}")
    return _read(f"{table}.sql").replace("{database}", identifier(database, "database"))


def view_ddl(view: str, database: str) -> str:
    """The ``CREATE OR REPLACE VIEW`` statement of one analyst view (replaced at every start,
    so a new Miroir's view definitions take effect)."""
    if view not in VIEWS:
        raise ConfigError(f"Unknown view {view!r}; Miroir's views are {', '.join(VIEWS)}")
    return _read("views", f"{view}.sql").replace("{database}", identifier(database, "database"))


def schema_statements(
    database: str,
    migrations: tuple[tuple[str, str, str], ...] = (),
    *,
    cluster: str | None = None,
) -> list[Statement]:
    """The statements ``open()`` runs, in order; each is idempotent. ``migrations``: (table,
    column, definition) added with ``ADD COLUMN IF NOT EXISTS`` to stores written by an older
    Miroir. ``cluster``: render for that ClickHouse cluster (``sinks.cluster``)."""
    database = identifier(database, "database")
    if cluster is None:
        statements = [Statement("create database", f"CREATE DATABASE IF NOT EXISTS {database}")]
        statements += [Statement(f"create table {t}", table_ddl(t, database)) for t in TABLES]
        statements += [
            Statement(
                f"add {table}.{column}",
                f"ALTER TABLE {database}.{table} ADD COLUMN IF NOT EXISTS {column} {definition}",
            )
            for table, column, definition in migrations
        ]
        statements += [Statement(f"create view {v}", view_ddl(v, database)) for v in VIEWS]
        return statements
    from sinks import cluster as on_cluster  # only a cluster deployment needs it

    name = identifier(cluster, "cluster")
    statements = [
        Statement("create database", on_cluster.cluster_database_statement(database, name))
    ]
    for table in TABLES:
        for sql in on_cluster.cluster_table_statements(table_ddl(table, database), name):
            statements.append(Statement(f"create table {table} on cluster {name}", sql))
    for table, column, definition in migrations:
        alter = f"ALTER TABLE {database}.{table} ADD COLUMN IF NOT EXISTS {column} {definition}"
        for sql in on_cluster.cluster_alter_statements(alter, name):
            statements.append(Statement(f"add {table}.{column} on cluster {name}", sql))
    for view in VIEWS:
        sql = on_cluster.cluster_view_statement(view_ddl(view, database), name)
        statements.append(Statement(f"create view {view} on cluster {name}", sql))
    return statements


def retention_statement(
    database: str,
    table: str,
    days: int | None,
    create_query: str,
    *,
    cluster: str | None = None,
) -> list[Statement]:
    """What brings ``table``'s TTL to ``days`` (None: no TTL), given its current
    ``create_table_query``: nothing when it is already so — a TTL change rewrites the
    table's parts, so it is not done at every start — else one ``MODIFY TTL`` or
    ``REMOVE TTL``. On a cluster the TTL belongs to the replicated ``_local`` table."""
    column = RETAINED_TABLES.get(table)
    if column is None:
        raise ConfigError(
            f"{table!r} has no retention; retained tables: {', '.join(RETAINED_TABLES)}"
        )
    database = identifier(database, "database")
    wanted = None if days is None else f"toDateTime({column}) + toIntervalDay({int(days)})"
    match = _TTL_CLAUSE.search(create_query)
    current = match.group(1).strip() if match else None
    if _same_ttl(current, wanted):
        return []
    if wanted is None:
        sql = f"ALTER TABLE {database}.{table} REMOVE TTL"
        label = f"remove the retention of {table}"
    else:
        sql = f"ALTER TABLE {database}.{table} MODIFY TTL {wanted}"
        label = f"keep {table} {days} days"
    if cluster is None:
        return [Statement(label, sql)]
    from sinks import cluster as on_cluster

    name = identifier(cluster, "cluster")
    return [Statement(label, s) for s in on_cluster.cluster_alter_statements(sql, name)]


def _same_ttl(current: str | None, wanted: str | None) -> bool:
    """Compare a stored TTL with the one wanted, ignoring spacing (the server prints its own
    canonical form: ``toDateTime(occurred_at) + toIntervalDay(30)``)."""
    if current is None or wanted is None:
        return current is None and wanted is None
    return re.sub(r"\s+", "", current) == re.sub(r"\s+", "", wanted)
