// GET /api/patterns?search=… over 10,000 patterns of one team, on SQLite and PostgreSQL,
// beside the very same search SQL run directly with the driver (better-sqlite3 / pg).
//
//   node bench/patterns-search.mjs          (uses the existing dist; `npm run build` first)
//
// Environment:
//   BENCH_SEARCH_PATTERNS     patterns in the team (default 10000)
//   BENCH_SEARCH_QUERIES      measured sequential searches per side and store (default 300)
//   BENCH_SEARCH_WARMUP       searches before measuring, not counted (default 30)
//   BENCH_SEARCH_SEED         "db" (default): rows written straight into the database in one
//                             transaction, with the columns PatternRepo.insert writes
//                             (patterns + pattern_versions); the SQLite FTS triggers and the
//                             PostgreSQL generated `search` column index them as for the server.
//                             "api": every pattern through POST /api/patterns, 16 in flight
//                             (slower: about 45 s on SQLite and 80 s on PostgreSQL here)
//   BENCH_SEARCH_CONCURRENCY  requests in flight while seeding through the API (default 16)
//   BENCH_STORES              comma list of stores: sqlite,postgres (default both)
//   BENCH_PG_URL              admin URL used to create the throwaway database
//                             (default postgres://postgres@127.0.0.1:5432/test)
//   BENCH_JSON                also print all results as JSON
//
// The SQL of the baseline is PatternRepo.list's (packages/core/src/PatternRepo.ts) for a team
// search with the default sort (rank, then updated_at, then id) and the default page (limit
// 20): a count and a page query. Before measuring, every search string is run through both
// sides once and the answers must match (same total, same ids in the same order); when
// PatternRepo's SQL changes, this check fails until the baseline here follows it.

import { randomUUID } from "node:crypto"
import { performance } from "node:perf_hooks"
import { ftsQuery } from "@mur/core"
import Database from "better-sqlite3"
import pg from "pg"
import {
  benchSecret,
  cleanupAll,
  createDatabase,
  fmt,
  onCleanup,
  runMain,
  runStores,
  setBudget,
  startMur,
  table
} from "./lib.mjs"

const PATTERNS = Number(process.env.BENCH_SEARCH_PATTERNS ?? 10_000)
const QUERIES = Number(process.env.BENCH_SEARCH_QUERIES ?? 300)
const WARMUP = Number(process.env.BENCH_SEARCH_WARMUP ?? 30)
const SEED = process.env.BENCH_SEARCH_SEED ?? "db"
const SEED_CONCURRENCY = Number(process.env.BENCH_SEARCH_CONCURRENCY ?? 16)
const STORES = (process.env.BENCH_STORES ?? "sqlite,postgres")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean)
const SECRET = benchSecret()
const PAGE_LIMIT = 20

for (const s of STORES) if (s !== "sqlite" && s !== "postgres") throw new Error(`unknown store ${s}`)
if (SEED !== "api" && SEED !== "db") throw new Error("BENCH_SEARCH_SEED must be api or db")

// ---------------------------------------------------------------------------------------
// Cleanup (as in bench/run.mjs): every resource registers its release; run in reverse.

// Whole-run bound: per store, 90 s of seeding at most plus the searches.
const budgetMs = STORES.length * (120 + ((QUERIES + WARMUP) * 2 * 50) / 1000) * 1000
setBudget(budgetMs)

