/**
 * Who is online, shared by every server process: one row per open WebSocket, refreshed by
 * its process; rows not refreshed for a minute (a crashed process) no longer count.
 */
export const sqlite = `
CREATE TABLE presence (
  conn_id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  name TEXT NOT NULL,
  device_id TEXT,
  process_id TEXT NOT NULL,
  since TEXT NOT NULL,
  seen_at TEXT NOT NULL
);
CREATE INDEX presence_team ON presence(team_id, seen_at)
`

export const pg = `
CREATE TABLE presence (
  conn_id text PRIMARY KEY,
  team_id uuid NOT NULL,
  user_id uuid NOT NULL,
  name text NOT NULL,
  device_id text,
  process_id text NOT NULL,
  since timestamptz NOT NULL,
  seen_at timestamptz NOT NULL
);
CREATE INDEX presence_team ON presence(team_id, seen_at)
`
