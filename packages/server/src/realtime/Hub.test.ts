/** The fan-out hub with fake sockets and a fake log: ordering, sharing, slow sockets, coalescing. */
import { randomUUID } from "node:crypto"
import type { PresenceEntry, SyncEvent, TodayStats } from "@mur/domain"
import { describe, expect, it } from "vitest"
import type { HubConn, SocketLike } from "./Conn.js"
import { type HubDeps, type HubOptions, makeHub } from "./Hub.js"

const TEAM = randomUUID()
const ACTOR = randomUUID()

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const until = async (ok: () => boolean, ms = 2000) => {
  const deadline = Date.now() + ms
  while (!ok()) {
    if (Date.now() > deadline) throw new Error("timed out")
    await sleep(2)
  }
}

/** The text of one unmasked WebSocket text frame (what `textFrame` builds). */
const frameText = (frame: Buffer) => {
  const head = frame[1]! < 126 ? 2 : frame[1] === 126 ? 4 : 10
  return frame.subarray(head).toString("utf8")
}

class FakeSocket implements SocketLike {
  bufferedAmount = 0
  readyState = 1
  /** Everything sent, in order: `ws.send` texts and frames written to the raw socket alike. */
  readonly received: Array<any> = []
  readonly frames: Array<Buffer> = []
  closedWith: { code: number; reason: string } | undefined
  /** When each `ws.send` came. */
  readonly sentAt: Array<number> = []
  send(text: string) {
    this.received.push(JSON.parse(text))
    this.sentAt.push(Date.now())
  }
  close(code: number, reason: string) {
    this.closedWith = { code, reason }
    this.readyState = 2
  }
  terminate() {
    this.readyState = 3
  }
}

interface FakeConn extends HubConn {
  readonly ws: FakeSocket
}

const fakeConn = (
  options: { teamId?: string; userId?: string; credential?: string; channels?: string[] } = {}
): FakeConn => {
  const ws = new FakeSocket()
  return {
    ws,
    raw: {
      write: (frame: Buffer) => {
        ws.frames.push(frame)
        ws.received.push(JSON.parse(frameText(frame)))
      }
    },
    teamId: options.teamId ?? TEAM,
    userId: options.userId ?? randomUUID(),
    credential: options.credential ?? `session:${randomUUID()}`,
    channels: new Set((options.channels ?? ["patterns"]) as any),
    cursor: -1,
    pumping: false,
    closed: false
  }
}

const event = (seq: number): SyncEvent =>
  ({
    seq,
    type: seq === 1 ? "pattern_created" : "pattern_updated",
    pattern_id: "00000000-0000-4000-8000-000000000001",
    version: seq,
    pattern: { id: "00000000-0000-4000-8000-000000000001", name: "p", version: seq },
    actor_id: ACTOR,
    device_id: null,
    created_at: new Date().toISOString()
  }) as any

/** A team's log in memory, and counts of what the hub read. */
const fakeDeps = (overrides: Partial<HubDeps> = {}) => {
  const log = new Map<string, Array<SyncEvent>>()
  const reads: Array<{ teamId: string; after: number; limit: number }> = []
  const counts = { delivered: 0, online: 0, stats: 0 }
  const warnings: Array<unknown> = []
  const append = (teamId: string, n: number) => {
    const events = log.get(teamId) ?? []
    for (let i = 0; i < n; i++) events.push(event(events.length + 1))
    log.set(teamId, events)
    return events.length
  }
  const deps: HubDeps = {
    readLog: async (teamId, after, limit) => {
      reads.push({ teamId, after, limit })
      await sleep(1)
      return (log.get(teamId) ?? [])
        .filter((e) => e.seq > after)
        .slice(0, limit)
        .map((e) => ({ event: e, actorName: "Ann" }))
    },
    lastSeq: async (teamId) => (log.get(teamId) ?? []).length,
    online: async (teamId) => {
      counts.online++
      await sleep(20)
      return [{ user_id: ACTOR, name: `Ann ${teamId.slice(0, 4)}`, device_id: null, since: "2026-01-01T00:00:00.000Z" }]
    },
    todayStats: async () => {
      counts.stats++
      return { date: "2026-01-01", runs: counts.stats, duration_ms: 0, tokens: 0, cost_usd: 0, by_tool: [] }
    },
    member: async (_teamId, userId) => ({ id: userId, name: "Newcomer" }),
    delivered: (n) => {
      counts.delivered += n
    },
    logWarning: (_m, e) => warnings.push(e),
    logError: (_m, e) => warnings.push(e),
    ...overrides
  }
  return { deps, log, reads, counts, warnings, append }
}

const seqs = (conn: FakeConn) => conn.ws.received.filter((m) => typeof m.seq === "number").map((m) => m.seq)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)
const options: HubOptions = { maxBufferedBytes: 1000, slowConsumerMs: 60 }

