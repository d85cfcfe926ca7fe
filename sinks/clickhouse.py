"""ClickHouse sink: writes sink batches through clickhouse-connect, to a server or embedded chDB.

DSN forms (one code path; only the connection differs):

- ``chdb:///absolute/path``: the embedded engine (chDB, the real ClickHouse engine in-process),
  storing under that directory, created if missing.
- ``chdb:relative/path``: the same, relative to the working directory when the sink is created.
- ``http://user:password@host:8123`` (or ``https://…:8443``): a ClickHouse server. A database
  in the DSN path is ignored; ``database`` names the one Miroir uses.

What chDB imposes (verified with chdb-core 26.9 and clickhouse-connect 1.12):

- One store per process. Any number of clients may share the store a process hosts, but
  opening a different path while one is open fails (``ConfigError`` here); once every client
  is closed, another path can be opened.
- One process per store. The engine holds an exclusive lock on ``<path>/status`` (which also
  records the owner's PID); a second process gets ``StoreLockedError``. In embedded mode the
  worker owns the store, and readers go through it or wait until it stops.
- Per-insert settings reach the engine (``INSERT … FROM INFILE … SETTINGS``), so insert
  deduplication tokens work as on a server, given ``non_replicated_deduplication_window``.

Idempotency: every table insert carries ``insert_deduplication_token = "{batch.token}:{table}"``,
so writing the same batch again (a retry, a replay after a crash) is a no-op. The engine tracks a
token per partition (month of the row's time): rows of a known token landing in a partition it
has not seen yet are written, so a token must always stand for the same rows. A batch without a
token gets a random one per ``write()`` call: its retries are still safe, but a second call
writes it again, and identical blocks from different batches are never mistaken for
duplicates (which plain hash-based deduplication would do to ``late_events`` counts).

Every table is partitioned by month, and ClickHouse refuses one insert into more than
``max_partitions_per_insert_block`` (100) partitions. A table's rows spanning more than
``MAX_PARTITIONS_PER_INSERT`` months are inserted in chunks of consecutive months, each with its
own token ``"{batch.token}:{table}:m{first_month}-{last_month}"``: the same batch always splits
the same way, so its retries and replays are still deduplicated.

Rows the store refuses for good (a constraint, a value it cannot take) never stop the pipeline:
an insert that fails permanently is bisected (halves, recursively, each with the token
``"{chunk_token}:r{lo}-{hi}"`` of its row range ``[lo, hi)`` in the chunk), every row that can
be written is written, and each row refused on its own becomes a ``DeadLetter`` (topic
``clickhouse:<table>``, kind ``store``, the row as JSON) stored in ``dead_letters`` and returned
by ``write()``.

Errors (``streams.errors``), classified once (``_classify``): transient failures (connection
refused, timeouts, an overloaded server, "Too many parts") are retried with capped exponential
backoff, then raise ``SinkUnavailable`` carrying a retry hint; ``request_stop()`` ends that
retrying at once with ``SinkStopped`` (a write that works is never cut short); a failure of
the table, the user or the client itself (unknown table, access denied) raises ``SinkError``
rather than dead-lettering every row; a store held by another process raises
``StoreLockedError``; a bad DSN or database name, or tables missing columns this version
writes (found at ``open()``), raise ``ConfigError``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import os
import re
import struct
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError, ProgrammingError
from pydantic import SecretStr

from schemas.records import EMPLOYEE_SCORES, CustomerFeedback, MirrorAlert
from sinks.base import Sink
from sinks.read_only import READ_ONLY_KEYWORDS, ast_problems, check_read_only, first_keyword
from sinks.schema import (
    RETAINED_TABLES,
    TABLES,
    identifier,
    retention_statement,
    schema_statements,
    table_ddl,
)
from streams.core.episodes import Episode
from streams.core.incidents import Incident
from streams.core.model import (
    BackfillRun,
    DeadLetter,
    DuplicateEvent,
    EmployeeComment,
    LateEvent,
    SideMetrics,
    SinkBatch,
    TeamWindowMetrics,
)
from streams.core.org import UNIT_SEPARATOR, OrgChart, TeamInfo
from streams.core.redact import redact_url
from streams.core.units import UnitWindow
from streams.errors import (
    ConfigError,
    SinkError,
    SinkStopped,
    SinkUnavailable,
    StoreLockedError,
)

if TYPE_CHECKING:
    from streams.settings import Settings

try:  # POSIX only; without it the lock is reported from chDB's error alone
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_DATABASE",
    "DEFAULT_INSERT_RETRIES",
    "DEFAULT_RETRY_BACKOFF",
    "DEFAULT_RETRY_BACKOFF_MAX",
    "MAX_PARTITIONS_PER_INSERT",
    "MIGRATIONS",
    "PARTITION_COLUMNS",
    "READ_ONLY_KEYWORDS",
    "RUN_TABLES",
    "TABLES",
    "ClickHouseSink",
    "ServerAccess",
    "table_ddl",
]

logger = logging.getLogger(__name__)

DEFAULT_DATABASE: Final = "miroir"
DEFAULT_INSERT_RETRIES: Final = 5
DEFAULT_RETRY_BACKOFF: Final = 0.2  # seconds before the first retry; doubles each time
DEFAULT_RETRY_BACKOFF_MAX: Final = 10.0  # cap on one wait, and on the retry hint
DEFAULT_CONNECT_TIMEOUT: Final = 10.0  # seconds, HTTP only
DEFAULT_SEND_RECEIVE_TIMEOUT: Final = 300.0  # seconds, HTTP only


# Tables whose rows the engine produces: a backfill run can write them, so they carry its
# run_id ("" for the live worker).
RUN_TABLES: Final = (
    "mirror_alerts",
    "team_window_metrics",
    "customer_tag_metrics",
    "episodes",
    "unit_window_metrics",
    "incidents",
)
_RUN_ID_COLUMN: Final = (
    "LowCardinality(String) DEFAULT '' COMMENT 'The miroir backfill run that wrote the row "
    "(see backfill_runs); empty for the live worker'"
)

# Columns added after a table was first released: (table, column, type and comment), applied
# with ADD COLUMN IF NOT EXISTS at open(), so a store written by an older Miroir is migrated.
MIGRATIONS: Final = (
    (
        "mirror_alerts",
        "episode_id",
        "Nullable(String) COMMENT 'The team episode this alert opened, updated or escalated'",
    ),
    (
        "mirror_alerts",
        "event",
        "LowCardinality(String) DEFAULT 'alert' COMMENT 'What the alert did to its episode: "
        "opened, updated or escalated (alert: written before episodes)'",
    ),
    *((table, "run_id", _RUN_ID_COLUMN) for table in RUN_TABLES),
)

# The DateTime64 column each table is partitioned by (PARTITION BY toYYYYMM(column)); "" for
# a table without partitions.
PARTITION_COLUMNS: Final[Mapping[str, str]] = {
    "mirror_alerts": "window_start",
    "team_window_metrics": "window_start",
    "customer_feedback": "occurred_at",
    "dead_letters": "seen_at",
    "late_events": "window_start",
    "duplicate_events": "window_start",
    "employee_comments": "window_start",
    "episodes": "opened_window_start",
    "unit_window_metrics": "window_start",
    "incidents": "opened_window_start",
    "backfill_runs": "started_at",
    "customer_tag_metrics": "window_start",
    "teams": "",  # not partitioned
}

# Months one insert may touch: half ClickHouse's default max_partitions_per_insert_block (100),
# so a server configured a little lower still takes every chunk.
MAX_PARTITIONS_PER_INSERT: Final = 50

# Dead letters of rows the store refused: topic prefix, and how much of the error is kept.
_REFUSED_TOPIC_PREFIX: Final = "clickhouse:"
_REFUSED_REASON_CHARS: Final = 500


# Defence in depth behind the pipeline's own k-anonymity rule (DOMAIN.md: k defaults to 5 and
# never goes below 3): an employee side under this many respondents is never stored.
K_ANONYMITY_FLOOR: Final = 3

# ClickHouse error codes worth retrying: the server is busy, short of memory, or the
# network/replication layer hiccuped. Everything else is a bug or bad data.
TRANSIENT_ERROR_CODES: Final = frozenset(
    {
        3,  # UNEXPECTED_END_OF_FILE
        32,  # ATTEMPT_TO_READ_AFTER_EOF
        159,  # TIMEOUT_EXCEEDED
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        236,  # ABORTED
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        252,  # TOO_MANY_PARTS (merges lag behind inserts), but see _PERMANENT_MESSAGES
        285,  # TOO_FEW_LIVE_REPLICAS
        319,  # UNKNOWN_STATUS_OF_INSERT
        425,  # SYSTEM_ERROR
        439,  # CANNOT_SCHEDULE_TASK
        999,  # KEEPER_EXCEPTION
    }
)
# Permanent errors sharing a transient code: 252 is also "Too many partitions for single INSERT
# block", which the same block gets every time.
_PERMANENT_MESSAGES: Final = ("Too many partitions for single INSERT block",)
# ClickHouse error codes about the table, the database or the user, never about a row: the
# insert is refused whole, and splitting it would turn every row into a dead letter.
TABLE_ERROR_CODES: Final = frozenset(
    {
        8,  # THERE_IS_NO_COLUMN
        16,  # NO_SUCH_COLUMN_IN_TABLE
        47,  # UNKNOWN_IDENTIFIER
        60,  # UNKNOWN_TABLE
        81,  # UNKNOWN_DATABASE
        115,  # UNKNOWN_SETTING
        164,  # READONLY
        192,  # UNKNOWN_USER
        193,  # WRONG_PASSWORD
        194,  # REQUIRED_PASSWORD
        218,  # TABLE_IS_DROPPED
        291,  # DATABASE_ACCESS_DENIED
        497,  # ACCESS_DENIED
        516,  # AUTHENTICATION_FAILED
        701,  # CLUSTER_DOESNT_EXIST (MIROIR_CLICKHOUSE_CLUSTER names no cluster of the server)
    }
)
_HTTP_5XX = re.compile(r"HTTP status 5\d\d")
_STATUS_PID = re.compile(r"^PID:\s*(\d+)", re.MULTILINE)

# Employee raw metric -> column. Only these aggregates ever leave the pipeline.
_EMPLOYEE_RAW_COLUMNS: Final[Mapping[str, str]] = {
    "enps": "enps",
    "enps_se": "enps_se",
    **{
        f"{name}_mean": f"employee_{name}_mean"
        for name in EMPLOYEE_SCORES
        if name != "enps"  # a net score, not a mean
    },
}
_CUSTOMER_RAW_COLUMNS: Final = (
    "nps",
    "nps_se",
    "csat",
    "ces_mean",
    "ces_easy_pct",
    "listened_mean",
    "trust_mean",
    "courtesy_mean",
)

T = TypeVar("T")
Columns = dict[str, list[Any]]
Failure = Literal["transient", "rows", "fatal"]
_AUTH_HINT: Final = (
    "; check the user of MIROIR_CLICKHOUSE_DSN and MIROIR_CLICKHOUSE_PASSWORD (or _FILE)"
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a DSN points: an embedded store directory, or a server."""

    client_dsn: str = field(repr=False)  # may hold a password
    store_path: Path | None = None  # None for a server

    @property
    def embedded(self) -> bool:
        return self.store_path is not None


