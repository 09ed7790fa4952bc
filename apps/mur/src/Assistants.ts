/**
 * Where each AI coding assistant keeps its OpenTelemetry settings, and the edits that
 * point it at mur-server's OTLP/HTTP receiver (`POST <server>/v1/metrics` and `/v1/logs`,
 * `Authorization: Bearer <API key>`). Pure: every function takes the files' text and
 * returns the new text, so `mur setup` only reads, decides, then writes.
 *
 * Sources, checked against each assistant's own docs and code (shared/research/telemetry.md):
 * - Claude Code: `settings.json` `env` block (monitoring-usage.md, settings-reference.md
 *   `env`); `CLAUDE_CONFIG_DIR` replaces `~/.claude` (env-vars.md). The OTel JS SDK adds
 *   `/v1/metrics` and `/v1/logs` to `OTEL_EXPORTER_OTLP_ENDPOINT`.
 * - Gemini CLI: `settings.json` `telemetry` block (docs/cli/telemetry.md,
 *   packages/core/src/telemetry/sdk.ts: with `otlpProtocol: "http"` it adds `/v1/logs`,
 *   `/v1/metrics`, `/v1/traces` to `otlpEndpoint` and sends JSON). Settings carry no
 *   headers: the exporters read `OTEL_EXPORTER_OTLP_HEADERS` from the environment, which
 *   Gemini fills from the first `.gemini/.env` (or `.env`) found from the working folder up,
 *   then `~/.gemini/.env`, in trusted folders, never over a variable already set
 *   (packages/cli/src/config/settings.ts `findEnvFile`, `loadEnvironment`).
 *   `GEMINI_CLI_HOME` replaces the home folder (packages/core/src/utils/paths.ts).
 * - Codex: `config.toml` `[otel]` with `exporter` (logs) and `metrics_exporter`, each
 *   `{ otlp-http = { endpoint, protocol = "binary" | "json", headers } }`; the endpoint is
 *   used as given (codex-rs config types `OtelConfigToml`, `OtelExporterKind`).
 *   `CODEX_HOME` replaces `~/.codex` (docs/config.md).
 */
import { basename, dirname, join } from "node:path"
import { envLine, readEnvVariable, removeEnvVariable, setEnvVariable } from "./DotEnv.js"
import { deleteIn, getIn, type JsonObject, parseJsonSettings, serializeJsonSettings, setIn } from "./JsonSettings.js"
import { keyPath, linesUnder, scanToml, spliceLines } from "./TomlTables.js"

export const ASSISTANTS = ["claude-code", "gemini-cli", "codex"] as const
export type AssistantName = (typeof ASSISTANTS)[number]

/** Where the telemetry goes. */
export interface Target {
  /** The server's base URL, without a trailing slash. */
  readonly baseUrl: string
  readonly apiKey: string
  /** Sent as `X-Team` when the user named a team. */
  readonly team: string | undefined
}

export interface FileChange {
  readonly path: string
  /** The file's text now; `undefined` when it does not exist. */
  readonly before: string | undefined
  readonly after: string
  /** The keys set (or removed), in the file's own notation. */
  readonly keys: ReadonlyArray<string>
  /** Only the part mur writes, for `--print` and the docs. */
  readonly snippet: string
}

export interface Plan {
  readonly changes: ReadonlyArray<FileChange>
  /** Things the user must know or do (printed as notes). */
  readonly notes: ReadonlyArray<string>
}

/** Reads a file's text (`undefined` when missing). */
export type Reader = (path: string) => string | undefined

export interface Assistant {
  readonly name: AssistantName
  readonly title: string
  /** The user settings file, honouring the assistant's own environment override. */
  readonly defaultFile: (env: NodeJS.ProcessEnv, home: string) => string
  /** The edits that send the telemetry to `target`. */
  readonly setup: (file: string, read: Reader, target: Target, env: NodeJS.ProcessEnv) => Plan
  /** The edits that remove what `setup` wrote; no changes when `file` holds none of it. */
  readonly undo: (file: string, read: Reader, baseUrl: string | undefined) => Plan
  /** The mur API key the files send, when they send their telemetry to `baseUrl`. */
  readonly currentKey: (file: string, read: Reader, baseUrl: string) => string | undefined
  /** Any mur API key the files hold (what `--undo` tells the user to revoke). */
  readonly foundKey: (file: string, read: Reader) => string | undefined
}

const MUR_KEY = /Bearer\s+(mur_[A-Za-z0-9]+)/

/** `OTEL_EXPORTER_OTLP_HEADERS` for the OTel SDKs: `k=v` pairs, comma-separated. */
export const otlpHeadersEnv = (target: Target): string =>
  `Authorization=Bearer ${target.apiKey}${target.team ? `,X-Team=${target.team}` : ""}`

