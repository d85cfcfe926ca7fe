-- Units' windows rolled up from their teams, current state.
CREATE OR REPLACE VIEW {database}.v_unit_windows
(
    unit_id             String            COMMENT 'Unit path joined by / (unassigned for teams the teams topic does not place)',
    level               String            COMMENT 'Level of the unit: company, region, site, department, ...',
    window_start        DateTime('UTC')   COMMENT 'Start of the window (UTC)',
    window_end          DateTime('UTC')   COMMENT 'End of the window, exclusive (UTC)',
    team_count          UInt64            COMMENT 'Teams of the unit that closed the window',
    customer_n          UInt32            COMMENT 'Customer respondents behind C',
    customer_index      Nullable(Float64) COMMENT 'Customer index C of the unit, 0-100',
    customer_index_se   Nullable(Float64) COMMENT 'Standard error of C',
    employee_suppressed UInt8             COMMENT '1 when the unit''s employee side is hidden (under k, or it would reveal a hidden team by differencing)',
    employee_n          Nullable(UInt32)  COMMENT 'Employee respondents; NULL when suppressed',
    employee_index      Nullable(Float64) COMMENT 'Employee index E of the unit, 0-100; NULL when suppressed',
    employee_index_se   Nullable(Float64) COMMENT 'Standard error of E; NULL when suppressed',
    alert_kinds         Array(String)     COMMENT 'Kinds the detectors raised on the unit''s pooled window',
    run_id              String            COMMENT 'The miroir backfill run that wrote it; empty for the live worker'
)
COMMENT 'One row per unit and window (FINAL applied): the unit''s C and E pooled from its teams'' respondents, with no complementary disclosure.'
AS SELECT
    unit_id,
    CAST(level, 'String') AS level,
    toDateTime(window_start, 'UTC') AS window_start,
    toDateTime(window_end, 'UTC') AS window_end,
    length(teams) AS team_count,
    customer_n,
    customer_index,
    customer_index_se,
    employee_suppressed,
    employee_n,
    employee_index,
    employee_index_se,
    CAST(alert_kinds, 'Array(String)') AS alert_kinds,
    CAST(run_id, 'String') AS run_id
FROM {database}.unit_window_metrics FINAL
