/** The embedding examples (`examples/embedded`) run as real Node programs against the built library. */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const ROOT = join(import.meta.dirname, "..")
const EXAMPLES = join(ROOT, "examples", "embedded")
const TIMEOUT_MS = 60_000

interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly lines: ReadonlyArray<string>
}

/** Runs an example with `node` from the repository root, killing it after 60 s. */
const runExample = (file: string, env: Record<string, string> = {}): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(EXAMPLES, file)], {
      cwd: ROOT,
      env: { ...process.env, PORT: "", DATABASE_URL: "", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => {
      stdout += d
    })
    child.stderr.on("data", (d) => {
      stderr += d
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS)
    child.once("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, lines: stdout.split("\n").filter((l) => l.length > 0) })
    })
  })

const describeRun = (run: Run) => `exit ${run.code} ${run.signal ?? ""}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`

/** The one line matching `re`, with its captures. */
const line = (run: Run, re: RegExp): RegExpExecArray => {
  const matches = run.lines.map((l) => re.exec(l)).filter((m): m is RegExpExecArray => m !== null)
  expect(matches, `one line matching ${re}\n${describeRun(run)}`).toHaveLength(1)
  return matches[0]!
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      const port = typeof address === "object" && address ? address.port : 0
      probe.close(() => resolve(port))
    })
  })

const EMAIL = String.raw`([a-z]+-\d+@example\.com)`

describe("examples/embedded", () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "mur-embedded-test-"))
  })
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  describe("start-server.mjs", () => {
    it("starts mur-server in-process, registers a user, reads /api/me and closes with exit 0", async () => {
      const run = await runExample("start-server.mjs")
      expect(run.code, describeRun(run)).toBe(0)

      const url = line(run, /^embedded mur-server on (http:\/\/127\.0\.0\.1:(\d+))$/)
      expect(Number(url[2])).toBeGreaterThan(0)
      const registered = line(run, new RegExp(`^registered ${EMAIL}$`))[1]
      const me = line(run, new RegExp(`^GET /api/me -> ${EMAIL}$`))[1]
      expect(me).toBe(registered)
      expect(run.lines.at(-1)).toBe("closed")
      // In that order: listening, registered, /api/me, closed.
      expect(run.lines.indexOf(url[0])).toBeLessThan(run.lines.indexOf(`registered ${registered}`))
      expect(run.lines.indexOf(`registered ${registered}`)).toBeLessThan(run.lines.indexOf(`GET /api/me -> ${me}`))

      // It no longer listens once it has exited.
      await expect(fetch(`${url[1]}/healthz`)).rejects.toThrow()
    })

    it("uses the PORT and DATABASE_URL it is given", async () => {
      const port = await freePort()
      const dbFile = join(dir, "start-server.db")
      const run = await runExample("start-server.mjs", { PORT: String(port), DATABASE_URL: `file:${dbFile}` })
      expect(run.code, describeRun(run)).toBe(0)
      line(run, new RegExp(`^embedded mur-server on http://127\\.0\\.0\\.1:${port}$`))
      line(run, new RegExp(`^GET /api/me -> ${EMAIL}$`))
      expect(existsSync(dbFile)).toBe(true)
      expect(statSync(dbFile).size).toBeGreaterThan(0)
    })

    it("exits non-zero, without listening, on a DATABASE_URL it cannot use", async () => {
      const run = await runExample("start-server.mjs", { DATABASE_URL: "mysql://nope" })
      expect(run.code, describeRun(run)).not.toBe(0)
      expect(run.stderr).toContain("DATABASE_URL must start with file: (SQLite) or postgres:// (PostgreSQL)")
      expect(run.stdout).not.toContain("embedded mur-server on")
    })
  })

  describe("mount-handler.mjs", () => {
    it("serves its own route and mur-server's routes from one http.Server, then closes with exit 0", async () => {
      const run = await runExample("mount-handler.mjs")
      expect(run.code, describeRun(run)).toBe(0)

      const url = line(run, /^host app with mur-server mounted on (http:\/\/127\.0\.0\.1:(\d+))$/)
      expect(Number(url[2])).toBeGreaterThan(0)
      // The host's own route, answered by the host.
      line(run, /^GET \/hello -> 200 hello from the host app$/)
      // mur-server's routes, answered by the mounted handler.
      line(run, /^GET \/healthz -> 200 \{"status":"ok"\}$/)
      const registered = line(run, new RegExp(`^registered ${EMAIL}$`))[1]
      const me = line(run, new RegExp(`^GET /api/me -> ${EMAIL}$`))[1]
      expect(me).toBe(registered)
      // Neither the host nor mur-server: the host's 404.
      line(run, /^GET \/elsewhere -> 404$/)
      expect(run.lines.at(-1)).toBe("closed")

      await expect(fetch(`${url[1]}/hello`)).rejects.toThrow()
    })

    it("uses the PORT and DATABASE_URL it is given", async () => {
      const port = await freePort()
      const dbFile = join(dir, "mount-handler.db")
      const run = await runExample("mount-handler.mjs", { PORT: String(port), DATABASE_URL: `file:${dbFile}` })
      expect(run.code, describeRun(run)).toBe(0)
      line(run, new RegExp(`^host app with mur-server mounted on http://127\\.0\\.0\\.1:${port}$`))
      line(run, new RegExp(`^GET /api/me -> ${EMAIL}$`))
      expect(existsSync(dbFile)).toBe(true)
      expect(statSync(dbFile).size).toBeGreaterThan(0)
    })
  })
})
