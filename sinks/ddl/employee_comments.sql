-- Employee comments, only when MIROIR_STORE_EMPLOYEE_COMMENTS is on, and only for team-windows
-- with at least 10 respondents (and at least k): no respondent reference, no timestamp.
CREATE TABLE IF NOT EXISTS {database}.employee_comments
(
    comment_id   String                 COMMENT 'sha256 of team, window and text: identical comments of one window are kept once',
    team_id      String                 COMMENT 'Team',
    window_start DateTime64(3, 'UTC')   COMMENT 'Start of the team-window the comment belongs to (UTC)',
    window_end   DateTime64(3, 'UTC')   COMMENT 'End of the team-window, exclusive (UTC)',
    comment      String                 COMMENT 'The comment text, as written; never linked to a respondent',
    version      UInt64                 COMMENT 'Row version (write time, epoch ms)'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (team_id, window_start, comment_id)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Opt-in employee comments of team-windows with at least 10 respondents. Use FINAL.'
