/**
 * Operating a server: the server-admin role and disabled (or deleted) accounts on `users`;
 * a team's own limits over its plan's on `teams` (NULL: the plan's, -1: unlimited); and the
 * one-time set-password links an admin hands out (`password_links`, stored as hashes).
 *
 * SQLite only: `notices`, where a command-line process (`mur-server admin`) leaves change-feed
 * notices for the server process on the same file (PostgreSQL has NOTIFY for that).
 */
export const sqlite = `
ALTER TABLE users ADD COLUMN server_admin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN disabled_at TEXT;
ALTER TABLE users ADD COLUMN deleted_at TEXT;
ALTER TABLE teams ADD COLUMN max_members INTEGER;
ALTER TABLE teams ADD COLUMN max_patterns INTEGER;
ALTER TABLE teams ADD COLUMN retention_days INTEGER;
CREATE TABLE password_links (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at TEXT
);
CREATE INDEX password_links_user ON password_links(user_id);
CREATE INDEX password_links_expires ON password_links(expires_at);
CREATE TABLE notices (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  notice TEXT NOT NULL,
  created_at TEXT NOT NULL
)
`

export const pg = `
ALTER TABLE users ADD COLUMN server_admin boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
ALTER TABLE users ADD COLUMN deleted_at timestamptz;
ALTER TABLE teams ADD COLUMN max_members integer;
ALTER TABLE teams ADD COLUMN max_patterns integer;
ALTER TABLE teams ADD COLUMN retention_days integer;
CREATE TABLE password_links (
  token_hash text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX password_links_user ON password_links(user_id);
CREATE INDEX password_links_expires ON password_links(expires_at)
`