@dataclass(frozen=True, slots=True)
class ServerAccess:
    """How to authenticate to a ClickHouse server beyond its DSN: a password kept out of the
    DSN, and TLS (https DSNs) with a private CA or a client certificate."""

    password: SecretStr | None = field(default=None, repr=False)  # overrides the DSN's
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    verify: bool = True

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for clickhouse-connect's ``get_client``."""
        options: dict[str, Any] = {"verify": self.verify}
        if self.password is not None:
            options["password"] = self.password.get_secret_value()
        if self.ca_file is not None:
            options["ca_cert"] = str(self.ca_file)
        if self.client_cert is not None:
            options["client_cert"] = str(self.client_cert)
        if self.client_key is not None:
            options["client_cert_key"] = str(self.client_key)
        return options


class ClickHouseSink(Sink):
    """Sink batches into ClickHouse tables (see ``TABLES``), idempotently, in one insert per table
    (per chunk of months when a batch spans more than ``MAX_PARTITIONS_PER_INSERT``).

    ``read_only=True`` makes a reader for the CLI and exports: ``open()`` creates nothing,
    ``write()`` is refused, and ``query()`` accepts only statements starting with a keyword in
    ``READ_ONLY_KEYWORDS``. On chDB the engine itself also enforces it (``readonly = 2`` on
    the reader's own handle); on a server, connect as the BI read-only user as well
    (deploy/clickhouse/bi_readonly_role.sql).

    One sink owns one client; calls are serialised by a lock, so a worker's live page may
    query through the worker's sink from another thread. Calls block; run them in an
    executor from asyncio code. ``request_stop()`` is the exception: it takes no lock, and
    ends a retry wait in another thread at once.
    """

    def __init__(
        self,
        dsn: str,
        database: str = DEFAULT_DATABASE,
        insert_retries: int = DEFAULT_INSERT_RETRIES,
        *,
        read_only: bool = False,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        retry_backoff_max: float = DEFAULT_RETRY_BACKOFF_MAX,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        send_receive_timeout: float = DEFAULT_SEND_RECEIVE_TIMEOUT,
        sleep: Callable[[float], None] | None = None,
        fault_file: Path | None = None,
        cluster: str | None = None,
        retention_days: int | None = None,
        access: ServerAccess | None = None,
    ) -> None:
        if insert_retries < 0:
            raise ConfigError(f"insert_retries must be >= 0, got {insert_retries}")
        if retry_backoff < 0 or retry_backoff_max < retry_backoff:
            raise ConfigError("retry_backoff must be >= 0 and <= retry_backoff_max")
        self.dsn = dsn
        self.access = access or ServerAccess()
        self.database = identifier(database, "database")
        # A ClickHouse cluster to create the tables on (sinks.cluster); None: one node.
        self.cluster = None if cluster is None else identifier(cluster, "cluster")
        if retention_days is not None and retention_days < 1:
            raise ConfigError(f"retention_days must be >= 1 or None, got {retention_days}")
        self.retention_days = retention_days  # TTL of the raw tables (sinks.schema)
        self.insert_retries = insert_retries
        self.read_only = read_only
        self.retry_backoff = retry_backoff
        self.retry_backoff_max = retry_backoff_max
        self.connect_timeout = connect_timeout
        self.send_receive_timeout = send_receive_timeout
        # None: retry waits are on the stop event, so request_stop() ends them at once. Tests
        # pass a function to record the waits instead (the stop is then seen after each one).
        self._sleep = sleep
        self._stop = threading.Event()
        # Testing aid (MIROIR_CLICKHOUSE_FAULT_FILE): while this file exists every insert fails
        # the way an unreachable server does, so outages can be rehearsed on the embedded engine.
        self.fault_file = fault_file
        self._target = _parse_dsn(dsn)  # fail fast on a bad DSN, before any I/O
        self._client: Client | None = None
        self._column_types: dict[str, dict[str, str]] = {}
        self._lock = threading.RLock()

    @classmethod
    def from_settings(cls, settings: Settings, *, read_only: bool = False) -> ClickHouseSink:
        """The sink the settings describe (DSN, database, cluster, retention, fault file)."""
        return cls(
            settings.clickhouse_dsn,
            database=settings.clickhouse_database,
            read_only=read_only,
            fault_file=settings.clickhouse_fault_file,
            cluster=settings.clickhouse_cluster,
            retention_days=settings.raw_retention_days,
            access=ServerAccess(
                password=settings.clickhouse_password,
                ca_file=settings.clickhouse_ca_file,
                client_cert=settings.clickhouse_client_cert,
                client_key=settings.clickhouse_client_key,
                verify=settings.clickhouse_verify,
            ),
        )

    def __repr__(self) -> str:  # never shows credentials
        where = str(self._target.store_path) if self._target.embedded else "server"
        state = "open" if self._client is not None else "closed"
        return f"<ClickHouseSink {where} database={self.database} {state}>"

    @property
    def embedded(self) -> bool:
        """True when the sink runs the in-process chDB engine rather than a server."""
        return self._target.embedded

    @property
    def store_path(self) -> Path | None:
        """The chDB store directory (absolute), or None for a server."""
        return self._target.store_path

    # -- lifecycle ------------------------------------------------------------------------
    def open(self) -> None:
        """Connect, then create the database and tables if missing (not in read-only mode)."""
        with self._lock:
            if self._client is not None:
                return
            client = self._connect()
            try:
                if not self.read_only:
                    self._create_schema(client)
                    if self.cluster is not None:
                        self._check_cluster_tables(client)
                    self._apply_retention(client)
                    self._column_types = self._describe(client)
                    self._check_columns(self._column_types)
                elif self.embedded:
                    # The reader's own engine handle refuses writes; other handles are unaffected.
                    self._retrying(
                        "make the reader read-only",
                        functools.partial(client.set_client_setting, "readonly", "2"),
                    )
                client.database = self.database
            except BaseException:
                _close_quietly(client)
                raise
            self._client = client

    def write(self, batch: SinkBatch) -> list[DeadLetter]:
        """Insert every non-empty part of ``batch``: one insert per table (per chunk of months
        when it spans many), deduplicated by token.

        Durable when it returns. A failure part-way is safe to retry with the same batch: the
        tables already written drop the repeated insert. Returns the rows ClickHouse refused for
        good, already stored in ``dead_letters`` (an empty list normally); writing the batch
        again returns them again and stores nothing twice.

        Raises ``SinkUnavailable`` when ClickHouse keeps failing, ``SinkStopped`` when
        ``request_stop()`` was called first, ``SinkError`` when a whole table is unusable.
        """
        with self._lock:
            client = self._require_open()
            if self.read_only:
                raise SinkError("This ClickHouse sink is read-only; open one without read_only")
            if batch.is_empty():
                return []
            token = batch.token or f"auto-{uuid.uuid4().hex}"
            version = time.time_ns() // 1_000_000
            refused: list[DeadLetter] = []
            for table, rows_of, to_columns in _WRITERS:
                rows = rows_of(batch)
                if rows:
                    columns = to_columns(rows, version)
                    if table in RUN_TABLES:
                        columns["run_id"] = [batch.run_id] * len(rows)
                    refused += self._write_table(client, table, columns, f"{token}:{table}")
            if refused:
                self._store_refused(client, refused, version, f"{token}:dead_letters:refused")
            return refused

    def request_stop(self) -> None:
        """The caller is stopping: a retry wait ends at once, and the ``write`` (or any other
        call) in progress raises ``SinkStopped`` instead of trying again. An attempt that
        succeeds is never cut short, so a graceful stop still finishes a working write.
        Thread-safe; final: from now on no failure is retried."""
        self._stop.set()

    def flush(self) -> None:
        """Nothing to do: ``write`` returns only once ClickHouse has the rows."""

    def close(self) -> None:
        """Close the client (and with it this sink's chDB handle); safe to call twice."""
        with self._lock:
            client, self._client = self._client, None
            if client is not None:
                _close_quietly(client)

    # -- reads ----------------------------------------------------------------------------
    def query(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one statement and return (column names, rows); tables resolve in ``database``.

        ``parameters`` bind as in clickhouse-connect: ``{name:Type}`` placeholders (server-side)
        or ``%(name)s``. Times come back as timezone-aware UTC datetimes.

        Read-only check (when ``read_only``, on a server as on chDB): the statement must start
        with a reading keyword, and neither its tokens nor the engine's parse of it (``EXPLAIN
        AST``) may call a function that reaches files, other servers or programs, or write
        ``INTO OUTFILE`` (``sinks.read_only``): the engine's own read-only mode lets those
        through. On chDB the reader's handle is also set to ``readonly = 2``; on a server,
        connect as the BI read-only user as well (deploy/clickhouse/bi_readonly_role.sql).
        """
        if self.read_only:
            check_read_only(sql)
        with self._lock:
            client = self._require_open()
            if self.read_only:
                self._check_parse(client, sql, parameters)
            result = self._retrying(
                "query",
                lambda: client.query(sql, parameters=dict(parameters) if parameters else None),
            )
            return list(result.column_names), [tuple(row) for row in result.result_rows]

    # -- internals ------------------------------------------------------------------------
    def _check_parse(self, client: Client, sql: str, parameters: Mapping[str, Any] | None) -> None:
        """Refuse what the engine's parse tree shows a read-only query must not do."""
        if first_keyword(sql) not in ("SELECT", "WITH"):
            return  # SHOW, DESCRIBE, EXPLAIN: the token check has seen them whole
        result = self._retrying(
            "check the query",
            lambda: client.query(
                f"EXPLAIN AST {sql}", parameters=dict(parameters) if parameters else None
            ),
        )
        problems = ast_problems(str(row[0]) for row in result.result_rows)
        if problems:
            raise SinkError(
                f"Read-only query refused: {problems[0]}. `miroir query` only reads Miroir's tables"
            )

    def _require_open(self) -> Client:
        if self._client is None:
            raise SinkError("The ClickHouse sink is not open; call open() or use it as a context")
        return self._client

    def _connect(self) -> Client:
        target = self._target
        if target.store_path is None:
            return self._retrying(
                "connect",
                lambda: clickhouse_connect.get_client(
                    dsn=target.client_dsn,
                    connect_timeout=self.connect_timeout,
                    send_receive_timeout=self.send_receive_timeout,
                    tz_mode="aware",
                    # clickhouse-connect reads TLS from the port (443/8443), not the scheme: an
                    # https DSN on any other port would otherwise go out as plain http.
                    interface="https" if self.dsn.startswith("https://") else "http",
                    **self.access.client_options(),
                ),
            )
        return _open_store(target.store_path, target.client_dsn)

    def _create_schema(self, client: Client) -> None:
        statements = schema_statements(self.database, MIGRATIONS, cluster=self.cluster)
        try:
            for statement in statements:
                self._retrying(statement.label, functools.partial(client.command, statement.sql))
        except SinkError as e:
            if self.cluster is not None and "CLUSTER_DOESNT_EXIST" in str(e):
                raise ConfigError(
                    f"MIROIR_CLICKHOUSE_CLUSTER={self.cluster}: the ClickHouse server has no "
                    "cluster of that name in its remote_servers (docs/clickhouse-cluster.md); "
                    "unset it for a single node"
                ) from e
            raise

    def _check_cluster_tables(self, client: Client) -> None:
        """On a cluster, refuse a store whose tables are not Distributed over replicated local
        tables: ``CREATE TABLE IF NOT EXISTS`` leaves a single-node table of the same name in
        place, and every row would then go to that one node without a word."""
        from sinks.cluster import cluster_table_problems

        result = self._retrying(
            "read the table engines",
            lambda: client.query(
                "SELECT name, engine FROM system.tables WHERE database = {db:String}",
                parameters={"db": self.database},
            ),
        )
        engines = {name: engine for name, engine in result.result_rows}
        problems = cluster_table_problems(self.database, engines, TABLES)
        if problems:
            raise ConfigError(
                f"MIROIR_CLICKHOUSE_CLUSTER={self.cluster}, but the tables are not a cluster "
                f"schema: {'; '.join(problems)}"
            )

    def _apply_retention(self, client: Client) -> None:
        """Bring the raw tables' TTL to ``retention_days`` (idempotent: an unchanged setting
        runs nothing, since changing a TTL rewrites the table's parts)."""
        local = "_local" if self.cluster else ""
        result = self._retrying(
            "read the retention",
            lambda: client.query(
                "SELECT name, create_table_query FROM system.tables "
                "WHERE database = {db:String} AND name IN {names:Array(String)}",
                parameters={"db": self.database, "names": [t + local for t in RETAINED_TABLES]},
            ),
        )
        created = {name.removesuffix(local): query for name, query in result.result_rows}
        for table in RETAINED_TABLES:
            for statement in retention_statement(
                self.database,
                table,
                self.retention_days,
                created.get(table, ""),
                cluster=self.cluster,
            ):
                logger.info("ClickHouse: %s", statement.label)
                self._retrying(statement.label, functools.partial(client.command, statement.sql))

    def _describe(self, client: Client) -> dict[str, dict[str, str]]:
        """Column types of every table, fetched once so inserts skip a DESCRIBE each."""
        result = self._retrying(
            "describe tables",
            lambda: client.query(
                "SELECT table, name, type FROM system.columns WHERE database = {db:String}",
                parameters={"db": self.database},
            ),
        )
        types: dict[str, dict[str, str]] = {table: {} for table in TABLES}
        for table, name, type_name in result.result_rows:
            if table in types:
                types[table][name] = type_name
        return types

    def _check_columns(self, types: Mapping[str, Mapping[str, str]]) -> None:
        """Refuse to start on tables that lack a column this version writes: every batch would
        fail the same way, so it is a migration to run, not a batch to retry."""
        problems = []
        for table, _rows_of, to_columns in _WRITERS:
            wanted = [*to_columns([], 0), *(["run_id"] if table in RUN_TABLES else [])]
            missing = [name for name in wanted if name not in types.get(table, {})]
            if missing:
                problems.append(f"{self.database}.{table} lacks {', '.join(missing)}")
        if problems:
            raise ConfigError(
                f"ClickHouse tables are older than this Miroir: {'; '.join(problems)}. Apply the "
                "migration in sinks/ddl (ALTER TABLE ... ADD COLUMN as in each table's .sql) "
                "before starting"
            )

    def _write_table(
        self, client: Client, table: str, columns: Columns, token: str
    ) -> list[DeadLetter]:
        """Insert one table's rows, split by month; returns the rows refused for good."""
        refused: list[DeadLetter] = []
        for chunk_token, chunk in _split_by_month(columns, PARTITION_COLUMNS[table], token):
            refused += self._insert_or_bisect(client, table, chunk, chunk_token)
        return refused

    def _insert_or_bisect(
        self, client: Client, table: str, chunk: Columns, chunk_token: str
    ) -> list[DeadLetter]:
        """Insert ``chunk``; if ClickHouse refuses it for good, insert each half on its own
        (recursively) so that only the rows refused alone become dead letters."""

        def insert(start: int, stop: int) -> list[DeadLetter]:
            whole = start == 0 and stop == size
            rows = chunk if whole else _slice(chunk, start, stop)
            try:
                self._insert(
                    client, table, rows, chunk_token if whole else f"{chunk_token}:r{start}-{stop}"
                )
                return []
            except _Refused as refusal:
                if stop - start == 1:
                    return [_refused_row(table, rows, refusal)]
                logger.warning(
                    "ClickHouse refused %d rows of %s (%r); writing them in halves to find "
                    "the rows it refuses",
                    stop - start,
                    table,
                    refusal.text[:200],
                )
                middle = (start + stop) // 2
                return insert(start, middle) + insert(middle, stop)

        size = _row_count(chunk)
        return insert(0, size)

    def _store_refused(
        self, client: Client, refused: Sequence[DeadLetter], version: int, token: str
    ) -> None:
        columns = _dead_letter_columns(refused, version)
        try:
            for chunk_token, chunk in _split_by_month(
                columns, PARTITION_COLUMNS["dead_letters"], token
            ):
                self._insert(client, "dead_letters", chunk, chunk_token)
        except _Refused as e:
            raise SinkError(
                f"ClickHouse refused the dead letters of {len(refused)} refused rows "
                f"({e.text}): a bug in Miroir's dead_letters schema or rows; report it"
            ) from e

    def _insert(self, client: Client, table: str, columns: Columns, token: str) -> None:
        names = list(columns)
        types = self._column_types[table]
        try:
            type_names = [types[name] for name in names]
        except KeyError as e:
            raise SinkError(
                f"Table {self.database}.{table} has no column {e.args[0]!r}; "
                "migrate the schema (sinks/ddl) before writing"
            ) from e

        def insert() -> Any:
            if self.fault_file is not None and self.fault_file.exists():
                raise ConnectionRefusedError(f"injected outage: {self.fault_file} exists")
            return client.insert(
                table,
                list(columns.values()),
                column_names=names,
                database=self.database,
                column_type_names=type_names,
                column_oriented=True,
                settings=self._insert_settings(token),
            )

        self._retrying(f"insert into {table}", insert)

    def _insert_settings(self, token: str) -> dict[str, Any]:
        """Per-insert settings: the deduplication token; on a cluster also a foreground insert
        into the Distributed table, so that the insert returns only once every shard has its
        rows — offsets are committed after it (docs/clickhouse-cluster.md) — whatever the
        server's profile says."""
        if self.cluster is None:
            return {"insert_deduplication_token": token}
        return {"insert_deduplication_token": token, "distributed_foreground_insert": 1}

    def _backoff(self, attempt: int) -> float:
        return min(self.retry_backoff_max, self.retry_backoff * (2**attempt))

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        """Run ``call``; retry transient failures with capped exponential backoff.

        A stop request never cuts a working write short: it only ends the retrying, with
        ``SinkStopped``, once an attempt has failed (at once, or as soon as the wait after it
        is interrupted). Raises ``SinkUnavailable`` when the retries are spent, ``_Refused``
        (a ``SinkError``) when ClickHouse refuses the rows for good, ``SinkError`` for any
        other lasting failure.
        """
        attempt = 0
        while True:
            try:
                return call()
            except (SinkError, ConfigError, StoreLockedError):
                raise
            except Exception as e:
                failure = _classify(e)
                if failure == "rows":
                    raise _Refused(what, e) from e
                if failure == "fatal":
                    hint = _AUTH_HINT if "AUTHENTICATION_FAILED" in str(e) else ""
                    raise SinkError(f"ClickHouse {what} failed: {_describe_error(e)}{hint}") from e
                self._raise_if_stopping(what, e)
                if attempt >= self.insert_retries:
                    raise SinkUnavailable(
                        f"ClickHouse is unavailable ({what} failed {attempt + 1} times: "
                        f"{_describe_error(e)}); pause, then write the same batch again",
                        retry_after=self._backoff(attempt),
                    ) from e
                delay = self._backoff(attempt)
                logger.warning(
                    "ClickHouse %s failed (%s); retry %d/%d in %.2fs",
                    what,
                    type(e).__name__,
                    attempt + 1,
                    self.insert_retries,
                    delay,
                )
                if self._sleep is None:
                    self._stop.wait(delay)
                else:
                    self._sleep(delay)
                self._raise_if_stopping(what, e)
                attempt += 1

    def _raise_if_stopping(self, what: str, error: BaseException) -> None:
        if self._stop.is_set():
            raise SinkStopped(
                f"Stop requested while ClickHouse was failing ({what}: {_describe_error(error)}):"
                " the batch is not written and must not be acknowledged"
            ) from error


