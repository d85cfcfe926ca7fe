-- Customer metrics per team-window and tag, named and in plain time.
CREATE OR REPLACE VIEW {database}.v_customer_tags
(
    team_id           String            COMMENT 'Team',
    team_name         String            COMMENT 'Display name of the team',
    unit_id           String            COMMENT 'The team''s unit path',
    window_start      DateTime('UTC')   COMMENT 'Start of the window (UTC)',
    window_end        DateTime('UTC')   COMMENT 'End of the window, exclusive (UTC)',
    tag               String            COMMENT 'A tag of the feedback, e.g. billing, sustainability; (other) pools a window''s tags past its 32nd',
    customer_n        UInt32            COMMENT 'Responses carrying the tag (one with two tags counts under both)',
    customer_index    Nullable(Float64) COMMENT 'Customer index C of those responses, 0-100',
    customer_index_se Nullable(Float64) COMMENT 'Standard error of C',
    nps               Nullable(Float64) COMMENT 'NPS, -100..100',
    nps_se            Nullable(Float64) COMMENT 'Standard error of NPS',
    csat              Nullable(Float64) COMMENT 'CSAT, % of 4s and 5s',
    ces_mean          Nullable(Float64) COMMENT 'Mean Customer Effort Score, 1-7',
    ces_easy_pct      Nullable(Float64) COMMENT '% of CES answers 5-7',
    listened_mean     Nullable(Float64) COMMENT 'Mean "felt listened to", 1-5',
    trust_mean        Nullable(Float64) COMMENT 'Mean customer trust, 1-5',
    courtesy_mean     Nullable(Float64) COMMENT 'Mean courtesy, 1-5',
    run_id            String            COMMENT 'The miroir backfill run that wrote it; empty for the live worker'
)
COMMENT 'Customer metrics per team-window and tag (FINAL applied), same estimators as v_team_windows. Small n is common: weight by customer_n and read the SEs.'
AS SELECT
    g.team_id AS team_id,
    if(t.team_id = '', g.team_id, t.display_name) AS team_name,
    if(t.team_id = '', 'unassigned', t.unit_id) AS unit_id,
    toDateTime(g.window_start, 'UTC') AS window_start,
    toDateTime(g.window_end, 'UTC') AS window_end,
    g.tag AS tag,
    g.customer_n AS customer_n,
    g.customer_index AS customer_index,
    g.customer_index_se AS customer_index_se,
    g.nps AS nps,
    g.nps_se AS nps_se,
    g.csat AS csat,
    g.ces_mean AS ces_mean,
    g.ces_easy_pct AS ces_easy_pct,
    g.listened_mean AS listened_mean,
    g.trust_mean AS trust_mean,
    g.courtesy_mean AS courtesy_mean,
    CAST(g.run_id, 'String') AS run_id
FROM {database}.customer_tag_metrics AS g FINAL
GLOBAL LEFT JOIN (SELECT team_id, display_name, unit_id FROM {database}.teams FINAL WHERE removed = 0) AS t
    ON t.team_id = g.team_id
