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

export const toUser = (row: { id: string; email: string; name: string; created_at: string }): User =>
  ({ id: row.id, email: row.email, name: row.name, created_at: row.created_at }) as User

export class UserRepo extends Effect.Service<UserRepo>()("@mur/core/UserRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const insert = (row: UserRow) =>
      sql`INSERT INTO users ${sql.insert({ ...row, updated_at: row.created_at })}`.pipe(Effect.asVoid)

    const findByEmail = (email: string) =>
      sql<UserRow>`SELECT id, email, name, password_hash, created_at FROM users WHERE email = ${email}`.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]))
      )

    const findById = (id: string) =>
      sql<UserRow>`SELECT id, email, name, password_hash, created_at FROM users WHERE id = ${id}`.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]))
      )

    return { insert, findByEmail, findById } as const
  })
}) {}
