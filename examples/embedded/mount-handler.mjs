// Embedding mur-server, form 2: `createHandler` gives a Node request listener that you mount
// in an `http.Server` of your own, next to your own routes.
//
//   node examples/embedded/mount-handler.mjs
//
// Environment (all optional):
//   PORT          port to listen on (default 0: any free port)
//   DATABASE_URL  file:<path> (SQLite) or postgres://… (default: a SQLite file in a fresh temp dir)

import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Storage } from "@mur/core"
import { createHandler, fileSecret } from "@mur/server"
import { Redacted } from "effect"

const dir = mkdtempSync(join(tmpdir(), "mur-embedded-"))
const database = Storage.parseDatabaseUrl(process.env.DATABASE_URL || `file:${join(dir, "mur.db")}`)
if ("error" in database) {
  rmSync(dir, { recursive: true, force: true })
  throw new Error(`DATABASE_URL ${database.error}`)
}

// Opens (and migrates) the database; the handler is ready once this resolves.
const mur = await createHandler({
  database,
  logLevel: "warning",
  engine: {
    jwtSecret: Redacted.make(fileSecret(join(dir, "jwt-secret"))),
    bcryptCost: 10,
    allowSignup: true,
    baseUrl: "http://localhost",
    accessTokenTtlSeconds: 15 * 60,
    refreshTokenTtlSeconds: 7 * 24 * 3600
  }
})

// mur-server's paths; anything else is this program's own.
const isMurPath = (path) => path === "/healthz" || path === "/readyz" || /^\/(auth|api)(\/|$)/.test(path)

const server = createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://localhost").pathname
  if (req.method === "GET" && path === "/hello") {
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" })
    res.end("hello from the host app\n")
  } else if (isMurPath(path)) {
    mur.handler(req, res)
  } else {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" })
    res.end("not found\n")
  }
})
await new Promise((resolve, reject) => {
  server.once("error", reject)
  server.listen(Number(process.env.PORT || 0), "127.0.0.1", resolve)
})
const url = `http://127.0.0.1:${server.address().port}`
console.log(`host app with mur-server mounted on ${url}`)

let failed = false
try {
  const hello = await fetch(`${url}/hello`)
  console.log(`GET /hello -> ${hello.status} ${(await hello.text()).trim()}`)

  const health = await fetch(`${url}/healthz`)
  console.log(`GET /healthz -> ${health.status} ${JSON.stringify(await health.json())}`)

  const email = `grace-${Date.now()}@example.com`
  const registered = await fetch(`${url}/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: "correct horse battery", name: "Grace" })
  })
  const tokens = await registered.json()
  if (registered.status !== 201) throw new Error(`register: ${registered.status} ${JSON.stringify(tokens)}`)
  console.log(`registered ${tokens.user.email}`)

  const meReply = await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  const me = await meReply.json()
  if (meReply.status !== 200) throw new Error(`/api/me: ${meReply.status} ${JSON.stringify(me)}`)
  console.log(`GET /api/me -> ${me.user.email}`)

  const other = await fetch(`${url}/elsewhere`)
  await other.text()
  console.log(`GET /elsewhere -> ${other.status}`)
} catch (error) {
  failed = true
  console.error(error)
} finally {
  // Your server first (stop accepting, drop idle keep-alive sockets), then mur-server's resources.
  mur.drain()
  const closed = new Promise((resolve) => server.close(resolve))
  server.closeIdleConnections()
  await closed
  await mur.close()
  rmSync(dir, { recursive: true, force: true })
  console.log("closed")
}
process.exitCode = failed ? 1 : 0
