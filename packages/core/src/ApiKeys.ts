/**
 * API keys for CI and scripts: `mur_…` bearer tokens, shown once, stored as SHA-256 hashes,
 * usable wherever an access token is.
 */

import { randomBytes } from "node:crypto"
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { type ApiKey, NotFound, Unauthorized, type User } from "@mur/domain"
import { Effect, Option } from "effect"
import { AuditLog } from "./AuditLog.js"
import { ChangeFeed } from "./ChangeFeed.js"
import { addSeconds, newId, now, sha256 } from "./rows.js"
import { toUser } from "./UserRepo.js"

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/** 40 characters of base62 after `mur_`: about 238 bits. */
const newKey = () => {
  const bytes = randomBytes(40)
  let out = "mur_"
  for (const b of bytes) out += ALPHABET[b % 62]
  return out
}

export const isApiKey = (token: string) => token.startsWith("mur_")

interface KeyRow {
  readonly id: string
  readonly name: string
  readonly prefix: string
  readonly created_at: string
  readonly expires_at: string | null
  readonly last_used_at: string | null
}

/** `last_used_at` is written at most this often per key, not on every request. */
const TOUCH_EVERY_MS = 60_000

export class ApiKeys extends Effect.Service<ApiKeys>()("@mur/core/ApiKeys", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const audit = yield* AuditLog
    const feed = yield* ChangeFeed

    const create = (
      user: User,
      name: string,
      expiresInDays: number | undefined
    ): Effect.Effect<{ key: ApiKey; token: string }, SqlError> =>
      Effect.gen(function* () {
        const token = newKey()
        const at = now()
        const row = {
          id: newId(),
          user_id: user.id,
          name,
          prefix: token.slice(0, 12),
          key_hash: sha256(token),
          created_at: at,
          expires_at: expiresInDays === undefined ? null : addSeconds(at, expiresInDays * 86_400)
        }
        yield* Effect.zipRight(
          sql`INSERT INTO api_keys ${sql.insert(row)}`,
          audit.record({
            action: "apikey.create",
            actorId: user.id,
            targetType: "api_key",
            targetId: row.id,
            metadata: { name, prefix: row.prefix, expires_at: row.expires_at }
          })
        ).pipe(sql.withTransaction)
        return {
          key: {
            id: row.id,
            name,
            prefix: row.prefix,
            created_at: at,
            expires_at: row.expires_at,
            last_used_at: null
          } as ApiKey,
          token
        }
      })

    const list = (user: User) =>
      sql<KeyRow>`
        SELECT id, name, prefix, created_at, expires_at, last_used_at FROM api_keys
        WHERE user_id = ${user.id} AND revoked_at IS NULL ORDER BY created_at DESC, id`.pipe(
        Effect.map((rows) => rows as ReadonlyArray<ApiKey>)
      )

    /** Revokes one of the caller's own keys; anyone else's is "not found". */
    const revoke = (user: User, id: string): Effect.Effect<void, NotFound | SqlError> =>
      Effect.gen(function* () {
        const rows = yield* sql<{ id: string; name: string }>`
          UPDATE api_keys SET revoked_at = ${now()}
          WHERE id = ${id} AND user_id = ${user.id} AND revoked_at IS NULL
          RETURNING id, name`
        if (rows.length === 0) return yield* new NotFound({ code: "not_found", message: "No such API key" })
        yield* audit.record({
          action: "apikey.revoke",
          actorId: user.id,
          targetType: "api_key",
          targetId: id,
          metadata: { name: rows[0]!.name }
        })
        yield* feed.publish({ kind: "revoked", credential: "api_key", id })
      }).pipe(feed.transaction)

    /** The user behind a key; revoked, unknown and expired keys are refused. */
    const authenticate = (
      token: string
    ): Effect.Effect<{ user: User; keyId: string; serverAdmin: boolean }, Unauthorized | SqlError> =>
      Effect.gen(function* () {
        const rows = yield* sql<{
          id: string
          expires_at: string | null
          last_used_at: string | null
          user_id: string
          email: string
          name: string
          user_created_at: string
          server_admin: boolean | number
          disabled_at: string | null
        }>`
          SELECT k.id, k.expires_at, k.last_used_at, u.id AS user_id, u.email, u.name, u.created_at AS user_created_at,
            u.server_admin, u.disabled_at
          FROM api_keys k JOIN users u ON u.id = k.user_id
          WHERE k.key_hash = ${sha256(token)} AND k.revoked_at IS NULL`
        const row = Option.fromNullable(rows[0])
        if (Option.isNone(row))
          return yield* new Unauthorized({ code: "unauthorized", message: "Unknown or revoked API key" })
        const key = row.value
        if (key.disabled_at !== null)
          return yield* new Unauthorized({ code: "unauthorized", message: "This account is disabled" })
        const at = Date.now()
        if (key.expires_at !== null && Date.parse(key.expires_at) <= at) {
          return yield* new Unauthorized({ code: "token_expired", message: "This API key has expired" })
        }
        if (key.last_used_at === null || at - Date.parse(key.last_used_at) > TOUCH_EVERY_MS) {
          yield* sql`UPDATE api_keys SET last_used_at = ${new Date(at).toISOString()} WHERE id = ${key.id}`
        }
        return {
          user: toUser({ id: key.user_id, email: key.email, name: key.name, created_at: key.user_created_at }),
          keyId: key.id,
          serverAdmin: Boolean(key.server_admin)
        }
      })

    /** Revokes every key of a user (a deleted account); their sockets close with the account's. */
    const revokeAllOfUser = (userId: string, at: string) =>
      sql`UPDATE api_keys SET revoked_at = ${at} WHERE user_id = ${userId} AND revoked_at IS NULL`.pipe(Effect.asVoid)

    return { create, list, revoke, authenticate, revokeAllOfUser } as const
  }),
  dependencies: [AuditLog.Default]
}) {}
