// GET /api/me: mur-server (Effect HttpApi) against a bare node:http server doing the same
// work on the same database, for SQLite and PostgreSQL. See bench/README.md.
//
//   npm run bench                       (builds first)
//   node bench/run.mjs                  (uses the existing dist)
//
// Environment:
//   BENCH_SECONDS      measured seconds per server and store (default 5)
//   BENCH_WARMUP       warm-up seconds before a server's first round, not counted (default 1)
//   BENCH_ROUNDS       the measured seconds are split in this many rounds, run in ABBA order
//                      (mur, bare, bare, mur, ...) so that drift of the machine hits both
//                      servers alike (default 4; 1 = one plain run each)
//   BENCH_CONCURRENCY  keep-alive connections of the load generator (default 32)
//   BENCH_STORES       comma list of stores: sqlite,postgres (default both)
//   BENCH_ONLY         "mur" or "bare": drive only one of the two servers (for profiling)
//   BENCH_PG_URL       admin URL used to create the throwaway database
//                      (default postgres://postgres@127.0.0.1:5432/test)

import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { createServer } from "node:http"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { isDeepStrictEqual } from "node:util"
import Database from "better-sqlite3"
import { jwtVerify } from "jose"
import pg from "pg"
import {
  benchSecret,
  cleanupAll,
  createDatabase,
  fmt,
  isExiting,
  onBeforeCleanup,
  onCleanup,
  POOL_SIZE,
  runMain,
  runStores,
  setBudget,
  startMur,
  table
} from "./lib.mjs"

const HERE = dirname(fileURLToPath(import.meta.url))
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32)
const ROUNDS = Math.max(1, Math.floor(Number(process.env.BENCH_ROUNDS ?? 4)))
/** Warm-up of every later round: the connections are new, the code is already hot. */
const ROUND_WARMUP = Math.min(0.25, WARMUP)
const STORES = (process.env.BENCH_STORES ?? "sqlite,postgres")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean)
const ONLY = process.env.BENCH_ONLY ?? ""
const SECRET = benchSecret()
const ISSUER = "mur-server"

for (const s of STORES) if (s !== "sqlite" && s !== "postgres") throw new Error(`unknown store ${s}`)
if (ONLY !== "" && ONLY !== "mur" && ONLY !== "bare") throw new Error(`BENCH_ONLY must be mur or bare`)
const SIDES = ONLY === "" ? ["mur", "bare"] : [ONLY]

// ---------------------------------------------------------------------------------------
// Cleanup: every resource registers its release here; run in reverse, even on failure.

let currentChild = null
onBeforeCleanup(() => currentChild?.kill("SIGKILL"))
// Whole-run bound (82 s by default): per store, setup + each side's warm-up and measurement
// + a few seconds of slack per load run. Past it, everything is cleaned up and the run fails.
const budgetMs = STORES.length * (15 + SIDES.length * (WARMUP + SECONDS + ROUNDS * (ROUND_WARMUP + 1.5))) * 1000
setBudget(budgetMs)

// ---------------------------------------------------------------------------------------
// The bare node:http server: what GET /api/me does, with nothing around it.
// Mirrors packages/core: AccessTokens.verify, SessionRepo.findLiveUser, TeamRepo.listForUser,
// toUser/toTeam (PlanLimits), and the { user, teams } body.

const PLAN_LIMITS = {
  free: { maxMembers: 5, maxPatterns: 100 },
  team: { maxMembers: 30, maxPatterns: 1000 },
  enterprise: { maxMembers: null, maxPatterns: null }
}

const FIND_LIVE_USER = `
        SELECT u.id, u.email, u.name, u.created_at
        FROM auth_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = ? AND s.user_id = ? AND s.revoked_at IS NULL`
const LIST_FOR_USER = `
        SELECT t.id, t.name, t.slug, t.plan, t.created_at, t.updated_at, m.role
        FROM memberships m JOIN teams t ON t.id = m.team_id
        WHERE m.user_id = ?
        ORDER BY m.joined_at, t.id`
