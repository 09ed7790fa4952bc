/**
 * `mur sync` (the real binary) against a real server: which files are pushed and how they
 * map to server patterns, pulls, edits, deletes, conflicts, dry runs, and kill -9 in the
 * middle of a push and of a pull, each user with their own temporary $MUR_HOME.
 */

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import YAML from "yaml"
import { request, uniqueEmail } from "./support/http.js"
import { ok, type Run, runMur, spawnMur } from "./support/mur.js"
import { type SpawnedServer, spawnServer } from "./support/server.js"

const mur = (home: string, args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<Run> =>
  runMur(home, args, { env })

/** `mur sync --json`, which must succeed; its report. */
const sync = async (home: string, env: Record<string, string> = {}) =>
  JSON.parse(ok(await mur(home, ["sync", "--json"], env)).stdout) as {
    pushed: Array<string>
    pulled: Array<string>
    deleted: Array<string>
    conflicts: Array<{ name: string; file: string }>
    rejected: Array<{ name: string }>
    last_seq: number
  }

const homes: Array<string> = []
const newHome = () => {
  const dir = mkdtempSync(join(tmpdir(), "mur-home-"))
  homes.push(dir)
  return dir
}

const patternsDir = (home: string) => join(home, "patterns")
const writePattern = (home: string, name: string, text: string) => {
  mkdirSync(patternsDir(home), { recursive: true })
  writeFileSync(join(patternsDir(home), `${name}.yaml`), text)
}
const readPattern = (home: string, name: string) => readFileSync(join(patternsDir(home), `${name}.yaml`), "utf8")
const parsePattern = (home: string, name: string) => YAML.parse(readPattern(home, name))
const syncState = (home: string) => JSON.parse(readFileSync(join(home, "sync-state.json"), "utf8"))
/** The state of the only team of the only server in sync-state.json. */
const teamState = (home: string) => {
  const servers = Object.values(syncState(home).servers) as Array<{ teams: Record<string, any> }>
  expect(servers).toHaveLength(1)
  const teams = Object.values(servers[0]!.teams)
  expect(teams).toHaveLength(1)
  return teams[0] as { last_seq: number; patterns: Record<string, { id: string; version: number; hash: string }> }
}

const V2_PATTERN = `# A v2 pattern, as the real mur tool writes it
id: 6a0c1a52-1b51-4d6c-8f4c-000000000001
name: go-errors
description: Wrap errors with context
content: |
  Use fmt.Errorf("doing x: %w", err) so callers can errors.Is the cause.
tags:
  inferred:
    - tag: go
      confidence: 0.92
  confirmed:
    - go
    - errors
applies:
  languages: [go]
security:
  hash: abc
  trust_level: owner
  reviewed: true
  risk: low
learning:
  effectiveness: 0.8
  usage_count: 3
lifecycle:
  status: active
  created: 2026-01-02T03:04:05Z
  updated: 2026-01-02T03:04:05Z
schema_version: 2
team_shared: true
`

const V1_PATTERN = `name: table-tests
description: Table-driven tests
content: Put the cases in a slice of structs.
domain: dev
category: testing
confidence: 0.7
tags: [go, tests]
team_shared: true
created_at: "2025-05-01T00:00:00Z"
`

const PRIVATE_PATTERN = `schema_version: 2
name: my-secret
content: only mine
tags:
  confirmed: [private]
team_shared: false
`

describe("mur sync against a real server", () => {
  let server: SpawnedServer
  let dataDir: string

  const register = async (name: string) => {
    const email = uniqueEmail(name.toLowerCase())
    const r = await request(server.url, "POST", "/auth/register", {
      body: { email, password: "sync test password", name }
    })
    expect(r.status, r.text).toBe(201)
    const home = newHome()
    ok(await mur(home, ["config", "server", server.url]))
    ok(await mur(home, ["login", "--email", email, "--password", "sync test password"]))
    return { email, token: r.json.access_token as string, id: r.json.user.id as string, home }
  }
  type User = Awaited<ReturnType<typeof register>>

  /** A team made through mur by `admin`, joined by each of `members` through mur. */
  const makeTeam = async (name: string, admin: User, members: ReadonlyArray<User>) => {
    const created = JSON.parse(ok(await mur(admin.home, ["team", "create", name, "--json"])).stdout)
    for (const m of members) {
      const invite = JSON.parse(ok(await mur(admin.home, ["team", "invite", m.email, "--json"])).stdout)
      ok(await mur(m.home, ["team", "join", invite.invite_code]))
    }
    return created.team as { id: string; slug: string }
  }

  const api = (user: User, method: string, path: string, body?: unknown) =>
    request(server.url, method, path, { token: user.token, ...(body === undefined ? {} : { body }) })

  const serverPatterns = async (user: User) => {
    const all: Array<any> = []
    for (let page = 1; ; page++) {
      const r = await api(user, "GET", `/api/patterns?limit=100&page=${page}&sort=name`)
      expect(r.status, r.text).toBe(200)
      all.push(...r.json.patterns)
      if (all.length >= r.json.total) return all
    }
  }
  const lastSeq = async (user: User) => (await api(user, "GET", "/api/sync/status")).json.last_seq as number

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "mur-cli-sync-db-"))
    server = await spawnServer({ DATABASE_URL: `file:${join(dataDir, "mur.db")}` })
  })
  afterAll(async () => {
    server?.child.kill("SIGTERM")
    await server?.exited
    rmSync(dataDir, { recursive: true, force: true })
    for (const h of homes) rmSync(h, { recursive: true, force: true })
  })

  describe("between an admin and a member", () => {
    let alice: User
    let bob: User
    beforeAll(async () => {
      alice = await register("Alice")
      bob = await register("Bob")
      await makeTeam("Patterns Team", alice, [bob])
    })

    it("pushes only team_shared files; v2 tags.confirmed and the v1 fields map to the pattern", async () => {
      writePattern(alice.home, "go-errors", V2_PATTERN)
      writePattern(alice.home, "table-tests", V1_PATTERN)
      writePattern(alice.home, "my-secret", PRIVATE_PATTERN)
      const report = await sync(alice.home)
      expect(report.pushed.sort()).toEqual(["go-errors", "table-tests"])
      expect(report.conflicts).toEqual([])

      const patterns = await serverPatterns(alice)
      expect(patterns.map((p) => p.name)).toEqual(["go-errors", "table-tests"])
      const v2 = patterns.find((p) => p.name === "go-errors")
      expect(v2).toMatchObject({
        description: "Wrap errors with context",
        tags: ["go", "errors"],
        category: null,
        version: 1
      })
      expect(v2.content).toEqual(YAML.parse(V2_PATTERN))
      const v1 = patterns.find((p) => p.name === "table-tests")
      expect(v1).toMatchObject({ description: "Table-driven tests", tags: ["go", "tests"], category: "testing" })
      expect(v1.content).toEqual(YAML.parse(V1_PATTERN))
      // The local files are left as they were written.
      expect(readPattern(alice.home, "go-errors")).toBe(V2_PATTERN)

      const state = teamState(alice.home)
      expect(Object.keys(state.patterns).sort()).toEqual(["go-errors", "table-tests"])
      expect(state.patterns["go-errors"]).toMatchObject({ id: v2.id, version: 1 })
      expect(existsSync(join(alice.home, "device_id"))).toBe(true)
    })

    it("pulls the team's patterns into files with team_shared: true, holding what was pushed", async () => {
      const report = await sync(bob.home)
      expect(report.pulled.sort()).toEqual(["go-errors", "table-tests"])
      expect(parsePattern(bob.home, "go-errors")).toEqual(YAML.parse(V2_PATTERN))
      expect(parsePattern(bob.home, "table-tests")).toEqual(YAML.parse(V1_PATTERN))
      expect(existsSync(join(patternsDir(bob.home), "my-secret.yaml"))).toBe(false)
    })

    it("writes a pattern created on the server as a file with team_shared: true", async () => {
      const content = {
        schema_version: 2,
        name: "from-server",
        description: "Made in the dashboard",
        content: "Prefer small functions.",
        tags: { confirmed: ["style"] }
      }
      const created = await api(alice, "POST", "/api/patterns", {
        name: "from-server",
        description: "Made in the dashboard",
        content,
        tags: ["style"]
      })
      expect(created.status, created.text).toBe(201)
      const report = await sync(bob.home)
      expect(report.pulled).toEqual(["from-server"])
      expect(parsePattern(bob.home, "from-server")).toEqual({ ...content, team_shared: true })

      // Description and tags edited on the server (content untouched) reach the file too.
      const updated = await api(alice, "PUT", `/api/patterns/${created.json.pattern.id}`, {
        description: "Edited on the server",
        tags: ["style", "readability"]
      })
      expect(updated.status, updated.text).toBe(200)
      await sync(bob.home)
      expect(parsePattern(bob.home, "from-server")).toMatchObject({
        description: "Edited on the server",
        tags: { confirmed: ["style", "readability"] },
        team_shared: true
      })
      // That file now matches the server: nothing to push back.
      const again = await sync(bob.home)
      expect(again.pushed).toEqual([])
    })

    it("pushes a local edit as the next version; a sync with no change pushes nothing", async () => {
      const edited = readPattern(bob.home, "table-tests").replace("Put the cases", "Always put the cases")
      writeFileSync(join(patternsDir(bob.home), "table-tests.yaml"), edited)
      const report = await sync(bob.home)
      expect(report.pushed).toEqual(["table-tests"])
      const pattern = (await serverPatterns(bob)).find((p) => p.name === "table-tests")
      expect(pattern.version).toBe(2)
      expect(pattern.content.content).toBe("Always put the cases in a slice of structs.")
      expect(teamState(bob.home).patterns["table-tests"]!.version).toBe(2)

      const seq = await lastSeq(bob)
      const quiet = await sync(bob.home)
      expect(quiet).toMatchObject({ pushed: [], pulled: [], deleted: [], conflicts: [] })
      expect(await lastSeq(bob)).toBe(seq)
      expect(ok(await mur(bob.home, ["sync"])).stdout).toMatch(/up to date/i)
      expect(await lastSeq(bob)).toBe(seq)

      const pulled = await sync(alice.home)
      expect(pulled.pulled).toContain("table-tests")
      expect(parsePattern(alice.home, "table-tests").content).toBe("Always put the cases in a slice of structs.")
      expect(await lastSeq(alice)).toBe(seq)
    })

    it("shows with --dry-run what would happen, and changes nothing", async () => {
      writePattern(alice.home, "dry-run-only", "name: dry-run-only\ncontent: x\nteam_shared: true\n")
      const stateBefore = readFileSync(join(alice.home, "sync-state.json"), "utf8")
      const seq = await lastSeq(alice)
      const dry = JSON.parse(ok(await mur(alice.home, ["sync", "--dry-run", "--json"])).stdout)
      expect(dry).toMatchObject({ dry_run: true, pushed: ["dry-run-only"] })
      expect(ok(await mur(alice.home, ["sync", "--dry-run"])).stdout).toMatch(/dry run/i)
      expect(await lastSeq(alice)).toBe(seq)
      expect(readFileSync(join(alice.home, "sync-state.json"), "utf8")).toBe(stateBefore)
      rmSync(join(patternsDir(alice.home), "dry-run-only.yaml"))
    })

    it("removes the local file of a pattern deleted on the server", async () => {
      const pattern = (await serverPatterns(alice)).find((p) => p.name === "from-server")
      expect((await api(alice, "DELETE", `/api/patterns/${pattern.id}`)).status).toBe(200)
      expect(existsSync(join(patternsDir(bob.home), "from-server.yaml"))).toBe(true)
      const report = await sync(bob.home)
      expect(report.deleted).toEqual(["from-server"])
      expect(existsSync(join(patternsDir(bob.home), "from-server.yaml"))).toBe(false)
      expect(teamState(bob.home).patterns["from-server"]).toBeUndefined()
      await sync(alice.home)
      expect(existsSync(join(patternsDir(alice.home), "from-server.yaml"))).toBe(false)
    })

    it("on a conflict, lets the server's copy win and keeps the local text as <name>.conflict.yaml", async () => {
      const bobText = readPattern(bob.home, "go-errors").replace("Wrap errors with context", "Wrap errors (Bob)")
      writeFileSync(join(patternsDir(bob.home), "go-errors.yaml"), bobText)
      expect((await sync(bob.home)).pushed).toEqual(["go-errors"])

      const aliceText = readPattern(alice.home, "go-errors").replace("Wrap errors with context", "Wrap errors (Alice)")
      writeFileSync(join(patternsDir(alice.home), "go-errors.yaml"), aliceText)
      const run = ok(await mur(alice.home, ["sync"]))
      expect(run.stdout).toMatch(/conflict/i)
      expect(run.stdout).toContain("go-errors.conflict.yaml")
      expect(readFileSync(join(patternsDir(alice.home), "go-errors.conflict.yaml"), "utf8")).toBe(aliceText)
      expect(parsePattern(alice.home, "go-errors").description).toBe("Wrap errors (Bob)")
      const pattern = (await serverPatterns(alice)).find((p) => p.name === "go-errors")
      expect(pattern).toMatchObject({ description: "Wrap errors (Bob)", version: 2 })
      // The conflict copy is not a pattern: the next sync has nothing to do.
      expect(await sync(alice.home)).toMatchObject({ pushed: [], pulled: [], conflicts: [] })
    })

    it("also when the server changed the pattern between our pull and our push", async () => {
      // Bob's state is rewound to the head, as if the change landed after his pull.
      const pattern = (await serverPatterns(alice)).find((p) => p.name === "table-tests")
      const changed = await api(alice, "PUT", `/api/patterns/${pattern.id}`, { description: "Changed by Alice" })
      expect(changed.status, changed.text).toBe(200)
      const statePath = join(bob.home, "sync-state.json")
      const state = syncState(bob.home)
      const team = Object.values(Object.values(state.servers as Record<string, any>)[0].teams)[0] as any
      team.last_seq = await lastSeq(alice)
      writeFileSync(statePath, JSON.stringify(state))
      const bobText = readPattern(bob.home, "table-tests").replace("Table-driven tests", "Bob's table tests")
      writeFileSync(join(patternsDir(bob.home), "table-tests.yaml"), bobText)

      const report = await sync(bob.home)
      expect(report.pushed).toEqual([])
      expect(report.conflicts.map((c) => c.name)).toEqual(["table-tests"])
      expect(readFileSync(join(patternsDir(bob.home), "table-tests.conflict.yaml"), "utf8")).toBe(bobText)
      expect(parsePattern(bob.home, "table-tests").description).toBe("Changed by Alice")
      expect(teamState(bob.home).patterns["table-tests"]!.version).toBe(pattern.version + 1)
      expect(await sync(bob.home)).toMatchObject({ pushed: [], conflicts: [] })
    })

    it("says that git sharing is not set up for --force-git", async () => {
      const r = ok(await mur(alice.home, ["sync", "--force-git", "--json"]))
      expect(JSON.parse(r.stdout)).toMatchObject({ mode: "git", synced: false })
    })
  })

  describe("kill -9 part-way", () => {
    const COUNT = 90
    const writeMany = (home: string) => {
      for (let i = 0; i < COUNT; i++) {
        const name = `bulk-${String(i).padStart(3, "0")}`
        writePattern(
          home,
          name,
          `schema_version: 2\nname: ${name}\ndescription: Pattern ${i}\ncontent: "${"x".repeat(200)} ${i}"\ntags:\n  confirmed: [bulk, n${i % 7}]\nteam_shared: true\n`
        )
      }
    }
    /** Comparable contents of a home after syncing: files, and the per-pattern state. */
    const snapshot = (home: string) => {
      const files = readdirSync(patternsDir(home)).sort()
      const state = teamState(home)
      return {
        files,
        texts: files.map((f) => YAML.parse(readFileSync(join(patternsDir(home), f), "utf8"))),
        last_seq: state.last_seq,
        versions: Object.fromEntries(Object.entries(state.patterns).map(([n, p]) => [n, [p.version, p.hash]]))
      }
    }
    /** Starts `mur sync` and kills it with SIGKILL once `progressed()` says it is under way. */
    const killPartWay = async (home: string, env: Record<string, string>, progressed: () => Promise<boolean>) => {
      const child = spawnMur(home, ["sync"], env)
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
      let done = false
      void exited.then(() => {
        done = true
      })
      while (!done && !(await progressed())) await new Promise((r) => setTimeout(r, 5))
      const running = !done
      child.kill("SIGKILL")
      await exited
      return running
    }

    it("of a push: a re-run applies nothing twice and ends as one clean run", async () => {
      const carol = await register("Carol")
      await makeTeam("Bulk Push", carol, [])
      writeMany(carol.home)
      const killedMidway = await killPartWay(carol.home, { MUR_SYNC_BATCH: "3" }, async () => {
        const status = await api(carol, "GET", "/api/sync/status")
        return status.json.pattern_count >= 15
      })
      const countAtKill = (await api(carol, "GET", "/api/sync/status")).json.pattern_count
      expect(countAtKill).toBeGreaterThan(0)
      if (killedMidway) expect(countAtKill).toBeLessThan(COUNT)

      await sync(carol.home, { MUR_SYNC_BATCH: "3" })
      const patterns = await serverPatterns(carol)
      expect(patterns).toHaveLength(COUNT)
      expect(patterns.every((p) => p.version === 1)).toBe(true)
      expect(await lastSeq(carol)).toBe(COUNT) // one event per pattern: nothing applied twice
      const files = readdirSync(patternsDir(carol.home))
      expect(files.filter((f) => f.includes(".conflict.") || f.endsWith(".tmp"))).toEqual([])
      expect(await sync(carol.home)).toMatchObject({ pushed: [], pulled: [], conflicts: [] })

      // The same files synced once, without a kill, by someone else in their own team.
      const dave = await register("Dave")
      await makeTeam("Bulk Clean", dave, [])
      writeMany(dave.home)
      await sync(dave.home, { MUR_SYNC_BATCH: "3" })
      expect(snapshot(carol.home)).toEqual(snapshot(dave.home))
    })

    it("of a pull: a re-run leaves whole files, no conflicts, and the state of one clean pull", async () => {
      const erin = await register("Erin")
      const frank = await register("Frank")
      const grace = await register("Grace")
      await makeTeam("Bulk Pull", erin, [frank, grace])
      writeMany(erin.home)
      await sync(erin.home)

      const killedMidway = await killPartWay(frank.home, { MUR_SYNC_PAGE: "4" }, async () => {
        try {
          return readdirSync(patternsDir(frank.home)).length >= 15
        } catch {
          return false
        }
      })
      if (killedMidway) expect(readdirSync(patternsDir(frank.home)).length).toBeLessThan(COUNT + 1)
      const report = await sync(frank.home, { MUR_SYNC_PAGE: "4" })
      expect(report.conflicts).toEqual([])
      expect(report.pushed).toEqual([])

      await sync(grace.home)
      expect(snapshot(frank.home)).toEqual(snapshot(grace.home))
      expect(snapshot(frank.home).files).toHaveLength(COUNT)
      expect(await sync(frank.home)).toMatchObject({ pushed: [], pulled: [], conflicts: [] })
    })
  })
})
