#!/usr/bin/env bash
# Miroir's test command (the one the README names): set up .venv, fetch the Kafka broker jars,
# run pytest. Extra arguments go to pytest, e.g. `scripts/test.sh tests/unit -q`.
#
# Needs Python 3.11+, Java 17+ and Maven (the broker jars are fetched once from Maven Central
# into ~/.cache/miroir, outside the repository). Safe to run repeatedly: the venv is reused and
# only reinstalled when pyproject.toml changes.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

say() { echo "test.sh: $*" >&2; }
die() { echo "test.sh: error: $*" >&2; exit 1; }

venv="$repo/.venv"
python="${PYTHON:-python3}"

command -v "$python" >/dev/null || die "$python not found; install Python 3.11+ or set PYTHON=/path/to/python3.11"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$("$python" --version 2>&1) is too old; Miroir needs Python 3.11+ (set PYTHON=...)"
command -v java >/dev/null \
  || die "Java 17+ is required to run the real Kafka broker (e.g. apt-get install openjdk-17-jre-headless)"
command -v mvn >/dev/null \
  || die "Maven is required to fetch the Kafka broker jars (e.g. apt-get install maven)"

if [[ ! -x "$venv/bin/python" ]]; then
  say "creating $venv with $("$python" --version 2>&1)"
  "$python" -m venv "$venv"
fi

# Reinstall only when the dependency list changed since the last install into this venv.
stamp="$venv/.miroir-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  say "installing -e '.[dev]' into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]'
  echo "$want" >"$stamp"
else
  say "$venv is up to date with pyproject.toml"
fi

say "fetching the Apache Kafka broker jars (cached after the first run)"
libs="$(deploy/kafka/fetch-broker.sh)"
say "Kafka jars in $libs"

say "running: $venv/bin/python -m pytest $*"
exec "$venv/bin/python" -m pytest "$@"
