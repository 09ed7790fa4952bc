/**
 * Operating a server through the real binaries: plans and limits set by the operator
 * (`mur-server admin teams …`, DEFAULT_PLAN), accounts made with sign-up off, disabled,
 * reset and deleted (`mur-server admin users …`), set-password links, and the `/admin/*`
 * routes. On PostgreSQL every act is also checked on a second server process.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { queryDb } from "./support/db.js"
import { request, uniqueEmail } from "./support/http.js"
import { runServerCommand, type SpawnedServer, spawnServer, TEST_SECRET } from "./support/server.js"
import { createDatabase, STORES, type TestDatabase } from "./support/stores.js"
import { makeTeam, registerUser, type TestUser } from "./support/team.js"
import { connect } from "./support/ws.js"

/** Runs `mur-server admin …` to completion, with `input` on its stdin; `json` is stdout parsed. */
const admin = async (url: string, args: ReadonlyArray<string>, input?: string) => {
  const r = await runServerCommand(
    ["admin", ...args],
    { DATABASE_URL: url, BCRYPT_COST: "10", BASE_URL: "http://mur.test" },
    input ?? ""
  )
  let json: any
  try {
    json = JSON.parse(r.stdout)
  } catch {
    json = undefined
  }
  return { ...r, json }
}

const ok = async (p: ReturnType<typeof admin>) => {
  const r = await p
  expect(r.code, `${r.stderr}${r.stdout}`).toBe(0)
  return r
}

const login = (base: string, email: string, password = "test password") =>
  request(base, "POST", "/auth/login", { body: { email, password } })

const invite = async (base: string, adminToken: string, user: TestUser) => {
  const inv = await request(base, "POST", "/api/team/invite", { token: adminToken, body: { email: user.email } })
  expect(inv.status, inv.text).toBe(201)
  return request(base, "POST", "/api/team/join", { token: user.token, body: { invite_code: inv.json.invite_code } })
}

