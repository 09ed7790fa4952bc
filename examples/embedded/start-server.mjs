// Embedding mur-server, form 1: `startServer` runs it in-process on a port of its own.
//
//   node examples/embedded/start-server.mjs
//
// Environment (all optional):
//   PORT          port to listen on (default 0: any free port)
//   DATABASE_URL  file:<path> (SQLite) or postgres://… (default: a SQLite file in a fresh temp dir)

import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Storage } from "@mur/core"
import { fileSecret, startServer } from "@mur/server"
import { Redacted } from "effect"

const dir = mkdtempSync(join(tmpdir(), "mur-embedded-"))
const database = Storage.parseDatabaseUrl(process.env.DATABASE_URL || `file:${join(dir, "mur.db")}`)
if ("error" in database) {
  rmSync(dir, { recursive: true, force: true })
  throw new Error(`DATABASE_URL ${database.error}`)
}

const server = await startServer({
  port: Number(process.env.PORT || 0),
  host: "127.0.0.1",
  database,
  logLevel: "warning",
  engine: {
    // Made once and kept in a 0600 file, so that tokens survive restarts.
    jwtSecret: Redacted.make(fileSecret(join(dir, "jwt-secret"))),
    bcryptCost: 10,
    allowSignup: true,
    baseUrl: "http://localhost",
    accessTokenTtlSeconds: 15 * 60,
    refreshTokenTtlSeconds: 7 * 24 * 3600
  }
})
console.log(`embedded mur-server on ${server.url}`)

let failed = false
try {
  const email = `ada-${Date.now()}@example.com`
  const registered = await fetch(`${server.url}/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: "correct horse battery", name: "Ada" })
  })
  const tokens = await registered.json()
  if (registered.status !== 201) throw new Error(`register: ${registered.status} ${JSON.stringify(tokens)}`)
  console.log(`registered ${tokens.user.email}`)

  const meReply = await fetch(`${server.url}/api/me`, {
    headers: { authorization: `Bearer ${tokens.access_token}` }
  })
  const me = await meReply.json()
  if (meReply.status !== 200) throw new Error(`/api/me: ${meReply.status} ${JSON.stringify(me)}`)
  console.log(`GET /api/me -> ${me.user.email}`)
} catch (error) {
  failed = true
  console.error(error)
} finally {
  // Stops accepting, lets in-flight requests finish (up to 5 s), closes the database.
  await server.close(5_000)
  rmSync(dir, { recursive: true, force: true })
  console.log("closed")
}
process.exitCode = failed ? 1 : 0
