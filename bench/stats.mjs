// Usage stats on SQLite and PostgreSQL, each beside a baseline run in the same process:
//
//   1. Ingest rate: POST /api/stats in batches of 500 records (validation, idempotent insert,
//      rollups, all in one transaction per batch) beside raw multi-row INSERTs of the same
//      records into the same `stats` table with the same driver (better-sqlite3 / pg), in
//      batches of 500, as many in flight.
//   2. GET /api/stats/team for a 30-day range over 1,000,000 raw stats rows of a 50-member
//      team (seeded straight into the database, with their rollups), beside the very SQL the
//      route runs (rollup sums by day and tool, by member, and the member list) sent directly,
//      and beside the same totals computed from the raw rows (what the rollups save).
//
//   node bench/stats.mjs          (uses the existing dist; `npm run build` first)
//
// Environment:
//   BENCH_STATS_ROWS         raw rows of the big team (default 1000000)
//   BENCH_STATS_MEMBERS      members of the big team (default 50)
//   BENCH_STATS_INGEST       records per side and store for the ingest rate (default 20000)
//   BENCH_STATS_INFLIGHT     batches in flight while ingesting (default 4)
//   BENCH_STATS_QUERIES      measured sequential GET /api/stats/team per side (default 300)
//   BENCH_STATS_WARMUP       requests before measuring, not counted (default 30)
//   BENCH_STORES             comma list of stores: sqlite,postgres (default both)
//   BENCH_PG_URL             admin URL used to create the throwaway database
//                            (default postgres://postgres@127.0.0.1:5432/test)
//   BENCH_JSON               also print all results as JSON

import { randomUUID } from "node:crypto"
import { performance } from "node:perf_hooks"
import Database from "better-sqlite3"
import pg from "pg"
import {
  benchSecret,
  cleanupAll,
  createDatabase,
  fmt,
  onCleanup,
  POOL_SIZE,
  runMain,
  runStores,
  setBudget,
  startMur,
  table
} from "./lib.mjs"

const ROWS = Number(process.env.BENCH_STATS_ROWS ?? 1_000_000)
const MEMBERS = Number(process.env.BENCH_STATS_MEMBERS ?? 50)
const INGEST = Number(process.env.BENCH_STATS_INGEST ?? 20_000)
const INFLIGHT = Number(process.env.BENCH_STATS_INFLIGHT ?? 4)
const QUERIES = Number(process.env.BENCH_STATS_QUERIES ?? 300)
const WARMUP = Number(process.env.BENCH_STATS_WARMUP ?? 30)
const BATCH = 500
const STORES = (process.env.BENCH_STORES ?? "sqlite,postgres")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean)
const SECRET = benchSecret()
const TOOLS = ["claude", "codex", "gemini", "aider", "cursor"]
const DAY_MS = 86_400_000
const TARGET_P99_MS = 50

for (const s of STORES) if (s !== "sqlite" && s !== "postgres") throw new Error(`unknown store ${s}`)
if (INGEST % (2 * BATCH) !== 0) throw new Error(`BENCH_STATS_INGEST must be a multiple of ${2 * BATCH}`)

// ---------------------------------------------------------------------------------------
// Cleanup (as in bench/run.mjs): every resource registers its release; run in reverse.

// Whole-run bound: per store, seeding (about 40 µs a row at most), ingest and queries.
const budgetMs = STORES.length * (60 + ROWS / 25_000 + INGEST / 500 + ((QUERIES + WARMUP) * 2 * 60) / 1000) * 1000
setBudget(budgetMs)