class _Refused(SinkError):
    """ClickHouse refused these rows for good (a constraint, a value it cannot store): retrying
    will not help, writing them in smaller parts may."""

    def __init__(self, what: str, error: BaseException) -> None:
        self.text = " ".join(str(error).split())
        super().__init__(f"ClickHouse {what} failed: {_describe_error(error)}")


# -- DSN and store --------------------------------------------------------------------------
def _parse_dsn(dsn: str) -> _Target:
    scheme, sep, rest = dsn.partition(":")
    scheme = scheme.lower()
    if not sep or not rest:
        raise ConfigError(
            "ClickHouse DSN must look like chdb:///absolute/path, chdb:relative/path "
            "or http(s)://user:password@host:8123"
        )
    if scheme in ("http", "https"):
        parts = urlsplit(dsn)
        if not parts.hostname:
            raise ConfigError("ClickHouse DSN has no host; use http(s)://user:password@host:8123")
        # Drop any database path: the client must connect before that database exists.
        return _Target(client_dsn=urlunsplit(parts._replace(path="")), store_path=None)
    if scheme != "chdb":
        raise ConfigError(f"Unsupported ClickHouse DSN scheme {scheme!r}: use chdb, http or https")
    location, _, options = rest.partition("?")
    if location.startswith("//"):
        location = location[2:]
        if not location.startswith("/"):
            raise ConfigError(
                f"chDB DSN {redact_url(dsn)!r} names a host; use chdb:///absolute/path or "
                "chdb:relative/path"
            )
    if not location or location in ("memory", ":memory:"):
        raise ConfigError("Miroir needs a persistent chDB store: chdb:///absolute/path")
    path = Path(os.path.realpath(location))  # chDB compares store paths literally
    client_dsn = f"chdb://{path}" + (f"?{options}" if options else "")
    return _Target(client_dsn=client_dsn, store_path=path)


