-- No FINAL: it would read the version column too, which the BI role is not granted; grouping
-- on the row identity collapses a dead letter written twice just the same.
-- Dead letters without their contents: what BI may see of them (counts by topic, kind and time).
CREATE OR REPLACE VIEW {database}.v_dead_letters
(
    seen_at     DateTime('UTC') COMMENT 'Wall-clock time the record was rejected (UTC)',
    topic       String          COMMENT 'Source topic, or clickhouse:<table> for a row the store refused',
    `partition` Int32           COMMENT 'Source partition',
    `offset`    Int64           COMMENT 'Source offset (re-run the record from here)',
    error_kind  String          COMMENT 'undecodable | schema | range | no_score | late | oversize | invalid | future | too_old | duplicate | webhook | store'
)
COMMENT 'Dead letters, one row per source record, without reason, payload or key: the BI role may read these columns of dead_letters only. Data engineers read dead_letters itself.'
AS SELECT
    toDateTime(min(seen_at), 'UTC') AS seen_at,
    CAST(topic, 'String') AS topic,
    `partition`,
    `offset`,
    CAST(any(error_kind), 'String') AS error_kind
FROM {database}.dead_letters
GROUP BY topic, `partition`, `offset`