const call = async (baseUrl, method, path, token, body) => {
  const res = await fetch(baseUrl + path, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` })
    },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, text }
}

const expectStatus = (r, status, what) => {
  if (r.status !== status) throw new Error(`${what} answered ${r.status}: ${r.text.slice(0, 300)}`)
  return JSON.parse(r.text)
}

// ---------------------------------------------------------------------------------------
// The corpus: varied names, descriptions and content from a small vocabulary, reproducible.

const VOCABULARY = (
  "refactor deploy review summarise translate migrate debug optimise document benchmark " +
  "database schema index query cache queue worker socket stream parser compiler lexer " +
  "kubernetes docker terraform ansible postgres sqlite redis kafka nginx webpack " +
  "react vue svelte angular python rust golang typescript java kotlin " +
  "security audit token session password encryption certificate firewall " +
  "release changelog incident postmortem oncall rollback canary feature flag " +
  "test fixture mock coverage snapshot regression latency throughput memory profile"
).split(" ")

/** A small seeded PRNG (mulberry32), so every run has the same corpus. */
const prng = (seed) => () => {
  seed |= 0
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const random = prng(42)
/** Skewed: the first words of the vocabulary are common, the last ones rare. */
const pick = () => VOCABULARY[Math.floor(random() ** 2.5 * VOCABULARY.length)]
const words = (n) => Array.from({ length: n }, pick).join(" ")

const makePattern = (i) => ({
  name: `${pick()}-${pick()}-${i}`,
  description: `${words(6 + Math.floor(random() * 10))}.`,
  content: {
    version: 2,
    prompt: words(15 + Math.floor(random() * 40)),
    steps: Array.from({ length: 1 + Math.floor(random() * 4) }, () => ({ run: words(4 + Math.floor(random() * 8)) })),
    model: random() < 0.5 ? "large" : "small"
  },
  category: ["ops", "dev", "docs", "security", null][Math.floor(random() * 5)],
  tags: Array.from({ length: Math.floor(random() * 4) }, pick)
})

/** The searched strings: single words of every frequency, and a few two-word searches. */
const SEARCHES = [...VOCABULARY, "feature flag", "database index", "docker deploy", "rust parser", "zeppelin"]

// ---------------------------------------------------------------------------------------
// Seeding

const seedThroughApi = async (baseUrl, token) => {
  let next = 0
  const worker = async () => {
    while (next < PATTERNS) {
      const i = next++
      expectStatus(await call(baseUrl, "POST", "/api/patterns", token, makePattern(i)), 201, `POST /api/patterns #${i}`)
    }
  }
  await Promise.all(Array.from({ length: SEED_CONCURRENCY }, worker))
}

/** The row PatternRepo.insert writes, and its first version, straight into the database. */
const seedThroughDb = async (store, db, teamId, authorId) => {
  const rows = Array.from({ length: PATTERNS }, (_, i) => {
    const p = makePattern(i)
    const at = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString()
    return {
      id: randomUUID(),
      team_id: teamId,
      name: p.name,
      description: p.description,
      content: JSON.stringify(p.content),
      category: p.category,
      tags: JSON.stringify(p.tags),
      author_id: authorId,
      created_at: at,
      updated_at: at
    }
  })
  if (store === "sqlite") {
    const conn = new Database(db.filename)
    conn.pragma("busy_timeout = 5000")
    try {
      const insert = conn.prepare(
        `INSERT INTO patterns (id, team_id, name, description, content, category, tags, author_id, is_public, usage_count, version, created_at, updated_at)
         VALUES (@id, @team_id, @name, @description, @content, @category, @tags, @author_id, 0, 0, 1, @created_at, @updated_at)`
      )
      const version = conn.prepare(
        `INSERT INTO pattern_versions (pattern_id, version, name, description, content, category, tags, author_id, created_at)
         VALUES (@id, 1, @name, @description, @content, @category, @tags, @author_id, @created_at)`
      )
      conn.transaction(() => {
        for (const r of rows) {
          insert.run(r)
          version.run(r)
        }
      })()
    } finally {
      conn.close()
    }
    return
  }
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    await client.query("BEGIN")
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500)
      const cols = [
        "id",
        "team_id",
        "name",
        "description",
        "content",
        "category",
        "tags",
        "author_id",
        "created_at",
        "updated_at"
      ]
      const params = []
      const values = chunk.map((r) => `(${cols.map((c) => `$${params.push(r[c])}`).join(", ")}, false, 0, 1)`)
      await client.query(
        `INSERT INTO patterns (${cols.join(", ")}, is_public, usage_count, version) VALUES ${values.join(", ")}`,
        params
      )
      const vparams = []
      const vvalues = chunk.map(
        (r) =>
          `(${["id", "name", "description", "content", "category", "tags", "author_id", "created_at"].map((c) => `$${vparams.push(r[c])}`).join(", ")}, 1)`
      )
      await client.query(
        `INSERT INTO pattern_versions (pattern_id, name, description, content, category, tags, author_id, created_at, version) VALUES ${vvalues.join(", ")}`,
        vparams
      )
    }
    await client.query("COMMIT")
    await client.query("ANALYZE patterns")
  } finally {
    await client.end()
  }
}

// ---------------------------------------------------------------------------------------
// The baseline: PatternRepo.list's search SQL for a team, default sort, page 1 of 20.

const COLUMNS =
  "p.id, p.team_id, p.name, p.description, p.content, p.category, p.tags, p.author_id, p.is_public, p.usage_count, p.version, p.created_at, p.updated_at, p.deleted_at"