const toPg = (sql) => {
  let i = 0
  return sql.replace(/\?/g, () => `$${++i}`)
}

// Same type parsers as packages/core/src/Storage.ts: times come back as ISO strings.
const pgTypes = {
  getTypeParser: (oid, format) => {
    switch (oid) {
      case 1184:
        return (v) => new Date(v.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00")).toISOString()
      case 1114:
        return (v) => new Date(`${v.replace(" ", "T")}Z`).toISOString()
      case 1082:
        return (v) => v
      case 20:
        return (v) => Number(v)
      default:
        return pg.types.getTypeParser(oid, format)
    }
  }
}

const makeBareStore = (store, db) => {
  if (store === "sqlite") {
    const conn = new Database(db.filename)
    conn.pragma("busy_timeout = 5000")
    const journal = conn.pragma("journal_mode", { simple: true })
    if (journal !== "wal") throw new Error(`expected the SQLite file in WAL mode, found ${journal}`)
    const liveUser = conn.prepare(FIND_LIVE_USER)
    const teams = conn.prepare(LIST_FOR_USER)
    return {
      findLiveUser: async (sessionId, userId) => liveUser.get(sessionId, userId),
      listForUser: async (userId) => teams.all(userId),
      close: async () => conn.close()
    }
  }
  const pool = new pg.Pool({ connectionString: db.url, max: POOL_SIZE, types: pgTypes, application_name: "bare-bench" })
  pool.on("error", () => {})
  const liveUserSql = toPg(FIND_LIVE_USER)
  const teamsSql = toPg(LIST_FOR_USER)
  return {
    findLiveUser: async (sessionId, userId) => (await pool.query(liveUserSql, [sessionId, userId])).rows[0],
    listForUser: async (userId) => (await pool.query(teamsSql, [userId])).rows,
    close: () => pool.end()
  }
}

const startBare = async (store, db) => {
  const dao = makeBareStore(store, db)
  onCleanup(`bare ${store} store`, () => dao.close())
  // Imported once, as mur-server's AccessTokens does.
  const key = await globalThis.crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(SECRET),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"]
  )
  const send = (res, status, body, requestId) => {
    const text = JSON.stringify(body)
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
      "x-request-id": requestId
    })
    res.end(text)
  }
  const unauthorized = (res, requestId, message) =>
    send(res, 401, { error: { code: "unauthorized", message, request_id: requestId } }, requestId)

  const handle = async (req, res) => {
    const requestId = randomUUID()
    if (req.method !== "GET" || req.url.split("?")[0] !== "/api/me") {
      return send(res, 404, { error: { code: "not_found", message: "No route", request_id: requestId } }, requestId)
    }
    const header = req.headers.authorization ?? ""
    if (!header.startsWith("Bearer ") || header.length === 7)
      return unauthorized(res, requestId, "Missing or invalid credentials")
    let payload
    try {
      ;({ payload } = await jwtVerify(header.slice(7), key, { algorithms: ["HS256"], issuer: ISSUER }))
    } catch {
      return unauthorized(res, requestId, "Invalid access token")
    }
    if (typeof payload.sub !== "string" || typeof payload.sid !== "string") {
      return unauthorized(res, requestId, "Invalid access token")
    }
    const row = await dao.findLiveUser(payload.sid, payload.sub)
    if (row === undefined) return unauthorized(res, requestId, "This login has ended")
    const user = { id: row.id, email: row.email, name: row.name, created_at: row.created_at }
    const rows = await dao.listForUser(user.id)
    const teams = rows.map((r) => {
      const limits = PLAN_LIMITS[r.plan]
      return {
        team: {
          id: r.id,
          name: r.name,
          slug: r.slug,
          plan: r.plan,
          max_members: limits.maxMembers,
          max_patterns: limits.maxPatterns,
          created_at: r.created_at,
          updated_at: r.updated_at
        },
        role: r.role
      }
    })
    send(res, 200, { user, teams }, requestId)
  }

  const server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
    handle(req, res).catch((e) => {
      if (!isExiting()) process.stderr.write(`bare server error: ${e?.stack ?? e}\n`)
      if (!res.headersSent) send(res, 500, { error: { code: "internal_error", message: "Internal server error" } }, "")
      else res.destroy()
    })
  })
  await new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject)
      resolve()
    })
  })
  onCleanup(`bare ${store} server`, () => {
    const closed = new Promise((resolve) => server.close(() => resolve()))
    server.closeAllConnections()
    return closed
  })
  return { url: `http://127.0.0.1:${server.address().port}` }
}