def _store_owner(path: Path) -> int | None:
    """PID of the process holding the chDB store's lock, -1 if unknown, None if unlocked."""
    status = path / "status"
    if fcntl is None or not status.exists():
        return None
    try:
        fd = os.open(status, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            match = _STATUS_PID.search(status.read_text(errors="replace"))
            return int(match.group(1)) if match else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _store_locked_message(path: Path, owner: int | None) -> str:
    who = f"process {owner}" if owner and owner > 0 else "another process"
    return (
        f"The embedded ClickHouse store {path} is owned by {who}, usually a running Miroir "
        "worker: chDB lets one process open a store. Stop that worker, or query through it "
        "(its live page or API), or run against a ClickHouse server with an http(s):// DSN."
    )


def _open_store(path: Path, client_dsn: str) -> Client:
    """Open the chDB store, telling a store held elsewhere from other failures."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"Cannot create the chDB store directory {path}: {e}") from e
    owner = _store_owner(path)
    # Our own PID means this process already hosts the store: clients share it.
    if owner is not None and owner != os.getpid():
        raise StoreLockedError(_store_locked_message(path, owner))
    try:
        return clickhouse_connect.get_client(dsn=client_dsn, tz_mode="aware")
    except Exception as e:
        message = str(e)
        if "already initialized with path" in message:
            raise ConfigError(
                f"This process already hosts another chDB store, so it cannot open {path}: "
                "chDB runs one store per process. Close every sink on the other store first, "
                "or use the same path."
            ) from e
        owner = _store_owner(path)
        if "Cannot lock file" in message or owner is not None:
            raise StoreLockedError(_store_locked_message(path, owner)) from e
        raise SinkError(f"Cannot open the chDB store {path}: {_describe_error(e)}") from e


# -- errors ---------------------------------------------------------------------------------
def _classify(error: BaseException) -> Failure:
    """What a failure of a ClickHouse call means: ``transient`` (retry the same call), ``rows``
    (the rows sent are refused for good: write the others) or ``fatal`` (the table, database,
    user or client is unusable, or Miroir has a bug: no row can be written, so stop)."""
    if any(marker in str(error) for marker in _PERMANENT_MESSAGES):
        return "rows"
    if isinstance(error, OSError):
        return "transient"  # connection refused or reset, timeouts
    if isinstance(error, DatabaseError):
        if error.code in TRANSIENT_ERROR_CODES:
            return "transient"
        if error.code in TABLE_ERROR_CODES:
            return "fatal"
        if isinstance(error, OperationalError):
            return "transient"  # network errors, responses clickhouse-connect already retried
        if error.code is None and _HTTP_5XX.search(str(error)):
            return "transient"  # a proxy's 502/503/504
        if error.code is None and isinstance(error, ProgrammingError):
            return "fatal"  # the client's own guards: closed, a stream still open
        return "rows"  # the server refused the data, or the driver could not encode a value
    if isinstance(error, ValueError | TypeError | OverflowError | struct.error):
        return "rows"  # the driver could not encode a value for its column type
    return "fatal"


def _is_transient(error: BaseException) -> bool:
    """True when retrying the same call may succeed."""
    return _classify(error) == "transient"


def _describe_error(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:500]}"


def _close_quietly(client: Client) -> None:
    with contextlib.suppress(Exception):
        client.close()


# -- splitting and refused rows -------------------------------------------------------------
def _utc_month(value: Any) -> int:
    """The UTC month (YYYYMM, as toYYYYMM) of an epoch-ms value; 0 for a value no date has."""
    try:
        moment = (
            _as_utc(value)
            if isinstance(value, datetime)
            else _EPOCH + timedelta(milliseconds=int(value))
        )
    except (OverflowError, TypeError, ValueError):
        return 0  # ClickHouse decides what to do with it; its chunk is bisected if refused
    return moment.year * 100 + moment.month


def _as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _split_by_month(
    columns: Columns, partition_column: str, token: str
) -> list[tuple[str, Columns]]:
    """``columns`` as (token, columns) chunks of at most ``MAX_PARTITIONS_PER_INSERT``
    consecutive months each, oldest first: one chunk under ``token`` itself when it is within
    the limit, else one under ``{token}:m{first_month}-{last_month}`` per chunk. A table
    without partitions (no ``partition_column``) is one chunk."""
    if not partition_column:
        return [(token, columns)]
    months = [_utc_month(value) for value in columns[partition_column]]
    distinct = sorted(set(months))
    if len(distinct) <= MAX_PARTITIONS_PER_INSERT:
        return [(token, columns)]
    chunks = []
    for start in range(0, len(distinct), MAX_PARTITIONS_PER_INSERT):
        group = distinct[start : start + MAX_PARTITIONS_PER_INSERT]
        first, last = group[0], group[-1]
        rows = [i for i, month in enumerate(months) if first <= month <= last]
        chunks.append((f"{token}:m{first}-{last}", _take(columns, rows)))
    return chunks


def _row_count(columns: Columns) -> int:
    return len(next(iter(columns.values()), []))


def _take(columns: Columns, rows: Sequence[int]) -> Columns:
    return {name: [values[i] for i in rows] for name, values in columns.items()}


def _slice(columns: Columns, start: int, stop: int) -> Columns:
    return {name: values[start:stop] for name, values in columns.items()}


def _refused_row(table: str, columns: Columns, refusal: _Refused) -> DeadLetter:
    """The dead letter of the one row in ``columns``, which ClickHouse refused for good."""
    # The row as written, without its version (the write time): the same row always renders,
    # and so hashes, the same way.
    row = {name: _json_value(values[0]) for name, values in columns.items() if name != "version"}
    payload = json.dumps(row, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    digest = hashlib.sha256(payload)
    return DeadLetter(
        topic=f"{_REFUSED_TOPIC_PREFIX}{table}",
        partition=0,
        offset=int.from_bytes(digest.digest()[:8], "big") >> 1,  # 63 bits: an Int64 >= 0
        reason=f"{table}: {refusal.text}"[:_REFUSED_REASON_CHARS],
        payload=payload,
        payload_sha256=digest.hexdigest(),
        seen_at=time.time_ns() // 1_000_000,
        error_kind="store",
    )


def _json_value(value: Any) -> Any:
    """``value`` as JSON can hold it: bytes as hex, datetimes as epoch ms, NaN and inf as text."""
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, datetime):
        return (_as_utc(value) - _EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    return value


# -- rows to columns ------------------------------------------------------------------------
def _alert_columns(alerts: Sequence[MirrorAlert], version: int) -> Columns:
    return {
        "team_id": [a.team_id for a in alerts],
        "window_start": [a.window_start for a in alerts],
        "window_end": [a.window_end for a in alerts],
        "kind": [a.kind for a in alerts],
        "alert_id": [a.alert_id for a in alerts],
        "severity": [a.severity for a in alerts],
        "detector": [a.detector for a in alerts],
        "detector_version": [a.detector_version for a in alerts],
        "message": [a.message for a in alerts],
        "created_at": [a.created_at for a in alerts],
        "dimension": [a.dimension for a in alerts],
        "customer_n": [a.customer_n for a in alerts],
        "employee_n": [a.employee_n for a in alerts],
        "customer_index": [a.customer_index for a in alerts],
        "employee_index": [a.employee_index for a in alerts],
        "customer_baseline": [a.customer_baseline for a in alerts],
        "employee_baseline": [a.employee_baseline for a in alerts],
        "customer_delta": [a.customer_delta for a in alerts],
        "employee_delta": [a.employee_delta for a in alerts],
        "customer_z": [a.customer_z for a in alerts],
        "employee_z": [a.employee_z for a in alerts],
        "evidence": [dict(a.evidence) for a in alerts],
        "episode_id": [a.episode_id for a in alerts],
        "event": [a.event for a in alerts],
        "version": [version] * len(alerts),
    }


def _unit_window_columns(windows: Sequence[UnitWindow], version: int) -> Columns:
    metrics = [w.metrics for w in windows]
    employees = [m.employee for m in metrics]
    return {
        "unit_id": [w.unit_id for w in windows],
        "level": [w.level for w in windows],
        "window_start": [m.window_start for m in metrics],
        "window_end": [m.window_end for m in metrics],
        "teams": [list(w.teams) for w in windows],
        "published_teams": [list(w.published_teams) for w in windows],
        "customer_n": [m.customer.n for m in metrics],
        "customer_index": [m.customer.index for m in metrics],
        "customer_index_se": [m.customer.index_se for m in metrics],
        "employee_suppressed": [int(e is None) for e in employees],
        "employee_n": [e.n if e else None for e in employees],
        "employee_index": [e.index if e else None for e in employees],
        "employee_index_se": [e.index_se if e else None for e in employees],
        "alert_kinds": [list(m.alert_kinds) for m in metrics],
        "version": [version] * len(windows),
    }


def _incident_columns(incidents: Sequence[Incident], version: int) -> Columns:
    del version  # an incident's row version is its own revision
    return {
        "incident_id": [i.incident_id for i in incidents],
        "unit_id": [i.unit_id for i in incidents],
        "level": [i.level for i in incidents],
        "family": [i.family for i in incidents],
        "severity": [i.severity for i in incidents],
        "state": [i.state for i in incidents],
        "opened_window_start": [i.opened_window_start for i in incidents],
        "last_window_end": [i.last_window_end for i in incidents],
        "teams": [list(i.teams) for i in incidents],
        "episode_ids": [list(i.episode_ids) for i in incidents],
        "unit_teams": [i.unit_teams for i in incidents],
        "revision": [i.revision for i in incidents],
    }


def _episode_columns(episodes: Sequence[Episode], version: int) -> Columns:
    del version  # an episode's row version is its own revision
    return {
        "episode_id": [e.episode_id for e in episodes],
        "team_id": [e.team_id for e in episodes],
        "family": [e.family for e in episodes],
        "kind": [e.kind for e in episodes],
        "severity": [e.severity for e in episodes],
        "state": [e.state for e in episodes],
        "opened_window_start": [e.opened_window_start for e in episodes],
        "last_alert_window_start": [e.last_alert_window_start for e in episodes],
        "last_window_end": [e.last_window_end for e in episodes],
        "alerts": [e.alerts for e in episodes],
        "quiet_windows": [e.quiet_windows for e in episodes],
        "peak_customer_delta": [e.peak_customer_delta for e in episodes],
        "peak_employee_delta": [e.peak_employee_delta for e in episodes],
        "detector_version": [e.detector_version for e in episodes],
        "acknowledged_by": [e.acknowledged_by for e in episodes],
        "acknowledged_at": [e.acknowledged_at for e in episodes],
        "resolved_by": [e.resolved_by for e in episodes],
        "note": [e.note for e in episodes],
        "revision": [e.revision for e in episodes],
    }


def _team_window_columns(windows: Sequence[TeamWindowMetrics], version: int) -> Columns:
    columns: Columns = {
        "team_id": [w.team_id for w in windows],
        "window_start": [w.window_start for w in windows],
        "window_end": [w.window_end for w in windows],
        "customer_n": [w.customer.n for w in windows],
        "customer_index": [w.customer.index for w in windows],
        "customer_index_se": [w.customer.index_se for w in windows],
    }
    for name in _CUSTOMER_RAW_COLUMNS:
        columns[name] = [w.customer.raw.get(name) for w in windows]
    columns["customer_components"] = [dict(w.customer.components) for w in windows]
    # The employee side is stored only when k-anonymous; otherwise every value is NULL.
    employees = [_k_anonymous_employee(w) for w in windows]
    columns["employee_suppressed"] = [int(e is None) for e in employees]
    columns["employee_n"] = [e.n if e else None for e in employees]
    columns["employee_index"] = [e.index if e else None for e in employees]
    columns["employee_index_se"] = [e.index_se if e else None for e in employees]
    for raw_name, column in _EMPLOYEE_RAW_COLUMNS.items():
        columns[column] = [e.raw.get(raw_name) if e else None for e in employees]
    columns["employee_components"] = [dict(e.components) if e else {} for e in employees]
    columns["index_version"] = [w.index_version for w in windows]
    columns["late_events"] = [w.late_events for w in windows]
    columns["alert_kinds"] = [list(w.alert_kinds) for w in windows]
    columns["version"] = [version] * len(windows)
    return columns


def _k_anonymous_employee(window: TeamWindowMetrics) -> Any:
    employee = window.employee
    if window.employee_suppressed or employee is None:
        return None
    if employee.n < K_ANONYMITY_FLOOR:
        # The pipeline should have suppressed it; storing it would break k-anonymity.
        logger.warning(
            "Employee side of a team-window under the k-anonymity floor (%d) was not "
            "suppressed upstream; storing it as suppressed",
            K_ANONYMITY_FLOOR,
        )
        return None
    return employee


def _customer_feedback_columns(
    rows: Sequence[tuple[CustomerFeedback, bool]], version: int
) -> Columns:
    feedback = [row for row, _late in rows]
    return {
        "team_id": [f.team_id for f in feedback],
        "event_id": [f.event_id for f in feedback],
        "occurred_at": [f.occurred_at for f in feedback],
        "channel": [f.channel for f in feedback],
        "source": [f.source for f in feedback],
        "customer_ref": [f.customer_ref for f in feedback],
        "tags": [f.tags for f in feedback],  # tuples serialise as arrays as they are
        "language": [f.language for f in feedback],
        "comment": [f.comment for f in feedback],
        "nps": [f.nps for f in feedback],
        "csat": [f.csat for f in feedback],
        "ces": [f.ces for f in feedback],
        "listened": [f.listened for f in feedback],
        "trust": [f.trust for f in feedback],
        "courtesy": [f.courtesy for f in feedback],
        "late": [int(late) for _row, late in rows],
        # A late copy of an event that was counted must not replace the counted row (same
        # event_id, and the latest version wins): late rows carry version 0.
        "version": [0 if late else version for _row, late in rows],
    }


def _dead_letter_columns(letters: Sequence[DeadLetter], version: int) -> Columns:
    return {
        "topic": [d.topic for d in letters],
        "partition": [d.partition for d in letters],
        "offset": [d.offset for d in letters],
        "reason": [d.reason for d in letters],
        "error_kind": [d.error_kind for d in letters],
        "payload": [d.payload for d in letters],
        "payload_sha256": [d.payload_sha256 for d in letters],
        "key": [d.key for d in letters],
        "seen_at": [d.seen_at for d in letters],
        "version": [version] * len(letters),
    }


def _employee_comment_columns(comments: Sequence[EmployeeComment], version: int) -> Columns:
    return {
        "comment_id": [
            hashlib.sha256(f"{c.team_id}\x1f{c.window_start}\x1f{c.comment}".encode()).hexdigest()
            for c in comments
        ],
        "team_id": [c.team_id for c in comments],
        "window_start": [c.window_start for c in comments],
        "window_end": [c.window_end for c in comments],
        "comment": [c.comment for c in comments],
        "version": [version] * len(comments),
    }


def _late_event_columns(events: Sequence[LateEvent | DuplicateEvent], version: int) -> Columns:
    """Events recorded by their source coordinates, one row each (``sum(events)`` counts)."""
    return {
        "team_id": [e.team_id for e in events],
        "window_start": [e.window_start for e in events],
        "side": [e.side for e in events],
        "source_topic": [e.source_topic for e in events],
        "source_partition": [e.source_partition for e in events],
        "source_offset": [e.source_offset for e in events],
        "events": [1] * len(events),
        "version": [version] * len(events),
    }


def _duplicate_event_columns(events: Sequence[DuplicateEvent], version: int) -> Columns:
    """Like late events, and why each did not count."""
    return {**_late_event_columns(events, version), "kind": [e.kind for e in events]}


def _backfill_run_columns(runs: Sequence[BackfillRun], version: int) -> Columns:
    return {
        "run_id": [r.run_id for r in runs],
        "state": [r.state for r in runs],
        "started_at": [r.started_at for r in runs],
        "finished_at": [r.finished_at for r in runs],
        "from_time": [r.from_ms for r in runs],
        "to_time": [r.to_ms for r in runs],
        "source": [r.source for r in runs],
        "detectors": [list(r.detectors) for r in runs],
        "events": [r.events for r in runs],
        "alerts": [r.alerts for r in runs],
        "windows": [r.windows for r in runs],
        "note": [r.note for r in runs],
        "version": [version] * len(runs),
    }


def _tag_rows(batch: SinkBatch) -> list[tuple[TeamWindowMetrics, str, SideMetrics]]:
    return [(w, tag, side) for w in batch.team_windows for tag, side in w.customer_tags]


def _customer_tag_columns(
    rows: Sequence[tuple[TeamWindowMetrics, str, SideMetrics]], version: int
) -> Columns:
    columns: Columns = {
        "team_id": [w.team_id for w, _tag, _side in rows],
        "window_start": [w.window_start for w, _tag, _side in rows],
        "window_end": [w.window_end for w, _tag, _side in rows],
        "tag": [tag for _w, tag, _side in rows],
        "customer_n": [side.n for _w, _tag, side in rows],
        "customer_index": [side.index for _w, _tag, side in rows],
        "customer_index_se": [side.index_se for _w, _tag, side in rows],
    }
    for name in _CUSTOMER_RAW_COLUMNS:
        columns[name] = [side.raw.get(name) for _w, _tag, side in rows]
    columns["index_version"] = [w.index_version for w, _tag, _side in rows]
    columns["version"] = [version] * len(rows)
    return columns


def _team_columns(rows: Sequence[tuple[str, TeamInfo | None]], version: int) -> Columns:
    placed = [(team_id, info or OrgChart().place(team_id)) for team_id, info in rows]
    return {
        "team_id": [team_id for team_id, _info in placed],
        "display_name": [info.display_name for _id, info in placed],
        "unit_id": [UNIT_SEPARATOR.join(info.path) for _id, info in placed],
        "unit_path": [list(info.path) for _id, info in placed],
        "levels": [[info.level(d) for d in range(len(info.path))] for _id, info in placed],
        "removed": [int(info is None) for _id, info in rows],
        "version": [version] * len(rows),
    }


# What write() inserts, in order: table, its rows in a batch, and their columns. Also the
# columns open() checks each table has.
_WRITERS: Final[
    tuple[tuple[str, Callable[[SinkBatch], Sequence[Any]], Callable[[Any, int], Columns]], ...]
] = (
    ("mirror_alerts", lambda batch: batch.alerts, _alert_columns),
    ("team_window_metrics", lambda batch: batch.team_windows, _team_window_columns),
    ("customer_feedback", lambda batch: batch.customer_feedback, _customer_feedback_columns),
    ("dead_letters", lambda batch: batch.dead_letters, _dead_letter_columns),
    ("late_events", lambda batch: batch.late_events, _late_event_columns),
    ("duplicate_events", lambda batch: batch.duplicate_events, _duplicate_event_columns),
    ("employee_comments", lambda batch: batch.employee_comments, _employee_comment_columns),
    ("episodes", lambda batch: batch.episodes, _episode_columns),
    ("unit_window_metrics", lambda batch: batch.unit_windows, _unit_window_columns),
    ("incidents", lambda batch: batch.incidents, _incident_columns),
    ("backfill_runs", lambda batch: batch.backfill_runs, _backfill_run_columns),
    ("customer_tag_metrics", _tag_rows, _customer_tag_columns),
    ("teams", lambda batch: batch.teams, _team_columns),
)
