/** `/ws/sync` on both stores, through real WebSocket connections. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request } from "./support/http.js"
import { startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"
import { makeTeam, registerUser } from "./support/team.js"
import { connect, isEvent } from "./support/ws.js"

const create = (base: string, token: string, name: string, content: unknown = { n: name }) =>
  request(base, "POST", "/api/patterns", { token, body: { name, content } })

describe.each(STORES)("realtime on %s", (store) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer(store, {
      realtime: { maxBufferedBytes: 64 * 1024, pingIntervalMs: 200, idleTimeoutMs: 1500 }
    })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("refuses bad credentials and teams before the upgrade", async () => {
    const user = await registerUser(server.url)
    await expect(connect(server.url, { token: "garbage" })).rejects.toMatchObject({ status: 401 })
    await expect(connect(server.url, {})).rejects.toMatchObject({ status: 401 })
    await expect(connect(server.url, { token: user.token })).rejects.toMatchObject({ status: 404 })
    const a = await makeTeam(server.url, 0, "WS A")
    const b = await makeTeam(server.url, 0, "WS B")
    const inv = await request(server.url, "POST", "/api/team/invite", {
      token: b.admin.token,
      body: { email: a.admin.email }
    })
    await request(server.url, "POST", "/api/team/join", {
      token: a.admin.token,
      body: { invite_code: inv.json.invite_code }
    })
    await expect(connect(server.url, { token: a.admin.token })).rejects.toMatchObject({ status: 400 })
    const ok = await connect(server.url, { token: a.admin.token, team: b.team.slug })
    ok.close()
  })

  it("replays the backlog after `after`, then streams live events: nothing lost, nothing twice", async () => {
    const t = await makeTeam(server.url, 0, "Replay")
    for (let i = 0; i < 5; i++) await create(server.url, t.admin.token, `before-${i}`)
    const s = await connect(server.url, { token: t.admin.token })
    s.send({ type: "subscribe", channels: ["patterns"], after: 2 })
    const subscribed = await s.waitFor((m) => m.type === "subscribed")
    expect(subscribed).toEqual({ type: "subscribed", channels: ["patterns"], last_seq: 5 })
    const writes = Array.from({ length: 5 }, (_, i) => create(server.url, t.admin.token, `after-${i}`))
    await Promise.all(writes)
    const events = await s.waitForCount(isEvent, 8)
    await new Promise((r) => setTimeout(r, 200))
    expect(s.messages.filter(isEvent).map((m) => m.seq)).toEqual([3, 4, 5, 6, 7, 8, 9, 10])
    expect(events[0]).toMatchObject({
      type: "pattern_created",
      seq: 3,
      pattern: { name: "before-2" },
      user: { id: t.admin.id, name: "Admin" }
    })
    s.close()
  })

  it("applies writes sent over the socket, acks them, and fans them out to the team only", async () => {
    const t = await makeTeam(server.url, 1, "Writes")
    const other = await makeTeam(server.url, 0, "Elsewhere")
    const writer = await connect(server.url, { token: t.admin.token, device_id: "laptop" })
    const reader = await connect(server.url, { token: t.members[0]!.token })
    const stranger = await connect(server.url, { token: other.admin.token })
    for (const s of [writer, reader, stranger]) s.send({ type: "subscribe", channels: ["patterns"] })
    await Promise.all([writer, reader, stranger].map((s) => s.waitFor((m) => m.type === "subscribed")))

    writer.send({ type: "pattern_created", pattern: { name: "from-ws", content: { a: 1 } }, client_action_id: "w1" })
    const ack = await writer.waitFor((m) => m.type === "ack")
    expect(ack).toMatchObject({ client_action_id: "w1", status: "applied", seq: 1, version: 1 })
    const seen = await reader.waitFor((m) => m.type === "pattern_created")
    expect(seen).toMatchObject({ seq: 1, pattern: { name: "from-ws", content: { a: 1 } }, user: { id: t.admin.id } })

    writer.send({
      type: "pattern_updated",
      pattern: { id: ack.pattern_id, content: { a: 2 } },
      base_version: 1,
      client_action_id: "w2"
    })
    expect(await writer.waitFor((m) => m.type === "ack" && m.client_action_id === "w2")).toMatchObject({
      status: "applied",
      version: 2
    })
    writer.send({
      type: "pattern_updated",
      pattern: { id: ack.pattern_id, content: { a: 3 } },
      base_version: 1,
      client_action_id: "w3"
    })
    const conflict = await writer.waitFor((m) => m.type === "ack" && m.client_action_id === "w3")
    expect(conflict).toMatchObject({ status: "conflict", current: { version: 2 } })
    // The same action again is a duplicate, not a second change.
    writer.send({ type: "pattern_created", pattern: { name: "from-ws", content: { a: 1 } }, client_action_id: "w1" })
    expect(await writer.waitFor((m) => m.type === "ack" && m.status === "duplicate")).toMatchObject({ seq: 1 })
    writer.send({ type: "pattern_deleted", pattern_id: ack.pattern_id, client_action_id: "w4" })
    expect(await writer.waitFor((m) => m.type === "ack" && m.client_action_id === "w4")).toMatchObject({
      status: "applied"
    })
    const deleted = await reader.waitFor((m) => m.type === "pattern_deleted")
    expect(deleted).toMatchObject({ seq: 3, pattern_id: ack.pattern_id, user: { id: t.admin.id } })
    // The device named at connect is the event's provenance.
    const log = await request(server.url, "GET", "/api/sync/pull?after=0", { token: t.admin.token })
    expect(log.json.events.map((e: any) => e.device_id)).toEqual(["laptop", "laptop", "laptop"])

    await new Promise((r) => setTimeout(r, 200))
    expect(stranger.messages.filter(isEvent)).toEqual([])
    for (const s of [writer, reader, stranger]) s.close()
  })

  it("handles a socket's messages in the order they were sent, also when sent without waiting", async () => {
    const t = await makeTeam(server.url, 0, "Order")
    const writer = await connect(server.url, { token: t.admin.token })
    // Forty writes back to back (more than the server queues before it stops reading), each
    // update depending on the create just before it, with a ping in the middle.
    for (let i = 0; i < 20; i++) {
      writer.send({
        type: "pattern_created",
        pattern: { name: `ord-${i}`, content: { v: 1 } },
        client_action_id: `c${i}`
      })
      writer.send({
        type: "pattern_updated",
        pattern: { name: `ord-${i}`, content: { v: 2 } },
        base_version: 1,
        client_action_id: `u${i}`
      })
      if (i === 10) writer.send({ type: "ping" })
    }
    const acks = await writer.waitForCount((m) => m.type === "ack", 40)
    expect(acks.map((a) => a.client_action_id)).toEqual(Array.from({ length: 20 }, (_, i) => [`c${i}`, `u${i}`]).flat())
    expect(acks.every((a) => a.status === "applied")).toBe(true)
    expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
    expect(acks.filter((a) => a.client_action_id.startsWith("u")).every((a) => a.version === 2)).toBe(true)
    const pong = writer.messages.findIndex((m) => m.type === "pong")
    expect(writer.messages.slice(0, pong).filter((m) => m.type === "ack")).toHaveLength(22)
    writer.close()
  })

  it("answers ping, explains malformed messages and keeps the connection open", async () => {
    const t = await makeTeam(server.url, 0, "Errors")
    const s = await connect(server.url, { token: t.admin.token })
    s.send("{not json")
    s.send({ no: "type" })
    s.send({ type: "teleport" })
    s.send({ type: "subscribe", channels: ["gossip"] })
    s.send({ type: "subscribe", channels: ["patterns"], after: -3 })
    s.send({ type: "pattern_created", pattern: "nope" })
    s.send({ type: "pattern_created", pattern: { name: "bad name", content: {} }, client_action_id: "bad" })
    s.send({ type: "ping" })
    await s.waitFor((m) => m.type === "pong")
    expect(s.messages.filter((m) => m.type === "error").map((m) => m.code)).toEqual([
      "invalid_message",
      "invalid_message",
      "invalid_message",
      "invalid_message",
      "invalid_message",
      "invalid_message"
    ])
    expect(await s.waitFor((m) => m.type === "ack")).toMatchObject({ client_action_id: "bad", status: "rejected" })
    expect(s.ws.readyState).toBe(s.ws.OPEN)
    s.close()
  })

  it("closes the sockets of a member removed from the team at once, and tells the others", async () => {
    const t = await makeTeam(server.url, 1, "Removal")
    const member = t.members[0]!
    const adminSocket = await connect(server.url, { token: t.admin.token })
    adminSocket.send({ type: "subscribe", channels: ["patterns", "presence"] })
    await adminSocket.waitFor((m) => m.type === "subscribed")
    const s = await connect(server.url, { token: member.token })
    s.send({ type: "subscribe", channels: ["patterns"] })
    await s.waitFor((m) => m.type === "subscribed")
    await request(server.url, "DELETE", `/api/team/members/${member.id}`, { token: t.admin.token })
    const closed = await s.closed
    expect(closed.code).toBe(4403)
    expect(await adminSocket.waitFor((m) => m.type === "member_left")).toEqual({
      type: "member_left",
      user_id: member.id
    })
    adminSocket.close()
  })

  it("closes with 4401 the sockets of a login that logs out or is revoked for reuse, and of a revoked API key; other logins keep theirs", async () => {
    const t = await makeTeam(server.url, 0, "Revocation")
    const login = async () => {
      const r = await request(server.url, "POST", "/auth/login", {
        body: { email: t.admin.email, password: "test password" }
      })
      expect(r.status, r.text).toBe(200)
      return { access: r.json.access_token as string, refresh: r.json.refresh_token as string }
    }
    const open = async (token: string) => {
      const s = await connect(server.url, { token })
      s.send({ type: "subscribe", channels: ["patterns"] })
      await s.waitFor((m) => m.type === "subscribed")
      return s
    }
    const key = await request(server.url, "POST", "/api/keys", { token: t.admin.token, body: { name: "ws" } })
    expect(key.status, key.text).toBe(201)
    const [a, b] = [await login(), await login()]
    const [byA, byA2, byB, byKey, byFirst] = [
      await open(a.access),
      await open(a.access),
      await open(b.access),
      await open(key.json.token),
      await open(t.admin.token)
    ]

    expect((await request(server.url, "POST", "/auth/logout", { body: { refresh_token: a.refresh } })).status).toBe(200)
    expect(await byA.closed).toMatchObject({ code: 4401 })
    expect(await byA2.closed).toMatchObject({ code: 4401 })
    await expect(connect(server.url, { token: a.access })).rejects.toMatchObject({ status: 401 })

    expect((await request(server.url, "DELETE", `/api/keys/${key.json.key.id}`, { token: b.access })).status).toBe(200)
    expect(await byKey.closed).toMatchObject({ code: 4401 })

    // Presenting a rotated refresh token again revokes the whole login it belongs to.
    const rotated = await request(server.url, "POST", "/auth/refresh", { body: { refresh_token: b.refresh } })
    expect(rotated.status, rotated.text).toBe(200)
    const reused = await request(server.url, "POST", "/auth/refresh", { body: { refresh_token: b.refresh } })
    expect(reused.json.error.code).toBe("token_reused")
    expect(await byB.closed).toMatchObject({ code: 4401 })

    // The registration's own login was never revoked: its socket still gets the team's events.
    await create(server.url, t.admin.token, "still-here")
    expect(await byFirst.waitFor((m) => m.type === "pattern_created")).toMatchObject({
      pattern: { name: "still-here" }
    })
    byFirst.close()
  })

  it("tells the presence channel who is online, as people come and go", async () => {
    const t = await makeTeam(server.url, 1, "Presence")
    const a = await connect(server.url, { token: t.admin.token, device_id: "desk" })
    a.send({ type: "subscribe", channels: ["presence"] })
    const first = await a.waitFor((m) => m.type === "presence" && m.online.length === 1)
    expect(first.online[0]).toMatchObject({ user_id: t.admin.id, name: "Admin", device_id: "desk" })
    const b = await connect(server.url, { token: t.members[0]!.token })
    const both = await a.waitFor((m) => m.type === "presence" && m.online.length === 2)
    expect(both.online.map((o: any) => o.user_id).sort()).toEqual([t.admin.id, t.members[0]!.id].sort())
    b.close()
    await a.waitFor((m) => m.type === "presence" && m.online.length === 1, 10_000, a.messages.indexOf(both) + 1)
    a.close()
  })

  it("after a burst of joins and leaves, every presence subscriber's last list is the final one", async () => {
    const t = await makeTeam(server.url, 0, "Burst")
    const watchers = await Promise.all(
      ["w1", "w2"].map((device_id) => connect(server.url, { token: t.admin.token, device_id }))
    )
    for (const w of watchers) w.send({ type: "subscribe", channels: ["presence"] })
    for (const w of watchers) await w.waitFor((m) => m.type === "presence" && m.online.length === 2)
    // 25 devices join at once, then 10 of them leave at once.
    const burst = await Promise.all(
      Array.from({ length: 25 }, (_, i) => connect(server.url, { token: t.admin.token, device_id: `d${i}` }))
    )
    const full = await Promise.all(
      watchers.map((w) => w.waitFor((m) => m.type === "presence" && m.online.length === 27))
    )
    for (const s of burst.slice(0, 10)) s.close()
    const expected = ["w1", "w2", ...Array.from({ length: 15 }, (_, i) => `d${i + 10}`)].sort()
    for (const [i, w] of watchers.entries()) {
      const from = w.messages.indexOf(full[i]) + 1
      const last = await w.waitFor((m) => m.type === "presence" && m.online.length === 17, 10_000, from)
      expect(last.online.map((o: any) => o.device_id).sort()).toEqual(expected)
      // Nothing stale arrives after it.
      await new Promise((r) => setTimeout(r, 300))
      const after = w.messages.slice(w.messages.indexOf(last) + 1).filter((m: any) => m.type === "presence")
      for (const m of after) expect(m.online.length).toBe(17)
    }
    for (const s of [...watchers, ...burst.slice(10)]) s.close()
  })

  it("drops a client that stays silent past the idle timeout", async () => {
    const t = await makeTeam(server.url, 0, "Idle")
    const s = await connect(server.url, { token: t.admin.token })
    // A paused socket reads nothing, so it never answers the server's pings.
    ;(s.ws as any)._socket.pause()
    await new Promise((r) => setTimeout(r, 2500))
    ;(s.ws as any)._socket.resume()
    const closed = await Promise.race([s.closed, new Promise((r) => setTimeout(() => r("still open"), 3000))])
    expect(closed).not.toBe("still open")
  })

  it("disconnects a consumer that cannot keep up, which then resumes from its last seq", async () => {
    const server = await startTestServer(store, { realtime: { maxBufferedBytes: 64 * 1024, slowConsumerMs: 500 } })
    try {
      await slowConsumer(server)
    } finally {
      await server.stop()
    }
  })

  const slowConsumer = async (server: TestServer) => {
    const t = await makeTeam(server.url, 0, "Slow")
    const big = { text: "x".repeat(64 * 1024) }
    const slow = await connect(server.url, { token: t.admin.token })
    slow.send({ type: "subscribe", channels: ["patterns"], after: 0 })
    await slow.waitFor((m) => m.type === "subscribed")
    ;(slow.ws as any)._socket.pause()
    // 12 MB of events: more than the kernel's socket buffers and the server's 64 KB allowance.
    for (let round = 0; round < 2; round++) {
      const batch = Array.from({ length: 100 }, (_, i) => ({
        client_action_id: `s${round}-${i}`,
        op: "upsert",
        name: `slow-${i}`,
        pattern: { content: big }
      }))
      const pushed = await request(server.url, "POST", "/api/sync/push", {
        token: t.admin.token,
        body: { device_id: "d", events: batch }
      })
      expect(pushed.json.last_seq).toBe(100 * (round + 1))
    }
    await new Promise((r) => setTimeout(r, 500))
    ;(slow.ws as any)._socket.resume()
    const closed = await slow.closed
    expect(closed.code).toBe(4008)
    const got = slow.messages.filter(isEvent).map((m) => m.seq)
    expect(got.length).toBeLessThan(200)
    expect(got).toEqual(got.map((_, i) => i + 1))
    const again = await connect(server.url, { token: t.admin.token })
    again.send({ type: "subscribe", channels: ["patterns"], after: got.length })
    await again.waitForCount(isEvent, 200 - got.length, 30_000)
    expect(again.messages.filter(isEvent).map((m) => m.seq)).toEqual(
      Array.from({ length: 200 - got.length }, (_, i) => got.length + i + 1)
    )
    again.close()
  }

  it("a client that resubscribes with `after` four times while a writer writes ends with every event exactly once", async () => {
    const t = await makeTeam(server.url, 0, "Resume")
    let writing = true
    let written = 0
    const writer = (async () => {
      while (writing) {
        const r = await create(server.url, t.admin.token, `resume-${written}`)
        if (r.status === 201) written++
      }
    })()
    const seen: number[] = []
    let cursor = 0
    for (let round = 0; round < 5; round++) {
      const s = await connect(server.url, { token: t.admin.token })
      s.send({ type: "subscribe", channels: ["patterns"], after: cursor })
      await s.waitFor((m) => m.type === "subscribed")
      await new Promise((r) => setTimeout(r, 150))
      for (const m of s.messages.filter(isEvent)) seen.push(m.seq)
      cursor = seen.length > 0 ? seen[seen.length - 1]! : 0
      s.ws.terminate()
    }
    writing = false
    await writer
    const last = await connect(server.url, { token: t.admin.token })
    last.send({ type: "subscribe", channels: ["patterns"], after: cursor })
    if (cursor < written) await last.waitForCount(isEvent, written - cursor)
    for (const m of last.messages.filter(isEvent)) seen.push(m.seq)
    last.close()
    expect(written).toBeGreaterThan(5)
    expect(seen).toEqual(Array.from({ length: written }, (_, i) => i + 1))
  })
})
