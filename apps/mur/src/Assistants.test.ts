import toml from "toml"
import { describe, expect, it } from "vitest"
import { assistants, codexOtelBlock, geminiEnvFile, otlpHeadersEnv, type Reader, type Target } from "./Assistants.js"

const KEY = `mur_${"A1".repeat(20)}`
const target: Target = { baseUrl: "https://mur.example.com", apiKey: KEY, team: undefined }
const withTeam: Target = { ...target, team: "acme" }

/** A reader over an in-memory folder. */
const files =
  (entries: Record<string, string>): Reader =>
  (path) =>
    entries[path]

/** Applies a plan's changes to the in-memory files. */
const apply = (entries: Record<string, string>, changes: ReadonlyArray<{ path: string; after: string }>) => {
  const next = { ...entries }
  for (const c of changes) next[c.path] = c.after
  return next
}

describe("default files", () => {
  it("follow each assistant's own environment override", () => {
    const home = "/home/u"
    expect(assistants["claude-code"].defaultFile({}, home)).toBe("/home/u/.claude/settings.json")
    expect(assistants["claude-code"].defaultFile({ CLAUDE_CONFIG_DIR: "/c" }, home)).toBe("/c/settings.json")
    expect(assistants["gemini-cli"].defaultFile({}, home)).toBe("/home/u/.gemini/settings.json")
    expect(assistants["gemini-cli"].defaultFile({ GEMINI_CLI_HOME: "/g" }, home)).toBe("/g/.gemini/settings.json")
    expect(assistants.codex.defaultFile({}, home)).toBe("/home/u/.codex/config.toml")
    expect(assistants.codex.defaultFile({ CODEX_HOME: "/x" }, home)).toBe("/x/config.toml")
    expect(geminiEnvFile("/home/u/.gemini/settings.json")).toBe("/home/u/.gemini/.env")
    expect(geminiEnvFile("/etc/gemini-cli/settings.json")).toBeUndefined()
  })

  it("headers name the team only when asked to", () => {
    expect(otlpHeadersEnv(target)).toBe(`Authorization=Bearer ${KEY}`)
    expect(otlpHeadersEnv(withTeam)).toBe(`Authorization=Bearer ${KEY},X-Team=acme`)
  })
})

describe("Claude Code", () => {
  const claude = assistants["claude-code"]
  const file = "/h/.claude/settings.json"
  const before = {
    permissions: { allow: ["Bash(npm run test:*)"], deny: ["Read(./.env)"] },
    env: { ANTHROPIC_MODEL: "claude-opus-4", OTEL_METRICS_EXPORTER: "prometheus" },
    hooks: { PostToolUse: [{ matcher: "Edit", hooks: [{ type: "command", command: "mur stats record" }] }] }
  }

  it("sets the six env entries and nothing else", () => {
    const entries = { [file]: JSON.stringify(before, null, 2) }
    const plan = claude.setup(file, files(entries), withTeam, {})
    const after = JSON.parse(plan.changes[0]!.after)
    expect(after.permissions).toEqual(before.permissions)
    expect(after.hooks).toEqual(before.hooks)
    expect(Object.keys(after)).toEqual(["permissions", "env", "hooks"])
    expect(after.env).toEqual({
      ANTHROPIC_MODEL: "claude-opus-4",
      OTEL_METRICS_EXPORTER: "otlp",
      CLAUDE_CODE_ENABLE_TELEMETRY: "1",
      OTEL_LOGS_EXPORTER: "otlp",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
      OTEL_EXPORTER_OTLP_ENDPOINT: "https://mur.example.com",
      OTEL_EXPORTER_OTLP_HEADERS: `Authorization=Bearer ${KEY},X-Team=acme`
    })
    const { ANTHROPIC_MODEL: _, ...ours } = after.env
    expect(JSON.parse(plan.changes[0]!.snippet)).toEqual({ env: ours })
    expect(claude.currentKey(file, files(apply(entries, plan.changes)), target.baseUrl)).toBe(KEY)
    expect(claude.currentKey(file, files(apply(entries, plan.changes)), "https://other")).toBeUndefined()
  })

  it("warns about shell variables that would win", () => {
    const plan = claude.setup(file, files({}), target, { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: "http://x/v1/logs" })
    expect(plan.notes.join("\n")).toMatch(/OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is set in this shell/)
  })

  it("undoes exactly its keys, and leaves a file it did not write alone", () => {
    const entries = { [file]: JSON.stringify(before, null, 2) }
    const done = apply(entries, claude.setup(file, files(entries), target, {}).changes)
    const undo = claude.undo(file, files(done), undefined)
    expect(JSON.parse(undo.changes[0]!.after)).toEqual({
      permissions: before.permissions,
      env: { ANTHROPIC_MODEL: "claude-opus-4" },
      hooks: before.hooks
    })
    expect(claude.foundKey(file, files(done))).toBe(KEY)
    expect(claude.undo(file, files(entries), undefined).changes).toEqual([])
    expect(claude.undo(file, files({}), undefined).changes).toEqual([])
  })
})