const makeDirect = async (store, db, teamId) => {
  if (store === "sqlite") {
    const conn = new Database(db.filename, { readonly: true })
    conn.pragma("busy_timeout = 5000")
    const from =
      "patterns p JOIN (SELECT rowid AS rid, bm25(patterns_fts, 5.0, 2.0, 1.0) AS score FROM patterns_fts WHERE patterns_fts MATCH ?) f ON f.rid = p.rowid"
    const where = "(p.deleted_at IS NULL AND p.team_id = ?)"
    const count = conn.prepare(`SELECT count(*) AS n FROM ${from} WHERE ${where}`)
    const page = conn.prepare(
      `SELECT ${COLUMNS} FROM ${from} WHERE ${where} ORDER BY f.score ASC, p.updated_at DESC, p.id ASC LIMIT ? OFFSET ?`
    )
    onCleanup("sqlite baseline connection", () => conn.close())
    return {
      search: async (search) => {
        const match = ftsQuery(search)
        if (match === null) return { total: 0, ids: [] }
        const total = Number(count.get(match, teamId).n)
        const rows = page.all(match, teamId, PAGE_LIMIT, 0)
        return { total, ids: rows.map((r) => r.id) }
      }
    }
  }
  const client = new pg.Client({ connectionString: db.url, application_name: "search-baseline" })
  await client.connect()
  onCleanup("pg baseline connection", () => client.end())
  const from =
    "patterns p CROSS JOIN (SELECT websearch_to_tsquery('english', $1) || websearch_to_tsquery('simple', $2) AS query) q"
  const where = "(p.deleted_at IS NULL AND p.team_id = $3 AND p.search @@ q.query)"
  // Unnamed statements, as @effect/sql-pg sends them (a named one could switch to a generic plan).
  const countSql = `SELECT count(*) AS n FROM ${from} WHERE ${where}`
  const pageSql = `SELECT ${COLUMNS} FROM ${from} WHERE ${where} ORDER BY ts_rank(p.search, q.query) DESC, p.updated_at DESC, p.id ASC LIMIT $4 OFFSET $5`
  return {
    search: async (search) => {
      const s = search.trim()
      const [c, p] = [
        await client.query(countSql, [s, s, teamId]),
        await client.query(pageSql, [s, s, teamId, PAGE_LIMIT, 0])
      ]
      return { total: Number(c.rows[0].n), ids: p.rows.map((r) => r.id) }
    }
  }
}

// ---------------------------------------------------------------------------------------

const pct = (sorted, p) =>
  sorted.length === 0
    ? null
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]

const summarise = (ms) => {
  const sorted = Float64Array.from(ms).sort()
  return {
    n: sorted.length,
    p50_ms: pct(sorted, 50),
    p90_ms: pct(sorted, 90),
    p99_ms: pct(sorted, 99),
    max_ms: pct(sorted, 100),
    mean_ms: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)
  }
}

