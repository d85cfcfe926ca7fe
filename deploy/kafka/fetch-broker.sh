#!/usr/bin/env bash
# Fetch the Apache Kafka broker jars (KRaft, no ZooKeeper) from Maven Central into a cache
# outside the repository, so tests and CI can start a real single-node broker.
#
#   deploy/kafka/fetch-broker.sh            # prints the libs directory when done
#   MIROIR_KAFKA_VERSION=4.1.1 deploy/kafka/fetch-broker.sh
#
# Needs Java 17+ and Maven. Idempotent: a complete cache is reused without touching the network.
# The cache also gets config/log4j2.properties (from this directory), next to libs/.
set -euo pipefail

version="${MIROIR_KAFKA_VERSION:-4.1.1}"
cache_root="${MIROIR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/miroir}"
target="$cache_root/kafka-$version"
libs="$target/libs"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Bump when the dependency list below changes, so an older cache is re-resolved instead of reused.
recipe="2 log4j-slf4j-impl"

install_config() {
  mkdir -p "$target/config"
  cp "$here/log4j2.properties" "$target/config/log4j2.properties"
}

if [[ -f "$target/.complete" && "$(cat "$target/.complete")" == "$recipe" ]]; then
  install_config
  echo "$libs"
  exit 0
fi

command -v mvn >/dev/null || { echo "fetch-broker: Maven (mvn) is required" >&2; exit 1; }
command -v java >/dev/null || { echo "fetch-broker: Java 17+ is required" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A stale or partial cache would leave conflicting jars (e.g. two SLF4J bindings) on the classpath.
rm -rf "$libs" "$target/.complete"
mkdir -p "$libs"
# A throw-away POM whose only job is to resolve the broker and its runtime dependencies.
cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>miroir</groupId>
  <artifactId>kafka-broker-fetch</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$version</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <!-- Kafka ships slf4j-api 1.7, so it needs the SLF4J 1.x binding; the slf4j2 one is ignored
           and logging falls back to NOP. -->
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>2.24.3</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>2.24.3</version>
    </dependency>
  </dependencies>
</project>
POM
echo "fetch-broker: resolving org.apache.kafka:kafka_2.13:$version from Maven Central ..." >&2
mvn -B -q -f "$work/pom.xml" dependency:copy-dependencies \
  -DoutputDirectory="$libs" -DincludeScope=runtime >&2
install_config
echo "$recipe" >"$target/.complete"
echo "$libs"
