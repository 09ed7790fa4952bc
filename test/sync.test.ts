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
    const renamed = await push(member.token, [
      { client_action_id: id(), op: "upsert", pattern_id: pid, pattern: { name: id("renamed"), content: { r: 1 } } }
    ])
    expect(renamed.json.results[0]).toMatchObject({ status: "applied", pattern_id: pid, version: 2 })
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
