/**
 * The sync protocol over a team's event log: push (apply a device's batch of changes,
 * each at most once ever), pull (pages of the log), snapshot and status.
 *
 * A push runs as one transaction holding the team's lock; each event runs in its own
 * savepoint through the same `Patterns` functions the REST routes use, so a rejected or
 * conflicting event leaves no trace while the others apply.
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
import { Effect, Either, Option, ParseResult, Schema } from "effect"
import { ChangeFeed } from "./ChangeFeed.js"
import { PatternRepo, toPattern } from "./PatternRepo.js"
import { type Change, type ChangeError, Patterns } from "./Patterns.js"
import { json, now } from "./rows.js"
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
    const teams = yield* TeamRepo
    const log = yield* SyncLog
    const feed = yield* ChangeFeed

    const findAction = (teamId: string, deviceId: string, actionId: string) =>
      sql<{ result: string }>`
        SELECT result FROM sync_actions
        WHERE team_id = ${teamId} AND device_id = ${deviceId} AND client_action_id = ${actionId}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (r) => json<PushResult>(r.result)))
      )

    const recordAction = (teamId: string, deviceId: string, userId: string, result: PushResult) =>
      sql`INSERT INTO sync_actions ${sql.insert({
        team_id: teamId,
        device_id: deviceId,
        client_action_id: result.client_action_id!,
        user_id: userId,
        result: JSON.stringify({ seq: result.seq, pattern_id: result.pattern_id, version: result.version }),
        created_at: now()
      })}`.pipe(Effect.asVoid)

    const touchDevice = (teamId: string, deviceId: string, userId: string, pulledSeq: number | null) =>
      sql
        .onDialectOrElse({
          pg: () => sql`
          INSERT INTO devices (team_id, device_id, user_id, last_seen_at, last_pulled_seq)
          VALUES (${teamId}, ${deviceId}, ${userId}, ${now()}, ${pulledSeq ?? 0})
          ON CONFLICT (team_id, device_id) DO UPDATE SET last_seen_at = excluded.last_seen_at, user_id = excluded.user_id,
            last_pulled_seq = GREATEST(devices.last_pulled_seq, excluded.last_pulled_seq)`,
          orElse: () => sql`
          INSERT INTO devices (team_id, device_id, user_id, last_seen_at, last_pulled_seq)
          VALUES (${teamId}, ${deviceId}, ${userId}, ${now()}, ${pulledSeq ?? 0})
          ON CONFLICT (team_id, device_id) DO UPDATE SET last_seen_at = excluded.last_seen_at, user_id = excluded.user_id,
            last_pulled_seq = MAX(devices.last_pulled_seq, excluded.last_pulled_seq)`
        })
        .pipe(Effect.asVoid)

    /** The live pattern an event names: by id, else by name (within the team). */
    const locate = (teamId: string, event: PushEvent, name: string | undefined) =>
      Effect.gen(function* () {
        if (event.pattern_id !== undefined) {
          const byId = yield* repo.findById(event.pattern_id)
          if (Option.isSome(byId) && byId.value.team_id === teamId) return Option.some(byId.value)
        }
        if (name !== undefined) return yield* repo.findByName(teamId, name)
        return Option.none()
      })

    const fromChangeError = (id: string, e: Exclude<ChangeError, SqlError>): PushResult =>
      e._tag === "VersionConflict"
        ? { client_action_id: id, status: "conflict", error: { code: e.code, message: e.message }, current: e.current }
        : rejected(id, e.code, e.message)

    /** Applies one event of a push (inside the push's transaction), or explains why not. */
    const applyOne = (
      user: User,
      active: ActiveTeam,
      deviceId: string,
      raw: unknown
    ): Effect.Effect<PushResult, SqlError> =>
      Effect.gen(function* () {
        const rawId =
          typeof raw === "object" && raw !== null && typeof (raw as any).client_action_id === "string"
            ? ((raw as any).client_action_id as string)
            : null
        const decoded = decodeEvent(raw)
        if (Either.isLeft(decoded)) return rejected(rawId, "invalid_request", describe(decoded.left))
        const event = decoded.right
        const id = event.client_action_id
        const seen = yield* findAction(active.team.id, deviceId, id)
        if (Option.isSome(seen)) return { ...seen.value, client_action_id: id, status: "duplicate" as const }

        const actor = { user, deviceId }
        const fields = event.pattern ?? {}
        const name = event.name ?? (typeof fields.name === "string" ? fields.name : undefined)
        const target = yield* locate(active.team.id, event, name)

        const attempt: Effect.Effect<PushResult, ChangeError> = Effect.gen(function* () {
          if (event.op === "delete") {
            if (Option.isNone(target)) return rejected(id, "not_found", "No such pattern")
            const change = yield* patterns.remove(actor, active, target.value.id, { baseVersion: event.base_version })
            return applied(id, change)
          }
          if (Option.isSome(target)) {
            const input = decodeUpdate({
              ...fields,
              ...(name !== undefined ? { name } : {}),
              base_version: event.base_version
            })
            if (Either.isLeft(input)) return rejected(id, "invalid_request", describe(input.left))
            const change = yield* patterns.update(actor, active, target.value.id, input.right)
            return applied(id, change)
          }
          const input = decodeCreate({ ...fields, name })
          if (Either.isLeft(input)) return rejected(id, "invalid_request", describe(input.left))
          const change = yield* patterns.create(actor, active, input.right, { id: event.pattern_id })
          return applied(id, change)
        })

        // Each event in its own savepoint: a failure undoes that event only.
        const result = yield* feed
          .transaction(
            Effect.tap(attempt, (r) =>
              r.status === "applied" ? recordAction(active.team.id, deviceId, user.id, r) : Effect.void
            )
          )
          .pipe(
            Effect.catchAll((e) =>
              e._tag === "SqlError"
                ? isDuplicateId(e)
                  ? Effect.succeed(rejected(id, "invalid_request", "pattern_id is already used by another pattern"))
                  : Effect.fail(e)
                : Effect.succeed(fromChangeError(id, e))
            )
          )
        return result
      })

    const push = (
      user: User,
      active: ActiveTeam,
      deviceId: string,
      events: ReadonlyArray<unknown>
    ): Effect.Effect<PushResponse, SqlError> =>
      feed.transaction(
        Effect.gen(function* () {
          // Serialises pushes of the team, so a repeated action is seen by its twin.
          yield* teams.lock(active.team.id)
          const results: PushResult[] = []
          for (const raw of events) results.push(yield* applyOne(user, active, deviceId, raw))
          yield* touchDevice(active.team.id, deviceId, user.id, null)
          const last_seq = yield* log.lastSeq(active.team.id)
          return { results, last_seq }
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
        yield* sql.onDialectOrElse({
          pg: () => sql`SELECT id FROM teams WHERE id = ${active.team.id} FOR SHARE`,
          orElse: () => Effect.void
        })
        const last_seq = yield* log.lastSeq(active.team.id)
        const rows = yield* repo.allLive(active.team.id)
        return { patterns: rows.map(toPattern), last_seq }
      }).pipe(sql.withTransaction)

    const status = (active: ActiveTeam) =>
      Effect.gen(function* () {
        const last_seq = yield* log.lastSeq(active.team.id)
        const pattern_count = yield* repo.countLive(active.team.id)
        const devices = yield* sql<{ device_id: string; last_seen_at: string; last_pulled_seq: number }>`
          SELECT device_id, last_seen_at, last_pulled_seq FROM devices
          WHERE team_id = ${active.team.id} ORDER BY last_seen_at DESC`
        return {
          last_seq,
          pattern_count,
          devices: devices.map((d) => ({ ...d, last_pulled_seq: Number(d.last_pulled_seq) }))
        }
      })

    return { push, applyOne, pull, snapshot, status } as const
  }),
  dependencies: [Patterns.Default, PatternRepo.Default, TeamRepo.Default, SyncLog.Default]
}) {}

const isDuplicateId = (e: SqlError) => {
  const code = (e.cause as { code?: unknown } | undefined)?.code
  return code === "23505" || code === "SQLITE_CONSTRAINT_PRIMARYKEY"
}
