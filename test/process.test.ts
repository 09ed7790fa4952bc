/**
 * The real `mur-server` binary: start-up errors, the zero-config SQLite default, draining
 * on SIGTERM, and durability across kill -9.
 */

import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { request, uniqueEmail } from "./support/http.js"
import { childEnv, runServerCommand, SERVER_BIN, spawnServer, TEST_SECRET } from "./support/server.js"
import { createDatabase, STORES } from "./support/stores.js"

const oneLine = (s: string) =>
  s
    .trim()
    .split("\n")
    .filter((l) => l.length > 0)

describe("start-up errors exit non-zero with one line naming the problem", () => {
  it.each([
    ["a malformed DATABASE_URL", { DATABASE_URL: "mysql://localhost/db" }, /DATABASE_URL/],
    ["a non-numeric PORT", { PORT: "eighty" }, /PORT/],
    ["an out-of-range PORT", { PORT: "70000" }, /PORT/],
    ["a bad BCRYPT_COST", { BCRYPT_COST: "4" }, /BCRYPT_COST/],
    ["a bad ALLOW_SIGNUP", { ALLOW_SIGNUP: "maybe" }, /ALLOW_SIGNUP/],
    ["a bad LOG_FORMAT", { LOG_FORMAT: "xml" }, /LOG_FORMAT/],
    [
      "PostgreSQL without JWT_SECRET",
      { DATABASE_URL: "postgres://postgres@127.0.0.1:5432/test", JWT_SECRET: "" },
      /JWT_SECRET/
    ],
    [
      "an unreachable PostgreSQL",
      { DATABASE_URL: "postgres://postgres@127.0.0.1:1/nowhere", JWT_SECRET: TEST_SECRET },
      /database|connect/i
    ]
  ])("%s", async (_label, env, pattern) => {
    const dir = mkdtempSync(join(tmpdir(), "mur-start-"))
    try {
      const r = await runServerCommand(["serve"], {
        DATABASE_URL: `file:${join(dir, "mur.db")}`,
        ...env
      } as Record<string, string>)
      expect(r.code).not.toBe(0)
      expect(r.code).not.toBeNull()
      expect(r.stdout).not.toMatch(/listening/)
      const lines = oneLine(r.stderr)
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(pattern)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("a --port flag overrides PORT", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mur-start-"))
    try {
      const server = await spawnServer({ PORT: "not-a-port", DATABASE_URL: `file:${join(dir, "mur.db")}` })
      expect((await request(server.url, "GET", "/healthz")).status).toBe(200)
      server.child.kill("SIGTERM")
      expect(await server.exited).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("zero-config SQLite default", () => {
  it("creates ./data, keeps a 0600 JWT secret there, and tokens survive a restart", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "mur-default-"))
    const start = () =>
      new Promise<{ url: string; kill: () => Promise<number | null> }>((resolve, reject) => {
        const env: NodeJS.ProcessEnv = { ...childEnv(), HOST: "127.0.0.1", BCRYPT_COST: "10", LOG_LEVEL: "error" }
        delete env.DATABASE_URL
        delete env.JWT_SECRET
        const child = spawn(SERVER_BIN, ["serve", "--port", "0"], { cwd, env, stdio: ["ignore", "pipe", "pipe"] })
        let out = ""
        let err = ""
        child.stderr.on("data", (d) => (err += d))
        const exited = new Promise<number | null>((r) => child.once("exit", r))
        exited.then((c) => reject(new Error(`exited ${c}: ${err}`)))
        child.stdout.on("data", (d) => {
          out += d
          const m = /listening on (\S+)/.exec(out)
          if (m)
            resolve({
              url: m[1]!,
              kill: () => {
                child.kill("SIGTERM")
                return exited
              }
            })
        })
      })
    try {
      const first = await start()
      const reg = await request(first.url, "POST", "/auth/register", {
        body: { email: uniqueEmail(), password: "long enough", name: "x" }
      })
      expect(reg.status).toBe(201)
      expect(await first.kill()).toBe(0)
      const secret = statSync(join(cwd, "data", "jwt-secret"))
      expect(secret.mode & 0o777).toBe(0o600)
      expect(statSync(join(cwd, "data", "mur.db")).isFile()).toBe(true)

      const second = await start()
      const me = await request(second.url, "GET", "/api/me", { token: reg.json.access_token })
      expect(me.status).toBe(200)
      expect(me.json.user.id).toBe(reg.json.user.id)
      expect(await second.kill()).toBe(0)
    } finally {
      rmSync(cwd, { recursive: true, force: true })
    }
  })
})

describe.each(STORES)("the binary on %s", (store) => {
  const envFor = (url: string) => ({ DATABASE_URL: url, JWT_SECRET: TEST_SECRET })

  it("migrate up applies, migrate status reports, serve starts on the migrated database", async () => {
    const db = await createDatabase(store)
    try {
      const before = await runServerCommand(["migrate", "status"], envFor(db.url))
      expect(before.code).toBe(0)
      expect(before.stdout).toMatch(/0001_init\tpending/)
      const up = await runServerCommand(["migrate", "up"], envFor(db.url))
      expect(up.code, up.stderr).toBe(0)
      expect(up.stdout).toMatch(/applied 0001_init/)
      const again = await runServerCommand(["migrate", "up"], envFor(db.url))
      expect(again.stdout).toMatch(/up to date/)
      const after = await runServerCommand(["migrate", "status"], envFor(db.url))
      expect(after.stdout).toMatch(/0001_init\tapplied \d{4}-/)
    } finally {
      await db.drop()
    }
  })

  it("SIGTERM lets an in-flight request finish, then exits 0", async () => {
    const db = await createDatabase(store)
    try {
      // A high bcrypt cost makes the registration slow enough to be in flight at SIGTERM.
      const server = await spawnServer({ ...envFor(db.url), BCRYPT_COST: "14" })
      const inFlight = request(server.url, "POST", "/auth/register", {
        body: { email: uniqueEmail(), password: "long enough", name: "x" }
      })
      await new Promise((r) => setTimeout(r, 150))
      server.child.kill("SIGTERM")
      const reply = await inFlight
      expect(reply.status).toBe(201)
      expect(await server.exited).toBe(0)
      const refused = await fetch(`${server.url}/healthz`).then(
        () => "answered",
        () => "refused"
      )
      expect(refused).toBe("refused")
    } finally {
      await db.drop()
    }
  })

  it("kill -9 during registrations: every user who got a 201 can log in after a restart", async () => {
    const db = await createDatabase(store)
    try {
      const first = await spawnServer(envFor(db.url))
      const created: string[] = []
      let stop = false
      const worker = async () => {
        while (!stop) {
          const email = uniqueEmail("crash")
          try {
            const r = await request(first.url, "POST", "/auth/register", {
              body: { email, password: "crash password", name: "x" }
            })
            if (r.status === 201) created.push(email)
          } catch {
            return
          }
        }
      }
      const workers = Array.from({ length: 8 }, worker)
      while (created.length < 20) await new Promise((r) => setTimeout(r, 20))
      first.child.kill("SIGKILL")
      stop = true
      await Promise.all(workers)
      await first.exited

      const second = await spawnServer(envFor(db.url))
      try {
        const results = await Promise.all(
          created.map((email) =>
            request(second.url, "POST", "/auth/login", { body: { email, password: "crash password" } }).then(
              (r) => r.status
            )
          )
        )
        expect(results.filter((s) => s !== 200)).toEqual([])
        expect(results.length).toBeGreaterThanOrEqual(20)
      } finally {
        second.child.kill("SIGTERM")
        await second.exited
      }
    } finally {
      await db.drop()
    }
  })
})
