/** Owns `users`. Counts of a user's teams read `memberships` (owned by `TeamRepo`). */
import { SqlClient } from "@effect/sql"
import type { User } from "@mur/domain"
import { Effect, Option } from "effect"

export interface UserRow {
  readonly id: string
  readonly email: string
  readonly name: string
  readonly password_hash: string
  readonly created_at: string
}

/** A stored user with the operator's marks on it. */
export interface UserRecord extends UserRow {
  readonly server_admin: boolean
  readonly disabled_at: string | null
  readonly deleted_at: string | null
}

const USER_COLUMNS = "id, email, name, password_hash, created_at, server_admin, disabled_at, deleted_at"

// SQLite keeps booleans as 0/1.
const toRecord = (row: any): UserRecord => ({ ...row, server_admin: Boolean(row.server_admin) })

export const toUser = (row: { id: string; email: string; name: string; created_at: string }): User =>
  ({ id: row.id, email: row.email, name: row.name, created_at: row.created_at }) as User

export class UserRepo extends Effect.Service<UserRepo>()("@mur/core/UserRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const insert = (row: UserRow) =>
      sql`INSERT INTO users ${sql.insert({ ...row, updated_at: row.created_at })}`.pipe(Effect.asVoid)

    const findByEmail = (email: string) =>
      sql`SELECT ${sql.literal(USER_COLUMNS)} FROM users WHERE email = ${email}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toRecord))
      )

    const findById = (id: string) =>
      sql`SELECT ${sql.literal(USER_COLUMNS)} FROM users WHERE id = ${id}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toRecord))
      )

    /** Users whose e-mail or name contains `search` (deleted ones left out), newest first. */
    const list = (search: string | undefined, limit: number, offset: number) =>
      Effect.gen(function* () {
        const like = search === undefined || search === "" ? null : `%${search.toLowerCase()}%`
        const where =
          like === null
            ? sql`u.deleted_at IS NULL`
            : sql`u.deleted_at IS NULL AND (u.email LIKE ${like} OR lower(u.name) LIKE ${like})`
        const [count] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM users u WHERE ${where}`
        const rows = yield* sql`
          SELECT u.id, u.email, u.name, u.password_hash, u.created_at, u.server_admin, u.disabled_at, u.deleted_at,
            (SELECT count(*) FROM memberships m WHERE m.user_id = u.id) AS teams
          FROM users u WHERE ${where}
          ORDER BY u.created_at DESC, u.id LIMIT ${limit} OFFSET ${offset}`
        return {
          total: Number(count?.n ?? 0),
          rows: rows.map((r: any) => ({ ...toRecord(r), teams: Number(r.teams) }))
        }
      })

    const countTeams = (id: string) =>
      sql<{ n: number }>`SELECT count(*) AS n FROM memberships WHERE user_id = ${id}`.pipe(
        Effect.map((rows) => Number(rows[0]!.n))
      )

    const setPasswordHash = (id: string, hash: string, at: string) =>
      sql`UPDATE users SET password_hash = ${hash}, updated_at = ${at} WHERE id = ${id}`.pipe(Effect.asVoid)

    const setDisabled = (id: string, disabledAt: string | null, at: string) =>
      sql`UPDATE users SET disabled_at = ${disabledAt}, updated_at = ${at} WHERE id = ${id}`.pipe(Effect.asVoid)

    const setServerAdmin = (id: string, admin: boolean, at: string) =>
      sql`UPDATE users SET server_admin = ${admin ? 1 : 0}, updated_at = ${at} WHERE id = ${id}`.pipe(Effect.asVoid)

    /**
     * Keeps the row (patterns, stats and audit entries still name it) but frees the e-mail
     * and forgets who it was: the account can never log in again.
     */
    const markDeleted = (id: string, at: string) =>
      sql`UPDATE users SET email = ${`deleted-${id}@deleted.invalid`}, name = 'Deleted user', password_hash = '!',
            server_admin = ${0}, disabled_at = COALESCE(disabled_at, ${at}), deleted_at = ${at}, updated_at = ${at}
          WHERE id = ${id}`.pipe(Effect.asVoid)

    return {
      insert,
      findByEmail,
      findById,
      list,
      countTeams,
      setPasswordHash,
      setDisabled,
      setServerAdmin,
      markDeleted
    } as const
  })
}) {}
