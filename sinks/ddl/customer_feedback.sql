-- Raw customer feedback rows (never employee pulses: those reach ClickHouse only as aggregates).
CREATE TABLE IF NOT EXISTS {database}.customer_feedback
(
    team_id      String                           COMMENT 'Team that served the customer',
    event_id     String                           COMMENT 'Unique id of the answer: the idempotency key (replays replace themselves)',
    occurred_at  DateTime64(3, 'UTC')             COMMENT 'Event time of the answer (UTC)',
    channel      LowCardinality(String)           COMMENT 'phone | email | chat | store | field | web | other',
    source       LowCardinality(String)           COMMENT 'Survey system the answer came from',
    customer_ref Nullable(String)                 COMMENT 'Pseudonymous customer reference, re-keyed with a keyed hash before storage',
    tags         Array(String)                    COMMENT 'Topics tagged on the answer, e.g. billing, sustainability',
    language     LowCardinality(Nullable(String)) COMMENT 'Language of the answer',
    comment      Nullable(String)                 COMMENT 'Free-text comment, bounded length',
    nps          Nullable(UInt8)                  COMMENT 'Likelihood to recommend, 0-10',
    csat         Nullable(UInt8)                  COMMENT 'Satisfaction, 1-5',
    ces          Nullable(UInt8)                  COMMENT 'Customer effort (CES 2.0 "made it easy"), 1-7, higher = easier',
    listened     Nullable(UInt8)                  COMMENT 'Felt listened to and understood, 1-5',
    trust        Nullable(UInt8)                  COMMENT 'Trust, transparency, 1-5',
    courtesy     Nullable(UInt8)                  COMMENT 'Friendliness of the person served, 1-5',
    late         UInt8                            COMMENT '1 when the answer arrived after its window closed (counted in late_events, no alert re-fired)',
    version      UInt64                           COMMENT 'Row version: write time (epoch ms); 0 for late rows, so that a late copy never replaces the counted row of the same event_id'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (team_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Raw customer answers, one row per event_id (the team_id prefix of the key only speeds up per-team reads). Use FINAL for exact counts.'
