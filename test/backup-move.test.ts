/**
 * Moving between stores (SQLite → PostgreSQL → SQLite) with every row, credential and sync
 * cursor intact; the table comparison itself; bad backup settings at start.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer, connect as netConnect, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connectSync } from "@mur/client"
import { afterAll, describe, expect, it } from "vitest"
import { backupTo, expectConsistent, lines, push, restored } from "./support/backup.js"
import { diffDatabases, diffTables, readTables } from "./support/compare.js"
import { execDb } from "./support/db.js"
import { request } from "./support/http.js"
import { runServerCommand, type SpawnedServer, spawnServer } from "./support/server.js"
import { createDatabase } from "./support/stores.js"
import { makeTeam } from "./support/team.js"

/** The server's public address: a TCP proxy that the operator points at the new server. */
const frontDoor = async (initial: string) => {
  let target = new URL(initial)
  const open = new Set<Socket>()
  const proxy = createServer((client) => {
    const upstream = netConnect(Number(target.port), target.hostname)
    for (const s of [client, upstream]) {
      open.add(s)
      s.on("close", () => {
        open.delete(s)
        client.destroy()
        upstream.destroy()
      })
      s.on("error", () => undefined)
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r))
  return {
    url: `http://127.0.0.1:${(proxy.address() as { port: number }).port}`,
    pointAt: (url: string) => {
      target = new URL(url)
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of open) s.destroy()
        proxy.close(() => r())
      })
  }
}