describe.each(STORES)("operating a server on %s", (store) => {
  let db: TestDatabase
  let a: SpawnedServer
  /** The second process on PostgreSQL; on SQLite (one process) the same one. */
  let b: SpawnedServer
  beforeAll(async () => {
    db = await createDatabase(store)
    const env = { DATABASE_URL: db.url, JWT_SECRET: TEST_SECRET }
    a = await spawnServer(env)
    b = store === "postgres" ? await spawnServer(env) : a
  })
  afterAll(async () => {
    for (const s of new Set([a, b])) {
      s?.child.kill("SIGTERM")
      await s?.exited
    }
    await db?.drop()
  })

  it("set-plan lets the 6th member of a full free team join at once, on every process; set-limits removes nobody", async () => {
    const t = await makeTeam(a.url, 4, "Growing")
    const sixth = await registerUser(a.url, "Sixth")
    const refused = await invite(a.url, t.admin.token, sixth)
    expect(refused.status).toBe(403)
    expect(refused.json.error.code).toBe("plan_limit")

    const moved = await ok(admin(db.url, ["teams", "set-plan", t.team.slug, "team", "--json"]))
    expect(moved.json.team).toMatchObject({
      team: { plan: "team", max_members: 30, max_patterns: 1000, retention_days: 90 },
      members: 5
    })
    // Through the other process, with no restart.
    const joined = await invite(b.url, t.admin.token, sixth)
    expect(joined.status, joined.text).toBe(200)

    const capped = await ok(admin(db.url, ["teams", "set-limits", t.team.slug, "--max-members", "2", "--json"]))
    expect(capped.json.team).toMatchObject({ team: { max_members: 2 }, overrides: { max_members: 2 }, members: 6 })
    const seventh = await registerUser(a.url, "Seventh")
    const blocked = await invite(b.url, t.admin.token, seventh)
    expect(blocked.status).toBe(403)
    expect(blocked.json.error.code).toBe("plan_limit")
    const team = await request(a.url, "GET", "/api/team", { token: t.admin.token })
    expect(team.json.members).toHaveLength(6)
    expect(team.json.team).toMatchObject({ plan: "team", max_members: 2, max_patterns: 1000 })

    // Back to the plan's limit; /api/me shows the limits in force too.
    await ok(admin(db.url, ["teams", "set-limits", t.team.slug, "--max-members", "default"]))
    const me = await request(b.url, "GET", "/api/me", { token: t.admin.token })
    expect(me.json.teams[0].team).toMatchObject({ max_members: 30, max_patterns: 1000, retention_days: 90 })
    expect((await invite(a.url, t.admin.token, seventh)).status).toBe(200)

    const audit = await request(a.url, "GET", "/api/audit?limit=100", { token: t.admin.token })
    const acts = audit.json.entries.filter((e: any) => e.action.startsWith("admin."))
    expect(acts.map((e: any) => e.action).sort()).toEqual(["admin.team_limits", "admin.team_limits", "admin.team_plan"])
    expect(acts.find((e: any) => e.action === "admin.team_plan").metadata).toMatchObject({
      from: "free",
      to: "team",
      via: "cli"
    })
  })

  it("a pattern limit below the count blocks new patterns and deletes none", async () => {
    const t = await makeTeam(a.url, 0, "Patterns")
    for (const name of ["one", "two"]) {
      const r = await request(a.url, "POST", "/api/patterns", { token: t.admin.token, body: { name, content: {} } })
      expect(r.status, r.text).toBe(201)
    }
    const capped = await ok(admin(db.url, ["teams", "set-limits", t.team.slug, "--max-patterns", "1", "--json"]))
    expect(capped.json.team).toMatchObject({ team: { max_patterns: 1 }, patterns: 2 })
    const refused = await request(b.url, "POST", "/api/patterns", {
      token: t.admin.token,
      body: { name: "three", content: {} }
    })
    expect(refused.status).toBe(403)
    expect(refused.json.error.code).toBe("plan_limit")
    const pushed = await request(b.url, "POST", "/api/sync/push", {
      token: t.admin.token,
      body: {
        device_id: "d",
        events: [{ client_action_id: "c1", op: "upsert", name: "four", pattern: { content: {} } }]
      }
    })
    expect(pushed.json.results[0]).toMatchObject({ status: "rejected", error: { code: "plan_limit" } })
    const listed = await request(a.url, "GET", "/api/patterns", { token: t.admin.token })
    expect(listed.json.total).toBe(2)
    await ok(admin(db.url, ["teams", "set-limits", t.team.slug, "--max-patterns", "unlimited"]))
    const shown = await ok(admin(db.url, ["teams", "show", t.team.slug, "--json"]))
    expect(shown.json.team).toMatchObject({ team: { max_patterns: null }, overrides: { max_patterns: "unlimited" } })
    expect(shown.json.members.map((m: any) => m.email)).toEqual([t.admin.email])
    const again = await request(a.url, "POST", "/api/patterns", {
      token: t.admin.token,
      body: { name: "three", content: {} }
    })
    expect(again.status).toBe(201)
  })

  it("a team's own retention decides what the purge job deletes", async () => {
    const short = await makeTeam(a.url, 0, "Short retention")
    const forever = await makeTeam(a.url, 0, "Kept forever")
    await ok(admin(db.url, ["teams", "set-limits", short.team.slug, "--retention-days", "2"]))
    await ok(admin(db.url, ["teams", "set-limits", forever.team.slug, "--retention-days", "unlimited"]))
    const at = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString()
    for (const [t, days] of [
      [short, [-1, -3]],
      [forever, [-30]]
    ] as const) {
      const r = await request(a.url, "POST", "/api/stats", {
        token: t.admin.token,
        body: { stats: days.map((d) => ({ tool: "claude", action: "run", created_at: at(d) })) }
      })
      expect(r.status, r.text).toBe(202)
    }
    const run = await runServerCommand(["jobs", "run", "purge-stats"], { DATABASE_URL: db.url })
    expect(run.code, run.stderr).toBe(0)
    const left = await queryDb<{ team_id: string; n: number }>(
      db.url,
      "SELECT team_id, count(*) AS n FROM stats WHERE team_id IN ($1, $2) GROUP BY team_id",
      [short.team.id, forever.team.id]
    )
    expect(Object.fromEntries(left.map((r) => [r.team_id, Number(r.n)]))).toEqual({
      [short.team.id]: 1,
      [forever.team.id]: 1
    })
  })

  it("disable ends login, refresh, API keys and open sockets at once, on every process; enable restores login", async () => {
    const t = await makeTeam(a.url, 1, "Leavers")
    const leaver = t.members[0]!
    const session = await login(a.url, leaver.email)
    const key = await request(a.url, "POST", "/api/keys", { token: leaver.token, body: { name: "ci" } })
    expect(key.status).toBe(201)
    const sockets = await Promise.all([
      connect(a.url, { token: leaver.token }),
      connect(b.url, { token: session.json.access_token }),
      connect(b.url, { token: key.json.token })
    ])
    const bystander = await connect(b.url, { token: t.admin.token })

    const disabled = await ok(admin(db.url, ["users", "disable", leaver.email, "--json"]))
    expect(disabled.json.user).toMatchObject({ email: leaver.email, disabled: true })
    for (const s of sockets) expect(await s.closed).toMatchObject({ code: 4401 })

    const refused = await login(b.url, leaver.email)
    expect(refused.status).toBe(403)
    expect(refused.json.error.code).toBe("forbidden")
    const refresh = await request(a.url, "POST", "/auth/refresh", {
      body: { refresh_token: session.json.refresh_token }
    })
    expect(refresh.status).toBe(401)
    expect((await request(b.url, "GET", "/api/me", { token: key.json.token })).status).toBe(401)
    expect((await request(b.url, "GET", "/api/me", { token: leaver.token })).status).toBe(401)
    // A wrong password says nothing about the account.
    expect((await login(a.url, leaver.email, "wrong password")).json.error.code).toBe("invalid_credentials")
    await expect(connect(a.url, { token: key.json.token })).rejects.toMatchObject({ status: 401 })
    expect(bystander.ws.readyState).toBe(bystander.ws.OPEN)
    bystander.close()

    const enabled = await ok(admin(db.url, ["users", "enable", leaver.email, "--json"]))
    expect(enabled.json.user.disabled).toBe(false)
    expect((await login(b.url, leaver.email)).status).toBe(200)
    // The key was never revoked: it works again with the account.
    expect((await request(a.url, "GET", "/api/me", { token: key.json.token })).status).toBe(200)
    const audit = await queryDb<{ action: string }>(
      db.url,
      "SELECT action FROM audit_log WHERE target_id = $1 AND action LIKE 'admin.%' ORDER BY created_at",
      [leaver.id]
    )
    expect(audit.map((r) => r.action)).toEqual(["admin.user_disable", "admin.user_enable"])
  })

  it("reset-password ends every old login; a one-time link sets a new password once", async () => {
    const user = (await makeTeam(a.url, 0, "Forgetful")).admin
    const first = await login(a.url, user.email)
    const socket = await connect(b.url, { token: first.json.access_token })
    const reset = await ok(
      admin(db.url, ["users", "reset-password", user.email, "--password-stdin", "--json"], "brand new pw\n")
    )
    expect(reset.json.set_password_url).toBeUndefined()
    expect(await socket.closed).toMatchObject({ code: 4401 })
    expect(
      (await request(a.url, "POST", "/auth/refresh", { body: { refresh_token: first.json.refresh_token } })).status
    ).toBe(401)
    expect((await request(b.url, "GET", "/api/me", { token: user.token })).status).toBe(401)
    expect((await login(a.url, user.email)).status).toBe(401)
    const fresh = await login(b.url, user.email, "brand new pw")
    expect(fresh.status).toBe(200)

    const linked = await ok(admin(db.url, ["users", "reset-password", user.email, "--json"]))
    const url = new URL(linked.json.set_password_url)
    expect(`${url.origin}${url.pathname}`).toBe("http://mur.test/set-password")
    const token = new URLSearchParams(url.hash.slice(1)).get("token")!
    expect((await login(a.url, user.email, "brand new pw")).status).toBe(401)
    expect((await request(a.url, "GET", "/api/me", { token: fresh.json.access_token })).status).toBe(401)
    const tooShort = await request(a.url, "POST", "/auth/password", { body: { token, password: "short" } })
    expect(tooShort.status).toBe(400)
    const set = await request(b.url, "POST", "/auth/password", { body: { token, password: "from the link" } })
    expect(set.status, set.text).toBe(200)
    expect((await login(a.url, user.email, "from the link")).status).toBe(200)
    const twice = await request(a.url, "POST", "/auth/password", { body: { token, password: "once more pw" } })
    expect(twice.status).toBe(400)
    expect(twice.json.error.code).toBe("invalid_request")
    const page = await request(a.url, "GET", "/set-password")
    expect(page.status).toBe(200)
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'")
  })

  it("delete keeps the team's patterns, stats and audit entries; the last admin of a team with members is refused", async () => {
    const t = await makeTeam(a.url, 1, "Keepers")
    const gone = t.members[0]!
    const created = await request(a.url, "POST", "/api/patterns", {
      token: gone.token,
      body: { name: "kept", content: { by: "gone" } }
    })
    expect(created.status).toBe(201)
    const recorded = await request(a.url, "POST", "/api/stats", {
      token: gone.token,
      body: { stats: [{ tool: "codex", action: "run", tokens_used: 7 }] }
    })
    expect(recorded.status, recorded.text).toBe(202)
    const refused = await admin(db.url, ["users", "delete", t.admin.email])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^mur-server: Team .* would be left without an admin/)

    const deleted = await ok(admin(db.url, ["users", "delete", gone.email, "--json"]))
    expect(deleted.json).toEqual({ success: true })
    expect((await login(a.url, gone.email)).status).toBe(401)
    const team = await request(b.url, "GET", "/api/team", { token: t.admin.token })
    expect(team.json.members.map((m: any) => m.id)).toEqual([t.admin.id])
    const pattern = await request(b.url, "GET", `/api/patterns/${created.json.pattern.id}`, { token: t.admin.token })
    expect(pattern.json.pattern).toMatchObject({ name: "kept", author_id: gone.id })
    const stats = await request(a.url, "GET", "/api/stats/team", { token: t.admin.token })
    expect(stats.json.stats.tokens).toBe(7)
    expect(stats.json.members.find((m: any) => m.user_id === gone.id)).toMatchObject({
      name: "Deleted user",
      tokens: 7
    })
    const entries = await queryDb(db.url, "SELECT action FROM audit_log WHERE actor_id = $1", [gone.id])
    expect(entries.length).toBeGreaterThan(0)
    // The e-mail is free again; the old account stays gone.
    const listed = await ok(admin(db.url, ["users", "list", "--search", gone.email, "--json"]))
    expect(listed.json.users).toEqual([])
    expect(
      (
        await request(a.url, "POST", "/auth/register", {
          body: { email: gone.email, password: "test password", name: "New" }
        })
      ).status
    ).toBe(201)
  })

  it("bad input is a usage error: one line on stderr and exit 2; unknown users and teams exit 1", async () => {
    const cases: Array<[ReadonlyArray<string>, number, RegExp]> = [
      [["users", "create", "--email", "not-an-email", "--name", "X"], 2, /invalid --email/],
      [["teams", "set-limits", "some-team"], 2, /nothing to change/],
      [["teams", "set-limits", "some-team", "--max-members", "lots"], 2, /invalid --max-members/],
      [["users", "disable", "nobody@example.test"], 1, /No such user/],
      [["teams", "set-plan", "no-such-team", "team"], 1, /No such team/]
    ]
    for (const [args, code, message] of cases) {
      const r = await admin(db.url, args)
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(code)
      expect(r.stderr.trim().split("\n")).toHaveLength(1)
      expect(r.stderr).toMatch(message)
    }
  })
})

