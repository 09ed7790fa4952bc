/**
 * `mur-server backup` and `restore` through the real binary, on both stores: a backup taken
 * under four writers restores to a gapless log that agrees with the patterns; round trips
 * compare equal table by table; damaged, newer or older archives; a non-empty target; file
 * modes; the scheduled `backup` job. Moving between stores: backup-move.test.ts.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gunzipSync, gzipSync } from "node:zlib"
import { Storage } from "@mur/core"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { backupTo, expectConsistent, mode, push, refused, restored, withHeader } from "./support/backup.js"
import { diffDatabases } from "./support/compare.js"
import { execDb, queryDb } from "./support/db.js"
import { runServerCommand, type SpawnedServer, spawnServer, TEST_SECRET } from "./support/server.js"
import { createDatabase, STORES, type StoreName, type TestDatabase } from "./support/stores.js"
import { makeTeam } from "./support/team.js"

const waitForFile = async (dir: string, pattern: RegExp) => {
  for (let i = 0; i < 200; i++) {
    const found = readdirSync(dir).filter((f) => pattern.test(f))
    if (found.length > 0) return found
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`no file matching ${pattern} in ${dir}`)
}

const ARCHIVE = /^mur-backup-.*\.ndjson\.gz$/

describe.each(STORES)("backup and restore on %s", (store: StoreName) => {
  const dbs: TestDatabase[] = []
  const fresh = async () => {
    const db = await createDatabase(store)
    dbs.push(db)
    return db
  }
  const work = mkdtempSync(join(tmpdir(), "mur-backup-test-"))
  const scheduled = join(work, "scheduled")
  let source: TestDatabase
  let servers: SpawnedServer[] = []

  beforeAll(async () => {
    source = await fresh()
    const env = {
      DATABASE_URL: source.url,
      JWT_SECRET: TEST_SECRET,
      BACKUP_DIR: scheduled,
      BACKUP_INTERVAL: "1h",
      BACKUP_KEEP: "3"
    }
    // PostgreSQL: two processes on one database, as a hosted set-up runs.
    servers = store === "postgres" ? [await spawnServer(env), await spawnServer(env)] : [await spawnServer(env)]
  })
  afterAll(async () => {
    for (const s of servers) {
      s.child.kill("SIGTERM")
      await s.exited
    }
    for (const db of dbs) await db.drop()
    rmSync(work, { recursive: true, force: true })
  })

  it("a backup taken while four writers push restores to a gapless log; round trips compare equal", async () => {
    // The scheduler ran the backup job at start, in one process only.
    expect(await waitForFile(scheduled, ARCHIVE)).toHaveLength(1)

    const t = await makeTeam(servers[0]!.url, 3, "Writers")
    const writers = [t.admin, ...t.members]
    let stop = false
    let applied = 0
    const pushing = writers.map(async (w, wi) => {
      const base = servers[wi % servers.length]!.url
      for (let round = 0; !stop; round++) {
        const events = Array.from({ length: 10 }, (_, i) => ({
          client_action_id: `w${wi}-${round}-${i}`,
          op: round % 5 === 4 && i === 0 ? "delete" : "upsert",
          name: `w${wi}-p${i}`,
          pattern: { content: { round } }
        }))
        const r = await push(base, w.token, `device-${wi}`, events)
        expect(r.status, r.text).toBe(200)
        applied += r.json.results.filter((x: any) => x.status === "applied").length
        // A steady trickle: the backup runs among pushes without the log growing huge.
        await new Promise((r) => setTimeout(r, 25))
      }
    })
    while (applied < 100) await new Promise((r) => setTimeout(r, 10))
    const midFile = join(work, "mid.gz")
    const mid = await backupTo(source.url, midFile)
    const afterMid = applied
    while (applied < afterMid + 80) await new Promise((r) => setTimeout(r, 10))
    stop = true
    await Promise.all(pushing)

    expect(mid).toMatchObject({
      format_version: 1,
      migration: Storage.latestMigration,
      source: store === "postgres" ? "pg" : "sqlite"
    })
    expect(mode(midFile)).toBe(0o600)
    const a = await fresh()
    expect(await restored(midFile, a.url)).toMatchObject({ rows: mid.rows, replaced: false })
    const midEvents = await expectConsistent(a.url)
    expect(midEvents).toBeGreaterThanOrEqual(100)
    expect(midEvents).toBeLessThan(applied)

    // Writers stopped: a backup now restores to exactly the source, table by table.
    const finalFile = join(work, "final.gz")
    await backupTo(source.url, finalFile)
    const b = await fresh()
    await restored(finalFile, b.url)
    expect(await diffDatabases(source.url, b.url)).toEqual([])
    expect(await expectConsistent(b.url)).toBe(applied)

    // A database with rows is refused, and stays as it was.
    await refused(finalFile, b.url, /not empty \(table \w+ has rows\).*--force/)
    // Truncated and altered archives are refused, even with --force, and change nothing.
    const bytes = readFileSync(finalFile)
    const truncated = join(work, "truncated.gz")
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)))
    await refused(truncated, b.url, /truncated|damaged/, "--force")
    const flipped = join(work, "flipped.gz")
    const copy = Buffer.from(bytes)
    copy[Math.floor(copy.length / 2)]! ^= 0x01
    writeFileSync(flipped, copy)
    await refused(flipped, b.url, /damaged|altered/, "--force")
    if (store === "sqlite") {
      // Altered inside a valid gzip stream: only the SHA-256 can tell (checked before any store is touched).
      const edited = join(work, "edited.gz")
      writeFileSync(edited, gzipSync(gunzipSync(bytes).toString("utf8").replace("round", "rounD")))
      await refused(edited, b.url, /altered \(its SHA-256 does not match\)/, "--force")
    }
    expect(await diffDatabases(source.url, b.url)).toEqual([])

    // --force replaces the data: b becomes what a holds.
    expect(await restored(midFile, b.url, "--force")).toMatchObject({ replaced: true })
    expect(await diffDatabases(a.url, b.url)).toEqual([])
  })

  it("refuses archives of a newer format or a newer migration level than the build knows", async () => {
    const file = join(work, "final.gz")
    const target = await fresh()
    const newerFormat = join(work, "format2.gz")
    withHeader(file, newerFormat, (h) => {
      h.version = 2
    })
    await refused(newerFormat, target.url, /archive format 2, newer than this build reads \(1\)/)
    const newerLevel = join(work, "level999.gz")
    withHeader(file, newerLevel, (h) => {
      h.migration = 999
    })
    await refused(newerLevel, target.url, /migration 999, newer than this build's latest/)
    // Nothing was made.
    const tables =
      store === "sqlite"
        ? [{ n: existsSync(target.url.slice("file:".length)) ? 1 : 0 }]
        : await queryDb<{ n: number }>(
            target.url,
            "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'"
          )
    expect(tables[0]!.n).toBe(0)
  })

  it("an archive taken at an older migration level restores and is migrated up", async () => {
    const old = await fresh()
    const level = Storage.latestMigration - 1
    const database = Storage.parseDatabaseUrl(old.url)
    if ("error" in database) throw new Error(database.error)
    await Effect.runPromise(Effect.scoped(Effect.provide(Storage.migrateTo(level), Storage.layer(database))))
    const at = "2026-01-02T03:04:05.678Z"
    await execDb(
      old.url,
      "INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
      ["6f1f4a34-8d7e-4a8b-9a43-0d5c8f7f1a11", "old@example.test", "Old", "hash", at, at]
    )
    const file = join(work, "old.gz")
    expect(await backupTo(old.url, file)).toMatchObject({ migration: level, rows: 1 })
    const target = await fresh()
    expect(await restored(file, target.url)).toMatchObject({
      migration: level,
      migrated_to: Storage.latestMigration,
      rows: 1
    })
    const [applied] = await queryDb<{ id: number }>(
      target.url,
      "SELECT max(migration_id) AS id FROM effect_sql_migrations"
    )
    expect(Number(applied!.id)).toBe(Storage.latestMigration)
    const [user] = await queryDb<any>(target.url, "SELECT email, created_at FROM users")
    expect(user.email).toBe("old@example.test")
    expect(new Date(user.created_at).toISOString()).toBe(at)
  })

  it("the backup job is listed, runs by hand, and keeps only BACKUP_KEEP archives (mode 0600)", async () => {
    const dir = join(work, "by-hand")
    const env = { DATABASE_URL: source.url, BACKUP_DIR: dir, BACKUP_KEEP: "1" }
    const files: string[] = []
    for (let i = 0; i < 2; i++) {
      const r = await runServerCommand(["jobs", "run", "backup"], env)
      expect(r.code, r.stderr).toBe(0)
      files.push(JSON.parse(/^backup: ok in \d+ ms (.*)$/m.exec(r.stdout)![1]!).file)
    }
    const kept = readdirSync(dir).sort()
    expect(kept).toEqual(files.slice(1).map((f) => f.slice(dir.length + 1)))
    for (const f of kept) expect(mode(join(dir, f))).toBe(0o600)
    const list = await runServerCommand(["jobs", "list"], env)
    expect(list.stdout).toMatch(/^backup\tevery 86400 s\tok at \S+\truns \d+\t/m)
  })

  if (store === "sqlite") {
    it("the database file and its -wal and -shm are readable by the owner only", async () => {
      const file = source.url.slice("file:".length)
      for (const f of [file, `${file}-wal`, `${file}-shm`]) expect(mode(f)).toBe(0o600)
    })
  }
})
