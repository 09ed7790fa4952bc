/**
 * Request counters shared by every process of a PostgreSQL deployment (RateLimitRepo): one
 * row per key with its one-minute window. `UNLOGGED`: a counter is not worth a WAL write,
 * and a crash loses at most the current minute's counts. SQLite counts in process memory
 * (a SQLite deployment is one process), so it has no such table.
 */
export const sqlite = ""

export const pg = `
CREATE UNLOGGED TABLE rate_limits (
  key text PRIMARY KEY,
  window_start bigint NOT NULL,
  count integer NOT NULL
)
`
