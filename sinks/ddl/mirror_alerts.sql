-- Mirror-effect alerts, one row per alert (re-emissions collapse on alert_id; query with FINAL).
CREATE TABLE IF NOT EXISTS {database}.mirror_alerts
(
    team_id           String                     COMMENT 'Team the alert is about (Kafka key of both signal topics)',
    window_start      DateTime64(3, 'UTC')       COMMENT 'Start of the event-time window, inclusive (UTC)',
    window_end        DateTime64(3, 'UTC')       COMMENT 'End of the event-time window, exclusive (UTC)',
    kind              LowCardinality(String)     COMMENT 'mirror_decline | mirror_rise | inner_warning | outer_warning | symmetry_gap | custom detector kinds',
    alert_id          String                     COMMENT 'Deterministic id (team, window, kind, detector version): a replayed alert replaces itself',
    severity          LowCardinality(String)     COMMENT 'critical | warning | info',
    detector          LowCardinality(String)     COMMENT 'Name of the detector plug-in that fired',
    detector_version  LowCardinality(String)     COMMENT 'Version of the detector logic, part of alert_id',
    message           String                     COMMENT 'One plain sentence for a team lead; states evidence, never causality',
    created_at        DateTime64(3, 'UTC')       COMMENT 'Wall-clock time the alert was produced (UTC)',
    dimension         LowCardinality(Nullable(String)) COMMENT 'Mirrored pair that moved on both sides (trust, recognition/listened, ambiance/courtesy, empowerment/ces, enps/nps); NULL when none',
    customer_n        UInt32                     COMMENT 'Customer responses in the window',
    employee_n        Nullable(UInt32)           COMMENT 'Employee respondents in the window; NULL when under the k-anonymity threshold',
    customer_index    Nullable(Float64)          COMMENT 'Customer index C, 0-100',
    employee_index    Nullable(Float64)          COMMENT 'Employee index E, 0-100; NULL when suppressed',
    customer_baseline Nullable(Float64)          COMMENT 'Baseline of C from the team''s previous closed windows',
    employee_baseline Nullable(Float64)          COMMENT 'Baseline of E from the team''s previous closed windows',
    customer_delta    Nullable(Float64)          COMMENT 'C minus its baseline, index points',
    employee_delta    Nullable(Float64)          COMMENT 'E minus its baseline, index points',
    customer_z        Nullable(Float64)          COMMENT 'z statistic of the customer change (from both windows'' standard errors)',
    employee_z        Nullable(Float64)          COMMENT 'z statistic of the employee change',
    evidence          Map(String, Float64)       COMMENT 'Extra named figures the detector reports (thresholds, gaps, streak lengths ...)',
    episode_id        Nullable(String)           COMMENT 'The team episode this alert opened, updated or escalated (see the episodes table); NULL for rows written before episodes',
    event             LowCardinality(String) DEFAULT 'alert' COMMENT 'What the alert did to its episode: opened, updated or escalated (alert: written before episodes)',
    version           UInt64                     COMMENT 'Row version (write time, epoch ms): the latest write of an alert_id wins',
    run_id LowCardinality(String) DEFAULT '' COMMENT 'The miroir backfill run that wrote the row (see backfill_runs); empty for the live worker'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (team_id, window_start, kind, alert_id)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Mirror-effect alerts per team and window. Deduplicated on (team_id, window_start, kind, alert_id): use FINAL for exact counts. Correlation, not causation: employee engagement and customer satisfaction correlate at about r = .33 across business units.'
