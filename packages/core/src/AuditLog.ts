/**
 * The append-only audit log. `record` is called inside the transaction of the act it
 * describes, so an act never commits without its entry.
 */
import type { AuditEntry, ListAuditParams } from "@mur/domain"
import { Effect, Option } from "effect"
import { AuditRepo, type AuditRow } from "./AuditRepo.js"
import * as Policy from "./Policy.js"
import { RequestInfo } from "./RequestInfo.js"
import { json, newId, now } from "./rows.js"
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
    const repo = yield* AuditRepo
    const toRow = (entry: AuditEntryInput, req: RequestInfo["Type"] | null, at: string): AuditRow => ({
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
      Effect.flatMap(Effect.serviceOption(RequestInfo), (info) =>
        repo.insert(toRow(entry, Option.getOrNull(info), now()))
      )

    /** Several entries of one request (a sync push), in as few statements as possible. */
    const recordMany = (entries: ReadonlyArray<AuditEntryInput>) =>
      Effect.flatMap(Effect.serviceOption(RequestInfo), (info) => {
        const req = Option.getOrNull(info)
        const at = now()
        return repo.insertMany(entries.map((e) => toRow(e, req, at)))
      })

    /** The active team's entries (for its admins), newest first, filtered and paginated. */
    const list = (active: ActiveTeam, params: ListAuditParams) =>
      Effect.gen(function* () {
        yield* Policy.require(active, "audit.read")
        const teamId = active.team.id
        const page = params.page ?? 1
        const limit = params.limit ?? 20
        const { total, rows } = yield* repo.list(
          {
            teamId,
            action: params.action,
            actorId: params.actor_id?.toLowerCase(),
            from: params.from === undefined ? undefined : `${params.from}T00:00:00.000Z`,
            before:
              params.to === undefined
                ? undefined
                : new Date(Date.parse(`${params.to}T00:00:00.000Z`) + 86_400_000).toISOString()
          },
          limit,
          (page - 1) * limit
        )
        return {
          entries: rows.map((r) => ({ ...r, metadata: json(r.metadata) }) as AuditEntry),
          total,
          page,
          limit
        }
      })

    return { record, recordMany, list } as const
  }),
  dependencies: [AuditRepo.Default]
}) {}
