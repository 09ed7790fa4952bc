/**
 * Owns `rate_limits` (PostgreSQL only). Rate-limit counters: one-minute windows per key,
 * owned by the storage layer because where they live depends on the store.
 *
 * - **PostgreSQL** (several processes on one database): the `rate_limits` table, so the
 *   limit holds for the deployment, not per process. One statement per check counts every
 *   key of the check and returns their windows: an upsert that opens a new window when the
 *   key's last one ended, timed by the database's clock so processes on different hosts
 *   agree. The table is `UNLOGGED` (counters are not worth a WAL write and a crash loses at
 *   most a minute of them), and ended windows are swept by whichever process checks first
 *   after a minute.
 * - **SQLite** (one process): the same windows in process memory (`RateWindows`); a write
 *   per request would cost SQLite's single writer more than the request itself.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { RateWindows, WINDOW_MS } from "./RateWindows.js"

/** One key of a check and its limit per minute. */
export interface RateKey {
  readonly key: string
  readonly limit: number
}

export interface RateDecision {
  readonly allowed: boolean
  /** Seconds until the refusing key's window ends (for `Retry-After`); 0 when allowed. */
  readonly retryAfter: number
  /** The key that refused, when one did. */
  readonly refusedBy: string | null
}

const ALLOWED: RateDecision = { allowed: true, retryAfter: 0, refusedBy: null }

export class RateLimitRepo extends Effect.Service<RateLimitRepo>()("@mur/core/RateLimitRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const isPg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })

    /** Counts one hit on every key (limit > 0) and says whether all are still within it. */
    let hit: (keys: ReadonlyArray<RateKey>) => Effect.Effect<RateDecision>

    if (!isPg) {
      const windows = new RateWindows()
      hit = (keys) =>
        Effect.sync(() => {
          let decision = ALLOWED
          for (const { key, limit } of keys) {
            const d = windows.hit(key, limit)
            if (!d.allowed && decision.allowed) decision = { allowed: false, retryAfter: d.retryAfter, refusedBy: key }
          }
          return decision
        })
    } else {
      let sweptAt = 0
      const sweep = (now: number) =>
        sql`DELETE FROM rate_limits WHERE window_start <= ${now - WINDOW_MS}`.pipe(Effect.ignore)
      hit = (keys) => {
        const counted = keys.filter((k) => k.limit > 0)
        if (counted.length === 0) return Effect.succeed(ALLOWED)
        const values = sql.join(
          ", ",
          false
        )(counted.map((k) => sql`(${k.key}, (extract(epoch from clock_timestamp()) * 1000)::bigint, 1)`))
        return sql<{ key: string; window_start: number; count: number; now: number }>`
          INSERT INTO rate_limits AS r (key, window_start, count) VALUES ${values}
          ON CONFLICT (key) DO UPDATE SET
            window_start = CASE WHEN r.window_start <= EXCLUDED.window_start - ${WINDOW_MS}
              THEN EXCLUDED.window_start ELSE r.window_start END,
            count = CASE WHEN r.window_start <= EXCLUDED.window_start - ${WINDOW_MS}
              THEN 1 ELSE r.count + 1 END
          RETURNING key, window_start, count, (extract(epoch from clock_timestamp()) * 1000)::bigint AS now`.pipe(
          Effect.flatMap((rows) => {
            let decision = ALLOWED
            let now = 0
            for (const row of rows) {
              now = Number(row.now)
              const limit = counted.find((k) => k.key === row.key)!.limit
              if (Number(row.count) > limit && decision.allowed) {
                const end = Number(row.window_start) + WINDOW_MS
                decision = {
                  allowed: false,
                  retryAfter: Math.max(1, Math.ceil((end - now) / 1000)),
                  refusedBy: row.key
                }
              }
            }
            if (now - sweptAt < WINDOW_MS) return Effect.succeed(decision)
            sweptAt = now
            return Effect.as(Effect.forkDaemon(sweep(now)), decision)
          }),
          // Counting needs the database that the request needs anyway: when it is down, the
          // edge answers 503 (a defect whose cause is the connection failure).
          Effect.orDie
        )
      }
    }
    return { hit } as const
  })
}) {}
