-- Events that arrived after their team-window had closed, counted per team, window and side.
CREATE TABLE IF NOT EXISTS {database}.late_events
(
    team_id      String                 COMMENT 'Team',
    window_start DateTime64(3, 'UTC')   COMMENT 'Start of the already-closed window the events belonged to (UTC)',
    side         LowCardinality(String) COMMENT 'customer | employee',
    events       UInt64                 COMMENT 'Number of late events; rows are summed on merge, so read sum(events)'
)
ENGINE = SummingMergeTree(events)
PARTITION BY toYYYYMM(window_start)
ORDER BY (team_id, window_start, side)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Late events per team, window and side. Always aggregate: SELECT sum(events) ... GROUP BY ...'
