/**
 * Owns `api_keys`. Authentication reads the key's user beside it (`users`, owned by
 * `UserRepo`) in the same statement: it is on every API-key request.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"

export type ApiKeyRow = {
  readonly id: string
  readonly user_id: string
  readonly name: string
  readonly prefix: string
  readonly key_hash: string
  readonly created_at: string
  readonly expires_at: string | null
}

/** A key as its owner lists it. */
export interface ApiKeyListRow {
  readonly id: string
  readonly name: string
  readonly prefix: string
  readonly created_at: string
  readonly expires_at: string | null
  readonly last_used_at: string | null
}

/** An unrevoked key with its user, as authentication needs them. */
export interface ApiKeyAuthRow {
  readonly id: string
  readonly expires_at: string | null
  readonly last_used_at: string | null
  readonly user_id: string
  readonly email: string
  readonly name: string
  readonly user_created_at: string
  readonly server_admin: boolean | number
  readonly disabled_at: string | null
}

export class ApiKeyRepo extends Effect.Service<ApiKeyRepo>()("@mur/core/ApiKeyRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const insert = (row: ApiKeyRow) => sql`INSERT INTO api_keys ${sql.insert(row)}`.pipe(Effect.asVoid)

    /** A user's unrevoked keys, newest first. */
    const listLive = (userId: string) =>
      sql<ApiKeyListRow>`
        SELECT id, name, prefix, created_at, expires_at, last_used_at FROM api_keys
        WHERE user_id = ${userId} AND revoked_at IS NULL ORDER BY created_at DESC, id`

    /** Revokes a user's unrevoked key; its name, or none when there is no such key. */
    const revoke = (id: string, userId: string, at: string) =>
      sql<{ id: string; name: string }>`
        UPDATE api_keys SET revoked_at = ${at}
        WHERE id = ${id} AND user_id = ${userId} AND revoked_at IS NULL
        RETURNING id, name`.pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    /** The unrevoked key with this hash, with its user. */
    const findLiveByHash = (keyHash: string) =>
      sql<ApiKeyAuthRow>`
        SELECT k.id, k.expires_at, k.last_used_at, u.id AS user_id, u.email, u.name, u.created_at AS user_created_at,
          u.server_admin, u.disabled_at
        FROM api_keys k JOIN users u ON u.id = k.user_id
        WHERE k.key_hash = ${keyHash} AND k.revoked_at IS NULL`.pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    const touch = (id: string, at: string) =>
      sql`UPDATE api_keys SET last_used_at = ${at} WHERE id = ${id}`.pipe(Effect.asVoid)

    const revokeAllOfUser = (userId: string, at: string) =>
      sql`UPDATE api_keys SET revoked_at = ${at} WHERE user_id = ${userId} AND revoked_at IS NULL`.pipe(Effect.asVoid)

    return { insert, listLive, revoke, findLiveByHash, touch, revokeAllOfUser } as const
  })
}) {}