const keyIn = (text: unknown): string | undefined => (typeof text === "string" ? MUR_KEY.exec(text)?.[1] : undefined)

/** Warnings for shell variables that would win over what `setup` writes. */
const shadowed = (env: NodeJS.ProcessEnv, names: ReadonlyArray<string>, ours: Record<string, string> = {}) =>
  names
    .filter((n) => env[n] !== undefined && env[n] !== "" && env[n] !== ours[n])
    .map((n) => `${n} is set in this shell and wins over the settings file: unset it (or update it) for this to work`)

// ---------------------------------------------------------------------------------------
// Claude Code

const CLAUDE_ENV = [
  "CLAUDE_CODE_ENABLE_TELEMETRY",
  "OTEL_METRICS_EXPORTER",
  "OTEL_LOGS_EXPORTER",
  "OTEL_EXPORTER_OTLP_PROTOCOL",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_HEADERS"
] as const

/** The `env` entries Claude Code needs. */
export const claudeEnv = (target: Target): Record<(typeof CLAUDE_ENV)[number], string> => ({
  CLAUDE_CODE_ENABLE_TELEMETRY: "1",
  OTEL_METRICS_EXPORTER: "otlp",
  OTEL_LOGS_EXPORTER: "otlp",
  OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
  OTEL_EXPORTER_OTLP_ENDPOINT: target.baseUrl,
  OTEL_EXPORTER_OTLP_HEADERS: otlpHeadersEnv(target)
})

const claude: Assistant = {
  name: "claude-code",
  title: "Claude Code",
  defaultFile: (env, home) => join(env.CLAUDE_CONFIG_DIR || join(home, ".claude"), "settings.json"),
  setup: (file, read, target, env) => {
    const before = read(file)
    const doc = parseJsonSettings(before, file)
    const entries = claudeEnv(target)
    for (const [k, v] of Object.entries(entries)) setIn(doc.value, ["env", k], v, file)
    return {
      changes: [
        {
          path: file,
          before,
          after: serializeJsonSettings(doc),
          keys: CLAUDE_ENV.map((k) => `env.${k}`),
          snippet: `${JSON.stringify({ env: entries }, null, 2)}\n`
        }
      ],
      notes: [
        ...shadowed(env, [
          "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
          "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
          "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
          "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"
        ]),
        "Claude Code reads these at start-up: restart running sessions."
      ]
    }
  },
  undo: (file, read, baseUrl) => {
    const before = read(file)
    if (before === undefined) return { changes: [], notes: [] }
    const doc = parseJsonSettings(before, file)
    const ours =
      keyIn(getIn(doc.value, ["env", "OTEL_EXPORTER_OTLP_HEADERS"])) !== undefined ||
      (baseUrl !== undefined && getIn(doc.value, ["env", "OTEL_EXPORTER_OTLP_ENDPOINT"]) === baseUrl)
    if (!ours) return { changes: [], notes: [] }
    const removed = CLAUDE_ENV.filter((k) => deleteIn(doc.value, ["env", k]))
    return {
      changes: [
        { path: file, before, after: serializeJsonSettings(doc), keys: removed.map((k) => `env.${k}`), snippet: "" }
      ],
      notes: []
    }
  },
  currentKey: (file, read, baseUrl) => {
    const doc = parseJsonSettings(read(file), file)
    if (getIn(doc.value, ["env", "OTEL_EXPORTER_OTLP_ENDPOINT"]) !== baseUrl) return undefined
    return keyIn(getIn(doc.value, ["env", "OTEL_EXPORTER_OTLP_HEADERS"]))
  },
  foundKey: (file, read) =>
    keyIn(getIn(parseJsonSettings(read(file), file).value, ["env", "OTEL_EXPORTER_OTLP_HEADERS"]))
}

// ---------------------------------------------------------------------------------------
// Gemini CLI

const GEMINI_KEYS = ["enabled", "target", "otlpEndpoint", "otlpProtocol", "logPrompts"] as const
const HEADERS_VAR = "OTEL_EXPORTER_OTLP_HEADERS"

/** The `telemetry` entries Gemini CLI needs. */
export const geminiTelemetry = (target: Target): JsonObject => ({
  enabled: true,
  target: "local",
  otlpEndpoint: target.baseUrl,
  otlpProtocol: "http",
  logPrompts: false
})

/**
 * The `.env` that gets the header: the one beside a settings file in a `.gemini` folder
 * (the user's `~/.gemini/.env`, or a project's `.gemini/.env`); none for other files,
 * such as the system settings, since Gemini reads no `.env` there.
 */
export const geminiEnvFile = (settingsFile: string): string | undefined =>
  basename(dirname(settingsFile)) === ".gemini" ? join(dirname(settingsFile), ".env") : undefined

