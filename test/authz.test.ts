/**
 * The authorisation table: every team-scoped route × every kind of caller, on both stores,
 * through real HTTP. The same table is written out in docs/authorization.md (a test below
 * renders it and checks the document holds exactly that table).
 *
 * Callers:
 * - `admin`:   the admin of team A
 * - `member`:  a member of team A
 * - `other`:   the admin of team B, calling with no `X-Team` (so team B is active) and
 *              addressing team A's ids (patterns, members) directly
 * - `other_x`: the same user naming team A with `X-Team: <team A id>`
 * - `anon`:    no credentials
 *
 * Pattern routes with a `:pattern` are walked twice: on a private and on a public pattern
 * of team A (`public` lists the cells that differ for the public one).
 * Every call that changes state gets a fresh target (a new pattern, a new member), and
 * fresh members are removed again after each call, so the walk does not depend on order.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { execDb } from "./support/db.js"
import { type Reply, request, uniqueEmail } from "./support/http.js"
import { ROOT, startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"

type Caller = "admin" | "member" | "other" | "other_x" | "anon"
const CALLERS: ReadonlyArray<Caller> = ["admin", "member", "other", "other_x", "anon"]
const CALLER_TITLES: Record<Caller, string> = {
  admin: "admin of team A",
  member: "member of team A",
  other: "admin of team B (team B active)",
  other_x: "admin of team B with `X-Team: A`",
  anon: "anonymous"
}

/** An expected answer: a status, and for errors the error code. */
type Expect = readonly [status: number, code?: string]

const OK: Expect = [200]
const CREATED: Expect = [201]
const FORBIDDEN: Expect = [403, "forbidden"]
const NOT_FOUND: Expect = [404, "not_found"]
const NOT_IN_TEAM: Expect = [404, "not_in_team"]
const UNAUTHORIZED: Expect = [401, "unauthorized"]

/** What the `:id` of a path stands for; `fresh` targets are made anew for every call. */
type Target = "pattern" | "fresh_pattern" | "fresh_member"

interface Row {
  readonly method: "GET" | "POST" | "PUT" | "DELETE"
  readonly path: string
  /** A note for the document (what the route acts on, which target). */
  readonly note?: string
  readonly target?: Target
  readonly body?: (ctx: { readonly n: number; readonly strangerInvite: string }) => unknown
  /** Callers that act as a fresh user (the call would change who they are). */
  readonly freshCaller?: ReadonlyArray<Caller>
  readonly expect: Record<Caller, Expect>
  /** For pattern targets: the cells that differ when the pattern is a public one of team A. */
  readonly public?: Partial<Record<Caller, Expect>>
}

let seq = 0
const next = () => `${Date.now().toString(36)}-${++seq}`

