// Sync and real-time benchmarks (issue 4), each beside a baseline measured in the same run.
// See bench/README.md ("Sync").
//
//   npm run build && node bench/sync.mjs
//
// (a) fan-out   1,000 subscribed sockets of one team; 200 PUT /api/patterns/:id; deliveries/s
//               and delivery latency, against a bare `ws` server broadcasting the same messages
// (b) push      POST /api/sync/push in batches of 500 events, against raw inserts of the same
//               rows with the same driver (better-sqlite3 / pg), one transaction per batch: one
//               prepared statement per row (the baseline the issue names), and the same rows
//               with one multi-row statement per table (how mur-server writes them)
// (c) idle      10,000 idle authenticated sockets on one mur-server process (bench/sync-server.mjs,
//               node --expose-gc): server memory per socket, against a bare `ws` server
//
// Environment (defaults in brackets):
//   BENCH_SYNC_ONLY            comma list of fanout,push,idle [all three]
//   BENCH_SYNC_SOCKETS         fan-out sockets [1000]
//   BENCH_SYNC_UPDATES         pattern updates per fan-out round [200]
//   BENCH_SYNC_ROUNDS          fan-out rounds per server, ABBA order [4]
//   BENCH_SYNC_WRITERS         concurrent writers (PUTs in flight) in the fan-out [1]
//   BENCH_SYNC_FANOUT_STORES   stores for the fan-out [sqlite]
//   BENCH_SYNC_PUSH_STORES     stores for the push benchmark [sqlite,postgres]
//   BENCH_SYNC_BATCH           events per push [500]
//   BENCH_SYNC_BATCHES         pushes per store and side [10]
//   BENCH_SYNC_IDLE            idle sockets [10000]
//   BENCH_SYNC_IDLE_CHILDREN   client processes holding them [4]
//   BENCH_SYNC_IDLE_TEAMS      users (each with a team) the idle sockets are spread over [100];
//                              1 puts all of them in one team, which is slow to connect: every
//                              join re-reads and re-serialises the team's whole presence list
//   BENCH_SYNC_BUDGET          whole-run bound in seconds [230]
//   BENCH_PG_URL               admin URL for throwaway databases
//                              [postgres://postgres@127.0.0.1:5432/test]
//   BENCH_JSON                 also print every result as JSON
//
// The same file is also the client process of (a) and (c) (`--fanout-clients`,
// `--idle-clients`), so that the sockets' work never shares the server's event loop.