/** Subscribes a socket to the patterns channel as the dispatch table does. */
const subscribe = async (hub: ReturnType<typeof makeHub<FakeConn>>, conn: FakeConn, after?: number) => {
  hub.add(conn)
  const head = await hub.loadHead(conn.teamId)
  hub.follow(conn, after ?? head)
  return head
}

describe("Hub", () => {
  it("replays a backlog from the log, then sends live events from the ring: each once, in order", async () => {
    const f = fakeDeps()
    f.append(TEAM, 3)
    const hub = makeHub<FakeConn>(f.deps, options)
    const conn = fakeConn()
    expect(await subscribe(hub, conn, 0)).toBe(3)
    await until(() => seqs(conn).length === 3)
    expect(conn.ws.frames).toHaveLength(0) // the backlog came from the log, sent one by one
    const head = f.append(TEAM, 3)
    hub.onNotice({ kind: "events", teamId: TEAM, seq: head })
    await until(() => seqs(conn).length === 6)
    expect(seqs(conn)).toEqual(range(1, 6))
    expect(conn.ws.frames).toHaveLength(3)
    expect(conn.ws.received[3]).toMatchObject({ type: "pattern_updated", seq: 4, user: { id: ACTOR, name: "Ann" } })
    expect(f.counts.delivered).toBe(6)
  })

  it("folds a burst of notices into one more read of the log and writes one shared frame to every socket", async () => {
    const f = fakeDeps()
    const hub = makeHub<FakeConn>(f.deps, options)
    const conns = Array.from({ length: 50 }, () => fakeConn())
    for (const c of conns) await subscribe(hub, c)
    const head = f.append(TEAM, 1)
    for (let i = 0; i < 5; i++) hub.onNotice({ kind: "events", teamId: TEAM, seq: head })
    await until(() => conns.every((c) => seqs(c).length === 1))
    await sleep(10)
    // One read, and one more for the notices that came during it (which finds nothing new).
    expect(f.reads).toHaveLength(2)
    const frame = conns[0]!.ws.frames[0]
    for (const c of conns) expect(c.ws.frames[0]).toBe(frame) // the same Buffer, not a copy
    // Delivery to caught-up sockets is synchronous: every socket had it when the read returned.
    expect(f.counts.delivered).toBe(50)
  })

  it("sends a socket that fell behind the ring the gap from the log, then goes on from the ring", async () => {
    const f = fakeDeps()
    const hub = makeHub<FakeConn>(f.deps, { ...options, ringSize: 4, pageSize: 3 })
    const watcher = fakeConn()
    await subscribe(hub, watcher)
    for (let i = 0; i < 5; i++) {
      const head = f.append(TEAM, 2)
      hub.onNotice({ kind: "events", teamId: TEAM, seq: head })
      await until(() => seqs(watcher).length === head)
    }
    const late = fakeConn()
    await subscribe(hub, late, 0)
    await until(() => seqs(late).length === 10)
    expect(seqs(late)).toEqual(range(1, 10))
    expect(late.ws.frames.map((b) => JSON.parse(frameText(b)).seq)).toEqual([7, 8, 9, 10]) // the ring's four
    expect(seqs(watcher)).toEqual(range(1, 10))
  })

  it("pauses a socket over its allowance, resumes it once drained, and closes one that stays over (4008)", async () => {
    const f = fakeDeps()
    const hub = makeHub<FakeConn>(f.deps, { ...options, slowConsumerMs: 500 })
    const draining = fakeConn()
    const stuck = fakeConn()
    await subscribe(hub, draining)
    await subscribe(hub, stuck)
    draining.ws.bufferedAmount = 1500
    stuck.ws.bufferedAmount = 1500
    const head = f.append(TEAM, 2)
    hub.onNotice({ kind: "events", teamId: TEAM, seq: head })
    await sleep(20)
    expect(seqs(draining)).toEqual([])
    draining.ws.bufferedAmount = 0
    await until(() => seqs(draining).length === 2)
    await until(() => stuck.ws.closedWith !== undefined)
    expect(stuck.ws.closedWith).toEqual({ code: 4008, reason: "too slow: resume with after=0" })
    expect(seqs(stuck)).toEqual([])
  })

  it("closes a socket far past its allowance at the next send (4008) instead of writing to it", async () => {
    const f = fakeDeps()
    const hub = makeHub<FakeConn>(f.deps, options)
    const conn = fakeConn()
    hub.add(conn)
    conn.ws.bufferedAmount = 4001
    expect(hub.send(conn, JSON.stringify({ type: "pong" }))).toBe(false)
    expect(conn.ws.closedWith?.code).toBe(4008)
    expect(conn.ws.received).toEqual([])
  })

  it("folds presence notices that come during a read into one more read, for presence subscribers only", async () => {
    const f = fakeDeps()
    const hub = makeHub<FakeConn>(f.deps, options)
    const listener = fakeConn({ channels: ["presence"] })
    const other = fakeConn({ channels: ["patterns"] })
    hub.add(listener)
    hub.add(other)
    const quiet = fakeConn({ teamId: randomUUID(), channels: ["patterns"] })
    hub.add(quiet)
    for (let i = 0; i < 10; i++) {
      hub.onNotice({ kind: "presence", teamId: TEAM })
      hub.onNotice({ kind: "presence", teamId: quiet.teamId })
    }
    await until(() => listener.ws.received.length === 2)
    await sleep(40)
    expect(f.counts.online).toBe(2) // one read, and one more for the notices during it
    expect(listener.ws.received.map((m) => m.type)).toEqual(["presence", "presence"])
    expect((listener.ws.received[0].online as Array<PresenceEntry>)[0]).toMatchObject({ user_id: ACTOR })
    expect(other.ws.received).toEqual([])
    expect(quiet.ws.received).toEqual([])
  })

  it("sends stats subscribers at most one stats_updated per interval, read when it goes out", async () => {
    const f = fakeDeps()
    const hub = makeHub<FakeConn>(f.deps, { ...options, statsIntervalMs: 50 })
    const watcher = fakeConn({ channels: ["stats"] })
    const other = fakeConn({ channels: ["patterns", "presence"] })
    hub.add(watcher)
    hub.add(other)
    for (let i = 0; i < 20; i++) hub.onNotice({ kind: "stats", teamId: TEAM })
    await until(() => watcher.ws.received.length === 1)
    hub.onNotice({ kind: "stats", teamId: TEAM })
    hub.onNotice({ kind: "stats", teamId: TEAM })
    await until(() => watcher.ws.received.length === 2)
    const [first, second] = watcher.ws.sentAt
    expect(second! - first!).toBeGreaterThanOrEqual(45) // the second waited for the interval
    await sleep(60)
    expect(watcher.ws.received.map((m) => (m.summary as TodayStats).runs)).toEqual([1, 2])
    expect(watcher.ws.received[0].type).toBe("stats_updated")
    expect(other.ws.received).toEqual([])
    hub.stop()
  })

  it("closes the sockets of a revoked login, key or user (4401) and of a removed member (4403)", async () => {
    const f = fakeDeps()
    const hub = makeHub<FakeConn>(f.deps, options)
    const user = randomUUID()
    const bySession = fakeConn({ credential: "session:s1" })
    const byKey = fakeConn({ credential: "api_key:k1" })
    const byUser = fakeConn({ userId: user })
    const leaving = fakeConn({ userId: randomUUID() })
    const staying = fakeConn()
    for (const c of [bySession, byKey, byUser, leaving, staying]) hub.add(c)
    hub.onNotice({ kind: "revoked", credential: "session", id: "s1" })
    hub.onNotice({ kind: "revoked", credential: "api_key", id: "k1" })
    hub.onNotice({ kind: "revoked", credential: "user", id: user })
    for (const c of [bySession, byKey, byUser]) expect(c.ws.closedWith?.code).toBe(4401)
    hub.onNotice({ kind: "member", teamId: TEAM, userId: leaving.userId, joined: false })
    expect(leaving.ws.closedWith?.code).toBe(4403)
    expect(staying.ws.received).toEqual([{ type: "member_left", user_id: leaving.userId }])
    const newcomer = randomUUID()
    hub.onNotice({ kind: "member", teamId: TEAM, userId: newcomer, joined: true })
    await until(() => staying.ws.received.length === 2)
    expect(staying.ws.received[1]).toEqual({ type: "member_joined", user: { id: newcomer, name: "Newcomer" } })
    expect(staying.ws.closedWith).toBeUndefined()
  })

  it("forgets a team with its last socket, and catches up on a head moved without a notice", async () => {
    const f = fakeDeps()
    const hub = makeHub<FakeConn>(f.deps, options)
    const gone = fakeConn({ teamId: randomUUID() })
    await subscribe(hub, gone)
    hub.remove(gone)
    expect(hub.conns.size).toBe(0)
    hub.onNotice({ kind: "events", teamId: gone.teamId, seq: f.append(gone.teamId, 1) })
    await sleep(10)
    expect(f.reads).toEqual([])

    const conn = fakeConn()
    await subscribe(hub, conn)
    f.append(TEAM, 2) // no notice: a lost one
    hub.checkHeads()
    await until(() => seqs(conn).length === 2)
    expect(seqs(conn)).toEqual([1, 2])
  })
})
