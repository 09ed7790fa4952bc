/** Owns `presence`: one row per open WebSocket, refreshed by the process that holds it. */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export type PresenceRow = {
  readonly conn_id: string
  readonly team_id: string
  readonly user_id: string
  readonly name: string
  readonly device_id: string | null
  readonly process_id: string
  readonly since: string
  readonly seen_at: string
}

export class PresenceRepo extends Effect.Service<PresenceRepo>()("@mur/core/PresenceRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const insert = (row: PresenceRow) => sql`INSERT INTO presence ${sql.insert(row)}`.pipe(Effect.asVoid)

    const remove = (connId: string) => sql`DELETE FROM presence WHERE conn_id = ${connId}`.pipe(Effect.asVoid)

    const touchProcess = (processId: string, at: string) =>
      sql`UPDATE presence SET seen_at = ${at} WHERE process_id = ${processId}`.pipe(Effect.asVoid)

    const removeSeenBefore = (before: string) => sql`DELETE FROM presence WHERE seen_at < ${before}`.pipe(Effect.asVoid)

    const removeProcess = (processId: string) =>
      sql`DELETE FROM presence WHERE process_id = ${processId}`.pipe(Effect.asVoid)

    /** A team's connections seen after `after`, oldest first. */
    const ofTeam = (teamId: string, after: string) =>
      sql<Pick<PresenceRow, "user_id" | "name" | "device_id" | "since">>`
        SELECT user_id, name, device_id, since FROM presence
        WHERE team_id = ${teamId} AND seen_at > ${after}
        ORDER BY since, conn_id`

    return { insert, remove, touchProcess, removeSeenBefore, removeProcess, ofTeam } as const
  })
}) {}
