#!/bin/bash
# Creates Miroir's read-only BI role and its Grafana user (bi_readonly_role.sql) with the
# password in MIROIR_BI_PASSWORD, the variable Grafana's datasource reads, so the two agree.
#
# Where it runs:
#   docker-compose  mounted into /docker-entrypoint-initdb.d/ of the official ClickHouse image,
#                   which runs it once, on an empty data volume (executed when it has its exec
#                   bit, sourced otherwise: both work);
#   Kubernetes      the Job in deploy/kubernetes/bi-role-job.yaml;
#   by hand         MIROIR_BI_PASSWORD=... CLICKHOUSE_HOST=... CLICKHOUSE_USER=... \
#                   CLICKHOUSE_PASSWORD=... deploy/clickhouse/bi_readonly_role.sh
#
# The password reaches neither the SQL nor a command line nor the output: the SQL gets its
# salted SHA-256 (ClickHouse's sha256_hash ... SALT), computed by piping it into sha256sum.
#
# Environment:
#   MIROIR_BI_PASSWORD   the Grafana user's password (required, at least 12 characters)
#   CLICKHOUSE_HOST      server to run it on (default 127.0.0.1: the image's init phase)
#   CLICKHOUSE_PORT      its native-protocol port (default 9000, or 9440 with CLICKHOUSE_SECURE=1)
#   CLICKHOUSE_SECURE    1: connect with TLS
#   CLICKHOUSE_USER      an administrator (access_management = 1), default "default"
#   CLICKHOUSE_PASSWORD  its password (default empty)
#   BI_ROLE_SQL          the SQL template (default: bi_readonly_role.sql beside this script)

# The body runs in a subshell: when the image's entrypoint sources this file, `set -u` and `exit`
# stay in here, and a failure still stops the entrypoint (which runs with `set -e`).
miroir_bi_readonly_role() (
    set -euo pipefail
    local name="bi_readonly_role.sh"
    fail() {
        echo "$name: $*" >&2
        exit 1
    }

    local password="${MIROIR_BI_PASSWORD:-}"
    if [[ -z "$password" ]]; then
        fail "MIROIR_BI_PASSWORD is not set or empty: set it to the password Grafana's" \
            "datasource uses for miroir_grafana (e.g. openssl rand -hex 16; docs/deploy.md)"
    fi
    if (( ${#password} < 12 )); then
        fail "MIROIR_BI_PASSWORD is shorter than 12 characters: choose a longer one" \
            "(e.g. openssl rand -hex 16)"
    fi

    local template="${BI_ROLE_SQL:-$(dirname "${BASH_SOURCE[0]}")/bi_readonly_role.sql}"
    [[ -r "$template" ]] || fail "cannot read the SQL template $template (set BI_ROLE_SQL)"
    local sql
    sql="$(<"$template")"
    local placeholder
    for placeholder in @BI_PASSWORD_SALT@ @BI_PASSWORD_SHA256@; do
        [[ "$sql" == *"$placeholder"* ]] || fail "$template has no $placeholder placeholder"
    done

    # A fresh random salt each run; sha256sum reads password and salt from a pipe (printf is a
    # shell builtin, so neither appears in a process's arguments).
    local salt hash
    salt="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    hash="$(printf '%s%s' "$password" "$salt" | sha256sum | cut -d ' ' -f 1)"
    [[ "$hash" =~ ^[0-9a-f]{64}$ ]] || fail "could not hash the password (sha256sum missing?)"
    sql="${sql//@BI_PASSWORD_SALT@/$salt}"
    sql="${sql//@BI_PASSWORD_SHA256@/$hash}"

    local client=(
        clickhouse-client --multiquery
        --host "${CLICKHOUSE_HOST:-127.0.0.1}"
        --user "${CLICKHOUSE_USER:-default}"
    )
    if [[ "${CLICKHOUSE_SECURE:-0}" == "1" ]]; then
        client+=(--secure --port "${CLICKHOUSE_PORT:-9440}")
    else
        client+=(--port "${CLICKHOUSE_PORT:-9000}")
    fi
    if [[ -n "${CLICKHOUSE_PASSWORD:-}" ]]; then
        client+=(--password "$CLICKHOUSE_PASSWORD")
    fi
    printf '%s\n' "$sql" | "${client[@]}"
    echo "$name: role miroir_bi_reader and user miroir_grafana are in place" \
        "on ${CLICKHOUSE_HOST:-127.0.0.1}"
)

miroir_bi_readonly_role