describe("Gemini CLI", () => {
  const gemini = assistants["gemini-cli"]
  const file = "/h/.gemini/settings.json"
  const envFile = "/h/.gemini/.env"
  const before = { theme: "GitHub", telemetry: { traces: false }, mcpServers: { docs: { command: "npx" } } }

  it("sets the telemetry block and puts the header in .gemini/.env", () => {
    const entries = { [file]: JSON.stringify(before, null, 2), [envFile]: "# mine\nGEMINI_API_KEY=abc\n" }
    const plan = gemini.setup(file, files(entries), target, {})
    expect(plan.changes.map((c) => c.path)).toEqual([file, envFile])
    const after = JSON.parse(plan.changes[0]!.after)
    expect(after).toEqual({
      theme: "GitHub",
      telemetry: {
        traces: false,
        enabled: true,
        target: "local",
        otlpEndpoint: "https://mur.example.com",
        otlpProtocol: "http",
        logPrompts: false
      },
      mcpServers: before.mcpServers
    })
    expect(plan.changes[1]!.after).toBe(
      `# mine\nGEMINI_API_KEY=abc\nOTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer ${KEY}"\n`
    )
    const done = apply(entries, plan.changes)
    expect(gemini.currentKey(file, files(done), target.baseUrl)).toBe(KEY)
    const undo = apply(done, gemini.undo(file, files(done), undefined).changes)
    expect(JSON.parse(undo[file]!)).toEqual(before)
    expect(undo[envFile]).toBe("# mine\nGEMINI_API_KEY=abc\n")
  })

  it("with a settings file outside a .gemini folder, says where the header must go instead", () => {
    const plan = gemini.setup("/etc/gemini-cli/settings.json", files({}), target, {})
    expect(plan.changes.map((c) => c.path)).toEqual(["/etc/gemini-cli/settings.json"])
    expect(plan.notes.join("\n")).toContain(`export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer ${KEY}"`)
  })

  it("warns when the shell or telemetry.outfile would win over the settings", () => {
    const entries = { [file]: '{"telemetry": {"outfile": "t.log"}}' }
    const notes = gemini.setup(file, files(entries), target, { OTEL_EXPORTER_OTLP_ENDPOINT: "http://x" }).notes
    expect(notes.join("\n")).toMatch(/telemetry.outfile/)
    expect(notes.join("\n")).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT is set in this shell/)
    const same = { OTEL_EXPORTER_OTLP_HEADERS: otlpHeadersEnv(target) }
    expect(gemini.setup(file, files({}), target, same).notes.join("\n")).not.toMatch(/is set in this shell/)
  })
})

describe("Codex", () => {
  const codex = assistants.codex
  const file = "/h/.codex/config.toml"
  const HEAD = `# Codex settings
model = "gpt-5-codex"
approval_policy = "on-request"

[mcp_servers.docs]
command = "npx"
args = ["-y", "docs-mcp"]

`
  const OLD = `[otel]
environment = "staging"
exporter = { otlp-grpc = { endpoint = "https://old:4317" } }
`
  const TAIL = `
# per-project trust
[projects."/home/u/src"]
trust_level = "trusted"
`

  it("writes [otel] tables that parse to what Codex reads, in place of the old ones", () => {
    const text = HEAD + OLD + TAIL
    const plan = codex.setup(file, files({ [file]: text }), withTeam, {})
    const after = plan.changes[0]!.after
    expect(after.startsWith(HEAD)).toBe(true)
    expect(after.endsWith(TAIL)).toBe(true)
    expect(after).toBe(HEAD + codexOtelBlock(withTeam) + TAIL)
    const parsed = toml.parse(after)
    const exporter = (endpoint: string) => ({
      "otlp-http": {
        endpoint,
        protocol: "binary",
        headers: { Authorization: `Bearer ${KEY}`, "X-Team": "acme" }
      }
    })
    expect(parsed.otel).toEqual({
      log_user_prompt: false,
      exporter: exporter("https://mur.example.com/v1/logs"),
      metrics_exporter: exporter("https://mur.example.com/v1/metrics")
    })
    expect(parsed.model).toBe("gpt-5-codex")
    expect(parsed.mcp_servers).toEqual({ docs: { command: "npx", args: ["-y", "docs-mcp"] } })
    expect(plan.notes.join("\n")).toMatch(/had \[otel\] settings/)
    expect(codex.currentKey(file, files({ [file]: after }), withTeam.baseUrl)).toBe(KEY)
  })

  it("appends the tables to a file without [otel], and creates a missing file", () => {
    const plan = codex.setup(file, files({ [file]: HEAD.trimEnd() }), target, {})
    expect(plan.changes[0]!.after).toBe(`${HEAD}${codexOtelBlock(target)}`)
    expect(codex.setup(file, files({}), target, {}).changes[0]!.after).toBe(codexOtelBlock(target))
  })

  it("warns when analytics are off (Codex then exports no metrics)", () => {
    const notes = codex.setup(file, files({ [file]: "[analytics]\nenabled = false\n" }), target, {}).notes
    expect(notes.join("\n")).toMatch(/analytics.enabled = false/)
  })

  it("undoes its tables and keys, keeping an [otel] key the user added since", () => {
    const text = HEAD + OLD + TAIL
    const done = codex.setup(file, files({ [file]: text }), target, {}).changes[0]!.after
    expect(codex.undo(file, files({ [file]: done }), undefined).changes[0]!.after).toBe(HEAD + TAIL.slice(1))
    const edited = done.replace("log_user_prompt = false\n", 'log_user_prompt = false\nenvironment = "prod"\n')
    const undone = codex.undo(file, files({ [file]: edited }), undefined).changes[0]!.after
    expect(toml.parse(undone).otel).toEqual({ environment: "prod" })
    expect(codex.undo(file, files({ [file]: text }), undefined).changes).toEqual([])
    expect(codex.foundKey(file, files({ [file]: done }))).toBe(KEY)
  })
})
