-- One row per incident: many teams of one unit moving together in one window (query with FINAL).
CREATE TABLE IF NOT EXISTS {database}.incidents
(
    incident_id         String                     COMMENT 'Deterministic id (unit, family, opening window)',
    unit_id             String                     COMMENT 'The unit the incident is placed at (path joined by /)',
    level               LowCardinality(String)     COMMENT 'Level of the unit: company, region, site, department, ...',
    family              LowCardinality(String)     COMMENT 'fall | rise | gap | a custom kind',
    severity            LowCardinality(String)     COMMENT 'Highest severity among its teams'' episodes',
    state               LowCardinality(String)     COMMENT 'open | resolved',
    opened_window_start DateTime64(3, 'UTC')       COMMENT 'Start of the window the teams moved together in',
    last_window_end     DateTime64(3, 'UTC')       COMMENT 'End of the newest window that changed the incident',
    teams               Array(String)              COMMENT 'Affected teams (their episodes link here and are not paged on their own)',
    episode_ids         Array(String)              COMMENT 'The linked team episodes (see the episodes table)',
    unit_teams          UInt32                     COMMENT 'Teams of the unit reporting in the opening window',
    revision            UInt32                     COMMENT 'Events the incident went through: the highest is its current state',
    run_id LowCardinality(String) DEFAULT '' COMMENT 'The miroir backfill run that wrote the row (see backfill_runs); empty for the live worker'
)
ENGINE = ReplacingMergeTree(revision)
PARTITION BY toYYYYMM(opened_window_start)
ORDER BY (unit_id, incident_id)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Incidents: a shared shock (a reorganisation, an outage, a product change) shown as one problem at its unit. Co-movement, not causation.'