const gemini: Assistant = {
  name: "gemini-cli",
  title: "Gemini CLI",
  defaultFile: (env, home) => join(env.GEMINI_CLI_HOME || home, ".gemini", "settings.json"),
  setup: (file, read, target, env) => {
    const before = read(file)
    const doc = parseJsonSettings(before, file)
    const telemetry = geminiTelemetry(target)
    for (const [k, v] of Object.entries(telemetry)) setIn(doc.value, ["telemetry", k], v, file)
    const headers = otlpHeadersEnv(target)
    const notes: Array<string> = []
    if (getIn(doc.value, ["telemetry", "outfile"]) !== undefined) {
      notes.push(`${file} sets telemetry.outfile, which Gemini uses instead of the endpoint: remove it`)
    }
    const changes: Array<FileChange> = [
      {
        path: file,
        before,
        after: serializeJsonSettings(doc),
        keys: GEMINI_KEYS.map((k) => `telemetry.${k}`),
        snippet: `${JSON.stringify({ telemetry }, null, 2)}\n`
      }
    ]
    const envFile = geminiEnvFile(file)
    if (envFile !== undefined) {
      const envBefore = read(envFile)
      changes.push({
        path: envFile,
        before: envBefore,
        after: setEnvVariable(envBefore, HEADERS_VAR, headers),
        keys: [HEADERS_VAR],
        snippet: `${envLine(HEADERS_VAR, headers)}\n`
      })
      notes.push(
        `Gemini reads ${envFile} only in trusted folders, and only when no .env is nearer the folder it runs in; otherwise add to your shell profile: export ${envLine(HEADERS_VAR, headers)}`
      )
    } else {
      notes.push(
        `Gemini settings carry no headers: set this where Gemini runs: export ${envLine(HEADERS_VAR, headers)}`
      )
    }
    notes.push(
      ...shadowed(
        env,
        [
          "GEMINI_TELEMETRY_ENABLED",
          "GEMINI_TELEMETRY_TARGET",
          "GEMINI_TELEMETRY_OTLP_ENDPOINT",
          "GEMINI_TELEMETRY_OTLP_PROTOCOL",
          "GEMINI_TELEMETRY_OUTFILE",
          "OTEL_EXPORTER_OTLP_ENDPOINT",
          HEADERS_VAR
        ],
        { [HEADERS_VAR]: headers }
      ),
      "Gemini CLI reads these at start-up: restart running sessions."
    )
    return { changes, notes }
  },
  undo: (file, read, baseUrl) => {
    const changes: Array<FileChange> = []
    const envFile = geminiEnvFile(file)
    const envBefore = envFile === undefined ? undefined : read(envFile)
    const envKey = keyIn(readEnvVariable(envBefore, HEADERS_VAR))
    const before = read(file)
    if (before !== undefined) {
      const doc = parseJsonSettings(before, file)
      const ours =
        envKey !== undefined || (baseUrl !== undefined && getIn(doc.value, ["telemetry", "otlpEndpoint"]) === baseUrl)
      const removed = ours ? GEMINI_KEYS.filter((k) => deleteIn(doc.value, ["telemetry", k])) : []
      if (removed.length > 0) {
        changes.push({
          path: file,
          before,
          after: serializeJsonSettings(doc),
          keys: removed.map((k) => `telemetry.${k}`),
          snippet: ""
        })
      }
    }
    if (envFile !== undefined && envBefore !== undefined && envKey !== undefined) {
      changes.push({
        path: envFile,
        before: envBefore,
        after: removeEnvVariable(envBefore, HEADERS_VAR),
        keys: [HEADERS_VAR],
        snippet: ""
      })
    }
    return { changes, notes: [] }
  },
  currentKey: (file, read, baseUrl) => {
    const doc = parseJsonSettings(read(file), file)
    const envFile = geminiEnvFile(file)
    if (envFile === undefined || getIn(doc.value, ["telemetry", "otlpEndpoint"]) !== baseUrl) return undefined
    return keyIn(readEnvVariable(read(envFile), HEADERS_VAR))
  },
  foundKey: (file, read) => {
    const envFile = geminiEnvFile(file)
    return envFile === undefined ? undefined : keyIn(readEnvVariable(read(envFile), HEADERS_VAR))
  }
}

// ---------------------------------------------------------------------------------------
// Codex

const tomlString = (s: string) => JSON.stringify(s)

const OTEL = ["otel"]
/** The exporter tables `setup` writes (all of each, since an exporter is one value). */
const CODEX_EXPORTERS: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
  [["otel", "exporter"], 'otel.exporter."otlp-http"'],
  [["otel", "metrics_exporter"], 'otel.metrics_exporter."otlp-http"']
]
const CODEX_MARK = "# Set by `mur setup codex`: telemetry to mur-server. Undo: mur setup codex --undo"

