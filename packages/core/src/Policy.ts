/**
 * Who may do what: the one place that answers "may this caller do this action to this
 * team, pattern, member or account". Services ask it before they act; handlers, the
 * WebSocket gateway and the other services never look at a role themselves.
 *
 * The tables below (`ACTIONS`, `RULES`, `GUARDS`) are the policy itself, not a description
 * of it: `require` reads them, docs/authorization.md lists them and test/authz.test.ts
 * checks every walked route against them.
 */
import { Conflict, Forbidden, NotFound, type Role } from "@mur/domain"
import { Effect, Either } from "effect"

/**
 * Who may do an action. `signed_in` is the authentication middleware's, `member` is proved
 * by resolving the active team (`Teams.resolveActive`), `own` by the key queries' scope to
 * their owner; the others are decided here.
 */
export type Rule = "signed_in" | "invitee" | "member" | "member_or_public" | "team_admin" | "own" | "server_admin"

/** A refusal as the caller sees it: one status, code and message per kind of refusal. */
export interface Refusal {
  readonly status: 401 | 403 | 404 | 409
  readonly code: string
  readonly message: string
}

export const RULES: { readonly [R in Rule]: { readonly who: string; readonly refusal: Refusal } } = {
  signed_in: {
    who: "anyone signed in (a login or an API key)",
    refusal: { status: 401, code: "unauthorized", message: "Missing or invalid credentials" }
  },
  invitee: {
    who: "the signed-in user the invite is addressed to",
    refusal: { status: 404, code: "invalid_invite", message: "This invite code is unknown, used or expired" }
  },
  member: {
    who: "any member of the active team",
    refusal: { status: 404, code: "not_in_team", message: "You are not a member of that team" }
  },
  member_or_public: {
    who: "any member of the pattern's team; anyone signed in when the pattern is public",
    refusal: { status: 404, code: "not_found", message: "No such pattern" }
  },
  team_admin: {
    who: "an admin of the active team",
    refusal: { status: 403, code: "forbidden", message: "Only a team admin may do this" }
  },
  own: {
    who: "the signed-in user, on their own keys",
    refusal: { status: 404, code: "not_found", message: "No such API key" }
  },
  server_admin: {
    who: "a user with the server-admin role",
    refusal: { status: 404, code: "not_found", message: "Not found" }
  }
}

/** A further condition some actions must meet, whoever asks. */
export type Guard = "last_admin" | "not_self_over_http"

export const GUARDS: { readonly [G in Guard]: { readonly when: string; readonly refusal: Refusal } } = {
  last_admin: {
    when: "a team with other members would be left without an admin; its only admin is never demoted",
    refusal: {
      status: 409,
      code: "last_admin",
      message: "Team {team} would be left without an admin; promote someone first"
    }
  },
  not_self_over_http: {
    when: "a server admin acts on their own account over HTTP (`mur-server admin` may)",
    refusal: {
      status: 403,
      code: "forbidden",
      message: "You cannot do this to your own account here; use mur-server admin"
    }
  }
}

const action = <R extends Rule>(rule: R, guards: ReadonlyArray<Guard> = []) => ({ rule, guards })

/** Every action the policy decides, with its rule and guards. */
export const ACTIONS = {
  "team.create": action("signed_in"),
  "team.join": action("invitee"),
  "team.read": action("member"),
  "team.rename": action("team_admin"),
  "team.invite": action("team_admin"),
  "team.leave": action("member", ["last_admin"]),
  "member.set_role": action("team_admin", ["last_admin"]),
  "member.remove": action("team_admin", ["last_admin"]),
  "pattern.list": action("member"),
  "pattern.list_public": action("signed_in"),
  "pattern.create": action("member"),
  "pattern.read": action("member_or_public"),
  "pattern.use": action("member_or_public"),
  "pattern.update": action("member"),
  "pattern.versions": action("member"),
  "pattern.restore": action("member"),
  "pattern.delete": action("team_admin"),
  "sync.push": action("member"),
  "sync.read": action("member"),
  "audit.read": action("team_admin"),
  "stats.team_read": action("team_admin"),
  "stats.team_export": action("team_admin"),
  "stats.leaderboard": action("member"),
  "key.manage": action("own"),
  "admin.access": action("server_admin"),
  "admin.user_disable": action("server_admin", ["not_self_over_http"]),
  "admin.user_revoke_admin": action("server_admin", ["not_self_over_http"]),
  "admin.user_delete": action("server_admin", ["not_self_over_http", "last_admin"])
} as const satisfies Record<string, { readonly rule: Rule; readonly guards: ReadonlyArray<Guard> }>

