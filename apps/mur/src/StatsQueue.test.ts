import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { murHome } from "./MurHome.js"
import { deliverQueue, enqueue, makeRecord, readQueue, type UsageRecord } from "./StatsQueue.js"

const home = () => murHome(mkdtempSync(join(tmpdir(), "mur-queue-")))

describe("the stats queue", () => {
  it("checks records like the server, with a fresh UUID and time", () => {
    const r = makeRecord({ tool: "claude", action: "run", tokens_used: 3 })
    expect(r.id).toMatch(/^[0-9a-f-]{36}$/)
    expect(Date.parse(r.created_at)).toBeGreaterThan(0)
    expect(() => makeRecord({ tool: "", action: "run" })).toThrow()
    expect(() => makeRecord({ tool: "x", action: "run", duration_ms: 1.5 })).toThrow()
    expect(() => makeRecord({ tool: "x", action: "run", cost_usd: -1 })).toThrow()
  })

  it("keeps records until they are accepted, and sets aside one the server refuses", async () => {
    const h = home()
    const records = ["a", "b", "c", "bad", "d"].map((action) => makeRecord({ tool: "t", action }))
    for (const r of records) await Effect.runPromise(enqueue(h, r))
    expect(readQueue(h.statsQueue).map((r) => r.action)).toEqual(["a", "b", "c", "bad", "d"])

    // The server is down: nothing leaves the queue.
    const down = await Effect.runPromise(Effect.either(deliverQueue(h, () => Effect.fail("down" as const))))
    expect(down._tag).toBe("Left")
    expect(readQueue(h.statsQueue)).toHaveLength(5)

    const received: Array<string> = []
    const send = (batch: ReadonlyArray<UsageRecord>) =>
      batch.some((r) => r.action === "bad")
        ? Effect.fail("invalid" as const)
        : Effect.sync(() => {
            received.push(...batch.map((r) => r.action))
            return { accepted: batch.length, duplicates: 0 }
          })
    const report = await Effect.runPromise(deliverQueue(h, send, { batchSize: 2, isRejection: (e) => e === "invalid" }))
    expect(report).toEqual({ delivered: 4, duplicates: 0, pending: 0, rejected: 1 })
    expect(received.sort()).toEqual(["a", "b", "c", "d"])
    expect(readQueue(h.statsQueue)).toEqual([])
    expect(readFileSync(h.statsRejected, "utf8")).toContain('"action":"bad"')
  })

  it("loses no record when writers append at the same time", async () => {
    const h = home()
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => Effect.runPromise(enqueue(h, makeRecord({ tool: "t", action: `a${i}` }))))
    )
    expect(readQueue(h.statsQueue)).toHaveLength(40)
  })
})
