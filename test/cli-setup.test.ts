/**
 * `mur setup claude-code | gemini-cli | codex`: the real `mur` binary against a real
 * `mur-server` (SQLite), editing real settings files laid out as each assistant's docs
 * show them. Only the telemetry keys may change; the API key it makes must authenticate;
 * `--print` writes nothing; `--undo` gives the other settings back.
 */

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import toml from "toml"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request, uniqueEmail } from "./support/http.js"
import { ok, type Run, runMur } from "./support/mur.js"
import { type SpawnedServer, spawnServer, stopServers, TEST_SECRET } from "./support/server.js"

const PASSWORD = "setup test password"
const json = (run: Run) => JSON.parse(run.stdout)
const KEY = /Bearer (mur_[A-Za-z0-9]+)/

const dirs: Array<string> = []
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}
const write = (path: string, text: string) => {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, text)
}
const backups = (path: string) =>
  readdirSync(dirname(path)).filter((n) => n.startsWith(`${path.split("/").pop()}.mur-backup-`))

/** Claude Code's user settings, with what people keep there besides telemetry. */
const CLAUDE_SETTINGS = {
  $schema: "https://json.schemastore.org/claude-code-settings.json",
  permissions: { allow: ["Bash(npm run lint)", "Bash(npm run test:*)"], deny: ["Read(./.env)"] },
  env: { ANTHROPIC_MODEL: "claude-opus-4-5", BASH_DEFAULT_TIMEOUT_MS: "300000" },
  hooks: {
    PostToolUse: [{ matcher: "Edit|Write", hooks: [{ type: "command", command: "npx prettier --write" }] }]
  },
  model: "opus"
}

/** A Codex config.toml as its docs show one, with an older [otel] between other tables. */
const CODEX_HEAD = `# ~/.codex/config.toml
model = "gpt-5-codex"          # the default model
model_reasoning_effort = "high"
approval_policy = "on-request"

[mcp_servers.docs]
command = "npx"
args = ["-y", "@example/docs-mcp"]
env = { "DOCS_TOKEN" = "t0k" }

`
const CODEX_OTEL = `[otel]
environment = "staging"
log_user_prompt = true

[otel.exporter."otlp-http"]
endpoint = "https://collector.example.com/v1/logs"
protocol = "json"

[otel.exporter."otlp-http".headers]
"x-otlp-api-key" = "old"
`
const CODEX_TAIL = `
# Trusted projects
[projects."/home/dev/src/app"]
trust_level = "trusted"

[profiles.fast]
model = "o4-mini"
`

