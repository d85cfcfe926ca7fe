-- Both sides of every closed team-window; the employee side only as k-anonymous aggregates.
CREATE TABLE IF NOT EXISTS {database}.team_window_metrics
(
    team_id                     String               COMMENT 'Team',
    window_start                DateTime64(3, 'UTC') COMMENT 'Start of the event-time window, inclusive (UTC)',
    window_end                  DateTime64(3, 'UTC') COMMENT 'End of the event-time window, exclusive (UTC)',
    customer_n                  UInt32               COMMENT 'Customer responses in the window',
    customer_index              Nullable(Float64)    COMMENT 'Customer index C, 0-100: mean of the respondents'' composites (docs/statistics.md; index_version idx-v2)',
    customer_index_se           Nullable(Float64)    COMMENT 'Standard error of C: sd of the respondent composites / sqrt(n)',
    nps                         Nullable(Float64)    COMMENT 'NPS, -100..100: % promoters (9-10) minus % detractors (0-6)',
    nps_se                      Nullable(Float64)    COMMENT 'Standard error of NPS',
    csat                        Nullable(Float64)    COMMENT 'CSAT, % of 4s and 5s (top-2-box), 0-100',
    ces_mean                    Nullable(Float64)    COMMENT 'Mean Customer Effort Score, 1-7 (higher = easier)',
    ces_easy_pct                Nullable(Float64)    COMMENT '% of CES answers 5-7',
    listened_mean               Nullable(Float64)    COMMENT 'Mean of "felt listened to", 1-5',
    trust_mean                  Nullable(Float64)    COMMENT 'Mean customer trust, 1-5',
    courtesy_mean               Nullable(Float64)    COMMENT 'Mean perceived courtesy, 1-5',
    customer_components         Map(String, Float64) COMMENT 'Customer index components scaled to 0-100 (NPS mapped from -100..100)',
    employee_suppressed         UInt8                COMMENT '1 when fewer than k employees answered: every employee column below is then NULL (k-anonymity)',
    employee_n                  Nullable(UInt32)     COMMENT 'Employee respondents; NULL when suppressed',
    employee_index              Nullable(Float64)    COMMENT 'Employee index E, 0-100: mean of the respondents'' composites; NULL when suppressed',
    employee_index_se           Nullable(Float64)    COMMENT 'Standard error of E: sd of the respondent composites / sqrt(n); NULL when suppressed',
    enps                        Nullable(Float64)    COMMENT 'eNPS, -100..100; NULL when suppressed',
    enps_se                     Nullable(Float64)    COMMENT 'Standard error of eNPS; NULL when suppressed',
    employee_vision_mean        Nullable(Float64)    COMMENT 'Mean "a motivating direction", 1-5; NULL when suppressed',
    employee_meaning_mean       Nullable(Float64)    COMMENT 'Mean "my work makes sense", 1-5; NULL when suppressed',
    employee_belonging_mean     Nullable(Float64)    COMMENT 'Mean "I belong to this team", 1-5; NULL when suppressed',
    employee_recognition_mean   Nullable(Float64)    COMMENT 'Mean "my work is recognised", 1-5 (mirrors listened_mean); NULL when suppressed',
    employee_trust_mean         Nullable(Float64)    COMMENT 'Mean trust in manager and colleagues, 1-5 (mirrors trust_mean); NULL when suppressed',
    employee_ambiance_mean      Nullable(Float64)    COMMENT 'Mean "a friendly atmosphere", 1-5 (mirrors courtesy_mean); NULL when suppressed',
    employee_empowerment_mean   Nullable(Float64)    COMMENT 'Mean "I can solve my customers'' problems", 1-5 (mirrors ces_mean); NULL when suppressed',
    employee_customer_proximity_mean Nullable(Float64) COMMENT 'Mean "I know the customers I work for", 1-5; NULL when suppressed',
    employee_workload_mean      Nullable(Float64)    COMMENT 'Mean "my workload is sustainable", 1-5; NULL when suppressed',
    employee_components         Map(String, Float64) COMMENT 'Employee index components scaled to 0-100; empty when suppressed',
    index_version               LowCardinality(String) COMMENT 'Version of the index definition (components and weights)',
    late_events                 UInt32               COMMENT 'Always 0 here: late arrivals are counted in the late_events table',
    alert_kinds                 Array(LowCardinality(String)) COMMENT 'Alert kinds raised on this window (empty when none)',
    version                     UInt64               COMMENT 'Row version (write time, epoch ms): the latest write of a team-window wins',
    run_id LowCardinality(String) DEFAULT '' COMMENT 'The miroir backfill run that wrote the row (see backfill_runs); empty for the live worker'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (team_id, window_start)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'One row per closed team-window: customer metrics, and employee metrics only as aggregates of at least k respondents. Use FINAL.'
