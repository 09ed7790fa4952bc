/**
 * Usage by model, and priced (issue 13):
 *
 * - `stats` records gain the model, the token breakdown (input, output, cache read, cache
 *   write; `tokens_used` stays their total), the session and where the cost came from
 *   (`cost_source`: `reported` by the assistant, `computed` from the price table, `none`).
 * - `stats_daily` gains `model` in its key, the same breakdown, the part of the cost that
 *   was computed and the tokens no price covered. SQLite cannot change a primary key, so the
 *   table is rebuilt; existing rows keep model `''` (none recorded).
 * - `model_prices`: the operator's prices, per million tokens in micro-dollars, over the
 *   shipped defaults (core `Prices`).
 */
export const sqlite = `
ALTER TABLE stats ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE stats ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stats ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stats ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stats ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stats ADD COLUMN cost_source TEXT NOT NULL DEFAULT 'none';
ALTER TABLE stats ADD COLUMN session_id TEXT;
UPDATE stats SET cost_source = 'reported' WHERE cost_micros > 0;
CREATE TABLE stats_daily_v2 (
  team_id TEXT NOT NULL DEFAULT '',
  user_id TEXT NOT NULL,
  day TEXT NOT NULL,
  tool TEXT NOT NULL,
  model TEXT NOT NULL DEFAULT '',
  runs INTEGER NOT NULL DEFAULT 0,
  duration_ms INTEGER NOT NULL DEFAULT 0,
  tokens INTEGER NOT NULL DEFAULT 0,
  input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  cache_read_tokens INTEGER NOT NULL DEFAULT 0,
  cache_write_tokens INTEGER NOT NULL DEFAULT 0,
  cost_micros INTEGER NOT NULL DEFAULT 0,
  computed_cost_micros INTEGER NOT NULL DEFAULT 0,
  unpriced_tokens INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (team_id, user_id, day, tool, model)
);
INSERT INTO stats_daily_v2 (team_id, user_id, day, tool, runs, duration_ms, tokens, cost_micros, unpriced_tokens)
  SELECT team_id, user_id, day, tool, runs, duration_ms, tokens, cost_micros,
    CASE WHEN cost_micros = 0 THEN tokens ELSE 0 END
  FROM stats_daily;
DROP TABLE stats_daily;
ALTER TABLE stats_daily_v2 RENAME TO stats_daily;
CREATE INDEX stats_daily_team_day ON stats_daily(team_id, day);
CREATE INDEX stats_daily_user_day ON stats_daily(user_id, day);
CREATE TABLE model_prices (
  model TEXT PRIMARY KEY,
  input_micros INTEGER NOT NULL,
  output_micros INTEGER NOT NULL,
  cache_read_micros INTEGER NOT NULL,
  cache_write_micros INTEGER NOT NULL,
  updated_at TEXT NOT NULL
)
`

export const pg = `
ALTER TABLE stats ADD COLUMN model text NOT NULL DEFAULT '';
ALTER TABLE stats ADD COLUMN input_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE stats ADD COLUMN output_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE stats ADD COLUMN cache_read_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE stats ADD COLUMN cache_write_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE stats ADD COLUMN cost_source text NOT NULL DEFAULT 'none';
ALTER TABLE stats ADD COLUMN session_id text;
UPDATE stats SET cost_source = 'reported' WHERE cost_micros > 0;
ALTER TABLE stats_daily ADD COLUMN model text NOT NULL DEFAULT '';
ALTER TABLE stats_daily ADD COLUMN input_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE stats_daily ADD COLUMN output_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE stats_daily ADD COLUMN cache_read_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE stats_daily ADD COLUMN cache_write_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE stats_daily ADD COLUMN computed_cost_micros bigint NOT NULL DEFAULT 0;
ALTER TABLE stats_daily ADD COLUMN unpriced_tokens bigint NOT NULL DEFAULT 0;
UPDATE stats_daily SET unpriced_tokens = tokens WHERE cost_micros = 0;
ALTER TABLE stats_daily DROP CONSTRAINT stats_daily_pkey;
ALTER TABLE stats_daily ADD PRIMARY KEY (team_id, user_id, day, tool, model);
CREATE TABLE model_prices (
  model text PRIMARY KEY,
  input_micros bigint NOT NULL,
  output_micros bigint NOT NULL,
  cache_read_micros bigint NOT NULL,
  cache_write_micros bigint NOT NULL,
  updated_at timestamptz NOT NULL
)
`