describe("moving between stores", () => {
  const cleanup: Array<() => Promise<void>> = []
  afterAll(async () => {
    for (const f of cleanup.reverse()) await f()
  })
  const stopServer = async (s: SpawnedServer) => {
    s.child.kill("SIGTERM")
    await s.exited
  }

  it("SQLite → PostgreSQL → SQLite keeps every row, passwords, refresh tokens, API keys and sync cursors", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mur-move-"))
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }))
    const sqliteUrl = `file:${join(dir, "mur.db")}`
    // No JWT_SECRET: the server keeps its own in <data dir>/jwt-secret.
    const first = await spawnServer({ DATABASE_URL: sqliteUrl, JWT_SECRET: "" })
    const t = await makeTeam(first.url, 1, "Move")
    const login = await request(first.url, "POST", "/auth/login", {
      body: { email: t.admin.email, password: "test password" }
    })
    expect(login.status).toBe(200)
    const key = await request(first.url, "POST", "/api/keys", { token: t.admin.token, body: { name: "ci" } })
    expect(key.status).toBe(201)
    for (let round = 0; round < 3; round++) {
      const r = await push(
        first.url,
        t.admin.token,
        "laptop",
        Array.from({ length: 10 }, (_, i) => ({
          client_action_id: `a-${round}-${i}`,
          op: round === 2 && i < 2 ? "delete" : "upsert",
          name: `move-${i}`,
          pattern: { content: { round }, tags: ["t"] }
        }))
      )
      expect(r.status, r.text).toBe(200)
    }
    const stats = await request(first.url, "POST", "/api/stats", {
      token: t.admin.token,
      body: {
        stats: Array.from({ length: 5 }, (_, i) => ({
          tool: "claude",
          action: "run",
          tokens_used: 10 * i,
          cost_usd: 0.01
        }))
      }
    })
    expect(stats.status, stats.text).toBe(202)
    const cursor = (
      await request(first.url, "GET", "/api/sync/pull?after=0&limit=1000", { token: t.members[0]!.token })
    ).json.last_seq
    expect(cursor).toBe(30)
    // An SDK sync client on the server's public address: it has every event before the move,
    // keeps retrying while the server is down, and resumes from its cursor on the new store.
    const door = await frontDoor(first.url)
    cleanup.push(() => door.close())
    const seen: number[] = []
    const live = connectSync(
      { baseUrl: door.url, token: () => t.members[0]!.token, after: 0, minDelayMs: 50, maxDelayMs: 250 },
      { onEvent: (e) => seen.push(e.seq) }
    )
    cleanup.push(async () => live.close())
    await expect.poll(() => seen.length, { timeout: 15_000 }).toBe(30)
    await stopServer(first)

    // Writers stopped; SQLite → PostgreSQL.
    const toPg = join(dir, "to-pg.gz")
    await backupTo(sqliteUrl, toPg)
    const pgDb = await createDatabase("postgres")
    cleanup.push(() => pgDb.drop())
    await restored(toPg, pgDb.url)
    expect(await diffDatabases(sqliteUrl, pgDb.url)).toEqual([])

    const secret = readFileSync(join(dir, "jwt-secret"), "utf8").trim()
    const second = await spawnServer({ DATABASE_URL: pgDb.url, JWT_SECRET: secret })
    door.pointAt(second.url)
    try {
      // The access token from before the move, the password, the refresh token, the API key.
      expect((await request(second.url, "GET", "/api/me", { token: t.admin.token })).status).toBe(200)
      const again = await request(second.url, "POST", "/auth/login", {
        body: { email: t.members[0]!.email, password: "test password" }
      })
      expect(again.status).toBe(200)
      const refreshed = await request(second.url, "POST", "/auth/refresh", {
        body: { refresh_token: login.json.refresh_token }
      })
      expect(refreshed.status, refreshed.text).toBe(200)
      const byKey = await request(second.url, "GET", "/api/me", { token: key.json.token })
      expect(byKey.status).toBe(200)
      expect(byKey.json.user.id).toBe(t.admin.id)

      const more = await push(
        second.url,
        again.json.access_token,
        "desktop",
        Array.from({ length: 10 }, (_, i) => ({
          client_action_id: `b-${i}`,
          op: "upsert",
          name: `after-${i}`,
          pattern: { content: { i } }
        }))
      )
      expect(more.json.results.map((x: any) => x.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 31 + i))
      // The client resumes from its cursor: every later event once, in order.
      const seqs: number[] = []
      let after = cursor
      for (;;) {
        const page = await request(second.url, "GET", `/api/sync/pull?after=${after}&limit=4`, {
          token: t.members[0]!.token
        })
        seqs.push(...page.json.events.map((e: any) => e.seq))
        after = page.json.last_seq
        if (!page.json.has_more) break
      }
      expect(seqs).toEqual(Array.from({ length: 10 }, (_, i) => 31 + i))
      await expect.poll(() => seen.length, { timeout: 15_000 }).toBe(40)
      expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
      live.close()
    } finally {
      await stopServer(second)
    }

    // And back: PostgreSQL → SQLite.
    const toSqlite = join(dir, "to-sqlite.gz")
    await backupTo(pgDb.url, toSqlite)
    const back = `file:${join(dir, "back.db")}`
    await restored(toSqlite, back)
    expect(await diffDatabases(pgDb.url, back)).toEqual([])
    expect(await expectConsistent(back)).toBe(40)
  })

  it("the table comparison reports a single row that differs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mur-compare-"))
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }))
    const [x, y] = [`file:${join(dir, "x.db")}`, `file:${join(dir, "y.db")}`]
    for (const url of [x, y]) {
      expect((await runServerCommand(["migrate", "up", "--database-url", url], {})).code).toBe(0)
      for (const name of ["one", "two"]) await execDb(url, "INSERT INTO jobs (name, runs) VALUES ($1, 1)", [name])
    }
    expect(diffTables(await readTables(x), await readTables(y))).toEqual([])
    await execDb(y, "UPDATE jobs SET runs = 2 WHERE name = 'two'")
    const diff = await diffDatabases(x, y)
    expect(diff).toHaveLength(2)
    expect(diff[0]).toMatch(/^jobs: only in the first: \[.*"two",1\]$/)
    expect(diff[1]).toMatch(/^jobs: only in the second: \[.*"two",2\]$/)
  })
})

describe("backup settings", () => {
  it.each([
    [
      "a bad BACKUP_INTERVAL",
      { BACKUP_DIR: "/tmp/x", BACKUP_INTERVAL: "often" },
      /^mur-server: invalid BACKUP_INTERVAL/
    ],
    ["a bad BACKUP_KEEP", { BACKUP_DIR: "/tmp/x", BACKUP_KEEP: "0" }, /invalid BACKUP_KEEP/],
    ["BACKUP_KEEP without BACKUP_DIR", { BACKUP_KEEP: "3" }, /invalid BACKUP_KEEP: is set but BACKUP_DIR is not/]
  ])("%s stops the server with one line", async (_label, env, pattern) => {
    const dir = mkdtempSync(join(tmpdir(), "mur-start-"))
    try {
      const r = await runServerCommand(["serve"], { DATABASE_URL: `file:${join(dir, "mur.db")}`, ...env })
      expect(r.code).toBe(1)
      expect(lines(r.stderr)).toHaveLength(1)
      expect(r.stderr).toMatch(pattern)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