const TABLE: ReadonlyArray<Row> = [
  {
    method: "GET",
    path: "/api/team",
    note: "B's admin gets team B",
    expect: { admin: OK, member: OK, other: OK, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "PUT",
    path: "/api/team",
    note: "B's admin renames team B",
    body: ({ n }) => ({ name: `Renamed ${n}` }),
    expect: { admin: OK, member: FORBIDDEN, other: OK, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "POST",
    path: "/api/team/invite",
    note: "B's admin invites into team B",
    body: () => ({ email: uniqueEmail("invitee") }),
    expect: { admin: CREATED, member: FORBIDDEN, other: CREATED, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "POST",
    path: "/api/team/join",
    note: "with team A's invite addressed to someone else",
    body: ({ strangerInvite }) => ({ invite_code: strangerInvite }),
    expect: {
      admin: [404, "invalid_invite"],
      member: [404, "invalid_invite"],
      other: [404, "invalid_invite"],
      other_x: [404, "invalid_invite"],
      anon: UNAUTHORIZED
    }
  },
  {
    method: "PUT",
    path: "/api/team/members/:id",
    note: "a fresh member of team A, made admin",
    target: "fresh_member",
    body: () => ({ role: "admin" }),
    expect: { admin: OK, member: FORBIDDEN, other: NOT_FOUND, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "DELETE",
    path: "/api/team/members/:id",
    note: "a fresh member of team A",
    target: "fresh_member",
    expect: { admin: OK, member: FORBIDDEN, other: NOT_FOUND, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "POST",
    path: "/api/team/leave",
    note: "A's only admin may not leave; the member and B's admin are fresh users who really leave",
    freshCaller: ["member", "other"],
    expect: { admin: [409, "last_admin"], member: OK, other: OK, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "GET",
    path: "/api/patterns",
    note: "B's admin lists team B's patterns",
    expect: { admin: OK, member: OK, other: OK, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "GET",
    path: "/api/patterns?scope=public",
    note: "every team's public patterns",
    expect: { admin: OK, member: OK, other: OK, other_x: OK, anon: UNAUTHORIZED }
  },
  {
    method: "POST",
    path: "/api/patterns",
    note: "B's admin creates in team B",
    body: ({ n }) => ({ name: `created-${n}`, content: { n } }),
    expect: { admin: CREATED, member: CREATED, other: CREATED, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "GET",
    path: "/api/patterns/:id",
    target: "pattern",
    expect: { admin: OK, member: OK, other: NOT_FOUND, other_x: NOT_FOUND, anon: UNAUTHORIZED },
    public: { other: OK, other_x: OK }
  },
  {
    method: "PUT",
    path: "/api/patterns/:id",
    target: "fresh_pattern",
    body: ({ n }) => ({ description: `changed ${n}` }),
    expect: { admin: OK, member: OK, other: NOT_FOUND, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "DELETE",
    path: "/api/patterns/:id",
    target: "fresh_pattern",
    expect: { admin: OK, member: FORBIDDEN, other: NOT_FOUND, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "POST",
    path: "/api/patterns/:id/use",
    target: "pattern",
    expect: { admin: OK, member: OK, other: NOT_FOUND, other_x: NOT_FOUND, anon: UNAUTHORIZED },
    public: { other: OK, other_x: OK }
  },
  {
    method: "GET",
    path: "/api/patterns/:id/versions",
    target: "pattern",
    expect: { admin: OK, member: OK, other: NOT_FOUND, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "POST",
    path: "/api/patterns/:id/restore",
    target: "fresh_pattern",
    body: () => ({ version: 1 }),
    expect: { admin: OK, member: OK, other: NOT_FOUND, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "GET",
    path: "/api/audit",
    note: "B's admin reads team B's log",
    expect: { admin: OK, member: FORBIDDEN, other: OK, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  }
]

const isPatternTarget = (row: Row) => row.target === "pattern" || row.target === "fresh_pattern"

const cell = (e: Expect) => (e[1] === undefined ? String(e[0]) : `${e[0]} \`${e[1]}\``)

/** The table as markdown: one line per route, one column per caller. */
const renderTable = (): string => {
  const header = `| route | ${CALLERS.map((c) => CALLER_TITLES[c]).join(" | ")} |`
  const sep = `|---|${CALLERS.map(() => "---").join("|")}|`
  const lines: string[] = [header, sep]
  for (const row of TABLE) {
    const route = `\`${row.method} ${row.path.replace(":id", row.target === "fresh_member" ? ":userId" : ":id")}\``
    const note = row.note === undefined ? "" : ` (${row.note})`
    if (isPatternTarget(row)) {
      const pub = { ...row.expect, ...row.public }
      lines.push(`| ${route}, private pattern of A | ${CALLERS.map((c) => cell(row.expect[c])).join(" | ")} |`)
      lines.push(`| ${route}, public pattern of A | ${CALLERS.map((c) => cell(pub[c])).join(" | ")} |`)
    } else {
      lines.push(`| ${route}${note} | ${CALLERS.map((c) => cell(row.expect[c])).join(" | ")} |`)
    }
  }
  return lines.join("\n")
}

/** A markdown table with its padding and column alignment taken out (the formatter pads it). */
const normalise = (markdown: string) =>
  markdown
    .split("\n")
    .map((line) =>
      line.trimStart().startsWith("|")
        ? line
            .split("|")
            .map((c) => c.trim())
            .map((c) => (/^:?-+:?$/.test(c) ? "---" : c))
            .join("|")
        : line
    )
    .join("\n")

interface Session {
  readonly id: string
  readonly email: string
  readonly token: string
}

/** A reply is the expected status, and for an error the expected code in the envelope. */
const check = (reply: Reply, expected: Expect, label: string) => {
  expect(reply.status, `${label}: ${reply.text}`).toBe(expected[0])
  if (expected[1] !== undefined) {
    expect(reply.json?.error?.code, `${label}: ${reply.text}`).toBe(expected[1])
    expect(reply.json.error.request_id).toBe(reply.headers.get("x-request-id"))
  } else {
    expect(reply.json?.error, `${label}: ${reply.text}`).toBeUndefined()
  }
}

describe("docs/authorization.md", () => {
  it("holds exactly the table this test walks", () => {
    const doc = readFileSync(join(ROOT, "docs", "authorization.md"), "utf8")
    const table = renderTable()
    expect(normalise(doc), `docs/authorization.md must hold this table:\n\n${table}\n`).toContain(normalise(table))
  })
})

describe.each(STORES)("authorisation table on %s", (store) => {
  let server: TestServer
  let base: string
  let admin: Session
  let member: Session
  let otherAdmin: Session
  let teamA: { id: string; slug: string }
  let teamB: { id: string; slug: string }
  let privatePattern: string
  let publicPattern: string
  let strangerInvite: string
  /** Members added to team A for one call, removed again after it. */
  const freshMembers: Session[] = []

  const call = (method: string, path: string, options: Parameters<typeof request>[3] = {}) =>
    request(base, method, path, options)

  const register = async (name: string): Promise<Session> => {
    const email = uniqueEmail(name)
    const r = await call("POST", "/auth/register", { body: { email, password: "authz password 1", name } })
    expect(r.status, r.text).toBe(201)
    return { id: r.json.user.id, email, token: r.json.access_token }
  }

  const createTeam = async (owner: Session, name: string) => {
    const r = await call("POST", "/api/team", { token: owner.token, body: { name } })
    expect(r.status, r.text).toBe(201)
    return { id: r.json.team.id as string, slug: r.json.team.slug as string }
  }

  /** A new user who joins team A through an admin's invite. */
  const addMember = async (name: string): Promise<Session> => {
    const user = await register(name)
    const inv = await call("POST", "/api/team/invite", { token: admin.token, body: { email: user.email } })
    expect(inv.status, inv.text).toBe(201)
    const join = await call("POST", "/api/team/join", {
      token: user.token,
      body: { invite_code: inv.json.invite_code }
    })
    expect(join.status, join.text).toBe(200)
    return user
  }

  const freshMember = async () => {
    const user = await addMember("fresh")
    freshMembers.push(user)
    return user
  }

  const createPattern = async (isPublic: boolean) => {
    const r = await call("POST", "/api/patterns", {
      token: admin.token,
      body: { name: `target-${next()}`, description: "a target", content: { steps: ["x"] }, is_public: isPublic }
    })
    expect(r.status, r.text).toBe(201)
    return r.json.pattern.id as string
  }

  /** Removes the fresh members still in team A, so seats and admins are as before. */
  const cleanUp = async () => {
    while (freshMembers.length > 0) {
      const user = freshMembers.pop()!
      const r = await call("DELETE", `/api/team/members/${user.id}`, { token: admin.token })
      expect([200, 404]).toContain(r.status)
    }
  }

  beforeAll(async () => {
    server = await startTestServer(store)
    base = server.url
    ;[admin, otherAdmin] = await Promise.all([register("admin-a"), register("admin-b")])
    ;[teamA, teamB] = await Promise.all([createTeam(admin, "Team A"), createTeam(otherAdmin, "Team B")])
    member = await addMember("member-a")
    await addMember("target-a") // another member, so team A is never down to its admin
    privatePattern = await createPattern(false)
    publicPattern = await createPattern(true)
    const inv = await call("POST", "/api/team/invite", {
      token: admin.token,
      body: { email: uniqueEmail("stranger") }
    })
    expect(inv.status).toBe(201)
    strangerInvite = inv.json.invite_code
    // team B has a pattern of its own, to tell its lists from team A's
    const own = await call("POST", "/api/patterns", {
      token: otherAdmin.token,
      body: { name: "b-own", content: {} }
    })
    expect(own.status).toBe(201)
  })
  afterAll(async () => {
    await server?.stop()
  })

  /** The session and headers a caller uses for one call. */
  const sessionOf = async (row: Row, caller: Caller): Promise<{ token?: string; headers?: Record<string, string> }> => {
    if (caller === "anon") return {}
    if (row.freshCaller?.includes(caller)) {
      if (caller === "member") return { token: (await freshMember()).token }
      if (caller === "other") {
        const user = await register("fresh-other")
        await createTeam(user, "Fresh other")
        return { token: user.token }
      }
    }
    if (caller === "admin") return { token: admin.token }
    if (caller === "member") return { token: member.token }
    if (caller === "other") return { token: otherAdmin.token }
    return { token: otherAdmin.token, headers: { "x-team": teamA.id } }
  }

  const targetOf = async (row: Row, isPublic: boolean): Promise<string | undefined> => {
    switch (row.target) {
      case "pattern":
        return isPublic ? publicPattern : privatePattern
      case "fresh_pattern":
        return createPattern(isPublic)
      case "fresh_member":
        return (await freshMember()).id
      default:
        return undefined
    }
  }

  const cases = TABLE.flatMap((row) =>
    (isPatternTarget(row) ? [false, true] : [false]).map((isPublic) => ({
      row,
      isPublic,
      label: `${row.method} ${row.path}${isPatternTarget(row) ? (isPublic ? " (public)" : " (private)") : ""}`
    }))
  )

  it.each(cases)("$label", async ({ row, isPublic, label }) => {
    const expected = isPublic ? { ...row.expect, ...row.public } : row.expect
    for (const caller of CALLERS) {
      try {
        const id = await targetOf(row, isPublic)
        const session = await sessionOf(row, caller)
        const path = id === undefined ? row.path : row.path.replace(":id", id)
        const body = row.body?.({ n: ++seq, strangerInvite })
        const reply = await call(row.method, path, { ...session, body })
        check(reply, expected[caller], `${label} as ${caller}`)
        if (reply.status >= 400) continue
        // What a successful call by someone of team B acted on: team B, never team A.
        if (caller === "other" && row.method === "GET" && row.path === "/api/team") {
          expect(reply.json.team.id).toBe(teamB.id)
        }
        if (caller === "other" && row.path === "/api/patterns") {
          if (row.method === "GET") {
            expect(new Set(reply.json.patterns.map((p: any) => p.team_id))).toEqual(new Set([teamB.id]))
          } else {
            expect(reply.json.pattern.team_id).toBe(teamB.id)
          }
        }
        if (row.path === "/api/patterns?scope=public") {
          const ids = reply.json.patterns.map((p: any) => p.id)
          expect(ids).toContain(publicPattern)
          expect(ids).not.toContain(privatePattern)
        }
        if (caller === "other" && row.path === "/api/audit") {
          expect(reply.json.entries.length).toBeGreaterThan(0)
          expect(reply.json.entries.every((e: any) => e.actor_id !== admin.id && e.actor_id !== member.id)).toBe(true)
        }
      } finally {
        await cleanUp()
      }
    }
  })

  it("left team A and team B as they were: names aside, no member of A was lost or gained", async () => {
    const a = await call("GET", "/api/team", { token: admin.token })
    expect(a.status).toBe(200)
    expect(a.json.members.map((m: any) => m.id)).toHaveLength(3)
    expect(a.json.members.find((m: any) => m.id === admin.id).role).toBe("admin")
    expect(a.json.members.find((m: any) => m.id === member.id).role).toBe("member")
    const b = await call("GET", "/api/team", { token: otherAdmin.token })
    expect(b.json.members.map((m: any) => m.id)).toEqual([otherAdmin.id])
    const seen = await call("GET", `/api/patterns/${privatePattern}`, { token: member.token })
    expect(seen.json.pattern.version).toBe(1)
    expect(teamB.slug).not.toBe(teamA.slug)
  })
})

/**
 * The server-administration routes: only a server admin gets in; everyone else gets the
 * same 404 as for a route that does not exist, so the section does not show it exists.
 */
type AdminCaller = "server_admin" | "team_admin" | "member" | "bad_token" | "anon"
const ADMIN_CALLERS: ReadonlyArray<AdminCaller> = ["server_admin", "team_admin", "member", "bad_token", "anon"]
const ADMIN_CALLER_TITLES: Record<AdminCaller, string> = {
  server_admin: "server admin",
  team_admin: "admin of team A (no server role)",
  member: "member of team A",
  bad_token: "invalid token",
  anon: "anonymous"
}

interface AdminRow {
  readonly method: "GET" | "POST" | "PATCH" | "DELETE"
  readonly path: string
  readonly note?: string
  /** `:id` stands for a fresh user made for each call, or team A. */
  readonly target?: "fresh_user" | "team"
  readonly body?: (n: number) => unknown
  readonly ok: Expect
}

const ADMIN_TABLE: ReadonlyArray<AdminRow> = [
  { method: "GET", path: "/admin/users", ok: OK },
  {
    method: "POST",
    path: "/admin/users",
    note: "without a password: answers a set-password link",
    body: (n) => ({ email: uniqueEmail(`made${n}`), name: "Made" }),
    ok: CREATED
  },
  {
    method: "PATCH",
    path: "/admin/users/:id",
    note: "disable a fresh user",
    target: "fresh_user",
    body: () => ({ disabled: true }),
    ok: OK
  },
  {
    method: "POST",
    path: "/admin/users/:id/reset-password",
    target: "fresh_user",
    body: () => ({}),
    ok: OK
  },
  { method: "DELETE", path: "/admin/users/:id", target: "fresh_user", ok: OK },
  { method: "GET", path: "/admin/teams", ok: OK },
  { method: "GET", path: "/admin/teams/:id", note: "team A", target: "team", ok: OK },
  {
    method: "PATCH",
    path: "/admin/teams/:id",
    note: "team A's plan, set to what it is",
    target: "team",
    body: () => ({ plan: "free" }),
    ok: OK
  }
]

const renderAdminTable = (): string => {
  const lines = [
    `| route | ${ADMIN_CALLERS.map((c) => ADMIN_CALLER_TITLES[c]).join(" | ")} |`,
    `|---|${ADMIN_CALLERS.map(() => "---").join("|")}|`
  ]
  for (const row of ADMIN_TABLE) {
    const cells = ADMIN_CALLERS.map((c) => cell(c === "server_admin" ? row.ok : NOT_FOUND))
    lines.push(`| \`${row.method} ${row.path}\`${row.note ? ` (${row.note})` : ""} | ${cells.join(" | ")} |`)
  }
  return lines.join("\n")
}

describe("docs/authorization.md, server administration", () => {
  it("holds exactly the admin table this test walks", () => {
    const doc = readFileSync(join(ROOT, "docs", "authorization.md"), "utf8")
    const table = renderAdminTable()
    expect(normalise(doc), `docs/authorization.md must hold this table:\n\n${table}\n`).toContain(normalise(table))
  })
})

describe.each(STORES)("server-administration table on %s", (store) => {
  let server: TestServer
  const sessions = {} as Record<AdminCaller, string | undefined>
  let team: { id: string }
  let n = 0

  const register = async (name: string) => {
    const r = await request(server.url, "POST", "/auth/register", {
      body: { email: uniqueEmail(name), password: "authz password 1", name }
    })
    expect(r.status, r.text).toBe(201)
    return { id: r.json.user.id as string, token: r.json.access_token as string, email: r.json.user.email as string }
  }

  beforeAll(async () => {
    server = await startTestServer(store)
    const root = await register("root")
    await execDb(server.db.url, "UPDATE users SET server_admin = true WHERE id = $1", [root.id])
    const teamAdmin = await register("teamadmin")
    const created = await request(server.url, "POST", "/api/team", { token: teamAdmin.token, body: { name: "A" } })
    team = created.json.team
    const member = await register("member")
    const inv = await request(server.url, "POST", "/api/team/invite", {
      token: teamAdmin.token,
      body: { email: member.email }
    })
    await request(server.url, "POST", "/api/team/join", {
      token: member.token,
      body: { invite_code: inv.json.invite_code }
    })
    Object.assign(sessions, {
      server_admin: root.token,
      team_admin: teamAdmin.token,
      member: member.token,
      bad_token: "not-a-token",
      anon: undefined
    })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it.each(ADMIN_TABLE.map((row) => ({ row, label: `${row.method} ${row.path}` })))("$label", async ({ row }) => {
    for (const caller of ADMIN_CALLERS) {
      const id = row.target === "team" ? team.id : row.target === "fresh_user" ? (await register("target")).id : ""
      const reply = await request(server.url, row.method, row.path.replace(":id", id), {
        token: sessions[caller],
        body: row.body?.(++n)
      })
      check(reply, caller === "server_admin" ? row.ok : NOT_FOUND, `${row.method} ${row.path} as ${caller}`)
    }
  })

  it("a server admin may not lock themselves out over HTTP: 403 on disabling or un-admining themselves", async () => {
    const me = await request(server.url, "GET", "/api/me", { token: sessions.server_admin })
    for (const body of [{ disabled: true }, { server_admin: false }]) {
      const r = await request(server.url, "PATCH", `/admin/users/${me.json.user.id}`, {
        token: sessions.server_admin,
        body
      })
      check(r, FORBIDDEN, JSON.stringify(body))
    }
    const r = await request(server.url, "DELETE", `/admin/users/${me.json.user.id}`, { token: sessions.server_admin })
    check(r, FORBIDDEN, "delete self")
  })
})
