// docker/verify.sh's fan-out check: a pattern created through server A reaches a WebSocket
// held by server B (two mur-server processes on one PostgreSQL database).
//
//   node docker/ws-check.mjs http://127.0.0.1:PORT_A http://127.0.0.1:PORT_B
//
// Registers a user on A, creates a team, opens /ws/sync on B, subscribes, creates a pattern
// on A and waits for B's socket to send its `pattern_created`. Prints one line per step on
// stderr and exits 0 when the event arrived, 1 otherwise. `ws` resolves from the repository's
// node_modules (or set NODE_PATH).
import { randomUUID } from "node:crypto"
import WebSocket from "ws"

const [a, b] = process.argv.slice(2)
if (!a || !b) {
  console.error("usage: node docker/ws-check.mjs URL_A URL_B")
  process.exit(2)
}
const TIMEOUT_MS = Number(process.env.WS_CHECK_TIMEOUT_MS ?? 20000)
const step = (msg) => console.error(`ws-check: ${msg}`)

async function call(base, method, path, body, token) {
  const res = await fetch(base + path, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {})
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000)
  })
  const text = await res.text()
  let json
  try {
    json = JSON.parse(text)
  } catch {
    json = text
  }
  return { status: res.status, json }
}

function expect(what, res, status) {
  if (res.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${res.status} ${JSON.stringify(res.json)}`)
  }
  step(`${what}: ${res.status}`)
  return res.json
}

const timer = setTimeout(() => {
  step(`timed out after ${TIMEOUT_MS} ms`)
  process.exit(1)
}, TIMEOUT_MS)

try {
  const id = randomUUID().slice(0, 8)
  const reg = expect(
    "A: POST /auth/register",
    await call(a, "POST", "/auth/register", {
      email: `fanout-${id}@example.com`,
      password: "correct horse battery",
      name: "Fan Out"
    }),
    201
  )
  const token = reg.access_token
  const team = expect("A: POST /api/team", await call(a, "POST", "/api/team", { name: `Verify ${id}` }, token), 201)
  expect("B: GET /api/me with A's token", await call(b, "GET", "/api/me", undefined, token), 200)

  const wsUrl = `${b.replace(/^http/, "ws")}/ws/sync?token=${encodeURIComponent(token)}`
  const ws = new WebSocket(wsUrl)
  const messages = []
  const waiters = []
  ws.on("message", (data) => {
    let msg
    try {
      msg = JSON.parse(String(data))
    } catch {
      return
    }
    messages.push(msg)
    for (const w of [...waiters]) if (w.match(msg)) w.resolve(msg)
  })
  const waitFor = (match) =>
    new Promise((resolve) => {
      const found = messages.find(match)
      if (found) return resolve(found)
      waiters.push({ match, resolve })
    })
  await new Promise((resolve, reject) => {
    ws.once("open", resolve)
    ws.once("error", reject)
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)))
  })
  ws.on("close", (code) => step(`B: socket closed (${code})`))
  step("B: /ws/sync open")
  ws.send(JSON.stringify({ type: "subscribe", channels: ["patterns"] }))
  const sub = await waitFor((m) => m.type === "subscribed")
  step(`B: subscribed, last_seq ${sub.last_seq}`)

  const name = `fanout-${id}`
  const t0 = Date.now()
  const created = expect(
    "A: POST /api/patterns",
    await call(a, "POST", "/api/patterns", { name, content: { from: "server-a" } }, token),
    201
  )
  const ev = await waitFor((m) => m.type === "pattern_created" && m.pattern?.name === name)
  if (ev.pattern.id !== created.pattern.id || ev.pattern.team_id !== team.team.id) {
    throw new Error(`B: pattern_created for the wrong pattern: ${JSON.stringify(ev)}`)
  }
  step(
    `B: received pattern_created seq ${ev.seq} for ${name} (${ev.pattern.id}), ${Date.now() - t0} ms after A was asked`
  )
  clearTimeout(timer)
  ws.close(1000)
  process.exit(0)
} catch (err) {
  step(`error: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
}
