/**
 * Teams: membership, roles, invites, plan limits, and which team a request acts on.
 * Every act bounded by a team-wide count runs in a transaction that first takes the team
 * row's lock, so racing joins cannot both take the last seat.
 */

import { randomBytes } from "node:crypto"
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import {
  Conflict,
  Forbidden,
  InvalidRequest,
  type Member,
  NotFound,
  type Role,
  type Team,
  type User
} from "@mur/domain"
import { Effect, Option } from "effect"
import { AuditLog } from "./AuditLog.js"
import { ChangeFeed } from "./ChangeFeed.js"
import { EngineConfig } from "./Config.js"
import * as Policy from "./Policy.js"
import { addSeconds, isUniqueViolation, newId, now, sha256 } from "./rows.js"
import { TeamRepo, toTeam } from "./TeamRepo.js"

/** The team a request acts on, and the caller's role in it. */
export interface ActiveTeam {
  readonly team: Team
  readonly role: Role
}

const INVITE_TTL_SECONDS = 7 * 24 * 3600

const notInTeam = (message = Policy.RULES.member.refusal.message) => new NotFound({ code: "not_in_team", message })

const slugify = (name: string) =>
  name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 48) || "team"

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export class Teams extends Effect.Service<Teams>()("@mur/core/Teams", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const repo = yield* TeamRepo
    const audit = yield* AuditLog
    const feed = yield* ChangeFeed
    const config = yield* EngineConfig

    /**
     * The caller's active team: the only one they belong to, or the one named (id or slug)
     * by `X-Team`.
     */
    const resolveActive = (
      user: User,
      named: string | undefined
    ): Effect.Effect<ActiveTeam, InvalidRequest | NotFound | SqlError> =>
      Effect.gen(function* () {
        const memberships = yield* repo.listForUser(user.id)
        if (named !== undefined && named.trim() !== "") {
          const key = named.trim()
          const found = memberships.find((m) =>
            UUID.test(key) ? m.team.id === key.toLowerCase() : m.team.slug === key.toLowerCase()
          )
          if (found === undefined) return yield* notInTeam()
          return found
        }
        if (memberships.length === 0) return yield* notInTeam("You are not a member of any team")
        if (memberships.length > 1) {
          return yield* InvalidRequest.invalid(
            "You belong to several teams: name one with the X-Team header (id or slug)",
            [{ path: "X-Team", message: "required when you belong to several teams" }]
          )
        }
        return memberships[0]!
      })

    const uniqueSlug = (name: string) =>
      Effect.gen(function* () {
        const base = slugify(name)
        if (!(yield* repo.slugTaken(base))) return base
        for (;;) {
          const candidate = `${base}-${randomBytes(3).toString("hex")}`
          if (!(yield* repo.slugTaken(candidate))) return candidate
        }
      })

    const create = (user: User, name: string): Effect.Effect<Team, SqlError> =>
      Effect.gen(function* () {
        const at = now()
        const slug = yield* uniqueSlug(name)
        const row = { id: newId(), name, slug, plan: config.defaultPlan ?? "free", created_at: at, updated_at: at }
        yield* Effect.gen(function* () {
          yield* repo.insert(row)
          yield* repo.addMember(row.id, user.id, "admin", at)
          yield* audit.record({
            action: "team.create",
            actorId: user.id,
            teamId: row.id,
            targetType: "team",
            targetId: row.id,
            metadata: { name, slug }
          })
        }).pipe(sql.withTransaction)
        return toTeam(row)
      }).pipe(Effect.retry({ times: 3, while: (e) => isUniqueViolation(e) }))

    const get = (active: ActiveTeam) =>
      Effect.map(repo.members(active.team.id), (members) => ({ team: active.team, members }))

    const rename = (user: User, active: ActiveTeam, name: string): Effect.Effect<Team, Forbidden | SqlError> =>
      Effect.gen(function* () {
        yield* Policy.require(active, "team.rename")
        const at = now()
        yield* Effect.zipRight(
          repo.rename(active.team.id, name, at),
          audit.record({
            action: "team.update",
            actorId: user.id,
            teamId: active.team.id,
            targetType: "team",
            targetId: active.team.id,
            metadata: { name, previous_name: active.team.name }
          })
        ).pipe(sql.withTransaction)
        return { ...active.team, name, updated_at: at }
      })

    const invite = (
      user: User,
      active: ActiveTeam,
      email: string,
      role: Role
    ): Effect.Effect<{ invite_code: string; expires_at: string }, Forbidden | SqlError> =>
      Effect.gen(function* () {
        yield* Policy.require(active, "team.invite")
        const code = randomBytes(15).toString("base64url")
        const at = now()
        const expires = addSeconds(at, INVITE_TTL_SECONDS)
        const id = newId()
        yield* Effect.zipRight(
          repo.insertInvite({
            id,
            team_id: active.team.id,
            email,
            role,
            code_hash: sha256(code),
            created_by: user.id,
            created_at: at,
            expires_at: expires
          }),
          audit.record({
            action: "team.invite",
            actorId: user.id,
            teamId: active.team.id,
            targetType: "invite",
            targetId: id,
            metadata: { email, role }
          })
        ).pipe(sql.withTransaction)
        return { invite_code: code, expires_at: expires }
      })

    const join = (user: User, code: string): Effect.Effect<Team, NotFound | Conflict | Forbidden | SqlError> =>
      Effect.gen(function* () {
        const invalid = new NotFound({ code: "invalid_invite", message: Policy.RULES.invitee.refusal.message })
        const found = yield* repo.findInvite(sha256(code.trim()))
        if (Option.isNone(found)) return yield* invalid
        const inv = found.value
        const at = now()
        if (inv.used_at !== null || Date.parse(inv.expires_at) <= Date.parse(at) || !Policy.isInvitee(user, inv)) {
          return yield* invalid
        }
        return yield* Effect.gen(function* () {
          yield* repo.lock(inv.team_id)
          const team = yield* repo.findById(inv.team_id)
          if (Option.isNone(team)) return yield* invalid
          if (Option.isSome(yield* repo.membership(inv.team_id, user.id))) {
            return yield* new Conflict({ code: "already_in_team", message: "You are already a member of this team" })
          }
          // Read under the lock: a plan or limit changed a moment ago counts at once.
          const limit = toTeam(team.value).max_members
          if (limit !== null && (yield* repo.countMembers(inv.team_id)) >= limit) {
            return yield* new Forbidden({
              code: "plan_limit",
              message: `This team's limit is ${limit} members (${team.value.plan} plan); it is full`
            })
          }
          if (!(yield* repo.useInvite(inv.id, user.id, at))) return yield* invalid
          yield* repo.addMember(inv.team_id, user.id, inv.role, at)
          yield* feed.publish({ kind: "member", teamId: inv.team_id, userId: user.id, joined: true })
          yield* audit.record({
            action: "team.join",
            actorId: user.id,
            teamId: inv.team_id,
            targetType: "user",
            targetId: user.id,
            metadata: { role: inv.role, invite_id: inv.id }
          })
          return toTeam(team.value)
        }).pipe(feed.transaction)
      })

    /** The last-admin guard of the policy, with the team's counts; called under the team lock. */
    const guardAdmins = (team: Team, member: Member, change: "demote" | "leave") =>
      Policy.requireAnAdminLeft(team, member, change, {
        admins: repo.countAdmins(team.id),
        members: repo.countMembers(team.id)
      })

    const findMember = (teamId: string, userId: string) =>
      Effect.flatMap(repo.membership(teamId, userId), (m) =>
        Option.isSome(m)
          ? Effect.succeed(m.value)
          : Effect.fail(new NotFound({ code: "not_found", message: "No such member" }))
      )

    const setRole = (
      user: User,
      active: ActiveTeam,
      memberId: string,
      role: Role
    ): Effect.Effect<Member, Forbidden | NotFound | Conflict | SqlError> =>
      Effect.gen(function* () {
        yield* Policy.require(active, "member.set_role")
        return yield* Effect.gen(function* () {
          yield* repo.lock(active.team.id)
          const member = yield* findMember(active.team.id, memberId)
          const change = Policy.roleChange(member.role, role)
          if (change === "none") return member
          if (change === "demote") yield* guardAdmins(active.team, member, "demote")
          yield* repo.setRole(active.team.id, memberId, role)
          yield* audit.record({
            action: "team.role_change",
            actorId: user.id,
            teamId: active.team.id,
            targetType: "user",
            targetId: memberId,
            metadata: { from: member.role, to: role }
          })
          return { ...member, role }
        }).pipe(sql.withTransaction)
      })

    const removeMember = (
      user: User,
      active: ActiveTeam,
      memberId: string
    ): Effect.Effect<Member, Forbidden | NotFound | Conflict | SqlError> =>
      Effect.gen(function* () {
        yield* Policy.require(active, "member.remove")
        return yield* Effect.gen(function* () {
          yield* repo.lock(active.team.id)
          const member = yield* findMember(active.team.id, memberId)
          yield* guardAdmins(active.team, member, "leave")
          yield* repo.removeMember(active.team.id, memberId)
          yield* feed.publish({ kind: "member", teamId: active.team.id, userId: memberId, joined: false })
          yield* audit.record({
            action: "team.member_remove",
            actorId: user.id,
            teamId: active.team.id,
            targetType: "user",
            targetId: memberId,
            metadata: { role: member.role }
          })
          return member
        }).pipe(feed.transaction)
      })

    const leave = (user: User, active: ActiveTeam): Effect.Effect<void, NotFound | Conflict | SqlError> =>
      Effect.gen(function* () {
        yield* repo.lock(active.team.id)
        const member = yield* findMember(active.team.id, user.id)
        yield* guardAdmins(active.team, member, "leave")
        yield* repo.removeMember(active.team.id, user.id)
        yield* feed.publish({ kind: "member", teamId: active.team.id, userId: user.id, joined: false })
        yield* audit.record({
          action: "team.leave",
          actorId: user.id,
          teamId: active.team.id,
          targetType: "user",
          targetId: user.id,
          metadata: { role: member.role }
        })
      }).pipe(feed.transaction)

    return { resolveActive, create, get, rename, invite, join, setRole, removeMember, leave } as const
  }),
  dependencies: [TeamRepo.Default, AuditLog.Default]
}) {}
