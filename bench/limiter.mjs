// The shared rate limiter (issue 12): what a check costs where the counts live, measured in one
// run on one machine, so that the choice of PostgreSQL over Redis is a measured one.
//
//   1. one check in a closed loop by 32 concurrent callers, each a different user:
//      - memory:     RateWindows (SQLite's counter, in process)
//      - PostgreSQL: RateLimitRepo's upsert on `rate_limits` (what a PostgreSQL deployment runs)
//      - SELECT 1:   the same pool's bare round trip, the floor of any query
//      - Redis:      INCR + PEXPIRE … NX on one key (a Redis limiter's least work), over 10
//                    connections with the calls pipelined, with a minimal RESP client
//   2. GET /api/me on PostgreSQL with the limits on (a user limit no run reaches) and off, in
//      ABBA rounds: what the shared count adds to a whole request.
//
//   node bench/limiter.mjs      (uses the existing dist; `npm run build` first)
//
// Environment: BENCH_SECONDS (per measurement, default 3), BENCH_REDIS (host:port, default
// 127.0.0.1:6379; skipped when it does not answer), BENCH_PG_URL.

import { spawn } from "node:child_process"
import { connect } from "node:net"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { SqlClient } from "@effect/sql"
import { EngineConfig, Limiter, RateLimitRepo, RateWindows, Storage } from "@mur/core"
import { Layer, ManagedRuntime, Redacted } from "effect"
import { benchSecret, createDatabase, fmt, onCleanup, POOL_SIZE, runMain, setBudget, startMur, table } from "./lib.mjs"

const HERE = dirname(fileURLToPath(import.meta.url))
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const CONCURRENCY = 32
const [REDIS_HOST, REDIS_PORT] = (process.env.BENCH_REDIS ?? "127.0.0.1:6379").split(":")

setBudget((SECONDS * 12 + 90) * 1000)

/** `f` called back to back by `CONCURRENCY` callers for `SECONDS`: checks per second and µs each. */
const closedLoop = async (f) => {
  const until = performance.now() + SECONDS * 1000
  let done = 0
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, caller) => {
      while (performance.now() < until) {
        await f(caller)
        done += 1
      }
    })
  )
  const perSecond = done / SECONDS
  return { perSecond, latencyUs: (CONCURRENCY / perSecond) * 1e6, costUs: 1e6 / perSecond }
}

