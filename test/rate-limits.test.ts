/**
 * One limiter for every entry point (core's `Limiter`): a call is counted under the same keys
 * whether it arrives over REST or as a `/ws/sync` message, and on PostgreSQL the counts are
 * shared by every process of the deployment. Real servers, real HTTP and WebSockets.
 */
import { randomUUID } from "node:crypto"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { queryDb } from "./support/db.js"
import { type Reply, request } from "./support/http.js"
import {
  runServerCommand,
  type SpawnedServer,
  spawnServer,
  startTestServer,
  stopServers,
  TEST_SECRET,
  type TestServer
} from "./support/server.js"
import { createDatabase, STORES, type TestDatabase } from "./support/stores.js"
import { makeTeam } from "./support/team.js"
import { connect, type SyncSocket } from "./support/ws.js"

const expectRateLimited = (r: Reply, message: string) => {
  expect(r.status, r.text).toBe(429)
  expect(r.json.error.code).toBe("rate_limited")
  expect(r.json.error.message).toBe(message)
  const retryAfter = Number(r.headers.get("retry-after"))
  expect(retryAfter).toBeGreaterThan(0)
  expect(retryAfter).toBeLessThanOrEqual(60)
  expect(r.json.error.retry_after).toBe(retryAfter)
}

const createPattern = async (base: string, token: string, name: string) => {
  const r = await request(base, "POST", "/api/patterns", { token, body: { name, content: { text: "v0" } } })
  expect(r.status, r.text).toBe(201)
  return r.json.pattern as { id: string; version: number }
}

/** Sends `count` pattern updates over one socket and collects one answer (ack or error) each. */
const socketUpdates = async (socket: SyncSocket, pattern: { id: string }, count: number, tag: string) => {
  const from = socket.messages.length
  for (let i = 0; i < count; i++)
    socket.send({
      type: "pattern_updated",
      client_action_id: `${tag}-${i}`,
      pattern: { id: pattern.id, content: { text: `${tag} ${i}` } }
    })
  const answers = await socket.waitForCount(
    (m) => (m.type === "ack" || m.type === "error") && String(m.client_action_id).startsWith(`${tag}-`),
    count,
    60_000
  )
  expect(socket.messages.length).toBeGreaterThanOrEqual(from + count)
  return answers
}