const call = async (baseUrl, method, path, token, body) => {
  const res = await fetch(baseUrl + path, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` })
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, text }
}

const expectStatus = (r, status, what) => {
  if (r.status !== status) throw new Error(`${what} answered ${r.status}: ${r.text.slice(0, 300)}`)
  return JSON.parse(r.text)
}

/** A direct connection to the bench database: `run` for writes, `all` for reads ($n placeholders). */
const directConnection = async (store, db, name) => {
  if (store === "sqlite") {
    const conn = new Database(db.filename)
    conn.pragma("busy_timeout = 5000")
    onCleanup(`${name} connection`, () => conn.close())
    // `$n` placeholders become `?` with the parameters in the order they appear (a `$n` may repeat).
    const prepared = new Map()
    const prep = (sql) => {
      let p = prepared.get(sql)
      if (p === undefined) {
        const order = [...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]) - 1)
        p = { statement: conn.prepare(sql.replace(/\$\d+/g, "?")), order }
        prepared.set(sql, p)
      }
      return p
    }
    const bind = (p, params) => p.order.map((i) => params[i])
    return {
      conn,
      run: async (sql, params = []) => {
        const p = prep(sql)
        return p.statement.run(...bind(p, params))
      },
      all: async (sql, params = []) => {
        const p = prep(sql)
        return p.statement.all(...bind(p, params))
      }
    }
  }
  const pool = new pg.Pool({ connectionString: db.url, max: POOL_SIZE, application_name: name })
  pool.on("error", () => {})
  onCleanup(`${name} pool`, () => pool.end())
  return {
    pool,
    run: (sql, params = []) => pool.query(sql, params),
    all: async (sql, params = []) => (await pool.query(sql, params)).rows
  }
}

// ---------------------------------------------------------------------------------------
// 1. Ingest rate

const STAT_COLUMNS = [
  "id",
  "team_id",
  "user_id",
  "tool",
  "action",
  "duration_ms",
  "tokens_used",
  "cost_micros",
  "prompt_hash",
  "pattern_id",
  "metadata",
  "created_at"
]

/** `count` records as a client sends them, over the last week. */
const makeRecords = (count) =>
  Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    tool: TOOLS[i % TOOLS.length],
    action: i % 3 === 0 ? "review" : "run",
    duration_ms: 500 + (i % 5000),
    tokens_used: 100 + (i % 9000),
    cost_usd: ((i % 400) + 1) / 10_000,
    prompt_hash: `h${i % 997}`,
    metadata: { model: i % 2 === 0 ? "large" : "small", attempt: i % 3 },
    created_at: new Date(Date.now() - (i % (7 * 24 * 60)) * 60_000).toISOString()
  }))

/** The row the server stores for a record: the baseline inserts exactly these. */
const toRow = (teamId, userId) => (r) => [
  r.id,
  teamId,
  userId,
  r.tool,
  r.action,
  r.duration_ms,
  r.tokens_used,
  Math.round(r.cost_usd * 1_000_000),
  r.prompt_hash,
  null,
  JSON.stringify(r.metadata),
  r.created_at
]

/** Runs `count` tasks with `inflight` of them at a time; returns the seconds it took. */
const timed = async (count, inflight, task) => {
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < count) await task(next++)
    })
  )
  return (performance.now() - t0) / 1000
}

const ingestSides = async (store, db, mur, token, teamId, userId) => {
  const direct = await directConnection(store, db, "ingest-baseline")
  const insertSql = `INSERT INTO stats (${STAT_COLUMNS.join(", ")}) VALUES ${Array.from(
    { length: BATCH },
    (_, i) => `(${STAT_COLUMNS.map((_, j) => `$${i * STAT_COLUMNS.length + j + 1}`).join(", ")})`
  ).join(", ")}`
  const row = toRow(teamId, userId)
  const sides = {
    mur: async (records) => {
      const bodies = []
      for (let i = 0; i < records.length; i += BATCH)
        bodies.push(JSON.stringify({ stats: records.slice(i, i + BATCH) }))
      return timed(bodies.length, INFLIGHT, async (i) => {
        const r = expectStatus(await call(mur.url, "POST", "/api/stats", token, bodies[i]), 202, "POST /api/stats")
        if (r.accepted !== BATCH) throw new Error(`expected ${BATCH} accepted, got ${JSON.stringify(r)}`)
      })
    },
    raw: async (records) => {
      const batches = []
      for (let i = 0; i < records.length; i += BATCH) batches.push(records.slice(i, i + BATCH).flatMap(row))
      return timed(batches.length, store === "sqlite" ? 1 : INFLIGHT, (i) => direct.run(insertSql, batches[i]))
    }
  }
  // Halves in ABBA order (mur, raw, raw, mur) so that drift of the machine hits both alike.
  const half = INGEST / 2
  const seconds = { mur: 0, raw: 0 }
  for (const side of ["mur", "raw", "raw", "mur"]) {
    process.stderr.write(`  ${store}: ingest ${half} records (${side}) ... `)
    const s = await sides[side](makeRecords(half))
    seconds[side] += s
    process.stderr.write(`${Math.round(half / s)} records/s\n`)
  }
  return {
    records_per_side: INGEST,
    mur_records_per_s: Math.round(INGEST / seconds.mur),
    raw_records_per_s: Math.round(INGEST / seconds.raw)
  }
}

// ---------------------------------------------------------------------------------------
// 2. GET /api/stats/team over a big team

/** ROWS raw records of MEMBERS users spread over the last 30 days (today included), and their rollups. */
const seedBigTeam = async (store, db, teamId, memberIds) => {
  const first = Date.parse(`${new Date(Date.now() - 29 * DAY_MS).toISOString().slice(0, 10)}T00:00:00.000Z`)
  const spanSeconds = Math.floor((Date.now() - first) / 1000)
  const direct = await directConnection(store, db, "seed")
  if (store === "sqlite") {
    const { conn } = direct
    conn.exec("CREATE TEMP TABLE bench_members (k INTEGER PRIMARY KEY, id TEXT NOT NULL)")
    const add = conn.prepare("INSERT INTO bench_members VALUES (?, ?)")
    for (const [k, id] of memberIds.entries()) add.run(k, id)
    conn.transaction(() => {
      conn
        .prepare(
          `WITH RECURSIVE i(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM i WHERE k < ?)
           INSERT INTO stats (id, team_id, user_id, tool, action, duration_ms, tokens_used, cost_micros, prompt_hash, metadata, created_at)
           SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-a' ||
               substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
             ?, m.id, CASE i.k % 5 ${TOOLS.map((t, n) => `WHEN ${n} THEN '${t}'`).join(" ")} END, 'run', abs(random()) % 60000, abs(random()) % 20000, abs(random()) % 50000, NULL, NULL,
             strftime('%Y-%m-%dT%H:%M:%fZ', ?, '+' || (abs(random()) % ?) || ' seconds')
           FROM i JOIN bench_members m ON m.k = i.k % ?`
        )
        .run(ROWS - 1, teamId, new Date(first).toISOString(), spanSeconds, memberIds.length)
      conn
        .prepare(
          `INSERT INTO stats_daily (team_id, user_id, day, tool, runs, duration_ms, tokens, cost_micros)
           SELECT team_id, user_id, substr(created_at, 1, 10), tool, count(*), sum(duration_ms), sum(tokens_used), sum(cost_micros)
           FROM stats WHERE team_id = ? GROUP BY team_id, user_id, substr(created_at, 1, 10), tool`
        )
        .run(teamId)
    })()
    conn.exec("ANALYZE")
    return
  }
  const client = await direct.pool.connect()
  try {
    await client.query("BEGIN")
    await client.query(
      `INSERT INTO stats (id, team_id, user_id, tool, action, duration_ms, tokens_used, cost_micros, created_at)
       SELECT gen_random_uuid(), $1, ($2::uuid[])[1 + i % $3], ($4::text[])[1 + i % 5], 'run',
         floor(random() * 60000), floor(random() * 20000), floor(random() * 50000),
         $5::timestamptz + floor(random() * $6) * interval '1 second'
       FROM generate_series(0, $7 - 1) AS i`,
      [teamId, memberIds, memberIds.length, TOOLS, new Date(first).toISOString(), spanSeconds, ROWS]
    )
    await client.query(
      `INSERT INTO stats_daily (team_id, user_id, day, tool, runs, duration_ms, tokens, cost_micros)
       SELECT team_id::text, user_id, (created_at AT TIME ZONE 'UTC')::date, tool, count(*), sum(duration_ms), sum(tokens_used), sum(cost_micros)
       FROM stats WHERE team_id = $1 GROUP BY 1, 2, 3, 4`,
      [teamId]
    )
    await client.query("COMMIT")
    await client.query("ANALYZE")
  } finally {
    client.release()
  }
}

/** The SQL `Stats.team` runs (StatsRepo.byDayAndTool, StatsRepo.byUser, TeamRepo.members), sent directly. */
const teamQueries = (direct, teamId, from, to) => async () => {
  const days = await direct.all(
    `SELECT day, tool, sum(runs) AS runs, sum(duration_ms) AS duration_ms, sum(tokens) AS tokens, sum(cost_micros) AS cost_micros
     FROM stats_daily WHERE (day >= $1 AND day <= $2 AND team_id = $3) GROUP BY day, tool`,
    [from, to, teamId]
  )
  const users = await direct.all(
    `SELECT d.user_id, u.name, u.email, sum(d.runs) AS runs, sum(d.duration_ms) AS duration_ms, sum(d.tokens) AS tokens,
       sum(d.cost_micros) AS cost_micros
     FROM stats_daily d JOIN users u ON u.id = d.user_id
     WHERE d.team_id = $1 AND d.day >= $2 AND d.day <= $3 GROUP BY d.user_id, u.name, u.email`,
    [teamId, from, to]
  )
  const members = await direct.all(
    `SELECT u.id, u.email, u.name, m.role, m.joined_at FROM memberships m JOIN users u ON u.id = m.user_id
     WHERE m.team_id = $1 ORDER BY m.joined_at, u.id`,
    [teamId]
  )
  return {
    runs: days.reduce((a, r) => a + Number(r.runs), 0),
    cost_micros: days.reduce((a, r) => a + Number(r.cost_micros), 0),
    users: users.length,
    members: members.length
  }
}

/** The same totals computed from the raw rows: what a query would cost without rollups. */
const rawTotals = (store, direct, teamId, from, toNext) => async () => {
  const rows = await direct.all(
    store === "sqlite"
      ? `SELECT substr(created_at, 1, 10) AS day, tool, count(*) AS runs, sum(cost_micros) AS cost_micros
         FROM stats WHERE team_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1, 2`
      : `SELECT (created_at AT TIME ZONE 'UTC')::date AS day, tool, count(*) AS runs, sum(cost_micros) AS cost_micros
         FROM stats WHERE team_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1, 2`,
    [teamId, from, toNext]
  )
  return {
    runs: rows.reduce((a, r) => a + Number(r.runs), 0),
    cost_micros: rows.reduce((a, r) => a + Number(r.cost_micros), 0)
  }
}

const pct = (sorted, p) =>
  sorted.length === 0
    ? null
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]

const measure = async (f, n, warmup) => {
  for (let i = 0; i < warmup; i++) await f()
  const ms = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await f()
    ms.push(performance.now() - t0)
  }
  return ms
}

const summarise = (ms) => {
  const sorted = Float64Array.from(ms).sort()
  return { n: sorted.length, p50_ms: pct(sorted, 50), p99_ms: pct(sorted, 99), max_ms: pct(sorted, 100) }
}

// ---------------------------------------------------------------------------------------

const benchStore = async (store) => {
  const db = await createDatabase(store)
  const mur = await startMur(db, { secret: SECRET, jobs: { enabled: false } })
  const reg = expectStatus(
    await call(mur.url, "POST", "/auth/register", undefined, {
      email: "bench@example.com",
      password: "correct horse battery staple",
      name: "Bench"
    }),
    201,
    "register"
  )
  const token = reg.access_token
  const adminId = reg.user.id
  const team = expectStatus(
    await call(mur.url, "POST", "/api/team", token, { name: "Bench" }),
    201,
    "POST /api/team"
  ).team
  const direct = await directConnection(store, db, "bench")
  // 50 members: past the free plan's 5.
  await direct.run("UPDATE teams SET plan = 'enterprise' WHERE id = $1", [team.id])

  // 1. Ingest, into the fresh database.
  const ingest = await ingestSides(store, db, mur, token, team.id, adminId)
  // The ingested rows belong to another team, so that the big team holds exactly ROWS.
  const other = randomUUID()
  const now = new Date().toISOString()
  await direct.run(
    "INSERT INTO teams (id, name, slug, plan, created_at, updated_at) VALUES ($1, 'Ingest', $2, 'enterprise', $3, $3)",
    [other, `ingest-${other.slice(0, 8)}`, now]
  )
  await direct.run("UPDATE stats SET team_id = $1 WHERE team_id = $2", [other, team.id])
  await direct.run("UPDATE stats_daily SET team_id = $1 WHERE team_id = $2", [other, team.id])

  // 2. The big team: the admin and MEMBERS - 1 more members.
  const memberIds = [adminId]
  for (let i = 1; i < MEMBERS; i++) {
    const id = randomUUID()
    await direct.run(
      "INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES ($1, $2, $3, 'x', $4, $4)",
      [id, `member-${i}@example.com`, `Member ${String(i).padStart(2, "0")}`, now]
    )
    await direct.run("INSERT INTO memberships (team_id, user_id, role, joined_at) VALUES ($1, $2, 'member', $3)", [
      team.id,
      id,
      now
    ])
    memberIds.push(id)
  }
  process.stderr.write(`  ${store}: seeding ${ROWS} raw rows of ${MEMBERS} members with their rollups ... `)
  const seedStart = performance.now()
  await seedBigTeam(store, db, team.id, memberIds)
  const seedSeconds = (performance.now() - seedStart) / 1000
  // The SQLite seed blocked this process's event loop: let the server's idle-connection
  // timers run before the next request, or it may go out on a socket being closed.
  await new Promise((r) => setTimeout(r, 200))
  process.stderr.write(`${seedSeconds.toFixed(1)} s\n`)

  const today = new Date().toISOString().slice(0, 10)
  const from = new Date(Date.now() - 29 * DAY_MS).toISOString().slice(0, 10)
  const path = `/api/stats/team?from=${from}&to=${today}`
  const viaApi = async () => {
    const body = expectStatus(await call(mur.url, "GET", path, token), 200, `GET ${path}`)
    return {
      runs: body.stats.runs,
      cost_micros: Math.round(body.stats.cost_usd * 1_000_000),
      members: body.members.length
    }
  }
  const rollupSql = teamQueries(direct, team.id, from, today)
  const rawSql = rawTotals(
    store,
    direct,
    team.id,
    `${from}T00:00:00.000Z`,
    `${new Date(Date.parse(today) + DAY_MS).toISOString()}`
  )

  // All three must agree before their speed means anything.
  const [a, b, c] = [await viaApi(), await rollupSql(), await rawSql()]
  if (
    a.runs !== ROWS ||
    b.runs !== ROWS ||
    c.runs !== ROWS ||
    a.cost_micros !== b.cost_micros ||
    b.cost_micros !== c.cost_micros
  ) {
    throw new Error(
      `totals differ: api ${JSON.stringify(a)}, rollup SQL ${JSON.stringify(b)}, raw SQL ${JSON.stringify(c)}`
    )
  }
  if (a.members !== MEMBERS || b.members !== MEMBERS)
    throw new Error(`expected ${MEMBERS} member rows: ${JSON.stringify({ a, b })}`)

  process.stderr.write(`  ${store}: ${QUERIES} GET /api/stats/team each (mur, SQL, SQL, mur) ... `)
  const half = Math.ceil(QUERIES / 2)
  const murMs = [...(await measure(viaApi, half, WARMUP))]
  const sqlMs = [...(await measure(rollupSql, half, WARMUP))]
  sqlMs.push(...(await measure(rollupSql, QUERIES - half, 0)))
  murMs.push(...(await measure(viaApi, QUERIES - half, 0)))
  const rawMs = await measure(rawSql, 5, 1)
  const result = {
    ingest,
    team_query: {
      rows: ROWS,
      members: MEMBERS,
      seed_seconds: Math.round(seedSeconds * 10) / 10,
      mur: summarise(murMs),
      rollup_sql: summarise(sqlMs),
      raw_sql: summarise(rawMs)
    }
  }
  process.stderr.write(
    `mur-server p50 ${fmt(result.team_query.mur.p50_ms, 2)} ms p99 ${fmt(result.team_query.mur.p99_ms, 2)} ms\n`
  )
  await cleanupAll()
  return result
}

const main = async () => {
  process.stderr.write(
    `Stats: ingest ${INGEST} records per side in batches of ${BATCH} (${INFLIGHT} in flight); ` +
      `GET /api/stats/team, 30 days over ${ROWS} raw rows of ${MEMBERS} members, ${QUERIES} sequential requests ` +
      `(${WARMUP} warm-up), node ${process.version}\n`
  )
  const ran = await runStores(STORES, benchStore)
  if (ran === null) return 1
  const { all } = ran
  let failed = ran.failed
  const ingestRows = [["store", "mur-server records/s", "raw INSERT records/s", "ratio (mur/raw)"]]
  const queryRows = [
    [
      "store",
      "mur p50 ms",
      "mur p99 ms",
      "rollup SQL p50 ms",
      "rollup SQL p99 ms",
      "raw-rows SQL p50 ms",
      "ratio p50 (mur/rollup SQL)",
      `p99 < ${TARGET_P99_MS} ms`
    ]
  ]
  const summaries = []
  for (const store of STORES) {
    const r = all[store]
    if (!r) {
      ingestRows.push([store, "failed", "", ""])
      queryRows.push([store, "failed", "", "", "", "", "", ""])
      continue
    }
    const ingestRatio = r.ingest.mur_records_per_s / r.ingest.raw_records_per_s
    const q = r.team_query
    const ratio = q.mur.p50_ms / q.rollup_sql.p50_ms
    const met = q.mur.p99_ms < TARGET_P99_MS
    if (!met) failed = true
    ingestRows.push([store, r.ingest.mur_records_per_s, r.ingest.raw_records_per_s, fmt(ingestRatio, 2)])
    queryRows.push([
      store,
      fmt(q.mur.p50_ms, 2),
      fmt(q.mur.p99_ms, 2),
      fmt(q.rollup_sql.p50_ms, 2),
      fmt(q.rollup_sql.p99_ms, 2),
      fmt(q.raw_sql.p50_ms, 0),
      fmt(ratio, 1),
      met ? "yes" : "NO"
    ])
    summaries.push(
      `POST /api/stats ${store}: mur-server ${r.ingest.mur_records_per_s} records/s, raw INSERT ${r.ingest.raw_records_per_s} records/s, ratio ${fmt(ingestRatio, 2)}`,
      `GET /api/stats/team ${store}: mur-server p50 ${fmt(q.mur.p50_ms, 2)} ms p99 ${fmt(q.mur.p99_ms, 2)} ms ` +
        `(target p99 < ${TARGET_P99_MS} ms: ${met ? "met" : "MISSED"}), rollup SQL p50 ${fmt(q.rollup_sql.p50_ms, 2)} ms, ` +
        `raw-rows SQL p50 ${fmt(q.raw_sql.p50_ms, 0)} ms`
    )
  }
  process.stdout.write(`\n${table(ingestRows)}\n\n${table(queryRows)}\n\n${summaries.join("\n")}\n`)
  if (process.env.BENCH_JSON) process.stdout.write(`${JSON.stringify(all)}\n`)
  return failed ? 1 : 0
}

await runMain(main)
