import { SqlClient } from "@effect/sql"
import { type Plan, PlanLimits, type Role, type Team, type TeamMembership } from "@mur/domain"
import { Effect } from "effect"

export interface TeamRow {
  readonly id: string
  readonly name: string
  readonly slug: string
  readonly plan: Plan
  readonly created_at: string
  readonly updated_at: string
}

export const toTeam = (row: TeamRow): Team => {
  const limits = PlanLimits[row.plan]
  return {
    id: row.id as Team["id"],
    name: row.name,
    slug: row.slug,
    plan: row.plan,
    max_members: limits.maxMembers,
    max_patterns: limits.maxPatterns,
    created_at: row.created_at,
    updated_at: row.updated_at
  }
}

export class TeamRepo extends Effect.Service<TeamRepo>()("@mur/core/TeamRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    /** The teams a user belongs to, oldest membership first. */
    const listForUser = (userId: string) =>
      sql<TeamRow & { role: Role }>`
        SELECT t.id, t.name, t.slug, t.plan, t.created_at, t.updated_at, m.role
        FROM memberships m JOIN teams t ON t.id = m.team_id
        WHERE m.user_id = ${userId}
        ORDER BY m.joined_at, t.id`.pipe(
        Effect.map((rows): ReadonlyArray<TeamMembership> => rows.map((r) => ({ team: toTeam(r), role: r.role })))
      )

    return { listForUser } as const
  })
}) {}