describe.each(STORES)("one limiter for REST and /ws/sync on %s", (store) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer(store, { rateLimits: { auth: 0, user: 100, team: 0 } })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("1,000 pattern updates over REST: the user's 100 a minute pass, the rest get 429", async () => {
    const t = await makeTeam(server.url, 1, "REST writer")
    const member = t.members[0]!
    const pattern = await createPattern(server.url, member.token, "rest-limited")
    const statuses = new Map<number, number>()
    let refused: Reply | undefined
    // Ten at a time, as a client with a connection pool sends them: the count is exact anyway.
    for (let i = 0; i < 1000; i += 10) {
      const replies = await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          request(server.url, "PUT", `/api/patterns/${pattern.id}`, {
            token: member.token,
            body: { content: { text: `rest ${i + j}` } }
          })
        )
      )
      for (const r of replies) {
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
        if (r.status === 429) refused ??= r
      }
    }
    // 100 calls a minute: the member's join and the create above were two of them.
    expect(Object.fromEntries(statuses)).toEqual({ 200: 98, 429: 902 })
    expectRateLimited(refused!, "Too many requests; slow down")
    const now = await request(server.url, "GET", `/api/patterns/${pattern.id}`, { token: t.admin.token })
    expect(now.json.pattern.version).toBe(pattern.version + 98)
  })

  it("1,000 pattern updates over one socket are limited the same, and the socket stays open", async () => {
    const t = await makeTeam(server.url, 1, "Socket writer")
    const member = t.members[0]!
    const pattern = await createPattern(server.url, member.token, "socket-limited")
    const socket = await connect(server.url, { token: member.token })
    const answers = await socketUpdates(socket, pattern, 1000, "ws")
    const acks = answers.filter((m) => m.type === "ack")
    const errors = answers.filter((m) => m.type === "error")
    // The join, the create and the socket's opening were calls too.
    expect(acks.length).toBe(97)
    expect(acks.every((a) => a.status === "applied")).toBe(true)
    expect(errors.length).toBe(903)
    for (const e of errors) {
      expect(e.code).toBe("rate_limited")
      expect(e.message).toBe("Too many requests; slow down")
      expect(e.retry_after).toBeGreaterThan(0)
      expect(e.retry_after).toBeLessThanOrEqual(60)
    }
    // Still open and answering; nothing refused was written.
    socket.send({ type: "ping" })
    await socket.waitFor((m) => m.type === "pong")
    const now = await request(server.url, "GET", `/api/patterns/${pattern.id}`, { token: t.admin.token })
    expect(now.json.pattern.version).toBe(pattern.version + 97)
    socket.close()
  })

  it("REST calls and socket messages of one user share one count", async () => {
    const t = await makeTeam(server.url, 1, "Mixed writer")
    const member = t.members[0]!
    const pattern = await createPattern(server.url, member.token, "mixed-limited")
    for (let i = 0; i < 49; i++) {
      const r = await request(server.url, "PUT", `/api/patterns/${pattern.id}`, {
        token: member.token,
        body: { content: { text: `rest ${i}` } }
      })
      expect(r.status, r.text).toBe(200)
    }
    const socket = await connect(server.url, { token: member.token })
    const answers = await socketUpdates(socket, pattern, 60, "mixed")
    // Join, create, 49 updates and the socket's opening: 52 of the 100.
    expect(answers.filter((m) => m.type === "ack").length).toBe(48)
    expect(answers.filter((m) => m.type === "error" && m.code === "rate_limited").length).toBe(12)
    const after = await request(server.url, "GET", "/api/me", { token: member.token })
    expectRateLimited(after, "Too many requests; slow down")
    socket.close()
  })

  it("stat messages over the socket count like POST /api/stats", async () => {
    const t = await makeTeam(server.url, 0, "Stats sender")
    const socket = await connect(server.url, { token: t.admin.token })
    for (let i = 0; i < 110; i++)
      socket.send({
        type: "stat_recorded",
        client_action_id: `stat-${i}`,
        stat: { id: randomUUID(), tool: "claude-code", action: "run", tokens_used: 10 }
      })
    const answers = await socket.waitForCount(
      (m) => (m.type === "ack" || m.type === "error") && String(m.client_action_id).startsWith("stat-"),
      110,
      60_000
    )
    const refused = answers.filter((m) => m.type === "error")
    // Creating the team and opening the socket were two of the admin's 100.
    expect(answers.filter((m) => m.type === "ack").length).toBe(98)
    expect(refused.length).toBe(12)
    expect(refused.every((m) => m.code === "rate_limited" && m.retry_after > 0)).toBe(true)
    socket.close()
  })
})

describe.each(STORES)("the team limit on %s", (store) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer(store, { rateLimits: { auth: 0, user: 0, team: 30 } })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("counts every member's team-scoped calls together, over REST and the socket", async () => {
    const t = await makeTeam(server.url, 1, "Team limited")
    const [admin, member] = [t.admin, t.members[0]!]
    // Of the set-up, the invite was a team-scoped call (creating and joining are not).
    const pattern = await createPattern(server.url, admin.token, "team-limited")
    for (let i = 0; i < 19; i++) {
      const r = await request(server.url, "GET", "/api/team", { token: i % 2 ? admin.token : member.token })
      expect(r.status, r.text).toBe(200)
    }
    const socket = await connect(server.url, { token: member.token })
    const answers = await socketUpdates(socket, pattern, 15, "team")
    // Invite, create, 19 reads and the socket's opening: 22 of the team's 30.
    expect(answers.filter((m) => m.type === "ack").length).toBe(8)
    const refused = answers.filter((m) => m.type === "error")
    expect(refused.length).toBe(7)
    expect(refused.every((m) => m.code === "rate_limited" && m.message === "Too many requests for this team")).toBe(
      true
    )
    expectRateLimited(
      await request(server.url, "GET", "/api/team", { token: admin.token }),
      "Too many requests for this team"
    )
    // Not team-scoped: the team's limit does not apply.
    expect((await request(server.url, "GET", "/api/me", { token: admin.token })).status).toBe(200)
    socket.close()
  })
})

const REDIS_URL = process.env.MUR_TEST_REDIS_URL ?? "redis://127.0.0.1:6379"

const COUNTERS: ReadonlyArray<readonly [string, Record<string, string>]> = [
  ["counted in PostgreSQL", {}],
  ["counted in Redis (REDIS_URL)", { REDIS_URL }]
]

