// The server side of the idle-socket benchmark (bench/sync.mjs, part c), in its own process
// so that its memory is its own and `gc()` is available:
//
//   node --expose-gc bench/sync-server.mjs mur|bare DIR [TEAMS]
//
// mur:  starts mur-server (library `startServer`) on a fresh SQLite file in DIR (which the
//       parent created and removes), registers TEAMS users (default 1), each with a team of
//       its own, and prints their access tokens.
// bare: a bare `ws` WebSocketServer on a node:http server; it answers
//       {"type":"subscribe"} with {"type":"subscribed",…} and otherwise only holds sockets.
//
// Talks JSON lines: prints {"type":"ready", url, tokens} once started; then reads commands on
// stdin, one per line:
//   mem   forces a full GC (three times) and prints {"type":"mem", rss, heapUsed, heapTotal,
//         external, arrayBuffers, sockets}
//   quit  closes the server and exits
// When stdin ends (the parent died), it closes the server and exits too.
import { createServer } from "node:http"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { setImmediate as tick } from "node:timers/promises"

const [mode, dir, teamsArg = "1"] = process.argv.slice(2)
if ((mode !== "mur" && mode !== "bare") || !dir) {
  process.stderr.write("usage: node --expose-gc bench/sync-server.mjs mur|bare DIR [TEAMS]\n")
  process.exit(2)
}
if (typeof globalThis.gc !== "function") {
  process.stderr.write("sync-server.mjs needs node --expose-gc\n")
  process.exit(2)
}
const TEAMS = Math.max(1, Number(teamsArg))
const SECRET = process.env.BENCH_SYNC_SECRET ?? `bench-secret-${process.pid}-${Date.now()}`

const print = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`)

const post = async (url, path, body, token) => {
  const res = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body)
  })
  const json = await res.json()
  if (res.status !== 201 && res.status !== 200)
    throw new Error(`POST ${path} answered ${res.status}: ${JSON.stringify(json)}`)
  return json
}

const startMur = async () => {
  const { startServer } = await import("@mur/server")
  const { Redacted } = await import("effect")
  const running = await startServer({
    port: 0,
    host: "127.0.0.1",
    database: { dialect: "sqlite", filename: join(dir, "mur.db") },
    logLevel: "none",
    rateLimits: { auth: 0, user: 0, team: 0 },
    engine: {
      jwtSecret: Redacted.make(SECRET),
      // Password hashing has nothing to do with sockets; the lowest cost keeps many users quick.
      bcryptCost: 4,
      allowSignup: true,
      baseUrl: "http://localhost",
      accessTokenTtlSeconds: 3600,
      refreshTokenTtlSeconds: 604800
    }
  })
  const tokens = []
  for (let i = 0; i < TEAMS; i++) {
    const { access_token } = await post(running.url, "/auth/register", {
      email: `idle${i}@example.com`,
      password: "correct horse battery staple",
      name: `Idle ${i}`
    })
    await post(running.url, "/api/team", { name: `Idle team ${i}` }, access_token)
    tokens.push(access_token)
  }
  return { url: running.url, tokens, sockets: () => running.app.connections(), close: () => running.close(1000) }
}

const startBare = async () => {
  const { WebSocketServer } = await import("ws")
  const server = createServer((_req, res) => {
    res.writeHead(404).end()
  })
  const wss = new WebSocketServer({ server, path: "/ws/sync", perMessageDeflate: false, maxPayload: 1024 * 1024 })
  wss.on("connection", (ws) => {
    ws.on("error", () => undefined)
    ws.on("message", (data) => {
      let msg
      try {
        msg = JSON.parse(data.toString())
      } catch {
        return
      }
      if (msg?.type === "subscribe")
        ws.send(JSON.stringify({ type: "subscribed", channels: msg.channels, last_seq: 0 }))
    })
  })
  await new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", 4096, () => resolve())
  })
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    tokens: ["none"],
    sockets: () => wss.clients.size,
    close: async () => {
      for (const ws of wss.clients) ws.terminate()
      await new Promise((resolve) => wss.close(() => resolve()))
      server.closeAllConnections()
      await new Promise((resolve) => server.close(() => resolve()))
    }
  }
}

let running = null
let stopping = null
const stop = (code) =>
  (stopping ??= (async () => {
    const force = setTimeout(() => process.exit(code), 10_000)
    force.unref()
    try {
      await running?.close()
    } catch (e) {
      process.stderr.write(`close failed: ${e?.message ?? e}\n`)
    }
    process.exit(code)
  })())

process.on("SIGTERM", () => stop(143))
process.on("SIGINT", () => stop(130))

try {
  running = mode === "mur" ? await startMur() : await startBare()
} catch (e) {
  process.stderr.write(`${e?.stack ?? e}\n`)
  await stop(1)
}

const memory = async () => {
  for (let i = 0; i < 3; i++) {
    globalThis.gc()
    await tick()
  }
  const m = process.memoryUsage()
  return {
    type: "mem",
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    sockets: running.sockets()
  }
}

const lines = createInterface({ input: process.stdin })
lines.on("line", (line) => {
  const command = line.trim()
  if (command === "mem") memory().then(print, (e) => print({ type: "error", message: String(e?.message ?? e) }))
  else if (command === "quit") void stop(0)
})
lines.on("close", () => void stop(0))

print({ type: "ready", url: running.url, tokens: running.tokens, pid: process.pid })
