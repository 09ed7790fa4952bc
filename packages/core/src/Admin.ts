/**
 * Server administration: accounts (create, disable, reset a password, delete, the
 * server-admin role) and teams (plan and limits). `mur-server admin …` and the `/admin/*`
 * routes both call these, so a rule holds the same way from the shell and the dashboard.
 *
 * Every act is one transaction with its audit entry; acts that end logins or change who may
 * do what send their change-feed notices once they commit, so every server process closes
 * the sockets concerned at once.
 */
import { randomBytes } from "node:crypto"
import type { SqlError } from "@effect/sql/SqlError"
import {
  type AdminListParams,
  type AdminTeam,
  type AdminUpdateTeamRequest,
  type AdminUser,
  Conflict,
  type Forbidden,
  type LimitOverride,
  type Member,
  NotFound,
  type Plan
} from "@mur/domain"
import { Effect, Option } from "effect"
import { ApiKeys } from "./ApiKeys.js"
import { AuditLog } from "./AuditLog.js"
import { ChangeFeed } from "./ChangeFeed.js"
import { PasswordLinkRepo } from "./PasswordLinkRepo.js"
import { Passwords } from "./Passwords.js"
import * as Policy from "./Policy.js"
import { addSeconds, isUniqueViolation, newId, now, sha256 } from "./rows.js"
import { SessionRepo } from "./SessionRepo.js"
import { fromStoredLimit, TeamRepo, type TeamRow, toStoredLimit, toTeam } from "./TeamRepo.js"
import { type UserRecord, UserRepo } from "./UserRepo.js"

/** Who acts: a server admin over HTTP (their id), or the operator at the shell (`cli`). */
export interface AdminActor {
  readonly userId: string | null
  readonly via: "http" | "cli"
  /** The OS user at the shell, for `cli`. */
  readonly operator?: string
}

/** How long a set-password link works. */
const NEW_ACCOUNT_LINK_SECONDS = 7 * 24 * 3600
const RESET_LINK_SECONDS = 24 * 3600

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const noUser = () => new NotFound({ code: "not_found", message: "No such user" })
const noTeam = () => new NotFound({ code: "not_found", message: "No such team" })

const toAdminUser = (row: UserRecord, teams: number): AdminUser => ({
  id: row.id as AdminUser["id"],
  email: row.email,
  name: row.name,
  created_at: row.created_at,
  disabled: row.disabled_at !== null,
  server_admin: row.server_admin,
  teams
})

const shownLimit = (v: number | null | undefined) => {
  const o = fromStoredLimit(v)
  return o === undefined ? null : o === null ? ("unlimited" as const) : o
}

const toAdminTeam = (row: TeamRow, members: number, patterns: number): AdminTeam => ({
  team: toTeam(row),
  overrides: {
    max_members: shownLimit(row.max_members),
    max_patterns: shownLimit(row.max_patterns),
    retention_days: shownLimit(row.retention_days)
  },
  members: Number(members),
  patterns: Number(patterns)
})

/** A limit as asked for: absent keeps the current one, null the plan's, "unlimited", or a number. */
const askedLimit = (
  asked: number | "unlimited" | null | undefined,
  current: number | null | undefined
): number | null => {
  if (asked === undefined) return current ?? null
  const o: LimitOverride = asked === null ? undefined : asked === "unlimited" ? null : asked
  return toStoredLimit(o)
}

