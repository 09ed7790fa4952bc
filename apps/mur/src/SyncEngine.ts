/**
 * `mur sync` in server mode. One run:
 *
 * 1. pulls the team's events after the saved `seq` (`/api/sync/pull`), page by page, and
 *    writes each pattern to `patterns/<name>.yaml` (atomically, with `team_shared: true`);
 *    a server delete removes the file. A file changed locally since the last sync that the
 *    server also changed is a conflict: the server's copy wins and the local text is kept
 *    as `<name>.conflict.yaml`.
 * 2. pushes the files marked `team_shared: true` whose document changed since the last
 *    sync (`/api/sync/push`), with `base_version` from the state and a `client_action_id`
 *    derived from the device, name, document and base, so a push repeated after an
 *    interrupted run is answered `duplicate` and never applied twice.
 *
 * The cursor moves past our own pushed events when nothing else came in between, so the
 * next run does not pull them back. The state is saved after every page and every batch. A run killed at any point leaves
 * whole files and a state that is at worst behind; the next run recognises files that
 * already hold what the server has (equal hashes) and ends where one clean run would.
 */
import { createHash } from "node:crypto"
import { mkdirSync } from "node:fs"
import type { Pattern, SyncEvent } from "@mur/domain"
import { Effect } from "effect"
import { readTextIfExists, removeFile, removeStaleTempFiles, writeFileAtomic } from "./AtomicFile.js"
import { deviceId } from "./DeviceId.js"
import { attempt, type CliError } from "./errors.js"
import type { MurHome } from "./MurHome.js"
import type { Output } from "./Output.js"
import {
  conflictPath,
  documentFromServer,
  hashDocument,
  listPatternNames,
  PATTERN_NAME,
  type PatternDocument,
  PatternFileError,
  parseDocument,
  patternPath,
  stringifyDocument,
  toServerPattern
} from "./PatternFile.js"
import type { Session } from "./Session.js"
import { type PatternSyncState, SyncState, type TeamSyncState } from "./SyncState.js"

export interface SyncOptions {
  readonly dryRun: boolean
  /** Events per push request (default 100; `MUR_SYNC_BATCH` overrides). */
  readonly batchSize?: number
  /** Events per pull page (default 500). */
  readonly pageSize?: number
}

export interface SyncReport {
  readonly team: { readonly id: string; readonly slug: string }
  readonly dry_run: boolean
  readonly pushed: Array<string>
  readonly pulled: Array<string>
  readonly deleted: Array<string>
  readonly conflicts: Array<{ readonly name: string; readonly file: string; readonly reason: string }>
  readonly rejected: Array<{ readonly name: string; readonly code: string; readonly message: string }>
  readonly skipped: Array<{ readonly file: string; readonly reason: string }>
  last_seq: number
}

/** A local file as the engine sees it: parsed, or present but unreadable. */
type LocalFile =
  | { readonly ok: true; readonly text: string; readonly doc: PatternDocument; readonly hash: string }
  | { readonly ok: false; readonly text: string; readonly error: string }

/** The pattern folder, with writes that only pretend in a dry run. */
const makeWorkspace = (dir: string, dryRun: boolean) => {
  const overlay = new Map<string, string | null>()
  const read = (name: string): LocalFile | undefined => {
    const text = overlay.has(name) ? (overlay.get(name) ?? undefined) : readTextIfExists(patternPath(dir, name))
    if (text === undefined) return undefined
    try {
      const doc = parseDocument(text)
      return { ok: true, text, doc, hash: hashDocument(doc) }
    } catch (e) {
      if (e instanceof PatternFileError) return { ok: false, text, error: e.message }
      throw e
    }
  }
  return {
    read,
    names: () => {
      const names = new Set(listPatternNames(dir))
      for (const [name, text] of overlay) {
        if (text === null) names.delete(name)
        else names.add(name)
      }
      return [...names].sort()
    },
    write: (name: string, text: string) => {
      if (dryRun) overlay.set(name, text)
      else writeFileAtomic(patternPath(dir, name), text)
    },
    keepConflict: (name: string, text: string) => {
      if (!dryRun) writeFileAtomic(conflictPath(dir, name), text)
    },
    remove: (name: string) => {
      if (dryRun) overlay.set(name, null)
      else removeFile(patternPath(dir, name))
    }
  }
}

