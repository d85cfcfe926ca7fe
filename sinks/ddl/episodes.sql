-- One row per team episode: a problem from its first alert to its resolution (query with FINAL).
CREATE TABLE IF NOT EXISTS {database}.episodes
(
    episode_id              String                     COMMENT 'Deterministic id (team, kind family, opening window, detector version)',
    team_id                 String                     COMMENT 'Team the episode is about',
    family                  LowCardinality(String)     COMMENT 'fall (mirror_decline, inner_warning, outer_warning) | rise (mirror_rise) | gap (symmetry_gap) | a custom kind',
    kind                    LowCardinality(String)     COMMENT 'Kind of the latest alert of the episode',
    severity                LowCardinality(String)     COMMENT 'Highest severity reached: critical | warning | info',
    state                   LowCardinality(String)     COMMENT 'open | resolved',
    opened_window_start     DateTime64(3, 'UTC')       COMMENT 'Start of the window that opened the episode (UTC)',
    last_alert_window_start DateTime64(3, 'UTC')       COMMENT 'Start of the newest window that raised an alert of the episode',
    last_window_end         DateTime64(3, 'UTC')       COMMENT 'End of the newest window that touched the episode (the resolving window once resolved)',
    alerts                  UInt32                     COMMENT 'Windows that raised an alert of the episode',
    quiet_windows           UInt32                     COMMENT 'Windows in a row without an alert of the episode (it resolves after MIROIR_EPISODE_RESOLVE_AFTER)',
    peak_customer_delta     Nullable(Float64)          COMMENT 'Largest move of C from its baseline during the episode, index points (in the family''s direction)',
    peak_employee_delta     Nullable(Float64)          COMMENT 'Largest move of E from its baseline during the episode, index points',
    detector_version        LowCardinality(String)     COMMENT 'Version of the detector that opened the episode, part of episode_id',
    acknowledged_by         Nullable(String)           COMMENT 'Who acknowledged the episode (miroir ack, the live page); NULL when nobody did',
    acknowledged_at         Nullable(DateTime64(3, 'UTC')) COMMENT 'When it was acknowledged (UTC)',
    resolved_by             Nullable(String)           COMMENT 'Who resolved it by hand; NULL when open or when Miroir resolved it after quiet windows',
    note                    Nullable(String)           COMMENT 'The latest note given by hand',
    revision                UInt32                     COMMENT 'Events the episode went through: the highest revision is its current state',
    run_id LowCardinality(String) DEFAULT '' COMMENT 'The miroir backfill run that wrote the row (see backfill_runs); empty for the live worker'
)
ENGINE = ReplacingMergeTree(revision)
PARTITION BY toYYYYMM(opened_window_start)
ORDER BY (team_id, episode_id)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Team episodes, one row per episode in its latest state (use FINAL). An episode opens on a team''s first alert of a kind family, is updated while alerts continue (no new page), escalates when its severity rises, and resolves after quiet windows or by hand.'
