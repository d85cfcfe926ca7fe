-- Events that arrived after their team-window had closed: one row per late event, by its source
-- coordinates, so that a batch replayed after a crash counts each late event once. No answers,
-- no references: count them per team, window and side.
CREATE TABLE IF NOT EXISTS {database}.late_events
(
    team_id          String                 COMMENT 'Team',
    window_start     DateTime64(3, 'UTC')   COMMENT 'Start of the already-closed window the event belonged to (UTC)',
    side             LowCardinality(String) COMMENT 'customer | employee',
    source_topic     LowCardinality(String) COMMENT 'Topic the late event was read from',
    source_partition UInt32                 COMMENT 'Its partition',
    source_offset    UInt64                 COMMENT 'Its offset: with topic and partition, the row identity',
    events           UInt8                  COMMENT 'Always 1, so that sum(events) counts late events',
    version          UInt64                 COMMENT 'Row version (write time, epoch ms)'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (team_id, window_start, side, source_topic, source_partition, source_offset)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Late events. Count them: SELECT team_id, window_start, side, sum(events) FROM late_events FINAL GROUP BY ALL'
