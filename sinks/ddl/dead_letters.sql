-- Every record the pipeline could not use, and every row ClickHouse refused for good, with where
-- it came from and why. Holds record contents (re-keyed): not readable by the BI role.
CREATE TABLE IF NOT EXISTS {database}.dead_letters
(
    topic          LowCardinality(String) COMMENT 'Source Kafka topic, or clickhouse:<table> for a row the store refused',
    `partition`    Int32                  COMMENT 'Source Kafka partition (0 for a row the store refused)',
    `offset`       Int64                  COMMENT 'Source Kafka offset: re-run the record from here. For a row the store refused, a 63-bit hash of payload (its identity)',
    reason         String                 COMMENT 'Why the record could not be used, in plain words',
    error_kind     LowCardinality(String) COMMENT 'undecodable | schema | range | no_score | late | oversize | invalid | future | too_old | duplicate | webhook | store',
    payload        Nullable(String)       COMMENT 'A JSON rendering safe to store: customer records that decoded, with customer_ref re-keyed; rows the store refused (topic clickhouse:<table>); NULL for employee pulses and for signal bytes that could not be decoded — the original bytes stay on the dead-letter topic only. Dead letters of the alerts topic (failed webhook deliveries, undecodable alert records) keep the alert bytes: alerts hold no personal data',
    payload_sha256 String                 COMMENT 'Hex SHA-256 of the original record bytes, also when payload is NULL; for rows the store refused, of payload',
    key            Nullable(String)       COMMENT 'Original Kafka key bytes',
    seen_at        DateTime64(3, 'UTC')   COMMENT 'Wall-clock time the record was rejected (UTC)',
    version        UInt64                 COMMENT 'Row version (write time, epoch ms)'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(seen_at)
ORDER BY (topic, `partition`, `offset`)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Dead letters: one row per unusable record (topic, partition, offset), or per row the store refused (topic clickhouse:<table>). Holds record contents: data engineers only, not BI.'
