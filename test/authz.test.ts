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
import { Policy } from "@mur/core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { execDb } from "./support/db.js"
import { type Reply, request, uniqueEmail } from "./support/http.js"
import { ROOT, startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"
import { makeTeam, type TestUser } from "./support/team.js"
import { connect, type SyncSocket, wsUrl } from "./support/ws.js"

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
  /** What the route does, in the policy's words (packages/core/src/Policy.ts). */
  readonly action: Policy.Action
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
    action: "team.read",
    note: "B's admin gets team B",
    expect: { admin: OK, member: OK, other: OK, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "PUT",
    path: "/api/team",
    action: "team.rename",
    note: "B's admin renames team B",
    body: ({ n }) => ({ name: `Renamed ${n}` }),
    expect: { admin: OK, member: FORBIDDEN, other: OK, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "POST",
    path: "/api/team/invite",
    action: "team.invite",
    note: "B's admin invites into team B",
    body: () => ({ email: uniqueEmail("invitee") }),
    expect: { admin: CREATED, member: FORBIDDEN, other: CREATED, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "POST",
    path: "/api/team/join",
    action: "team.join",
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
    action: "member.set_role",
    note: "a fresh member of team A, made admin",
    target: "fresh_member",
    body: () => ({ role: "admin" }),
    expect: { admin: OK, member: FORBIDDEN, other: NOT_FOUND, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "DELETE",
    path: "/api/team/members/:id",
    action: "member.remove",
    note: "a fresh member of team A",
    target: "fresh_member",
    expect: { admin: OK, member: FORBIDDEN, other: NOT_FOUND, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "POST",
    path: "/api/team/leave",
    action: "team.leave",
    note: "A's only admin may not leave; the member and B's admin are fresh users who really leave",
    freshCaller: ["member", "other"],
    expect: { admin: [409, "last_admin"], member: OK, other: OK, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "GET",
    path: "/api/patterns",
    action: "pattern.list",
    note: "B's admin lists team B's patterns",
    expect: { admin: OK, member: OK, other: OK, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "GET",
    path: "/api/patterns?scope=public",
    action: "pattern.list_public",
    note: "every team's public patterns",
    expect: { admin: OK, member: OK, other: OK, other_x: OK, anon: UNAUTHORIZED }
  },
  {
    method: "POST",
    path: "/api/patterns",
    action: "pattern.create",
    note: "B's admin creates in team B",
    body: ({ n }) => ({ name: `created-${n}`, content: { n } }),
    expect: { admin: CREATED, member: CREATED, other: CREATED, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "GET",
    path: "/api/patterns/:id",
    action: "pattern.read",
    target: "pattern",
    expect: { admin: OK, member: OK, other: NOT_FOUND, other_x: NOT_FOUND, anon: UNAUTHORIZED },
    public: { other: OK, other_x: OK }
  },
  {
    method: "PUT",
    path: "/api/patterns/:id",
    action: "pattern.update",
    target: "fresh_pattern",
    body: ({ n }) => ({ description: `changed ${n}` }),
    expect: { admin: OK, member: OK, other: NOT_FOUND, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "DELETE",
    path: "/api/patterns/:id",
    action: "pattern.delete",
    target: "fresh_pattern",
    expect: { admin: OK, member: FORBIDDEN, other: NOT_FOUND, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "POST",
    path: "/api/patterns/:id/use",
    action: "pattern.use",
    target: "pattern",
    expect: { admin: OK, member: OK, other: NOT_FOUND, other_x: NOT_FOUND, anon: UNAUTHORIZED },
    public: { other: OK, other_x: OK }
  },
  {
    method: "GET",
    path: "/api/patterns/:id/versions",
    action: "pattern.versions",
    target: "pattern",
    expect: { admin: OK, member: OK, other: NOT_FOUND, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "POST",
    path: "/api/patterns/:id/restore",
    action: "pattern.restore",
    target: "fresh_pattern",
    body: () => ({ version: 1 }),
    expect: { admin: OK, member: OK, other: NOT_FOUND, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "GET",
    path: "/api/audit",
    action: "audit.read",
    note: "B's admin reads team B's log",
    expect: { admin: OK, member: FORBIDDEN, other: OK, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "GET",
    path: "/api/stats/team",
    action: "stats.team_read",
    note: "B's admin gets team B's",
    expect: { admin: OK, member: FORBIDDEN, other: OK, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "GET",
    path: "/api/stats/export?format=csv&scope=team",
    action: "stats.team_export",
    note: "B's admin exports team B's",
    expect: { admin: OK, member: FORBIDDEN, other: OK, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "GET",
    path: "/api/stats/leaderboard",
    action: "stats.leaderboard",
    note: "B's admin gets team B's",
    expect: { admin: OK, member: OK, other: OK, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
  },
  {
    method: "GET",
    path: "/api/sync/status",
    action: "sync.read",
    note: "B's admin gets team B's",
    expect: { admin: OK, member: OK, other: OK, other_x: NOT_IN_TEAM, anon: UNAUTHORIZED }
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

/**
 * A reply is the expected status, and for an error the expected code in the envelope (and,
 * for a refusal of the policy, its one message).
 */
const check = (reply: Reply, expected: Expect, label: string, message?: string) => {
  expect(reply.status, `${label}: ${reply.text}`).toBe(expected[0])
  if (expected[1] !== undefined) {
    expect(reply.json?.error?.code, `${label}: ${reply.text}`).toBe(expected[1])
    expect(reply.json.error.request_id).toBe(reply.headers.get("x-request-id"))
    if (message !== undefined) expect(reply.json.error.message, label).toBe(message)
  } else {
    expect(reply.json?.error, `${label}: ${reply.text}`).toBeUndefined()
  }
}

const refusalOf = (r: Policy.Refusal): Expect => [r.status, r.code]
const same = (a: Expect, b: Expect) => a[0] === b[0] && a[1] === b[1]
const TEAM_ADMIN_ONLY = Policy.RULES.team_admin.refusal

/** What the policy says a cell must be: one refusal, or `success` (any 2xx). */
type Derived = Expect | "success"

/**
 * A cell of the table as it follows from the action's rule. Anything of another team is
 * 404 `not_found` whatever the rule (the team-scoped lookups never find it), so that a
 * team's patterns and members do not leak.
 */
const derive = (row: Row, caller: Caller, isPublic: boolean): Derived => {
  const { rule } = Policy.ACTIONS[row.action]
  if (caller === "anon") return refusalOf(Policy.RULES.signed_in.refusal)
  switch (rule) {
    case "signed_in":
      return "success"
    case "invitee":
      // Every caller presents an invite addressed to a stranger.
      return refusalOf(Policy.RULES.invitee.refusal)
    case "member_or_public":
      return isPublic || caller === "admin" || caller === "member"
        ? "success"
        : refusalOf(Policy.RULES.member_or_public.refusal)
    case "member":
    case "team_admin":
      if (caller === "other_x") return refusalOf(Policy.RULES.member.refusal)
      if (caller === "other") return row.target === undefined ? "success" : NOT_FOUND
      if (caller === "member" && rule === "team_admin") return refusalOf(TEAM_ADMIN_ONLY)
      return "success"
    default:
      throw new Error(`${row.action}: the rule ${rule} is not one of a team route`)
  }
}

/** A cell follows from the policy: the derived refusal, or a success or one of the action's guards. */
const follows = (actual: Expect, derived: Derived, act: Policy.Action) =>
  derived === "success"
    ? (actual[0] >= 200 && actual[0] < 300) ||
      Policy.ACTIONS[act].guards.some((g) => same(actual, refusalOf(Policy.GUARDS[g].refusal)))
    : same(actual, derived)

/** The message a walked cell must carry when it is a refusal of the policy with one fixed message. */
const messageOf = (expected: Expect, team: { readonly slug: string }) =>
  same(expected, refusalOf(TEAM_ADMIN_ONLY))
    ? TEAM_ADMIN_ONLY.message
    : same(expected, refusalOf(Policy.GUARDS.last_admin.refusal))
      ? Policy.lastAdmin(team).message
      : undefined

describe("docs/authorization.md", () => {
  it("holds exactly the table this test walks", () => {
    const doc = readFileSync(join(ROOT, "docs", "authorization.md"), "utf8")
    const table = renderTable()
    expect(normalise(doc), `docs/authorization.md must hold this table:\n\n${table}\n`).toContain(normalise(table))
  })
})

/** The policy's own tables, as docs/authorization.md lists them. */
const renderPolicy = (): string => {
  const refusal = (r: Policy.Refusal) => `${r.status} \`${r.code}\``
  const lines = ["| rule | who may | refused with | message |", "|---|---|---|---|"]
  for (const [rule, spec] of Object.entries(Policy.RULES)) {
    lines.push(`| \`${rule}\` | ${spec.who} | ${refusal(spec.refusal)} | ${spec.refusal.message} |`)
  }
  lines.push("", "| guard | refuses when | refused with | message |", "|---|---|---|---|")
  for (const [guard, spec] of Object.entries(Policy.GUARDS)) {
    lines.push(`| \`${guard}\` | ${spec.when} | ${refusal(spec.refusal)} | ${spec.refusal.message} |`)
  }
  lines.push("", "| action | rule | guards |", "|---|---|---|")
  for (const [act, spec] of Object.entries(Policy.ACTIONS)) {
    const guards = spec.guards.map((g) => `\`${g}\``).join(", ")
    lines.push(`| \`${act}\` | \`${spec.rule}\` | ${guards === "" ? "–" : guards} |`)
  }
  return lines.join("\n")
}

describe("docs/authorization.md, the policy", () => {
  it("lists the policy's rules, guards and actions as packages/core/src/Policy.ts has them", () => {
    const doc = readFileSync(join(ROOT, "docs", "authorization.md"), "utf8")
    const tables = renderPolicy()
    expect(normalise(doc), `docs/authorization.md must hold these tables:\n\n${tables}\n`).toContain(normalise(tables))
  })

  it("every cell of the walked tables follows from the rule of the route's action", () => {
    for (const row of TABLE) {
      expect(Policy.ACTIONS, `${row.method} ${row.path}`).toHaveProperty([row.action])
      for (const isPublic of isPatternTarget(row) ? [false, true] : [false]) {
        const cells = isPublic ? { ...row.expect, ...row.public } : row.expect
        for (const caller of CALLERS) {
          const derived = derive(row, caller, isPublic)
          const label = `${row.method} ${row.path}${isPublic ? " (public)" : ""} as ${caller}: ${row.action}`
          expect(follows(cells[caller], derived, row.action), `${label}; the policy says ${derived}`).toBe(true)
        }
      }
    }
    for (const row of SOCKET_TABLE) {
      for (const caller of CALLERS) {
        expect(row.expect[caller], `${row.message} as ${caller}`).toEqual(deriveSocket(row, caller))
      }
    }
  })

  it("walks every action a team's rules decide, and every server-administration action", () => {
    const walked = new Set<Policy.Action>([
      ...TABLE.map((r) => r.action),
      ...SOCKET_TABLE.flatMap((r) => r.actions),
      ADMIN_GATE,
      ...SELF_LOCKOUT
    ])
    const walkedRules: ReadonlyArray<Policy.Rule> = [
      "invitee",
      "member",
      "member_or_public",
      "team_admin",
      "server_admin"
    ]
    for (const [act, spec] of Object.entries(Policy.ACTIONS) as Array<[Policy.Action, { rule: Policy.Rule }]>) {
      if (walkedRules.includes(spec.rule)) expect(walked, `${act} (${spec.rule}) is walked`).toContain(act)
    }
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
        check(reply, expected[caller], `${label} as ${caller}`, messageOf(expected[caller], teamA))
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
 * Writes over `/ws/sync`: the same callers, each on a socket of their own. A write is a
 * sync push of one event, so it follows the same policy as the REST routes; a refused
 * write is acked `rejected` with the refusal's code and message, and changes nothing.
 * Naming a team one is not in, or no credentials, refuses the upgrade itself.
 */
type SocketExpect =
  | { readonly ack: "applied" }
  | { readonly ack: "rejected"; readonly code: string }
  | { readonly upgrade: Expect }

interface SocketRow {
  readonly message: "pattern_created" | "pattern_updated" | "pattern_deleted"
  readonly note: string
  /** The policy's actions the write is: a sync push, and the change it makes. */
  readonly actions: ReadonlyArray<Policy.Action>
  /** The pattern of team A the write names (none: it creates one of its own). */
  readonly target: "none" | "fresh_pattern"
  readonly expect: Record<Caller, SocketExpect>
}

const APPLIED: SocketExpect = { ack: "applied" }
const rejectedWith = (code: string): SocketExpect => ({ ack: "rejected", code })
const UPGRADE_NOT_IN_TEAM: SocketExpect = { upgrade: NOT_IN_TEAM }
const UPGRADE_UNAUTHORIZED: SocketExpect = { upgrade: UNAUTHORIZED }

const SOCKET_TABLE: ReadonlyArray<SocketRow> = [
  {
    message: "pattern_created",
    note: "a new name; B's admin creates in team B",
    actions: ["sync.push", "pattern.create"],
    target: "none",
    expect: {
      admin: APPLIED,
      member: APPLIED,
      other: APPLIED,
      other_x: UPGRADE_NOT_IN_TEAM,
      anon: UPGRADE_UNAUTHORIZED
    }
  },
  {
    message: "pattern_updated",
    note: "a pattern of A, by its id and name; from team B the id is another team's",
    actions: ["sync.push", "pattern.update"],
    target: "fresh_pattern",
    expect: {
      admin: APPLIED,
      member: APPLIED,
      other: rejectedWith("invalid_request"),
      other_x: UPGRADE_NOT_IN_TEAM,
      anon: UPGRADE_UNAUTHORIZED
    }
  },
  {
    message: "pattern_deleted",
    note: "a pattern of A",
    actions: ["sync.push", "pattern.delete"],
    target: "fresh_pattern",
    expect: {
      admin: APPLIED,
      member: rejectedWith("forbidden"),
      other: rejectedWith("not_found"),
      other_x: UPGRADE_NOT_IN_TEAM,
      anon: UPGRADE_UNAUTHORIZED
    }
  }
]

/**
 * A socket cell as it follows from the policy. From team B's socket, a pattern id of team A
 * is never found in B: a delete is `not_found`, an update (which would create a pattern with
 * that id) `invalid_request`, the answer to an id another pattern has.
 */
const deriveSocket = (row: SocketRow, caller: Caller): SocketExpect => {
  if (caller === "anon") return { upgrade: refusalOf(Policy.RULES.signed_in.refusal) }
  if (caller === "other_x") return { upgrade: refusalOf(Policy.RULES.member.refusal) }
  if (caller === "other" && row.target !== "none") {
    return rejectedWith(row.message === "pattern_deleted" ? "not_found" : "invalid_request")
  }
  const adminOnly = row.actions.some((a) => Policy.ACTIONS[a].rule === "team_admin")
  return caller === "member" && adminOnly ? rejectedWith(TEAM_ADMIN_ONLY.code) : APPLIED
}

const socketCell = (e: SocketExpect) =>
  "upgrade" in e
    ? `${cell(e.upgrade)} at the upgrade`
    : e.ack === "applied"
      ? "`applied`"
      : `\`rejected\` \`${e.code}\``

const renderSocketTable = (): string => {
  const lines = [
    `| message | ${CALLERS.map((c) => CALLER_TITLES[c]).join(" | ")} |`,
    `|---|${CALLERS.map(() => "---").join("|")}|`
  ]
  for (const row of SOCKET_TABLE) {
    lines.push(`| \`${row.message}\` (${row.note}) | ${CALLERS.map((c) => socketCell(row.expect[c])).join(" | ")} |`)
  }
  return lines.join("\n")
}

describe("docs/authorization.md, socket writes", () => {
  it("holds exactly the socket table this test walks", () => {
    const doc = readFileSync(join(ROOT, "docs", "authorization.md"), "utf8")
    const table = renderSocketTable()
    expect(normalise(doc), `docs/authorization.md must hold this table:\n\n${table}\n`).toContain(normalise(table))
  })
})

/** The status and error code of a refused upgrade. */
const upgradeRefusal = (base: string, query: Record<string, string>) =>
  new Promise<Expect>((resolve, reject) => {
    const ws = new WebSocket(wsUrl(base, query))
    ws.on("unexpected-response", (_req, res) => {
      let body = ""
      res.on("data", (chunk) => {
        body += chunk
      })
      res.on("end", () => {
        let code: string | undefined
        try {
          code = JSON.parse(body).error?.code
        } catch {
          code = undefined
        }
        resolve([res.statusCode ?? 0, code])
      })
    })
    ws.on("open", () => {
      ws.close()
      reject(new Error("the upgrade was accepted"))
    })
    ws.on("error", () => undefined)
  })

describe.each(STORES)("socket writes on %s", (store) => {
  let server: TestServer
  let admin: TestUser
  let member: TestUser
  let otherAdmin: TestUser
  let teamA: { id: string; slug: string }
  let teamB: { id: string; slug: string }
  const sockets = {} as Record<"admin" | "member" | "other", SyncSocket>
  let n = 0

  beforeAll(async () => {
    server = await startTestServer(store)
    const a = await makeTeam(server.url, 1, "Socket A")
    const b = await makeTeam(server.url, 0, "Socket B")
    ;[admin, member, otherAdmin, teamA, teamB] = [a.admin, a.members[0]!, b.admin, a.team, b.team]
    sockets.admin = await connect(server.url, { token: admin.token })
    sockets.member = await connect(server.url, { token: member.token })
    sockets.other = await connect(server.url, { token: otherAdmin.token })
  })
  afterAll(async () => {
    for (const s of Object.values(sockets)) s?.close()
    await server?.stop()
  })

  const freshPattern = async () => {
    const r = await request(server.url, "POST", "/api/patterns", {
      token: admin.token,
      body: { name: `ws-target-${next()}`, content: { v: 1 } }
    })
    expect(r.status, r.text).toBe(201)
    return r.json.pattern as { id: string; name: string; version: number }
  }

  it.each(SOCKET_TABLE.map((row) => ({ row, label: row.message })))("$label", async ({ row }) => {
    for (const caller of CALLERS) {
      const expected = row.expect[caller]
      const label = `${row.message} as ${caller}`
      if ("upgrade" in expected) {
        const query: Record<string, string> = caller === "anon" ? {} : { token: otherAdmin.token, team: teamA.id }
        expect(await upgradeRefusal(server.url, query), label).toEqual(expected.upgrade)
        continue
      }
      const socket = sockets[caller as "admin" | "member" | "other"]
      const target = row.target === "fresh_pattern" ? await freshPattern() : undefined
      const id = `authz-${++n}`
      if (row.message === "pattern_created") {
        socket.send({ type: row.message, pattern: { name: `ws-new-${next()}`, content: {} }, client_action_id: id })
      } else if (row.message === "pattern_updated") {
        const pattern = { id: target!.id, name: target!.name, description: `changed ${n}` }
        socket.send({ type: row.message, pattern, client_action_id: id })
      } else {
        socket.send({ type: row.message, pattern_id: target!.id, client_action_id: id })
      }
      const ack = await socket.waitFor((m) => m.type === "ack" && m.client_action_id === id)
      expect(ack.status, `${label}: ${JSON.stringify(ack)}`).toBe(expected.ack)
      if (expected.ack === "rejected") {
        expect(ack.error?.code, label).toBe(expected.code)
        if (expected.code === TEAM_ADMIN_ONLY.code) expect(ack.error.message, label).toBe(TEAM_ADMIN_ONLY.message)
      }
      if (target !== undefined) {
        // A refused write changed nothing; an applied one is the pattern's next version.
        const now = await request(server.url, "GET", `/api/patterns/${target.id}`, { token: admin.token })
        if (expected.ack === "rejected") {
          expect(now.status, label).toBe(200)
          expect(now.json.pattern.version, label).toBe(target.version)
        } else if (row.message === "pattern_deleted") {
          expect(now.status, label).toBe(404)
        } else {
          expect(now.json.pattern.version, label).toBe(target.version + 1)
        }
      } else {
        const made = await request(server.url, "GET", `/api/patterns/${ack.pattern_id}`, {
          token: caller === "other" ? otherAdmin.token : admin.token
        })
        expect(made.json.pattern.team_id, label).toBe(caller === "other" ? teamB.id : teamA.id)
      }
    }
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

/** The action every `/admin/*` route is, and what everyone but a server admin gets. */
const ADMIN_GATE: Policy.Action = "admin.access"
const ADMIN_REFUSED = refusalOf(Policy.RULES[Policy.ACTIONS[ADMIN_GATE].rule].refusal)
/** The acts a server admin may not do to themselves over HTTP (walked after the table). */
const SELF_LOCKOUT: ReadonlyArray<Policy.Action> = [
  "admin.user_disable",
  "admin.user_revoke_admin",
  "admin.user_delete"
]
const NOT_SELF = Policy.GUARDS.not_self_over_http.refusal

const renderAdminTable = (): string => {
  const lines = [
    `| route | ${ADMIN_CALLERS.map((c) => ADMIN_CALLER_TITLES[c]).join(" | ")} |`,
    `|---|${ADMIN_CALLERS.map(() => "---").join("|")}|`
  ]
  for (const row of ADMIN_TABLE) {
    const cells = ADMIN_CALLERS.map((c) => cell(c === "server_admin" ? row.ok : ADMIN_REFUSED))
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
      check(reply, caller === "server_admin" ? row.ok : ADMIN_REFUSED, `${row.method} ${row.path} as ${caller}`)
    }
  })

  it("a server admin may not lock themselves out over HTTP: 403 on disabling or un-admining themselves", async () => {
    expect(SELF_LOCKOUT.every((a) => Policy.ACTIONS[a].guards.some((g) => g === "not_self_over_http"))).toBe(true)
    expect(refusalOf(NOT_SELF)).toEqual(FORBIDDEN)
    const me = await request(server.url, "GET", "/api/me", { token: sessions.server_admin })
    for (const body of [{ disabled: true }, { server_admin: false }]) {
      const r = await request(server.url, "PATCH", `/admin/users/${me.json.user.id}`, {
        token: sessions.server_admin,
        body
      })
      check(r, FORBIDDEN, JSON.stringify(body), NOT_SELF.message)
    }
    const r = await request(server.url, "DELETE", `/admin/users/${me.json.user.id}`, { token: sessions.server_admin })
    check(r, FORBIDDEN, "delete self", NOT_SELF.message)
  })
})
