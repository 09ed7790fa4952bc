/** The Sync section of the contract (push, pull, snapshot, status), on both stores. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request } from "./support/http.js"
import { startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"
import { makeTeam, type TestUser } from "./support/team.js"

describe.each(STORES)("sync on %s", (store) => {
  let server: TestServer
  let admin: TestUser
  let member: TestUser
  let n = 0
  const id = (p = "a") => `${p}-${++n}`
  const push = (token: string, events: unknown[], device_id = "device-1") =>
    request(server.url, "POST", "/api/sync/push", { token, body: { device_id, events } })
  const pull = (token: string, query: string) => request(server.url, "GET", `/api/sync/pull?${query}`, { token })

  beforeAll(async () => {
    server = await startTestServer(store)
    const t = await makeTeam(server.url, 1, "Sync")
    admin = t.admin
    member = t.members[0]!
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("applies an upsert (create, then update by name), and a repeated batch answers duplicate with the same seqs", async () => {
    const name = id("up")
    const batch = [
      { client_action_id: id(), op: "upsert", name, pattern: { content: { v: 1 }, description: "first", tags: ["x"] } },
      { client_action_id: id(), op: "upsert", name, base_version: 1, pattern: { content: { v: 2 } } }
    ]
    const first = await push(member.token, batch)
    expect(first.status).toBe(200)
    expect(first.json.results.map((r: any) => [r.status, r.version])).toEqual([
      ["applied", 1],
      ["applied", 2]
    ])
    expect(first.json.results[1].seq).toBe(first.json.results[0].seq + 1)
    expect(first.json.last_seq).toBe(first.json.results[1].seq)
    const again = await push(member.token, batch)
    expect(again.json.results).toEqual(first.json.results.map((r: any) => ({ ...r, status: "duplicate" })))
    // Nothing was applied twice: the pattern is at version 2.
    const list = await request(server.url, "GET", `/api/patterns?search=${name}`, { token: member.token })
    const p = list.json.patterns.find((x: any) => x.name === name)
    expect(p).toMatchObject({ version: 2, content: { v: 2 }, description: "first", tags: ["x"] })
    // The same action id from another device is a different action.
    const other = await push(member.token, [batch[0]], "device-2")
    expect(other.json.results[0].status).toBe("applied")
  })

  it("upserts by pattern_id, and creates with a client-chosen id", async () => {
    const pid = crypto.randomUUID()
    const created = await push(member.token, [
      { client_action_id: id(), op: "upsert", pattern_id: pid, name: id("byid"), pattern: { content: {} } }
    ])
    expect(created.json.results[0]).toMatchObject({ status: "applied", pattern_id: pid, version: 1 })
    const name = id("renamed")
    const renamed = await push(member.token, [
      { client_action_id: id(), op: "upsert", pattern_id: pid, pattern: { name, content: { r: 1 } } }
    ])
    expect(renamed.json.results[0]).toMatchObject({ status: "applied", pattern_id: pid, version: 2 })

    // Once an admin deleted it, an update by its id says it was deleted and creates nothing;
    // without the id, the same name makes a new pattern.
    const deleted = await push(admin.token, [{ client_action_id: id(), op: "delete", pattern_id: pid }])
    expect(deleted.json.results[0]).toMatchObject({ status: "applied", version: 3 })
    const stale = await push(member.token, [
      { client_action_id: id(), op: "upsert", pattern_id: pid, base_version: 2, pattern: { name, content: { r: 2 } } }
    ])
    expect(stale.json.results[0]).toMatchObject({ status: "rejected", error: { code: "not_found" } })
    expect(stale.json.results[0].error.message).toContain("deleted")
    const head = (await pull(member.token, "after=0&limit=1000")).json.last_seq
    expect(deleted.json.results[0].seq).toBe(head)
    const again = await push(member.token, [
      { client_action_id: id(), op: "upsert", name, pattern: { content: { r: 2 } } }
    ])
    expect(again.json.results[0]).toMatchObject({ status: "applied", version: 1 })
    expect(again.json.results[0].pattern_id).not.toBe(pid)
  })

  it("mixes applied, conflict and rejected in one batch; the good ones still apply", async () => {
    const name = id("mix")
    await push(member.token, [{ client_action_id: id(), op: "upsert", name, pattern: { content: { v: 1 } } }])
    await push(member.token, [{ client_action_id: id(), op: "upsert", name, pattern: { content: { v: 2 } } }])
    const results = (
      await push(member.token, [
        { client_action_id: "stale", op: "upsert", name, base_version: 1, pattern: { content: { v: 9 } } },
        { client_action_id: "bad-name", op: "upsert", name: "has space", pattern: { content: {} } },
        { client_action_id: "no-content", op: "upsert", name: id("nocontent"), pattern: {} },
        { client_action_id: "bad-op", op: "merge", name },
        { op: "upsert", name },
        "not an object",
        { client_action_id: "member-delete", op: "delete", name },
        { client_action_id: "missing", op: "delete", name: "does-not-exist" },
        { client_action_id: "good", op: "upsert", name: id("good"), pattern: { content: { ok: true } } }
      ])
    ).json.results
    const byId = Object.fromEntries(results.map((r: any) => [r.client_action_id, r]))
    expect(byId.stale.status).toBe("conflict")
    expect(byId.stale.current).toMatchObject({ name, version: 2, content: { v: 2 } })
    expect(byId["bad-name"]).toMatchObject({ status: "rejected", error: { code: "invalid_request" } })
    expect(byId["no-content"]).toMatchObject({ status: "rejected", error: { code: "invalid_request" } })
    expect(byId["bad-op"]).toMatchObject({ status: "rejected", error: { code: "invalid_request" } })
    expect(results[4]).toMatchObject({ client_action_id: null, status: "rejected" })
    expect(results[5]).toMatchObject({ client_action_id: null, status: "rejected" })
    expect(byId["member-delete"]).toMatchObject({ status: "rejected", error: { code: "forbidden" } })
    expect(byId.missing).toMatchObject({ status: "rejected", error: { code: "not_found" } })
    expect(byId.good.status).toBe("applied")
    expect(results).toHaveLength(9)
  })

  it("plans each event of a batch against the ones before it", async () => {
    const t = await makeTeam(server.url, 0, "Batch")
    const first = id("first")
    const pid = crypto.randomUUID()
    const r = await push(t.admin.token, [
      { client_action_id: "c1", op: "upsert", pattern_id: pid, name: first, pattern: { content: { v: 1 } } },
      { client_action_id: "u1", op: "upsert", name: first, base_version: 1, pattern: { content: { v: 2 } } },
      { client_action_id: "stale", op: "upsert", name: first, base_version: 1, pattern: { content: { v: 9 } } },
      { client_action_id: "mv", op: "upsert", pattern_id: pid, pattern: { name: "moved", content: { v: 3 } } },
      // The old name is free again within the same batch; the new one is taken.
      { client_action_id: "c2", op: "upsert", name: first, pattern: { content: { again: true } } },
      { client_action_id: "taken", op: "upsert", pattern_id: pid, pattern: { name: first, content: {} } },
      { client_action_id: "c1", op: "upsert", name: "ignored", pattern: { content: {} } },
      { client_action_id: "d1", op: "delete", name: "moved", base_version: 3 },
      { client_action_id: "gone", op: "upsert", pattern_id: pid, pattern: { name: "reborn", content: {} } }
    ])
    expect(r.status).toBe(200)
    const by = Object.fromEntries(r.json.results.map((x: any, i: number) => [`${x.client_action_id}@${i}`, x]))
    expect(by["c1@0"]).toMatchObject({ status: "applied", seq: 1, pattern_id: pid, version: 1 })
    expect(by["u1@1"]).toMatchObject({ status: "applied", seq: 2, pattern_id: pid, version: 2 })
    expect(by["stale@2"]).toMatchObject({ status: "conflict", current: { id: pid, version: 2, content: { v: 2 } } })
    expect(by["mv@3"]).toMatchObject({ status: "applied", seq: 3, version: 3 })
    expect(by["c2@4"]).toMatchObject({ status: "applied", seq: 4, version: 1 })
    expect(by["c2@4"].pattern_id).not.toBe(pid)
    expect(by["taken@5"]).toMatchObject({ status: "rejected", error: { code: "name_taken" } })
    // A repeated action id inside one batch is a duplicate of the first, not a second change.
    expect(by["c1@6"]).toEqual({ ...by["c1@0"], status: "duplicate" })
    expect(by["d1@7"]).toMatchObject({ status: "applied", seq: 5, pattern_id: pid, version: 4 })
    // Deleted earlier in the batch: the id names no live pattern, and is not free for a new one.
    // deleted by d1 just before: an upsert by its id is told so, and creates nothing
    expect(by["gone@8"]).toMatchObject({ status: "rejected", error: { code: "not_found" } })
    expect(by["gone@8"].error.message).toContain("deleted")
    expect(r.json.last_seq).toBe(5)

    const log = await pull(t.admin.token, "after=0")
    expect(log.json.events.map((e: any) => [e.seq, e.type, e.version])).toEqual([
      [1, "pattern_created", 1],
      [2, "pattern_updated", 2],
      [3, "pattern_updated", 3],
      [4, "pattern_created", 1],
      [5, "pattern_deleted", 4]
    ])
    expect(log.json.events[2].pattern).toMatchObject({ name: "moved", content: { v: 3 } })
    const snap = await request(server.url, "GET", "/api/sync/snapshot", { token: t.admin.token })
    expect(snap.json.patterns.map((p: any) => [p.name, p.content])).toEqual([[first, { again: true }]])
    expect(snap.json.last_seq).toBe(5)
    const versions = await request(server.url, "GET", `/api/patterns/${by["c2@4"].pattern_id}/versions`, {
      token: t.admin.token
    })
    expect(versions.json.versions.map((v: any) => v.version)).toEqual([1])
    const audit = await request(server.url, "GET", "/api/audit?action=pattern.update", { token: t.admin.token })
    expect(audit.json.total).toBe(2)
  })

  it("swaps two names in one batch, and refuses an id another team's pattern has", async () => {
    const t = await makeTeam(server.url, 0, "Swap")
    const made = await push(t.admin.token, [
      { client_action_id: "a", op: "upsert", name: "alpha", pattern: { content: { is: "a" } } },
      { client_action_id: "b", op: "upsert", name: "beta", pattern: { content: { is: "b" } } }
    ])
    const [a, b] = made.json.results.map((x: any) => x.pattern_id)
    const swap = await push(t.admin.token, [
      { client_action_id: "s1", op: "upsert", pattern_id: a, pattern: { name: "tmp" } },
      { client_action_id: "s2", op: "upsert", pattern_id: b, pattern: { name: "alpha" } },
      { client_action_id: "s3", op: "upsert", pattern_id: a, pattern: { name: "beta" } }
    ])
    expect(swap.json.results.map((x: any) => [x.status, x.seq])).toEqual([
      ["applied", 3],
      ["applied", 4],
      ["applied", 5]
    ])
    const snap = await request(server.url, "GET", "/api/sync/snapshot", { token: t.admin.token })
    const names = Object.fromEntries(snap.json.patterns.map((p: any) => [p.id, [p.name, p.content.is, p.version]]))
    expect(names).toEqual({ [a]: ["beta", "a", 3], [b]: ["alpha", "b", 2] })

    const other = await makeTeam(server.url, 0, "Other")
    const steal = await push(other.admin.token, [
      { client_action_id: "x", op: "upsert", pattern_id: a, name: "mine", pattern: { content: {} } },
      { client_action_id: "y", op: "upsert", name: "fine", pattern: { content: {} } }
    ])
    expect(steal.json.results[0]).toMatchObject({ status: "rejected", error: { code: "invalid_request" } })
    expect(steal.json.results[1]).toMatchObject({ status: "applied", seq: 1 })
    const still = await request(server.url, "GET", `/api/patterns/${a}`, { token: t.admin.token })
    expect(still.json.pattern).toMatchObject({ name: "beta", team_id: t.team.id })
  })

  it("stops creating at the plan's limit within a batch, and a delete in the batch frees a place", async () => {
    const t = await makeTeam(server.url, 0, "Limit")
    const creates = Array.from({ length: 101 }, (_, i) => ({
      client_action_id: `c${i}`,
      op: "upsert",
      name: `p${i}`,
      pattern: { content: { i } }
    }))
    const r = await push(t.admin.token, [
      ...creates,
      { client_action_id: "del", op: "delete", name: "p0" },
      { client_action_id: "last", op: "upsert", name: "p-last", pattern: { content: {} } }
    ])
    const results = r.json.results
    expect(results.slice(0, 100).every((x: any) => x.status === "applied")).toBe(true)
    expect(results[100]).toMatchObject({ status: "rejected", error: { code: "plan_limit" } })
    expect(results[101]).toMatchObject({ status: "applied", seq: 101 })
    expect(results[102]).toMatchObject({ status: "applied", seq: 102 })
    const status = await request(server.url, "GET", "/api/sync/status", { token: t.admin.token })
    expect(status.json).toMatchObject({ last_seq: 102, pattern_count: 100 })
  })

  it("deletes by name (admin) and the delete is in the log", async () => {
    const name = id("del")
    const c = await push(admin.token, [{ client_action_id: id(), op: "upsert", name, pattern: { content: {} } }])
    const d = await push(admin.token, [{ client_action_id: id(), op: "delete", name }])
    expect(d.json.results[0]).toMatchObject({ status: "applied", pattern_id: c.json.results[0].pattern_id, version: 2 })
    const events = await pull(admin.token, `after=${d.json.results[0].seq - 1}`)
    expect(events.json.events[0]).toMatchObject({ type: "pattern_deleted", pattern: null, version: 2 })
  })

  it("takes 1 to 1000 events a push", async () => {
    expect((await push(member.token, [])).status).toBe(400)
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ client_action_id: `x${i}`, op: "delete", name: "x" }))
    const r = await push(member.token, tooMany)
    expect(r.status).toBe(400)
    expect(r.json.error.code).toBe("invalid_request")
    expect(
      (await request(server.url, "POST", "/api/sync/push", { token: member.token, body: { events: [{}] } })).status
    ).toBe(400)
  })

  it("pulls exact pages with an honest has_more, at an exact page boundary too", async () => {
    const t = await makeTeam(server.url, 0, "Pages")
    const events = Array.from({ length: 10 }, (_, i) => ({
      client_action_id: `p${i}`,
      op: "upsert",
      name: `page-${i}`,
      pattern: { content: { i } }
    }))
    await push(t.admin.token, events)
    const p1 = await pull(t.admin.token, "after=0&limit=5")
    expect(p1.json.events.map((e: any) => e.seq)).toEqual([1, 2, 3, 4, 5])
    expect(p1.json).toMatchObject({ last_seq: 5, has_more: true })
    const p2 = await pull(t.admin.token, "after=5&limit=5")
    expect(p2.json.events.map((e: any) => e.seq)).toEqual([6, 7, 8, 9, 10])
    // Exactly at the end: the page is full but nothing follows.
    expect(p2.json).toMatchObject({ last_seq: 10, has_more: false })
    const p3 = await pull(t.admin.token, "after=10")
    expect(p3.json).toEqual({ events: [], last_seq: 10, has_more: false })
    const all = await pull(t.admin.token, "")
    expect(all.json.events).toHaveLength(10)
    expect(all.json.events[0]).toMatchObject({
      seq: 1,
      type: "pattern_created",
      version: 1,
      actor_id: t.admin.id,
      device_id: "device-1",
      pattern: { name: "page-0", content: { i: 0 } }
    })
    for (const q of ["after=-1", "limit=0", "limit=1001", "after=x"])
      expect((await pull(t.admin.token, q)).status).toBe(400)
  })

  it("puts REST changes in the log, answers snapshot and status", async () => {
    const t = await makeTeam(server.url, 0, "Rest")
    const created = await request(server.url, "POST", "/api/patterns", {
      token: t.admin.token,
      body: { name: "rest-1", content: { a: 1 } }
    })
    await request(server.url, "PUT", `/api/patterns/${created.json.pattern.id}`, {
      token: t.admin.token,
      body: { description: "d" }
    })
    await request(server.url, "POST", "/api/patterns", { token: t.admin.token, body: { name: "rest-2", content: {} } })
    await request(server.url, "DELETE", `/api/patterns/${created.json.pattern.id}`, { token: t.admin.token })
    const log = await pull(t.admin.token, "after=0&device_id=laptop")
    expect(log.json.events.map((e: any) => e.type)).toEqual([
      "pattern_created",
      "pattern_updated",
      "pattern_created",
      "pattern_deleted"
    ])
    const snap = await request(server.url, "GET", "/api/sync/snapshot", { token: t.admin.token })
    expect(snap.json.last_seq).toBe(4)
    expect(snap.json.patterns.map((p: any) => p.name)).toEqual(["rest-2"])
    await push(
      t.admin.token,
      [{ client_action_id: "s1", op: "upsert", name: "rest-3", pattern: { content: {} } }],
      "laptop"
    )
    const status = await request(server.url, "GET", "/api/sync/status", { token: t.admin.token })
    expect(status.json).toMatchObject({ last_seq: 5, pattern_count: 2 })
    expect(status.json.devices).toEqual([expect.objectContaining({ device_id: "laptop", last_pulled_seq: 4 })])
  })

  it("four writers pushing concurrently leave a log of exactly 1..N, each applied seq the writer's own event", async () => {
    const t = await makeTeam(server.url, 3, "Four writers")
    const writers = [t.admin, ...t.members]
    const applied = new Map<number, { pattern_id: string; version: number }>()
    await Promise.all(
      writers.map(async (w, wi) => {
        for (let round = 0; round < 5; round++) {
          // Each batch updates the writer's own patterns, and one shared pattern everyone writes.
          const events = [
            ...Array.from({ length: 12 }, (_, i) => ({
              client_action_id: `fw${wi}-${round}-${i}`,
              op: "upsert",
              name: `fw${wi}-p${i}`,
              pattern: { content: { round } }
            })),
            {
              client_action_id: `fw${wi}-${round}-shared`,
              op: "upsert",
              name: "fw-shared",
              pattern: { content: { wi } }
            }
          ]
          const r = await push(w.token, events, `fw-device-${wi}`)
          expect(r.status, r.text).toBe(200)
          for (const x of r.json.results) {
            expect(x.status).toBe("applied")
            expect(applied.has(x.seq)).toBe(false)
            applied.set(x.seq, { pattern_id: x.pattern_id, version: x.version })
          }
        }
      })
    )
    const events: any[] = []
    for (let after = 0; ; ) {
      const page = await pull(t.admin.token, `after=${after}&limit=77`)
      events.push(...page.json.events)
      if (!page.json.has_more) break
      after = page.json.last_seq
    }
    const n = writers.length * 5 * 13
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1))
    for (const e of events) expect(applied.get(e.seq)).toEqual({ pattern_id: e.pattern_id, version: e.version })
    // The shared pattern took one version per write, in seq order.
    const shared = events.filter((e) => e.pattern?.name === "fw-shared")
    expect(shared.map((e) => e.version)).toEqual(Array.from({ length: writers.length * 5 }, (_, i) => i + 1))
  })

  it("keeps each team's log to itself", async () => {
    const a = await makeTeam(server.url, 0, "Iso A")
    const b = await makeTeam(server.url, 0, "Iso B")
    await push(a.admin.token, [
      { client_action_id: "iso", op: "upsert", name: "secret", pattern: { content: { s: 1 } } }
    ])
    const theirs = await pull(b.admin.token, "after=0")
    expect(theirs.json.events).toEqual([])
    // B cannot touch A's pattern by id either: the id is unknown in B, so B creates its own.
    const aid = (await pull(a.admin.token, "after=0")).json.events[0].pattern_id
    const attempt = await push(b.admin.token, [{ client_action_id: "steal", op: "delete", pattern_id: aid }])
    expect(attempt.json.results[0]).toMatchObject({ status: "rejected", error: { code: "not_found" } })
    const again = await pull(a.admin.token, "after=0")
    expect(again.json.events).toHaveLength(1)
    expect((await request(server.url, "GET", "/api/sync/pull")).status).toBe(401)
  })
})
