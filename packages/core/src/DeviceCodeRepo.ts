/** Owns `device_codes`: device-login codes (both codes stored as SHA-256 hashes). */
import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import { affected } from "./rows.js"

export type DeviceCodeRow = {
  readonly id: string
  readonly device_code_hash: string
  readonly user_code: string
  readonly client_name: string | null
  readonly status: "pending"
  readonly created_at: string
  readonly expires_at: string
}

export interface DeviceCodeState {
  readonly id: string
  readonly status: "pending" | "approved" | "denied"
  readonly user_id: string | null
  readonly expires_at: string
  readonly last_polled_at: string | null
  readonly consumed_at: string | null
}

export class DeviceCodeRepo extends Effect.Service<DeviceCodeRepo>()("@mur/core/DeviceCodeRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const insert = (row: DeviceCodeRow) => sql`INSERT INTO device_codes ${sql.insert(row)}`.pipe(Effect.asVoid)

    const findByDeviceCode = (deviceCodeHash: string) =>
      sql<DeviceCodeState>`
        SELECT id, status, user_id, expires_at, last_polled_at, consumed_at FROM device_codes
        WHERE device_code_hash = ${deviceCodeHash}`.pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    const markPolled = (id: string, at: string) =>
      sql`UPDATE device_codes SET last_polled_at = ${at} WHERE id = ${id}`.pipe(Effect.asVoid)

    /** Marks an approved code used; false when another poll used it first. */
    const consume = (id: string, at: string) =>
      sql<{ id: string }>`
        UPDATE device_codes SET consumed_at = ${at}
        WHERE id = ${id} AND consumed_at IS NULL RETURNING id`.pipe(Effect.map((rows) => rows.length === 1))

    /** Approves or denies a pending, unexpired code; the code, or none when there is no such code. */
    const decide = (userCodeHash: string, status: "approved" | "denied", userId: string, at: string) =>
      sql<{ id: string; client_name: string | null }>`
        UPDATE device_codes SET status = ${status}, user_id = ${userId}, decided_at = ${at}
        WHERE user_code = ${userCodeHash} AND status = 'pending' AND expires_at > ${at}
        RETURNING id, client_name`.pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    /** Deletes codes that expired before `before`; how many. */
    const deleteExpired = (before: string) => affected(sql`DELETE FROM device_codes WHERE expires_at < ${before}`)

    return { insert, findByDeviceCode, markPolled, consume, decide, deleteExpired } as const
  })
}) {}
