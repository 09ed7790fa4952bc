/** Starting mur-server for a test: in-process through the library, or as the real binary. */

import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { Storage } from "@mur/core"
import { type RunningServer, type ServerOptions, startServer } from "@mur/server"
import { Redacted } from "effect"
import { createDatabase, type StoreName, type TestDatabase } from "./stores.js"

export const ROOT = join(import.meta.dirname, "..", "..")
export const SERVER_BIN = join(ROOT, "node_modules", ".bin", "mur-server")
export const TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"

export interface TestServer {
  readonly url: string
  readonly db: TestDatabase
  readonly running: RunningServer
  readonly stop: () => Promise<void>
}

/** An in-process server on a fresh database of the given store. */
export const startTestServer = async (
  store: StoreName,
  overrides: Partial<Omit<ServerOptions, "engine">> & { engine?: Partial<ServerOptions["engine"]> } = {}
): Promise<TestServer> => {
  const db = await createDatabase(store)
  const database = Storage.parseDatabaseUrl(db.url)
  if ("error" in database) throw new Error(database.error)
  const running = await startServer({
    port: 0,
    host: "127.0.0.1",
    database,
    logLevel: "none",
    rateLimits: { auth: 0, user: 0, team: 0 },
    ...overrides,
    engine: {
      jwtSecret: Redacted.make(TEST_SECRET),
      bcryptCost: 10,
      allowSignup: true,
      accessTokenTtlSeconds: 900,
      refreshTokenTtlSeconds: 7 * 24 * 3600,
      ...overrides.engine
    }
  })
  return {
    url: running.url,
    db,
    running,
    stop: async () => {
      await running.close(1000)
      await db.drop()
    }
  }
}

/** The test runner's environment without what Vite puts there (it sets BASE_URL to "/"). */
export const childEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env }
  delete env.BASE_URL
  return env
}

export interface SpawnedServer {
  readonly child: ChildProcess
  readonly url: string
  readonly stderr: () => string
  readonly exited: Promise<number | null>
}

/** Runs the real `mur-server serve` binary and waits for its listening line. */
export const spawnServer = (env: Record<string, string>, args: ReadonlyArray<string> = []): Promise<SpawnedServer> =>
  new Promise((resolve, reject) => {
    const child = spawn(SERVER_BIN, ["serve", "--port", "0", ...args], {
      env: {
        ...childEnv(),
        HOST: "127.0.0.1",
        BCRYPT_COST: "10",
        RATE_LIMIT_AUTH: "0",
        RATE_LIMIT_USER: "0",
        RATE_LIMIT_TEAM: "0",
        LOG_LEVEL: "error",
        ...env
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    let err = ""
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
    const timer = setTimeout(() => reject(new Error(`no listening line in 30 s; stderr: ${err}`)), 30_000)
    child.stderr!.on("data", (d) => {
      err += d
    })
    child.stdout!.on("data", (d) => {
      out += d
      const m = /mur-server listening on (http:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve({ child, url: m[1]!, stderr: () => err, exited })
      }
    })
    exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code}: ${err}`))
    })
  })

/** Runs a command of the binary to completion, with `input` (if any) on its stdin. */
export const runServerCommand = (
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  input?: string
): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const child = spawn(SERVER_BIN, [...args], {
      env: { ...childEnv(), LOG_LEVEL: "error", ...env },
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"]
    })
    child.stdin?.end(input)
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (d) => {
      stdout += d
    })
    child.stderr!.on("data", (d) => {
      stderr += d
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    child.once("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

/** SIGTERM to each spawned server (absent ones skipped), waiting for each to exit. */
export const stopServers = async (...servers: ReadonlyArray<SpawnedServer | undefined>) => {
  for (const s of servers) {
    s?.child.kill("SIGTERM")
    await s?.exited
  }
}
