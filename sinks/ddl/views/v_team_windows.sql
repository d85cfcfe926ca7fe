-- Both sides of every closed team-window, current state, named, with its late and duplicate counts.
CREATE OR REPLACE VIEW {database}.v_team_windows
(
    team_id             String            COMMENT 'Team',
    team_name           String            COMMENT 'Display name of the team (its id when the teams topic does not name it)',
    unit_id             String            COMMENT 'The team''s unit path (unassigned when the teams topic does not place it)',
    window_start        DateTime('UTC')   COMMENT 'Start of the window, inclusive (UTC)',
    window_end          DateTime('UTC')   COMMENT 'End of the window, exclusive (UTC)',
    customer_n          UInt32            COMMENT 'Customer responses in the window',
    customer_index      Nullable(Float64) COMMENT 'Customer index C, 0-100 (mean of the respondents'' composites)',
    customer_index_se   Nullable(Float64) COMMENT 'Standard error of C',
    employee_suppressed UInt8             COMMENT '1 when fewer than k employees answered: every employee column is then NULL (k-anonymity)',
    employee_n          Nullable(UInt32)  COMMENT 'Employee respondents; NULL when suppressed',
    employee_index      Nullable(Float64) COMMENT 'Employee index E, 0-100; NULL when suppressed',
    employee_index_se   Nullable(Float64) COMMENT 'Standard error of E; NULL when suppressed',
    mirror_gap          Nullable(Float64) COMMENT 'E minus C, index points (the symmetry gap); NULL when a side is missing',
    nps                 Nullable(Float64) COMMENT 'NPS, -100..100',
    nps_se              Nullable(Float64) COMMENT 'Standard error of NPS',
    csat                Nullable(Float64) COMMENT 'CSAT, % of 4s and 5s',
    ces_mean            Nullable(Float64) COMMENT 'Mean Customer Effort Score, 1-7 (higher = easier)',
    ces_easy_pct        Nullable(Float64) COMMENT '% of CES answers 5-7',
    listened_mean       Nullable(Float64) COMMENT 'Customers: mean "felt listened to", 1-5',
    trust_mean          Nullable(Float64) COMMENT 'Customers: mean trust, 1-5',
    courtesy_mean       Nullable(Float64) COMMENT 'Customers: mean courtesy, 1-5',
    enps                Nullable(Float64) COMMENT 'eNPS, -100..100; NULL when suppressed',
    enps_se             Nullable(Float64) COMMENT 'Standard error of eNPS; NULL when suppressed',
    employee_vision_mean      Nullable(Float64) COMMENT 'Employees: mean "a motivating direction", 1-5; NULL when suppressed',
    employee_meaning_mean     Nullable(Float64) COMMENT 'Employees: mean "my work makes sense", 1-5; NULL when suppressed',
    employee_belonging_mean   Nullable(Float64) COMMENT 'Employees: mean "I belong to this team", 1-5; NULL when suppressed',
    employee_recognition_mean Nullable(Float64) COMMENT 'Employees: mean "my work is recognised", 1-5 (mirrors listened_mean); NULL when suppressed',
    employee_trust_mean       Nullable(Float64) COMMENT 'Employees: mean trust in manager and colleagues, 1-5 (mirrors trust_mean); NULL when suppressed',
    employee_ambiance_mean    Nullable(Float64) COMMENT 'Employees: mean "a friendly atmosphere", 1-5 (mirrors courtesy_mean); NULL when suppressed',
    employee_empowerment_mean Nullable(Float64) COMMENT 'Employees: mean "I can solve my customers'' problems", 1-5 (mirrors ces_mean); NULL when suppressed',
    employee_customer_proximity_mean Nullable(Float64) COMMENT 'Employees: mean "I know the customers I work for", 1-5; NULL when suppressed',
    employee_workload_mean    Nullable(Float64) COMMENT 'Employees: mean "my workload is sustainable", 1-5; NULL when suppressed',
    late_events         UInt64            COMMENT 'Events that arrived after the window closed (stored raw, not counted, no alert re-fired)',
    duplicate_events    UInt64            COMMENT 'Events the window did not count again (re-sent records, or a second pulse of one person)',
    alert_kinds         Array(String)     COMMENT 'Alert kinds raised on the window (empty when none)',
    index_version       String            COMMENT 'Version of the index definition',
    run_id              String            COMMENT 'The miroir backfill run that wrote the row; empty for the live worker'
)
COMMENT 'One row per closed team-window (FINAL applied): C and E with their standard errors, the key customer and employee metrics, late and duplicate counts, team and unit names. Start here for trends.'
AS SELECT
    w.team_id AS team_id,
    if(t.team_id = '', w.team_id, t.display_name) AS team_name,
    if(t.team_id = '', 'unassigned', t.unit_id) AS unit_id,
    toDateTime(w.window_start, 'UTC') AS window_start,
    toDateTime(w.window_end, 'UTC') AS window_end,
    w.customer_n AS customer_n,
    w.customer_index AS customer_index,
    w.customer_index_se AS customer_index_se,
    w.employee_suppressed AS employee_suppressed,
    w.employee_n AS employee_n,
    w.employee_index AS employee_index,
    w.employee_index_se AS employee_index_se,
    w.employee_index - w.customer_index AS mirror_gap,
    w.nps AS nps,
    w.nps_se AS nps_se,
    w.csat AS csat,
    w.ces_mean AS ces_mean,
    w.ces_easy_pct AS ces_easy_pct,
    w.listened_mean AS listened_mean,
    w.trust_mean AS trust_mean,
    w.courtesy_mean AS courtesy_mean,
    w.enps AS enps,
    w.enps_se AS enps_se,
    w.employee_vision_mean AS employee_vision_mean,
    w.employee_meaning_mean AS employee_meaning_mean,
    w.employee_belonging_mean AS employee_belonging_mean,
    w.employee_recognition_mean AS employee_recognition_mean,
    w.employee_trust_mean AS employee_trust_mean,
    w.employee_ambiance_mean AS employee_ambiance_mean,
    w.employee_empowerment_mean AS employee_empowerment_mean,
    w.employee_customer_proximity_mean AS employee_customer_proximity_mean,
    w.employee_workload_mean AS employee_workload_mean,
    l.late AS late_events,
    d.duplicates AS duplicate_events,
    CAST(w.alert_kinds, 'Array(String)') AS alert_kinds,
    CAST(w.index_version, 'String') AS index_version,
    CAST(w.run_id, 'String') AS run_id
FROM {database}.team_window_metrics AS w FINAL
GLOBAL LEFT JOIN (SELECT team_id, display_name, unit_id FROM {database}.teams FINAL WHERE removed = 0) AS t
    ON t.team_id = w.team_id
GLOBAL LEFT JOIN (
    SELECT team_id, window_start, sum(events) AS late
    FROM {database}.late_events FINAL GROUP BY team_id, window_start
) AS l ON l.team_id = w.team_id AND l.window_start = w.window_start
GLOBAL LEFT JOIN (
    SELECT team_id, window_start, sum(events) AS duplicates
    FROM {database}.duplicate_events FINAL GROUP BY team_id, window_start
) AS d ON d.team_id = w.team_id AND d.window_start = w.window_start