// ---------------------------------------------------------------------------------------
// mur-server, in-process through the library

const register = async (baseUrl) => {
  const res = await fetch(`${baseUrl}/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "bench@example.com", password: "correct horse battery staple", name: "Bench" })
  })
  const body = await res.json()
  if (res.status !== 201 || typeof body.access_token !== "string") {
    throw new Error(`register answered ${res.status}: ${JSON.stringify(body)}`)
  }
  return body.access_token
}

const getMe = async (baseUrl, token) => {
  const res = await fetch(`${baseUrl}/api/me`, { headers: { authorization: `Bearer ${token}` } })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`GET ${baseUrl}/api/me answered ${res.status}: ${text}`)
  return JSON.parse(text)
}

// ---------------------------------------------------------------------------------------
// Load generator (child process: bench/load.mjs)

// Also measures this process's CPU time while the child runs: only the server under load is
// busy then, so CPU time / responses is that server's cost of one request.
const runLoad = (url, token, seconds, warmup) =>
  new Promise((resolve, reject) => {
    const cpuBefore = process.cpuUsage()
    const child = spawn(
      process.execPath,
      [join(HERE, "load.mjs"), url, token, String(seconds), String(CONCURRENCY), String(warmup), "raw"],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    currentChild = child
    let out = ""
    let err = ""
    child.stdout.on("data", (d) => {
      out += d
    })
    child.stderr.on("data", (d) => {
      err += d
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), (warmup + seconds + 15) * 1000)
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      currentChild = null
      const cpu = process.cpuUsage(cpuBefore)
      try {
        if (code !== 0) throw new Error(`exited with ${code ?? signal}`)
        const result = JSON.parse(out.trim().split("\n").pop())
        result.cpu_us = cpu.user + cpu.system
        resolve(result)
      } catch (e) {
        reject(new Error(`load generator for ${url} failed (${e.message}); stderr: ${err.trim()}`))
      }
    })
  })

// ---------------------------------------------------------------------------------------

const benchStore = async (store) => {
  const db = await createDatabase(store)
  const mur = await startMur(db, { secret: SECRET })
  const token = await register(mur.url)
  const servers = { mur: mur.url }
  if (SIDES.includes("bare")) {
    const bare = await startBare(store, db)
    servers.bare = bare.url
    // Both must answer the very same body before their speed means anything.
    const [a, b] = await Promise.all([getMe(mur.url, token), getMe(bare.url, token)])
    if (!isDeepStrictEqual(a, b)) {
      throw new Error(`bodies differ:\n  mur-server: ${JSON.stringify(a)}\n  bare:       ${JSON.stringify(b)}`)
    }
  }
  const runs = Object.fromEntries(SIDES.map((side) => [side, []]))
  const slice = SECONDS / ROUNDS
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? SIDES : [...SIDES].reverse()
    for (const side of order) {
      const warmup = runs[side].length === 0 ? WARMUP : ROUND_WARMUP
      process.stderr.write(
        `  ${store}: ${side === "mur" ? "mur-server" : "bare node:http"} round ${round + 1}/${ROUNDS} ... `
      )
      const r = await runLoad(`${servers[side]}/api/me`, token, slice, warmup)
      process.stderr.write(
        `${r.rps} req/s, ${fmt(r.cpu_us / r.all_requests)} µs CPU/req${r.ok ? "" : ` (FAILED: non200=${r.non200} errors=${r.errors} ${JSON.stringify(r.sample)})`}\n`
      )
      runs[side].push(r)
      if (!r.ok) break
    }
  }
  await cleanupAll()
  return Object.fromEntries(Object.entries(runs).map(([side, rs]) => [side, merge(rs)]))
}

/** One result from the rounds of a server: totals, and percentiles over every latency. */
const merge = (rs) => {
  const requests = rs.reduce((a, r) => a + r.requests, 0)
  const seconds = rs.reduce((a, r) => a + r.seconds, 0)
  const all = rs.reduce((a, r) => a + r.all_requests, 0)
  const latencies = Float64Array.from(rs.flatMap((r) => r.latencies_us ?? [])).sort()
  const pct = (p) =>
    latencies.length === 0
      ? null
      : latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((p / 100) * latencies.length) - 1))] / 1000
  return {
    ok: rs.length > 0 && rs.every((r) => r.ok),
    requests,
    seconds: Math.round(seconds * 1000) / 1000,
    rps: seconds > 0 ? Math.round(requests / seconds) : 0,
    p50_ms: pct(50),
    p90_ms: pct(90),
    p99_ms: pct(99),
    max_ms: pct(100),
    cpu_us_per_request: all > 0 ? Math.round(rs.reduce((a, r) => a + r.cpu_us, 0) / all) : null,
    rounds: rs.map((r) => r.rps),
    non200: rs.reduce((a, r) => a + r.non200, 0),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    sample: rs.find((r) => r.sample !== null)?.sample ?? null
  }
}

const main = async () => {
  process.stderr.write(
    `GET /api/me, ${CONCURRENCY} keep-alive connections, ${WARMUP} s warm-up + ${SECONDS} s measured per server ` +
      `(${ROUNDS} round${ROUNDS === 1 ? "" : "s"}${ROUNDS > 1 ? `, ABBA order, ${ROUND_WARMUP} s warm-up of later rounds` : ""}), node ${process.version}\n`
  )
  const ran = await runStores(STORES, benchStore)
  if (ran === null) return 1
  const { all } = ran
  let failed = ran.failed
  const header = [
    "store",
    "mur-server req/s",
    "bare node:http req/s",
    "ratio (mur/bare)",
    "mur p50 ms",
    "mur p99 ms",
    "bare p50 ms",
    "bare p99 ms",
    "mur CPU µs/req",
    "bare CPU µs/req"
  ]
  const rows = [header]
  const summaries = []
  for (const store of STORES) {
    const r = all[store]
    if (!r) {
      rows.push([store, "failed", "", "", "", "", "", "", "", ""])
      continue
    }
    const m = r.mur
    const b = r.bare
    const ratio = m && b && b.rps > 0 ? m.rps / b.rps : null
    const flag = (x) => (x && !x.ok ? " (!)" : "")
    if ((m && !m.ok) || (b && !b.ok)) failed = true
    rows.push([
      store,
      m ? `${m.rps}${flag(m)}` : "-",
      b ? `${b.rps}${flag(b)}` : "-",
      fmt(ratio, 2),
      fmt(m?.p50_ms, 2),
      fmt(m?.p99_ms, 2),
      fmt(b?.p50_ms, 2),
      fmt(b?.p99_ms, 2),
      fmt(m?.cpu_us_per_request),
      fmt(b?.cpu_us_per_request)
    ])
    summaries.push(
      `GET /api/me ${store}: mur-server ${m ? m.rps : "-"} req/s, bare node:http ${b ? b.rps : "-"} req/s, ratio ${fmt(ratio, 2)}`
    )
  }
  process.stdout.write(`\n${table(rows)}\n\n${summaries.join("\n")}\n`)
  if (process.env.BENCH_JSON) process.stdout.write(`${JSON.stringify(all)}\n`)
  return failed ? 1 : 0
}

await runMain(main)
