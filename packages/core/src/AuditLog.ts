/**
 * The append-only audit log. `record` is called inside the transaction of the act it
 * describes, so an act never commits without its entry.
 */
import { SqlClient } from "@effect/sql"
import type { AuditEntry, ListAuditParams } from "@mur/domain"
import { Effect, Option } from "effect"
import * as Policy from "./Policy.js"
import { RequestInfo } from "./RequestInfo.js"
import { batches, json, newId, now } from "./rows.js"
import type { ActiveTeam } from "./Teams.js"

export type AuditAction =
  | "auth.register"
  | "auth.login"
  | "auth.login_failed"
  | "auth.token_reused"
  | "auth.logout"
  | "team.create"
  | "team.update"
  | "team.invite"
  | "team.join"
  | "team.leave"
  | "team.role_change"
  | "team.member_remove"
  | "pattern.create"
  | "pattern.update"
  | "pattern.delete"
  | "pattern.restore"
  | "apikey.create"
  | "apikey.revoke"
  | "device.approve"
  | "auth.password_set"
  | "admin.user_create"
  | "admin.user_disable"
  | "admin.user_enable"
  | "admin.user_delete"
  | "admin.password_reset"
  | "admin.grant_admin"
  | "admin.revoke_admin"
  | "admin.team_plan"
  | "admin.team_limits"

export interface AuditEntryInput {
  readonly action: AuditAction
  readonly actorId: string | null
  readonly teamId?: string | null
  readonly targetType?: string | null
  readonly targetId?: string | null
  /** Never a secret: callers pass names, ids and roles only. */
  readonly metadata?: Record<string, unknown>
}

export class AuditLog extends Effect.Service<AuditLog>()("@mur/core/AuditLog", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const toRow = (entry: AuditEntryInput, req: RequestInfo["Type"] | null, at: string) => ({
      id: newId(),
      team_id: entry.teamId ?? null,
      actor_id: entry.actorId,
      action: entry.action,
      target_type: entry.targetType ?? null,
      target_id: entry.targetId ?? null,
      ip: req?.ip ?? null,
      user_agent: req?.userAgent ?? null,
      request_id: req?.requestId ?? null,
      metadata: JSON.stringify(entry.metadata ?? {}),
      created_at: at
    })

    const record = (entry: AuditEntryInput) =>
      Effect.flatMap(Effect.serviceOption(RequestInfo), (info) => {
        return sql`INSERT INTO audit_log ${sql.insert(toRow(entry, Option.getOrNull(info), now()))}`
      }).pipe(Effect.asVoid)

    /** Several entries of one request (a sync push), in as few statements as possible. */
    const recordMany = (entries: ReadonlyArray<AuditEntryInput>) =>
      Effect.flatMap(Effect.serviceOption(RequestInfo), (info) => {
        const req = Option.getOrNull(info)
        const at = now()
        return Effect.forEach(
          batches(entries, 11),
          (chunk) => sql`INSERT INTO audit_log ${sql.insert(chunk.map((e) => toRow(e, req, at)))}`,
          { discard: true }
        )
      })

    /** The active team's entries (for its admins), newest first, filtered and paginated. */
    const list = (active: ActiveTeam, params: ListAuditParams) =>
      Effect.gen(function* () {
        yield* Policy.require(active, "audit.read")
        const teamId = active.team.id
        const page = params.page ?? 1
        const limit = params.limit ?? 20
        const where = [sql`team_id = ${teamId}`]
        if (params.action !== undefined) where.push(sql`action = ${params.action}`)
        if (params.actor_id !== undefined) where.push(sql`actor_id = ${params.actor_id.toLowerCase()}`)
        if (params.from !== undefined) where.push(sql`created_at >= ${`${params.from}T00:00:00.000Z`}`)
        if (params.to !== undefined) {
          const next = new Date(Date.parse(`${params.to}T00:00:00.000Z`) + 86_400_000).toISOString()
          where.push(sql`created_at < ${next}`)
        }
        const clause = sql.and(where)
        const [count] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM audit_log WHERE ${clause}`
        const rows = yield* sql<Omit<AuditEntry, "metadata"> & { metadata: string }>`
          SELECT id, actor_id, action, target_type, target_id, ip, user_agent, request_id, metadata, created_at
          FROM audit_log WHERE ${clause}
          ORDER BY created_at DESC, id DESC LIMIT ${limit} OFFSET ${(page - 1) * limit}`
        return {
          entries: rows.map((r): AuditEntry => ({ ...r, metadata: json(r.metadata) })),
          total: Number(count?.n ?? 0),
          page,
          limit
        }
      })

    return { record, recordMany, list } as const
  })
}) {}
