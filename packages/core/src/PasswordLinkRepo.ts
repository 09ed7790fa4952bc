/**
 * One-time set-password links a server admin hands to a user (a new account made without a
 * password, or a reset). Only the SHA-256 of the token is stored.
 *
 * Owns `password_links`.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"

export class PasswordLinkRepo extends Effect.Service<PasswordLinkRepo>()("@mur/core/PasswordLinkRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const insert = (row: { token_hash: string; user_id: string; created_at: string; expires_at: string }) =>
      sql`INSERT INTO password_links ${sql.insert(row)}`.pipe(Effect.asVoid)

    /** A link's user when it is unused and unexpired at `at`, and marks it used. */
    const consume = (tokenHash: string, at: string) =>
      sql<{ user_id: string }>`
        UPDATE password_links SET used_at = ${at}
        WHERE token_hash = ${tokenHash} AND used_at IS NULL AND expires_at > ${at}
        RETURNING user_id`.pipe(Effect.map((rows) => Option.fromNullable(rows[0]?.user_id)))

    /** Voids a user's unused links (a newer one, or a password set another way, replaces them). */
    const voidAllOfUser = (userId: string, at: string) =>
      sql`UPDATE password_links SET used_at = ${at} WHERE user_id = ${userId} AND used_at IS NULL`.pipe(Effect.asVoid)

    return { insert, consume, voidAllOfUser } as const
  })
}) {}
