"""Cluster DDL against the real engine (chDB): every statement sinks.cluster renders parses,
and the replicated local tables declare exactly the columns of the single-node tables.

No cluster, Keeper or macros are needed: statements are parsed (``EXPLAIN AST``, plus
``EXPLAIN SYNTAX``, which chDB accepts for CREATE TABLE only), never run as they are. For the
columns, each single-node table is created for real, and so is its cluster local table once
the test has turned it back into a single-node statement (ON CLUSTER and the Replicated
engine arguments removed, by the test's own edits); the engine's ``system.columns`` and
``system.tables`` of both must then agree. Its column AST must also equal the single-node
statement's, on the cluster statement exactly as rendered.

chDB hosts one store per process: the module's tests share the module's store path, each uses
databases of its own, and the client is closed at the end.
"""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from sinks.clickhouse import MIGRATIONS, TABLES, table_ddl
from sinks.cluster import (
    cluster_alter_statements,
    cluster_database_statement,
    cluster_table_statements,
    cluster_view_statement,
)
from tests.unit.test_cluster_ddl import TRICKY_DDL

pytestmark = pytest.mark.integration

DATABASE = "miroir"
CLUSTER = "miroir_cluster"

SAMPLE_VIEW = (
    "CREATE VIEW IF NOT EXISTS {database}.v_x AS SELECT team_id FROM {database}.mirror_alerts FINAL"
)
SAMPLE_TTL = (
    "ALTER TABLE {database}.customer_feedback MODIFY TTL toDateTime(occurred_at) + INTERVAL 30 DAY"
)

# What the engine says about a column and a table: the comparison keys.
COLUMN_FACTS = (
    "name, position, type, default_kind, default_expression, comment, compression_codec, "
    "is_in_partition_key, is_in_sorting_key, is_in_primary_key"
)
TABLE_FACTS = "partition_key, sorting_key, primary_key, comment"


@pytest.fixture(scope="module")
def engine(store_path: Path) -> Iterator[Client]:
    client = clickhouse_connect.get_client(dsn=f"chdb://{store_path}")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def scratch(engine: Client) -> Iterator[str]:
    """A database unique to the test, dropped afterwards."""
    name = f"cluster_ddl_{uuid.uuid4().hex[:12]}"
    engine.command(f"CREATE DATABASE {name}")
    yield name
    engine.command(f"DROP DATABASE IF EXISTS {name}")


def explain_ast(engine: Client, sql: str) -> str:
    """The engine's parse tree of ``sql`` (raises on a syntax error)."""
    result = engine.command(f"EXPLAIN AST {sql}")
    return "\n".join(result) if isinstance(result, list) else str(result)


def assert_parses(engine: Client, sql: str) -> None:
    tree = explain_ast(engine, sql)
    root = {"CREATE": "CreateQuery", "ALTER": "AlterQuery"}[sql.split(None, 1)[0].upper()]
    assert tree.startswith(root), tree[:300]
    if re.match(r"CREATE (OR REPLACE )?TABLE ", sql):
        # EXPLAIN SYNTAX prints the statement back from its AST: ON CLUSTER must survive.
        echoed = str(engine.command(f"EXPLAIN SYNTAX {sql}"))
        assert f"ON CLUSTER {CLUSTER}" in echoed or "ON CLUSTER c1" in echoed, echoed[:300]


def column_tree(tree: str) -> str:
    """The ``Columns definition`` subtree of an EXPLAIN AST of a CREATE TABLE."""
    match = re.search(r"^ Columns definition.*?(?=^ \S)", tree, re.MULTILINE | re.DOTALL)
    assert match, tree[:300]
    return match.group(0)


def cluster_sample_statements() -> list[str]:
    """Every statement to parse: each table's, the migrations', sample and real views, a
    TTL, a tricky table; the full schema when sinks.schema renders one for a cluster."""
    sqls = [cluster_database_statement(DATABASE, CLUSTER)]
    for table in TABLES:
        sqls += cluster_table_statements(table_ddl(table, DATABASE), CLUSTER)
        sqls += cluster_table_statements(table_ddl(table, DATABASE), CLUSTER, replica_path=None)
    for table, column, definition in MIGRATIONS:
        alter = f"ALTER TABLE {DATABASE}.{table} ADD COLUMN IF NOT EXISTS {column} {definition}"
        sqls += cluster_alter_statements(alter, CLUSTER)
    sqls.append(cluster_view_statement(SAMPLE_VIEW.replace("{database}", DATABASE), CLUSTER))
    sqls += cluster_alter_statements(SAMPLE_TTL.replace("{database}", DATABASE), CLUSTER)
    sqls += cluster_table_statements(TRICKY_DDL.replace("{database}", DATABASE), "c1")
    return sqls


