-- One row per unit and window: the unit's C and E rolled up from its teams (query with FINAL).
CREATE TABLE IF NOT EXISTS {database}.unit_window_metrics
(
    unit_id             String                     COMMENT 'Unit path joined by / (e.g. acme/emea/paris); unassigned for teams missing from the organisation',
    level               LowCardinality(String)     COMMENT 'Level of the unit: company, region, site, department, ...',
    window_start        DateTime64(3, 'UTC')       COMMENT 'Start of the event-time window, inclusive (UTC)',
    window_end          DateTime64(3, 'UTC')       COMMENT 'End of the event-time window, exclusive (UTC)',
    teams               Array(String)              COMMENT 'Teams of the unit that closed this window',
    published_teams     Array(String)              COMMENT 'Teams whose own employee side may be shown beside this unit (secondary suppression hides the others)',
    customer_n          UInt32                     COMMENT 'Customer respondents behind C',
    customer_index      Nullable(Float64)          COMMENT 'Customer index C, 0-100: mean of the respondents'' composites over the unit',
    customer_index_se   Nullable(Float64)          COMMENT 'Standard error of C: sd / sqrt(n) of the pooled composites',
    employee_suppressed UInt8                      COMMENT '1 when the unit''s employee side is hidden (under k, or it would reveal a hidden team by differencing)',
    employee_n          Nullable(UInt32)           COMMENT 'Employee respondents; NULL when suppressed',
    employee_index      Nullable(Float64)          COMMENT 'Employee index E, 0-100; NULL when suppressed',
    employee_index_se   Nullable(Float64)          COMMENT 'Standard error of E; NULL when suppressed',
    alert_kinds         Array(LowCardinality(String)) COMMENT 'Kinds the detectors raised on the unit''s own pooled window',
    version             UInt64                     COMMENT 'Row version (write time, epoch ms)',
    run_id LowCardinality(String) DEFAULT '' COMMENT 'The miroir backfill run that wrote the row (see backfill_runs); empty for the live worker'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (unit_id, window_start)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Unit windows rolled up from the teams'' mergeable aggregates (respondent-level), with no complementary disclosure.'