/** The `[otel]` tables Codex needs: logs and metrics, protobuf, the endpoints in full. */
export const codexOtelBlock = (target: Target): string => {
  const headers = [
    `"Authorization" = ${tomlString(`Bearer ${target.apiKey}`)}`,
    ...(target.team ? [`"X-Team" = ${tomlString(target.team)}`] : [])
  ].join(", ")
  const exporter = (table: string, path: string) => [
    `[otel.${table}."otlp-http"]`,
    `endpoint = ${tomlString(`${target.baseUrl}${path}`)}`,
    `protocol = "binary"`,
    `headers = { ${headers} }`
  ]
  return [
    "[otel]",
    CODEX_MARK,
    "log_user_prompt = false",
    "",
    ...exporter("exporter", "/v1/logs"),
    "",
    ...exporter("metrics_exporter", "/v1/metrics"),
    ""
  ].join("\n")
}

const otelText = (text: string) => {
  const lines = scanToml(text)
  const picked = linesUnder(lines, OTEL)
  return lines
    .filter((_, i) => picked.has(i))
    .map((l) => l.text)
    .join("\n")
}

/** The `endpoint` of `[otel.exporter."otlp-http"]`, when written as a plain string. */
const codexLogsEndpoint = (text: string): string | undefined => {
  for (const line of scanToml(text)) {
    const path = keyPath(line)
    if (line.kind === "key" && path.join("\u0000") === ["otel", "exporter", "otlp-http", "endpoint"].join("\u0000")) {
      return /=\s*"([^"\\]*)"/.exec(line.text)?.[1]
    }
  }
  return undefined
}

const analyticsOff = (text: string) =>
  scanToml(text).some(
    (l) => l.kind === "key" && keyPath(l).join(".") === "analytics.enabled" && /=\s*false\b/.test(l.text)
  )

const codex: Assistant = {
  name: "codex",
  title: "Codex",
  defaultFile: (env, home) => join(env.CODEX_HOME || join(home, ".codex"), "config.toml"),
  setup: (file, read, target) => {
    const before = read(file)
    const text = before ?? ""
    const lines = scanToml(text)
    const block = codexOtelBlock(target)
    const notes: Array<string> = []
    const picked = linesUnder(lines, OTEL)
    if (picked.size > 0) notes.push(`${file} had [otel] settings: they are replaced (the backup keeps them)`)
    if (analyticsOff(text)) {
      notes.push(`${file} sets analytics.enabled = false, which stops Codex exporting metrics (logs still go)`)
    }
    notes.push("Codex reads config.toml at start-up: restart running sessions.")
    return {
      changes: [
        {
          path: file,
          before,
          after: spliceLines(text, lines, picked, block),
          keys: ["otel.log_user_prompt", ...CODEX_EXPORTERS.map(([, name]) => name)],
          snippet: block
        }
      ],
      notes
    }
  },
  undo: (file, read, baseUrl) => {
    const before = read(file)
    if (before === undefined) return { changes: [], notes: [] }
    const ours =
      keyIn(otelText(before)) !== undefined ||
      (baseUrl !== undefined && codexLogsEndpoint(before) === `${baseUrl}/v1/logs`)
    if (!ours) return { changes: [], notes: [] }
    let lines = scanToml(before)
    const picked = new Set<number>()
    const removed: Array<string> = []
    for (const [prefix, name] of CODEX_EXPORTERS) {
      const under = linesUnder(lines, prefix)
      if (under.size > 0) removed.push(name)
      for (const i of under) picked.add(i)
    }
    for (const [i, l] of lines.entries()) {
      if (l.kind === "key" && keyPath(l).join(".") === "otel.log_user_prompt") {
        picked.add(i)
        removed.unshift("otel.log_user_prompt")
      }
      if (l.kind === "comment" && l.table[0] === "otel" && l.text.trim() === CODEX_MARK) picked.add(i)
    }
    let after = spliceLines(before, lines, picked)
    // An [otel] table left with no keys goes too.
    lines = scanToml(after)
    if (!lines.some((l) => l.kind === "key" && l.table[0] === "otel")) {
      after = spliceLines(after, lines, linesUnder(lines, OTEL))
    }
    return { changes: [{ path: file, before, after, keys: removed, snippet: "" }], notes: [] }
  },
  currentKey: (file, read, baseUrl) => {
    const text = read(file)
    if (text === undefined || codexLogsEndpoint(text) !== `${baseUrl}/v1/logs`) return undefined
    return keyIn(otelText(text))
  },
  foundKey: (file, read) => {
    const text = read(file)
    return text === undefined ? undefined : keyIn(otelText(text))
  }
}

export const assistants: Readonly<Record<AssistantName, Assistant>> = {
  "claude-code": claude,
  "gemini-cli": gemini,
  codex
}
