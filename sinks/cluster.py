"""Cluster DDL: Miroir's single-node statements rewritten for a ClickHouse cluster (pure: renders
SQL, runs nothing).

For a cluster ``C`` (a name in the servers' ``remote_servers``) every table ``T`` of
``sinks/ddl`` becomes two tables, created ``ON CLUSTER C``:

- ``T_local``: the same columns, comments, ``PARTITION BY``, ``ORDER BY`` and table comment,
  with the ``Replicated`` twin of its engine (``ReplicatedReplacingMergeTree`` with the same
  version column). It holds the rows: one copy per shard, replicated through Keeper.
- ``T``: a ``Distributed`` table over ``T_local`` with the name views, inserts and readers
  already use, sharded by a hash of the sorting key (see ``sharding_key``) so that rows which
  replace each other always meet on one shard, where ``FINAL`` and merges can collapse them.

Views get ``ON CLUSTER`` after their name; ``ALTER TABLE`` statements go to ``T_local``, and
column changes (``ADD COLUMN`` ...) to ``T`` as well, since a Distributed table's columns must
match its shards'. docs/clickhouse-cluster.md tells the whole story;
``python -m sinks.cluster --cluster NAME [--table T]`` prints the statements.

Statements are read with a small tokenizer that knows ClickHouse's string literals (``''`` and
backslash escapes), quoted identifiers and comments, so text such as ``COMMENT 'the key (ENGINE
= x)'`` never moves a boundary. Anything it cannot transform safely (no column list, a non
MergeTree engine, ``ON CLUSTER`` already there, two statements) raises ``ConfigError``, as does
an invalid cluster name: the message says what to change.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from sinks.sql_tokens import Token as _Token
from sinks.sql_tokens import tokenize as _tokenize
from streams.errors import ConfigError

__all__ = [
    "DEDUPLICATION_WINDOW_SECONDS",
    "DEFAULT_REPLICA_NAME",
    "DEFAULT_REPLICA_PATH",
    "LOCAL_SUFFIX",
    "SHARD_PREFIX_COLUMNS",
    "cluster_alter_statements",
    "cluster_database_statement",
    "cluster_table_problems",
    "cluster_table_statements",
    "cluster_view_statement",
    "main",
    "sharding_key",
]

# The replicated table behind each Distributed table is named <table><LOCAL_SUFFIX>.
LOCAL_SUFFIX: Final = "_local"

# Where a local table's replicas meet in Keeper. Explicit rather than the parameterless form
# (which takes the server's default_replica_path, "/clickhouse/tables/{uuid}/{shard}"): the
# statement then means the same on every server whatever its config, the Keeper tree names
# the table it belongs to, and a replica lost and re-created by hand with this statement
# (without ON CLUSTER, so with a fresh UUID) finds its peers instead of starting a new, empty
# replica set. {database} and {table} are filled in here; {shard} and {replica} are the
# servers' macros. Pass replica_path=None for the parameterless form.
DEFAULT_REPLICA_PATH: Final = "/clickhouse/tables/{shard}/{database}/{table}"
DEFAULT_REPLICA_NAME: Final = "{replica}"

# Leading sorting-key columns that name the entity a table's rows belong to: a table whose
# ORDER BY starts with one is sharded by it alone (all of a team's rows on one shard), any
# other by its whole sorting key. Both keep rows with equal keys together.
SHARD_PREFIX_COLUMNS: Final = ("team_id", "unit_id")

# Replicated tables keep insert deduplication hashes for replicated_deduplication_window
# blocks *and* at most this long (ClickHouse 26 defaults to one hour). Single-node tables
# keep theirs for non_replicated_deduplication_window blocks with no time limit, so a batch
# retried after a long outage, or replayed after a crash, was dropped there; a week keeps
# that true on a cluster at the cost of at most window-many small entries in Keeper.
DEDUPLICATION_WINDOW_SECONDS: Final = 7 * 24 * 3600

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MACRO: Final = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")

# Column commands apply to the Distributed table too (its columns must match the shards');
# every other ALTER command (TTL, settings, indexes, mutations ...) is about stored data and
# goes to the local table only.
_COLUMN_COMMANDS: Final = frozenset(
    {
        ("ADD", "COLUMN"),
        ("DROP", "COLUMN"),
        ("MODIFY", "COLUMN"),
        ("RENAME", "COLUMN"),
        ("COMMENT", "COLUMN"),
        ("MODIFY", "COMMENT"),
    }
)
# Clauses after a CREATE TABLE's column list, by their leading keywords.
_TABLE_CLAUSES: Final = (
    ("ENGINE",),
    ("PARTITION", "BY"),
    ("ORDER", "BY"),
    ("PRIMARY", "KEY"),
    ("SAMPLE", "BY"),
    ("TTL",),
    ("SETTINGS",),
    ("COMMENT",),
)
_OPENING: Final = {"(": ")", "[": "]", "{": "}"}


# -- public API -------------------------------------------------------------------------------
def cluster_database_statement(database: str, cluster: str) -> str:
    """``CREATE DATABASE IF NOT EXISTS <database> ON CLUSTER <cluster>``."""
    database = _identifier(database, "database")
    return f"CREATE DATABASE IF NOT EXISTS {database} ON CLUSTER {_cluster(cluster)}"


def cluster_table_statements(
    create_sql: str,
    cluster: str,
    *,
    replica_path: str | None = DEFAULT_REPLICA_PATH,
    replica_name: str = DEFAULT_REPLICA_NAME,
    sharding_keys: Mapping[str, str] | None = None,
) -> list[str]:
    """The cluster form of one single-node ``CREATE TABLE``, in the order to run them: the
    replicated ``<table>_local`` table, then the ``Distributed`` table of the original name.

    ``replica_path`` is the Keeper path template of the replicas ({database} and {table} are
    filled in, other {macros} left to the servers; it must keep {shard} and {table} or {uuid}
    so that shards and tables never share replicas); None uses the parameterless engine and
    the servers' ``default_replica_path`` / ``default_replica_name``. ``sharding_keys``
    overrides the derived sharding key per table name (see ``sharding_key``).
    """
    cluster = _cluster(cluster)
    table = _CreateTable.parse(create_sql)
    if table.database is None:
        raise ConfigError(
            f"CREATE TABLE {table.name} names no database: the Distributed table needs it, "
            "write <database>.<table>"
        )
    local = table.name + LOCAL_SUFFIX
    engine = _replicated_engine(table, replica_path, replica_name)
    local_sql = table.render(
        name=f"{table.database}.{local} ON CLUSTER {cluster}",
        engine=f"ENGINE = {engine}",
        settings=_replicated_settings(table.settings),
    )
    key = _sharding_key(table, sharding_keys)
    distributed_sql = (
        f"{table.head} {table.database}.{table.name} ON CLUSTER {cluster}\n"
        f"AS {table.database}.{local}\n"
        f"ENGINE = Distributed({_literal(cluster)}, {_literal(table.database)}, "
        f"{_literal(local)}, {key})"
    )
    if table.comment is not None:
        distributed_sql += f"\nCOMMENT {table.comment}"
    return [local_sql, distributed_sql]


def sharding_key(create_sql: str, *, sharding_keys: Mapping[str, str] | None = None) -> str:
    """The ``Distributed`` sharding key of a single-node ``CREATE TABLE``.

    ReplacingMergeTree collapses rows of equal sorting key only within one table, so on a
    cluster rows that replace each other must be sent to the same shard: the key is a hash of
    the ``ORDER BY`` columns, ``cityHash64(<leading column>)`` when it is one of
    ``SHARD_PREFIX_COLUMNS`` (a team's or a unit's rows stay together, and queries filtered on
    it can skip other shards), else ``cityHash64(<every sorting column>)``. ``sharding_keys``
    maps a table name to an expression used instead.
    """
    return _sharding_key(_CreateTable.parse(create_sql), sharding_keys)


def cluster_view_statement(create_view_sql: str, cluster: str) -> str:
    """A ``CREATE [OR REPLACE] VIEW [IF NOT EXISTS] name ...`` with ``ON CLUSTER`` after the
    name (where ClickHouse's grammar wants it, before the column list). Views read the
    Distributed tables by their usual names, so nothing else changes. Materialized views are
    refused: their trigger and target tables would have to be the local ones."""
    cluster = _cluster(cluster)
    tokens = _Statement(create_view_sql)
    sig = tokens.significant
    i = tokens.expect_word(0, "CREATE")
    if tokens.is_word(i, "OR"):
        i = tokens.expect_word(tokens.expect_word(i, "OR"), "REPLACE")
    if tokens.is_word(i, "MATERIALIZED", "LIVE", "WINDOW"):
        raise ConfigError(
            f"Cannot put a {sig[i].text.upper()} VIEW on a cluster: only plain views are "
            "rewritten (a materialized view must read and write the _local tables)"
        )
    i = tokens.expect_word(i, "VIEW")
    i = tokens.skip_if_not_exists(i)
    _, _, end = tokens.read_name(i)
    if tokens.is_word(end, "ON"):
        raise ConfigError("The view statement already has ON CLUSTER; pass the single-node one")
    cut = sig[end - 1].end
    return tokens.text[:cut] + f" ON CLUSTER {cluster}" + tokens.text[cut:]


def cluster_alter_statements(alter_sql: str, cluster: str) -> list[str]:
    """An ``ALTER TABLE <db>.<table> ...`` of a Miroir table, for the cluster, in the order to
    run them. The local table gets every command; column commands (ADD, DROP, MODIFY, RENAME,
    COMMENT COLUMN, MODIFY COMMENT) also go to the Distributed table: after the local table
    when columns appear, before it when one is dropped, so the Distributed table never names a
    column its shards lack. Everything else (MODIFY TTL, settings, mutations) is about stored
    rows: local table only."""
    cluster = _cluster(cluster)
    tokens = _Statement(alter_sql)
    sig = tokens.significant
    i = tokens.expect_word(tokens.expect_word(0, "ALTER"), "TABLE")
    database, name, i = tokens.read_name(i)
    if name.endswith(LOCAL_SUFFIX):
        raise ConfigError(
            f"ALTER TABLE {name}: pass the statement for the single-node table name; "
            f"its {LOCAL_SUFFIX} table is derived"
        )
    if tokens.is_word(i, "ON"):
        raise ConfigError("The ALTER statement already has ON CLUSTER; pass the single-node one")
    commands = tokens.split_top_level(i, len(sig))
    if not commands:
        raise ConfigError(f"ALTER TABLE {name} has no command")
    prefix = "" if database is None else f"{database}."
    everything = tokens.text[sig[i].start : sig[-1].end]
    statements = [f"ALTER TABLE {prefix}{name}{LOCAL_SUFFIX} ON CLUSTER {cluster} {everything}"]
    column_commands = []
    drops = False
    for start, stop in commands:
        words = tuple(t.text.upper() for t in sig[start : start + 2] if t.kind == "word")
        if words in _COLUMN_COMMANDS:
            column_commands.append(tokens.text[sig[start].start : sig[stop - 1].end])
            drops = drops or words == ("DROP", "COLUMN")
    if column_commands:
        distributed = (
            f"ALTER TABLE {prefix}{name} ON CLUSTER {cluster} {', '.join(column_commands)}"
        )
        statements.insert(0 if drops else 1, distributed)
    return statements


def cluster_table_problems(
    database: str, engines: Mapping[str, str], tables: Iterable[str]
) -> list[str]:
    """What is wrong with a cluster schema, from ``engines`` (``system.tables`` name → engine
    of ``database``, on the node the sink is connected to): each of ``tables`` must be a
    ``Distributed`` table over a ``Replicated*`` ``<table>_local``. ``CREATE TABLE IF NOT
    EXISTS`` leaves a single-node table of the same name in place, and the sink would then
    write to that one node without a word; this turns that into a message (empty: all well).
    """
    problems = []
    for table in tables:
        engine = engines.get(table)
        local = engines.get(table + LOCAL_SUFFIX)
        if engine != "Distributed":
            problems.append(
                f"{database}.{table} is {'missing' if engine is None else f'a {engine} table'}, "
                "not Distributed: move a single-node table of that name out of the way "
                "(docs/clickhouse-cluster.md, Migrating)"
            )
        if local is None or not local.startswith("Replicated"):
            problems.append(
                f"{database}.{table}{LOCAL_SUFFIX} is "
                f"{'missing' if local is None else f'a {local} table'}, not Replicated*MergeTree"
            )
    return problems


class _Statement:
    """One statement's tokens, with the helpers the rewrites share. ``significant`` skips
    spaces and comments; positions index it, and tokens keep their offsets in ``text``."""

    def __init__(self, sql: str) -> None:
        significant = [t for t in _tokenize(sql) if t.kind not in ("space", "comment")]
        if significant and significant[-1].text == ";":
            significant.pop()
        if not significant:
            raise ConfigError("Empty SQL statement")
        if any(t.text == ";" for t in significant):
            raise ConfigError("Pass one SQL statement at a time (found ';' inside)")
        # From the first keyword on: the files' leading comments describe the single-node table.
        self.text = sql[significant[0].start : significant[-1].end]
        offset = significant[0].start
        self.significant = [
            _Token(t.kind, t.text, t.start - offset, t.end - offset) for t in significant
        ]

    def is_word(self, i: int, *words: str) -> bool:
        sig = self.significant
        return i < len(sig) and sig[i].kind == "word" and sig[i].text.upper() in words

    def expect_word(self, i: int, word: str) -> int:
        if not self.is_word(i, word):
            found = self.significant[i].text if i < len(self.significant) else "the end"
            raise ConfigError(f"Expected {word} but found {found!r} in: {self._head()}")
        return i + 1

    def skip_if_not_exists(self, i: int) -> int:
        if self.is_word(i, "IF"):
            i = self.expect_word(self.expect_word(self.expect_word(i, "IF"), "NOT"), "EXISTS")
        return i

    def read_name(self, i: int) -> tuple[str | None, str, int]:
        """``[database.]name`` at ``i``: (database or None, name, index after it)."""
        first = self._identifier_at(i)
        sig = self.significant
        if i + 2 < len(sig) and sig[i + 1].text == ".":
            return first, self._identifier_at(i + 2), i + 3
        return None, first, i + 1

    def matching(self, i: int) -> int:
        """Index of the bracket closing the one at ``i``."""
        sig = self.significant
        stack = []
        for j in range(i, len(sig)):
            text = sig[j].text
            if sig[j].kind != "punct":
                continue
            if text in _OPENING:
                stack.append(_OPENING[text])
            elif text in _OPENING.values():
                if not stack or stack.pop() != text:
                    break
                if not stack:
                    return j
        raise ConfigError(f"Unbalanced brackets in: {self._head()}")

    def split_top_level(self, start: int, stop: int) -> list[tuple[int, int]]:
        """``[start, stop)`` cut at commas outside brackets, as (start, stop) ranges."""
        parts, depth, first = [], 0, start
        for j in range(start, stop):
            token = self.significant[j]
            if token.kind != "punct":
                continue
            if token.text in _OPENING:
                depth += 1
            elif token.text in _OPENING.values():
                depth -= 1
            elif token.text == "," and depth == 0:
                parts.append((first, j))
                first = j + 1
        if first < stop:
            parts.append((first, stop))
        return [(a, b) for a, b in parts if a < b]

    def source(self, start: int, stop: int) -> str:
        """Tokens ``[start, stop)`` as written, comments dropped (a space where there was a
        gap), so an expression can be moved elsewhere."""
        sig = self.significant[start:stop]
        parts = [sig[0].text] if sig else []
        for previous, token in zip(sig, sig[1:], strict=False):
            parts.append((" " if token.start > previous.end else "") + token.text)
        return "".join(parts)

    def _identifier_at(self, i: int) -> str:
        sig = self.significant
        if i >= len(sig) or sig[i].kind not in ("word", "quoted"):
            raise ConfigError(f"Expected a table name in: {self._head()}")
        token = sig[i]
        name = token.text
        if token.kind == "quoted":
            name = name[1:-1].replace(name[0] * 2, name[0])
        return _identifier(name, "name")

    def _head(self) -> str:
        return self.text[:120] + ("..." if len(self.text) > 120 else "")


# -- CREATE TABLE -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Clause:
    keyword: tuple[str, ...]
    start: int  # index of its first keyword
    body: int  # index of its first token after the keywords
    stop: int  # index after its last token


@dataclass(frozen=True, slots=True)
class _CreateTable:
    """A single-node ``CREATE TABLE`` taken apart: its head (``CREATE TABLE [IF NOT EXISTS]``),
    name, and the clauses after the column list, by token index."""

    statement: _Statement
    head: str
    database: str | None
    name: str
    name_span: tuple[int, int]
    clauses: Mapping[tuple[str, ...], _Clause]

    @classmethod
    def parse(cls, sql: str) -> _CreateTable:
        statement = _Statement(sql)
        sig = statement.significant
        i = statement.expect_word(0, "CREATE")
        if statement.is_word(i, "OR"):
            i = statement.expect_word(statement.expect_word(i, "OR"), "REPLACE")
        if statement.is_word(i, "TEMPORARY"):
            raise ConfigError("A TEMPORARY table cannot be put on a cluster")
        i = statement.expect_word(i, "TABLE")
        i = statement.skip_if_not_exists(i)
        head = statement.source(0, i)
        database, name, after = statement.read_name(i)
        if name.endswith(LOCAL_SUFFIX):
            raise ConfigError(
                f"CREATE TABLE {name}: pass the single-node table; its {LOCAL_SUFFIX} table is "
                "derived"
            )
        if statement.is_word(after, "ON"):
            raise ConfigError(
                f"CREATE TABLE {name} already has ON CLUSTER; pass the single-node statement"
            )
        if after >= len(sig) or sig[after].text != "(":
            raise ConfigError(
                f"CREATE TABLE {name} has no column list right after its name; only tables "
                "that declare their columns can be rewritten for a cluster"
            )
        return cls(
            statement=statement,
            head=head,
            database=database,
            name=name,
            name_span=(i, after),
            clauses=cls._clauses(statement, statement.matching(after) + 1),
        )

    @staticmethod
    def _clauses(statement: _Statement, i: int) -> dict[tuple[str, ...], _Clause]:
        """The clauses from token ``i`` on. A clause keyword is one at bracket depth 0 that
        does not open a clause body (``ORDER BY comment`` orders by a column named comment),
        and COMMENT only before a string: a table comment."""
        sig = statement.significant
        starts: list[tuple[tuple[str, ...], int, int]] = []
        depth, j, body_start = 0, i, -1
        while j < len(sig):
            token = sig[j]
            if token.kind == "punct" and token.text in _OPENING:
                depth += 1
            elif token.kind == "punct" and token.text in _OPENING.values():
                depth -= 1
            elif depth == 0 and token.kind == "word" and j != body_start:
                keyword = _clause_at(sig, j)
                if keyword is not None:
                    starts.append((keyword, j, j + len(keyword)))
                    body_start = j + len(keyword)
                    j = body_start
                    continue
            if not starts and token.kind != "space":
                raise ConfigError(
                    f"Unexpected {token.text!r} after the column list of: {statement._head()}"
                )
            j += 1
        clauses: dict[tuple[str, ...], _Clause] = {}
        for index, (keyword, start, body) in enumerate(starts):
            stop = starts[index + 1][1] if index + 1 < len(starts) else len(sig)
            if keyword in clauses:
                raise ConfigError(f"{' '.join(keyword)} appears twice in: {statement._head()}")
            if body >= stop:
                raise ConfigError(f"{' '.join(keyword)} has no value in: {statement._head()}")
            clauses[keyword] = _Clause(keyword, start, body, stop)
        if ("ENGINE",) not in clauses:
            raise ConfigError(f"No ENGINE clause in: {statement._head()}")
        return clauses

    @property
    def comment(self) -> str | None:
        """The table COMMENT literal as written (quotes included), or None."""
        clause = self.clauses.get(("COMMENT",))
        return None if clause is None else self.statement.significant[clause.body].text

    @property
    def settings(self) -> list[tuple[str, str]]:
        """The table SETTINGS as (name, value as written)."""
        clause = self.clauses.get(("SETTINGS",))
        if clause is None:
            return []
        statement = self.statement
        sig = statement.significant
        settings = []
        for start, stop in statement.split_top_level(clause.body, clause.stop):
            if stop - start < 3 or sig[start].kind != "word" or sig[start + 1].text != "=":
                raise ConfigError(
                    f"Cannot read the setting {statement.source(start, stop)!r} of {self.name}"
                )
            settings.append((sig[start].text, statement.source(start + 2, stop)))
        return settings

    def engine(self) -> tuple[str, list[str]]:
        """The engine's name and its arguments as written."""
        statement = self.statement
        sig = statement.significant
        clause = self.clauses[("ENGINE",)]
        i = clause.body + (1 if sig[clause.body].text == "=" else 0)
        if i >= clause.stop or sig[i].kind != "word":
            raise ConfigError(f"Cannot read the ENGINE of {self.name}")
        name = sig[i].text
        if i + 1 == clause.stop:
            return name, []
        if sig[i + 1].text != "(" or statement.matching(i + 1) != clause.stop - 1:
            raise ConfigError(f"Cannot read the arguments of ENGINE = {name} of {self.name}")
        args = statement.split_top_level(i + 2, clause.stop - 1)
        return name, [statement.source(a, b) for a, b in args]

    def order_by(self) -> list[str]:
        """The sorting key's expressions, as written (``ORDER BY (a, b)`` → ``[a, b]``)."""
        clause = self.clauses.get(("ORDER", "BY"))
        if clause is None:
            raise ConfigError(f"{self.name} has no ORDER BY: give its sharding key explicitly")
        statement = self.statement
        start, stop = clause.body, clause.stop
        sig = statement.significant
        if sig[start].text == "(" and statement.matching(start) == stop - 1:
            start, stop = start + 1, stop - 1
        elif (
            statement.is_word(start, "TUPLE")
            and sig[start + 1].text == "("
            and statement.matching(start + 1) == stop - 1
        ):
            start, stop = start + 2, stop - 1
        return [statement.source(a, b) for a, b in statement.split_top_level(start, stop)]

    def render(self, *, name: str, engine: str, settings: list[tuple[str, str]]) -> str:
        """The statement with its name, ENGINE clause and SETTINGS clause replaced; all
        else (columns, comments, keys, other clauses) exactly as written."""
        sig = self.statement.significant
        text = self.statement.text
        edits = [(sig[self.name_span[0]].start, sig[self.name_span[1] - 1].end, name)]
        clause = self.clauses[("ENGINE",)]
        edits.append((sig[clause.start].start, sig[clause.stop - 1].end, engine))
        if ("SETTINGS",) in self.clauses:
            clause = self.clauses[("SETTINGS",)]
            rendered = ", ".join(f"{key} = {value}" for key, value in settings)
            edits.append(
                (sig[clause.start].start, sig[clause.stop - 1].end, f"SETTINGS {rendered}")
            )
        for start, end, replacement in sorted(edits, reverse=True):
            text = text[:start] + replacement + text[end:]
        return text


def _clause_at(sig: Sequence[_Token], j: int) -> tuple[str, ...] | None:
    for keyword in _TABLE_CLAUSES:
        words = sig[j : j + len(keyword)]
        if len(words) == len(keyword) and all(
            t.kind == "word" and t.text.upper() == w for t, w in zip(words, keyword, strict=True)
        ):
            if keyword == ("COMMENT",) and (j + 1 >= len(sig) or sig[j + 1].kind != "string"):
                return None
            return keyword
    return None


def _replicated_engine(table: _CreateTable, replica_path: str | None, replica_name: str) -> str:
    name, args = table.engine()
    if not name.endswith("MergeTree") or name.startswith(("Replicated", "Shared")):
        raise ConfigError(
            f"{table.name} uses ENGINE = {name}: only the non-replicated MergeTree engines "
            "(MergeTree, ReplacingMergeTree, ...) can be made Replicated for a cluster"
        )
    if replica_path is None:
        # Without a path, ClickHouse takes a leading string argument for one: refuse rather
        # than let an engine argument become a Keeper path.
        if args and args[0].startswith("'"):
            raise ConfigError(
                f"ENGINE = {name}({args[0]}, ...) of {table.name} starts with a string: give "
                "replica_path explicitly"
            )
        return f"Replicated{name}({', '.join(args)})"
    if "{shard}" not in replica_path or not ("{table}" in replica_path or "{uuid}" in replica_path):
        raise ConfigError(
            f"replica_path {replica_path!r} must contain {{shard}} (else every shard replicates "
            "every other) and {table} or {uuid} (else tables share replicas)"
        )
    if not _MACRO.search(replica_name):
        raise ConfigError(
            f"replica_name {replica_name!r} must contain a macro such as {{replica}}: a fixed "
            "name would make every server the same replica"
        )
    path = replica_path.replace("{database}", table.database or "").replace(
        "{table}", table.name + LOCAL_SUFFIX
    )
    return f"Replicated{name}({', '.join([_literal(path), _literal(replica_name), *args])})"


def _replicated_settings(settings: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``non_replicated_deduplication_window`` has no effect on a replicated table, whose
    insert deduplication ``replicated_deduplication_window`` governs: carry the value over,
    and bound the age of the hashes (``DEDUPLICATION_WINDOW_SECONDS``) unless set."""
    names = {key.lower() for key, _ in settings}
    result = []
    for key, value in settings:
        if key.lower() != "non_replicated_deduplication_window":
            result.append((key, value))
        elif "replicated_deduplication_window" not in names:
            result.append(("replicated_deduplication_window", value))
            if "replicated_deduplication_window_seconds" not in names:
                result.append(
                    ("replicated_deduplication_window_seconds", str(DEDUPLICATION_WINDOW_SECONDS))
                )
    return result


def _sharding_key(table: _CreateTable, overrides: Mapping[str, str] | None) -> str:
    if overrides and table.name in overrides:
        key = overrides[table.name].strip()
        if not key or any(t.text == ";" for t in _tokenize(key)):
            raise ConfigError(f"Invalid sharding key {key!r} for {table.name}")
        return key
    columns = table.order_by()
    if not columns:
        raise ConfigError(
            f"{table.name} has an empty sorting key: give its sharding key explicitly"
        )
    if columns[0].strip('`"') in SHARD_PREFIX_COLUMNS:
        return f"cityHash64({columns[0]})"
    return f"cityHash64({', '.join(columns)})"


# -- small helpers ----------------------------------------------------------------------------
def _identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise ConfigError(
            f"Invalid ClickHouse {what} {value!r}: use letters, digits and _ (at most 64, not "
            "starting with a digit)"
        )
    return value


def _cluster(cluster: str) -> str:
    return _identifier(cluster, "cluster name")


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# -- python -m sinks.cluster ------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Print the statements Miroir runs on a cluster: every one (what the sink runs at start,
    without the retention TTLs, which depend on the tables' state), or one table's."""
    from sinks.clickhouse import DEFAULT_DATABASE, MIGRATIONS
    from sinks.schema import TABLES, schema_statements, table_ddl

    parser = argparse.ArgumentParser(
        prog="python -m sinks.cluster",
        description="Print Miroir's ClickHouse DDL for a cluster (docs/clickhouse-cluster.md).",
    )
    parser.add_argument("--cluster", required=True, help="cluster name in remote_servers")
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="default: %(default)s")
    parser.add_argument(
        "--table",
        action="append",
        choices=TABLES,
        metavar="TABLE",
        help="only this table's two statements (repeatable); default: the whole schema",
    )
    options = parser.parse_args(argv)
    try:
        if options.table:
            for table in options.table:
                ddl = table_ddl(table, options.database)
                for sql in cluster_table_statements(ddl, options.cluster):
                    print(f"{sql};\n")
        else:
            for statement in schema_statements(
                options.database, MIGRATIONS, cluster=options.cluster
            ):
                print(f"-- {statement.label}\n{statement.sql};\n")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