export class Admin extends Effect.Service<Admin>()("@mur/core/Admin", {
  effect: Effect.gen(function* () {
    const users = yield* UserRepo
    const sessions = yield* SessionRepo
    const teams = yield* TeamRepo
    const links = yield* PasswordLinkRepo
    const passwords = yield* Passwords
    const apiKeys = yield* ApiKeys
    const audit = yield* AuditLog
    const feed = yield* ChangeFeed

    const record = (
      actor: AdminActor,
      action: Parameters<AuditLog["record"]>[0]["action"],
      target: { type: "user" | "team"; id: string; teamId?: string },
      metadata: Record<string, unknown> = {}
    ) =>
      audit.record({
        action,
        actorId: actor.userId,
        teamId: target.teamId ?? null,
        targetType: target.type,
        targetId: target.id,
        metadata: { ...metadata, via: actor.via, ...(actor.operator === undefined ? {} : { operator: actor.operator }) }
      })

    /** A user by id or e-mail; deleted accounts are not found. */
    const findUser = (key: string): Effect.Effect<UserRecord, NotFound | SqlError> =>
      Effect.flatMap(
        UUID.test(key.trim()) ? users.findById(key.trim().toLowerCase()) : users.findByEmail(key.trim().toLowerCase()),
        (found) =>
          Option.isSome(found) && found.value.deleted_at === null ? Effect.succeed(found.value) : Effect.fail(noUser())
      )

    const view = (row: UserRecord) => Effect.map(users.countTeams(row.id), (n) => toAdminUser(row, n))

    const reread = (id: string): Effect.Effect<AdminUser, NotFound | SqlError> =>
      Effect.gen(function* () {
        const found = yield* users.findById(id)
        if (Option.isNone(found)) return yield* noUser()
        return yield* view(found.value)
      })

    /** Ends every login of a user; once committed their sockets close everywhere. */
    const endLogins = (userId: string, at: string, reason: string) =>
      Effect.zipRight(
        sessions.revokeAllOfUser(userId, at, reason),
        feed.publish({ kind: "revoked", credential: "user", id: userId })
      )

    /** A one-time set-password link for a user, replacing any unused one. */
    const newLink = (userId: string, at: string, seconds: number, linkBase: string) =>
      Effect.gen(function* () {
        const token = randomBytes(24).toString("base64url")
        yield* links.voidAllOfUser(userId, at)
        yield* links.insert({
          token_hash: sha256(token),
          user_id: userId,
          created_at: at,
          expires_at: addSeconds(at, seconds)
        })
        return `${linkBase.replace(/\/$/, "")}/set-password#token=${token}`
      })

    const listUsers = (params: AdminListParams) =>
      Effect.gen(function* () {
        const page = params.page ?? 1
        const limit = params.limit ?? 20
        const { total, rows } = yield* users.list(params.search?.trim(), limit, (page - 1) * limit)
        return { users: rows.map((r) => toAdminUser(r, r.teams)), total, page, limit }
      })

    /**
     * Makes an account (whether or not sign-up is open). Without a password it cannot log in
     * until its user follows the returned one-time link.
     */
    const createUser = (
      actor: AdminActor,
      input: { readonly email: string; readonly name: string; readonly password?: string | undefined },
      linkBase: string
    ): Effect.Effect<{ user: AdminUser; set_password_url?: string }, Conflict | NotFound | SqlError> =>
      Effect.gen(function* () {
        const at = now()
        const id = newId()
        // No bcrypt hash is "!": nothing verifies against it.
        const hash = input.password === undefined ? "!" : yield* passwords.hash(input.password)
        const url = yield* Effect.gen(function* () {
          yield* users.insert({ id, email: input.email, name: input.name, password_hash: hash, created_at: at })
          yield* record(actor, "admin.user_create", { type: "user", id }, { email: input.email })
          return input.password === undefined ? yield* newLink(id, at, NEW_ACCOUNT_LINK_SECONDS, linkBase) : undefined
        }).pipe(
          feed.transaction,
          Effect.catchIf(isUniqueViolation, () =>
            Effect.fail(new Conflict({ code: "email_taken", message: "An account with this e-mail already exists" }))
          )
        )
        const user = yield* reread(id)
        return url === undefined ? { user } : { user, set_password_url: url }
      })

    /** Disables or enables an account, and grants or revokes the server-admin role. */
    const updateUser = (
      actor: AdminActor,
      key: string,
      change: { readonly disabled?: boolean | undefined; readonly server_admin?: boolean | undefined }
    ): Effect.Effect<AdminUser, NotFound | Forbidden | SqlError> =>
      Effect.gen(function* () {
        const user = yield* findUser(key)
        // Over HTTP an admin may not lock themselves out of the admin section.
        if (change.disabled === true || change.server_admin === false) yield* Policy.requireNotSelf(actor, user.id)
        yield* Effect.gen(function* () {
          const at = now()
          if (change.disabled !== undefined && change.disabled !== (user.disabled_at !== null)) {
            yield* users.setDisabled(user.id, change.disabled ? at : null, at)
            // A disabled account's logins end; enabling it lets it log in anew.
            if (change.disabled) yield* endLogins(user.id, at, "disabled")
            yield* record(actor, change.disabled ? "admin.user_disable" : "admin.user_enable", {
              type: "user",
              id: user.id
            })
          }
          if (change.server_admin !== undefined && change.server_admin !== user.server_admin) {
            yield* users.setServerAdmin(user.id, change.server_admin, at)
            yield* record(actor, change.server_admin ? "admin.grant_admin" : "admin.revoke_admin", {
              type: "user",
              id: user.id
            })
          }
        }).pipe(feed.transaction)
        return yield* reread(user.id)
      })

    /**
     * Sets a new password (or, without one, hands out a one-time link) and ends every login
     * of the user, so a stolen session stops with the old password.
     */
    const resetPassword = (
      actor: AdminActor,
      key: string,
      password: string | undefined,
      linkBase: string
    ): Effect.Effect<{ user: AdminUser; set_password_url?: string }, NotFound | SqlError> =>
      Effect.gen(function* () {
        const user = yield* findUser(key)
        const hash = password === undefined ? "!" : yield* passwords.hash(password)
        const url = yield* Effect.gen(function* () {
          const at = now()
          yield* users.setPasswordHash(user.id, hash, at)
          yield* endLogins(user.id, at, "password_reset")
          yield* record(
            actor,
            "admin.password_reset",
            { type: "user", id: user.id },
            { method: password === undefined ? "link" : "set" }
          )
          if (password !== undefined) {
            yield* links.voidAllOfUser(user.id, at)
            return undefined
          }
          return yield* newLink(user.id, at, RESET_LINK_SECONDS, linkBase)
        }).pipe(feed.transaction)
        const view = yield* reread(user.id)
        return url === undefined ? { user: view } : { user: view, set_password_url: url }
      })

    /**
     * Deletes an account but keeps the team's data whole: the row stays as "Deleted user"
     * (its e-mail freed, no password, disabled), so patterns it wrote, its usage stats and
     * rollups and the audit entries naming it all remain. Its memberships, logins, API keys
     * and links go. Refused while it is the only admin of a team that has other members.
     */
    const deleteUser = (
      actor: AdminActor,
      key: string
    ): Effect.Effect<void, NotFound | Conflict | Forbidden | SqlError> =>
      Effect.gen(function* () {
        const user = yield* findUser(key)
        yield* Policy.requireNotSelf(actor, user.id)
        yield* Effect.gen(function* () {
          const at = now()
          for (const m of yield* teams.listForUser(user.id)) {
            yield* teams.lock(m.team.id)
            yield* Policy.requireAnAdminLeft(m.team, m, "leave", {
              admins: teams.countAdmins(m.team.id),
              members: teams.countMembers(m.team.id)
            })
            yield* teams.removeMember(m.team.id, user.id)
            yield* feed.publish({ kind: "member", teamId: m.team.id, userId: user.id, joined: false })
          }
          yield* endLogins(user.id, at, "deleted")
          yield* apiKeys.revokeAllOfUser(user.id, at)
          yield* links.voidAllOfUser(user.id, at)
          yield* users.markDeleted(user.id, at)
          yield* record(actor, "admin.user_delete", { type: "user", id: user.id }, { email: user.email })
        }).pipe(feed.transaction)
      })

    /** A team by id or slug. */
    const findTeam = (key: string): Effect.Effect<TeamRow, NotFound | SqlError> =>
      Effect.flatMap(
        UUID.test(key.trim()) ? teams.findById(key.trim().toLowerCase()) : teams.findBySlug(key.trim().toLowerCase()),
        (found) => (Option.isSome(found) ? Effect.succeed(found.value) : Effect.fail(noTeam()))
      )

    const teamView = (row: TeamRow) =>
      Effect.map(Effect.zip(teams.countMembers(row.id), teams.countLivePatterns(row.id)), ([members, patterns]) =>
        toAdminTeam(row, members, patterns)
      )

    const listTeams = (params: AdminListParams) =>
      Effect.gen(function* () {
        const page = params.page ?? 1
        const limit = params.limit ?? 20
        const { total, rows } = yield* teams.listWithCounts(params.search?.trim(), limit, (page - 1) * limit)
        return { teams: rows.map((r) => toAdminTeam(r, r.members, r.patterns)), total, page, limit }
      })

    const getTeam = (
      key: string
    ): Effect.Effect<{ team: AdminTeam; members: ReadonlyArray<Member> }, NotFound | SqlError> =>
      Effect.gen(function* () {
        const row = yield* findTeam(key)
        return { team: yield* teamView(row), members: yield* teams.members(row.id) }
      })

    /**
     * Changes a team's plan and/or its own limits. It counts at once on every process (each
     * request reads the team afresh, and joins re-read it under the team's lock), and never
     * removes anything: a limit below what the team holds only blocks new members or patterns.
     */
    const updateTeam = (
      actor: AdminActor,
      key: string,
      change: AdminUpdateTeamRequest
    ): Effect.Effect<AdminTeam, NotFound | SqlError> =>
      Effect.gen(function* () {
        const found = yield* findTeam(key)
        const updated = yield* Effect.gen(function* () {
          yield* teams.lock(found.id)
          const before = Option.getOrElse(yield* teams.findById(found.id), () => found)
          const plan: Plan = change.plan ?? before.plan
          const next = {
            plan,
            max_members: askedLimit(change.max_members, before.max_members),
            max_patterns: askedLimit(change.max_patterns, before.max_patterns),
            retention_days: askedLimit(change.retention_days, before.retention_days)
          }
          const at = now()
          yield* teams.setPlanAndLimits(found.id, next, at)
          const target = { type: "team" as const, id: found.id, teamId: found.id }
          if (plan !== before.plan) yield* record(actor, "admin.team_plan", target, { from: before.plan, to: plan })
          const limitsBefore = {
            max_members: shownLimit(before.max_members),
            max_patterns: shownLimit(before.max_patterns),
            retention_days: shownLimit(before.retention_days)
          }
          const limitsAfter = {
            max_members: shownLimit(next.max_members),
            max_patterns: shownLimit(next.max_patterns),
            retention_days: shownLimit(next.retention_days)
          }
          if (JSON.stringify(limitsBefore) !== JSON.stringify(limitsAfter)) {
            yield* record(actor, "admin.team_limits", target, { from: limitsBefore, to: limitsAfter })
          }
          return { ...before, ...next, updated_at: at }
        }).pipe(feed.transaction)
        return yield* teamView(updated)
      })

    return {
      findUser,
      listUsers,
      createUser,
      updateUser,
      resetPassword,
      deleteUser,
      listTeams,
      getTeam,
      updateTeam
    } as const
  }),
  dependencies: [
    UserRepo.Default,
    SessionRepo.Default,
    TeamRepo.Default,
    PasswordLinkRepo.Default,
    Passwords.Default,
    ApiKeys.Default,
    AuditLog.Default
  ]
}) {}
