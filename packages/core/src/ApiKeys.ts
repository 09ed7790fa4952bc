/**
 * API keys for CI and scripts: `mur_…` bearer tokens, shown once, stored as SHA-256 hashes,
 * usable wherever an access token is.
 */

import { randomBytes } from "node:crypto"
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { type ApiKey, NotFound, Unauthorized, type User } from "@mur/domain"
import { Effect, Option } from "effect"
import { ApiKeyRepo } from "./ApiKeyRepo.js"
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

/** `last_used_at` is written at most this often per key, not on every request. */
const TOUCH_EVERY_MS = 60_000

export class ApiKeys extends Effect.Service<ApiKeys>()("@mur/core/ApiKeys", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const keys = yield* ApiKeyRepo
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
          keys.insert(row),
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

    const list = (user: User) => keys.listLive(user.id).pipe(Effect.map((rows) => rows as ReadonlyArray<ApiKey>))

    /** Revokes one of the caller's own keys; anyone else's is "not found". */
    const revoke = (user: User, id: string): Effect.Effect<void, NotFound | SqlError> =>
      Effect.gen(function* () {
        const revoked = yield* keys.revoke(id, user.id, now())
        if (Option.isNone(revoked)) return yield* new NotFound({ code: "not_found", message: "No such API key" })
        yield* audit.record({
          action: "apikey.revoke",
          actorId: user.id,
          targetType: "api_key",
          targetId: id,
          metadata: { name: revoked.value.name }
        })
        yield* feed.publish({ kind: "revoked", credential: "api_key", id })
      }).pipe(feed.transaction)

    /** The user behind a key; revoked, unknown and expired keys are refused. */
    const authenticate = (
      token: string
    ): Effect.Effect<{ user: User; keyId: string; serverAdmin: boolean }, Unauthorized | SqlError> =>
      Effect.gen(function* () {
        const row = yield* keys.findLiveByHash(sha256(token))
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
          yield* keys.touch(key.id, new Date(at).toISOString())
        }
        return {
          user: toUser({ id: key.user_id, email: key.email, name: key.name, created_at: key.user_created_at }),
          keyId: key.id,
          serverAdmin: Boolean(key.server_admin)
        }
      })

    /** Revokes every key of a user (a deleted account); their sockets close with the account's. */
    const revokeAllOfUser = (userId: string, at: string) => keys.revokeAllOfUser(userId, at)

    return { create, list, revoke, authenticate, revokeAllOfUser } as const
  }),
  dependencies: [AuditLog.Default, ApiKeyRepo.Default]
}) {}
