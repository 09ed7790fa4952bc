/**
 * The real `mur` binary against a real `mur-server` process, each user with their own
 * temporary $MUR_HOME: config, the three logins, whoami, logout, exit codes, token
 * refresh, team commands between two users, and usage stats through the offline queue.
 */

import { createHmac } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request, uniqueEmail } from "./support/http.js"
import { ok, type Run, runMur, spawnMur } from "./support/mur.js"
import { type SpawnedServer, spawnServer, TEST_SECRET } from "./support/server.js"

/** Runs `mur` to completion (stdin gets `input`, then end of file). */
const mur = (home: string, args: ReadonlyArray<string>, options: { input?: string } = {}): Promise<Run> =>
  runMur(home, args, options)

const json = (run: Run) => JSON.parse(run.stdout)

const homes: Array<string> = []
const newHome = () => {
  const dir = mkdtempSync(join(tmpdir(), "mur-home-"))
  homes.push(dir)
  return dir
}

/** A port where nothing listens. */
const deadPort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = createServer()
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })

const PASSWORD = "cli test password"

describe("mur against a real server", () => {
  let server: SpawnedServer
  let dataDir: string
  const register = async (name: string) => {
    const email = uniqueEmail(name.toLowerCase())
    const r = await request(server.url, "POST", "/auth/register", { body: { email, password: PASSWORD, name } })
    expect(r.status, r.text).toBe(201)
    return { email, token: r.json.access_token as string, id: r.json.user.id as string }
  }
  /** A home logged in as a new user. */
  const loggedIn = async (name: string) => {
    const user = await register(name)
    const home = newHome()
    ok(await mur(home, ["config", "server", server.url]))
    ok(await mur(home, ["login", "--email", user.email, "--password", PASSWORD]))
    return { ...user, home }
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "mur-cli-db-"))
    server = await spawnServer({ DATABASE_URL: `file:${join(dataDir, "mur.db")}`, JWT_SECRET: TEST_SECRET })
  })
  afterAll(async () => {
    server?.child.kill("SIGTERM")
    await server?.exited
    rmSync(dataDir, { recursive: true, force: true })
    for (const h of homes) rmSync(h, { recursive: true, force: true })
  })

  describe("config", () => {
    it("sets and clears the server, keeps the other keys of config.yaml, and shows it", async () => {
      const home = newHome()
      writeFileSync(
        join(home, "config.yaml"),
        "# my settings\nlearning:\n  auto_extract: true\nserver:\n  mode: auto\n"
      )
      ok(await mur(home, ["config", "server", `${server.url}/`]))
      const text = readFileSync(join(home, "config.yaml"), "utf8")
      expect(text).toContain("# my settings")
      expect(text).toContain("auto_extract: true")
      expect(text).toContain(`url: ${server.url}\n`)

      ok(await mur(home, ["config", "set", "server.mode", "server"]))
      ok(await mur(home, ["config", "set", "server.team", "acme"]))
      ok(await mur(home, ["config", "set", "learning.max_patterns", "40"]))
      const shown = json(ok(await mur(home, ["config", "show", "--json"])))
      expect(shown).toEqual({
        learning: { auto_extract: true, max_patterns: 40 },
        server: { mode: "server", url: server.url, team: "acme" }
      })
      expect(ok(await mur(home, ["config", "show"])).stdout).toContain(`url: ${server.url}`)

      ok(await mur(home, ["config", "server", "--clear"]))
      const cleared = json(ok(await mur(home, ["--json", "config", "show"])))
      expect(cleared.server).toEqual({ mode: "server", team: "acme" })
      expect(cleared.learning.auto_extract).toBe(true)
    })

    it("refuses bad values with exit 2", async () => {
      const home = newHome()
      expect((await mur(home, ["config", "server", "not a url"])).code).toBe(2)
      expect((await mur(home, ["config", "server", "ftp://example.com"])).code).toBe(2)
      expect((await mur(home, ["config", "set", "server.mode", "sometimes"])).code).toBe(2)
    })
  })

  describe("usage errors", () => {
    it("exits 2 on an unknown subcommand or flag, and prints one JSON error document with --json", async () => {
      const home = newHome()
      const unknown = await mur(home, ["frobnicate"])
      expect(unknown.code).toBe(2)
      expect(unknown.stderr).toMatch(/frobnicate|subcommand/i)
      expect((await mur(home, ["team", "dance"])).code).toBe(2)
      expect((await mur(home, ["whoami", "--colour"])).code).toBe(2)
      expect((await mur(home, ["stats", "record", "--tool", "x"])).code).toBe(2)
      const withJson = await mur(home, ["frobnicate", "--json"])
      expect(withJson.code).toBe(2)
      expect(JSON.parse(withJson.stdout).error.code).toBe("usage")
      expect((await mur(home, ["--help"])).code).toBe(0)
      expect((await mur(home, ["--version"])).stdout).toContain("0.1.0")
    })
  })

  describe("login, whoami, logout", () => {
    it("logs in with --email/--password, keeps auth.json at 0600, and whoami --json prints {user, teams}", async () => {
      const user = await register("Alice")
      const home = newHome()
      ok(await mur(home, ["config", "server", server.url]))
      const login = ok(await mur(home, ["login", "--email", user.email, "--password", PASSWORD]))
      expect(login.stdout).toContain(user.email)
      const auth = JSON.parse(readFileSync(join(home, "auth.json"), "utf8"))
      expect(auth).toMatchObject({ user: { id: user.id, email: user.email } })
      expect(typeof auth.access_token).toBe("string")
      expect(typeof auth.refresh_token).toBe("string")
      expect(Date.parse(auth.expires_at)).toBeGreaterThan(Date.now())
      expect(statSync(join(home, "auth.json")).mode & 0o777).toBe(0o600)

      const me = json(ok(await mur(home, ["whoami", "--json"])))
      expect(me.user).toMatchObject({ id: user.id, email: user.email })
      expect(me.teams).toEqual([])
      expect(ok(await mur(home, ["whoami"])).stdout).toContain(user.email)
    })

    it("asks for the email and the password on stdin when they are not given", async () => {
      const user = await register("Prompted")
      const home = newHome()
      ok(await mur(home, ["config", "server", server.url]))
      const login = ok(await mur(home, ["login"], { input: `${user.email}\n${PASSWORD}\n` }))
      expect(login.stdout).toContain(user.email)
      // The password never shows up in the output.
      expect(login.stdout + login.stderr).not.toContain(PASSWORD)
      expect(json(ok(await mur(home, ["whoami", "--json"]))).user.id).toBe(user.id)
    })

    it("fails a wrong password with exit 1, and exits 3 when not logged in", async () => {
      const user = await register("Wrong")
      const home = newHome()
      ok(await mur(home, ["config", "server", server.url]))
      const wrong = await mur(home, ["login", "--email", user.email, "--password", "not the password"])
      expect(wrong.code).toBe(1)
      expect(wrong.stderr).toMatch(/wrong email or password/)
      const whoami = await mur(home, ["whoami", "--json"])
      expect(whoami.code).toBe(3)
      expect(JSON.parse(whoami.stdout).error.code).toBe("not_logged_in")
      expect((await mur(home, ["sync"])).code).toBe(3)
      expect((await mur(home, ["team", "members"])).code).toBe(3)
    })

    it("logout ends the login on the server, then whoami exits 3", async () => {
      const { home } = await loggedIn("Leaving")
      const { refresh_token } = JSON.parse(readFileSync(join(home, "auth.json"), "utf8"))
      ok(await mur(home, ["logout"]))
      expect(() => statSync(join(home, "auth.json"))).toThrow()
      expect((await mur(home, ["whoami"])).code).toBe(3)
      // The server no longer takes that login's refresh token.
      expect((await request(server.url, "POST", "/auth/refresh", { body: { refresh_token } })).status).toBe(401)
      expect(ok(await mur(home, ["logout"])).stdout).toMatch(/not logged in/i)
    })

    it("logs in with --device while the test approves the code through the API", async () => {
      const approver = await register("Approver")
      const home = newHome()
      ok(await mur(home, ["config", "server", server.url]))
      const child = spawnMur(home, ["login", "--device", "--json"])
      child.stdin!.end()
      let stdout = ""
      let stderr = ""
      child.stdout!.on("data", (d) => {
        stdout += d
      })
      const exited = new Promise<number | null>((r) => child.once("exit", r))
      const userCode = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no user code on stderr: ${stderr}`)), 20_000)
        child.stderr!.on("data", (d) => {
          stderr += d
          const m = /\b([A-Z0-9]{4}-[A-Z0-9]{4})\b/.exec(stderr)
          if (m) {
            clearTimeout(timer)
            resolve(m[1]!)
          }
        })
      })
      expect(stderr).toContain(`${server.url}/device`)
      const approved = await request(server.url, "POST", "/api/device/approve", {
        token: approver.token,
        body: { user_code: userCode, approve: true }
      })
      expect(approved.status, approved.text).toBe(200)
      expect(await exited).toBe(0)
      expect(JSON.parse(stdout).user.id).toBe(approver.id)
      expect(json(ok(await mur(home, ["whoami", "--json"]))).user.id).toBe(approver.id)
    })

    it("fails --device with exit 1 when the code is denied", async () => {
      const denier = await register("Denier")
      const home = newHome()
      ok(await mur(home, ["config", "server", server.url]))
      const child = spawnMur(home, ["login", "--device"])
      child.stdin!.end()
      let stderr = ""
      const exited = new Promise<number | null>((r) => child.once("exit", r))
      const userCode = await new Promise<string>((resolve) => {
        child.stderr!.on("data", (d) => {
          stderr += d
          const m = /\b([A-Z0-9]{4}-[A-Z0-9]{4})\b/.exec(stderr)
          if (m) resolve(m[1]!)
        })
      })
      await request(server.url, "POST", "/api/device/approve", {
        token: denier.token,
        body: { user_code: userCode, approve: false }
      })
      expect(await exited).toBe(1)
      expect(stderr).toMatch(/denied/)
      expect((await mur(home, ["whoami"])).code).toBe(3)
    })

    it("logs in with --api-key; a revoked key then exits 3", async () => {
      const user = await register("Robot")
      const created = await request(server.url, "POST", "/api/keys", { token: user.token, body: { name: "ci" } })
      expect(created.status, created.text).toBe(201)
      const home = newHome()
      ok(await mur(home, ["config", "server", server.url]))
      const login = json(ok(await mur(home, ["login", "--api-key", created.json.token, "--json"])))
      expect(login.user.id).toBe(user.id)
      const auth = JSON.parse(readFileSync(join(home, "auth.json"), "utf8"))
      expect(auth).toMatchObject({ api_key: created.json.token, user: { id: user.id } })
      expect(auth.access_token).toBeUndefined()
      expect(json(ok(await mur(home, ["whoami", "--json"]))).user.id).toBe(user.id)

      await request(server.url, "DELETE", `/api/keys/${created.json.key.id}`, { token: user.token })
      expect((await mur(home, ["whoami"])).code).toBe(3)
      expect((await mur(newHome(), ["login", "--api-key", "mur_nope"])).code).not.toBe(0)
    })

    it("exits 4 when the server does not answer", async () => {
      const { home } = await loggedIn("Offline")
      ok(await mur(home, ["config", "server", `http://127.0.0.1:${await deadPort()}`]))
      const r = await mur(home, ["whoami", "--json"])
      expect(r.code).toBe(4)
      expect(JSON.parse(r.stdout).error.code).toBe("unreachable")
      expect((await mur(home, ["sync"])).code).toBe(4)
    })
  })

  describe("token refresh", () => {
    const signExpired = (accessToken: string) => {
      const [, payload] = accessToken.split(".")
      const claims = JSON.parse(Buffer.from(payload!, "base64url").toString())
      const now = Math.floor(Date.now() / 1000)
      const body = { ...claims, iat: now - 3600, exp: now - 60 }
      const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url")
      const unsigned = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(body)}`
      return `${unsigned}.${createHmac("sha256", TEST_SECRET).update(unsigned).digest("base64url")}`
    }
    const readAuth = (home: string) => JSON.parse(readFileSync(join(home, "auth.json"), "utf8"))
    const writeAuth = (home: string, auth: unknown) => writeFileSync(join(home, "auth.json"), JSON.stringify(auth))

    it("refreshes before a call once expires_at has passed, and saves the rotated pair", async () => {
      const { home, id } = await loggedIn("Stale")
      const before = readAuth(home)
      writeAuth(home, { ...before, expires_at: new Date(Date.now() - 1000).toISOString() })
      expect(json(ok(await mur(home, ["whoami", "--json"]))).user.id).toBe(id)
      const after = readAuth(home)
      expect(after.refresh_token).not.toBe(before.refresh_token)
      expect(after.access_token).not.toBe(before.access_token)
      expect(Date.parse(after.expires_at)).toBeGreaterThan(Date.now())
      expect(statSync(join(home, "auth.json")).mode & 0o777).toBe(0o600)
    })

    it("refreshes after a 401 token_expired and retries the call", async () => {
      const { home, id } = await loggedIn("Expired")
      const before = readAuth(home)
      const expired = signExpired(before.access_token)
      const check = await request(server.url, "GET", "/api/me", { token: expired })
      expect(check.json.error.code).toBe("token_expired")
      writeAuth(home, { ...before, access_token: expired })
      expect(json(ok(await mur(home, ["whoami", "--json"]))).user.id).toBe(id)
      expect(readAuth(home).refresh_token).not.toBe(before.refresh_token)
    })

    it("exits 3 only when the refresh token is refused", async () => {
      const { home } = await loggedIn("Gone")
      const before = readAuth(home)
      writeAuth(home, { ...before, access_token: signExpired(before.access_token), refresh_token: "revoked" })
      const r = await mur(home, ["whoami"])
      expect(r.code).toBe(3)
      expect(r.stderr).toMatch(/mur login/)
    })
  })

  describe("team commands between two users", () => {
    it("create, invite, join, members, stats, leave; --team picks among several teams", async () => {
      const alice = await loggedIn("Alice")
      const bob = await loggedIn("Bob")
      const created = json(ok(await mur(alice.home, ["team", "create", "Rocket Team", "--json"])))
      expect(created.team).toMatchObject({ name: "Rocket Team", plan: "free" })
      const slug = created.team.slug as string

      const invite = json(ok(await mur(alice.home, ["team", "invite", bob.email, "--json"])))
      expect(typeof invite.invite_code).toBe("string")
      expect(Date.parse(invite.expires_at)).toBeGreaterThan(Date.now())
      // Without --json the code alone is on stdout.
      const carol = await loggedIn("Carol")
      const plain = ok(await mur(alice.home, ["team", "invite", carol.email, "--role", "admin"]))
      expect(plain.stdout.trim()).toMatch(/^\S+$/)

      const joined = json(ok(await mur(bob.home, ["team", "join", invite.invite_code, "--json"])))
      expect(joined.team.slug).toBe(slug)
      expect((await mur(bob.home, ["team", "join", invite.invite_code])).code).toBe(1)

      const members = json(ok(await mur(bob.home, ["team", "members", "--json"])))
      expect(members.members.map((m: { email: string }) => m.email).sort()).toEqual([alice.email, bob.email].sort())
      expect(members.members.find((m: { email: string }) => m.email === bob.email).role).toBe("member")
      expect(ok(await mur(alice.home, ["team", "members"])).stdout).toContain(bob.email)
      expect(json(ok(await mur(bob.home, ["whoami", "--json"]))).teams[0].team.slug).toBe(slug)

      // Team stats are for admins.
      expect(json(ok(await mur(alice.home, ["team", "stats", "--json"]))).members).toHaveLength(2)
      expect((await mur(bob.home, ["team", "stats"])).code).toBe(1)

      // With a second team, team-scoped commands need --team (anywhere on the line).
      ok(await mur(alice.home, ["team", "create", "Second Team"]))
      const several = await mur(alice.home, ["team", "members"])
      expect(several.code).toBe(1)
      expect(several.stderr).toMatch(/--team/)
      const picked = json(ok(await mur(alice.home, ["team", "members", "--team", slug, "--json"])))
      expect(picked.members).toHaveLength(2)
      expect(json(ok(await mur(alice.home, ["--team", slug, "--json", "team", "members"]))).members).toHaveLength(2)
      expect((await mur(alice.home, ["--team", "no-such-team", "sync"])).code).toBe(1)

      // The only admin cannot leave while a member stays.
      const lastAdmin = await mur(alice.home, ["team", "leave", "--team", slug, "--json"])
      expect(lastAdmin.code).toBe(1)
      expect(JSON.parse(lastAdmin.stdout).error.code).toBe("last_admin")
      ok(await mur(bob.home, ["team", "leave"]))
      expect(json(ok(await mur(bob.home, ["whoami", "--json"]))).teams).toEqual([])
      const after = json(ok(await mur(alice.home, ["team", "members", "--team", slug, "--json"])))
      expect(after.members.map((m: { email: string }) => m.email)).toEqual([alice.email])
    })
  })

  describe("stats", () => {
    it("queues records while the server is unreachable; one flush delivers them all once, a second delivers nothing", async () => {
      const user = await loggedIn("Counter")
      ok(await mur(user.home, ["team", "create", "Counting"]))
      ok(await mur(user.home, ["config", "server", `http://127.0.0.1:${await deadPort()}`]))
      const ids: Array<string> = []
      for (let i = 0; i < 3; i++) {
        const r = json(
          ok(
            await mur(user.home, [
              "stats",
              "record",
              "--tool",
              "claude-code",
              "--action",
              "run",
              "--duration-ms",
              "1500",
              "--tokens",
              "100",
              "--cost-usd",
              "0.25",
              "--json"
            ])
          )
        )
        expect(r).toMatchObject({ queued: true, delivered: false, pending: i + 1 })
        ids.push(r.id)
      }
      const queue = readFileSync(join(user.home, "stats-queue.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l))
      expect(queue.map((r) => r.id)).toEqual(ids)
      expect(new Set(ids).size).toBe(3)
      expect(queue[0]).toMatchObject({
        tool: "claude-code",
        action: "run",
        duration_ms: 1500,
        tokens_used: 100,
        cost_usd: 0.25
      })

      const offline = await mur(user.home, ["stats", "flush"])
      expect(offline.code).toBe(4)
      expect(readFileSync(join(user.home, "stats-queue.jsonl"), "utf8").trim().split("\n")).toHaveLength(3)

      ok(await mur(user.home, ["config", "server", server.url]))
      const first = json(ok(await mur(user.home, ["stats", "flush", "--json"])))
      expect(first).toMatchObject({ delivered: 3, duplicates: 0, pending: 0 })
      const second = json(ok(await mur(user.home, ["stats", "flush", "--json"])))
      expect(second).toMatchObject({ delivered: 0, pending: 0 })

      const mine = json(ok(await mur(user.home, ["stats", "--json"])))
      expect(mine.stats).toMatchObject({ runs: 3, tokens: 300, duration_ms: 4500 })
      expect(mine.stats.cost_usd).toBeCloseTo(0.75)
      const csv = ok(await mur(user.home, ["stats", "--export", "csv"])).stdout
      expect(csv.trim().split("\n")).toHaveLength(4)
      expect(csv.split("\n")[0]).toMatch(/^created_at,user_id,user_email,tool,action/)
      const file = join(user.home, "usage.csv")
      ok(await mur(user.home, ["stats", "--export", "csv", "--output", file, "--from", "2000-01-01"]))
      expect(readFileSync(file, "utf8")).toBe(csv)
      expect((await mur(user.home, ["stats", "--from", "yesterday"])).code).toBe(2)
      expect((await mur(user.home, ["stats", "record", "--tool", "x", "--action", "y", "--tokens", "-1"])).code).toBe(2)
    })

    it("records through the library function without spawning mur", async () => {
      const user = await loggedIn("Library")
      const { recordUsage, flushUsage } = await import("mur")
      const recorded = await recordUsage({ tool: "my-agent", action: "run", tokens_used: 42 }, { home: user.home })
      expect(recorded).toMatchObject({ delivered: true, pending: 0 })
      expect(await flushUsage({ home: user.home })).toMatchObject({ delivered: 0, pending: 0 })
      const me = await request(server.url, "GET", "/api/stats/me", { token: user.token })
      expect(me.json.stats).toMatchObject({ runs: 1, tokens: 42 })
      await expect(recordUsage({ tool: "", action: "run" }, { home: user.home })).rejects.toMatchObject({ exitCode: 2 })
    })
  })
})