describe("mur setup against a real server", () => {
  let server: SpawnedServer
  let dataDir: string

  /** A new user with a logged-in $MUR_HOME, in `teams` new teams (named after the user). */
  const user = async (name: string, teams = 1) => {
    const email = uniqueEmail(name)
    const r = await request(server.url, "POST", "/auth/register", { body: { email, password: PASSWORD, name } })
    expect(r.status, r.text).toBe(201)
    const token = r.json.access_token as string
    const slugs: Array<string> = []
    for (let i = 0; i < teams; i++) {
      const t = await request(server.url, "POST", "/api/team", { token, body: { name: `${name} team ${i}` } })
      expect(t.status, t.text).toBe(201)
      slugs.push(t.json.team.slug)
    }
    const home = tempDir("mur-setup-home-")
    ok(await runMur(home, ["config", "server", server.url]))
    ok(await runMur(home, ["login", "--email", email, "--password", PASSWORD]))
    return { home, token, id: r.json.user.id as string, slugs }
  }
  const keysOf = async (token: string) => (await request(server.url, "GET", "/api/keys", { token })).json.keys

  beforeAll(async () => {
    dataDir = tempDir("mur-setup-db-")
    server = await spawnServer({ DATABASE_URL: `file:${join(dataDir, "mur.db")}`, JWT_SECRET: TEST_SECRET })
  })
  afterAll(async () => {
    await stopServers(server)
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  it("claude-code: sets the env keys, keeps the rest, makes a key that works, and undoes it", async () => {
    const { home, token, id } = await user("claude")
    const file = join(tempDir("claude-"), ".claude", "settings.json")
    const original = `${JSON.stringify(CLAUDE_SETTINGS, null, 2)}\n`
    write(file, original)

    const run = ok(await runMur(home, ["setup", "claude-code", "--file", file, "--json"]))
    const result = json(run)
    const after = JSON.parse(readFileSync(file, "utf8"))
    const { env, ...rest } = after
    const { env: oldEnv, ...oldRest } = CLAUDE_SETTINGS
    expect(rest).toEqual(oldRest)
    expect(Object.keys(after)).toEqual(Object.keys(CLAUDE_SETTINGS))
    const apiKey = KEY.exec(env.OTEL_EXPORTER_OTLP_HEADERS)![1]!
    expect(env).toEqual({
      ...oldEnv,
      CLAUDE_CODE_ENABLE_TELEMETRY: "1",
      OTEL_METRICS_EXPORTER: "otlp",
      OTEL_LOGS_EXPORTER: "otlp",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
      OTEL_EXPORTER_OTLP_ENDPOINT: server.url,
      OTEL_EXPORTER_OTLP_HEADERS: `Authorization=Bearer ${apiKey}`
    })

    // The key authenticates as the user, and is the one reported.
    const me = await request(server.url, "GET", "/api/me", { token: apiKey })
    expect(me.status).toBe(200)
    expect(me.json.user.id).toBe(id)
    const [made] = await keysOf(token)
    expect(made.name).toBe(`telemetry: claude-code (${hostname()})`.slice(0, 100))
    expect(result).toEqual({
      assistant: "claude-code",
      server: server.url,
      team: null,
      printed: false,
      api_key: { id: made.id, name: made.name, prefix: apiKey.slice(0, 12), created: true, reused: false },
      files: [
        {
          path: file,
          keys: [
            "env.CLAUDE_CODE_ENABLE_TELEMETRY",
            "env.OTEL_METRICS_EXPORTER",
            "env.OTEL_LOGS_EXPORTER",
            "env.OTEL_EXPORTER_OTLP_PROTOCOL",
            "env.OTEL_EXPORTER_OTLP_ENDPOINT",
            "env.OTEL_EXPORTER_OTLP_HEADERS"
          ],
          written: true,
          created: false,
          backup: expect.stringContaining(`${file}.mur-backup-`)
        }
      ],
      notes: expect.any(Array),
      undo: {
        command: `mur setup claude-code --undo --file ${file}`,
        revoke: `DELETE /api/keys/${made.id}`
      }
    })
    expect(readFileSync(result.files[0].backup, "utf8")).toBe(original)

    // Again: the key in the file still works, so it is reused and the file stays as it is.
    const again = json(ok(await runMur(home, ["setup", "claude-code", "--file", file, "--json"])))
    expect(again.api_key).toMatchObject({ id: made.id, created: false, reused: true })
    expect(again.files[0].written).toBe(false)
    expect(await keysOf(token)).toHaveLength(1)

    // Undo: exactly the original settings come back, and the key to revoke is named.
    const undo = ok(await runMur(home, ["setup", "claude-code", "--undo", "--file", file]))
    expect(undo.stdout).toContain(`DELETE /api/keys/${made.id}`)
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(CLAUDE_SETTINGS)
    const nothing = json(ok(await runMur(home, ["setup", "claude-code", "--undo", "--file", file, "--json"])))
    expect(nothing).toEqual({ assistant: "claude-code", undone: false, files: [], api_key: null, revoke: null })
  })

  it("--print writes nothing (and with --key makes no key); the printed env block is the settings", async () => {
    const { home, token } = await user("printer")
    const file = join(tempDir("print-"), ".claude", "settings.json")
    const original = `${JSON.stringify(CLAUDE_SETTINGS, null, 2)}\n`
    write(file, original)
    const key = (await request(server.url, "POST", "/api/keys", { token, body: { name: "mine" } })).json
    const run = ok(await runMur(home, ["setup", "claude-code", "--file", file, "--print", "--key", key.token]))
    expect(JSON.parse(run.stdout)).toEqual({
      env: expect.objectContaining({ OTEL_EXPORTER_OTLP_HEADERS: `Authorization=Bearer ${key.token}` })
    })
    expect(readFileSync(file, "utf8")).toBe(original)
    expect(backups(file)).toEqual([])
    expect(await keysOf(token)).toHaveLength(1)

    // Without --key a key is made (so the printed settings work), still nothing written.
    const printed = json(
      ok(await runMur(home, ["setup", "codex", "--file", join(dirname(file), "c.toml"), "--print", "--json"]))
    )
    expect(printed).toMatchObject({ printed: true, api_key: { created: true }, undo: null })
    expect(toml.parse(printed.files[0].content).otel.exporter["otlp-http"].protocol).toBe("binary")
    expect(existsSync(join(dirname(file), "c.toml"))).toBe(false)
    expect(await keysOf(token)).toHaveLength(2)
  })

  it("codex: replaces the [otel] tables, keeps every other byte, and undoes it", async () => {
    const { home } = await user("codex")
    const file = join(tempDir("codex-"), ".codex", "config.toml")
    const original = CODEX_HEAD + CODEX_OTEL + CODEX_TAIL
    write(file, original)

    const result = json(ok(await runMur(home, ["setup", "codex", "--file", file, "--json"])))
    const text = readFileSync(file, "utf8")
    expect(text.startsWith(CODEX_HEAD)).toBe(true)
    expect(text.endsWith(CODEX_TAIL)).toBe(true)
    const parsed = toml.parse(text)
    const apiKey = KEY.exec(text)![1]!
    const exporter = (path: string) => ({
      "otlp-http": {
        endpoint: `${server.url}${path}`,
        protocol: "binary",
        headers: { Authorization: `Bearer ${apiKey}` }
      }
    })
    expect(parsed.otel).toEqual({
      log_user_prompt: false,
      exporter: exporter("/v1/logs"),
      metrics_exporter: exporter("/v1/metrics")
    })
    expect((await request(server.url, "GET", "/api/me", { token: apiKey })).status).toBe(200)
    expect(result.files[0].keys).toEqual([
      "otel.log_user_prompt",
      'otel.exporter."otlp-http"',
      'otel.metrics_exporter."otlp-http"'
    ])
    expect(readFileSync(result.files[0].backup, "utf8")).toBe(original)

    ok(await runMur(home, ["setup", "codex", "--undo", "--file", file]))
    expect(readFileSync(file, "utf8")).toBe(CODEX_HEAD + CODEX_TAIL.slice(1))
  })

  it("codex: finds config.toml through CODEX_HOME when no --file is given", async () => {
    const { home } = await user("codexhome")
    const codexHome = tempDir("codex-home-")
    ok(await runMur(home, ["setup", "codex"], { env: { CODEX_HOME: codexHome } }))
    expect(toml.parse(readFileSync(join(codexHome, "config.toml"), "utf8")).otel.log_user_prompt).toBe(false)
  })

  it("gemini-cli: telemetry in settings.json, the key (and --team) in .gemini/.env; undo", async () => {
    const { home, slugs } = await user("gemini", 2)
    const dir = join(tempDir("gemini-"), ".gemini")
    const settings = { theme: "GitHub", mcpServers: { docs: { command: "npx", args: ["docs-mcp"] } } }
    write(join(dir, "settings.json"), JSON.stringify(settings, null, 2))
    write(join(dir, ".env"), "# Gemini\nGEMINI_API_KEY=abc123\n")

    // In two teams, the receiver needs to be told which: without --team, setup refuses.
    const refused = await runMur(home, ["setup", "gemini-cli", "--file", join(dir, "settings.json")])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/several teams/)
    expect(backups(join(dir, "settings.json"))).toEqual([])

    const team = slugs[1]!
    const result = json(
      ok(await runMur(home, ["setup", "gemini-cli", "--file", join(dir, "settings.json"), "--team", team, "--json"]))
    )
    expect(result.team).toBe(team)
    expect(JSON.parse(readFileSync(join(dir, "settings.json"), "utf8"))).toEqual({
      ...settings,
      telemetry: { enabled: true, target: "local", otlpEndpoint: server.url, otlpProtocol: "http", logPrompts: false }
    })
    const envText = readFileSync(join(dir, ".env"), "utf8")
    const apiKey = KEY.exec(envText)![1]!
    expect(envText).toBe(
      `# Gemini\nGEMINI_API_KEY=abc123\nOTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer ${apiKey},X-Team=${team}"\n`
    )
    const me = await request(server.url, "GET", "/api/team", { token: apiKey, headers: { "x-team": team } })
    expect(me.status).toBe(200)
    expect(result.files.map((f: { path: string }) => f.path)).toEqual([join(dir, "settings.json"), join(dir, ".env")])

    ok(await runMur(home, ["setup", "gemini-cli", "--undo", "--file", join(dir, "settings.json")]))
    expect(JSON.parse(readFileSync(join(dir, "settings.json"), "utf8"))).toEqual(settings)
    expect(readFileSync(join(dir, ".env"), "utf8")).toBe("# Gemini\nGEMINI_API_KEY=abc123\n")
  })

  it("usage errors exit 2, no login exits 3, a broken settings file exits 1 and is left alone", async () => {
    const { home, token } = await user("errors")
    const bad = await runMur(home, ["setup", "cursor"])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/unknown command "cursor"; see 'mur setup --help'/)
    const badKey = await runMur(home, ["setup", "codex", "--key", "nope", "--json"])
    expect(badKey.code).toBe(2)
    expect(json(badKey).error.code).toBe("usage")
    expect((await runMur(home, ["setup", "codex", "--undo", "--print"])).code).toBe(2)

    const anonymous = tempDir("anon-")
    ok(await runMur(anonymous, ["config", "server", server.url]))
    const file = join(tempDir("nologin-"), "config.toml")
    expect((await runMur(anonymous, ["setup", "codex", "--file", file])).code).toBe(3)
    expect(existsSync(file)).toBe(false)

    const broken = join(tempDir("broken-"), "settings.json")
    write(broken, '{\n  // a comment\n  "model": "opus",\n}\n')
    const run = await runMur(home, ["setup", "claude-code", "--file", broken])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/comments or trailing commas/)
    expect(readFileSync(broken, "utf8")).toBe('{\n  // a comment\n  "model": "opus",\n}\n')
    expect(await keysOf(token)).toEqual([])
  })
})
