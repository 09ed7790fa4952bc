/**
 * Stats and jobs with several server processes on one PostgreSQL database: the same batch
 * ingested through both at once counts once; both schedule the purge and it runs once; a
 * job whose lock is held elsewhere is skipped.
 */
import { randomUUID } from "node:crypto"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { execDb, queryDb } from "./support/db.js"
import { request } from "./support/http.js"
import { runServerCommand, type SpawnedServer, spawnServer, TEST_SECRET } from "./support/server.js"
import { createDatabase, type TestDatabase } from "./support/stores.js"
import { makeTeam } from "./support/team.js"
import { connect } from "./support/ws.js"

const DAY_MS = 86_400_000
const at = (offset: number) => new Date(Date.now() + offset * DAY_MS).toISOString()

const stop = async (servers: ReadonlyArray<SpawnedServer | undefined>) => {
  for (const s of servers) s?.child.kill("SIGTERM")
  await Promise.all(servers.map((s) => s?.exited))
}

describe("stats on two server processes sharing one PostgreSQL database", () => {
  let db: TestDatabase
  let a: SpawnedServer
  let b: SpawnedServer
  beforeAll(async () => {
    db = await createDatabase("postgres")
    const env = { DATABASE_URL: db.url, JWT_SECRET: TEST_SECRET }
    a = await spawnServer(env)
    b = await spawnServer(env)
  })
  afterAll(async () => {
    await stop([a, b])
    await db?.drop()
  })

  it("the same batch sent through both at once counts each record once", async () => {
    const t = await makeTeam(a.url, 1, "Twice")
    const rounds = 6
    let accepted = 0
    for (let round = 0; round < rounds; round++) {
      const stats = Array.from({ length: 500 }, (_, i) => ({
        id: randomUUID(),
        tool: `tool-${i % 5}`,
        action: "run",
        tokens_used: 3,
        cost_usd: 0.1,
        created_at: at(-1)
      }))
      // One user, two processes, the same batch twice through each, at the same instant.
      const replies = await Promise.all(
        [a, b, a, b].map((s) => request(s.url, "POST", "/api/stats", { token: t.admin.token, body: { stats } }))
      )
      for (const r of replies) expect(r.status, r.text).toBe(202)
      expect(replies.reduce((n, r) => n + r.json.accepted, 0)).toBe(500)
      expect(replies.reduce((n, r) => n + r.json.duplicates, 0)).toBe(3 * 500)
      accepted += 500
    }
    const me = await request(b.url, "GET", "/api/stats/me", { token: t.admin.token })
    expect(me.json.stats).toMatchObject({ runs: accepted, tokens: 3 * accepted, cost_usd: accepted / 10 })
    const [raw] = await queryDb<{ n: string }>(db.url, "SELECT count(*) AS n FROM stats WHERE team_id = $1", [
      t.team.id
    ])
    const [rolled] = await queryDb<{ n: string }>(db.url, "SELECT sum(runs) AS n FROM stats_daily WHERE team_id = $1", [
      t.team.id
    ])
    expect([Number(raw!.n), Number(rolled!.n)]).toEqual([accepted, accepted])
  })

  it("a stats notice committed through one process reaches stats subscribers of the other", async () => {
    const t = await makeTeam(a.url, 0, "Across")
    const s = await connect(b.url, { token: t.admin.token })
    s.send({ type: "subscribe", channels: ["stats"] })
    await s.waitFor((m) => m.type === "subscribed")
    await request(a.url, "POST", "/api/stats", {
      token: t.admin.token,
      body: { stats: [{ tool: "claude", action: "run", cost_usd: 0.5 }] }
    })
    const update = await s.waitFor((m) => m.type === "stats_updated")
    expect(update.summary).toMatchObject({ runs: 1, cost_usd: 0.5 })
    s.close()
  })
})

