/**
 * The whole schema of the contract, per dialect. Later migrations add to it; an applied
 * migration is never edited. `docs/data-model.md` explains every table.
 *
 * Types differ only where the stores differ: times are `timestamptz` in PostgreSQL and
 * RFC 3339 text in SQLite (both read back as the same ISO string); JSON documents are
 * text in both so that a pattern reads back byte for byte as it was written.
 */
export const sqlite = `
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE auth_sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  client TEXT,
  ip TEXT,
  user_agent TEXT,
  created_at TEXT NOT NULL,
  revoked_at TEXT,
  revoked_reason TEXT
);
CREATE INDEX auth_sessions_user ON auth_sessions(user_id);
CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  rotated_at TEXT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens(expires_at);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  prefix TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  expires_at TEXT,
  last_used_at TEXT,
  revoked_at TEXT
);
CREATE INDEX api_keys_user ON api_keys(user_id);
CREATE TABLE device_codes (
  id TEXT PRIMARY KEY,
  device_code_hash TEXT NOT NULL UNIQUE,
  user_code TEXT NOT NULL UNIQUE,
  client_name TEXT,
  status TEXT NOT NULL DEFAULT 'pending',
  user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  last_polled_at TEXT,
  decided_at TEXT,
  consumed_at TEXT
);
CREATE INDEX device_codes_expires ON device_codes(expires_at);
CREATE TABLE teams (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  slug TEXT NOT NULL UNIQUE,
  plan TEXT NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'team', 'enterprise')),
  last_seq INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE memberships (
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
  joined_at TEXT NOT NULL,
  PRIMARY KEY (team_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);
CREATE TABLE invites (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  email TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
  code_hash TEXT NOT NULL UNIQUE,
  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at TEXT,
  used_by TEXT REFERENCES users(id) ON DELETE SET NULL
);
CREATE INDEX invites_team ON invites(team_id);
CREATE TABLE patterns (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  content TEXT NOT NULL,
  category TEXT,
  tags TEXT NOT NULL DEFAULT '[]',
  author_id TEXT REFERENCES users(id) ON DELETE SET NULL,
  is_public INTEGER NOT NULL DEFAULT 0,
  usage_count INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  deleted_at TEXT
);
CREATE UNIQUE INDEX patterns_team_name ON patterns(team_id, lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX patterns_team_updated ON patterns(team_id, updated_at);
CREATE INDEX patterns_public ON patterns(is_public) WHERE is_public = 1 AND deleted_at IS NULL;
CREATE TABLE pattern_versions (
  pattern_id TEXT NOT NULL REFERENCES patterns(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  content TEXT NOT NULL,
  category TEXT,
  tags TEXT NOT NULL,
  author_id TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (pattern_id, version)
);
CREATE TABLE sync_events (
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('pattern_created', 'pattern_updated', 'pattern_deleted')),
  pattern_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  pattern TEXT,
  actor_id TEXT,
  device_id TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (team_id, seq)
);
CREATE TABLE sync_actions (
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  device_id TEXT NOT NULL,
  client_action_id TEXT NOT NULL,
  user_id TEXT,
  result TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (team_id, device_id, client_action_id)
);
CREATE TABLE devices (
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  device_id TEXT NOT NULL,
  user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
  last_seen_at TEXT NOT NULL,
  last_pulled_seq INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (team_id, device_id)
);
CREATE TABLE stats (
  id TEXT PRIMARY KEY,
  team_id TEXT REFERENCES teams(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  tool TEXT NOT NULL,
  action TEXT NOT NULL,
  duration_ms INTEGER NOT NULL DEFAULT 0,
  tokens_used INTEGER NOT NULL DEFAULT 0,
  cost_micros INTEGER NOT NULL DEFAULT 0,
  prompt_hash TEXT,
  pattern_id TEXT,
  metadata TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX stats_team_created ON stats(team_id, created_at);
CREATE INDEX stats_user_created ON stats(user_id, created_at);
CREATE TABLE stats_daily (
  team_id TEXT NOT NULL DEFAULT '',
  user_id TEXT NOT NULL,
  day TEXT NOT NULL,
  tool TEXT NOT NULL,
  runs INTEGER NOT NULL DEFAULT 0,
  duration_ms INTEGER NOT NULL DEFAULT 0,
  tokens INTEGER NOT NULL DEFAULT 0,
  cost_micros INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (team_id, user_id, day, tool)
);
CREATE INDEX stats_daily_team_day ON stats_daily(team_id, day);
CREATE INDEX stats_daily_user_day ON stats_daily(user_id, day);
CREATE TABLE audit_log (
  id TEXT PRIMARY KEY,
  team_id TEXT,
  actor_id TEXT,
  action TEXT NOT NULL,
  target_type TEXT,
  target_id TEXT,
  ip TEXT,
  user_agent TEXT,
  request_id TEXT,
  metadata TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL
);
CREATE INDEX audit_log_team_created ON audit_log(team_id, created_at);
CREATE INDEX audit_log_actor ON audit_log(actor_id);
CREATE TABLE jobs (
  name TEXT PRIMARY KEY,
  last_started_at TEXT,
  last_finished_at TEXT,
  last_status TEXT,
  last_error TEXT,
  runs INTEGER NOT NULL DEFAULT 0
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
`

