/**
 * The pattern library. Every change (create, update, delete, restore) runs in one
 * transaction that takes the team's next `seq` (locking the team row), writes the
 * pattern and its version, appends the event to the team's log and the audit entry.
 * REST routes, sync pushes and WebSocket writes all come through here.
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
  PlanLimits,
  type SyncEvent,
  type UpdatePatternRequest,
  type User,
  VersionConflict
} from "@mur/domain"
import { Effect, Option } from "effect"
import { type AuditAction, AuditLog } from "./AuditLog.js"
import { ChangeFeed } from "./ChangeFeed.js"
import { PatternRepo, type PatternRow, toPattern } from "./PatternRepo.js"
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

export type ChangeError = NotFound | Conflict | Forbidden | VersionConflict | SqlError

const notFound = () => new NotFound({ code: "not_found", message: "No such pattern" })
const nameTaken = (name: string) =>
  new Conflict({ code: "name_taken", message: `A pattern named "${name}" already exists in this team` })

export class Patterns extends Effect.Service<Patterns>()("@mur/core/Patterns", {
  effect: Effect.gen(function* () {
    const repo = yield* PatternRepo
    const teams = yield* TeamRepo
    const log = yield* SyncLog
    const audit = yield* AuditLog
    const feed = yield* ChangeFeed

    /** Runs one change: seq, pattern write, version, event, audit; all or nothing. */
    const commit = <E>(
      teamId: string,
      actor: Actor,
      action: AuditAction,
      type: SyncEvent["type"],
      write: (
        seq: number,
        at: string
      ) => Effect.Effect<{ row: PatternRow; metadata?: Record<string, unknown> }, E | SqlError>
    ): Effect.Effect<Change, E | SqlError> =>
      feed.transaction(
        Effect.gen(function* () {
          const seq = yield* teams.nextSeq(teamId)
          const at = now()
          const { row, metadata } = yield* write(seq, at)
          const pattern = toPattern(row)
          const event: SyncEvent = {
            seq,
            type,
            pattern_id: pattern.id,
            version: pattern.version,
            pattern: type === "pattern_deleted" ? null : pattern,
            actor_id: actor.user.id,
            device_id: actor.deviceId,
            created_at: at
          }
          yield* log.append(teamId, event)
          yield* audit.record({
            action,
            actorId: actor.user.id,
            teamId,
            targetType: "pattern",
            targetId: pattern.id,
            metadata: { name: pattern.name, version: pattern.version, ...metadata }
          })
          yield* feed.publish({ kind: "events", teamId, seq })
          return { pattern, event }
        })
      )

    const versionOf = (row: PatternRow, at: string) => ({
      pattern_id: row.id,
      version: row.version,
      name: row.name,
      description: row.description,
      content: row.content,
      category: row.category,
      tags: row.tags,
      author_id: row.author_id,
      created_at: at
    })

    /** The live pattern of the team, read inside the change's transaction (after the lock). */
    const current = (teamId: string, id: string) =>
      Effect.flatMap(repo.findById(id), (found) =>
        Option.isSome(found) && found.value.team_id === teamId ? Effect.succeed(found.value) : Effect.fail(notFound())
      )

    const ensureNameFree = (teamId: string, name: string, exceptId: string | null) =>
      Effect.flatMap(repo.findByName(teamId, name), (found) =>
        Option.isSome(found) && found.value.id !== exceptId ? Effect.fail(nameTaken(name)) : Effect.void
      )

    const checkBase = (row: PatternRow, base: number | undefined) =>
      base !== undefined && base !== Number(row.version)
        ? Effect.fail(
            new VersionConflict({
              code: "version_conflict",
              message: `The pattern is at version ${row.version}, not ${base}`,
              current: toPattern(row)
            })
          )
        : Effect.void

    const create = (
      actor: Actor,
      active: ActiveTeam,
      input: CreatePatternRequest,
      options: { readonly id?: string } = {}
    ): Effect.Effect<Change, ChangeError> =>
      commit(active.team.id, actor, "pattern.create", "pattern_created", (_seq, at) =>
        Effect.gen(function* () {
          const limit = PlanLimits[active.team.plan].maxPatterns
          if (limit !== null && (yield* repo.countLive(active.team.id)) >= limit) {
            return yield* new Forbidden({
              code: "plan_limit",
              message: `The ${active.team.plan} plan allows ${limit} patterns; this team has reached it`
            })
          }
          yield* ensureNameFree(active.team.id, input.name, null)
          const row: PatternRow = {
            id: options.id ?? newId(),
            team_id: active.team.id,
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
          yield* repo.insert({ ...row, is_public: row.is_public as boolean })
          yield* repo.insertVersion(versionOf(row, at))
          return { row }
        }).pipe(Effect.catchIf(isUniqueViolation, () => Effect.fail(nameTaken(input.name))))
      )

    const applyUpdate = (
      row: PatternRow,
      input: Omit<UpdatePatternRequest, "base_version">,
      actor: Actor,
      at: string
    ) =>
      Effect.gen(function* () {
        if (input.name !== undefined && input.name.toLowerCase() !== row.name.toLowerCase()) {
          yield* ensureNameFree(row.team_id, input.name, row.id)
        }
        const next: PatternRow = {
          ...row,
          name: input.name ?? row.name,
          description: input.description ?? row.description,
          content: input.content !== undefined ? JSON.stringify(input.content) : row.content,
          category: input.category !== undefined ? input.category : row.category,
          tags: input.tags !== undefined ? JSON.stringify(input.tags) : row.tags,
          is_public: input.is_public !== undefined ? input.is_public : row.is_public,
          author_id: actor.user.id,
          version: Number(row.version) + 1,
          updated_at: at
        }
        yield* repo.update({ ...next, is_public: Boolean(next.is_public === true || next.is_public === 1) })
        yield* repo.insertVersion(versionOf(next, at))
        return next
      }).pipe(Effect.catchIf(isUniqueViolation, () => Effect.fail(nameTaken(input.name ?? row.name))))

    const update = (
      actor: Actor,
      active: ActiveTeam,
      id: string,
      input: UpdatePatternRequest
    ): Effect.Effect<Change, ChangeError> =>
      commit(active.team.id, actor, "pattern.update", "pattern_updated", (_seq, at) =>
        Effect.gen(function* () {
          const row = yield* current(active.team.id, id)
          yield* checkBase(row, input.base_version)
          const { base_version: _base, ...fields } = input
          const changed = Object.keys(fields).filter((k) => (fields as Record<string, unknown>)[k] !== undefined)
          return { row: yield* applyUpdate(row, fields, actor, at), metadata: { fields: changed } }
        })
      )

    const remove = (
      actor: Actor,
      active: ActiveTeam,
      id: string,
      options: { readonly baseVersion?: number } = {}
    ): Effect.Effect<Change, ChangeError> =>
      Effect.gen(function* () {
        if (active.role !== "admin") {
          return yield* new Forbidden({ code: "forbidden", message: "Only a team admin may delete patterns" })
        }
        return yield* commit(active.team.id, actor, "pattern.delete", "pattern_deleted", (_seq, at) =>
          Effect.gen(function* () {
            const row = yield* current(active.team.id, id)
            yield* checkBase(row, options.baseVersion)
            const version = Number(row.version) + 1
            yield* repo.softDelete(row.id, version, at)
            return { row: { ...row, version, updated_at: at, deleted_at: at } }
          })
        )
      })

    const restore = (
      actor: Actor,
      active: ActiveTeam,
      id: string,
      version: number
    ): Effect.Effect<Change, ChangeError> =>
      commit(active.team.id, actor, "pattern.restore", "pattern_updated", (_seq, at) =>
        Effect.gen(function* () {
          const row = yield* current(active.team.id, id)
          const old = yield* repo.findVersion(row.id, version)
          if (Option.isNone(old)) return yield* new NotFound({ code: "not_found", message: `No version ${version}` })
          const v = old.value
          const next = yield* applyUpdate(
            row,
            { name: v.name, description: v.description, content: v.content, category: v.category, tags: v.tags },
            actor,
            at
          )
          return { row: next, metadata: { restored_version: version } }
        })
      )

    /** A pattern the caller may read: one of the active team's, or any team's public one. */
    const readable = <R>(id: string, active: Effect.Effect<ActiveTeam, unknown, R>) =>
      Effect.gen(function* () {
        const found = yield* repo.findById(id)
        if (Option.isNone(found)) return yield* notFound()
        if (bool(found.value.is_public)) return found.value
        const team = yield* Effect.option(active)
        if (Option.isNone(team) || team.value.team.id !== found.value.team_id) return yield* notFound()
        return found.value
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
