#!/usr/bin/env bash
# Fetch the Apache Kafka broker jars (KRaft, no ZooKeeper) from Maven Central into a cache
# outside the repository, so tests and CI can start a real single-node broker.
#
#   deploy/kafka/fetch-broker.sh            # prints the libs directory when done
#   MIROIR_KAFKA_VERSION=4.1.1 deploy/kafka/fetch-broker.sh
#
# Needs Java 17+ and Maven. Idempotent: a complete cache is reused without touching the network.
set -euo pipefail

version="${MIROIR_KAFKA_VERSION:-4.1.1}"
cache_root="${MIROIR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/miroir}"
target="$cache_root/kafka-$version"
libs="$target/libs"

if [[ -f "$target/.complete" ]]; then
  echo "$libs"
  exit 0
fi

command -v mvn >/dev/null || { echo "fetch-broker: Maven (mvn) is required" >&2; exit 1; }
command -v java >/dev/null || { echo "fetch-broker: Java 17+ is required" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
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
      <artifactId>log4j-slf4j2-impl</artifactId>
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
touch "$target/.complete"
echo "$libs"
