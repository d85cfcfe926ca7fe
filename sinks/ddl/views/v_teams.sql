-- The organisation, current state: one row per team still in the teams topic.
CREATE OR REPLACE VIEW {database}.v_teams
(
    team_id      String        COMMENT 'Team id (the Kafka key of both signal topics)',
    team_name    String        COMMENT 'Display name of the team',
    unit_id      String        COMMENT 'The team''s unit: its path joined by / (e.g. acme/emea/paris/support)',
    company      String        COMMENT 'First unit of the path (the top level)',
    unit_path    Array(String) COMMENT 'Unit names top-down',
    levels       Array(String) COMMENT 'Level of each unit of unit_path (company, region, site, department, ...)'
)
COMMENT 'Teams and their units, as last read from the miroir-teams topic (removed teams left out). Teams that never appeared there are shown as unassigned in the other views.'
AS SELECT
    team_id,
    display_name AS team_name,
    unit_id,
    unit_path[1] AS company,
    unit_path,
    CAST(levels, 'Array(String)') AS levels
FROM {database}.teams FINAL
WHERE removed = 0
