/** The Teams section of the contract, on both stores, through real HTTP. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { queryDb } from "./support/db.js"
import { request, uniqueEmail } from "./support/http.js"
import { startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"

const expectError = (r: { status: number; json: any }, status: number, code: string) => {
  expect(r.status, JSON.stringify(r.json)).toBe(status)
  expect(r.json.error.code).toBe(code)
}

describe.each(STORES)("teams on %s", (store) => {
  let server: TestServer
  const api = (method: string, path: string, token?: string, body?: unknown, headers?: Record<string, string>) =>
    request(server.url, method, path, { token, body, headers })

  const newUser = async (name = "User") => {
    const email = uniqueEmail(name.toLowerCase())
    const r = await api("POST", "/auth/register", undefined, { email, password: "team password", name })
    expect(r.status).toBe(201)
    return { email, token: r.json.access_token as string, id: r.json.user.id as string }
  }

  /** An admin with a fresh team. */
  const newTeam = async (name = "Team") => {
    const admin = await newUser("Admin")
    const r = await api("POST", "/api/team", admin.token, { name })
    expect(r.status).toBe(201)
    return { admin, team: r.json.team }
  }

  const invite = async (adminToken: string, email: string, role?: string, headers?: Record<string, string>) => {
    const r = await api("POST", "/api/team/invite", adminToken, role ? { email, role } : { email }, headers)
    expect(r.status, JSON.stringify(r.json)).toBe(201)
    return r.json.invite_code as string
  }

  const join = async (adminToken: string, role?: string) => {
    const user = await newUser("Member")
    const code = await invite(adminToken, user.email, role)
    const r = await api("POST", "/api/team/join", user.token, { invite_code: code })
    expect(r.status, JSON.stringify(r.json)).toBe(200)
    return user
  }

  beforeAll(async () => {
    server = await startTestServer(store)
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("creates a team on the free plan with the creator as admin", async () => {
    const { admin, team } = await newTeam("Acme Platform")
    expect(team).toMatchObject({
      name: "Acme Platform",
      slug: "acme-platform",
      plan: "free",
      max_members: 5,
      max_patterns: 100
    })
    const got = await api("GET", "/api/team", admin.token)
    expect(got.status).toBe(200)
    expect(got.json.team).toEqual(team)
    expect(got.json.members).toEqual([
      expect.objectContaining({ id: admin.id, email: admin.email, role: "admin", name: "Admin" })
    ])
    const me = await api("GET", "/api/me", admin.token)
    expect(me.json.teams).toEqual([{ team, role: "admin" }])
    // A second team of the same name gets its own slug.
    const other = await newTeam("Acme Platform")
    expect(other.team.slug).not.toBe(team.slug)
    expect(other.team.slug).toMatch(/^acme-platform-/)
  })

  it("validates the team name", async () => {
    const user = await newUser()
    expectError(await api("POST", "/api/team", user.token, { name: "   " }), 400, "invalid_request")
    expectError(await api("POST", "/api/team", user.token, { name: 42 }), 400, "invalid_request")
    expectError(await api("POST", "/api/team", user.token, {}), 400, "invalid_request")
  })

  it("answers 404 not_in_team for a user without a team", async () => {
    const user = await newUser()
    expectError(await api("GET", "/api/team", user.token), 404, "not_in_team")
    expectError(await api("GET", "/api/patterns", user.token), 404, "not_in_team")
  })

  it("renames (admin only)", async () => {
    const { admin } = await newTeam()
    const member = await join(admin.token)
    const r = await api("PUT", "/api/team", admin.token, { name: "Renamed" })
    expect(r.status).toBe(200)
    expect(r.json.team.name).toBe("Renamed")
    expectError(await api("PUT", "/api/team", member.token, { name: "Nope" }), 403, "forbidden")
    expect((await api("GET", "/api/team", member.token)).json.team.name).toBe("Renamed")
  })

  describe("invites", () => {
    it("lets only the invited email join, once, with the invited role", async () => {
      const { admin, team } = await newTeam()
      const invited = await newUser("Invited")
      const stranger = await newUser("Stranger")
      const code = await invite(admin.token, invited.email.toUpperCase(), "admin")
      expectError(await api("POST", "/api/team/join", stranger.token, { invite_code: code }), 404, "invalid_invite")
      const ok = await api("POST", "/api/team/join", invited.token, { invite_code: code })
      expect(ok.status).toBe(200)
      expect(ok.json.team.id).toBe(team.id)
      const members = (await api("GET", "/api/team", admin.token)).json.members
      expect(members.find((m: any) => m.id === invited.id).role).toBe("admin")
      // Single use: the same code again, even by the same person, is invalid.
      const again = await newUser()
      expectError(await api("POST", "/api/team/join", again.token, { invite_code: code }), 404, "invalid_invite")
    })

    it("refuses unknown codes and members already in the team", async () => {
      const { admin } = await newTeam()
      const user = await newUser()
      expectError(
        await api("POST", "/api/team/join", user.token, { invite_code: "no-such-code" }),
        404,
        "invalid_invite"
      )
      const member = await join(admin.token)
      const code = await invite(admin.token, member.email)
      expectError(await api("POST", "/api/team/join", member.token, { invite_code: code }), 409, "already_in_team")
    })

    it("refuses an expired invite", async () => {
      const { admin } = await newTeam()
      const user = await newUser()
      const code = await invite(admin.token, user.email)
      // Age the invite in the database: the only way to reach 7 days in a test.
      const past = new Date(Date.now() - 60_000).toISOString()
      if (server.db.url.startsWith("file:")) {
        const Database = (await import("better-sqlite3")).default
        const db = new Database(server.db.url.slice(5))
        db.prepare("UPDATE invites SET expires_at = ? WHERE email = ?").run(past, user.email)
        db.close()
      } else {
        await queryDb(server.db.url, "UPDATE invites SET expires_at = $1 WHERE email = $2", [past, user.email])
      }
      expectError(await api("POST", "/api/team/join", user.token, { invite_code: code }), 404, "invalid_invite")
    })

    it("is admin only, validates the email, and stores only a hash of the code", async () => {
      const { admin } = await newTeam()
      const member = await join(admin.token)
      expectError(await api("POST", "/api/team/invite", member.token, { email: uniqueEmail() }), 403, "forbidden")
      expectError(await api("POST", "/api/team/invite", admin.token, { email: "nope" }), 400, "invalid_request")
      expectError(
        await api("POST", "/api/team/invite", admin.token, { email: uniqueEmail(), role: "owner" }),
        400,
        "invalid_request"
      )
      const code = await invite(admin.token, uniqueEmail())
      const dump = JSON.stringify(await queryDb(server.db.url, "SELECT * FROM invites"))
      expect(dump).not.toContain(code)
      const audit = JSON.stringify(await queryDb(server.db.url, "SELECT * FROM audit_log"))
      expect(audit).not.toContain(code)
    })

    it("refuses the 6th member of a free team with 403 plan_limit", async () => {
      const { admin } = await newTeam()
      for (let i = 0; i < 4; i++) await join(admin.token)
      const sixth = await newUser()
      const code = await invite(admin.token, sixth.email)
      expectError(await api("POST", "/api/team/join", sixth.token, { invite_code: code }), 403, "plan_limit")
      expect((await api("GET", "/api/team", admin.token)).json.members).toHaveLength(5)
    })
  })

  describe("members and roles", () => {
    it("changes roles and removes members (admin only)", async () => {
      const { admin } = await newTeam()
      const a = await join(admin.token)
      const b = await join(admin.token)
      expectError(await api("PUT", `/api/team/members/${b.id}`, a.token, { role: "admin" }), 403, "forbidden")
      expectError(await api("DELETE", `/api/team/members/${b.id}`, a.token), 403, "forbidden")
      const promoted = await api("PUT", `/api/team/members/${a.id}`, admin.token, { role: "admin" })
      expect(promoted.status).toBe(200)
      expect(promoted.json.member).toMatchObject({ id: a.id, role: "admin" })
      expectError(await api("PUT", `/api/team/members/${a.id}`, admin.token, { role: "owner" }), 400, "invalid_request")
      const removed = await api("DELETE", `/api/team/members/${b.id}`, a.token)
      expect(removed.json).toEqual({ success: true })
      expectError(await api("GET", "/api/team", b.token), 404, "not_in_team")
      expectError(
        await api("DELETE", `/api/team/members/00000000-0000-4000-8000-000000000000`, admin.token),
        404,
        "not_found"
      )
    })

    it("never leaves a team without an admin (409 last_admin)", async () => {
      const { admin } = await newTeam()
      const member = await join(admin.token)
      expectError(await api("PUT", `/api/team/members/${admin.id}`, admin.token, { role: "member" }), 409, "last_admin")
      expectError(await api("DELETE", `/api/team/members/${admin.id}`, admin.token), 409, "last_admin")
      expectError(await api("POST", "/api/team/leave", admin.token), 409, "last_admin")
      // A member leaves freely.
      expect((await api("POST", "/api/team/leave", member.token)).json).toEqual({ success: true })
      // With a second admin the first may step down.
      const second = await join(admin.token, "admin")
      expect((await api("PUT", `/api/team/members/${admin.id}`, admin.token, { role: "member" })).status).toBe(200)
      expectError(await api("POST", "/api/team/leave", second.token), 409, "last_admin")
    })

    it("lets the last member, an admin, leave", async () => {
      const { admin } = await newTeam()
      expect((await api("POST", "/api/team/leave", admin.token)).status).toBe(200)
      expectError(await api("GET", "/api/team", admin.token), 404, "not_in_team")
    })
  })

  describe("several teams", () => {
    it("needs X-Team (id or slug) when the user belongs to several teams", async () => {
      const one = await newTeam("First")
      const two = await newTeam("Second")
      const user = await newUser()
      for (const t of [one, two]) {
        const code = await invite(t.admin.token, user.email)
        expect((await api("POST", "/api/team/join", user.token, { invite_code: code })).status).toBe(200)
      }
      const me = await api("GET", "/api/me", user.token)
      expect(me.json.teams.map((t: any) => t.team.id).sort()).toEqual([one.team.id, two.team.id].sort())

      const none = await api("GET", "/api/team", user.token)
      expectError(none, 400, "invalid_request")
      const byId = await api("GET", "/api/team", user.token, undefined, { "x-team": two.team.id })
      expect(byId.json.team.id).toBe(two.team.id)
      const bySlug = await api("GET", "/api/team", user.token, undefined, { "x-team": one.team.slug })
      expect(bySlug.json.team.id).toBe(one.team.id)
      const stranger = await newTeam("Third")
      expectError(
        await api("GET", "/api/team", user.token, undefined, { "x-team": stranger.team.id }),
        404,
        "not_in_team"
      )
      expectError(
        await api("GET", "/api/team", user.token, undefined, { "x-team": "no-such-team" }),
        404,
        "not_in_team"
      )

      // Patterns land in the named team only.
      const created = await api(
        "POST",
        "/api/patterns",
        user.token,
        { name: "multi-team", content: { a: 1 } },
        { "x-team": two.team.slug }
      )
      expect(created.status).toBe(201)
      expect(created.json.pattern.team_id).toBe(two.team.id)
      const inOne = await api("GET", "/api/patterns", one.admin.token)
      expect(inOne.json.patterns.map((p: any) => p.name)).not.toContain("multi-team")
      const inTwo = await api("GET", "/api/patterns", two.admin.token)
      expect(inTwo.json.patterns.map((p: any) => p.name)).toContain("multi-team")
    })
  })

  it("audits every team act with actor, target and metadata, readable by admins only", async () => {
    const { admin, team } = await newTeam("Audited")
    const member = await join(admin.token)
    await api("PUT", "/api/team", admin.token, { name: "Audited 2" })
    await api("PUT", `/api/team/members/${member.id}`, admin.token, { role: "admin" })
    await api("PUT", `/api/team/members/${member.id}`, admin.token, { role: "member" })
    await api("DELETE", `/api/team/members/${member.id}`, admin.token)
    const r = await api("GET", "/api/audit?limit=100", admin.token)
    expect(r.status).toBe(200)
    const actions = r.json.entries.map((e: any) => e.action)
    for (const a of [
      "team.create",
      "team.invite",
      "team.join",
      "team.update",
      "team.role_change",
      "team.member_remove"
    ]) {
      expect(actions).toContain(a)
    }
    expect(r.json.entries.every((e: any) => typeof e.request_id === "string" && e.created_at)).toBe(true)
    const roleChange = r.json.entries.find((e: any) => e.action === "team.role_change")
    expect(roleChange).toMatchObject({ actor_id: admin.id, target_type: "user", target_id: member.id })
    expect(roleChange.metadata).toHaveProperty("to")
    // Filters and pagination.
    const filtered = await api("GET", "/api/audit?action=team.invite", admin.token)
    expect(filtered.json.entries.every((e: any) => e.action === "team.invite")).toBe(true)
    expect(filtered.json.total).toBe(filtered.json.entries.length)
    const byActor = await api("GET", `/api/audit?actor_id=${member.id}`, admin.token)
    expect(byActor.json.entries.map((e: any) => e.action)).toEqual(["team.join"])
    const page1 = await api("GET", "/api/audit?limit=2&page=1", admin.token)
    const page2 = await api("GET", "/api/audit?limit=2&page=2", admin.token)
    expect(page1.json.entries).toHaveLength(2)
    const ids1 = page1.json.entries.map((e: any) => e.id)
    expect(page2.json.entries.some((e: any) => ids1.includes(e.id))).toBe(false)
    const today = new Date().toISOString().slice(0, 10)
    const ranged = await api("GET", `/api/audit?from=${today}&to=${today}`, admin.token)
    expect(ranged.json.total).toBe(r.json.total)
    const future = await api("GET", "/api/audit?from=2999-01-01", admin.token)
    expect(future.json.total).toBe(0)
    expectError(await api("GET", "/api/audit?from=2026-02-31", admin.token), 400, "invalid_request")
    expectError(await api("GET", "/api/audit?limit=0", admin.token), 400, "invalid_request")
    expectError(await api("GET", "/api/audit?limit=101", admin.token), 400, "invalid_request")
    // Only this team's entries.
    const other = await newTeam("Elsewhere")
    const theirs = await api("GET", "/api/audit?limit=100", other.admin.token)
    expect(theirs.json.entries.every((e: any) => e.action !== "team.invite")).toBe(true)
    expect(team.id).toBeTruthy()
  })
})
