/**
 * Stats export and the job runner: the raw-stats indexes end with `id`, so the CSV export
 * pages by `(created_at, id)` straight off the index; `jobs.last_result` keeps what the last
 * run did (e.g. how many rows it purged).
 */
export const sqlite = `
DROP INDEX stats_team_created;
CREATE INDEX stats_team_created ON stats(team_id, created_at, id);
DROP INDEX stats_user_created;
CREATE INDEX stats_user_created ON stats(user_id, created_at, id);
ALTER TABLE jobs ADD COLUMN last_result TEXT
`

export const pg = `
DROP INDEX stats_team_created;
CREATE INDEX stats_team_created ON stats(team_id, created_at, id);
DROP INDEX stats_user_created;
CREATE INDEX stats_user_created ON stats(user_id, created_at, id);
ALTER TABLE jobs ADD COLUMN last_result text
`
