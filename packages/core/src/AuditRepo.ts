/** Owns `audit_log`: appended to, never changed (triggers refuse updates and deletes). */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { batches } from "./rows.js"

export type AuditRow = {
  readonly id: string
  readonly team_id: string | null
  readonly actor_id: string | null
  readonly action: string
  readonly target_type: string | null
  readonly target_id: string | null
  readonly ip: string | null
  readonly user_agent: string | null
  readonly request_id: string | null
  /** JSON text. */
  readonly metadata: string
  readonly created_at: string
}

/** Which of a team's entries to list: `from` inclusive, `before` exclusive. */
export interface AuditFilter {
  readonly teamId: string
  readonly action?: string | undefined
  readonly actorId?: string | undefined
  readonly from?: string | undefined
  readonly before?: string | undefined
}

export class AuditRepo extends Effect.Service<AuditRepo>()("@mur/core/AuditRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const insert = (row: AuditRow) => sql`INSERT INTO audit_log ${sql.insert(row)}`.pipe(Effect.asVoid)

    /** Many entries in as few statements as possible. */
    const insertMany = (rows: ReadonlyArray<AuditRow>) =>
      Effect.forEach(batches(rows, 11), (chunk) => sql`INSERT INTO audit_log ${sql.insert(chunk)}`, {
        discard: true
      })

    /** The entries that match, newest first, one page of them, and how many match in all. */
    const list = (filter: AuditFilter, limit: number, offset: number) =>
      Effect.gen(function* () {
        const where = [sql`team_id = ${filter.teamId}`]
        if (filter.action !== undefined) where.push(sql`action = ${filter.action}`)
        if (filter.actorId !== undefined) where.push(sql`actor_id = ${filter.actorId}`)
        if (filter.from !== undefined) where.push(sql`created_at >= ${filter.from}`)
        if (filter.before !== undefined) where.push(sql`created_at < ${filter.before}`)
        const clause = sql.and(where)
        const [count] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM audit_log WHERE ${clause}`
        const rows = yield* sql<Omit<AuditRow, "team_id">>`
          SELECT id, actor_id, action, target_type, target_id, ip, user_agent, request_id, metadata, created_at
          FROM audit_log WHERE ${clause}
          ORDER BY created_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}`
        return { total: Number(count?.n ?? 0), rows }
      })

    return { insert, insertMany, list } as const
  })
}) {}
