-- The customer side of every closed team-window again, cut by tag: one row per team, window and
-- tag, with the estimators of team_window_metrics (query with FINAL, or use v_customer_tags).
CREATE TABLE IF NOT EXISTS {database}.customer_tag_metrics
(
    team_id           String               COMMENT 'Team',
    window_start      DateTime64(3, 'UTC') COMMENT 'Start of the event-time window, inclusive (UTC)',
    window_end        DateTime64(3, 'UTC') COMMENT 'End of the event-time window, exclusive (UTC)',
    tag               String               COMMENT 'A tag of the feedback (e.g. billing, sustainability); (other) pools the tags of a window past its 32nd',
    customer_n        UInt32               COMMENT 'Customer responses in the window carrying the tag (a response with two tags counts under both)',
    customer_index    Nullable(Float64)    COMMENT 'Customer index C of those responses, 0-100: mean of their composites (as team_window_metrics.customer_index)',
    customer_index_se Nullable(Float64)    COMMENT 'Standard error of C: sd of the composites / sqrt(n)',
    nps               Nullable(Float64)    COMMENT 'NPS, -100..100: % promoters (9-10) minus % detractors (0-6)',
    nps_se            Nullable(Float64)    COMMENT 'Standard error of NPS',
    csat              Nullable(Float64)    COMMENT 'CSAT, % of 4s and 5s (top-2-box), 0-100',
    ces_mean          Nullable(Float64)    COMMENT 'Mean Customer Effort Score, 1-7 (higher = easier)',
    ces_easy_pct      Nullable(Float64)    COMMENT '% of CES answers 5-7',
    listened_mean     Nullable(Float64)    COMMENT 'Mean of "felt listened to", 1-5',
    trust_mean        Nullable(Float64)    COMMENT 'Mean customer trust, 1-5',
    courtesy_mean     Nullable(Float64)    COMMENT 'Mean perceived courtesy, 1-5',
    index_version     LowCardinality(String) COMMENT 'Version of the index definition (components and weights)',
    run_id            LowCardinality(String) DEFAULT '' COMMENT 'The miroir backfill run that wrote the row (see backfill_runs); empty for the live worker',
    version           UInt64               COMMENT 'Row version (write time, epoch ms): the latest write of a team-window wins'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (team_id, window_start, tag)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Customer metrics per team-window and tag (same estimators as team_window_metrics). Small n is common: read customer_n and the SEs before comparing. Use FINAL.'