const benchStore = async (store) => {
  const db = await createDatabase(store)
  const mur = await startMur(db, { secret: SECRET })
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
  const team = expectStatus(
    await call(mur.url, "POST", "/api/team", token, { name: "Bench" }),
    201,
    "POST /api/team"
  ).team
  // The free plan stops at 100 patterns: the bench team is on the unlimited plan.
  if (store === "sqlite") {
    const conn = new Database(db.filename)
    conn.pragma("busy_timeout = 5000")
    conn.prepare("UPDATE teams SET plan = 'enterprise' WHERE id = ?").run(team.id)
    conn.close()
  } else {
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    await client.query("UPDATE teams SET plan = 'enterprise' WHERE id = $1", [team.id])
    await client.end()
  }

  process.stderr.write(`  ${store}: seeding ${PATTERNS} patterns (${SEED}) ... `)
  const seedStart = performance.now()
  if (SEED === "api") await seedThroughApi(mur.url, token)
  else await seedThroughDb(store, db, team.id, reg.user.id)
  const seedSeconds = (performance.now() - seedStart) / 1000
  const all = expectStatus(await call(mur.url, "GET", "/api/patterns?limit=1", token), 200, "GET /api/patterns")
  if (all.total !== PATTERNS) throw new Error(`expected ${PATTERNS} patterns, the team has ${all.total}`)
  process.stderr.write(`${seedSeconds.toFixed(1)} s (${Math.round(PATTERNS / seedSeconds)} patterns/s)\n`)

  const direct = await makeDirect(store, db, team.id)
  const viaApi = async (search) => {
    const r = await call(mur.url, "GET", `/api/patterns?search=${encodeURIComponent(search)}`, token)
    const body = expectStatus(r, 200, `GET /api/patterns?search=${search}`)
    return { total: body.total, ids: body.patterns.map((p) => p.id) }
  }

  // Both sides must give the same answer before their speed means anything.
  const hits = []
  for (const search of SEARCHES) {
    const [a, b] = [await viaApi(search), await direct.search(search)]
    if (a.total !== b.total || a.ids.join() !== b.ids.join()) {
      throw new Error(
        `"${search}": mur-server and the direct SQL differ (total ${a.total} vs ${b.total}, ` +
          `same ids: ${a.ids.join() === b.ids.join()}); bring the baseline SQL in line with PatternRepo.list`
      )
    }
    hits.push(a.total)
  }

  const run = async (f) => {
    for (let i = 0; i < WARMUP; i++) await f(SEARCHES[i % SEARCHES.length])
    const ms = []
    for (let i = 0; i < QUERIES; i++) {
      const search = SEARCHES[(i * 7) % SEARCHES.length]
      const t0 = performance.now()
      await f(search)
      ms.push(performance.now() - t0)
    }
    return summarise(ms)
  }
  // Alternate halves (mur, direct, direct, mur) so that drift of the machine hits both alike.
  process.stderr.write(`  ${store}: ${QUERIES} searches each ... `)
  const murA = await run(viaApi)
  const directA = await run(direct.search)
  const directB = await run(direct.search)
  const murB = await run(viaApi)
  const merge = (x, y) => ({
    n: x.n + y.n,
    p50_ms: (x.p50_ms + y.p50_ms) / 2,
    p90_ms: (x.p90_ms + y.p90_ms) / 2,
    p99_ms: Math.max(x.p99_ms, y.p99_ms),
    max_ms: Math.max(x.max_ms, y.max_ms),
    mean_ms: (x.mean_ms + y.mean_ms) / 2
  })
  const result = {
    patterns: PATTERNS,
    seed: SEED,
    seed_seconds: Math.round(seedSeconds * 10) / 10,
    mean_hits: Math.round(hits.reduce((a, b) => a + b, 0) / hits.length),
    median_hits: [...hits].sort((a, b) => a - b)[Math.floor(hits.length / 2)],
    mur: merge(murA, murB),
    direct: merge(directA, directB)
  }
  process.stderr.write(
    `mur-server p50 ${fmt(result.mur.p50_ms, 2)} ms, direct SQL p50 ${fmt(result.direct.p50_ms, 2)} ms\n`
  )
  await cleanupAll()
  return result
}

const main = async () => {
  process.stderr.write(
    `GET /api/patterns?search=…, ${PATTERNS} patterns in one team, ${QUERIES} sequential searches per side ` +
      `(${SEARCHES.length} different strings, page of ${PAGE_LIMIT}), ${WARMUP} warm-up, node ${process.version}\n`
  )
  const ran = await runStores(STORES, benchStore)
  if (ran === null) return 1
  const { all, failed } = ran
  const rows = [
    [
      "store",
      "patterns",
      "hits median / mean",
      "mur p50 ms",
      "mur p99 ms",
      "direct SQL p50 ms",
      "direct SQL p99 ms",
      "ratio p50 (mur/direct)",
      "seed s"
    ]
  ]
  const summaries = []
  for (const store of STORES) {
    const r = all[store]
    if (!r) {
      rows.push([store, "failed", "", "", "", "", "", "", ""])
      continue
    }
    const ratio = r.direct.p50_ms > 0 ? r.mur.p50_ms / r.direct.p50_ms : null
    rows.push([
      store,
      r.patterns,
      `${r.median_hits} / ${r.mean_hits}`,
      fmt(r.mur.p50_ms, 2),
      fmt(r.mur.p99_ms, 2),
      fmt(r.direct.p50_ms, 2),
      fmt(r.direct.p99_ms, 2),
      fmt(ratio, 1),
      fmt(r.seed_seconds, 1)
    ])
    summaries.push(
      `GET /api/patterns?search ${store}: mur-server p50 ${fmt(r.mur.p50_ms, 2)} ms p99 ${fmt(r.mur.p99_ms, 2)} ms, ` +
        `direct SQL p50 ${fmt(r.direct.p50_ms, 2)} ms p99 ${fmt(r.direct.p99_ms, 2)} ms, ratio ${fmt(ratio, 1)}`
    )
  }
  process.stdout.write(`\n${table(rows)}\n\n${summaries.join("\n")}\n`)
  if (process.env.BENCH_JSON) process.stdout.write(`${JSON.stringify(all)}\n`)
  return failed ? 1 : 0
}

await runMain(main)
