-- Read-only access to Miroir's tables for BI tools (Grafana, Superset, Metabase).
--
-- Run once on the ClickHouse server as an administrator (a user with access_management = 1):
--     clickhouse-client --multiquery < deploy/clickhouse/bi_readonly_role.sql
-- Change the password first (or use ... IDENTIFIED WITH sha256_hash BY '<hash>'), and give
-- each tool its own user granted the same role so access can be revoked tool by tool.
--
-- What this grants: SELECT on database miroir except the dead_letters table, nothing else.
-- The employee side reaches ClickHouse only as k-anonymous team-window aggregates (no pulse
-- rows), but dead_letters holds record contents (customer records as re-keyed JSON, rows the
-- store refused): it is for data engineers, so BI users cannot read it (REVOKE below).
-- Not for chDB (the embedded engine has no users): there, readers go through the worker.

-- Guard rails shared by every BI user: readonly = 1 refuses any write, DDL or settings change,
-- so the limits below cannot be lifted from a dashboard either. A tool that insists on sending
-- query settings needs readonly = 2 instead: then also pin each limit (e.g.
-- "max_execution_time = 60 MAX 60") so it stays a ceiling.
-- The limits keep a runaway dashboard query from starving the pipeline's inserts.
CREATE SETTINGS PROFILE IF NOT EXISTS miroir_bi_profile SETTINGS
    readonly = 1,
    max_execution_time = 60,
    max_memory_usage = 4000000000,
    max_result_rows = 1000000,
    result_overflow_mode = 'throw',
    max_concurrent_queries_for_user = 8;

-- The role: SELECT only, on Miroir's database only.
CREATE ROLE IF NOT EXISTS miroir_bi_reader;
GRANT SELECT ON miroir.* TO miroir_bi_reader;
-- Except the dead letters (a partial revoke: tables created later stay readable). They hold
-- record payloads, and the reasons quote rows: data engineers read them with their own user.
REVOKE SELECT ON miroir.dead_letters FROM miroir_bi_reader;
-- SELECT implies seeing those tables in SHOW TABLES and system.tables / system.columns, with
-- the COMMENTs that explain every table and column; nothing else is visible.

-- One user per tool; repeat for superset / metabase with their own passwords.
CREATE USER IF NOT EXISTS miroir_grafana
    IDENTIFIED WITH sha256_password BY 'change-me'
    DEFAULT DATABASE miroir
    SETTINGS PROFILE 'miroir_bi_profile';
GRANT miroir_bi_reader TO miroir_grafana;
SET DEFAULT ROLE miroir_bi_reader TO miroir_grafana;

-- Remove with:
--     DROP USER IF EXISTS miroir_grafana;
--     DROP ROLE IF EXISTS miroir_bi_reader;
--     DROP SETTINGS PROFILE IF EXISTS miroir_bi_profile;