describe("jobs on two server processes sharing one PostgreSQL database", () => {
  let db: TestDatabase
  let servers: SpawnedServer[] = []
  beforeAll(async () => {
    db = await createDatabase("postgres")
  })
  afterAll(async () => {
    await stop(servers)
    await db?.drop()
  })

  it("both schedule the purge at start: it runs once (the advisory lock), and removes the stale rows", async () => {
    const env = { DATABASE_URL: db.url, JWT_SECRET: TEST_SECRET }
    const migrated = await runServerCommand(["migrate", "up"], env)
    expect(migrated.code, migrated.stderr).toBe(0)
    // A free team with 5,000 raw records past the 7-day retention, and 10 recent ones.
    const team = randomUUID()
    const user = randomUUID()
    const now = new Date().toISOString()
    await execDb(db.url, "INSERT INTO users VALUES ($1, $2, 'Seed', 'x', $3, $3)", [user, `${user}@example.test`, now])
    await execDb(db.url, "INSERT INTO teams (id, name, slug, created_at, updated_at) VALUES ($1, 'Seed', $2, $3, $3)", [
      team,
      `seed-${team.slice(0, 8)}`,
      now
    ])
    await execDb(
      db.url,
      `INSERT INTO stats (id, team_id, user_id, tool, action, created_at)
       SELECT gen_random_uuid(), $1, $2, 'bulk', 'run', now() - (CASE WHEN i <= 5000 THEN interval '10 days' ELSE interval '1 hour' END)
       FROM generate_series(1, 5010) AS i`,
      [team, user]
    )
    // One stale row is slow to delete: the first process's purge holds its lock for 4 s, so
    // the other one's first tick comes while it runs, not after.
    await execDb(
      db.url,
      "INSERT INTO stats (id, team_id, user_id, tool, action, created_at) VALUES ($1, $2, $3, 'slow', 'run', $4)",
      [randomUUID(), team, user, at(-10)]
    )
    await execDb(
      db.url,
      "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF old.tool = 'slow' THEN PERFORM pg_sleep(4); END IF; RETURN old; END $$"
    )
    await execDb(db.url, "CREATE TRIGGER slow BEFORE DELETE ON stats FOR EACH ROW EXECUTE FUNCTION slow()")
    // Each job last ran two hours ago (its row exists, as on any database past its first hour):
    // both processes find every job due.
    for (const name of ["purge-stats", "purge-refresh-tokens", "purge-invites", "purge-device-codes"]) {
      await execDb(
        db.url,
        "INSERT INTO jobs (name, last_started_at, last_finished_at, last_status, runs) VALUES ($1, $2, $2, 'ok', 1)",
        [name, at(-2 / 24)]
      )
    }
    servers = await Promise.all([spawnServer(env), spawnServer(env)])
    const deadline = Date.now() + 30_000
    for (;;) {
      const rows = await queryDb<{ runs: string }>(db.url, "SELECT runs FROM jobs")
      if (rows.every((r) => Number(r.runs) >= 2)) break
      if (Date.now() > deadline) throw new Error(`jobs did not run: ${JSON.stringify(rows)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    // Both processes have started and ticked; still one more run of each job, not two.
    await new Promise((r) => setTimeout(r, 2500))
    const jobs = await queryDb<{ name: string; runs: string; last_result: string }>(
      db.url,
      "SELECT name, runs, last_result FROM jobs ORDER BY name"
    )
    expect(jobs.map((j) => [j.name, Number(j.runs)])).toEqual([
      ["purge-device-codes", 2],
      ["purge-invites", 2],
      ["purge-refresh-tokens", 2],
      ["purge-stats", 2]
    ])
    expect(JSON.parse(jobs.find((j) => j.name === "purge-stats")!.last_result).deleted).toBe(5001)
    const [left] = await queryDb<{ n: string }>(db.url, "SELECT count(*) AS n FROM stats")
    expect(Number(left!.n)).toBe(10)
  })

  it("`jobs run` skips a job whose lock another process holds, and runs it once the lock is free", async () => {
    const env = { DATABASE_URL: db.url, JWT_SECRET: TEST_SECRET }
    const runs = async () =>
      Number((await queryDb<{ runs: string }>(db.url, "SELECT runs FROM jobs WHERE name = 'purge-stats'"))[0]!.runs)
    const before = await runs()
    const holder = new pg.Client({ connectionString: db.url })
    await holder.connect()
    try {
      await holder.query("SELECT pg_advisory_lock(hashtext('mur-job:purge-stats'))")
      const busy = await runServerCommand(["jobs", "run", "purge-stats"], env)
      expect(busy.code, busy.stderr).toBe(3)
      expect(busy.stdout).toContain("purge-stats: skipped, another process is running it")
      expect(await runs()).toBe(before)
      // Other jobs are not held up by it.
      expect((await runServerCommand(["jobs", "run", "purge-invites"], env)).code).toBe(0)
      await holder.query("SELECT pg_advisory_unlock(hashtext('mur-job:purge-stats'))")
      const free = await runServerCommand(["jobs", "run", "purge-stats"], env)
      expect(free.code, free.stderr).toBe(0)
      expect(await runs()).toBe(before + 1)
    } finally {
      await holder.end()
    }
  })
})
