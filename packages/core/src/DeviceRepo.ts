/**
 * Owns `devices` (what each device of a team last saw) and `sync_actions` (the result of
 * every push action a device made, which makes a repeated action a duplicate).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { batches } from "./rows.js"

export type SyncActionRow = {
  readonly team_id: string
  readonly device_id: string
  readonly client_action_id: string
  readonly user_id: string
  /** JSON text. */
  readonly result: string
  readonly created_at: string
}

export class DeviceRepo extends Effect.Service<DeviceRepo>()("@mur/core/DeviceRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    /** The recorded results of these actions of a device (JSON text). */
    const findActions = (teamId: string, deviceId: string, actionIds: ReadonlyArray<string>) =>
      Effect.map(
        Effect.forEach(
          batches(actionIds, 1),
          (chunk) => sql<{ client_action_id: string; result: string }>`
            SELECT client_action_id, result FROM sync_actions
            WHERE team_id = ${teamId} AND device_id = ${deviceId} AND client_action_id IN ${sql.in(chunk)}`
        ),
        (pages) => pages.flat()
      )

    const insertActions = (rows: ReadonlyArray<SyncActionRow>) =>
      Effect.forEach(batches(rows, 6), (chunk) => sql`INSERT INTO sync_actions ${sql.insert(chunk)}`, {
        discard: true
      })

    /**
     * Records that a device was seen (and what it pulled up to): its last pulled seq only
     * ever grows (`GREATEST` in PostgreSQL, the two-argument `MAX` in SQLite).
     */
    const touch = (teamId: string, deviceId: string, userId: string, at: string, pulledSeq: number) =>
      sql
        .onDialectOrElse({
          pg: () => sql`
          INSERT INTO devices (team_id, device_id, user_id, last_seen_at, last_pulled_seq)
          VALUES (${teamId}, ${deviceId}, ${userId}, ${at}, ${pulledSeq})
          ON CONFLICT (team_id, device_id) DO UPDATE SET last_seen_at = excluded.last_seen_at, user_id = excluded.user_id,
            last_pulled_seq = GREATEST(devices.last_pulled_seq, excluded.last_pulled_seq)`,
          orElse: () => sql`
          INSERT INTO devices (team_id, device_id, user_id, last_seen_at, last_pulled_seq)
          VALUES (${teamId}, ${deviceId}, ${userId}, ${at}, ${pulledSeq})
          ON CONFLICT (team_id, device_id) DO UPDATE SET last_seen_at = excluded.last_seen_at, user_id = excluded.user_id,
            last_pulled_seq = MAX(devices.last_pulled_seq, excluded.last_pulled_seq)`
        })
        .pipe(Effect.asVoid)

    /** A team's devices, most recently seen first. */
    const ofTeam = (teamId: string) =>
      sql<{ device_id: string; last_seen_at: string; last_pulled_seq: number }>`
        SELECT device_id, last_seen_at, last_pulled_seq FROM devices
        WHERE team_id = ${teamId} ORDER BY last_seen_at DESC`

    return { findActions, insertActions, touch, ofTeam } as const
  })
}) {}
