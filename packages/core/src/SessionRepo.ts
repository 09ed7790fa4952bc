/**
 * Logins and their refresh tokens. A login (`auth_sessions` row) is the family of every
 * refresh token rotated from its first one; revoking it ends all of them and every
 * access token that names it.
 *
 * Owns `auth_sessions` and `refresh_tokens`; the access-token lookup reads the login's user
 * beside it (`users`, owned by `UserRepo`) in the same statement.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import { affected } from "./rows.js"
import type { UserRow } from "./UserRepo.js"

export interface RefreshTokenRow {
  readonly token_hash: string
  readonly session_id: string
  readonly user_id: string
  readonly expires_at: string
  readonly rotated_at: string | null
  readonly revoked_at: string | null
}

export class SessionRepo extends Effect.Service<SessionRepo>()("@mur/core/SessionRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const createSession = (row: {
      id: string
      user_id: string
      created_at: string
      ip: string | null
      user_agent: string | null
      client: string | null
    }) => sql`INSERT INTO auth_sessions ${sql.insert(row)}`.pipe(Effect.asVoid)

    const insertToken = (row: { token_hash: string; session_id: string; created_at: string; expires_at: string }) =>
      sql`INSERT INTO refresh_tokens ${sql.insert(row)}`.pipe(Effect.asVoid)

    const findToken = (tokenHash: string) =>
      sql<RefreshTokenRow>`
        SELECT t.token_hash, t.session_id, s.user_id, t.expires_at, t.rotated_at, s.revoked_at
        FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id
        WHERE t.token_hash = ${tokenHash}`.pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    /** Marks a token rotated; false when another request rotated it first. */
    const markRotated = (tokenHash: string, at: string) =>
      sql<{ token_hash: string }>`
        UPDATE refresh_tokens SET rotated_at = ${at}
        WHERE token_hash = ${tokenHash} AND rotated_at IS NULL
        RETURNING token_hash`.pipe(Effect.map((rows) => rows.length === 1))

    const revokeSession = (sessionId: string, at: string, reason: string) =>
      sql`UPDATE auth_sessions SET revoked_at = ${at}, revoked_reason = ${reason}
          WHERE id = ${sessionId} AND revoked_at IS NULL`.pipe(Effect.asVoid)

    /** The user of a live login of an account not disabled: the one lookup every access-token request makes. */
    const findLiveUser = (sessionId: string, userId: string) =>
      sql<Omit<UserRow, "password_hash"> & { server_admin: boolean | number }>`
        SELECT u.id, u.email, u.name, u.created_at, u.server_admin
        FROM auth_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = ${sessionId} AND s.user_id = ${userId} AND s.revoked_at IS NULL AND u.disabled_at IS NULL`.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]))
      )

    /** Ends every live login of a user; returns their ids (their sockets must close). */
    const revokeAllOfUser = (userId: string, at: string, reason: string) =>
      sql<{ id: string }>`
        UPDATE auth_sessions SET revoked_at = ${at}, revoked_reason = ${reason}
        WHERE user_id = ${userId} AND revoked_at IS NULL RETURNING id`.pipe(Effect.map((rows) => rows.map((r) => r.id)))

    /** Deletes refresh tokens that expired before `before`; how many. */
    const deleteExpiredTokens = (before: string) =>
      affected(sql`DELETE FROM refresh_tokens WHERE expires_at < ${before}`)

    return {
      createSession,
      insertToken,
      findToken,
      markRotated,
      revokeSession,
      findLiveUser,
      revokeAllOfUser,
      deleteExpiredTokens
    } as const
  })
}) {}
