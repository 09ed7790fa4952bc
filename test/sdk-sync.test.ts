/** The SDK's sync client: cursor, reconnect with backoff, resume; callbacks and Stream. */
import { createServer, connect as netConnect, type Socket } from "node:net"
import { connectSync, syncEvents } from "@mur/client"
import { Chunk, Effect, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request } from "./support/http.js"
import { startTestServer, type TestServer } from "./support/server.js"
import { makeTeam } from "./support/team.js"

/** A TCP proxy whose connections the test can cut, like a flaky network. */
const flakyProxy = async (target: URL) => {
  const pairs = new Set<Socket>()
  const proxy = createServer((client) => {
    const upstream = netConnect(Number(target.port), target.hostname)
    for (const s of [client, upstream]) {
      pairs.add(s)
      s.on("close", () => pairs.delete(s))
      s.on("error", () => undefined)
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r))
  const port = (proxy.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}`,
    cut: () => {
      for (const s of pairs) s.destroy()
    },
    close: () => new Promise<void>((r) => proxy.close(() => r()))
  }
}

describe("SDK sync client", () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer("sqlite")
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("delivers every event once, in order, across dropped connections", async () => {
    const t = await makeTeam(server.url, 1, "SDK")
    const seen: number[] = []
    const statuses: string[] = []
    const proxy = await flakyProxy(new URL(server.url))
    const conn = connectSync(
      { baseUrl: proxy.url, token: () => t.admin.token, after: 0, minDelayMs: 20, maxDelayMs: 100 },
      { onEvent: (e) => seen.push(e.seq), onStatus: (s) => statuses.push(s) }
    )
    let written = 0
    const write = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await request(server.url, "POST", "/api/patterns", {
          token: t.admin.token,
          body: { name: `sdk-${written}`, content: { i: written } }
        })
        expect(r.status).toBe(201)
        written++
      }
    }
    await write(5)
    for (let round = 0; round < 4; round++) {
      await new Promise((r) => setTimeout(r, 150))
      proxy.cut()
      await write(3)
    }
    const deadline = Date.now() + 10_000
    while (seen.length < written && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(seen).toEqual(Array.from({ length: written }, (_, i) => i + 1))
    expect(conn.cursor()).toBe(written)
    conn.close()
    await proxy.close()
    expect(statuses.filter((x) => x === "open").length).toBeGreaterThanOrEqual(4)
  })

  it("exposes events as an Effect Stream that resumes from a saved cursor", async () => {
    const t = await makeTeam(server.url, 0, "Stream")
    for (let i = 0; i < 6; i++) {
      await request(server.url, "POST", "/api/patterns", {
        token: t.admin.token,
        body: { name: `s-${i}`, content: {} }
      })
    }
    const events = await Effect.runPromise(
      syncEvents({ baseUrl: server.url, token: () => t.admin.token, after: 2 }).pipe(Stream.take(4), Stream.runCollect)
    )
    expect(Chunk.toReadonlyArray(events).map((e) => [e.seq, e.type])).toEqual([
      [3, "pattern_created"],
      [4, "pattern_created"],
      [5, "pattern_created"],
      [6, "pattern_created"]
    ])
  })

  it("fails the stream when the server refuses the credentials", async () => {
    const result = await Effect.runPromise(
      syncEvents({ baseUrl: server.url, token: () => "not-a-token" }).pipe(Stream.runCollect, Effect.either)
    )
    expect(result._tag).toBe("Left")
  })
})
