/**
 * The pattern library. Every change (create, update, delete, restore) goes through a
 * `Draft`: opened inside a transaction, it takes the team's lock, reads the last `seq` and
 * the patterns the changes name, then plans each change in memory (checks, next `seq`,
 * new version, event, audit entry). `flush` writes them all: one multi-row statement per
 * table, whatever the number of changes. A REST change is a draft of one change; a sync
 * push is a draft of its whole batch, so both follow the same rules.
 */
import type { SqlError } from "@effect/sql/SqlError"
import {
  Conflict,
  type CreatePatternRequest,
  Forbidden,
  type ListPatternsParams,
  NotFound,
  type Pattern,
  type PatternVersion,
  type SyncEvent,
  type UpdatePatternRequest,
  type User,
  VersionConflict
} from "@mur/domain"
import { Data, Effect, Either, Option } from "effect"
import { type AuditAction, type AuditEntryInput, AuditLog } from "./AuditLog.js"
import { ChangeFeed } from "./ChangeFeed.js"
import { PatternRepo, type PatternRow, toPattern } from "./PatternRepo.js"
import * as Policy from "./Policy.js"
import { bool, isUniqueViolation, newId, now } from "./rows.js"
import { SyncLog } from "./SyncLog.js"
import { TeamRepo } from "./TeamRepo.js"
import type { ActiveTeam } from "./Teams.js"

/** Who made a change, and from which device (sync pushes and sockets name one). */
export interface Actor {
  readonly user: User
  readonly deviceId: string | null
}

/** A committed change: the pattern as it now is and its event in the team's log. */
export interface Change {
  readonly pattern: Pattern
  readonly event: SyncEvent
}

/** A create asked for a pattern id some pattern (of any team, live or deleted) already has. */
export class IdTaken extends Data.TaggedError("IdTaken")<{ readonly message: string }> {}

/** Why a planned change was refused; the draft is left as it was. */
export type PlanError = NotFound | Conflict | Forbidden | VersionConflict | IdTaken

export type ChangeError = NotFound | Conflict | Forbidden | VersionConflict | SqlError

/** What a draft reads before planning: the patterns its changes name, by id and by name. */
export interface DraftKeys {
  readonly ids: Iterable<string>
  readonly names: Iterable<string>
}

/**
 * Changes of one team planned in memory against the state read when the draft was
 * opened, then written by `flush`. Lookups see the changes planned so far. Only the ids
 * and names given to `open` (and those the draft created) may be looked up.
 */
export interface Draft {
  /** The team's live pattern with this id. */
  readonly live: (id: string) => PatternRow | undefined
  /** The team's live pattern with this name (case-insensitive). */
  readonly liveByName: (name: string) => PatternRow | undefined
  /** True when some pattern (of any team, live or deleted) has this id. */
  readonly idTaken: (id: string) => boolean
  readonly create: (
    actor: Actor,
    input: CreatePatternRequest,
    options?: { readonly id?: string | undefined }
  ) => Either.Either<Change, PlanError>
  readonly update: (
    actor: Actor,
    id: string,
    input: UpdatePatternRequest,
    options?: { readonly action?: AuditAction; readonly metadata?: Record<string, unknown> }
  ) => Either.Either<Change, PlanError>
  readonly remove: (
    actor: Actor,
    id: string,
    options?: { readonly baseVersion?: number | undefined }
  ) => Either.Either<Change, PlanError>
  /** The team's last `seq`, counting the planned changes. */
  readonly lastSeq: () => number
  /** Writes the planned changes and queues the team's notice (call once, in the same transaction). */
  readonly flush: Effect.Effect<void, SqlError>
}

const notFound = () => new NotFound({ code: "not_found", message: "No such pattern" })
const nameTaken = (name: string) =>
  new Conflict({ code: "name_taken", message: `A pattern named "${name}" already exists in this team` })

const versionOf = (row: PatternRow) => ({
  pattern_id: row.id,
  version: Number(row.version),
  name: row.name,
  description: row.description,
  content: row.content,
  category: row.category,
  tags: row.tags,
  author_id: row.author_id,
  created_at: row.updated_at
})

const checkBase = (row: PatternRow, base: number | undefined): VersionConflict | null =>
  base !== undefined && base !== Number(row.version)
    ? new VersionConflict({
        code: "version_conflict",
        message: `The pattern is at version ${row.version}, not ${base}`,
        current: toPattern(row)
      })
    : null

