-- Read-only access to Miroir's tables for BI tools (Grafana, Superset, Metabase).
--
-- Run it with bi_readonly_role.sh next to this file: it fills in the password of the Grafana
-- user from MIROIR_BI_PASSWORD (the variable Grafana's datasource reads too), as a salted
-- SHA-256, so the password itself is never in the SQL (docs/deploy.md, "The BI password"):
--     MIROIR_BI_PASSWORD=... CLICKHOUSE_HOST=... CLICKHOUSE_USER=admin CLICKHOUSE_PASSWORD=... \
--         deploy/clickhouse/bi_readonly_role.sh
-- docker-compose runs that script once, on an empty ClickHouse volume; on Kubernetes the Job in
-- deploy/kubernetes/bi-role-job.yaml does, with the password from a Secret.
--
-- By hand instead: replace @BI_PASSWORD_SALT@ with a random salt and @BI_PASSWORD_SHA256@ with
-- the hex SHA-256 of the password followed by that salt, e.g.
--     salt=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
--     printf '%s%s' "$password" "$salt" | sha256sum
-- then run it as an administrator (a user with access_management = 1):
--     clickhouse-client --multiquery < bi_readonly_role.sql
-- Left as they are, the placeholders are not a hash: CREATE USER fails, and no user is created
-- with a password anyone could read here.
--
-- What this grants: SELECT on database miroir, except the contents of dead_letters. The employee
-- side reaches ClickHouse only as k-anonymous team-window aggregates (no pulse rows), but
-- dead_letters holds record contents (customer records as re-keyed JSON, rows the store
-- refused): BI users may read only the columns v_dead_letters shows (no key, payload or reason).
-- Not for chDB (the embedded engine has no users): there, readers go through the worker.

-- Guard rails shared by every BI user. readonly = 1 refuses any write or DDL, and any change of
-- a setting not marked CHANGEABLE_IN_READONLY, so a dashboard cannot lift the limits below.
-- The one exception, max_execution_time: Grafana's ClickHouse plugin sends it with every query,
-- as its query timeout + 5 s (clickhouse-go, context.go: max_execution_time = deadline + 5), and
-- its documentation asks for exactly this, readonly = 1 plus max_execution_time
-- CHANGEABLE_IN_READONLY, not readonly = 2, which would let a query change every other setting
-- (grafana/clickhouse-datasource docs/sources/configure.md, "Required SETTINGS permissions";
-- https://grafana.com/docs/plugins/grafana-clickhouse-datasource/latest/configure/). MIN 1 keeps
-- 0 (no limit) out and MAX 60 keeps the ceiling, hence the datasource's queryTimeout of 55
-- (deploy/grafana/provisioning/datasources/clickhouse.yaml). CHANGEABLE_IN_READONLY needs the
-- server's access_control_improvements.settings_constraints_replace_previous = true, the
-- default in the config.xml ClickHouse ships (and the official image uses).
-- The other limits are pinned too (MIN 1 so that 0, "unlimited", is refused; CONST), so they stay
-- ceilings even if someone relaxes readonly later. They keep a runaway dashboard query from
-- starving the pipeline's inserts.
CREATE SETTINGS PROFILE IF NOT EXISTS miroir_bi_profile SETTINGS
    readonly = 1,
    max_execution_time = 60 MIN 1 MAX 60 CHANGEABLE_IN_READONLY,
    max_memory_usage = 4000000000 MIN 1 MAX 4000000000,
    max_result_rows = 1000000 MIN 1 MAX 1000000,
    result_overflow_mode = 'throw' CONST,
    max_concurrent_queries_for_user = 8 MIN 1 MAX 8;
-- On a server where the profile exists already, change it with ALTER SETTINGS PROFILE
-- miroir_bi_profile SETTINGS ... (IF NOT EXISTS leaves it alone).

-- The role: SELECT only, on Miroir's database only.
CREATE ROLE IF NOT EXISTS miroir_bi_reader;
GRANT SELECT ON miroir.* TO miroir_bi_reader;
-- Except the dead letters (a partial revoke: tables created later stay readable). They hold
-- record payloads, and the reasons quote rows: data engineers read them with their own user.
REVOKE SELECT ON miroir.dead_letters FROM miroir_bi_reader;
-- On a cluster (MIROIR_CLICKHOUSE_CLUSTER) the rows live in dead_letters_local behind the
-- Distributed dead_letters; a grant may name a table that does not exist, so this is harmless
-- on one node.
REVOKE SELECT ON miroir.dead_letters_local FROM miroir_bi_reader;
-- What v_dead_letters reads (counts by topic, kind and time, no contents): views run with the
-- reader's rights, so the role needs these columns of dead_letters and no others.
GRANT SELECT(seen_at, topic, `partition`, `offset`, error_kind) ON miroir.dead_letters TO miroir_bi_reader;
GRANT SELECT(seen_at, topic, `partition`, `offset`, error_kind) ON miroir.dead_letters_local TO miroir_bi_reader;
-- Employee comments (only with MIROIR_STORE_EMPLOYEE_COMMENTS, only for windows of >= 10
-- respondents) are free text employees wrote: a sentence can name its author. They are for the
-- HR people entitled to them, granted one by one, not for every dashboard user.
REVOKE SELECT ON miroir.employee_comments FROM miroir_bi_reader;
REVOKE SELECT ON miroir.employee_comments_local FROM miroir_bi_reader;
-- SELECT implies seeing those tables in SHOW TABLES and system.tables / system.columns, with
-- the COMMENTs that explain every table and column; nothing else is visible.

-- One user per tool; repeat for superset / metabase with their own passwords. OR REPLACE: a
-- rerun applies the current password (and drops what was granted to the user directly: grant
-- to the role, which the next statements give back).
CREATE USER OR REPLACE miroir_grafana
    IDENTIFIED WITH sha256_hash BY '@BI_PASSWORD_SHA256@' SALT '@BI_PASSWORD_SALT@'
    DEFAULT DATABASE miroir
    SETTINGS PROFILE 'miroir_bi_profile';
GRANT miroir_bi_reader TO miroir_grafana;
SET DEFAULT ROLE miroir_bi_reader TO miroir_grafana;

-- Remove with:
--     DROP USER IF EXISTS miroir_grafana;
--     DROP ROLE IF EXISTS miroir_bi_reader;
--     DROP SETTINGS PROFILE IF EXISTS miroir_bi_profile;
