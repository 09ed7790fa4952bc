/**
 * `mur setup claude-code | gemini-cli | codex [--file PATH] [--key KEY] [--print] [--undo]`:
 * points an AI assistant's OpenTelemetry export at the configured server, with an API key
 * made for the purpose, by editing only the assistant's telemetry keys in its settings.
 */
import { copyFileSync, statSync } from "node:fs"
import { homedir, hostname } from "node:os"
import { join, resolve } from "node:path"
import { FetchLayer, makeMurClient } from "@mur/client"
import { Duration, Effect, Either, Option } from "effect"
import { resolveTeam } from "../ActiveTeam.js"
import { type AssistantName, assistants, type FileChange, type Plan, type Reader } from "../Assistants.js"
import { readTextIfExists, writeFileAtomic } from "../AtomicFile.js"
import { loadCredentials } from "../AuthStore.js"
import { Cli } from "../Cli.js"
import { loadConfig } from "../Config.js"
import { attempt, type CliError, errorMessage, failure, usageError } from "../errors.js"
import { openSession, type Session } from "../Session.js"

export interface SetupArgs {
  readonly assistant: AssistantName
  readonly file: Option.Option<string>
  readonly key: Option.Option<string>
  readonly print: boolean
  readonly undo: boolean
}

const API_KEY = /^mur_[A-Za-z0-9]{8,}$/
/** What `GET /api/keys` shows of a key: its first 12 characters. */
const prefixOf = (key: string) => key.slice(0, 12)

const expandHome = (path: string) =>
  path === "~" ? homedir() : path.startsWith("~/") ? join(homedir(), path.slice(2)) : path

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`)

const read: Reader = (path) => readTextIfExists(path)

/** `<file>.mur-backup-<UTC time>`, with a counter if that name is taken. */
const backupPath = (path: string): string => {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")
  let candidate = `${path}.mur-backup-${stamp}`
  for (let n = 1; readTextIfExists(candidate) !== undefined; n++) candidate = `${path}.mur-backup-${stamp}-${n}`
  return candidate
}

interface Written {
  readonly change: FileChange
  readonly written: boolean
  readonly backup: string | undefined
}

/**
 * Writes each changed file atomically, keeping its mode (a new file gets 0600: it holds a
 * key), after copying the old one to a backup beside it.
 */
const writeChanges = (changes: ReadonlyArray<FileChange>, onFailure: string) =>
  attempt(() =>
    changes.map((change): Written => {
      if (change.after === change.before) return { change, written: false, backup: undefined }
      try {
        let mode = 0o600
        let backup: string | undefined
        if (change.before !== undefined) {
          mode = statSync(change.path).mode & 0o777
          backup = backupPath(change.path)
          copyFileSync(change.path, backup)
        }
        writeFileAtomic(change.path, change.after, { mode })
        return { change, written: true, backup }
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        const hint = code === "EACCES" || code === "EPERM" ? " (a system file needs sudo; or use --print)" : ""
        throw failure(`cannot write ${change.path}: ${errorMessage(e)}${hint}${onFailure}`, "write_failed")
      }
    })
  )

/** The id of one of the user's keys, from its prefix; `undefined` when it cannot be told. */
const keyIdOf = (session: Session, key: string) =>
  session
    .call((c) => c.keys.list())
    .pipe(
      Effect.map(({ keys }) => keys.find((k) => k.prefix === prefixOf(key))),
      Effect.either,
      Effect.map((answer) => (Either.isRight(answer) ? answer.right : undefined))
    )

/** Whether `key` still authenticates as `userId` on the server (not revoked, not expired). */
const keyWorksFor = (baseUrl: string, key: string, userId: string | undefined) =>
  makeMurClient({ baseUrl, token: () => key }).pipe(
    Effect.flatMap((client) => client.me.me()),
    Effect.provide(FetchLayer),
    Effect.timeout(Duration.seconds(10)),
    Effect.map((me) => userId !== undefined && me.user.id === userId),
    Effect.orElseSucceed(() => false)
  )

const revokeHint = (id: string | undefined) =>
  id === undefined
    ? "revoke the key on the dashboard's Account page, or with DELETE /api/keys/<id> (GET /api/keys lists them)"
    : `revoke the key on the dashboard's Account page, or with DELETE /api/keys/${id}`