export class Patterns extends Effect.Service<Patterns>()("@mur/core/Patterns", {
  effect: Effect.gen(function* () {
    const repo = yield* PatternRepo
    const teams = yield* TeamRepo
    const log = yield* SyncLog
    const audit = yield* AuditLog
    const feed = yield* ChangeFeed

    /** Opens a draft of changes to the active team's patterns (call inside a transaction). */
    const open = (active: ActiveTeam, keys: DraftKeys): Effect.Effect<Draft, SqlError> =>
      Effect.gen(function* () {
        const teamId = active.team.id
        const limit = active.team.max_patterns
        const startSeq = yield* teams.lockSeq(teamId)
        const ids = new Set<string>()
        for (const id of keys.ids) ids.add(id.toLowerCase())
        const names = new Set<string>()
        for (const name of keys.names) names.add(name.toLowerCase())
        const found = yield* repo.findForChange(teamId, [...ids], [...names])
        let live = limit === null ? 0 : yield* repo.countLive(teamId)

        /** Every loaded or planned row by id; live ones of the team also by lower-case name. */
        const rows = new Map<string, PatternRow>()
        const byName = new Map<string, string>()
        for (const row of found) {
          rows.set(row.id.toLowerCase(), row)
          if (row.team_id === teamId && row.deleted_at === null) byName.set(row.name.toLowerCase(), row.id)
        }
        const knownName = (lower: string) => names.has(lower) || byName.has(lower)
        const knownId = (id: string) => ids.has(id) || rows.has(id)

        let seq = startSeq
        const inserted = new Set<string>()
        const touched = new Map<string, PatternRow>()
        const versions: Array<ReturnType<typeof versionOf>> = []
        const events: Array<SyncEvent> = []
        const entries: Array<AuditEntryInput> = []
        let flushed = false

        const liveRow = (id: string) => {
          const key = id.toLowerCase()
          if (!knownId(key)) throw new Error(`Draft: pattern ${id} was not read when the draft was opened`)
          const row = rows.get(key)
          return row !== undefined && row.team_id === teamId && row.deleted_at === null ? row : undefined
        }
        const liveByName = (name: string) => {
          const lower = name.toLowerCase()
          if (!knownName(lower)) throw new Error(`Draft: name "${name}" was not read when the draft was opened`)
          const id = byName.get(lower)
          return id === undefined ? undefined : rows.get(id.toLowerCase())
        }
        const idTaken = (id: string) => {
          const key = id.toLowerCase()
          if (!knownId(key)) throw new Error(`Draft: pattern ${id} was not read when the draft was opened`)
          return rows.has(key)
        }
        const nameFree = (name: string, exceptId: string | null) => {
          const other = liveByName(name)
          return other === undefined || other.id === exceptId
        }

        /** Records a planned change: the row as it now is, its event, version and audit entry. */
        const commit = (
          actor: Actor,
          action: AuditAction,
          type: SyncEvent["type"],
          before: PatternRow | undefined,
          row: PatternRow,
          metadata?: Record<string, unknown>
        ): Change => {
          seq += 1
          const key = row.id.toLowerCase()
          rows.set(key, row)
          touched.set(key, row)
          if (before !== undefined && byName.get(before.name.toLowerCase()) === before.id) {
            byName.delete(before.name.toLowerCase())
          }
          if (row.deleted_at === null) byName.set(row.name.toLowerCase(), row.id)
          if (type !== "pattern_deleted") versions.push(versionOf(row))
          const pattern = toPattern(row)
          const event: SyncEvent = {
            seq,
            type,
            pattern_id: pattern.id,
            version: pattern.version,
            pattern: type === "pattern_deleted" ? null : pattern,
            actor_id: actor.user.id,
            device_id: actor.deviceId,
            created_at: row.updated_at
          }
          events.push(event)
          entries.push({
            action,
            actorId: actor.user.id,
            teamId,
            targetType: "pattern",
            targetId: pattern.id,
            metadata: { name: pattern.name, version: pattern.version, ...metadata }
          })
          return { pattern, event }
        }

        const create: Draft["create"] = (actor, input, options = {}) => {
          if (limit !== null && live >= limit) {
            return Either.left(
              new Forbidden({
                code: "plan_limit",
                message: `This team's limit is ${limit} patterns (${active.team.plan} plan); it has reached it`
              })
            )
          }
          if (!nameFree(input.name, null)) return Either.left(nameTaken(input.name))
          const id = options.id?.toLowerCase() ?? newId()
          if (options.id !== undefined && idTaken(id)) {
            const taken = rows.get(id)
            // The team's own pattern, deleted: say so, rather than that someone else has the id.
            if (taken !== undefined && taken.team_id === teamId && taken.deleted_at !== null) {
              return Either.left(
                new NotFound({
                  code: "not_found",
                  message: "This pattern was deleted; push it without pattern_id to create it again"
                })
              )
            }
            return Either.left(new IdTaken({ message: "pattern_id is already used by another pattern" }))
          }
          ids.add(id)
          const at = now()
          const row: PatternRow = {
            id,
            team_id: teamId,
            name: input.name,
            description: input.description ?? "",
            content: JSON.stringify(input.content),
            category: input.category ?? null,
            tags: JSON.stringify(input.tags ?? []),
            author_id: actor.user.id,
            is_public: input.is_public ?? false,
            usage_count: 0,
            version: 1,
            created_at: at,
            updated_at: at,
            deleted_at: null
          }
          live += 1
          inserted.add(id)
          return Either.right(commit(actor, "pattern.create", "pattern_created", undefined, row))
        }

        const update: Draft["update"] = (actor, id, input, options = {}) => {
          const row = liveRow(id)
          if (row === undefined) return Either.left(notFound())
          const stale = checkBase(row, input.base_version)
          if (stale !== null) return Either.left(stale)
          if (
            input.name !== undefined &&
            input.name.toLowerCase() !== row.name.toLowerCase() &&
            !nameFree(input.name, row.id)
          ) {
            return Either.left(nameTaken(input.name))
          }
          const at = now()
          const next: PatternRow = {
            ...row,
            name: input.name ?? row.name,
            description: input.description ?? row.description,
            content: input.content !== undefined ? JSON.stringify(input.content) : row.content,
            category: input.category !== undefined ? input.category : row.category,
            tags: input.tags !== undefined ? JSON.stringify(input.tags) : row.tags,
            is_public: input.is_public !== undefined ? input.is_public : bool(row.is_public),
            author_id: actor.user.id,
            version: Number(row.version) + 1,
            updated_at: at
          }
          const metadata = options.metadata ?? {
            fields: Object.keys(input).filter(
              (k) => k !== "base_version" && (input as Record<string, unknown>)[k] !== undefined
            )
          }
          return Either.right(commit(actor, options.action ?? "pattern.update", "pattern_updated", row, next, metadata))
        }

        const remove: Draft["remove"] = (actor, id, options = {}) => {
          const allowed = Policy.check(active, "pattern.delete")
          if (Either.isLeft(allowed)) return Either.left(allowed.left)
          const row = liveRow(id)
          if (row === undefined) return Either.left(notFound())
          const stale = checkBase(row, options.baseVersion)
          if (stale !== null) return Either.left(stale)
          const at = now()
          const next: PatternRow = { ...row, version: Number(row.version) + 1, updated_at: at, deleted_at: at }
          live -= 1
          return Either.right(commit(actor, "pattern.delete", "pattern_deleted", row, next))
        }

        const flush: Effect.Effect<void, SqlError> = Effect.suspend(() => {
          if (flushed) return Effect.dieMessage("Draft: flushed twice")
          flushed = true
          if (events.length === 0) return Effect.void
          const created: Array<PatternRow> = []
          const updated: Array<PatternRow> = []
          for (const [key, row] of touched) (inserted.has(key) ? created : updated).push(row)
          return Effect.all(
            [
              repo.insertMany(created),
              repo.updateMany(updated),
              repo.insertVersions(versions),
              log.appendMany(teamId, events),
              audit.recordMany(entries),
              teams.advanceSeq(teamId, startSeq, seq),
              feed.publish({ kind: "events", teamId, seq })
            ],
            { discard: true }
          )
        })

        return {
          live: liveRow,
          liveByName,
          idTaken,
          create,
          update,
          remove,
          lastSeq: () => seq,
          flush
        } satisfies Draft
      })

    /** One change through a draft of its own, in its own transaction (or the caller's). */
    const single = (
      active: ActiveTeam,
      keys: DraftKeys,
      plan: (draft: Draft) => Effect.Effect<Change, PlanError | SqlError>
    ): Effect.Effect<Change, ChangeError> =>
      feed
        .transaction(
          Effect.gen(function* () {
            const draft = yield* open(active, keys)
            const change = yield* plan(draft)
            yield* draft.flush
            return change
          })
        )
        .pipe(
          // REST changes never name an id of their own.
          Effect.catchTag("IdTaken", (e) => Effect.die(e)),
          // Names are checked under the team's lock, so this is a race the lock lost to
          // nothing we know of; answer it as the conflict it is rather than a 500.
          Effect.catchIf(
            (e): e is SqlError => e._tag === "SqlError" && isUniqueViolation(e),
            () => Effect.fail(new Conflict({ code: "name_taken", message: "A pattern with this name already exists" }))
          )
        )

    const create = (
      actor: Actor,
      active: ActiveTeam,
      input: CreatePatternRequest
    ): Effect.Effect<Change, ChangeError> =>
      single(active, { ids: [], names: [input.name] }, (draft) => draft.create(actor, input))

    const update = (
      actor: Actor,
      active: ActiveTeam,
      id: string,
      input: UpdatePatternRequest
    ): Effect.Effect<Change, ChangeError> =>
      single(active, { ids: [id], names: input.name === undefined ? [] : [input.name] }, (draft) =>
        draft.update(actor, id, input)
      )

    const remove = (actor: Actor, active: ActiveTeam, id: string): Effect.Effect<Change, ChangeError> =>
      single(active, { ids: [id], names: [] }, (draft) => draft.remove(actor, id))

    const restore = (
      actor: Actor,
      active: ActiveTeam,
      id: string,
      version: number
    ): Effect.Effect<Change, ChangeError> =>
      Effect.gen(function* () {
        // Versions never change, so reading one before the lock is safe.
        const old = yield* repo.findVersion(id, version)
        const name = Option.isSome(old) ? [old.value.name] : []
        return yield* single(active, { ids: [id], names: name }, (draft) =>
          Effect.gen(function* () {
            if (draft.live(id) === undefined) return yield* notFound()
            if (Option.isNone(old)) return yield* new NotFound({ code: "not_found", message: `No version ${version}` })
            const v = old.value
            return yield* draft.update(
              actor,
              id,
              { name: v.name, description: v.description, content: v.content, category: v.category, tags: v.tags },
              { action: "pattern.restore", metadata: { restored_version: version } }
            )
          })
        )
      })

    /** The live pattern of the team (for reads that need no lock). */
    const current = (teamId: string, id: string) =>
      Effect.flatMap(repo.findById(id), (found) =>
        Option.isSome(found) && found.value.team_id === teamId ? Effect.succeed(found.value) : Effect.fail(notFound())
      )

    /** A pattern the caller may read: one of the active team's, or any team's public one. */
    const readable = <R>(id: string, active: Effect.Effect<ActiveTeam, unknown, R>) =>
      Effect.gen(function* () {
        const found = yield* repo.findById(id)
        if (Option.isNone(found)) return yield* notFound()
        const row = found.value
        const pattern = { team_id: row.team_id, is_public: bool(row.is_public) }
        if (Policy.maySeePattern(null, pattern)) return row
        const team = yield* Effect.option(active)
        if (!Policy.maySeePattern(Option.getOrNull(team), pattern)) return yield* notFound()
        return row
      })

    const get = <R>(
      id: string,
      active: Effect.Effect<ActiveTeam, unknown, R>
    ): Effect.Effect<Pattern, NotFound | SqlError, R> => Effect.map(readable(id, active), toPattern)

    const use = <R>(
      id: string,
      active: Effect.Effect<ActiveTeam, unknown, R>
    ): Effect.Effect<number, NotFound | SqlError, R> =>
      Effect.gen(function* () {
        const row = yield* readable(id, active)
        const count = yield* repo.incrementUsage(row.id)
        if (Option.isNone(count)) return yield* notFound()
        return count.value
      })

    const versions = (
      active: ActiveTeam,
      id: string
    ): Effect.Effect<ReadonlyArray<PatternVersion>, NotFound | SqlError> =>
      Effect.flatMap(current(active.team.id, id), (row) => repo.versions(row.id))

    const list = (teamId: string | null, params: ListPatternsParams) =>
      Effect.gen(function* () {
        const page = params.page ?? 1
        const limit = params.limit ?? 20
        const { rows, total } = yield* repo.list({ teamId, params, page, limit })
        return { patterns: rows.map(toPattern), total, page, limit }
      })

    return {
      open,
      create,
      update,
      remove,
      restore,
      get,
      use,
      versions,
      list,
      findById: repo.findById,
      findByName: repo.findByName
    } as const
  }),
  dependencies: [PatternRepo.Default, TeamRepo.Default, SyncLog.Default, AuditLog.Default]
}) {}
