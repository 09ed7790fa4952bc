// What every benchmark script shares: a cleanup registry that runs in reverse even on
// failure or a signal, a whole-run time budget, fresh databases that are dropped after, and
// the options of an in-process mur-server.
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Storage } from "@mur/core"
import { startServer } from "@mur/server"
import { Redacted } from "effect"
import pg from "pg"

export { fmt, table } from "./format.mjs"

export const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const cleanups = []
const beforeCleanup = []

/** Registers a release; all of them run in reverse order at the end (or on abort). */
export const onCleanup = (name, f) => cleanups.push({ name, f })

/** Runs first on cleanup, synchronously (e.g. kill a load generator still running). */
export const onBeforeCleanup = (f) => beforeCleanup.push(f)

const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: timed out`)), ms).unref())])

// One cleanup at a time: a signal arriving during the normal cleanup waits for the same one.
let cleaning = null
export const cleanupAll = () =>
  (cleaning ??= (async () => {
    for (const f of beforeCleanup) f()
    while (cleanups.length > 0) {
      const { name, f } = cleanups.pop()
      try {
        await withTimeout(Promise.resolve().then(f), 15_000, `cleanup ${name}`)
      } catch (e) {
        process.stderr.write(`cleanup ${name} failed: ${e?.message ?? e}\n`)
      }
    }
  })().finally(() => {
    cleaning = null
  }))

let exiting = false
/** True once an abort (signal, budget) has begun: callers stop reporting errors then. */
export const isExiting = () => exiting

/** Cleans everything up and exits with `code`. */
export const abort = async (code, message) => {
  if (exiting) return
  exiting = true
  process.stderr.write(`${message}\n`)
  await cleanupAll()
  process.exit(code)
}
process.on("SIGINT", () => abort(130, "interrupted; cleaning up"))
process.on("SIGTERM", () => abort(143, "terminated; cleaning up"))

/** Past `budgetMs` the run is cleaned up and fails. */
export const setBudget = (budgetMs) =>
  setTimeout(
    () => abort(1, `benchmark exceeded its ${Math.round(budgetMs / 1000)} s budget; cleaning up`),
    budgetMs
  ).unref()

export const withAdmin = async (f) => {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

/** A fresh SQLite file in a temp folder, or a fresh PostgreSQL database; both removed at cleanup. */
export const createDatabase = async (store) => {
  if (store === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "mur-bench-"))
    onCleanup("sqlite temp dir", () => rmSync(dir, { recursive: true, force: true }))
    const filename = join(dir, "mur.db")
    return { url: `file:${filename}`, filename }
  }
  const name = `mur_bench_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`
  // Registered first, so that an interruption during CREATE still drops it.
  onCleanup(`DROP DATABASE ${name}`, () => withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)))
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`))
  const url = new URL(PG_ADMIN_URL)
  url.pathname = `/${name}`
  return { url: url.toString(), name }
}

/** Connections of mur-server's PostgreSQL pool, and of the bare baselines' pools. */
export const POOL_SIZE = 10

/** A JWT secret for one benchmark run. */
export const benchSecret = () => `bench-secret-${randomBytes(24).toString("hex")}`

/**
 * `startServer` options for an in-process mur-server on `db`: an ephemeral port, no logs, no
 * rate limits, sign-up open, cheap bcrypt. `extra` adds or overrides top-level options.
 */
export const murOptions = (
  db,
  { secret, poolSize = POOL_SIZE, accessTokenTtlSeconds = 900, engine: engineExtra = {}, ...extra }
) => {
  const database = Storage.parseDatabaseUrl(db.url)
  if ("error" in database) throw new Error(database.error)
  return {
    port: 0,
    host: "127.0.0.1",
    database: database.dialect === "pg" ? { ...database, maxConnections: poolSize } : database,
    logLevel: "none",
    rateLimits: { auth: 0, user: 0, team: 0 },
    ...extra,
    engine: {
      jwtSecret: Redacted.make(secret),
      bcryptCost: 10,
      allowSignup: true,
      baseUrl: "http://localhost",
      accessTokenTtlSeconds,
      refreshTokenTtlSeconds: 604800,
      ...engineExtra
    }
  }
}

/** An in-process mur-server on `db`, closed at cleanup. */
export const startMur = async (db, options) => {
  const running = await startServer(murOptions(db, options))
  onCleanup(`mur-server ${db.store}`, () => running.close(1000))
  return running
}

/**
 * Runs `bench(store)` for each store in turn; a store that fails is reported and cleaned up,
 * and the others still run. Null when the run is being interrupted.
 */
export const runStores = async (stores, bench) => {
  const all = {}
  let failed = false
  for (const store of stores) {
    try {
      all[store] = await bench(store)
    } catch (e) {
      failed = true
      if (!isExiting()) process.stderr.write(`\n${store}: ${e?.stack ?? e}\n`)
      await cleanupAll()
    }
    if (isExiting()) return null
  }
  return { all, failed }
}

/** Runs a benchmark's `main`, cleans up whatever it left, and exits with its code (1 on a throw). */
export const runMain = async (main) => {
  let code = 1
  try {
    code = await main()
  } catch (e) {
    process.stderr.write(`${e?.stack ?? e}\n`)
  } finally {
    await cleanupAll()
  }
  process.exit(code)
}
