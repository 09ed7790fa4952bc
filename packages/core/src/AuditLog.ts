/**
 * The append-only audit log. `record` is called inside the transaction of the act it
 * describes, so an act never commits without its entry.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import { RequestInfo } from "./RequestInfo.js"
import { newId, now } from "./rows.js"

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
    const record = (entry: AuditEntryInput) =>
      Effect.flatMap(Effect.serviceOption(RequestInfo), (info) => {
        const req = Option.getOrNull(info)
        return sql`INSERT INTO audit_log ${sql.insert({
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
          created_at: now()
        })}`
      }).pipe(Effect.asVoid)
    return { record } as const
  })
}) {}