export const setup = (args: SetupArgs) =>
  Effect.gen(function* () {
    const cli = yield* Cli
    const { out } = cli
    const assistant = assistants[args.assistant]
    const file = Option.isSome(args.file)
      ? resolve(expandHome(args.file.value))
      : assistant.defaultFile(process.env, homedir())
    const undoCommand = `mur setup ${assistant.name} --undo${Option.isSome(args.file) ? ` --file ${shellQuote(file)}` : ""}`

    if (args.undo) {
      if (args.print || Option.isSome(args.key)) return yield* usageError("--undo takes neither --print nor --key")
      return yield* undo(assistant.name, file)
    }
    const given = Option.map(args.key, (k) => k.trim())
    if (Option.isSome(given) && !API_KEY.test(given.value)) {
      return yield* usageError("--key needs a mur API key (mur_ followed by letters and digits)")
    }

    // Read and check the files before anything is made on the server.
    const placeholder = { baseUrl: "http://localhost", apiKey: `mur_${"x".repeat(40)}`, team: undefined }
    yield* attempt(() => assistant.setup(file, read, placeholder, process.env))

    const session = yield* openSession({ requireLogin: Option.isNone(given), anonymous: Option.isSome(given) })
    if (Option.isSome(given)) {
      session.use({ kind: "api_key", server: session.baseUrl, api_key: given.value, user: undefined as any })
    }
    const { team } = yield* resolveTeam(session).pipe(
      Effect.catchIf(
        (e: CliError) => Option.isSome(given) && e.exitCode === 3,
        () => failure("the server refused this API key (wrong, revoked or expired)", "invalid_api_key")
      )
    )
    // X-Team only when the user named a team: with one team the key's user says it all.
    const teamHeader = session.team !== undefined ? team.slug : undefined

    let apiKey: string
    let key: { id: string | undefined; name: string | undefined; created: boolean; reused: boolean }
    if (Option.isSome(given)) {
      apiKey = given.value
      const found = yield* keyIdOf(session, apiKey)
      key = { id: found?.id, name: found?.name, created: false, reused: false }
    } else {
      const existing = yield* attempt(() => assistant.currentKey(file, read, session.baseUrl))
      const userId = session.credentials()?.user?.id
      if (existing !== undefined && (yield* keyWorksFor(session.baseUrl, existing, userId))) {
        apiKey = existing
        const found = yield* keyIdOf(session, apiKey)
        key = { id: found?.id, name: found?.name, created: false, reused: true }
      } else {
        const name = `telemetry: ${assistant.name} (${hostname()})`.slice(0, 100)
        const made = yield* session.call((c) => c.keys.create({ payload: { name } }))
        apiKey = made.token
        key = { id: made.key.id, name: made.key.name, created: true, reused: false }
      }
    }

    const plan: Plan = yield* attempt(() =>
      assistant.setup(file, read, { baseUrl: session.baseUrl, apiKey, team: teamHeader }, process.env)
    )
    const keyJson = { ...key, id: key.id ?? null, name: key.name ?? null, prefix: prefixOf(apiKey) }
    const keyLine = `API key ${prefixOf(apiKey)}…${key.name ? ` "${key.name}"` : ""}${key.id ? ` (id ${key.id})` : ""}: ${
      key.created ? "created for this" : key.reused ? "the one already in the settings" : "the one given"
    }`
    const where = `${session.baseUrl}${teamHeader ? ` (team ${teamHeader})` : ""}`

    if (args.print) {
      if (!out.json) {
        for (const note of plan.notes) out.note(note)
        if (key.created) out.note(`${keyLine}; nothing was written, so keep the printed settings or revoke the key.`)
      }
      return out.result(
        plan.changes.map((c) => `${plan.changes.length > 1 ? `# ${c.path}\n` : ""}${c.snippet.trimEnd()}`),
        {
          assistant: assistant.name,
          server: session.baseUrl,
          team: teamHeader ?? null,
          printed: true,
          api_key: keyJson,
          files: plan.changes.map((c) => ({ path: c.path, keys: c.keys, written: false, content: c.snippet })),
          notes: plan.notes,
          undo: null
        }
      )
    }

    const onFailure = key.created ? `; the key ${prefixOf(apiKey)}… was made all the same: ${revokeHint(key.id)}` : ""
    const written = yield* writeChanges(plan.changes, onFailure)
    if (!out.json) for (const note of plan.notes) out.note(note)
    out.result(
      [
        `${assistant.title} will send its telemetry to ${where}.`,
        ...written.map((w) =>
          w.written
            ? `${w.change.before === undefined ? "Created" : "Updated"} ${w.change.path}${
                w.backup ? ` (backup: ${w.backup})` : ""
              }\n  set ${w.change.keys.join(", ")}`
            : `${w.change.path} already had these settings`
        ),
        keyLine,
        `To undo: ${undoCommand}`
      ],
      {
        assistant: assistant.name,
        server: session.baseUrl,
        team: teamHeader ?? null,
        printed: false,
        api_key: keyJson,
        files: written.map((w) => ({
          path: w.change.path,
          keys: w.change.keys,
          written: w.written,
          created: w.written && w.change.before === undefined,
          backup: w.backup ?? null
        })),
        notes: plan.notes,
        undo: { command: undoCommand, revoke: key.id ? `DELETE /api/keys/${key.id}` : null }
      }
    )
  })

const undo = (name: AssistantName, file: string) =>
  Effect.gen(function* () {
    const { home, out } = yield* Cli
    const assistant = assistants[name]
    const config = yield* attempt(() => loadConfig(home.config))
    const found = yield* attempt(() => assistant.foundKey(file, read))
    const plan = yield* attempt(() => assistant.undo(file, read, config.server.url))
    const changes = plan.changes.filter((c) => c.after !== c.before)
    if (changes.length === 0) {
      return out.result(`${file} holds no telemetry settings of mur setup: nothing to undo.`, {
        assistant: name,
        undone: false,
        files: [],
        api_key: null,
        revoke: null
      })
    }
    const written = yield* writeChanges(changes, "")

    // Which key to revoke: looked up when we can (logged in, server answering); never fatal.
    let id: string | undefined
    const credentials = yield* attempt(() => loadCredentials(home.auth))
    if (found !== undefined && credentials !== undefined && config.server.url !== undefined) {
      const answer = yield* openSession({ requireLogin: true, timeout: Duration.seconds(5) }).pipe(
        Effect.flatMap((session) => keyIdOf(session, found)),
        Effect.either
      )
      if (Either.isRight(answer)) id = answer.right?.id
    }
    const revoke = found === undefined ? undefined : id ? `DELETE /api/keys/${id}` : "DELETE /api/keys/<id>"
    out.result(
      [
        ...written.map(
          (w) => `Removed ${w.change.keys.join(", ")} from ${w.change.path}${w.backup ? ` (backup: ${w.backup})` : ""}`
        ),
        `${assistant.title} no longer sends telemetry to mur once restarted.`,
        ...(found === undefined
          ? []
          : [`If nothing else uses the key ${prefixOf(found)}…${id ? ` (id ${id})` : ""}, ${revokeHint(id)}.`])
      ],
      {
        assistant: name,
        undone: true,
        files: written.map((w) => ({
          path: w.change.path,
          keys: w.change.keys,
          written: w.written,
          backup: w.backup ?? null
        })),
        api_key: found === undefined ? null : { id: id ?? null, prefix: prefixOf(found) },
        revoke: revoke ?? null
      }
    )
  })
