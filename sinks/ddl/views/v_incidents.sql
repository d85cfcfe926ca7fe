-- Incidents: many teams of one unit moving together in one window, current state.
CREATE OR REPLACE VIEW {database}.v_incidents
(
    incident_id     String          COMMENT 'Incident id (unit, family, opening window)',
    unit_id         String          COMMENT 'The unit the shared shock is placed at (path joined by /)',
    level           String          COMMENT 'Level of the unit: company, region, site, department, ...',
    family          String          COMMENT 'fall | rise | gap | a custom kind',
    severity        String          COMMENT 'Highest severity among its teams'' episodes',
    state           String          COMMENT 'open | resolved',
    opened_at       DateTime('UTC') COMMENT 'Start of the window the teams moved together in (UTC)',
    last_window_end DateTime('UTC') COMMENT 'End of the newest window that changed the incident',
    team_count      UInt64          COMMENT 'Affected teams',
    unit_teams      UInt32          COMMENT 'Teams of the unit reporting in the opening window',
    teams           Array(String)   COMMENT 'Affected team ids (their episodes are linked, not paged on their own)',
    episode_ids     Array(String)   COMMENT 'The linked team episodes',
    run_id          String          COMMENT 'The miroir backfill run that wrote it; empty for the live worker'
)
COMMENT 'Incidents (FINAL applied), open and resolved: a shared shock (reorganisation, outage, product change) shown as one problem at its unit. Co-movement, not causation.'
AS SELECT
    incident_id,
    unit_id,
    CAST(level, 'String') AS level,
    CAST(family, 'String') AS family,
    CAST(severity, 'String') AS severity,
    CAST(state, 'String') AS state,
    toDateTime(opened_window_start, 'UTC') AS opened_at,
    toDateTime(last_window_end, 'UTC') AS last_window_end,
    length(teams) AS team_count,
    unit_teams,
    teams,
    episode_ids,
    CAST(run_id, 'String') AS run_id
FROM {database}.incidents FINAL
