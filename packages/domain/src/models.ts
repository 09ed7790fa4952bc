/** The objects of the contract, exactly as they travel: snake_case, RFC 3339 strings. */
import { Schema } from "effect"
import { TeamId, UserId } from "./ids.js"

/** An RFC 3339 UTC timestamp string. */
export const Timestamp = Schema.String.annotations({ description: "RFC 3339 timestamp (UTC)" })

export const User = Schema.Struct({
  id: UserId,
  email: Schema.String,
  name: Schema.String,
  created_at: Timestamp
}).annotations({ identifier: "User" })
export type User = typeof User.Type

export const Plan = Schema.Literal("free", "team", "enterprise")
export type Plan = typeof Plan.Type

export const Role = Schema.Literal("admin", "member")
export type Role = typeof Role.Type

export const Team = Schema.Struct({
  id: TeamId,
  name: Schema.String,
  slug: Schema.String,
  plan: Plan,
  max_members: Schema.NullOr(Schema.Number),
  max_patterns: Schema.NullOr(Schema.Number),
  /** Days raw usage records are kept; null: never purged. */
  retention_days: Schema.NullOr(Schema.Number),
  created_at: Timestamp,
  updated_at: Timestamp
}).annotations({ identifier: "Team" })
export type Team = typeof Team.Type

export const TeamMembership = Schema.Struct({ team: Team, role: Role })
export type TeamMembership = typeof TeamMembership.Type

/** A team's limits; `null` is unlimited. */
export interface Limits {
  readonly maxMembers: number | null
  readonly maxPatterns: number | null
  readonly retentionDays: number | null
}

/** Limits of each plan (seed 000 pricing table); `null` is unlimited. */
export const PlanLimits: Record<Plan, Limits> = {
  free: { maxMembers: 5, maxPatterns: 100, retentionDays: 7 },
  team: { maxMembers: 30, maxPatterns: 1000, retentionDays: 90 },
  enterprise: { maxMembers: null, maxPatterns: null, retentionDays: 365 }
}

/**
 * One limit a team carries of its own, over its plan's: `undefined` keeps the plan's,
 * `null` is unlimited, a number is the limit.
 */
export type LimitOverride = number | null | undefined

/** The limits in force: the team's own where it has one, else its plan's. */
export const effectiveLimits = (
  plan: Plan,
  own: {
    readonly maxMembers: LimitOverride
    readonly maxPatterns: LimitOverride
    readonly retentionDays: LimitOverride
  }
): Limits => {
  const base = PlanLimits[plan]
  return {
    maxMembers: own.maxMembers === undefined ? base.maxMembers : own.maxMembers,
    maxPatterns: own.maxPatterns === undefined ? base.maxPatterns : own.maxPatterns,
    retentionDays: own.retentionDays === undefined ? base.retentionDays : own.retentionDays
  }
}
