/**
 * Several server processes on one PostgreSQL database: gapless ordering under writers on
 * both, fan-out from one process to the sockets of the other, presence across processes,
 * and durability of acknowledged pushes across kill -9.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { queryDb } from "./support/db.js"
import { request } from "./support/http.js"
import { type SpawnedServer, spawnServer, TEST_SECRET } from "./support/server.js"
import { createDatabase, STORES, type TestDatabase } from "./support/stores.js"
import { makeTeam } from "./support/team.js"
import { connect, isEvent } from "./support/ws.js"

const push = (base: string, token: string, device: string, events: unknown[]) =>
  request(base, "POST", "/api/sync/push", { token, body: { device_id: device, events } })

const pullAll = async (base: string, token: string) => {
  const seqs: number[] = []
  let after = 0
  for (;;) {
    const r = await request(base, "GET", `/api/sync/pull?after=${after}&limit=1000`, { token })
    seqs.push(...r.json.events.map((e: any) => e.seq))
    if (!r.json.has_more) return seqs
    after = r.json.last_seq
  }
}

describe("two server processes on one PostgreSQL database", () => {
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
    for (const s of [a, b]) {
      s?.child.kill("SIGTERM")
      await s?.exited
    }
    await db?.drop()
  })

  it("a socket on process B receives, in seq order, every event written through process A", async () => {
    const t = await makeTeam(a.url, 0, "Fan-out")
    const socket = await connect(b.url, { token: t.admin.token })
    socket.send({ type: "subscribe", channels: ["patterns"] })
    await socket.waitFor((m) => m.type === "subscribed")
    const events = Array.from({ length: 50 }, (_, i) => ({
      client_action_id: `fan-${i}`,
      op: "upsert",
      name: `fan-${i % 10}`,
      pattern: { content: { i } }
    }))
    for (let i = 0; i < 50; i += 10) {
      const r = await push(a.url, t.admin.token, "writer", events.slice(i, i + 10))
      expect(r.json.results.every((x: any) => x.status === "applied")).toBe(true)
    }
    await socket.waitForCount(isEvent, 50)
    expect(socket.messages.filter(isEvent).map((m) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    socket.close()
  })

  it("four writers pushing concurrently through both processes leave a log of exactly 1..N", async () => {
    const t = await makeTeam(a.url, 3, "Writers")
    const writers = [t.admin, ...t.members]
    const perWriter = 6
    const batch = 10
    await Promise.all(
      writers.map(async (w, wi) => {
        const base = wi % 2 === 0 ? a.url : b.url
        for (let round = 0; round < perWriter; round++) {
          const events = Array.from({ length: batch }, (_, i) => ({
            client_action_id: `w${wi}-${round}-${i}`,
            op: "upsert",
            name: `w${wi}-p${i}`,
            pattern: { content: { round } }
          }))
          const r = await push(base, w.token, `device-${wi}`, events)
          expect(r.status).toBe(200)
          expect(r.json.results.every((x: any) => x.status === "applied")).toBe(true)
        }
      })
    )
    const n = writers.length * perWriter * batch
    const seqs = await pullAll(b.url, t.admin.token)
    expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i + 1))
    const rows = await queryDb<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM sync_events WHERE team_id = $1", [
      t.team.id
    ])
    expect(rows[0]!.n).toBe(n)
  })

  it("shows presence across processes", async () => {
    const t = await makeTeam(a.url, 1, "Presence")
    const onA = await connect(a.url, { token: t.admin.token, device_id: "a-device" })
    onA.send({ type: "subscribe", channels: ["presence"] })
    await onA.waitFor((m) => m.type === "presence" && m.online.length === 1)
    const onB = await connect(b.url, { token: t.members[0]!.token, device_id: "b-device" })
    onB.send({ type: "subscribe", channels: ["presence"] })
    const seenOnA = await onA.waitFor((m) => m.type === "presence" && m.online.length === 2)
    expect(seenOnA.online.map((o: any) => o.device_id).sort()).toEqual(["a-device", "b-device"])
    await onB.waitFor((m) => m.type === "presence" && m.online.length === 2)
    onB.close()
    await onA.waitFor((m) => m.type === "presence" && m.online.length === 1, 10_000, onA.messages.indexOf(seenOnA) + 1)
    onA.close()
  })

  it("a member removed through process A loses the sockets held by process B", async () => {
    const t = await makeTeam(a.url, 1, "Removal")
    const member = t.members[0]!
    const s = await connect(b.url, { token: member.token })
    s.send({ type: "subscribe", channels: ["patterns"] })
    await s.waitFor((m) => m.type === "subscribed")
    await request(a.url, "DELETE", `/api/team/members/${member.id}`, { token: t.admin.token })
    expect((await s.closed).code).toBe(4403)
  })

  it("a logout through process A closes that login's sockets held by process B", async () => {
    const t = await makeTeam(a.url, 0, "Logout")
    const login = await request(a.url, "POST", "/auth/login", {
      body: { email: t.admin.email, password: "test password" }
    })
    const s = await connect(b.url, { token: login.json.access_token })
    s.send({ type: "subscribe", channels: ["patterns"] })
    await s.waitFor((m) => m.type === "subscribed")
    await request(a.url, "POST", "/auth/logout", { body: { refresh_token: login.json.refresh_token } })
    expect((await s.closed).code).toBe(4401)
  })
})

describe.each(STORES)("kill -9 in the middle of pushes on %s", (store) => {
  it("keeps every event acknowledged as applied, and the patterns table agrees with the log", async () => {
    const db = await createDatabase(store)
    const env = { DATABASE_URL: db.url, JWT_SECRET: TEST_SECRET }
    try {
      const first = await spawnServer(env)
      const t = await makeTeam(first.url, 0, "Crash")
      const applied = new Map<string, number>()
      let stop = false
      let round = 0
      const worker = async (w: number) => {
        while (!stop) {
          const r = round++
          const events = Array.from({ length: 20 }, (_, i) => ({
            client_action_id: `c${w}-${r}-${i}`,
            op: "upsert",
            name: `crash-${w}-${i}`,
            pattern: { content: { r } }
          }))
          try {
            const res = await push(first.url, t.admin.token, `dev-${w}`, events)
            if (res.status !== 200) return
            for (const x of res.json.results) if (x.status === "applied") applied.set(x.client_action_id, x.seq)
          } catch {
            return
          }
        }
      }
      const workers = [0, 1, 2].map(worker)
      while (applied.size < 200) await new Promise((r) => setTimeout(r, 10))
      first.child.kill("SIGKILL")
      stop = true
      await Promise.all(workers)
      await first.exited

      const second = await spawnServer(env)
      try {
        const log = await request(second.url, "GET", "/api/sync/pull?after=0&limit=1000", { token: t.admin.token })
        let events = log.json.events
        let after = log.json.last_seq
        let more = log.json.has_more
        while (more) {
          const next = await request(second.url, "GET", `/api/sync/pull?after=${after}&limit=1000`, {
            token: t.admin.token
          })
          events = events.concat(next.json.events)
          after = next.json.last_seq
          more = next.json.has_more
        }
        const seqs = new Set(events.map((e: any) => e.seq))
        for (const seq of applied.values()) expect(seqs.has(seq)).toBe(true)
        expect(events.map((e: any) => e.seq)).toEqual(events.map((_: unknown, i: number) => i + 1))
        // The patterns table agrees with the log: each pattern is at the version of its last event.
        const lastVersion = new Map<string, number>()
        for (const e of events) lastVersion.set(e.pattern_id, e.version)
        const snapshot = await request(second.url, "GET", "/api/sync/snapshot", { token: t.admin.token })
        expect(snapshot.json.last_seq).toBe(events.length)
        expect(new Map(snapshot.json.patterns.map((p: any) => [p.id, p.version]))).toEqual(lastVersion)
        // A retry of an acknowledged action is a duplicate, not a second change.
        const [someId, someSeq] = [...applied.entries()][0]!
        const [, w, r, i] = /^c(\d+)-(\d+)-(\d+)$/.exec(someId)!
        const retry = await push(second.url, t.admin.token, `dev-${w}`, [
          { client_action_id: someId, op: "upsert", name: `crash-${w}-${i}`, pattern: { content: { r: Number(r) } } }
        ])
        expect(retry.json.results[0]).toMatchObject({ status: "duplicate", seq: someSeq })
      } finally {
        second.child.kill("SIGTERM")
        await second.exited
      }
    } finally {
      await db.drop()
    }
  })
})
