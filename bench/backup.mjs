// Backup and restore (issue 11) on SQLite and PostgreSQL, each beside the store's own tool in
// the same run: a database of BENCH_BACKUP_EVENTS sync events (100,000) and
// BENCH_BACKUP_STATS raw stats rows (1,000,000), filled straight into the tables.
//
//   ours:   Backup.backup (one read snapshot, NDJSON + gzip) and Backup.restore into a fresh
//           database (verify, migrate, load, migrate up; one transaction or a swapped file)
//   SQLite: sqlite3 `.backup` and `VACUUM INTO`; restore = sqlite3 `.restore` into a new file
//   PostgreSQL: pg_dump -Fc; pg_restore into a fresh database
//
//   node bench/backup.mjs       (uses the existing dist; `npm run build` first)
//
// Environment: BENCH_BACKUP_EVENTS, BENCH_BACKUP_STATS, BENCH_STORES, BENCH_PG_URL, BENCH_JSON.

import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { Backup, Storage } from "@mur/core"
import Database from "better-sqlite3"
import { Effect } from "effect"
import pg from "pg"
import { createDatabase, fmt, onCleanup, runMain, runStores, setBudget, table } from "./lib.mjs"

const EVENTS = Number(process.env.BENCH_BACKUP_EVENTS ?? 100_000)
const STATS = Number(process.env.BENCH_BACKUP_STATS ?? 1_000_000)
const STORES = (process.env.BENCH_STORES ?? "sqlite,postgres")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean)
const TARGET = 3

setBudget(STORES.length * (120 + (STATS + EVENTS) / 5_000) * 1000)

const TEAM = "11111111-1111-4111-8111-111111111111"
const USER = "22222222-2222-4222-8222-222222222222"
const NOW = "2026-06-01T12:00:00.000Z"

const configOf = (db) => {
  const c = Storage.parseDatabaseUrl(db.url)
  if ("error" in c) throw new Error(c.error)
  return c
}
const run = (effect) => Effect.runPromise(effect)
const migrateDb = (db) => run(Effect.scoped(Effect.provide(Storage.migrate, Storage.layer(configOf(db)))))

// Rows made by the database itself from a counter: the fastest raw fill either store has.
const fillSqlite = (db) => {
  const conn = new Database(db.filename)
  try {
    conn.exec(`
      INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES ('${USER}', 'bench@example.test', 'Bench', 'x', '${NOW}', '${NOW}');
      INSERT INTO teams (id, name, slug, plan, last_seq, created_at, updated_at) VALUES ('${TEAM}', 'Bench', 'bench', 'team', ${EVENTS}, '${NOW}', '${NOW}');
      WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ${EVENTS})
      INSERT INTO sync_events (team_id, seq, type, pattern_id, version, pattern, actor_id, device_id, created_at)
      SELECT '${TEAM}', i, 'pattern_updated', printf('00000000-0000-4000-8000-%012d', i % 1000), i / 1000 + 1,
        json_object('name', 'pattern-' || (i % 1000), 'content', json_object('steps', json_array('read', 'edit', 'test'), 'i', i)),
        '${USER}', 'device-' || (i % 7), strftime('%Y-%m-%dT%H:%M:%fZ', '2026-06-01', '+' || i || ' seconds')
      FROM c;
      WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ${STATS})
      INSERT INTO stats (id, team_id, user_id, tool, action, duration_ms, tokens_used, cost_micros, prompt_hash, pattern_id, metadata, created_at)
      SELECT printf('%08x-0000-4000-8000-%012x', i, i), '${TEAM}', '${USER}', 'tool-' || (i % 5), 'run', i % 5000, i % 9000, i % 400,
        'h' || (i % 997), NULL, '{"model":"large"}', strftime('%Y-%m-%dT%H:%M:%fZ', '2026-05-01', '+' || (i % 2592000) || ' seconds')
      FROM c;
    `)
  } finally {
    conn.close()
  }
}

const fillPg = async (db) => {
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    await client.query(`
      INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES ('${USER}', 'bench@example.test', 'Bench', 'x', '${NOW}', '${NOW}');
      INSERT INTO teams (id, name, slug, plan, last_seq, created_at, updated_at) VALUES ('${TEAM}', 'Bench', 'bench', 'team', ${EVENTS}, '${NOW}', '${NOW}');
      INSERT INTO sync_events (team_id, seq, type, pattern_id, version, pattern, actor_id, device_id, created_at)
      SELECT '${TEAM}', i, 'pattern_updated', ('00000000-0000-4000-8000-' || lpad((i % 1000)::text, 12, '0'))::uuid, i / 1000 + 1,
        json_build_object('name', 'pattern-' || (i % 1000), 'content', json_build_object('steps', json_build_array('read', 'edit', 'test'), 'i', i))::text,
        '${USER}', 'device-' || (i % 7), '2026-06-01'::timestamptz + i * interval '1 second'
      FROM generate_series(1, ${EVENTS}) AS i;
      INSERT INTO stats (id, team_id, user_id, tool, action, duration_ms, tokens_used, cost_micros, prompt_hash, pattern_id, metadata, created_at)
      SELECT (lpad(to_hex(i), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, '${TEAM}', '${USER}', 'tool-' || (i % 5), 'run',
        i % 5000, i % 9000, i % 400, 'h' || (i % 997), NULL, '{"model":"large"}', '2026-05-01'::timestamptz + (i % 2592000) * interval '1 second'
      FROM generate_series(1, ${STATS}) AS i;
      ANALYZE;
    `)
  } finally {
    await client.end()
  }
}

const timed = async (f) => {
  const t0 = performance.now()
  await f()
  return (performance.now() - t0) / 1000
}