import { spawn } from "node:child_process"
import { randomBytes, randomUUID } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import http from "node:http"
import { availableParallelism, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { fmt, table } from "./format.mjs"

const HERE = dirname(fileURLToPath(import.meta.url))
const SELF = fileURLToPath(import.meta.url)

// ---------------------------------------------------------------------------------------
// Small shared helpers

const percentile = (sorted, p) => {
  if (sorted.length === 0) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const log = (s) => process.stderr.write(s)
const print = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`)

/** A pattern document of a realistic size; `bench_i`/`bench_t` identify and time it. */
const makeContent = (i, t) => ({
  bench_i: i,
  bench_t: t,
  kind: "prompt",
  description: "Summarise a pull request for reviewers: what changed, why, and what to check first.",
  steps: [
    { role: "system", text: "You are a careful reviewer. Be brief and concrete." },
    { role: "user", text: "Summarise the diff below in five bullet points, most important first.\n{{diff}}" }
  ],
  variables: { diff: { required: true, max_bytes: 65536 } }
})

/** Max open files of this process (Linux), soft and hard; null elsewhere. */
const openFileLimits = () => {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"))
    const [soft, hard] = line.replace("Max open files", "").trim().split(/\s+/)
    return {
      soft: soft === "unlimited" ? Infinity : Number(soft),
      hard: hard === "unlimited" ? Infinity : Number(hard)
    }
  } catch {
    return null
  }
}
const portRange = () => {
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number)
    return { lo, hi, size: hi - lo + 1 }
  } catch {
    return null
  }
}

/**
 * Opens `n` sockets (at most `inFlight` handshakes at a time), sends each a subscribe and
 * waits for its `subscribed`. `urlOf(i)` gives socket i's URL; `onMessage(i, data)` sees every
 * later message. Returns the open sockets (by index; null where it failed) and the failures.
 */
const connectMany = async (WebSocket, n, urlOf, { inFlight = 64, timeoutMs = 60_000, onMessage } = {}) => {
  const sockets = new Array(n).fill(null)
  let failed = 0
  let sample = null
  let next = 0
  const deadline = Date.now() + timeoutMs
  const one = (i) =>
    new Promise((resolve) => {
      const ws = new WebSocket(urlOf(i), { perMessageDeflate: false })
      let subscribed = false
      let timer = null
      const fail = (why) => {
        if (subscribed) return
        subscribed = true // settle once
        clearTimeout(timer)
        failed++
        if (sample === null) sample = why
        ws.terminate()
        resolve()
      }
      timer = setTimeout(() => fail("timed out"), Math.max(1000, deadline - Date.now()))
      ws.on("unexpected-response", (_req, res) => {
        let body = ""
        res.on("data", (d) => {
          body += d
        })
        res.on("end", () => fail(`HTTP ${res.statusCode} ${body.slice(0, 200)}`))
      })
      ws.on("error", (e) => fail(String(e?.message ?? e)))
      ws.on("open", () => ws.send('{"type":"subscribe","channels":["patterns"]}'))
      ws.on("message", (data) => {
        if (!subscribed) {
          const text = data.toString()
          if (text.startsWith('{"type":"subscribed"')) {
            subscribed = true
            clearTimeout(timer)
            sockets[i] = ws
            resolve()
          }
          return
        }
        onMessage?.(i, data)
      })
    })
  const worker = async () => {
    while (next < n && Date.now() < deadline) await one(next++)
  }
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, worker))
  failed += n - next
  return { sockets, failed, sample }
}

// =======================================================================================
// Child: the fan-out clients. Commands on stdin (JSON lines), results on stdout.
//   {cmd:"connect", target, url (ws base), token, n}      -> {type:"connected", target, ok, failed, ms, sample}
//   {cmd:"run", target, url (http base), token, path, updates, writers, base}
//                                                          -> {type:"round", target, ...}
//   {cmd:"summary"}                                        -> {type:"summary", targets:{...}}
//   {cmd:"close"}                                          -> closes everything and exits
// All times are this process's performance.now(): the write stamp and the receive time come
// from the same clock.

const fanoutClients = async () => {
  const { default: WebSocket } = await import("ws")
  const targets = new Map()
  /** The round being measured, per target. */
  const current = new Map()

  const onMessage = (target) => (i, data) => {
    const now = performance.now()
    const run = current.get(target)
    const text = data.toString()
    if (run === undefined || !text.startsWith('{"type":"pattern_updated"')) {
      if (run) run.other++
      return
    }
    const a = text.indexOf('"bench_i":')
    const b = text.indexOf('"bench_t":')
    const q = text.indexOf('"seq":')
    if (a < 0 || b < 0 || q < 0) {
      run.other++
      return
    }
    const idx = Number.parseInt(text.slice(a + 10, a + 24), 10)
    const sent = Number.parseFloat(text.slice(b + 10, b + 40))
    // Every socket must see the team's events in seq order, each once, none missing.
    const seq = Number.parseInt(text.slice(q + 6, q + 26), 10)
    const last = run.lastSeq[i]
    if (last >= 0 && seq !== last + 1) {
      if (seq <= last) run.dupes++
      else run.gaps++
    }
    if (seq > last) run.lastSeq[i] = seq
    if (idx < run.base || idx >= run.base + run.updates) {
      run.other++
      return
    }
    run.latencies[run.received++] = now - sent
    run.bytes += data.length
    run.perSocket[i]++
    if (run.perSocket[i] === run.updates) run.complete++
    run.lastAt = now
    if (run.complete === run.open) run.done()
  }

  const put = (agent, url, path, token, body) =>
    new Promise((resolve) => {
      const u = new URL(path, url)
      const req = http.request(
        {
          agent,
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: "PUT",
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            authorization: `Bearer ${token}`
          }
        },
        (res) => {
          const chunks = []
          res.on("data", (c) => chunks.push(c))
          res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }))
          res.on("error", (e) => resolve({ status: 0, body: String(e?.message) }))
        }
      )
      req.on("error", (e) => resolve({ status: 0, body: String(e?.message) }))
      req.end(body)
    })

  const runRound = async ({ target, url, token, path, updates, writers, base, timeoutMs }) => {
    const t = targets.get(target)
    const open = t.sockets.filter((s) => s !== null && s.readyState === 1).length
    const run = {
      base,
      updates,
      open,
      received: 0,
      complete: 0,
      bytes: 0,
      dupes: 0,
      gaps: 0,
      other: 0,
      lastAt: 0,
      latencies: new Float64Array(open * updates),
      perSocket: new Int32Array(t.sockets.length),
      lastSeq: t.lastSeq,
      done: () => undefined
    }
    const finished = new Promise((resolve) => {
      run.done = resolve
    })
    current.set(target, run)
    const agent = new http.Agent({ keepAlive: true, maxSockets: writers })
    const putLatencies = []
    let failures = 0
    let failure = null
    let nextK = 0
    const cpuBefore = process.cpuUsage()
    const firstAt = performance.now()
    const writer = async () => {
      while (nextK < updates && failures === 0) {
        const k = nextK++
        const started = performance.now()
        const body = JSON.stringify({ content: makeContent(base + k, started) })
        const res = await put(agent, url, path, token, body)
        putLatencies.push(performance.now() - started)
        if (res.status !== 200) {
          failures++
          failure ??= `PUT answered ${res.status}: ${res.body.slice(0, 300)}`
        }
      }
    }
    await Promise.all(Array.from({ length: writers }, writer))
    const writesDone = performance.now()
    let timedOut = false
    if (failures === 0 && run.complete < open) {
      const timer = sleep(timeoutMs).then(() => {
        timedOut = true
      })
      await Promise.race([finished, timer])
    }
    current.delete(target)
    agent.destroy()
    const lat = run.latencies.subarray(0, run.received).sort()
    t.all.push(lat)
    const elapsed = (run.lastAt || performance.now()) - firstAt
    const cpu = process.cpuUsage(cpuBefore)
    const putSorted = Float64Array.from(putLatencies).sort()
    const result = {
      type: "round",
      target,
      ok: failures === 0 && !timedOut && run.received === open * updates && run.dupes === 0 && run.gaps === 0,
      sockets: open,
      updates,
      deliveries: run.received,
      expected: open * updates,
      elapsed_ms: elapsed,
      writes_ms: writesDone - firstAt,
      rate: run.received / (elapsed / 1000),
      p50_ms: percentile(lat, 50),
      p99_ms: percentile(lat, 99),
      max_ms: percentile(lat, 100),
      put_p50_ms: percentile(putSorted, 50),
      put_p99_ms: percentile(putSorted, 99),
      message_bytes: run.received > 0 ? run.bytes / run.received : null,
      client_cpu_ms: (cpu.user + cpu.system) / 1000,
      dupes: run.dupes,
      gaps: run.gaps,
      other: run.other,
      timed_out: timedOut,
      failure
    }
    t.rounds.push(result)
    return result
  }

  const summary = () => {
    const out = {}
    for (const [name, t] of targets) {
      const rounds = t.rounds
      const total = rounds.reduce((a, r) => a + r.deliveries, 0)
      const ms = rounds.reduce((a, r) => a + r.elapsed_ms, 0)
      const size = t.all.reduce((a, l) => a + l.length, 0)
      const all = new Float64Array(size)
      let o = 0
      for (const l of t.all) {
        all.set(l, o)
        o += l.length
      }
      all.sort()
      const puts = rounds.map((r) => r.put_p50_ms)
      out[name] = {
        ok: rounds.length > 0 && rounds.every((r) => r.ok),
        sockets: rounds[0]?.sockets ?? 0,
        updates: rounds.reduce((a, r) => a + r.updates, 0),
        deliveries: total,
        expected: rounds.reduce((a, r) => a + r.expected, 0),
        elapsed_ms: ms,
        rate: ms > 0 ? total / (ms / 1000) : 0,
        rounds: rounds.map((r) => Math.round(r.rate)),
        p50_ms: percentile(all, 50),
        p90_ms: percentile(all, 90),
        p99_ms: percentile(all, 99),
        max_ms: percentile(all, 100),
        put_p50_ms: puts.length ? puts.sort((a, b) => a - b)[Math.floor(puts.length / 2)] : null,
        message_bytes: rounds.reduce((a, r) => a + (r.message_bytes ?? 0) * r.deliveries, 0) / Math.max(1, total),
        client_cpu_pct: ms > 0 ? (100 * rounds.reduce((a, r) => a + r.client_cpu_ms, 0)) / ms : null,
        dupes: rounds.reduce((a, r) => a + r.dupes, 0),
        gaps: rounds.reduce((a, r) => a + r.gaps, 0)
      }
    }
    return { type: "summary", targets: out }
  }

  const closeAll = () => {
    for (const t of targets.values()) for (const s of t.sockets) s?.terminate()
  }

  const lines = createInterface({ input: process.stdin })
  let queue = Promise.resolve()
  lines.on("line", (line) => {
    queue = queue.then(async () => {
      const msg = JSON.parse(line)
      try {
        if (msg.cmd === "connect") {
          const started = performance.now()
          const { sockets, failed, sample } = await connectMany(
            WebSocket,
            msg.n,
            (i) => `${msg.url}/ws/sync?token=${encodeURIComponent(msg.token)}&device_id=fan-${i}`,
            { inFlight: 64, timeoutMs: msg.timeoutMs, onMessage: onMessage(msg.target) }
          )
          targets.set(msg.target, { sockets, lastSeq: new Float64Array(msg.n).fill(-1), rounds: [], all: [] })
          for (const [i, s] of sockets.entries()) {
            s?.on("close", () => {
              const t = targets.get(msg.target)
              if (t) t.closed = (t.closed ?? 0) + 1
              sockets[i] = null
            })
          }
          print({
            type: "connected",
            target: msg.target,
            ok: sockets.filter(Boolean).length,
            failed,
            ms: performance.now() - started,
            sample
          })
        } else if (msg.cmd === "run") {
          print(await runRound(msg))
        } else if (msg.cmd === "summary") {
          print(summary())
        } else if (msg.cmd === "close") {
          closeAll()
          setTimeout(() => process.exit(0), 100)
        }
      } catch (e) {
        print({ type: "error", message: String(e?.stack ?? e) })
      }
    })
  })
  lines.on("close", () => {
    closeAll()
    process.exit(0)
  })
}

// =======================================================================================
// Child: idle clients. `--idle-clients WS_BASE TOKENS_JSON N OFFSET`: opens N subscribed
// sockets (socket i uses token (OFFSET+i) mod tokens), prints {type:"ready", ok, failed, ms},
// then holds them until "close" or the end of stdin.

const idleClients = async () => {
  const [url, tokensJson, nArg, offsetArg, timeoutArg = "120000"] = process.argv.slice(3)
  const tokens = JSON.parse(tokensJson)
  const n = Number(nArg)
  const offset = Number(offsetArg)
  const { default: WebSocket } = await import("ws")
  const started = performance.now()
  let closedByServer = 0
  const { sockets, failed, sample } = await connectMany(
    WebSocket,
    n,
    (i) =>
      `${url}/ws/sync?token=${encodeURIComponent(tokens[(offset + i) % tokens.length])}&device_id=idle-${offset + i}`,
    { inFlight: 32, timeoutMs: Number(timeoutArg) }
  )
  for (const s of sockets) s?.on("close", () => closedByServer++)
  print({ type: "ready", ok: sockets.filter(Boolean).length, failed, ms: performance.now() - started, sample })
  const end = () => {
    for (const s of sockets) s?.terminate()
    setTimeout(() => process.exit(0), 50)
  }
  const lines = createInterface({ input: process.stdin })
  lines.on("line", (line) => {
    if (line.trim() === "count")
      print({ type: "count", open: sockets.filter((s) => s?.readyState === 1).length, closedByServer })
    if (line.trim() === "close") end()
  })
  lines.on("close", end)
}

// =======================================================================================
// The benchmark process

// -------------------------------------------------------------------------------------
// Cleanup: every resource registers its release; run in reverse, even on failure.

const cleanups = []
const children = new Set()
const onCleanup = (name, f) => {
  const entry = { name, f }
  cleanups.push(entry)
  return async () => {
    const i = cleanups.indexOf(entry)
    if (i >= 0) {
      cleanups.splice(i, 1)
      await f()
    }
  }
}
const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: timed out`)), ms).unref())])
let cleaning = null
const cleanupAll = () =>
  (cleaning ??= (async () => {
    for (const c of children) c.kill("SIGKILL")
    while (cleanups.length > 0) {
      const { name, f } = cleanups.pop()
      try {
        await withTimeout(Promise.resolve().then(f), 15_000, `cleanup ${name}`)
      } catch (e) {
        log(`cleanup ${name} failed: ${e?.message ?? e}\n`)
      }
    }
  })().finally(() => {
    cleaning = null
  }))
