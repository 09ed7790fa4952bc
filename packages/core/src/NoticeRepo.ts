/**
 * Owns `notices` (SQLite only: where a command-line process, `mur-server admin`, leaves
 * change-feed notices for the server process on the same file) and PostgreSQL's NOTIFY
 * channel: the change feed's storage. Only `ChangeFeed` uses it.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export class NoticeRepo extends Effect.Service<NoticeRepo>()("@mur/core/NoticeRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    /** Whether migrations made the `notices` table yet (SQLite). */
    const tableExists = sql<{ n: number }>`
      SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'notices'`.pipe(
      Effect.map((rows) => Number(rows[0]?.n ?? 0) > 0)
    )

    /** The id of the newest notice (0: none). */
    const lastId = sql<{ id: number | null }>`SELECT max(id) AS id FROM notices`.pipe(
      Effect.map((rows) => Number(rows[0]?.id ?? 0))
    )

    /** Notices after `id`, oldest first. */
    const after = (id: number) =>
      sql<{ id: number; notice: string }>`SELECT id, notice FROM notices WHERE id > ${id} ORDER BY id`

    const insert = (notice: string, at: string) =>
      sql`INSERT INTO notices (notice, created_at) VALUES (${notice}, ${at})`.pipe(Effect.asVoid)

    const deleteBefore = (before: string) => sql`DELETE FROM notices WHERE created_at < ${before}`.pipe(Effect.asVoid)

    /** PostgreSQL: `pg_notify` rather than `NOTIFY`, which takes no bind parameters. */
    const notify = (channel: string, payload: string) =>
      sql`SELECT pg_notify(${channel}, ${payload})`.pipe(Effect.asVoid)

    return { tableExists, lastId, after, insert, deleteBefore, notify } as const
  })
}) {}