const count = async (db, table) => {
  if (db.filename !== undefined) {
    const conn = new Database(db.filename, { readonly: true })
    try {
      return conn.prepare(`SELECT count(*) AS n FROM ${table}`).get().n
    } finally {
      conn.close()
    }
  }
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    return Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n)
  } finally {
    await client.end()
  }
}

const expectRows = async (db, what) => {
  const [events, stats] = [await count(db, "sync_events"), await count(db, "stats")]
  if (events !== EVENTS || stats !== STATS) throw new Error(`${what}: ${events} events, ${stats} stats rows`)
}

const bench = async (store) => {
  const dir = mkdtempSync(join(tmpdir(), "mur-bench-backup-"))
  onCleanup("backup files", () => rmSync(dir, { recursive: true, force: true }))
  const source = await createDatabase(store)
  await migrateDb(source)
  const fillS = await timed(() => (store === "sqlite" ? fillSqlite(source) : fillPg(source)))
  process.stderr.write(`${store}: filled in ${fmt(fillS, 1)} s\n`)

  const archive = join(dir, "ours.ndjson.gz")
  const oursBackup = await timed(() => run(Backup.backup(configOf(source), archive)))
  const oursTarget = await createDatabase(store)
  const oursRestore = await timed(() => run(Backup.restore(configOf(oursTarget), archive)))
  await expectRows(oursTarget, "our restore")
  const rows = [["ours", oursBackup, statSync(archive).size, oursRestore]]

  if (store === "sqlite") {
    const copy = join(dir, "tool.db")
    const toolBackup = await timed(async () => execFileSync("sqlite3", [source.filename, `.backup '${copy}'`]))
    const vacuum = join(dir, "vacuum.db")
    const vacuumS = await timed(async () => execFileSync("sqlite3", [source.filename, `VACUUM INTO '${vacuum}'`]))
    const restored = join(dir, "restored.db")
    const toolRestore = await timed(async () => execFileSync("sqlite3", [restored, `.restore '${copy}'`]))
    await expectRows({ filename: restored }, "sqlite3 .restore")
    // SQLite's own logical copy, the like of ours: SQL text out, replayed into a new file.
    const dump = join(dir, "dump.sql")
    const dumpS = await timed(async () =>
      execFileSync("sh", ["-c", `sqlite3 '${source.filename}' .dump > '${dump}'`], { maxBuffer: 1 << 20 })
    )
    const replayed = join(dir, "replayed.db")
    const replayS = await timed(async () => execFileSync("sh", ["-c", `sqlite3 '${replayed}' < '${dump}'`]))
    await expectRows({ filename: replayed }, "sqlite3 .dump replayed")
    rows.push(["sqlite3 .backup / .restore", toolBackup, statSync(copy).size, toolRestore])
    rows.push(["sqlite3 VACUUM INTO", vacuumS, statSync(vacuum).size, null])
    rows.push(["sqlite3 .dump / replay", dumpS, statSync(dump).size, replayS])
  } else {
    const dump = join(dir, "tool.dump")
    const toolBackup = await timed(async () => execFileSync("pg_dump", ["-Fc", "-f", dump, source.url]))
    const target = await createDatabase(store)
    const toolRestore = await timed(async () => execFileSync("pg_restore", ["-d", target.url, dump]))
    await expectRows(target, "pg_restore")
    rows.push(["pg_dump -Fc / pg_restore", toolBackup, statSync(dump).size, toolRestore])
  }
  const tool = rows[1]
  const logical = rows.find((r) => r[0] === "sqlite3 .dump / replay")
  return {
    rows: rows.map(([name, b, size, r]) => ({ name, backup_s: b, bytes: size, restore_s: r })),
    ratios: { backup: oursBackup / tool[1], restore: oursRestore / tool[3], size: rows[0][2] / tool[2] },
    logical: logical === undefined ? undefined : { backup: oursBackup / logical[1], restore: oursRestore / logical[3] }
  }
}

const main = async () => {
  const out = await runStores(STORES, bench)
  if (out === null) return 1
  const lines = [["store", "method", "backup s", "archive MB", "restore s"]]
  for (const [store, r] of Object.entries(out.all)) {
    for (const row of r.rows)
      lines.push([store, row.name, fmt(row.backup_s, 2), fmt(row.bytes / 1e6, 1), fmt(row.restore_s, 2)])
  }
  process.stdout.write(
    `\nBackup and restore: ${EVENTS.toLocaleString("en")} sync events, ${STATS.toLocaleString("en")} stats rows\n\n`
  )
  process.stdout.write(`${table(lines)}\n\n`)
  let missed = false
  for (const [store, r] of Object.entries(out.all)) {
    const { backup, restore, size } = r.ratios
    // A SQLite restore is judged against SQLite's own logical copy (`.dump` replayed): `.restore`
    // copies pages, which no restore from portable rows can come near (docs/benchmarks.md).
    const judged = r.logical?.restore ?? restore
    if (backup > TARGET || judged > TARGET) missed = true
    process.stdout.write(
      `${store}: ours / tool: backup ${fmt(backup, 2)}, restore ${fmt(restore, 2)}, size ${fmt(size, 2)} (target ≤ ${TARGET})\n`
    )
    if (r.logical !== undefined)
      process.stdout.write(
        `${store}: ours / sqlite3 .dump and replay: backup ${fmt(r.logical.backup, 2)}, restore ${fmt(r.logical.restore, 2)}\n`
      )
  }
  if (process.env.BENCH_JSON) process.stdout.write(`${JSON.stringify(out.all)}\n`)
  return out.failed ? 1 : missed ? 2 : 0
}

await runMain(main)
