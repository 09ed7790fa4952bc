/** Stats over `/ws/sync` on both stores: `stat_recorded` in, coalesced `stats_updated` out. */
import { randomUUID } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request } from "./support/http.js"
import { startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"
import { makeTeam } from "./support/team.js"
import { connect, type SyncSocket } from "./support/ws.js"

const isUpdate = (m: any) => m.type === "stats_updated"

/** Arrival times of a socket's `stats_updated` messages. */
const updateTimes = (s: SyncSocket) => {
  const times: number[] = []
  s.ws.on("message", (data) => {
    if (JSON.parse(data.toString()).type === "stats_updated") times.push(Date.now())
  })
  return times
}

describe.each(STORES)("stats in real time on %s", (store) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer(store, { jobs: { enabled: false } })
  })
  afterAll(async () => {
    await server?.stop()
  })

  const subscribed = async (token: string, channels: string[]) => {
    const s = await connect(server.url, { token })
    s.send({ type: "subscribe", channels })
    await s.waitFor((m) => m.type === "subscribed")
    return s
  }

  it("stat_recorded is ingested like POST /api/stats: acked, idempotent, validated", async () => {
    const t = await makeTeam(server.url, 1, "WS stats")
    const member = t.members[0]!
    const s = await subscribed(member.token, ["patterns"])
    const stat = { id: randomUUID(), tool: "claude", action: "run", tokens_used: 5, cost_usd: 0.1, duration_ms: 30 }
    s.send({ type: "stat_recorded", stat, client_action_id: "s1" })
    expect(await s.waitFor((m) => m.type === "ack")).toEqual({ type: "ack", client_action_id: "s1", status: "applied" })
    s.send({ type: "stat_recorded", stat, client_action_id: "s2" })
    expect(await s.waitFor((m) => m.type === "ack" && m.client_action_id === "s2")).toEqual({
      type: "ack",
      client_action_id: "s2",
      status: "duplicate"
    })
    s.send({ type: "stat_recorded", stat: { tool: "", action: "run" }, client_action_id: "s3" })
    const bad = await s.waitFor((m) => m.type === "error")
    expect(bad).toMatchObject({ code: "invalid_request", client_action_id: "s3" })
    expect(bad.message).toContain("stat.tool")
    s.send({ type: "stat_recorded" })
    await s.waitFor((m) => m.type === "error" && m.client_action_id === null)
    // The connection stays open after a bad message.
    s.send({ type: "ping" })
    await s.waitFor((m) => m.type === "pong")

    const me = await request(server.url, "GET", "/api/stats/me", { token: member.token })
    expect(me.json.stats).toMatchObject({ runs: 1, tokens: 5, cost_usd: 0.1, duration_ms: 30 })
    const team = await request(server.url, "GET", "/api/stats/team", { token: t.admin.token })
    expect(team.json.members.find((m: any) => m.user_id === member.id)).toMatchObject({ runs: 1 })
    s.close()
  })

  it("stats subscribers get the team's summary for today, at most once a second, and only their team's", async () => {
    const t = await makeTeam(server.url, 1, "Live stats")
    const other = await makeTeam(server.url, 0, "Other stats")
    const watcher = await subscribed(t.admin.token, ["stats"])
    const times = updateTimes(watcher)
    const patternsOnly = await subscribed(t.members[0]!.token, ["patterns", "presence"])
    const stranger = await subscribed(other.admin.token, ["stats"])

    const first = await request(server.url, "POST", "/api/stats", {
      token: t.members[0]!.token,
      body: { stats: [{ tool: "claude", action: "run", tokens_used: 10, cost_usd: 0.1 }] }
    })
    expect(first.status).toBe(202)
    const update = await watcher.waitFor(isUpdate)
    expect(update.summary).toEqual({
      date: new Date().toISOString().slice(0, 10),
      runs: 1,
      duration_ms: 0,
      tokens: 10,
      cost_usd: 0.1,
      by_tool: [{ tool: "claude", runs: 1, duration_ms: 0, tokens: 10, cost_usd: 0.1 }]
    })

    // A burst of 30 ingests (some over the socket) is coalesced: a message a second at most,
    // and the last one carries every record.
    const started = Date.now()
    for (let i = 0; i < 30; i++) {
      if (i % 3 === 0) {
        patternsOnly.send({ type: "stat_recorded", stat: { tool: "codex", action: "run", cost_usd: 0.1 } })
      } else {
        const r = await request(server.url, "POST", "/api/stats", {
          token: t.admin.token,
          body: { stats: [{ tool: "codex", action: "run", cost_usd: 0.1 }] }
        })
        expect(r.status).toBe(202)
      }
    }
    await patternsOnly.waitForCount((m) => m.type === "ack", 10)
    const last = await watcher.waitFor((m) => isUpdate(m) && m.summary.runs === 31, 5000)
    expect(last.summary.cost_usd).toBe(3.1)
    await new Promise((r) => setTimeout(r, 1200))
    const elapsed = Date.now() - started
    const burst = times.slice(1)
    expect(burst.length).toBeGreaterThanOrEqual(1)
    expect(burst.length).toBeLessThanOrEqual(Math.ceil(elapsed / 1000) + 1)
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(900)
    expect(watcher.messages.filter(isUpdate).at(-1).summary.runs).toBe(31)

    expect(stranger.messages.filter(isUpdate)).toEqual([])
    expect(patternsOnly.messages.filter(isUpdate)).toEqual([])
    for (const s of [watcher, patternsOnly, stranger]) s.close()
  })
})
