-- The organisation as the worker last read it from the teams topic: one row per team (query with
-- FINAL, or join through the views, which name teams and units).
CREATE TABLE IF NOT EXISTS {database}.teams
(
    team_id      String                        COMMENT 'Team (the Kafka key of both signal topics)',
    display_name String                        COMMENT 'The team''s display name',
    unit_id      String                        COMMENT 'The team''s unit: its path joined by / (e.g. acme/emea/paris/support); unassigned when it has none',
    unit_path    Array(String)                 COMMENT 'Unit names top-down, e.g. [acme, emea, paris, support]',
    levels       Array(LowCardinality(String)) COMMENT 'The level of each unit of unit_path, e.g. [company, region, site, department]',
    removed      UInt8                         COMMENT '1 once the team was removed from the teams topic (its rows elsewhere stay)',
    version      UInt64                        COMMENT 'Row version (write time, epoch ms): the latest state of a team wins'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY team_id
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Teams and their units, from the miroir-teams topic (miroir teams load). Use FINAL.'
