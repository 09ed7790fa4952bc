/** Request and response bodies of the Teams section of the contract. */
import { Schema } from "effect"
import { Email } from "./auth.js"
import { UserId } from "./ids.js"
import { Role, Team, Timestamp } from "./models.js"
import { Text, TrimmedText } from "./text.js"

export const Member = Schema.Struct({
  id: UserId,
  email: Schema.String,
  name: Schema.String,
  role: Role,
  joined_at: Timestamp
}).annotations({ identifier: "Member" })
export type Member = typeof Member.Type

export const TeamName = TrimmedText.pipe(
  Schema.minLength(1, { message: () => "name must not be empty" }),
  Schema.maxLength(100, { message: () => "name must be at most 100 characters" })
)

export const CreateTeamRequest = Schema.Struct({ name: TeamName })
export const UpdateTeamRequest = Schema.Struct({ name: TeamName })
export const TeamResponse = Schema.Struct({ team: Team })
export const TeamWithMembers = Schema.Struct({ team: Team, members: Schema.Array(Member) })

export const InviteRequest = Schema.Struct({ email: Email, role: Schema.optional(Role) })
export const InviteResponse = Schema.Struct({ invite_code: Schema.String, expires_at: Timestamp })

export const JoinRequest = Schema.Struct({
  invite_code: Text.pipe(Schema.minLength(1), Schema.maxLength(200))
})

export const RoleRequest = Schema.Struct({ role: Role })
export const MemberResponse = Schema.Struct({ member: Member })
export const MemberIdParam = Schema.Struct({ id: UserId })