/** The `client_action_id` of pushing `hash` as `name` on top of `base`: the same push, the same id. */
export const actionId = (device: string, name: string, hash: string, base: string): string =>
  createHash("sha256").update(`${device}\n${name}\n${hash}\n${base}`).digest("hex")

export const runSync = (
  session: Session,
  home: MurHome,
  team: { readonly id: string; readonly slug: string },
  out: Output,
  options: SyncOptions
): Effect.Effect<SyncReport, CliError> =>
  Effect.gen(function* () {
    const { dryRun } = options
    const batchSize = options.batchSize ?? 100
    const pageSize = options.pageSize ?? 500
    const dir = home.patterns
    if (!dryRun) {
      yield* attempt(() => {
        mkdirSync(dir, { recursive: true })
        removeStaleTempFiles(dir)
      }, `cannot prepare ${dir}`)
    }
    const device = yield* attempt(() => deviceId(home.deviceId), "cannot read device_id")
    const store = yield* attempt(() => SyncState.load(home.syncState), "cannot read sync-state.json")
    const saved = store.team(session.baseUrl, team.id, team.slug)
    const state: TeamSyncState = dryRun ? structuredClone(saved) : saved
    const files = makeWorkspace(dir, dryRun)
    const persist = dryRun ? Effect.void : attempt(() => store.save(), "cannot save sync-state.json")

    const byId = new Map<string, string>()
    for (const [name, p] of Object.entries(state.patterns)) byId.set(p.id, name)
    const track = (name: string, entry: PatternSyncState) => {
      const previous = state.patterns[name]
      if (previous && byId.get(previous.id) === name) byId.delete(previous.id)
      const other = byId.get(entry.id)
      if (other !== undefined && other !== name) delete state.patterns[other]
      state.patterns[name] = entry
      byId.set(entry.id, name)
    }
    const untrack = (name: string) => {
      const previous = state.patterns[name]
      if (previous && byId.get(previous.id) === name) byId.delete(previous.id)
      delete state.patterns[name]
    }

    const report: SyncReport = {
      team,
      dry_run: dryRun,
      pushed: [],
      pulled: [],
      deleted: [],
      conflicts: [],
      rejected: [],
      skipped: [],
      last_seq: state.last_seq
    }
    const conflict = (name: string, text: string, reason: string) => {
      files.keepConflict(name, text)
      report.conflicts.push({ name, file: conflictPath(dir, name), reason })
    }

    /** Has the file changed since the last sync of `name`? */
    const changedLocally = (name: string, local: LocalFile) => {
      const entry = state.patterns[name]
      return entry === undefined || !local.ok || local.hash !== entry.hash
    }

    /** Writes the server's copy of a pattern, keeping a locally changed file as a conflict copy. */
    const writeServerCopy = (pattern: Pattern, reason: string) => {
      const doc = documentFromServer(pattern)
      const hash = hashDocument(doc)
      const local = files.read(pattern.name)
      let written = false
      if (!(local?.ok && local.hash === hash)) {
        if (local && changedLocally(pattern.name, local)) conflict(pattern.name, local.text, reason)
        files.write(pattern.name, stringifyDocument(doc))
        written = true
      }
      track(pattern.name, { id: pattern.id, version: pattern.version, hash })
      return written
    }

    const applyEvent = (event: SyncEvent) => {
      const known = byId.get(event.pattern_id)
      if (event.type === "pattern_deleted" || event.pattern === null) {
        if (known === undefined) return
        const local = files.read(known)
        if (local) {
          if (changedLocally(known, local)) conflict(known, local.text, "deleted on the server")
          files.remove(known)
        }
        untrack(known)
        report.deleted.push(known)
        return
      }
      const pattern = event.pattern
      if (known !== undefined && known === pattern.name && state.patterns[known]!.version >= pattern.version) return
      if (known !== undefined && known !== pattern.name) {
        // Renamed on the server: the old file goes (kept aside if it had local changes).
        const old = files.read(known)
        if (old) {
          if (changedLocally(known, old)) conflict(known, old.text, `renamed on the server to ${pattern.name}`)
          files.remove(known)
        }
        untrack(known)
      }
      if (writeServerCopy(pattern, "changed on the server")) report.pulled.push(pattern.name)
    }

    // 1. Pull.
    const pulling = out.progress("pulling")
    let after = state.last_seq
    let seen = 0
    let restarted = false
    while (true) {
      const page = yield* session.call((c) =>
        c.sync.pull({ urlParams: { after, limit: pageSize, ...(dryRun ? {} : { device_id: device }) } })
      )
      if (page.events.length === 0 && page.last_seq < after && !restarted) {
        // The server's log is behind our cursor (a restored or new database): read it all again.
        out.warn(`the server's event log ends at ${page.last_seq}, before our cursor ${after}: pulling it all again`)
        restarted = true
        after = 0
        continue
      }
      const latest = new Map<string, SyncEvent>()
      for (const event of page.events) {
        latest.delete(event.pattern_id)
        latest.set(event.pattern_id, event)
      }
      yield* attempt(() => {
        for (const event of latest.values()) applyEvent(event)
      }, "cannot write a pulled pattern")
      seen += page.events.length
      pulling.update(seen)
      if (page.events.length > 0 || page.last_seq < after) after = page.last_seq
      state.last_seq = after
      yield* persist
      if (!page.has_more) break
    }
    pulling.done()

    // 2. Push.
    interface Candidate {
      readonly name: string
      readonly doc: PatternDocument
      readonly text: string
      readonly hash: string
      readonly entry: PatternSyncState | undefined
    }
    const candidates: Array<Candidate> = []
    yield* attempt(() => {
      for (const name of files.names()) {
        const local = files.read(name)
        if (!local) continue
        if (!local.ok) {
          report.skipped.push({ file: patternPath(dir, name), reason: `not a readable pattern file: ${local.error}` })
          continue
        }
        if (local.doc.team_shared !== true) continue
        if (!PATTERN_NAME.test(name)) {
          report.skipped.push({
            file: patternPath(dir, name),
            reason: "the name must be 1 to 64 letters, digits, '_' or '-' to be shared"
          })
          continue
        }
        const entry = state.patterns[name]
        if (entry && entry.hash === local.hash) continue
        candidates.push({ name, doc: local.doc, text: local.text, hash: local.hash, entry })
      }
    }, "cannot read the pattern files")

    if (dryRun) {
      report.pushed.push(...candidates.map((c) => c.name))
    } else {
      const pushing = out.progress("pushing")
      for (let i = 0; i < candidates.length; i += batchSize) {
        const batch = candidates.slice(i, i + batchSize)
        const byAction = new Map<string, Candidate>()
        const events = batch.map((c) => {
          const base = c.entry ? `${c.entry.id}@${c.entry.version}` : `new@${state.last_seq}`
          const id = actionId(device, c.name, c.hash, base)
          byAction.set(id, c)
          return {
            client_action_id: id,
            op: "upsert" as const,
            name: c.name,
            ...(c.entry ? { pattern_id: c.entry.id, base_version: c.entry.version } : {}),
            pattern: toServerPattern(c.name, c.doc)
          }
        })
        const answer = yield* session.call((c) => c.sync.push({ payload: { device_id: device, events } }))
        yield* attempt(() => {
          for (const result of answer.results) {
            const c = result.client_action_id === null ? undefined : byAction.get(result.client_action_id)
            if (!c) continue
            if ((result.status === "applied" || result.status === "duplicate") && result.pattern_id && result.version) {
              track(c.name, { id: result.pattern_id, version: result.version, hash: c.hash })
              report.pushed.push(c.name)
            } else if (result.status === "conflict" && result.current) {
              const current = result.current
              if (current.name !== c.name) {
                conflict(c.name, c.text, `renamed on the server to ${current.name}`)
                files.remove(c.name)
                untrack(c.name)
                writeServerCopy(current, "changed on the server")
              } else {
                conflict(c.name, c.text, "changed on the server")
                const doc = documentFromServer(current)
                files.write(c.name, stringifyDocument(doc))
                track(c.name, { id: current.id, version: current.version, hash: hashDocument(doc) })
              }
            } else {
              report.rejected.push({
                name: c.name,
                code: result.error?.code ?? result.status,
                message: result.error?.message ?? "the server did not apply this change"
              })
            }
          }
          // Our own events right after the cursor need no pull: move past them.
          const ours = new Set(
            answer.results.flatMap((r) =>
              (r.status === "applied" || r.status === "duplicate") && r.seq !== undefined ? [r.seq] : []
            )
          )
          while (ours.has(state.last_seq + 1)) state.last_seq++
        }, "cannot record the push")
        yield* persist
        pushing.update(Math.min(i + batchSize, candidates.length), candidates.length)
      }
      pushing.done()
    }

    report.last_seq = state.last_seq
    return report
  })
