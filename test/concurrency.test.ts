/**
 * Plan limits, optimistic concurrency and the event log under parallel requests, on both
 * stores, through real HTTP: racing joins for the last seats, racing updates of one
 * pattern, racing creates at the pattern limit, and a gapless per-team `seq`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { queryDb } from "./support/db.js"
import { type Reply, request, uniqueEmail } from "./support/http.js"
import { startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"

interface Session {
  readonly id: string
  readonly email: string
  readonly token: string
}

const countStatuses = (replies: ReadonlyArray<Reply>) => {
  const counts: Record<string, number> = {}
  for (const r of replies) {
    const key = r.status >= 400 ? `${r.status} ${r.json?.error?.code}` : String(r.status)
    counts[key] = (counts[key] ?? 0) + 1
  }
  return counts
}

/** Runs `f` over `items`, at most `n` at a time. */
const inBatches = async <A, B>(items: ReadonlyArray<A>, n: number, f: (a: A) => Promise<B>): Promise<B[]> => {
  const out: B[] = []
  for (let i = 0; i < items.length; i += n) out.push(...(await Promise.all(items.slice(i, i + n).map(f))))
  return out
}

describe.each(STORES)("concurrency on %s", (store) => {
  let server: TestServer
  let base: string

  beforeAll(async () => {
    server = await startTestServer(store)
    base = server.url
  })
  afterAll(async () => {
    await server?.stop()
  })

  const register = async (name: string): Promise<Session> => {
    const email = uniqueEmail(name)
    const r = await request(base, "POST", "/auth/register", { body: { email, password: "race password 1", name } })
    expect(r.status, r.text).toBe(201)
    return { id: r.json.user.id, email, token: r.json.access_token }
  }

  /** A new user with a new team of their own (free plan). */
  const teamAdmin = async (name: string) => {
    const admin = await register(name)
    const t = await request(base, "POST", "/api/team", { token: admin.token, body: { name } })
    expect(t.status, t.text).toBe(201)
    return { admin, teamId: t.json.team.id as string }
  }

  const invite = async (admin: Session, email: string) => {
    const r = await request(base, "POST", "/api/team/invite", { token: admin.token, body: { email } })
    expect(r.status, r.text).toBe(201)
    return r.json.invite_code as string
  }

  const createPattern = (token: string, name: string, extra: Record<string, unknown> = {}) =>
    request(base, "POST", "/api/patterns", { token, body: { name, content: { name }, ...extra } })

  /** The team's event log is exactly 1..n, whatever ran in parallel. */
  const expectGaplessLog = async (teamId: string, n: number) => {
    const rows = await queryDb<{ seq: number | string }>(
      server.db.url,
      "SELECT seq FROM sync_events WHERE team_id = $1 ORDER BY seq",
      [teamId]
    )
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: n }, (_, i) => i + 1))
    const [last] = await queryDb<{ last_seq: number | string }>(
      server.db.url,
      "SELECT last_seq FROM teams WHERE id = $1",
      [teamId]
    )
    expect(Number(last!.last_seq)).toBe(n)
  }

  it("lets exactly 2 of 20 parallel joins take the 2 free seats of a free team", async () => {
    const { admin, teamId } = await teamAdmin("seats")
    // 3 members: the admin and two who joined
    const early = await Promise.all([register("early-1"), register("early-2")])
    for (const u of early) {
      const code = await invite(admin, u.email)
      const join = await request(base, "POST", "/api/team/join", { token: u.token, body: { invite_code: code } })
      expect(join.status, join.text).toBe(200)
    }
    const racers = await Promise.all(Array.from({ length: 20 }, (_, i) => register(`racer-${i}`)))
    const codes = await inBatches(racers, 5, (u) => invite(admin, u.email))

    const replies = await Promise.all(
      racers.map((u, i) => request(base, "POST", "/api/team/join", { token: u.token, body: { invite_code: codes[i] } }))
    )
    expect(countStatuses(replies)).toEqual({ "200": 2, "403 plan_limit": 18 })
    for (const r of replies.filter((r) => r.status === 200)) expect(r.json.team.id).toBe(teamId)

    const team = await request(base, "GET", "/api/team", { token: admin.token })
    expect(team.json.members).toHaveLength(5)
    const winners = racers.filter((_, i) => replies[i]!.status === 200).map((u) => u.id)
    expect(team.json.members.map((m: any) => m.id).sort()).toEqual(
      [admin.id, ...early.map((u) => u.id), ...winners].sort()
    )
    const [count] = await queryDb<{ n: number | string }>(
      server.db.url,
      "SELECT count(*) AS n FROM memberships WHERE team_id = $1",
      [teamId]
    )
    expect(Number(count!.n)).toBe(5)
    // the losers' invites stay unused, and they are in no team
    for (const [i, u] of racers.entries()) {
      if (replies[i]!.status === 200) continue
      const me = await request(base, "GET", "/api/me", { token: u.token })
      expect(me.json.teams).toEqual([])
    }
  })

  it("lets exactly 1 of 50 parallel updates with the same base_version win; 49 get version_conflict", async () => {
    const { admin, teamId } = await teamAdmin("updates")
    const created = await createPattern(admin.token, "contended", { description: "v1" })
    expect(created.status).toBe(201)
    const id = created.json.pattern.id
    expect(created.json.pattern.version).toBe(1)

    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        request(base, "PUT", `/api/patterns/${id}`, {
          token: admin.token,
          body: { description: `writer ${i}`, base_version: 1 }
        })
      )
    )
    expect(countStatuses(replies)).toEqual({ "200": 1, "409 version_conflict": 49 })
    const winner = replies.find((r) => r.status === 200)!.json.pattern
    expect(winner.version).toBe(2)
    for (const r of replies.filter((r) => r.status === 409)) {
      expect(r.json.error.current.version).toBe(2)
      expect(r.json.error.current.id).toBe(id)
      expect(r.json.error.current.description).toBe(winner.description)
    }
    const now = await request(base, "GET", `/api/patterns/${id}`, { token: admin.token })
    expect(now.json.pattern).toMatchObject({ version: 2, description: winner.description })
    const versions = await request(base, "GET", `/api/patterns/${id}/versions`, { token: admin.token })
    expect(versions.json.versions.map((v: any) => v.version)).toEqual([2, 1])
    await expectGaplessLog(teamId, 2)
  })

  it("stops the free plan at 100 patterns: 10 parallel creates at 98 → exactly 2, then the 101st is 403", async () => {
    const { admin, teamId } = await teamAdmin("limit")
    const first = await inBatches(
      Array.from({ length: 98 }, (_, i) => `p-${i}`),
      10,
      (name) => createPattern(admin.token, name)
    )
    expect(countStatuses(first)).toEqual({ "201": 98 })

    const race = await Promise.all(Array.from({ length: 10 }, (_, i) => createPattern(admin.token, `race-${i}`)))
    expect(countStatuses(race)).toEqual({ "201": 2, "403 plan_limit": 8 })
    const list = await request(base, "GET", "/api/patterns?limit=1", { token: admin.token })
    expect(list.json.total).toBe(100)

    const extra = await createPattern(admin.token, "one-too-many")
    expect(extra.status, extra.text).toBe(403)
    expect(extra.json.error.code).toBe("plan_limit")

    // a deleted pattern frees its place
    const del = await request(base, "DELETE", `/api/patterns/${first[0]!.json.pattern.id}`, { token: admin.token })
    expect(del.status).toBe(200)
    expect((await createPattern(admin.token, "one-too-many")).status).toBe(201)
    expect((await createPattern(admin.token, "one-more")).json.error.code).toBe("plan_limit")
    // 100 creates, 1 delete, 1 create; the refused creates took no seq
    await expectGaplessLog(teamId, 102)
  })

  it("keeps each team's event log gapless under a burst of mixed parallel changes", async () => {
    const a = await teamAdmin("log-a")
    const b = await teamAdmin("log-b")
    const seed = await Promise.all(
      Array.from({ length: 10 }, (_, i) => createPattern(i % 2 === 0 ? a.admin.token : b.admin.token, `seed-${i}`))
    )
    expect(countStatuses(seed)).toEqual({ "201": 10 })
    const ofA = seed.filter((_, i) => i % 2 === 0).map((r) => r.json.pattern.id as string)
    const ofB = seed.filter((_, i) => i % 2 === 1).map((r) => r.json.pattern.id as string)

    const ops: Array<Promise<Reply>> = []
    for (const [team, ids] of [
      [a, ofA],
      [b, ofB]
    ] as const) {
      const token = team.admin.token
      // creates, including taken names (in any case) that must fail without a seq
      for (let i = 0; i < 8; i++) ops.push(createPattern(token, `burst-${i}`))
      const taken = team === a ? "seed-0" : "seed-1"
      ops.push(createPattern(token, taken), createPattern(token, taken.toUpperCase()))
      // plain updates, and conflicting updates of one pattern
      for (const id of ids) ops.push(request(base, "PUT", `/api/patterns/${id}`, { token, body: { description: "x" } }))
      for (let i = 0; i < 5; i++) {
        ops.push(
          request(base, "PUT", `/api/patterns/${ids[0]}`, { token, body: { category: `c${i}`, base_version: 1 } })
        )
      }
      ops.push(request(base, "DELETE", `/api/patterns/${ids[4]}`, { token }))
      ops.push(request(base, "POST", `/api/patterns/${ids[3]}/restore`, { token, body: { version: 1 } }))
      ops.push(request(base, "POST", `/api/patterns/${ids[2]}/use`, { token })) // no event
    }
    const replies = await Promise.all(ops)
    for (const r of replies) expect(r.status, r.text).toBeLessThan(500)
    expect(replies.filter((r) => r.status === 409 && r.json.error.code === "name_taken")).toHaveLength(4)

    for (const { teamId, admin } of [a, b]) {
      const events = await queryDb<{ seq: number | string; pattern_id: string; version: number | string }>(
        server.db.url,
        "SELECT seq, pattern_id, version FROM sync_events WHERE team_id = $1 ORDER BY seq",
        [teamId]
      )
      const n = events.length
      await expectGaplessLog(teamId, n)
      // one event per committed change: the audit log holds the same count of pattern acts
      const [acts] = await queryDb<{ n: number | string }>(
        server.db.url,
        "SELECT count(*) AS n FROM audit_log WHERE team_id = $1 AND action LIKE 'pattern.%'",
        [teamId]
      )
      expect(Number(acts!.n)).toBe(n)
      // each pattern's events carry strictly increasing versions in seq order
      const byPattern = new Map<string, number[]>()
      for (const e of events) byPattern.set(e.pattern_id, [...(byPattern.get(e.pattern_id) ?? []), Number(e.version)])
      for (const versions of byPattern.values()) {
        expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1))
      }
      const list = await request(base, "GET", "/api/patterns?limit=100", { token: admin.token })
      expect(list.json.total).toBe(5 + 8 - 1)
    }
  })
})
