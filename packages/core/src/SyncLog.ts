/**
 * The team event log: one row per pattern change, appended in the change's own
 * transaction with the per-team `seq` it was given under the team's lock (see `Patterns`).
 */
import { SqlClient } from "@effect/sql"
import type { Pattern, SyncEvent } from "@mur/domain"
import { Effect } from "effect"
import { batches, json } from "./rows.js"

export type EventType = SyncEvent["type"]

interface EventRow {
  readonly seq: number
  readonly type: EventType
  readonly pattern_id: string
  readonly version: number
  readonly pattern: string | null
  readonly actor_id: string | null
  readonly device_id: string | null
  readonly created_at: string
}

const toEvent = (r: EventRow): SyncEvent => ({
  seq: Number(r.seq),
  type: r.type,
  pattern_id: r.pattern_id as SyncEvent["pattern_id"],
  version: Number(r.version),
  pattern: r.pattern === null ? null : json<Pattern>(r.pattern),
  actor_id: r.actor_id as SyncEvent["actor_id"],
  device_id: r.device_id,
  created_at: r.created_at
})

export class SyncLog extends Effect.Service<SyncLog>()("@mur/core/SyncLog", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    /** Appends events (already numbered, in order) in as few statements as possible. */
    const appendMany = (teamId: string, events: ReadonlyArray<SyncEvent>) =>
      Effect.forEach(
        batches(events, 9),
        (chunk) =>
          sql`INSERT INTO sync_events ${sql.insert(
            chunk.map((event) => ({
              team_id: teamId,
              seq: event.seq,
              type: event.type,
              pattern_id: event.pattern_id,
              version: event.version,
              pattern: event.pattern === null ? null : JSON.stringify(event.pattern),
              actor_id: event.actor_id,
              device_id: event.device_id,
              created_at: event.created_at
            }))
          )}`,
        { discard: true }
      )

    /** Events after `after`, in `seq` order, at most `limit`. */
    const after = (teamId: string, afterSeq: number, limit: number) =>
      sql<EventRow>`
        SELECT seq, type, pattern_id, version, pattern, actor_id, device_id, created_at
        FROM sync_events WHERE team_id = ${teamId} AND seq > ${afterSeq}
        ORDER BY seq LIMIT ${limit}`.pipe(Effect.map((rows) => rows.map(toEvent)))

    /** Like `after`, with the name of each event's actor (for real-time messages). */
    const afterWithActors = (teamId: string, afterSeq: number, limit: number) =>
      sql<EventRow & { actor_name: string | null }>`
        SELECT e.seq, e.type, e.pattern_id, e.version, e.pattern, e.actor_id, e.device_id, e.created_at, u.name AS actor_name
        FROM sync_events e LEFT JOIN users u ON u.id = e.actor_id
        WHERE e.team_id = ${teamId} AND e.seq > ${afterSeq}
        ORDER BY e.seq LIMIT ${limit}`.pipe(
        Effect.map((rows) => rows.map((r) => ({ event: toEvent(r), actorName: r.actor_name ?? "" })))
      )

    const lastSeq = (teamId: string) =>
      sql<{ last_seq: number }>`SELECT last_seq FROM teams WHERE id = ${teamId}`.pipe(
        Effect.map((rows) => Number(rows[0]?.last_seq ?? 0))
      )

    return { appendMany, after, afterWithActors, lastSeq } as const
  })
}) {}
