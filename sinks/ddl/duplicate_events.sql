-- Events that did not count because their window already held them: one row per duplicate, by
-- its source coordinates, so that a batch replayed after a crash counts each duplicate once.
-- No answers, no references: count them per team, window, side and kind.
CREATE TABLE IF NOT EXISTS {database}.duplicate_events
(
    team_id          String                 COMMENT 'Team',
    window_start     DateTime64(3, 'UTC')   COMMENT 'Start of the window that already held the event (UTC)',
    side             LowCardinality(String) COMMENT 'customer | employee',
    kind             LowCardinality(String) COMMENT 'event: its event_id was already counted in the window (a producer re-sent it) | respondent: an employee pulse of a person who already answered in this window (one person counts once: their latest pulse by event time is kept)',
    source_topic     LowCardinality(String) COMMENT 'Topic the duplicate was read from',
    source_partition UInt32                 COMMENT 'Its partition',
    source_offset    UInt64                 COMMENT 'Its offset: with topic and partition, the row identity',
    events           UInt8                  COMMENT 'Always 1, so that sum(events) counts duplicates',
    version          UInt64                 COMMENT 'Row version (write time, epoch ms)'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
-- kind stays out of the key: one source record is one duplicate, whatever it was counted as.
ORDER BY (team_id, window_start, side, source_topic, source_partition, source_offset)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Duplicate events (not counted twice). Count them: SELECT team_id, window_start, side, kind, sum(events) FROM duplicate_events FINAL GROUP BY ALL'