/** A minimal RESP client: commands pipelined on `n` connections, replies matched in order. */
const redisClient = (n) =>
  new Promise((resolve, reject) => {
    const conns = []
    let open = 0
    for (let i = 0; i < n; i++) {
      const socket = connect(Number(REDIS_PORT), REDIS_HOST)
      const waiting = []
      let buffer = ""
      socket.setNoDelay(true)
      socket.on("data", (chunk) => {
        buffer += chunk.toString("latin1")
        let nl = buffer.indexOf("\r\n")
        while (nl >= 0) {
          const line = buffer.slice(0, nl)
          buffer = buffer.slice(nl + 2)
          const w = waiting.shift()
          if (line[0] === "-") w?.reject(new Error(line))
          else w?.resolve(line)
          nl = buffer.indexOf("\r\n")
        }
      })
      socket.on("error", reject)
      socket.on("connect", () => {
        open += 1
        if (open === n)
          resolve({
            conns,
            close: () => {
              for (const c of conns) c.socket.end()
            }
          })
      })
      conns.push({
        socket,
        send: (args) =>
          new Promise((res, rej) => {
            waiting.push({ resolve: res, reject: rej })
            socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`)
          })
      })
    }
    setTimeout(() => reject(new Error("Redis does not answer")), 2000).unref()
  })

const loadMe = (url, token, seconds) =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(HERE, "load.mjs"), `${url}/api/me`, token, String(seconds), String(CONCURRENCY), "0.5"],
      { stdio: ["ignore", "pipe", "inherit"] }
    )
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.on("error", reject)
    child.on("exit", (code) => {
      try {
        const r = JSON.parse(out)
        if (code !== 0 || !r.ok) reject(new Error(`load failed: ${out}`))
        else resolve(r)
      } catch (e) {
        reject(e)
      }
    })
  })

const register = async (url) => {
  const r = await fetch(`${url}/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: `bench-${Date.now()}@example.test`, password: "bench password", name: "Bench" })
  })
  return (await r.json()).access_token
}

const main = async () => {
  const db = await createDatabase("postgres")
  const database = Storage.parseDatabaseUrl(db.url)
  const config = {
    jwtSecret: Redacted.make(benchSecret()),
    bcryptCost: 10,
    allowSignup: true,
    accessTokenTtlSeconds: 900,
    refreshTokenTtlSeconds: 604800,
    rateLimits: { auth: 0, user: 1e9, team: 1e9 }
  }
  const runtime = ManagedRuntime.make(
    Limiter.Default.pipe(
      Layer.provideMerge(RateLimitRepo.Default),
      Layer.provideMerge(Layer.effectDiscard(Storage.migrate)),
      Layer.provideMerge(Storage.layer({ ...database, maxConnections: POOL_SIZE })),
      Layer.provideMerge(Layer.succeed(EngineConfig, config))
    )
  )
  onCleanup("runtime", () => runtime.dispose())
  const limiter = await runtime.runPromise(Limiter)
  const sql = await runtime.runPromise(SqlClient.SqlClient)
  const users = Array.from({ length: CONCURRENCY }, (_, i) => `bench-user-${i}`)

  const rows = [["check", "checks/s", "µs per check (1 / throughput)", "latency µs (32 callers)", "× SELECT 1"]]
  const windows = new RateWindows()
  const memory = await closedLoop(async (c) => windows.hit(`user:${users[c]}`, 1e9))
  const select1 = await closedLoop(() => runtime.runPromise(sql`SELECT 1`))
  const pgCheck = await closedLoop((c) => runtime.runPromise(limiter.user(users[c])))
  let redis = null
  try {
    const client = await redisClient(10)
    redis = await closedLoop(async (c) => {
      const conn = client.conns[c % client.conns.length]
      const key = `mur-bench:user:${users[c]}`
      await Promise.all([conn.send(["INCR", key]), conn.send(["PEXPIRE", key, "60000", "NX"])])
    })
    client.close()
  } catch (e) {
    process.stderr.write(`Redis skipped: ${e.message}\n`)
  }
  const row = (name, r) => [
    name,
    fmt(r.perSecond),
    fmt(r.costUs, 1),
    fmt(r.latencyUs),
    fmt(r.costUs / select1.costUs, 2)
  ]
  rows.push(row("memory (SQLite's)", memory), row("PostgreSQL upsert", pgCheck), row("SELECT 1", select1))
  if (redis) rows.push(row("Redis INCR+PEXPIRE", redis))
  console.log("\n## Rate-limit check, PostgreSQL vs Redis vs memory\n")
  console.log(table(rows))

  // Whole requests: limits on and off, ABBA, on fresh servers over the same database.
  const secret = benchSecret()
  const on = await startMur(
    { ...db, store: "postgres-limits-on" },
    { secret, rateLimits: { auth: 0, user: 1e9, team: 1e9 } }
  )
  const off = await startMur({ ...db, store: "postgres-limits-off" }, { secret })
  const servers = { pg: on, off }
  if (redis) {
    servers.redis = await startMur(
      { ...db, store: "postgres-limits-redis" },
      {
        secret,
        rateLimits: { auth: 0, user: 1e9, team: 1e9 },
        engine: { redisUrl: Redacted.make(`redis://${REDIS_HOST}:${REDIS_PORT}`) }
      }
    )
  }
  const token = await register(off.url)
  const names = Object.keys(servers)
  const results = Object.fromEntries(names.map((n) => [n, []]))
  // Every server in each round, the order reversed every other round (drift hits all alike).
  for (let round = 0; round < 4; round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse())
      results[name].push((await loadMe(servers[name].url, token, SECONDS / 2)).rps)
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
  const rps = Object.fromEntries(names.map((n) => [n, mean(results[n])]))
  const label = { pg: "counted in PostgreSQL", redis: "counted in Redis (REDIS_URL)", off: "limits off" }
  console.log("\n## GET /api/me on PostgreSQL: the user limit counted in PostgreSQL, in Redis, or off\n")
  console.log(
    table([
      ["server", "req/s", "µs per request (1 / throughput)", "× limits off"],
      ...names.map((n) => [label[n], fmt(rps[n]), fmt(1e6 / rps[n]), fmt(rps[n] / rps.off, 2)])
    ])
  )
  return 0
}

runMain(main)
