-- Every record the pipeline could not use, with where it came from and why.
CREATE TABLE IF NOT EXISTS {database}.dead_letters
(
    topic          LowCardinality(String) COMMENT 'Source Kafka topic',
    `partition`    Int32                  COMMENT 'Source Kafka partition',
    `offset`       Int64                  COMMENT 'Source Kafka offset: re-run the record from here',
    reason         String                 COMMENT 'Why the record could not be used, in plain words',
    error_kind     LowCardinality(String) COMMENT 'undecodable | schema | range | no_score | late | oversize | invalid',
    payload        Nullable(String)       COMMENT 'Original record bytes (binary). NULL for employee pulses: personal data stays on the dead-letter topic only',
    payload_sha256 String                 COMMENT 'Hex SHA-256 of the original bytes, also for employee pulses',
    key            Nullable(String)       COMMENT 'Original Kafka key bytes',
    seen_at        DateTime64(3, 'UTC')   COMMENT 'Wall-clock time the record was rejected (UTC)',
    version        UInt64                 COMMENT 'Row version (write time, epoch ms)'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(seen_at)
ORDER BY (topic, `partition`, `offset`)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Dead letters: one row per unusable record (topic, partition, offset). Read payload with hex() or as bytes.'
