/** Request and response bodies of the server administration section (`/admin/*`). */
import { Schema } from "effect"
import { DisplayName, Email, Password } from "./auth.js"
import { UserId } from "./ids.js"
import { Plan, Team, Timestamp } from "./models.js"
import { LimitParam, PageParam } from "./patterns.js"
import { Member } from "./teams.js"
import { Text } from "./text.js"

/** A user as a server admin sees them. */
export const AdminUser = Schema.Struct({
  id: UserId,
  email: Schema.String,
  name: Schema.String,
  created_at: Timestamp,
  disabled: Schema.Boolean,
  server_admin: Schema.Boolean,
  teams: Schema.Number
}).annotations({ identifier: "AdminUser" })
export type AdminUser = typeof AdminUser.Type

/**
 * A team as a server admin sees it: the limits in force (`team.max_*`), the team's own
 * overrides of its plan's (`null`: the plan's; `"unlimited"`), and what it holds.
 */
export const LimitValue = Schema.Union(Schema.Literal("unlimited"), Schema.Number)
export const AdminTeam = Schema.Struct({
  team: Team,
  overrides: Schema.Struct({
    max_members: Schema.NullOr(LimitValue),
    max_patterns: Schema.NullOr(LimitValue),
    retention_days: Schema.NullOr(LimitValue)
  }),
  members: Schema.Number,
  patterns: Schema.Number
}).annotations({ identifier: "AdminTeam" })
export type AdminTeam = typeof AdminTeam.Type

export const AdminListParams = Schema.Struct({
  search: Schema.optional(Text.pipe(Schema.maxLength(200))),
  page: Schema.optional(PageParam),
  limit: Schema.optional(LimitParam)
})
export type AdminListParams = typeof AdminListParams.Type

export const AdminUserList = Schema.Struct({
  users: Schema.Array(AdminUser),
  total: Schema.Number,
  page: Schema.Number,
  limit: Schema.Number
})
export const AdminTeamList = Schema.Struct({
  teams: Schema.Array(AdminTeam),
  total: Schema.Number,
  page: Schema.Number,
  limit: Schema.Number
})

/** Without `password`, the answer carries a one-time `set_password_url` to hand to the user. */
export const AdminCreateUserRequest = Schema.Struct({
  email: Email,
  name: DisplayName,
  password: Schema.optional(Password)
})
export const AdminResetPasswordRequest = Schema.Struct({ password: Schema.optional(Password) })
export const AdminUserResponse = Schema.Struct({
  user: AdminUser,
  set_password_url: Schema.optional(Schema.String)
})

export const AdminUpdateUserRequest = Schema.Struct({
  disabled: Schema.optional(Schema.Boolean),
  server_admin: Schema.optional(Schema.Boolean)
})

const LimitInput = (what: string, max: number) =>
  Schema.NullOr(
    Schema.Union(
      Schema.Literal("unlimited"),
      Schema.Number.pipe(
        Schema.int({ message: () => `${what} must be a whole number` }),
        Schema.between(0, max, { message: () => `${what} must be between 0 and ${max}` })
      )
    )
  ).annotations({ description: `a number, "unlimited", or null for the plan's` })

/** Changes a team's plan and/or its own limits; a limit `null` goes back to the plan's. */
export const AdminUpdateTeamRequest = Schema.Struct({
  plan: Schema.optional(Plan),
  max_members: Schema.optional(LimitInput("max_members", 1_000_000)),
  max_patterns: Schema.optional(LimitInput("max_patterns", 100_000_000)),
  retention_days: Schema.optional(
    Schema.NullOr(
      Schema.Union(
        Schema.Literal("unlimited"),
        Schema.Number.pipe(
          Schema.int({ message: () => "retention_days must be a whole number" }),
          Schema.between(1, 36_500, { message: () => "retention_days must be between 1 and 36500" })
        )
      )
    )
  )
})
export type AdminUpdateTeamRequest = typeof AdminUpdateTeamRequest.Type

export const AdminTeamResponse = Schema.Struct({ team: AdminTeam })
export const AdminTeamDetail = Schema.Struct({ team: AdminTeam, members: Schema.Array(Member) })

export const AdminUserIdParam = Schema.Struct({ id: UserId })
/** A team by id or slug. */
export const AdminTeamIdParam = Schema.Struct({ id: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)) })