export type Action = keyof typeof ACTIONS

/** The actions decided by the caller's role in the active team. */
export type TeamAction = {
  [A in Action]: (typeof ACTIONS)[A]["rule"] extends "member" | "team_admin" ? A : never
}[Action]

/** A caller in a team: their role there. */
export interface TeamPrincipal {
  readonly role: Role
}

const teamAdminOnly = () => new Forbidden({ code: "forbidden", message: RULES.team_admin.refusal.message })

/**
 * The decision for a caller in a team (null: in no team). Membership itself is proved by
 * resolving the active team, so a `member` action is refused only to someone in no team.
 */
export const check = (principal: TeamPrincipal | null, act: TeamAction): Either.Either<void, Forbidden> => {
  const rule: Rule = ACTIONS[act].rule
  if (principal === null) return Either.left(teamAdminOnly())
  if (rule === "team_admin" && principal.role !== "admin") return Either.left(teamAdminOnly())
  return Either.void
}

/** Succeeds when the caller may do `act` in their team; else the rule's one refusal. */
export const require = (principal: TeamPrincipal | null, act: TeamAction): Effect.Effect<void, Forbidden> =>
  Either.match(check(principal, act), { onLeft: Effect.fail, onRight: () => Effect.void })

/** Whether a caller (null: in no team) may read or use a pattern: their team's, or a public one. */
export const maySeePattern = (
  active: { readonly team: { readonly id: string } } | null,
  pattern: { readonly team_id: string; readonly is_public: boolean }
): boolean => pattern.is_public || (active !== null && active.team.id === pattern.team_id)

/** Whether an invite is addressed to this user (the code alone is not enough). */
export const isInvitee = (user: { readonly email: string }, invite: { readonly email: string }): boolean =>
  invite.email === user.email

/** The `/admin/*` gate: a server admin passes; everyone else gets the 404 of a route that does not exist. */
export const requireServerAdmin = (principal: { readonly serverAdmin: boolean }): Effect.Effect<void, NotFound> =>
  principal.serverAdmin ? Effect.void : Effect.fail(hiddenAdmin())

/** What anyone but a server admin gets from `/admin/*`. */
export const hiddenAdmin = () => new NotFound({ code: "not_found", message: RULES.server_admin.refusal.message })

/** Who a server-administration act is done by: a server admin over HTTP, or the shell. */
export interface AdminPrincipal {
  readonly userId: string | null
  readonly via: "http" | "cli"
}

/** Over HTTP a server admin may not lock themselves out; the shell may. */
export const requireNotSelf = (actor: AdminPrincipal, targetUserId: string): Effect.Effect<void, Forbidden> =>
  actor.via === "http" && actor.userId === targetUserId
    ? Effect.fail(new Forbidden({ code: "forbidden", message: GUARDS.not_self_over_http.refusal.message }))
    : Effect.void

/** What a role change is for the last-admin guard. */
export type RoleChange = "none" | "demote" | "promote"

/** A member's role going from `from` to `to`. */
export const roleChange = (from: Role, to: Role): RoleChange =>
  from === to ? "none" : from === "admin" ? "demote" : "promote"

/** The refusal of the last-admin guard, naming the team. */
export const lastAdmin = (team: { readonly slug: string }) =>
  new Conflict({ code: "last_admin", message: GUARDS.last_admin.refusal.message.replace("{team}", team.slug) })

/**
 * The last-admin guard, for a member who is demoted or leaves the team (or is removed):
 * a team with other members keeps an admin, and its only admin is never demoted, even
 * alone. The counts are read only when needed, under the caller's team lock.
 */
export const requireAnAdminLeft = <E, R>(
  team: { readonly slug: string },
  member: { readonly role: Role },
  change: "demote" | "leave",
  count: { readonly admins: Effect.Effect<number, E, R>; readonly members: Effect.Effect<number, E, R> }
): Effect.Effect<void, Conflict | E, R> =>
  Effect.gen(function* () {
    if (member.role !== "admin") return
    if ((yield* count.admins) > 1) return
    if (change === "demote" || (yield* count.members) > 1) return yield* lastAdmin(team)
  })