let exiting = false
const abort = async (code, message) => {
  if (exiting) return
  exiting = true
  log(`\n${message}\n`)
  await cleanupAll()
  process.exit(code)
}
process.on("SIGINT", () => abort(130, "interrupted; cleaning up"))
process.on("SIGTERM", () => abort(143, "terminated; cleaning up"))

const main = async () => {
  const { startServer } = await import("@mur/server")
  const { default: Database } = await import("better-sqlite3")
  // Loaded here, not at the top: the client child processes of this script need none of it.
  const { murOptions } = await import("./lib.mjs")
  const { default: pg } = await import("pg")
  const { WebSocketServer } = await import("ws")

  const list = (v, d) =>
    (v ?? d)
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)
  const ONLY = list(process.env.BENCH_SYNC_ONLY, "fanout,push,idle")
  const SOCKETS = Number(process.env.BENCH_SYNC_SOCKETS ?? 1000)
  const UPDATES = Number(process.env.BENCH_SYNC_UPDATES ?? 200)
  const ROUNDS = Math.max(1, Number(process.env.BENCH_SYNC_ROUNDS ?? 4))
  const WRITERS = Math.max(1, Number(process.env.BENCH_SYNC_WRITERS ?? 1))
  const FANOUT_STORES = list(process.env.BENCH_SYNC_FANOUT_STORES, "sqlite")
  const PUSH_STORES = list(process.env.BENCH_SYNC_PUSH_STORES, "sqlite,postgres")
  const BATCH = Number(process.env.BENCH_SYNC_BATCH ?? 500)
  const BATCHES = Number(process.env.BENCH_SYNC_BATCHES ?? 10)
  let IDLE = Number(process.env.BENCH_SYNC_IDLE ?? 10_000)
  const IDLE_CHILDREN = Math.max(1, Number(process.env.BENCH_SYNC_IDLE_CHILDREN ?? 4))
  const IDLE_TEAMS = Math.max(1, Number(process.env.BENCH_SYNC_IDLE_TEAMS ?? 100))
  const BUDGET_S = Number(process.env.BENCH_SYNC_BUDGET ?? 230)
  const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
  const SECRET = `bench-secret-${randomBytes(24).toString("hex")}`
  const POOL_SIZE = 10
  const PATTERN_LIMIT = 100 // free plan
  for (const s of ONLY) if (!["fanout", "push", "idle"].includes(s)) throw new Error(`unknown benchmark ${s}`)
  for (const s of [...FANOUT_STORES, ...PUSH_STORES])
    if (s !== "sqlite" && s !== "postgres") throw new Error(`unknown store ${s}`)

  setTimeout(() => abort(1, `benchmark exceeded its ${BUDGET_S} s budget; cleaning up`), BUDGET_S * 1000).unref()

  // -------------------------------------------------------------------------------------
  // Child processes talking JSON lines

  const startChild = (args, { nodeArgs = [], name }) => {
    const child = spawn(process.execPath, [...nodeArgs, ...args], { stdio: ["pipe", "pipe", "pipe"] })
    children.add(child)
    let err = ""
    const waiting = []
    const backlog = []
    createInterface({ input: child.stdout }).on("line", (line) => {
      let msg
      try {
        msg = JSON.parse(line)
      } catch {
        err += `${line}\n`
        return
      }
      const w = waiting.shift()
      if (w) w.resolve(msg)
      else backlog.push(msg)
    })
    child.stderr.on("data", (d) => {
      err = (err + d).slice(-4000)
    })
    const exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        children.delete(child)
        for (const w of waiting.splice(0)) w.reject(new Error(`${name} exited (${code ?? signal}): ${err.trim()}`))
        resolve(code ?? signal)
      })
    )
    child.stdin.on("error", () => undefined)
    /** The next message from the child (within `ms`). */
    const next = (ms, what = "answer") => {
      if (backlog.length > 0) return Promise.resolve(backlog.shift())
      if (child.exitCode !== null || child.signalCode !== null)
        return Promise.reject(new Error(`${name} has exited: ${err.trim()}`))
      return withTimeout(
        new Promise((resolve, reject) => waiting.push({ resolve, reject })),
        ms,
        `${name}: waiting for ${what}`
      )
    }
    const send = (line) => child.stdin.write(`${typeof line === "string" ? line : JSON.stringify(line)}\n`)
    const stop = async (ms = 5000) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.stdin.end()
      await Promise.race([exited, sleep(ms)])
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL")
        await exited
      }
    }
    return { child, next, send, stop, exited, stderr: () => err }
  }

  // -------------------------------------------------------------------------------------
  // Databases and mur-server

  const withAdmin = async (f) => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 })
    await client.connect()
    try {
      return await f(client)
    } finally {
      await client.end()
    }
  }
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "mur-sync-bench-"))
    onCleanup(`rm ${dir}`, () => rmSync(dir, { recursive: true, force: true }))
    return dir
  }
  const createDatabase = async (store) => {
    if (store === "sqlite") {
      const filename = join(tempDir(), "mur.db")
      return { store, url: `file:${filename}`, filename }
    }
    const name = `mur_bench_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`
    const drop = onCleanup(`DROP DATABASE ${name}`, () =>
      withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
    )
    await withAdmin((c) => c.query(`CREATE DATABASE ${name}`))
    const url = new URL(PG_ADMIN_URL)
    url.pathname = `/${name}`
    return { store, url: url.toString(), name, drop }
  }

  const startMur = async (db) => {
    const running = await startServer(
      murOptions(db, { secret: SECRET, poolSize: POOL_SIZE, accessTokenTtlSeconds: 3600 })
    )
    const stop = onCleanup(`mur-server ${db.store}`, () => running.close(1000))
    return { ...running, stop }
  }

  const call = async (base, method, path, body, token) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {})
      },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const text = await res.text()
    if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`)
    return JSON.parse(text)
  }

  /** A user with a team of their own; returns the token, user and team. */
  const setupTeam = async (base, n = 0) => {
    const reg = await call(base, "POST", "/auth/register", {
      email: `bench${n}@example.com`,
      password: "correct horse battery staple",
      name: `Bench ${n}`
    })
    const { team } = await call(base, "POST", "/api/team", { name: `Bench team ${n}` }, reg.access_token)
    return { token: reg.access_token, user: reg.user, team }
  }

  const limits = openFileLimits()
  const ports = portRange()
  const cores = availableParallelism()
  const results = {}
  const summaries = []
  const notes = []
  let failed = false

  log(
    `Sync benchmarks (issue 4), node ${process.version}, ${cores} cores (the server, the client processes` +
      ` and PostgreSQL share them), open files limit ${limits ? `${limits.soft}/${limits.hard}` : "unknown"},` +
      ` ephemeral ports ${ports ? `${ports.lo}-${ports.hi}` : "unknown"}\n`
  )
  if (cores <= 2)
    notes.push(
      `Only ${cores} cores: the server and the client processes run side by side on them, so the clients' work` +
        ` competes with the server's; the bare baselines are lower bounds and the ratios are if anything flattering.`
    )

  // =====================================================================================
  // (a) Fan-out

  /** Bare ws server: PUT /api/patterns/:id broadcasts the pattern as mur would, nothing else. */
  const startBareFanout = async (template, user) => {
    let seq = 0
    let version = template.version
    const subscribed = new Set()
    const server = http.createServer((req, res) => {
      const chunks = []
      req.on("data", (c) => chunks.push(c))
      req.on("end", () => {
        if (req.method !== "PUT" || !req.url.startsWith("/api/patterns/")) {
          res.writeHead(404).end()
          return
        }
        const input = JSON.parse(Buffer.concat(chunks).toString())
        const at = new Date().toISOString()
        const pattern = { ...template, content: input.content, version: ++version, updated_at: at }
        const body = JSON.stringify({ pattern })
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
        res.end(body)
        const text = JSON.stringify({ type: "pattern_updated", seq: ++seq, pattern, user })
        for (const ws of subscribed) ws.send(text)
      })
    })
    const wss = new WebSocketServer({ server, path: "/ws/sync", perMessageDeflate: false, maxPayload: 1024 * 1024 })
    wss.on("connection", (ws) => {
      ws.on("error", () => undefined)
      ws.on("close", () => subscribed.delete(ws))
      ws.on("message", (data) => {
        const msg = JSON.parse(data.toString())
        if (msg.type === "subscribe") {
          ws.send(JSON.stringify({ type: "subscribed", channels: msg.channels, last_seq: seq }))
          subscribed.add(ws)
        }
      })
    })
    await new Promise((resolve, reject) => {
      server.once("error", reject)
      server.listen(0, "127.0.0.1", 4096, () => resolve())
    })
    const stop = onCleanup("bare fan-out server", async () => {
      for (const ws of wss.clients) ws.terminate()
      await new Promise((resolve) => wss.close(() => resolve()))
      server.closeAllConnections()
      await new Promise((resolve) => server.close(() => resolve()))
    })
    return { url: `http://127.0.0.1:${server.address().port}`, stop }
  }

  const fanout = async (store) => {
    const need = 2 * SOCKETS + 200
    if (limits && limits.soft < need)
      notes.push(`open files limit ${limits.soft} is below the ${need} the fan-out needs; expect failed sockets`)
    const db = await createDatabase(store)
    const mur = await startMur(db)
    const { token, user } = await setupTeam(mur.url)
    const { pattern } = await call(
      mur.url,
      "POST",
      "/api/patterns",
      { name: "fanout", content: makeContent(-1, 0) },
      token
    )
    const bare = await startBareFanout(pattern, { id: user.id, name: user.name })
    const clients = startChild([SELF, "--fanout-clients"], { name: "fan-out clients" })
    const stopClients = onCleanup("fan-out clients", () => clients.stop())
    const servers = {
      mur: { http: mur.url, token, path: `/api/patterns/${pattern.id}` },
      bare: { http: bare.url, token: "none", path: `/api/patterns/${pattern.id}` }
    }
    const connect = {}
    for (const side of ["mur", "bare"]) {
      log(`  fan-out ${store}: connecting ${SOCKETS} sockets to ${side} ... `)
      clients.send({
        cmd: "connect",
        target: side,
        url: servers[side].http.replace(/^http/, "ws"),
        token: servers[side].token,
        n: SOCKETS,
        timeoutMs: 60_000
      })
      const c = await clients.next(70_000, `${side} sockets`)
      if (c.type !== "connected") throw new Error(`fan-out clients: ${JSON.stringify(c)}`)
      connect[side] = c
      log(`${c.ok} open in ${fmt(c.ms / 1000, 1)} s${c.failed ? ` (${c.failed} failed: ${c.sample})` : ""}\n`)
      if (c.ok === 0) throw new Error(`no socket could connect to ${side}: ${c.sample}`)
    }
    if (mur.app.connections() !== connect.mur.ok)
      notes.push(`mur-server counts ${mur.app.connections()} sockets, the clients ${connect.mur.ok}`)
    const cpu = { mur: 0, bare: 0 }
    const wall = { mur: 0, bare: 0 }
    let base = 0
    rounds: for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ["mur", "bare"] : ["bare", "mur"]
      for (const side of order) {
        await sleep(300)
        log(`  fan-out ${store}: ${side} round ${round + 1}/${ROUNDS}, ${UPDATES} updates ... `)
        const before = process.cpuUsage()
        clients.send({
          cmd: "run",
          target: side,
          url: servers[side].http,
          token: servers[side].token,
          path: servers[side].path,
          updates: UPDATES,
          writers: WRITERS,
          base,
          timeoutMs: 30_000
        })
        const r = await clients.next(90_000, `${side} round`)
        const used = process.cpuUsage(before)
        cpu[side] += used.user + used.system
        wall[side] += r.elapsed_ms ?? 0
        base += UPDATES
        if (r.type !== "round") throw new Error(`fan-out clients: ${JSON.stringify(r)}`)
        log(
          `${Math.round(r.rate)} deliveries/s, p50 ${fmt(r.p50_ms, 1)} ms, p99 ${fmt(r.p99_ms, 1)} ms` +
            `${r.ok ? "" : ` (FAILED: ${r.deliveries}/${r.expected} delivered, dupes ${r.dupes}, gaps ${r.gaps}${r.timed_out ? ", timed out" : ""}${r.failure ? `, ${r.failure}` : ""})`}\n`
        )
        if (!r.ok) break rounds
      }
    }
    clients.send({ cmd: "summary" })
    const s = await clients.next(30_000, "summary")
    await stopClients()
    await bare.stop()
    await mur.stop()
    await db.drop?.()
    for (const side of ["mur", "bare"]) {
      const t = s.targets[side]
      if (t) {
        t.connect_s = connect[side].ms / 1000
        t.cpu_us_per_delivery = t.deliveries > 0 ? cpu[side] / t.deliveries : null
        // CPU of this process while the round ran (writes, then fan-out) over the round's time.
        t.server_cpu_pct = wall[side] > 0 ? (100 * cpu[side]) / 1000 / wall[side] : null
      }
    }
    return s.targets
  }

  // =====================================================================================
  // (b) Push throughput

  const pushEvents = (b) =>
    Array.from({ length: BATCH }, (_, i) => {
      const g = b * BATCH + i
      return {
        client_action_id: `push-${g}`,
        op: "upsert",
        name: `p${g % PATTERN_LIMIT}`,
        pattern: { content: makeContent(g, 0) }
      }
    })

  /**
   * Raw writes of what mur writes per pushed event (Patterns.commit, Sync.applyOne):
   * the team's seq (UPDATE teams … RETURNING last_seq), the pattern row (INSERT or UPDATE),
   * its pattern_versions row, the sync_events row (with the pattern snapshot), the
   * audit_log row and the sync_actions row; plus the devices upsert once per push. No
   * reads: the raw side keeps the patterns it wrote in memory.
   *
   * mode "rows": one prepared INSERT/UPDATE per row, as above (the baseline the issue names).
   * mode "multi": the same rows with one multi-row statement per table, as mur-server writes
   * them since it plans a push in memory: the seq moved once, new patterns inserted, changed
   * ones written once in their final state (upsert), versions, events, audit and action rows
   * each in one INSERT. The fastest way we know to store a push's rows with this driver.
   */
  const makeRaw = async (db, teamId, userId, mode = "rows") => {
    const deviceId = "bench-push"
    const known = new Map()
    const rowFor = (name, content, at) => {
      const old = known.get(name)
      const row = old
        ? { ...old, content: JSON.stringify(content), author_id: userId, version: old.version + 1, updated_at: at }
        : {
            id: randomUUID(),
            team_id: teamId,
            name,
            description: "",
            content: JSON.stringify(content),
            category: null,
            tags: "[]",
            author_id: userId,
            is_public: false,
            usage_count: 0,
            version: 1,
            created_at: at,
            updated_at: at
          }
      known.set(name, row)
      return { row, created: old === undefined }
    }
    const snapshot = (row) => JSON.stringify({ ...row, content: JSON.parse(row.content), tags: JSON.parse(row.tags) })
    const auditMeta = (row, created) =>
      JSON.stringify(
        created
          ? { name: row.name, version: row.version }
          : { name: row.name, version: row.version, fields: ["content"] }
      )

    /** The rows of one push, planned as mur-server plans them; seqs follow `base`. */
    const planMulti = (events, base, isPublic) => {
      const requestId = randomUUID()
      const created = new Map()
      const updated = new Map()
      const out = { patterns: [], upserts: [], versions: [], events: [], audit: [], actions: [] }
      events.forEach((ev, i) => {
        const seq = base + i + 1
        const at = new Date().toISOString()
        const { row, created: isNew } = rowFor(ev.name, ev.pattern.content, at)
        if (isNew || created.has(row.id)) created.set(row.id, row)
        else updated.set(row.id, row)
        out.versions.push([
          row.id,
          row.version,
          row.name,
          row.description,
          row.content,
          row.category,
          row.tags,
          userId,
          at
        ])
        const type = isNew ? "pattern_created" : "pattern_updated"
        out.events.push([teamId, seq, type, row.id, row.version, snapshot(row), userId, deviceId, at])
        out.audit.push([
          randomUUID(),
          teamId,
          userId,
          isNew ? "pattern.create" : "pattern.update",
          "pattern",
          row.id,
          "127.0.0.1",
          "bench",
          requestId,
          auditMeta(row, isNew),
          at
        ])
        out.actions.push([
          teamId,
          deviceId,
          ev.client_action_id,
          userId,
          JSON.stringify({ seq, pattern_id: row.id, version: row.version }),
          at
        ])
      })
      const patternRow = (r) => [
        r.id,
        teamId,
        r.name,
        r.description,
        r.content,
        r.category,
        r.tags,
        userId,
        isPublic,
        0,
        r.version,
        r.created_at,
        r.updated_at
      ]
      out.patterns = [...created.values()].map(patternRow)
      out.upserts = [...updated.values()].map(patternRow)
      return out
    }
    const MULTI = {
      patterns: [
        "patterns",
        "id, team_id, name, description, content, category, tags, author_id, is_public, usage_count, version, created_at, updated_at",
        ""
      ],
      upserts: [
        "patterns",
        "id, team_id, name, description, content, category, tags, author_id, is_public, usage_count, version, created_at, updated_at",
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, content = excluded.content, category = excluded.category, tags = excluded.tags, author_id = excluded.author_id, is_public = excluded.is_public, version = excluded.version, updated_at = excluded.updated_at"
      ],
      versions: [
        "pattern_versions",
        "pattern_id, version, name, description, content, category, tags, author_id, created_at",
        ""
      ],
      events: ["sync_events", "team_id, seq, type, pattern_id, version, pattern, actor_id, device_id, created_at", ""],
      audit: [
        "audit_log",
        "id, team_id, actor_id, action, target_type, target_id, ip, user_agent, request_id, metadata, created_at",
        ""
      ],
      actions: ["sync_actions", "team_id, device_id, client_action_id, user_id, result, created_at", ""]
    }
    /** INSERT text for `n` rows of `cols` columns; `mark(i)` is the driver's i-th placeholder (0-based). */
    const multiText = ([table, cols, suffix], n, mark) => {
      const width = cols.split(",").length
      const tuples = []
      for (let r = 0; r < n; r++) {
        const marks = []
        for (let c = 0; c < width; c++) marks.push(mark(r * width + c))
        tuples.push(`(${marks.join(", ")})`)
      }
      return `INSERT INTO ${table} (${cols}) VALUES ${tuples.join(", ")}${suffix}`
    }
    const chunksOf = (rows, width) => {
      const size = Math.floor(30_000 / width)
      const out = []
      for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size))
      return out
    }

    if (db.store === "sqlite") {
      const conn = new Database(db.filename)
      conn.pragma("journal_mode = WAL")
      conn.pragma("foreign_keys = ON")
      conn.pragma("busy_timeout = 5000")
      const q = {
        seq: conn.prepare("UPDATE teams SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq"),
        insert: conn.prepare(
          "INSERT INTO patterns (id, team_id, name, description, content, category, tags, author_id, is_public, usage_count, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        update: conn.prepare(
          "UPDATE patterns SET name = ?, description = ?, content = ?, category = ?, tags = ?, author_id = ?, is_public = ?, version = ?, updated_at = ? WHERE id = ?"
        ),
        version: conn.prepare(
          "INSERT INTO pattern_versions (pattern_id, version, name, description, content, category, tags, author_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        event: conn.prepare(
          "INSERT INTO sync_events (team_id, seq, type, pattern_id, version, pattern, actor_id, device_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        audit: conn.prepare(
          "INSERT INTO audit_log (id, team_id, actor_id, action, target_type, target_id, ip, user_agent, request_id, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        action: conn.prepare(
          "INSERT INTO sync_actions (team_id, device_id, client_action_id, user_id, result, created_at) VALUES (?, ?, ?, ?, ?, ?)"
        ),
        device: conn.prepare(
          "INSERT INTO devices (team_id, device_id, user_id, last_seen_at, last_pulled_seq) VALUES (?, ?, ?, ?, 0) ON CONFLICT (team_id, device_id) DO UPDATE SET last_seen_at = excluded.last_seen_at, user_id = excluded.user_id, last_pulled_seq = MAX(devices.last_pulled_seq, excluded.last_pulled_seq)"
        )
      }
      const batch = conn.transaction((events) => {
        const requestId = randomUUID()
        for (const ev of events) {
          const seq = q.seq.get(teamId).last_seq
          const at = new Date().toISOString()
          const { row, created } = rowFor(ev.name, ev.pattern.content, at)
          if (created)
            q.insert.run(
              row.id,
              teamId,
              row.name,
              row.description,
              row.content,
              row.category,
              row.tags,
              userId,
              0,
              0,
              1,
              at,
              at
            )
          else
            q.update.run(
              row.name,
              row.description,
              row.content,
              row.category,
              row.tags,
              userId,
              0,
              row.version,
              at,
              row.id
            )
          q.version.run(row.id, row.version, row.name, row.description, row.content, row.category, row.tags, userId, at)
          const type = created ? "pattern_created" : "pattern_updated"
          q.event.run(teamId, seq, type, row.id, row.version, snapshot(row), userId, deviceId, at)
          q.audit.run(
            randomUUID(),
            teamId,
            userId,
            created ? "pattern.create" : "pattern.update",
            "pattern",
            row.id,
            "127.0.0.1",
            "bench",
            requestId,
            auditMeta(row, created),
            at
          )
          q.action.run(
            teamId,
            deviceId,
            ev.client_action_id,
            userId,
            JSON.stringify({ seq, pattern_id: row.id, version: row.version }),
            at
          )
        }
        q.device.run(teamId, deviceId, userId, new Date().toISOString())
      })
      const prepared = new Map()
      const stmt = (key, n) => {
        const id = `${key}:${n}`
        let st = prepared.get(id)
        if (st === undefined) {
          st = conn.prepare(multiText(MULTI[key], n, () => "?"))
          prepared.set(id, st)
        }
        return st
      }
      const seqBy = conn.prepare("UPDATE teams SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq")
      const multiBatch = conn.transaction((events) => {
        const last = seqBy.get(events.length, teamId).last_seq
        const rows = planMulti(events, last - events.length, 0)
        for (const key of Object.keys(MULTI)) {
          const width = MULTI[key][1].split(",").length
          for (const chunk of chunksOf(rows[key], width)) stmt(key, chunk.length).run(chunk.flat())
        }
        q.device.run(teamId, deviceId, userId, new Date().toISOString())
      })
      const close = onCleanup("raw sqlite connection", () => conn.close())
      return { run: async (events) => (mode === "multi" ? multiBatch(events) : batch(events)), close }
    }

    const client = new pg.Client({ connectionString: db.url, application_name: "raw-bench" })
    await client.connect()
    client.on("error", () => undefined)
    const close = onCleanup("raw pg connection", () => client.end())
    /** One batch: BEGIN, `body`, the devices upsert, COMMIT (ROLLBACK on failure). */
    const inBatch = async (body) => {
      await client.query("BEGIN")
      try {
        await body()
        await client.query(
          "INSERT INTO devices (team_id, device_id, user_id, last_seen_at, last_pulled_seq) VALUES ($1, $2, $3, $4, 0) ON CONFLICT (team_id, device_id) DO UPDATE SET last_seen_at = excluded.last_seen_at, user_id = excluded.user_id, last_pulled_seq = GREATEST(devices.last_pulled_seq, excluded.last_pulled_seq)",
          [teamId, deviceId, userId, new Date().toISOString()]
        )
        await client.query("COMMIT")
      } catch (e) {
        await client.query("ROLLBACK").catch(() => undefined)
        throw e
      }
    }
    const runMulti = (events) =>
      inBatch(async () => {
        const last = Number(
          (
            await client.query("UPDATE teams SET last_seq = last_seq + $1 WHERE id = $2 RETURNING last_seq", [
              events.length,
              teamId
            ])
          ).rows[0].last_seq
        )
        const rows = planMulti(events, last - events.length, false)
        for (const key of Object.keys(MULTI)) {
          const width = MULTI[key][1].split(",").length
          for (const chunk of chunksOf(rows[key], width)) {
            await client.query(
              multiText(MULTI[key], chunk.length, (i) => `$${i + 1}`),
              chunk.flat()
            )
          }
        }
      })
    const runRows = (events) =>
      inBatch(async () => {
        const requestId = randomUUID()
        for (const ev of events) {
          const seq = Number(
            (await client.query("UPDATE teams SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq", [teamId]))
              .rows[0].last_seq
          )
          const at = new Date().toISOString()
          const { row, created } = rowFor(ev.name, ev.pattern.content, at)
          if (created)
            await client.query(
              "INSERT INTO patterns (id, team_id, name, description, content, category, tags, author_id, is_public, usage_count, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
              [
                row.id,
                teamId,
                row.name,
                row.description,
                row.content,
                row.category,
                row.tags,
                userId,
                false,
                0,
                1,
                at,
                at
              ]
            )
          else
            await client.query(
              "UPDATE patterns SET name = $1, description = $2, content = $3, category = $4, tags = $5, author_id = $6, is_public = $7, version = $8, updated_at = $9 WHERE id = $10",
              [row.name, row.description, row.content, row.category, row.tags, userId, false, row.version, at, row.id]
            )
          await client.query(
            "INSERT INTO pattern_versions (pattern_id, version, name, description, content, category, tags, author_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            [row.id, row.version, row.name, row.description, row.content, row.category, row.tags, userId, at]
          )
          const type = created ? "pattern_created" : "pattern_updated"
          await client.query(
            "INSERT INTO sync_events (team_id, seq, type, pattern_id, version, pattern, actor_id, device_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            [teamId, seq, type, row.id, row.version, snapshot(row), userId, deviceId, at]
          )
          await client.query(
            "INSERT INTO audit_log (id, team_id, actor_id, action, target_type, target_id, ip, user_agent, request_id, metadata, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            [
              randomUUID(),
              teamId,
              userId,
              created ? "pattern.create" : "pattern.update",
              "pattern",
              row.id,
              "127.0.0.1",
              "bench",
              requestId,
              auditMeta(row, created),
              at
            ]
          )
          await client.query(
            "INSERT INTO sync_actions (team_id, device_id, client_action_id, user_id, result, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            [
              teamId,
              deviceId,
              ev.client_action_id,
              userId,
              JSON.stringify({ seq, pattern_id: row.id, version: row.version }),
              at
            ]
          )
        }
      })
    const run = (events) => (mode === "multi" ? runMulti(events) : runRows(events))
    return { run, close }
  }

  /** Rows per table, to check both sides wrote the same. */
  const countRows = async (db) => {
    const tables = ["patterns", "pattern_versions", "sync_events", "audit_log", "sync_actions", "devices"]
    const sqlOf = (t) =>
      t === "audit_log"
        ? `SELECT count(*) AS n FROM audit_log WHERE action LIKE 'pattern.%'`
        : `SELECT count(*) AS n FROM ${t}`
    if (db.store === "sqlite") {
      const conn = new Database(db.filename, { readonly: true })
      try {
        return Object.fromEntries(tables.map((t) => [t, Number(conn.prepare(sqlOf(t)).get().n)]))
      } finally {
        conn.close()
      }
    }
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      const out = {}
      for (const t of tables) out[t] = Number((await client.query(sqlOf(t))).rows[0].n)
      return out
    } finally {
      await client.end()
    }
  }

  const push = async (store) => {
    // mur-server on its own database.
    const murDb = await createDatabase(store)
    const mur = await startMur(murDb)
    const { token } = await setupTeam(mur.url)
    // The scratch databases for raw inserts: mur-server creates the schema, a user and a
    // team, then stops. One per raw side, so that each starts from the same state.
    const scratchSide = async (mode) => {
      const db = await createDatabase(store)
      const scratch = await startMur(db)
      const setup = await setupTeam(scratch.url)
      await scratch.stop()
      return { db, writer: await makeRaw(db, setup.team.id, setup.user.id, mode) }
    }
    const sides = { raw: await scratchSide("rows"), multi: await scratchSide("multi") }

    const times = { mur: [], raw: [], multi: [] }
    const cpu = { mur: 0, raw: 0, multi: 0 }
    const orders = [
      ["mur", "raw", "multi"],
      ["raw", "multi", "mur"],
      ["multi", "mur", "raw"]
    ]
    let murBad = null
    for (let b = 0; b < BATCHES; b++) {
      const events = pushEvents(b)
      for (const side of orders[b % orders.length]) {
        const before = process.cpuUsage()
        const started = performance.now()
        if (side === "mur") {
          const res = await call(mur.url, "POST", "/api/sync/push", { device_id: "bench-push", events }, token)
          times.mur.push(performance.now() - started)
          const bad = res.results.filter((r) => r.status !== "applied")
          if (bad.length > 0 && murBad === null) murBad = `${bad.length} events not applied: ${JSON.stringify(bad[0])}`
        } else {
          await sides[side].writer.run(events)
          times[side].push(performance.now() - started)
        }
        const used = process.cpuUsage(before)
        cpu[side] += used.user + used.system
      }
      log(
        `  push ${store}: batch ${b + 1}/${BATCHES}: mur-server ${fmt(times.mur[b])} ms, raw per row ${fmt(times.raw[b])} ms, raw multi-row ${fmt(times.multi[b])} ms\n`
      )
    }
    for (const side of Object.values(sides)) await side.writer.close()
    await mur.stop()
    const murRows = await countRows(murDb)
    const counts = { raw: await countRows(sides.raw.db), multi: await countRows(sides.multi.db) }
    await murDb.drop?.()
    for (const side of Object.values(sides)) await side.db.drop?.()
    const sum = (a) => a.reduce((x, y) => x + y, 0)
    const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]
    const events = BATCHES * BATCH
    let sameRows = true
    for (const [side, rows] of Object.entries(counts)) {
      if (JSON.stringify(murRows) === JSON.stringify(rows)) continue
      sameRows = false
      notes.push(
        `push ${store}: row counts differ: mur-server ${JSON.stringify(murRows)}, ${side} ${JSON.stringify(rows)}`
      )
    }
    const figures = (side) => ({
      eps: events / (sum(times[side]) / 1000),
      batch_p50_ms: median(times[side]),
      cpu_us_per_event: cpu[side] / events,
      batches_ms: times[side].map(Math.round)
    })
    return {
      ok: murBad === null && sameRows,
      failure: murBad,
      events,
      mur: figures("mur"),
      raw: figures("raw"),
      multi: figures("multi"),
      rows: murRows
    }
  }

  // =====================================================================================
  // (c) Idle sockets

  const idle = async (side) => {
    const dir = tempDir()
    const server = startChild([join(HERE, "sync-server.mjs"), side, dir, String(side === "mur" ? IDLE_TEAMS : 1)], {
      nodeArgs: ["--expose-gc"],
      name: `${side} server`
    })
    const stopServer = onCleanup(`${side} idle server`, async () => {
      server.send("quit")
      await server.stop(12_000)
    })
    const ready = await server.next(60_000, "ready")
    if (ready.type !== "ready") throw new Error(`${side} server: ${JSON.stringify(ready)}`)
    const wsBase = ready.url.replace(/^http/, "ws")
    const tokens = JSON.stringify(ready.tokens)
    const mem = async () => {
      server.send("mem")
      const m = await server.next(30_000, "memory")
      if (m.type !== "mem") throw new Error(`${side} server: ${JSON.stringify(m)}`)
      return m
    }
    const openClients = async (total, parts, offset0) => {
      const per = Math.ceil(total / parts)
      const list = []
      for (let j = 0, offset = offset0; offset < offset0 + total; j++, offset += per) {
        const n = Math.min(per, offset0 + total - offset)
        const c = startChild([SELF, "--idle-clients", wsBase, tokens, String(n), String(offset), "120000"], {
          name: `idle clients ${j}`
        })
        list.push(c)
      }
      const started = performance.now()
      const readies = await Promise.all(list.map((c) => c.next(150_000, "sockets")))
      return { list, readies, ms: performance.now() - started }
    }
    // Warm-up: the code paths of a connection run once before the first measurement.
    const warm = await openClients(Math.min(200, IDLE), 1, 0)
    for (const c of warm.list) await c.stop()
    await sleep(1500)
    const before = await mem()
    log(`  idle ${side}: ${before.sockets} sockets, rss ${fmt(before.rss / 2 ** 20, 1)} MB; connecting ${IDLE} ... `)
    const opened = await openClients(IDLE, IDLE_CHILDREN, 1_000_000)
    const stopAll = onCleanup(`${side} idle clients`, () => Promise.all(opened.list.map((c) => c.stop())))
    const ok = opened.readies.reduce((a, r) => a + (r.ok ?? 0), 0)
    const failedSockets = opened.readies.reduce((a, r) => a + (r.failed ?? 0), 0)
    const sample = opened.readies.find((r) => r.sample)?.sample ?? null
    log(`${ok} open in ${fmt(opened.ms / 1000, 1)} s${failedSockets ? ` (${failedSockets} failed: ${sample})` : ""}\n`)
    await sleep(2000)
    const after = await mem()
    await stopServer()
    await stopAll()
    const n = after.sockets - before.sockets
    const kb = (x) => (n > 0 ? x / n / 1024 : null)
    return {
      ok: failedSockets === 0 && n === IDLE,
      requested: IDLE,
      open: ok,
      server_sockets: after.sockets,
      failed: failedSockets,
      sample,
      connect_s: opened.ms / 1000,
      before,
      after,
      rss_kb: kb(after.rss - before.rss),
      heap_kb: kb(after.heapUsed - before.heapUsed),
      external_kb: kb(after.external - before.external),
      array_buffers_kb: kb(after.arrayBuffers - before.arrayBuffers)
    }
  }

  // =====================================================================================

  const sections = []
  const tryStep = async (name, f) => {
    try {
      return await f()
    } catch (e) {
      failed = true
      if (!exiting) log(`\n${name}: ${e?.stack ?? e}\n`)
      await cleanupAll()
      return null
    }
  }

  if (ONLY.includes("fanout")) {
    log(`(a) fan-out: ${SOCKETS} sockets, ${ROUNDS} round(s) of ${UPDATES} updates per server, ${WRITERS} writer(s)\n`)
    const rows = [
      [
        "server",
        "sockets",
        "updates",
        "deliveries/s",
        "ratio",
        "p50 ms",
        "p99 ms",
        "max ms",
        "PUT p50 ms",
        "msg bytes",
        "server CPU µs/delivery",
        "server CPU %",
        "clients CPU %",
        "connect s"
      ]
    ]
    for (const store of FANOUT_STORES) {
      const r = await tryStep(`fan-out ${store}`, () => fanout(store))
      if (exiting) return 1
      results[`fanout_${store}`] = r
      if (r === null) {
        rows.push([`mur-server (${store})`, "failed", "", "", "", "", "", "", "", "", "", "", "", ""])
        continue
      }
      const ratio = r.mur && r.bare ? r.mur.rate / r.bare.rate : null
      for (const side of ["mur", "bare"]) {
        const t = r[side]
        if (!t) continue
        if (!t.ok) failed = true
        rows.push([
          `${side === "mur" ? `mur-server (${store})` : "bare ws"}${t.ok ? "" : " (!)"}`,
          t.sockets,
          t.updates,
          Math.round(t.rate),
          side === "mur" ? fmt(ratio, 2) : "1.00",
          fmt(t.p50_ms, 1),
          fmt(t.p99_ms, 1),
          fmt(t.max_ms, 1),
          fmt(t.put_p50_ms, 2),
          fmt(t.message_bytes),
          fmt(t.cpu_us_per_delivery, 1),
          fmt(t.server_cpu_pct),
          fmt(t.client_cpu_pct),
          fmt(t.connect_s, 1)
        ])
      }
      summaries.push(
        `Fan-out ${store}: mur-server ${Math.round(r.mur?.rate ?? 0)} deliveries/s, bare ws ${Math.round(r.bare?.rate ?? 0)} deliveries/s, ` +
          `ratio ${fmt(ratio, 2)} (target >= 0.7); p50/p99 mur-server ${fmt(r.mur?.p50_ms, 1)}/${fmt(r.mur?.p99_ms, 1)} ms ` +
          `(target p99 < 100 ms), bare ${fmt(r.bare?.p50_ms, 1)}/${fmt(r.bare?.p99_ms, 1)} ms`
      )
    }
    sections.push(`(a) Fan-out to ${SOCKETS} subscribed sockets of one team\n\n${table(rows)}`)
  }

  if (ONLY.includes("push")) {
    log(`(b) push: ${BATCHES} pushes of ${BATCH} events per side and store, order rotating\n`)
    const rows = [
      [
        "store",
        "mur-server events/s",
        "raw per-row events/s",
        "ratio",
        "raw multi-row events/s",
        "ratio (multi-row)",
        "mur ms/batch p50",
        "per-row ms/batch p50",
        "multi-row ms/batch p50",
        "mur CPU µs/event",
        "per-row CPU µs/event",
        "multi-row CPU µs/event"
      ]
    ]
    for (const store of PUSH_STORES) {
      const r = await tryStep(`push ${store}`, () => push(store))
      if (exiting) return 1
      results[`push_${store}`] = r
      if (r === null) {
        rows.push([store, "failed", "", "", "", "", "", "", "", "", "", ""])
        continue
      }
      if (!r.ok) failed = true
      if (r.failure) notes.push(`push ${store}: ${r.failure}`)
      const ratio = r.mur.eps / r.raw.eps
      const ratioMulti = r.mur.eps / r.multi.eps
      rows.push([
        `${store}${r.ok ? "" : " (!)"}`,
        Math.round(r.mur.eps),
        Math.round(r.raw.eps),
        fmt(ratio, 3),
        Math.round(r.multi.eps),
        fmt(ratioMulti, 3),
        fmt(r.mur.batch_p50_ms),
        fmt(r.raw.batch_p50_ms),
        fmt(r.multi.batch_p50_ms),
        fmt(r.mur.cpu_us_per_event),
        fmt(r.raw.cpu_us_per_event),
        fmt(r.multi.cpu_us_per_event)
      ])
      const driver = store === "sqlite" ? "better-sqlite3" : "pg"
      summaries.push(
        `Push ${store}: mur-server ${Math.round(r.mur.eps)} events/s; raw ${driver} per row ${Math.round(r.raw.eps)} events/s, ratio ${fmt(ratio, 3)} (target >= 0.5); ` +
          `raw ${driver} multi-row ${Math.round(r.multi.eps)} events/s, ratio ${fmt(ratioMulti, 3)}`
      )
    }
    sections.push(`(b) Push throughput, ${BATCHES} x ${BATCH} events (one transaction per batch)\n\n${table(rows)}`)
  }

  if (ONLY.includes("idle")) {
    const need = IDLE + 500
    if (limits && limits.soft < need) {
      const capped = Math.max(0, limits.soft - 500)
      notes.push(
        `open files limit ${limits.soft} is below the ${need} the idle test needs (a process cannot raise its own` +
          ` soft limit from Node); measured ${capped} sockets instead of ${IDLE}`
      )
      IDLE = capped
    }
    if (ports && ports.size < IDLE + 2000)
      notes.push(`only ${ports.size} ephemeral ports for ${IDLE} connections; expect failures`)
    log(
      `(c) idle: ${IDLE} sockets in ${IDLE_CHILDREN} client processes${IDLE_TEAMS > 1 ? `, spread over ${IDLE_TEAMS} users/teams` : ", one user and team"}\n`
    )
    const rows = [
      [
        "server",
        "sockets",
        "RSS before MB",
        "RSS after MB",
        "RSS KB/socket",
        "heapUsed KB/socket",
        "external KB/socket",
        "connect s"
      ]
    ]
    const idleResults = {}
    for (const side of ["bare", "mur"]) {
      const r = await tryStep(`idle ${side}`, () => idle(side))
      if (exiting) return 1
      idleResults[side] = r
    }
    results.idle = idleResults
    for (const side of ["mur", "bare"]) {
      const r = idleResults[side]
      const name = side === "mur" ? "mur-server (sqlite)" : "bare ws"
      if (r === null) {
        rows.push([name, "failed", "", "", "", "", "", ""])
        continue
      }
      if (!r.ok) failed = true
      if (r.failed) notes.push(`idle ${side}: ${r.failed} of ${r.requested} sockets failed: ${r.sample}`)
      rows.push([
        `${name}${r.ok ? "" : " (!)"}`,
        r.server_sockets,
        fmt(r.before.rss / 2 ** 20, 1),
        fmt(r.after.rss / 2 ** 20, 1),
        fmt(r.rss_kb, 1),
        fmt(r.heap_kb, 1),
        fmt(r.external_kb, 1),
        fmt(r.connect_s, 1)
      ])
    }
    const m = idleResults.mur
    const b = idleResults.bare
    summaries.push(
      `Idle sockets: mur-server ${fmt(m?.rss_kb, 1)} KB RSS / ${fmt(m?.heap_kb, 1)} KB heap per socket, ` +
        `bare ws ${fmt(b?.rss_kb, 1)} KB RSS / ${fmt(b?.heap_kb, 1)} KB heap per socket (target < 20 KB)`
    )
    sections.push(`(c) Idle sockets: server memory per socket after a forced GC\n\n${table(rows)}`)
  }

  process.stdout.write(`\n${sections.join("\n\n")}\n\n${summaries.join("\n")}\n`)
  if (notes.length > 0) process.stdout.write(`\nNotes:\n${notes.map((n) => `- ${n}`).join("\n")}\n`)
  if (process.env.BENCH_JSON) process.stdout.write(`${JSON.stringify(results)}\n`)
  await cleanupAll()
  return failed ? 1 : 0
}

// ---------------------------------------------------------------------------------------

const role = process.argv[2]
if (role === "--fanout-clients") {
  await fanoutClients()
} else if (role === "--idle-clients") {
  await idleClients()
} else {
  let code = 1
  try {
    code = await main()
  } catch (e) {
    log(`${e?.stack ?? e}\n`)
  } finally {
    await cleanupAll()
  }
  process.exit(code)
}
