-- Late events counted per team, window and side.
CREATE OR REPLACE VIEW {database}.v_late_events
(
    team_id      String          COMMENT 'Team',
    team_name    String          COMMENT 'Display name of the team',
    unit_id      String          COMMENT 'The team''s unit path',
    window_start DateTime('UTC') COMMENT 'Start of the already-closed window the events belonged to (UTC)',
    side         String          COMMENT 'customer | employee',
    events       UInt64          COMMENT 'Events that arrived after the window had closed (stored raw, never counted, no alert re-fired)'
)
COMMENT 'Late events per team, window and side (FINAL applied): a producer or a network lagging behind the allowed lateness.'
AS SELECT
    l.team_id AS team_id,
    if(t.team_id = '', l.team_id, t.display_name) AS team_name,
    if(t.team_id = '', 'unassigned', t.unit_id) AS unit_id,
    toDateTime(l.window_start, 'UTC') AS window_start,
    CAST(l.side, 'String') AS side,
    sum(l.events) AS events
FROM {database}.late_events AS l FINAL
GLOBAL LEFT JOIN (SELECT team_id, display_name, unit_id FROM {database}.teams FINAL WHERE removed = 0) AS t
    ON t.team_id = l.team_id
GROUP BY l.team_id, team_name, unit_id, l.window_start, l.side
