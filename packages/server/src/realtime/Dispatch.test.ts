/** The dispatch table with a fake context: decoding errors that name the field, the admit seam. */
import type { PushResult, SyncServerMessage } from "@mur/domain"
import { describe, expect, it } from "vitest"
import type { Conn } from "./Conn.js"
import { type Admit, type DispatchContext, dispatch } from "./Dispatch.js"

const fakeContext = (admit: Admit = () => Promise.resolve(null)) => {
  const sent: Array<SyncServerMessage> = []
  const pushed: Array<Record<string, unknown>> = []
  const admitted: Array<string> = []
  const stats: Array<unknown> = []
  const ctx: DispatchContext = {
    hub: {
      loadHead: async () => 7,
      follow: (conn: Conn, cursor: number) => {
        conn.cursor = cursor
      },
      presenceTo: async () => undefined
    } as any,
    send: (_conn, message) => {
      sent.push(message)
      return true
    },
    admit: (conn, kind) => {
      admitted.push(kind)
      return admit(conn, kind)
    },
    push: async (_conn, event) => {
      pushed.push(event)
      return { client_action_id: event.client_action_id as string, status: "applied", seq: 8 } satisfies PushResult
    },
    recordStat: async (_conn, stat) => {
      stats.push(stat)
      return true
    }
  }
  const conn = { teamId: "t", cursor: -1, channels: new Set() } as unknown as Conn
  const handle = (message: unknown) =>
    dispatch(ctx, conn, typeof message === "string" ? message : JSON.stringify(message))
  return { ctx, conn, sent, pushed, admitted, stats, handle }
}

describe("dispatch", () => {
  it("answers messages that do not decode with an error naming the field", async () => {
    const t = fakeContext()
    await t.handle("{nope")
    await t.handle([1])
    await t.handle({ type: "teleport" })
    await t.handle({ type: "subscribe", channels: ["patterns", "gossip"] })
    await t.handle({ type: "subscribe", channels: [] })
    await t.handle({ type: "subscribe", after: -1 })
    await t.handle({ type: "pattern_created", client_action_id: "a1" })
    await t.handle({ type: "pattern_updated", pattern: "x" })
    await t.handle({ type: "pattern_deleted", client_action_id: "" })
    expect(t.sent).toEqual([
      { type: "error", code: "invalid_message", message: "The message is not valid JSON" },
      { type: "error", code: "invalid_message", message: "A message is a JSON object with a string `type`" },
      { type: "error", code: "invalid_message", message: "Unknown message type: teleport" },
      { type: "error", code: "invalid_message", message: "channels.1: must be patterns, stats or presence" },
      {
        type: "error",
        code: "invalid_message",
        message: "channels: must name at least one of patterns, stats, presence"
      },
      { type: "error", code: "invalid_message", message: "after: must be a whole number (a seq)" },
      { type: "error", code: "invalid_message", message: "pattern: is required", client_action_id: "a1" },
      { type: "error", code: "invalid_message", message: "pattern: must be an object", client_action_id: null },
      { type: "error", code: "invalid_message", message: "pattern_id: is required", client_action_id: null }
    ])
    expect(t.pushed).toEqual([])
    expect(t.admitted).toEqual([])
  })

  it("answers a bad stat_recorded as POST /api/stats would (invalid_request), with its client_action_id", async () => {
    const t = fakeContext()
    await t.handle({ type: "stat_recorded", stat: { tool: "", action: "run" }, client_action_id: "s1" })
    await t.handle({ type: "stat_recorded" })
    expect(t.sent).toEqual([
      { type: "error", code: "invalid_request", message: "stat.tool: tool must not be empty", client_action_id: "s1" },
      { type: "error", code: "invalid_request", message: "stat: is required", client_action_id: null }
    ])
    expect(t.stats).toEqual([])
  })

  it("subscribes from the head, or from `after`, and answers with the head", async () => {
    const t = fakeContext()
    await t.handle({ type: "subscribe" })
    expect(t.sent).toEqual([{ type: "subscribed", channels: ["patterns"], last_seq: 7 }])
    expect(t.conn.cursor).toBe(7)
    await t.handle({ type: "subscribe", channels: ["patterns", "stats"], after: 3 })
    expect(t.conn.cursor).toBe(3)
    expect([...t.conn.channels]).toEqual(["patterns", "stats"])
  })

  it("applies an admitted write like a push and acks it with the client's id", async () => {
    const t = fakeContext()
    await t.handle({
      type: "pattern_updated",
      pattern: { id: "00000000-0000-4000-8000-000000000001", name: "p", content: {} },
      base_version: 2,
      client_action_id: "w1"
    })
    await t.handle({ type: "pattern_deleted", pattern_id: "00000000-0000-4000-8000-000000000001" })
    expect(t.admitted).toEqual(["pattern_updated", "pattern_deleted"])
    expect(t.pushed[0]).toEqual({
      op: "upsert",
      pattern_id: "00000000-0000-4000-8000-000000000001",
      name: "p",
      base_version: 2,
      pattern: { id: "00000000-0000-4000-8000-000000000001", name: "p", content: {} },
      client_action_id: "w1"
    })
    // Without an id of its own, a write gets one (a push needs it) and is acked with null.
    expect(t.pushed[1]).toMatchObject({ op: "delete", client_action_id: expect.stringMatching(/^ws:/) })
    expect(t.sent).toEqual([
      { type: "ack", client_action_id: "w1", status: "applied", seq: 8 },
      { type: "ack", client_action_id: null, status: "applied", seq: 8 }
    ])
  })

  it("refuses writes and stats the admit seam refuses: rate_limited with retry_after, nothing applied", async () => {
    const t = fakeContext(async () => ({ message: "Too many requests; slow down", retryAfter: 12 }))
    await t.handle({ type: "pattern_created", pattern: { name: "p", content: {} }, client_action_id: "w1" })
    await t.handle({ type: "stat_recorded", stat: { tool: "claude", action: "run" } })
    await t.handle({ type: "ping" })
    expect(t.admitted).toEqual(["pattern_created", "stat_recorded"])
    expect(t.pushed).toEqual([])
    expect(t.stats).toEqual([])
    expect(t.sent).toEqual([
      {
        type: "error",
        code: "rate_limited",
        message: "Too many requests; slow down",
        retry_after: 12,
        client_action_id: "w1"
      },
      {
        type: "error",
        code: "rate_limited",
        message: "Too many requests; slow down",
        retry_after: 12,
        client_action_id: null
      },
      { type: "pong" }
    ])
  })
})