describe.each(COUNTERS)("two server processes on one PostgreSQL database share the limits, %s", (counter, extra) => {
  let db: TestDatabase
  let a: SpawnedServer
  let b: SpawnedServer
  beforeAll(async () => {
    db = await createDatabase("postgres")
    const env = {
      DATABASE_URL: db.url,
      JWT_SECRET: TEST_SECRET,
      RATE_LIMIT_AUTH: "6",
      RATE_LIMIT_USER: "40",
      RATE_LIMIT_TEAM: "0",
      ...extra
    }
    a = await spawnServer(env)
    b = await spawnServer(env)
  })
  afterAll(async () => {
    await stopServers(a, b)
    await db?.drop()
  })

  it("a user's calls through both processes together get the limit, not twice it", async () => {
    const t = await makeTeam(a.url, 0, "Two processes")
    const statuses: number[] = []
    await Promise.all(
      [a.url, b.url].map(async (base) => {
        for (let i = 0; i < 40; i++)
          statuses.push((await request(base, "GET", "/api/me", { token: t.admin.token })).status)
      })
    )
    // Team creation was the user's first call of the minute.
    expect(statuses.filter((s) => s === 200).length).toBe(39)
    expect(statuses.filter((s) => s === 429).length).toBe(41)
    expectRateLimited(await request(b.url, "GET", "/api/me", { token: t.admin.token }), "Too many requests; slow down")
  })

  it("socket writes on one process and REST calls on the other share the count", async () => {
    const t = await makeTeam(a.url, 0, "Across")
    const pattern = await createPattern(a.url, t.admin.token, "across")
    for (let i = 0; i < 18; i++)
      expect((await request(a.url, "GET", "/api/me", { token: t.admin.token })).status).toBe(200)
    const socket = await connect(b.url, { token: t.admin.token })
    const answers = await socketUpdates(socket, pattern, 30, "across")
    // 40 a minute: team creation, the create, 18 reads and the socket's opening leave 19.
    expect(answers.filter((m) => m.type === "ack").length).toBe(19)
    expect(answers.filter((m) => m.type === "error" && m.code === "rate_limited").length).toBe(11)
    socket.close()
  })

  it("/auth/* per client address holds across both processes", async () => {
    const body = { email: "nobody@example.test", password: "wrong password" }
    const statuses: number[] = []
    for (let i = 0; i < 10; i++)
      statuses.push((await request(i % 2 ? b.url : a.url, "POST", "/auth/login", { body })).status)
    // 6 a minute from one address: the two registrations above were two of them.
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429, 429, 429])
  })

  it("keeps the counts where it says", async () => {
    const rows = await queryDb<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM rate_limits")
    const redis = new Redis(REDIS_URL, { lazyConnect: true })
    await redis.connect()
    try {
      const keys = await redis.keys("mur:rl:*:user:*")
      const teamUsers = await queryDb<{ id: string }>(db.url, "SELECT id FROM users")
      const ours = keys.filter((k) => teamUsers.some((u) => k.endsWith(`:user:${u.id}`)))
      if (counter.includes("Redis")) {
        expect(rows[0]!.n).toBe(0)
        expect(ours.length).toBe(teamUsers.length)
      } else {
        expect(rows[0]!.n).toBeGreaterThan(0)
        expect(ours.length).toBe(0)
      }
    } finally {
      redis.disconnect()
    }
  })
})

describe("REDIS_URL", () => {
  it("that does not answer stops the server at start, with one line naming it", async () => {
    const db = await createDatabase("postgres")
    try {
      const r = await runServerCommand(["serve", "--port", "0"], {
        DATABASE_URL: db.url,
        JWT_SECRET: TEST_SECRET,
        REDIS_URL: "redis://127.0.0.1:1"
      })
      expect(r.code).not.toBe(0)
      expect(r.stderr).toMatch(/REDIS_URL does not answer/)
      expect(r.stdout).not.toMatch(/listening/)
    } finally {
      await db.drop()
    }
  })

  it("that is not a redis:// URL is refused as a setting", async () => {
    const r = await runServerCommand(["serve", "--port", "0"], {
      DATABASE_URL: "file::memory:",
      REDIS_URL: "http://127.0.0.1:6379"
    })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/invalid REDIS_URL: must start with redis:\/\/ or rediss:\/\//)
  })
})