export const pg = `
CREATE TABLE users (
  id uuid PRIMARY KEY,
  email text NOT NULL UNIQUE,
  name text NOT NULL,
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE TABLE auth_sessions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  client text,
  ip text,
  user_agent text,
  created_at timestamptz NOT NULL,
  revoked_at timestamptz,
  revoked_reason text
);
CREATE INDEX auth_sessions_user ON auth_sessions(user_id);
CREATE TABLE refresh_tokens (
  token_hash text PRIMARY KEY,
  session_id uuid NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  rotated_at timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens(expires_at);
CREATE TABLE api_keys (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name text NOT NULL,
  prefix text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL,
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX api_keys_user ON api_keys(user_id);
CREATE TABLE device_codes (
  id uuid PRIMARY KEY,
  device_code_hash text NOT NULL UNIQUE,
  user_code text NOT NULL UNIQUE,
  client_name text,
  status text NOT NULL DEFAULT 'pending',
  user_id uuid REFERENCES users(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  last_polled_at timestamptz,
  decided_at timestamptz,
  consumed_at timestamptz
);
CREATE INDEX device_codes_expires ON device_codes(expires_at);
CREATE TABLE teams (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  slug text NOT NULL UNIQUE,
  plan text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'team', 'enterprise')),
  last_seq bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE TABLE memberships (
  team_id uuid NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('admin', 'member')),
  joined_at timestamptz NOT NULL,
  PRIMARY KEY (team_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);
CREATE TABLE invites (
  id uuid PRIMARY KEY,
  team_id uuid NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  email text NOT NULL,
  role text NOT NULL CHECK (role IN ('admin', 'member')),
  code_hash text NOT NULL UNIQUE,
  created_by uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  used_by uuid REFERENCES users(id) ON DELETE SET NULL
);
CREATE INDEX invites_team ON invites(team_id);
CREATE TABLE patterns (
  id uuid PRIMARY KEY,
  team_id uuid NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  content text NOT NULL,
  category text,
  tags text NOT NULL DEFAULT '[]',
  author_id uuid REFERENCES users(id) ON DELETE SET NULL,
  is_public boolean NOT NULL DEFAULT false,
  usage_count bigint NOT NULL DEFAULT 0,
  version integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  deleted_at timestamptz,
  search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', name), 'A') ||
    setweight(to_tsvector('english', description), 'B') ||
    setweight(to_tsvector('english', left(content, 200000)), 'C')
  ) STORED
);
CREATE UNIQUE INDEX patterns_team_name ON patterns(team_id, lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX patterns_team_updated ON patterns(team_id, updated_at);
CREATE INDEX patterns_public ON patterns(is_public) WHERE is_public AND deleted_at IS NULL;
CREATE INDEX patterns_search ON patterns USING GIN (search);
CREATE TABLE pattern_versions (
  pattern_id uuid NOT NULL REFERENCES patterns(id) ON DELETE CASCADE,
  version integer NOT NULL,
  name text NOT NULL,
  description text NOT NULL,
  content text NOT NULL,
  category text,
  tags text NOT NULL,
  author_id uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (pattern_id, version)
);
CREATE TABLE sync_events (
  team_id uuid NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  type text NOT NULL CHECK (type IN ('pattern_created', 'pattern_updated', 'pattern_deleted')),
  pattern_id uuid NOT NULL,
  version integer NOT NULL,
  pattern text,
  actor_id uuid,
  device_id text,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (team_id, seq)
);
CREATE TABLE sync_actions (
  team_id uuid NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  device_id text NOT NULL,
  client_action_id text NOT NULL,
  user_id uuid,
  result text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (team_id, device_id, client_action_id)
);
CREATE TABLE devices (
  team_id uuid NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  device_id text NOT NULL,
  user_id uuid REFERENCES users(id) ON DELETE SET NULL,
  last_seen_at timestamptz NOT NULL,
  last_pulled_seq bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (team_id, device_id)
);
CREATE TABLE stats (
  id uuid PRIMARY KEY,
  team_id uuid REFERENCES teams(id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  tool text NOT NULL,
  action text NOT NULL,
  duration_ms bigint NOT NULL DEFAULT 0,
  tokens_used bigint NOT NULL DEFAULT 0,
  cost_micros bigint NOT NULL DEFAULT 0,
  prompt_hash text,
  pattern_id uuid,
  metadata text,
  created_at timestamptz NOT NULL
);
CREATE INDEX stats_team_created ON stats(team_id, created_at);
CREATE INDEX stats_user_created ON stats(user_id, created_at);
CREATE TABLE stats_daily (
  team_id text NOT NULL DEFAULT '',
  user_id uuid NOT NULL,
  day date NOT NULL,
  tool text NOT NULL,
  runs bigint NOT NULL DEFAULT 0,
  duration_ms bigint NOT NULL DEFAULT 0,
  tokens bigint NOT NULL DEFAULT 0,
  cost_micros bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (team_id, user_id, day, tool)
);
CREATE INDEX stats_daily_team_day ON stats_daily(team_id, day);
CREATE INDEX stats_daily_user_day ON stats_daily(user_id, day);
CREATE TABLE audit_log (
  id uuid PRIMARY KEY,
  team_id uuid,
  actor_id uuid,
  action text NOT NULL,
  target_type text,
  target_id text,
  ip text,
  user_agent text,
  request_id text,
  metadata text NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL
);
CREATE INDEX audit_log_team_created ON audit_log(team_id, created_at);
CREATE INDEX audit_log_actor ON audit_log(actor_id);
CREATE TABLE jobs (
  name text PRIMARY KEY,
  last_started_at timestamptz,
  last_finished_at timestamptz,
  last_status text,
  last_error text,
  runs bigint NOT NULL DEFAULT 0
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
`
