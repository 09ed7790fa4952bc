/**
 * The sync protocol over a team's event log: push (apply a device's batch of changes,
 * each at most once ever), pull (pages of the log), snapshot and status.
 *
 * A push runs as one transaction holding the team's lock. Its events are planned in one
 * `Patterns` draft, under the same rules as the REST routes: a rejected or conflicting
 * event changes nothing (the draft is left as it was) while the others apply, and the
 * whole batch is written with one multi-row statement per table.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import {
  CreatePatternRequest,
  type Pattern,
  type PullResponse,
  PushEvent,
  type PushResponse,
  type PushResult,
  UpdatePatternRequest,
  type User
} from "@mur/domain"
import { Effect, Either, ParseResult, Schema } from "effect"
import { ChangeFeed } from "./ChangeFeed.js"
import { DeviceRepo } from "./DeviceRepo.js"
import { PatternRepo, toPattern } from "./PatternRepo.js"
import { type Actor, type Change, type Draft, Patterns, type PlanError } from "./Patterns.js"
import { isUniqueViolation, json, now } from "./rows.js"
import { SyncLog } from "./SyncLog.js"
import { TeamRepo } from "./TeamRepo.js"
import type { ActiveTeam } from "./Teams.js"

const decodeEvent = Schema.decodeUnknownEither(PushEvent)
const decodeCreate = Schema.decodeUnknownEither(CreatePatternRequest)
const decodeUpdate = Schema.decodeUnknownEither(UpdatePatternRequest)

const describe = (error: ParseResult.ParseError) => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  return issue ? `${issue.path.join(".") || "event"}: ${issue.message}` : "invalid event"
}

const applied = (clientActionId: string, change: Change): PushResult => ({
  client_action_id: clientActionId,
  status: "applied",
  seq: change.event.seq,
  pattern_id: change.pattern.id,
  version: change.pattern.version
})

const rejected = (clientActionId: string | null, code: string, message: string): PushResult => ({
  client_action_id: clientActionId,
  status: "rejected",
  error: { code, message }
})

export class Sync extends Effect.Service<Sync>()("@mur/core/Sync", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const patterns = yield* Patterns
    const repo = yield* PatternRepo
    const log = yield* SyncLog
    const feed = yield* ChangeFeed
    const devices = yield* DeviceRepo
    const teams = yield* TeamRepo

    /** Results already recorded for these actions of the device (what makes a repeat a `duplicate`). */
    const findActions = (teamId: string, deviceId: string, actionIds: ReadonlyArray<string>) =>
      actionIds.length === 0
        ? Effect.succeed(new Map<string, PushResult>())
        : Effect.map(
            devices.findActions(teamId, deviceId, actionIds),
            (rows) => new Map(rows.map((r) => [r.client_action_id, json<PushResult>(r.result)]))
          )

    const recordActions = (teamId: string, deviceId: string, userId: string, results: ReadonlyArray<PushResult>) => {
      const at = now()
      return devices.insertActions(
        results.map((result) => ({
          team_id: teamId,
          device_id: deviceId,
          client_action_id: result.client_action_id!,
          user_id: userId,
          result: JSON.stringify({ seq: result.seq, pattern_id: result.pattern_id, version: result.version }),
          created_at: at
        }))
      )
    }

    const touchDevice = (teamId: string, deviceId: string, userId: string, pulledSeq: number | null) =>
      devices.touch(teamId, deviceId, userId, now(), pulledSeq ?? 0)

    /** An event of a push, checked against the protocol's shape (not yet against the team). */
    type Prepared =
      | { readonly _tag: "event"; readonly event: PushEvent; readonly name: string | undefined }
      | { readonly _tag: "invalid"; readonly result: PushResult }

    const prepare = (raw: unknown): Prepared => {
      const decoded = decodeEvent(raw)
      if (Either.isLeft(decoded)) {
        const rawId =
          typeof raw === "object" && raw !== null && typeof (raw as any).client_action_id === "string"
            ? ((raw as any).client_action_id as string)
            : null
        return { _tag: "invalid", result: rejected(rawId, "invalid_request", describe(decoded.left)) }
      }
      const event = decoded.right
      const fields = event.pattern ?? {}
      const name = event.name ?? (typeof fields.name === "string" ? fields.name : undefined)
      return { _tag: "event", event, name }
    }

    const fromPlanError = (id: string, e: PlanError): PushResult =>
      e._tag === "VersionConflict"
        ? { client_action_id: id, status: "conflict", error: { code: e.code, message: e.message }, current: e.current }
        : e._tag === "IdTaken"
          ? rejected(id, "invalid_request", e.message)
          : rejected(id, e.code, e.message)

    /** Plans one event in the draft: the pattern it names (by id, else by name), then the change. */
    const plan = (draft: Draft, actor: Actor, event: PushEvent, name: string | undefined): PushResult => {
      const id = event.client_action_id
      const byId = event.pattern_id === undefined ? undefined : draft.live(event.pattern_id)
      const target = byId ?? (name === undefined ? undefined : draft.liveByName(name))
      const outcome = (change: Either.Either<Change, PlanError>) =>
        Either.isRight(change) ? applied(id, change.right) : fromPlanError(id, change.left)
      if (event.op === "delete") {
        if (target === undefined) return rejected(id, "not_found", "No such pattern")
        return outcome(draft.remove(actor, target.id, { baseVersion: event.base_version }))
      }
      const fields = event.pattern ?? {}
      if (target !== undefined) {
        const input = decodeUpdate({
          ...fields,
          ...(name !== undefined ? { name } : {}),
          base_version: event.base_version
        })
        if (Either.isLeft(input)) return rejected(id, "invalid_request", describe(input.left))
        return outcome(draft.update(actor, target.id, input.right))
      }
      const input = decodeCreate({ ...fields, name })
      if (Either.isLeft(input)) return rejected(id, "invalid_request", describe(input.left))
      return outcome(draft.create(actor, input.right, { id: event.pattern_id }))
    }

    /**
     * Applies events in one draft: one read of the actions already seen and of the patterns
     * the events name, the plan in memory, then one multi-row write per table.
     */
    const applyAll = (
      user: User,
      active: ActiveTeam,
      deviceId: string,
      prepared: ReadonlyArray<Prepared>
    ): Effect.Effect<{ results: Array<PushResult>; lastSeq: number }, SqlError> =>
      Effect.gen(function* () {
        const ids: Array<string> = []
        const names: Array<string> = []
        const actionIds: Array<string> = []
        for (const p of prepared) {
          if (p._tag !== "event") continue
          actionIds.push(p.event.client_action_id)
          if (p.event.pattern_id !== undefined) ids.push(p.event.pattern_id)
          if (p.name !== undefined) names.push(p.name)
          const renamed = p.event.pattern?.name
          if (typeof renamed === "string") names.push(renamed)
        }
        const draft = yield* patterns.open(active, { ids, names })
        const seen = yield* findActions(active.team.id, deviceId, actionIds)
        const actor = { user, deviceId }
        const results: Array<PushResult> = []
        const recorded: Array<PushResult> = []
        for (const p of prepared) {
          if (p._tag === "invalid") {
            results.push(p.result)
            continue
          }
          const id = p.event.client_action_id
          const before = seen.get(id)
          if (before !== undefined) {
            results.push({ ...before, client_action_id: id, status: "duplicate" })
            continue
          }
          const result = plan(draft, actor, p.event, p.name)
          if (result.status === "applied") {
            seen.set(id, result)
            recorded.push(result)
          }
          results.push(result)
        }
        yield* draft.flush
        yield* recordActions(active.team.id, deviceId, user.id, recorded)
        return { results, lastSeq: draft.lastSeq() }
      })

    /**
     * The whole batch in one draft. A unique violation there means something the plan could
     * not see (a pattern_id taken by another team at the same moment, or names swapped within
     * the batch, which a multi-row write cannot order): that draft is undone and the events
     * are applied one at a time, each in its own savepoint, so only the offending one fails.
     */
    const applyBatch = (user: User, active: ActiveTeam, deviceId: string, prepared: ReadonlyArray<Prepared>) =>
      feed.transaction(applyAll(user, active, deviceId, prepared)).pipe(
        Effect.catchIf(isUniqueViolation, () =>
          Effect.gen(function* () {
            const results: Array<PushResult> = []
            for (const p of prepared) {
              const one = yield* feed.transaction(applyAll(user, active, deviceId, [p])).pipe(
                Effect.catchIf(isUniqueViolation, () =>
                  Effect.succeed({
                    results: [
                      rejected(
                        p._tag === "event" ? p.event.client_action_id : null,
                        "invalid_request",
                        "pattern_id or name is already used by another pattern"
                      )
                    ],
                    lastSeq: 0
                  })
                )
              )
              results.push(...one.results)
            }
            return { results, lastSeq: yield* log.lastSeq(active.team.id) }
          })
        )
      )

    const push = (
      user: User,
      active: ActiveTeam,
      deviceId: string,
      events: ReadonlyArray<unknown>
    ): Effect.Effect<PushResponse, SqlError> =>
      feed.transaction(
        Effect.gen(function* () {
          const { results, lastSeq } = yield* applyBatch(user, active, deviceId, events.map(prepare))
          yield* touchDevice(active.team.id, deviceId, user.id, null)
          return { results, last_seq: lastSeq }
        })
      )

    const pull = (
      user: User,
      active: ActiveTeam,
      after: number,
      limit: number,
      deviceId: string | undefined
    ): Effect.Effect<PullResponse, SqlError> =>
      Effect.gen(function* () {
        const rows = yield* log.after(active.team.id, after, limit + 1)
        const events = rows.slice(0, limit)
        const head = yield* log.lastSeq(active.team.id)
        const last = events.length > 0 ? events[events.length - 1]!.seq : Math.min(after, head)
        if (deviceId !== undefined) yield* touchDevice(active.team.id, deviceId, user.id, last)
        return { events, last_seq: events.length > 0 ? last : head, has_more: rows.length > limit }
      })

    /** The live patterns and the seq they are current as of, read under the team's lock. */
    const snapshot = (
      active: ActiveTeam
    ): Effect.Effect<{ patterns: ReadonlyArray<Pattern>; last_seq: number }, SqlError> =>
      Effect.gen(function* () {
        yield* teams.lockShared(active.team.id)
        const last_seq = yield* log.lastSeq(active.team.id)
        const rows = yield* repo.allLive(active.team.id)
        return { patterns: rows.map(toPattern), last_seq }
      }).pipe(sql.withTransaction)

    const status = (active: ActiveTeam) =>
      Effect.gen(function* () {
        const last_seq = yield* log.lastSeq(active.team.id)
        const pattern_count = yield* repo.countLive(active.team.id)
        const seen = yield* devices.ofTeam(active.team.id)
        return {
          last_seq,
          pattern_count,
          devices: seen.map((d) => ({ ...d, last_pulled_seq: Number(d.last_pulled_seq) }))
        }
      })

    return { push, pull, snapshot, status } as const
  }),
  dependencies: [Patterns.Default, PatternRepo.Default, SyncLog.Default, DeviceRepo.Default, TeamRepo.Default]
}) {}
