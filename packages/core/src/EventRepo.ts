/**
 * Owns `sync_events`: each team's event log (one row per pattern change, numbered by `seq`).
 * The real-time read names each event's actor from `users` (owned by `UserRepo`).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { batches } from "./rows.js"

export type EventRow = {
  readonly team_id: string
  readonly seq: number
  readonly type: "pattern_created" | "pattern_updated" | "pattern_deleted"
  readonly pattern_id: string
  readonly version: number
  /** The pattern as JSON text; null for a deletion. */
  readonly pattern: string | null
  readonly actor_id: string | null
  readonly device_id: string | null
  readonly created_at: string
}

export class EventRepo extends Effect.Service<EventRepo>()("@mur/core/EventRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    /** Appends rows in as few statements as possible. */
    const insertMany = (rows: ReadonlyArray<EventRow>) =>
      Effect.forEach(batches(rows, 9), (chunk) => sql`INSERT INTO sync_events ${sql.insert(chunk)}`, {
        discard: true
      })

    /** A team's events after `afterSeq`, in `seq` order, at most `limit`. */
    const after = (teamId: string, afterSeq: number, limit: number) =>
      sql<Omit<EventRow, "team_id">>`
        SELECT seq, type, pattern_id, version, pattern, actor_id, device_id, created_at
        FROM sync_events WHERE team_id = ${teamId} AND seq > ${afterSeq}
        ORDER BY seq LIMIT ${limit}`

    /** Like `after`, with the name of each event's actor. */
    const afterWithActors = (teamId: string, afterSeq: number, limit: number) =>
      sql<Omit<EventRow, "team_id"> & { actor_name: string | null }>`
        SELECT e.seq, e.type, e.pattern_id, e.version, e.pattern, e.actor_id, e.device_id, e.created_at, u.name AS actor_name
        FROM sync_events e LEFT JOIN users u ON u.id = e.actor_id
        WHERE e.team_id = ${teamId} AND e.seq > ${afterSeq}
        ORDER BY e.seq LIMIT ${limit}`

    return { insertMany, after, afterWithActors } as const
  })
}) {}