def schema_statements_for_a_cluster() -> list[str]:
    try:
        from sinks import schema
    except ImportError:
        return []
    render = getattr(schema, "schema_statements", None)
    if render is None or "cluster" not in inspect.signature(render).parameters:
        return []
    sqls = [s.sql for s in render(DATABASE, MIGRATIONS, cluster=CLUSTER)]
    for table in getattr(schema, "RETAINED_TABLES", {}):
        for days in (30, None):
            rendered = schema.retention_statement(DATABASE, table, days, "", cluster=CLUSTER)
            sqls += [s.sql for s in rendered]
    return sqls


@pytest.mark.parametrize(
    "sql", cluster_sample_statements(), ids=lambda sql: sql.split("\n")[0][:90]
)
def test_every_cluster_statement_parses(engine: Client, sql: str) -> None:
    assert_parses(engine, sql)


def test_the_whole_cluster_schema_parses(engine: Client) -> None:
    """What ClickHouseSink.open() runs with MIROIR_CLICKHOUSE_CLUSTER set (sinks.schema)."""
    sqls = schema_statements_for_a_cluster()
    if not sqls:
        pytest.skip("sinks.schema renders no cluster schema yet")
    for sql in sqls:
        assert_parses(engine, sql)


def test_a_syntax_error_is_caught(engine: Client) -> None:
    """The check has teeth: a statement the engine cannot parse fails it."""
    sql = cluster_table_statements(table_ddl("teams", DATABASE), CLUSTER)[0]
    with pytest.raises(DatabaseError, match="Syntax error"):
        assert_parses(engine, sql.replace("ON CLUSTER", "ON CLUSTERS"))


def as_single_node(local_sql: str) -> str:
    """The test's own way back from a cluster local table to a plain one: drop ON CLUSTER, the
    Replicated prefix and its two path arguments, and the replicated-only settings."""
    sql, clusters = re.subn(r" ON CLUSTER \w+", "", local_sql, count=1)
    sql, engines = re.subn(
        r"ENGINE = Replicated(\w+MergeTree)\('[^']*', '[^']*', ", r"ENGINE = \1(", sql, count=1
    )
    sql, settings = re.subn(r"\nSETTINGS replicated_deduplication_window[^\n]*", "", sql, count=1)
    assert (clusters, engines, settings) == (1, 1, 1), local_sql[:300]
    return sql


def facts(engine: Client, database: str, table: str) -> tuple[list[tuple], list[tuple]]:
    parameters = {"db": database, "table": table}
    columns = engine.query(
        f"SELECT {COLUMN_FACTS} FROM system.columns "
        "WHERE database = {db:String} AND table = {table:String} ORDER BY position",
        parameters=parameters,
    ).result_rows
    tables = engine.query(
        f"SELECT {TABLE_FACTS} FROM system.tables "
        "WHERE database = {db:String} AND name = {table:String}",
        parameters=parameters,
    ).result_rows
    return [tuple(row) for row in columns], [tuple(row) for row in tables]


@pytest.mark.parametrize("table", TABLES)
def test_single_node_and_cluster_tables_declare_the_same_columns(
    engine: Client, scratch: str, table: str
) -> None:
    single_sql = table_ddl(table, scratch)
    local_sql = cluster_table_statements(single_sql, CLUSTER)[0]

    # 1. The engine parses the same column list from both statements as written.
    assert column_tree(explain_ast(engine, local_sql)) == column_tree(
        explain_ast(engine, single_sql)
    )

    # 2. Created for real, the two tables have the same columns and keys.
    engine.command(single_sql)
    engine.command(as_single_node(local_sql))
    single_columns, single_table = facts(engine, scratch, table)
    local_columns, local_table = facts(engine, scratch, f"{table}_local")
    assert single_columns, f"{scratch}.{table} was not created"
    assert local_columns == single_columns
    assert local_table == single_table


def test_the_tricky_table_keeps_its_columns(engine: Client, scratch: str) -> None:
    single_sql = TRICKY_DDL.replace("{database}", scratch)
    local_sql = cluster_table_statements(single_sql, "c1")[0]
    engine.command(single_sql.strip().removesuffix(";"))
    engine.command(as_single_node(local_sql))
    single_columns, single_table = facts(engine, scratch, "tricky")
    local_columns, local_table = facts(engine, scratch, "tricky_local")
    assert len(single_columns) == 4
    assert local_columns == single_columns
    assert local_table == single_table
