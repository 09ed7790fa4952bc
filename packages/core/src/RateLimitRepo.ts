/**
 * Owns `rate_limits` (PostgreSQL only). Rate-limit counters: one-minute windows per key,
 * owned by the storage layer because where they live depends on the store.
 *
 * - **Redis**, when `REDIS_URL` is set (`EngineConfig.redisUrl`): one script call per check
 *   counts every key of the check (`INCR`, and `PEXPIRE` when the key's window opens), so
 *   the limit holds for every process that uses that Redis. Keys are prefixed with a hash of
 *   the database's identity, so deployments on different databases never share counts and
 *   processes on the same one always do. The cheapest shared count (docs/rate-limits.md).
 * - **PostgreSQL** otherwise (several processes on one database): the `rate_limits` table.
 *   One statement per check: an upsert of every key that opens a new window when the key's
 *   last one ended, timed by the database's clock so processes on different hosts agree.
 *   `UNLOGGED` (counters are not worth a WAL write; a crash loses at most a minute of them);
 *   ended windows are swept by whichever process checks first after a minute.
 * - **SQLite** otherwise (one process): the same windows in process memory (`RateWindows`);
 *   a write per request would cost SQLite's single writer more than the request itself.
 *
 * A counter that does not answer fails the check with a defect whose cause is `Unavailable`
 * (or the database's own connection error): the caller answers 503, never "allowed".
 */
import { createHash } from "node:crypto"
import { SqlClient } from "@effect/sql"
import { Unavailable } from "@mur/domain"
import { Effect, Redacted } from "effect"
import { Redis } from "ioredis"
import { EngineConfig } from "./Config.js"
import { RateWindows, WINDOW_MS } from "./RateWindows.js"
import { Database } from "./Storage.js"

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

/** The first key over its limit, from each key's count and milliseconds left in its window. */
const decide = (keys: ReadonlyArray<RateKey>, counts: ReadonlyArray<{ count: number; msLeft: number }>) => {
  for (let i = 0; i < keys.length; i++) {
    const c = counts[i]!
    if (c.count > keys[i]!.limit)
      return { allowed: false, retryAfter: Math.max(1, Math.ceil(c.msLeft / 1000)), refusedBy: keys[i]!.key }
  }
  return ALLOWED
}

/** INCR each key, opening its window (PEXPIRE) on the first hit; returns count and PTTL pairs. */
const REDIS_HIT = `
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if n == 1 or ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out`

const redisUnavailable = (cause: unknown) =>
  new Unavailable({
    code: "unavailable",
    message: `The rate-limit store (REDIS_URL) does not answer: ${(cause as Error)?.message ?? cause}`
  })

export class RateLimitRepo extends Effect.Service<RateLimitRepo>()("@mur/core/RateLimitRepo", {
  scoped: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const config = yield* EngineConfig
    const database = yield* Database
    const isPg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
    const counted = (keys: ReadonlyArray<RateKey>) => keys.filter((k) => k.limit > 0)

    /** Counts one hit on every key (limit > 0) and says whether all are still within it. */
    let hit: (keys: ReadonlyArray<RateKey>) => Effect.Effect<RateDecision>

    if (config.redisUrl !== undefined) {
      const url = Redacted.value(config.redisUrl)
      const client = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            const redis = new Redis(url, {
              lazyConnect: true,
              // A request must not wait for a Redis that is away: fail at once (503), reconnect meanwhile.
              enableOfflineQueue: false,
              maxRetriesPerRequest: 1,
              connectTimeout: 5000
            })
            redis.on("error", () => undefined)
            try {
              await redis.connect()
            } catch (e) {
              redis.disconnect()
              throw e
            }
            return redis
          },
          catch: (e) => new Error(`REDIS_URL does not answer: ${(e as Error)?.message ?? e}`)
        }),
        (redis) => Effect.promise(() => redis.quit().catch(() => redis.disconnect()))
      ).pipe(Effect.orDie)
      const identity = database.dialect === "pg" ? database.url.replace(/\/\/[^@/]*@/, "//") : database.filename
      const prefix = `mur:rl:${createHash("sha256").update(identity).digest("hex").slice(0, 16)}:`
      hit = (all) => {
        const keys = counted(all)
        if (keys.length === 0) return Effect.succeed(ALLOWED)
        return Effect.tryPromise({
          try: () => client.eval(REDIS_HIT, keys.length, ...keys.map((k) => prefix + k.key), WINDOW_MS),
          catch: redisUnavailable
        }).pipe(
          Effect.map((reply) => {
            const r = reply as ReadonlyArray<number>
            return decide(
              keys,
              keys.map((_, i) => ({ count: Number(r[2 * i]), msLeft: Number(r[2 * i + 1]) }))
            )
          }),
          Effect.orDie
        )
      }
    } else if (!isPg) {
      const windows = new RateWindows()
      hit = (keys) =>
        Effect.sync(() => {
          for (const { key, limit } of keys) {
            const d = windows.hit(key, limit)
            if (!d.allowed) return { allowed: false, retryAfter: d.retryAfter, refusedBy: key }
          }
          return ALLOWED
        })
    } else {
      let sweptAt = 0
      const sweep = (now: number) =>
        sql`DELETE FROM rate_limits WHERE window_start <= ${now - WINDOW_MS}`.pipe(Effect.ignore)
      hit = (all) => {
        const keys = counted(all)
        if (keys.length === 0) return Effect.succeed(ALLOWED)
        const values = sql.join(
          ", ",
          false
        )(keys.map((k) => sql`(${k.key}, (extract(epoch from clock_timestamp()) * 1000)::bigint, 1)`))
        return sql<{ key: string; window_start: number; count: number; now: number }>`
          INSERT INTO rate_limits AS r (key, window_start, count) VALUES ${values}
          ON CONFLICT (key) DO UPDATE SET
            window_start = CASE WHEN r.window_start <= EXCLUDED.window_start - ${WINDOW_MS}
              THEN EXCLUDED.window_start ELSE r.window_start END,
            count = CASE WHEN r.window_start <= EXCLUDED.window_start - ${WINDOW_MS}
              THEN 1 ELSE r.count + 1 END
          RETURNING key, window_start, count, (extract(epoch from clock_timestamp()) * 1000)::bigint AS now`.pipe(
          Effect.flatMap((rows) => {
            const byKey = new Map(rows.map((row) => [row.key, row]))
            const now = Number(rows[0]?.now ?? 0)
            const decision = decide(
              keys,
              keys.map((k) => {
                const row = byKey.get(k.key)
                return row === undefined
                  ? { count: 0, msLeft: 0 }
                  : { count: Number(row.count), msLeft: Number(row.window_start) + WINDOW_MS - now }
              })
            )
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
