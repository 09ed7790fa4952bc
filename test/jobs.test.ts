/**
 * Background jobs on both stores: the retention purge (rollups keep the totals), purges of
 * expired credentials, the `jobs` table, `mur-server jobs run|list`, all-or-nothing runs,
 * and the in-server scheduler.
 */
import { spawn } from "node:child_process"
import Database from "better-sqlite3"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { execDb, queryDb } from "./support/db.js"
import { request } from "./support/http.js"
import { childEnv, runServerCommand, SERVER_BIN, startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"
import { makeTeam, registerUser } from "./support/team.js"

const DAY_MS = 86_400_000
const day = (offset: number) => new Date(Date.now() + offset * DAY_MS).toISOString().slice(0, 10)
const at = (offset: number) => `${day(offset)}T12:00:00.000Z`
const ago = (ms: number) => new Date(Date.now() - ms).toISOString()

const jobRow = async (url: string, name: string) => {
  const [row] = await queryDb<any>(url, "SELECT * FROM jobs WHERE name = $1", [name])
  return row === undefined
    ? undefined
    : { ...row, runs: Number(row.runs), last_result: row.last_result ? JSON.parse(row.last_result) : null }
}

const count = async (url: string, sql: string, params: unknown[] = []) =>
  Number((await queryDb<{ n: number }>(url, sql, params))[0]!.n)

describe.each(STORES)("jobs on %s", (store) => {
  let server: TestServer
  const api = (method: string, path: string, token: string, body?: unknown) =>
    request(server.url, method, path, { token, body })
  const runJob = (name: string) => runServerCommand(["jobs", "run", name], { DATABASE_URL: server.db.url })
  const post = (token: string, stats: unknown[]) => api("POST", "/api/stats", token, { stats })

  beforeAll(async () => {
    server = await startTestServer(store, { jobs: { enabled: false } })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("purges raw stats older than each plan's retention; the rollups keep every total", async () => {
    const free = await makeTeam(server.url, 0, "Free plan")
    const paid = await makeTeam(server.url, 0, "Team plan")
    const big = await makeTeam(server.url, 0, "Enterprise plan")
    await execDb(server.db.url, "UPDATE teams SET plan = 'team' WHERE id = $1", [paid.team.id])
    await execDb(server.db.url, "UPDATE teams SET plan = 'enterprise' WHERE id = $1", [big.team.id])
    const solo = await registerUser(server.url, "Solo")
    const rec = (offset: number, tool = "claude") => ({
      tool,
      action: "run",
      duration_ms: 10,
      tokens_used: 100,
      cost_usd: 0.1,
      created_at: at(offset)
    })
    // Kept: free 7 days, team 90, enterprise 365; outside any team, the free plan's 7.
    await post(free.admin.token, [rec(-10), rec(-10, "codex"), rec(-8), rec(-3), rec(-1)])
    await post(paid.admin.token, [rec(-100), rec(-91), rec(-30), rec(-2)])
    await post(big.admin.token, [rec(-400), rec(-366), rec(-200)])
    await post(solo.token, [rec(-9), rec(-1)])
    const teamsOf = [free, paid, big]
    const wide = `?from=${day(-420)}&to=${day(0)}`
    const read = async () => ({
      teams: await Promise.all(teamsOf.map((t) => api("GET", `/api/stats/team${wide}`, t.admin.token))),
      solo: await api("GET", `/api/stats/me${wide}`, solo.token),
      days: await api("GET", `/api/stats/me?from=${day(-10)}&to=${day(-10)}`, free.admin.token)
    })
    const before = await read()
    expect(before.teams.map((r) => r.json.stats.runs)).toEqual([5, 4, 3])
    expect(before.days.json.stats).toMatchObject({ runs: 2, tokens: 200, cost_usd: 0.2 })

    const run = await runJob("purge-stats")
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/^purge-stats: ok in \d+ ms /)
    const raw = async (teamId: string | null) =>
      teamId === null
        ? count(server.db.url, "SELECT count(*) AS n FROM stats WHERE team_id IS NULL AND user_id = $1", [solo.id])
        : count(server.db.url, "SELECT count(*) AS n FROM stats WHERE team_id = $1", [teamId])
    expect([await raw(free.team.id), await raw(paid.team.id), await raw(big.team.id), await raw(null)]).toEqual([
      2, 2, 1, 1
    ])
    const job = await jobRow(server.db.url, "purge-stats")
    expect(job).toMatchObject({ last_status: "ok", last_error: null, runs: 1 })
    expect(job.last_result.deleted).toBe(3 + 2 + 2 + 1)

    // Every total, to the day, is what it was: served from the rollups.
    const after = await read()
    expect(after.teams.map((r) => r.json)).toEqual(before.teams.map((r) => r.json))
    expect(after.solo.json).toEqual(before.solo.json)
    expect(after.days.json).toEqual(before.days.json)
    // The export has only what is kept.
    const csv = await api("GET", `/api/stats/export${wide}`, free.admin.token)
    expect(csv.text.trim().split("\r\n")).toHaveLength(1 + 2)

    const again = await runJob("purge-stats")
    expect(again.stdout).toContain('"deleted":0')
    expect(await jobRow(server.db.url, "purge-stats")).toMatchObject({ runs: 2, last_result: { deleted: 0 } })
  })

  it("purges refresh tokens, invites and device codes expired for more than a day", async () => {
    const t = await makeTeam(server.url, 0, "Expired")
    const stale = await registerUser(server.url, "Stale")
    const recent = await registerUser(server.url, "Recent")
    const tokensOf = (userId: string) =>
      count(
        server.db.url,
        "SELECT count(*) AS n FROM refresh_tokens WHERE session_id IN (SELECT id FROM auth_sessions WHERE user_id = $1)",
        [userId]
      )
    const age = (table: string, where: string, params: unknown[], ms: number) =>
      execDb(server.db.url, `UPDATE ${table} SET expires_at = $1 WHERE ${where}`, [ago(ms), ...params])
    const sessionsOf = "session_id IN (SELECT id FROM auth_sessions WHERE user_id = $2)"
    await age("refresh_tokens", sessionsOf, [stale.id], 2 * DAY_MS)
    await age("refresh_tokens", sessionsOf, [recent.id], 3600_000)

    const inviteFor = async (email: string) =>
      (await api("POST", "/api/team/invite", t.admin.token, { email })).json.invite_code as string
    await inviteFor("old@example.test")
    await inviteFor("new@example.test")
    await age("invites", "email = $2", ["old@example.test"], 3 * DAY_MS)

    const codes = await Promise.all(
      [1, 2].map(() => request(server.url, "POST", "/auth/device/code", { body: { client_name: "test" } }))
    )
    expect(codes.map((c) => c.status)).toEqual([200, 200])
    const [oldCode] = await queryDb<{ id: string }>(server.db.url, "SELECT id FROM device_codes ORDER BY created_at")
    await age("device_codes", "id = $2", [oldCode!.id], 2 * DAY_MS)
    const devices = () => count(server.db.url, "SELECT count(*) AS n FROM device_codes")
    const devicesBefore = await devices()

    for (const name of ["purge-refresh-tokens", "purge-invites", "purge-device-codes"]) {
      const r = await runJob(name)
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toContain(`${name}: ok`)
    }
    expect(await tokensOf(stale.id)).toBe(0)
    expect(await tokensOf(recent.id)).toBe(1)
    expect(await tokensOf(t.admin.id)).toBe(1)
    expect(
      (
        await queryDb<{ email: string }>(server.db.url, "SELECT email FROM invites WHERE team_id = $1", [t.team.id])
      ).map((r) => r.email)
    ).toEqual(["new@example.test"])
    expect(await devices()).toBe(devicesBefore - 1)
    expect(await jobRow(server.db.url, "purge-refresh-tokens")).toMatchObject({ last_result: { deleted: 1 } })
    expect(await jobRow(server.db.url, "purge-invites")).toMatchObject({ last_result: { deleted: 1 } })
    expect(await jobRow(server.db.url, "purge-device-codes")).toMatchObject({ last_result: { deleted: 1 } })

    const list = await runServerCommand(["jobs", "list"], { DATABASE_URL: server.db.url })
    expect(list.code, list.stderr).toBe(0)
    expect(list.stdout).toMatch(/^purge-stats\t/m)
    expect(list.stdout).toMatch(/^purge-invites\tevery 3600 s\tok at \d{4}-.*\truns 1\t\{"deleted":1\}/m)
    const unknown = await runJob("purge-everything")
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('unknown job "purge-everything"')
  })

  it("a job that fails mid-way leaves nothing half done, and its failure is recorded", async () => {
    const free = await makeTeam(server.url, 0, "Atomic free")
    const paid = await makeTeam(server.url, 0, "Atomic paid")
    await execDb(server.db.url, "UPDATE teams SET plan = 'team' WHERE id = $1", [paid.team.id])
    await post(free.admin.token, [{ tool: "ok", action: "x", created_at: at(-20) }])
    await post(paid.admin.token, [{ tool: "poison", action: "x", created_at: at(-120) }])
    // The free team's rows are deleted first; the team plan's delete then fails.
    if (store === "sqlite") {
      await execDb(
        server.db.url,
        "CREATE TRIGGER poison BEFORE DELETE ON stats WHEN old.tool = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
      )
    } else {
      await execDb(
        server.db.url,
        "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF old.tool = 'poison' THEN RAISE EXCEPTION 'poisoned row'; END IF; RETURN old; END $$"
      )
      await execDb(server.db.url, "CREATE TRIGGER poison BEFORE DELETE ON stats FOR EACH ROW EXECUTE FUNCTION poison()")
    }
    const runsBefore = (await jobRow(server.db.url, "purge-stats"))?.runs ?? 0
    const failed = await runJob("purge-stats")
    expect(failed.code).toBe(1)
    expect(failed.stderr).toContain("poisoned row")
    const stale = () =>
      count(server.db.url, "SELECT count(*) AS n FROM stats WHERE team_id IN ($1, $2)", [free.team.id, paid.team.id])
    expect(await stale()).toBe(2)
    expect(await jobRow(server.db.url, "purge-stats")).toMatchObject({
      last_status: "failed",
      runs: runsBefore + 1,
      last_result: null
    })
    expect((await jobRow(server.db.url, "purge-stats")).last_error).toContain("poisoned row")

    await execDb(server.db.url, "DROP TRIGGER poison" + (store === "sqlite" ? "" : " ON stats"))
    const ok = await runJob("purge-stats")
    expect(ok.code, ok.stderr).toBe(0)
    expect(await stale()).toBe(0)
    expect(await jobRow(server.db.url, "purge-stats")).toMatchObject({ last_status: "ok", last_error: null })
  })

  it("a job killed mid-run (kill -9) leaves everything as it was", async () => {
    const free = await makeTeam(server.url, 0, "Killed free")
    const paid = await makeTeam(server.url, 0, "Killed paid")
    await execDb(server.db.url, "UPDATE teams SET plan = 'team' WHERE id = $1", [paid.team.id])
    const n = 2000
    for (let i = 0; i < n; i += 1000) {
      const batch = Array.from({ length: 1000 }, () => ({ tool: "bulk", action: "run", created_at: at(-30) }))
      expect((await post(free.admin.token, batch)).json.accepted).toBe(1000)
    }
    await post(paid.admin.token, [{ tool: "slow", action: "run", created_at: at(-120) }])
    // Deleting the team plan's stale row (after the free plan's rows are gone, in the same
    // transaction) stalls, so the kill lands mid-job.
    if (store === "sqlite") {
      // No sleep in SQLite: a three-way join of 2000 rows keeps it busy for minutes.
      await execDb(
        server.db.url,
        "CREATE TABLE ballast AS WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 2000) SELECT x FROM i"
      )
      await execDb(
        server.db.url,
        "CREATE TRIGGER slow BEFORE DELETE ON stats WHEN old.tool = 'slow' BEGIN SELECT count(*) FROM ballast a, ballast b, ballast c WHERE a.x < b.x AND b.x < c.x; END"
      )
    } else {
      await execDb(
        server.db.url,
        "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF old.tool = 'slow' THEN PERFORM pg_sleep(3); END IF; RETURN old; END $$"
      )
      await execDb(server.db.url, "CREATE TRIGGER slow BEFORE DELETE ON stats FOR EACH ROW EXECUTE FUNCTION slow()")
    }
    const inJob = async () => {
      if (store === "sqlite") {
        // A write lock held by someone else: the job's transaction is open.
        const db = new Database(server.db.url.slice("file:".length))
        try {
          db.pragma("busy_timeout = 0")
          db.exec("BEGIN IMMEDIATE")
          db.exec("ROLLBACK")
          return false
        } catch {
          return true
        } finally {
          db.close()
        }
      }
      return (await count(server.db.url, "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event = 'PgSleep'")) > 0
    }
    const runsBefore = (await jobRow(server.db.url, "purge-stats"))?.runs ?? 0
    const child = spawn(SERVER_BIN, ["jobs", "run", "purge-stats"], {
      env: { ...childEnv(), DATABASE_URL: server.db.url, LOG_LEVEL: "error" },
      stdio: "ignore"
    })
    const exited = new Promise<void>((r) => child.once("exit", () => r()))
    const deadline = Date.now() + 20_000
    while (!(await inJob())) {
      if (Date.now() > deadline) throw new Error("the job never started")
      await new Promise((r) => setTimeout(r, 50))
    }
    await new Promise((r) => setTimeout(r, 300))
    child.kill("SIGKILL")
    await exited
    // PostgreSQL rolls back the dead client's transaction once its backend notices.
    while (store === "postgres" && (await inJob())) await new Promise((r) => setTimeout(r, 100))

    const stale = () =>
      count(server.db.url, "SELECT count(*) AS n FROM stats WHERE team_id IN ($1, $2)", [free.team.id, paid.team.id])
    expect(await stale()).toBe(n + 1)
    expect((await jobRow(server.db.url, "purge-stats"))?.runs ?? 0).toBe(runsBefore)
    // The next run does the whole job.
    await execDb(server.db.url, "DROP TRIGGER slow" + (store === "sqlite" ? "" : " ON stats"))
    if (store === "sqlite") await execDb(server.db.url, "DROP TABLE ballast")
    const r = await runJob("purge-stats")
    expect(r.code, r.stderr).toBe(0)
    expect(await stale()).toBe(0)
    expect(await jobRow(server.db.url, "purge-stats")).toMatchObject({ runs: runsBefore + 1, last_status: "ok" })
  })

  it("the server runs due jobs at start and on its schedule, once per interval", async () => {
    const s = await startTestServer(store, { jobs: { tickMs: 100 } })
    try {
      const deadline = Date.now() + 10_000
      let rows: any[] = []
      while (Date.now() < deadline) {
        rows = await queryDb<any>(s.db.url, "SELECT name, runs, last_status FROM jobs ORDER BY name")
        if (rows.length === 4 && rows.every((r) => r.last_status === "ok")) break
        await new Promise((r) => setTimeout(r, 100))
      }
      // Many ticks later, each has still run once: none is due again for an hour.
      await new Promise((r) => setTimeout(r, 600))
      rows = await queryDb<any>(s.db.url, "SELECT name, runs, last_status FROM jobs ORDER BY name")
      expect(rows.map((r) => [r.name, Number(r.runs), r.last_status])).toEqual([
        ["purge-device-codes", 1, "ok"],
        ["purge-invites", 1, "ok"],
        ["purge-refresh-tokens", 1, "ok"],
        ["purge-stats", 1, "ok"]
      ])
      // An hour later (as far as the table knows), the next tick runs it again.
      await execDb(s.db.url, "UPDATE jobs SET last_started_at = $1 WHERE name = 'purge-stats'", [ago(3700_000)])
      const until = Date.now() + 5000
      let runs = 1
      while (Date.now() < until && runs < 2) {
        runs = Number((await jobRow(s.db.url, "purge-stats")).runs)
        await new Promise((r) => setTimeout(r, 100))
      }
      expect(runs).toBe(2)
    } finally {
      await s.stop()
    }
  })
})
