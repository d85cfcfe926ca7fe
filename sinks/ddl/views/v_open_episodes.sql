-- Team episodes still open: the problems ops are working on now.
CREATE OR REPLACE VIEW {database}.v_open_episodes
(
    episode_id          String            COMMENT 'Episode id (links alerts: v_alerts.episode_id)',
    team_id             String            COMMENT 'Team',
    team_name           String            COMMENT 'Display name of the team',
    unit_id             String            COMMENT 'The team''s unit path',
    family              String            COMMENT 'fall | rise | gap | a custom kind',
    kind                String            COMMENT 'Kind of the latest alert of the episode',
    severity            String            COMMENT 'Highest severity reached: critical | warning | info',
    opened_at           DateTime('UTC')   COMMENT 'Start of the window that opened the episode (UTC)',
    last_alert_at       DateTime('UTC')   COMMENT 'Start of the newest window that raised an alert of the episode',
    last_window_end     DateTime('UTC')   COMMENT 'End of the newest window that touched the episode',
    alerts              UInt32            COMMENT 'Windows that raised an alert of the episode',
    quiet_windows       UInt32            COMMENT 'Windows in a row without an alert (it resolves after MIROIR_EPISODE_RESOLVE_AFTER)',
    peak_customer_delta Nullable(Float64) COMMENT 'Largest move of C from its baseline, index points',
    peak_employee_delta Nullable(Float64) COMMENT 'Largest move of E from its baseline, index points',
    acknowledged        UInt8             COMMENT '1 once someone acknowledged it',
    acknowledged_by     Nullable(String)  COMMENT 'Who acknowledged it',
    acknowledged_at     Nullable(DateTime('UTC')) COMMENT 'When it was acknowledged (UTC)',
    note                Nullable(String)  COMMENT 'The latest note given by hand',
    run_id              String            COMMENT 'The miroir backfill run that wrote it; empty for the live worker'
)
COMMENT 'Open team episodes (FINAL applied, resolved ones left out): one row per ongoing problem, with its severity, age and whether someone acknowledged it.'
AS SELECT
    e.episode_id AS episode_id,
    e.team_id AS team_id,
    if(t.team_id = '', e.team_id, t.display_name) AS team_name,
    if(t.team_id = '', 'unassigned', t.unit_id) AS unit_id,
    CAST(e.family, 'String') AS family,
    CAST(e.kind, 'String') AS kind,
    CAST(e.severity, 'String') AS severity,
    toDateTime(e.opened_window_start, 'UTC') AS opened_at,
    toDateTime(e.last_alert_window_start, 'UTC') AS last_alert_at,
    toDateTime(e.last_window_end, 'UTC') AS last_window_end,
    e.alerts AS alerts,
    e.quiet_windows AS quiet_windows,
    e.peak_customer_delta AS peak_customer_delta,
    e.peak_employee_delta AS peak_employee_delta,
    toUInt8(e.acknowledged_by IS NOT NULL) AS acknowledged,
    e.acknowledged_by AS acknowledged_by,
    CAST(e.acknowledged_at, 'Nullable(DateTime(\'UTC\'))') AS acknowledged_at,
    e.note AS note,
    CAST(e.run_id, 'String') AS run_id
FROM {database}.episodes AS e FINAL
GLOBAL LEFT JOIN (SELECT team_id, display_name, unit_id FROM {database}.teams FINAL WHERE removed = 0) AS t
    ON t.team_id = e.team_id
WHERE e.state = 'open'
