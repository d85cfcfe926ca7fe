"""Cluster DDL (sinks.cluster): every Miroir table becomes a replicated <table>_local plus a
Distributed table of its own name, sharded so that replacing rows meet; views and ALTERs follow.

Pure: renders SQL and reads it back; tests/integration/test_cluster_ddl_syntax.py has the real
engine parse every statement and compare the columns.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from sinks.clickhouse import MIGRATIONS, TABLES, table_ddl
from sinks.cluster import (
    DEDUPLICATION_WINDOW_SECONDS,
    LOCAL_SUFFIX,
    SHARD_PREFIX_COLUMNS,
    cluster_alter_statements,
    cluster_database_statement,
    cluster_table_problems,
    cluster_table_statements,
    cluster_view_statement,
    main,
    sharding_key,
)
from streams.errors import ConfigError

DATABASE = "miroir"
CLUSTER = "miroir_cluster"

# The sharding key each table gets: its team or unit when its sorting key starts with one,
# else its whole sorting key. Tables added later are covered by the general rule below.
EXPECTED_KEYS = {
    "mirror_alerts": "cityHash64(team_id)",
    "team_window_metrics": "cityHash64(team_id)",
    "customer_feedback": "cityHash64(team_id)",
    "dead_letters": "cityHash64(topic, `partition`, `offset`)",
    "late_events": "cityHash64(team_id)",
    "duplicate_events": "cityHash64(team_id)",
    "employee_comments": "cityHash64(team_id)",
    "episodes": "cityHash64(team_id)",
    "unit_window_metrics": "cityHash64(unit_id)",
    "incidents": "cityHash64(unit_id)",
    "backfill_runs": "cityHash64(run_id)",
    "customer_tag_metrics": "cityHash64(team_id)",
    "teams": "cityHash64(team_id)",
}

# Comments that would fool a regex: parentheses, doubled and backslashed quotes, ENGINE,
# ORDER BY and SETTINGS inside literals, SQL comments in odd places.
TRICKY_DDL = r"""-- ENGINE = Memory ORDER BY nothing ( an opening parenthesis in a comment
CREATE TABLE IF NOT EXISTS {database}.tricky
(
    team_id   String COMMENT 'it''s the team (ENGINE = Log) -- not a comment',
    `order`   String COMMENT 'ORDER BY x, SETTINGS y = 1 /* not a comment */ \' still text)',
    tags      Array(String) DEFAULT ['a,b', 'c)'] COMMENT 'COMMENT ''nested'' (',
    version   UInt64 /* ENGINE = Memory ) */ COMMENT 'v'
)
ENGINE = ReplacingMergeTree(version) -- ENGINE = Log
# PARTITION BY nothing: a MySQL-style comment
PARTITION BY tuple()
ORDER BY (team_id, `order`)
SETTINGS non_replicated_deduplication_window = 100, index_granularity = 8192
COMMENT 'Table comment with ''quotes'', (parens and ENGINE = Memory';
"""


def statements(table: str) -> list[str]:
    return cluster_table_statements(table_ddl(table, DATABASE), CLUSTER)


def version_column(ddl: str) -> str:
    match = re.search(r"ENGINE = ReplacingMergeTree\((\w+)\)", ddl)
    assert match, ddl
    return match.group(1)


def order_by_columns(ddl: str) -> list[str]:
    match = re.search(r"^ORDER BY \(?(.*?)\)?$", ddl, re.MULTILINE)
    assert match, ddl
    return [column.strip() for column in match.group(1).split(",")]


def columns_block(ddl: str) -> str:
    """The column list as written in the file (from the line after "(" to the closing ")")."""
    return ddl[ddl.index("\n(\n") : ddl.index("\n)\n") + 3]


# -- tables -----------------------------------------------------------------------------------
@pytest.mark.parametrize("table", TABLES)
def test_each_table_becomes_a_replicated_local_table_and_a_distributed_table(table: str) -> None:
    ddl = table_ddl(table, DATABASE)
    local, distributed = statements(table)

    assert local.startswith(
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.{table}{LOCAL_SUFFIX} ON CLUSTER {CLUSTER}\n("
    )
    engine = (
        f"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/{DATABASE}/"
        f"{table}_local', '{{replica}}', {version_column(ddl)})"
    )
    assert engine in local
    assert local.count("ENGINE") == ddl.count("ENGINE")  # no second engine clause
    # Same columns, comments, keys and table comment, byte for byte.
    assert columns_block(ddl) in local
    for clause in ("PARTITION BY ", "ORDER BY ", "COMMENT '"):
        lines = [line for line in ddl.splitlines() if line.startswith(clause)]
        assert all(line in local.splitlines() for line in lines), (clause, lines)
    # Replicated tables deduplicate through Keeper: the non-replicated window would be ignored.
    assert "non_replicated_deduplication_window" not in local
    assert (
        "SETTINGS replicated_deduplication_window = 10000, "
        f"replicated_deduplication_window_seconds = {DEDUPLICATION_WINDOW_SECONDS}"
    ) in local

    assert distributed.startswith(
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.{table} ON CLUSTER {CLUSTER}\n"
        f"AS {DATABASE}.{table}_local\n"
        f"ENGINE = Distributed('{CLUSTER}', '{DATABASE}', '{table}_local', "
    )
    table_comment = next(line for line in ddl.splitlines() if line.startswith("COMMENT '"))
    assert distributed.endswith("\n" + table_comment)


@pytest.mark.parametrize("table", TABLES)
def test_rows_that_replace_each_other_land_on_one_shard(table: str) -> None:
    """The sharding key hashes a prefix of the sorting key (the ReplacingMergeTree identity),
    so two rows with one key always go to the same shard."""
    ddl = table_ddl(table, DATABASE)
    key = sharding_key(ddl)
    assert statements(table)[1].splitlines()[2].endswith(f", {key})")
    if table in EXPECTED_KEYS:
        assert key == EXPECTED_KEYS[table]
    match = re.fullmatch(r"cityHash64\((.+)\)", key)
    assert match, key
    hashed = [column.strip() for column in match.group(1).split(",")]
    columns = order_by_columns(ddl)
    assert hashed == columns[: len(hashed)]
    assert hashed[0] in SHARD_PREFIX_COLUMNS or hashed == columns


def test_a_sharding_key_can_be_given_per_table() -> None:
    ddl = table_ddl("dead_letters", DATABASE)
    overrides = {"dead_letters": "cityHash64(topic)"}
    assert sharding_key(ddl, sharding_keys=overrides) == "cityHash64(topic)"
    _, distributed = cluster_table_statements(ddl, CLUSTER, sharding_keys=overrides)
    assert "'dead_letters_local', cityHash64(topic))" in distributed
    # Other tables keep theirs.
    assert sharding_key(table_ddl("teams", DATABASE), sharding_keys=overrides) == (
        "cityHash64(team_id)"
    )
    with pytest.raises(ConfigError, match="sharding key"):
        sharding_key(ddl, sharding_keys={"dead_letters": "rand(); DROP TABLE x"})


def test_the_replica_path_is_configurable_or_left_to_the_servers() -> None:
    ddl = table_ddl("teams", DATABASE)
    local, _ = cluster_table_statements(
        ddl, CLUSTER, replica_path="/miroir/{cluster}/{shard}/{database}.{table}"
    )
    assert (
        "ReplicatedReplacingMergeTree('/miroir/{cluster}/{shard}/miroir.teams_local', "
        "'{replica}', version)"
    ) in local
    local, _ = cluster_table_statements(ddl, CLUSTER, replica_path="/t/{uuid}/{shard}")
    assert "ReplicatedReplacingMergeTree('/t/{uuid}/{shard}', '{replica}', version)" in local
    local, _ = cluster_table_statements(ddl, CLUSTER, replica_path=None)
    assert "ENGINE = ReplicatedReplacingMergeTree(version)\n" in local

    for path in ("/clickhouse/tables/{database}/{table}", "/clickhouse/{shard}/teams"):
        with pytest.raises(ConfigError, match="replica_path"):
            cluster_table_statements(ddl, CLUSTER, replica_path=path)
    with pytest.raises(ConfigError, match="replica_name"):
        cluster_table_statements(ddl, CLUSTER, replica_name="replica-1")
    # Quotes in a path stay inside the literal.
    local, _ = cluster_table_statements(ddl, CLUSTER, replica_path="/x'y/{shard}/{table}")
    assert "('/x\\'y/{shard}/teams_local', '{replica}', version)" in local


def test_tricky_comments_and_literals_do_not_move_any_boundary() -> None:
    ddl = TRICKY_DDL.replace("{database}", "db")
    local, distributed = cluster_table_statements(ddl, "c1")

    assert local.startswith("CREATE TABLE IF NOT EXISTS db.tricky_local ON CLUSTER c1\n(")
    assert columns_block(ddl) in local  # every column, comment and default untouched
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/tricky_local', "
        "'{replica}', version) -- ENGINE = Log\n"
    ) in local
    assert "\nPARTITION BY tuple()\nORDER BY (team_id, `order`)\n" in local
    assert (
        "SETTINGS replicated_deduplication_window = 100, "
        f"replicated_deduplication_window_seconds = {DEDUPLICATION_WINDOW_SECONDS}, "
        "index_granularity = 8192\n"
    ) in local
    comment = "COMMENT 'Table comment with ''quotes'', (parens and ENGINE = Memory'"
    assert local.endswith("\n" + comment)  # the trailing ";" is not part of the statement
    assert distributed == (
        "CREATE TABLE IF NOT EXISTS db.tricky ON CLUSTER c1\n"
        "AS db.tricky_local\n"
        "ENGINE = Distributed('c1', 'db', 'tricky_local', cityHash64(team_id))\n" + comment
    )
    assert sharding_key(ddl) == "cityHash64(team_id)"


def test_a_column_named_like_a_clause_is_still_a_column() -> None:
    ddl = (
        "CREATE TABLE db.t (comment String, ttl UInt64, version UInt64) "
        "ENGINE = ReplacingMergeTree(version) ORDER BY comment"
    )
    local, distributed = cluster_table_statements(ddl, "c")
    assert local.endswith("'{replica}', version) ORDER BY comment")
    assert distributed.endswith("cityHash64(comment))")
    ddl = ddl.replace("ORDER BY comment", "ORDER BY ttl TTL toDateTime(ttl) + 1")
    assert sharding_key(ddl) == "cityHash64(ttl)"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE TABLE db.t ON CLUSTER c (a String) ENGINE = MergeTree ORDER BY a", "ON CLUSTER"),
        ("CREATE TABLE db.t (a String) ENGINE = Memory", "MergeTree"),
        (
            "CREATE TABLE db.t (a String) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY a",
            "non-replicated",
        ),
        ("CREATE TABLE db.t AS db.u ENGINE = MergeTree ORDER BY a", "column list"),
        ("CREATE TABLE t (a String) ENGINE = MergeTree ORDER BY a", "database"),
        ("CREATE TABLE db.t (a String) ORDER BY a", "ENGINE"),
        ("CREATE TABLE db.t (a String) ENGINE = MergeTree ORDER BY tuple()", "sorting key"),
        ("CREATE TABLE db.t (a String) ENGINE = MergeTree", "ORDER BY"),
        ("CREATE TABLE db.t (a String COMMENT 'open) ENGINE = MergeTree", "Unterminated"),
        ("CREATE TABLE db.t (a String ENGINE = MergeTree ORDER BY a", "Unbalanced"),
        ("CREATE TABLE db.t (a String) ENGINE = MergeTree ORDER BY a; SELECT 1", "one SQL"),
        ("CREATE TEMPORARY TABLE t (a String) ENGINE = Memory", "TEMPORARY"),
        ("CREATE TABLE db.t_local (a String) ENGINE = MergeTree ORDER BY a", "derived"),
        ("CREATE VIEW db.v AS SELECT 1", "Expected TABLE"),
        ("CREATE TABLE db.t (a String) garbage ENGINE = MergeTree ORDER BY a", "garbage"),
        ("CREATE TABLE db.t (a String) ENGINE = MergeTree ORDER BY a ORDER BY a", "twice"),
        ("   -- nothing but a comment\n", "Empty"),
    ],
)
def test_statements_it_cannot_transform_are_refused_with_the_reason(sql: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cluster_table_statements(sql, "c")


def test_an_empty_sorting_key_needs_an_explicit_sharding_key() -> None:
    sql = "CREATE TABLE db.t (a String) ENGINE = MergeTree ORDER BY tuple()"
    _, distributed = cluster_table_statements(sql, "c", sharding_keys={"t": "rand()"})
    assert distributed.endswith("'t_local', rand())")


@pytest.mark.parametrize(
    "cluster",
    ["", "1cluster", "my-cluster", "a b", "c;DROP DATABASE x", "c' OR '1", "x" * 65, "{c}"],
)
def test_invalid_cluster_names_are_refused(cluster: str) -> None:
    ddl = table_ddl("teams", DATABASE)
    with pytest.raises(ConfigError, match="cluster name"):
        cluster_table_statements(ddl, cluster)
    with pytest.raises(ConfigError, match="cluster name"):
        cluster_view_statement(f"CREATE VIEW {DATABASE}.v AS SELECT 1", cluster)
    with pytest.raises(ConfigError, match="cluster name"):
        cluster_alter_statements(f"ALTER TABLE {DATABASE}.teams MODIFY TTL now()", cluster)
    with pytest.raises(ConfigError, match="cluster name"):
        cluster_database_statement(DATABASE, cluster)


def test_the_database_is_created_on_the_cluster() -> None:
    assert cluster_database_statement("miroir", "c_1") == (
        "CREATE DATABASE IF NOT EXISTS miroir ON CLUSTER c_1"
    )
    with pytest.raises(ConfigError, match="database"):
        cluster_database_statement("mi-roir", "c_1")


def test_a_single_node_table_in_the_way_is_reported() -> None:
    healthy = {"teams": "Distributed", "teams_local": "ReplicatedReplacingMergeTree"}
    assert cluster_table_problems("miroir", healthy, ["teams"]) == []
    problems = cluster_table_problems(
        "miroir",
        {"teams": "ReplacingMergeTree", "episodes": "Distributed", "episodes_local": "Memory"},
        ["teams", "episodes"],
    )
    assert problems == [
        "miroir.teams is a ReplacingMergeTree table, not Distributed: move a single-node table "
        "of that name out of the way (docs/clickhouse-cluster.md, Migrating)",
        "miroir.teams_local is missing, not Replicated*MergeTree",
        "miroir.episodes_local is a Memory table, not Replicated*MergeTree",
    ]


# -- views ------------------------------------------------------------------------------------
def test_a_view_gets_on_cluster_after_its_name() -> None:
    sql = (
        "CREATE VIEW IF NOT EXISTS {database}.v_x "
        "AS SELECT team_id FROM {database}.mirror_alerts FINAL"
    )
    assert cluster_view_statement(sql.replace("{database}", DATABASE), CLUSTER) == (
        f"CREATE VIEW IF NOT EXISTS {DATABASE}.v_x ON CLUSTER {CLUSTER} "
        f"AS SELECT team_id FROM {DATABASE}.mirror_alerts FINAL"
    )
    # Before the column list, where ClickHouse wants it, whatever the comments say.
    sql = (
        "-- a view\nCREATE OR REPLACE VIEW db.v (a String COMMENT 'ON CLUSTER (x)')\n"
        "COMMENT 'v' AS SELECT 'a' AS a;"
    )
    assert cluster_view_statement(sql, "c") == (
        "CREATE OR REPLACE VIEW db.v ON CLUSTER c (a String COMMENT 'ON CLUSTER (x)')\n"
        "COMMENT 'v' AS SELECT 'a' AS a"
    )


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE MATERIALIZED VIEW db.m TO db.t AS SELECT 1", "MATERIALIZED"),
        ("CREATE VIEW db.v ON CLUSTER c AS SELECT 1", "already"),
        ("CREATE TABLE db.t (a String) ENGINE = Memory", "Expected VIEW"),
    ],
)
def test_views_it_cannot_transform_are_refused(sql: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cluster_view_statement(sql, "c")


def test_every_analyst_view_gets_on_cluster() -> None:
    schema = pytest.importorskip("sinks.schema")
    views = getattr(schema, "VIEWS", ())
    if not views:
        pytest.skip("sinks.schema has no VIEWS yet")
    for view in views:
        sql = schema.view_ddl(view, DATABASE)
        clustered = cluster_view_statement(sql, CLUSTER)
        assert re.search(
            rf"^CREATE (OR REPLACE )?VIEW (IF NOT EXISTS )?{DATABASE}\.{view} "
            rf"ON CLUSTER {CLUSTER}[\s(]",
            clustered,
        ), clustered[:200]
        assert clustered.count("ON CLUSTER") == sql.count("ON CLUSTER") + 1


# -- ALTER ------------------------------------------------------------------------------------
def test_a_ttl_goes_to_the_local_table_only() -> None:
    sql = (
        "ALTER TABLE {database}.customer_feedback "
        "MODIFY TTL toDateTime(occurred_at) + INTERVAL 30 DAY"
    )
    assert cluster_alter_statements(sql.replace("{database}", DATABASE), CLUSTER) == [
        f"ALTER TABLE {DATABASE}.customer_feedback_local ON CLUSTER {CLUSTER} "
        "MODIFY TTL toDateTime(occurred_at) + INTERVAL 30 DAY"
    ]
    assert cluster_alter_statements("ALTER TABLE db.t REMOVE TTL", "c") == [
        "ALTER TABLE db.t_local ON CLUSTER c REMOVE TTL"
    ]


@pytest.mark.parametrize(("table", "column", "definition"), MIGRATIONS)
def test_a_new_column_goes_to_the_local_then_the_distributed_table(
    table: str, column: str, definition: str
) -> None:
    sql = f"ALTER TABLE {DATABASE}.{table} ADD COLUMN IF NOT EXISTS {column} {definition}"
    command = f"ADD COLUMN IF NOT EXISTS {column} {definition}"
    assert cluster_alter_statements(sql, CLUSTER) == [
        f"ALTER TABLE {DATABASE}.{table}_local ON CLUSTER {CLUSTER} {command}",
        f"ALTER TABLE {DATABASE}.{table} ON CLUSTER {CLUSTER} {command}",
    ]


def test_a_dropped_column_leaves_the_distributed_table_first() -> None:
    assert cluster_alter_statements("ALTER TABLE db.t DROP COLUMN IF EXISTS x", "c") == [
        "ALTER TABLE db.t ON CLUSTER c DROP COLUMN IF EXISTS x",
        "ALTER TABLE db.t_local ON CLUSTER c DROP COLUMN IF EXISTS x",
    ]


def test_mixed_commands_split_between_the_tables() -> None:
    sql = (
        "ALTER TABLE db.t ADD COLUMN y Array(String) DEFAULT ['a,b'] COMMENT 'x, MODIFY TTL', "
        "MODIFY TTL toDateTime(ts) + toIntervalDay(7), COMMENT COLUMN z 'a (b)'"
    )
    local, distributed = cluster_alter_statements(sql, "c")
    assert local == "ALTER TABLE db.t_local ON CLUSTER c " + sql.removeprefix("ALTER TABLE db.t ")
    assert distributed == (
        "ALTER TABLE db.t ON CLUSTER c ADD COLUMN y Array(String) DEFAULT ['a,b'] "
        "COMMENT 'x, MODIFY TTL', COMMENT COLUMN z 'a (b)'"
    )


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("ALTER TABLE db.t ON CLUSTER c MODIFY TTL now()", "already"),
        ("ALTER TABLE db.t_local MODIFY TTL now()", "derived"),
        ("ALTER TABLE db.t", "no command"),
        ("ALTER VIEW db.t MODIFY QUERY SELECT 1", "Expected TABLE"),
        ("DROP TABLE db.t", "Expected ALTER"),
    ],
)
def test_alters_it_cannot_transform_are_refused(sql: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cluster_alter_statements(sql, "c")


# -- the whole schema -------------------------------------------------------------------------
def _schema_statements_for_a_cluster() -> list[str]:
    schema = pytest.importorskip("sinks.schema")
    render = getattr(schema, "schema_statements", None)
    if render is None or "cluster" not in inspect.signature(render).parameters:
        pytest.skip("sinks.schema.schema_statements(..., cluster=) does not exist yet")
    return [statement.sql for statement in render(DATABASE, MIGRATIONS, cluster=CLUSTER)]


def test_the_sink_schema_for_a_cluster_uses_these_statements() -> None:
    sqls = _schema_statements_for_a_cluster()
    assert all(f" ON CLUSTER {CLUSTER}" in sql for sql in sqls)
    assert not any("non_replicated_deduplication_window" in sql for sql in sqls)
    assert sqls[0] == cluster_database_statement(DATABASE, CLUSTER)
    for table in TABLES:
        for sql in statements(table):
            assert sql in sqls
        # Both tables exist before any view reads them.
        created = sqls.index(statements(table)[1])
        views = [i for i, sql in enumerate(sqls) if " VIEW " in sql.split("\n")[0]]
        assert all(created < i for i in views)


def test_the_retention_ttl_of_a_cluster_is_set_on_the_local_tables() -> None:
    schema = pytest.importorskip("sinks.schema")
    render = getattr(schema, "retention_statement", None)
    if render is None or "cluster" not in inspect.signature(render).parameters:
        pytest.skip("sinks.schema.retention_statement(..., cluster=) does not exist yet")
    for table in schema.RETAINED_TABLES:
        rendered = render(DATABASE, table, 30, "", cluster=CLUSTER)
        assert [s.sql.split(" MODIFY TTL ")[0] for s in rendered] == [
            f"ALTER TABLE {DATABASE}.{table}_local ON CLUSTER {CLUSTER}"
        ]


# -- python -m sinks.cluster ------------------------------------------------------------------
def test_the_command_prints_one_tables_statements(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cluster", CLUSTER, "--table", "mirror_alerts"]) == 0
    out = capsys.readouterr().out
    assert out == "".join(f"{sql};\n\n" for sql in statements("mirror_alerts"))


def test_the_command_prints_the_whole_schema(capsys: pytest.CaptureFixture[str]) -> None:
    sqls = _schema_statements_for_a_cluster()
    assert main(["--cluster", CLUSTER]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"-- create database\nCREATE DATABASE IF NOT EXISTS {DATABASE} ")
    assert all(f"{sql};\n" in out for sql in sqls)


def test_the_command_refuses_a_bad_cluster_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cluster", "not-a-name", "--table", "teams"]) == 2
    assert "cluster name" in capsys.readouterr().err


# -- docs/clickhouse-cluster.md ---------------------------------------------------------------
CLUSTER_DOC = Path(__file__).resolve().parents[2] / "docs" / "clickhouse-cluster.md"


def test_the_docs_show_the_ddl_the_command_prints(capsys: pytest.CaptureFixture[str]) -> None:
    shown = re.search(
        r"```sql\n(CREATE TABLE IF NOT EXISTS miroir\.employee_comments_local .*?)\n```",
        CLUSTER_DOC.read_text(encoding="utf-8"),
        re.DOTALL,
    )
    assert shown, "docs/clickhouse-cluster.md no longer shows employee_comments' DDL"
    assert main(["--cluster", "miroir_cluster", "--table", "employee_comments"]) == 0
    assert shown.group(1) == capsys.readouterr().out.strip()


def test_the_docs_state_each_tables_sharding_key() -> None:
    rows = re.findall(
        r"^\| (`\w+`(?:, `\w+`)*) \| `[^|]+` \| `(cityHash64\([^|]+\))` \|$",
        CLUSTER_DOC.read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    documented = {table.strip("`"): key for tables, key in rows for table in tables.split(", ")}
    # A table added later follows the rule without a row here; a documented one must exist.
    assert documented and set(documented) <= set(TABLES), sorted(set(documented) - set(TABLES))
    for table, key in documented.items():
        assert key == sharding_key(table_ddl(table, DATABASE)).replace("`", ""), table
