-- One row per `miroir backfill` run (its latest state wins; query with FINAL): what it read,
-- with which detectors, and what it wrote. Rows a run wrote carry its run_id.
CREATE TABLE IF NOT EXISTS {database}.backfill_runs
(
    run_id      String                         COMMENT 'The run id: deterministic from the source, the time range and the detectors unless given; rows the run wrote carry it in their run_id column',
    state       LowCardinality(String)         COMMENT 'running | done | failed | stopped',
    started_at  DateTime64(3, 'UTC')           COMMENT 'Wall-clock start of the run (UTC)',
    finished_at Nullable(DateTime64(3, 'UTC')) COMMENT 'Wall-clock end of the run; NULL while running',
    from_time   DateTime64(3, 'UTC')           COMMENT 'Event time the run read from, inclusive',
    to_time     Nullable(DateTime64(3, 'UTC')) COMMENT 'Event time it read up to, exclusive; NULL: the end of the topics when it started',
    source      String                         COMMENT 'kafka:<topics> or file:<path>',
    detectors   Array(String)                  COMMENT 'Detector plug-ins the run used',
    events      UInt64                         COMMENT 'Events read',
    alerts      UInt64                         COMMENT 'Alerts written',
    windows     UInt64                         COMMENT 'Team-windows closed and written',
    note        String                         COMMENT 'Why a run failed or stopped, in plain words; empty otherwise',
    version     UInt64                         COMMENT 'Row version (write time, epoch ms): the latest state of a run wins'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(started_at)
ORDER BY run_id
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Backfill runs (miroir backfill): one row per run in its latest state. Use FINAL.'