describe.each(STORES)("DEFAULT_PLAN and accounts made with sign-up off on %s", (store) => {
  let db: TestDatabase
  let server: SpawnedServer
  beforeAll(async () => {
    db = await createDatabase(store)
    server = await spawnServer({
      DATABASE_URL: db.url,
      JWT_SECRET: TEST_SECRET,
      DEFAULT_PLAN: "team",
      ALLOW_SIGNUP: "false"
    })
  })
  afterAll(async () => {
    server?.child.kill("SIGTERM")
    await server?.exited
    await db?.drop()
  })

  it("admin users create works with sign-up off, by stdin or by a one-time link; new teams get the team plan", async () => {
    const email = uniqueEmail("made")
    const signup = await request(server.url, "POST", "/auth/register", {
      body: { email, password: "test password", name: "Made" }
    })
    expect(signup.json.error.code).toBe("signup_disabled")
    const made = await ok(
      admin(
        db.url,
        ["users", "create", "--email", email, "--name", "Made", "--password-stdin", "--json"],
        "test password\n"
      )
    )
    expect(made.json.user).toMatchObject({ email, name: "Made", disabled: false, server_admin: false, teams: 0 })
    const session = await login(server.url, email)
    expect(session.status, session.text).toBe(200)
    const team = await request(server.url, "POST", "/api/team", {
      token: session.json.access_token,
      body: { name: "Paid" }
    })
    expect(team.json.team).toMatchObject({ plan: "team", max_members: 30, max_patterns: 1000, retention_days: 90 })

    const linked = await ok(admin(db.url, ["users", "create", "--email", uniqueEmail("linked"), "--name", "Linked"]))
    const url = /^(http:\/\/mur\.test\/set-password#token=\S+)$/m.exec(linked.stdout)?.[1]
    expect(url, linked.stdout).toBeDefined()
    const token = new URLSearchParams(new URL(url!).hash.slice(1)).get("token")!
    const email2 = /^created: (\S+)/m.exec(linked.stdout)![1]!
    expect((await login(server.url, email2)).status).toBe(401)
    expect(
      (await request(server.url, "POST", "/auth/password", { body: { token, password: "via the link" } })).status
    ).toBe(200)
    expect((await login(server.url, email2, "via the link")).status).toBe(200)

    const taken = await admin(db.url, ["users", "create", "--email", email, "--name", "Again"])
    expect(taken.code).toBe(1)
    expect(taken.stderr).toContain("already exists")
  })
})
